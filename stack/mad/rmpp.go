package mad

import (
	"fmt"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// RMPP (IBTA Vol 1 §13.6): a message longer than one MAD travels as
// numbered DATA segments, each repeating the common, RMPP and class headers
// and carrying the next slice of data. The receiver acknowledges with ACKs
// that name the last segment received in order and the last segment the
// sender may send next (the window); the sender sends a window, waits for
// its ACK and sends the window again when none comes in time. Either side
// ends a transfer early with STOP (the receiver is out of resources) or
// ABORT (a protocol error, too many retries, too long).
//
// Segment numbers start at 1. PayloadLength counts the bytes after the
// RMPP header, 220 per segment (class header included): the first segment
// carries count*220 - pad, middle ones 0, the last 220 - pad, where pad is
// the unused tail of the last segment's data area. For the SA the data area
// is 200 bytes per segment (protocols.md §0.5).

// Data offsets of the RMPP classes.
const (
	// vendorRange2DataOffset: common header, RMPP header, a reserved byte
	// and the 3-byte OUI (IBTA Vol 1 §13.4.4.1; protocols.md §0.2).
	vendorRange2DataOffset = wire.RMPPHeaderOffset + wire.RMPPHeaderSize + 4
	// devMgtDataOffset: device management data starts at byte 64 (IBTA
	// Vol 1 §16.3.1; protocols.md §2.4).
	devMgtDataOffset = 64
	// rmppSegmentPayload is what PayloadLength counts per segment: every
	// byte after the RMPP header.
	rmppSegmentPayload = wire.MADSize - wire.RMPPHeaderOffset - wire.RMPPHeaderSize
	// rmppLinger is how long a completed receive is remembered so that a
	// retransmitted last segment is acknowledged again (the Linux MAD
	// layer keeps it 10 s).
	rmppLinger = 10 * time.Second
)

// RMPPDataOffset reports whether class c uses RMPP and where the data of
// each of its segments starts: 56 for the SA (IBTA Vol 1 §15.2.1.1), 64 for
// device management, 40 for vendor range 2.
func RMPPDataOffset(c wire.MgmtClass) (int, bool) {
	switch {
	case c == wire.MgmtClassSubnAdm:
		return wire.SADataOffset, true
	case c == wire.MgmtClassDevMgt:
		return devMgtDataOffset, true
	case c.IsVendorRange2():
		return vendorRange2DataOffset, true
	}
	return 0, false
}

// xferKey identifies an RMPP transfer by transaction ID and peer; method
// tells a receive's DATA apart from ACKs travelling the other way.
type xferKey struct {
	tid    uint64
	lid    wire.LID
	qpn    uint32
	method wire.Method
}

// needsRMPP reports whether the agent must segment msg itself.
func (a *Agent) needsRMPP(msg []byte) bool {
	if a.offload || len(msg) < wire.RMPPHeaderOffset+wire.RMPPHeaderSize {
		return false
	}
	if _, ok := RMPPDataOffset(wire.MAD(msg).MgmtClass()); !ok {
		return false
	}
	return len(msg) > wire.MADSize || wire.MAD(msg).RMPPHeader().IsActive()
}

// isRMPPPacket reports whether m is an RMPP packet the agent must run the
// protocol for (not a message a transport already reassembled).
func (a *Agent) isRMPPPacket(m []byte) bool {
	if a.offload || len(m) != wire.MADSize {
		return false
	}
	if _, ok := RMPPDataOffset(wire.MAD(m).MgmtClass()); !ok {
		return false
	}
	return wire.MAD(m).RMPPHeader().IsActive()
}

// rmppSend is one outbound transfer.
type rmppSend struct {
	a       *Agent
	key     xferKey
	addr    Addr
	tid     uint64
	hdr     []byte
	data    []byte
	segSize int
	count   int
	pad     int

	sent    int // highest segment sent in the current pass
	lastAck int
	newWin  int
	retries int
	initRet int
	timer   emu.Timer
	gen     uint64
	done    bool
	call    *call // the request transaction this transfer carries, if any
}

// newSendLocked prepares the transfer of msg to addr.
//
// +checklocks:a.mu
func (a *Agent) newSendLocked(addr Addr, msg []byte, c *call) (*rmppSend, error) {
	mm := wire.MAD(msg)
	hdr, ok := RMPPDataOffset(mm.MgmtClass())
	if !ok || len(msg) < hdr {
		return nil, fmt.Errorf("mad: rmpp send of %d-byte %s message: %w", len(msg), mm.MgmtClass(), ErrBadMAD)
	}
	segSize := wire.MADSize - hdr
	data := msg[hdr:]
	count := (len(data) + segSize - 1) / segSize
	pad := count*segSize - len(data)
	if count == 0 {
		count, pad = 1, segSize
	}
	s := &rmppSend{a: a, addr: addr, tid: mm.TID(), hdr: msg[:hdr], data: data, segSize: segSize,
		count: count, pad: pad, newWin: 1, retries: a.opts.Retries, call: c,
		key: xferKey{tid: mm.TID(), lid: addr.LID, qpn: addr.QPN}}
	if c != nil {
		s.retries = c.retries
	}
	s.initRet = s.retries
	return s, nil
}

// segment builds DATA segment n (1-based).
func (s *rmppSend) segment(n int) []byte {
	b := make([]byte, wire.MADSize)
	hdr := len(s.hdr)
	copy(b, s.hdr)
	lo := (n - 1) * s.segSize
	hi := min(lo+s.segSize, len(s.data))
	if lo < hi {
		copy(b[hdr:], s.data[lo:hi])
	}
	r := wire.MAD(b).RMPPHeader()
	r.SetVersion(wire.RMPPVersion)
	r.SetType(wire.RMPPTypeData)
	r.SetStatus(wire.RMPPStatusNormal)
	flags := wire.RMPPFlagActive
	var paylen uint32
	if n == 1 {
		flags |= wire.RMPPFlagFirst
		paylen = uint32(s.count*rmppSegmentPayload - s.pad)
	}
	if n == s.count {
		flags |= wire.RMPPFlagLast
		paylen = uint32(rmppSegmentPayload - s.pad)
	}
	r.SetFlags(flags)
	r.SetData1(uint32(n))
	r.SetData2(paylen)
	return b
}

// sendWindowLocked sends the segments after s.sent up to the window and
// restarts the ACK timer.
//
// +checklocks:s.a.mu
func (s *rmppSend) sendWindowLocked() []func() {
	a := s.a
	for s.sent < min(s.newWin, s.count) {
		s.sent++
		err := a.sendLocked(Outgoing{Addr: s.addr, MAD: s.segment(s.sent)})
		if err != nil {
			return a.abortSendLocked(s, err)
		}
		a.stats.RMPPSegmentsSent++
	}
	s.armLocked()
	return nil
}

// +checklocks:s.a.mu
func (s *rmppSend) armLocked() {
	s.stopTimer()
	gen := s.gen
	s.timer = s.a.clock.AfterFunc(s.a.opts.RMPPAckTimeout, func() { s.ackTimeout(gen) })
}

// stopTimer cancels the ACK timer; the caller holds the agent's lock.
func (s *rmppSend) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.gen++
}

