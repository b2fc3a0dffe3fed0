//go:build linux

package attach

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The infiniband-diags conformance sweep: every diag runs, unmodified,
// against an in-process server and, side by side, against the real ibsim
// on the same net file (ibsim-utils' net.2sw2path4hca), each brought up
// once by its own daemon OpenSM. Where ibsim implements the MAD the two
// outputs must agree (normalised for what the device profiles make differ
// by design: vendor and device IDs, supported speeds); where it does not,
// our answer is checked for its content and for an IBTA status instead of
// a timeout.

// diagTools are the programs the sweep runs besides interopTools.
var diagTools = []string{"ibsim", "ibaddr", "iblinkinfo", "ibqueryerrors", "ibroute", "dump_fts", "dump_lfts", "dump_mfts",
	"ibswitches", "ibhosts", "ibnodes", "ibrouters", "smpdump", "ibportstate", "ibsysstat", "ibping", "ibstat",
	"ibstatus", "check_lft_balance", "ibcacheedit", "ibidsverify"}

// diagFabric is one simulator under test: ours (srv set) or ibsim.
type diagFabric struct {
	name string // "ibemu" or "ibsim"
	sock string
	dir  string
	srv  *Server // nil for ibsim
	in   io.Writer
	osm  string // OpenSM's log file
}

// diagRun runs a tool against f with libumad2sim preloaded and returns
// its combined output and error.
func (f *diagFabric) run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	dir, err := os.MkdirTemp(f.dir, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+umad2sim, "IBSIM_SOCKNAME="+f.sock, "OSM_TMP_DIR="+dir, "OSM_CACHE_DIR="+dir)
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s on %s: timed out after %v: %w", name, strings.Join(args, " "), f.name, timeout, ctx.Err())
	}
	return out.String(), err
}

// mustRun is run, failing the test on error.
func (f *diagFabric) mustRun(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := f.run(t, 15*time.Second, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s on %s: %v\n%s", name, strings.Join(args, " "), f.name, err, out)
	}
	return out
}

// console runs a console command: ibsim reads them from its stdin.
func (f *diagFabric) console(t *testing.T, line string) {
	t.Helper()
	if f.srv != nil {
		var out bytes.Buffer
		if err := f.srv.Exec(line, &out); err != nil {
			t.Fatalf("ibemu console %q: %v\n%s", line, err, out.String())
		}
		return
	}
	if _, err := io.WriteString(f.in, line+"\n"); err != nil {
		t.Fatalf("ibsim console %q: %v", line, err)
	}
}

