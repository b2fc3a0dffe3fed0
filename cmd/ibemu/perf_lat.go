package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/verbs"
)

// The latency tests (perftest's run_iter_lat, run_iter_lat_send and
// run_iter_lat_write): write_lat and send_lat ping-pong and report half
// the round trip; read_lat and atomic_lat report the whole operation. In
// duration mode (-D) the client goes on until the duration is over and
// reports the average of the iterations that completed inside the sample
// window and their rate (perftest's print_report_lat_duration).

// errPeerStopped reports that the peer stopped while a side waited.
var errPeerStopped = errors.New("perf: the peer stopped")

// latMsg is the work request one side of a latency test sends: small
// SENDs and WRITEs go inline (-I, perftest's default for these tests).
func (env *perfEnv) latMsg(from *perfSide, size int) verbs.SendWR {
	c := env.c
	op := c.op()
	wr := verbs.SendWR{Opcode: op, Flags: hv.SendSignaled, SGL: []verbs.SGE{from.mrs[0].SGE(0, size)}}
	switch op {
	case hv.WRSend:
	case hv.WRAtomicFetchAndAdd:
		wr.RemoteAddr, wr.RKey, wr.CompareAdd = from.peer.addrs[0], from.peer.rkeys[0], 1
	default:
		wr.RemoteAddr, wr.RKey = from.peer.addrs[0], from.peer.rkeys[0]
	}
	if (op == hv.WRSend || op == hv.WRRDMAWriteImm) && size <= c.inlineSize {
		wr.Flags |= hv.SendInline
	}
	if c.conn == "UD" {
		wr.AH, wr.RemoteQPN, wr.RemoteQKey = from.ahs[0].Engine(), from.peer.qpns[0], from.peer.qkey
	}
	return wr
}

// latPost posts side s's message and counts it.
func (env *perfEnv) latPost(s *perfSide, size int) error {
	m := env.latMsgs(s, size)
	if _, err := s.qps[0].PostSend(m.send); err != nil {
		return fmt.Errorf("perf: post send: %w", err)
	}
	st := &s.stats
	st.postCalls.Add(1)
	st.sendWRs.Add(1)
	if m.send[0].Flags&hv.SendInline != 0 {
		st.inlineWRs.Add(1)
	}
	st.maxList.CompareAndSwap(0, 1)
	return nil
}

// latRecv posts one receive for a latency message.
func (env *perfEnv) latRecv(s *perfSide, size int) error {
	if s.srq != nil {
		_, err := s.srq.PostRecv(env.latMsgs(s, size).recv)
		return err
	}
	_, err := s.qps[0].PostRecv(env.latMsgs(s, size).recv)
	return err
}

// perfLatMsgs are the work requests side s of a latency test posts for
// messages of size bytes, made once per size as perftest prepares its
// (ctx_set_send_wqes, ctx_set_recv_wqes): the message and the receive.
type perfLatMsgs struct {
	size int
	send []verbs.SendWR
	recv []verbs.RecvWR
}

// latMsgs returns side s's work requests for size, made on first use.
func (env *perfEnv) latMsgs(s *perfSide, size int) *perfLatMsgs {
	if m := s.lat; m != nil && m.size == size {
		return m
	}
	grh := 0
	if env.c.conn == "UD" {
		grh = hv.GRHBytes
	}
	s.lat = &perfLatMsgs{size: size, send: []verbs.SendWR{env.latMsg(s, size)},
		recv: []verbs.RecvWR{{SGL: []verbs.SGE{s.mrs[0].SGE(0, size+grh)}}}}
	return s.lat
}

// exchange waits for the completions one side of an exchange expects
// (its receive, its send, or both, in any order), clearing *recv and
// *send as they come. Under HoldClock the virtual clock stays held while
// the host reacts, until its next poll finds the CQ empty: after it
// posted its answer. If stop is done while the side waits it returns
// errPeerStopped.
func (env *perfEnv) exchange(ctx context.Context, s *perfSide, recv, send *bool, stop *perfStop) error {
	var wc [2]verbs.WC
	for *recv || *send {
		var n int
		var err error
		if stop != nil {
			w := lazyWait(ctx, stop.ctx, 0)
			n, err = env.waitCQ(w, s, wc[:])
			w.release()
		} else {
			n, err = env.waitCQ(ctx, s, wc[:])
		}
		if err != nil {
			if stop != nil && ctx.Err() == nil && stop.ctx.Err() != nil {
				return errPeerStopped
			}
			return err
		}
		for _, w := range wc[:n] {
			if err := checkWC(&w); err != nil {
				return err
			}
			switch {
			case w.Opcode >= hv.WCRecv && *recv:
				*recv = false
			case w.Opcode < hv.WCRecv && *send:
				*send = false
			default:
				return fmt.Errorf("perf: unexpected completion of wr %d", w.WRID)
			}
		}
	}
	return nil
}

