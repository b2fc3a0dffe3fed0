package hca

import (
	"fmt"
	"slices"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// MADAddr is the remote end of a MAD, as umad's ib_mad_addr describes it:
// where a sent MAD goes, or where a received one came from.
type MADAddr struct {
	// LID is the DLID on send and the SLID on receive. Directed-route SMPs
	// are sent to the permissive LID 0xFFFF.
	LID wire.LID
	// SL is the service level.
	SL uint8
	// QPN is the remote QP: 0 for SMPs, 1 for the GSI. On send, 0 from a
	// QP1 agent means QP1.
	QPN uint32
	// QKey is the remote QP's Q_Key; 0 on send means the GSI Q_Key for
	// QP1 (SMPs carry none).
	QKey uint32
	// PKey is the partition key. On send, 0 means entry 0 of the port's
	// P_Key table (P_Key index 0, as the Linux MAD layer sends for the
	// diagnostics), and any other key is replaced by the table's entry of
	// the same partition, a full member first: a port sends only keys it
	// holds, and a send in a partition it is no member of fails (QP0 is
	// exempt and sends the default 0xFFFF). On receive it is the table
	// entry the packet's P_Key matched, the key an answer carries (IBTA
	// Vol 1 §10.9.2, §10.9.3).
	PKey uint16
	// GRH is the global route header, nil when there is none. On send a
	// zero SGID is filled with the port's GID 0.
	GRH *wire.GRHFields
}

// ReceivedMAD is a MAD an agent receives: the port it arrived on, where it
// came from and the 256-byte MAD, which the handler owns.
type ReceivedMAD struct {
	Port int
	Addr MADAddr
	MAD  []byte
}

// AgentSpec describes an agent to register (the Linux
// ib_register_mad_agent / umad_register arguments).
type AgentSpec struct {
	// Port is the HCA port (1-based).
	Port int
	// QPN is 0 for the subnet management classes (SMI) and 1 for every
	// other class (GSI).
	QPN uint32
	// Class is the management class the agent serves. For QP0 it is
	// SubnLID or SubnDirected; an SM registers both.
	Class wire.MgmtClass
	// ClassVersion is the class version of the requests it serves.
	ClassVersion uint8
	// Methods lists the unsolicited request methods it serves (Get, Set,
	// Trap, Report, ...); an agent that only sends requests and takes their
	// responses lists none. Only one agent may serve a (port, class,
	// method).
	Methods []wire.Method
	// Handler is called on the event loop with every MAD for the agent:
	// the responses to its requests and the requests it serves.
	Handler func(ReceivedMAD)
}

type serveKey struct {
	port   int
	class  wire.MgmtClass
	method wire.Method
}

// Agent is a registered MAD agent of the host. Its ID is the upper 32 bits
// of the TID of every request it sends, so responses find their way back
// to it (as the Linux MAD layer's hi_tid).
type Agent struct {
	dev  *Device
	id   uint32
	spec AgentSpec
	qpn  uint32
}

// RegisterAgent registers a host agent on the HCA. A QP0 agent serving
// methods is a subnet manager: while one is registered on a port the port
// advertises IsSM in its CapabilityMask (as opening /dev/infiniband/issmN
// does), and the change is reported to the master SM with trap 144.
// Call it on the event loop.
func (d *Device) RegisterAgent(spec AgentSpec) (*Agent, error) {
	if d.sma.Port(spec.Port) == nil {
		return nil, fmt.Errorf("hca: register agent: port %d: %w", spec.Port, ErrBadPort)
	}
	switch {
	case spec.Handler == nil:
		return nil, fmt.Errorf("hca: register agent: no handler: %w", ErrBadAgentSpec)
	case spec.QPN > agent.QP1:
		return nil, fmt.Errorf("hca: register agent: qp %d is neither 0 nor 1: %w", spec.QPN, ErrBadAgentSpec)
	case (spec.QPN == agent.QP0) != spec.Class.IsSubn():
		return nil, fmt.Errorf("hca: register agent: class %s does not travel on qp %d: %w", spec.Class, spec.QPN, ErrBadAgentSpec)
	case spec.ClassVersion == 0:
		return nil, fmt.Errorf("hca: register agent: class version 0: %w", ErrBadAgentSpec)
	}
	for _, m := range spec.Methods {
		if m.IsResponse() {
			return nil, fmt.Errorf("hca: register agent: %s is a response method: %w", m, ErrBadAgentSpec)
		}
		if other := d.serving[serveKey{spec.Port, spec.Class, m}]; other != nil {
			return nil, fmt.Errorf("hca: register agent: port %d %s %s is served by agent %d: %w",
				spec.Port, spec.Class, m, other.id, ErrAgentConflict)
		}
	}
	d.nextID++
	for d.nextID == 0 || d.agents[d.nextID] != nil {
		d.nextID++
	}
	a := &Agent{dev: d, id: d.nextID, spec: spec, qpn: spec.QPN}
	a.spec.Methods = slices.Clone(spec.Methods)
	d.agents[a.id] = a
	for _, m := range a.spec.Methods {
		d.serving[serveKey{spec.Port, spec.Class, m}] = a
	}
	if a.isSM() {
		d.smCount[spec.Port]++
		if d.smCount[spec.Port] == 1 {
			_, _ = d.sma.ModifyCapabilityMask(spec.Port, wire.PortCapIsSM, 0)
		}
	}
	return a, nil
}

func (a *Agent) isSM() bool { return a.qpn == agent.QP0 && len(a.spec.Methods) > 0 }

// ID returns the agent's ID, the upper half of its requests' TIDs.
func (a *Agent) ID() uint32 { return a.id }

// Spec returns what the agent was registered with.
func (a *Agent) Spec() AgentSpec { return a.spec }

// Unregister removes the agent; MADs for it are dropped from now on. When
// the last SM agent of a port goes, IsSM is cleared. Call it on the event
// loop.
func (a *Agent) Unregister() {
	d := a.dev
	if d == nil {
		return
	}
	a.dev = nil
	delete(d.agents, a.id)
	for _, m := range a.spec.Methods {
		k := serveKey{a.spec.Port, a.spec.Class, m}
		if d.serving[k] == a {
			delete(d.serving, k)
		}
	}
	if a.isSM() {
		d.smCount[a.spec.Port]--
		if d.smCount[a.spec.Port] == 0 {
			_, _ = d.sma.ModifyCapabilityMask(a.spec.Port, 0, wire.PortCapIsSM)
		}
	}
}

// server returns the agent that serves request m on port, or nil: the
// agent registered for its class and method, if its class version matches.
func (d *Device) server(port int, m wire.MAD) *Agent {
	a := d.serving[serveKey{port, m.MgmtClass(), m.Method()}]
	if a == nil || a.spec.ClassVersion != m.ClassVersion() {
		return nil
	}
	return a
}

// deliver hands the MAD of f, which arrived on p, to the agent's handler.
// The handler gets the MAD where it lies in the frame, without a copy:
// the device owns every frame it receives (emu.Device) and, once it
// delivered one to an agent, neither reads nor reuses it again, so the
// handler may keep the MAD. The slice's capacity ends with the MAD.
func (a *Agent) deliver(p *emu.Port, f *agent.Frame) {
	mad := f.MAD[:wire.MADSize:wire.MADSize]
	r := ReceivedMAD{Port: p.Num(), MAD: mad, Addr: MADAddr{
		LID: f.Addr.SLID, SL: f.Addr.SL, QPN: f.Addr.SrcQP, QKey: f.Addr.QKey, PKey: f.Addr.PKey,
	}}
	if f.Addr.GRH != nil {
		g := *f.Addr.GRH
		r.Addr.GRH = &g
	}
	a.spec.Handler(r)
}

// Send sends mad (256 bytes) to addr from the agent's port and QP. For a
// request (R bit clear, other than TrapRepress) the upper 32 bits of the
// TID become the agent's ID, so the response comes back to it. A
// directed-route SMP goes through the HCA's SMI (IBTA Vol 1 §14.2.2): it
// must leave through the agent's port (InitialPath[1]), and one with hop
// count 0 is answered by the HCA's own SMA without touching the wire. A
// LID-routed MAD to one of the port's own LIDs is looped back likewise.
// Call it on the event loop.
func (a *Agent) Send(addr MADAddr, mad []byte) error {
	d := a.dev
	switch {
	case d == nil:
		return fmt.Errorf("hca: agent send: %w", ErrUnregistered)
	case d.node == nil:
		return fmt.Errorf("hca: agent %d send: %w", a.id, ErrNotStarted)
	case len(mad) != wire.MADSize:
		return fmt.Errorf("hca: agent %d send: %d bytes, a mad is %d: %w", a.id, len(mad), wire.MADSize, ErrBadMAD)
	}
	if wire.MAD(mad).MgmtClass().IsSubn() != (a.qpn == agent.QP0) {
		return fmt.Errorf("hca: agent %d send: class %s on qp %d: %w", a.id, wire.MAD(mad).MgmtClass(), a.qpn, ErrBadMAD)
	}
	p := d.node.Port(a.spec.Port)
	pa := d.sma.Port(a.spec.Port)
	fa := agent.Addr{DLID: addr.LID, SLID: pa.LID, SL: addr.SL & 0x0F, DestQP: addr.QPN, SrcQP: a.qpn,
		QKey: addr.QKey, PKey: addr.PKey}
	if a.qpn == agent.QP0 {
		// SMPs are exempt from P_Key checks and carry the default.
		fa.DestQP, fa.QKey, fa.PKey = agent.QP0, 0, uint16(wire.PKeyDefault)
	} else {
		if fa.DestQP == 0 {
			fa.DestQP = agent.QP1
		}
		if fa.QKey == 0 && fa.DestQP == agent.QP1 {
			fa.QKey = agent.GSIQKey
		}
		// The BTH carries an entry of the port's own table: entry 0
		// (the Linux MAD layer's P_Key index 0, which the diags use)
		// when no P_Key is given, else the entry of its partition, so a
		// limited member sends its limited key (IBTA Vol 1 §10.9.2).
		i := 0
		if fa.PKey != 0 {
			i = pa.SendPKeyIndex(wire.PKey(fa.PKey))
		}
		k := pa.PKey(i)
		if i < 0 || !k.IsValid() {
			return fmt.Errorf("hca: agent %d send: p_key 0x%04x: %w", a.id, fa.PKey, ErrPKey)
		}
		fa.PKey = uint16(k)
	}
	if fa.DLID == wire.LIDPermissive || fa.SLID == wire.LIDUnassigned {
		fa.SLID = wire.LIDPermissive
	}
	if addr.GRH != nil {
		g := *addr.GRH
		if g.SGID == (wire.GID{}) {
			g.SGID, _ = d.GID(a.spec.Port, 0)
		}
		fa.GRH = &g
	}
	// The frame holds the only copy of the MAD the HCA changes (the TID,
	// the directed-route hop pointer): the caller's bytes stay as they
	// are. The CRCs are computed later (SendUnsealed), after the changes.
	frame, err := agent.AppendUnsealedFrame(nil, &fa, mad)
	if err != nil {
		return fmt.Errorf("hca: agent %d send: %w", a.id, err)
	}
	m := frameMAD(frame)
	if !m.IsResponse() && m.Method() != wire.MethodTrapRepress {
		m.SetTID(uint64(a.id)<<32 | m.TID()&0xFFFFFFFF)
	}
	local := false
	if m.MgmtClass() == wire.MgmtClassSubnDirected {
		r, err := agent.RouteDRSend(d.node, wire.SMP(m))
		if err != nil {
			return fmt.Errorf("hca: agent %d send: %w", a.id, err)
		}
		switch r.Action {
		case wire.DRDeliver:
			local = true
		case wire.DRForwardPort:
			if r.Out != p {
				return fmt.Errorf("hca: agent %d send: directed route leaves through port %d, agent is on port %d: %w",
					a.id, r.Out.Num(), p.Num(), ErrBadMAD)
			}
		case wire.DRForwardLID:
			// A LID-routed lead-in to the start of the directed part.
		}
	} else if pa.OwnsLID(fa.DLID) {
		local = true
	}
	if local {
		d.loopback(p, frame)
		return nil
	}
	if !p.IsUp() {
		return fmt.Errorf("hca: agent %d send: port %d is %s: %w", a.id, p.Num(), p.PhysState(), ErrPortDown)
	}
	p.SendUnsealed(frame)
	return nil
}

// frameMAD is the view of the 256-byte MAD in a frame built by
// agent.AppendUnsealedFrame: it ends before the ICRC and VCRC.
func frameMAD(frame []byte) wire.MAD {
	end := len(frame) - wire.ICRCSize - wire.VCRCSize
	return wire.MAD(frame[end-wire.MADSize : end])
}
