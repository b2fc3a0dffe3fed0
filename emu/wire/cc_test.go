package wire_test

import (
	"errors"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// The byte positions below are libibmad's (fields.c, IB_CC_* fields) and
// OpenSM's (ib_types.h, ib_cc_mad_t and the CC attribute structs).

func TestCCMADLayout(t *testing.T) {
	m := wire.CCMAD(make([]byte, wire.MADSize))
	m.Encode(&wire.CCMADFields{Method: wire.MethodSet, TID: 9, AttrID: wire.AttrCongestionControlTable, AttrMod: 1, CCKey: 0x0102030405060708})
	if m[1] != 0x21 || m[2] != 2 || m[3] != 0x02 {
		t.Errorf("header % x", m[:4])
	}
	if string(m[24:32]) != "\x01\x02\x03\x04\x05\x06\x07\x08" {
		t.Errorf("CC_Key at 24: % x", m[24:32])
	}
	if &m.LogData()[0] != &m[32] || &m.Data()[0] != &m[64] || len(m.LogData()) != 224 || len(m.Data()) != 192 {
		t.Error("log data must be bytes 32..255 and data bytes 64..255")
	}
	if &m.AttrData(wire.AttrCongestionLog)[0] != &m[32] || &m.AttrData(wire.AttrTimeStamp)[0] != &m[64] {
		t.Error("AttrData picks the wrong area")
	}
	if _, err := wire.ParseCCMAD(m); err != nil {
		t.Errorf("parse: %v", err)
	}
	bad := append([]byte(nil), m...)
	bad[2] = 1
	_, err := wire.ParseCCMAD(bad)
	var se *wire.MADStatusError
	if !errors.As(err, &se) || se.Status != wire.MADStatusBadVersion {
		t.Errorf("class version 1: %v, want a bad-version status error", err)
	}
	bad[1], bad[2] = 0x04, 2
	if _, err := wire.ParseCCMAD(bad); err == nil {
		t.Error("a PerfMgt MAD parsed as CC")
	}
	if _, err := wire.ParseCCMAD(m[:100]); !errors.Is(err, wire.ErrMADTooShort) {
		t.Errorf("short: %v", err)
	}
}

func TestCCAttributeLayouts(t *testing.T) {
	ci := make([]byte, wire.CongestionInfoSize)
	wire.CongestionInfo(ci).Encode(&wire.CongestionInfoFields{CongestionInfo: wire.CongestionInfoCreditStarvation, ControlTableCap: 2})
	if string(ci) != "\x00\x01\x02\x00" {
		t.Errorf("CongestionInfo % x", ci)
	}

	ki := make([]byte, wire.CongestionKeyInfoSize)
	in := wire.CongestionKeyInfoFields{CCKey: 0xAB, CCKeyProtectBit: true, CCKeyLeasePeriod: 0x0102, CCKeyViolations: 0x0304}
	wire.CongestionKeyInfo(ki).Encode(&in)
	if ki[7] != 0xAB || ki[8] != 0x80 || ki[10] != 1 || ki[11] != 2 || ki[12] != 3 || ki[13] != 4 {
		t.Errorf("CongestionKeyInfo % x", ki)
	}
	if got := wire.CongestionKeyInfo(ki).Fields(); got != in {
		t.Errorf("round trip %+v", got)
	}

	ss := make([]byte, wire.SwitchCongestionSettingSize)
	sf := wire.SwitchCongestionSettingFields{ControlMap: 0x1F, Threshold: 0xA, PacketSize: 0x10, CSThreshold: 0x3,
		CSReturnDelay: 0x4064, MarkingRate: 0x0019}
	sf.VictimMask[31], sf.CreditMask[0] = 0x06, 0x80
	wire.SwitchCongestionSetting(ss).Encode(&sf)
	if ss[3] != 0x1F || ss[4+31] != 0x06 || ss[36] != 0x80 || ss[68] != 0xA0 || ss[69] != 0x10 || ss[70] != 0x30 ||
		ss[72] != 0x40 || ss[73] != 0x64 || ss[75] != 0x19 {
		t.Errorf("SwitchCongestionSetting % x", ss)
	}
	if got := wire.SwitchCongestionSetting(ss).Fields(); got != sf {
		t.Errorf("round trip %+v", got)
	}

	sp := make([]byte, wire.SwitchPortCongestionSettingSize)
	ef := wire.SwitchPortCongestionSettingElementFields{Valid: true, ControlType: 1, Threshold: 0x9, PacketSize: 12, MarkingRate: 300}
	wire.SwitchPortCongestionSetting(sp).Element(5).Encode(&ef)
	if sp[20] != 0xC9 || sp[21] != 12 || sp[22] != 0x01 || sp[23] != 0x2C {
		t.Errorf("element 5 % x", sp[20:24])
	}
	if got := wire.SwitchPortCongestionSetting(sp).Element(5).Fields(); got != ef {
		t.Errorf("round trip %+v", got)
	}

	cs := make([]byte, wire.CACongestionSettingSize)
	cf := wire.CACongestionSettingFields{PortControl: 1, ControlMap: 0x8001}
	cf.Entries[1] = wire.CACongestionEntryFields{CCTITimer: 0x0102, CCTIIncrease: 3, TriggerThreshold: 4, CCTIMin: 5}
	wire.CACongestionSetting(cs).Encode(&cf)
	if cs[1] != 1 || cs[2] != 0x80 || cs[3] != 1 || string(cs[12:17]) != "\x01\x02\x03\x04\x05" {
		t.Errorf("CACongestionSetting % x", cs[:20])
	}
	if got := wire.CACongestionSetting(cs).Fields(); got != cf {
		t.Errorf("round trip %+v", got)
	}

	ct := make([]byte, wire.CongestionControlTableSize)
	tf := wire.CongestionControlTableFields{CCTILimit: 127}
	tf.Entries[2] = wire.CCTEntry{Shift: 2, Multiplier: 0x123}
	wire.CongestionControlTable(ct).Encode(&tf)
	if ct[1] != 127 || ct[8] != 0x81 || ct[9] != 0x23 {
		t.Errorf("CongestionControlTable % x", ct[:10])
	}
	if got := wire.CongestionControlTable(ct).Fields(); got != tf {
		t.Errorf("round trip %+v", got)
	}

	ts := make([]byte, wire.TimeStampSize)
	wire.TimeStamp(ts).SetValue(0x01020304)
	if string(ts) != "\x01\x02\x03\x04" || wire.TimeStamp(ts).Value() != 0x01020304 {
		t.Errorf("TimeStamp % x", ts)
	}
}

func TestCCLogLayouts(t *testing.T) {
	l := wire.CongestionLog(make([]byte, wire.CongestionLogSize))
	sw := wire.CongestionLogSwitchFields{CongestionFlags: 1, LogEventsCounter: 0x0203, CurrentTimeStamp: 0x04050607,
		Events: []wire.CongestionLogEventSwitchFields{{SLID: 7, DLID: 9, SL: 3, Timestamp: 0x11}}}
	sw.PortMap[31] = 0x04
	l.EncodeSwitch(&sw)
	if l[0] != 1 || l[1] != 1 || l[2] != 2 || l[3] != 3 || l[4] != 4 || l[7] != 7 || l[39] != 0x04 {
		t.Errorf("switch log header % x", l[:40])
	}
	if string(l[40:52]) != "\x00\x07\x00\x09\x30\x00\x00\x00\x00\x00\x00\x11" {
		t.Errorf("switch entry 0 % x", l[40:52])
	}
	if got := l.SwitchEvent(0).Fields(); got != sw.Events[0] {
		t.Errorf("switch entry round trip %+v", got)
	}
	ca := wire.CongestionLogCAFields{CongestionFlags: 0, ThresholdEventCounter: 1, ThresholdCongestionEventMap: 0x0020,
		CurrentTimeStamp: 0x0A0B0C0D, Events: []wire.CongestionLogEventCAFields{{LocalQP: 0x48, SL: 5, ServiceType: 1,
			RemoteQP: 0x49, LocalLID: 4, RemoteLID: 5, Timestamp: 99}}}
	l.EncodeCA(&ca)
	if l[0] != 2 || l[3] != 1 || l[4] != 0 || l[5] != 0x20 || l[8] != 0x0A || l[11] != 0x0D {
		t.Errorf("CA log header % x", l[:12])
	}
	if string(l[12:28]) != "\x00\x00\x48\x51\x00\x00\x49\x00\x00\x04\x00\x05\x00\x00\x00\x63" {
		t.Errorf("CA entry 0 % x", l[12:28])
	}
	if got := l.CAEvent(0).Fields(); got != ca.Events[0] {
		t.Errorf("CA entry round trip %+v", got)
	}
	// Events past the layout's entries are dropped, not written past it.
	many := make([]wire.CongestionLogEventCAFields, 20)
	for i := range many {
		many[i].Timestamp = 1
	}
	buf := make([]byte, wire.CongestionLogSize+8)
	wire.CongestionLog(buf).EncodeCA(&wire.CongestionLogCAFields{Events: many})
	for _, c := range buf[wire.CongestionLogSize:] {
		if c != 0 {
			t.Fatal("EncodeCA wrote past the log")
		}
	}
}

func TestBadCCKeyDetails(t *testing.T) {
	d := wire.BadCCKeyDetails{SLID: 9, Method: wire.MethodSet, AttrID: wire.AttrSwitchCongestionSetting, AttrMod: 3,
		QP: 1, CCKey: 0xDEAD, SourceGID: wire.GID{0xFE, 0x80, 15: 1}}
	dd := make([]byte, wire.NoticeDataDetailsSize)
	wire.EncodeBadCCKeyDetails(dd, &d)
	if dd[1] != 9 || dd[2] != 2 || dd[5] != 0x14 || dd[11] != 3 || dd[15] != 1 || dd[22] != 0xDE || dd[24] != 0xFE {
		t.Errorf("details % x", dd)
	}
	got, err := wire.DecodeBadCCKeyDetails(dd)
	if err != nil || got != d {
		t.Errorf("round trip %+v, %v", got, err)
	}
	if _, err := wire.DecodeBadCCKeyDetails(dd[:20]); !errors.Is(err, wire.ErrMADTooShort) {
		t.Errorf("short details: %v", err)
	}
}

func TestCCAttrName(t *testing.T) {
	if wire.CCAttrName(wire.AttrCongestionControlTable) != "CongestionControlTable" || wire.CCAttrName(0x99) != "AttrID(0x0099)" {
		t.Error("CCAttrName")
	}
}

// Fuzz targets: every CC decoder takes any bytes without panicking, and
// a view that parsed re-encodes from its fields to the same bytes (bits
// the layout reserves aside).

func FuzzParseCCMAD(f *testing.F) {
	addSeeds(f, wire.MADSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.ParseCCMAD(b)
		if err != nil || !m.IsValid() {
			return
		}
		_ = m.CCKey()
		for _, a := range []wire.AttrID{wire.AttrCongestionLog, wire.AttrTimeStamp} {
			_ = m.AttrData(a)
		}
	})
}

