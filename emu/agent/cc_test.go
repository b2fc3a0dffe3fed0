package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// ccBench is a CA (1 port) linked to port 1 of a 36-port switch on the
// virtual clock, with a CC agent for each; the agents' traps are kept.
type ccBench struct {
	f      *emu.Fabric
	ca, sw *emu.Node
	caCC   *agent.CC
	swCC   *agent.CC
	traps  [][]byte
}

func newCCBench(t testing.TB) *ccBench {
	t.Helper()
	b := &ccBench{f: emu.New(emu.WithVirtualClock())}
	var err error
	cfg := emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: wire.SpeedQDR}
	if b.ca, err = b.f.AddNode("ca", wire.NodeTypeCA, 1, &countDev{}, cfg); err != nil {
		t.Fatal(err)
	}
	if b.sw, err = b.f.AddNode("sw", wire.NodeTypeSwitch, 36, &countDev{}, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := b.f.Connect(b.ca.Port(1), b.sw.Port(1)); err != nil {
		t.Fatal(err)
	}
	keep := func(_ *emu.Port, frame []byte) { b.traps = append(b.traps, frame) }
	b.caCC = agent.NewCC(wire.NodeTypeCA, 1, agent.CCConfig{Transmit: keep})
	b.swCC = agent.NewCC(wire.NodeTypeSwitch, 36, agent.CCConfig{Transmit: keep})
	if err := b.f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.f.Stop)
	return b
}

// ccReq is one CC request.
type ccReq struct {
	method  wire.Method
	attr    wire.AttrID
	mod     uint32
	key     uint64
	version uint8 // 0: 2
	data    []byte
}

// call hands r to the CA's (sw false) or the switch's agent, as if it
// came from LID 9 to LID 4, and returns the reply (nil: none). It runs on
// the event loop.
func (b *ccBench) call(sw bool, r ccReq) wire.CCMAD {
	m := wire.CCMAD(make([]byte, wire.MADSize))
	m.Encode(&wire.CCMADFields{Method: r.method, TID: 0x55, AttrID: r.attr, AttrMod: r.mod, CCKey: r.key})
	if r.version != 0 {
		m.MAD().SetClassVersion(r.version)
	}
	copy(m.AttrData(r.attr), r.data)
	a, p := b.caCC, b.ca.Port(1)
	if sw {
		a, p = b.swCC, b.sw.Port(0)
	}
	addr := &agent.Addr{DLID: 4, SLID: 9, SL: 2, DestQP: agent.QP1, SrcQP: 7, QKey: agent.GSIQKey, PKey: 0xFFFF}
	resp, ok := a.Process(p, addr, wire.MAD(m))
	if !ok {
		return nil
	}
	return wire.CCMAD(resp)
}

// do is call from the test goroutine; it checks the reply's header.
func (b *ccBench) do(t *testing.T, sw bool, r ccReq) wire.CCMAD {
	t.Helper()
	var resp wire.CCMAD
	if err := b.f.Do(func() { resp = b.call(sw, r) }); err != nil {
		t.Fatal(err)
	}
	if resp == nil {
		return nil
	}
	if m := resp.MAD(); m.Method() != r.method.Response() || m.TID() != 0x55 || m.AttrID() != r.attr {
		t.Fatalf("reply %s tid %#x attr %#04x to %s %#04x", m.Method(), m.TID(), uint16(m.AttrID()), r.method, uint16(r.attr))
	}
	return resp
}

// ok is do, failing unless the reply has status OK.
func (b *ccBench) ok(t *testing.T, sw bool, r ccReq) wire.CCMAD {
	t.Helper()
	resp := b.do(t, sw, r)
	if resp == nil {
		t.Fatalf("no reply to %s %s", r.method, wire.CCAttrName(r.attr))
	}
	if st := resp.MAD().Status(); st != wire.MADStatusOK {
		t.Fatalf("%s %s: status %#04x", r.method, wire.CCAttrName(r.attr), uint16(st))
	}
	return resp
}

// wait lets d pass on the virtual clock.
func (b *ccBench) wait(t *testing.T, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	if err := b.f.Do(func() { b.f.Clock().AfterFunc(d, func() { close(done) }) }); err != nil {
		t.Fatal(err)
	}
	<-done
}

