//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/attach"
	"github.com/ibemu/ibemu/stack/mad"
)

// These tests finish the SA and SM cross-checks with real peers
// (the harness is sm_linux_test.go's): the real saquery reads the SA
// records added after the first ones (SMInfoRecord, P_KeyTableRecord,
// SL2VL, VLArbitration, GUIDInfo, MFT and InformInfo records) and its
// answers are compared with what the real smpquery reads from the
// emulated ports; two `ibemu sm` processes fail over; and `ibemu sm
// --once` brings a fabric up through 5% frame loss.

const net2sw = "../../emu/topology/testdata/ibsim/net.2sw2path4hca"

// peerFabric is `ibemu serve` of net.2sw2path4hca.
type peerFabric struct {
	dir, sock string
	topo      *topology.Topology
	srv       *proc
}

func servePeer(t *testing.T, extra ...string) *peerFabric {
	t.Helper()
	abs, err := filepath.Abs(net2sw)
	if err != nil {
		t.Fatal(err)
	}
	topo, err := topology.Load(abs)
	if err != nil {
		t.Fatal(err)
	}
	f := &peerFabric{dir: t.TempDir(), sock: uniqueSock("ibemu-peer"), topo: topo}
	args := append([]string{"serve", abs, "--no-console", "--sockname", f.sock}, extra...)
	f.srv = startIbemu(t, f.dir, nil, args...)
	f.srv.waitOutput(t, "clients attach at", 30*time.Second)
	return f
}

// ids maps NodeDescriptions to the LID and port GUID (CAs: port 1;
// switches: port 0) ibnetdiscover found.
type ids struct {
	lid  map[string]wire.LID
	guid map[string]wire.GUID
}

func idsOf(got *topology.Topology) ids {
	x := ids{lid: map[string]wire.LID{}, guid: map[string]wire.GUID{}}
	for _, n := range got.Nodes {
		if n.IsSwitch() {
			x.lid[n.Desc], x.guid[n.Desc] = n.LID, n.NodeGUID
		} else if p := n.Ports[1]; p != nil && p.Remote != nil {
			x.lid[n.Desc], x.guid[n.Desc] = p.LID, p.GUID
		}
	}
	return x
}

var (
	saVLRE   = regexp.MustCompile(`(?m)^\s*VL:((?:\s*\d+\|){16})`)
	smpSLVL  = regexp.MustCompile(`(?m)^ports: in\s+0, out\s+0:\s*\|((?:\s*\d+\|){16})`)
	saVLArb  = regexp.MustCompile(`(?m)^\s*(VL|Weight)\s*:((?:\s*\d+\|){16})`)
	smpVLArb = regexp.MustCompile(`(?m)^(VL|WEIGHT)\s*:\s*\|((?:0x[0-9a-f]+\s*\|)+)`)
	smpLow   = regexp.MustCompile(`LowCap (\d+)`)
)

// numbers splits "a| b| c|" into its numbers (decimal or 0x hex).
func numbers(t *testing.T, s string) []uint64 {
	t.Helper()
	var out []uint64
	for _, f := range strings.Split(s, "|") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseUint(f, 0, 64)
		if err != nil {
			t.Fatalf("number %q: %v", f, err)
		}
		out = append(out, v)
	}
	return out
}

// saCall sends one SA request from host over the attach protocol and
// returns the answer.
func saCall(t *testing.T, sock, host string, smLID wire.LID, method wire.Method, attr wire.AttrID, mask wire.ComponentMask, rec []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := attach.Dial(ctx, &attach.DialConfig{SockName: sock, Host: host})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := mad.NewAgent(c, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	req := make([]byte, wire.MADSize)
	wire.SAMAD(req).Encode(&wire.SAMADFields{
		MAD: wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion, Method: method, AttrID: attr},
		SA:  wire.SAHeaderFields{ComponentMask: mask},
	})
	copy(req[wire.SADataOffset:], rec)
	resp, err := a.Call(ctx, mad.Addr{LID: smLID, QPN: 1}, req)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", method, attr, host, err)
	}
	return resp
}

func linkLocal(guid wire.GUID) wire.GID {
	var g wire.GID
	g[0], g[1] = 0xfe, 0x80
	binary.BigEndian.PutUint64(g[8:], uint64(guid))
	return g
}

