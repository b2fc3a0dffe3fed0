package attach

import (
	"fmt"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// The host side of a switch's management port 0. A managed switch runs
// software (an embedded SM, diagnostics) behind port 0; the switch model
// relays, answers SMA/PMA/vendor requests and sends traps, but has no
// interface for such software, so the server provides it here, on the
// event loop:
//
//   - what clients send leaves port 0 as the switch's own frames would:
//     directed-route SMPs out InitialPath[1] with permissive LIDs (IBTA Vol
//     1 §14.2.2), LID-routed SMPs and GMPs out the port the
//     LinearForwardingTable gives, after the port-state checks of §7.2
//     (SMPs need Init or later, GMPs Active) and, for GMPs, the SL-to-VL
//     mapping of (port 0, egress port);
//   - MADs for the switch itself (hop count 0, its own LID) are answered
//     by its SMA, or handed to the SM client;
//   - frames arriving for port 0 that are responses (the switch's own
//     agents send none that expect one) go to the client whose slot is in
//     TID bits 48..63; SM and SA requests the SMA does not answer go to the
//     SM client; everything else goes to the switch.

// swSend sends a client MAD from port 0 of the attach switch. The MAD is
// copied once, into the frame that carries it (sent with its CRCs still
// to compute, as the switch's own frames are), and the copy gets the
// client's slot in its TID; d is not changed.
func (ap *attachPoint) swSend(c *client, d Datagram) error {
	src := d.MAD()
	tid := src.TID()
	if !src.IsResponse() && src.Method() != wire.MethodTrapRepress {
		// The response comes back to the client in this slot (ibsim's
		// rule: requests carry the slot in TID bits 48..63).
		tid = uint64(c.slot)<<48 | tid&0xFFFF_FFFF_FFFF
	}
	dlid := d.DLID()
	own := ap.n.sma.Port(0)
	switch src.MgmtClass() {
	case wire.MgmtClassSubnDirected:
		a := agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, DestQP: agent.QP0, SrcQP: agent.QP0,
			PKey: uint16(wire.PKeyDefault)}
		frame, m, err := ap.s.madFrame(&a, src, tid)
		if err != nil {
			return err
		}
		r, err := agent.RouteDRSend(ap.n.en, wire.SMP(m))
		if err != nil {
			return fmt.Errorf("%w: %w", errUndeliverable, err)
		}
		switch r.Action {
		case wire.DRDeliver:
			return ap.localSMP(c, m, wire.LIDPermissive)
		case wire.DRForwardPort:
			r.Out.SendUnsealed(frame)
			return nil
		case wire.DRForwardLID:
			// A LID-routed lead-in (DrSLID not permissive, IBTA Vol 1
			// §14.2.2.1): the SMP goes LID-routed to the switch where the
			// directed part starts, the datagram's DLID, from the
			// switch's own LID.
			if own.OwnsLID(dlid) {
				return ap.selfLeadIn(c, frame, wire.SMP(m))
			}
			out, err := ap.swEgress(dlid, false)
			if err != nil {
				return err
			}
			lrh := wire.LRH(frame)
			lrh.SetDLID(dlid)
			lrh.SetSLID(ap.swSLID())
			out.SendUnsealed(frame)
			return nil
		default:
			return fmt.Errorf("%w: directed route smp the switch cannot send (%v)", errUndeliverable, r.Action)
		}
	case wire.MgmtClassSubnLID:
		if own.OwnsLID(dlid) {
			m := wire.MAD(append([]byte(nil), src...))
			m.SetTID(tid)
			return ap.localSMP(c, m, own.LID)
		}
		out, err := ap.swEgress(dlid, false)
		if err != nil {
			return err
		}
		a := agent.Addr{DLID: dlid, SLID: ap.swSLID(), DestQP: agent.QP0, SrcQP: agent.QP0, PKey: uint16(wire.PKeyDefault)}
		frame, _, err := ap.s.madFrame(&a, src, tid)
		if err != nil {
			return err
		}
		out.SendUnsealed(frame)
		return nil
	}
	dqp := d.DQP()
	if dqp == 0 {
		dqp = agent.QP1
	}
	if own.OwnsLID(dlid) {
		m := wire.MAD(append([]byte(nil), src...))
		m.SetTID(tid)
		return ap.localGMP(c, m)
	}
	out, err := ap.swEgress(dlid, true)
	if err != nil {
		return err
	}
	// The P_Key is entry 0 of port 0's table: libumad2sim passes no P_Key
	// index, and the diags use index 0 (IBTA Vol 1 §10.9.2: a port sends
	// only keys it holds, so a limited member sends its limited key).
	pkey := own.PKey(0)
	if !pkey.IsValid() {
		return fmt.Errorf("%w: p_key 0x%04x in entry 0 of port 0", errUndeliverable, uint16(pkey))
	}
	a := agent.Addr{DLID: dlid, SLID: ap.swSLID(), DestQP: dqp, SrcQP: agent.QP1, QKey: agent.GSIQKey,
		PKey: uint16(pkey)}
	frame, _, err := ap.s.madFrame(&a, src, tid)
	if err != nil {
		return err
	}
	// Data VLs follow the SL-to-VL table of (port 0, egress port).
	pa := ap.n.sma.Port(out.Num())
	if pa.NumSLtoVLRows() > 0 {
		vl := pa.SLtoVL(0, 0)
		if vl == agent.VL15 || int(vl) >= wire.DataVLs(pa.OperationalVLs) {
			return fmt.Errorf("%w: sl 0 maps to vl %d on port %d", errUndeliverable, vl, out.Num())
		}
		wire.LRH(frame).SetVL(vl)
	}
	out.SendUnsealed(frame)
	return nil
}

