//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
)

// speedsFabric (the file) has a link of every rate of the FDR, EDR and HDR
// generations and a QDR corner, in ibnetdiscover's format: a Quantum with
// a ConnectX-6 at 4xHDR (where both SMs run) and one at 2xHDR (HDR100),
// an EDR link to a Switch-IB with a ConnectX-4 at 4xEDR, a ConnectX-2
// (QDR, no extended speeds, no MlnxExtPortInfo) at 4xQDR and an
// InfiniScale-IV with another ConnectX-2, and an FDR link to a SwitchX-2
// with a ConnectX-3 at 4xFDR and a ConnectX-3 Pro at 4xFDR10. Every port
// enables only what its link trained at, so the SMs' link managers have
// extended speeds, FDR10 and widths to enable.
const speedsFabric = "../../emu/topology/testdata/ibnetdiscover/speeds.net"

// speedsHost is where both SMs and every diagnostic attach.
const speedsHost = "H-cx6"

// diagJob is one diagnostic run: the fact names its output gives.
type diagJob struct {
	key  string
	argv []string
	// parse turns the output into facts (name -> value) under key.
	parse func(out string) map[string]string
}

// runDiags runs jobs through libumad2sim on the served fabric s, a few at
// a time, and returns every fact keyed "job key: name"; a tool that fails
// gives the fact "job key: error".
func (s *served) runDiags(t *testing.T, jobs []diagJob) map[string]string {
	t.Helper()
	facts := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan diagJob)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				out, err := runDiag(s.dir, s.sock, speedsHost, j.argv...)
				mu.Lock()
				if err != nil {
					facts[j.key+": error"] = err.Error()
				} else {
					for k, v := range j.parse(out) {
						facts[j.key+": "+k] = v
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	return facts
}

// runDiag runs argv attached at host, in its own process group, killed
// after 20 seconds.
func runDiag(dir, sock, host string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LD_PRELOAD="+umad2sim, "IBSIM_SOCKNAME="+sock, "SIM_HOST="+host)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errb syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%v: %w: %s", argv, err, errb.String())
	}
	return out.String(), nil
}

var diagField = regexp.MustCompile(`(?m)^\s*(\w+):?\.+(.*)$`)

// dotFields parses the "Name:......value" lines of smpquery and the
// "\t\tname......value" lines of saquery, keeping the names in keep.
func dotFields(keep ...string) func(string) map[string]string {
	want := map[string]bool{}
	for _, k := range keep {
		want[k] = true
	}
	return func(out string) map[string]string {
		m := map[string]string{}
		for _, f := range diagField.FindAllStringSubmatch(out, -1) {
			if want[f[1]] {
				m[f[1]] = strings.TrimSpace(f[2])
			}
		}
		return m
	}
}

// drPaths maps every node of topo to a directed route from host's port 1
// in smpquery's notation ("0,1,3"), breadth first in port order.
func drPaths(topo *topology.Topology, host string) map[*topology.Node]string {
	paths := map[*topology.Node]string{}
	var start *topology.Node
	for _, n := range topo.Nodes {
		if n.ID == host {
			start = n
		}
	}
	paths[start] = "0"
	queue := []*topology.Node{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n != start && !n.IsSwitch() {
			continue
		}
		for _, p := range n.Ports {
			if p == nil || p.Num == 0 || p.Remote == nil {
				continue
			}
			if _, seen := paths[p.Remote.Node]; !seen {
				paths[p.Remote.Node] = paths[n] + "," + strconv.Itoa(p.Num)
				queue = append(queue, p.Remote.Node)
			}
		}
	}
	return paths
}

// mepiDevices are the device IDs OpenSM reads MlnxExtPortInfo of among
// those speedsFabric has.
var mepiDevices = map[string]bool{"S-quantum": true, "S-sx": true, "S-sib": true, "H-cx3": true, "H-cx3pro": true, "H-cx4": true, "H-cx6": true, "H-cx6b": true}

// portFields are the PortInfo fields the SMs write or the links show.
var portFields = []string{"LinkState", "PhysLinkState", "LinkDownDefState", "LinkWidthEnabled", "LinkWidthSupported",
	"LinkWidthActive", "LinkSpeedSupported", "LinkSpeedEnabled", "LinkSpeedActive", "LinkSpeedExtActive",
	"LinkSpeedExtSupported", "LinkSpeedExtEnabled", "NeighborMTU", "OperVLs", "VLCap", "MtuCap", "HoqLife",
	"VLStallCount", "PartEnforceInb", "PartEnforceOutb", "LocalPhysErr", "OverrunErr", "SubnetTimeout", "Lid"}

