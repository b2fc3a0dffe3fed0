package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/verbs"
)

// perfTests are the perftest programs ibemu perf runs (ib_write_bw, ...).
var perfTests = map[string]struct {
	title string
	lat   bool
	op    hv.WROpcode
}{
	"write_bw":  {"RDMA_Write BW Test", false, hv.WRRDMAWrite},
	"read_bw":   {"RDMA_Read BW Test", false, hv.WRRDMARead},
	"send_bw":   {"Send BW Test", false, hv.WRSend},
	"atomic_bw": {"Atomic FETCH_AND_ADD BW Test", false, hv.WRAtomicFetchAndAdd},
	"write_lat": {"RDMA_Write Latency Test", true, hv.WRRDMAWriteImm},
	"send_lat":  {"Send Latency Test", true, hv.WRSend},
	"read_lat":  {"RDMA_Read Latency Test", true, hv.WRRDMARead},
}

type perfConfig struct {
	test    string
	size    int
	iters   int
	all     bool
	qps     int
	gbits   bool
	mtu     int
	txDepth int
	cqMod   int
	conn    string
	wall    bool
	capture string
	out     io.Writer
}

// runPerf implements `ibemu perf TEST`: perftest's bandwidth and latency
// tests between two HCAs of an in-process fabric (one switch), with
// perftest's flags and table layout. Times are the fabric's virtual time
// (what the emulated 4x QDR hardware takes) unless --wall asks for the
// emulator's own wall-clock speed.
func runPerf(stdout, stderr io.Writer, args []string) error {
	names := make([]string, 0, len(perfTests))
	for n := range perfTests {
		names = append(names, n)
	}
	slices.Sort(names)
	fs := newFlagSet("perf", stderr, "perf "+strings.Join(names, "|")+" [-s SIZE] [-n ITERS] [-a] [-q QPS] [--report_gbits] [-m MTU] [-t DEPTH] [-c RC|UC|UD] [--wall] [--capture FILE]")
	c := perfConfig{out: stdout}
	fs.IntVar(&c.size, "s", 0, "message size in bytes (default 65536 for bandwidth, 2 for latency, 8 for atomics)")
	fs.IntVar(&c.iters, "n", -1, "iterations per size and QP (default 5000 for bandwidth, 1000 for latency)")
	fs.BoolVar(&c.all, "a", false, "run all sizes from 2 to 2^23 bytes")
	fs.IntVar(&c.qps, "q", 1, "number of QPs (bandwidth tests)")
	fs.BoolVar(&c.gbits, "report_gbits", false, "report bandwidth in Gb/sec instead of MB/sec")
	fs.IntVar(&c.mtu, "m", 4096, "path MTU: 256, 512, 1024, 2048 or 4096")
	fs.IntVar(&c.txDepth, "t", 128, "send queue depth")
	fs.IntVar(&c.cqMod, "Q", 100, "completion moderation: signal one send in this many")
	fs.StringVar(&c.conn, "c", "RC", "connection type: RC, UC or UD")
	fs.BoolVar(&c.wall, "wall", false, "measure the emulator's wall-clock time instead of the fabric's virtual time")
	fs.StringVar(&c.capture, "capture", "", "write every frame to this ERF pcap file")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: name one test: %s", errUsage, strings.Join(names, ", "))
	}
	c.test = pos[0]
	if err := c.validate(); err != nil {
		return err
	}
	env, err := newPerfEnv(&c)
	if err != nil {
		return err
	}
	defer env.close()
	return env.run()
}

