package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/attach"
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

	// Two processes (DATAPATH.md): this side attaches to node attach of
	// a running ibemu serve and meets its peer over TCP on 127.0.0.1:port.
	attach   string
	server   bool
	connect  string
	port     int
	sockName string
	dpAddr   string
	timeout  time.Duration
}

// runPerf implements `ibemu perf TEST`: perftest's bandwidth and latency
// tests between two HCAs of an in-process fabric (one switch), with
// perftest's flags and table layout. Times are the fabric's virtual time
// (what the emulated 4x QDR hardware takes) unless --wall asks for the
// emulator's own wall-clock speed. With --attach the two sides run in two
// processes on a fabric served by `ibemu serve` (runPerfAttached).
func runPerf(stdout, stderr io.Writer, args []string) error {
	names := make([]string, 0, len(perfTests))
	for n := range perfTests {
		names = append(names, n)
	}
	slices.Sort(names)
	fs := newFlagSet("perf", stderr, "perf "+strings.Join(names, "|")+" [-s SIZE] [-n ITERS] [-a] [-q QPS] [--report_gbits] [-m MTU] [-t DEPTH] [-c RC|UC|UD] [--wall] [--capture FILE]\n"+
		"       [--attach NODE (--server | --connect PEER) [-p PORT] [--sockname NAME | --attach-server HOST:PORT]]")
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
	fs.StringVar(&c.attach, "attach", "", "two processes: attach this side's own HCA to NODE (id, NodeDescription or GUID) of a running `ibemu serve`")
	fs.BoolVar(&c.server, "server", false, "with --attach: be the server side (wait for the client on 127.0.0.1:-p)")
	fs.StringVar(&c.connect, "connect", "", "with --attach: be the client side; PEER is the server side's node id or LID (checked)")
	fs.IntVar(&c.port, "p", 18515, "with --attach: TCP port on 127.0.0.1 of the out-of-band exchange (perftest's -p)")
	fs.StringVar(&c.sockName, "sockname", "", "with --attach: base name of the server's sockets (default $IBSIM_SOCKNAME, else sim)")
	fs.StringVar(&c.dpAddr, "attach-server", "", "with --attach: remote mode, the server's TCP data-path address HOST:PORT")
	fs.DurationVar(&c.timeout, "attach-wait", 30*time.Second, "with --attach: how long to wait for the server, an Active port and the peer")
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
	if c.attach != "" {
		return runPerfAttached(&c)
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
	switch {
	case c.attach == "" && (c.server || c.connect != "" || c.sockName != "" || c.dpAddr != ""):
		return fmt.Errorf("%w: --server, --connect, --sockname and --attach-server go with --attach", errUsage)
	case c.attach != "" && c.server == (c.connect != ""):
		return fmt.Errorf("%w: --attach needs --server or --connect PEER (one of them)", errUsage)
	case c.attach != "" && (c.port < 1 || c.port > 65535):
		return fmt.Errorf("%w: -p %d", errUsage, c.port)
	case c.attach != "":
		c.wall = true // two processes share no virtual clock
	}
	return nil
}

// perfSide is one HCA's end of the test.
type perfSide struct {
	dev  *hca.Device
	port int
	peer perfPeer
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

// perfPeer is what one side knows of the other's QPs (what perftest
// exchanges over its side channel).
type perfPeer struct {
	node  string
	lid   wire.LID
	qpns  []uint32
	rkeys []uint32
	addrs []uint64
}

// info describes s to its peer.
func (s *perfSide) info(node string) perfPeer {
	p := perfPeer{node: node, lid: s.lid}
	for i, qp := range s.qps {
		p.qpns, p.rkeys, p.addrs = append(p.qpns, qp.Num()), append(p.rkeys, s.mrs[i].RKey()), append(p.addrs, s.mrs[i].Addr())
	}
	return p
}

type perfEnv struct {
	c   *perfConfig
	fb  *fabric.Fabric
	emu *emu.Fabric
	cap *capture.Writer
	// client is this process's side (the one that posts the work);
	// server the other side when it runs in this process, else nil.
	client *perfSide
	server *perfSide
	bufLen int
	// oob is the out-of-band channel to the peer process (two processes).
	oob *perfOOB
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
	env := &perfEnv{c: c, fb: fb, emu: fb.Emu}
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
	env.setBufLen()
	if env.client, err = env.side(fb.HCAs[0].Device, 1); err == nil {
		env.server, err = env.side(fb.HCAs[1].Device, 1)
	}
	if err == nil {
		env.client.peer, env.server.peer = env.server.info(""), env.client.info("")
		err = env.connect()
	}
	if err != nil {
		env.close()
		return nil, err
	}
	return env, nil
}

// setBufLen sizes each QP's buffer for the largest message.
func (env *perfEnv) setBufLen() {
	c := env.c
	env.bufLen = c.size
	if c.all {
		env.bufLen = 1 << 23
	}
	env.bufLen = max(env.bufLen, 8)
	if c.conn == "UD" {
		env.bufLen += hv.GRHBytes
	}
}

func (env *perfEnv) close() {
	if env.fb != nil {
		env.fb.Stop()
	}
	if env.cap != nil {
		env.cap.Close()
	}
}

func (env *perfEnv) side(d *hca.Device, port int) (*perfSide, error) {
	c := env.c
	var lid wire.LID
	if err := d.Node().Fabric().Do(func() { lid = d.SMA().Port(port).LID }); err != nil {
		return nil, err
	}
	s := &perfSide{dev: d, port: port, lid: lid}
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
	for _, x := range []*perfSide{env.client, env.server} {
		if x == nil {
			continue
		}
		y, port := x.peer, uint8(x.port)
		for i, qp := range x.qps {
			if c.conn == "UD" {
				if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateInit, PortNum: port, QKey: 0x11111111}, hv.AttrState|hv.AttrPort|hv.AttrPKeyIndex|hv.AttrQKey); err != nil {
					return err
				}
				if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateRTR}, hv.AttrState); err != nil {
					return err
				}
				if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: perfPSN}, hv.AttrState|hv.AttrSQPSN); err != nil {
					return err
				}
				ah, err := x.pd.CreateAH(verbs.AHAttr{DLID: y.lid, PortNum: port})
				if err != nil {
					return err
				}
				x.ahs = append(x.ahs, ah)
				continue
			}
			acc := hv.AccessRemoteWrite | hv.AccessRemoteRead | hv.AccessRemoteAtomic
			if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateInit, PortNum: port, QPAccessFlags: acc}, hv.AttrState|hv.AttrPort|hv.AttrPKeyIndex|hv.AttrAccessFlags); err != nil {
				return err
			}
			rtr := verbs.QPAttr{QPState: hv.QPStateRTR, PathMTU: mtu, DestQPNum: y.qpns[i], RQPSN: perfPSN,
				MaxDestRdAtomic: 16, MinRNRTimer: 12, AHAttr: verbs.AHAttr{DLID: y.lid, PortNum: port}}
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
	return env.emu.Now()
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