// latResponder is the server side of a ping-pong: it answers each
// message once it has arrived, as many as the client sends (its -n, or
// in duration mode what stop reports). Its first receive is posted
// already.
func (env *perfEnv) latResponder(ctx context.Context, sv *perfSide, size int, stop *perfStop) error {
	defer env.settle(sv)
	defer drain(sv.cq)
	total := env.c.iters
	pending := false // the last answer's completion
	for i := 0; total == 0 || i < total; {
		recv := true
		err := env.exchange(ctx, sv, &recv, &pending, stop)
		if errors.Is(err, errPeerStopped) {
			t, _ := stop.get()
			if t == nil {
				return errors.New("perf: the peer side failed")
			}
			total, stop = t[0], nil
			continue
		}
		if err != nil {
			return err
		}
		if total == 0 || i+1 < total {
			if err := env.latRecv(sv, size); err != nil {
				return err
			}
		}
		if err := env.latencyGap(ctx, sv); err != nil {
			return err
		}
		if err := env.latPost(sv, size); err != nil {
			return err
		}
		pending = true
		i++
	}
	recv := false
	return env.exchange(ctx, sv, &recv, &pending, nil)
}

// latency runs one size of a *_lat test.
func (env *perfEnv) latency(ctx context.Context, size int) error {
	c := env.c
	cl, sv := env.client, env.server
	defer env.settle(cl)
	var samples []float64
	var start, sampleStart, sampleEnd, stopAt time.Time
	inWindow := 0
	var cpu *cpuSampler
	if c.cpuUtil {
		cpu = &cpuSampler{}
	}
	timed := func(t time.Time) bool { // duration mode: counts t, reports whether to stop
		cpu.observe(t, sampleStart, sampleEnd)
		if !t.Before(sampleStart) && t.Before(sampleEnd) {
			inWindow++
		}
		return !t.Before(stopAt)
	}
	begin := func() {
		start = env.now()
		sampleStart = start.Add(time.Duration(c.margin * float64(time.Second)))
		sampleEnd = start.Add(time.Duration((c.duration - c.margin) * float64(time.Second)))
		stopAt = start.Add(time.Duration(c.duration * float64(time.Second)))
	}
	rtt := 2.0
	if v := perfVerb(c.test); v == "read" || v == "atomic" {
		rtt = 1
		if env.oob != nil {
			if err := env.oob.begin(size); err != nil {
				return err
			}
		}
		begin()
		for i := 0; c.duration > 0 || i < c.iters; i++ {
			t0 := env.now()
			if err := env.latencyGap(ctx, cl); err != nil {
				return err
			}
			if err := env.latPost(cl, size); err != nil {
				return err
			}
			send, recv := true, false
			if err := env.exchange(ctx, cl, &recv, &send, nil); err != nil {
				return err
			}
			t1 := env.now()
			if c.duration > 0 {
				if timed(t1) {
					break
				}
				continue
			}
			samples = append(samples, float64(t1.Sub(t0))/1e3)
		}
	} else {
		// Ping-pong: the time from posting to the peer's answer arriving,
		// halved. Each side's send completes after its ACK, which may come
		// before or after the answer; both are collected before the next
		// round. Both first receives are posted before anything is sent,
		// so no RNR NAK waits for a goroutine to start.
		stop := newPerfStop()
		serverErr := make(chan error, 1)
		if sv != nil {
			if err := env.latRecv(sv, size); err != nil {
				return err
			}
			go func() { serverErr <- env.latResponder(ctx, sv, size, stop) }()
		} else {
			serverErr <- nil
			// The server process posts its first receive before it
			// answers ready.
			if err := env.oob.begin(size); err != nil {
				return err
			}
		}
		if err := env.latRecv(cl, size); err != nil {
			stop.finish(nil)
			return err
		}
		begin()
		n := 0
		err := func() error {
			for c.duration > 0 || n < c.iters {
				t0 := env.now()
				if err := env.latencyGap(ctx, cl); err != nil {
					return err
				}
				if err := env.latPost(cl, size); err != nil {
					return err
				}
				n++
				recv, send := true, true
				if err := env.exchange(ctx, cl, &recv, &send, nil); err != nil {
					return err
				}
				t1 := env.now()
				if c.duration > 0 {
					if timed(t1) {
						return nil
					}
				} else {
					samples = append(samples, float64(t1.Sub(t0))/2e3)
					if n == c.iters {
						return nil
					}
				}
				if err := env.latRecv(cl, size); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			stop.finish(nil)
			<-serverErr
			return err
		}
		stop.finish([]int{n})
		drain(cl.cq) // give back the clock: the server waits for its last ACK
		if err := <-serverErr; err != nil {
			return err
		}
		if env.oob != nil {
			if _, err := env.oob.end(stop.totals); err != nil {
				return err
			}
			env.latReport(size, samples, inWindow, sampleEnd.Sub(sampleStart), rtt, cpu.util())
			return nil
		}
	}
	if env.oob != nil {
		if _, err := env.oob.end(nil); err != nil {
			return err
		}
	}
	drain(cl.cq)
	env.latReport(size, samples, inWindow, sampleEnd.Sub(sampleStart), rtt, cpu.util())
	return nil
}

// latReport prints a latency row: the summary of the samples (µs), -U
// and -H's sample lists before it; in duration mode the average and rate
// of the n iterations of the sample window.
func (env *perfEnv) latReport(size int, samples []float64, n int, window time.Duration, rtt, cpuUtil float64) {
	c, w := env.c, env.c.out
	if c.duration > 0 {
		var lat, tps float64
		if n > 0 {
			lat = float64(window) / 1e3 / rtt / float64(n)
			tps = float64(n) / window.Seconds()
		}
		env.latJSON([]jsonField{{"MsgSize", size}, {"n_iterations", n}, {"t_avg", round2(lat)}, {"tps_average", round2(tps)}})
		if c.output == "latency" {
			fmt.Fprintf(w, "%f\n", lat)
			return
		}
		fmt.Fprintf(w, " %-7d       %d            %-7.2f        %-7.2f", size, n, lat, tps)
		env.cpuUtilCell(cpuUtil)
		env.printCounters(env.client)
		return
	}
	list := func() {
		fmt.Fprintln(w, "#, usec")
		for i, s := range samples {
			fmt.Fprintf(w, "%d, %g\n", i+1, s)
		}
	}
	if c.unsorted {
		list()
	}
	samples = slices.Clone(samples)
	slices.Sort(samples)
	if c.histogram {
		list()
	}
	var sum, sq float64
	for _, s := range samples {
		sum += s
	}
	avg := sum / float64(len(samples))
	for _, s := range samples {
		sq += (s - avg) * (s - avg)
	}
	pct := func(p float64) float64 {
		return samples[min(len(samples)-1, int(math.Ceil(p*float64(len(samples))))-1)]
	}
	stdev := math.Sqrt(sq / float64(len(samples)))
	env.latJSON([]jsonField{{"MsgSize", size}, {"n_iterations", c.iters}, {"t_min", round2(samples[0])},
		{"t_max", round2(samples[len(samples)-1])}, {"t_typical", round2(samples[len(samples)/2])}, {"t_avg", round2(avg)},
		{"t_stdev", round2(stdev)}, {"percentile_99", round2(pct(0.99))}, {"percentile_99.9", round2(pct(0.999))}})
	if c.output == "latency" {
		fmt.Fprintf(w, "%f\n", avg)
		return
	}
	if c.unsorted || c.histogram {
		fmt.Fprintln(w, "---------------------------------------------------------------------------------------")
		env.tableHeader()
	}
	fmt.Fprintf(w, " %-7d %-7d          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f\t\t%-7.2f \t\t%-7.2f\n",
		size, c.iters, samples[0], samples[len(samples)-1], samples[len(samples)/2], avg, stdev, pct(0.99), pct(0.999))
	env.printCounters(env.client)
}

// latencyGap is --latency_gap: side s waits before its next send, as
// perftest spins before each post. Under the virtual clock the wait is
// the fabric's time: the side first polls its CQ, empty by now, which
// lets the clock go (HoldClock), then sleeps on the clock. Under the
// wall clock it spins, as perftest does.
func (env *perfEnv) latencyGap(ctx context.Context, s *perfSide) error {
	g := time.Duration(env.c.latencyGap) * time.Microsecond
	if g <= 0 {
		return nil
	}
	if env.c.wall {
		for start := time.Now(); time.Since(start) < g; {
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	}
	var wc [1]verbs.WC
	if n, err := s.cq.Poll(wc[:]); err != nil {
		return err
	} else if n > 0 {
		return fmt.Errorf("perf: unexpected completion of wr %d before the latency gap", wc[0].WRID)
	}
	if err := sleepOn(ctx, env.emu.Clock(), g); err != nil {
		return fmt.Errorf("perf: latency gap: %w", err)
	}
	return nil
}