// ackTimeout retransmits the window after the last acknowledged segment,
// or aborts with "too many retries" (IBTA Vol 1 §13.6.3.2).
func (s *rmppSend) ackTimeout(gen uint64) {
	a := s.a
	a.mu.Lock()
	if s.done || s.gen != gen || a.closed {
		a.mu.Unlock()
		return
	}
	s.timer = nil
	var fin []func()
	if s.retries > 0 {
		s.retries--
		a.stats.RMPPRetransmits++
		s.sent = s.lastAck
		fin = s.sendWindowLocked()
	} else {
		a.sendControlLocked(s.addr, s.hdr, wire.MAD(s.hdr).Method(), wire.RMPPTypeAbort, wire.RMPPStatusTooManyRetries, 0, 0)
		if s.call != nil {
			a.stats.Timeouts++
		}
		fin = a.abortSendLocked(s, &RMPPError{Type: wire.RMPPTypeAbort, Status: wire.RMPPStatusTooManyRetries, TID: s.tid})
	}
	a.mu.Unlock()
	runAll(fin)
}

// forgetSendLocked removes s from the agent's tables.
//
// +checklocks:a.mu
func (a *Agent) forgetSendLocked(s *rmppSend) {
	s.done = true
	s.stopTimer()
	if a.xferSends[s.key] == s {
		delete(a.xferSends, s.key)
	}
	if s.call != nil && a.reqSends[uint32(s.tid)] == s {
		delete(a.reqSends, uint32(s.tid))
	}
}

