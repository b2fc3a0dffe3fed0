package agent

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// NodeConfig is the node-wide SMA state that NodeInfo and NodeDescription
// report (IBTA Vol 1 §14.2.5.2, §14.2.5.3). It does not change while the
// node runs, except Description through SMA.SetDescription.
type NodeConfig struct {
	// Type is CA, switch or router.
	Type wire.NodeType
	// NumPorts is the number of external ports (1..254).
	NumPorts int
	// SystemImageGUID groups the nodes of one system; 0 means NodeGUID.
	SystemImageGUID wire.GUID
	// NodeGUID is the node's GUID.
	NodeGUID wire.GUID
	// PartitionCap is the number of P_Key table entries of a CA port (and
	// of switch port 0).
	PartitionCap uint16
	// DeviceID is the device ID (for Mellanox HCAs the PCI device ID).
	DeviceID uint16
	// Revision is the device revision.
	Revision uint32
	// VendorID is the 24-bit IEEE OUI of the vendor (0x0002C9 Mellanox).
	VendorID uint32
	// Description is the NodeDescription text (at most 64 bytes are kept).
	Description string
}

// PortConfig is the fixed part of one port's SMA state: capabilities that
// PortInfo reports and a Set cannot change. Zero fields take the defaults
// listed with each.
type PortConfig struct {
	// GUID is the port GUID (NodeInfo.PortGUID, GUIDInfo entry 0).
	// 0 means NodeGUID for a switch and NodeGUID+port for a CA.
	GUID wire.GUID
	// CapabilityMask is the initial PortInfo.CapabilityMask (the IsSM bit
	// changes with SMA.ModifyCapabilityMask).
	CapabilityMask wire.PortCapabilityMask
	// CapabilityMask2 is PortInfo.CapabilityMask2.
	CapabilityMask2 uint16
	// MTUCap is the largest MTU (default 2048).
	MTUCap wire.MTU
	// VLCap is the VLCap code (default wire.VLCapVL0to7).
	VLCap uint8
	// VLArbHighCap and VLArbLowCap are the numbers of high- and
	// low-priority VLArbitration entries (default 8 each, at most 64).
	VLArbHighCap, VLArbLowCap uint8
	// GUIDCap is the number of GUIDInfo entries (default 1 on switch
	// ports, 32 on CA ports; 8 per block).
	GUIDCap uint8
	// PKeyCap is the number of P_Key table entries (default
	// NodeConfig.PartitionCap; a switch's external ports use their
	// PartitionEnforcementCap here).
	PKeyCap uint16
	// InitType is PortInfo.InitType (what the port supports at init).
	InitType uint8
	// RespTimeValue is PortInfo.RespTimeValue (default 8, 1 ms).
	RespTimeValue uint8
	// LinkRoundTripLatency is PortInfo.LinkRoundTripLatency in ns.
	LinkRoundTripLatency uint32
	// MaxCreditHint is PortInfo.MaxCreditHint.
	MaxCreditHint uint16
}