func (c *perfConfig) validate() error {
	t, ok := perfTests[c.test]
	if !ok {
		return fmt.Errorf("%w: unknown test %q", errUsage, c.test)
	}
	mtu := map[int]wire.MTU{256: wire.MTU256, 512: wire.MTU512, 1024: wire.MTU1024, 2048: wire.MTU2048, 4096: wire.MTU4096}
	if _, ok := mtu[c.mtu]; !ok {
		return fmt.Errorf("%w: -m %d: the MTU is 256, 512, 1024, 2048 or 4096", errUsage, c.mtu)
	}
	if c.size == 0 {
		c.size = 65536
		if t.lat {
			c.size = 2
		}
	}
	if t.op == hv.WRAtomicFetchAndAdd {
		if c.size != 8 && c.size != 65536 || c.all {
			return fmt.Errorf("%w: atomics move 8 bytes", errUsage)
		}
		c.size = 8
	}
	if c.iters == -1 {
		c.iters = 5000
		if t.lat {
			c.iters = 1000
		}
	}
	c.conn = strings.ToUpper(c.conn)
	switch {
	case c.size < 0 || c.size > 1<<30:
		return fmt.Errorf("%w: -s %d out of range", errUsage, c.size)
	case c.iters < 1:
		return fmt.Errorf("%w: -n %d: at least one iteration", errUsage, c.iters)
	case c.qps < 1 || c.qps > 256:
		return fmt.Errorf("%w: -q %d: 1 to 256 QPs", errUsage, c.qps)
	case c.txDepth < 1 || c.txDepth > 8192:
		return fmt.Errorf("%w: -t %d: 1 to 8192", errUsage, c.txDepth)
	case c.cqMod < 1:
		return fmt.Errorf("%w: -Q %d", errUsage, c.cqMod)
	case t.lat && c.qps != 1:
		return fmt.Errorf("%w: latency tests use one QP", errUsage)
	case c.conn != "RC" && c.conn != "UC" && c.conn != "UD":
		return fmt.Errorf("%w: -c %s: RC, UC or UD", errUsage, c.conn)
	case c.conn == "UC" && (t.op == hv.WRRDMARead || t.op.String() == "ATOMIC_FETCH_AND_ADD"):
		return fmt.Errorf("%w: %s needs RC", errUsage, c.test)
	case c.conn == "UD" && t.op != hv.WRSend:
		return fmt.Errorf("%w: UD runs only send_bw and send_lat", errUsage)
	case c.conn == "UD" && (c.size > c.mtu || c.all):
		return fmt.Errorf("%w: UD messages fit one MTU (%d bytes)", errUsage, c.mtu)
	}
	c.cqMod = min(c.cqMod, c.txDepth)
	return nil
}

// perfSide is one HCA's end of the test.
type perfSide struct {
	ctx  *verbs.Context
	pd   *verbs.PD
	cq   *verbs.CQ
	rcq  *verbs.CQ
	qps  []*verbs.QP
	bufs [][]byte
	mrs  []*verbs.MR
	ahs  []*verbs.AH
	lid  wire.LID
}

type perfEnv struct {
	c      *perfConfig
	fb     *fabric.Fabric
	cap    *capture.Writer
	client *perfSide
	server *perfSide
	bufLen int
}

func newPerfEnv(c *perfConfig) (*perfEnv, error) {
	rate, err := topology.ParseRate("4xQDR")
	if err != nil {
		return nil, err
	}
	t, err := topology.Line(1, 2, topology.WithRate(rate))
	if err != nil {
		return nil, err
	}
	eo := []emu.Option{emu.WithVirtualClock()}
	if c.wall {
		eo = []emu.Option{emu.WithWallClock()}
	}
	fb, err := fabric.Build(t, fabric.WithHCAProfile(hca.ProfileConnectX2QDR1p), fabric.WithEmuOptions(eo...))
	if err != nil {
		return nil, err
	}
	if err := verbs.ConfigureStatic(fb.Emu); err != nil {
		return nil, err
	}
	env := &perfEnv{c: c, fb: fb}
	if c.capture != "" {
		if env.cap, err = capture.Create(c.capture); err != nil {
			return nil, err
		}
		fb.Emu.AddTap(env.cap)
	}
	if err := fb.Start(context.Background()); err != nil {
		return nil, err
	}
	// The devices bind to their nodes in the fabric's first event.
	if err := fb.Emu.Do(func() {}); err != nil {
		return nil, err
	}
	env.bufLen = c.size
	if c.all {
		env.bufLen = 1 << 23
	}
	env.bufLen = max(env.bufLen, 8)
	if c.conn == "UD" {
		env.bufLen += hv.GRHBytes
	}
	if env.client, err = env.side(fb.HCAs[0].Device); err == nil {
		env.server, err = env.side(fb.HCAs[1].Device)
	}
	if err == nil {
		err = env.connect()
	}
	if err != nil {
		env.close()
		return nil, err
	}
	return env, nil
}