// abortSendLocked ends s with err and fails its transaction.
//
// +checklocks:a.mu
func (a *Agent) abortSendLocked(s *rmppSend, err error) []func() {
	if s.done {
		return nil
	}
	a.forgetSendLocked(s)
	a.stats.RMPPAborts++
	if c := s.call; c != nil {
		c.send = nil
		return []func(){a.finishLocked(c, Result{Err: err})}
	}
	return nil
}

// completeSendLocked runs when every segment is acknowledged: a request
// now waits for its response.
//
// +checklocks:a.mu
func (a *Agent) completeSendLocked(s *rmppSend) {
	a.forgetSendLocked(s)
	if c := s.call; c != nil && c.state == callSending {
		c.send = nil
		c.state = callWaiting
		a.armCallLocked(c, c.timeout)
	}
}

// sendControlLocked sends an ACK, STOP or ABORT built on the headers of
// hdr (a received segment or the start of a message being sent): the class
// headers are copied and the method is given.
//
// +checklocks:a.mu
func (a *Agent) sendControlLocked(addr Addr, hdr []byte, method wire.Method, t wire.RMPPType, st wire.RMPPStatus, d1, d2 uint32) {
	b := make([]byte, wire.MADSize)
	n := wire.RMPPHeaderOffset + wire.RMPPHeaderSize
	if off, ok := RMPPDataOffset(wire.MAD(hdr).MgmtClass()); ok {
		n = off
	}
	copy(b, hdr[:min(n, len(hdr))])
	m := wire.MAD(b)
	m.SetMethod(method)
	r := m.RMPPHeader()
	r.SetVersion(wire.RMPPVersion)
	r.SetType(t)
	r.SetFlags(wire.RMPPFlagActive)
	r.SetStatus(st)
	r.SetData1(d1)
	r.SetData2(d2)
	// A control packet that cannot be sent is recovered by the peer's
	// timers, as a lost one would be.
	_ = a.sendLocked(Outgoing{Addr: addr, MAD: b})
}

// nackLocked answers a bad RMPP packet m from addr with ABORT (IBTA Vol 1
// §13.6.3.3), as the Linux MAD layer's nack_recv does.
//
// +checklocks:a.mu
func (a *Agent) nackLocked(addr Addr, m []byte, st wire.RMPPStatus) {
	a.stats.RMPPAborts++
	a.sendControlLocked(addr.ReplyAddr(), m, wire.MAD(m).Method()^wire.MethodResponseBit, wire.RMPPTypeAbort, st, 0, 0)
}

// rmppRecv is one inbound transfer.
type rmppRecv struct {
	a       *Agent
	key     xferKey
	addr    Addr
	hdrLen  int
	segSize int
	segs    map[uint32][]byte
	segNum  uint32 // last segment received in order
	newWin  uint32
	lastAck uint32
	done    bool // complete (lingering for duplicates) or aborted
	timer   emu.Timer
	gen     uint64
	call    *call // the transaction a response completes
}

// stopTimers cancels the transfer's timer; the caller holds the lock.
func (r *rmppRecv) stopTimers() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.gen++
}

