package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/attach"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/verbs"
)

// perfTests are the perftest programs ibemu perf runs (ib_write_bw, ...).
// write_lat posts RDMA WRITE with immediate so that the receiver learns of
// the arrival from its CQ (perftest polls the buffer's last byte instead).
var perfTests = map[string]struct {
	lat bool
	op  hv.WROpcode
}{
	"write_bw":   {false, hv.WRRDMAWrite},
	"read_bw":    {false, hv.WRRDMARead},
	"send_bw":    {false, hv.WRSend},
	"atomic_bw":  {false, hv.WRAtomicFetchAndAdd},
	"write_lat":  {true, hv.WRRDMAWriteImm},
	"send_lat":   {true, hv.WRSend},
	"read_lat":   {true, hv.WRRDMARead},
	"atomic_lat": {true, hv.WRAtomicFetchAndAdd},
}

type perfConfig struct {
	test    string
	size    int
	iters   int
	all     bool
	qps     int
	gbits   bool
	mtu     int // the path MTU in bytes, once a port resolved -m
	mtuSet  bool
	txDepth int
	cqMod   int
	conn    string
	wall    bool
	capture string
	out     io.Writer
	errOut  io.Writer
	perfOpts

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
	fs := newFlagSet("perf", stderr, "perf "+strings.Join(names, "|")+" [-s SIZE] [-n ITERS | -D SECONDS] [-a] [-q QPS] [-b] [--report_gbits] [-m MTU] [-t DEPTH] [-Q MOD] [-c RC|UC|UD]\n"+
		"       [-I INLINE] [-A CMP_AND_SWAP|FETCH_AND_ADD] [-o OUTS] [-r RXDEPTH] [-l LIST] [-e] [-d DEV] [-i PORT] [-x GID] [-u TIMEOUT] [-S SL] [-H] [-U] [--output=UNITS]\n"+
		"       [--wall] [--capture FILE] [--attach NODE (--server | --connect PEER) [-p PORT] [--sockname NAME | --attach-server HOST:PORT]]")
	c := perfConfig{out: stdout, errOut: stderr}
	fs.BoolVar(&c.all, "a", false, "run all sizes from 2 to 2^23 bytes")
	fs.IntVar(&c.qps, "q", 1, "number of QPs (bandwidth tests)")
	fs.BoolVar(&c.gbits, "report_gbits", false, "report bandwidth in Gb/sec instead of MB/sec")
	fs.IntVar(&c.mtu, "m", 0, "path MTU: 256, 512, 1024, 2048 or 4096 (default the port's active MTU)")
	fs.IntVar(&c.txDepth, "t", 128, "send queue depth (bandwidth tests)")
	fs.IntVar(&c.cqMod, "Q", 100, "completion moderation: signal one send in this many (bandwidth tests)")
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
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	c.perfFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	c.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		name := f.Name
		if short, ok := perfAliases[name]; ok {
			name = short
		}
		c.given[name] = true
	})
	c.reqCQMod = c.given["Q"]
	if t, ok := perfTests[firstOr(pos)]; ok && t.lat && !c.given["t"] {
		c.txDepth = 1 // perftest's DEF_TX_LAT
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: name one test: %s", errUsage, strings.Join(names, ", "))
	}
	c.test = pos[0]
	if err := c.validate(); err != nil {
		return err
	}
	if c.cpuUtil && c.duration == 0 {
		// perftest goes on without it.
		fmt.Fprintln(stdout, strings.Repeat("-", 87))
		fmt.Fprintln(stderr, " CPU Utilization works only with Duration mode.")
		c.cpuUtil = false
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	if c.attach != "" {
		return runPerfAttached(&c)
	}
	env, err := newPerfEnv(&c)
	if err != nil {
		return err
	}
	defer env.close()
	err = env.run()
	if cerr := env.closeCMs(); err == nil {
		err = cerr
	}
	if err == nil {
		env.waitDestroy()
	}
	return err
}

// closeCMs ends the -R connections (DREQ, DREP) and stops the CMs.
func (env *perfEnv) closeCMs() error {
	ctx, cancel := context.WithTimeout(context.Background(), env.c.timeout)
	defer cancel()
	return errors.Join(env.closeCM(ctx, env.client), env.closeCM(ctx, env.server))
}