// PortAttrs is the changeable SMA state of one port: what PortInfo Set,
// GUIDInfo Set, P_KeyTable Set, SLtoVLMappingTable Set and
// VLArbitrationTable Set write (IBTA Vol 1 §14.2.5.6-9). The logical and
// physical state and the link widths and speeds are not here: they live
// in the emu.Port. The SMA reads and writes these fields on the event
// loop; device code may read them there too and may change them to model
// local (host-side) configuration.
type PortAttrs struct {
	// Num is the port number.
	Num int

	// The PortInfo components a Set writes, named as in IBTA Vol 1
	// §14.2.5.6 (Table 146). On a switch, M_Key through SubnetTimeOut
	// are kept on port 0 only. The ones every SMP checks (the M_Key
	// and its lease, the LIDs) come first, in the cache line the SMA
	// reads for each.
	MKey uint64
	LID  wire.LID
	LMC  uint8

	lease      emu.Timer // M_Key lease countdown, nil when not running
	leaseEnded bool      // test hook: the lease ran out at least once

	// physGen counts the PortPhysicalState writes the port took; a link
	// retrain re-enables the port only if no later write came in between.
	physGen uint64

	// Config is the fixed part.
	Config PortConfig

	GIDPrefix            uint64
	MasterSMLID          wire.LID
	MasterSMSL           uint8
	CapabilityMask       wire.PortCapabilityMask
	DiagCode             uint16
	MKeyProtectBits      uint8
	MKeyLeasePeriod      uint16 // seconds; 0 = the lease never runs out
	LinkDownDefaultState wire.PhysPortState
	NeighborMTU          wire.MTU
	VLHighLimit          uint8
	OperationalVLs       uint8
	HOQLife              uint8
	VLStallCount         uint8
	InitTypeReply        uint8
	SubnetTimeOut        uint8
	LocalPhyErrors       uint8
	OverrunErrors        uint8

	// Partition enforcement and raw filtering (switch external ports).
	PartitionEnforcementInbound         bool
	PartitionEnforcementOutbound        bool
	FilterRawInbound                    bool
	FilterRawOutbound                   bool
	MulticastPKeyTrapSuppressionEnabled uint8

	// guid0 is GUIDInfo entry 0, the port GUID (IBTA Vol 1 §14.2.5.5).
	guid0 wire.GUID
	// tables holds the GUIDInfo, P_KeyTable, SLtoVLMappingTable and
	// VLArbitrationTable contents that differ from their defaults; nil
	// (and each table nil inside) while they are all as NewSMA made them.
	// Read and write them through GUID/SetGUID, PKey/SetPKey,
	// SLtoVL/SetSLtoVL and VLArbLow/VLArbHigh (porttables.go).
	tables *portTables
	// sl2vlRows is the number of SLtoVL rows: NumPorts+1 on a switch
	// (one per input port), 1 elsewhere.
	sl2vlRows uint8
}

// OwnsLID reports whether l is one of the port's LIDs: LID through
// LID+2^LMC-1 (IBTA Vol 1 §7.11.1). A port with LID 0 owns none.
func (pa *PortAttrs) OwnsLID(l wire.LID) bool {
	if pa.LID == wire.LIDUnassigned || !l.IsUnicast() {
		return false
	}
	return l >= pa.LID && uint32(l) <= uint32(pa.LID)+(1<<pa.LMC)-1
}

// PortEvent says what an SMP changed on a port, for the host software
// (the IB core caches LIDs, SM addresses, P_Keys and GIDs and reacts to
// ClientReregister).
type PortEvent uint8

// Port events (what Linux reports as ib_event types).
const (
	EventLIDChange PortEvent = iota + 1
	EventSMChange
	EventPKeyChange
	EventGIDChange
	EventClientReregister
	EventSLtoVLChange
)

// String names the event.
func (e PortEvent) String() string {
	switch e {
	case EventLIDChange:
		return "lid-change"
	case EventSMChange:
		return "sm-change"
	case EventPKeyChange:
		return "pkey-change"
	case EventGIDChange:
		return "gid-change"
	case EventClientReregister:
		return "client-reregister"
	case EventSLtoVLChange:
		return "sl2vl-change"
	}
	return fmt.Sprintf("PortEvent(%d)", uint8(e))
}

// SMAOptions are the device's hooks into the SMA. Every field may be nil.
type SMAOptions struct {
	// Transmit sends a frame the SMA originates (a trap) from port p of
	// the node. nil means p.Send, right for a CA; a switch routes frames
	// from its port 0 through its forwarding table.
	Transmit func(p *emu.Port, frame []byte)
	// OnEvent is told when an SMP changed something the host caches.
	OnEvent func(p *emu.Port, ev PortEvent)
	// OnTrapRepressed is told when the SM repressed a trap the SMA sent.
	OnTrapRepressed func(p *emu.Port, t Trap)
	// TrapRetry is the interval after which an unrepressed trap is sent
	// again (default 1 s; IBTA Vol 1 §14.2.5.1 leaves the rate to the
	// implementation). TrapRetries bounds the repeats (default 3, and a
	// negative value means none).
	TrapRetry   time.Duration
	TrapRetries int
}