func (env *perfEnv) close() {
	env.fb.Stop()
	if env.cap != nil {
		env.cap.Close()
	}
}

func (env *perfEnv) side(d *hca.Device) (*perfSide, error) {
	c := env.c
	s := &perfSide{lid: d.SMA().Port(1).LID}
	var err error
	if s.ctx, err = verbs.Open(d); err != nil {
		return nil, err
	}
	if s.pd, err = s.ctx.AllocPD(); err != nil {
		return nil, err
	}
	// One CQ takes send and receive completions: under the virtual clock
	// completions hold the clock until polled (HoldClock), so the host's
	// own speed never shows in the measured (emulated) time, and a host
	// polling one CQ must not leave another one holding it.
	if s.cq, err = s.ctx.CreateCQ(c.txDepth*c.qps+c.qps*1024+1024, nil); err != nil {
		return nil, err
	}
	s.rcq = s.cq
	if !c.wall {
		s.cq.HoldClock()
	}
	typ := map[string]hv.QPType{"RC": hv.QPTypeRC, "UC": hv.QPTypeUC, "UD": hv.QPTypeUD}[c.conn]
	for range c.qps {
		buf := make([]byte, env.bufLen)
		mr, err := s.pd.RegMR(buf, hv.AccessLocalWrite|hv.AccessRemoteWrite|hv.AccessRemoteRead|hv.AccessRemoteAtomic)
		if err != nil {
			return nil, err
		}
		qp, err := s.pd.CreateQP(verbs.QPInitAttr{SendCQ: s.cq, RecvCQ: s.rcq, QPType: typ,
			Cap: verbs.QPCap{MaxSendWR: uint32(c.txDepth), MaxRecvWR: 1024, MaxSendSGE: 1, MaxRecvSGE: 1}})
		if err != nil {
			return nil, err
		}
		s.bufs, s.mrs, s.qps = append(s.bufs, buf), append(s.mrs, mr), append(s.qps, qp)
	}
	return s, nil
}

const perfPSN = 0x5a5a5

// connect moves every QP pair to RTS, each aimed at its peer (what
// perftest exchanges over its Ethernet side channel).
func (env *perfEnv) connect() error {
	c := env.c
	mtu := map[int]wire.MTU{256: wire.MTU256, 512: wire.MTU512, 1024: wire.MTU1024, 2048: wire.MTU2048, 4096: wire.MTU4096}[c.mtu]
	for _, pair := range [][2]*perfSide{{env.client, env.server}, {env.server, env.client}} {
		x, y := pair[0], pair[1]
		for i, qp := range x.qps {
			if c.conn == "UD" {
				if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateInit, PortNum: 1, QKey: 0x11111111}, hv.AttrState|hv.AttrPort|hv.AttrPKeyIndex|hv.AttrQKey); err != nil {
					return err
				}
				if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateRTR}, hv.AttrState); err != nil {
					return err
				}
				if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: perfPSN}, hv.AttrState|hv.AttrSQPSN); err != nil {
					return err
				}
				ah, err := x.pd.CreateAH(verbs.AHAttr{DLID: y.lid, PortNum: 1})
				if err != nil {
					return err
				}
				x.ahs = append(x.ahs, ah)
				continue
			}
			acc := hv.AccessRemoteWrite | hv.AccessRemoteRead | hv.AccessRemoteAtomic
			if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateInit, PortNum: 1, QPAccessFlags: acc}, hv.AttrState|hv.AttrPort|hv.AttrPKeyIndex|hv.AttrAccessFlags); err != nil {
				return err
			}
			rtr := verbs.QPAttr{QPState: hv.QPStateRTR, PathMTU: mtu, DestQPNum: y.qps[i].Num(), RQPSN: perfPSN,
				MaxDestRdAtomic: 16, MinRNRTimer: 12, AHAttr: verbs.AHAttr{DLID: y.lid, PortNum: 1}}
			mask := hv.AttrState | hv.AttrAV | hv.AttrPathMTU | hv.AttrDestQPN | hv.AttrRQPSN
			if c.conn == "RC" {
				mask |= hv.AttrMaxDestRdAtomic | hv.AttrMinRNRTimer
			}
			if err := qp.Modify(&rtr, mask); err != nil {
				return err
			}
			rts := verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: perfPSN, Timeout: 14, RetryCnt: 7, RNRRetry: 7, MaxRdAtomic: 16}
			mask = hv.AttrState | hv.AttrSQPSN
			if c.conn == "RC" {
				mask |= hv.AttrTimeout | hv.AttrRetryCnt | hv.AttrRNRRetry | hv.AttrMaxQPRdAtomic
			}
			if err := qp.Modify(&rts, mask); err != nil {
				return err
			}
		}
	}
	return nil
}

