package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/verbs"
)

// The bandwidth tests (perftest's run_iter_bw, run_iter_bw_server and
// run_iter_bi): every side that sends keeps tx depth work requests in
// flight on each QP and signals one in cq_mod; every side that receives
// SENDs keeps rx depth receives posted. In duration mode (-D) the senders
// post until the duration is over and count only the completions polled
// inside the sample window [margin, duration-margin].

// pollWait waits for completions on side s's CQ: it polls, then sleeps
// until the engine adds one, for at most 10 s of wall time. A completion
// already there is taken before the side's waitCtx is set up.
func pollWait(ctx context.Context, s *perfSide, wc []verbs.WC) (int, error) {
	cq := s.cq
	if n, err := cq.Poll(wc); n > 0 || err != nil {
		return n, err
	}
	w := s.pollCtx.reuse(ctx, nil, 10*time.Second)
	n, err := cq.PollWait(w, wc)
	w.release()
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		return 0, fmt.Errorf("perf: no completion for 10 s: %w", err)
	}
	return n, err
}

// waitCQ returns at least one completion of side s's CQ. It busy-polls,
// or with -e sleeps on the CQ's completion channel as perftest does
// (ctx_notify_events: ibv_get_cq_event, ibv_ack_cq_events, then
// ibv_req_notify_cq at once): the CQ is armed again as soon as an event
// is taken, so the side's next post finds it armed and that post's
// completion wakes the side with an event of its own. A completion the
// poll finds first may have fired the armed CQ already: its event is
// taken (without waiting) and the CQ armed again before the caller posts.
// Completions polled are returned even if ctx ended meanwhile (the peer
// stopped): the caller counts them.
func (env *perfEnv) waitCQ(ctx context.Context, s *perfSide, wc []verbs.WC) (int, error) {
	if s.ch == nil {
		return pollWait(ctx, s, wc)
	}
	for {
		n, err := s.cq.Poll(wc)
		if n > 0 || err != nil {
			if err == nil && s.armed {
				// Not with ctx: a wait that also ends when the peer
				// stops would fail here once it has, and the
				// completions just polled would be lost.
				if _, err := env.takeEvent(context.Background(), s, false); err != nil {
					return 0, err
				}
			}
			return n, err
		}
		if !s.armed {
			if err := env.arm(s); err != nil {
				return 0, err
			}
			continue // what came before the arming fires no event
		}
		if _, err := env.takeEvent(ctx, s, true); err != nil {
			return 0, err
		}
	}
}

// arm arms side s's CQ for its channel (ibv_req_notify_cq).
func (env *perfEnv) arm(s *perfSide) error {
	if err := s.cq.ReqNotify(false); err != nil {
		return fmt.Errorf("perf: couldn't request CQ notification: %w", err)
	}
	s.armed = true
	return nil
}

// takeEvent takes the next event of side s's channel, waiting up to 10 s
// for it when wait is set, and arms the CQ again. took is false when no
// event was queued (wait unset).
func (env *perfEnv) takeEvent(ctx context.Context, s *perfSide, wait bool) (took bool, err error) {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if !wait {
		cancel()
	}
	_, err = s.ch.GetCQEvent(wctx)
	cancel()
	if err != nil {
		if !wait && ctx.Err() == nil {
			return false, nil
		}
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			return false, fmt.Errorf("perf: no completion event for 10 s: %w", err)
		}
		return false, err
	}
	s.stats.cqEvents.Add(1)
	s.ch.AckCQEvents()
	s.armed = false
	return true, env.arm(s)
}

