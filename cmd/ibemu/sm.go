package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/attach"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// smDial attaches `ibemu sm` to its server (a variable so tests can count
// or replace the attachment).
var smDial = attach.Dial

// runSM implements `ibemu sm`: the subnet manager (stack/sm) on one port of
// a fabric served over the ibsim attach protocol, by the real ibsim or by
// ibemu serve, as OpenSM runs there with libumad2sim.so preloaded. The
// attach point comes from the same environment variables as libumad2sim's
// (IBSIM_SOCKNAME, SIM_HOST, IBSIM_SERVER_NAME, IBSIM_SERVER_PORT) unless
// a flag gives it. With --once it runs one heavy sweep and exits 0 once the
// subnet is up, like `opensm -o`; otherwise it runs as master or standby
// (IBTA Vol 1 §14.4.1) until SIGINT or SIGTERM.
func runSM(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("sm", stderr, "sm [--once] [--priority N] [--routing minhop|updn|ftree] [--guid-file F] [--partitions F] "+
		"[--lmc N] [--sockname NAME] [--host NODE] [--server HOST] [--server-port N] [--window N] [--timeout D] "+
		"[--retries N] [--sweep-interval D] [--poll-interval D] [--mkey K --mkey-protect N] [--sm-key K] [--config opensm.conf] [--quiet] [-v] [--debug]")
	once := fs.Bool("once", false, "run one heavy sweep and exit 0 when the subnet is up (like opensm -o)")
	priority := fs.Uint("priority", 0, "SMInfo priority 0-15 (higher wins the master election)")
	routing := fs.String("routing", "minhop", "routing engine: minhop, updn or ftree")
	guidFile := fs.String("guid-file", "", "persistent GUID-to-LID file (OpenSM's guid2lid): same LIDs after a restart")
	partitions := fs.String("partitions", "", "partition file (OpenSM partitions.conf syntax)")
	lmc := fs.Uint("lmc", 0, "LMC: 2^N LIDs per CA port (0-7)")
	sock := fs.String("sockname", "", "base name of the server's abstract sockets (default $IBSIM_SOCKNAME, else sim)")
	host := fs.String("host", "", "node (id or NodeDescription) to attach to (default $SIM_HOST, else the server's choice)")
	server := fs.String("server", "", "remote mode: the server's host name or IPv4 address (default $IBSIM_SERVER_NAME)")
	serverPort := fs.Int("server-port", 0, "remote mode: the server's UDP control port (default $IBSIM_SERVER_PORT, else 7070)")
	window := fs.Int("window", 0, "outstanding SMPs of a sweep (default sm.DefaultWindow)")
	timeout := fs.Duration("timeout", 0, "SMP timeout (default sm.DefaultTimeout)")
	retries := fs.Int("retries", 0, "SMP retries (default sm.DefaultRetries)")
	sweep := fs.Duration("sweep-interval", 0, "light sweep period as master (default 10s; negative: none)")
	poll := fs.Duration("poll-interval", 0, "SMInfo poll period of the master as standby (default 10s)")
	mkeyStr := fs.String("mkey", "0", "M_Key to program into every port (IBTA Vol 1 §14.2.4), decimal or 0x hex")
	smKeyStr := fs.String("sm-key", "0x1", "SM_Key (IBTA Vol 1 §14.4.1): SMs with another key are ignored; 0 accepts any (default OpenSM's 0x1)")
	mkeyProtect := fs.Uint("mkey-protect", 0, "M_Key protection bits 0-3 (IBTA Vol 1 §14.2.4.1)")
	attachWait := fs.Duration("attach-wait", 10*time.Second, "how long to retry attaching while the server is not there yet")
	quiet := fs.Bool("quiet", false, "print only errors")
	verbose := fs.Bool("v", false, "log the subnet manager's steps on stderr")
	debug := fs.Bool("debug", false, "log the per-port decisions too (link enables, FDR10 writes) on stderr")
	configFile := fs.String("config", "", "OpenSM options file (opensm.conf syntax, as opensm -F): the options the SM models, congestion control included; flags given override it")
	umadPort := fs.String("umad", "", "run on real hardware through Linux umad instead of the attach protocol: CA[:PORT] (e.g. mlx4_0:1; \"any\" for the first active port)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return fmt.Errorf("%w: sm takes no positional arguments", errUsage)
	}
	if *priority > 15 {
		return fmt.Errorf("%w: --priority %d above 15", errUsage, *priority)
	}
	if *lmc > 7 {
		return fmt.Errorf("%w: --lmc %d above 7", errUsage, *lmc)
	}
	if *mkeyProtect > 3 {
		return fmt.Errorf("%w: --mkey-protect %d above 3", errUsage, *mkeyProtect)
	}
	mkey, err := strconv.ParseUint(*mkeyStr, 0, 64)
	if err != nil {
		return fmt.Errorf("%w: --mkey %q: %v", errUsage, *mkeyStr, err)
	}
	smKey, err := strconv.ParseUint(*smKeyStr, 0, 64)
	if err != nil {
		return fmt.Errorf("%w: --sm-key %q: %v", errUsage, *smKeyStr, err)
	}
	r, err := sm.ParseRouting(*routing)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	if *debug {
		level = slog.LevelDebug
	}
	cfg := sm.Config{Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	// The flags' values (their defaults included) first, then the options
	// file, then the flags given on the command line again: as with
	// opensm -F, the command line wins over the file.
	applyFlags := func(only func(string) bool) {
		set := func(name string, fn func()) {
			if only(name) {
				fn()
			}
		}
		set("priority", func() { cfg.Priority = uint8(*priority) })
		set("sm-key", func() { cfg.SMKey = smKey })
		set("routing", func() { cfg.Routing = r })
		set("lmc", func() { cfg.LMC = uint8(*lmc) })
		set("guid-file", func() { cfg.GUIDFile = *guidFile })
		set("window", func() { cfg.Window = *window })
		set("timeout", func() { cfg.Timeout = *timeout })
		set("retries", func() { cfg.Retries = *retries })
		set("sweep-interval", func() { cfg.SweepInterval = *sweep })
		set("poll-interval", func() { cfg.PollInterval = *poll })
		set("mkey", func() { cfg.MKey = mkey })
		set("mkey-protect", func() { cfg.MKeyProtect = uint8(*mkeyProtect) })
	}
	if err := applyOptionsFile(&cfg, fs, *configFile, applyFlags); err != nil {
		return err
	}
	if *partitions != "" {
		if cfg.Partitions, err = sm.LoadPartitions(*partitions); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, where, closeT, err := smTransport(ctx, *umadPort, *sock, *host, *server, *serverPort, *attachWait)
	if err != nil {
		return err
	}
	defer closeT()
	m, err := sm.New(t, cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	out := stdout
	if *quiet {
		out = io.Discard
	}
	fmt.Fprintf(out, "ibemu sm: %s, priority %d, routing %s\n", where, cfg.Priority, cfg.Routing)
	if *once {
		start := time.Now()
		sn, err := m.Sweep(ctx)
		wall := time.Since(start)
		if errors.Is(err, sm.ErrNotMaster) {
			return fmt.Errorf("another subnet manager is master; this one is %s: %w", m.State(), err)
		}
		if err != nil {
			return err
		}
		printSMSummary(out, sn, wall)
		if n := failingProblems(sn); n > 0 {
			return fmt.Errorf("subnet up with %d problems", n)
		}
		return nil
	}
	errc := make(chan error, 1)
	start := time.Now()
	go func() { errc <- m.Run(ctx) }()
	go func() {
		if m.WaitUp(ctx) == nil {
			if sn := m.Subnet(); sn != nil {
				printSMSummary(out, sn, time.Since(start))
			}
		}
	}()
	return <-errc
}

// printSMSummary prints what a heavy sweep brought up.
func printSMSummary(w io.Writer, sn *sm.Subnet, wall time.Duration) {
	var sws, cas int
	for _, n := range sn.Nodes {
		if n.IsSwitch() {
			sws++
		} else {
			cas++
		}
	}
	var lo, hi wire.LID
	for _, p := range sn.EndPorts() {
		last := p.LID + wire.LID(1)<<p.LMC - 1
		if lo == 0 || p.LID < lo {
			lo = p.LID
		}
		hi = max(hi, last)
	}
	fmt.Fprintf(w, "SUBNET UP: %d switches, %d CAs, lids %d-%d, sm lid %d, %d SMPs, longest route %d hops, %v\n",
		sws, cas, lo, hi, sn.Local.LID, sn.SMPs, sn.MaxHops, wall.Round(time.Microsecond))
	if sn.CCMADs > 0 {
		fmt.Fprintf(w, "congestion control: %d MADs to the ports that have it\n", sn.CCMADs)
	}
	for i, p := range sn.Problems {
		if i == 20 {
			fmt.Fprintf(w, "  ... and %d more problems\n", len(sn.Problems)-20)
			break
		}
		fmt.Fprintf(w, "  problem: %s\n", strings.TrimPrefix(p.Error(), "sm: "))
	}
}

// smTransport opens the MAD transport of `ibemu sm`: the Linux umad device
// of CA[:PORT] when umadPort is given, else the attach protocol to an ibsim
// or ibemu serve fabric. It returns the transport, a phrase saying where
// the SM runs, and the function that closes it.
func smTransport(ctx context.Context, umadPort, sock, host, server string, serverPort int, wait time.Duration) (mad.Transport, string, func(), error) {
	if umadPort != "" {
		ca, port := umadPort, 0
		if i := strings.LastIndexByte(umadPort, ':'); i >= 0 {
			n, err := strconv.Atoi(umadPort[i+1:])
			if err != nil || n < 1 || n > 254 {
				return nil, "", nil, fmt.Errorf("%w: --umad %q: port must be 1..254", errUsage, umadPort)
			}
			ca, port = umadPort[:i], n
		}
		if ca == "any" {
			ca = ""
		}
		u, err := mad.OpenUmad(ca, port, nil)
		if err != nil {
			return nil, "", nil, fmt.Errorf("open umad port %q: %w", umadPort, err)
		}
		p := u.Port()
		return u, fmt.Sprintf("on %s port %d (%s, LID %d)", p.CA, p.Port, p.Device, p.LID), func() { u.Close() }, nil
	}
	dc := attach.EnvDialConfig()
	if sock != "" {
		dc.SockName = sock
	}
	if host != "" {
		dc.Host = host
	}
	if server != "" {
		dc.ServerName = server
	}
	if serverPort != 0 {
		dc.ServerPort = serverPort
	}
	dctx, dcancel := context.WithTimeout(ctx, wait)
	client, err := smDial(dctx, &dc)
	dcancel()
	if err != nil {
		return nil, "", nil, err
	}
	return client, fmt.Sprintf("attached to %q (slot %d)", client.Node(), client.Slot()), func() { client.Close() }, nil
}

// failingProblems counts the problems of a sweep that make --once fail:
// all but a min-hop credit loop that only the routes towards switch LIDs
// close (the CA-to-CA routes are loop-free then; it stays a printed
// problem and a logged warning).
func failingProblems(sn *sm.Subnet) int {
	n := 0
	for _, p := range sn.Problems {
		var cl *sm.CreditLoopError
		if errors.As(p, &cl) && cl.SwitchLIDsOnly {
			continue
		}
		n++
	}
	return n
}

// applyOptionsFile gives cfg the values of the command's flags
// (applyFlags with every flag), then, with an OpenSM options file, what
// the file says and the flags the command line gave again: as with
// opensm -F, the command line wins over the file. The keys of the file
// the subnet manager does not model are named in one warning.
func applyOptionsFile(cfg *sm.Config, fs *flag.FlagSet, file string, applyFlags func(only func(string) bool)) error {
	applyFlags(func(string) bool { return true })
	if file == "" {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("sm: options file: %w", err)
	}
	ignored, err := cfg.ApplyOpenSMOptions(file, f)
	f.Close()
	if err != nil {
		return err
	}
	if len(ignored) > 0 && cfg.Logger != nil {
		cfg.Logger.Warn("sm: options the subnet manager does not model are ignored", "file", file, "keys", strings.Join(ignored, " "))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	applyFlags(func(name string) bool { return given[name] })
	return nil
}