// Request is one SMP being answered, as an AttrHandler sees it.
type Request struct {
	// SMA is the agent answering.
	SMA *SMA
	// Port is the port the SMP arrived on.
	Port *emu.Port
	// Frame is the arriving frame (addresses and the request SMP).
	Frame *Frame
	// Req is the request SMP as it arrived; do not change it.
	Req wire.SMP
	// Reply starts as a copy of the request: a handler reads the Set data
	// from Reply.Data() and writes the attribute as it is after the
	// request into it.
	Reply wire.SMP
	// MKeyOK reports whether the SMP carried the right M_Key (or none was
	// needed); at protection level 1 a Get with a wrong key still gets an
	// answer, without the M_Key (IBTA Vol 1 §14.2.4.1).
	MKeyOK bool

	after []func() // physical changes applied once the reply has left
}

// Method returns the request method (Get or Set).
func (r *Request) Method() wire.Method { return r.Req.MAD().Method() }

// AttrMod returns the attribute modifier.
func (r *Request) AttrMod() uint32 { return r.Req.MAD().AttrMod() }

// Data returns the 64-byte SMP data area of the reply.
func (r *Request) Data() []byte { return r.Reply.Data() }

// After queues fn to run LinkChangeDelay after the reply was handed to
// the transmitter: changes that take the link down (port disable, link
// enables) must let the answer leave first, as a real PHY does.
func (r *Request) After(fn func()) { r.after = append(r.after, fn) }

// DefaultGIDPrefix is the link-local subnet prefix fe80::/64 a port's
// PortInfo.GidPrefix holds until the SM sets the subnet's (IBTA Vol 1
// §4.1.1).
const DefaultGIDPrefix uint64 = 0xfe80000000000000

// LinkChangeDelay is how long after its reply a PortInfo Set that
// disables a port or changes its link enables acts on the link: long
// enough for the reply to cross the link before it retrains.
const LinkChangeDelay = 50 * time.Microsecond

// LinkRetrainTime is how long a port a PortInfo Set of PortPhysicalState
// Polling retrains stays down (in Polling) before it trains again: a
// reset (`ibportstate ... reset`) takes the link down and brings it back
// in Init (IBTA Vol 1 §5.6.2, §14.2.5.6).
const LinkRetrainTime = 2 * time.Millisecond

// AttrHandler answers one SM attribute for the methods it was registered
// with and returns the status of the reply.
type AttrHandler func(r *Request) wire.MADStatus

type attrEntry struct {
	attr    wire.AttrID
	methods []wire.Method
	fn      AttrHandler
}

// SMA is the subnet management agent of one node (IBTA Vol 1 §14.2): it
// answers LID-routed and directed-route SMPs that reach the node's SMI,
// keeps the SMA state of every port and sends the node's traps. A
// device creates one with NewSMA, binds it to its emu.Node (Bind, or
// implicitly on the first Process), routes directed-route SMPs with
// RouteDR/RouteDRSend and hands the SMPs for the local SMA to Process.
//
// Methods must be called on the event loop.
type SMA struct {
	// What Process reads for every SMP comes first, in one cache line
	// (the node type is NodeConfig's first field).
	n     *emu.Node
	ports []*PortAttrs // index = port number; [0] nil on a CA
	// attrs holds the handlers registered with Handle (nil until the
	// first; a switch has three), searched in order: for so few a scan
	// beats a map lookup on every SMP. The SMA's own attributes are served
	// by ownAttr, so a node keeps no table of its own handlers.
	attrs []attrEntry
	// p0 is ports[0], the M_Key port of a switch (nil on a CA), kept
	// here to spare every SMP the look into ports.
	p0   *PortAttrs
	node NodeConfig
	opts SMAOptions

	traps trapState
}

// smaScratch is the Request and the reply MAD Process answers an SMP
// with. Nothing keeps either once Process returned (reply hands the
// answer on before), so the SMAs of a process share them through a pool
// instead of each keeping its own (a 648-HCA fabric has 702 SMAs; one
// scratch each was a tenth of its heap).
type smaScratch struct {
	req   Request
	reply [wire.MADSize]byte
}