// settle takes the events still queued on side s's channel (an event for
// a completion the side found by polling), so that none holds the
// virtual clock once the side stops waiting.
func (env *perfEnv) settle(s *perfSide) {
	if s == nil || s.ch == nil {
		return
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for {
		if _, err := s.ch.GetCQEvent(done); err != nil {
			break
		}
		s.stats.cqEvents.Add(1)
	}
	s.ch.AckCQEvents()
}

// drain polls cq until it is empty (giving back the clock it may hold).
func drain(cq *verbs.CQ) {
	wc := make([]verbs.WC, 64)
	for {
		if n, err := cq.Poll(wc); n == 0 || err != nil {
			return
		}
	}
}

func checkWC(wc *verbs.WC) error {
	if wc.Status != hv.WCSuccess {
		return fmt.Errorf("perf: completion of wr %d: %s (opcode %d)", wc.WRID, wc.Status, wc.Opcode)
	}
	return nil
}

// perfStop tells a receiving side that its peer has stopped sending and
// how many messages it posted on each QP.
type perfStop struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	totals []int
	failed bool
}

func newPerfStop() *perfStop {
	ctx, cancel := context.WithCancel(context.Background())
	return &perfStop{ctx: ctx, cancel: cancel}
}

// finish records the totals and wakes the receiver; nil totals mean the
// sender failed.
func (p *perfStop) finish(totals []int) {
	p.mu.Lock()
	p.totals, p.failed = totals, totals == nil
	p.mu.Unlock()
	p.cancel()
}

// aborted reports whether the sender failed.
func (p *perfStop) aborted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}

// get returns the totals once the peer has finished.
func (p *perfStop) get() ([]int, bool) {
	if p.ctx.Err() == nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.totals, true
}

// bwResult is one side's measurement of one size.
type bwResult struct {
	iters   int     // messages the report counts
	avg     float64 // bytes/s
	peak    float64 // bytes/s (0: not measured)
	msgRate float64 // messages/s
	cpuUtil float64 // --cpu_util: percent
}

// bwRun is one side's part in one size of a bandwidth test.
type bwRun struct {
	env  *perfEnv
	s    *perfSide
	size int
	send bool // posts the test's operation
	recv bool // receives the peer's SENDs
	// peer, for a receiving side, reports when the peer stopped (in
	// iterations mode the totals are known from the start); done is this
	// side's own report to its peer's receiver.
	peer *perfStop
	done *perfStop
	// started, if set, is called once the side has posted its first
	// work requests.
	started func()

	// wrs holds each QP's work request as perftest prepares it once
	// (ctx_set_send_wqes): a post sets only its wr_id and whether it is
	// signaled.
	wrs               []verbs.SendWR
	posted, completed []int // sends per QP
	limit             []int // sends to post per QP (duration mode: set at the end)
	got, postedRecv   []int // receives per QP
	srqPosted         int   // receives posted to the SRQ (--use-srq)
	totals            []int // what the peer posted, once known
	idx               map[uint32]int
	res               bwResult
	// tposted and tcompleted are perftest's per-message times for the
	// peak: posting times in posting order, completion times by global
	// completion count.
	tposted, tcompleted []time.Time
	ccnt                int
	// rl is the SW rate limiter of a sending side, or nil.
	rl *rateLimit
}

// rateLimit is perftest's SW rate limiter: bursts of burst posts (on all
// the side's QPs together), one every gap, which keeps the rate at the
// limit.
type rateLimit struct {
	gap   time.Duration
	burst int
	left  int       // posts left in the current burst
	next  time.Time // when the next burst may start
}

// newRateLimit computes the gap between bursts for messages of size
// bytes: --rate_limit in --rate_units, as perftest turns it into
// messages per second.
func newRateLimit(c *perfConfig, size int) *rateLimit {
	var pps float64
	switch c.rateUnits {
	case "M":
		pps = c.rateLimit / float64(size) * 1048576
	case "g":
		pps = c.rateLimit / float64(size*8) * 1e9
	default: // p
		pps = c.rateLimit
	}
	return &rateLimit{gap: time.Duration(float64(c.burstSize) / pps * float64(time.Second)), burst: c.burstSize}
}

// open starts a burst when one is due at now and reports whether posts
// may go.
func (l *rateLimit) open(now time.Time) bool {
	if l.left > 0 {
		return true
	}
	if l.next.IsZero() {
		l.next = now
	}
	if now.Before(l.next) {
		return false
	}
	l.next = l.next.Add(l.gap)
	l.left = l.burst
	return true
}