func FuzzParseCongestionInfo(f *testing.F) {
	addSeeds(f, wire.CongestionInfoSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseCongestionInfo(b)
		if err != nil {
			return
		}
		out := wire.CongestionInfo(make([]byte, wire.CongestionInfoSize))
		fl := v.Fields()
		out.Encode(&fl)
		if string(out[:3]) != string(v[:3]) {
			t.Fatalf("% x -> % x", v[:4], out)
		}
	})
}

func FuzzParseCongestionKeyInfo(f *testing.F) {
	addSeeds(f, wire.CongestionKeyInfoSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseCongestionKeyInfo(b)
		if err != nil {
			return
		}
		out := wire.CongestionKeyInfo(make([]byte, wire.CongestionKeyInfoSize))
		fl := v.Fields()
		out.Encode(&fl)
		if out.Fields() != fl || string(out[10:14]) != string(v[10:14]) {
			t.Fatalf("% x -> % x", v[:16], out)
		}
	})
}

func FuzzParseCongestionLog(f *testing.F) {
	addSeeds(f, wire.CongestionLogSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseCongestionLog(b)
		if err != nil {
			return
		}
		out := wire.CongestionLog(make([]byte, wire.CongestionLogSize))
		if v.LogType() == wire.CongestionLogTypeSwitch {
			fl := wire.CongestionLogSwitchFields{CongestionFlags: v.CongestionFlags(), LogEventsCounter: v.LogEventsCounter(),
				CurrentTimeStamp: v.SwitchCurrentTimeStamp()}
			copy(fl.PortMap[:], v.PortMap())
			for i := range wire.CongestionLogSwitchEntries {
				fl.Events = append(fl.Events, v.SwitchEvent(i).Fields())
			}
			out.EncodeSwitch(&fl)
			for i := range wire.CongestionLogSwitchEntries {
				if out.SwitchEvent(i).Fields() != fl.Events[i] {
					t.Fatalf("switch entry %d", i)
				}
			}
			return
		}
		fl := wire.CongestionLogCAFields{CongestionFlags: v.CongestionFlags(), ThresholdEventCounter: v.ThresholdEventCounter(),
			ThresholdCongestionEventMap: v.ThresholdCongestionEventMap(), CurrentTimeStamp: v.CACurrentTimeStamp()}
		for i := range wire.CongestionLogCAEntries {
			fl.Events = append(fl.Events, v.CAEvent(i).Fields())
		}
		out.EncodeCA(&fl)
		if out.CACurrentTimeStamp() != fl.CurrentTimeStamp || out.CAEvent(12).Fields() != fl.Events[12] {
			t.Fatal("CA log round trip")
		}
	})
}