// recordJobs lists the SA records of each CA port, by the LIDs the facts
// of the first round give (each SM numbers the ports its own way):
// PortInfoRecord and LinkRecord, and the multicast groups.
func recordJobs(topo *topology.Topology, facts map[string]string) []diagJob {
	var jobs []diagJob
	for _, n := range topo.Nodes {
		if n.IsSwitch() {
			continue
		}
		lid := facts[n.ID+"/1 portinfo: Lid"]
		if lid == "" {
			continue
		}
		jobs = append(jobs,
			diagJob{key: n.ID + "/1 PortInfoRecord", argv: []string{"saquery", "PIR", lid + "/1"}, parse: dotFields(append(portFields, "PortNum")...)},
			diagJob{key: n.ID + "/1 LinkRecord", argv: []string{"saquery", "LR", lid + "/1"}, parse: dotFields("FromLID", "FromPort", "ToPort", "ToLID")})
	}
	return append(jobs, diagJob{key: "groups", argv: []string{"saquery", "-g"}, parse: dotFields("MGID", "Mtu", "mtu", "Rate", "rate",
		"pkt_life", "PacketLifeTime", "Qkey", "qkey", "Pkey", "pkey", "SL", "sl", "Scope", "scope", "MtuSelector", "RateSelector")})
}

// lidsToNodes replaces the LIDs in facts (Lid, FromLID, ToLID) by the ids
// of the nodes that hold them, so that the two SMs' facts compare.
func lidsToNodes(facts map[string]string) {
	owner := map[string]string{}
	for k, v := range facts {
		if id, ok := strings.CutSuffix(k, " portinfo: Lid"); ok && (strings.HasSuffix(id, "/0") || strings.HasPrefix(id, "H-")) {
			owner[v] = strings.Split(id, "/")[0]
		}
	}
	for k, v := range facts {
		if strings.HasSuffix(k, ": Lid") || strings.HasSuffix(k, "LID") {
			if o, ok := owner[v]; ok {
				facts[k] = "lid of " + o
			}
		}
	}
}

// speedJobs lists what both fabrics are asked: PortInfo of every cabled
// port and switch port 0 and MlnxExtPortInfo of the ports of the devices
// that have it (smpquery by directed route), and the SA's PathRecord of
// port pairs across every rate (saquery by GID).
func speedJobs(topo *topology.Topology) []diagJob {
	var jobs []diagJob
	paths := drPaths(topo, speedsHost)
	for _, n := range topo.Nodes {
		for _, p := range n.Ports {
			if p == nil || !(p.Num == 0 && n.IsSwitch() || p.Num > 0 && p.Remote != nil) {
				continue
			}
			key := fmt.Sprintf("%s/%d", n.ID, p.Num)
			jobs = append(jobs, diagJob{key: key + " portinfo", argv: []string{"smpquery", "-D", "portinfo", paths[n], strconv.Itoa(p.Num)},
				parse: dotFields(portFields...)})
			if p.Num != 0 && mepiDevices[n.ID] {
				jobs = append(jobs, diagJob{key: key + " mepi", argv: []string{"smpquery", "-D", "mepi", paths[n], strconv.Itoa(p.Num)},
					parse: dotFields("StateChangeEnable", "LinkSpeedSupported", "LinkSpeedEnabled", "LinkSpeedActive")})
			}
		}
	}
	gid := func(g uint64) string {
		return fmt.Sprintf("fe80::%x:%x:%x:%x", g>>48, g>>32&0xffff, g>>16&0xffff, g&0xffff)
	}
	const (
		quantum, sib, sx, is4                  = 0x2c90300000300, 0x2c90300000200, 0x2c90300000100, 0x2c90300000700
		cx3, cx3pro, cx4, cx6, cx6b, cx2, cx2b = 0x2c90300001001, 0x2c90300002001, 0x2c90300003001, 0x2c90300004001,
			0x2c90300005001, 0x2c90300006001, 0x2c90300007001
	)
	for _, pair := range [][2]uint64{
		{cx6, cx6}, {cx6, cx6b}, {cx6b, cx6b}, {cx6, cx4}, {cx4, cx4}, {cx4, cx3}, {cx3, cx3}, {cx3, cx3pro},
		{cx3pro, cx3pro}, {cx6b, cx3pro}, {cx4, cx2}, {cx2, cx2b}, {cx3, cx2b},
		{cx6, quantum}, {quantum, cx6}, {sib, sib}, {sx, is4}, {cx2b, is4},
	} {
		jobs = append(jobs, diagJob{key: fmt.Sprintf("path %#x->%#x", pair[0], pair[1]),
			argv:  []string{"saquery", "--sgid-to-dgid", gid(pair[0]) + "-" + gid(pair[1])},
			parse: dotFields("mtu", "rate", "pkt_life", "num_path_revers", "sl", "pkey")})
	}
	return jobs
}