// madFrame builds the unsealed frame that carries a copy of mad, with TID
// tid, to a, and returns it with a view of the copy. The frame's buffer
// comes from the server's pool when it has one.
func (s *Server) madFrame(a *agent.Addr, mad wire.MAD, tid uint64) (frame []byte, m wire.MAD, err error) {
	frame, err = agent.AppendUnsealedFrame(s.frameBuf(), a, mad)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errUndeliverable, err)
	}
	end := len(frame) - wire.ICRCSize - wire.VCRCSize
	m = wire.MAD(frame[end-wire.MADSize : end])
	m.SetTID(tid)
	return frame, m, nil
}

// frameBuf returns an empty buffer for a MAD frame: a recycled one when
// there is one. Loop-owned, like recycleFrame.
func (s *Server) frameBuf() []byte {
	if n := len(s.frames); n > 0 {
		b := s.frames[n-1]
		s.frames[n-1] = nil
		s.frames = s.frames[:n-1]
		return b[:0]
	}
	return make([]byte, 0, madFrameCap)
}

// recycleFrame keeps the buffer of a frame the server consumed (nothing
// references it once the device call that delivered it returned), for
// the next frame a client sends through a switch: a MAD's request and
// response travel in one buffer (the devices answer in place), so the
// buffers circle between clients and the fabric.
func (s *Server) recycleFrame(frame []byte) {
	if cap(frame) >= madFrameCap && len(s.frames) < maxFrames {
		s.frames = append(s.frames, frame)
	}
}

const (
	// madFrameCap holds a MAD frame with a GRH.
	madFrameCap = wire.LRHSize + wire.GRHSize + wire.BTHSize + wire.DETHSize + wire.MADSize +
		wire.ICRCSize + wire.VCRCSize
	// maxFrames bounds the recycled frame buffers.
	maxFrames = 1024
)

// swSLID is the SLID of frames port 0 sends: its LID, or the permissive
// LID before the SM assigned one.
func (ap *attachPoint) swSLID() wire.LID {
	if l := ap.n.sma.Port(0).LID; l != wire.LIDUnassigned {
		return l
	}
	return wire.LIDPermissive
}

