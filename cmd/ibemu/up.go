package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// upOpts configures bringUp.
type upOpts struct {
	cfg      sm.Config
	from     string
	capture  string
	progress io.Writer
}

// upRun is what bringUp did.
type upRun struct {
	fab    *fabric.Fabric
	from   *fabric.HCA
	subnet *sm.Subnet
	wall   time.Duration
	// down lists the cabled ports that are not Active, in every subnet
	// an SM ran on.
	down []string
	// reached counts the LIDs a LID-routed SMP reached; unreached lists
	// the others.
	reached   int
	unreached []string
	frames    int
	// more are the other subnets of the fabric (the second rail of
	// dual-rail HCAs, the second cable of CAs wired back to back), each
	// brought up by an SM of its own.
	more []*upSubnet
	// unmanaged lists cabled ports in subnets without a CA port an SM
	// could run on (switches cabled only to each other).
	unmanaged []string
}

// upSubnet is one further subnet bringUp brought up.
type upSubnet struct {
	from   *fabric.HCA
	subnet *sm.Subnet
}

// bringUp builds t in-process, runs one heavy sweep of the subnet manager
// from the first HCA (or o.from), checks that every cabled port is Active
// and that LID-routed SMPs reach every LID, and stops the fabric. A fabric
// of several subnets (CA ports do not forward, so each rail of a dual-rail
// fabric is a subnet of its own) gets one SM per subnet, each on the first
// cabled CA port of its subnet in node order, as one OpenSM per rail would
// run; the checks cover every subnet.
func bringUp(ctx context.Context, t *topology.Topology, o upOpts) (*upRun, error) {
	ses, err := openSession(ctx, t, o.from, 0, o.capture, "the subnet manager")
	if err != nil {
		return nil, err
	}
	defer ses.close()
	fab, from, port := ses.fab, ses.from, ses.port
	run := &upRun{fab: fab, from: from}
	covered := make(map[*topology.Port]bool)
	cover := func(h *fabric.HCA, num int) {
		for _, n := range t.Reachable(h.Topo.Ports[num]).Nodes {
			tn := t.NodeByID(n.ID)
			for i, p := range n.Ports {
				if p != nil && p.Remote != nil {
					covered[tn.Ports[i]] = true
				}
			}
		}
	}
	sn, wall, err := upOne(ctx, fab, from, port, o, run)
	run.wall = wall
	if err != nil {
		return nil, err
	}
	run.subnet = sn
	cover(from, port)
	for _, n := range t.Nodes {
		if n.IsSwitch() {
			continue
		}
		for _, p := range n.Ports[1:] {
			if p.Remote == nil || covered[p] {
				continue
			}
			h := fab.HCA(n.ID)
			if h == nil {
				continue
			}
			sn, _, err := upOne(ctx, fab, h, p.Num, o, run)
			if err != nil {
				return nil, fmt.Errorf("subnet of %s port %d: %w", n.Desc, p.Num, err)
			}
			run.more = append(run.more, &upSubnet{from: h, subnet: sn})
			cover(h, p.Num)
		}
	}
	// Every cabled port must be Active.
	err = fab.Emu.Do(func() {
		for _, n := range t.Nodes {
			en := fab.Node(n.ID)
			for _, p := range n.Ports {
				if p == nil || p.Num == 0 || p.Remote == nil || en == nil {
					continue
				}
				if !covered[p] {
					run.unmanaged = append(run.unmanaged, fmt.Sprintf("%s port %d", n.Desc, p.Num))
					continue
				}
				if st := en.Port(p.Num).State(); st != wire.PortStateActive {
					run.down = append(run.down, fmt.Sprintf("%s port %d: %s", n.Desc, p.Num, st))
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if run.frames, err = ses.close(); err != nil {
		return nil, err
	}
	return run, nil
}

// upOne runs one heavy sweep of an SM on port num of h and the traffic
// check of the subnet it brought up, adding the check's results to run. It
// returns the subnet and the wall time of the sweep.
func upOne(ctx context.Context, fab *fabric.Fabric, h *fabric.HCA, num int, o upOpts, run *upRun) (*sm.Subnet, time.Duration, error) {
	tr := mad.NewInProcess(fab.Emu, h.Device, num)
	m, err := sm.New(tr, o.cfg)
	if err != nil {
		return nil, 0, err
	}
	defer m.Close()
	start := time.Now()
	sn, err := m.Sweep(ctx)
	wall := time.Since(start)
	if err != nil {
		return nil, 0, err
	}
	// Traffic check: a LID-routed NodeInfo to every LID crosses the LFTs
	// the SM wrote.
	a, err := mad.NewAgent(tr, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: wire.SMPClassVersion},
		mad.Options{Window: 64})
	if err != nil {
		return nil, 0, err
	}
	defer a.Close()
	var reqs []mad.Request
	var want []*sm.Port
	var lids []wire.LID
	for _, p := range sn.EndPorts() {
		for off := range wire.LID(1) << p.LMC {
			r, err := a.SMPRequest(mad.LIDRoute(p.LID+off), wire.MethodGet, wire.AttrNodeInfo, 0, nil)
			if err != nil {
				return nil, 0, err
			}
			reqs, want, lids = append(reqs, r), append(want, p), append(lids, p.LID+off)
		}
	}
	if o.progress != nil {
		fmt.Fprintf(o.progress, "up: traffic check: %d LID-routed SMPs\n", len(reqs))
	}
	for i, r := range a.CallMany(ctx, reqs) {
		ok := r.Err == nil
		if ok {
			d, _ := mad.SMPData(r.MAD)
			ni, perr := wire.ParseNodeInfo(d)
			ok = perr == nil && ni.NodeGUID() == want[i].Node.GUID()
		}
		if ok {
			run.reached++
		} else {
			run.unreached = append(run.unreached, fmt.Sprintf("lid %d (%s)", lids[i], want[i]))
		}
	}
	return sn, wall, nil
}

// runUp implements `ibemu up [TOPOLOGY]`.
func runUp(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("up", stderr, "up [TOPOLOGY] [--routing minhop|updn|ftree] [--lmc N] [--partitions FILE] [--guid-file FILE] [--qos] [--from HCA] [--window N] [--config opensm.conf] [--capture FILE.pcap] [--quiet] [-v]")
	routing := fs.String("routing", "minhop", "routing engine: minhop, updn or ftree")
	lmc := fs.Uint("lmc", 0, "LMC: 2^N LIDs per CA port (0-7)")
	partitions := fs.String("partitions", "", "partition file (OpenSM partitions.conf syntax)")
	guidFile := fs.String("guid-file", "", "persistent GUID-to-LID file")
	qos := fs.Bool("qos", false, "program OpenSM's default QoS tables (SL-to-VL, VL arbitration) on every port, as opensm -Q")
	from := fs.String("from", "", "HCA (node id or NodeDescription) the subnet manager runs on (default: the first HCA)")
	capFile := fs.String("capture", "", "write every frame crossing the fabric to this ERF pcap file")
	window := fs.Int("window", 0, "outstanding SMPs of a sweep (default sm.DefaultWindow)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	verbose := fs.Bool("v", false, "log the subnet manager's steps on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	configFile := fs.String("config", "", "OpenSM options file (opensm.conf syntax, as opensm -F) for the subnet manager; flags given override it")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	if len(pos) > 1 {
		return fmt.Errorf("%w: up takes at most one topology file", errUsage)
	}
	var t *topology.Topology
	name := "built-in topology, a 2-level fat tree of radix 8"
	if len(pos) == 1 {
		t, err = topology.Load(pos[0])
		name = pos[0]
	} else {
		t, err = DefaultTopology()
	}
	if err != nil {
		return err
	}
	r, err := sm.ParseRouting(*routing)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *lmc > 7 {
		return fmt.Errorf("%w: --lmc %d above 7", errUsage, *lmc)
	}
	var cfg sm.Config
	if *verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	} else {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	err = applyOptionsFile(&cfg, fs, *configFile, func(only func(string) bool) {
		if only("routing") {
			cfg.Routing = r
		}
		if only("lmc") {
			cfg.LMC = uint8(*lmc)
		}
		if only("guid-file") {
			cfg.GUIDFile = *guidFile
		}
		if only("window") {
			cfg.Window = *window
		}
		if only("qos") {
			cfg.QoS = *qos
		}
	})
	if err != nil {
		return err
	}
	if *partitions != "" {
		if cfg.Partitions, err = sm.LoadPartitions(*partitions); err != nil {
			return err
		}
	}
	o := upOpts{cfg: cfg, from: *from, capture: *capFile}
	if !*quiet && len(t.Nodes) >= 2000 {
		o.progress = stderr
		last := ""
		o.cfg.Progress = func(p sm.Progress) {
			if p.Phase == last && p.Phase == "discover" {
				return
			}
			last = p.Phase
			if p.Total > 0 {
				fmt.Fprintf(stderr, "up: %s: %d SMPs\n", p.Phase, p.Total)
			} else {
				fmt.Fprintf(stderr, "up: %s: %d nodes\n", p.Phase, p.Done)
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sw, ca, links := summarize(t)
	fmt.Fprintf(stdout, "ibemu up: %s: %d switches, %d HCAs%s, %d links\n", name, sw, ca, andRouters(routers(t)), links)
	run, err := bringUp(ctx, t, o)
	if err != nil {
		return err
	}
	printUp(stdout, run, cfg.Routing)
	if len(run.down) > 0 || len(run.unreached) > 0 {
		return fmt.Errorf("subnet not fully up: %d ports not active, %d lids unreachable", len(run.down), len(run.unreached))
	}
	return nil
}

func printUp(w io.Writer, run *upRun, r sm.Routing) {
	sn := run.subnet
	var sws, cas, rts, caPorts int
	lo, hi := wire.LID(0), wire.LID(0)
	for _, n := range sn.Nodes {
		switch {
		case n.IsSwitch():
			sws++
		case n.Info.NodeType == wire.NodeTypeRouter:
			rts++
		default:
			cas++
		}
	}
	for _, p := range sn.EndPorts() {
		if p.Node.Info.NodeType == wire.NodeTypeCA {
			caPorts++
		}
		last := p.LID + wire.LID(1)<<p.LMC - 1
		if lo == 0 || p.LID < lo {
			lo = p.LID
		}
		hi = max(hi, last)
	}
	fmt.Fprintf(w, "subnet manager on %q port %d: master, %d heavy sweep SMPs, longest route %d hops\n",
		run.from.Topo.Desc, sn.Local.Num, sn.SMPs, sn.MaxHops)
	fmt.Fprintf(w, "nodes: %d switches, %d CAs (%d CA ports with LIDs)%s\n", sws, cas, caPorts, andRouters(rts))
	fmt.Fprintf(w, "lids: %d-%d (LMC %d), sm lid %d\n", lo, hi, sn.LMC, sn.Local.LID)
	fmt.Fprintf(w, "routing: %s, lft top %d\n", r, len(sn.ByLID)-1)
	fmt.Fprintf(w, "time: %v wall\n", run.wall.Round(time.Microsecond))
	for _, m := range run.more {
		fmt.Fprintf(w, "another subnet: subnet manager on %q port %d: %d nodes, %d end ports with LIDs, longest route %d hops\n",
			m.from.Topo.Desc, m.subnet.Local.Num, len(m.subnet.Nodes), len(m.subnet.EndPorts()), m.subnet.MaxHops)
	}
	fmt.Fprintf(w, "traffic check: %d of %d lids answered LID-routed SMPs\n", run.reached, run.reached+len(run.unreached))
	if len(run.unmanaged) > 0 {
		sort.Strings(run.unmanaged)
		fmt.Fprintf(w, "%d cabled ports are in subnets without a CA port to run a subnet manager on: %s\n",
			len(run.unmanaged), strings.Join(run.unmanaged, ", "))
	}
	if len(run.down) == 0 {
		fmt.Fprintln(w, "all cabled ports are Active")
	} else {
		sort.Strings(run.down)
		fmt.Fprintf(w, "%d ports did not come up:\n", len(run.down))
		for i, d := range run.down {
			if i == 20 {
				fmt.Fprintf(w, "  ... and %d more\n", len(run.down)-20)
				break
			}
			fmt.Fprintf(w, "  %s\n", d)
		}
	}
	for i, u := range run.unreached {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more unreachable\n", len(run.unreached)-20)
			break
		}
		fmt.Fprintf(w, "  unreachable: %s\n", u)
	}
	var problems []error
	problems = append(problems, sn.Problems...)
	for _, m := range run.more {
		problems = append(problems, m.subnet.Problems...)
	}
	if len(problems) > 0 {
		fmt.Fprintf(w, "%d problems during the sweep:\n", len(problems))
		for i, p := range problems {
			if i == 10 {
				fmt.Fprintf(w, "  ... and %d more\n", len(problems)-10)
				break
			}
			fmt.Fprintf(w, "  %v\n", strings.TrimPrefix(p.Error(), "sm: "))
		}
	}
	if run.frames > 0 {
		fmt.Fprintf(w, "captured %d frames\n", run.frames)
	}
}
