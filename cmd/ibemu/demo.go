package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/sm"
)

// DefaultTopology is the built-in fabric of the demo: a two-level fat
// tree of radix 8 (8 leaves, 4 spines, 32 HCAs, 4x QDR).
func DefaultTopology() (*topology.Topology, error) { return topology.FatTree(2, 8) }

// runDemo implements `ibemu demo`: generate the default fat tree,
// discover it in-process with directed-route SMPs, print a summary, then
// bring it up with the subnet manager as `ibemu up` does.
func runDemo(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("demo", stderr, "demo [--capture FILE.pcap]")
	capFile := fs.String("capture", "", "write every frame crossing the fabric to this ERF pcap file")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	t, err := DefaultTopology()
	if err != nil {
		return err
	}
	sw, ca, links := summarize(t)
	fmt.Fprintf(stdout, "ibemu demo: built-in topology, a 2-level fat tree of radix 8: %d switches, %d HCAs, %d links\n", sw, ca, links)
	run, err := discoverFabric(context.Background(), t, discoverOpts{capture: *capFile})
	if err != nil {
		return err
	}
	res := run.res
	fmt.Fprintf(stdout, "discovered from %q port %d using directed-route SMPs only: %d SMPs, longest route %d hops\n",
		run.from.Topo.Desc, res.Local.Num, res.SMPs, res.MaxHops)
	fmt.Fprintf(stdout, "time: %v wall, %v of virtual fabric time\n", run.wall.Round(time.Microsecond), res.Duration)
	dsw, dca, dlinks := summarize(res.Topology)
	fmt.Fprintf(stdout, "found: %d switches, %d HCAs, %d links\n", dsw, dca, dlinks)
	if err := topology.Compare(t, res.Topology); err != nil {
		fmt.Fprintf(stdout, "MISMATCH with the generated topology:\n%v\n", err)
		return fmt.Errorf("discovered fabric differs from the topology")
	}
	fmt.Fprintln(stdout, "the discovered graph matches the generated topology (by NodeDescription and port)")
	fmt.Fprintln(stdout, "\nswitches:")
	var lines []string
	for _, n := range res.Topology.Nodes {
		if !n.IsSwitch() {
			continue
		}
		var peers []string
		for _, p := range n.Ports[1:] {
			if p.Remote != nil {
				peers = append(peers, fmt.Sprintf("%d→%s", p.Num, shortDesc(p.Remote.Node.Desc)))
			}
		}
		rate := ""
		for _, p := range n.Ports[1:] {
			if p.Remote != nil {
				rate = p.ActiveRate().String()
				break
			}
		}
		lines = append(lines, fmt.Sprintf("  %-8s %s  %d ports, %d cabled, %s: %s", n.Desc, n.NodeGUID, n.NumPorts, len(peers), rate, strings.Join(peers, " ")))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	if *capFile != "" {
		fmt.Fprintf(stdout, "\ncaptured %d frames to %s\n", run.frames, *capFile)
	}
	// Then what `ibemu up` does: bring the subnet up with the built-in
	// subnet manager.
	fmt.Fprintln(stdout, "\nbringing the subnet up with the built-in subnet manager (ibemu up):")
	up, err := bringUp(context.Background(), t, upOpts{cfg: sm.Config{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}})
	if err != nil {
		return err
	}
	printUp(stdout, up, sm.RoutingMinHop)
	if len(up.down) > 0 || len(up.unreached) > 0 {
		return fmt.Errorf("subnet not fully up: %d ports not active, %d lids unreachable", len(up.down), len(up.unreached))
	}
	return nil
}

func shortDesc(d string) string {
	if i := strings.Index(d, " "); i > 0 && strings.HasPrefix(d, "node") {
		return d[:i]
	}
	return d
}