// swEgress is the port a frame from port 0 to dlid leaves by: the
// LinearForwardingTable entry, when dlid is within LinearFDBTop, names an
// external port whose link is up and in a state that carries the frame.
func (ap *attachPoint) swEgress(dlid wire.LID, data bool) (*emu.Port, error) {
	sw := ap.n.sw
	if !dlid.IsUnicast() {
		return nil, fmt.Errorf("%w: dlid %d is not unicast", errUndeliverable, dlid)
	}
	if top := wire.LID(sw.SwitchInfo().LinearFDBTop); dlid > top {
		return nil, fmt.Errorf("%w: dlid %d above LinearFDBTop %d", errUndeliverable, dlid, top)
	}
	num := sw.Route(dlid)
	out := ap.n.en.Port(int(num))
	switch {
	case num == 0 || out == nil:
		return nil, fmt.Errorf("%w: no route to lid %d (entry %d)", errUndeliverable, dlid, num)
	case !out.IsUp():
		return nil, fmt.Errorf("%w: port %d to lid %d is %s", errUndeliverable, num, dlid, out.PhysState())
	case data && out.State() != wire.PortStateActive, !data && out.State() < wire.PortStateInit:
		return nil, fmt.Errorf("%w: port %d to lid %d is %s", errUndeliverable, num, dlid, out.State())
	}
	return out, nil
}

// selfLeadIn carries on a directed-route SMP whose LID-routed lead-in
// names the switch the client sits on (ibportstate and iblinkinfo query a
// port's peer this way: DLID the switch's LID, then one directed hop).
// The switch routes the lead-in to its own port 0, where the directed
// part starts as at the end of any lead-in (IBTA Vol 1 §14.2.2.3, an
// outbound SMP arriving with hop pointer 0 and a DrSLID that is not
// permissive): hop pointer 1 and out InitialPath[1] with permissive LIDs,
// or, with an empty directed part, to the switch's own SMA (or on through
// a LID-routed tail to DrDLID). The answer comes back LID-routed to
// DrSLID, this switch, and so to the client.
func (ap *attachPoint) selfLeadIn(c *client, frame []byte, smp wire.SMP) error {
	lrh := wire.LRH(frame)
	smp.SetHopPointer(1)
	if smp.HopCount() == 0 {
		if smp.DrDLID() == wire.LIDPermissive {
			return ap.localSMP(c, wire.MAD(smp), ap.n.sma.Port(0).LID)
		}
		out, err := ap.swEgress(smp.DrDLID(), false)
		if err != nil {
			return err
		}
		lrh.SetDLID(smp.DrDLID())
		lrh.SetSLID(ap.swSLID())
		out.SendUnsealed(frame)
		return nil
	}
	num := int(smp.InitialPathAt(1))
	out := ap.n.en.Port(num)
	switch {
	case num == 0 || out == nil:
		return fmt.Errorf("%w: directed route after a lead-in to the switch itself: initial path port %d does not exist", errUndeliverable, num)
	case !out.IsUp():
		return fmt.Errorf("%w: directed route after a lead-in to the switch itself: port %d is %s", errUndeliverable, num, out.PhysState())
	}
	lrh.SetDLID(wire.LIDPermissive)
	lrh.SetSLID(wire.LIDPermissive)
	out.SendUnsealed(frame)
	return nil
}

// localSMP handles an SMP a client on the switch sends to the switch
// itself: a response goes to the client whose request it answers, a
// request the SMA does not implement (SMInfo, a Trap) to the SM client,
// and everything else to the switch's SMA, whose answer comes back with
// source slid.
func (ap *attachPoint) localSMP(c *client, m wire.MAD, slid wire.LID) error {
	if m.IsResponse() {
		ap.hostResponse(m, slid, agent.QP0, agent.QP0)
		return nil
	}
	if !ap.n.sma.Supports(m) && ap.sm != nil && ap.sm != c && forSM(m) {
		ap.hand(ap.sm, slid, agent.QP0, agent.QP0, m)
		return nil
	}
	own := ap.n.sma.Port(0).LID
	f := &agent.Frame{MAD: m, VL: agent.VL15, Addr: agent.Addr{DLID: own, SLID: own, PKey: uint16(wire.PKeyDefault)}}
	ap.n.sma.Process(ap.port, f, func(resp wire.MAD) {
		ap.toClient(c, slid, agent.QP0, agent.QP0, resp)
	})
	return nil
}

