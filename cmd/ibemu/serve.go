package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/attach"
	"github.com/ibemu/ibemu/stack/fabric"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// serveStdin is the console input of ibemu serve (a variable so tests can
// replace it).
var serveStdin io.Reader = os.Stdin

// runServe is `ibemu serve TOPOLOGY`: the ibsim-compatible attach server.
// Programs run with Debian's libumad2sim.so preloaded (OpenSM, the
// infiniband-diags) attach to the emulated fabric; the console reads
// ibsim's commands (and more) from stdin and from --commands.
func runServe(stdout, stderr io.Writer, args []string) error {
	fs := newFlagSet("serve", stderr,
		"serve TOPOLOGY [--listen ADDR:PORT] [--sockname NAME] [--commands FILE] [--no-console] [--capture FILE.pcap] [-v N] [--cpuprofile FILE] [--memprofile FILE]")
	listen := fs.String("listen", "", "remote mode: serve UDP on ADDR:PORT (PORT alone binds 127.0.0.1); default: abstract unix sockets")
	sock := fs.String("sockname", "", "base name of the abstract unix sockets (default $IBSIM_SOCKNAME, else sim)")
	cmds := fs.String("commands", "", "run the console commands of FILE after start")
	noConsole := fs.Bool("no-console", false, "do not read console commands from stdin")
	verbose := fs.Int("v", 0, "log level: 0 warnings, 1 info, 2 debug")
	hcaProf := fs.String("hca-profile", "", "use this HCA model for every CA (default: by each node's devid, or the oldest model that runs its links' rates): "+
		strings.Join(hca.StandardProfiles().Names(), ", "))
	swProf := fs.String("switch-profile", "", "use this switch model for every switch (default as for CAs): "+strings.Join(switchProfileNames(), ", "))
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the server's run to this file")
	memProfile := fs.String("memprofile", "", "write a heap profile to this file when the server stops")
	capFile := fs.String("capture", "", "write every frame crossing the fabric's links (the clients' MADs too) to this ERF pcap file")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: serve needs exactly one TOPOLOGY file", errUsage)
	}
	if *memProfile != "" {
		// Record every 4 KiB allocated rather than every 512 KiB, so the
		// profile of a small fabric names its per-port structures.
		runtime.MemProfileRate = 4096
	}
	t, err := topology.Load(pos[0])
	if err != nil {
		return err
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// The fabric runs on one event loop, which the first client's
		// reader runs inline while it sleeps in its socket between
		// batches, keeping its P (stack/attach: takeBlockingReader); a
		// second P serves everything else (the control socket, other
		// clients, timers) meanwhile. More would only let goroutines wake
		// more threads.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	level := new(slog.LevelVar)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var fopts []fabric.Option
	if *hcaProf != "" {
		fopts = append(fopts, fabric.WithHCAProfile(*hcaProf))
	}
	if *swProf != "" {
		fopts = append(fopts, fabric.WithSwitchProfile(*swProf))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Closed once everything below is shut down (the deferred closes run
	// before it): ends the shutdown watch.
	shutDown := make(chan struct{})
	defer close(shutDown)
	quit := make(chan struct{})
	srv, err := attach.New(attach.Config{
		Topology: t, SockName: *sock, Listen: *listen, Logger: logger, LogLevel: level,
		FabricOptions: fopts, Output: stdout,
		OnQuit: func() {
			select {
			case <-quit:
			default:
				close(quit)
			}
		},
	})
	if err != nil {
		return err
	}
	if err := srv.Exec(fmt.Sprintf("Verbose %d", *verbose), io.Discard); err != nil {
		return err
	}
	if *capFile != "" {
		cw, err := capture.Create(*capFile)
		if err != nil {
			return err
		}
		srv.Fabric().AddTap(cw)
		// Runs after srv.Close (deferred below): no frame comes after the
		// file is closed.
		defer func() {
			n := cw.Frames()
			if err := cw.Close(); err != nil {
				fmt.Fprintf(stderr, "# ibemu serve: %v\n", err)
			}
			fmt.Fprintf(stdout, "# ibemu serve: captured %d frames in %s\n", n, *capFile)
		}()
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer srv.Close()
	// The data path (stack/attach/DATAPATH.md): processes attach their own
	// HCA to a CA port and run verbs traffic through the fabric.
	dp, err := attach.ListenDataPath(srv, attach.DataPathConfig{})
	if err != nil {
		return err
	}
	defer dp.Close()
	defer tuneGC()()
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	fmt.Fprintf(stdout, "# ibemu serve: %d nodes from %s, clients attach at %s\n", len(t.Nodes), pos[0], srv.Addr())
	fmt.Fprintf(stdout, "# ibemu serve: data path at %s\n", dp.Addr())
	if *cmds != "" {
		if err := srv.ExecFile(*cmds, stdout); err != nil {
			fmt.Fprintf(stdout, "# %v\n", err)
		}
	}
	if !*noConsole {
		go srv.RunConsole(ctx, serveStdin, stdout, false)
	}
	select {
	case <-ctx.Done():
	case <-quit:
	case <-srv.Done():
	}
	go watchShutdown(stderr, shutDown, shutdownWatch)
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			fmt.Fprintf(stderr, "# ibemu serve: %v\n", err)
		}
	}
	st := srv.Stats()
	fmt.Fprintf(stdout, "# ibemu serve: %d datagrams from clients, %d to clients, %d returned undeliverable, %d retransmitted, %d malformed\n",
		st.FromClients.Load(), st.ToClients.Load(), st.Bounced.Load(), st.Retried.Load(), st.Malformed.Load())
	fmt.Fprintf(stdout, "# ibemu serve: %d reads, %d writes, %d read wakeups, at most %d requests outstanding, at most %d in one read\n",
		st.Reads.Load(), st.Writes.Load(), st.Wakeups.Load(), st.MaxOutstanding.Load(), st.MaxBatch.Load())
	return nil
}

// shutdownWatch is how long a server's shutdown may take before
// watchShutdown shows where it waits.
const shutdownWatch = 10 * time.Second

// watchShutdown watches a server's shutdown until done is closed: when it
// outlasts after, or a second SIGINT or SIGTERM comes, it prints every
// goroutine's stack to w, so that a shutdown that waits on something can
// be told; the second signal then ends the process (exit status 1).
func watchShutdown(w io.Writer, done <-chan struct{}, after time.Duration) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	t := time.NewTimer(after)
	defer t.Stop()
	dump := func(why string) {
		fmt.Fprintf(w, "# ibemu serve: %s; goroutines:\n", why)
		_ = pprof.Lookup("goroutine").WriteTo(w, 2)
	}
	for {
		select {
		case <-done:
			return
		case <-t.C:
			dump(fmt.Sprintf("shutdown still running after %v", after))
		case <-sig:
			dump("second signal during shutdown")
			os.Exit(1)
		}
	}
}

// tuneGC sets the collector for a running server unless GOGC or GOMEMLIMIT
// say otherwise: most of what the server allocates is short-lived (frames,
// MADs) while the fabric itself is long-lived, so it collects rarely
// (GOGC 400) but keeps the heap under twice the fabric's size plus 32 MiB.
// It returns the function that restores the previous settings.
func tuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	pct := debug.SetGCPercent(400)
	lim := debug.SetMemoryLimit(int64(2*ms.HeapAlloc) + 32<<20)
	return func() {
		debug.SetGCPercent(pct)
		debug.SetMemoryLimit(lim)
	}
}

// switchProfileNames lists the built-in switch models, for usage texts.
func switchProfileNames() []string {
	var names []string
	for _, p := range ibswitch.Profiles() {
		names = append(names, p.Name)
	}
	return names
}
