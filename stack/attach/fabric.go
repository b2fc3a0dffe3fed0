package attach

import (
	"fmt"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/fabric"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// node is one emulated node as the server sees it: the engine node, the
// device behind it and the topology node it came from. Its dev field is
// the wrapper the engine calls, which adds the server's hooks (the host
// side of a switch's management port 0, attribute-specific error
// injection) in front of the device.
type node struct {
	topo *topology.Node
	en   *emu.Node
	dev  *nodeDev
	hca  *hca.Device      // nil on a switch
	sw   *ibswitch.Switch // nil on a CA
	sma  *agent.SMA

	// removed remembers the peers of links the console unlinked, by local
	// port number, for ReLink.
	removed map[int]*emu.Port
}

// nodeDev is the emu.Device the engine calls for a node: the HCA or switch
// device with the server's hooks in front. Every method runs on the event
// loop.
type nodeDev struct {
	n     *node
	inner emu.Device
	// offload is inner as an emu.CRCOffloader, nil when it is not one.
	// The node's ports hand their frames straight to it while the wrapper
	// has nothing to do on them (hook): whoever changes inner, offload,
	// host or errAttr calls hook.
	offload emu.CRCOffloader
	// host is the attach point of a switch's port 0 while clients are
	// attached there (nil otherwise, and always nil on CAs).
	host *attachPoint
	// errAttr drops, per arrival port, a share of the SMA and PMA requests
	// for one attribute that end at this node (console Error with an
	// attribute).
	errAttr map[int]attrError
}

// attrError is the attribute-specific drop of one port.
type attrError struct {
	attr wire.AttrID
	rate float64
}

var (
	_ emu.Device           = (*nodeDev)(nil)
	_ emu.CRCOffloader     = (*nodeDev)(nil)
	_ emu.Starter          = (*nodeDev)(nil)
	_ emu.PortStateHandler = (*nodeDev)(nil)
)

// HandlePacket implements emu.Device.
func (d *nodeDev) HandlePacket(p *emu.Port, frame []byte) { d.HandleFrame(p, frame, true) }

// HandleFrame implements emu.CRCOffloader, so frames cross the server's
// nodes with their CRCs still to compute, as they cross the bare devices:
// the server's hooks read headers and MADs only, the HCA and switch
// models take unsealed frames too, and a frame is sealed here only for an
// inner device that does not.
func (d *nodeDev) HandleFrame(p *emu.Port, frame []byte, sealed bool) {
	if len(d.errAttr) > 0 && d.dropByAttr(p, frame) {
		return
	}
	if d.host != nil && d.host.intercept(p, frame) {
		d.host.s.recycleFrame(frame)
		return
	}
	if d.offload != nil {
		d.offload.HandleFrame(p, frame, sealed)
		return
	}
	if !sealed && wire.SealPacket(frame) != nil {
		p.Counters.RcvErrors.Add(1)
		return
	}
	d.inner.HandlePacket(p, frame)
}

// hook points the frames arriving at the node at the wrapper while it has
// work of its own on them (a host side on port 0, attribute errors), and
// straight at the device model otherwise (emu.Node.SetFrameHandler), so
// the hops of the other nodes skip the wrapper. A model that does not take
// unsealed frames keeps the wrapper, which seals them for it. Call it on
// the event loop (or before the fabric starts) after changing inner,
// offload, host or errAttr.
func (d *nodeDev) hook() {
	if d.offload == nil || d.n.en == nil {
		return
	}
	if d.host != nil || len(d.errAttr) > 0 {
		d.n.en.SetFrameHandler(d)
		return
	}
	d.n.en.SetFrameHandler(d.offload)
}

// Start implements emu.Starter.
func (d *nodeDev) Start(n *emu.Node) {
	if s, ok := d.inner.(emu.Starter); ok {
		s.Start(n)
	}
}

// PortStateChanged implements emu.PortStateHandler.
func (d *nodeDev) PortStateChanged(p *emu.Port) {
	if h, ok := d.inner.(emu.PortStateHandler); ok {
		h.PortStateChanged(p)
	}
	if d.host != nil {
		d.host.portStateChanged(p)
	}
}

// dropByAttr applies the attribute-specific error rates: a request of
// the SM, performance, congestion control or vendor class that ends at
// this node is lost with the probability of the port it arrived at, when
// that port's attribute matches; on a switch, port 0's rate (the switch's
// management port, where ibsim counts the request as arriving) applies to
// every request that ends at the switch, for its attribute or for any
// (attribute 0, as ibsim's errattr 0).
func (d *nodeDev) dropByAttr(p *emu.Port, frame []byte) bool {
	e, ok := d.errAttr[p.Num()]
	var e0 attrError
	if d.n.sw != nil {
		e0 = d.errAttr[0]
	}
	if (!ok || e.rate <= 0) && e0.rate <= 0 {
		return false
	}
	f, err := agent.ParseFrame(frame)
	if err != nil {
		return false
	}
	m := f.MAD
	if m.IsResponse() {
		return false
	}
	rate := 0.0
	if ok && e.attr == m.AttrID() {
		rate = e.rate
	}
	if e0.rate > rate && (e0.attr == 0 || e0.attr == m.AttrID()) {
		rate = e0.rate
	}
	if rate <= 0 {
		return false
	}
	switch m.MgmtClass() {
	case wire.MgmtClassSubnDirected:
		s := wire.SMP(append([]byte(nil), m...))
		act, _, err := wire.DRProcess(s, p.Num(), d.n.sw != nil, d.n.en.NumPorts())
		if err != nil || act != wire.DRDeliver {
			return false
		}
	case wire.MgmtClassSubnLID, wire.MgmtClassPerf, wire.MgmtClassCC, wire.MgmtClassMellanox:
		if !d.n.ownsLID(f.Addr.DLID) {
			return false
		}
	default:
		return false
	}
	return d.n.en.Fabric().Rand().Float64() < rate
}

// ownsLID reports whether l is one of the node's LIDs (port 0's on a
// switch, any port's on a CA).
func (n *node) ownsLID(l wire.LID) bool {
	if n.sw != nil {
		return n.sma.Port(0).OwnsLID(l)
	}
	for i := 1; i <= n.en.NumPorts(); i++ {
		if n.sma.Port(i).OwnsLID(l) {
			return true
		}
	}
	return false
}

// buildFabric creates the devices of t with stack/fabric (device models,
// GUIDs, descriptions, LIDs and link rates as everywhere else in ibemu)
// and places them in a new engine behind the server's node wrappers, with
// the same links. The devices bind to their engine nodes only when the
// engine starts, so the engine stack/fabric made is discarded unused.
func buildFabric(t *topology.Topology, fopts []fabric.Option, eopts []emu.Option) (*emu.Fabric, []*node, map[string]*node, error) {
	sf, err := fabric.Build(t, fopts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attach: %w", err)
	}
	ef := emu.New(eopts...)
	nodes := make([]*node, 0, len(t.Nodes))
	byID := make(map[string]*node, len(t.Nodes))
	for _, tn := range t.Nodes {
		old := sf.Node(tn.ID)
		if old == nil {
			return nil, nil, nil, fmt.Errorf("attach: node %s was not built", tn)
		}
		n := &node{topo: tn, removed: map[int]*emu.Port{}}
		n.dev = &nodeDev{n: n, inner: old.Device()}
		n.dev.offload, _ = old.Device().(emu.CRCOffloader)
		switch dv := old.Device().(type) {
		case *hca.Device:
			n.hca, n.sma = dv, dv.SMA()
		case *ibswitch.Switch:
			n.sw, n.sma = dv, dv.SMA()
		default:
			return nil, nil, nil, fmt.Errorf("attach: node %s: unexpected device %T", tn, dv)
		}
		cfgs := make([]emu.PortConfig, old.NumPorts())
		for i := range cfgs {
			p := old.Port(i + 1)
			cfgs[i] = emu.PortConfig{WidthSupported: p.WidthSupported(), WidthEnabled: p.WidthEnabled(),
				SpeedSupported: p.SpeedSupported(), SpeedEnabled: p.SpeedEnabled()}
		}
		en, err := ef.AddNode(tn.ID, old.Type(), old.NumPorts(), n.dev, cfgs...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("attach: %w", err)
		}
		n.en = en
		n.dev.hook()
		nodes = append(nodes, n)
		byID[tn.ID] = n
	}
	for _, l := range t.Links() {
		a := byID[l.A.Node.ID].en.Port(l.A.Num)
		b := byID[l.B.Node.ID].en.Port(l.B.Num)
		if _, err := ef.Connect(a, b); err != nil {
			return nil, nil, nil, fmt.Errorf("attach: %w", err)
		}
	}
	return ef, nodes, byID, nil
}