func FuzzParseSwitchCongestionSetting(f *testing.F) {
	addSeeds(f, wire.SwitchCongestionSettingSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseSwitchCongestionSetting(b)
		if err != nil {
			return
		}
		out := wire.SwitchCongestionSetting(make([]byte, wire.SwitchCongestionSettingSize))
		fl := v.Fields()
		out.Encode(&fl)
		if out.Fields() != fl || string(out[:68]) != string(v[:68]) || string(out[72:76]) != string(v[72:76]) {
			t.Fatalf("% x -> % x", v[:76], out)
		}
	})
}

func FuzzParseSwitchPortCongestionSetting(f *testing.F) {
	addSeeds(f, wire.SwitchPortCongestionSettingSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseSwitchPortCongestionSetting(b)
		if err != nil {
			return
		}
		out := wire.SwitchPortCongestionSetting(make([]byte, wire.SwitchPortCongestionSettingSize))
		for i := range wire.SwitchPortCongestionBlockSize {
			fl := v.Element(i).Fields()
			out.Element(i).Encode(&fl)
			if out.Element(i).Fields() != fl || string(out.Element(i)[1:]) != string(v.Element(i)[1:]) {
				t.Fatalf("element %d", i)
			}
		}
	})
}

func FuzzParseCACongestionSetting(f *testing.F) {
	addSeeds(f, wire.CACongestionSettingSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseCACongestionSetting(b)
		if err != nil {
			return
		}
		out := wire.CACongestionSetting(make([]byte, wire.CACongestionSettingSize))
		fl := v.Fields()
		out.Encode(&fl)
		if out.Fields() != fl || string(out[:9]) != string(v[:9]) {
			t.Fatalf("% x -> % x", v[:12], out[:12])
		}
	})
}