// TestSMSARecordsToRealSaquery: with `ibemu sm` on `ibemu serve`, the
// real saquery reads SMIR, PKTR, SL2VL, VLAR, GIR, MFTR and IIR, and each
// answer agrees with the subnet (ibnetdiscover) and with the tables the
// real smpquery reads from the emulated port itself.
func TestSMSARecordsToRealSaquery(t *testing.T) {
	needTools(t, "ibnetdiscover", "smpquery", "saquery")
	f := servePeer(t)
	smp := startIbemu(t, f.dir, nil, "sm", "--sockname", f.sock, "--host", "Hca1", "--priority", "7", "--sweep-interval", "-1s")
	smp.waitOutput(t, "SUBNET UP", 30*time.Second)
	got := checkDiscovered(t, f.dir, f.sock, "Hca2", f.topo)
	if t.Failed() {
		return
	}
	x := idsOf(got)
	sm, h3 := x.lid["Hca1"], x.lid["Hca3"]
	run := func(args ...string) string { return diag(t, f.dir, f.sock, "Hca2", args...) }

	// SMInfoRecord of the master.
	out := run("saquery", "SMIR", strconv.Itoa(int(sm)))
	rec := saqueryFirst(out)
	for field, want := range map[string]string{"LID": strconv.Itoa(int(sm)), "GUID": fmt.Sprintf("0x%016x", uint64(x.guid["Hca1"])),
		"Priority": "7", "SMState": "3"} {
		if g := saField(rec, field); g != want {
			t.Errorf("saquery SMIR %s: %q, want %q\n%s", field, g, want, out)
		}
	}

	// P_KeyTableRecord of Hca3: the default partition, as the port holds it.
	// P_KeyTableRecords go to trusted requesters only: the SM_Key is
	// OpenSM's default 1, which `ibemu sm` takes too, and OpenSM refuses
	// saquery without it the same way.
	out = run("saquery", "--smkey", "1", "PKTR", strconv.Itoa(int(h3)))
	rec = saqueryFirst(out)
	if saField(rec, "LID") != strconv.Itoa(int(h3)) || saField(rec, "Block") != "0" {
		t.Errorf("saquery PKTR: %s", out)
	}
	pk := regexp.MustCompile(`(?m)^\s*(0x[0-9a-f]{4}(?:\s+0x[0-9a-f]{4}){7})\s*$`).FindStringSubmatch(rec)
	dev := regexp.MustCompile(`(?m)^\s*0:\s+(.*)$`).FindStringSubmatch(run("smpquery", "pkeys", strconv.Itoa(int(h3)), "1"))
	if pk == nil || dev == nil || strings.Fields(pk[1])[0] != "0xffff" || strings.Join(strings.Fields(pk[1]), " ") != strings.Join(strings.Fields(dev[1]), " ") {
		t.Errorf("saquery PKTR first entries %v, smpquery pkeys %v\n%s", pk, dev, out)
	}

	// SL2VL of Hca3: the SM's table, as smpquery reads it from the port.
	out = run("saquery", "SL2VL", strconv.Itoa(int(h3)))
	sa := saVLRE.FindStringSubmatch(saqueryFirst(out))
	port := smpSLVL.FindStringSubmatch(run("smpquery", "sl2vl", strconv.Itoa(int(h3)), "1"))
	if sa == nil || port == nil || fmt.Sprint(numbers(t, sa[1])) != fmt.Sprint(numbers(t, port[1])) {
		t.Errorf("saquery SL2VL %v, smpquery sl2vl %v\n%s", sa, port, out)
	} else if v := numbers(t, sa[1]); v[1] == 0 {
		t.Errorf("SL 1 maps to VL 0: %v", v)
	}

	// VLArbitration block 1 of Hca3 against the port's low-priority table.
	out = run("saquery", "VLAR", fmt.Sprintf("%d/1/1", h3))
	rows := saVLArb.FindAllStringSubmatch(saqueryFirst(out), -1)
	pout := run("smpquery", "vlarb", strconv.Itoa(int(h3)), "1")
	prows := smpVLArb.FindAllStringSubmatch(pout, -1)
	lowCap := smpLow.FindStringSubmatch(pout)
	if len(rows) < 2 || len(prows) < 2 || lowCap == nil {
		t.Fatalf("saquery VLAR:\n%s\nsmpquery vlarb:\n%s", out, pout)
	}
	n, _ := strconv.Atoi(lowCap[1])
	saVL, saW := numbers(t, rows[0][2]), numbers(t, rows[1][2])
	pVL, pW := numbers(t, prows[0][2]), numbers(t, prows[1][2])
	n = min(n, len(pVL), 16)
	if n == 0 || fmt.Sprint(saVL[:n], saW[:n]) != fmt.Sprint(pVL[:n], pW[:n]) || saW[0] == 0 {
		t.Errorf("VLArb low block: saquery VL %v weight %v, port VL %v weight %v", saVL[:n], saW[:n], pVL, pW)
	}

	// GUIDInfoRecord block 0 of Hca3: entry 0 is the port GUID.
	out = run("saquery", "GIR", fmt.Sprintf("%d/0", h3))
	if g := saField(saqueryFirst(out), "GUID 0"); g != fmt.Sprintf("0x%016x", uint64(x.guid["Hca3"])) {
		t.Errorf("saquery GIR: GUID 0 %q, want %#016x\n%s", g, uint64(x.guid["Hca3"]), out)
	}

	// MFTRecord: Hca3 and Hca4 join the IPoIB broadcast group (SA Set
	// from Go clients); Switch1 then forwards MLID 0xC000 to Hca3's port
	// (2) and to one of the two links to Switch2 (3 or 5).
	for _, h := range []string{"Hca3", "Hca4"} {
		q := make([]byte, wire.MCMemberRecordSize)
		wire.MCMemberRecord(q).Encode(&wire.MCMemberRecordFields{
			MGID:    wire.GID{0xff, 0x12, 0x40, 0x1b, 0xff, 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff},
			PortGID: linkLocal(x.guid[h]), JoinState: wire.JoinFullMember})
		saCall(t, f.sock, h, sm, wire.MethodSet, wire.AttrMCMemberRecord,
			wire.MCMemberRecordCompMGID|wire.MCMemberRecordCompPortGID|wire.MCMemberRecordCompJoinState, q)
	}
	mftRE := regexp.MustCompile(`(?m)^\s*0xc000\s+0x([0-9a-f]+)`)
	var mask uint64
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = run("saquery", "MFTR", strconv.Itoa(int(x.lid["Switch1"])))
		if m := mftRE.FindStringSubmatch(saqueryFirst(out)); m != nil {
			mask, _ = strconv.ParseUint(m[1], 16, 16)
		}
		if mask != 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if mask&(1<<2) == 0 || mask&(1<<3|1<<5) == 0 || mask&(1<<3|1<<5) == 1<<3|1<<5 {
		t.Errorf("saquery MFTR of Switch1: mlid 0xc000 mask %#x, want port 2 and one of ports 3, 5\n%s", mask, out)
	}

	// InformInfoRecord: Hca3 subscribes to trap 64.
	ii := make([]byte, wire.InformInfoSize)
	wire.InformInfo(ii).Encode(&wire.InformInfoFields{LIDRangeBegin: wire.InformInfoAllLIDs, IsGeneric: true, Subscribe: true,
		Type: wire.InformInfoAnyType, TrapNumber: 64, QPN: 1, ProducerType: wire.InformInfoAnyProducer})
	saCall(t, f.sock, "Hca3", sm, wire.MethodSet, wire.AttrInformInfo, 0, ii)
	out = run("saquery", "IIR")
	rec = saqueryFirst(out)
	if g := saField(rec, "SubscriberGID"); g != gidString(x.guid["Hca3"]) || saField(rec, "trap_num") != "64" || saField(rec, "subscribe") != "0x1" {
		t.Errorf("saquery IIR: subscriber %q\n%s", g, out)
	}
}

