// Command ibemu is the InfiniBand fabric emulator's command line: it checks
// and generates topology files, discovers emulated fabrics with
// directed-route SMPs as ibnetdiscover does, and runs the demo.
//
// Usage:
//
//	ibemu topo check FILE...
//	ibemu topo gen fattree --levels 2|3 --radix N [--rate 4xQDR] [--hca-ports N] [--lids]
//	ibemu topo gen line|ring --switches N --hcas N
//	ibemu topo gen torus|grid --dims 4x4[x2] [--hcas N]
//	ibemu topo diff [--from NODE[:PORT]] WANT GOT
//	ibemu discover TOPOLOGY [--from NODE] [--capture FILE.pcap] [--window N]
//	ibemu demo
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one ibemu subcommand.
type command struct {
	summary string
	run     func(stdout, stderr io.Writer, args []string) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"topo":      {"check or generate topology files", runTopo},
		"discover":  {"walk an emulated fabric with directed-route SMPs and print ibnetdiscover output", runDiscover},
		"demo":      {"generate a small fat tree, discover it and print a summary", runDemo},
		"host":      {"create and manage emulated host roots (OS, HCAs, devices, services)", runHost},
		"msiexec":   {"replay WinOF msiexec command lines (/i, /x, /a) against a host root", runMsiexec},
		"vstat":     {"print a host's HCAs in WinOF's vstat layout", runVstat},
		"flint":     {"query and burn HCA firmware on a host", runFlint},
		"ibscan":    {"list every WinOF file on a host", runIBScan},
		"ibcleanup": {"remove every WinOF file from a host (not an uninstall)", runIBCleanup},
		"up":        {"bring a topology up in-process with the built-in subnet manager and print a summary", runUp},
		"serve":     {"serve a topology to OpenSM and infiniband-diags over the ibsim attach protocol", runServe},
		"sm":        {"run the subnet manager over the ibsim attach protocol (against ibsim or ibemu serve), like opensm", runSM},
		"perf":      {"perftest bandwidth and latency tests (write_bw, send_lat, ...) between two emulated HCAs", runPerf},
		"conform":   {"run the IBTA conformance checks of every node's SMA and PMA (in process, through ibsim or ibemu serve, or on a real HCA)", runConform},
	}
}

// errUsage marks an error caused by bad command-line usage (exit status 2).
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Stdout, os.Stderr, os.Args[1:]))
}

func run(stdout, stderr io.Writer, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ibemu: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(stdout, stderr, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ibemu %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ibemu COMMAND [ARGS]")
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

// parseArgs parses flags that may appear before, between or after the
// positional arguments, and returns the positionals.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name string, stderr io.Writer, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ibemu %s\n", synopsis)
		if strings.Contains(synopsis, "-") {
			fs.PrintDefaults()
		}
	}
	return fs
}
