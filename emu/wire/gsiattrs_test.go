package wire_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ibemu/ibemu/emu/wire"
)

func TestClassPortInfoCaptures(t *testing.T) {
	t.Run("SA: saquery -c", func(t *testing.T) {
		// saquery -c: Base version 1, Class version 2, Capability mask
		// 0x2602, Capability mask 2 0x0000B5E8, Response time value 0x10,
		// Redirect QP 0x00000001, Redirect QKey 0x80010000, Trap QKey
		// 0x80010000, everything else 0.
		m, err := wire.ParseSAMAD(madHex(t, madSAClassPortInfo))
		if err != nil {
			t.Fatalf("ParseSAMAD: %v", err)
		}
		if m.MAD().AttrID() != wire.AttrClassPortInfo || m.MAD().Method() != wire.MethodGetResp {
			t.Fatalf("not a GetResp(ClassPortInfo): %v %v", m.MAD().Method(), m.MAD().AttrID())
		}
		checkView(t, m.Data(), wire.ClassPortInfoSize, wire.ParseClassPortInfo, wire.ClassPortInfo.Fields,
			wire.ClassPortInfo.Encode, wire.ClassPortInfoFields{
				BaseVersion: 1, ClassVersion: 2, CapabilityMask: 0x2602, CapabilityMask2: 0xB5E8, RespTimeValue: 0x10,
				RedirectQP: 1, RedirectQKey: 0x80010000, TrapQKey: 0x80010000,
			})
		cpi := wire.ClassPortInfo(m.Data())
		if cpi.CapabilityMask()&wire.SACapPortInfoCapMaskMatchSupported == 0 {
			t.Errorf("OpenSM advertises the PortInfo CapabilityMask match (bit 13)")
		}
	})
	t.Run("PerfMgt: perfquery 2 1", func(t *testing.T) {
		// perfquery prints "(CapMask: 0x1200)"; ibsim answers RespTimeValue 0x12.
		m, err := wire.ParsePerfMAD(madHex(t, madPerfClassPortInfo))
		if err != nil {
			t.Fatalf("ParsePerfMAD: %v", err)
		}
		// The attribute of a PerfMgt ClassPortInfo sits at byte 64 like the
		// other PerfMgt attributes.
		checkView(t, m.Data(), wire.ClassPortInfoSize, wire.ParseClassPortInfo, wire.ClassPortInfo.Fields,
			wire.ClassPortInfo.Encode, wire.ClassPortInfoFields{
				BaseVersion: 1, ClassVersion: 1, CapabilityMask: wire.PerfCapExtendedWidth | wire.PerfCapPortXmitWait,
				RespTimeValue: 0x12,
			})
	})
	t.Run("every field", func(t *testing.T) {
		f := wire.ClassPortInfoFields{
			BaseVersion: 1, ClassVersion: 2, CapabilityMask: 0xFFFF, CapabilityMask2: 0x7FFFFFF, RespTimeValue: 0x1F,
			RedirectGID: wire.GID{0xfe, 0x80, 15: 1}, RedirectTC: 0xAB, RedirectSL: 0xF, RedirectFL: 0xFFFFF,
			RedirectLID: 0x1234, RedirectPKey: 0xFFFF, RedirectQP: 0xFFFFFF, RedirectQKey: 0x80010000,
			TrapGID: wire.GID{0xff, 0x02, 15: 2}, TrapTC: 0xCD, TrapSL: 0x9, TrapFL: 0x12345, TrapLID: 0xBFFF,
			TrapPKey: 0x7FFF, TrapHopLimit: 0xFF, TrapQP: 0xFFFFFF, TrapQKey: 0xFFFFFFFF,
		}
		b := make([]byte, wire.ClassPortInfoSize)
		wire.ClassPortInfo(b).Encode(&f)
		if !bytes.Equal(b[4:8], []byte{0xFF, 0xFF, 0xFF, 0xFF}) || b[32] != 0 || !bytes.Equal(b[24:28], []byte{0xAB, 0xFF, 0xFF, 0xFF}) {
			t.Errorf("packed words % x / % x / % x", b[4:8], b[24:28], b[32:36])
		}
		checkView(t, b, len(b), wire.ParseClassPortInfo, wire.ClassPortInfo.Fields, wire.ClassPortInfo.Encode, f)
	})
}