func (env *perfEnv) newBWRun(s *perfSide, size int, send, recv bool) *bwRun {
	c := env.c
	r := &bwRun{env: env, s: s, size: size, send: send, recv: recv,
		posted: make([]int, c.qps), completed: make([]int, c.qps), limit: make([]int, c.qps),
		got: make([]int, c.qps), postedRecv: make([]int, c.qps), idx: map[uint32]int{}}
	for q, qp := range s.qps {
		r.idx[qp.Num()] = q
		r.limit[q] = c.iters
		if c.duration > 0 {
			r.limit[q] = -1 // until the time is up
		}
	}
	if c.duration == 0 {
		r.totals = r.limit
	}
	if send && c.rateSW {
		r.rl = newRateLimit(c, size)
	}
	if send {
		r.wrs = make([]verbs.SendWR, len(s.qps))
		for q := range s.qps {
			r.wrs[q] = r.prepareWR(q)
		}
	}
	return r
}

// postRecvs keeps rx depth receives posted on every QP (no more than the
// peer sends, once that is known).
func (r *bwRun) postRecvs() error {
	c := r.env.c
	if !r.recv {
		return nil
	}
	grh := 0
	if c.conn == "UD" {
		grh = hv.GRHBytes
	}
	if r.s.srq != nil {
		return r.postSRQRecvs(grh)
	}
	for q, qp := range r.s.qps {
		var wrs []verbs.RecvWR
		for r.postedRecv[q]-r.got[q] < c.rxDepth && (r.totals == nil || r.postedRecv[q] < r.totals[q]) {
			wrs = append(wrs, verbs.RecvWR{WRID: uint64(r.postedRecv[q]), SGL: []verbs.SGE{r.s.mrs[q].SGE(0, r.size+grh)}})
			r.postedRecv[q]++
		}
		if len(wrs) > 0 {
			if _, err := qp.PostRecv(wrs); err != nil {
				return fmt.Errorf("perf: post receive: %w", err)
			}
		}
	}
	return nil
}

// postSRQRecvs keeps rx depth receives posted on the side's SRQ (no more
// than the peer sends in all, once that is known), each into the buffer
// of one QP in turn.
func (r *bwRun) postSRQRecvs(grh int) error {
	c, s := r.env.c, r.s
	got, want := 0, -1
	for q := range r.got {
		got += r.got[q]
	}
	if r.totals != nil {
		want = 0
		for _, t := range r.totals {
			want += t
		}
	}
	var wrs []verbs.RecvWR
	for r.srqPosted-got < c.rxDepth && (want < 0 || r.srqPosted < want) {
		q := r.srqPosted % len(s.mrs)
		wrs = append(wrs, verbs.RecvWR{WRID: uint64(r.srqPosted), SGL: []verbs.SGE{s.mrs[q].SGE(0, r.size+grh)}})
		r.srqPosted++
	}
	if len(wrs) > 0 {
		if _, err := s.srq.PostRecv(wrs); err != nil {
			return fmt.Errorf("perf: post receive to the srq: %w", err)
		}
	}
	return nil
}

// sendWR is the q-th QP's i-th work request.
func (r *bwRun) sendWR(q, i int) verbs.SendWR {
	wr := r.wrs[q]
	wr.WRID = uint64(q)<<32 | uint64(i)
	if (i+1)%r.env.c.cqMod == 0 || i+1 == r.limit[q] {
		wr.Flags |= hv.SendSignaled
	}
	return wr
}

