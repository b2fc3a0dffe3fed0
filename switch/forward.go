package ibswitch

import (
	"math/bits"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// grhBTHOffset is where the BTH starts in a frame with a GRH.
const grhBTHOffset = wire.LRHSize + wire.GRHSize

// HandlePacket relays a frame that arrived intact on port in (emu.Device).
// It takes ownership of frame: a unicast frame leaves by the same slice.
//
// VL15 frames are SMPs: those addressed to the permissive LID or to one of
// port 0's LIDs go to the SMI, the rest are LID-routed on through ports in
// Init, Armed or Active. Every other frame is a data packet: it needs
// Active ports on both sides, passes the P_Key and raw-packet filters of
// both ports, is routed by the LinearForwardingTable (unicast) or
// replicated by the MulticastForwardingTable, and leaves on the VL the
// SLtoVL table of its (in, out) port pair gives.
func (s *Switch) HandlePacket(in *emu.Port, frame []byte) { s.HandleFrame(in, frame, true) }

// HandleFrame is HandlePacket for a frame whose CRCs may not be computed
// yet (emu.CRCOffloader): the switch relays it as it came, sealing only
// what it changes in a frame that was sealed.
func (s *Switch) HandleFrame(in *emu.Port, frame []byte, sealed bool) {
	if in == nil || s.node == nil || in.Node() != s.node || in.Num() == 0 {
		return // not one of this switch's external ports
	}
	if len(frame) < wire.LRHSize+wire.VCRCSize {
		s.dropRcv(in, emu.RcvMalformedPacket)
		return
	}
	lrh := wire.LRH(frame)
	if int(lrh.PktLen())*4+wire.VCRCSize != len(frame) || lrh.LVer() != 0 {
		s.dropRcv(in, emu.RcvMalformedPacket) // malformed LRH (IBTA Vol 1 §7.7)
		return
	}
	dlid := lrh.DLID()
	if lrh.VL() == agent.VL15 {
		if dlid == wire.LIDPermissive || s.pa[0].OwnsLID(dlid) {
			s.smi(in, frame, sealed)
			return
		}
		if dlid.IsMulticast() || dlid == wire.LIDUnassigned {
			s.drop(&in.Counters.VL15Dropped) // SMPs are never multicast
			return
		}
		s.forwardUnicast(in, frame, sealed, dlid, false)
		return
	}
	if ops := wire.DataVLs(s.pa[in.Num()].OperationalVLs); int(lrh.VL()) >= ops {
		s.dropRcv(in, emu.RcvMalformedPacket) // a VL the port does not run
		return
	}
	if !s.inboundFilter(in, frame) {
		return
	}
	switch {
	case dlid.IsMulticast():
		s.forwardMulticast(in, frame, sealed, dlid)
	case dlid == wire.LIDPermissive || dlid == wire.LIDUnassigned:
		s.dropRcv(in, emu.RcvDLIDMapping) // only SMPs may use the permissive LID
	default:
		s.forwardUnicast(in, frame, sealed, dlid, true)
	}
}

// drop counts a discarded frame in c and in Stats.Dropped.
func (s *Switch) drop(c interface{ Add(uint64) uint64 }) {
	c.Add(1)
	s.stats.Dropped.Add(1)
}

// dropRcv drops a frame that arrived on p for cause k (PortRcvErrorDetails).
func (s *Switch) dropRcv(p *emu.Port, k emu.RcvErrorKind) {
	p.Counters.CountRcvError(k)
	s.stats.Dropped.Add(1)
}

// dropXmit drops a frame bound out of p for cause k (PortXmitDiscardDetails).
func (s *Switch) dropXmit(p *emu.Port, k emu.XmitDiscardKind) {
	p.Counters.CountXmitDiscard(k)
	s.stats.Dropped.Add(1)
}

// unicastEgress looks dlid up in the LinearForwardingTable: DLIDs above
// LinearFDBTop, entries of 0xFF and entries naming no port are misses
// (IBTA Vol 1 §14.2.5.4, §14.2.5.10). Port 0's own LIDs always lead to
// port 0.
func (s *Switch) unicastEgress(dlid wire.LID) (uint8, bool) {
	if s.pa[0].OwnsLID(dlid) {
		return 0, true
	}
	if dlid > s.info.linearFDBTop {
		return DropPort, false
	}
	out := s.lft.lookup(dlid)
	if int(out) > s.nports {
		return DropPort, false
	}
	return out, true
}

// forwardUnicast routes one unicast frame that arrived on in (nil for a
// frame port 0 originates) to dlid; sealed tells whether its CRCs are
// computed.
func (s *Switch) forwardUnicast(in *emu.Port, frame []byte, sealed bool, dlid wire.LID, data bool) {
	out, ok := s.unicastEgress(dlid)
	if !ok {
		if in == nil {
			s.dropRcv(s.node.Port(0), emu.RcvDLIDMapping)
		} else {
			s.dropRcv(in, emu.RcvDLIDMapping)
		}
		return
	}
	if out == 0 {
		if in == nil {
			s.stats.Dropped.Add(1) // port 0 talking to itself: no SM runs on the switch
			return
		}
		if data && in.State() != wire.PortStateActive {
			s.drop(&s.node.Port(0).Counters.XmitDiscards)
			return
		}
		s.local(in, frame, sealed)
		return
	}
	op := s.node.Port(int(out))
	if !s.egress(in, op, frame, sealed, data) {
		return
	}
	if s.ccOn && data {
		s.ccMark(op, frame, sealed) // congestion control (cc.go)
	}
	if in != nil {
		s.stats.Forwarded.Add(1)
		if s.node.Fabric().Virtual() && s.prof.ForwardingLatency > 0 {
			s.relayLater(op, frame, sealed)
			return
		}
		// The last thing done with the frame: under the wall clock it may
		// reach the next device at once (emu.Port.RelayFrame).
		op.RelayFrame(frame, sealed)
		return
	}
	op.SendFrame(frame, sealed)
}

// relayLater hands frame to out once the model's port-to-port latency
// (Profile.ForwardingLatency) has passed on the virtual clock: the
// switch's cut-through pipeline, on top of the link's latency that
// brought the frame in. Every relayed frame waits the same time, so the
// switch's frames stay in order and a stream leaves at the egress link's
// rate: the delay is latency, not occupancy. The egress port's state is
// checked when the frame leaves (emu.Port counts a frame for a port gone
// down meanwhile as an XmitDiscard).
//
// The frames wait in the switch's delay line (fwdLine), which one loop
// timer drains, so a stream costs no event per frame: a frame whose
// egress transmitter is already booked past its due time is handed over
// with the one before it, which is exact, since the link starts it when
// the transmitter is free either way (emu.Link.Backlog). What that
// changes is only when the frame is handed over: a capture stamps it
// then, and a frame port 0 originates for the same egress meanwhile
// queues behind it rather than ahead. Frames still waiting when the
// fabric stops are dropped with it.
func (s *Switch) relayLater(out *emu.Port, frame []byte, sealed bool) {
	l := s.fwd
	if l == nil {
		l = &fwdLine{fab: s.node.Fabric()}
		l.t = l.fab.NewLoopTimer(l.release)
		s.fwd = l
	}
	d := s.prof.ForwardingLatency
	l.q.Push(fwdFrame{due: l.fab.Elapsed() + d, out: out, frame: frame, sealed: sealed})
	if l.q.Len() == 1 {
		l.t.Reset(d)
	}
}

// fwdLine is a switch's forwarding delay line (see relayLater): the
// frames waiting for their due time, oldest (earliest due) first, and
// the timer that runs release at the first one's. Event loop only.
type fwdLine struct {
	fab *emu.Fabric
	t   *emu.LoopTimer
	q   emu.DelayLine[fwdFrame]
}

// fwdFrame is a relayed frame waiting in a fwdLine until due
// (emu.Fabric.Elapsed).
type fwdFrame struct {
	due    time.Duration
	out    *emu.Port
	frame  []byte
	sealed bool
}

// release sends the frames that are due, and those behind them whose
// egress transmitter is booked past their due time (the link then starts
// them at the same instant as it would at their due time), and sets the
// timer for the next.
func (l *fwdLine) release() {
	now := l.fab.Elapsed()
	for f := l.q.Front(); f != nil; f = l.q.Front() {
		if f.due > now {
			lk := f.out.Link()
			if lk == nil || now+lk.Backlog(f.out) < f.due {
				break
			}
		}
		fr := l.q.Pop()
		fr.out.SendFrame(fr.frame, fr.sealed)
	}
	if f := l.q.Front(); f != nil {
		l.t.Reset(f.due - now)
	}
}

// portUsable applies the link-state rules of IBTA Vol 1 §7.2 to one side
// of a relay: every port needs its link up; data packets also need the
// logical state Active, SMPs only Init or later. Port 0 is always usable.
func portUsable(p *emu.Port, data bool) bool {
	if p == nil || p.Num() == 0 {
		return true
	}
	if !p.IsUp() {
		return false
	}
	if data {
		return p.State() == wire.PortStateActive
	}
	return p.State() >= wire.PortStateInit
}

// egress checks that frame may leave through out after arriving on in
// (nil for port 0): both ports' states, the outbound P_Key and raw
// filters, and the SLtoVL mapping, which it applies (rewriting LRH.VL and
// resealing the VCRC when the lane changes). A refused frame is counted
// in out's PortXmitDiscards or PortXmitConstraintErrors, and egress
// reports false.
func (s *Switch) egress(in, out *emu.Port, frame []byte, sealed, data bool) bool {
	if !portUsable(in, data) || !portUsable(out, data) {
		s.dropXmit(out, emu.XmitInactiveDiscard)
		return false
	}
	if !data {
		return true // VL15 is never remapped (IBTA Vol 1 §7.6)
	}
	if !s.outboundFilter(out, frame) {
		return false
	}
	lrh := wire.LRH(frame)
	inNum := 0
	if in != nil {
		inNum = in.Num()
	}
	pa := s.pa[out.Num()]
	vl := pa.SLtoVL(inNum, int(lrh.SL()&0x0F))
	if vl == agent.VL15 || int(vl) >= wire.DataVLs(pa.OperationalVLs) {
		// SL mapped to VL15 or to a VL the egress port does not run: a
		// relay error of the arrival port (IBTA Vol 1 §16.1.4.1
		// PortVLMappingErrors).
		if in == nil {
			in = s.node.Port(0)
		}
		s.dropRcv(in, emu.RcvVLMapping)
		return false
	}
	if vl != lrh.VL() {
		lrh.SetVL(vl)
		if sealed {
			wire.ResealVCRC(frame)
		}
	}
	return true
}

// framePKey returns the BTH P_Key of a transport frame, and ok false for a
// raw frame (LNH 0 or 1) or one too short to hold its BTH.
func framePKey(frame []byte) (key wire.PKey, raw, ok bool) {
	off := wire.LRHSize
	switch wire.LRH(frame).LNH() {
	case wire.LNHRaw, wire.LNHIPv6:
		return 0, true, true
	case wire.LNHIBAGlobal:
		off = grhBTHOffset
	}
	if len(frame) < off+wire.BTHSize+wire.VCRCSize {
		return 0, false, false
	}
	return wire.PKey(wire.BTH(frame[off:]).PKey()), false, true
}

// inboundFilter applies the inbound partition enforcement and raw-packet
// filter of an external port (IBTA Vol 1 §10.9.4, §14.2.5.6
// PartitionEnforcementInbound and FilterRawInbound) to a data packet: the
// port's table must hold the packet's partition, in either membership
// (agent.PortAttrs.HasPartition). A
// refused packet counts in PortRcvConstraintErrors (and P_KeyViolations
// for a P_Key mismatch).
func (s *Switch) inboundFilter(in *emu.Port, frame []byte) bool {
	pa := s.pa[in.Num()]
	if !pa.PartitionEnforcementInbound && !pa.FilterRawInbound {
		return true
	}
	key, raw, ok := framePKey(frame)
	switch {
	case !ok:
		s.dropRcv(in, emu.RcvMalformedPacket)
		return false
	case raw:
		if pa.FilterRawInbound {
			s.drop(&in.Counters.RcvConstraintErrors)
			return false
		}
	case pa.PartitionEnforcementInbound && !pa.HasPartition(key):
		in.Counters.PKeyViolations.Add(1)
		s.drop(&in.Counters.RcvConstraintErrors)
		return false
	}
	return true
}

// outboundFilter applies the outbound partition enforcement and raw
// filter of an external port (IBTA Vol 1 §10.9.4). A refused packet counts
// in PortXmitConstraintErrors (and P_KeyViolations for a P_Key mismatch).
func (s *Switch) outboundFilter(out *emu.Port, frame []byte) bool {
	pa := s.pa[out.Num()]
	if !pa.PartitionEnforcementOutbound && !pa.FilterRawOutbound {
		return true
	}
	key, raw, ok := framePKey(frame)
	switch {
	case !ok:
		s.drop(&out.Counters.XmitDiscards)
		return false
	case raw:
		if pa.FilterRawOutbound {
			s.drop(&out.Counters.XmitConstraintErrors)
			return false
		}
	case pa.PartitionEnforcementOutbound && !pa.HasPartition(key):
		out.Counters.PKeyViolations.Add(1)
		s.drop(&out.Counters.XmitConstraintErrors)
		return false
	}
	return true
}

// mcastAboveTop reports whether mlid is above MulticastFDBTop on a switch
// that honours it; such packets are discarded (IBTA Vol 1 §14.2.5.4).
func (s *Switch) mcastAboveTop(mlid wire.LID) bool {
	return s.info.mcastTopSupported && uint16(mlid) > s.info.multicastFDBTop
}

// forwardMulticast replicates a data packet to every port of its MLID's
// port mask except the one it arrived on (IBTA Vol 1 §14.2.5.12). An
// MLID the table has no mask for (none written, or beyond
// MulticastFDBCap) goes to DefaultMulticastPrimaryPort, or, when it came
// from that port, to DefaultMulticastNotPrimaryPort (§14.2.5.4); without
// those, and above MulticastFDBTop, it is dropped as a relay error. Each
// copy gets its own buffer except the last, which reuses frame.
func (s *Switch) forwardMulticast(in *emu.Port, frame []byte, sealed bool, mlid wire.LID) {
	var outs [256]uint8
	n := 0
	if s.mcastAboveTop(mlid) {
		s.dropRcv(in, emu.RcvDLIDMapping)
		return
	}
	mask := s.mft.mask(s.mft.index(mlid))
	if maskEmpty(mask) {
		def := s.info.defMcastPrimary
		if def != DropPort && int(def) == in.Num() {
			def = s.info.defMcastNotPrim
		}
		switch {
		case def == DropPort || int(def) > s.nports:
			s.dropRcv(in, emu.RcvDLIDMapping)
			return
		case int(def) == in.Num():
			// The only way on is back out the arrival port.
			s.dropRcv(in, emu.RcvLooping)
			return
		}
		outs[0], n = def, 1
	} else {
		for w, m := range mask {
			for m != 0 {
				b := m & -m
				m &^= b
				port := w*MFTPortsPerPosition + bits.TrailingZeros16(b)
				if port != in.Num() && port <= s.nports {
					outs[n] = uint8(port)
					n++
				}
			}
		}
	}
	if in.State() != wire.PortStateActive {
		for _, o := range outs[:n] {
			s.dropXmit(s.node.Port(int(o)), emu.XmitInactiveDiscard)
		}
		return
	}
	for k, o := range outs[:n] {
		f := frame
		if k < n-1 {
			f = append([]byte(nil), frame...)
		}
		if o == 0 {
			s.local(in, f, sealed)
			continue
		}
		op := s.node.Port(int(o))
		if !s.egress(in, op, f, sealed, true) {
			continue
		}
		s.stats.Replicated.Add(1)
		if s.node.Fabric().Virtual() && s.prof.ForwardingLatency > 0 {
			s.relayLater(op, f, sealed)
			continue
		}
		op.SendFrame(f, sealed)
	}
}

// sendFromPort0 routes a frame management port 0 originates (an SMP or
// GMP response, a trap) by its DLID, as if it arrived on port 0; sealed
// tells whether its CRCs are computed.
func (s *Switch) sendFromPort0(frame []byte, sealed bool) {
	if s.node == nil || len(frame) < wire.LRHSize+wire.VCRCSize {
		return
	}
	lrh := wire.LRH(frame)
	dlid := lrh.DLID()
	if !dlid.IsUnicast() {
		s.drop(&s.node.Port(0).Counters.XmitDiscards)
		return
	}
	s.forwardUnicast(nil, frame, sealed, dlid, lrh.VL() != agent.VL15)
}