func TestCCClassSupport(t *testing.T) {
	b := newCCBench(t)
	cases := []struct {
		name string
		sw   bool
		r    ccReq
		want wire.MADStatus
	}{
		{"ca switch setting", false, ccReq{method: wire.MethodGet, attr: wire.AttrSwitchCongestionSetting}, wire.MADStatusUnsupportedMethodAttr},
		{"ca switch port setting", false, ccReq{method: wire.MethodGet, attr: wire.AttrSwitchPortCongestionSetting}, wire.MADStatusUnsupportedMethodAttr},
		{"switch ca setting", true, ccReq{method: wire.MethodGet, attr: wire.AttrCACongestionSetting}, wire.MADStatusUnsupportedMethodAttr},
		{"switch cct", true, ccReq{method: wire.MethodSet, attr: wire.AttrCongestionControlTable}, wire.MADStatusUnsupportedMethodAttr},
		{"set read-only info", true, ccReq{method: wire.MethodSet, attr: wire.AttrCongestionInfo}, wire.MADStatusUnsupportedMethodAttr},
		{"set timestamp", false, ccReq{method: wire.MethodSet, attr: wire.AttrTimeStamp}, wire.MADStatusUnsupportedMethodAttr},
		{"class version 1", false, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionInfo, version: 1}, wire.MADStatusBadVersion},
		{"gettable", true, ccReq{method: wire.MethodGetTable, attr: wire.AttrCongestionInfo}, wire.MADStatusUnsupportedMethod},
		{"switch port block past the ports", true, ccReq{method: wire.MethodGet, attr: wire.AttrSwitchPortCongestionSetting, mod: 2}, wire.MADStatusInvalidField},
		{"cct block past the table", false, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionControlTable, mod: 2}, wire.MADStatusInvalidField},
		{"switch port block 1 of 36 ports", true, ccReq{method: wire.MethodGet, attr: wire.AttrSwitchPortCongestionSetting, mod: 1}, wire.MADStatusOK},
	}
	for _, c := range cases {
		resp := b.do(t, c.sw, c.r)
		if resp == nil {
			t.Errorf("%s: no reply", c.name)
			continue
		}
		if st := resp.MAD().Status(); st != c.want {
			t.Errorf("%s: status %#04x, want %#04x", c.name, uint16(st), uint16(c.want))
		}
	}
	info := wire.CongestionInfo(b.ok(t, false, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionInfo}).Data())
	if info.ControlTableCap() != 2 {
		t.Errorf("CA ControlTableCap %d, want 2", info.ControlTableCap())
	}
	info = wire.CongestionInfo(b.ok(t, true, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionInfo}).Data())
	if info.ControlTableCap() != 0 || info.CongestionInfo() != 0 {
		t.Errorf("switch CongestionInfo %#x cap %d, want 0 and 0", info.CongestionInfo(), info.ControlTableCap())
	}
	cpi := wire.ClassPortInfo(b.ok(t, true, ccReq{method: wire.MethodGet, attr: wire.AttrClassPortInfo}).Data())
	if cpi.BaseVersion() != 1 || cpi.ClassVersion() != wire.CCClassVersion {
		t.Errorf("ClassPortInfo versions %d/%d", cpi.BaseVersion(), cpi.ClassVersion())
	}
	// A response and a TrapRepress get no answer.
	if r := b.do(t, true, ccReq{method: wire.MethodGetResp, attr: wire.AttrCongestionInfo}); r != nil {
		t.Error("a GetResp was answered")
	}
	if r := b.do(t, true, ccReq{method: wire.MethodTrapRepress, attr: wire.AttrNotice}); r != nil {
		t.Error("a TrapRepress was answered")
	}
}

func keyInfo(k uint64, protect bool, lease, violations uint16) []byte {
	d := make([]byte, wire.CongestionKeyInfoSize)
	wire.CongestionKeyInfo(d).Encode(&wire.CongestionKeyInfoFields{CCKey: k, CCKeyProtectBit: protect, CCKeyLeasePeriod: lease, CCKeyViolations: violations})
	return d
}