// startOpenSM runs the real OpenSM (the daemon, no sweeping, args added)
// attached at speedsHost of s, waits until its log says SUBNET UP and
// returns the log's path.
func (s *served) startOpenSM(t *testing.T, args ...string) string {
	t.Helper()
	env := []string{"LD_PRELOAD=" + umad2sim, "IBSIM_SOCKNAME=" + s.sock, "SIM_HOST=" + speedsHost, "OSM_CACHE_DIR=" + s.dir}
	osmLog := filepath.Join(s.dir, "opensm.log")
	osm := startProc(t, s.dir, env, append(append([]string{"opensm"}, args...), "-s", "0", "-d2", "-f", osmLog)...)
	// OpenSM's stdout is a pipe it does not flush; its log file (flushed
	// after each line with -d2) says when the subnet is up.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if text, _ := os.ReadFile(osmLog); strings.Contains(string(text), "SUBNET UP") {
			return osmLog
		}
		select {
		case <-osm.done:
			t.Fatalf("opensm exited (%v)\n%s", osm.state, osm.out.String())
		default:
		}
		if time.Now().After(deadline) {
			text, _ := os.ReadFile(osmLog)
			t.Fatalf("opensm not up within 30s:\n%s", lastLines(string(text), 30))
		}
	}
}

// compareFacts fails t for every fact that differs between our fabric's
// (fo) and OpenSM's (ft), or that only one has.
func compareFacts(t *testing.T, fo, ft map[string]string) {
	t.Helper()
	if len(fo) == 0 || len(fo) != len(ft) {
		t.Errorf("read %d facts on our fabric, %d on OpenSM's", len(fo), len(ft))
	}
	var keys []string
	for k := range ft {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if fo[k] != ft[k] {
			t.Errorf("%s: ours %q, OpenSM %q", k, fo[k], ft[k])
		}
	}
	for k, v := range fo {
		if _, ok := ft[k]; !ok {
			t.Errorf("%s: ours %q, OpenSM has none", k, v)
		}
	}
}

