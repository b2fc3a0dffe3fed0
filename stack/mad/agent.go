package mad

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// Defaults for the zero fields of Options.
const (
	// DefaultTimeout is the time an agent waits for each response before
	// retransmitting (libibmad's default, 1000 ms).
	DefaultTimeout = time.Second
	// DefaultRetries is how many times a request is retransmitted after
	// its first send (libibmad's default).
	DefaultRetries = 3
	// DefaultWindow is how many transactions an agent has outstanding at
	// once; more wait in a queue.
	DefaultWindow = 16
	// DefaultRMPPWindow is how many segments a receiver grants per ACK, as
	// the Linux MAD layer does (its receive queue of 512 divided by 8).
	DefaultRMPPWindow = 64
	// DefaultRMPPAckTimeout bounds the wait for an RMPP ACK before the
	// sender retransmits the window (the Linux MAD layer waits at most 2 s).
	DefaultRMPPAckTimeout = 2 * time.Second
	// DefaultRMPPTotalTimeout bounds a whole RMPP receive before it is
	// aborted with "total time too long" (the Linux MAD layer allows 40 s).
	DefaultRMPPTotalTimeout = 40 * time.Second
)

// Options configures an Agent. The zero value of every field selects the
// default given.
type Options struct {
	// Timeout is the wait for each response (DefaultTimeout).
	Timeout time.Duration
	// Retries is the number of retransmissions after the first send
	// (DefaultRetries); a negative value means none.
	Retries int
	// Window bounds the outstanding transactions (DefaultWindow).
	Window int
	// Clock drives every timer; nil takes the transport's clock, which for
	// the in-process transport is the fabric's (virtual) clock.
	Clock emu.Clock
	// MKey is the M_Key SMPRequest, SMPGet and SMPSet put in SMPs (IBTA
	// Vol 1 §14.2.4).
	MKey uint64
	// RMPPWindow is the number of segments granted per ACK when receiving
	// (DefaultRMPPWindow).
	RMPPWindow int
	// RMPPAckTimeout is the sender's wait for an ACK (the smaller of
	// Timeout and DefaultRMPPAckTimeout).
	RMPPAckTimeout time.Duration
	// RMPPTotalTimeout bounds one RMPP receive (DefaultRMPPTotalTimeout).
	RMPPTotalTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.RMPPWindow <= 0 {
		o.RMPPWindow = DefaultRMPPWindow
	}
	if o.RMPPAckTimeout <= 0 {
		o.RMPPAckTimeout = min(o.Timeout, DefaultRMPPAckTimeout)
	}
	if o.RMPPTotalTimeout <= 0 {
		o.RMPPTotalTimeout = DefaultRMPPTotalTimeout
	}
	return o
}

// Stats counts what an agent did. Read it with Agent.Stats.
type Stats struct {
	// Sent and Received count MADs on the wire, RMPP segments, ACKs and
	// retransmissions included.
	Sent, Received uint64
	// Calls counts transactions started; Retries the retransmissions of
	// requests; Timeouts the transactions that failed for want of a
	// response.
	Calls, Retries, Timeouts uint64
	// Unmatched counts responses and RMPP packets no transaction wanted;
	// Unhandled the unsolicited requests that arrived with no Serve
	// handler.
	Unmatched, Unhandled uint64
	// RMPPSegmentsSent and RMPPSegmentsReceived count DATA segments;
	// RMPPRetransmits the windows sent again after an ACK timeout;
	// RMPPAborts the transfers ended by STOP or ABORT either way.
	RMPPSegmentsSent, RMPPSegmentsReceived, RMPPRetransmits, RMPPAborts uint64
}

// Request is one transaction for Go and CallMany.
type Request struct {
	// Addr is where the request goes.
	Addr Addr
	// MAD is the request: a whole MAD (MADSize bytes), or for the SA,
	// device management and vendor range 2 classes any length from the
	// class header on, sent with RMPP when longer than a MAD or when its
	// RMPP Active flag is set. The agent writes the transaction ID into
	// it; the caller must not change it until the transaction completes.
	MAD []byte
	// Timeout and Retries override the agent's Options for this request
	// when not zero (negative Retries: none).
	Timeout time.Duration
	Retries int
}

