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
	borrows bool // the endpoint copies a MAD before Send's caller may reuse it

	// handoffs holds the transport's time for blocking callers that got
	// their results and have not yet sent anything else; the agents of
	// one transport share it (see handoffHold).
	handoffs *handoffSet

	mu sync.Mutex
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
	// deadlines holds the response deadlines of waiting calls; dlTimer
	// fires at dlAt, the earliest of them (see armCallLocked).
	// +checklocks:mu
	deadlines deadlineQueue
	// +checklocks:mu
	dlTimer emu.Timer
	// +checklocks:mu
	dlAt int64 // UnixNano of the clock time dlTimer fires at
	// +checklocks:mu
	dlSeq uint64
	// +checklocks:mu
	dlStale int
	// dlLive counts the calls whose deadline is armed.
	// +checklocks:mu
	dlLive int
	// streams counts the open Streams; starve releases the time they hold
	// (see starveCheckLocked).
	// +checklocks:mu
	streams int
	// +checklocks:mu
	starve func()
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
	// batch and idx, when batch is set, take the result instead of done
	// (Start: no closure per request).
	batch *Batch
	idx   int

	state callState
	gen   uint64 // bumps whenever the response deadline is set or dropped
	armed bool   // a deadline of this call counts in Agent.dlLive
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
	a.handoffs = &handoffSet{}
	if s, ok := t.(handoffSharer); ok {
		a.handoffs = s.handoffSet()
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
	if b, ok := ep.(borrower); ok {
		a.borrows = b.borrowsMAD()
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
	if a.dlTimer != nil {
		a.dlTimer.Stop()
		a.dlTimer = nil
	}
	a.deadlines.reset()
	if a.starve != nil {
		fin = append(fin, a.starve)
		a.starve = nil
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
// submitted on an agent of the same transport (after it was sent), when
// one of them closes, or after HandoffLimit of wall time, whichever is
// first. A caller that goes on with another agent of its transport (an
// SA query, then a CM request) so sends at the instant its result came,
// as one that stays with the agent does. Called on the delivery
// context, which holds time itself until it returns.
func (a *Agent) handoffHold() {
	if a.holder == nil {
		return
	}
	rel := a.holder.HoldTime()
	a.handoffs.add(rel)
	time.AfterFunc(HandoffLimit, rel)
}

// HandoffLimit bounds how long, in wall time, a blocking caller that got
// its result keeps a virtual clock still while it works out what to send
// next.
const HandoffLimit = 20 * time.Millisecond

// releaseHandoffs ends the holds of callers that have now acted.
func (a *Agent) releaseHandoffs() { a.handoffs.release() }

// handoffSet is the hand-off holds of the agents of one transport.
type handoffSet struct {
	mu   sync.Mutex
	rels []func()
}

// handoffSharer is a transport that keeps one handoffSet for its agents.
type handoffSharer interface{ handoffSet() *handoffSet }

func (h *handoffSet) add(rel func()) {
	h.mu.Lock()
	h.rels = append(h.rels, rel)
	h.mu.Unlock()
}

func (h *handoffSet) release() {
	h.mu.Lock()
	rels := h.rels
	h.rels = nil
	h.mu.Unlock()
	for _, rel := range rels {
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
	return a.Start(reqs).Wait(ctx)
}

// Batch is a set of transactions started together with Start.
type Batch struct {
	a      *Agent
	stream *Stream // nil for Start
	res    []Result
	calls  []*call
	left   atomic.Int64
	done   chan struct{}
}

// Start starts reqs through the window and returns at once; Wait gets
// the results. Under a virtual clock the transport's time stands still
// while Start queues the requests, so the batch leaves at one instant
// whatever the goroutines do, and runs replay exactly. A request Start
// cannot queue (malformed, agent closed) fails in its Result.
func (a *Agent) Start(reqs []Request) *Batch {
	var release func()
	if a.holder != nil {
		release = a.holder.HoldTime()
	}
	b := a.start(reqs, nil)
	if release != nil {
		release()
	}
	return b
}

func (a *Agent) start(reqs []Request, st *Stream) *Batch {
	b := &Batch{a: a, stream: st, res: make([]Result, len(reqs)), calls: make([]*call, len(reqs)), done: make(chan struct{})}
	b.left.Store(int64(len(reqs)) + 1)
	for i, r := range reqs {
		c, err := a.submitBatch(r, b, i)
		if err != nil {
			b.res[i] = Result{Err: err}
			b.finished()
			continue
		}
		b.calls[i] = c
	}
	b.finished() // start's own count: no completion is final before it
	return b
}

// Stream is an open sequence of batches (Stream.Start) that leave as one:
// while a stream is open and the agent has a free window slot and no
// request queued, the transport's time stands still (under a virtual
// clock), so a producer that builds the next requests while earlier ones
// are on the wire sends them at exactly the instants a single batch given
// all of them at once would. Close the stream when the last batch is
// started, before waiting for it.
type Stream struct {
	a      *Agent
	closed atomic.Bool
}

// Stream opens a stream of batches on the agent.
func (a *Agent) Stream() *Stream {
	st := &Stream{a: a}
	a.mu.Lock()
	a.streams++
	rel := a.starveCheckLocked()
	a.mu.Unlock()
	if rel != nil {
		rel()
	}
	return st
}

// Start starts reqs as the stream's next batch (see Agent.Start). Give
// each batch more requests than the window holds, or close the stream
// before waiting for a batch: a stream that waits with a free window
// slot and nothing queued holds the time it needs to advance.
func (st *Stream) Start(reqs []Request) *Batch {
	return st.a.start(reqs, st)
}

// Close ends the stream. It is idempotent.
func (st *Stream) Close() {
	if !st.closed.CompareAndSwap(false, true) {
		return
	}
	a := st.a
	a.mu.Lock()
	a.streams--
	rel := a.starveCheckLocked()
	a.mu.Unlock()
	if rel != nil {
		rel()
	}
}

// starveCheckLocked holds the transport's time while an open stream has a
// free window slot and nothing queued (the producer is about to add
// more), and returns the release to call, unlocked, when that ends. A
// hold lasts at most HandoffLimit of wall time.
//
// +checklocks:a.mu
func (a *Agent) starveCheckLocked() func() {
	want := a.streams > 0 && !a.closed && a.inflight < a.opts.Window && len(a.queue) == 0 && a.holder != nil
	switch {
	case want && a.starve == nil:
		rel := a.holder.HoldTime()
		a.starve = rel
		time.AfterFunc(HandoffLimit, rel)
	case !want && a.starve != nil:
		rel := a.starve
		a.starve = nil
		return rel
	}
	return nil
}

// finished counts one completion; the last one closes done.
func (b *Batch) finished() {
	if b.left.Add(-1) == 0 {
		close(b.done)
	}
}

// complete stores the result of request i. It runs on the delivery
// context; the last result hands the waiting caller the instant it came.
func (b *Batch) complete(i int, r Result) {
	b.res[i] = r
	if b.left.Load() == 1 && (b.stream == nil || b.stream.closed.Load()) {
		// Within an open stream the next batch is (or will be, at this
		// instant) queued already: no hand-off is needed.
		b.a.handoffHold()
	}
	b.finished()
}

// Wait waits for every transaction of the batch and returns the results in
// the order of the requests. If ctx ends first, the transactions still
// outstanding fail with ctx's error. Call it once.
func (b *Batch) Wait(ctx context.Context) []Result {
	select {
	case <-b.done:
	case <-ctx.Done():
		for _, c := range b.calls {
			if c != nil {
				b.a.cancel(c, ctx.Err())
			}
		}
		<-b.done
	}
	return b.res
}

// submit validates req, allocates its TID and starts or queues it.
func (a *Agent) submit(req Request, done func(Result)) (*call, error) {
	c, err := a.submitCall(req, done, nil, 0)
	if err == nil {
		a.releaseHandoffs()
	}
	return c, err
}

// submitBatch is submit for request i of b.
func (a *Agent) submitBatch(req Request, b *Batch, i int) (*call, error) {
	c, err := a.submitCall(req, nil, b, i)
	if err == nil && i == 0 {
		a.releaseHandoffs()
	}
	return c, err
}

func (a *Agent) submitCall(req Request, done func(Result), b *Batch, idx int) (*call, error) {
	m := req.MAD
	if err := a.checkOutgoing(m, false); err != nil {
		return nil, err
	}
	if wire.MAD(m).IsResponse() {
		return nil, fmt.Errorf("mad: request method %s has the response bit: %w", wire.MAD(m).Method(), ErrBadMAD)
	}
	c := &call{addr: req.Addr, msg: m, timeout: req.Timeout, retries: req.Retries, done: done, batch: b, idx: idx}
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
	rel := a.starveCheckLocked()
	a.mu.Unlock()
	if rel != nil {
		rel()
	}
	runAll(fin)
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
	msg := c.msg
	if !a.borrows || len(msg) != wire.MADSize {
		msg = a.prepare(msg)
	}
	out := Outgoing{Addr: c.addr, MAD: msg, Timeout: c.timeout}
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

// armCallLocked (re)starts the response timer of c. The agent keeps one
// clock timer for all its transactions, armed at the earliest response
// deadline: a window of thousands of SMPs per second then costs no timer
// per request.
//
// +checklocks:a.mu
func (a *Agent) armCallLocked(c *call, d time.Duration) {
	c.gen++
	if !c.armed {
		c.armed = true
		a.dlLive++
	}
	a.dlSeq++
	a.deadlines.push(deadline{at: a.clock.Now().Add(d).UnixNano(), seq: a.dlSeq, c: c, gen: c.gen})
	a.scheduleDeadlineLocked()
}

// +checklocks:a.mu
func (a *Agent) stopCallTimerLocked(c *call) {
	c.gen++
	if !c.armed {
		return
	}
	a.disarmLocked(c)
	if a.dlLive == 0 {
		// Nothing waits any more: no timer may be left to move a virtual
		// clock (a stopped timer never does).
		if a.dlTimer != nil {
			a.dlTimer.Stop()
			a.dlTimer = nil
		}
		a.deadlines.reset()
		a.dlStale = 0
		return
	}
	a.dlStale++
	// Deadlines of answered calls stay queued until they reach the head;
	// when they make up most of the queue, drop them all at once.
	if a.dlStale > 1024 && a.dlStale*2 > a.deadlines.len() {
		a.deadlines.compact()
		a.dlStale = 0
	}
}

// scheduleDeadlineLocked drops answered calls from the head of the
// deadline queue and makes sure the timer fires at the head's deadline.
//
// +checklocks:a.mu
func (a *Agent) scheduleDeadlineLocked() {
	for {
		d := a.deadlines.peek()
		if d == nil || d.live() {
			break
		}
		a.deadlines.pop()
		a.dlStale = max(a.dlStale-1, 0)
	}
	d := a.deadlines.peek()
	if d == nil || a.closed {
		return
	}
	if a.dlTimer != nil && a.dlAt <= d.at {
		return // fires at or before the head's deadline already
	}
	if a.dlTimer != nil {
		a.dlTimer.Stop()
	}
	a.dlAt = d.at
	a.dlTimer = a.clock.AfterFunc(time.Duration(d.at-a.clock.Now().UnixNano()), a.deadlineTimer)
}

// deadlineTimer runs when the agent's timer fires: every call whose
// deadline has passed is retransmitted or fails with ErrTimeout, in the
// order the deadlines were set.
func (a *Agent) deadlineTimer() {
	a.mu.Lock()
	a.dlTimer = nil
	if a.closed {
		a.mu.Unlock()
		return
	}
	now := a.clock.Now().UnixNano()
	var fin []func()
	for h := a.deadlines.peek(); h != nil && h.at <= now; h = a.deadlines.peek() {
		d := a.deadlines.pop()
		if !d.live() {
			a.dlStale = max(a.dlStale-1, 0)
			continue
		}
		fin = append(fin, a.callTimeoutLocked(d.c)...)
	}
	a.scheduleDeadlineLocked()
	a.mu.Unlock()
	runAll(fin)
}

// callTimeoutLocked handles the deadline of c, which waits for its
// response: a retransmission while retries are left, ErrTimeout after.
//
// +checklocks:a.mu
func (a *Agent) callTimeoutLocked(c *call) []func() {
	c.gen++
	a.disarmLocked(c)
	// An RMPP request is not sent again once every segment was
	// acknowledged: the responder holds it (the Linux MAD layer does the
	// same).
	if c.retries > 0 && c.send == nil && !a.needsRMPP(c.msg) {
		c.retries--
		a.stats.Retries++
		return a.transmitLocked(c)
	}
	a.stats.Timeouts++
	return []func(){a.finishLocked(c, Result{Err: fmt.Errorf("mad: %s %s tid 0x%016x to %s: %w",
		wire.MAD(c.msg).MgmtClass(), wire.AttrName(wire.MAD(c.msg).MgmtClass(), wire.MAD(c.msg).AttrID()),
		c.tid, c.addr, ErrTimeout)})}
}

// disarmLocked marks c as no longer waiting for a deadline.
//
// +checklocks:a.mu
func (a *Agent) disarmLocked(c *call) {
	if c.armed {
		c.armed = false
		a.dlLive--
	}
}

// deadline is a call's response deadline (UnixNano of the agent's clock);
// it counts only while the call still has the generation it had when the
// deadline was set.
type deadline struct {
	at  int64
	seq uint64
	c   *call
	gen uint64
}

func (d *deadline) live() bool { return d.c.gen == d.gen && d.c.state == callWaiting }

func (d *deadline) before(o *deadline) bool {
	return d.at < o.at || d.at == o.at && d.seq < o.seq
}

// deadlineQueue orders deadlines by (at, seq). An agent's requests mostly
// share one timeout on a clock that never goes back, so deadlines come in
// order: those go to a FIFO, the rare earlier one to a heap.
type deadlineQueue struct {
	fifo []deadline
	head int // fifo[head:] is pending
	heap deadlineHeap
}

func (q *deadlineQueue) len() int { return len(q.fifo) - q.head + len(q.heap) }

func (q *deadlineQueue) reset() {
	clear(q.fifo)
	q.fifo, q.head = q.fifo[:0], 0
	clear(q.heap)
	q.heap = q.heap[:0]
}

func (q *deadlineQueue) push(d deadline) {
	if n := len(q.fifo); n == q.head || !d.before(&q.fifo[n-1]) {
		if q.head > 1024 && q.head*2 > n {
			// Reuse the consumed front of the FIFO.
			k := copy(q.fifo, q.fifo[q.head:])
			clear(q.fifo[k:])
			q.fifo, q.head = q.fifo[:k], 0
		}
		q.fifo = append(q.fifo, d)
		return
	}
	q.heap.push(d)
}

// peek returns the earliest deadline, or nil.
func (q *deadlineQueue) peek() *deadline {
	var f *deadline
	if q.head < len(q.fifo) {
		f = &q.fifo[q.head]
	}
	if len(q.heap) > 0 && (f == nil || q.heap[0].before(f)) {
		return &q.heap[0]
	}
	return f
}

// pop removes and returns the earliest deadline; the queue must not be
// empty.
func (q *deadlineQueue) pop() deadline {
	if q.head < len(q.fifo) && (len(q.heap) == 0 || !q.heap[0].before(&q.fifo[q.head])) {
		d := q.fifo[q.head]
		q.fifo[q.head] = deadline{}
		q.head++
		if q.head == len(q.fifo) {
			q.fifo, q.head = q.fifo[:0], 0
		}
		return d
	}
	return q.heap.pop()
}

// compact drops the deadlines of calls that no longer wait.
func (q *deadlineQueue) compact() {
	k := 0
	for _, d := range q.fifo[q.head:] {
		if d.live() {
			q.fifo[k] = d
			k++
		}
	}
	clear(q.fifo[k:])
	q.fifo, q.head = q.fifo[:k], 0
	q.heap.compact()
}

// deadlineHeap is a binary min-heap of deadlines by (at, seq).
type deadlineHeap []deadline

func (h *deadlineHeap) push(d deadline) {
	q := append(*h, d)
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !d.before(&q[p]) {
			break
		}
		q[i] = q[p]
		i = p
	}
	q[i] = d
	*h = q
}

func (h *deadlineHeap) pop() deadline {
	q := *h
	top := q[0]
	n := len(q) - 1
	last := q[n]
	q[n] = deadline{}
	q = q[:n]
	*h = q
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if r := c + 1; r < n && q[r].before(&q[c]) {
			c = r
		}
		if !q[c].before(&last) {
			break
		}
		q[i] = q[c]
		i = c
	}
	q[i] = last
	return top
}

// compact drops the deadlines of calls that no longer wait and restores
// the heap order.
func (h *deadlineHeap) compact() {
	old := *h
	q := old[:0]
	for _, d := range old {
		if d.live() {
			q = append(q, d)
		}
	}
	clear(old[len(q):])
	*h = q[:0]
	for _, d := range q[:len(q):len(q)] {
		h.push(d)
	}
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
	fin, ok := a.finishCoreLocked(c)
	if !ok {
		return func() {}
	}
	return func() {
		runAll(fin)
		c.complete(r)
	}
}

// finishCoreLocked is finishLocked without the closure: it returns what
// the queued transactions it started need run unlocked, and false when c
// had completed already. The caller then runs those and c.complete.
//
// +checklocks:a.mu
func (a *Agent) finishCoreLocked(c *call) ([]func(), bool) {
	if c.state == callDone {
		return nil, false
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
		if a.streams > 0 {
			if rel := a.starveCheckLocked(); rel != nil {
				fin = append(fin, rel)
			}
		}
	}
	return fin, true
}

// complete hands r to whoever waits for c.
func (c *call) complete(r Result) {
	if c.batch != nil {
		c.batch.complete(c.idx, r)
		return
	}
	c.done(r)
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
	fin, ok := a.finishCoreLocked(c)
	a.mu.Unlock()
	if ok {
		runAll(fin)
		c.complete(Result{MAD: m, Err: mm.Err()})
	}
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