// perfSide is one HCA's end of the test.
type perfSide struct {
	dev  *hca.Device
	port int
	// warmedUp counts the work requests of warm-ups (--perform_warm_up).
	warmedUp int
	peer     perfPeer
	ctx      *verbs.Context
	pd       *verbs.PD
	ch       *verbs.CompChannel // with -e: the CQ's completion channel
	cq       *verbs.CQ
	rcq      *verbs.CQ
	// srq is the shared receive queue of the QPs (--use-srq), or nil.
	srq *verbs.SRQ
	// group is the multicast group the side's QP joins (-g); sa, on its
	// transport saTr, joins it through the SA in two processes.
	group perfGroup
	sa    *mad.Agent
	saTr  mad.Transport
	qps   []*verbs.QP
	bufs  [][]byte
	mrs   []*verbs.MR
	ahs   []*verbs.AH
	lid   wire.LID
	gid   wire.GID
	name  string // the device's libibverbs name
	// armed tells whether the CQ is armed for its channel (-e).
	armed bool
	// lat is the latency test's work requests for the current size.
	lat *perfLatMsgs
	// pollCtx is the context of pollWait's waits, reused from one wait
	// to the next by the side's goroutine. (A waitCtx that other
	// contexts are made from, as the wait that also ends when the peer
	// stops is, cannot be reused: the context package may still look at
	// it after the wait.)
	pollCtx waitCtx
	// cm is the side's connection manager with -R.
	cm *perfCM
	// stats counts what this side did. Each side's goroutine adds to
	// its own counters only: shared ones would move a cache line
	// between the two cores on every message of a latency test.
	stats perfStats
}

// perfPeer is what one side knows of the other's QPs (what perftest
// exchanges over its side channel).
type perfPeer struct {
	node  string
	lid   wire.LID
	gid   wire.GID
	outs  int
	qpns  []uint32
	rkeys []uint32
	addrs []uint64
	// psns are the QPs' first send PSNs; qkey is the Q_Key of UD QPs.
	psns []uint32
	qkey uint32
	// group is the peer's multicast group (-g, two processes).
	group perfGroup
}