// prepareWR is the q-th QP's work request, unsignaled, with no wr_id.
// Its scatter list is shared by every post (the engine copies it).
func (r *bwRun) prepareWR(q int) verbs.SendWR {
	c, s := r.env.c, r.s
	op := c.op()
	wr := verbs.SendWR{Opcode: op, SGL: []verbs.SGE{s.mrs[q].SGE(0, r.size)}}
	switch op {
	case hv.WRRDMAWrite, hv.WRRDMARead:
		wr.RemoteAddr, wr.RKey = s.peer.addrs[q], s.peer.rkeys[q]
	case hv.WRAtomicFetchAndAdd:
		wr.RemoteAddr, wr.RKey, wr.CompareAdd = s.peer.addrs[q], s.peer.rkeys[q], 1
	case hv.WRAtomicCmpAndSwp:
		wr.RemoteAddr, wr.RKey, wr.CompareAdd, wr.Swap = s.peer.addrs[q], s.peer.rkeys[q], 0, 0
	}
	if (op == hv.WRSend || op == hv.WRRDMAWrite) && r.size <= c.inlineSize {
		wr.Flags |= hv.SendInline
	}
	if c.conn == "UD" {
		wr.AH, wr.RemoteQPN, wr.RemoteQKey = s.ahs[q].Engine(), s.peer.qpns[q], s.peer.qkey
	}
	return wr
}

// postSends fills every QP's send queue: lists of -l work requests, or
// without -l up to 32 per call. perftest posts one per call unless -l
// (run_iter_bw); here each post's doorbell is a burst of its own that
// asks for its own ACK, so single posts would halve the small-message
// rate (0.98 -> 0.51 Mpps for send_bw --wall -s 8 on two processors).
func (r *bwRun) postSends(wrs []verbs.SendWR, now time.Time) error {
	c := r.env.c
	list := c.postList
	for q, qp := range r.s.qps {
		for {
			if r.rl != nil && !r.rl.open(now) {
				return nil // the next burst is not due yet
			}
			wrs = wrs[:0]
			n := 32
			if list > 1 {
				n = list
			}
			if r.rl != nil && list <= 1 {
				n = min(n, r.rl.left)
			}
			for len(wrs) < n && r.posted[q]-r.completed[q] < c.txDepth && (r.limit[q] < 0 || r.posted[q] < r.limit[q]) {
				wrs = append(wrs, r.sendWR(q, r.posted[q]))
				r.posted[q]++
			}
			if r.rl != nil {
				// A post list goes whole, as perftest counts it.
				r.rl.left = max(r.rl.left-len(wrs), 0)
			}
			if list > 1 && len(wrs) > 0 && len(wrs) < list {
				// Only whole lists go out: give the partial one back.
				r.posted[q] -= len(wrs)
				break
			}
			if len(wrs) == 0 {
				break
			}
			if r.tcompleted != nil {
				t := r.env.now()
				for range wrs {
					r.tposted = append(r.tposted, t)
				}
			}
			if n, err := qp.PostSend(wrs); err != nil {
				return fmt.Errorf("perf: post send: %w", err)
			} else if n != len(wrs) {
				return fmt.Errorf("perf: post send: %d of %d posted", n, len(wrs))
			}
			st := &r.s.stats
			st.postCalls.Add(1)
			st.sendWRs.Add(int64(len(wrs)))
			if wrs[0].Flags&hv.SendInline != 0 { // all of them or none
				st.inlineWRs.Add(int64(len(wrs)))
			}
			for m := st.maxList.Load(); int64(len(wrs)) > m && !st.maxList.CompareAndSwap(m, int64(len(wrs))); m = st.maxList.Load() {
			}
		}
	}
	return nil
}

// sendsDone reports whether every QP has posted and completed its sends.
func (r *bwRun) sendsDone() bool {
	for q := range r.posted {
		if r.limit[q] < 0 || r.completed[q] < r.limit[q] {
			return false
		}
	}
	return true
}

// recvsDone reports whether every QP has received what the peer sent.
func (r *bwRun) recvsDone() bool {
	if r.totals == nil {
		return false
	}
	for q := range r.got {
		if r.got[q] < r.totals[q] {
			return false
		}
	}
	return true
}