var smaScratchPool = sync.Pool{New: func() any { return new(smaScratch) }}

// NewSMA creates the SMA of a node described by node, with one PortConfig
// per port (ports[i] for port i+1; for a switch ports[0] is port 0 and
// ports[i] port i). Missing entries repeat the last one given.
func NewSMA(node NodeConfig, ports []PortConfig, opts SMAOptions) (*SMA, error) {
	if node.NumPorts < 1 || node.NumPorts > 254 {
		return nil, fmt.Errorf("agent: new sma: %d ports is outside 1..254", node.NumPorts)
	}
	switch node.Type {
	case wire.NodeTypeCA, wire.NodeTypeSwitch, wire.NodeTypeRouter:
	default:
		return nil, fmt.Errorf("agent: new sma: bad node type %d", node.Type)
	}
	if node.SystemImageGUID == 0 {
		node.SystemImageGUID = node.NodeGUID
	}
	if node.PartitionCap == 0 {
		node.PartitionCap = 1
	}
	if opts.TrapRetry <= 0 {
		opts.TrapRetry = time.Second
	}
	if opts.TrapRetries == 0 {
		opts.TrapRetries = 3
	}
	s := &SMA{node: node, opts: opts, ports: make([]*PortAttrs, node.NumPorts+1)}
	first := 1
	if node.Type == wire.NodeTypeSwitch {
		first = 0
	}
	var pc PortConfig
	for num := first; num <= node.NumPorts; num++ {
		if i := num - first; i < len(ports) {
			pc = ports[i]
		}
		pa, err := s.newPort(num, pc)
		if err != nil {
			return nil, err
		}
		s.ports[num] = pa
	}
	s.p0 = s.ports[0]
	return s, nil
}

// Methods the SMA's own attributes accept (shared, never changed).
var (
	smaGet    = []wire.Method{wire.MethodGet}
	smaGetSet = []wire.Method{wire.MethodGet, wire.MethodSet}
)

// ownAttr reports the methods the SMA's own handler for attr accepts
// (IBTA Vol 1 §14.2.5, Table 145): NodeDescription and NodeInfo Get;
// PortInfo, GUIDInfo, P_KeyTable, SLtoVLMappingTable and
// VLArbitrationTable Get and Set. nil: the SMA has no handler of its own.
func ownAttr(attr wire.AttrID) []wire.Method {
	switch attr {
	case wire.AttrNodeDescription, wire.AttrNodeInfo:
		return smaGet
	case wire.AttrPortInfo, wire.AttrGUIDInfo, wire.AttrPKeyTable, wire.AttrSLtoVLMappingTable,
		wire.AttrVLArbitrationTable:
		return smaGetSet
	}
	return nil
}

// serveOwn runs the SMA's own handler for r's attribute (one ownAttr
// lists).
func (s *SMA) serveOwn(r *Request) wire.MADStatus {
	switch wire.MAD(r.Req).AttrID() {
	case wire.AttrNodeDescription:
		return s.nodeDescription(r)
	case wire.AttrNodeInfo:
		return s.nodeInfo(r)
	case wire.AttrPortInfo:
		return s.portInfo(r)
	case wire.AttrGUIDInfo:
		return s.guidInfo(r)
	case wire.AttrPKeyTable:
		return s.pkeyTable(r)
	case wire.AttrSLtoVLMappingTable:
		return s.sl2vlTable(r)
	case wire.AttrVLArbitrationTable:
		return s.vlArbTable(r)
	}
	return wire.MADStatusUnsupportedMethodAttr
}

// methods returns the methods attribute attr accepts: those a handler
// registered with Handle gave, else those of the SMA's own handler (nil:
// the attribute is not served). h is the registered handler, nil for the
// SMA's own.
func (s *SMA) methods(attr wire.AttrID) (ms []wire.Method, h AttrHandler) {
	for i := range s.attrs {
		if e := &s.attrs[i]; e.attr == attr {
			return e.methods, e.fn
		}
	}
	return ownAttr(attr), nil
}

