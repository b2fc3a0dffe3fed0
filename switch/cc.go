package ibswitch

import (
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// Congestion control data path of a switch (IBTA Vol 1 Annex A10.2.1).
//
// A switch port whose congestion control is on marks the BTH FECN bit of
// data packets that leave it while its output queue is past the port's
// threshold, and logs the event in the agent's CongestionLog. The
// parameters come from the CC agent (emu/agent.CC) as a manager (OpenSM's
// congestion control manager, ibccconfig) set them:
//
//   - A port's SwitchPortCongestionSetting element, when Valid and of
//     Control_Type 0 (congestion, not credit starvation), gives its
//     Threshold, Packet_Size and Cong_Parm (the marking rate); otherwise
//     the port uses the switch-wide SwitchCongestionSetting Threshold,
//     Packet_Size and Marking_Rate.
//   - Threshold 0 turns marking off; 1 (loose) to 15 (aggressive) pick a
//     queue depth. IBTA leaves the depth each value stands for to the
//     implementation (Annex A10.4.3.6), and OpenSM's option file
//     describes the field only as "0x0 - none, 0x1 - loose, ..., 0xF -
//     aggressive"; here depth(T) = PortBuffer x (16 - T) / 16, so T 15
//     marks once a sixteenth of the port's buffer is queued (4 KiB, one
//     4096-byte MTU packet) and T 1 only when fifteen sixteenths are.
//   - Packet_Size is in credits (64-byte units, OpenSM's option file):
//     packets shorter than Packet_Size x 64 bytes on the wire are never
//     marked.
//   - Marking_Rate is the mean number of eligible packets between marks:
//     the port marks one in Marking_Rate + 1 eligible packets (0 marks
//     every one). A packet that already carries FECN is passed on as it is
//     and does not count.
//
// Every mark logs a CongestionLog event (SLID, DLID, SL, TimeStamp) with
// agent.CC.LogSwitchEvent, which sets the port's PortMap bit.
//
// The output queue is the emulated link's serialiser backlog
// (emu.Link.QueuedBytes): under the virtual clock a port's frames are
// serialised at the link's data rate, and the bytes still booked ahead of
// a new frame are the queue it joins. Under the wall clock frames move at
// once and there is no queue to measure, so nothing is marked: a fabric
// that wants congestion control's data path runs on the virtual clock
// (its clock is chosen at creation).
//
// What is not modelled: the emulated links have no credit-based flow
// control, so no port is ever a victim of a congested downstream port
// (Victim_Mask changes nothing: every congested port is a root of its
// congestion and marks) and no port starves for credits (Credit_Mask,
// CS_Threshold and CS_ReturnDelay are kept but unused, and CongestionInfo
// says credit starvation is not supported). Multicast replicas are not
// marked.
//
// The time a marking port spends congested (its queue past the
// threshold) is counted, in agent.SampleTick units, in the port's
// PortXmitTimeCong, in PortVLXmitTimeCong and in SwPortVLCongestion of the
// VL the packet left on (emu.CounterDetails).

// PortBuffer is the output buffer of an emulated switch port, in bytes,
// that Threshold is a fraction of (see the comment above).
const PortBuffer = 64 << 10

// ccEgress is the per-port marking state.
type ccEgress struct {
	on        bool
	depth     int    // queued bytes past which the port is congested
	minLen    int    // Packet_Size in bytes
	rate      uint16 // Marking_Rate
	eligible  uint16 // eligible packets since the last mark
	congUntil int64  // fabric time (ns) the port stays congested until
}

// ccData is the switch's congestion control data path state.
type ccData struct {
	ports  []ccEgress // index = port number
	marked uint64
}

// CCStats counts what the congestion control data path did.
type CCStats struct {
	// Marked counts the data packets marked with FECN.
	Marked uint64
}

// CCStats returns the congestion control data path's counters. Call it
// on the event loop.
func (s *Switch) CCStats() CCStats {
	if s.ccd == nil {
		return CCStats{}
	}
	return CCStats{Marked: s.ccd.marked}
}

// ccConfigure rereads the marking parameters from the CC agent after a
// Set changed them (agent.CC.OnChange) and sets ccOn, the one flag the
// packet path tests, when any port marks.
func (s *Switch) ccConfigure() {
	if s.cc == nil {
		return
	}
	if s.ccd == nil {
		s.ccd = &ccData{ports: make([]ccEgress, s.nports+1)}
	}
	sw := s.cc.SwitchSetting()
	on := false
	for n := 1; n <= s.nports; n++ {
		thr, size, rate := sw.Threshold, sw.PacketSize, sw.MarkingRate
		if ps := s.cc.SwitchPortSetting(n); ps.Valid && ps.ControlType == 0 {
			thr, size, rate = ps.Threshold, ps.PacketSize, ps.MarkingRate
		}
		e := &s.ccd.ports[n]
		e.on = thr&0x0F != 0
		e.depth = ThresholdDepth(thr)
		e.minLen = int(size) * 64
		e.rate = rate
		if e.eligible > rate {
			e.eligible = 0
		}
		on = on || e.on
	}
	s.ccOn = on
}

// ThresholdDepth is the output queue depth, in bytes, past which a port
// with congestion Threshold thr (IBTA Vol 1 Annex A10.4.3.6, 0 to 15)
// is congested: PortBuffer x (16 - thr) / 16; 0 (marking off) gives
// PortBuffer.
func ThresholdDepth(thr uint8) int {
	thr &= 0x0F
	if thr == 0 {
		return PortBuffer
	}
	return PortBuffer * (16 - int(thr)) / 16
}

// ccMark runs for a unicast data packet about to leave out while ccOn:
// when out's queue is past its threshold it counts the congested time
// and, if the packet is eligible and its turn has come (Marking_Rate),
// sets FECN, reseals the VCRC (the ICRC covers BTH byte 4 as ones, IBTA
// Vol 1 §7.8.1) and logs the event.
func (s *Switch) ccMark(out *emu.Port, frame []byte, sealed bool) {
	e := &s.ccd.ports[out.Num()]
	l := out.Link()
	if !e.on || l == nil {
		return
	}
	backlog := l.Backlog(out)
	queued := l.QueuedBytes(out)
	if queued <= e.depth {
		return
	}
	lrh := wire.LRH(frame)
	s.ccCongested(out, e, backlog, queued, lrh.VL())
	if len(frame) < e.minLen {
		return
	}
	off := wire.LRHSize
	switch lrh.LNH() {
	case wire.LNHIBALocal:
	case wire.LNHIBAGlobal:
		off = grhBTHOffset
	default:
		return // raw packets have no BTH to mark
	}
	if len(frame) < off+wire.BTHSize+wire.VCRCSize {
		return
	}
	bth := wire.BTH(frame[off:])
	if bth.FECN() {
		return
	}
	if e.eligible < e.rate {
		e.eligible++
		return
	}
	e.eligible = 0
	bth.SetFECN(true)
	if sealed {
		wire.ResealVCRC(frame)
	}
	s.ccd.marked++
	s.cc.LogSwitchEvent(out.Num(), wire.CongestionLogEventSwitchFields{
		SLID: lrh.SLID(), DLID: lrh.DLID(), SL: lrh.SL() & 0x0F,
		Timestamp: s.cc.TimeStamp(s.node.Fabric().Now()),
	})
}

// ccCongested counts the time out stays congested from now: its queue,
// backlog long (queued bytes), drains below the threshold depth at
// now + backlog x (queued - depth) / queued, unless more arrives, which
// a later packet extends. Time already counted is not counted again.
func (s *Switch) ccCongested(out *emu.Port, e *ccEgress, backlog time.Duration, queued int, vl uint8) {
	now := int64(s.node.Fabric().Elapsed())
	until := now + int64(backlog)*int64(queued-e.depth)/int64(queued)
	from := max(now, e.congUntil)
	if until <= from {
		return
	}
	e.congUntil = until
	tick := int64(agent.SampleTick)
	ticks := uint64(until/tick - from/tick)
	if ticks == 0 {
		return
	}
	d := out.Counters.Details()
	d.Optional().XmitTimeCong.Add(ticks)
	d.Optional().SwPortVLCongestion[vl&0x0F].Add(ticks)
	if vl < 15 {
		d.Optional().VLXmitTimeCong[vl].Add(ticks)
	}
}