// now is the measuring clock: the fabric's (virtual) time, or the wall.
func (env *perfEnv) now() time.Time {
	if env.c.wall {
		return time.Now()
	}
	return env.fb.Emu.Now()
}

func (env *perfEnv) sizes() []int {
	if !env.c.all {
		return []int{env.c.size}
	}
	var s []int
	for n := 2; n <= 1<<23; n *= 2 {
		s = append(s, n)
	}
	return s
}

func (env *perfEnv) header() {
	c, w := env.c, env.c.out
	t := perfTests[c.test]
	line := strings.Repeat("-", 87)
	fmt.Fprintln(w, line)
	fmt.Fprintf(w, "                    %s\n", t.title)
	fmt.Fprintf(w, " Dual-port       : OFF\t\tDevice         : %s\n", env.fb.HCAs[0].Device.Profile().Name)
	fmt.Fprintf(w, " Number of qps   : %d\t\tTransport type : IB\n", c.qps)
	fmt.Fprintf(w, " Connection type : %s\t\tUsing SRQ      : OFF\n", c.conn)
	if !t.lat {
		fmt.Fprintf(w, " TX depth        : %d\n", c.txDepth)
		fmt.Fprintf(w, " CQ Moderation   : %d\n", c.cqMod)
	}
	fmt.Fprintf(w, " Mtu             : %d[B]\n", c.mtu)
	fmt.Fprintf(w, " Link type       : IB\n")
	clock := "virtual (emulated hardware time)"
	if c.wall {
		clock = "wall (emulator speed)"
	}
	fmt.Fprintf(w, " Clock           : %s\n", clock)
	fmt.Fprintln(w, line)
	for i, qp := range env.client.qps {
		fmt.Fprintf(w, " local address: LID %#04x QPN %#06x PSN %#06x RKey %#08x VAddr %#016x\n",
			uint16(env.client.lid), qp.Num(), perfPSN, env.client.mrs[i].RKey(), env.client.mrs[i].Addr())
	}
	for i, qp := range env.server.qps {
		fmt.Fprintf(w, " remote address: LID %#04x QPN %#06x PSN %#06x RKey %#08x VAddr %#016x\n",
			uint16(env.server.lid), qp.Num(), perfPSN, env.server.mrs[i].RKey(), env.server.mrs[i].Addr())
	}
	fmt.Fprintln(w, line)
	if t.lat {
		fmt.Fprintln(w, " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] ")
		return
	}
	unit := "MB/sec"
	if c.gbits {
		unit = "Gb/sec"
	}
	fmt.Fprintf(w, " #bytes     #iterations    BW peak[%s]    BW average[%s]   MsgRate[Mpps]\n", unit, unit)
}

func (env *perfEnv) run() error {
	env.header()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for _, size := range env.sizes() {
		var err error
		if perfTests[env.c.test].lat {
			err = env.latency(ctx, size)
		} else {
			err = env.bandwidth(ctx, size)
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintln(env.c.out, strings.Repeat("-", 87))
	if os.Getenv("IBEMU_PERF_DEBUG") != "" {
		for _, s := range []*perfSide{env.client, env.server} {
			st := s.ctx.Stats()
			fmt.Fprintf(env.c.out, " lid %d: sent %d recv %d retransmits %d timeouts %d rnr naks %d duplicates %d out of sequence %d\n",
				s.lid, st.SentPackets.Load(), st.RecvPackets.Load(), st.Retransmits.Load(), st.Timeouts.Load(), st.RNRNAKs.Load(), st.Duplicates.Load(), st.OutOfSequence.Load())
		}
	}
	return nil
}

// pollWait waits for completions on cq: it polls, then sleeps until the
// engine adds one, for at most 10 s of wall time.
func pollWait(ctx context.Context, cq *verbs.CQ, wc []verbs.WC) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := cq.PollWait(ctx, wc)
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		return 0, fmt.Errorf("perf: no completion for 10 s: %w", err)
	}
	return n, err
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
		return fmt.Errorf("perf: completion of wr %d: %s (%s)", wc.WRID, wc.Status, wcOp(wc.Opcode))
	}
	return nil
}

