package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/ibemu/ibemu/emu/topology"
)

func runTopo(stdout, stderr io.Writer, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: ibemu topo check FILE... | ibemu topo gen SHAPE [FLAGS]", errUsage)
	}
	switch args[0] {
	case "check":
		return runTopoCheck(stdout, stderr, args[1:])
	case "gen":
		return runTopoGen(stdout, stderr, args[1:])
	}
	return fmt.Errorf("%w: unknown topo command %q (want check or gen)", errUsage, args[0])
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
		fmt.Fprintf(stdout, "%s: ok: %d switches, %d CAs, %d links\n", f, sw, ca, links)
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
		} else {
			cas++
		}
	}
	return switches, cas, len(t.Links())
}

// runTopoGen writes a generated topology in ibnetdiscover's format.
func runTopoGen(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("topo gen", stderr, "topo gen fattree|line|ring|mesh [--levels 2|3] [--radix N] [--switches N] [--hcas N] [--rows N --cols N] [--rate 4xQDR] [--hca-ports N] [--lids]")
	levels := fs.Int("levels", 2, "fat tree levels (2 or 3)")
	radix := fs.Int("radix", 8, "switch radix of a fat tree (even)")
	switches := fs.Int("switches", 4, "switches in a line or ring")
	hcas := fs.Int("hcas", 2, "HCAs per switch of a line, ring or mesh")
	rows := fs.Int("rows", 2, "mesh rows")
	cols := fs.Int("cols", 2, "mesh columns")
	rate := fs.String("rate", "4xQDR", "link rate (1x|4x|8x|12x + SDR|DDR|QDR|FDR|EDR|HDR|NDR)")
	hcaPorts := fs.Int("hca-ports", 1, "ports per HCA (port 1 is cabled)")
	lids := fs.Bool("lids", false, "assign LIDs as if a subnet manager had swept")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: topo gen needs one shape: fattree, line, ring or mesh", errUsage)
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
	default:
		return fmt.Errorf("%w: unknown shape %q (want fattree, line, ring or mesh)", errUsage, pos[0])
	}
	if err != nil {
		return err
	}
	return topology.Write(stdout, t)
}