// Result is the outcome of one transaction.
type Result struct {
	// MAD is the response (reassembled when it came with RMPP), or nil
	// when none arrived. It is set together with a *wire.MADStatusError
	// when the response carries a non-success status.
	MAD []byte
	// Err is nil on success: ErrTimeout, ErrSendFailed, ErrClosed, an
	// *RMPPError, a *wire.MADStatusError or a context error otherwise.
	Err error
}

// Agent is a management agent on one port: it sends requests and matches
// their responses, retransmits on timeout, keeps a bounded window of
// outstanding transactions, runs RMPP, and answers unsolicited requests
// through Serve. Its methods are safe for concurrent use.
type Agent struct {
	tr      Transport
	holder  TimeHolder // nil when the transport's time cannot be held
	ep      Endpoint
	reg     Registration
	clock   emu.Clock
	opts    Options
	offload bool

	mu sync.Mutex
	// handoff holds the transport's time for blocking callers that got
	// their results and have not yet sent anything else.
	// +checklocks:mu
	handoff []func()
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	seq uint32
	// +checklocks:mu
	inflight int
	// +checklocks:mu
	queue []*call
	// pending holds started transactions by the low 32 bits of their TID.
	// +checklocks:mu
	pending map[uint32]*call
	// +checklocks:mu
	reqSends map[uint32]*rmppSend
	// +checklocks:mu
	xferSends map[xferKey]*rmppSend
	// +checklocks:mu
	recvs map[xferKey]*rmppRecv
	// +checklocks:mu
	handler Handler
	// +checklocks:mu
	stats Stats
}

// callState is where a transaction is in its life.
type callState uint8

const (
	callQueued   callState = iota // waiting for a window slot
	callSending                   // RMPP request segments in flight
	callWaiting                   // request sent, waiting for the response
	callReceived                  // RMPP response being reassembled
	callDone
)

// call is one transaction.
type call struct {
	addr    Addr
	msg     []byte
	tid     uint64
	timeout time.Duration
	retries int
	done    func(Result)

	state callState
	timer emu.Timer
	gen   uint64 // bumps whenever timer is re-armed or stopped
	send  *rmppSend
	recv  *rmppRecv
}

// NewAgent registers an agent on t. reg says which unsolicited requests it
// serves (see Serve) and which class it speaks.
func NewAgent(t Transport, reg Registration, opts Options) (*Agent, error) {
	if t == nil {
		return nil, fmt.Errorf("mad: new agent: nil transport")
	}
	o := opts.withDefaults()
	a := &Agent{tr: t, reg: reg, opts: o, clock: o.Clock,
		pending: map[uint32]*call{}, reqSends: map[uint32]*rmppSend{},
		xferSends: map[xferKey]*rmppSend{}, recvs: map[xferKey]*rmppRecv{}}
	if a.clock == nil {
		a.clock = t.Clock()
		a.holder, _ = t.(TimeHolder) // a custom clock is not the transport's to hold
	}
	if a.clock == nil {
		return nil, fmt.Errorf("mad: new agent: transport has no clock and Options.Clock is nil")
	}
	reg.Methods = slices.Clone(reg.Methods)
	a.reg = reg
	a.mu.Lock()
	defer a.mu.Unlock()
	ep, err := t.Register(reg, a.deliver)
	if err != nil {
		return nil, fmt.Errorf("mad: register %s version %d on qp%d: %w", reg.Class, reg.ClassVersion, reg.QPN, err)
	}
	a.ep = ep
	if o, ok := ep.(RMPPOffloader); ok {
		a.offload = o.OffloadsRMPP()
	}
	return a, nil
}

// ID is the agent's ID, the upper 32 bits of the transaction IDs it
// allocates.
func (a *Agent) ID() uint32 { return a.ep.ID() }

// Clock is the clock the agent's timers run on.
func (a *Agent) Clock() emu.Clock { return a.clock }