func TestNoticeTraps(t *testing.T) {
	t.Run("trap 128 as ibsim sends it", func(t *testing.T) {
		// ibsim-protocol.md §6.8: "81 00 00 02 00 80 00 03 00 00 00 03".
		data := make([]byte, wire.SMPDataSize)
		n, err := wire.ParseSMPNotice(data)
		if err != nil {
			t.Fatalf("ParseSMPNotice: %v", err)
		}
		f := wire.Trap128Notice(3)
		n.Encode(&f)
		want := append([]byte{0x81, 0x00, 0x00, 0x02, 0x00, 0x80, 0x00, 0x03, 0x00, 0x00, 0x00, 0x03}, make([]byte, 52)...)
		if diff := cmp.Diff(want, data); diff != "" {
			t.Errorf("trap 128 notice bytes (-want +got):\n%s", diff)
		}
		if d := wire.DecodeTrap128Details(n.DataDetails()); d.LID != 3 {
			t.Errorf("Trap128Details.LID = %d", d.LID)
		}
		if n.IssuerGID() != (wire.GID{}) {
			t.Errorf("a 64-byte notice has no IssuerGID")
		}
		// The SMP around it, as ibsim builds it.
		smp := wire.SMPFields{Method: wire.MethodTrap, AttrID: wire.AttrNotice}
		copy(smp.Data[:], data)
		b := make([]byte, wire.MADSize)
		wire.SMP(b).Encode(&smp)
		if !bytes.Equal(b[:4], []byte{0x01, 0x01, 0x01, 0x05}) || b[17] != 0x02 {
			t.Errorf("trap SMP header % x", b[:24])
		}
		wire.MAD(b).SetResponse(0)
		if wire.MAD(b).Method() != wire.MethodTrapRepress {
			t.Errorf("the SM answers a Trap with TrapRepress, got %v", wire.MAD(b).Method())
		}
	})
	t.Run("trap 144", func(t *testing.T) {
		d := wire.Trap144Details{LID: 0x0102, OtherLocalChanges: true,
			CapabilityMask: wire.PortCapIsSM | wire.PortCapIsTrapSupported, ChangeFlags: wire.Trap144NodeDescriptionChange,
			CapabilityMask2: 0x30}
		f := wire.Trap144Notice(wire.NodeTypeCA, d)
		b := make([]byte, wire.NoticeSize)
		n, _ := wire.ParseNotice(b)
		n.Encode(&f)
		want := []byte{
			0x84, 0x00, 0x00, 0x01, 0x00, 0x90, 0x01, 0x02, 0x00, 0x00, // informational from a CA, trap 144, issuer 0x0102
			0x00, 0x00, 0x01, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x01, 0x00, 0x30,
		}
		if diff := cmp.Diff(want, b[:len(want)]); diff != "" {
			t.Errorf("trap 144 bytes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(d, wire.DecodeTrap144Details(n.DataDetails())); diff != "" {
			t.Errorf("Trap144Details (-want +got):\n%s", diff)
		}
	})
	t.Run("trap 64 from the SM", func(t *testing.T) {
		gid := wire.GID{0xfe, 0x80, 8: 0x00, 9: 0x02, 10: 0xc9, 11: 0x03, 15: 0x01}
		sm := wire.GID{0xfe, 0x80, 15: 0x99}
		f := wire.GIDTrapNotice(wire.TrapGIDInService, gid, 1, sm)
		b := make([]byte, wire.NoticeSize)
		n := wire.Notice(b)
		n.Encode(&f)
		if b[0] != 0x83 || b[3] != 4 || b[5] != 64 || !bytes.Equal(b[16:32], gid[:]) || !bytes.Equal(b[64:], sm[:]) {
			t.Errorf("trap 64 bytes % x", b)
		}
		if got := wire.DecodeGIDTrapDetails(n.DataDetails()).GID; got != gid {
			t.Errorf("GID = %v", got)
		}
		checkView(t, b, wire.NoticeSize, wire.ParseNotice, wire.Notice.Fields, wire.Notice.Encode, f)
	})
	t.Run("trap 257 bad P_Key", func(t *testing.T) {
		d := wire.KeyViolationDetails{LID1: 2, LID2: 4, Key: 0x8001, SL: 0xF, QP1: 0x123456, QP2: 0xABCDEF,
			GID1: wire.GID{0: 1, 15: 1}, GID2: wire.GID{0: 2, 15: 2}}
		f := wire.KeyViolationNotice(wire.TrapBadPKey, wire.NodeTypeCA, 4, d)
		if f.Type != wire.NoticeTypeSecurity || f.ProducerType != wire.ProducerCA || f.TrapNumber != 257 {
			t.Errorf("257 notice header %+v", f)
		}
		dd := f.DataDetails[:]
		if !bytes.Equal(dd[:18], []byte{0, 0, 0, 2, 0, 4, 0, 0, 0x80, 0x01, 0xF0, 0x12, 0x34, 0x56, 0x00, 0xAB, 0xCD, 0xEF}) ||
			dd[18] != 1 || dd[49] != 2 {
			t.Errorf("257 details % x", dd)
		}
		if diff := cmp.Diff(d, wire.DecodeKeyViolationDetails(dd)); diff != "" {
			t.Errorf("KeyViolationDetails (-want +got):\n%s", diff)
		}
	})
	t.Run("vendor notice and counters", func(t *testing.T) {
		f := wire.NoticeFields{Type: wire.NoticeTypeFatal, ProducerType: wire.MellanoxOUI, TrapNumber: 0x634A,
			IssuerLID: 7, NoticeToggle: true, NoticeCount: 0x7FFF}
		b := make([]byte, wire.NoticeSize)
		n := wire.Notice(b)
		n.Encode(&f)
		if n.IsGeneric() || n.VendorID() != wire.MellanoxOUI || n.DeviceID() != 0x634A || b[8] != 0xFF || b[9] != 0xFF {
			t.Errorf("vendor notice bytes % x", b[:10])
		}
		n.SetNoticeCount(1)
		if !n.NoticeToggle() || n.NoticeCount() != 1 {
			t.Errorf("SetNoticeCount disturbed the toggle")
		}
	})
}

func TestInformInfo(t *testing.T) {
	// A subscription to all generic traps, as srp_daemon sends it.
	f := wire.InformInfoFields{LIDRangeBegin: wire.InformInfoAllLIDs, IsGeneric: true, Subscribe: true,
		Type: wire.InformInfoAnyType, TrapNumber: wire.TrapGIDInService, QPN: 1, RespTimeValue: 18,
		ProducerType: wire.InformInfoAnyProducer}
	b := make([]byte, wire.InformInfoSize)
	wire.InformInfo(b).Encode(&f)
	want := []byte{
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // GID
		0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, // LID range, reserved, IsGeneric, Subscribe
		0xFF, 0xFF, 0x00, 0x40, 0x00, 0x00, 0x01, 0x12, // Type, TrapNumber, QPN, RespTimeValue
		0x00, 0xFF, 0xFF, 0xFF, // reserved, ProducerType
	}
	if diff := cmp.Diff(want, b); diff != "" {
		t.Errorf("InformInfo bytes (-want +got):\n%s", diff)
	}
	checkView(t, b, wire.InformInfoSize, wire.ParseInformInfo, wire.InformInfo.Fields, wire.InformInfo.Encode, f)

	r := wire.InformInfoRecordFields{SubscriberGID: wire.GID{0xfe, 0x80, 15: 4}, Enum: 3, InformInfo: f}
	rb := make([]byte, wire.InformInfoRecordSize)
	wire.InformInfoRecord(rb).Encode(&r)
	if !bytes.Equal(rb[24:], b) || rb[17] != 3 {
		t.Errorf("InformInfoRecord layout % x", rb)
	}
	checkView(t, rb, wire.InformInfoRecordSize, wire.ParseInformInfoRecord, wire.InformInfoRecord.Fields,
		wire.InformInfoRecord.Encode, r)
}

func FuzzDecodeBadMKeyDetails(f *testing.F) {
	addSeeds(f, wire.NoticeDataDetailsSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := wire.DecodeBadMKeyDetails(b)
		if err != nil {
			return
		}
		out := make([]byte, wire.NoticeDataDetailsSize)
		d.Encode(out)
		got, err := wire.DecodeBadMKeyDetails(out)
		if d.HopCount > wire.BadMKeyPathSize {
			// Encode writes a longer path as 30 hops, truncated (as
			// the Linux qib and hfi1 drivers do).
			d.HopCount, d.Truncated = wire.BadMKeyPathSize, true
		}
		if diff := cmp.Diff(d, got); err != nil || diff != "" {
			t.Fatalf("round trip: %v %s", err, diff)
		}
	})
}
