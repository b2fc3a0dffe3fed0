//go:build linux

package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
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
)

// These tests are the cross-checks with real peers: our SM brings
// up a fabric simulated by the real ibsim and the real infiniband-diags
// judge the result; with our SM on ibemu serve, the real saquery and
// sminfo read the SA. The real tools attach through Debian's
// libumad2sim.so. `make deps` installs them; without them the tests skip,
// unless CI is set, where they fail.

const umad2sim = "/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so"

// helperEnv carries the ibemu arguments of a helper process, separated by
// helperSep.
const (
	helperEnv = "IBEMU_TEST_HELPER_ARGS"
	helperSep = "\x1f"
)

// TestHelperIbemuProcess is not a test: it is `ibemu ARGS...` run as a
// separate process by the interop tests (the os/exec helper-process
// pattern), so that our SM and server are real processes next to ibsim and
// the diagnostics.
func TestHelperIbemuProcess(t *testing.T) {
	args := os.Getenv(helperEnv)
	if args == "" {
		t.Skip("helper process of the interop tests")
	}
	os.Exit(run(os.Stdout, os.Stderr, strings.Split(args, helperSep)))
}

// needTools skips the test when a real peer is not installed, or fails it
// when CI is set (CI runs `make deps`).
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if _, err := os.Stat(umad2sim); err != nil {
		missing = append(missing, umad2sim)
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("real peers missing: %s (`make deps` installs opensm, infiniband-diags, ibsim-utils)", strings.Join(missing, ", "))
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

var sockSeq atomic.Uint32

// uniqueSock is an abstract socket base name no other test or run uses.
func uniqueSock(prefix string) string {
	return fmt.Sprintf("%s%d-%d-%d", prefix, os.Getpid(), sockSeq.Add(1), time.Now().UnixNano()%1e6)
}

// proc is a process a test started, in its own process group.
type proc struct {
	name     string
	cmd      *exec.Cmd
	out, err syncBuffer
	done     chan struct{}
	state    *os.ProcessState
}

// startProc starts argv in dir with env added to the environment, in a new
// process group that the test's cleanup kills (SIGTERM, then SIGKILL)
// whatever happens.
func startProc(t *testing.T, dir string, env []string, argv ...string) *proc {
	t.Helper()
	return startProcIn(t, dir, env, nil, argv...)
}

// startProcIn is startProc with stdin (nil: none).
func startProcIn(t *testing.T, dir string, env []string, stdin *os.File, argv ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(argv[0]), done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	if stdin != nil {
		p.cmd.Stdin = stdin
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.done)
	}()
	t.Cleanup(func() { p.stop() })
	return p
}

// startIbemu runs `ibemu ARGS...` (this test binary as a helper process).
func startIbemu(t *testing.T, dir string, env []string, args ...string) *proc {
	t.Helper()
	return startIbemuWith(t, dir, env, nil, args...)
}

// startIbemuWith is startIbemu with stdin (nil: none).
func startIbemuWith(t *testing.T, dir string, env []string, stdin *os.File, args ...string) *proc {
	t.Helper()
	env = append(env, helperEnv+"="+strings.Join(args, helperSep))
	p := startProcIn(t, dir, env, stdin, os.Args[0], "-test.run=^TestHelperIbemuProcess$", "-test.count=1")
	p.name = "ibemu " + args[0]
	return p
}

// stop ends the process group: SIGTERM, and SIGKILL if it has not exited
// after two seconds.
func (p *proc) stop() {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.done:
		_ = syscall.Kill(-pgid, syscall.SIGKILL) // anything it left behind
		return
	default:
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.state.ExitCode()
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v\nstdout:\n%s\nstderr:\n%s", p.name, d, p.out.String(), p.err.String())
		return -1
	}
}

// waitOutput waits up to d for s to appear on the process's stdout.
func (p *proc) waitOutput(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %q\nstdout:\n%s\nstderr:\n%s", p.name, p.state, s, p.out.String(), p.err.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v\nstdout:\n%s\nstderr:\n%s", p.name, s, d, p.out.String(), p.err.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// diag runs a real diagnostic through libumad2sim attached at host and
// returns its output; it fails the test when the tool fails.
func diag(t *testing.T, dir, sock, host string, argv ...string) string {
	t.Helper()
	env := []string{"LD_PRELOAD=" + umad2sim, "IBSIM_SOCKNAME=" + sock, "SIM_HOST=" + host}
	p := startProc(t, dir, env, argv...)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("%v exited %d\nstdout:\n%s\nstderr:\n%s", argv, code, p.out.String(), p.err.String())
	}
	return p.out.String()
}

