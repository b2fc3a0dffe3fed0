package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

func runTopo(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: ibemu topo check FILE... | ibemu topo gen SHAPE [FLAGS] | ibemu topo diff [--from NODE[:PORT]] WANT GOT", errUsage)
	}
	switch args[0] {
	case "check":
		return runTopoCheck(stdout, stderr, args[1:])
	case "gen":
		return runTopoGen(stdout, stderr, args[1:])
	case "diff":
		return runTopoDiff(stdout, stderr, args[1:])
	}
	return fmt.Errorf("%w: unknown topo command %q (want check, gen or diff)", errUsage, args[0])
}

// runTopoCheck validates topology files and prints every problem as
// FILE:LINE: message. Equivalent to loading the file with ibsim, but
// reporting all problems at once.
func runTopoCheck(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("topo check", stderr, "topo check FILE...")
	files, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: topo check needs a file", errUsage)
	}
	bad := 0
	for _, f := range files {
		t, err := topology.Load(f)
		if err != nil {
			bad++
			var list *topology.ErrorList
			if errors.As(err, &list) {
				fmt.Fprintln(stdout, list.Error())
			} else {
				fmt.Fprintln(stdout, err)
			}
			continue
		}
		sw, ca, links := summarize(t)
		fmt.Fprintf(stdout, "%s: ok: %d switches, %d CAs%s, %d links\n", f, sw, ca, andRouters(routers(t)), links)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d files have problems", bad, len(files))
	}
	return nil
}

func summarize(t *topology.Topology) (switches, cas, links int) {
	for _, n := range t.Nodes {
		if n.IsSwitch() {
			switches++
		} else if n.Type != wire.NodeTypeRouter {
			cas++
		}
	}
	return switches, cas, len(t.Links())
}

// routers counts t's router nodes.
func routers(t *topology.Topology) int {
	n := 0
	for _, node := range t.Nodes {
		if node.Type == wire.NodeTypeRouter {
			n++
		}
	}
	return n
}

// andRouters is ", N routers" when there are any, for the summaries.
func andRouters(n int) string {
	switch n {
	case 0:
		return ""
	case 1:
		return ", 1 router"
	}
	return fmt.Sprintf(", %d routers", n)
}

// runTopoGen writes a generated topology in ibnetdiscover's format.
func runTopoGen(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("topo gen", stderr, "topo gen fattree|line|ring|mesh|torus|grid [--levels 2|3] [--radix N] [--switches N] [--hcas N] [--rows N --cols N] [--dims 4x4x2] [--rate 4xQDR] [--hca-ports N] [--lids]")
	levels := fs.Int("levels", 2, "fat tree levels (2 or 3)")
	radix := fs.Int("radix", 8, "switch radix of a fat tree (even)")
	switches := fs.Int("switches", 4, "switches in a line or ring")
	hcas := fs.Int("hcas", 2, "HCAs per switch of a line, ring or mesh")
	rows := fs.Int("rows", 2, "mesh rows")
	cols := fs.Int("cols", 2, "mesh columns")
	dims := fs.String("dims", "3x3", "sizes of the dimensions of a torus or grid, separated by x")
	rate := fs.String("rate", "4xQDR", "link rate (1x|4x|8x|12x + SDR|DDR|QDR|FDR|EDR|HDR|NDR)")
	hcaPorts := fs.Int("hca-ports", 1, "ports per HCA (port 1 is cabled)")
	lids := fs.Bool("lids", false, "assign LIDs as if a subnet manager had swept")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: topo gen needs one shape: fattree, line, ring, mesh, torus or grid", errUsage)
	}
	r, err := topology.ParseRate(*rate)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	opts := []topology.GenOption{topology.WithRate(r), topology.WithHCAPorts(*hcaPorts)}
	if *lids {
		opts = append(opts, topology.WithLIDs())
	}
	var t *topology.Topology
	switch pos[0] {
	case "fattree":
		t, err = topology.FatTree(*levels, *radix, opts...)
	case "line":
		t, err = topology.Line(*switches, *hcas, opts...)
	case "ring":
		t, err = topology.Ring(*switches, *hcas, opts...)
	case "mesh":
		t, err = topology.Mesh(*rows, *cols, *hcas, opts...)
	case "torus", "grid":
		var d []int
		if d, err = parseDims(*dims); err != nil {
			return err
		}
		if pos[0] == "torus" {
			t, err = topology.Torus(d, *hcas, opts...)
		} else {
			t, err = topology.Grid(d, *hcas, opts...)
		}
	default:
		return fmt.Errorf("%w: unknown shape %q (want fattree, line, ring, mesh, torus or grid)", errUsage, pos[0])
	}
	if err != nil {
		return err
	}
	return topology.Write(stdout, t)
}

// parseDims parses --dims: sizes separated by x ("4x4x2").
func parseDims(s string) ([]int, error) {
	var d []int
	for _, f := range strings.Split(s, "x") {
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%w: --dims %q: want sizes of at least 1 separated by x, such as 4x4x2", errUsage, s)
		}
		d = append(d, v)
	}
	return d, nil
}

// runTopoDiff compares two topology files as graphs (topology.Compare)
// and prints every difference. With --from, the first file is cut down to
// what a walk from that node's port discovers (topology.Reachable), which
// is what ibnetdiscover run there prints: the usual check of a discovered
// fabric against its net file.
func runTopoDiff(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("topo diff", stderr, "topo diff [--from NODE[:PORT]] WANT GOT")
	from := fs.String("from", "", "compare only what a walk from this node (id or description) and port discovers in WANT (default port: its first cabled port; a switch's is port 0)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("%w: topo diff needs two files", errUsage)
	}
	want, err := topology.Load(pos[0])
	if err != nil {
		return err
	}
	got, err := topology.Load(pos[1])
	if err != nil {
		return err
	}
	if *from != "" {
		p, err := startPort(want, *from)
		if err != nil {
			return err
		}
		want = want.Reachable(p)
	}
	d := topology.Diff(want, got)
	for _, l := range d {
		fmt.Fprintln(stdout, l)
	}
	if len(d) > 0 {
		return fmt.Errorf("%s and %s differ in %d ways", pos[0], pos[1], len(d))
	}
	fmt.Fprintf(stdout, "%s and %s are the same graph\n", pos[0], pos[1])
	return nil
}

// startPort resolves NODE[:PORT] in t: a node id or NodeDescription and an
// optional port number (default: a switch's port 0, else the node's first
// cabled port).
func startPort(t *topology.Topology, spec string) (*topology.Port, error) {
	name, num := spec, -1
	if i := strings.LastIndexByte(spec, ':'); i >= 0 {
		v, err := strconv.Atoi(spec[i+1:])
		if err == nil {
			name, num = spec[:i], v
		}
	}
	n := t.NodeByID(name)
	if n == nil {
		n = t.NodeByDesc(name)
	}
	if n == nil {
		return nil, fmt.Errorf("%w: --from %q: no node has that id or description", errUsage, name)
	}
	if num < 0 {
		num = 0
		if !n.IsSwitch() {
			num = 1
			for _, p := range n.Ports[1:] {
				if p.Connected() {
					num = p.Num
					break
				}
			}
		}
	}
	p := n.Port(num)
	if p == nil {
		return nil, fmt.Errorf("%w: --from %q: %s has no port %d", errUsage, spec, n, num)
	}
	return p, nil
}