func TestCCKey(t *testing.T) {
	b := newCCBench(t)
	const key = 0xC0FFEE
	// A manager takes the switch's CC_Key and asks for traps at LID 9 QP 1.
	cpi := make([]byte, wire.ClassPortInfoSize)
	wire.ClassPortInfo(cpi).Encode(&wire.ClassPortInfoFields{TrapLID: 9, TrapQP: 1, TrapQKey: agent.GSIQKey, TrapPKey: 0xFFFF, TrapSL: 3})
	b.ok(t, true, ccReq{method: wire.MethodSet, attr: wire.AttrClassPortInfo, data: cpi})
	got := wire.CongestionKeyInfo(b.ok(t, true, ccReq{method: wire.MethodSet, attr: wire.AttrCongestionKeyInfo,
		data: keyInfo(key, true, 60, 0)}).Data())
	if got.CCKey() != key || !got.CCKeyProtectBit() || got.CCKeyLeasePeriod() != 60 {
		t.Fatalf("key info after set: %+v", got.Fields())
	}
	// Wrong key, protected: Get and Set are dropped, counted, trapped.
	// The lease countdown runs on the virtual clock, which jumps to the
	// next timer when idle, so the steps are timed on the event loop.
	ss := make([]byte, wire.SwitchCongestionSettingSize)
	wire.SwitchCongestionSetting(ss).Encode(&wire.SwitchCongestionSettingFields{ControlMap: wire.SwitchCongestionControlMapMarkingRate, MarkingRate: 99})
	badGet := ccReq{method: wire.MethodGet, attr: wire.AttrCongestionInfo, key: 3}
	badSet := ccReq{method: wire.MethodSet, attr: wire.AttrSwitchCongestionSetting, key: 2, data: ss}
	var (
		get0, set0, get59, get61, set61, log61, key61 wire.CCMAD
		lease0, lease61, leaseKeyed                   bool
		stats0                                        agent.CCStats
		done                                          = make(chan struct{})
	)
	if err := b.f.Do(func() {
		get0, set0 = b.call(true, badGet), b.call(true, badSet)
		lease0, stats0 = b.swCC.LeaseRunning(0), b.swCC.Stats()
		clk := b.f.Clock()
		clk.AfterFunc(59*time.Second, func() { get59 = b.call(true, badGet) })
		clk.AfterFunc(61*time.Second, func() {
			lease61 = b.swCC.LeaseRunning(0)
			get61 = b.call(true, badGet)
			set61 = b.call(true, badSet) // restarts the lease
			log61 = b.call(true, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionLog})
			key61 = b.call(true, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionKeyInfo, key: key})
			leaseKeyed = b.swCC.LeaseRunning(0)
			close(done)
		})
	}); err != nil {
		t.Fatal(err)
	}
	<-done
	if get0 != nil || set0 != nil {
		t.Error("a protected Get or a Set with a wrong key was answered")
	}
	if stats0.KeyViolations != 2 || stats0.TrapsSent != 2 {
		t.Errorf("stats %+v, want 2 violations and 2 traps", stats0)
	}
	if !lease0 {
		t.Error("lease countdown not running after a violation")
	}
	if s := b.swCC.SwitchSetting(); s.MarkingRate != 0 {
		t.Errorf("a Set with a wrong key changed Marking_Rate to %d", s.MarkingRate)
	}
	// 60 s after the first violation the protect bit goes to 0: until
	// then a keyless Get is dropped, after it answered (a Set still is not).
	if get59 != nil {
		t.Error("protection lifted before the lease ran out")
	}
	if lease61 {
		t.Error("lease still running after its period")
	}
	if get61 == nil {
		t.Error("still protected after the lease ran out")
	}
	if set61 != nil {
		t.Error("an unprotected Set with a wrong key was answered")
	}
	// That violation restarted the lease, which CongestionLog's flags
	// show; a MAD with the right key stops it.
	if log61 == nil || wire.CongestionLog(log61.LogData()).CongestionFlags()&wire.CongestionFlagsLeaseActive == 0 {
		t.Error("CongestionFlags does not show the running lease")
	}
	if key61 == nil {
		t.Fatal("keyed CongestionKeyInfo Get not answered")
	}
	ki := wire.CongestionKeyInfo(key61.Data())
	if ki.CCKeyViolations() != 4 || ki.CCKeyProtectBit() {
		t.Errorf("key info %+v, want 4 violations and the protect bit cleared", ki.Fields())
	}
	if leaseKeyed {
		t.Error("a MAD with the right key did not stop the lease")
	}
	// The trap: CC class, Trap(Notice) 0 to LID 9 QP 1, with the offender.
	if len(b.traps) != 4 {
		t.Fatalf("%d trap frames, want 4", len(b.traps))
	}
	f, err := agent.ParseFrame(b.traps[1])
	if err != nil {
		t.Fatal(err)
	}
	if f.Addr.DLID != 9 || f.Addr.SLID != 4 || f.Addr.DestQP != 1 || f.Addr.SL != 3 || f.Addr.QKey != agent.GSIQKey {
		t.Errorf("trap address %+v", f.Addr)
	}
	tm := wire.CCMAD(f.MAD)
	if tm.MAD().MgmtClass() != wire.MgmtClassCC || tm.MAD().Method() != wire.MethodTrap || tm.MAD().AttrID() != wire.AttrNotice {
		t.Errorf("trap header %s %s %#04x", tm.MAD().MgmtClass(), tm.MAD().Method(), uint16(tm.MAD().AttrID()))
	}
	n := wire.Notice(tm.Data())
	if !n.IsGeneric() || n.TrapNumber() != wire.TrapBadCCKey || n.IssuerLID() != 4 {
		t.Errorf("notice generic %v trap %d issuer %d", n.IsGeneric(), n.TrapNumber(), n.IssuerLID())
	}
	d, err := wire.DecodeBadCCKeyDetails(n.DataDetails())
	if err != nil {
		t.Fatal(err)
	}
	if d.SLID != 9 || d.Method != wire.MethodSet || d.AttrID != wire.AttrSwitchCongestionSetting || d.CCKey != 2 || d.QP != 1 {
		t.Errorf("trap details %+v", d)
	}
	// A Set of the violations counter: non-zero leaves it, 0 clears it.
	ki = wire.CongestionKeyInfo(b.ok(t, true, ccReq{method: wire.MethodSet, attr: wire.AttrCongestionKeyInfo, key: key,
		data: keyInfo(key, false, 0, 1)}).Data())
	if ki.CCKeyViolations() == 0 {
		t.Error("a non-zero CC_KeyViolations in a Set cleared the counter")
	}
	ki = wire.CongestionKeyInfo(b.ok(t, true, ccReq{method: wire.MethodSet, attr: wire.AttrCongestionKeyInfo, key: key,
		data: keyInfo(0, false, 0, 0)}).Data())
	if ki.CCKeyViolations() != 0 || ki.CCKey() != 0 {
		t.Errorf("after clearing: %+v", ki.Fields())
	}
	// The CA's key is its own.
	if r := b.do(t, false, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionKeyInfo, key: 77}); r == nil {
		t.Error("the CA refused a Get while its CC_Key is 0")
	}
}