// TestSMSpeedsLikeOpenSM: `ibemu sm` and the real OpenSM each bring up the
// same fabric of FDR, FDR10, EDR, HDR and 2xHDR links with a QDR corner
// (a ConnectX-2 and an InfiniScale-IV on a Switch-IB), each on its own
// `ibemu serve`; smpquery then reads the same PortInfo (every enable
// OpenSM's link manager forces with its defaults: LinkSpeedEnabled,
// LinkSpeedExtEnabled written with SMSupportsExtendedSpeeds, LinkWidthEnabled
// on the 2X-capable parts; NeighborMTU; OperationalVLs from VLCap, VL0-3
// on the mlx5 parts) and the same MlnxExtPortInfo (FDR10 enabled, OpenSM's
// "fdr10 1") from every port of both, and saquery reads the same
// PathRecord MTU, rate and PacketLifeTime for pairs across every rate.
// Neither SM logs an error.
func TestSMSpeedsLikeOpenSM(t *testing.T) {
	needTools(t, "opensm", "smpquery", "saquery")
	file, err := filepath.Abs(speedsFabric)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := serveShape(t, file, false), serveShape(t, file, false)

	start := time.Now()
	sm := startIbemu(t, ours.dir, nil, "sm", "--sockname", ours.sock, "--host", speedsHost, "--sweep-interval", "-1s", "--debug")
	sm.waitOutput(t, "SUBNET UP", 30*time.Second)
	oursUp := time.Since(start)
	start = time.Now()
	osmLog := theirs.startOpenSM(t)
	t.Logf("bring-up, process start included: ibemu sm %v, opensm %v", oursUp.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// Our log: no problem, no warning, every port's MlnxExtPortInfo read,
	// and the enables written (FDR10 on the three FDR10-capable link ends
	// that had it off, the extended speeds and widths elsewhere).
	time.Sleep(50 * time.Millisecond) // the problem lines follow SUBNET UP
	log := sm.out.String() + sm.err.String()
	for _, bad := range []string{"problem:", "level=WARN", "level=ERROR", "MlnxExtPortInfo not read"} {
		if strings.Contains(log, bad) {
			t.Errorf("ibemu sm logged %q:\n%s", bad, log)
		}
	}
	if n := strings.Count(log, "sm: enabling FDR10"); n != 3 {
		t.Errorf("ibemu sm --debug logs %d FDR10 enables, want 3 (ConnectX-3, SwitchX-2 ports 1 and 3):\n%s", n, log)
	}
	if !strings.Contains(log, `msg="sm: link enables" port="\"cx6 mlx5_0\"`) {
		t.Errorf("ibemu sm --debug does not log the link enables of the ConnectX-6:\n%s", log)
	}

	jobs := speedJobs(ours.topo)
	fo, ft := ours.runDiags(t, jobs), theirs.runDiags(t, jobs)
	recs := recordJobs(ours.topo, fo)
	for k, v := range ours.runDiags(t, recs) {
		fo[k] = v
	}
	for k, v := range theirs.runDiags(t, recordJobs(theirs.topo, ft)) {
		ft[k] = v
	}
	lidsToNodes(fo)
	lidsToNodes(ft)
	t.Logf("%d diagnostic runs per fabric, %d facts compared", len(jobs)+len(recs), len(ft))
	if osmText, err := os.ReadFile(osmLog); err == nil && regexp.MustCompile(`ERR [0-9A-F]{4}`).Match(osmText) {
		t.Errorf("opensm logged an error:\n%s", lastLines(string(osmText), 30))
	}
	compareFacts(t, fo, ft)

	// What both must show, so that the two agreeing on something wrong
	// fails too.
	for k, want := range map[string]string{
		"H-cx6/1 portinfo: LinkSpeedExtEnabled":           "14.0625 Gbps or 25.78125 Gbps or 53.125 Gbps",
		"H-cx6/1 portinfo: LinkWidthEnabled":              "1X or 4X or 2X",
		"H-cx6/1 portinfo: OperVLs":                       "VL0-3",
		"S-sib/2 portinfo: LinkSpeedExtEnabled":           "14.0625 Gbps or 25.78125 Gbps",
		"S-sib/4 portinfo: LinkSpeedExtEnabled":           "0", // the ConnectX-2 has no extended speeds
		"H-cx2/1 portinfo: LinkSpeedEnabled":              "2.5 Gbps or 5.0 Gbps or 10.0 Gbps",
		"H-cx3pro/1 portinfo: LinkSpeedActive":            "10.0 Gbps",
		"H-cx3/1 mepi: LinkSpeedEnabled":                  "0x01",
		"S-sx/3 mepi: LinkSpeedEnabled":                   "0x01",
		"H-cx4/1 mepi: LinkSpeedSupported":                "0x00",
		"path 0x2c90300004001->0x2c90300004001: rate":     "0x91", // 200 Gb/s, selector exactly
		"path 0x2c90300004001->0x2c90300005001: rate":     "0x90", // 100 Gb/s (2xHDR)
		"path 0x2c90300003001->0x2c90300001001: rate":     "0x8C", // 56 Gb/s (FDR)
		"path 0x2c90300001001->0x2c90300002001: rate":     "0x87", // 40 Gb/s (FDR10)
		"path 0x2c90300003001->0x2c90300006001: rate":     "0x87", // 40 Gb/s (QDR on the EDR switch)
		"path 0x2c90300004001->0x2c90300000300: rate":     "0x83", // switch port 0: 10 Gb/s
		"path 0x2c90300003001->0x2c90300001001: pkt_life": "0x92",
		"path 0x2c90300004001->0x2c90300004001: pkt_life": "0x80",
		// The SA's records show the PortInfo as the SM left it.
		"H-cx6/1 PortInfoRecord: LinkSpeedExtEnabled": "14.0625 Gbps or 25.78125 Gbps or 53.125 Gbps",
		"H-cx6/1 PortInfoRecord: LinkWidthEnabled":    "1X or 4X or 2X",
		"H-cx2/1 PortInfoRecord: LinkSpeedExtEnabled": "0",
		"H-cx3/1 LinkRecord: ToLID":                   "lid of S-sx",
		// The IPoIB broadcast group: 2048 bytes, 10 Gb/s.
		"groups: Mtu":  "0x84",
		"groups: Rate": "0x83",
	} {
		if fo[k] != want {
			t.Errorf("%s: %q, want %q", k, fo[k], want)
		}
	}
}