// localGMP handles a GMP a client on the switch sends to the switch's own
// LID. Responses and SA requests travel between clients; PerfMgt and
// Mellanox vendor requests are answered by host-side instances of the
// shared agents over the same port counters and firmware (the switch
// model does not expose its own; their PortCounters reset baselines are
// therefore separate from the ones remote requests clear); congestion
// control requests by the switch's own CC agent (one state per switch);
// any other class gets the unsupported-class answer.
func (ap *attachPoint) localGMP(c *client, m wire.MAD) error {
	own := ap.n.sma.Port(0).LID
	if m.IsResponse() {
		ap.hostResponse(m, own, agent.QP1, agent.QP1)
		return nil
	}
	if m.MgmtClass() == wire.MgmtClassSubnAdm && ap.sm != nil && ap.sm != c && forSM(m) {
		ap.hand(ap.sm, own, agent.QP1, agent.QP1, m)
		return nil
	}
	var resp wire.MAD
	var ok bool
	switch m.MgmtClass() {
	case wire.MgmtClassPerf:
		if ap.pma == nil {
			ap.pma = agent.NewPMA(wire.NodeTypeSwitch, agent.PMAConfig{})
		}
		resp, ok = ap.pma.Process(ap.port, m)
	case wire.MgmtClassMellanox:
		if ap.vendor == nil {
			v, err := agent.NewVendor(ap.n.sw.Profile().Firmware)
			if err != nil {
				return fmt.Errorf("%w: %w", errUndeliverable, err)
			}
			v.Start(ap.s.started)
			ap.vendor = v
		}
		resp, ok = ap.vendor.Process(ap.port, m)
	case wire.MgmtClassCC:
		// The switch's own agent: its CC state is one per switch.
		if cc := ap.n.sw.CC(); cc != nil {
			a := agent.Addr{DLID: own, SLID: own, DestQP: agent.QP1, SrcQP: agent.QP1, QKey: agent.GSIQKey,
				PKey: uint16(wire.PKeyDefault)}
			resp, ok = cc.Process(ap.port, &a, m)
			break
		}
		resp, ok = agent.UnmatchedReply(m)
	default:
		resp, ok = agent.UnmatchedReply(m)
	}
	if ok {
		ap.toClient(c, own, agent.QP1, agent.QP1, resp)
	}
	return nil
}

// hostResponse hands a response that reached port 0 to the client whose
// slot is in TID bits 48..63, if it is attached here.
func (ap *attachPoint) hostResponse(m wire.MAD, slid wire.LID, sqp, dqp uint32) {
	slot := int(m.TID() >> 48)
	for _, c := range ap.clients {
		if c.slot == slot {
			ap.toClient(c, slid, sqp, dqp, m)
			return
		}
	}
	ap.s.log.Debug("attach: response for no client", "node", ap.n.topo.ID, "slot", slot, "class", m.MgmtClass(),
		"attr", m.AttrID())
}