// info describes s to its peer.
func (s *perfSide) info(node string, outs int) perfPeer {
	p := perfPeer{node: node, lid: s.lid, gid: s.gid, outs: outs, qkey: perfQKey}
	for i, qp := range s.qps {
		p.qpns, p.rkeys, p.addrs = append(p.qpns, qp.Num()), append(p.rkeys, s.mrs[i].RKey()), append(p.addrs, s.mrs[i].Addr())
		p.psns = append(p.psns, perfPSN)
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
	// err carries an error out of a function run on the event loop.
	err error
	// bwLimitMet and rateLimitMet say whether a reported size reached
	// -w and -y.
	bwLimitMet, rateLimitMet bool
	// reportErr is the first failure of the reports that follow the
	// rows (--out_json's file, -W's counters), which run returns.
	reportErr error
	// ctrs is -W's last reading of the client's port.
	ctrs *perfCounterState
}

// perfStats counts what one side of a run did through the verbs API, so
// tests can check that an option changed the run. The padding keeps the
// counters off the cache lines of the rest of the side.
type perfStats struct {
	_         [64]byte
	cqEvents  atomic.Int64 // completion channel events received (-e)
	postCalls atomic.Int64 // PostSend calls
	sendWRs   atomic.Int64 // send work requests posted
	inlineWRs atomic.Int64 // of which with the inline flag (-I)
	maxList   atomic.Int64 // longest list one PostSend posted (-l)
	recvs     atomic.Int64 // receive completions (-b send_bw)
	_         [64]byte
}

// perfTotals is what both sides of a run did (perfEnv.totals).
type perfTotals struct {
	cqEvents, postCalls, sendWRs, inlineWRs, maxList int64
	serverWRs                                        int64 // send work requests the server side posted (-b)
	clientRecv                                       int64 // receive completions on the client side (-b send_bw)
}

// totals adds up the sides' counters.
func (env *perfEnv) totals() perfTotals {
	var t perfTotals
	for _, s := range []*perfSide{env.client, env.server} {
		if s == nil {
			continue
		}
		st := &s.stats
		t.cqEvents += st.cqEvents.Load()
		t.postCalls += st.postCalls.Load()
		t.sendWRs += st.sendWRs.Load()
		t.inlineWRs += st.inlineWRs.Load()
		t.maxList = max(t.maxList, st.maxList.Load())
		if s == env.server {
			t.serverWRs += st.sendWRs.Load()
		} else {
			t.clientRecv += st.recvs.Load()
		}
	}
	return t
}

// perfObserve, when set (by tests), sees every in-process run's
// environment before it is closed.
var perfObserve func(*perfEnv)

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
	if env.client, err = env.side(fb.HCAs[0].Device, c.ibPort, false); err == nil {
		env.server, err = env.side(fb.HCAs[1].Device, c.ibPort, true)
	}
	switch {
	case err == nil && c.rdmaCM:
		err = env.connectCMInProcess()
	case err == nil:
		env.client.peer, env.server.peer = env.server.info("", c.outReads), env.client.info("", c.outReads)
		if c.mcg {
			err = env.mcastGroups()
		}
		if err == nil {
			err = env.connect()
		}
	}
	if err == nil {
		err = env.ready()
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

// waitDestroy is --wait_destroy: after a test that went well, the QPs,
// CQs and regions live on this long before they are destroyed (for a
// user to look at them meanwhile, with the diags, say).
func (env *perfEnv) waitDestroy() {
	if w := env.c.waitDestroy; w > 0 {
		time.Sleep(time.Duration(w) * time.Second)
	}
}

func (env *perfEnv) close() {
	for _, s := range []*perfSide{env.client, env.server} {
		_ = env.closeCM(context.Background(), s)
		if s != nil {
			s.closeSA()
		}
	}
	if env.fb != nil {
		env.fb.Stop()
	}
	if env.cap != nil {
		env.cap.Close()
	}
}

// checkDevice applies what perftest learns from the device (ctx_find_dev,
// check_link_and_mtu): -d names it, -i one of its ports, -x an entry of
// the port's GID table, -I fits max_inline_data, -o max_qp_rd_atom; UD
// messages fit the MTU.
func (env *perfEnv) checkDevice(s *perfSide) error {
	c := env.c
	if c.dev != "" && c.dev != s.name {
		return usageErr("-d %s: IB device %s not found (this host has %s)", c.dev, c.dev, s.name)
	}
	if np := s.dev.Profile().NumPorts; s.port < 1 || s.port > np {
		return usageErr("-i %d: %s has no port %d (ports 1 to %d)", s.port, s.name, s.port, np)
	}
	pa, err := s.ctx.QueryPort(s.port)
	if err != nil {
		return fmt.Errorf("perf: port %d of %s: %w", s.port, s.name, err)
	}
	if pa.State != wire.PortStateActive {
		return fmt.Errorf("perf: port %d of %s is %s, not Active", s.port, s.name, pa.State)
	}
	c.resolveMTU(pa.ActiveMTU)
	if c.gidIndex.n >= pa.GIDTblLen {
		return usageErr("-x %d: port %d of %s has %d GIDs", c.gidIndex.n, s.port, s.name, pa.GIDTblLen)
	}
	if c.pkeyIndex >= pa.PKeyTblLen {
		return usageErr("--pkey_index=%d: port %d of %s has %d P_Keys", c.pkeyIndex, s.port, s.name, pa.PKeyTblLen)
	}
	if s.gid, err = s.ctx.QueryGID(s.port, max(c.gidIndex.n, 0)); err != nil {
		return fmt.Errorf("perf: -x %d: %w", c.gidIndex.n, err)
	}
	attr := s.ctx.QueryDevice()
	if c.inlineSize > attr.MaxInlineData {
		return usageErr("-I %d: exceeds %s's max_inline_data (%d)", c.inlineSize, s.name, attr.MaxInlineData)
	}
	verb := perfVerb(c.test)
	switch {
	case verb != "read" && verb != "atomic":
		c.outReads = 1
	case c.outReads != 0: // resolved by the first side
	case c.outs.n > attr.MaxQPRdAtom:
		c.notes = append(c.notes, strings.Repeat("-", 87), fmt.Sprintf(" Number of outstanding reads is above max = %d", attr.MaxQPRdAtom), " Changing to that max value")
		c.outReads = attr.MaxQPRdAtom
	case c.outs.n <= 0:
		c.outReads = attr.MaxQPRdAtom
	default:
		c.outReads = c.outs.n
	}
	if mtu := c.mtu; c.conn == "UD" && c.size > mtu {
		c.size = mtu // perftest: the largest UD message is one MTU
	}
	return nil
}

// resolveMTU settles the path MTU as perftest's set_mtu does for a port
// whose active MTU is active: without -m the active MTU; a size that is
// no MTU is reported on stderr and replaced by the active MTU; a larger
// MTU than the active one is lowered to it, saying so on stdout (with
// the ibv_mtu enum value, as perftest prints it). The first side settles
// -m; a second side of lower active MTU lowers it again.
func (c *perfConfig) resolveMTU(active wire.MTU) {
	if c.mtuSet {
		if c.mtu > active.Bytes() {
			c.mtu = active.Bytes()
		}
		return
	}
	c.mtuSet = true
	m, ok := perfMTUs[c.mtu]
	switch {
	case c.mtu == 0:
		c.mtu = active.Bytes()
		return
	case !ok:
		fmt.Fprintf(c.errOut, " Invalid MTU - %d \n", c.mtu)
		fmt.Fprintln(c.errOut, " Please choose mtu from {256,512,1024,2048,4096}")
		fmt.Fprintf(c.errOut, " Will run with the port active mtu - %d\n", int(active))
		m = active
	}
	if m > active {
		c.notes = append(c.notes, "Requested mtu is higher than active mtu ", fmt.Sprintf("Changing to active mtu - %d", int(active)))
		m = active
	}
	c.mtu = m.Bytes()
}

// side opens device d's port for one side of the test; server tells
// whether it is the server side (the one that receives in a
// unidirectional test).
func (env *perfEnv) side(d *hca.Device, port int, server bool) (*perfSide, error) {
	c := env.c
	s := &perfSide{dev: d, port: port, name: perfDevName(d.Profile().Driver)}
	var err error
	if s.ctx, err = verbs.Open(d); err != nil {
		return nil, err
	}
	if err := env.checkDevice(s); err != nil {
		return nil, err
	}
	if err := d.Node().Fabric().Do(func() { s.lid = d.SMA().Port(port).LID }); err != nil {
		return nil, err
	}
	if s.pd, err = s.ctx.AllocPD(); err != nil {
		return nil, err
	}
	if c.events {
		s.ch = s.ctx.CreateCompChannel()
	}
	// One CQ takes send and receive completions: under the virtual clock
	// completions hold the clock until polled (HoldClock), so the host's
	// own speed never shows in the measured (emulated) time, and a host
	// polling one CQ must not leave another one holding it.
	if s.cq, err = s.ctx.CreateCQ((c.txDepth+c.rxDepth)*c.qps+1024, s.ch); err != nil {
		return nil, err
	}
	s.rcq = s.cq
	if !c.wall {
		s.cq.HoldClock()
	}
	if s.ch != nil {
		// perftest arms the CQ when it creates it, so the first post's
		// completion wakes the side with an event like every other.
		if err := env.arm(s); err != nil {
			return nil, err
		}
	}
	if c.useSRQ && (server || perfTests[c.test].lat || c.bidir) {
		// As perftest: the sides that receive take their receives
		// from one SRQ of rx depth work requests.
		if s.srq, err = s.pd.CreateSRQ(verbs.SRQAttr{MaxWR: uint32(c.rxDepth), MaxSGE: 1}); err != nil {
			return nil, fmt.Errorf("perf: --use-srq: %w", err)
		}
	}
	typ := map[string]hv.QPType{"RC": hv.QPTypeRC, "UC": hv.QPTypeUC, "UD": hv.QPTypeUD}[c.conn]
	for range c.qps {
		buf := make([]byte, env.bufLen)
		mr, err := s.pd.RegMR(buf, hv.AccessLocalWrite|hv.AccessRemoteWrite|hv.AccessRemoteRead|hv.AccessRemoteAtomic)
		if err != nil {
			return nil, err
		}
		qp, err := s.pd.CreateQP(verbs.QPInitAttr{SendCQ: s.cq, RecvCQ: s.rcq, QPType: typ, SRQ: s.srq,
			Cap: verbs.QPCap{MaxSendWR: uint32(c.txDepth), MaxRecvWR: uint32(max(c.rxDepth, 1)), MaxSendSGE: 1, MaxRecvSGE: 1, MaxInlineData: uint32(c.inlineSize)}})
		if err != nil {
			return nil, err
		}
		s.bufs, s.mrs, s.qps = append(s.bufs, buf), append(s.mrs, mr), append(s.qps, qp)
	}
	return s, nil
}

const perfPSN = 0x5a5a5

// av is the address vector of side x toward its peer: -S sets the SL,
// -x adds a GRH from GID index x to the peer's GID.
func (env *perfEnv) av(x *perfSide) verbs.AHAttr {
	c := env.c
	a := verbs.AHAttr{DLID: x.peer.lid, PortNum: uint8(x.port), SL: uint8(c.sl)}
	if c.gidIndex.n >= 0 {
		a.IsGlobal = true
		a.GRH = verbs.GlobalRoute{DGID: x.peer.gid, SGIDIndex: uint8(c.gidIndex.n), HopLimit: 0xff, TrafficClass: uint8(c.tclass)}
	}
	return a
}

// connect moves every QP pair to RTS, each aimed at its peer (what
// perftest exchanges over its Ethernet side channel).
func (env *perfEnv) connect() error {
	c := env.c
	mtu := perfMTUs[c.mtu]
	for _, x := range []*perfSide{env.client, env.server} {
		if x == nil {
			continue
		}
		if c.conn == "UD" {
			if err := env.udQPsUp(x); err != nil {
				return err
			}
			continue
		}
		y, port := x.peer, uint8(x.port)
		for i, qp := range x.qps {
			acc := hv.AccessRemoteWrite | hv.AccessRemoteRead | hv.AccessRemoteAtomic
			if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateInit, PortNum: port, PKeyIndex: uint16(c.pkeyIndex), QPAccessFlags: acc}, hv.AttrState|hv.AttrPort|hv.AttrPKeyIndex|hv.AttrAccessFlags); err != nil {
				return err
			}
			// As perftest: this side takes as many READs and atomics as
			// it announced (max_dest_rd_atomic) and keeps as many in
			// flight as the peer announced (max_rd_atomic).
			rtr := verbs.QPAttr{QPState: hv.QPStateRTR, PathMTU: mtu, DestQPNum: y.qpns[i], RQPSN: perfPSN,
				MaxDestRdAtomic: uint8(c.outReads), MinRNRTimer: 12, AHAttr: env.av(x)}
			mask := hv.AttrState | hv.AttrAV | hv.AttrPathMTU | hv.AttrDestQPN | hv.AttrRQPSN
			if c.conn == "RC" {
				mask |= hv.AttrMaxDestRdAtomic | hv.AttrMinRNRTimer
			}
			if err := qp.Modify(&rtr, mask); err != nil {
				return err
			}
			rts := verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: perfPSN, Timeout: uint8(c.qpTimeout), RetryCnt: 7, RNRRetry: 7, MaxRdAtomic: uint8(y.outs)}
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

// ready finishes the set-up once the QPs are connected: with -g the
// receiving QPs join their groups, and -W takes its first reading.
func (env *perfEnv) ready() error {
	if env.c.mcg {
		if err := env.attachMulticast(); err != nil {
			return err
		}
	}
	return env.startCounters(env.client)
}

// udQPsUp moves x's UD QPs to RTS and makes their address handles
// toward the peer, whose LID (and GID) x knows.
func (env *perfEnv) udQPsUp(x *perfSide) error {
	c := env.c
	if c.conn != "UD" {
		return nil
	}
	for _, qp := range x.qps {
		if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateInit, PortNum: uint8(x.port), PKeyIndex: uint16(c.pkeyIndex), QKey: perfQKey}, hv.AttrState|hv.AttrPort|hv.AttrPKeyIndex|hv.AttrQKey); err != nil {
			return err
		}
		if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateRTR}, hv.AttrState); err != nil {
			return err
		}
		if err := qp.Modify(&verbs.QPAttr{QPState: hv.QPStateRTS, SQPSN: perfPSN}, hv.AttrState|hv.AttrSQPSN); err != nil {
			return err
		}
		ah, err := x.pd.CreateAH(env.av(x))
		if err != nil {
			return err
		}
		x.ahs = append(x.ahs, ah)
	}
	return nil
}