// check returns the status SMP m gets for its header alone, as
// ClassSupport.Check does for the classes of the other agents: class
// version 1, methods Get, Set and TrapRepress (the last for Notice only),
// and the attribute's own methods.
func (s *SMA) check(m wire.MAD) wire.MADStatus {
	st, _ := s.checkHandler(m)
	return st
}

// checkHandler is check that also returns the attribute's registered
// handler (nil for the SMA's own), so Process looks it up once.
func (s *SMA) checkHandler(m wire.MAD) (wire.MADStatus, AttrHandler) {
	if m.BaseVersion() != wire.MADBaseVersion || m.ClassVersion() != wire.SMPClassVersion {
		return wire.MADStatusBadVersion, nil
	}
	switch m.Method() {
	case wire.MethodGet, wire.MethodSet:
	case wire.MethodTrapRepress:
		if m.AttrID() == wire.AttrNotice {
			return wire.MADStatusOK, nil
		}
		return wire.MADStatusUnsupportedMethodAttr, nil
	default:
		return wire.MADStatusUnsupportedMethod, nil
	}
	ms, h := s.methods(m.AttrID())
	if !slices.Contains(ms, m.Method()) {
		return wire.MADStatusUnsupportedMethodAttr, nil
	}
	return wire.MADStatusOK, h
}

func (s *SMA) newPort(num int, pc PortConfig) (*PortAttrs, error) {
	isSwitch := s.node.Type == wire.NodeTypeSwitch
	if pc.GUID == 0 {
		pc.GUID = s.node.NodeGUID
		if !isSwitch {
			pc.GUID += wire.GUID(num)
		}
	}
	if pc.MTUCap == 0 {
		pc.MTUCap = wire.MTU2048
	}
	if pc.MTUCap.Bytes() == 0 {
		return nil, fmt.Errorf("agent: new sma: port %d: bad mtu cap %d", num, pc.MTUCap)
	}
	if pc.VLCap == 0 {
		pc.VLCap = wire.VLCapVL0to7
	}
	if wire.DataVLs(pc.VLCap) == 0 {
		return nil, fmt.Errorf("agent: new sma: port %d: bad vl cap %d", num, pc.VLCap)
	}
	if pc.VLArbHighCap == 0 {
		pc.VLArbHighCap = 8
	}
	if pc.VLArbLowCap == 0 {
		pc.VLArbLowCap = 8
	}
	if pc.VLArbHighCap > 64 || pc.VLArbLowCap > 64 {
		return nil, fmt.Errorf("agent: new sma: port %d: vlarb caps %d/%d above 64", num, pc.VLArbHighCap, pc.VLArbLowCap)
	}
	if pc.GUIDCap == 0 {
		pc.GUIDCap = 32
		if isSwitch {
			pc.GUIDCap = 1
		}
	}
	if pc.PKeyCap == 0 {
		pc.PKeyCap = s.node.PartitionCap
	}
	if pc.RespTimeValue == 0 {
		pc.RespTimeValue = 8
	}
	pa := &PortAttrs{
		Num: num, Config: pc,
		CapabilityMask:       pc.CapabilityMask,
		GIDPrefix:            DefaultGIDPrefix,
		LinkDownDefaultState: wire.PhysStatePolling,
		NeighborMTU:          pc.MTUCap,
		OperationalVLs:       pc.VLCap,
		HOQLife:              0x13, // hardware default; OpenSM writes its own
		VLStallCount:         7,
		SubnetTimeOut:        0,
		LocalPhyErrors:       8,
		OverrunErrors:        8,
		guid0:                pc.GUID,
		sl2vlRows:            1,
	}
	if isSwitch {
		pa.sl2vlRows = uint8(s.node.NumPorts + 1)
	}
	return pa, nil
}

