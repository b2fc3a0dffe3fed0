//go:build linux

package attach

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// The interop tests run Debian's OpenSM and infiniband-diags, unmodified,
// against an in-process server through libumad2sim.so. They skip when a
// tool is missing, unless CI is set (make deps installs them).

const (
	umad2sim    = "/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so"
	netExamples = "/usr/share/doc/ibsim-utils/net-examples"
)

var interopTools = []string{"opensm", "ibnetdiscover", "smpquery", "perfquery", "saquery", "vendstat", "ibtracert", "sminfo"}

// needInterop skips the test (or, in CI, fails it) when a tool is missing.
func needInterop(t *testing.T) {
	t.Helper()
	var missing []string
	for _, tool := range interopTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, f := range []string{umad2sim, netExamples} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("interop: missing %s (Debian opensm, infiniband-diags, ibsim-utils; run make deps)", strings.Join(missing, ", "))
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

var sockSeq atomic.Int64

// interop is one server under test with the processes attached to it.
type interop struct {
	t    *testing.T
	srv  *Server
	sock string
	dir  string
	topo *topology.Topology
}

// newInterop starts a server for topo on a socket name of its own.
func newInterop(t *testing.T, topo *topology.Topology) *interop {
	t.Helper()
	return newInteropConfig(t, topo, nil)
}

// newInteropConfig is newInterop with the server's Config adjusted by set.
func newInteropConfig(t *testing.T, topo *topology.Topology, set func(*Config)) *interop {
	t.Helper()
	needInterop(t)
	h := &interop{t: t, topo: topo, dir: t.TempDir(),
		sock: fmt.Sprintf("ibemu-test-%d-%d", os.Getpid(), sockSeq.Add(1))}
	cfg := Config{Topology: topo, SockName: h.sock, Logger: testLogger(t)}
	if set != nil {
		set(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	h.srv = srv
	return h
}

func loadExample(t *testing.T, name string) *topology.Topology {
	t.Helper()
	needInterop(t)
	topo, err := topology.Load(filepath.Join(netExamples, name))
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// command prepares a tool run with libumad2sim preloaded, in a directory
// of its own (libumad2sim writes its fake sysfs there), in a process
// group of its own so everything it starts can be killed.
func (h *interop) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	dir, err := os.MkdirTemp(h.dir, name+"-")
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+umad2sim, "IBSIM_SOCKNAME="+h.sock, "OSM_TMP_DIR="+dir, "OSM_CACHE_DIR="+dir)
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// run runs a tool to completion (at most timeout) and returns its
// combined output.
func (h *interop) run(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := h.command(ctx, env, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s: timed out after %v: %w", name, strings.Join(args, " "), timeout, ctx.Err())
	}
	return out.String(), err
}

// mustRun is run, failing the test on error.
func (h *interop) mustRun(timeout time.Duration, env []string, name string, args ...string) string {
	h.t.Helper()
	out, err := h.run(timeout, env, name, args...)
	if err != nil {
		h.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// opensmOnce runs `opensm -o` and checks that it reached SUBNET UP.
func (h *interop) opensmOnce(timeout time.Duration, env []string, extra ...string) string {
	h.t.Helper()
	logf := filepath.Join(h.dir, fmt.Sprintf("opensm-%d.log", time.Now().UnixNano()))
	args := append([]string{"-o", "-f", logf}, extra...)
	out, err := h.run(timeout, env, "opensm", args...)
	log, _ := os.ReadFile(logf)
	if err != nil {
		h.t.Fatalf("opensm -o: %v\n%s\n%s", err, out, tail(string(log), 40))
	}
	if !strings.Contains(string(log), "SUBNET UP") {
		h.t.Fatalf("opensm -o did not reach SUBNET UP:\n%s\n%s", out, tail(string(log), 40))
	}
	return string(log)
}

// daemon is a process started in the background.
type daemon struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
}

// startOpenSM starts OpenSM as a daemon that flushes its log, and waits
// for SUBNET UP. Cleanup stops it (SIGTERM, then SIGKILL of its group)
// before the server closes.
func (h *interop) startOpenSM(env []string, extra ...string) (*daemon, string) {
	h.t.Helper()
	d, logf := h.startOpenSMConf(env, "", extra...)
	h.waitLog(logf, "SUBNET UP", 1, 30*time.Second)
	return d, logf
}

// startOpenSMConf starts OpenSM as a daemon with the options file lines
// conf (besides log flushing) and returns at once. Each daemon has files
// of its own, so several may run on one fabric.
func (h *interop) startOpenSMConf(env []string, conf string, extra ...string) (*daemon, string) {
	h.t.Helper()
	n := sockSeq.Add(1)
	confFile := filepath.Join(h.dir, fmt.Sprintf("opensm-%d.conf", n))
	if err := os.WriteFile(confFile, []byte("force_log_flush TRUE\n"+conf), 0o644); err != nil {
		h.t.Fatal(err)
	}
	logf := filepath.Join(h.dir, fmt.Sprintf("opensm-daemon-%d.log", n))
	args := append([]string{"-F", confFile, "-f", logf}, extra...)
	cmd := h.command(context.Background(), env, "opensm", args...)
	d := &daemon{cmd: cmd, out: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(d.done) }()
	h.t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
		}
	})
	return d, logf
}

// waitLog waits until file holds at least n occurrences of what.
func (h *interop) waitLog(file, what string, n int, timeout time.Duration) string {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(file)
		if strings.Count(string(b), what) >= n {
			return string(b)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: %d x %q not seen within %v:\n%s", file, n, what, timeout, tail(string(b), 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// linkedPorts lists every port with a link, with its state, read from the
// fabric.
type portState struct {
	node  string
	num   int
	lid   wire.LID // the port's LID (a switch's port 0 LID)
	state wire.PortState
}

func (h *interop) linkedPorts() []portState {
	var out []portState
	if err := h.srv.Fabric().Do(func() {
		for _, n := range h.srv.nodes {
			for _, p := range n.en.Ports()[1:] {
				if p.Link() == nil {
					continue
				}
				lid := n.sma.Port(p.Num()).LID
				if n.sw != nil {
					lid = n.sma.Port(0).LID
				}
				out = append(out, portState{node: n.topo.ID, num: p.Num(), lid: lid, state: p.State()})
			}
		}
	}); err != nil {
		h.t.Fatal(err)
	}
	return out
}

// checkAllActive checks in the fabric that every linked port is Active.
func (h *interop) checkAllActive() []portState {
	h.t.Helper()
	ps := h.linkedPorts()
	for _, p := range ps {
		if p.state != wire.PortStateActive {
			h.t.Errorf("%s port %d is %s, want Active", p.node, p.num, p.state)
		}
	}
	return ps
}

// waitAllActive waits until every linked port is Active.
func (h *interop) waitAllActive(timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, p := range h.linkedPorts() {
			if p.state != wire.PortStateActive {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			h.checkAllActive()
			h.t.Fatalf("fabric not whole within %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var smpField = regexp.MustCompile(`(?m)^(\w+):\.+(.*)$`)

// fields parses the "Name:......value" lines of smpquery and perfquery.
func fields(out string) map[string]string {
	m := map[string]string{}
	for _, f := range smpField.FindAllStringSubmatch(out, -1) {
		m[f[1]] = strings.TrimSpace(f[2])
	}
	return m
}

// lidOf returns the LID of a node's attach port (a switch's port 0).
func (h *interop) lidOf(id string) wire.LID {
	var lid wire.LID
	_ = h.srv.Fabric().Do(func() {
		n := h.srv.byID[id]
		lid = n.sma.Port(defaultAttach(n).Num()).LID
	})
	if lid == 0 {
		h.t.Fatalf("%s has no LID", id)
	}
	return lid
}

// TestInteropOpenSMExamples: opensm -o reaches SUBNET UP on every example
// net file of ibsim-utils, attached at the default port (the first
// switch's port 0) and at a CA; afterwards every connected port is Active,
// both in the fabric and as smpquery portinfo reads it.
func TestInteropOpenSMExamples(t *testing.T) {
	needInterop(t)
	files, _ := filepath.Glob(filepath.Join(netExamples, "net*"))
	if len(files) == 0 {
		t.Fatal("no example net files")
	}
	for _, f := range files {
		for _, host := range []string{"", "Hca1"} {
			t.Run(filepath.Base(f)+"/"+map[string]string{"": "default", "Hca1": "Hca1"}[host], func(t *testing.T) {
				h := newInterop(t, loadExample(t, filepath.Base(f)))
				var env []string
				if host != "" {
					env = append(env, "SIM_HOST="+host)
				}
				h.opensmOnce(30*time.Second, env)
				for _, p := range h.checkAllActive() {
					out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "smpquery", "portinfo",
						strconv.Itoa(int(p.lid)), strconv.Itoa(p.num))
					if got := fields(out)["LinkState"]; got != "Active" {
						t.Errorf("smpquery portinfo %d %d (%s): LinkState %q, want Active\n%s", p.lid, p.num, p.node, got, out)
					}
				}
			})
		}
	}
}

// TestInteropFatTree648: opensm -o brings up a two-level fat tree of 648
// HCAs (radix-36 switches), every port Active.
func TestInteropFatTree648(t *testing.T) {
	needInterop(t)
	if testing.Short() {
		t.Skip("short mode")
	}
	ft, err := topology.FatTree(2, 36)
	if err != nil {
		t.Fatal(err)
	}
	if n := ft.Count(wire.NodeTypeCA); n != 648 {
		t.Fatalf("fat tree has %d CAs, want 648", n)
	}
	h := newInterop(t, ft)
	start := time.Now()
	h.opensmOnce(120*time.Second, nil)
	t.Logf("648-HCA fat tree: SUBNET UP in %v", time.Since(start))
	ps := h.checkAllActive()
	// 648 HCA links and 36 leaves x 18 uplinks, two ends each.
	if want := 2*648 + 2*36*18; len(ps) != want {
		t.Errorf("%d linked ports, want %d", len(ps), want)
	}
	// Spot-check through the real tool as well.
	for _, p := range []portState{ps[0], ps[len(ps)/2], ps[len(ps)-1]} {
		out := h.mustRun(10*time.Second, nil, "smpquery", "portinfo", strconv.Itoa(int(p.lid)), strconv.Itoa(p.num))
		if got := fields(out)["LinkState"]; got != "Active" {
			t.Errorf("smpquery portinfo %d %d: LinkState %q\n%s", p.lid, p.num, got, out)
		}
	}
}

// TestInteropIbnetdiscover: after opensm -o, ibnetdiscover's output loads
// as a topology and is the same graph as the input, from a switch and
// from a CA.
func TestInteropIbnetdiscover(t *testing.T) {
	for _, name := range []string{"net.2sw2path4hca", "net.2sw2path4hca2port"} {
		t.Run(name, func(t *testing.T) {
			in := loadExample(t, name)
			h := newInterop(t, in)
			h.opensmOnce(30*time.Second, nil)
			for _, host := range []string{"", "Hca1"} {
				out := h.mustRun(20*time.Second, []string{"SIM_HOST=" + host}, "ibnetdiscover")
				got, err := topology.Parse("ibnetdiscover", strings.NewReader(out))
				if err != nil {
					t.Fatalf("ibnetdiscover output does not load: %v\n%s", err, out)
				}
				if err := topology.Compare(in, got); err != nil {
					t.Errorf("SIM_HOST=%q: ibnetdiscover graph differs from the input: %v\n%s", host, err, out)
				}
			}
		})
	}
}

// TestInteropNodeInfoVendstat: smpquery nodeinfo shows the Mellanox
// vendor and device IDs of the emulated models, vendstat -N their
// firmware, for a CA and a switch.
func TestInteropNodeInfoVendstat(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	h.opensmOnce(30*time.Second, nil)
	for _, id := range []string{"Hca2", "Switch2"} {
		var dev uint16
		var fw string
		_ = h.srv.Fabric().Do(func() {
			n := h.srv.byID[id]
			dev = n.sma.Node().DeviceID
			if n.sw != nil {
				fw = n.sw.Profile().Firmware.Version()
			} else {
				fw = n.hca.Vendor().Firmware().Version()
			}
		})
		lid := strconv.Itoa(int(h.lidOf(id)))
		f := fields(h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "smpquery", "nodeinfo", lid))
		if f["VendorId"] != "0x0002c9" {
			t.Errorf("%s: VendorId %q, want 0x0002c9 (Mellanox)", id, f["VendorId"])
		}
		if want := fmt.Sprintf("0x%04x", dev); f["DevId"] != want {
			t.Errorf("%s: DevId %q, want %s", id, f["DevId"], want)
		}
		out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "vendstat", "-N", lid)
		if !regexp.MustCompile(`fw_version:\s+` + regexp.QuoteMeta(fw)).MatchString(out) {
			t.Errorf("%s: vendstat -N does not show firmware %s:\n%s", id, fw, out)
		}
	}
}

// perfCounter reads one counter of `perfquery -x LID PORT`.
func (h *interop) perfCounter(lid wire.LID, port int, name string) uint64 {
	h.t.Helper()
	out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", "-x", strconv.Itoa(int(lid)), strconv.Itoa(port))
	v, err := strconv.ParseUint(fields(out)[name], 10, 64)
	if err != nil {
		h.t.Fatalf("perfquery -x: no %s:\n%s", name, out)
	}
	return v
}

// TestInteropPerfquery: PMA counters rise with traffic, perfquery -R
// clears them, and PerformanceSet values show up in perfquery.
func TestInteropPerfquery(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	h.opensmOnce(30*time.Second, nil)
	lid := h.lidOf("Hca2")
	before := h.perfCounter(lid, 1, "PortXmitPkts")
	for range 5 {
		h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "smpquery", "nodeinfo", strconv.Itoa(int(lid)))
	}
	after := h.perfCounter(lid, 1, "PortXmitPkts")
	// Five NodeInfo answers and a perfquery answer at least.
	if after < before+6 {
		t.Errorf("PortXmitPkts went from %d to %d after 6 answered requests", before, after)
	}
	// PortCounters and PortCountersExtended are separate registers: -R
	// clears the first, -x -R the second.
	h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", "-x", "-R", strconv.Itoa(int(lid)), "1")
	if v := h.perfCounter(lid, 1, "PortXmitPkts"); v > 2 {
		t.Errorf("PortXmitPkts is %d after perfquery -x -R, want at most the query's own answers", v)
	}
	h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", "-R", strconv.Itoa(int(lid)), "1")
	pc := fields(h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", strconv.Itoa(int(lid)), "1"))
	if v, err := strconv.Atoi(pc["PortXmitPkts"]); err != nil || v > 2 {
		t.Errorf("PortCounters PortXmitPkts %q after perfquery -R, want at most the query's own answers", pc["PortXmitPkts"])
	}
	// Without a port number perfquery sends PortSelect 0, which a CA
	// answers for the port the query arrived on.
	noPort := fields(h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", strconv.Itoa(int(lid))))
	if _, ok := noPort["PortXmitPkts"]; !ok {
		t.Errorf("perfquery LID without a port printed no PortXmitPkts")
	}
	var out bytes.Buffer
	if err := h.srv.Exec(`PerformanceSet "Hca2"[1] PortCounters.SymbolErrorCounter=1234`, &out); err != nil {
		t.Fatal(err)
	}
	pq := fields(h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", strconv.Itoa(int(lid)), "1"))
	if pq["SymbolErrorCounter"] != "1234" {
		t.Errorf("SymbolErrorCounter %q after PerformanceSet 1234", pq["SymbolErrorCounter"])
	}
	// Full 192-byte PortCountersExtended, with the unicast and multicast
	// counters ibsim's 64-byte copy loses.
	ext := fields(h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", "-x", strconv.Itoa(int(lid)), "1"))
	for _, k := range []string{"PortUnicastXmitPkts", "PortUnicastRcvPkts", "PortMulticastXmitPkts", "PortMulticastRcvPkts"} {
		if _, ok := ext[k]; !ok {
			t.Errorf("perfquery -x has no %s", k)
		}
	}
	if v, _ := strconv.ParseUint(ext["PortUnicastRcvPkts"], 10, 64); v == 0 {
		t.Errorf("PortUnicastRcvPkts is 0 after traffic")
	}
}

// TestInteropSAQuery: with OpenSM running as a daemon, saquery's PathRecord
// and NodeRecord requests reach OpenSM's SA through the server and the
// answers come back.
func TestInteropSAQuery(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	h.startOpenSM(nil)
	src, dst := h.lidOf("Hca1"), h.lidOf("Hca4")
	out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "saquery", "--src-to-dst", fmt.Sprintf("%d:%d", src, dst))
	re := regexp.MustCompile(`(?s)PathRecord dump:.*?dlid\.+(\d+).*?slid\.+(\d+)`)
	m := re.FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(int(dst)) || m[2] != strconv.Itoa(int(src)) {
		t.Errorf("saquery PathRecord %d -> %d: got %v\n%s", src, dst, m, out)
	}
	for _, id := range []string{"Hca3", "Switch2"} {
		out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca4"}, "saquery", "NR", strconv.Itoa(int(h.lidOf(id))))
		if !strings.Contains(out, "NodeDescription........."+id) {
			t.Errorf("saquery NR for %s:\n%s", id, out)
		}
	}
}

var tracertHop = regexp.MustCompile(`\[(\d+)\] -> .*"(\w+)"`)

// TestInteropIbtracert: ibtracert between every ordered pair of HCAs
// follows the forwarding tables OpenSM programmed.
func TestInteropIbtracert(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	h.opensmOnce(30*time.Second, nil)
	hcas := []string{"Hca1", "Hca2", "Hca3", "Hca4"}
	for _, a := range hcas {
		for _, b := range hcas {
			if a == b {
				continue
			}
			want := h.lftPath(a, b)
			out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "ibtracert",
				strconv.Itoa(int(h.lidOf(a))), strconv.Itoa(int(h.lidOf(b))))
			var got []string
			for _, m := range tracertHop.FindAllStringSubmatch(out, -1) {
				got = append(got, m[2]+"<"+m[1])
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("ibtracert %s -> %s: hops %v, forwarding tables say %v\n%s", a, b, got, want, out)
			}
		}
	}
}

// lftPath walks the switches' forwarding tables from CA a to CA b and
// returns the hops as ibtracert prints them: each node reached, with the
// port the previous node left by.
func (h *interop) lftPath(a, b string) []string {
	dst := h.lidOf(b)
	var hops []string
	_ = h.srv.Fabric().Do(func() {
		p := defaultAttach(h.srv.byID[a])
		for range 16 {
			q := p.Peer()
			if q == nil {
				return
			}
			n := h.srv.byID[q.Node().Name()]
			hops = append(hops, n.topo.ID+"<"+strconv.Itoa(p.Num()))
			if n.sw == nil {
				return
			}
			p = n.en.Port(int(n.sw.Route(dst)))
			if p == nil || p.Num() == 0 {
				return
			}
		}
	})
	return hops
}

// TestInteropTrapsRelink: with OpenSM running as a daemon, console Unlink
// makes the switches send Trap 128, OpenSM receives them and re-sweeps;
// ReLink brings the link back and the fabric is whole again.
func TestInteropTrapsRelink(t *testing.T) {
	for _, host := range []string{"Hca1", ""} {
		t.Run("sm at "+map[string]string{"": "Switch1 port 0", "Hca1": "Hca1"}[host], func(t *testing.T) {
			h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
			_, logf := h.startOpenSM([]string{"SIM_HOST=" + host})
			h.waitAllActive(10 * time.Second)
			// Let the traps of the bring-up (link retraining) settle.
			time.Sleep(300 * time.Millisecond)
			const trap = "num:128 (Link state change)"
			b, _ := os.ReadFile(logf)
			traps, ups := strings.Count(string(b), trap), strings.Count(string(b), "SUBNET UP")
			var out bytes.Buffer
			if err := h.srv.Exec(`Unlink "Switch2"[3]`, &out); err != nil {
				t.Fatal(err)
			}
			h.waitLog(logf, trap, traps+1, 10*time.Second)
			log := h.waitLog(logf, "SUBNET UP", ups+1, 20*time.Second)
			n := strings.Count(log, "SUBNET UP")
			if ps := h.linkedPorts(); len(ps) != 10 {
				t.Errorf("%d linked ports after Unlink, want 10", len(ps))
			}
			if err := h.srv.Exec(`ReLink "Switch2"[3]`, &out); err != nil {
				t.Fatal(err)
			}
			h.waitLog(logf, "SUBNET UP", n+1, 20*time.Second)
			h.waitAllActive(20 * time.Second)
			if ps := h.linkedPorts(); len(ps) != 12 {
				t.Errorf("%d linked ports after ReLink, want 12", len(ps))
			}
		})
	}
}

// TestInteropDrop: with 10% of the MADs lost in each direction on the SM's
// link, opensm -o still reaches SUBNET UP and every port ends Active. The
// server retransmits unanswered requests (its MAD-layer retries, here 10,
// as OpenSM's transaction_retries would ask the kernel for: libumad2sim
// does not pass the client's value on).
func TestInteropDrop(t *testing.T) {
	needInterop(t)
	h := newInteropConfig(t, loadExample(t, "net.2sw2path4hca"), func(c *Config) { c.MADRetries = 10 })
	var out bytes.Buffer
	for _, cmd := range []string{`Drop "Hca1"[1] 10`, `Error "Hca1"[1] 10`} {
		if err := h.srv.Exec(cmd, &out); err != nil {
			t.Fatal(err)
		}
	}
	h.opensmOnce(60*time.Second, []string{"SIM_HOST=Hca1"})
	h.checkAllActive()
	if h.srv.Fabric().Dropped() == 0 || h.srv.Stats().Retried.Load() == 0 {
		t.Errorf("%d frames dropped, %d requests retransmitted: the test injected nothing",
			h.srv.Fabric().Dropped(), h.srv.Stats().Retried.Load())
	}
	t.Logf("%d frames dropped, %d requests retransmitted", h.srv.Fabric().Dropped(), h.srv.Stats().Retried.Load())
}

// TestInteropMaxSMPs: OpenSM with no limit on outstanding SMPs (--maxsmps
// 0, which makes ibsim spin forever) keeps many SMPs in flight (the server
// reads dozens in one batch, where OpenSM's default allows 4) and brings
// up a 128-HCA fat tree; the server answers every one. (On bigger fabrics
// OpenSM itself gives up: its umad layer tracks at most 1000 pending MADs
// and evicts the rest, "ERR 5401".)
func TestInteropMaxSMPs(t *testing.T) {
	needInterop(t)
	ft, err := topology.FatTree(2, 16)
	if err != nil {
		t.Fatal(err)
	}
	h := newInterop(t, ft)
	defer func() {
		st := h.srv.Stats()
		t.Logf("%d datagrams in, %d out, %d retransmitted, %d timed out, at most %d outstanding", st.FromClients.Load(),
			st.ToClients.Load(), st.Retried.Load(), st.TimedOut.Load(), st.MaxOutstanding.Load())
		t.Logf("at most %d datagrams in one read", st.MaxBatch.Load())
	}()
	h.opensmOnce(120*time.Second, nil, "--maxsmps", "0")
	h.checkAllActive()
	st := h.srv.Stats()
	if b := st.Bounced.Load(); b != 0 {
		t.Errorf("%d MADs returned undeliverable", b)
	}
	if in, out := st.FromClients.Load(), st.ToClients.Load(); in != out || in == 0 {
		t.Errorf("%d requests, %d answers", in, out)
	}
	if m := st.MaxBatch.Load(); m < rxMax/2 {
		t.Errorf("at most %d SMPs arrived in one read; the test wants OpenSM unthrottled (dozens)", m)
	}
}

// TestInteropTrap144: a client that attaches as an SM raises IsSM on its
// port; the port reports the capability change to the running OpenSM with
// Trap 144. (The client is ours: a diag run with SIM_SET_ISSM would get
// OpenSM's SMInfo queries for a class it did not register, and
// libumad2sim would crash it, as with ibsim.)
func TestInteropTrap144(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	_, logf := h.startOpenSM([]string{"SIM_HOST=Hca1"})
	h.waitAllActive(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, &DialConfig{SockName: h.sock, Host: "Hca4", ISSM: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h.waitLog(logf, "num:144", 1, 10*time.Second)
	if err := c.Refresh(); err != nil {
		t.Fatal(err)
	}
	if !c.PortInfo().CapabilityMask().Has(wire.PortCapIsSM) {
		t.Error("IsSM not set on the SM client's port")
	}
}

// TestInteropRemoteMode: the diagnostics attach over UDP (IBSIM_SERVER_NAME
// and IBSIM_SERVER_PORT) as well.
func TestInteropRemoteMode(t *testing.T) {
	needInterop(t)
	topo := loadExample(t, "net.2sw2path4hca")
	srv, port := startRemoteServer(t, topo, "127.0.0.1")
	h := &interop{t: t, srv: srv, topo: topo, dir: t.TempDir(), sock: "unused-in-remote-mode"}
	env := []string{"IBSIM_SERVER_NAME=127.0.0.1", fmt.Sprintf("IBSIM_SERVER_PORT=%d", port)}
	h.opensmOnce(30*time.Second, env)
	h.checkAllActive()
	out := h.mustRun(10*time.Second, append(env, "SIM_HOST=Hca2"), "smpquery", "nodeinfo", strconv.Itoa(int(h.lidOf("Hca3"))))
	if f := fields(out); f["Guid"] != "0x0000000000100006" {
		t.Errorf("smpquery over UDP: %s", out)
	}
}

// TestInteropDialIbsim: our client side of the protocol works against the
// real ibsim.
func TestInteropDialIbsim(t *testing.T) {
	needInterop(t)
	if _, err := exec.LookPath("ibsim"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ibsim missing (make deps)")
		}
		t.Skip("ibsim missing (make deps)")
	}
	sock := fmt.Sprintf("ibemu-test-ibsim-%d-%d", os.Getpid(), sockSeq.Add(1))
	cmd := exec.Command("ibsim", "-s", "-n", filepath.Join(netExamples, "net.2sw2path4hca"))
	cmd.Env = append(os.Environ(), "IBSIM_SOCKNAME="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, &DialConfig{SockName: sock, Host: "Hca1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ni := c.NodeInfo(); c.Node() != "Hca1" || ni.NodeType() != wire.NodeTypeCA || ni.NodeGUID() != 0x100000 {
		t.Errorf("ibsim attach point %q: %v %#x", c.Node(), ni.NodeType(), ni.NodeGUID())
	}
	a, err := mad.NewAgent(c, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: 1},
		mad.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d, err := a.SMPGet(ctx, mad.DRPath{1, 3}, wire.AttrNodeInfo, 0)
	if err != nil {
		t.Fatalf("DR NodeInfo through ibsim: %v", err)
	}
	if g := wire.NodeInfo(d).NodeGUID(); g != 0x200001 {
		t.Errorf("DR NodeInfo through ibsim: guid %#x, want Switch2's 0x200001", g)
	}
}