// run is the side's loop: post, wait, count, until its sends are
// complete and its receives arrived.
func (r *bwRun) run(ctx context.Context) error {
	env, c, s := r.env, r.env.c, r.s
	defer env.settle(s)
	wrs := make([]verbs.SendWR, 0, max(32, c.postList))
	wc := make([]verbs.WC, 256)
	if r.send && !c.noPeak {
		r.tposted = make([]time.Time, 0, c.iters*c.qps)
		r.tcompleted = make([]time.Time, c.iters*c.qps)
	}
	var start, end, sampleStart, sampleEnd, stopAt time.Time
	var cpu *cpuSampler
	if c.cpuUtil && r.send {
		cpu = &cpuSampler{}
	}
	first := true
	defer func() {
		if first && r.started != nil {
			r.started() // failed before it started: do not keep the others waiting
		}
	}()
	measured := 0
	sent := !r.send
	lost := false // UD: the peer stopped and nothing more arrives
	for {
		// The host posts its whole reaction in one instant of virtual
		// time: held, the clock does not run on while it posts.
		release := env.emu.Hold()
		now := env.now()
		if first {
			start, end = now, now
			sampleStart = start.Add(time.Duration(c.margin * float64(time.Second)))
			sampleEnd = start.Add(time.Duration((c.duration - c.margin) * float64(time.Second)))
			stopAt = start.Add(time.Duration(c.duration * float64(time.Second)))
		}
		cpu.observe(now, sampleStart, sampleEnd)
		if r.send && c.duration > 0 && r.limit[0] < 0 && !now.Before(stopAt) {
			// Time is up: finish each QP's last moderated batch so
			// that its final work request is signaled.
			unit := max(c.cqMod, c.postList)
			for q := range r.limit {
				r.limit[q] = (r.posted[q] + unit - 1) / unit * unit
			}
		}
		if r.send && !sent {
			if err := r.postSends(wrs, now); err != nil {
				release()
				return err
			}
			if r.sendsDone() {
				sent = true
				if c.duration == 0 {
					end = now
				}
				if r.done != nil {
					r.done.finish(append([]int(nil), r.posted...))
				}
			}
		}
		if r.recv && r.totals == nil {
			if t, ok := r.peer.get(); ok && t != nil {
				r.totals = t
			}
		}
		if r.recv {
			if err := r.postRecvs(); err != nil {
				release()
				return err
			}
		}
		release()
		if first {
			first = false
			if r.started != nil {
				r.started()
			}
		}
		if sent && (!r.recv || r.recvsDone() || lost) {
			break
		}
		if r.peer != nil && r.peer.aborted() {
			return errors.New("perf: the peer side failed")
		}
		var n int
		var err error
		peerStopped := r.peer == nil || r.peer.ctx.Err() != nil
		switch {
		case r.recv && !peerStopped:
			// Wake up when the peer stops, to learn its totals.
			w := lazyWait(ctx, r.peer.ctx, 0)
			n, err = env.waitCQ(w, s, wc)
			w.release()
		case r.recv && sent && c.conn == "UD":
			// UD drops what finds no receive: once the peer stopped,
			// what has not come within 50 ms is lost.
			wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			n, err = env.waitCQ(wctx, s, wc)
			cancel()
			if err != nil && ctx.Err() == nil {
				lost = true
				continue
			}
		case r.rl != nil && !sent && r.rl.left == 0:
			// Wait for a completion or the next burst, whichever
			// comes first: what is posted may all be unsignaled.
			due, cancel := context.WithCancel(ctx)
			tm := env.emu.Clock().AfterFunc(r.rl.next.Sub(now), cancel)
			n, err = env.waitCQ(due, s, wc)
			tm.Stop()
			cancel()
			if err != nil && ctx.Err() == nil {
				continue // the next burst is due
			}
		default:
			n, err = env.waitCQ(ctx, s, wc)
		}
		if err != nil {
			if ctx.Err() == nil && r.recv && !peerStopped && r.peer.ctx.Err() != nil {
				continue // the peer stopped
			}
			if env.server == nil || env.client == nil {
				return fmt.Errorf("%w (%s)", err, s.qps[0].Debug())
			}
			return fmt.Errorf("%w (%s; peer %s)", err, env.client.qps[0].Debug(), env.server.qps[0].Debug())
		}
		now = env.now()
		got := 0
		for _, w := range wc[:n] {
			if err := checkWC(&w); err != nil {
				return err
			}
			if w.Opcode >= hv.WCRecv {
				r.got[r.idx[w.QPNum]]++
				s.stats.recvs.Add(1)
				continue
			}
			q, i := int(w.WRID>>32), int(uint32(w.WRID))
			got += i + 1 - r.completed[q]
			r.ccnt += i + 1 - r.completed[q]
			r.completed[q] = i + 1
			if r.tcompleted != nil && r.ccnt <= len(r.tcompleted) {
				r.tcompleted[r.ccnt-1] = now
			}
		}
		if got > 0 && c.duration > 0 && !now.Before(sampleStart) && now.Before(sampleEnd) {
			measured += got
		}
	}
	drain(s.cq)
	if !r.send {
		return nil
	}
	var secs float64
	if c.duration > 0 {
		r.res.iters = measured
		secs = sampleEnd.Sub(sampleStart).Seconds()
	} else {
		r.res.iters = c.iters * c.qps
		secs = end.Sub(start).Seconds()
	}
	if secs <= 0 {
		return fmt.Errorf("perf: the test took no time to measure")
	}
	r.res.cpuUtil = cpu.util()
	r.res.avg = float64(r.res.iters) * float64(r.size) / secs
	r.res.msgRate = float64(r.res.iters) / secs
	if r.tcompleted != nil {
		r.res.peak = peakRate(r.tposted, r.tcompleted, c.cqMod, c.postList, r.size)
	}
	return nil
}