// now is the measuring clock: the fabric's (virtual) time, or the wall.
func (env *perfEnv) now() time.Time {
	if env.c.wall {
		// The monotonic clock only (time.Now reads the wall clock
		// too, which costs as much again): a latency test reads it
		// twice a round trip.
		return perfEpoch.Add(time.Since(perfEpoch))
	}
	return env.emu.Now()
}

// perfEpoch is the origin of the wall-clock measurements (env.now).
var perfEpoch = time.Now()

func (env *perfEnv) sizes() []int {
	if !env.c.all {
		return []int{env.c.size}
	}
	top := 1 << 23
	if env.c.conn == "UD" {
		top = env.c.mtu // perftest runs UD sizes up to the MTU
	}
	var s []int
	for n := 2; n <= top; n *= 2 {
		s = append(s, n)
	}
	return s
}

// header prints perftest's preamble as side s sees the test
// (ctx_print_test_info, ctx_print_pingpong_data and the table header).
// --output prints none of it.
func (env *perfEnv) header(s *perfSide) {
	c, w := env.c, env.c.out
	t := perfTests[c.test]
	verb := perfVerb(c.test)
	for _, n := range c.notes {
		fmt.Fprintln(w, n)
	}
	if c.output != "" {
		return
	}
	line := strings.Repeat("-", 87)
	fmt.Fprintln(w, line)
	fmt.Fprintf(w, "                    %s\n", c.title())
	if c.mcg {
		fmt.Fprintf(w, " MultiCast runs on UD!\n")
	}
	if c.events {
		fmt.Fprintf(w, " Test with events. Using %s_comp0\n", s.name)
	}
	fmt.Fprintf(w, " Dual-port       : OFF\t\tDevice         : %s\n", s.name)
	fmt.Fprintf(w, " Number of qps   : %d\t\tTransport type : IB\n", c.qps)
	fmt.Fprintf(w, " Connection type : %s\t\tUsing SRQ      : %s\n", c.conn, map[bool]string{false: "OFF", true: "ON"}[c.useSRQ])
	if s == env.client || c.bidir {
		fmt.Fprintf(w, " TX depth        : %d\n", c.txDepth)
	}
	if c.postList > 1 {
		fmt.Fprintf(w, " Post List       : %d\n", c.postList)
	}
	if (verb == "send" || c.test == "write_lat") && (s == env.server || c.bidir) {
		fmt.Fprintf(w, " RX depth        : %d\n", c.rxDepth)
	}
	if !t.lat {
		fmt.Fprintf(w, " CQ Moderation   : %d\n", c.cqMod)
	}
	fmt.Fprintf(w, " Mtu             : %d[B]\n", c.mtu)
	fmt.Fprintf(w, " Link type       : IB\n")
	if c.gidIndex.n >= 0 {
		fmt.Fprintf(w, " GID index       : %d\n", c.gidIndex.n)
	}
	if verb != "read" && verb != "atomic" {
		fmt.Fprintf(w, " Max inline data : %d[B]\n", c.inlineSize)
	} else {
		fmt.Fprintf(w, " Outstand reads  : %d\n", c.outReads)
	}
	fmt.Fprintf(w, " rdma_cm QPs\t : %s\n", map[bool]string{false: "OFF", true: "ON"}[c.rdmaCM])
	if c.rdmaCM {
		fmt.Fprintf(w, " Data ex. method : rdma_cm\n")
	} else {
		fmt.Fprintf(w, " Data ex. method : Ethernet\n")
	}
	clock := "virtual (emulated hardware time)"
	if c.wall {
		clock = "wall (emulator speed)"
	}
	fmt.Fprintf(w, " Clock           : %s\n", clock)
	fmt.Fprintln(w, line)
	addr := func(side string, lid wire.LID, qpn, psn, rkey uint32, vaddr uint64, outs int, gid wire.GID) {
		fmt.Fprintf(w, " %s address: LID %#04x QPN %#06x PSN %#06x", side, uint16(lid), qpn, psn)
		switch verb {
		case "read":
			fmt.Fprintf(w, " OUT %#04x", outs)
			fallthrough
		case "write":
			fmt.Fprintf(w, " RKey %#08x VAddr %#016x", rkey, vaddr)
		}
		fmt.Fprintln(w)
		if c.gidIndex.n >= 0 {
			// perftest prints the GID's bytes in decimal.
			fmt.Fprintf(w, " GID: ")
			for i, b := range gid {
				if i > 0 {
					fmt.Fprint(w, ":")
				}
				fmt.Fprintf(w, "%02d", b)
			}
			fmt.Fprintln(w)
		}
	}
	for i, qp := range s.qps {
		addr("local", s.lid, qp.Num(), s.qpPSN(i), s.mrs[i].RKey(), s.mrs[i].Addr(), c.outReads, s.gid)
	}
	peer := s.peer
	for i, qpn := range peer.qpns {
		addr("remote", peer.lid, qpn, peer.psns[i], peer.rkeys[i], peer.addrs[i], peer.outs, peer.gid)
	}
	fmt.Fprintln(w, line)
	env.tableHeader()
}

