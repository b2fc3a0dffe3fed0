package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/install"
)

// hostEnv names the environment variable that gives the host root when
// --host is not given.
const hostEnv = "IBEMU_HOST"

// faultEnv is a fault-injection knob for tests: "fail:N" fails install
// step N (the install rolls back), "exit:N" makes the process exit at step
// N in the middle of its transaction, as a killed installer would.
const faultEnv = "IBEMU_INSTALL_FAULT"

// hostArgs takes --host DIR (or --host=DIR) and --topology FILE out of
// args wherever they appear; msiexec-style arguments stay in order.
func hostArgs(args []string) (root, topo string, rest []string, err error) {
	value := func(i int, name string) (string, int, bool, error) {
		a := args[i]
		for _, prefix := range []string{"--" + name, "-" + name} {
			switch {
			case a == prefix:
				if i+1 >= len(args) {
					return "", i, false, fmt.Errorf("%w: %s needs a value", errUsage, a)
				}
				return args[i+1], i + 1, true, nil
			case strings.HasPrefix(a, prefix+"="):
				return a[len(prefix)+1:], i, true, nil
			}
		}
		return "", i, false, nil
	}
	for i := 0; i < len(args); i++ {
		v, j, ok, err := value(i, "host")
		if err != nil {
			return "", "", nil, err
		}
		if ok {
			root, i = v, j
			continue
		}
		if v, j, ok, err = value(i, "topology"); err != nil {
			return "", "", nil, err
		} else if ok {
			topo, i = v, j
			continue
		}
		rest = append(rest, args[i])
	}
	if root == "" {
		root = os.Getenv(hostEnv)
	}
	if root == "" {
		return "", "", nil, fmt.Errorf("%w: no host: give --host DIR or set %s", errUsage, hostEnv)
	}
	return root, topo, rest, nil
}

// attachedHost is a host opened with the HCAs of a running in-process
// fabric attached.
type attachedHost struct {
	*host.Host
	fab *fabric.Fabric
}

// Close stops the fabric and closes the host.
func (a *attachedHost) Close() error {
	err := a.Host.Close()
	if a.fab != nil {
		a.fab.Stop()
	}
	return err
}

// startFabric builds and starts the topology in file.
func startFabric(file string) (*fabric.Fabric, error) {
	t, err := topology.Load(file)
	if err != nil {
		return nil, err
	}
	fab, err := fabric.Build(t)
	if err != nil {
		return nil, err
	}
	if err := fab.Start(context.Background()); err != nil {
		return nil, err
	}
	return fab, nil
}

// openHost opens the host at root; with a topology, the fabric is built
// and started and the HCAs whose GUIDs the host's slots carry are
// attached live.
func openHost(root, topo string) (*attachedHost, error) {
	var fab *fabric.Fabric
	var opts []host.Option
	if topo != "" {
		var err error
		if fab, err = startFabric(topo); err != nil {
			return nil, err
		}
		st, err := host.Open(root)
		if err != nil {
			fab.Stop()
			return nil, err
		}
		for _, s := range st.HCAs() {
			for _, fh := range fab.HCAs {
				if fh.Device.NodeGUID() == s.NodeGUID {
					opts = append(opts, host.WithAdapters(host.FabricAdapter(fh)))
				}
			}
		}
		st.Close()
	}
	h, err := host.Open(root, opts...)
	if err != nil {
		if fab != nil {
			fab.Stop()
		}
		return nil, err
	}
	return &attachedHost{Host: h, fab: fab}, nil
}