func TestCCLogReadClears(t *testing.T) {
	b := newCCBench(t)
	if err := b.f.Do(func() {
		for i := range 17 {
			b.swCC.LogSwitchEvent(3+i%2, wire.CongestionLogEventSwitchFields{SLID: wire.LID(100 + i), DLID: 5, SL: uint8(i % 16), Timestamp: uint32(i)})
		}
		b.caCC.LogCAEvent(1, wire.CongestionLogEventCAFields{LocalQP: 0x123456, SL: 9, ServiceType: 1, RemoteQP: 0xABCDEF, LocalLID: 4, RemoteLID: 6, Timestamp: 77})
	}); err != nil {
		t.Fatal(err)
	}
	resp := b.ok(t, true, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionLog})
	l := wire.CongestionLog(resp.LogData())
	if l.LogType() != wire.CongestionLogTypeSwitch || l.LogEventsCounter() != 17 {
		t.Fatalf("switch log type %d counter %d, want 1 and 17", l.LogType(), l.LogEventsCounter())
	}
	if pm := l.PortMap(); pm[31] != 0x18 {
		t.Errorf("PortMap byte 31 %#x, want 0x18 (ports 3 and 4)", pm[31])
	}
	// The 15 most recent events, oldest first.
	for i := range wire.CongestionLogSwitchEntries {
		if got := l.SwitchEvent(i).SLID(); got != wire.LID(102+i) {
			t.Errorf("entry %d SLID %d, want %d", i, got, 102+i)
		}
	}
	for i, c := range resp[wire.CCLogDataOffset+wire.CongestionLogSize:] {
		if c != 0 {
			t.Errorf("byte %d past the log is %#x", wire.CCLogDataOffset+wire.CongestionLogSize+i, c)
		}
	}
	l = wire.CongestionLog(b.ok(t, true, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionLog}).LogData())
	if l.LogEventsCounter() != 0 || l.SwitchEvent(0).SLID() != 0 || l.PortMap()[31] != 0 {
		t.Errorf("switch log not cleared by the read: counter %d first SLID %d", l.LogEventsCounter(), l.SwitchEvent(0).SLID())
	}
	l = wire.CongestionLog(b.ok(t, false, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionLog}).LogData())
	if l.LogType() != wire.CongestionLogTypeCA || l.ThresholdEventCounter() != 1 || l.ThresholdCongestionEventMap() != 1<<9 {
		t.Fatalf("CA log type %d counter %d map %#x", l.LogType(), l.ThresholdEventCounter(), l.ThresholdCongestionEventMap())
	}
	want := wire.CongestionLogEventCAFields{LocalQP: 0x123456, SL: 9, ServiceType: 1, RemoteQP: 0xABCDEF, LocalLID: 4, RemoteLID: 6, Timestamp: 77}
	if got := l.CAEvent(0).Fields(); got != want {
		t.Errorf("CA event %+v, want %+v", got, want)
	}
	l = wire.CongestionLog(b.ok(t, false, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionLog}).LogData())
	if l.ThresholdEventCounter() != 0 || l.ThresholdCongestionEventMap() != 0 || l.CAEvent(0).Timestamp() != 0 {
		t.Error("CA log not cleared by the read")
	}
}