// Options returns the agent's options with the defaults filled in.
func (a *Agent) Options() Options { return a.opts }

// Stats returns a snapshot of the agent's counters.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// Outstanding is the number of transactions started and not yet complete;
// it never exceeds the window.
func (a *Agent) Outstanding() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inflight
}

// Close fails every queued and outstanding transaction with ErrClosed,
// stops RMPP transfers and unregisters the agent. It is idempotent.
func (a *Agent) Close() error {
	defer a.releaseHandoffs()
	a.shutdown(fmt.Errorf("mad: agent %d: %w", a.ep.ID(), ErrClosed))
	return a.ep.Close()
}

// shutdown fails everything with err and stops the agent's timers; it
// reports false when the agent was closed already.
func (a *Agent) shutdown(err error) bool {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return false
	}
	a.closed = true
	var fin []func()
	for _, c := range a.queue {
		fin = append(fin, a.finishLocked(c, Result{Err: err}))
	}
	a.queue = nil
	for _, c := range a.pending {
		fin = append(fin, a.finishLocked(c, Result{Err: err}))
	}
	for _, s := range a.reqSends {
		s.stopTimer()
	}
	for _, s := range a.xferSends {
		s.stopTimer()
	}
	for _, r := range a.recvs {
		r.stopTimers()
	}
	clear(a.reqSends)
	clear(a.xferSends)
	clear(a.recvs)
	a.mu.Unlock()
	runAll(fin)
	return true
}

// Call sends req to addr and waits for the response. It returns the
// response (reassembled if it came with RMPP) and, when the response
// carries a non-success status, a *wire.MADStatusError together with it.
// It fails with ErrTimeout after the retries, or with ctx's error.
//
// Call must not be used from a completion callback or a Serve handler (see
// the package documentation); use Go there.
func (a *Agent) Call(ctx context.Context, addr Addr, req []byte) ([]byte, error) {
	return a.CallRequest(ctx, Request{Addr: addr, MAD: req})
}

// handoffHold keeps the transport's time still for a blocking caller that
// is about to get its result: the hold ends when anything is next
// submitted on the agent (after it was sent), when the agent closes, or
// after HandoffLimit of wall time, whichever is first. Called on the
// delivery context, which holds time itself until it returns.
func (a *Agent) handoffHold() {
	if a.holder == nil {
		return
	}
	rel := a.holder.HoldTime()
	a.mu.Lock()
	a.handoff = append(a.handoff, rel)
	a.mu.Unlock()
	time.AfterFunc(HandoffLimit, rel)
}

// HandoffLimit bounds how long, in wall time, a blocking caller that got
// its result keeps a virtual clock still while it works out what to send
// next.
const HandoffLimit = 20 * time.Millisecond

// releaseHandoffs ends the holds of callers that have now acted.
func (a *Agent) releaseHandoffs() {
	a.mu.Lock()
	h := a.handoff
	a.handoff = nil
	a.mu.Unlock()
	for _, rel := range h {
		rel()
	}
}

// CallRequest is Call with per-request timeout and retries.
func (a *Agent) CallRequest(ctx context.Context, req Request) ([]byte, error) {
	ch := make(chan Result, 1)
	c, err := a.submit(req, func(r Result) { a.handoffHold(); ch <- r })
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.MAD, r.Err
	case <-ctx.Done():
		a.cancel(c, ctx.Err())
		r := <-ch
		return r.MAD, r.Err
	}
}

// Go starts a transaction and returns at once; done is called with its
// outcome exactly once, on the transport's delivery context (or the
// clock's, for a timeout on a custom clock), or before Go returns when the
// endpoint refuses the MAD at once. When the window is full the request
// waits in a queue, in order. Go returns an error, and never calls done,
// when the agent is closed or req is malformed.
func (a *Agent) Go(req Request, done func(Result)) error {
	if done == nil {
		done = func(Result) {}
	}
	_, err := a.submit(req, done)
	return err
}