// tableHeader prints the results table's column line.
func (env *perfEnv) tableHeader() {
	c, w := env.c, env.c.out
	switch {
	case perfTests[c.test].lat && c.duration > 0:
		fmt.Fprint(w, " #bytes        #iterations       t_avg[usec]    tps average")
		env.cpuUtilHead()
	case perfTests[c.test].lat:
		fmt.Fprintln(w, " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] ")
	default:
		unit := "MB/sec"
		if c.gbits {
			unit = "Gb/sec"
		}
		fmt.Fprintf(w, " #bytes     #iterations    BW peak[%s]    BW average[%s]   MsgRate[Mpps]", unit, unit)
		env.cpuUtilHead()
	}
}

// cpuUtilHead ends a table's column line: with --cpu_util the column of
// CPU utilization (RESULT_EXT_CPU_UTIL), else nothing.
func (env *perfEnv) cpuUtilHead() {
	if env.c.cpuUtil {
		fmt.Fprint(env.c.out, "    CPU_Util[%]")
	}
	fmt.Fprintln(env.c.out)
}

// cpuUtilCell ends a table row: with --cpu_util the CPU utilization
// (REPORT_EXT_CPU_UTIL), else nothing.
func (env *perfEnv) cpuUtilCell(util float64) {
	if env.c.cpuUtil {
		fmt.Fprintf(env.c.out, "\t    %-3.2f", util)
	}
	fmt.Fprintln(env.c.out)
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
	if env.c.output == "" {
		fmt.Fprintln(env.c.out, strings.Repeat("-", 87))
	}
	if env.reportErr != nil {
		return env.reportErr
	}
	if err := env.checkLimits(); err != nil {
		return err
	}
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
	if perfObserve != nil && env.fb != nil {
		perfObserve(env)
	}
	return nil
}