// header prints perftest's preamble as side s sees the test.
func (env *perfEnv) header(s *perfSide) {
	c, w := env.c, env.c.out
	t := perfTests[c.test]
	line := strings.Repeat("-", 87)
	fmt.Fprintln(w, line)
	fmt.Fprintf(w, "                    %s\n", t.title)
	fmt.Fprintf(w, " Dual-port       : OFF\t\tDevice         : %s\n", s.dev.Profile().Name)
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
	for i, qp := range s.qps {
		fmt.Fprintf(w, " local address: LID %#04x QPN %#06x PSN %#06x RKey %#08x VAddr %#016x\n",
			uint16(s.lid), qp.Num(), perfPSN, s.mrs[i].RKey(), s.mrs[i].Addr())
	}
	peer := s.peer
	for i, qpn := range peer.qpns {
		fmt.Fprintf(w, " remote address: LID %#04x QPN %#06x PSN %#06x RKey %#08x VAddr %#016x\n",
			uint16(peer.lid), qpn, perfPSN, peer.rkeys[i], peer.addrs[i])
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
	env.header(env.client)
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
			if s == nil {
				continue
			}
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
	if op == hv.WRSend && sv != nil {
		run, err := env.sink(sv, size)
		if err != nil {
			return err
		}
		go func() { serverErr <- run(ctx, clientDone) }()
	} else {
		serverErr <- nil
	}
	if env.oob != nil {
		if err := env.oob.begin(size); err != nil {
			return err
		}
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
					wr.RemoteAddr, wr.RKey = cl.peer.addrs[q], cl.peer.rkeys[q]
				case hv.WRAtomicFetchAndAdd:
					wr.RemoteAddr, wr.RKey, wr.CompareAdd = cl.peer.addrs[q], cl.peer.rkeys[q], 1
				}
				if c.conn == "UD" {
					wr.AH, wr.RemoteQPN, wr.RemoteQKey = cl.ahs[q].Engine(), cl.peer.qpns[q], 0x11111111
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
			if sv == nil {
				return fmt.Errorf("%w (%s)", err, cl.qps[0].Debug())
			}
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
	if env.oob != nil {
		if err := env.oob.end(); err != nil {
			return err
		}
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
func (env *perfEnv) sink(sv *perfSide, size int) (func(context.Context, <-chan struct{}) error, error) {
	c := env.c
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

// latMsg is the work request one side of a latency test sends.
func (env *perfEnv) latMsg(from *perfSide, size int) verbs.SendWR {
	c := env.c
	op := perfTests[c.test].op
	wr := verbs.SendWR{Opcode: op, Flags: hv.SendSignaled, SGL: []verbs.SGE{from.mrs[0].SGE(0, size)}}
	if op != hv.WRSend {
		wr.RemoteAddr, wr.RKey = from.peer.addrs[0], from.peer.rkeys[0]
	}
	if c.conn == "UD" {
		wr.AH, wr.RemoteQPN, wr.RemoteQKey = from.ahs[0].Engine(), from.peer.qpns[0], 0x11111111
	}
	return wr
}

// latRecv posts one receive for a latency message.
func (env *perfEnv) latRecv(s *perfSide, size int) error {
	grh := 0
	if env.c.conn == "UD" {
		grh = hv.GRHBytes
	}
	_, err := s.qps[0].PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{s.mrs[0].SGE(0, size+grh)}}})
	return err
}

// exchange waits for the completions one side of an exchange expects
// (its receive, its send, or both, in any order). Under HoldClock the
// virtual clock stays held while the host reacts, until its next poll
// finds the CQ empty: after it posted its answer.
func exchange(ctx context.Context, s *perfSide, recv, send bool) error {
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

// latResponder is the server side of a ping-pong: it answers each
// message once it has arrived. Its first receive is posted already.
func (env *perfEnv) latResponder(ctx context.Context, sv *perfSide, size int) error {
	defer drain(sv.cq)
	for i := range env.c.iters {
		if err := exchange(ctx, sv, true, i > 0); err != nil {
			return err
		}
		if i+1 < env.c.iters {
			if err := env.latRecv(sv, size); err != nil {
				return err
			}
		}
		if _, err := sv.qps[0].PostSend([]verbs.SendWR{env.latMsg(sv, size)}); err != nil {
			return err
		}
	}
	return exchange(ctx, sv, false, true)
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
	if op == hv.WRRDMARead {
		if env.oob != nil {
			if err := env.oob.begin(size); err != nil {
				return err
			}
		}
		for range c.iters {
			t0 := env.now()
			if _, err := cl.qps[0].PostSend([]verbs.SendWR{env.latMsg(cl, size)}); err != nil {
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
		serverErr := make(chan error, 1)
		if sv != nil {
			if err := env.latRecv(sv, size); err != nil {
				return err
			}
			go func() { serverErr <- env.latResponder(ctx, sv, size) }()
		} else {
			serverErr <- nil
			// The server process posts its first receive before it
			// answers ready.
			if err := env.oob.begin(size); err != nil {
				return err
			}
		}
		if err := env.latRecv(cl, size); err != nil {
			return err
		}
		for i := range c.iters {
			t0 := env.now()
			if _, err := cl.qps[0].PostSend([]verbs.SendWR{env.latMsg(cl, size)}); err != nil {
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
				if err := exchange(ctx, cl, false, true); err != nil {
					return err
				}
			} else {
				if err := exchange(ctx, cl, true, false); err != nil {
					return err
				}
				samples = append(samples, float64(env.now().Sub(t0))/2e3)
			}
			if i+1 < c.iters {
				if err := env.latRecv(cl, size); err != nil {
					return err
				}
			}
		}
		drain(cl.cq) // give back the clock: the server waits for its last ACK
		if err := <-serverErr; err != nil {
			return err
		}
	}
	if env.oob != nil {
		if err := env.oob.end(); err != nil {
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

// runPerfAttached is ibemu perf in two processes, as perftest runs on two
// hosts: each process attaches its own HCA to a node of a running `ibemu
// serve` through the data path (stack/attach/DATAPATH.md), the two meet
// over TCP on 127.0.0.1 (-p) to check they run the same test and to
// exchange LID, QPN, PSN, rkey and address of every QP, and the RC/UC/UD
// traffic crosses the server's switches. The client (--connect) posts the
// work and prints the results; the server (--server) answers (receives
// for send tests, the other half of the ping-pong) and prints its header.
// Times are wall-clock: the two processes share no virtual clock.
func runPerfAttached(c *perfConfig) error {
	if os.Getenv("GOMAXPROCS") == "" {
		// As ibemu serve: the process's fabric runs on one event loop,
		// which the goroutine that reads the server's frames runs inline,
		// so a second P only spins and wakes threads. Measured with
		// .ci/bench-xproc.sh (interleaved, 2 cores): half the CPU of the
		// two perf processes and more bandwidth.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	ctx := context.Background()
	wctx, wcancel := context.WithTimeout(ctx, c.timeout)
	defer wcancel()
	h, err := attach.DialDataPath(wctx, attach.DataPathDialConfig{SockName: c.sockName, Server: c.dpAddr, Node: c.attach})
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.WaitActive(wctx); err != nil {
		return err
	}
	env := &perfEnv{c: c, emu: h.Fabric()}
	if c.capture != "" {
		if env.cap, err = capture.Create(c.capture); err != nil {
			return err
		}
		if err := h.Fabric().Do(func() { h.Fabric().AddTap(env.cap) }); err != nil {
			return err
		}
	}
	defer env.close()
	env.setBufLen()
	side, err := env.side(h.HCA(), h.Port())
	if err != nil {
		return err
	}
	if env.oob, err = dialPerfOOB(wctx, c); err != nil {
		return err
	}
	defer env.oob.close()
	if err := env.oob.agree(c); err != nil {
		return err
	}
	if side.peer, err = env.oob.swap(side.info(h.NodeID())); err != nil {
		return err
	}
	if c.server {
		env.server = side
	} else {
		env.client = side
		if err := checkPeer(c.connect, side.peer); err != nil {
			return err
		}
	}
	if err := env.connect(); err != nil {
		return err
	}
	if c.server {
		return env.serveAttached(ctx)
	}
	if err := env.run(); err != nil {
		return err
	}
	return env.oob.send("end")
}

// checkPeer checks that the server side is the node (id) or LID the
// client named.
func checkPeer(want string, p perfPeer) error {
	if want == p.node {
		return nil
	}
	if v, err := strconv.ParseUint(want, 0, 16); err == nil && wire.LID(v) == p.lid {
		return nil
	}
	return fmt.Errorf("perf: --connect %s: the server side is %s, lid %d", want, p.node, p.lid)
}

// serveAttached is the server process's side of the test: for every size
// the client announces it prepares (posts receives), answers ready, runs
// its part and reports when the client is done.
func (env *perfEnv) serveAttached(ctx context.Context) error {
	c, sv := env.c, env.server
	t := perfTests[c.test]
	env.header(sv)
	for {
		line, err := env.oob.recv()
		if err != nil {
			return err
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "end":
			fmt.Fprintln(c.out, strings.Repeat("-", 87))
			return nil
		case len(f) == 2 && f[0] == "size":
		default:
			return fmt.Errorf("perf: peer said %q", line)
		}
		size, err := strconv.Atoi(f[1])
		if err != nil || size < 0 || size > env.bufLen {
			return fmt.Errorf("perf: peer asked for size %q", f[1])
		}
		clientDone := make(chan struct{})
		var part func(context.Context) error
		switch {
		case t.lat && t.op != hv.WRRDMARead:
			if err := env.latRecv(sv, size); err != nil {
				return err
			}
			part = func(ctx context.Context) error { return env.latResponder(ctx, sv, size) }
		case !t.lat && t.op == hv.WRSend:
			run, err := env.sink(sv, size)
			if err != nil {
				return err
			}
			part = func(ctx context.Context) error { return run(ctx, clientDone) }
		}
		errc := make(chan error, 1)
		if part == nil {
			errc <- nil
		} else {
			go func() { errc <- part(ctx) }()
		}
		if err := env.oob.send("ready"); err != nil {
			return err
		}
		line, err = env.oob.recv()
		close(clientDone)
		perr := <-errc
		if err != nil {
			return err
		}
		if line != "done" {
			return fmt.Errorf("perf: peer said %q, want done", line)
		}
		if perr != nil {
			_ = env.oob.send("err " + perr.Error())
			return perr
		}
		if err := env.oob.send("ok"); err != nil {
			return err
		}
	}
}

// perfOOB is the out-of-band channel of the two processes: TCP on
// 127.0.0.1, one line per message (perftest uses a TCP socket the same
// way).
type perfOOB struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialPerfOOB opens the channel: the server listens on 127.0.0.1:-p and
// takes one client; the client connects, retrying until ctx is done.
func dialPerfOOB(ctx context.Context, c *perfConfig) (*perfOOB, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port))
	if c.server {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp4", addr)
		if err != nil {
			return nil, fmt.Errorf("perf: out-of-band listen: %w", err)
		}
		defer ln.Close()
		stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
		defer stop()
		conn, err := ln.Accept()
		if err != nil {
			return nil, fmt.Errorf("perf: waiting for the client on %s: %w", addr, err)
		}
		return &perfOOB{conn: conn, r: bufio.NewReader(conn)}, nil
	}
	for {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp4", addr)
		if err == nil {
			return &perfOOB{conn: conn, r: bufio.NewReader(conn)}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("perf: no server side on %s: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (o *perfOOB) close() { _ = o.conn.Close() }

func (o *perfOOB) send(line string) error {
	if _, err := io.WriteString(o.conn, line+"\n"); err != nil {
		return fmt.Errorf("perf: out-of-band send: %w", err)
	}
	return nil
}

func (o *perfOOB) recv() (string, error) {
	line, err := o.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("perf: out-of-band: the peer went away: %w", err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// agree checks that both sides run the same test with the same
// parameters.
func (o *perfOOB) agree(c *perfConfig) error {
	mine := fmt.Sprintf("IBEMU-PERF 1 %s %s size=%d iters=%d qps=%d mtu=%d all=%t depth=%d",
		c.test, c.conn, c.size, c.iters, c.qps, c.mtu, c.all, c.txDepth)
	if err := o.send(mine); err != nil {
		return err
	}
	theirs, err := o.recv()
	if err != nil {
		return err
	}
	if theirs != mine {
		return fmt.Errorf("perf: the two sides differ: this one runs %q, the peer %q", mine, theirs)
	}
	return nil
}

// swap sends this side's QPs and reads the peer's.
func (o *perfOOB) swap(me perfPeer) (perfPeer, error) {
	msg := fmt.Sprintf("node %s lid %d qps %d", me.node, me.lid, len(me.qpns))
	for i := range me.qpns {
		msg += fmt.Sprintf(" %#x:%#x:%#x:%#x", me.qpns[i], perfPSN, me.rkeys[i], me.addrs[i])
	}
	if err := o.send(msg); err != nil {
		return perfPeer{}, err
	}
	line, err := o.recv()
	if err != nil {
		return perfPeer{}, err
	}
	bad := fmt.Errorf("perf: peer described itself as %q", line)
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "node" || f[2] != "lid" || f[4] != "qps" {
		return perfPeer{}, bad
	}
	lid, err1 := strconv.ParseUint(f[3], 10, 16)
	n, err2 := strconv.Atoi(f[5])
	if err1 != nil || err2 != nil || n != len(me.qpns) || len(f) != 6+n {
		return perfPeer{}, bad
	}
	p := perfPeer{node: f[1], lid: wire.LID(lid)}
	for _, q := range f[6:] {
		var qpn, psn, rkey uint32
		var addr uint64
		if _, err := fmt.Sscanf(q, "%v:%v:%v:%v", &qpn, &psn, &rkey, &addr); err != nil || psn != perfPSN {
			return perfPeer{}, bad
		}
		p.qpns, p.rkeys, p.addrs = append(p.qpns, qpn), append(p.rkeys, rkey), append(p.addrs, addr)
	}
	return p, nil
}

// begin announces one size and waits until the server side is ready.
func (o *perfOOB) begin(size int) error {
	if err := o.send(fmt.Sprintf("size %d", size)); err != nil {
		return err
	}
	line, err := o.recv()
	if err != nil {
		return err
	}
	if line != "ready" {
		return fmt.Errorf("perf: server side said %q, want ready", line)
	}
	return nil
}

// end reports the size done and waits for the server side's verdict.
func (o *perfOOB) end() error {
	if err := o.send("done"); err != nil {
		return err
	}
	line, err := o.recv()
	if err != nil {
		return err
	}
	if line != "ok" {
		return fmt.Errorf("perf: server side: %s", strings.TrimPrefix(line, "err "))
	}
	return nil
}
