package agent

import (
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// Congestion control agent (class 0x21, IBTA Vol 1 Annex A10).
//
// # What is modelled: the management plane
//
// CC is the congestion control agent of one node, holding the state the
// hardware keeps and answering Get and Set the way a Mellanox SwitchX or
// later switch, or a ConnectX-3 or later HCA, does:
//
//   - ClassPortInfo Get/Set: the Trap* fields tell the agent where to send
//     the CC_Key violation trap (a CC manager sets them; until it does the
//     trap goes nowhere, TrapLID 0).
//   - CongestionInfo Get: CreditStarvation (switch; not implemented, 0)
//     and ControlTableCap (a CA's CongestionControlTable blocks).
//   - CongestionKeyInfo Get/Set and the CC_Key check (A10.4.1): a MAD
//     passes when the port's CC_Key is 0 or the MAD carries it; a Get with
//     another key passes while CC_KeyProtectBit is 0. A MAD that fails is
//     dropped without an answer, CC_KeyViolations counts it (saturating),
//     the CC_KeyLeasePeriod countdown starts (unless it runs or the period
//     is 0; at its end CC_KeyProtectBit goes to 0; a MAD that passes stops
//     it) and trap 0 (bad CC_Key, wire.BadCCKeyDetails) goes to the
//     ClassPortInfo trap address. A Set of CC_KeyViolations other than 0
//     leaves the counter as it is.
//   - CongestionLog Get (switch or CA layout by node type): the events the
//     data path logged since the last read, with LogEventsCounter /
//     ThresholdEventCounter, PortMap / ThresholdCongestionEventMap and
//     CurrentTimeStamp; reading it clears the entries, the counter and the
//     map, as the hardware does. CongestionFlags bit 0 shows a running
//     CC_Key lease.
//   - Switches: SwitchCongestionSetting Get/Set (a Set applies the fields
//     its Control_Map selects) and SwitchPortCongestionSetting Get/Set in
//     blocks of 32 ports (AttributeModifier = block).
//   - CAs: CACongestionSetting Get/Set per port (a Set applies the SL
//     entries its Control_Map selects) and CongestionControlTable Get/Set
//     in 64-entry blocks (AttributeModifier = block, CCTI_Limit below the
//     table's capacity).
//   - TimeStamp Get: a free-running 32-bit count of 1.024 µs units on the
//     fabric clock since the node started (Start, or the first request).
//
// Bad class versions, methods and attributes get 0x0004, 0x0008 and
// 0x000C (a switch has no CA attributes and the reverse); a block beyond
// the node's ports or table, or a CCTI_Limit beyond the table, gets
// 0x001C.
//
// # The data path
//
// The agent keeps what the manager configured and the logs; the packet
// path that uses them lives in the devices (IBTA Vol 1 Annex A10.2,
// A10.3): a switch (switch/cc.go) marks FECN on data packets that leave
// a port whose output queue is past its Threshold, at Marking_Rate, and
// calls LogSwitchEvent; a destination CA (hca/verbs/cc.go) answers FECN
// with a BECN or a congestion notification packet; the source CA raises
// its CCTI by CCTI_Increase on BECN, lowers it every CCTI_Timer, spaces
// its packets by the CCT entry of its CCTI and calls LogCAEvent when the
// CCTI reaches Trigger_Threshold. SwitchSetting, SwitchPortSetting,
// CASetting, CCTILimit and CCTEntry read what the manager configured;
// OnChange tells a device that a Set changed them, so that its packet
// path can keep a single flag saying whether there is anything to do.
type CC struct {
	typ      wire.NodeType
	numPorts int
	cfg      CCConfig
	cs       *ClassSupport
	started  bool
	start    time.Time
	ports    map[int]*ccPort // a switch keeps port 0 only
	sw       *ccSwitch
	tid      uint64
	stats    CCStats
	onChange []func()
}

// CCConfig configures a CC agent. Zero fields take the defaults listed.
type CCConfig struct {
	// ControlTableCap is the number of 64-entry CongestionControlTable
	// blocks of a CA port (CongestionInfo.ControlTableCap; default 2, the
	// 128 entries OpenSM programs at most). Unused on a switch.
	ControlTableCap uint8
	// RespTimeValue is ClassPortInfo.RespTimeValue (default 18).
	RespTimeValue uint8
	// Transmit sends a trap frame (sealed, LRH to VCRC) out of port p;
	// nil sends it with p.Send. A switch routes its port 0 frames through
	// its forwarding table here.
	Transmit func(p *emu.Port, frame []byte)
}

// CCStats counts what the agent did with the MADs it refused or could
// not answer.
type CCStats struct {
	// KeyViolations counts MADs dropped for a bad CC_Key.
	KeyViolations uint64
	// TrapsSent counts CC_Key violation traps sent.
	TrapsSent uint64
}

// ccPort is the per-port CC state: CongestionKeyInfo and ClassPortInfo
// on every node; the CA attributes on a CA port.
type ccPort struct {
	key         uint64
	protect     bool
	leasePeriod uint16
	violations  uint16
	lease       emu.Timer
	trap        wire.ClassPortInfoFields // only the Trap* fields are used

	ca        wire.CACongestionSettingFields
	cctiLimit uint16
	cct       []uint16
	caLog     []wire.CongestionLogEventCAFields
	caEvents  uint16
	caMap     uint16
}

// ccSwitch is a switch's CC state.
type ccSwitch struct {
	setting wire.SwitchCongestionSettingFields
	ports   []wire.SwitchPortCongestionSettingElementFields // index = port
	log     []wire.CongestionLogEventSwitchFields
	events  uint16
	portMap [32]byte
}

// NewCC creates the CC agent of a node of type typ with numPorts ports
// (external ports on a switch).
func NewCC(typ wire.NodeType, numPorts int, cfg CCConfig) *CC {
	if cfg.ControlTableCap == 0 {
		cfg.ControlTableCap = 2
	}
	if cfg.RespTimeValue == 0 {
		cfg.RespTimeValue = 18
	}
	a := &CC{typ: typ, numPorts: numPorts, cfg: cfg, ports: map[int]*ccPort{}}
	if typ == wire.NodeTypeSwitch {
		a.cs = &ccSupport[0]
		a.sw = &ccSwitch{ports: make([]wire.SwitchPortCongestionSettingElementFields, numPorts+1)}
	} else {
		a.cs = &ccSupport[1]
	}
	return a
}

// ccSupport is what a switch ([0]) and a CA ([1]) CC agent serve (IBTA
// Vol 1 Annex A10.4.3, Table "Congestion Control Attributes"). Shared by
// every agent; nothing changes them after init.
var ccSupport = func() [2]ClassSupport {
	get := []wire.Method{wire.MethodGet}
	getSet := []wire.Method{wire.MethodGet, wire.MethodSet}
	common := func() map[wire.AttrID][]wire.Method {
		return map[wire.AttrID][]wire.Method{
			wire.AttrClassPortInfo:     getSet,
			wire.AttrCongestionInfo:    get,
			wire.AttrCongestionKeyInfo: getSet,
			wire.AttrCongestionLog:     get,
			wire.AttrTimeStamp:         get,
		}
	}
	var cs [2]ClassSupport
	for i := range cs {
		cs[i] = ClassSupport{
			Versions: []uint8{wire.CCClassVersion},
			Methods:  []wire.Method{wire.MethodGet, wire.MethodSet},
			Attrs:    common(),
		}
	}
	cs[0].Attrs[wire.AttrSwitchCongestionSetting] = getSet
	cs[0].Attrs[wire.AttrSwitchPortCongestionSetting] = getSet
	cs[1].Attrs[wire.AttrCACongestionSetting] = getSet
	cs[1].Attrs[wire.AttrCongestionControlTable] = getSet
	return cs
}()

// Start records the instant the node started; TimeStamp counts from it.
func (a *CC) Start(now time.Time) { a.start, a.started = now, true }

// Stats returns the agent's counters.
func (a *CC) Stats() CCStats { return a.stats }

// Supports reports whether the agent serves request m.
func (a *CC) Supports(m wire.MAD) bool { return !m.IsResponse() && a.cs.Supports(m) }

// port returns the state of port num, created on first use.
func (a *CC) port(num int) *ccPort {
	if a.typ == wire.NodeTypeSwitch {
		num = 0
	}
	cp := a.ports[num]
	if cp == nil {
		cp = &ccPort{}
		if a.typ != wire.NodeTypeSwitch {
			cp.cct = make([]uint16, int(a.cfg.ControlTableCap)*wire.CCTBlockEntries)
		}
		a.ports[num] = cp
	}
	return cp
}

// Process answers a class 0x21 request m that arrived on port p from
// address addr (the request's, as ParseFrame gives it) and returns the
// reply (ok false: none, for a response, a method that gets no answer,
// or a MAD dropped for its CC_Key).
func (a *CC) Process(p *emu.Port, addr *Addr, m wire.MAD) (resp wire.MAD, ok bool) {
	if len(m) != wire.MADSize || m.IsResponse() {
		return nil, false
	}
	clk := p.Node().Fabric().Clock()
	now := clk.Now()
	if !a.started {
		a.Start(now)
	}
	if resp, answered, refused := Refuse(a.cs, m); refused {
		return resp, answered
	}
	cp := a.port(p.Num())
	if !a.checkKey(p, clk, cp, addr, wire.CCMAD(m)) {
		return nil, false
	}
	r := ErrorReply(m, wire.MADStatusOK)
	in, out := wire.CCMAD(m).AttrData(m.AttrID()), wire.CCMAD(r).AttrData(m.AttrID())
	set := m.Method() == wire.MethodSet
	var st wire.MADStatus
	switch m.AttrID() {
	case wire.AttrClassPortInfo:
		if set {
			a.setClassPortInfo(cp, wire.ClassPortInfo(in))
		}
		a.classPortInfo(cp, wire.ClassPortInfo(out))
	case wire.AttrCongestionInfo:
		f := wire.CongestionInfoFields{}
		if a.typ != wire.NodeTypeSwitch {
			f.ControlTableCap = a.cfg.ControlTableCap
		}
		wire.CongestionInfo(out).Encode(&f)
	case wire.AttrCongestionKeyInfo:
		if set {
			a.setKeyInfo(cp, wire.CongestionKeyInfo(in))
		}
		clear(out)
		wire.CongestionKeyInfo(out).Encode(&wire.CongestionKeyInfoFields{
			CCKey: cp.key, CCKeyProtectBit: cp.protect, CCKeyLeasePeriod: cp.leasePeriod, CCKeyViolations: cp.violations,
		})
	case wire.AttrCongestionLog:
		a.congestionLog(cp, wire.CongestionLog(out), a.timeStamp(now))
	case wire.AttrSwitchCongestionSetting:
		if set {
			a.setSwitchSetting(wire.SwitchCongestionSetting(in))
		}
		clear(out)
		wire.SwitchCongestionSetting(out).Encode(&a.sw.setting)
	case wire.AttrSwitchPortCongestionSetting:
		st = a.switchPortSetting(m.AttrMod(), set, wire.SwitchPortCongestionSetting(in), wire.SwitchPortCongestionSetting(out))
	case wire.AttrCACongestionSetting:
		if set {
			a.setCASetting(cp, wire.CACongestionSetting(in))
		}
		clear(out)
		wire.CACongestionSetting(out).Encode(&cp.ca)
	case wire.AttrCongestionControlTable:
		st = a.cctBlock(cp, m.AttrMod(), set, wire.CongestionControlTable(in), wire.CongestionControlTable(out))
	case wire.AttrTimeStamp:
		clear(out)
		wire.TimeStamp(out).SetValue(a.timeStamp(now))
	}
	if st != wire.MADStatusOK {
		return ErrorReply(m, st), true
	}
	if set && m.AttrID() != wire.AttrClassPortInfo && m.AttrID() != wire.AttrCongestionKeyInfo {
		a.changed()
	}
	return r, true
}

// OnChange registers fn to run (on the event loop) after every Set that
// changed what the data path reads: SwitchCongestionSetting,
// SwitchPortCongestionSetting, CACongestionSetting or the
// CongestionControlTable.
func (a *CC) OnChange(fn func()) { a.onChange = append(a.onChange, fn) }

func (a *CC) changed() {
	for _, fn := range a.onChange {
		fn()
	}
}

// timeStamp is the TimeStamp at now: 1.024 µs units since Start,
// wrapping at 32 bits.
func (a *CC) timeStamp(now time.Time) uint32 {
	if !a.started {
		return 0
	}
	return uint32(now.Sub(a.start) / (1024 * time.Nanosecond))
}

// TimeStamp returns the TimeStamp attribute's value at now.
func (a *CC) TimeStamp(now time.Time) uint32 { return a.timeStamp(now) }

// checkKey applies the CC_Key check (IBTA Vol 1 Annex A10.4.1) and, when
// it fails, counts the violation, starts the lease countdown and sends
// trap 0. It reports whether the MAD may be served.
func (a *CC) checkKey(p *emu.Port, clk emu.Clock, cp *ccPort, addr *Addr, m wire.CCMAD) bool {
	if cp.key == 0 || m.CCKey() == cp.key {
		if cp.lease != nil {
			cp.lease.Stop()
			cp.lease = nil
		}
		return true
	}
	if m.MAD().Method() == wire.MethodGet && !cp.protect {
		return true
	}
	a.stats.KeyViolations++
	if cp.violations < 0xFFFF {
		cp.violations++
	}
	if cp.lease == nil && cp.leasePeriod != 0 {
		cp.lease = clk.AfterFunc(time.Duration(cp.leasePeriod)*time.Second, func() {
			cp.lease = nil
			cp.protect = false
		})
	}
	a.sendBadKeyTrap(p, cp, addr, m)
	return false
}

// sendBadKeyTrap sends trap 0 for m to the ClassPortInfo trap address of
// cp, if a manager set one.
func (a *CC) sendBadKeyTrap(p *emu.Port, cp *ccPort, addr *Addr, m wire.CCMAD) {
	if cp.trap.TrapLID == wire.LIDUnassigned || addr == nil {
		return
	}
	n := wire.GenericNotice(wire.TrapBadCCKey, uint32(a.typ), addr.DLID)
	n.Type = wire.NoticeTypeSecurity
	d := wire.BadCCKeyDetails{
		SLID: addr.SLID, Method: m.MAD().Method(), AttrID: m.MAD().AttrID(), AttrMod: m.MAD().AttrMod(),
		QP: addr.DestQP, CCKey: m.CCKey(),
	}
	if addr.GRH != nil {
		d.SourceGID = addr.GRH.SGID
	}
	wire.EncodeBadCCKeyDetails(n.DataDetails[:], &d)
	a.tid++
	t := wire.CCMAD(make([]byte, wire.MADSize))
	t.Encode(&wire.CCMADFields{Method: wire.MethodTrap, TID: a.tid, AttrID: wire.AttrNotice, CCKey: cp.key})
	wire.Notice(t.Data()).Encode(&n)
	ta := Addr{
		DLID: cp.trap.TrapLID, SLID: addr.DLID, SL: cp.trap.TrapSL, DestQP: cp.trap.TrapQP, SrcQP: QP1,
		QKey: cp.trap.TrapQKey, PKey: uint16(cp.trap.TrapPKey),
	}
	if ta.PKey == 0 {
		ta.PKey = uint16(wire.PKeyDefault)
	}
	frame, err := AppendFrame(nil, &ta, t)
	if err != nil {
		return
	}
	a.stats.TrapsSent++
	if a.cfg.Transmit != nil {
		a.cfg.Transmit(p, frame)
		return
	}
	p.Send(frame)
}

func (a *CC) classPortInfo(cp *ccPort, out wire.ClassPortInfo) {
	f := cp.trap
	f.BaseVersion, f.ClassVersion = wire.MADBaseVersion, wire.CCClassVersion
	f.CapabilityMask = wire.ClassCapIsTrapSupported
	f.RespTimeValue = a.cfg.RespTimeValue
	clear(out)
	out.Encode(&f)
}

// setClassPortInfo takes the Trap* fields of a Set (the rest of
// ClassPortInfo is read only).
func (a *CC) setClassPortInfo(cp *ccPort, in wire.ClassPortInfo) {
	f := in.Fields()
	cp.trap = wire.ClassPortInfoFields{
		TrapGID: f.TrapGID, TrapTC: f.TrapTC, TrapSL: f.TrapSL, TrapFL: f.TrapFL, TrapLID: f.TrapLID,
		TrapPKey: f.TrapPKey, TrapHopLimit: f.TrapHopLimit, TrapQP: f.TrapQP, TrapQKey: f.TrapQKey,
	}
}

func (a *CC) setKeyInfo(cp *ccPort, in wire.CongestionKeyInfo) {
	cp.key = in.CCKey()
	cp.protect = in.CCKeyProtectBit()
	cp.leasePeriod = in.CCKeyLeasePeriod()
	if in.CCKeyViolations() == 0 {
		cp.violations = 0
	}
}

// congestionLog writes the log and clears it (read clears on hardware).
func (a *CC) congestionLog(cp *ccPort, out wire.CongestionLog, now uint32) {
	var flags uint8
	if cp.lease != nil {
		flags |= wire.CongestionFlagsLeaseActive
	}
	if a.sw != nil {
		s := a.sw
		out.EncodeSwitch(&wire.CongestionLogSwitchFields{
			CongestionFlags: flags, LogEventsCounter: s.events, CurrentTimeStamp: now,
			PortMap: s.portMap, Events: s.log,
		})
		s.log, s.events, s.portMap = s.log[:0], 0, [32]byte{}
		return
	}
	out.EncodeCA(&wire.CongestionLogCAFields{
		CongestionFlags: flags, ThresholdEventCounter: cp.caEvents, ThresholdCongestionEventMap: cp.caMap,
		CurrentTimeStamp: now, Events: cp.caLog,
	})
	cp.caLog, cp.caEvents, cp.caMap = cp.caLog[:0], 0, 0
}

func (a *CC) setSwitchSetting(in wire.SwitchCongestionSetting) {
	f, s := in.Fields(), &a.sw.setting
	s.ControlMap = f.ControlMap
	if f.ControlMap&wire.SwitchCongestionControlMapVictimMask != 0 {
		s.VictimMask = f.VictimMask
	}
	if f.ControlMap&wire.SwitchCongestionControlMapCreditMask != 0 {
		s.CreditMask = f.CreditMask
	}
	if f.ControlMap&wire.SwitchCongestionControlMapThreshold != 0 {
		s.Threshold, s.PacketSize = f.Threshold, f.PacketSize
	}
	if f.ControlMap&wire.SwitchCongestionControlMapCSThreshold != 0 {
		s.CSThreshold, s.CSReturnDelay = f.CSThreshold, f.CSReturnDelay
	}
	if f.ControlMap&wire.SwitchCongestionControlMapMarkingRate != 0 {
		s.MarkingRate = f.MarkingRate
	}
}

// switchPortSetting serves block mod of SwitchPortCongestionSetting:
// ports 32*mod .. 32*mod+31, of which those beyond NumPorts read as 0 and
// ignore a Set.
func (a *CC) switchPortSetting(mod uint32, set bool, in, out wire.SwitchPortCongestionSetting) wire.MADStatus {
	first := int(mod) * wire.SwitchPortCongestionBlockSize
	if mod > 255/wire.SwitchPortCongestionBlockSize || first > a.numPorts {
		return wire.MADStatusInvalidField
	}
	clear(out)
	for i := range wire.SwitchPortCongestionBlockSize {
		pn := first + i
		if pn > a.numPorts {
			break
		}
		if set {
			a.sw.ports[pn] = in.Element(i).Fields()
		}
		out.Element(i).Encode(&a.sw.ports[pn])
	}
	return wire.MADStatusOK
}

func (a *CC) setCASetting(cp *ccPort, in wire.CACongestionSetting) {
	f := in.Fields()
	cp.ca.PortControl, cp.ca.ControlMap = f.PortControl, f.ControlMap
	for sl := range f.Entries {
		if f.ControlMap&(1<<sl) != 0 {
			cp.ca.Entries[sl] = f.Entries[sl]
		}
	}
}

// cctBlock serves block mod of the CongestionControlTable.
func (a *CC) cctBlock(cp *ccPort, mod uint32, set bool, in, out wire.CongestionControlTable) wire.MADStatus {
	if mod >= uint32(a.cfg.ControlTableCap) {
		return wire.MADStatusInvalidField
	}
	if set {
		if int(in.CCTILimit()) >= len(cp.cct) {
			return wire.MADStatusInvalidField
		}
		cp.cctiLimit = in.CCTILimit()
		for i := range wire.CCTBlockEntries {
			cp.cct[int(mod)*wire.CCTBlockEntries+i] = in.Entry(i).Value()
		}
	}
	clear(out)
	f := wire.CongestionControlTableFields{CCTILimit: cp.cctiLimit}
	for i := range f.Entries {
		f.Entries[i] = wire.CCTEntryOf(cp.cct[int(mod)*wire.CCTBlockEntries+i])
	}
	out.Encode(&f)
	return wire.MADStatusOK
}

// SwitchSetting returns the switch's SwitchCongestionSetting (zero on a
// CA): the data path's marking parameters.
func (a *CC) SwitchSetting() wire.SwitchCongestionSettingFields {
	if a.sw == nil {
		return wire.SwitchCongestionSettingFields{}
	}
	return a.sw.setting
}

// SwitchPortSetting returns the SwitchPortCongestionSetting element of
// switch port num (zero on a CA or past the last port).
func (a *CC) SwitchPortSetting(num int) wire.SwitchPortCongestionSettingElementFields {
	if a.sw == nil || num < 0 || num >= len(a.sw.ports) {
		return wire.SwitchPortCongestionSettingElementFields{}
	}
	return a.sw.ports[num]
}

// CASetting returns the CACongestionSetting of CA port num.
func (a *CC) CASetting(num int) wire.CACongestionSettingFields {
	if a.sw != nil {
		return wire.CACongestionSettingFields{}
	}
	return a.port(num).ca
}

// CCT returns CA port num's congestion control table up to CCTI_Limit
// (entry i is CCT index i), nil on a switch.
func (a *CC) CCT(num int) []wire.CCTEntry {
	if a.sw != nil {
		return nil
	}
	cp := a.port(num)
	out := make([]wire.CCTEntry, int(cp.cctiLimit)+1)
	for i := range out {
		out[i] = wire.CCTEntryOf(cp.cct[i])
	}
	return out
}

// CCTILimit returns CA port num's CCTI_Limit, the highest CCT index the
// source may use (0 on a switch).
func (a *CC) CCTILimit(num int) uint16 {
	if a.sw != nil {
		return 0
	}
	return a.port(num).cctiLimit
}

// CCTEntry returns entry i of CA port num's congestion control table
// (IBTA Vol 1 Annex A10.4.3.9); ok is false on a switch and for an index
// beyond the table. The data path calls it per packet it spaces, so it
// allocates nothing.
func (a *CC) CCTEntry(num, i int) (e wire.CCTEntry, ok bool) {
	if a.sw != nil || i < 0 {
		return wire.CCTEntry{}, false
	}
	cp := a.port(num)
	if i >= len(cp.cct) {
		return wire.CCTEntry{}, false
	}
	return wire.CCTEntryOf(cp.cct[i]), true
}

// CCKeyInfo returns port num's CongestionKeyInfo (port 0 on a switch).
func (a *CC) CCKeyInfo(num int) wire.CongestionKeyInfoFields {
	cp := a.port(num)
	return wire.CongestionKeyInfoFields{
		CCKey: cp.key, CCKeyProtectBit: cp.protect, CCKeyLeasePeriod: cp.leasePeriod, CCKeyViolations: cp.violations,
	}
}

// LeaseRunning reports whether port num's CC_Key lease countdown runs.
func (a *CC) LeaseRunning(num int) bool { return a.port(num).lease != nil }

// LogSwitchEvent records a congestion event at switch port num for the
// CongestionLog: the data path calls it when it marks a packet. The log
// keeps the 15 most recent events; LogEventsCounter counts every event
// (saturating) and PortMap the ports, until the next read.
func (a *CC) LogSwitchEvent(num int, ev wire.CongestionLogEventSwitchFields) {
	if a.sw == nil || num < 0 || num > 255 {
		return
	}
	s := a.sw
	if len(s.log) == wire.CongestionLogSwitchEntries {
		copy(s.log, s.log[1:])
		s.log = s.log[:len(s.log)-1]
	}
	s.log = append(s.log, ev)
	if s.events < 0xFFFF {
		s.events++
	}
	s.portMap[31-num/8] |= 1 << (num % 8)
}

// LogCAEvent records a congestion event at CA port num (its CCTI reached
// the SL's Trigger_Threshold) for the CongestionLog; the log keeps the 13
// most recent, ThresholdEventCounter counts every event (saturating) and
// ThresholdCongestionEventMap the SLs, until the next read.
func (a *CC) LogCAEvent(num int, ev wire.CongestionLogEventCAFields) {
	if a.sw != nil {
		return
	}
	cp := a.port(num)
	if len(cp.caLog) == wire.CongestionLogCAEntries {
		copy(cp.caLog, cp.caLog[1:])
		cp.caLog = cp.caLog[:len(cp.caLog)-1]
	}
	cp.caLog = append(cp.caLog, ev)
	if cp.caEvents < 0xFFFF {
		cp.caEvents++
	}
	cp.caMap |= 1 << (ev.SL & 0x0F)
}