// CallMany runs reqs through the window and waits for all of them. The
// results are in the order of reqs. If ctx ends first, the transactions
// still outstanding fail with ctx's error.
func (a *Agent) CallMany(ctx context.Context, reqs []Request) []Result {
	res := make([]Result, len(reqs))
	calls := make([]*call, len(reqs))
	var wg sync.WaitGroup
	var left atomic.Int64
	left.Store(int64(len(reqs)))
	for i, r := range reqs {
		wg.Add(1)
		c, err := a.submit(r, func(r Result) {
			res[i] = r
			if left.Add(-1) == 0 {
				a.handoffHold()
			}
			wg.Done()
		})
		if err != nil {
			res[i] = Result{Err: err}
			left.Add(-1)
			wg.Done()
			continue
		}
		calls[i] = c
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range calls {
			if c != nil {
				a.cancel(c, ctx.Err())
			}
		}
		<-done
	}
	return res
}

// submit validates req, allocates its TID and starts or queues it.
func (a *Agent) submit(req Request, done func(Result)) (*call, error) {
	m := req.MAD
	if err := a.checkOutgoing(m, false); err != nil {
		return nil, err
	}
	if wire.MAD(m).IsResponse() {
		return nil, fmt.Errorf("mad: request method %s has the response bit: %w", wire.MAD(m).Method(), ErrBadMAD)
	}
	c := &call{addr: req.Addr, msg: m, timeout: req.Timeout, retries: req.Retries, done: done}
	if c.timeout <= 0 {
		c.timeout = a.opts.Timeout
	}
	switch {
	case c.retries == 0:
		c.retries = a.opts.Retries
	case c.retries < 0:
		c.retries = 0
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, fmt.Errorf("mad: agent %d: %w", a.ep.ID(), ErrClosed)
	}
	a.seq++
	if a.seq == 0 {
		a.seq = 1
	}
	for a.pending[a.seq] != nil {
		a.seq++
	}
	c.tid = uint64(a.ep.ID())<<32 | uint64(a.seq)
	wire.MAD(m).SetTID(c.tid)
	a.stats.Calls++
	var fin []func()
	if a.inflight < a.opts.Window {
		fin = a.startLocked(c)
	} else {
		a.queue = append(a.queue, c)
	}
	a.mu.Unlock()
	runAll(fin)
	a.releaseHandoffs()
	return c, nil
}

// checkOutgoing checks that m can be sent: a MAD header, and either
// exactly MADSize bytes or an RMPP class.
func (a *Agent) checkOutgoing(m []byte, response bool) error {
	if len(m) < wire.MADHeaderSize {
		return fmt.Errorf("mad: %d bytes is shorter than a mad header: %w", len(m), ErrBadMAD)
	}
	mm := wire.MAD(m)
	if mm.BaseVersion() != wire.MADBaseVersion {
		return fmt.Errorf("mad: base version %d: %w", mm.BaseVersion(), ErrBadMAD)
	}
	if len(m) == wire.MADSize {
		return nil
	}
	hdr, ok := RMPPDataOffset(mm.MgmtClass())
	if !ok {
		return fmt.Errorf("mad: %d-byte %s mad: only rmpp classes may differ from %d bytes: %w", len(m), mm.MgmtClass(), wire.MADSize, ErrBadMAD)
	}
	if len(m) < hdr {
		return fmt.Errorf("mad: %d-byte %s message is shorter than its %d-byte class header: %w", len(m), mm.MgmtClass(), hdr, ErrBadMAD)
	}
	return nil
}

// startLocked takes a window slot for c and sends it.
//
// +checklocks:a.mu
func (a *Agent) startLocked(c *call) []func() {
	a.inflight++
	a.pending[uint32(c.tid)] = c
	return a.transmitLocked(c)
}