func TestCCSwitchSettings(t *testing.T) {
	b := newCCBench(t)
	in := wire.SwitchCongestionSettingFields{ControlMap: wire.SwitchCongestionControlMapAll, Threshold: 0xF, PacketSize: 4,
		CSThreshold: 2, CSReturnDelay: 0x4005, MarkingRate: 10}
	in.VictimMask[31], in.CreditMask[30] = 0x02, 0x01
	d := make([]byte, wire.SwitchCongestionSettingSize)
	wire.SwitchCongestionSetting(d).Encode(&in)
	got := wire.SwitchCongestionSetting(b.ok(t, true, ccReq{method: wire.MethodSet, attr: wire.AttrSwitchCongestionSetting, data: d}).Data()).Fields()
	if got != in {
		t.Errorf("after set: %+v, want %+v", got, in)
	}
	// Only the fields Control_Map selects change.
	next := wire.SwitchCongestionSettingFields{ControlMap: wire.SwitchCongestionControlMapMarkingRate, Threshold: 1, MarkingRate: 77}
	wire.SwitchCongestionSetting(d).Encode(&next)
	got = wire.SwitchCongestionSetting(b.ok(t, true, ccReq{method: wire.MethodSet, attr: wire.AttrSwitchCongestionSetting, data: d}).Data()).Fields()
	if got.MarkingRate != 77 || got.Threshold != 0xF || got.VictimMask[31] != 0x02 || got.ControlMap != next.ControlMap {
		t.Errorf("selective set: %+v", got)
	}
	// Ports: block 1 holds ports 32..63 of which 32..36 exist.
	blk := make([]byte, wire.SwitchPortCongestionSettingSize)
	for i := range wire.SwitchPortCongestionBlockSize {
		wire.SwitchPortCongestionSetting(blk).Element(i).Encode(&wire.SwitchPortCongestionSettingElementFields{
			Valid: true, ControlType: 1, Threshold: uint8(i % 16), PacketSize: 3, MarkingRate: uint16(i)})
	}
	out := wire.SwitchPortCongestionSetting(b.ok(t, true, ccReq{method: wire.MethodSet, attr: wire.AttrSwitchPortCongestionSetting, mod: 1, data: blk}).Data())
	for i := range wire.SwitchPortCongestionBlockSize {
		e := out.Element(i).Fields()
		if exists := 32+i <= 36; e.Valid != exists || (exists && e.MarkingRate != uint16(i)) {
			t.Errorf("port %d: %+v", 32+i, e)
		}
	}
	if e := b.swCC.SwitchPortSetting(33); !e.Valid || e.MarkingRate != 1 || e.ControlType != 1 {
		t.Errorf("port 33 setting %+v", e)
	}
	if e := b.swCC.SwitchPortSetting(5); e.Valid {
		t.Errorf("port 5 changed by a block 1 set: %+v", e)
	}
}