func FuzzParseCongestionControlTable(f *testing.F) {
	addSeeds(f, wire.CongestionControlTableSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseCongestionControlTable(b)
		if err != nil {
			return
		}
		out := wire.CongestionControlTable(make([]byte, wire.CongestionControlTableSize))
		fl := v.Fields()
		out.Encode(&fl)
		if string(out[:2]) != string(v[:2]) || string(out[4:]) != string(v[4:wire.CongestionControlTableSize]) {
			t.Fatalf("round trip")
		}
	})
}

func FuzzParseTimeStamp(f *testing.F) {
	addSeeds(f, wire.TimeStampSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseTimeStamp(b)
		if err != nil {
			return
		}
		out := wire.TimeStamp(make([]byte, wire.TimeStampSize))
		out.SetValue(v.Value())
		if string(out) != string(v[:4]) {
			t.Fatal("round trip")
		}
	})
}

func FuzzDecodeBadCCKeyDetails(f *testing.F) {
	addSeeds(f, wire.NoticeDataDetailsSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := wire.DecodeBadCCKeyDetails(b)
		if err != nil {
			return
		}
		out := make([]byte, wire.NoticeDataDetailsSize)
		wire.EncodeBadCCKeyDetails(out, &d)
		if got, err := wire.DecodeBadCCKeyDetails(out); err != nil || got != d {
			t.Fatalf("round trip %+v != %+v", got, d)
		}
	})
}
