//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// These tests run OpenSM's own SA conformance tool, osmtest (Debian
// opensm), through libumad2sim against `ibemu serve`, once with the real
// OpenSM as SM and SA and once with `ibemu sm`, attached at an HCA and at
// a switch. They run the flows that can pass through libumad2sim:
//
//   - c (create an inventory from SA queries),
//   - v (validate the SA against it, -d1: without the scan of every path
//     record, whose full table libumad2sim cannot carry; node, port,
//     MultiPathRecord, GUIDInfo, LinkRecord, SMInfoRecord, InformInfo
//     checks and the expected errors),
//   - e (event forwarding: InformInfo subscriptions),
//   - q (the VL arbitration and SL-to-VL records of every port).
//
// libumad2sim has no RMPP, so a multi-record answer reaches osmtest as its
// first MAD (the inventory holds the first records of each table), and it
// hands a process only the first 224 bytes of every MAD (its reader's
// buffer is the 288-byte datagram minus the 64-byte umad header), so the
// service flow's echoed ServiceData64[1] is lost. The ServiceRecord (s),
// multicast (m) and full path record flows fail for those reasons with
// OpenSM as well as with ours, and so does a (all of them).

// osmtestFlows are the flows both SMs pass, with osmtest's extra options.
var osmtestFlows = []struct {
	flow string
	args []string
}{
	{"c", nil},
	{"v", []string{"-d1"}},
	{"e", nil},
	{"q", nil},
}

// umad2simMADBytes is how much of a MAD libumad2sim (ibsim 0.10 on) hands
// a process: its reader's buffer is the 288-byte datagram, of which the
// 64-byte umad header leaves 224 for the MAD.
const umad2simMADBytes = 224

var osmtestPass = regexp.MustCompile(`OSMTEST: TEST "[^"]+" PASS`)

// runOsmtest runs one osmtest flow through libumad2sim attached at host
// and fails the test, with osmtest's output and log, unless it passes.
func runOsmtest(t *testing.T, dir, sock, host, inv, flow string, args ...string) {
	t.Helper()
	env := []string{"LD_PRELOAD=" + umad2sim, "IBSIM_SOCKNAME=" + sock, "SIM_HOST=" + host}
	logf := filepath.Join(dir, fmt.Sprintf("osmtest-%s-%d.log", flow, time.Now().UnixNano()))
	argv := append([]string{"osmtest", "-f", flow, "-i", inv, "-l", logf}, args...)
	p := startProc(t, dir, env, argv...)
	code := p.wait(t, 30*time.Second)
	log, _ := os.ReadFile(logf)
	if code != 0 || !osmtestPass.MatchString(p.out.String()) {
		t.Fatalf("osmtest -f %s at %q exited %d\nstdout:\n%s\nstderr:\n%s\nlog:\n%s", flow, host, code, p.out.String(), p.err.String(), log)
	}
}

// inventory counts the records of each kind in an osmtest inventory and
// keeps its node records (without their LID, which each SM assigns its
// own way) and its link records.
type inventory struct {
	count        map[string]int
	nodes, ports []string
	links        [][4]uint64
}

// lidFields are the inventory fields that hold LIDs.
var lidFields = map[string]bool{"lid": true, "base_lid": true, "master_sm_base_lid": true}

var invBlock = regexp.MustCompile(`(?s)DEFINE_(\w+)\n(.*?)\nEND`)

func readInventory(t *testing.T, path string) inventory {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventory{count: map[string]int{}}
	for _, m := range invBlock.FindAllStringSubmatch(string(b), -1) {
		inv.count[m[1]]++
		fields := map[string]uint64{}
		var keep []string
		for _, line := range strings.Split(m[2], "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] == "#" {
				continue
			}
			var v uint64
			if _, err := fmt.Sscanf(f[len(f)-1], "0x%x", &v); err == nil {
				fields[f[0]] = v
			}
			if !lidFields[f[0]] {
				keep = append(keep, strings.Join(f, " "))
			}
		}
		switch m[1] {
		case "NODE":
			inv.nodes = append(inv.nodes, strings.Join(keep, "; "))
		case "PORT":
			inv.ports = append(inv.ports, strings.Join(keep, "; "))
		case "LINK":
			inv.links = append(inv.links, [4]uint64{fields["from_lid"], fields["from_port_num"], fields["to_lid"], fields["to_port_num"]})
		}
	}
	return inv
}

// osmtestShape is a topology osmtest runs on: where the SM attaches and
// where osmtest does (a CA and a switch).
type osmtestShape struct {
	name, file string
	sm         string
	hosts      []string
}

