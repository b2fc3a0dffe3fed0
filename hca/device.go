package hca

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// Config describes one HCA. Zero fields take the defaults listed.
type Config struct {
	// Profile is the model (default: StandardProfiles().Default()).
	Profile *Profile
	// NodeGUID is the node's GUID; it must not be 0.
	NodeGUID wire.GUID
	// SystemImageGUID groups the HCAs of one host (default NodeGUID).
	SystemImageGUID wire.GUID
	// PortGUIDs gives each port's GUID (PortGUIDs[i] for port i+1);
	// missing or zero entries default to NodeGUID+port.
	PortGUIDs []wire.GUID
	// Description is the NodeDescription (default: the node's name).
	Description string
	// OnEvent is told about changes the SM made that the host caches
	// (LID, SM, P_Key table, GIDs, client reregistration). It runs on the
	// event loop.
	OnEvent func(port int, ev agent.PortEvent)
	// TrapRetry and TrapRetries control how the SMA repeats unrepressed
	// traps (see agent.SMAOptions).
	TrapRetry   time.Duration
	TrapRetries int
}

// Stats counts what the device did with the frames it could not hand on.
// Every field is safe to read from any goroutine.
type Stats struct {
	// BadDLID: the DLID was none of the port's LIDs (nor the permissive
	// LID on QP0).
	BadDLID atomic.Uint64
	// Malformed: the frame did not parse, or a QP0/QP1 frame carried no
	// proper MAD (wrong VL, wrong class for the QP, wrong size).
	Malformed atomic.Uint64
	// DRDropped: a directed-route SMP the rules of IBTA Vol 1 §14.2.2 drop
	// at a CA (a relay, a bad hop pointer, a wrong return port).
	DRDropped atomic.Uint64
	// NoAgent: a response whose TID names no agent of the arrival port.
	NoAgent atomic.Uint64
	// PKeyDropped and QKeyDropped: GMPs refused by the P_Key or Q_Key
	// check (also counted in PortInfo P_KeyViolations/Q_KeyViolations).
	PKeyDropped atomic.Uint64
	QKeyDropped atomic.Uint64
	// NoTransport: frames for QPs other than 0 and 1 while no Transport is
	// attached, and raw packets.
	NoTransport atomic.Uint64
	// Answered counts the MADs the firmware agents (SMA, PMA, vendor, the
	// unsupported-class answer) replied to.
	Answered atomic.Uint64
}

// Device is an emulated HCA, or a router when its profile says so
// (Profile.NodeType, Profile.AsRouter): the same end-node SMA, PMA and
// vendor agent and the same host agent interface, reporting NodeType
// router, with no verbs engine attached and no forwarding between ports.
// It implements emu.Device, emu.Starter and emu.PortStateHandler. Create it with New and add it to a fabric with
// Add (or emu.Fabric.AddNode with Profile.PortConfigs).
type Device struct {
	prof *Profile
	cfg  Config

	sma    *agent.SMA
	pma    *agent.PMA
	vendor *agent.Vendor
	cc     *agent.CC // nil: the model has no congestion control agent

	node *emu.Node

	agents  map[uint32]*Agent
	serving map[serveKey]*Agent
	nextID  uint32
	smCount []int // SM agents (QP0 with methods) per port

	transport Transport
	stats     Stats

	// tpkt is the Packet an arriving frame is decoded into (event-loop
	// owned; the Transport may use it only during HandleFrame), so that
	// the per-frame path allocates nothing and copies no Packet. inTransport
	// is set while the Transport uses it, as inRecv is for scratch.
	tpkt        wire.Packet
	inTransport bool

	// scratch is the Frame an arriving MAD is decoded into (event-loop
	// owned): nothing keeps a Frame once receive returns, agents get the
	// MAD and a copy of the address. inRecv is set while it is in use, so
	// a frame arriving meanwhile (none does: sends never deliver
	// synchronously) would get a Frame of its own.
	scratch agent.Frame
	inRecv  bool
}

var (
	_ emu.Device           = (*Device)(nil)
	_ emu.Starter          = (*Device)(nil)
	_ emu.PortStateHandler = (*Device)(nil)
)