// startOpenSM runs a daemon OpenSM on f and waits for SUBNET UP. It is
// stopped (its process group) when t ends.
func (f *diagFabric) startOpenSM(t *testing.T) {
	t.Helper()
	conf := filepath.Join(f.dir, "opensm.conf")
	if err := os.WriteFile(conf, []byte("force_log_flush TRUE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.osm = filepath.Join(f.dir, "opensm.log")
	cmd := exec.Command("opensm", "-F", conf, "-f", f.osm)
	cmd.Dir = f.dir
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+umad2sim, "IBSIM_SOCKNAME="+f.sock, "OSM_TMP_DIR="+f.dir, "OSM_CACHE_DIR="+f.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	f.waitLog(t, "SUBNET UP", 1, 30*time.Second)
}

// waitLog waits until OpenSM's log holds at least n occurrences of what.
func (f *diagFabric) waitLog(t *testing.T, what string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(f.osm)
		if strings.Count(string(b), what) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d x %q not in OpenSM's log within %v:\n%s", f.name, n, what, timeout, tail(string(b), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logCount counts what in OpenSM's log.
func (f *diagFabric) logCount(what string) int {
	b, _ := os.ReadFile(f.osm)
	return strings.Count(string(b), what)
}

// startIbsim starts the real ibsim on net with its console on a pipe.
func startIbsim(t *testing.T, net string) *diagFabric {
	t.Helper()
	f := &diagFabric{name: "ibsim", dir: t.TempDir(), sock: fmt.Sprintf("ibemu-diags-ibsim-%d-%d", os.Getpid(), sockSeq.Add(1))}
	cmd := exec.Command("ibsim", "-s", net)
	cmd.Dir = f.dir
	cmd.Env = append(os.Environ(), "IBSIM_SOCKNAME="+f.sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.in = in
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	// The server is up once a tool can attach.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := f.run(t, 5*time.Second, nil, "smpquery", "-D", "nodedesc", "0")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ibsim does not answer: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return f
}

var (
	attachedLine = regexp.MustCompile(`(?m)^ibwarn: \[\d+\] sim_connect: attached as client \d+ at node "[^"]*"\n`)
	ibwarnPID    = regexp.MustCompile(`\[\d+\]`)
)

// norm drops libumad2sim's attach line and process ids, which differ
// from run to run.
func norm(s string) string {
	return ibwarnPID.ReplaceAllString(attachedLine.ReplaceAllString(s, ""), "[PID]")
}

// diagPair is our server and ibsim on the same net, each with its OpenSM.
type diagPair struct {
	emu, sim *diagFabric
}

// same runs a tool on both and requires the normalised outputs (after
// fix, when given) to be equal; it returns ours.
func (d *diagPair) same(t *testing.T, fix func(string) string, name string, args ...string) string {
	t.Helper()
	a, aerr := d.emu.run(t, 15*time.Second, nil, name, args...)
	b, berr := d.sim.run(t, 15*time.Second, nil, name, args...)
	if (aerr == nil) != (berr == nil) {
		t.Fatalf("%s %s: ibemu %v, ibsim %v\nibemu:\n%s\nibsim:\n%s", name, strings.Join(args, " "), aerr, berr, a, b)
	}
	na, nb := norm(a), norm(b)
	if fix != nil {
		na, nb = fix(na), fix(nb)
	}
	if na != nb {
		t.Errorf("%s %s differs from ibsim:\nibemu:\n%s\nibsim:\n%s", name, strings.Join(args, " "), na, nb)
	}
	return a
}

// fieldsAgree requires the named "Name:....value" fields of a tool's
// output to be the same on both.
func (d *diagPair) fieldsAgree(t *testing.T, names []string, name string, args ...string) map[string]string {
	t.Helper()
	a := fields(d.emu.mustRun(t, nil, name, args...))
	b := fields(d.sim.mustRun(t, nil, name, args...))
	for _, n := range names {
		if a[n] == "" || a[n] != b[n] {
			t.Errorf("%s %s: %s is %q, ibsim %q", name, strings.Join(args, " "), n, a[n], b[n])
		}
	}
	return a
}

var (
	gbps      = regexp.MustCompile(`\d+\.\d+ Gbps`)
	couldBe   = regexp.MustCompile(`\(\s*(Could be[^)]*)?\)`)
	hoq       = regexp.MustCompile(`HOQ:\d+`)
	actCount  = regexp.MustCompile(`activity count \d+`)
	linkWidth = regexp.MustCompile(`\d+X`)
)

// linkFix normalises iblinkinfo lines for the speeds the profiles give
// (ibsim's ports are SDR with a QDR/12X "Could be" note; ours stay at the
// speed they trained at, with a "Could be" note once OpenSM enabled more)
// and the HOQ lifetime of CA ports (ours is the device's, OpenSM sets
// only switch ports').
func linkFix(s string) string {
	return hoq.ReplaceAllString(couldBe.ReplaceAllString(gbps.ReplaceAllString(s, "S Gbps"), "()"), "HOQ:N")
}

// TestDiagsSweep runs the diags of infiniband-diags side by side on our
// server and on ibsim, one subtest per tool; the subtests that change the
// fabric (ibportstate) come last.
func TestDiagsSweep(t *testing.T) {
	needInterop(t)
	var missing []string
	for _, tool := range diagTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		msg := "diags: missing " + strings.Join(missing, ", ") + " (make deps)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	net := filepath.Join(netExamples, "net.2sw2path4hca")
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	d := &diagPair{
		emu: &diagFabric{name: "ibemu", sock: h.sock, dir: h.dir, srv: h.srv},
		sim: startIbsim(t, net),
	}
	d.emu.startOpenSM(t)
	d.sim.startOpenSM(t)

	t.Run("ibswitches", func(t *testing.T) {
		out := d.same(t, nil, "ibswitches")
		if !strings.Contains(out, `0x0000000000200001 ports 8 "Switch2" base port 0 lid 3 lmc 0`) {
			t.Errorf("ibswitches:\n%s", out)
		}
	})
	t.Run("ibhosts", func(t *testing.T) {
		if out := d.same(t, nil, "ibhosts"); strings.Count(out, "Ca\t:") != 4 {
			t.Errorf("ibhosts:\n%s", out)
		}
	})
	t.Run("ibnodes", func(t *testing.T) { d.same(t, nil, "ibnodes") })
	t.Run("ibrouters", func(t *testing.T) { d.same(t, nil, "ibrouters") })
	t.Run("sminfo", func(t *testing.T) {
		out := d.same(t, func(s string) string { return actCount.ReplaceAllString(s, "activity count N") }, "sminfo")
		if !strings.Contains(out, "sm lid 1 sm guid 0x200000") || !strings.Contains(out, "SMINFO_MASTER") {
			t.Errorf("sminfo:\n%s", out)
		}
	})
	t.Run("ibaddr", func(t *testing.T) {
		for _, args := range [][]string{nil, {"-l"}, {"-g"}, {"2"}, {"-l", "6"}, {"-G", "0x100004"}, {"-G", "0x200001"}} {
			d.same(t, nil, "ibaddr", args...)
		}
		if out := d.emu.mustRun(t, nil, "ibaddr", "-G", "0x100004"); !strings.Contains(out, "GID fe80::10:4 LID start 0x4 end 0x4") {
			t.Errorf("ibaddr -G 0x100004:\n%s", out)
		}
	})
	t.Run("iblinkinfo", func(t *testing.T) {
		for _, args := range [][]string{nil, {"-l"}, {"-p"}} {
			out := d.same(t, linkFix, "iblinkinfo", args...)
			if strings.Count(out, "Active/  LinkUp") != 12 || strings.Count(out, "Down/ Polling") != 8 {
				t.Errorf("iblinkinfo %v: %d active ports and %d polling, want 12 and 8:\n%s", args, strings.Count(out, "Active/  LinkUp"), strings.Count(out, "Down/ Polling"), out)
			}
		}
		// --switch resolves the GUID through the SA, then walks the
		// switch's ports by a LID-routed lead-in and a directed route,
		// which ibsim cannot do (it hangs); from a CA we can.
		for _, host := range []string{"Hca1", "Switch1"} {
			out := d.emu.mustRun(t, []string{"SIM_HOST=" + host}, "iblinkinfo", "--switch", "0x200001")
			for _, want := range []string{`"Hca2"`, `"Hca4"`, `"Switch1"`} {
				if !strings.Contains(out, want) {
					t.Errorf("iblinkinfo --switch 0x200001 from %s lacks %s:\n%s", host, want, out)
				}
			}
		}
	})
	t.Run("ibqueryerrors", func(t *testing.T) {
		for _, args := range [][]string{nil, {"-k"}, {"-K"}, {"--details"}, {"-c"}} {
			d.same(t, nil, "ibqueryerrors", args...)
		}
		// An error counter set on both reads back the same.
		for _, f := range []*diagFabric{d.emu, d.sim} {
			f.console(t, `PerformanceSet "Switch2"[2] PortCounters.SymbolErrorCounter=7`)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			// ibqueryerrors exits 1 when it finds errors.
			out, _ := d.emu.run(t, 15*time.Second, nil, "ibqueryerrors")
			if strings.Contains(out, `GUID 0x200001 port 2: [SymbolErrorCounter == 7]`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ibqueryerrors does not report the error set:\n%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		d.same(t, nil, "ibqueryerrors")
		d.same(t, nil, "ibqueryerrors", "-k")
		for _, f := range []*diagFabric{d.emu, d.sim} {
			f.mustRun(t, nil, "perfquery", "-R", "3", "2")
		}
		d.same(t, nil, "ibqueryerrors")
	})
	t.Run("ibroute", func(t *testing.T) {
		for _, args := range [][]string{{"1"}, {"3"}, {"-M", "1"}, {"-M", "3"}} {
			out := d.same(t, nil, "ibroute", args...)
			if args[0] != "-M" && !strings.Contains(out, "6 valid lids dumped") {
				t.Errorf("ibroute %v:\n%s", args, out)
			}
		}
	})
	t.Run("dump_fts", func(t *testing.T) {
		for _, tool := range []string{"dump_fts", "dump_lfts", "dump_mfts"} {
			if out := d.same(t, nil, tool); !strings.Contains(out, "Switch2") {
				t.Errorf("%s:\n%s", tool, out)
			}
		}
	})
	t.Run("check_lft_balance", func(t *testing.T) {
		// It reads dump_lfts output and an ibnetdiscover cache.
		var outs []string
		for _, f := range []*diagFabric{d.emu, d.sim} {
			lfts, cache := filepath.Join(f.dir, "lfts.txt"), filepath.Join(f.dir, "lft-ibnd.cache")
			if err := os.WriteFile(lfts, []byte(f.mustRun(t, nil, "dump_lfts")), 0o644); err != nil {
				t.Fatal(err)
			}
			f.mustRun(t, nil, "ibnetdiscover", "--cache", cache)
			outs = append(outs, norm(f.mustRun(t, nil, "check_lft_balance", "-v", "-l", lfts, "-i", cache)))
		}
		if outs[0] != outs[1] || strings.Count(outs[0], "Switch Port Usage:") != 2 {
			t.Errorf("check_lft_balance:\nibemu:\n%s\nibsim:\n%s", outs[0], outs[1])
		}
	})
	t.Run("ibidsverify", func(t *testing.T) {
		// -R discovers afresh; no zero or duplicate LID or GUID.
		d.same(t, nil, "ibidsverify", "-R")
	})
	t.Run("ibcacheedit", func(t *testing.T) {
		for _, f := range []*diagFabric{d.emu, d.sim} {
			cache, edited := filepath.Join(f.dir, "ibnd.cache"), filepath.Join(f.dir, "ibnd-edited.cache")
			f.mustRun(t, nil, "ibnetdiscover", "--cache", cache)
			f.mustRun(t, nil, "ibcacheedit", "--caguid", "0x100000:0x300000", cache, edited)
			out := f.mustRun(t, nil, "ibnetdiscover", "--load-cache", edited)
			if !strings.Contains(out, "caguid=0x300000") || strings.Contains(out, "caguid=0x100000\n") {
				t.Errorf("%s: edited cache:\n%s", f.name, out)
			}
		}
	})
	t.Run("smpdump", func(t *testing.T) {
		// NodeInfo's first 28 bytes (versions, type, ports and GUIDs) are
		// the same; the rest names the device (ours: Mellanox IDs).
		first2 := func(s string) string {
			l := strings.Split(s, "\n")
			if len(l) < 2 || len(l[1]) < 29 {
				return s
			}
			return l[0] + "\n" + l[1][:29]
		}
		for _, args := range [][]string{{"-D", "0", "0x11"}, {"-D", "0,1", "0x11"}, {"-D", "0,3,2", "0x11"}, {"2", "0x11"}, {"3", "0x11"}} {
			d.same(t, first2, "smpdump", args...)
		}
		if out := d.emu.mustRun(t, nil, "smpdump", "-D", "0,1", "0x10"); !strings.Contains(out, "4863 6131") { // "Hca1"
			t.Errorf("smpdump NodeDescription:\n%s", out)
		}
	})
	t.Run("smpquery", func(t *testing.T) {
		ni := d.fieldsAgree(t, []string{"NodeType", "NumPorts", "SystemGuid", "Guid", "PortGuid", "LocalPort"}, "smpquery", "nodeinfo", "4")
		if ni["VendorId"] != "0x0002c9" {
			t.Errorf("nodeinfo VendorId %q, want Mellanox", ni["VendorId"])
		}
		d.fieldsAgree(t, []string{"NodeType", "Guid", "LocalPort"}, "smpquery", "-G", "nodeinfo", "0x100004")
		d.same(t, nil, "smpquery", "nodedesc", "3")
		d.same(t, nil, "smpquery", "-D", "nodedesc", "0,3,1")
		pi := []string{"Lid", "SMLid", "LinkState", "PhysLinkState", "LMC", "LocalPort", "LinkWidthActive", "LinkWidthEnabled", "OperVLs"}
		d.fieldsAgree(t, pi, "smpquery", "portinfo", "2")
		d.fieldsAgree(t, pi[2:], "smpquery", "portinfo", "1", "3")
		d.fieldsAgree(t, pi, "smpquery", "-D", "portinfo", "0,3,2")
		// A port without a link reports 4X and SDR, as ibsim and
		// Mellanox firmware do, not the undefined 0 the diags warn about.
		out := d.emu.mustRun(t, nil, "smpquery", "portinfo", "1", "4")
		if strings.Contains(out, "bad width") || fields(out)["LinkSpeedActive"] != "2.5 Gbps" {
			t.Errorf("portinfo of an unlinked port:\n%s", out)
		}
		d.fieldsAgree(t, []string{"LinkWidthActive", "LinkSpeedActive", "LinkState", "PhysLinkState"}, "smpquery", "portinfo", "1", "4")
		d.fieldsAgree(t, []string{"LinearFdbTop", "McastFdbCap", "LifeTime", "EnhancedPort0"}, "smpquery", "switchinfo", "3")
		for _, args := range [][]string{{"pkeys", "1"}, {"pkeys", "2"}, {"pkeys", "1", "3"}, {"guids", "2"}, {"guids", "3"}} {
			first := func(s string) string { return strings.SplitN(s, "\n", 2)[0] }
			d.same(t, first, "smpquery", args...)
		}
		header := func(s string) string {
			var keep []string
			for _, l := range strings.Split(s, "\n") {
				if strings.HasPrefix(l, "#") {
					keep = append(keep, l)
				}
			}
			return strings.Join(keep, "\n")
		}
		d.same(t, header, "smpquery", "sl2vl", "1", "3")
		d.same(t, header, "smpquery", "vlarb", "2")
		// PortInfoExtended: CapabilityMask2 says no, and both stop there.
		d.same(t, func(s string) string { return s[strings.LastIndex(s, "smpquery:"):] }, "smpquery", "pie", "2")
		// MlnxExtPortInfo: our devices (ConnectX-2, InfiniScale III/IV)
		// predate FDR10 and answer 0x000C, also on the switch OpenSM runs
		// on (the SMA owns every Get but SMInfo's; it used to go to OpenSM,
		// which never answers).
		// A combined route (-c) from a client on a switch: LID-routed
		// lead-in from the switch's LID to Switch2 (LID 3), then out its
		// port 1 to Hca2 (ibsim bounces it: a timeout).
		if f := fields(d.emu.mustRun(t, []string{"SIM_HOST=Switch1"}, "smpquery", "-c", "nodeinfo", "3", "0,1")); f["Guid"] != "0x0000000000100003" {
			t.Errorf("smpquery -c nodeinfo 3 0,1 from Switch1: %v", f)
		}
		for _, args := range [][]string{{"mepi", "2"}, {"mepi", "1", "3"}} {
			// A timeout shows as libibmad's "_do_madrpc failed".
			out, err := d.emu.run(t, 15*time.Second, nil, "smpquery", args...)
			if err == nil || strings.Contains(out, "_do_madrpc failed") || !strings.Contains(out, "query failed") {
				t.Errorf("smpquery %v: want an error status, not a timeout: %v\n%s", args, err, out)
			}
		}
	})
	t.Run("perfquery", func(t *testing.T) {
		counters := []string{"PortSelect", "CounterSelect", "SymbolErrorCounter", "LinkDownedCounter", "PortRcvErrors",
			"PortXmitDiscards", "VL15Dropped", "PortXmitWait"}
		for _, args := range [][]string{nil, {"1", "3"}, {"-a", "1"}, {"-l", "1"}, {"3", "2"}, {"-r", "1", "3"}} {
			d.fieldsAgree(t, counters, "perfquery", args...)
		}
		d.fieldsAgree(t, []string{"PortSelect", "CounterSelect"}, "perfquery", "-x", "1", "3")
		ext := fields(d.emu.mustRun(t, nil, "perfquery", "-x", "1", "3"))
		if ext["PortXmitData"] == "" || ext["PortXmitData"] == "0" || ext["PortUnicastXmitPkts"] == "0" {
			t.Errorf("perfquery -x: traffic counters empty: %v", ext)
		}
		d.same(t, nil, "perfquery", "-R", "1", "3")
		// PortRcvErrorDetails and PortXmitDiscardDetails: ibsim answers
		// them too (zeros, as ours on an error-free port).
		d.same(t, nil, "perfquery", "-E", "1", "3")
		d.same(t, nil, "perfquery", "-D", "1", "3")
		// PortXmitDataSL and PortSamplesControl: ibsim times out, we answer
		// as a ConnectX does.
		if f := fields(d.emu.mustRun(t, nil, "perfquery", "-X", "1", "3")); f["XmtDataSL0"] == "" || f["XmtDataSL0"] == "0" {
			t.Errorf("perfquery -X: no SL 0 data: %v", f)
		}
		if f := fields(d.emu.mustRun(t, nil, "perfquery", "--smplctl", "1", "3")); f["CounterWidth"] != "4" {
			t.Errorf("perfquery --smplctl: %v", f)
		}
		// An optional attribute the port does not support (lane counters
		// of a port without extended speeds) gets 0x000C, not a timeout
		// (IBTA Vol 1 §13.4.7).
		for _, args := range [][]string{{"-T", "1", "3"}} {
			out, err := d.emu.run(t, 15*time.Second, nil, "perfquery", args...)
			if err == nil || strings.Contains(out, "_do_madrpc failed") {
				t.Errorf("perfquery %v: want an error status, not a timeout: %v\n%s", args, err, out)
			}
		}
	})
	t.Run("saquery", func(t *testing.T) {
		// libumad2sim has no RMPP layer: an answer is what fits one MAD,
		// and the client counts its records from the umad length, which
		// ibsim passes through from OpenSM and ibemu rebuilds from the
		// RMPP PayloadLength (sealRMPP, umadLength). Every record is
		// compared.
		d.same(t, nil, "saquery", "-c")
		for _, args := range [][]string{{"-s"}, {"-g"}, {"-m"}, {"--src-to-dst", "2:4"}, {"-N", "Hca3"}} {
			fix := func(s string) string {
				// Node and path attributes that name the device profile.
				s = regexp.MustCompile(`(?m)^\s*(partition_cap|device_id|revision|vendor_id|rate|capability_mask)\.+.*$\n?`).ReplaceAllString(s, "")
				return s
			}
			d.same(t, fix, "saquery", args...)
		}
		// All PathRecords do not fit one MAD: both servers hand over the
		// first 256 bytes, so the same number of records.
		count := func(s string) int { return strings.Count(s, "PathRecord dump:") }
		if a, b := count(d.emu.mustRun(t, nil, "saquery", "-p")), count(d.sim.mustRun(t, nil, "saquery", "-p")); a != b || a == 0 {
			t.Errorf("saquery -p: %d records from ibemu, %d from ibsim", a, b)
		}
		if out := d.emu.mustRun(t, nil, "saquery", "-s"); !strings.Contains(out, "master_sm_base_lid......1") {
			t.Errorf("saquery -s:\n%s", out)
		}
	})
	t.Run("ibstat", func(t *testing.T) {
		keep := regexp.MustCompile(`(?m)^\s*(State|Physical state|Base lid|SM lid|LMC|Port GUID|Node GUID|Link layer):.*$`)
		fix := func(s string) string { return strings.Join(keep.FindAllString(s, -1), "\n") }
		for _, host := range []string{"", "Hca3"} {
			env := []string{"SIM_HOST=" + host}
			a, b := d.emu.mustRun(t, env, "ibstat"), d.sim.mustRun(t, env, "ibstat")
			if fix(a) != fix(b) || !strings.Contains(a, "State: Active") {
				t.Errorf("ibstat at %q:\nibemu:\n%s\nibsim:\n%s", host, a, b)
			}
		}
		d.same(t, linkFix, "ibstatus")
	})
	t.Run("ibsysstat", func(t *testing.T) {
		// No ibsysstat -S runs: the node answers the unregistered class
		// 0x33 with 0x000C as the Linux MAD layer does; ibsysstat's ping
		// takes any answer as a pong (ibsim drops it: a timeout).
		if out := d.emu.mustRun(t, nil, "ibsysstat", "2"); !strings.Contains(out, "sysstat ping succeeded") {
			t.Errorf("ibsysstat:\n%s", out)
		}
	})
	t.Run("ibping", func(t *testing.T) {
		// No ibping -S runs: the 0x000C answer is a failed ping, at once.
		out := d.emu.mustRun(t, nil, "ibping", "-c", "1", "4")
		if !strings.Contains(out, "1 packets transmitted, 0 received") || strings.Contains(out, "_do_madrpc failed") {
			t.Errorf("ibping without a server:\n%s", out)
		}
	})

	// ibportstate changes the fabric: ours only (ibsim leaves a port it
	// enabled in Polling, and cannot query the peer from a switch).
	// From Hca1, which reaches the peer by a LID-routed lead-in.
	ca := []string{"SIM_HOST=Hca1"}
	portState := func(t *testing.T, lid, port string) (string, string) {
		t.Helper()
		f := fields(d.emu.mustRun(t, ca, "smpquery", "portinfo", lid, port))
		return f["LinkState"], f["PhysLinkState"]
	}
	waitState := func(t *testing.T, lid, port, state, phys string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, p := portState(t, lid, port)
			if s == state && p == phys {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("port %s/%s is %s/%s, want %s/%s", lid, port, s, p, state, phys)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Run("ibportstate", func(t *testing.T) {
		out := d.emu.mustRun(t, ca, "ibportstate", "3", "2", "query")
		if !strings.Contains(out, "Peer PortInfo:") || fields(out)["Lid"] != "6" {
			t.Fatalf("ibportstate query:\n%s", out)
		}
		traps := d.emu.logCount(`"Link state change"`)
		sweeps := d.emu.logCount("SUBNET UP")

		// disable: the link goes down, the switch traps, OpenSM drops Hca4.
		d.emu.mustRun(t, ca, "ibportstate", "3", "2", "disable")
		waitState(t, "3", "2", "Down", "Disabled")
		d.emu.waitLog(t, `"Link state change"`, traps+1, 10*time.Second)
		d.emu.waitLog(t, "Removed port with GUID:0x000000000010000a", 1, 10*time.Second)
		if out, err := d.emu.run(t, 5*time.Second, ca, "smpquery", "nodeinfo", "6"); err == nil {
			t.Errorf("LID 6 still answers with its link disabled:\n%s", out)
		}

		// enable: the link trains, OpenSM brings it back to Active.
		d.emu.mustRun(t, ca, "ibportstate", "3", "2", "enable")
		d.emu.waitLog(t, "SUBNET UP", sweeps+2, 15*time.Second)
		waitState(t, "3", "2", "Active", "LinkUp")
		waitState(t, "6", "1", "Active", "LinkUp")

		// reset: Polling on a trained link retrains it.
		downed := func() string { return fields(d.emu.mustRun(t, ca, "perfquery", "3", "2"))["LinkDownedCounter"] }
		before := downed()
		traps = d.emu.logCount(`"Link state change"`)
		d.emu.mustRun(t, ca, "ibportstate", "3", "2", "reset")
		d.emu.waitLog(t, `"Link state change"`, traps+1, 10*time.Second)
		waitState(t, "3", "2", "Active", "LinkUp")
		if after := downed(); after == before {
			t.Errorf("reset: LinkDownedCounter stayed %s", after)
		}

		// width 1 (1X): the Set's reply shows the new enable; the link
		// keeps its width until it next trains.
		out = d.emu.mustRun(t, ca, "ibportstate", "3", "2", "width", "1")
		if !strings.Contains(out, "After PortInfo set:") || !strings.Contains(out[strings.Index(out, "After PortInfo set:"):], "LinkWidthEnabled:................1X") {
			t.Errorf("ibportstate width 1:\n%s", out)
		}
		d.emu.mustRun(t, ca, "ibportstate", "3", "2", "width", "3")
		waitState(t, "3", "2", "Active", "LinkUp")
		if f := fields(d.emu.mustRun(t, ca, "smpquery", "portinfo", "3", "2")); !linkWidth.MatchString(f["LinkWidthActive"]) {
			t.Errorf("width after restoring: %q", f["LinkWidthActive"])
		}
	})
}