// peakRate is perftest's peak (print_report_bw): the best rate of any
// run of messages i..j, from the posting of i to the completion of j,
// where j is a signaled message. tcompleted holds the completion times
// by global completion count (zero where no completion was polled).
func peakRate(tposted, tcompleted []time.Time, cqMod, postList, size int) float64 {
	n := min(len(tposted), len(tcompleted))
	if n == 0 {
		return 0
	}
	// perftest tries every pair, (iterations/post list) x
	// (iterations/cq_mod) of them: with -n 20000 and cq_mod 1 (messages
	// above 8 KiB) 2*10^8. The times are made nanoseconds from the first
	// post, and pairs are compared by exact cross-multiplication (at
	// most 10^6 messages x 10^12 ns fits an int64), so each costs a few
	// integer operations; the rate is computed once, for the best pair.
	base := tposted[0]
	tp := make([]int64, n)
	tc := make([]int64, n)
	const none = math.MinInt64 // no completion polled
	for k := range n {
		tp[k] = int64(tposted[k].Sub(base))
		tc[k] = none
		if !tcompleted[k].IsZero() {
			tc[k] = int64(tcompleted[k].Sub(base))
		}
	}
	var bestK, bestD int64 // the best pair's messages and duration
	try := func(i, j int) {
		if tc[j] == none {
			return
		}
		if d, k := tc[j]-tp[i], int64(j-i+1); d > 0 && (bestD == 0 || k*bestD > bestK*d) {
			bestK, bestD = k, d
		}
	}
	for i := 0; i < n; i += postList {
		p := tp[i]
		for j := (i+cqMod)/cqMod*cqMod - 1; j < n; j += cqMod {
			c := tc[j]
			if c == none {
				continue
			}
			if d, k := c-p, int64(j-i+1); d > 0 && (bestD == 0 || k*bestD > bestK*d) {
				bestK, bestD = k, d
			}
		}
		if n%cqMod != 0 {
			try(i, n-1)
		}
	}
	if bestD == 0 {
		return 0
	}
	return float64(bestK) * float64(size) / time.Duration(bestD).Seconds()
}