// rmppIncoming runs the RMPP protocol for one active RMPP packet.
func (a *Agent) rmppIncoming(in Incoming) {
	m := in.MAD
	h := wire.MAD(m).RMPPHeader()
	a.mu.Lock()
	var fin []func()
	switch {
	case h.Version() != wire.RMPPVersion:
		fin = a.abortMatchingSendLocked(in, wire.RMPPStatusUnsupportedVersion)
		a.nackLocked(in.Addr, m, wire.RMPPStatusUnsupportedVersion)
	case h.Type() == wire.RMPPTypeData:
		fin = a.rmppDataLocked(in)
	case h.Type() == wire.RMPPTypeAck:
		fin = a.rmppAckLocked(in)
	case h.Type() == wire.RMPPTypeStop || h.Type() == wire.RMPPTypeAbort:
		fin = a.rmppStopAbortLocked(in)
	default:
		fin = a.abortMatchingSendLocked(in, wire.RMPPStatusBadType)
		a.nackLocked(in.Addr, m, wire.RMPPStatusBadType)
	}
	a.mu.Unlock()
	runAll(fin)
}

// findSendLocked returns the outbound transfer an ACK, STOP or ABORT m
// from addr refers to.
//
// +checklocks:a.mu
func (a *Agent) findSendLocked(addr Addr, m wire.MAD) *rmppSend {
	if s := a.xferSends[xferKey{tid: m.TID(), lid: addr.LID, qpn: addr.QPN}]; s != nil {
		return s
	}
	if m.IsResponse() {
		// Control packets for a request carry the response bit and, behind
		// ibsim or umad, a rewritten upper TID: match the low 32 bits.
		if s := a.reqSends[uint32(m.TID())]; s != nil {
			return s
		}
	}
	return nil
}

// abortMatchingSendLocked aborts the transfer a bad control packet refers
// to, if any.
//
// +checklocks:a.mu
func (a *Agent) abortMatchingSendLocked(in Incoming, st wire.RMPPStatus) []func() {
	if s := a.findSendLocked(in.Addr, wire.MAD(in.MAD)); s != nil {
		return a.abortSendLocked(s, &RMPPError{Type: wire.RMPPTypeAbort, Status: st, TID: s.tid})
	}
	return nil
}

// rmppAckLocked handles an ACK for one of our transfers (IBTA Vol 1
// §13.6.3.2, sender side).
//
// +checklocks:a.mu
func (a *Agent) rmppAckLocked(in Incoming) []func() {
	m := wire.MAD(in.MAD)
	h := m.RMPPHeader()
	s := a.findSendLocked(in.Addr, m)
	if s == nil {
		a.stats.Unmatched++
		return nil
	}
	if s.done {
		return nil
	}
	seg, win := int(h.SegmentNumber()), int(h.NewWindowLast())
	bad := func(st wire.RMPPStatus) []func() {
		a.nackLocked(in.Addr, in.MAD, st)
		return a.abortSendLocked(s, &RMPPError{Type: wire.RMPPTypeAbort, Status: st, TID: s.tid})
	}
	switch {
	case h.Status() != wire.RMPPStatusNormal:
		return bad(wire.RMPPStatusIllegalStatus)
	case win < seg:
		return bad(wire.RMPPStatusNewWindowLastTooSmall)
	case seg > s.count || seg > s.newWin:
		return bad(wire.RMPPStatusSegmentNumberTooBig)
	case win < s.newWin || seg < s.lastAck:
		return nil // an old ACK
	}
	progress := seg > s.lastAck
	if progress {
		s.lastAck = seg
		s.retries = s.initRet
	}
	s.newWin = win
	if s.lastAck == s.count {
		a.completeSendLocked(s)
		return nil
	}
	if s.sent < s.lastAck {
		s.sent = s.lastAck
	}
	if s.sent < min(s.newWin, s.count) || progress {
		return s.sendWindowLocked()
	}
	return nil
}

// rmppStopAbortLocked handles STOP and ABORT: from the receiver of one of
// our transfers, or from the sender of a transfer to us.
//
// +checklocks:a.mu
func (a *Agent) rmppStopAbortLocked(in Incoming) []func() {
	m := wire.MAD(in.MAD)
	h := m.RMPPHeader()
	st := h.Status()
	valid := (h.Type() == wire.RMPPTypeStop && st == wire.RMPPStatusResourcesExhausted) ||
		(h.Type() == wire.RMPPTypeAbort && st >= wire.RMPPStatusTotalTimeTooLong && st <= wire.RMPPStatusUnspecified)
	if s := a.findSendLocked(in.Addr, m); s != nil {
		if !valid {
			a.nackLocked(in.Addr, in.MAD, wire.RMPPStatusIllegalStatus)
			return a.abortSendLocked(s, &RMPPError{Type: wire.RMPPTypeAbort, Status: wire.RMPPStatusIllegalStatus, TID: s.tid})
		}
		return a.abortSendLocked(s, &RMPPError{Type: h.Type(), Status: st, Remote: true, TID: s.tid})
	}
	key := xferKey{tid: m.TID(), lid: in.Addr.LID, qpn: in.Addr.QPN, method: m.Method()}
	if r := a.recvs[key]; r != nil && !r.done {
		return a.abortRecvLocked(r, &RMPPError{Type: h.Type(), Status: st, Remote: true, TID: m.TID()})
	}
	a.stats.Unmatched++
	return nil
}

