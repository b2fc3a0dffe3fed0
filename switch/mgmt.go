package ibswitch

import (
	"sync"
	"sync/atomic"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// smi is management port 0's subnet management interface: it takes every
// VL15 frame addressed to the switch (its LIDs or the permissive LID).
// LID-routed SMPs go to the SMA; directed-route SMPs follow IBTA Vol 1
// §14.2.2 (relay out a path port, LID-route the lead-in's return or the
// tail, or deliver to the SMA). Anything else on VL15 is dropped and
// counted in VL15Dropped of the arrival port.
func (s *Switch) smi(in *emu.Port, frame []byte, sealed bool) {
	// A directed-route SMP in the usual layout is routed from its views
	// alone: most reach the SMI only to be relayed, and the whole frame
	// is parsed only when the SMA answers it.
	if smp, ok := agent.DirectedSMP(frame); ok {
		s.directed(in, frame, sealed, smp, nil)
		return
	}
	f := framePool.Get().(*agent.Frame)
	defer framePool.Put(f)
	if err := f.Parse(frame); err != nil || f.Addr.DestQP != agent.QP0 {
		s.drop(&in.Counters.VL15Dropped)
		return
	}
	switch f.MAD.MgmtClass() {
	case wire.MgmtClassSubnLID:
		s.stats.Local.Add(1)
		s.process(in, f, func(resp wire.MAD) { s.replyLID(frame, f, resp, &s.stats.SMPReplies) })
	case wire.MgmtClassSubnDirected:
		s.directed(in, frame, sealed, wire.SMP(f.MAD), f)
	default:
		s.drop(&in.Counters.VL15Dropped)
	}
}

// framePool holds the Frames the SMI parses into: nothing keeps one once
// the SMI returned, and the switches of a fabric share them, so the Frame
// a parse writes (most of its cost is those stores) was written by the
// last parse too and is still in the cache, where a Frame per switch was
// cold at every hop of a large fabric. A frame reaching an SMI nested in
// another's handling (cut-through relays) gets a Frame of its own.
var framePool = sync.Pool{New: func() any { return new(agent.Frame) }}

// directed applies the directed-route rules to smp, a DR SMP that reached
// the SMI through port in in frame, updating frame in place. f is the
// parsed frame, or nil when it was not parsed: only an SMP for the SMA
// needs it, and it is parsed then (the routing changes the SMP's hop
// pointer and return path, which the Frame's MAD view shows either way).
func (s *Switch) directed(in *emu.Port, frame []byte, sealed bool, smp wire.SMP, f *agent.Frame) {
	route, err := agent.RouteSwitchDR(s.ports, in.Num(), smp)
	if err != nil {
		s.log.Debug("ibswitch: dr smp dropped", "port", in.Num(), "err", err)
		s.drop(&in.Counters.VL15Dropped)
		return
	}
	lrh := wire.LRH(frame)
	switch route.Action {
	case wire.DRForwardPort:
		// On the directed part both LIDs are permissive, so every node on
		// the way hands the SMP to its SMI (IBTA Vol 1 §14.2.2).
		lrh.SetDLID(wire.LIDPermissive)
		lrh.SetSLID(wire.LIDPermissive)
		if sealed && wire.SealPacket(frame) != nil {
			s.drop(&in.Counters.VL15Dropped)
			return
		}
		s.stats.DRRelayed.Add(1)
		route.Out.SendFrame(frame, sealed)
	case wire.DRForwardLID:
		// The outbound tail goes to DrDLID, the return after a lead-in to
		// DrSLID; the switch is the LID-routed part's source.
		dst := smp.DrDLID()
		if smp.Direction() == wire.DRReturning {
			dst = smp.DrSLID()
		}
		lrh.SetDLID(dst)
		lrh.SetSLID(s.ownSLID())
		if !dst.IsUnicast() || sealed && wire.SealPacket(frame) != nil {
			s.drop(&in.Counters.VL15Dropped)
			return
		}
		s.stats.DRRelayed.Add(1)
		s.forwardUnicast(in, frame, sealed, dst, false)
	case wire.DRDeliver:
		if route.ToSM {
			// A response for an SM on this switch: none runs here.
			s.drop(&in.Counters.VL15Dropped)
			return
		}
		if f == nil {
			f = framePool.Get().(*agent.Frame)
			defer framePool.Put(f)
			if f.Parse(frame) != nil { // DirectedSMP accepted it: cannot fail
				s.drop(&in.Counters.VL15Dropped)
				return
			}
		}
		s.stats.Local.Add(1)
		s.process(in, f, func(resp wire.MAD) { s.replyDR(in, frame, f, resp) })
	default:
		s.drop(&in.Counters.VL15Dropped)
	}
}

// process hands the SMP f to the SMA, which calls reply (at most once)
// before it returns.
func (s *Switch) process(in *emu.Port, f *agent.Frame, reply func(resp wire.MAD)) {
	s.sma.Process(in, f, reply)
}

// ownSLID is the SLID of frames port 0 sources: its LID, or the
// permissive LID before the SM assigned one.
func (s *Switch) ownSLID() wire.LID {
	if l := s.pa[0].LID; l != wire.LIDUnassigned {
		return l
	}
	return wire.LIDPermissive
}

// replyDR sends the SMA's answer to a directed-route SMP that arrived on
// in back along its return path (IBTA Vol 1 §14.2.2.4): out
// ReturnPath[HopCount] with permissive LIDs, or LID-routed to the end of
// the directed part when the request came through a LID-routed tail. The
// answer is built in buf, the request's frame (req's views alias it and
// are not read once the answer is built), as a switch's SMA answers in
// the request's buffer: the answer has the request's headers and length.
func (s *Switch) replyDR(in *emu.Port, buf []byte, req *agent.Frame, resp wire.MAD) {
	smp := wire.SMP(resp)
	route, err := agent.RouteSwitchDR(s.ports, 0, smp)
	if err == nil && route.Action == wire.DRForwardLID && s.pa[0].OwnsLID(req.Addr.SLID) {
		// The tail was empty: the directed part ended at this switch,
		// DrDLID named it and the switch LID-routed the request to
		// itself. The return starts here, as if the answer had come back
		// through the tail.
		route, err = agent.RouteSwitchDR(s.ports, in.Num(), smp)
	}
	if err != nil {
		s.log.Debug("ibswitch: dr reply dropped", "err", err)
		s.drop(&s.ports[0].Counters.VL15Dropped)
		return
	}
	a := req.Addr.Reply(s.pa[0].LID)
	switch route.Action {
	case wire.DRForwardPort:
		a.DLID, a.SLID = wire.LIDPermissive, wire.LIDPermissive
		frame, err := agent.AppendUnsealedFrame(buf[:0], &a, resp)
		if err != nil {
			s.drop(&s.ports[0].Counters.VL15Dropped)
			return
		}
		s.stats.SMPReplies.Add(1)
		route.Out.SendUnsealed(frame)
	case wire.DRForwardLID:
		frame, err := agent.AppendUnsealedFrame(buf[:0], &a, resp)
		if err != nil {
			s.drop(&s.ports[0].Counters.VL15Dropped)
			return
		}
		s.stats.SMPReplies.Add(1)
		s.sendFromPort0(frame, false)
	default:
		// A hop-count-0 request answered to an SM on the switch itself.
		s.drop(&s.ports[0].Counters.VL15Dropped)
	}
}

// replyLID sends a LID-routed answer from port 0 to the requester, built
// in buf, the request's frame (req's views alias it; see replyDR).
func (s *Switch) replyLID(buf []byte, req *agent.Frame, resp wire.MAD, count *atomic.Uint64) {
	frame, err := agent.AppendUnsealedReply(buf[:0], req, s.pa[0].LID, resp)
	if err != nil {
		s.drop(&s.node.Port(0).Counters.XmitDiscards)
		return
	}
	count.Add(1)
	s.sendFromPort0(frame, false)
}

// local delivers a frame the forwarding table sends to port 0. VL15
// frames go to the SMI; data frames must be MADs for QP1 (port 0 of a
// base switch has no other QP), pass the GSI's Q_Key and P_Key checks
// (IBTA Vol 1 §10.9.3, §13.5.2) and are answered by the PMA, the Mellanox
// vendor agent, the congestion control agent (models that have one), or
// with "unsupported" for any other class.
func (s *Switch) local(in *emu.Port, frame []byte, sealed bool) {
	if wire.LRH(frame).VL() == agent.VL15 {
		s.smi(in, frame, sealed)
		return
	}
	p0 := s.node.Port(0)
	f, err := agent.ParseFrame(frame)
	if err != nil || f.Addr.DestQP != agent.QP1 {
		s.drop(&p0.Counters.RcvErrors)
		return
	}
	if f.Addr.QKey != agent.GSIQKey {
		p0.Counters.QKeyViolations.Add(1)
		s.stats.Dropped.Add(1)
		return
	}
	i := s.pa[0].PKeyIndex(wire.PKey(f.Addr.PKey))
	if i < 0 {
		p0.Counters.PKeyViolations.Add(1)
		s.stats.Dropped.Add(1)
		return
	}
	// The answer carries the entry the request matched (IBTA Vol 1 §10.9.3).
	f.Addr.PKey = uint16(s.pa[0].PKey(i))
	s.stats.Local.Add(1)
	m := f.MAD
	var resp wire.MAD
	var ok bool
	switch c := m.MgmtClass(); {
	case c == wire.MgmtClassPerf:
		resp, ok = s.pma.Process(p0, m)
	case c == wire.MgmtClassMellanox:
		resp, ok = s.vendor.Process(p0, m)
	case c == wire.MgmtClassCC && s.cc != nil:
		resp, ok = s.cc.Process(p0, &f.Addr, m)
	default:
		resp, ok = agent.UnmatchedReply(m)
	}
	if ok {
		s.replyLID(frame, f, resp, &s.stats.GMPReplies)
	}
}

// newCC creates the congestion control agent (IBTA Vol 1 Annex A10) of a
// model that has one (Profile.CongestionControl). Its traps leave port 0
// through the forwarding table.
func (s *Switch) newCC() {
	if !s.prof.CongestionControl {
		return
	}
	s.cc = agent.NewCC(wire.NodeTypeSwitch, s.nports, agent.CCConfig{
		Transmit: func(_ *emu.Port, frame []byte) { s.sendFromPort0(frame, true) },
	})
	s.cc.OnChange(s.ccConfigure)
}

// CC returns the switch's congestion control agent, nil when the model
// has none (Profile.CongestionControl).
func (s *Switch) CC() *agent.CC { return s.cc }