// osmtestFabric serves shape, starts an SM attached at shape.sm (the real
// OpenSM daemon, or `ibemu sm`) and runs the flows at each of its hosts;
// it returns the inventory each host's c flow wrote.
func osmtestFabric(t *testing.T, shape osmtestShape, opensm bool) map[string]inventory {
	t.Helper()
	f := serveShape(t, shape.file, false)
	if opensm {
		env := []string{"LD_PRELOAD=" + umad2sim, "IBSIM_SOCKNAME=" + f.sock, "SIM_HOST=" + shape.sm,
			"OSM_TMP_DIR=" + f.dir, "OSM_CACHE_DIR=" + f.dir}
		logf := filepath.Join(f.dir, "opensm.log")
		osm := startProc(t, f.dir, env, "opensm", "-d2", "-f", logf)
		// OpenSM writes SUBNET UP to its log (flushed per message with
		// -d2); its stdout is not flushed when it is not a terminal.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if b, _ := os.ReadFile(logf); strings.Contains(string(b), "SUBNET UP") {
				break
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(logf)
				t.Fatalf("opensm: no SUBNET UP within 30s\nstdout:\n%s\nlog:\n%s", osm.out.String(), b)
			}
		}
	} else {
		p := startIbemu(t, f.dir, nil, "sm", "--sockname", f.sock, "--host", shape.sm, "--sweep-interval", "-1s")
		p.waitOutput(t, "SUBNET UP", 30*time.Second)
	}
	// Link records are 8 bytes: the first MAD of the answer holds 25,
	// one per cabled port end; those in the 224 bytes libumad2sim hands
	// over are real links.
	wantLinks := min(cabledEnds(f.topo), (wire.MADSize-wire.SADataOffset)/8)
	const whole = (umad2simMADBytes - wire.SADataOffset) / 8
	out := map[string]inventory{}
	for _, host := range shape.hosts {
		inv := filepath.Join(f.dir, "inventory-"+strings.ReplaceAll(host, " ", "_"))
		for _, fl := range osmtestFlows {
			runOsmtest(t, f.dir, f.sock, host, inv, fl.flow, fl.args...)
		}
		got := readInventory(t, inv)
		if len(got.links) != wantLinks {
			t.Errorf("%s at %s: %d link records, want %d\n%v", shape.name, host, len(got.links), wantLinks, got.links)
		}
		for _, l := range got.links[:min(whole, len(got.links))] {
			if l[0] == 0 || l[1] == 0 || l[2] == 0 || l[3] == 0 {
				t.Errorf("%s at %s: link record %v has a zero LID or port", shape.name, host, l)
			}
		}
		out[host] = got
	}
	return out
}

// cabledEnds counts the cabled port ends of a topology.
func cabledEnds(topo *topology.Topology) int {
	n := 0
	for _, node := range topo.Nodes {
		for _, p := range node.Ports {
			if p != nil && p.Remote != nil {
				n++
			}
		}
	}
	return n
}

// TestOsmtestAgainstOpenSMAndOurs runs osmtest's passing flows with each
// SM on an ibsim example net and a small fat tree, attached at an HCA and
// at a switch, and compares the inventories the two SAs gave: as many
// records of each kind and the same node and PortInfo records, field by
// field (LIDs aside: each SM assigns its own).
func TestOsmtestAgainstOpenSMAndOurs(t *testing.T) {
	needTools(t, "opensm", "osmtest")
	net, err := filepath.Abs(net2sw)
	if err != nil {
		t.Fatal(err)
	}
	shapes := []osmtestShape{
		{name: "net.2sw2path4hca", file: net, sm: "Hca1", hosts: []string{"Hca2", "Switch1"}},
		{name: "fattree", file: genShape(t, t.TempDir(), "ft.net", "fattree", "--levels", "2", "--radix", "4"),
			sm: "node1 HCA-1", hosts: []string{"node3 HCA-1", "leaf2"}},
	}
	for _, shape := range shapes {
		theirs := osmtestFabric(t, shape, true)
		ours := osmtestFabric(t, shape, false)
		if t.Failed() {
			return
		}
		for _, host := range shape.hosts {
			o, th := ours[host], theirs[host]
			for _, kind := range []string{"NODE", "PORT", "PATH", "LINK"} {
				if o.count[kind] != th.count[kind] {
					t.Errorf("%s at %s: %d %s records from our SA, %d from OpenSM's", shape.name, host, o.count[kind], kind, th.count[kind])
				}
			}
			for kind, recs := range map[string][2][]string{"node": {o.nodes, th.nodes}, "port": {o.ports, th.ports}} {
				if a, b := strings.Join(recs[0], "\n"), strings.Join(recs[1], "\n"); a != b {
					t.Errorf("%s at %s: %s records differ\nours:\n%s\nOpenSM:\n%s", shape.name, host, kind, a, b)
				}
			}
		}
	}
}