// rmppDataLocked handles a DATA segment (IBTA Vol 1 §13.6.3.2, receiver
// side).
//
// +checklocks:a.mu
func (a *Agent) rmppDataLocked(in Incoming) []func() {
	m := wire.MAD(in.MAD)
	h := m.RMPPHeader()
	seg := h.SegmentNumber()
	first := h.Flags()&wire.RMPPFlagFirst != 0
	if h.Status() != wire.RMPPStatusNormal {
		a.nackLocked(in.Addr, in.MAD, wire.RMPPStatusIllegalStatus)
		return nil
	}
	if (seg == 1) != first {
		a.nackLocked(in.Addr, in.MAD, wire.RMPPStatusInconsistentFirstAndSeg)
		return nil
	}
	key := xferKey{tid: m.TID(), lid: in.Addr.LID, qpn: in.Addr.QPN, method: m.Method()}
	r := a.recvs[key]
	if r == nil {
		if seg != 1 {
			a.stats.Unmatched++
			return nil
		}
		return a.startRecvLocked(key, in)
	}
	a.stats.RMPPSegmentsReceived++
	if r.done || seg <= r.lastAck {
		// A duplicate: the sender missed our ACK; repeat it.
		a.ackLocked(r, in.MAD)
		return nil
	}
	if seg > r.newWin {
		return nil // outside the window: drop
	}
	if _, dup := r.segs[seg]; !dup {
		r.segs[seg] = in.MAD
	}
	for r.segs[r.segNum+1] != nil {
		r.segNum++
	}
	last := r.segs[r.segNum]
	switch {
	case wire.MAD(last).RMPPHeader().Flags()&wire.RMPPFlagLast != 0:
		return a.completeRecvLocked(r, in.MAD)
	case r.segNum == r.newWin:
		r.newWin += uint32(a.opts.RMPPWindow)
		a.ackLocked(r, in.MAD)
	}
	return nil
}

// startRecvLocked begins a transfer with its first segment.
//
// +checklocks:a.mu
func (a *Agent) startRecvLocked(key xferKey, in Incoming) []func() {
	m := wire.MAD(in.MAD)
	hdr, _ := RMPPDataOffset(m.MgmtClass())
	var c *call
	if m.IsResponse() {
		c = a.pending[uint32(m.TID())]
		if c == nil || !a.matches(c, m) {
			a.stats.Unmatched++
			return nil
		}
	} else if a.handler == nil {
		a.stats.Unhandled++
		return nil
	}
	a.stats.RMPPSegmentsReceived++
	r := &rmppRecv{a: a, key: key, addr: in.Addr, hdrLen: hdr, segSize: wire.MADSize - hdr,
		segs: map[uint32][]byte{1: in.MAD}, segNum: 1, newWin: 1, call: c}
	a.recvs[key] = r
	if c != nil {
		// The response has begun: the transfer's own timers govern it now.
		if c.send != nil {
			a.completeSendLocked(c.send)
		}
		a.stopCallTimerLocked(c)
		c.state = callReceived
		c.recv = r
	}
	if m.RMPPHeader().Flags()&wire.RMPPFlagLast != 0 {
		return a.completeRecvLocked(r, in.MAD)
	}
	r.newWin += uint32(a.opts.RMPPWindow)
	a.ackLocked(r, in.MAD)
	gen := r.gen
	r.timer = a.clock.AfterFunc(a.opts.RMPPTotalTimeout, func() { a.recvTimeout(r, gen) })
	return nil
}

