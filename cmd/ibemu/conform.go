package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ibemu/ibemu/conformance"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// runConform implements `ibemu conform`: the conformance checks
// (package conformance) of every node reachable from one HCA port, in
// process on a topology brought up by the built-in SM, through the attach
// protocol against a running ibsim or ibemu serve, or on a real HCA
// through its Linux umad device.
func runConform(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("conform", stderr, "conform [TOPOLOGY] [--from HCA] | --attach [--sockname NAME] [--host NODE] [--server HOST --server-port N] | --umad CA[:PORT]; [--only ID,...] [--max-nodes N] [--timeout D] [--retries N] [--write] [--junit FILE] [--list] [-v]")
	attachMode := fs.Bool("attach", false, "check the fabric of a running ibsim or ibemu serve through the attach protocol (libumad2sim's); LID-routed checks need an SM to have brought it up")
	umadPort := fs.String("umad", "", "check a real fabric from the Linux umad device of CA[:PORT] (CA any: the first)")
	from := fs.String("from", "", "in process: the HCA (node id or NodeDescription) the checks run from (default: the first HCA)")
	sock := fs.String("sockname", "", "--attach: base name of the server's abstract sockets (default $IBSIM_SOCKNAME, else sim)")
	host := fs.String("host", "", "--attach: node to attach to (default $SIM_HOST, else the server's choice)")
	server := fs.String("server", "", "--attach remote mode: the server's host name or IPv4 address (default $IBSIM_SERVER_NAME)")
	serverPort := fs.Int("server-port", 0, "--attach remote mode: the server's UDP control port (default $IBSIM_SERVER_PORT, else 7070)")
	only := fs.String("only", "", "run only these checks (comma-separated IDs; --list names them)")
	maxNodes := fs.Int("max-nodes", 0, "check at most this many nodes (0: every node the walk finds)")
	timeout := fs.Duration("timeout", 200*time.Millisecond, "wait for each response")
	retries := fs.Int("retries", 2, "retransmissions of an unanswered request")
	list := fs.Bool("list", false, "list the checks and exit")
	write := fs.Bool("write", false, "run the checks that change a node for a moment too (an M_Key), restoring it after")
	parallel := fs.Int("parallel", 32, "run the timed checks (the M_Key lease's 2 s wait) on up to this many nodes at once, after the others (1: node after node)")
	verbose := fs.Bool("v", false, "print every check's outcome, passes too")
	junit := fs.String("junit", "", "also write the results to this file as JUnit XML (one test case per check and node)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *list {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, c := range conformance.Checks {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ID, c.Ref, c.What)
		}
		for _, c := range conformance.WriteChecks {
			fmt.Fprintf(tw, "%s\t%s\t(--write) %s\n", c.ID, c.Ref, c.What)
		}
		return tw.Flush()
	}
	remote := *attachMode || *umadPort != ""
	switch {
	case *attachMode && *umadPort != "":
		return fmt.Errorf("%w: --attach and --umad exclude each other", errUsage)
	case remote && (len(pos) > 0 || *from != ""):
		return fmt.Errorf("%w: a topology file and --from are for the in-process fabric, not with --attach or --umad", errUsage)
	case len(pos) > 1:
		return fmt.Errorf("%w: conform takes at most one topology file", errUsage)
	case *maxNodes < 0 || *retries < 0 || *timeout <= 0 || *parallel < 1:
		return fmt.Errorf("%w: --max-nodes and --retries must not be negative, --timeout and --parallel must be positive", errUsage)
	}
	opts := conformance.Options{MaxNodes: *maxNodes, Write: *write, Parallel: *parallel}
	if *only != "" {
		opts.Only = strings.Split(*only, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	var tr mad.Transport
	var where string
	if remote {
		var closeTr func()
		tr, where, closeTr, err = smTransport(ctx, *umadPort, *sock, *host, *server, *serverPort, 10*time.Second)
		if err != nil {
			return err
		}
		defer closeTr()
	} else {
		t, err := DefaultTopology()
		name := "the built-in topology"
		if len(pos) == 1 {
			t, err = topology.Load(pos[0])
			name = pos[0]
		}
		if err != nil {
			return err
		}
		ses, err := openSession(ctx, t, *from, 0, "", "the conformance checks")
		if err != nil {
			return err
		}
		defer ses.close()
		tr = mad.NewInProcess(ses.fab.Emu, ses.from.Device, ses.port)
		// The built-in SM brings the subnet up first, so that the
		// LID-routed checks (SMPs by LID, the PMA) run too.
		m, err := sm.New(tr, sm.Config{})
		if err != nil {
			return err
		}
		_, err = m.Sweep(ctx)
		m.Close()
		if err != nil {
			return fmt.Errorf("bring %s up: %w", name, err)
		}
		where = fmt.Sprintf("in process on %s, from %s port %d", name, ses.from.Topo.Desc, ses.port)
	}
	tg := newMADTarget(tr, mad.Options{Timeout: *timeout, Retries: *retries})
	// Traps sent to this port's LID reach its agents in process and
	// through umad; an attach server hands them to SM clients only.
	tg.takesTraps = !*attachMode
	defer tg.Close()
	fmt.Fprintf(stderr, "conform: %s\n", where)
	rep, err := conformance.Run(ctx, tg, opts)
	if err != nil {
		if errors.Is(err, conformance.ErrUnknownCheck) {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		return err
	}
	if err := rep.WriteText(stdout, *verbose); err != nil {
		return err
	}
	if *junit != "" {
		f, err := os.Create(*junit)
		if err != nil {
			return err
		}
		err = rep.WriteJUnit(f, "ibemu conform "+where)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", *junit, err)
		}
	}
	if n := rep.Count(conformance.Fail); n > 0 {
		return fmt.Errorf("%d checks failed", n)
	}
	return nil
}