// errBelowLimit is a bandwidth test's result below its -w or -y limit.
var errBelowLimit = errors.New("below the verifier limit")

// checkLimits judges the bandwidth rows by -w and -y, as perftest does
// at its end (one check each; perftest checks -y only along with -w).
func (env *perfEnv) checkLimits() error {
	c := env.c
	switch {
	case c.given["w"] && !env.bwLimitMet:
		return fmt.Errorf("BW result is below bw limit (%g): %w", c.limitBW, errBelowLimit)
	case c.given["y"] && !env.rateLimitMet:
		return fmt.Errorf("Msg rate is below msg_rate limit (%g Mpps): %w", c.limitRate, errBelowLimit)
	}
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
	if c.given["i"] && c.ibPort != h.Port() {
		return usageErr("-i %d: this side is attached to port %d of %s", c.ibPort, h.Port(), c.attach)
	}
	side, err := env.side(h.HCA(), h.Port(), c.server)
	if err != nil {
		return err
	}
	if runtime.GOMAXPROCS(0) == 1 {
		// This side's completions wait for frames its reader takes from
		// the server's socket, which a spinning poller keeps it from
		// reading (verbs.CQ.SetPollSpin).
		side.cq.SetPollSpin(perfAttachedSpin)
	}
	// The collector as ibemu serve tunes it, once the buffers and queues
	// are made: the data path reader's slabs and the frames are
	// short-lived, the rest lives as long as the test. Measured with
	// .ci/bench-xproc.sh, 3 interleaved runs: write_bw 64 KiB 383 MB/s
	// in each run before, 394-476 after; 1 MiB 407-458 before, 430-468
	// after.
	defer tuneGC()()
	if env.oob, err = dialPerfOOB(wctx, c); err != nil {
		return err
	}
	defer env.oob.close()
	if err := env.oob.agree(c); err != nil {
		return err
	}
	me := side.info(h.NodeID(), c.outReads)
	if c.mcg && c.mcastReceives(c.server) {
		// A receiving side joins its group through the SA before the
		// peer learns of it.
		g := c.sideGroupGID(c.server)
		mlid, err := env.saMembership(wctx, side, g, wire.MethodSet)
		if err != nil {
			return err
		}
		side.group = perfGroup{mgid: g, mlid: mlid}
		me.group = side.group
		defer env.leaveGroup(side, g)
	}
	if c.rdmaCM {
		// The QPs go by the CM's private data; the side channel only
		// tells where the peer is. The passive side listens first.
		me.qpns, me.rkeys, me.addrs, me.psns = nil, nil, nil, nil
		if err := env.openCM(side); err != nil {
			return err
		}
		defer env.closeCM(context.Background(), side)
		if c.server {
			if err := env.listenCM(side); err != nil {
				return err
			}
		}
	}
	if side.peer, err = env.oob.swap(me); err != nil {
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
	if c.mcg && c.mcastReceives(!c.server) {
		// This side sends to the peer's group: it joins it too, so
		// that the SM's tree for the group reaches its port, and
		// waits until the switches forward it.
		pg := side.peer.group
		if pg.mlid == 0 {
			return fmt.Errorf("perf: -g: the peer named no multicast group")
		}
		if pg.mgid != side.group.mgid {
			if _, err := env.saMembership(wctx, side, pg.mgid, wire.MethodSet); err != nil {
				return err
			}
			defer env.leaveGroup(side, pg.mgid)
		}
		if err := env.waitMFT(wctx, side, pg.mlid); err != nil {
			return err
		}
		side.peer.lid, side.peer.gid, side.peer.qpns[0] = pg.mlid, pg.mgid, perfMcastQPN
	}
	switch {
	case c.rdmaCM:
		err = env.udQPsUp(side)
		if err == nil && c.server {
			if err = env.awaitCM(wctx, side); err == nil {
				side.adopt()
			}
		} else if err == nil {
			err = env.dialCM(wctx, side)
		}
	default:
		err = env.connect()
	}
	if err == nil {
		err = env.ready()
	}
	if err != nil {
		return err
	}
	if c.server {
		if err := env.serveAttached(ctx); err != nil {
			return err
		}
		env.waitDestroy()
		return nil
	}
	if err := env.run(); err != nil {
		return err
	}
	if err := env.closeCMs(); err != nil {
		return err
	}
	if err := env.oob.send("end"); err != nil {
		return err
	}
	env.waitDestroy()
	return nil
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
		stop := newPerfStop()
		var part func(context.Context) error
		var bw *bwRun
		switch v := perfVerb(c.test); {
		case t.lat && (v == "send" || v == "write"):
			if err := env.latRecv(sv, size); err != nil {
				return err
			}
			part = func(ctx context.Context) error { return env.latResponder(ctx, sv, size, stop) }
		case !t.lat && (v == "send" || c.bidir):
			bw = env.newBWRun(sv, size, c.bidir, v == "send")
			bw.peer = stop
			if err := bw.postRecvs(); err != nil {
				return err
			}
			part = bw.run
		}
		errc := make(chan error, 1)
		if part == nil {
			errc <- nil
		} else {
			go func() { errc <- part(ctx) }()
		}
		if err := env.oob.send("ready"); err != nil {
			stop.finish(nil)
			<-errc
			return err
		}
		line, err = env.oob.recv()
		totals, terr := env.doneTotals(line)
		if err == nil {
			err = terr
		}
		stop.finish(totals)
		perr := <-errc
		if err != nil {
			return err
		}
		if perr != nil {
			_ = env.oob.send("err " + perr.Error())
			return perr
		}
		verdict := "ok"
		if bw != nil && bw.send {
			// -b: the client sums this side's result into its report.
			verdict = fmt.Sprintf("ok %g %g %g", bw.res.avg, bw.res.peak, bw.res.msgRate)
		}
		if err := env.oob.send(verdict); err != nil {
			return err
		}
	}
}