// bandwidth runs one size of a *_bw test and prints its row: the client
// sends (and, with -b, receives), the server receives SENDs (and, with
// -b, sends too).
func (env *perfEnv) bandwidth(ctx context.Context, size int) error {
	c := env.c
	cl, sv := env.client, env.server
	isSend := perfVerb(c.test) == "send"
	if c.warmUp && !isSend {
		// perftest warms up the sides that post: both with -b (in two
		// processes, the client's here).
		for _, s := range []*perfSide{cl, sv} {
			if s != nil && (s == cl || c.bidir) {
				if err := env.warmUp(ctx, s, size); err != nil {
					return err
				}
			}
		}
	}
	clientStop, serverStop := newPerfStop(), newPerfStop()
	cr := env.newBWRun(cl, size, true, isSend && c.bidir)
	cr.done, cr.peer = clientStop, serverStop
	// Both sides start at the same instant of virtual time: the clock
	// stands still until each has posted its first work requests.
	var starting sync.WaitGroup
	hold := env.emu.Hold()
	defer hold()
	starting.Add(1)
	cr.started = starting.Done
	var srv *bwRun
	var srvStarted chan struct{}
	serverErr := make(chan error, 1)
	if sv != nil && (isSend || c.bidir) {
		srv = env.newBWRun(sv, size, c.bidir, isSend)
		srv.done, srv.peer = serverStop, clientStop
		// The receives go up before anything is sent.
		if isSend {
			release := env.emu.Hold()
			err := srv.postRecvs()
			release()
			if err != nil {
				return err
			}
		}
		starting.Add(1)
		srvStarted = make(chan struct{})
		srv.started = func() {
			starting.Done()
			close(srvStarted)
		}
		go func() {
			err := srv.run(ctx)
			if err != nil {
				serverStop.finish(nil)
			}
			serverErr <- err
		}()
	} else {
		serverErr <- nil
	}
	if env.oob != nil {
		if err := env.oob.begin(size); err != nil {
			return err
		}
	}
	go func() {
		starting.Wait()
		hold()
	}()
	if srvStarted != nil {
		// The client starts once the server side has: with one
		// processor, a server goroutine that has not run yet would get
		// the processor only when the client blocks or is preempted,
		// and its receive queue would run dry meanwhile (RNR NAKs). Now
		// it is waiting for its completions, and the engine lets it
		// have the processor when they come.
		<-srvStarted
	}
	err := cr.run(ctx)
	if err != nil {
		clientStop.finish(nil)
	}
	if serr := <-serverErr; err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	var peer *bwResult
	if srv != nil && srv.send {
		peer = &srv.res
	}
	if env.oob != nil {
		var totals []int
		if c.duration > 0 {
			totals = cr.posted
		}
		rest, err := env.oob.end(totals)
		if err != nil {
			return err
		}
		if c.bidir {
			var r bwResult
			if _, err := fmt.Sscanf(rest, "%g %g %g", &r.avg, &r.peak, &r.msgRate); err != nil {
				return fmt.Errorf("perf: the server side reported %q: %w", rest, err)
			}
			peer = &r
		}
	}
	res := cr.res
	if c.bidir && peer != nil && !(isSend && c.duration > 0) {
		// perftest sums both sides' reports (print_full_bw_report), but
		// a SEND test in duration mode reports this side only.
		res.avg += peer.avg
		res.peak += peer.peak
		res.msgRate += peer.msgRate
	}
	env.bwRow(size, res)
	if c.report2 && c.bidir && peer != nil && c.output == "" {
		// --report-both: each side's own row under a header of its own.
		line := strings.Repeat("-", 87)
		for _, part := range []struct {
			name string
			r    bwResult
		}{{"Local", cr.res}, {"Remote", *peer}} {
			part.r.iters = res.iters
			fmt.Fprintf(c.out, "%s\n\n %s results: \n%s\n", line, part.name, line)
			env.tableHeader()
			env.bwRow(size, part.r)
		}
	}
	return nil
}

// warmWRID marks the work requests of a warm-up.
const warmWRID = 1 << 62

