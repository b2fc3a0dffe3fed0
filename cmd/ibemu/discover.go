package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/discover"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/mad"
)

// discoverRun is one in-process discovery: the fabric it ran on and what
// it found.
type discoverRun struct {
	fab    *fabric.Fabric
	from   *fabric.HCA
	res    *discover.Result
	wall   time.Duration
	frames int
}

// discoverOpts are the knobs of discoverFabric.
type discoverOpts struct {
	from     string
	port     int
	capture  string
	window   int
	progress io.Writer // nil: no progress lines
}

// discoverFabric builds t in-process, starts it, and walks it from an HCA
// with directed-route SMPs only.
func discoverFabric(ctx context.Context, t *topology.Topology, o discoverOpts) (*discoverRun, error) {
	ses, err := openSession(ctx, t, o.from, o.port, o.capture, "discovery")
	if err != nil {
		return nil, err
	}
	defer ses.close()
	run := &discoverRun{fab: ses.fab, from: ses.from}
	tr := mad.NewInProcess(ses.fab.Emu, ses.from.Device, ses.port)
	opts := discover.Options{Window: o.window}
	if o.progress != nil {
		total := len(t.Nodes)
		opts.ProgressEvery = max(total/20, 256)
		opts.Progress = func(p discover.Progress) {
			fmt.Fprintf(o.progress, "discover: %d/%d nodes (%d switches, %d CAs), %d SMPs, %d outstanding\n",
				p.Switches+p.CAs+p.Routers, total, p.Switches, p.CAs, p.SMPs, p.Outstanding)
		}
	}
	start := time.Now()
	res, err := discover.Discover(ctx, tr, opts)
	run.wall = time.Since(start)
	if err != nil {
		return nil, err
	}
	run.res = res
	if run.frames, err = ses.close(); err != nil {
		return nil, err
	}
	return run, nil
}

// runDiscover implements `ibemu discover`.
//
// Equivalent to: `ibnetdiscover` run on the first HCA of the fabric.
func runDiscover(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("discover", stderr, "discover TOPOLOGY [--from NODE] [--port N] [--capture FILE.pcap] [--window N] [--quiet]")
	from := fs.String("from", "", "HCA (node id or NodeDescription) to discover from (default: the first HCA in the file)")
	port := fs.Int("port", 0, "port of that HCA (default: its first connected port)")
	capFile := fs.String("capture", "", "write every frame crossing the fabric to this ERF pcap file")
	window := fs.Int("window", 0, "outstanding SMPs (default discover.DefaultWindow)")
	quiet := fs.Bool("quiet", false, "no progress or summary on stderr")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
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
	if len(pos) != 1 {
		return fmt.Errorf("%w: discover needs one topology file", errUsage)
	}
	t, err := topology.Load(pos[0])
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o := discoverOpts{from: *from, port: *port, capture: *capFile, window: *window}
	if !*quiet && len(t.Nodes) >= 2000 {
		o.progress = stderr
	}
	run, err := discoverFabric(ctx, t, o)
	if err != nil {
		return err
	}
	if err := topology.Write(stdout, run.res.Topology); err != nil {
		return err
	}
	for _, p := range run.res.Problems {
		fmt.Fprintf(stderr, "discover: %v\n", p)
	}
	if !*quiet {
		sw, ca, links := summarize(run.res.Topology)
		fmt.Fprintf(stderr, "discovered %d switches, %d CAs, %d links from %s port %d with %d SMPs (max %d hops) in %v (virtual %v)\n",
			sw, ca, links, run.from.Topo.Desc, run.res.Local.Num, run.res.SMPs, run.res.MaxHops,
			run.wall.Round(time.Millisecond), run.res.Duration)
		if *capFile != "" {
			fmt.Fprintf(stderr, "captured %d frames to %s\n", run.frames, *capFile)
		}
	}
	if len(run.res.Problems) > 0 {
		return fmt.Errorf("%d parts of the fabric could not be read", len(run.res.Problems))
	}
	return nil
}