// intercept takes the frames arriving at the switch that are for its host
// side; it reports false for frames the switch handles itself.
func (ap *attachPoint) intercept(in *emu.Port, frame []byte) bool {
	if len(ap.clients) == 0 || len(frame) < wire.LRHSize {
		return false
	}
	own := ap.n.sma.Port(0)
	lrh := wire.LRH(frame)
	dlid := lrh.DLID()
	vl15 := lrh.VL() == agent.VL15
	if !own.OwnsLID(dlid) && !(vl15 && dlid == wire.LIDPermissive) {
		return false
	}
	if smp, ok := agent.DirectedSMP(frame); ok {
		// The answers to a client's directed-route SMPs end here, one per
		// request: route a copy (the switch relays the frame as it came
		// when it is not for port 0) from the SMP's view alone.
		cp := wire.SMP(ap.drCopy[:])
		copy(cp, smp)
		r, err := agent.RouteDR(in, cp)
		if err == nil && r.Action == wire.DRForwardLID && cp.Direction() == wire.DRReturning && own.OwnsLID(cp.DrSLID()) {
			// The answer to a request whose lead-in named this switch
			// (selfLeadIn): its LID-routed return leads to port 0.
			ap.hostResponse(wire.MAD(cp), own.LID, agent.QP0, agent.QP0)
			return true
		}
		if err != nil || r.Action != wire.DRDeliver {
			return false // relayed (or dropped) by the switch
		}
		if r.ToSM || smp.MAD().IsResponse() {
			const dethAt = wire.LRHSize + wire.BTHSize
			ap.hostResponse(wire.MAD(cp), lrh.SLID(), wire.DETH(frame[dethAt:dethAt+wire.DETHSize]).SrcQP(), agent.QP0)
			return true
		}
		f := &ap.rx
		if f.Parse(frame) != nil {
			return false
		}
		return ap.toSM(wire.MAD(cp), f)
	}
	f := &ap.rx
	if f.Parse(frame) != nil {
		return false
	}
	m := f.MAD
	if vl15 {
		switch m.MgmtClass() {
		case wire.MgmtClassSubnDirected:
			// Route a copy: the switch relays the frame as it came when
			// it is not for port 0.
			smp := wire.SMP(ap.drCopy[:])
			copy(smp, m)
			r, err := agent.RouteDR(in, smp)
			if err != nil || r.Action != wire.DRDeliver {
				return false // relayed (or dropped) by the switch
			}
			if r.ToSM || m.IsResponse() {
				ap.hostResponse(wire.MAD(smp), f.Addr.SLID, f.Addr.SrcQP, agent.QP0)
				return true
			}
			return ap.toSM(wire.MAD(smp), f)
		case wire.MgmtClassSubnLID:
			if m.IsResponse() {
				ap.hostResponse(m, f.Addr.SLID, f.Addr.SrcQP, agent.QP0)
				return true
			}
			return ap.toSM(m, f)
		}
		return false
	}
	if f.Addr.DestQP != agent.QP1 || f.Addr.QKey != agent.GSIQKey || in.State() != wire.PortStateActive {
		return false // the switch counts and drops it
	}
	if m.IsResponse() {
		ap.hostResponse(m, f.Addr.SLID, f.Addr.SrcQP, agent.QP1)
		return true
	}
	if m.MgmtClass() == wire.MgmtClassSubnAdm {
		return ap.toSM(m, f)
	}
	return false
}

// toSM hands an SM or SA request the switch's SMA does not implement to
// the SM client. It reports false when there is none (the switch then
// answers the request itself, with an error status).
func (ap *attachPoint) toSM(m wire.MAD, f *agent.Frame) bool {
	if ap.sm == nil || !forSM(m) || (m.MgmtClass().IsSubn() && ap.n.sma.Supports(m)) {
		return false
	}
	ap.hand(ap.sm, f.Addr.SLID, f.Addr.SrcQP, f.Addr.DestQP, m)
	return true
}

// portStateChanged gives an SM running on this switch the Trap 128 the
// switch sends on a link change: the switch model only sends traps over
// a link, and the SM's LID is its own.
func (ap *attachPoint) portStateChanged(p *emu.Port) {
	own := ap.n.sma.Port(0)
	if ap.sm == nil || p.Num() == 0 || own.LID == wire.LIDUnassigned || !own.OwnsLID(own.MasterSMLID) {
		return
	}
	ap.trapTID++
	smp := wire.SMP(make([]byte, wire.MADSize))
	smp.Encode(&wire.SMPFields{Method: wire.MethodTrap, TID: ap.trapTID, AttrID: wire.AttrNotice})
	nf := agent.LinkStateChangeNotice(own.LID)
	wire.Notice(smp.Data()).Encode(&nf)
	ap.hand(ap.sm, own.LID, agent.QP0, agent.QP0, smp)
}