var sminfoRE = regexp.MustCompile(`sm lid (\d+) sm guid (0x[0-9a-f]+), activity count \d+ priority (\d+) state (\d+)`)

// TestSMFailoverRealPeers: two `ibemu sm` processes on one `ibemu serve`;
// the real sminfo shows the higher priority one master and the other
// standby. The master is killed (SIGKILL, by PID); the standby takes over
// after exactly --poll-retries unanswered polls, and ibnetdiscover and
// smpquery show the same LIDs, every port Active.
func TestSMFailoverRealPeers(t *testing.T) {
	needTools(t, "ibnetdiscover", "smpquery", "sminfo")
	f := servePeer(t)
	common := []string{"--sockname", f.sock, "--sweep-interval", "-1s", "--poll-interval", "300ms"}
	a := startIbemu(t, f.dir, nil, append([]string{"sm", "--host", "Hca1", "--priority", "10"}, common...)...)
	a.waitOutput(t, "SUBNET UP", 30*time.Second)
	b := startIbemu(t, f.dir, nil, append([]string{"sm", "--host", "Hca2", "--priority", "5"}, common...)...)
	before := idsOf(checkDiscovered(t, f.dir, f.sock, "Hca3", f.topo))
	if t.Failed() {
		return
	}
	sminfo := func(args ...string) []string {
		out := diag(t, f.dir, f.sock, "Hca3", append([]string{"sminfo"}, args...)...)
		m := sminfoRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("sminfo %v: %q", args, out)
		}
		return m[1:]
	}
	m := sminfo()
	if m[0] != strconv.Itoa(int(before.lid["Hca1"])) || m[2] != "10" || m[3] != "3" {
		t.Fatalf("sminfo: master %v, want lid %d priority 10 state 3", m, before.lid["Hca1"])
	}
	// The second SM is standby once its first sweep is done.
	deadline := time.Now().Add(20 * time.Second)
	for m = sminfo(strconv.Itoa(int(before.lid["Hca2"]))); m[3] != "2"; m = sminfo(strconv.Itoa(int(before.lid["Hca2"]))) {
		if time.Now().After(deadline) {
			t.Fatalf("sminfo of Hca2's SM: %v, want state 2 (standby)\n%s", m, b.err.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m[2] != "5" {
		t.Errorf("standby priority %s, want 5", m[2])
	}
	// Kill the master by its PID.
	if err := syscall.Kill(a.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t, 10*time.Second)
	start := time.Now()
	b.waitOutput(t, "SUBNET UP", 30*time.Second)
	took := time.Since(start)
	// Exactly DefaultPollRetries (4) unanswered polls, then the takeover.
	if n := strings.Count(b.err.String(), "master did not answer sminfo poll"); n != 4 {
		t.Errorf("standby logged %d unanswered polls before taking over, want 4\n%s", n, b.err.String())
	}
	if took > 15*time.Second {
		t.Errorf("takeover took %v with a 300ms poll interval", took)
	}
	m = sminfo()
	if m[0] != strconv.Itoa(int(before.lid["Hca2"])) || m[1] != fmt.Sprintf("0x%x", uint64(before.guid["Hca2"])) || m[3] != "3" {
		t.Errorf("sminfo after the takeover: %v, want Hca2 (lid %d) master", m, before.lid["Hca2"])
	}
	after := idsOf(checkDiscovered(t, f.dir, f.sock, "Hca3", f.topo))
	for name, lid := range before.lid {
		if after.lid[name] != lid {
			t.Errorf("%s: lid %d after the takeover, %d before", name, after.lid[name], lid)
		}
	}
	t.Logf("standby became master %v after the kill", took.Round(time.Millisecond))
}

// TestSMOnceThroughMADLoss: every port of the served fabric loses 5% of
// the frames it sends (serve --commands with the console's Drop); `ibemu
// sm --once` still brings the subnet up, ibnetdiscover and smpquery see
// every port with a LID and Active, and the real perfquery shows frames
// lost on the SM's link.
func TestSMOnceThroughMADLoss(t *testing.T) {
	needTools(t, "ibnetdiscover", "smpquery", "perfquery")
	cmds := filepath.Join(t.TempDir(), "drop")
	var b strings.Builder
	for _, n := range []string{"Switch1", "Switch2", "Hca1", "Hca2", "Hca3", "Hca4"} {
		fmt.Fprintf(&b, "Drop %q 5\n", n)
	}
	if err := os.WriteFile(cmds, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f := servePeer(t, "--commands", cmds)
	f.srv.waitOutput(t, "drop rate 5% on", 10*time.Second)
	// A directed-route SMP to the far HCAs crosses three links each way:
	// about one in four is lost, so the SM gets more retries than its
	// default 3 (as TestInteropDrop gives OpenSM 10).
	smp := startIbemu(t, f.dir, nil, "sm", "--once", "--sockname", f.sock, "--host", "Hca1", "--retries", "10")
	if code := smp.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("ibemu sm --once exited %d\nstdout:\n%s\nstderr:\n%s", code, smp.out.String(), smp.err.String())
	}
	if !strings.Contains(smp.out.String(), "SUBNET UP: 2 switches, 4 CAs") {
		t.Fatalf("ibemu sm --once: %s", smp.out.String())
	}
	got := checkDiscovered(t, f.dir, f.sock, "Hca3", f.topo)
	if t.Failed() {
		return
	}
	x := idsOf(got)
	// Counters of both ends of the SM's link, Hca1 port 1 <-> Switch1
	// port 1, read from Hca1 (its own port without crossing the link):
	// what one end sent and the other did not receive was lost. Switch1
	// first: its answer leaves after its counters are read, which hides
	// one frame at most.
	counters := func(lid wire.LID) (xmit, rcv int64) {
		out := diag(t, f.dir, f.sock, "Hca1", "perfquery", strconv.Itoa(int(lid)), "1")
		get := func(name string) int64 {
			m := regexp.MustCompile(`(?m)^` + name + `:\.*(\d+)`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("perfquery %d 1: no %s\n%s", lid, name, out)
			}
			v, _ := strconv.ParseInt(m[1], 10, 64)
			return v
		}
		return get("PortXmitPkts"), get("PortRcvPkts")
	}
	sx, sr := counters(x.lid["Switch1"])
	hx, hr := counters(x.lid["Hca1"])
	lost := hx - sr + sx - hr
	if lost < 1 {
		t.Errorf("SM link: Hca1 sent %d, Switch1 got %d; Switch1 sent %d, Hca1 got %d: nothing lost, the drop did not work",
			hx, sr, sx, hr)
	}
	t.Logf("%s; about %d frames lost on the SM's link", strings.TrimSpace(smp.out.String()), lost)
}