// New creates an HCA from cfg.
func New(cfg Config) (*Device, error) {
	if cfg.Profile == nil {
		cfg.Profile = StandardProfiles().Default()
	}
	prof := cfg.Profile
	if err := prof.Validate(); err != nil {
		return nil, err
	}
	if cfg.NodeGUID == 0 {
		return nil, fmt.Errorf("hca: new %s: node guid is 0", prof.Name)
	}
	d := &Device{prof: prof, cfg: cfg, agents: map[uint32]*Agent{}, serving: map[serveKey]*Agent{},
		smCount: make([]int, prof.NumPorts+1)}
	ports := make([]agent.PortConfig, prof.NumPorts)
	for i := range ports {
		var guid wire.GUID
		if i < len(cfg.PortGUIDs) {
			guid = cfg.PortGUIDs[i]
		}
		ports[i] = agent.PortConfig{
			GUID: guid, CapabilityMask: prof.CapabilityMask, MTUCap: prof.MTUCap, VLCap: prof.VLCap,
			GUIDCap: prof.GIDTableLen, PKeyCap: prof.PartitionCap,
		}
	}
	var err error
	d.sma, err = agent.NewSMA(agent.NodeConfig{
		Type: prof.Type(), NumPorts: prof.NumPorts,
		SystemImageGUID: cfg.SystemImageGUID, NodeGUID: cfg.NodeGUID,
		PartitionCap: prof.PartitionCap, DeviceID: prof.DeviceID, Revision: prof.Revision,
		VendorID: prof.VendorID, Description: cfg.Description,
	}, ports, agent.SMAOptions{
		Transmit:    d.transmitSMA,
		OnEvent:     d.onEvent,
		TrapRetry:   cfg.TrapRetry,
		TrapRetries: cfg.TrapRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("hca: new %s: %w", prof.Name, err)
	}
	prof.ConfigureSMA(d.sma)
	d.pma = agent.NewPMA(prof.Type(), agent.PMAConfig{})
	if prof.CongestionControl && prof.Type() == wire.NodeTypeCA {
		d.cc = agent.NewCC(wire.NodeTypeCA, prof.NumPorts, agent.CCConfig{Transmit: d.transmitSMA})
	}
	d.vendor, err = agent.NewVendor(prof.Firmware)
	if err != nil {
		return nil, fmt.Errorf("hca: new %s: %w", prof.Name, err)
	}
	return d, nil
}

// Add creates an HCA from cfg and adds it to f as a node called name,
// with the profile's ports. Call it before f starts or on the event loop.
func Add(f *emu.Fabric, name string, cfg Config) (*Device, error) {
	d, err := New(cfg)
	if err != nil {
		return nil, err
	}
	n, err := f.AddNode(name, d.prof.Type(), d.prof.NumPorts, d, d.prof.PortConfigs()...)
	if err != nil {
		return nil, fmt.Errorf("hca: add %q: %w", name, err)
	}
	if err := d.attach(n); err != nil {
		return nil, err
	}
	return d, nil
}

// attach binds the device to its node (once).
func (d *Device) attach(n *emu.Node) error {
	if d.node == n {
		return nil
	}
	if d.node != nil {
		return fmt.Errorf("hca: %s is already %s", d.node, n)
	}
	if err := d.sma.Bind(n); err != nil {
		return fmt.Errorf("hca: attach: %w", err)
	}
	d.node = n
	if d.cfg.Description == "" {
		d.sma.SetDescription(n.Name())
	}
	return nil
}

// Start implements emu.Starter: the firmware boots (uptime starts).
func (d *Device) Start(n *emu.Node) {
	if err := d.attach(n); err != nil {
		n.Fabric().Logger().Error("hca start", "node", n.Name(), "err", err)
		return
	}
	d.vendor.Start(n.Fabric().Now())
}

// PortStateChanged implements emu.PortStateHandler. The HCA firmware keeps
// its SMA state (LID, SM LID, P_Keys) across link flaps, as IBTA Vol 1
// §14.2.5.6 asks; the host is told through OnEvent by the SM's later
// Sets. Nothing else needs doing here.
func (d *Device) PortStateChanged(p *emu.Port) {}

// LoadFirmware makes the device run firmware fw, as after a flash burn
// and a device reset: the vendor agent's GeneralInfo reports it (what
// `vendstat -N` prints) and the firmware's uptime starts again. Call it on
// the event loop (or before the fabric starts).
//
// Equivalent to: `flint -d DEV -i IMAGE burn` followed by a device restart.
func (d *Device) LoadFirmware(fw agent.Firmware) error {
	v, err := agent.NewVendor(fw)
	if err != nil {
		return fmt.Errorf("hca: load firmware: %w", err)
	}
	if d.node != nil {
		v.Start(d.node.Fabric().Now())
	}
	d.vendor = v
	return nil
}

// Profile returns the device's model.
func (d *Device) Profile() *Profile { return d.prof }

// Node returns the emu.Node the device is attached to (nil before).
func (d *Device) Node() *emu.Node { return d.node }

// SMA returns the device's subnet management agent.
func (d *Device) SMA() *agent.SMA { return d.sma }

// PMA returns the device's performance management agent.
func (d *Device) PMA() *agent.PMA { return d.pma }

// Vendor returns the device's Mellanox vendor agent.
func (d *Device) Vendor() *agent.Vendor { return d.vendor }

// CC returns the device's congestion control agent (IBTA Vol 1 Annex
// A10), nil when the model has none (Profile.CongestionControl).
func (d *Device) CC() *agent.CC { return d.cc }

// Stats returns the device's drop counters.
func (d *Device) Stats() *Stats { return &d.stats }

// NodeGUID returns the node GUID.
func (d *Device) NodeGUID() wire.GUID { return d.cfg.NodeGUID }

// PortGUID returns the GUID of port num (0 if there is no such port).
func (d *Device) PortGUID(num int) wire.GUID {
	if pa := d.sma.Port(num); pa != nil {
		return pa.Config.GUID
	}
	return 0
}

// GID returns entry index of port num's GID table: the port's GID prefix
// and GUIDInfo entry index (IBTA Vol 1 §4.1.1).
func (d *Device) GID(num, index int) (wire.GID, error) {
	pa := d.sma.Port(num)
	if pa == nil {
		return wire.GID{}, fmt.Errorf("hca: gid of port %d: %w", num, ErrBadPort)
	}
	if index < 0 || index >= pa.NumGUIDs() {
		return wire.GID{}, fmt.Errorf("hca: gid %d of port %d: table has %d entries: %w", index, num, pa.NumGUIDs(), ErrBadPort)
	}
	var g wire.GID
	for i := range 8 {
		g[i] = byte(pa.GIDPrefix >> (56 - 8*i))
		g[8+i] = byte(uint64(pa.GUID(index)) >> (56 - 8*i))
	}
	return g, nil
}

func (d *Device) onEvent(p *emu.Port, ev agent.PortEvent) {
	if d.cfg.OnEvent != nil {
		d.cfg.OnEvent(p.Num(), ev)
	}
}

// portLID returns the base LID of port p.
func (d *Device) portLID(p *emu.Port) wire.LID {
	if pa := d.sma.Port(p.Num()); pa != nil {
		return pa.LID
	}
	return 0
}

// HandlePacket implements emu.Device. It demultiplexes an arriving frame:
// the LRH DLID must be one of the arrival port's LIDs (LID..LID+2^LMC-1)
// or, for QP0, the permissive LID; QP0 frames go through directed-route
// processing to the SMA or the host's SM agent, QP1 frames through the
// Q_Key and P_Key checks to the PMA, the vendor agent or the host's
// agents, and frames for other QPs to the Transport.
func (d *Device) HandlePacket(p *emu.Port, frame []byte) {
	d.HandleFrame(p, frame, true)
}

// HandleFrame implements emu.CRCOffloader: the HCA's port logic checked
// the frame on arrival, so its receive path needs no CRC bytes and takes
// frames sealed or not alike.
func (d *Device) HandleFrame(p *emu.Port, frame []byte, _ bool) {
	if d.node == nil {
		if err := d.attach(p.Node()); err != nil {
			return
		}
	}
	f := &d.scratch
	if d.inRecv {
		f = new(agent.Frame)
	}
	// A MAD without a GRH (nearly all management traffic) decodes at its
	// fixed offsets; anything else, or a frame that turns out not to be
	// for QP0 or QP1, takes the general path below.
	if len(frame) == agent.MADFrameLen && f.Parse(frame) == nil && f.Addr.DestQP <= agent.QP1 {
		d.receiveMAD(p, f)
		return
	}
	// The frame decodes into the Device's tpkt, which the transport gets
	// (a frame arriving while the transport handles another, which none
	// does since sends never deliver synchronously, gets a Packet of its
	// own).
	pkt := &d.tpkt
	if d.inTransport {
		pkt = new(wire.Packet)
	}
	// Decoded in place: the views are written straight into the Packet
	// the transport gets, not copied out of a returned one.
	if err := pkt.Decode(frame); err != nil {
		d.stats.Malformed.Add(1)
		p.Counters.CountRcvError(emu.RcvMalformedPacket)
		return
	}
	if pkt.IsRaw() {
		d.stats.NoTransport.Add(1)
		return
	}
	qp := pkt.BTH.DestQP()
	if qp > agent.QP1 {
		if !d.dlidOK(p, pkt.LRH.DLID(), false) {
			d.stats.BadDLID.Add(1)
			return
		}
		d.handleTransport(p, pkt)
		return
	}
	// A MAD for QP0 or QP1: the Frame reuses the decoded packet rather
	// than decoding the frame a second time.
	if err := f.FromPacket(pkt); err != nil {
		d.stats.Malformed.Add(1)
		p.Counters.CountRcvError(emu.RcvMalformedPacket)
		return
	}
	d.receiveMAD(p, f)
}

// receiveMAD checks the DLID of a decoded MAD frame and dispatches it.
func (d *Device) receiveMAD(p *emu.Port, f *agent.Frame) {
	if !d.dlidOK(p, f.Addr.DLID, f.Addr.DestQP == agent.QP0) {
		d.stats.BadDLID.Add(1)
		return
	}
	was := d.inRecv
	d.inRecv = true
	d.receive(p, f, false)
	d.inRecv = was
	if f == &d.scratch {
		d.scratch = agent.Frame{} // drop the references to the frame
	}
}

// handleTransport hands a frame for a QP above 1 to the transport. pkt
// is the Device's tpkt (or, for a frame arriving during the transport's
// handling of another, a Packet of its own), valid only during the call
// (see Transport.HandleFrame): a decoded packet escaping to the
// transport would otherwise cost a heap allocation per frame.
func (d *Device) handleTransport(p *emu.Port, pkt *wire.Packet) {
	if d.transport == nil {
		d.stats.NoTransport.Add(1)
		return
	}
	if pkt != &d.tpkt {
		d.transport.HandleFrame(p, pkt)
		return
	}
	d.inTransport = true
	d.transport.HandleFrame(p, pkt)
	// Drop the reference to the frame, which the transport owns now; the
	// other views are overwritten by the next frame's decoding.
	d.tpkt.Frame = nil
	d.inTransport = false
}

// dlidOK reports whether a frame with DLID dlid is for port p: one of its
// LIDs, a multicast LID for the transport, or the permissive LID for an
// SMP (IBTA Vol 1 §7.11.1, §14.2.2).
func (d *Device) dlidOK(p *emu.Port, dlid wire.LID, smp bool) bool {
	switch {
	case dlid == wire.LIDPermissive:
		return smp
	case dlid.IsMulticast():
		return !smp
	}
	pa := d.sma.Port(p.Num())
	return pa != nil && pa.OwnsLID(dlid)
}

// receive dispatches a MAD frame. local marks a MAD the host sent to its
// own HCA (loopback): it skips the DLID, directed-route and key checks,
// which the send path applied.
func (d *Device) receive(p *emu.Port, f *agent.Frame, local bool) {
	if f.Addr.DestQP == agent.QP0 {
		d.receiveSMP(p, f, local)
		return
	}
	d.receiveGMP(p, f, local)
}

func (d *Device) receiveSMP(p *emu.Port, f *agent.Frame, local bool) {
	m := f.MAD
	if !m.MgmtClass().IsSubn() {
		d.stats.Malformed.Add(1)
		return
	}
	if m.MgmtClass() == wire.MgmtClassSubnDirected && !local {
		r, err := agent.RouteDR(p, wire.SMP(m))
		if err != nil || r.Action != wire.DRDeliver {
			d.stats.DRDropped.Add(1)
			return
		}
	}
	if m.IsResponse() {
		d.deliverResponse(p, f)
		return
	}
	reply := func(resp wire.MAD) { d.reply(p, f, local, resp) }
	switch {
	case m.Method() == wire.MethodTrapRepress:
		// The answer to a trap: the SMA's own traps have TIDs with a zero
		// upper half; a host agent's carry its ID there.
		if a := d.agents[uint32(m.TID()>>32)]; a != nil && a.spec.Port == p.Num() && a.qpn == agent.QP0 {
			a.deliver(p, f)
			return
		}
		d.sma.Process(p, f, reply)
	case d.sma.Supports(m):
		d.sma.Process(p, f, reply)
	default:
		if a := d.server(p.Num(), m); a != nil {
			a.deliver(p, f)
			return
		}
		d.sma.Process(p, f, reply)
	}
}

func (d *Device) receiveGMP(p *emu.Port, f *agent.Frame, local bool) {
	m := f.MAD
	pa := d.sma.Port(p.Num())
	if m.MgmtClass().IsSubn() {
		d.stats.Malformed.Add(1)
		return
	}
	if !local {
		// IBTA Vol 1 §13.5.1: QP1 takes only the GSI Q_Key; §10.9.3: the
		// P_Key must match the port's table. QP0 is exempt from both.
		if f.Addr.QKey != agent.GSIQKey {
			d.stats.QKeyDropped.Add(1)
			p.Counters.QKeyViolations.Add(1)
			_, _ = d.sma.SendTrap(p.Num(), agent.BadQKeyNotice(d.prof.Type(), pa.LID, &f.Addr))
			return
		}
		i := pa.PKeyIndex(wire.PKey(f.Addr.PKey))
		if i < 0 {
			d.stats.PKeyDropped.Add(1)
			p.Counters.PKeyViolations.Add(1)
			_, _ = d.sma.SendTrap(p.Num(), agent.BadPKeyNotice(d.prof.Type(), pa.LID, &f.Addr))
			return
		}
		// From here on the MAD is known by the entry it matched (the
		// P_Key index a receive completion reports): an answer carries
		// that entry, so a full member answers a limited one in full.
		f.Addr.PKey = uint16(pa.PKey(i))
	}
	if m.IsResponse() {
		d.deliverResponse(p, f)
		return
	}
	var resp wire.MAD
	var ok bool
	switch class := m.MgmtClass(); {
	case class == wire.MgmtClassPerf && d.pma.Supports(m):
		resp, ok = d.pma.Process(p, m)
	case class == wire.MgmtClassMellanox && d.vendor.Supports(m):
		resp, ok = d.vendor.Process(p, m)
	case class == wire.MgmtClassCC && d.cc != nil && d.cc.Supports(m):
		resp, ok = d.cc.Process(p, &f.Addr, m)
	default:
		if a := d.server(p.Num(), m); a != nil {
			a.deliver(p, f)
			return
		}
		switch class {
		case wire.MgmtClassPerf:
			resp, ok = d.pma.Process(p, m)
		case wire.MgmtClassMellanox:
			resp, ok = d.vendor.Process(p, m)
		case wire.MgmtClassCC:
			if d.cc == nil {
				resp, ok = agent.UnmatchedReply(m)
				break
			}
			resp, ok = d.cc.Process(p, &f.Addr, m)
		default:
			resp, ok = agent.UnmatchedReply(m)
		}
	}
	if ok {
		d.reply(p, f, local, resp)
	}
}

// deliverResponse hands a response to the agent whose ID is the upper
// half of its TID (the Linux MAD layer's hi_tid), if that agent is on the
// arrival port and the right QP.
func (d *Device) deliverResponse(p *emu.Port, f *agent.Frame) {
	a := d.agents[uint32(f.MAD.TID()>>32)]
	if a == nil || a.spec.Port != p.Num() || a.qpn != f.Addr.DestQP {
		d.stats.NoAgent.Add(1)
		return
	}
	a.deliver(p, f)
}

// reply sends a firmware agent's answer to req, which arrived on p. A
// directed-route answer follows the return path (the CA's own port, or
// back to the local SM when the request came from it); a local request
// gets its answer by loopback.
func (d *Device) reply(p *emu.Port, req *agent.Frame, local bool, resp wire.MAD) {
	d.stats.Answered.Add(1)
	out := p
	if resp.MgmtClass() == wire.MgmtClassSubnDirected {
		r, err := agent.RouteDRSend(d.node, wire.SMP(resp))
		if err != nil {
			d.stats.DRDropped.Add(1)
			return
		}
		switch r.Action {
		case wire.DRDeliver:
			local = true
		case wire.DRForwardPort:
			out, local = r.Out, false
		default:
			d.stats.DRDropped.Add(1)
			return
		}
	}
	// The answer is built in the request's frame, which the device owns
	// and nobody reads once the agent answered (req's views alias it, so
	// they are not used past this point); it has the request's headers
	// and length, so no new buffer is needed.
	frame, err := agent.AppendUnsealedReply(req.Packet.Frame[:0], req, d.portLID(out), resp)
	if err != nil {
		d.stats.Malformed.Add(1)
		return
	}
	if local {
		d.loopback(p, frame)
		return
	}
	out.SendUnsealed(frame)
}

// transmitSMA sends a frame the SMA originates (a trap) from port p. A
// trap to the port's own LID (the SM runs on this HCA) loops back.
func (d *Device) transmitSMA(p *emu.Port, frame []byte) {
	if pa := d.sma.Port(p.Num()); pa != nil && len(frame) >= wire.LRHSize && pa.OwnsLID(wire.LRH(frame).DLID()) {
		d.loopback(p, frame)
		return
	}
	p.Send(frame)
}

// loopback delivers a frame the HCA sends to itself on port p, after the
// events already queued for this instant.
func (d *Device) loopback(p *emu.Port, frame []byte) {
	f, err := agent.ParseFrame(frame)
	if err != nil {
		d.stats.Malformed.Add(1)
		return
	}
	d.node.Fabric().Post(func() { d.receive(p, f, true) })
}