// transmitLocked sends (or re-sends) the request of c.
//
// +checklocks:a.mu
func (a *Agent) transmitLocked(c *call) []func() {
	if a.needsRMPP(c.msg) {
		c.state = callSending
		s, err := a.newSendLocked(c.addr, c.msg, c)
		if err != nil {
			return []func(){a.finishLocked(c, Result{Err: err})}
		}
		c.send = s
		a.reqSends[uint32(c.tid)] = s
		return s.sendWindowLocked()
	}
	c.state = callWaiting
	out := Outgoing{Addr: c.addr, MAD: a.prepare(c.msg), Timeout: c.timeout}
	if err := a.sendLocked(out); err != nil {
		return []func(){a.finishLocked(c, Result{Err: err})}
	}
	a.armCallLocked(c, c.timeout)
	return nil
}

// prepare returns the bytes to hand to the endpoint for a whole message:
// a copy (the endpoint takes ownership), with the RMPP header of an
// offloaded long message marked active.
func (a *Agent) prepare(msg []byte) []byte {
	b := slices.Clone(msg)
	if a.offload && len(b) > wire.MADSize {
		r := wire.MAD(b).RMPPHeader()
		r.SetVersion(wire.RMPPVersion)
		r.SetType(wire.RMPPTypeData)
		r.SetFlags(r.Flags() | wire.RMPPFlagActive)
	}
	return b
}

// sendLocked hands one MAD to the endpoint.
//
// +checklocks:a.mu
func (a *Agent) sendLocked(out Outgoing) error {
	if out.Addr.QPN == 1 && out.Addr.QKey == 0 {
		out.Addr.QKey = GSIQKey
	}
	if err := a.ep.Send(out); err != nil {
		return fmt.Errorf("mad: send to %s: %w: %w", out.Addr, ErrSendFailed, err)
	}
	a.stats.Sent++
	return nil
}

// armCallLocked (re)starts the response timer of c.
//
// +checklocks:a.mu
func (a *Agent) armCallLocked(c *call, d time.Duration) {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.gen++
	gen := c.gen
	c.timer = a.clock.AfterFunc(d, func() { a.callTimeout(c, gen) })
}

// +checklocks:a.mu
func (a *Agent) stopCallTimerLocked(c *call) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.gen++
}

// callTimeout runs when c's response timer fires.
func (a *Agent) callTimeout(c *call, gen uint64) {
	a.mu.Lock()
	if c.gen != gen || c.state != callWaiting || a.closed {
		a.mu.Unlock()
		return
	}
	c.timer = nil
	var fin []func()
	// An RMPP request is not sent again once every segment was
	// acknowledged: the responder holds it (the Linux MAD layer does the
	// same).
	if c.retries > 0 && c.send == nil && !a.needsRMPP(c.msg) {
		c.retries--
		a.stats.Retries++
		fin = a.transmitLocked(c)
	} else {
		a.stats.Timeouts++
		fin = []func(){a.finishLocked(c, Result{Err: fmt.Errorf("mad: %s %s tid 0x%016x to %s: %w",
			wire.MAD(c.msg).MgmtClass(), wire.AttrName(wire.MAD(c.msg).MgmtClass(), wire.MAD(c.msg).AttrID()),
			c.tid, c.addr, ErrTimeout)})}
	}
	a.mu.Unlock()
	runAll(fin)
}

// cancel ends c with err unless it already completed.
func (a *Agent) cancel(c *call, err error) {
	a.mu.Lock()
	if c.state == callDone {
		a.mu.Unlock()
		return
	}
	if c.state == callQueued {
		if i := slices.Index(a.queue, c); i >= 0 {
			a.queue = slices.Delete(a.queue, i, i+1)
		}
	}
	f := a.finishLocked(c, Result{Err: err})
	a.mu.Unlock()
	f()
}

// finishLocked completes c, frees its window slot and starts queued
// transactions. It returns the completion callback, to run unlocked.
//
// +checklocks:a.mu
func (a *Agent) finishLocked(c *call, r Result) func() {
	if c.state == callDone {
		return func() {}
	}
	wasStarted := c.state != callQueued
	c.state = callDone
	a.stopCallTimerLocked(c)
	if c.send != nil {
		c.send.stopTimer()
		if a.reqSends[uint32(c.tid)] == c.send {
			delete(a.reqSends, uint32(c.tid))
		}
		c.send = nil
	}
	if c.recv != nil {
		c.recv.call = nil
		c.recv = nil
	}
	var fin []func()
	if wasStarted {
		if a.pending[uint32(c.tid)] == c {
			delete(a.pending, uint32(c.tid))
		}
		a.inflight--
		for !a.closed && a.inflight < a.opts.Window && len(a.queue) > 0 {
			next := a.queue[0]
			a.queue[0] = nil
			a.queue = a.queue[1:]
			fin = append(fin, a.startLocked(next)...)
		}
	}
	done := c.done
	return func() {
		runAll(fin)
		done(r)
	}
}