func wcOp(o hv.WCOpcode) string { return fmt.Sprintf("opcode %d", o) }

// bandwidth runs one size of a *_bw test: the client keeps tx depth
// messages in flight on every QP; every cqMod-th is signaled.
func (env *perfEnv) bandwidth(ctx context.Context, size int) error {
	c := env.c
	op := perfTests[c.test].op
	cl, sv := env.client, env.server
	serverErr := make(chan error, 1)
	clientDone := make(chan struct{})
	var once sync.Once
	finish := func() { once.Do(func() { close(clientDone) }) }
	defer finish()
	if op == hv.WRSend {
		run, err := env.sink(size)
		if err != nil {
			return err
		}
		go func() { serverErr <- run(ctx, clientDone) }()
	} else {
		serverErr <- nil
	}
	posted := make([]int, c.qps)
	completed := make([]int, c.qps)
	wrs := make([]verbs.SendWR, 0, 32)
	wc := make([]verbs.WC, 64)
	var stamps []time.Time
	var counts []int
	start := env.now()
	done := 0
	for done < c.qps {
		for q, qp := range cl.qps {
		batch:
			wrs = wrs[:0]
			for posted[q]-completed[q] < c.txDepth && posted[q] < c.iters && len(wrs) < cap(wrs) {
				i := posted[q]
				wr := verbs.SendWR{WRID: uint64(q)<<32 | uint64(i), Opcode: op, SGL: []verbs.SGE{cl.mrs[q].SGE(0, size)}}
				if (i+1)%c.cqMod == 0 || i+1 == c.iters {
					wr.Flags = hv.SendSignaled
				}
				switch op {
				case hv.WRRDMAWrite, hv.WRRDMARead:
					wr.RemoteAddr, wr.RKey = sv.mrs[q].Addr(), sv.mrs[q].RKey()
				case hv.WRAtomicFetchAndAdd:
					wr.RemoteAddr, wr.RKey, wr.CompareAdd = sv.mrs[q].Addr(), sv.mrs[q].RKey(), 1
				}
				if c.conn == "UD" {
					wr.AH, wr.RemoteQPN, wr.RemoteQKey = cl.ahs[q].Engine(), sv.qps[q].Num(), 0x11111111
				}
				wrs = append(wrs, wr)
				posted[q]++
			}
			if len(wrs) > 0 {
				if n, err := qp.PostSend(wrs); err != nil {
					return fmt.Errorf("perf: post send: %w", err)
				} else if n != len(wrs) {
					return fmt.Errorf("perf: post send: %d of %d posted", n, len(wrs))
				}
				goto batch
			}
		}
		n, err := pollWait(ctx, cl.cq, wc)
		if err != nil {
			return fmt.Errorf("%w (%s; peer %s)", err, cl.qps[0].Debug(), sv.qps[0].Debug())
		}
		now := env.now()
		got := 0
		for _, w := range wc[:n] {
			if err := checkWC(&w); err != nil {
				return err
			}
			q, i := int(w.WRID>>32), int(uint32(w.WRID))
			got += i + 1 - completed[q]
			completed[q] = i + 1
			if completed[q] == c.iters {
				done++
			}
		}
		stamps, counts = append(stamps, now), append(counts, got)
	}
	end := env.now()
	drain(cl.cq)
	finish()
	if err := <-serverErr; err != nil {
		return err
	}
	total := c.iters * c.qps
	secs := end.Sub(start).Seconds()
	avg := float64(total) * float64(size) / secs
	peak := avg
	// Peak: the best rate over any run of completions covering at least a
	// quarter of the messages (perftest's per-burst peak, smoothed: the
	// host notes completion times when it polls, not when they happen).
	win := max(total/4, 1)
	for i, j, acc := 0, 0, 0; j < len(stamps); j++ {
		acc += counts[j]
		for i < j && acc-counts[i] >= win {
			acc -= counts[i]
			i++
		}
		if acc >= win && i > 0 {
			if d := stamps[j].Sub(stamps[i-1]).Seconds(); d > 0 {
				peak = max(peak, float64(acc)*float64(size)/d)
			}
		}
	}
	conv := func(bps float64) float64 {
		if c.gbits {
			return bps * 8 / 1e9
		}
		return bps / (1 << 20)
	}
	fmt.Fprintf(c.out, " %-7d    %-10d       %-7.2f            %-7.2f\t\t   %-7.6f\n",
		size, c.iters, conv(peak), conv(avg), float64(total)/secs/1e6)
	return nil
}