// runMsiexec replays an msiexec command line against a host root.
//
//	ibemu msiexec --host DIR [--topology FILE] /i PACKAGE.msi [/qn] [/quiet] [/passive] [/log FILE] [PROPERTY=value ...]
//	ibemu msiexec --host DIR /x PACKAGE.msi|{PRODUCT-CODE} [/quiet] [/forcerestart]
//	ibemu msiexec --host DIR /a PACKAGE.msi TARGETDIR=FOLDER
func runMsiexec(stdout, stderr io.Writer, args []string) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "/?") {
		fmt.Fprintln(stderr, "usage: ibemu msiexec --host DIR [--topology FILE] /i|/x|/a PACKAGE [/qn|/quiet|/passive] [/l*v FILE|/log FILE] [/forcerestart] [PROPERTY=value ...]")
		fmt.Fprintln(stderr, "packages:")
		for _, p := range install.Packages() {
			fmt.Fprintf(stderr, "  %-28s %s  %s\n", p.FileName, p.ProductCode, p.ProductName())
		}
		return flag.ErrHelp
	}
	root, topo, rest, err := hostArgs(args)
	if err != nil {
		return err
	}
	req, err := install.ParseCommandLine(rest)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	h, err := openHost(root, topo)
	if err != nil {
		return err
	}
	defer h.Close()
	opts := install.Options{Prompt: stdinPrompt(stderr)}
	if f := os.Getenv(faultEnv); f != "" {
		mode, n, ok := strings.Cut(f, ":")
		step, err := strconv.Atoi(n)
		if !ok || err != nil || (mode != "fail" && mode != "exit") {
			return fmt.Errorf("%w: %s=%q: want fail:N or exit:N", errUsage, faultEnv, f)
		}
		opts.Fault = func(s int, name string) error {
			if s != step {
				return nil
			}
			if mode == "exit" {
				fmt.Fprintf(stderr, "ibemu msiexec: %s: exiting at step %d (%s)\n", faultEnv, s, name)
				os.Exit(137)
			}
			return fmt.Errorf("%s: injected failure at step %d (%s)", faultEnv, s, name)
		}
	}
	res, err := install.Run(h.Host, req, opts)
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	if err != nil {
		if errors.Is(err, install.ErrBadCommandLine) || errors.Is(err, install.ErrUnknownProperty) || errors.Is(err, install.ErrUnknownFeature) {
			return fmt.Errorf("%w: %v (exit code %d)", errUsage, err, install.ExitCode(err))
		}
		return fmt.Errorf("%v (exit code %d)", err, install.ExitCode(err))
	}
	switch req.Action {
	case install.ActionInstall:
		fmt.Fprintf(stdout, "installed %s (%s) on %s: %s\n", res.Package.ProductName(), res.ProductCode, h.Name(), strings.Join(res.Features, ", "))
	case install.ActionUninstall:
		fmt.Fprintf(stdout, "removed %s (%s) from %s\n", res.Package.ProductName(), res.ProductCode, h.Name())
		for _, f := range res.Lingering {
			fmt.Fprintf(stdout, "lingering: %s\n", f)
		}
	case install.ActionAdmin:
		fmt.Fprintf(stdout, "extracted %s\n", res.Package.FileName)
	}
	msg := map[int]string{0: "", 3010: " (a restart is required)", 1641: " (the installer restarted the host)"}[res.ExitCode]
	fmt.Fprintf(stdout, "exit code %d%s\n", res.ExitCode, msg)
	return nil
}

// stdinPrompt asks the driver-signing question on stderr and reads the
// answer from standard input: i(nstall), a(lways trust) or anything else
// (or no input) to decline.
func stdinPrompt(stderr io.Writer) func(install.Question) install.Answer {
	return func(q install.Question) install.Answer {
		fmt.Fprintf(stderr, "Windows Security: would you like to install this device software?\n  Publisher: %s (not WHQL-certified)\n  Drivers: %s\n[i]nstall, [a]lways trust software from %s, [d]on't install: ",
			q.Publisher, strings.Join(q.Drivers, ", "), q.Publisher)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "i", "install", "y", "yes":
			return install.AnswerInstall
		case "a", "always":
			return install.AnswerAlwaysTrust
		}
		return install.AnswerDontInstall
	}
}

// hostGUID makes a stable Mellanox-OUI node GUID for slot n of a host.
func hostGUID(name string, n int) wire.GUID {
	s := fnv.New32a()
	s.Write([]byte(strings.ToUpper(name)))
	return wire.GUID(uint64(hca.MellanoxVendorID)<<40 | uint64(s.Sum32()&0xFFFFF)<<12 | uint64(n)<<4)
}