// Handle registers h for SM attribute attr with the given methods (Get,
// Set), replacing the SMA's own handler if it has one. A switch registers
// SwitchInfo, LinearForwardingTable, MulticastForwardingTable and so on.
func (s *SMA) Handle(attr wire.AttrID, methods []wire.Method, h AttrHandler) {
	e := attrEntry{attr, append([]wire.Method(nil), methods...), h}
	for i := range s.attrs {
		if s.attrs[i].attr == attr {
			s.attrs[i] = e
			return
		}
	}
	s.attrs = append(s.attrs, e)
}

// Bind attaches the SMA to its node. Devices call it from Start; Process
// calls it on first use. Binding to another node is an error.
func (s *SMA) Bind(n *emu.Node) error {
	if s.n == n {
		return nil
	}
	if s.n != nil {
		return fmt.Errorf("agent: sma of %s: already bound to %s", n, s.n)
	}
	if n.NumPorts() != s.node.NumPorts || n.Type() != s.node.Type {
		return fmt.Errorf("agent: sma for a %d-port %s cannot bind to %s with %d ports",
			s.node.NumPorts, s.node.Type, n, n.NumPorts())
	}
	s.n = n
	return nil
}

// EmuNode is the node the SMA is bound to (nil before Bind).
func (s *SMA) EmuNode() *emu.Node { return s.n }

// Node returns the node configuration.
func (s *SMA) Node() NodeConfig { return s.node }

// SetDescription changes the NodeDescription, as the host does locally
// (Linux: writing node_desc in sysfs).
func (s *SMA) SetDescription(d string) { s.node.Description = d }

// Port returns the SMA state of port num, or nil when the node has no such
// port (port 0 of a CA).
func (s *SMA) Port(num int) *PortAttrs {
	if num < 0 || num >= len(s.ports) {
		return nil
	}
	return s.ports[num]
}

// Supports reports whether the SMA itself answers m (a request of class
// 0x01/0x81), with data or with an error status. The SMA owns every Get
// and Set but those of SMInfo, the one attribute the subnet manager
// serves (IBTA Vol 1 §14.2.5, Table 145; §14.4.1), and the TrapRepress of
// its own Notice: a Get or Set of an attribute the node does not
// implement, a vendor attribute included, is answered by the SMA with
// status 0x000C (§13.4.7), as the firmware of real HCAs and switches
// does, and is never offered to a host agent, which would leave the
// requester waiting. A device hands what the SMA does not own (SMInfo,
// Trap) to a registered SM agent first, and to Process only when no agent
// takes it.
func (s *SMA) Supports(m wire.MAD) bool {
	if m.IsResponse() {
		return false
	}
	switch m.Method() {
	case wire.MethodTrapRepress:
		return m.AttrID() == wire.AttrNotice
	case wire.MethodGet, wire.MethodSet:
		return m.AttrID() != wire.AttrSMInfo || s.check(m) == wire.MADStatusOK
	}
	return s.check(m) == wire.MADStatusOK
}

// mkeyPort is the port whose M_Key guards an SMP that arrived on p: the
// arrival port of a CA, port 0 of a switch (IBTA Vol 1 §14.2.4).
func (s *SMA) mkeyPort(p *emu.Port) *PortAttrs {
	if s.p0 != nil { // a switch: only it has a port 0
		return s.p0
	}
	return s.Port(p.Num())
}

