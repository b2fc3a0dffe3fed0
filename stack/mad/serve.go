package mad

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/ibemu/ibemu/emu/wire"
)

// Handler answers unsolicited MADs: requests of the methods the agent
// registered (Get, Set, GetTable, Trap, Report, ...). It runs on the
// transport's delivery context and must not block on the agent; it may
// call Respond at once or keep r and respond later from any goroutine.
type Handler func(r *Received)

// Received is an unsolicited MAD given to a Serve handler.
type Received struct {
	// Addr is the requester: where a response goes (see Addr.ReplyAddr).
	Addr Addr
	// MAD is the request, reassembled when it came with RMPP. It belongs
	// to the handler.
	MAD []byte

	a         *Agent
	responded atomic.Bool
}

// Serve installs h as the handler of unsolicited requests, replacing any
// earlier one; nil stops serving (requests are then dropped and counted in
// Stats.Unhandled).
func (a *Agent) Serve(h Handler) {
	a.mu.Lock()
	a.handler = h
	a.mu.Unlock()
}

// request hands an unsolicited request to the handler.
func (a *Agent) request(addr Addr, m []byte) {
	a.mu.Lock()
	h := a.handler
	if h == nil {
		a.stats.Unhandled++
	}
	a.mu.Unlock()
	if h != nil {
		h(&Received{Addr: addr, MAD: m, a: a})
	}
}

// Respond sends resp as the response to r: to r's requester, with r's
// transaction ID. resp must have a response method (GetResp, GetTableResp,
// ...). For the SA, device management and vendor range 2 classes a resp
// longer than a MAD, or one whose RMPP Active flag is set, goes with RMPP
// (IBTA Vol 1 §13.6); a failure of that transfer after Respond returned
// shows in Stats.RMPPAborts. A request is answered once; later calls fail.
//
// Respond takes ownership of resp.
func (r *Received) Respond(resp []byte) error {
	a := r.a
	if err := a.checkOutgoing(resp, true); err != nil {
		return err
	}
	mm := wire.MAD(resp)
	if !mm.IsResponse() {
		return fmt.Errorf("mad: respond with method %s, which lacks the response bit: %w", mm.Method(), ErrBadMAD)
	}
	if !r.responded.CompareAndSwap(false, true) {
		return fmt.Errorf("mad: tid 0x%016x: already responded: %w", wire.MAD(r.MAD).TID(), ErrBadMAD)
	}
	mm.SetTID(wire.MAD(r.MAD).TID())
	return a.sendMessage(r.Addr.ReplyAddr(), resp)
}

// RespondStatus answers r with its own MAD turned into a response carrying
// status (IBTA Vol 1 §13.4.7): how an agent refuses a method, attribute or
// field it does not support. An RMPP request is answered with its first
// segment's headers.
func (r *Received) RespondStatus(status wire.MADStatus) error {
	resp := slices.Clone(r.MAD)
	if len(resp) > wire.MADSize {
		resp = resp[:wire.MADSize]
	}
	if len(resp) < wire.MADSize {
		resp = append(resp, make([]byte, wire.MADSize-len(resp))...)
	}
	wire.MAD(resp).SetResponse(status)
	if _, ok := RMPPDataOffset(wire.MAD(resp).MgmtClass()); ok {
		// A single-MAD error reply is not an RMPP transfer.
		wire.MAD(resp).RMPPHeader().SetFlags(0)
	}
	return r.Respond(resp)
}

// Send transmits msg to addr without waiting for anything back: a trap,
// a notice, a response built elsewhere. The transaction ID is left as
// given. Long messages of RMPP classes go with RMPP. Send takes ownership
// of msg.
func (a *Agent) Send(addr Addr, msg []byte) error {
	if err := a.checkOutgoing(msg, false); err != nil {
		return err
	}
	return a.sendMessage(addr, msg)
}

// sendMessage sends a message that is not a transaction of this agent,
// segmenting it when it needs RMPP.
func (a *Agent) sendMessage(addr Addr, msg []byte) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return fmt.Errorf("mad: agent %d: %w", a.ep.ID(), ErrClosed)
	}
	if !a.needsRMPP(msg) {
		err := a.sendLocked(Outgoing{Addr: addr, MAD: a.prepare(msg)})
		a.mu.Unlock()
		return err
	}
	s, err := a.newSendLocked(addr, msg, nil)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	if old := a.xferSends[s.key]; old != nil {
		old.stopTimer()
	}
	a.xferSends[s.key] = s
	fin := s.sendWindowLocked()
	a.mu.Unlock()
	runAll(fin)
	return nil
}