// deliver is the transport's callback for everything received.
func (a *Agent) deliver(in Incoming) {
	m := in.MAD
	if m == nil && in.Err != nil {
		a.shutdown(fmt.Errorf("mad: agent %d: transport closed: %w: %w", a.ep.ID(), ErrClosed, in.Err))
		return
	}
	if len(m) < wire.MADHeaderSize {
		a.count(func(s *Stats) { s.Unmatched++ })
		return
	}
	if in.Err != nil {
		a.sendFailure(in)
		return
	}
	a.mu.Lock()
	a.stats.Received++
	closed := a.closed
	a.mu.Unlock()
	if closed || wire.MAD(m).BaseVersion() != wire.MADBaseVersion {
		a.count(func(s *Stats) { s.Unmatched++ })
		return
	}
	if a.isRMPPPacket(m) {
		a.rmppIncoming(in)
		return
	}
	if wire.MAD(m).IsResponse() {
		a.response(m)
		return
	}
	a.request(in.Addr, m)
}

func (a *Agent) count(f func(*Stats)) {
	a.mu.Lock()
	f(&a.stats)
	a.mu.Unlock()
}

// response completes the transaction m answers.
func (a *Agent) response(m []byte) {
	mm := wire.MAD(m)
	a.mu.Lock()
	c := a.pending[uint32(mm.TID())]
	if c == nil || !a.matches(c, mm) {
		a.stats.Unmatched++
		a.mu.Unlock()
		return
	}
	f := a.finishLocked(c, Result{MAD: m, Err: mm.Err()})
	a.mu.Unlock()
	f()
}

// matches reports whether response m can answer c: same class (the two SM
// classes answer each other's routing) and a response method.
func (a *Agent) matches(c *call, m wire.MAD) bool {
	if c.state == callQueued || c.state == callDone || !m.IsResponse() {
		return false
	}
	rc, qc := m.MgmtClass(), wire.MAD(c.msg).MgmtClass()
	return rc == qc || (rc.IsSubn() && qc.IsSubn())
}

// sendFailure fails the transaction or transfer whose MAD could not be
// sent.
func (a *Agent) sendFailure(in Incoming) {
	mm := wire.MAD(in.MAD)
	err := fmt.Errorf("mad: send to %s: %w: %w", in.Addr, ErrSendFailed, in.Err)
	a.mu.Lock()
	var fin []func()
	if s := a.xferSends[xferKey{tid: mm.TID(), lid: in.Addr.LID, qpn: in.Addr.QPN}]; s != nil {
		fin = append(fin, a.abortSendLocked(s, err)...)
	} else if c := a.pending[uint32(mm.TID())]; c != nil && !mm.IsResponse() && !isRMPPControl(in.MAD) {
		fin = append(fin, a.finishLocked(c, Result{Err: err}))
	}
	a.mu.Unlock()
	runAll(fin)
}

// isRMPPControl reports whether m is an RMPP ACK, STOP or ABORT: a lost
// one is recovered by the peer's timers, so its send failure fails nothing.
func isRMPPControl(m []byte) bool {
	if len(m) < wire.RMPPHeaderOffset+wire.RMPPHeaderSize {
		return false
	}
	if _, ok := RMPPDataOffset(wire.MAD(m).MgmtClass()); !ok {
		return false
	}
	h := wire.MAD(m).RMPPHeader()
	return h.IsActive() && h.Type() != wire.RMPPTypeData
}

func runAll(fs []func()) {
	for _, f := range fs {
		f()
	}
}