func TestCCCASettingsAndTable(t *testing.T) {
	b := newCCBench(t)
	in := wire.CACongestionSettingFields{PortControl: wire.CAPortControlSLBased, ControlMap: 1<<0 | 1<<15}
	for sl := range in.Entries {
		in.Entries[sl] = wire.CACongestionEntryFields{CCTITimer: uint16(100 + sl), CCTIIncrease: 2, TriggerThreshold: 5, CCTIMin: 1}
	}
	d := make([]byte, wire.CACongestionSettingSize)
	wire.CACongestionSetting(d).Encode(&in)
	got := wire.CACongestionSetting(b.ok(t, false, ccReq{method: wire.MethodSet, attr: wire.AttrCACongestionSetting, data: d}).Data()).Fields()
	if got.PortControl != 1 || got.ControlMap != in.ControlMap || got.Entries[0] != in.Entries[0] || got.Entries[15] != in.Entries[15] {
		t.Errorf("after set: %+v", got)
	}
	if got.Entries[1] != (wire.CACongestionEntryFields{}) {
		t.Errorf("SL 1 (not in Control_Map) changed: %+v", got.Entries[1])
	}
	// CCT: two blocks; the limit is the whole table's.
	blk := make([]byte, wire.CongestionControlTableSize)
	f := wire.CongestionControlTableFields{CCTILimit: 100}
	for i := range f.Entries {
		f.Entries[i] = wire.CCTEntry{Shift: uint8(i % 4), Multiplier: uint16(64 + i)}
	}
	wire.CongestionControlTable(blk).Encode(&f)
	b.ok(t, false, ccReq{method: wire.MethodSet, attr: wire.AttrCongestionControlTable, mod: 1, data: blk})
	r := wire.CongestionControlTable(b.ok(t, false, ccReq{method: wire.MethodGet, attr: wire.AttrCongestionControlTable, mod: 1}).Data())
	if r.CCTILimit() != 100 || r.Entry(5) != (wire.CCTEntry{Shift: 1, Multiplier: 69}) {
		t.Errorf("block 1: limit %d entry 5 %+v", r.CCTILimit(), r.Entry(5))
	}
	if cct := b.caCC.CCT(1); len(cct) != 101 || cct[64+36] != (wire.CCTEntry{Shift: 0, Multiplier: 100}) || cct[0] != (wire.CCTEntry{}) {
		t.Errorf("CCT: %d entries, [100] %+v", len(cct), cct[100])
	}
	// A CCTI_Limit past the 128 entries is refused and changes nothing.
	wire.CongestionControlTable(blk).Encode(&wire.CongestionControlTableFields{CCTILimit: 128})
	if resp := b.do(t, false, ccReq{method: wire.MethodSet, attr: wire.AttrCongestionControlTable, data: blk}); resp == nil ||
		resp.MAD().Status() != wire.MADStatusInvalidField {
		t.Error("CCTI_Limit 128 on a 128-entry table was not refused with 0x001C")
	}
	if len(b.caCC.CCT(1)) != 101 {
		t.Error("a refused CCT set changed the table")
	}
}

func TestCCTimeStamp(t *testing.T) {
	b := newCCBench(t)
	ts := func() uint32 {
		return wire.TimeStamp(b.ok(t, false, ccReq{method: wire.MethodGet, attr: wire.AttrTimeStamp}).Data()).Value()
	}
	t0 := ts()
	b.wait(t, 1024*time.Microsecond)
	if d := ts() - t0; d != 1000 {
		t.Errorf("TimeStamp advanced %d units over 1.024 ms, want 1000", d)
	}
}

// FuzzCCProcess hands arbitrary MADs to a switch's and a CA's CC agent:
// no panic, and every answer is a 256-byte GetResp (or the R form of the
// request's method) of the class with the request's TID.
func FuzzCCProcess(f *testing.F) {
	b := newCCBench(f)
	seed := wire.CCMAD(make([]byte, wire.MADSize))
	for _, a := range []wire.AttrID{wire.AttrCongestionLog, wire.AttrSwitchPortCongestionSetting, wire.AttrCongestionControlTable,
		wire.AttrCongestionKeyInfo, wire.AttrClassPortInfo} {
		for _, m := range []wire.Method{wire.MethodGet, wire.MethodSet} {
			seed.Encode(&wire.CCMADFields{Method: m, TID: 1, AttrID: a, AttrMod: 1})
			f.Add([]byte(seed), false)
			f.Add([]byte(seed), true)
		}
	}
	addr := &agent.Addr{DLID: 4, SLID: 9, DestQP: agent.QP1, SrcQP: 1, QKey: agent.GSIQKey, PKey: 0xFFFF}
	f.Fuzz(func(t *testing.T, in []byte, sw bool) {
		m := make([]byte, wire.MADSize)
		copy(m, in)
		a, p := b.caCC, b.ca.Port(1)
		if sw {
			a, p = b.swCC, b.sw.Port(0)
		}
		var resp wire.MAD
		var ok bool
		if err := b.f.Do(func() { resp, ok = a.Process(p, addr, wire.MAD(m)) }); err != nil {
			t.Fatal(err)
		}
		if !ok {
			return
		}
		if len(resp) != wire.MADSize || resp.TID() != wire.MAD(m).TID() || !resp.IsResponse() {
			t.Fatalf("bad answer % x", resp[:24])
		}
	})
}