// connected reports whether any port of n is cabled.
func connected(n *topology.Node) bool {
	for _, p := range n.Ports {
		if p != nil && p.Num > 0 && p.Remote != nil {
			return true
		}
	}
	return false
}

// firstCA is the id of the first CA whose port 1 is cabled: ibsim attaches
// clients to port 1 of a CA only.
func firstCA(t *testing.T, topo *topology.Topology) string {
	t.Helper()
	for _, n := range topo.Nodes {
		if !n.IsSwitch() && n.NumPorts >= 1 && n.Ports[1].Remote != nil {
			return n.ID
		}
	}
	t.Fatal("topology has no CA with port 1 cabled")
	return ""
}

var linkStateRE = regexp.MustCompile(`(?m)^LinkState:\.*(\w+)`)

// checkDiscovered runs the real ibnetdiscover and smpquery: every node of
// want that has a cable must be there, every switch and every cabled CA
// port must have its own LID, and every cabled port must be Active. It
// returns what ibnetdiscover found.
func checkDiscovered(t *testing.T, dir, sock, host string, want *topology.Topology) *topology.Topology {
	t.Helper()
	out := diag(t, dir, sock, host, "ibnetdiscover")
	got, err := topology.Parse("ibnetdiscover", strings.NewReader(out))
	if err != nil {
		t.Fatalf("ibnetdiscover output does not parse: %v\n%s", err, out)
	}
	byDesc := map[string]*topology.Node{}
	for _, n := range got.Nodes {
		byDesc[n.Desc] = n
	}
	nwant := 0
	for _, n := range want.Nodes {
		if !connected(n) {
			continue
		}
		nwant++
		if byDesc[n.Desc] == nil {
			t.Errorf("ibnetdiscover did not find %q", n.Desc)
		}
	}
	if len(got.Nodes) != nwant {
		t.Errorf("ibnetdiscover found %d nodes, want %d:\n%s", len(got.Nodes), nwant, out)
	}
	seen := map[wire.LID]string{}
	claim := func(lid wire.LID, who string) {
		if lid == 0 {
			t.Errorf("%s has no LID", who)
			return
		}
		if other, dup := seen[lid]; dup {
			t.Errorf("%s and %s share LID %d", who, other, lid)
		}
		seen[lid] = who
	}
	type query struct {
		lid  wire.LID
		port int
		who  string
	}
	var qs []query
	for _, n := range got.Nodes {
		if n.IsSwitch() {
			claim(n.LID, n.Desc)
		}
		for _, p := range n.Ports[1:] {
			if p == nil || p.Remote == nil {
				continue
			}
			lid := n.LID
			if !n.IsSwitch() {
				lid = p.LID
				claim(lid, fmt.Sprintf("%s port %d", n.Desc, p.Num))
			}
			qs = append(qs, query{lid, p.Num, fmt.Sprintf("%s port %d", n.Desc, p.Num)})
		}
	}
	if t.Failed() {
		t.Logf("ibnetdiscover:\n%s", out)
		return got
	}
	for _, q := range qs {
		pi := diag(t, dir, sock, host, "smpquery", "portinfo", strconv.Itoa(int(q.lid)), strconv.Itoa(q.port))
		m := linkStateRE.FindStringSubmatch(pi)
		if m == nil || m[1] != "Active" {
			t.Errorf("smpquery portinfo %d %d (%s): LinkState %v, want Active\n%s", q.lid, q.port, q.who, m, pi)
		}
	}
	return got
}