// sink is the send_bw server: it posts the first receives at once (before
// the client sends) and returns the loop that keeps receives posted and
// counts arrivals until every QP has its messages. UD drops what finds no
// receive posted, so over UD the loop also ends once the client is done
// and nothing more arrives.
func (env *perfEnv) sink(size int) (func(context.Context, <-chan struct{}) error, error) {
	c := env.c
	sv := env.server
	got := make([]int, c.qps)
	postedRecv := make([]int, c.qps)
	idx := map[uint32]int{}
	for q, qp := range sv.qps {
		idx[qp.Num()] = q
	}
	grh := 0
	if c.conn == "UD" {
		grh = hv.GRHBytes
	}
	post := func(q int) error {
		var wrs []verbs.RecvWR
		for postedRecv[q]-got[q] < 1024 && postedRecv[q] < c.iters {
			wrs = append(wrs, verbs.RecvWR{WRID: uint64(postedRecv[q]), SGL: []verbs.SGE{sv.mrs[q].SGE(0, size+grh)}})
			postedRecv[q]++
		}
		if len(wrs) == 0 {
			return nil
		}
		_, err := sv.qps[q].PostRecv(wrs)
		return err
	}
	for q := range sv.qps {
		if err := post(q); err != nil {
			return nil, err
		}
	}
	return func(ctx context.Context, clientDone <-chan struct{}) error {
		wc := make([]verbs.WC, 256)
		done := 0
		defer drain(sv.rcq)
		for done < c.qps {
			var n int
			var err error
			select {
			case <-clientDone:
				if c.conn != "UD" {
					n, err = pollWait(ctx, sv.rcq, wc)
					break
				}
				qctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				n, err = sv.rcq.PollWait(qctx, wc)
				cancel()
				if err != nil && ctx.Err() == nil {
					return nil // the rest of the datagrams was dropped
				}
			default:
				n, err = pollWait(ctx, sv.rcq, wc)
			}
			if err != nil {
				return err
			}
			for _, w := range wc[:n] {
				if err := checkWC(&w); err != nil {
					return err
				}
				q := idx[w.QPNum]
				got[q]++
				if got[q] == c.iters {
					done++
				}
			}
			for q := range sv.qps {
				if err := post(q); err != nil {
					return err
				}
			}
		}
		return nil
	}, nil
}