// Process answers an SMP that reached the node's SMA: a LID-routed SMP
// addressed to one of the node's LIDs, or a directed-route SMP for which
// RouteDR returned wire.DRDeliver. p is the arrival port and f the frame
// (f.MAD is the SMP; f may also be a local SMP from the node's own host,
// with Addr zero).
//
// The SMA checks versions, M_Key (IBTA Vol 1 §14.2.4: an SMP that fails
// the check is dropped, counted in M_KeyViolations and reported with trap
// 256), method and attribute, runs the attribute handler and calls reply
// with the answer: a 256-byte MAD with R set (and D for a directed-route
// SMP), hop pointer untouched, which belongs to the SMA and is valid only
// until reply returns (copy it to keep it). reply is called at most once,
// before Process returns; it is not called for an SMP that is
// dropped or needs no answer (a TrapRepress, a response). Changes the
// Set makes to the link take effect LinkChangeDelay later.
func (s *SMA) Process(p *emu.Port, f *Frame, reply func(resp wire.MAD)) {
	if s.n == nil {
		if err := s.Bind(p.Node()); err != nil {
			return
		}
	}
	m := f.MAD
	if len(m) != wire.MADSize || m.IsResponse() {
		return
	}
	if m.BaseVersion() != wire.MADBaseVersion || m.ClassVersion() != wire.SMPClassVersion {
		if Answered(m.Method()) {
			reply(ErrorReply(m, wire.MADStatusBadVersion))
		}
		return
	}
	smp := wire.SMP(m)
	mp := s.mkeyPort(p)
	ok, drop := s.checkMKey(p, mp, f, smp)
	if drop {
		return
	}
	if m.Method() == wire.MethodTrapRepress {
		s.trapRepressed(p, smp)
		return
	}
	st, h := s.checkHandler(m)
	if st != wire.MADStatusOK {
		if Answered(m.Method()) {
			reply(ErrorReply(m, st))
		}
		return
	}
	// The reply starts as a copy with the R bit; the handler fills it.
	sc := smaScratchPool.Get().(*smaScratch)
	defer func() {
		sc.req = Request{}
		smaScratchPool.Put(sc)
	}()
	r := &sc.req
	resp := wire.MAD(sc.reply[:])
	copy(resp, m)
	resp.SetResponse(wire.MADStatusOK)
	r.Reply = wire.SMP(resp)
	r.SMA, r.Port, r.Frame, r.Req, r.MKeyOK = s, p, f, smp, ok
	if h != nil {
		st = h(r)
	} else {
		st = s.serveOwn(r)
	}
	r.Reply.SetStatus(st)
	if st != wire.MADStatusOK && m.Method() == wire.MethodSet {
		r.after = nil // a refused Set changes nothing
	}
	reply(wire.MAD(r.Reply))
	if len(r.after) > 0 {
		after := r.after
		s.n.Fabric().Clock().AfterFunc(LinkChangeDelay, func() {
			for _, fn := range after {
				fn()
			}
		})
	}
}

// emuPort returns port num of the bound node (nil if none).
func (s *SMA) emuPort(num int) *emu.Port {
	if s.n == nil {
		return nil
	}
	return s.n.Port(num)
}

func (s *SMA) event(p *emu.Port, ev PortEvent) {
	if s.opts.OnEvent != nil && p != nil {
		s.opts.OnEvent(p, ev)
	}
}

// nodeDescription answers NodeDescription Get (IBTA Vol 1 §14.2.5.2).
func (s *SMA) nodeDescription(r *Request) wire.MADStatus {
	clear(r.Data())
	wire.NodeDescription(r.Data()).SetString(s.node.Description)
	return wire.MADStatusOK
}

// nodeInfo answers NodeInfo Get (IBTA Vol 1 §14.2.5.3): PortGUID and
// LocalPortNum are those of the arrival port (port 0 on a switch carries
// the switch's GUID for every port).
func (s *SMA) nodeInfo(r *Request) wire.MADStatus {
	clear(r.Data())
	num := r.Port.Num()
	guid := s.node.NodeGUID
	if pa := s.Port(num); pa != nil && s.node.Type != wire.NodeTypeSwitch {
		guid = pa.Config.GUID
	} else if s.node.Type == wire.NodeTypeSwitch {
		guid = s.ports[0].Config.GUID
	}
	wire.NodeInfo(r.Data()).Encode(&wire.NodeInfoFields{
		BaseVersion:     wire.MADBaseVersion,
		ClassVersion:    wire.SMPClassVersion,
		NodeType:        s.node.Type,
		NumPorts:        uint8(s.node.NumPorts),
		SystemImageGUID: s.node.SystemImageGUID,
		NodeGUID:        s.node.NodeGUID,
		PortGUID:        guid,
		PartitionCap:    s.node.PartitionCap,
		DeviceID:        s.node.DeviceID,
		Revision:        s.node.Revision,
		LocalPortNum:    uint8(num),
		VendorID:        s.node.VendorID & 0xFFFFFF,
	})
	return wire.MADStatusOK
}