// TestSMOnceOnIbsim: `ibemu sm --once` attached to the real ibsim brings up
// each of ibsim's example fabrics; the real ibnetdiscover sees every node
// and port with a LID and the real smpquery reads every cabled port Active.
func TestSMOnceOnIbsim(t *testing.T) {
	needTools(t, "ibsim", "ibnetdiscover", "smpquery")
	files, err := filepath.Glob("../../emu/topology/testdata/ibsim/net*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no ibsim example net files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			abs, err := filepath.Abs(file)
			if err != nil {
				t.Fatal(err)
			}
			topo, err := topology.Load(abs)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			sock := uniqueSock("ibemu-smt")
			sim := startProc(t, dir, []string{"IBSIM_SOCKNAME=" + sock}, "ibsim", "-s", abs)
			// The SM takes its attach point from the environment, as
			// OpenSM under libumad2sim does; ibsim puts it on the first
			// node of the file.
			smp := startIbemu(t, dir, []string{"IBSIM_SOCKNAME=" + sock}, "sm", "--once")
			if code := smp.wait(t, 60*time.Second); code != 0 {
				t.Fatalf("ibemu sm --once exited %d\nstdout:\n%s\nstderr:\n%s\nibsim:\n%s%s", code,
					smp.out.String(), smp.err.String(), sim.out.String(), sim.err.String())
			}
			if !strings.Contains(smp.out.String(), "SUBNET UP") {
				t.Fatalf("ibemu sm --once printed no SUBNET UP:\n%s", smp.out.String())
			}
			checkDiscovered(t, dir, sock, firstCA(t, topo), topo)
		})
	}
}