// doneTotals reads the client's "done" line: what it posted on each QP
// (duration mode), else its -n on each.
func (env *perfEnv) doneTotals(line string) ([]int, error) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "done" {
		return nil, fmt.Errorf("perf: peer said %q, want done", line)
	}
	n := env.c.qps
	if perfTests[env.c.test].lat {
		n = 1
	}
	totals := make([]int, n)
	if len(f) == 1 {
		for i := range totals {
			totals[i] = env.c.iters
		}
		return totals, nil
	}
	if len(f) != 1+n {
		return nil, fmt.Errorf("perf: peer said %q", line)
	}
	for i := range totals {
		v, err := strconv.Atoi(f[1+i])
		if err != nil || v < 0 {
			return nil, fmt.Errorf("perf: peer said %q", line)
		}
		totals[i] = v
	}
	return totals, nil
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
	mine := fmt.Sprintf("IBEMU-PERF 2 %s %s size=%d iters=%d qps=%d mtu=%d all=%t depth=%d duration=%v margin=%v atomic=%s gid=%d bidir=%t rdma_cm=%t srq=%t mcg=%t mgid=%s",
		c.test, c.conn, c.size, c.iters, c.qps, c.mtu, c.all, c.txDepth, c.duration, c.margin, c.atomic, c.gidIndex.n, c.bidir, c.rdmaCM,
		c.useSRQ, c.mcg, c.mgid)
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
	msg := fmt.Sprintf("node %s lid %d gid %x outs %d qps %d", me.node, me.lid, me.gid[:], me.outs, len(me.qpns))
	for i := range me.qpns {
		msg += fmt.Sprintf(" %#x:%#x:%#x:%#x", me.qpns[i], perfPSN, me.rkeys[i], me.addrs[i])
	}
	if me.group.mlid != 0 {
		msg += fmt.Sprintf(" mcast %d %x", me.group.mlid, me.group.mgid[:])
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
	if len(f) < 10 || f[0] != "node" || f[2] != "lid" || f[4] != "gid" || f[6] != "outs" || f[8] != "qps" {
		return perfPeer{}, bad
	}
	lid, err1 := strconv.ParseUint(f[3], 10, 16)
	gid, err2 := hex.DecodeString(f[5])
	outs, err3 := strconv.Atoi(f[7])
	n, err4 := strconv.Atoi(f[9])
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || len(gid) != len(me.gid) || n != len(me.qpns) || len(f) < 10+n {
		return perfPeer{}, bad
	}
	var group perfGroup
	switch rest := f[10+n:]; {
	case len(rest) == 0:
	case len(rest) == 3 && rest[0] == "mcast":
		mlid, err1 := strconv.ParseUint(rest[1], 10, 16)
		mgid, err2 := hex.DecodeString(rest[2])
		if err1 != nil || err2 != nil || len(mgid) != len(group.mgid) || !wire.LID(mlid).IsMulticast() {
			return perfPeer{}, bad
		}
		group.mlid = wire.LID(mlid)
		copy(group.mgid[:], mgid)
	default:
		return perfPeer{}, bad
	}
	p := perfPeer{node: f[1], lid: wire.LID(lid), outs: outs, qkey: perfQKey, group: group}
	copy(p.gid[:], gid)
	for _, q := range f[10 : 10+n] {
		var qpn, psn, rkey uint32
		var addr uint64
		if _, err := fmt.Sscanf(q, "%v:%v:%v:%v", &qpn, &psn, &rkey, &addr); err != nil || psn != perfPSN {
			return perfPeer{}, bad
		}
		p.qpns, p.rkeys, p.addrs, p.psns = append(p.qpns, qpn), append(p.rkeys, rkey), append(p.addrs, addr), append(p.psns, psn)
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

// end reports the size done, with what this side posted on each QP in
// duration mode (totals), and waits for the server side's verdict; it
// returns what follows "ok" (the server's own result with -b).
func (o *perfOOB) end(totals []int) (string, error) {
	msg := "done"
	for _, t := range totals {
		msg += " " + strconv.Itoa(t)
	}
	if err := o.send(msg); err != nil {
		return "", err
	}
	line, err := o.recv()
	if err != nil {
		return "", err
	}
	if line != "ok" && !strings.HasPrefix(line, "ok ") {
		return "", fmt.Errorf("perf: server side: %s", strings.TrimPrefix(line, "err "))
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "ok")), nil
}

// perfAttachedSpin is how long an attached side's poller spins before it
// sleeps when the process runs on one processor (see runPerfAttached):
// not at all. Measured with .ci/bench-xproc.sh, 3 rounds interleaved:
// send_lat 58-66 µs half round trip before, 28-46 after; write_lat 58-70
// before, 41-48 after; the perf processes' CPU down by a third; send_bw
// and write_bw unchanged.
const perfAttachedSpin = 0