// ackLocked acknowledges r up to its last in-order segment; m is the
// segment that prompted it.
//
// +checklocks:a.mu
func (a *Agent) ackLocked(r *rmppRecv, m []byte) {
	r.lastAck = r.segNum
	a.sendControlLocked(r.addr.ReplyAddr(), m, wire.MAD(m).Method()^wire.MethodResponseBit,
		wire.RMPPTypeAck, wire.RMPPStatusNormal, r.segNum, r.newWin)
}

// completeRecvLocked reassembles r, acknowledges the last segment and
// delivers the message.
//
// +checklocks:a.mu
func (a *Agent) completeRecvLocked(r *rmppRecv, m []byte) []func() {
	n := int(r.segNum)
	first := wire.MAD(r.segs[1]).RMPPHeader()
	last := wire.MAD(r.segs[r.segNum]).RMPPHeader()
	pad := rmppSegmentPayload - int(last.PayloadLength())
	firstLen := first.PayloadLength()
	if pad < 0 || pad > r.segSize || (n > 1 && firstLen != 0 && int(firstLen) != n*rmppSegmentPayload-pad) {
		a.nackLocked(r.addr, m, wire.RMPPStatusInconsistentLastAndLength)
		return a.abortRecvLocked(r, &RMPPError{Type: wire.RMPPTypeAbort, Status: wire.RMPPStatusInconsistentLastAndLength, TID: r.key.tid})
	}
	msg := make([]byte, r.hdrLen+n*r.segSize-pad)
	copy(msg, r.segs[1][:r.hdrLen])
	for i := 1; i <= n; i++ {
		copy(msg[r.hdrLen+(i-1)*r.segSize:], r.segs[uint32(i)][r.hdrLen:])
	}
	a.ackLocked(r, m)
	r.done = true
	r.segs = nil
	r.stopTimers()
	gen := r.gen
	r.timer = a.clock.AfterFunc(min(rmppLinger, a.opts.RMPPTotalTimeout), func() { a.recvLinger(r, gen) })
	if c := r.call; c != nil {
		r.call = nil
		c.recv = nil
		return []func(){a.finishLocked(c, Result{MAD: msg, Err: wire.MAD(msg).Err()})}
	}
	h := a.handler
	if h == nil {
		a.stats.Unhandled++
		return nil
	}
	addr := r.addr
	return []func(){func() { h(&Received{Addr: addr, MAD: msg, a: a}) }}
}

// abortRecvLocked drops r and fails its transaction with err.
//
// +checklocks:a.mu
func (a *Agent) abortRecvLocked(r *rmppRecv, err error) []func() {
	r.done = true
	r.segs = nil
	r.stopTimers()
	if a.recvs[r.key] == r {
		delete(a.recvs, r.key)
	}
	a.stats.RMPPAborts++
	if c := r.call; c != nil {
		r.call = nil
		c.recv = nil
		return []func(){a.finishLocked(c, Result{Err: err})}
	}
	return nil
}

// recvTimeout aborts a receive that took too long ("total time too long").
func (a *Agent) recvTimeout(r *rmppRecv, gen uint64) {
	a.mu.Lock()
	if r.done || r.gen != gen || a.closed {
		a.mu.Unlock()
		return
	}
	r.timer = nil
	a.sendControlLocked(r.addr.ReplyAddr(), r.segs[1], wire.MAD(r.segs[1]).Method()^wire.MethodResponseBit,
		wire.RMPPTypeAbort, wire.RMPPStatusTotalTimeTooLong, 0, 0)
	fin := a.abortRecvLocked(r, &RMPPError{Type: wire.RMPPTypeAbort, Status: wire.RMPPStatusTotalTimeTooLong, TID: r.key.tid})
	a.mu.Unlock()
	runAll(fin)
}

// recvLinger forgets a completed receive.
func (a *Agent) recvLinger(r *rmppRecv, gen uint64) {
	a.mu.Lock()
	if r.gen == gen && a.recvs[r.key] == r {
		delete(a.recvs, r.key)
	}
	a.mu.Unlock()
}