// saqueryFirst is the first record of a saquery dump: saquery under
// umad2sim prints records past the first 256-byte segment from whatever
// the buffer holds (OpenSM's answers show the same), so only the first is
// meaningful.
func saqueryFirst(out string) string {
	parts := regexp.MustCompile(`(?m)^\S.*dump:\s*$`).Split(out, -1)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// saField reads "name.....value" from a saquery dump.
func saField(dump, name string) string {
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\.*:?\.*(\S.*)$`).FindStringSubmatch(dump)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m[1])
}

// gidString is the link-local GID of a port GUID the way saquery prints
// it (inet_ntop).
func gidString(guid wire.GUID) string {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	binary.BigEndian.PutUint64(b[8:], uint64(guid))
	return netip.AddrFrom16(b).String()
}

// TestSMServesSAToRealTools: `ibemu sm` (as a daemon) on `ibemu serve`;
// the real sminfo, ibnetdiscover, smpquery and saquery (NR, PIR, PR, MCMR,
// SR) get the right answers.
func TestSMServesSAToRealTools(t *testing.T) {
	needTools(t, "ibnetdiscover", "smpquery", "saquery", "sminfo")
	abs, err := filepath.Abs("../../emu/topology/testdata/ibsim/net.2sw2path4hca")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := topology.Load(abs)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sock := uniqueSock("ibemu-sas")
	srv := startIbemu(t, dir, nil, "serve", abs, "--no-console", "--sockname", sock)
	srv.waitOutput(t, "clients attach at", 30*time.Second)
	smp := startIbemu(t, dir, nil, "sm", "--sockname", sock, "--host", "Hca1", "--priority", "7", "--sweep-interval", "-1s")
	smp.waitOutput(t, "SUBNET UP", 30*time.Second)

	got := checkDiscovered(t, dir, sock, "Hca2", topo)
	if t.Failed() {
		return
	}
	lidOf := map[string]wire.LID{}
	guidOf := map[string]wire.GUID{}
	nodeGUID := map[string]wire.GUID{}
	for _, n := range got.Nodes {
		nodeGUID[n.Desc] = n.NodeGUID
		if n.IsSwitch() {
			lidOf[n.Desc], guidOf[n.Desc] = n.LID, n.NodeGUID
		} else if p := n.Ports[1]; p.Remote != nil {
			lidOf[n.Desc], guidOf[n.Desc] = p.LID, p.GUID
		}
	}

	// sminfo: our SM is master, on Hca1's port, with its priority.
	out := diag(t, dir, sock, "Hca2", "sminfo")
	want := fmt.Sprintf("sm lid %d sm guid %#x, activity count", lidOf["Hca1"], uint64(guidOf["Hca1"]))
	if !strings.Contains(out, want) || !strings.Contains(out, "priority 7 state 3 SMINFO_MASTER") {
		t.Errorf("sminfo: %q, want %q ... priority 7 state 3 SMINFO_MASTER", out, want)
	}

	// NodeRecord of Hca3 by LID.
	out = diag(t, dir, sock, "Hca2", "saquery", "NR", strconv.Itoa(int(lidOf["Hca3"])))
	rec := saqueryFirst(out)
	if g := saField(rec, "node_guid"); g != fmt.Sprintf("0x%016x", uint64(nodeGUID["Hca3"])) {
		t.Errorf("saquery NR: node_guid %q, want %#016x\n%s", g, uint64(nodeGUID["Hca3"]), out)
	}
	if d := saField(rec, "NodeDescription"); d != "Hca3" {
		t.Errorf("saquery NR: NodeDescription %q\n%s", d, out)
	}
	if l := saField(rec, "lid"); l != strconv.Itoa(int(lidOf["Hca3"])) {
		t.Errorf("saquery NR: lid %q, want %d\n%s", l, lidOf["Hca3"], out)
	}

	// PortInfoRecord of Hca4 port 1.
	out = diag(t, dir, sock, "Hca2", "saquery", "PIR", fmt.Sprintf("%d/1", lidOf["Hca4"]))
	rec = saqueryFirst(out)
	if l := saField(rec, "EndPortLid"); l != strconv.Itoa(int(lidOf["Hca4"])) {
		t.Errorf("saquery PIR: EndPortLid %q, want %d\n%s", l, lidOf["Hca4"], out)
	}
	if s := saField(rec, "LinkState"); s != "Active" {
		t.Errorf("saquery PIR: LinkState %q\n%s", s, out)
	}
	if s := saField(rec, "SMLid"); s != strconv.Itoa(int(lidOf["Hca1"])) {
		t.Errorf("saquery PIR: SMLid %q, want %d\n%s", s, lidOf["Hca1"], out)
	}

	// PathRecord Hca2 -> Hca4 (across both switches).
	out = diag(t, dir, sock, "Hca2", "saquery", "--src-to-dst", fmt.Sprintf("%d:%d", lidOf["Hca2"], lidOf["Hca4"]))
	rec = saqueryFirst(out)
	for field, want := range map[string]string{
		"slid": strconv.Itoa(int(lidOf["Hca2"])), "dlid": strconv.Itoa(int(lidOf["Hca4"])),
		"sgid": gidString(guidOf["Hca2"]), "dgid": gidString(guidOf["Hca4"]), "pkey": "0xFFFF",
	} {
		if g := saField(rec, field); g != want {
			t.Errorf("saquery PR %s: %q, want %q\n%s", field, g, want, out)
		}
	}

	// MCMemberRecord: the IPoIB broadcast group of the default partition
	// exists from the start (Q_Key 0x0B1B, IBTA Vol 1 §15.2.5.17; RFC 4391).
	out = diag(t, dir, sock, "Hca2", "saquery", "MCMR")
	rec = saqueryFirst(out)
	for field, want := range map[string]string{"MGID": "ff12:401b:ffff::ffff:ffff", "qkey": "0xb1b", "pkey": "0xffff"} {
		if g := strings.ToLower(saField(rec, field)); g != want {
			t.Errorf("saquery MCMR %s: %q, want %q\n%s", field, g, want, out)
		}
	}
	if m := saField(rec, "mlid"); m == "" || m == "0x0" {
		t.Errorf("saquery MCMR: mlid %q\n%s", m, out)
	}

	// ServiceRecord: a service registered by a Go client on Hca3 (SA Set,
	// IBTA Vol 1 §15.2.5.14) is what saquery SR lists.
	registerService(t, sock, "Hca3", lidOf["Hca1"], guidOf["Hca3"])
	out = diag(t, dir, sock, "Hca2", "saquery", "SR")
	rec = saqueryFirst(out)
	if id := saField(rec, "ServiceID"); !strings.EqualFold(id, "0x10000ce100415453") {
		t.Errorf("saquery SR: service id %q\n%s", id, out)
	}
	if name := saField(rec, "ServiceName"); name != "ibemu interop" {
		t.Errorf("saquery SR: service name %q\n%s", name, out)
	}
}

// registerService registers a ServiceRecord for the port guid of host with
// the SA at smLID, over the attach protocol.
func registerService(t *testing.T, sock, host string, smLID wire.LID, guid wire.GUID) {
	t.Helper()
	rec := make([]byte, wire.ServiceRecordSize)
	wire.ServiceRecord(rec).Encode(&wire.ServiceRecordFields{ServiceID: 0x10000CE100415453,
		ServiceGID: linkLocal(guid), ServicePKey: 0xFFFF, ServiceLease: wire.ServiceLeaseInfinite, ServiceName: "ibemu interop"})
	mask := wire.ServiceRecordCompServiceID | wire.ServiceRecordCompServiceGID | wire.ServiceRecordCompServicePKey
	saCall(t, sock, host, smLID, wire.MethodSet, wire.AttrServiceRecord, mask, rec)
}