// latency runs one size of a *_lat test. write_lat and send_lat ping-pong
// and report half the round trip (write_lat uses RDMA WRITE with
// immediate so the receiver learns of the arrival from its CQ); read_lat
// reports the whole READ.
func (env *perfEnv) latency(ctx context.Context, size int) error {
	c := env.c
	op := perfTests[c.test].op
	cl, sv := env.client, env.server
	samples := make([]float64, 0, c.iters)
	grh := 0
	if c.conn == "UD" {
		grh = hv.GRHBytes
	}
	msg := func(from, to *perfSide) verbs.SendWR {
		wr := verbs.SendWR{Opcode: op, Flags: hv.SendSignaled, SGL: []verbs.SGE{from.mrs[0].SGE(0, size)}}
		if op != hv.WRSend {
			wr.RemoteAddr, wr.RKey = to.mrs[0].Addr(), to.mrs[0].RKey()
		}
		if c.conn == "UD" {
			wr.AH, wr.RemoteQPN, wr.RemoteQKey = from.ahs[0].Engine(), to.qps[0].Num(), 0x11111111
		}
		return wr
	}
	recv := func(s *perfSide) error {
		_, err := s.qps[0].PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{s.mrs[0].SGE(0, size+grh)}}})
		return err
	}
	// exchange waits for the completions one side of an exchange expects
	// (its receive, its send, or both, in any order). Under HoldClock the
	// virtual clock stays held while the host reacts, until its next poll
	// finds the CQ empty: after it posted its answer.
	exchange := func(s *perfSide, recv, send bool) error {
		var wc [2]verbs.WC
		for recv || send {
			n, err := pollWait(ctx, s.cq, wc[:])
			if err != nil {
				return err
			}
			for _, w := range wc[:n] {
				if err := checkWC(&w); err != nil {
					return err
				}
				switch {
				case w.Opcode >= hv.WCRecv && recv:
					recv = false
				case w.Opcode < hv.WCRecv && send:
					send = false
				default:
					return fmt.Errorf("perf: unexpected completion of wr %d", w.WRID)
				}
			}
		}
		return nil
	}
	if op == hv.WRRDMARead {
		for range c.iters {
			t0 := env.now()
			if _, err := cl.qps[0].PostSend([]verbs.SendWR{msg(cl, sv)}); err != nil {
				return err
			}
			var wc [1]verbs.WC
			if _, err := pollWait(ctx, cl.cq, wc[:]); err != nil {
				return err
			}
			if err := checkWC(&wc[0]); err != nil {
				return err
			}
			samples = append(samples, float64(env.now().Sub(t0))/1e3)
			drain(cl.cq)
		}
	} else {
		// Ping-pong: the time from posting to the peer's answer arriving,
		// halved. Each side's send completes after its ACK, which may come
		// before or after the answer; both are collected before the next
		// round.
		// Both first receives are posted before anything is sent, so no
		// RNR NAK waits for a goroutine to start.
		if err := recv(sv); err != nil {
			return err
		}
		serverErr := make(chan error, 1)
		go func() {
			defer drain(sv.cq)
			serverErr <- func() error {
				for i := range c.iters {
					if err := exchange(sv, true, i > 0); err != nil {
						return err
					}
					if i+1 < c.iters {
						if err := recv(sv); err != nil {
							return err
						}
					}
					if _, err := sv.qps[0].PostSend([]verbs.SendWR{msg(sv, cl)}); err != nil {
						return err
					}
				}
				return exchange(sv, false, true)
			}()
		}()
		if err := recv(cl); err != nil {
			return err
		}
		for i := range c.iters {
			t0 := env.now()
			if _, err := cl.qps[0].PostSend([]verbs.SendWR{msg(cl, sv)}); err != nil {
				return err
			}
			var wc [1]verbs.WC
			if _, err := pollWait(ctx, cl.cq, wc[:]); err != nil {
				return err
			}
			if err := checkWC(&wc[0]); err != nil {
				return err
			}
			if wc[0].Opcode >= hv.WCRecv {
				samples = append(samples, float64(env.now().Sub(t0))/2e3)
				if err := exchange(cl, false, true); err != nil {
					return err
				}
			} else {
				if err := exchange(cl, true, false); err != nil {
					return err
				}
				samples = append(samples, float64(env.now().Sub(t0))/2e3)
			}
			if i+1 < c.iters {
				if err := recv(cl); err != nil {
					return err
				}
			}
		}
		drain(cl.cq) // give back the clock: the server waits for its last ACK
		if err := <-serverErr; err != nil {
			return err
		}
	}
	drain(cl.cq)
	slices.Sort(samples)
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
	fmt.Fprintf(c.out, " %-7d %-7d          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f\t\t%-7.2f \t\t%-7.2f\n",
		size, c.iters, samples[0], samples[len(samples)-1], samples[len(samples)/2], avg, math.Sqrt(sq/float64(len(samples))), pct(0.99), pct(0.999))
	return nil
}