// warmUp is perftest's perform_warm_up (--perform_warm_up): every QP of
// side s posts tx depth work requests of the test's operation (one post
// list with -l), all signaled, and waits until they have completed,
// before the measured run of size begins.
func (env *perfEnv) warmUp(ctx context.Context, s *perfSide, size int) error {
	c := env.c
	r := env.newBWRun(s, size, true, false)
	n, list := c.txDepth, max(c.postList, 1)
	if list > 1 {
		n = list
	}
	wc := make([]verbs.WC, 64)
	for q, qp := range s.qps {
		wrs := make([]verbs.SendWR, n)
		for i := range wrs {
			wrs[i] = r.wrs[q]
			wrs[i].WRID = warmWRID | uint64(i)
			wrs[i].Flags |= hv.SendSignaled
		}
		for i := 0; i < n; i += list {
			release := env.emu.Hold()
			_, err := qp.PostSend(wrs[i:min(i+list, n)])
			release()
			if err != nil {
				return fmt.Errorf("perf: couldn't post send during warm up: qp index %d: %w", q, err)
			}
		}
		for done := 0; done < n; {
			k, err := env.waitCQ(ctx, s, wc)
			if err != nil {
				return fmt.Errorf("perf: warm up: %w", err)
			}
			for i := range wc[:k] {
				if err := checkWC(&wc[i]); err != nil {
					return fmt.Errorf("perf: warm up: %w", err)
				}
			}
			done += k
		}
	}
	// A poll that finds the CQ empty gives back the virtual clock the
	// completions held (HoldClock); without it the fabric's time would
	// stand still for the other side's warm-up and the run.
	drain(s.cq)
	env.settle(s)
	s.warmedUp += n * len(s.qps)
	return nil
}

// bwRow prints one bandwidth row (REPORT_FMT), or with --output the one
// number asked for.
// bwJSON writes --out_json's report of a bandwidth row.
func (env *perfEnv) bwJSON(size int, r bwResult, avg, peak, rate float64) {
	c := env.c
	if !c.outJSON {
		return
	}
	var res []jsonField
	switch {
	case c.output == "bandwidth":
		res = []jsonField{{"bw_avg", avg}}
	case c.output == "message_rate":
		res = []jsonField{{"msgRate_avg", rate}}
	case avg < 0.1 && c.gbits:
		res = []jsonField{{"MsgSize", size}, {"n_iterations", r.iters}, {"BW_peak", round6(peak)}, {"BW_average", round6(avg)}, {"MsgRate", round6(rate)}}
	default:
		res = []jsonField{{"MsgSize", size}, {"n_iterations", r.iters}, {"BW_peak", round2(peak)}, {"BW_average", round2(avg)}, {"MsgRate", round6(rate)}}
	}
	if c.cpuUtil {
		res = append(res, jsonField{"CPU_util", round2(r.cpuUtil)})
	}
	env.noteReportErr(env.writeJSON(res))
}

func (env *perfEnv) bwRow(size int, r bwResult) {
	c, w := env.c, env.c.out
	conv := func(bps float64) float64 {
		if c.gbits {
			return bps * 8 / 1e9
		}
		return bps / (1 << 20)
	}
	avg, peak, rate := conv(r.avg), conv(r.peak), r.msgRate/1e6
	// The verifier limits pass when any size reaches them, as perftest
	// judges them (print_full_bw_report).
	env.bwLimitMet = env.bwLimitMet || avg >= c.limitBW
	env.rateLimitMet = env.rateLimitMet || rate >= c.limitRate
	env.bwJSON(size, r, avg, peak, rate)
	switch {
	case c.output == "bandwidth":
		fmt.Fprintf(w, "%f\n", avg)
	case c.output == "message_rate":
		fmt.Fprintf(w, "%f\n", rate)
	case avg < 0.1 && c.gbits:
		fmt.Fprintf(w, " %-7d    %d           %-7.6f            %-7.6f            %-7.6f", size, r.iters, peak, avg, rate)
		env.cpuUtilCell(r.cpuUtil)
	default:
		fmt.Fprintf(w, " %-7d    %-10d       %-7.2f            %-7.2f\t\t     %-7.6f", size, r.iters, peak, avg, rate)
		env.cpuUtilCell(r.cpuUtil)
	}
	env.printCounters(env.client)
}
