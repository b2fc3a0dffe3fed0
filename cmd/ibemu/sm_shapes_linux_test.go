//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// These tests run `ibemu sm` on the shapes and options real fabrics use,
// each on its own `ibemu serve`, and let the real infiniband-diags judge
// what it leaves in the fabric: ibnetdiscover (every node, unique LIDs),
// iblinkinfo (every cabled port Active), ibroute (the LFT of every switch
// carries every CA LID, every LID of an LMC range, to its port without a
// loop), ibtracert and saquery PathRecord on the longest route. Real
// OpenSM (with libumad2sim) checked the same fabrics by hand for this
// file: where OpenSM leaves the same state, the expectations here are what
// both leave.

// shapeFile writes a topology to dir and returns its path.
func shapeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// genShape writes `ibemu topo gen ARGS` to dir and returns its path.
func genShape(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(&out, &errb, append([]string{"topo", "gen"}, args...)); code != 0 {
		t.Fatalf("ibemu topo gen %v exited %d: %s", args, code, errb.String())
	}
	return shapeFile(t, dir, name, out.String())
}

// served is a topology served by `ibemu serve` (with the console on a pipe
// when asked).
type served struct {
	dir, sock string
	topo      *topology.Topology
	console   *os.File
}

// serveShape starts `ibemu serve` on file; with console, the server reads
// console commands that s.command writes.
func serveShape(t *testing.T, file string, console bool) *served {
	t.Helper()
	topo, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	s := &served{dir: t.TempDir(), sock: uniqueSock("ibemu-shape"), topo: topo}
	args := []string{"serve", file, "--sockname", s.sock}
	var stdin *os.File
	if console {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		stdin, s.console = r, w
		t.Cleanup(func() { w.Close() })
	} else {
		args = append(args, "--no-console")
	}
	srv := startIbemuWith(t, s.dir, nil, stdin, args...)
	if stdin != nil {
		stdin.Close() // the server holds its own copy
	}
	srv.waitOutput(t, "clients attach at", 30*time.Second)
	return s
}

// command runs a console command on the server.
func (s *served) command(t *testing.T, cmd string) {
	t.Helper()
	if _, err := fmt.Fprintln(s.console, cmd); err != nil {
		t.Fatalf("console %q: %v", cmd, err)
	}
}

// startSM runs `ibemu sm` (the daemon, which keeps answering the SA) on
// host with args, waits for the subnet to come up and returns what the SM
// printed by then. A sweep problem fails the test unless problem names
// it.
func (s *served) startSM(t *testing.T, host, problem string, args ...string) string {
	t.Helper()
	p := startIbemu(t, s.dir, nil, append([]string{"sm", "--sockname", s.sock, "--host", host}, args...)...)
	p.waitOutput(t, "SUBNET UP", 30*time.Second)
	time.Sleep(50 * time.Millisecond) // the problem lines follow SUBNET UP
	out := p.out.String()
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "problem:") && (problem == "" || !strings.Contains(line, problem)) {
			t.Errorf("ibemu sm %v: %s", args, line)
		}
	}
	if problem != "" && !strings.Contains(out, problem) {
		t.Errorf("ibemu sm %v: no problem %q reported\n%s", args, problem, out)
	}
	return out
}

// diagFabric is what the real diagnostics read back from a served fabric.
type diagFabric struct {
	net *topology.Topology         // ibnetdiscover
	lft map[*topology.Node][]uint8 // ibroute of every switch, 0xFF unset
	// dest maps every CA LID (each of an LMC range) to its port.
	dest map[wire.LID]*topology.Port
}

var (
	ibrouteRE   = regexp.MustCompile(`(?m)^0x([0-9a-f]+) (\d+) `)
	linkinfoRE  = regexp.MustCompile(`(?m)^.*\[  \] ==\((.*)\)==>.*$`)
	tracertHops = regexp.MustCompile(`(?m)^\[\d+\] -> `)
)

// readFabric runs ibnetdiscover, iblinkinfo and ibroute through host and
// checks what every shape must show after the SM ran: every cabled node
// found, unique LIDs (LMC ranges included), every cabled port Active.
func (s *served) readFabric(t *testing.T, host string) *diagFabric {
	t.Helper()
	f, problems := s.probeFabric(t, host, 0)
	for _, p := range problems {
		t.Error(p)
	}
	if f == nil {
		t.FailNow()
	}
	return f
}

// probeFabric is readFabric returning the problems instead of failing
// the test; down is the number of cabled port ends the test took down.
func (s *served) probeFabric(t *testing.T, host string, down int) (*diagFabric, []string) {
	t.Helper()
	var problems []string
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	out, err := diagErr(t, s.dir, s.sock, host, "ibnetdiscover")
	if err != nil {
		return nil, []string{err.Error()}
	}
	net, err := topology.Parse("ibnetdiscover", strings.NewReader(out))
	if err != nil {
		return nil, []string{fmt.Sprintf("ibnetdiscover output does not parse: %v\n%s", err, out)}
	}
	byDesc := map[string]bool{}
	for _, n := range net.Nodes {
		byDesc[n.Desc] = true
	}
	cabled := 0
	for _, n := range s.topo.Nodes {
		if !connected(n) {
			continue
		}
		if !byDesc[n.Desc] {
			errorf("ibnetdiscover did not find %q", n.Desc)
		}
		for _, p := range n.Ports {
			if p != nil && p.Num > 0 && p.Remote != nil {
				cabled++
			}
		}
	}
	f := &diagFabric{net: net, lft: map[*topology.Node][]uint8{}, dest: map[wire.LID]*topology.Port{}}
	owner := map[wire.LID]string{}
	claim := func(lid wire.LID, lmc uint8, who string) {
		if lid == 0 {
			errorf("%s has no LID", who)
			return
		}
		for l := lid; l < lid+wire.LID(1)<<lmc; l++ {
			if o, dup := owner[l]; dup {
				errorf("%s and %s share LID %d", who, o, l)
			}
			owner[l] = who
		}
	}
	for _, n := range net.Nodes {
		if n.IsSwitch() {
			claim(n.LID, n.LMC, n.Desc)
			continue
		}
		for _, p := range n.Ports {
			if p == nil || p.Num == 0 || p.Remote == nil {
				continue
			}
			claim(p.LID, p.LMC, fmt.Sprintf("%s port %d", n.Desc, p.Num))
			for l := p.LID; l < p.LID+wire.LID(1)<<p.LMC; l++ {
				f.dest[l] = p
			}
		}
	}
	// iblinkinfo prints every port of every switch and CA with its state:
	// all the cabled ones must be Active.
	li, err := diagErr(t, s.dir, s.sock, host, "iblinkinfo")
	if err != nil {
		return nil, append(problems, err.Error())
	}
	active := 0
	for _, m := range linkinfoRE.FindAllStringSubmatch(li, -1) {
		switch {
		case strings.Contains(m[1], "Active/"):
			active++
		case strings.Contains(m[1], "LinkUp"):
			errorf("iblinkinfo: a trained port is not Active: %s", m[0])
		}
	}
	if active != cabled-down {
		errorf("iblinkinfo shows %d Active ports, want the %d cabled ones less %d taken down\n%s", active, cabled, down, li)
	}
	for _, n := range net.Nodes {
		if !n.IsSwitch() {
			continue
		}
		lft := make([]uint8, 1<<16)
		for i := range lft {
			lft[i] = 0xFF
		}
		rt, err := diagErr(t, s.dir, s.sock, host, "ibroute", strconv.Itoa(int(n.LID)))
		if err != nil {
			return nil, append(problems, err.Error())
		}
		for _, m := range ibrouteRE.FindAllStringSubmatch(rt, -1) {
			lid, _ := strconv.ParseUint(m[1], 16, 16)
			port, _ := strconv.Atoi(m[2])
			lft[lid] = uint8(port)
		}
		f.lft[n] = lft
	}
	return f, problems
}

// diagErr is diag returning the tool's failure as an error.
func diagErr(t *testing.T, dir, sock, host string, argv ...string) (string, error) {
	t.Helper()
	env := []string{"LD_PRELOAD=" + umad2sim, "IBSIM_SOCKNAME=" + sock, "SIM_HOST=" + host}
	p := startProc(t, dir, env, argv...)
	if code := p.wait(t, 30*time.Second); code != 0 {
		return p.out.String(), fmt.Errorf("%v exited %d\nstdout:\n%s\nstderr:\n%s", argv, code, p.out.String(), p.err.String())
	}
	return p.out.String(), nil
}

// route follows the LFTs from CA port src to LID dst and returns the
// switch ports it leaves by; ok is false when the route ends short of the
// port owning dst or loops.
func (f *diagFabric) route(src *topology.Port, dst wire.LID) (hops []*topology.Port, ok bool) {
	at := src.Remote
	for at != nil && at.Node.IsSwitch() {
		if len(hops) > 64 {
			return hops, false
		}
		out := f.lft[at.Node][dst]
		if out == 0xFF || int(out) >= len(at.Node.Ports) || at.Node.Ports[out] == nil {
			return hops, false
		}
		p := at.Node.Ports[out]
		hops = append(hops, p)
		at = p.Remote
	}
	return hops, at != nil && at == f.dest[dst]
}

// longest is a CA-to-CA route with the most switch hops.
type longest struct {
	src  *topology.Port
	dst  wire.LID
	hops []*topology.Port
}

// checkRoutes follows every CA port to every LID of every other CA port
// through the LFTs ibroute read: each must arrive. It returns the load
// (CA-to-CA routes) of every switch port facing a switch, and the longest
// route.
func (f *diagFabric) checkRoutes(t *testing.T) (map[*topology.Port]int, longest) {
	t.Helper()
	load, far, problems := f.routes()
	for _, p := range problems {
		t.Error(p)
	}
	return load, far
}

// routes is checkRoutes returning the problems.
func (f *diagFabric) routes() (map[*topology.Port]int, longest, []string) {
	var problems []string
	load := map[*topology.Port]int{}
	var far longest
	bad := 0
	srcs := map[*topology.Port]bool{}
	for _, p := range f.dest {
		srcs[p] = true
	}
	for src := range srcs {
		for dst, owner := range f.dest {
			if owner == src {
				continue
			}
			hops, ok := f.route(src, dst)
			if !ok {
				if bad++; bad <= 5 {
					problems = append(problems, fmt.Sprintf("no route from %s port %d (lid %d) to lid %d (%s port %d): stops after %d hops",
						src.Node.Desc, src.Num, src.LID, dst, owner.Node.Desc, owner.Num, len(hops)))
				}
				continue
			}
			for _, p := range hops {
				if p.Remote.Node.IsSwitch() {
					load[p]++
				}
			}
			if far.src == nil || len(hops) > len(far.hops) {
				far = longest{src, dst, hops}
			}
		}
	}
	if bad > 5 {
		problems = append(problems, fmt.Sprintf("... %d routes missing in all", bad))
	}
	return load, far, problems
}

// checkLongest runs the real ibtracert and saquery PathRecord on the
// longest route: ibtracert must take the hops the LFTs give, and the
// PathRecord must carry the pair's LIDs, the default P_Key and the rate of
// the slowest link on the way.
func (s *served) checkLongest(t *testing.T, host string, far longest) {
	t.Helper()
	if far.src == nil {
		t.Fatal("no CA-to-CA route")
	}
	src, dst := far.src.LID, far.dst
	tr := diag(t, s.dir, s.sock, host, "ibtracert", strconv.Itoa(int(src)), strconv.Itoa(int(dst)))
	// ibtracert prints one "[port] -> " line per link: the CA's own and
	// one per switch.
	if n := len(tracertHops.FindAllString(tr, -1)); n != len(far.hops)+1 {
		t.Errorf("ibtracert %d %d: %d links, the LFTs give %d\n%s", src, dst, n, len(far.hops)+1, tr)
	}
	pr := saqueryFirst(diag(t, s.dir, s.sock, host, "saquery", "--src-to-dst", fmt.Sprintf("%d:%d", src, dst)))
	for field, want := range map[string]string{"slid": strconv.Itoa(int(src)), "dlid": strconv.Itoa(int(dst)), "pkey": "0xFFFF"} {
		if g := saField(pr, field); g != want {
			t.Errorf("saquery PR %d:%d %s %q, want %q\n%s", src, dst, field, g, want, pr)
		}
	}
	slowest := 0.0
	for _, p := range append([]*topology.Port{far.src}, far.hops...) {
		g := float64(p.Width.Lanes()) * p.Speed.SignalGbps()
		if slowest == 0 || g < slowest {
			slowest = g
		}
	}
	rate, err := strconv.ParseUint(saField(pr, "rate"), 0, 8)
	if err != nil || wire.Rate(rate&0x3F).Gbps() != slowest || rate>>6 != 2 {
		t.Errorf("saquery PR %d:%d rate %q, want exactly (selector 2) %g Gb/s\n%s", src, dst, saField(pr, "rate"), slowest, pr)
	}
	if mtu, err := strconv.ParseUint(saField(pr, "mtu"), 0, 8); err != nil || mtu>>6 != 2 || wire.MTU(mtu&0x3F) < wire.MTU256 {
		t.Errorf("saquery PR %d:%d mtu %q\n%s", src, dst, saField(pr, "mtu"), pr)
	}
}

// caHost is the attach point of the first CA with port 1 cabled.
func caHost(t *testing.T, s *served) string { return firstCA(t, s.topo) }

const (
	multiRail = `Switch 8 "SwA"
[1] "Ha"[1]
[2] "Hb"[1]
[3] "SwB"[3]

Switch 8 "SwB"
[1] "Ha"[2]
[2] "Hb"[2]
[3] "SwA"[3]

Hca 2 "Ha"
[1] "SwA"[1]
[2] "SwB"[1]

Hca 2 "Hb"
[1] "SwA"[2]
[2] "SwB"[2]
`
	backToBack = `Hca 1 "Ha"
[1] "Hb"[1]

Hca 1 "Hb"
[1] "Ha"[1]
`
	enhancedPort0 = `Switch 8 "SwE" enhanced port 0
[1] "H1"[1]
[2] "H2"[1]
[3] "Sw2"[1]

Switch 8 "Sw2"
[1] "SwE"[3]
[2] "H3"[1]

Hca 1 "H1"
[1] "SwE"[1]

Hca 1 "H2"
[1] "SwE"[2]

Hca 1 "H3"
[1] "Sw2"[2]
`
	// slowMiddle has a 1x link between the switches: PathRecords across
	// it carry its rate.
	slowMiddle = `Switch 8 "SwA"
[1] "H1"[1]
[3] "SwB"[3] w=1

Switch 8 "SwB"
[1] "H2"[1]
[3] "SwA"[3] w=1

Hca 1 "H1"
[1] "SwA"[1]

Hca 1 "H2"
[1] "SwB"[1]
`
)

// TestSMShapes: `ibemu sm --once` brings up each shape, with each routing
// engine that fits it, and the real diagnostics find every node with its
// own LIDs, every cabled port Active, every CA reaching every LID of every
// other CA through the LFTs, and ibtracert and the SA's PathRecord
// agreeing with the longest route.
func TestSMShapes(t *testing.T) {
	needTools(t, "ibnetdiscover", "iblinkinfo", "ibroute", "ibtracert", "saquery")
	dir := t.TempDir()
	cases := []struct {
		name, file string
		args       []string
		// problem is the sweep problem the SM must report ("": none).
		problem string
		// minHops is the least length (switch hops) of the longest route.
		minHops int
		check   func(t *testing.T, f *diagFabric, load map[*topology.Port]int, smOut string)
	}{
		// 20 switches in a line: discovery by DR paths 20 hops deep, LID
		// routes through 20 switches.
		{name: "line20", file: genShape(t, dir, "line20", "line", "--switches", "20", "--hcas", "1"), minHops: 20},
		{name: "mesh4x4/updn", file: genShape(t, dir, "mesh", "mesh", "--rows", "4", "--cols", "4", "--hcas", "1"),
			args: []string{"--routing", "updn"}, minHops: 7},
		// Min-hop on a ring has a credit loop between CA routes: the SM
		// brings the subnet up and reports it (`--once` exits 1; OpenSM
		// brings it up without a word); every pair is still reached.
		{name: "ring8/minhop", file: genShape(t, dir, "ring8", "ring", "--switches", "8", "--hcas", "1"), problem: "credit loop", minHops: 5},
		{name: "ring8/updn", file: filepath.Join(dir, "ring8"), args: []string{"--routing", "updn"}, minHops: 5},
		// A 3-level fat tree of radix-8 switches: fat-tree routing uses
		// every link and loads none beyond what a leaf's up link must
		// carry (OpenSM's ftree: the same 124 at most on this fabric).
		{name: "fattree3/ftree", file: genShape(t, dir, "ft3", "fattree", "--levels", "3", "--radix", "8"),
			args: []string{"--routing", "ftree"}, minHops: 5,
			check: func(t *testing.T, f *diagFabric, load map[*topology.Port]int, _ string) {
				links, most := 0, 0
				for _, n := range f.net.Nodes {
					for _, p := range n.Ports {
						if n.IsSwitch() && p != nil && p.Num > 0 && p.Remote != nil && p.Remote.Node.IsSwitch() {
							links++
							if load[p] == 0 {
								t.Errorf("%s port %d carries no CA-to-CA route", n.Desc, p.Num)
							}
							most = max(most, load[p])
						}
					}
				}
				// 4 CAs per leaf, 128 CAs, 4 up links per leaf.
				if bound := 4 * (len(f.dest) - 4) / 4; most > bound {
					t.Errorf("a switch-to-switch link carries %d routes, more than %d", most, bound)
				}
				if links != 512 {
					t.Errorf("%d switch-to-switch port ends, want 512", links)
				}
			}},
		{name: "fattree3/updn", file: filepath.Join(dir, "ft3"), args: []string{"--routing", "updn"}, minHops: 5},
		// Two HCAs with two ports each, one rail per switch, LMC 2: four
		// LIDs per port, each routed.
		{name: "multirail/lmc2", file: shapeFile(t, dir, "multirail", multiRail), args: []string{"--lmc", "2"}, minHops: 2,
			check: func(t *testing.T, f *diagFabric, _ map[*topology.Port]int, _ string) {
				if len(f.dest) != 4*4 {
					t.Errorf("%d CA LIDs, want 16 (4 ports, LMC 2)", len(f.dest))
				}
			}},
		{name: "back-to-back", file: shapeFile(t, dir, "b2b", backToBack), minHops: 0},
		// A switch with enhanced port 0 keeps LMC 0 there with LMC 1 on
		// the CAs (OpenSM's lmc_esp0 FALSE).
		{name: "enhanced-port0/lmc1", file: shapeFile(t, dir, "esp0", enhancedPort0), args: []string{"--lmc", "1"}, minHops: 2,
			check: func(t *testing.T, f *diagFabric, _ map[*topology.Port]int, _ string) {
				for _, n := range f.net.Nodes {
					if n.IsSwitch() && n.LMC != 0 {
						t.Errorf("%s: port 0 LMC %d, want 0", n.Desc, n.LMC)
					}
					if n.Desc == "SwE" && !n.EnhancedPort0 {
						t.Errorf("SwE: ibnetdiscover does not see enhanced port 0")
					}
				}
				if len(f.dest) != 3*2 {
					t.Errorf("%d CA LIDs, want 6 (3 ports, LMC 1)", len(f.dest))
				}
			}},
		{name: "slow-middle-link", file: shapeFile(t, dir, "slow", slowMiddle), minHops: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := serveShape(t, c.file, false)
			host := caHost(t, s)
			out := s.startSM(t, host, c.problem, append([]string{"--sweep-interval", "-1s"}, c.args...)...)
			f := s.readFabric(t, host)
			if t.Failed() {
				return
			}
			load, far := f.checkRoutes(t)
			if len(far.hops) < c.minHops {
				t.Errorf("longest route %d switch hops, want at least %d", len(far.hops), c.minHops)
			}
			if !t.Failed() {
				s.checkLongest(t, host, far)
			}
			if c.check != nil {
				c.check(t, f, load, out)
			}
		})
	}
}

// partitionsConf gives the SM's port (SELF) and Hca4 full membership of
// both partitions and makes Hca2 and Hca3 limited members of the default
// one (Hca2 also of "storage").
func partitionsConf(t *testing.T, topo *topology.Topology) string {
	t.Helper()
	guid := map[string]uint64{}
	for _, n := range topo.Nodes {
		if !n.IsSwitch() && n.NumPorts >= 1 && n.Ports[1] != nil {
			guid[n.Desc] = uint64(n.Ports[1].GUID)
		}
	}
	for _, h := range []string{"Hca1", "Hca2", "Hca3", "Hca4"} {
		if guid[h] == 0 {
			t.Fatalf("topology has no port guid for %s", h)
		}
	}
	return fmt.Sprintf("# written by TestSMLikeOpenSM\n"+
		"Default=0x7fff, ipoib : %#x=full, %#x=limited, %#x=limited, %#x=full, ALL_SWITCHES=full ;\n"+
		"storage=0x0002 : %#x, %#x=full, SELF=full ;\n",
		guid["Hca1"], guid["Hca2"], guid["Hca3"], guid["Hca4"], guid["Hca2"], guid["Hca4"])
}

// portFacts is what smpquery reads of every port that both SMs must leave
// the same: the first P_Key block and the PortInfo fields the SM writes
// (not LIDs: each SM numbers the ports its own way).
func (s *served) portFacts(t *testing.T, host string, f *diagFabric) map[string]string {
	t.Helper()
	fields := regexp.MustCompile(`(?m)^(LinkState|PhysLinkState|LinkWidthEnabled|LinkWidthActive|LinkSpeedEnabled|LinkSpeedActive|` +
		`NeighborMTU|OperVLs|VLStallCount|HoqLife|PartEnforceInb|PartEnforceOutb|LMC|MkeyLeasePeriod|SubnetTimeout|` +
		`LocalPhysErr|OverrunErr|GidPrefix):\.*(.*)$`)
	pkeys := regexp.MustCompile(`(?m)^\s*0:\s+(.*)$`)
	facts := map[string]string{}
	query := func(n *topology.Node, lid wire.LID, port int) {
		who := fmt.Sprintf("%s port %d", n.Desc, port)
		pi := diag(t, s.dir, s.sock, host, "smpquery", "portinfo", strconv.Itoa(int(lid)), strconv.Itoa(port))
		for _, m := range fields.FindAllStringSubmatch(pi, -1) {
			facts[who+" "+m[1]] = strings.TrimSpace(m[2])
		}
		if m := pkeys.FindStringSubmatch(diag(t, s.dir, s.sock, host, "smpquery", "pkeys", strconv.Itoa(int(lid)), strconv.Itoa(port))); m != nil {
			facts[who+" pkeys"] = strings.Join(strings.Fields(m[1]), " ")
		} else {
			t.Errorf("smpquery pkeys %d %d: no block 0", lid, port)
		}
	}
	for _, n := range f.net.Nodes {
		if n.IsSwitch() {
			for port := 0; port <= n.NumPorts; port++ {
				query(n, n.LID, port)
			}
			continue
		}
		for _, p := range n.Ports {
			if p != nil && p.Num > 0 && p.Remote != nil {
				query(n, p.LID, p.Num)
			}
		}
	}
	return facts
}

// TestSMLikeOpenSM: our SM and the real OpenSM each bring up the same
// fabric with the same partition file (limited and full members, SELF),
// each on its own `ibemu serve`; smpquery then reads the same P_Key
// tables (entry order, the switch ports facing the CAs), the same
// partition enforcement bits and the same PortInfo link parameters
// (head-of-queue lifetime, VL stall count, enabled and active speeds,
// neighbour MTU, operational VLs) from every port of both. On ours, a
// limited member cannot reach another limited member with a GMP, and a
// full member reaches both.
func TestSMLikeOpenSM(t *testing.T) {
	needTools(t, "opensm", "ibnetdiscover", "iblinkinfo", "ibroute", "smpquery", "perfquery")
	abs, err := filepath.Abs("../../emu/topology/testdata/ibsim/net.2sw2path4hca")
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := serveShape(t, abs, false), serveShape(t, abs, false)
	conf := shapeFile(t, ours.dir, "partitions.conf", partitionsConf(t, ours.topo))

	start := time.Now()
	ours.startSM(t, "Hca1", "", "--sweep-interval", "-1s", "--partitions", conf)
	oursUp := time.Since(start)
	osmDir := theirs.dir
	env := []string{"LD_PRELOAD=" + umad2sim, "IBSIM_SOCKNAME=" + theirs.sock, "SIM_HOST=Hca1", "OSM_CACHE_DIR=" + osmDir}
	start = time.Now()
	osm := startProc(t, osmDir, env, "opensm", "-o", "-P", conf, "-f", filepath.Join(osmDir, "opensm.log"))
	if code := osm.wait(t, 60*time.Second); code != 0 {
		log, _ := os.ReadFile(filepath.Join(osmDir, "opensm.log"))
		t.Fatalf("opensm -o exited %d\n%s\n%s", code, osm.out.String(), log)
	}
	t.Logf("bring-up with the partition file, process start included: ibemu sm %v, opensm -o %v", oursUp.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	fo, ft := ours.readFabric(t, "Hca2"), theirs.readFabric(t, "Hca2")
	fo.checkRoutes(t)
	ft.checkRoutes(t)
	if t.Failed() {
		return
	}
	po, pt := ours.portFacts(t, "Hca2", fo), theirs.portFacts(t, "Hca2", ft)
	if len(po) == 0 || len(po) != len(pt) {
		t.Errorf("smpquery read %d facts on our fabric, %d on OpenSM's", len(po), len(pt))
	}
	for k, v := range pt {
		if po[k] != v {
			t.Errorf("%s: ours %q, OpenSM %q", k, po[k], v)
		}
	}
	// The tables themselves, as IBTA Vol 1 §10.9 asks: full members carry
	// the membership bit, the default partition comes first.
	for who, want := range map[string]string{
		"Hca1 port 1": "0xffff 0x8002", "Hca2 port 1": "0x7fff 0x0002", "Hca3 port 1": "0x7fff 0x0000", "Hca4 port 1": "0xffff 0x8002",
	} {
		if got := po[who+" pkeys"]; !strings.HasPrefix(got, want+" ") {
			t.Errorf("%s P_Keys %q, want %s first", who, got, want)
		}
	}

	// GMPs between partition members on our fabric (PMA ClassPortInfo,
	// IBTA Vol 1 §10.9.3: a limited member accepts only full members).
	lid := map[string]wire.LID{}
	for _, n := range fo.net.Nodes {
		if !n.IsSwitch() {
			lid[n.Desc] = n.Ports[1].LID
		}
	}
	for _, c := range []struct {
		from, to string
		reach    bool
	}{{"Hca2", "Hca3", false}, {"Hca3", "Hca2", false}, {"Hca4", "Hca3", true}, {"Hca2", "Hca4", true}} {
		_, err := diagErr(t, ours.dir, ours.sock, c.from, "perfquery", "-t", "200", strconv.Itoa(int(lid[c.to])), "1")
		if (err == nil) != c.reach {
			t.Errorf("perfquery from %s to %s: err %v, want reachable %v", c.from, c.to, err, c.reach)
		}
	}
}

// TestSMElectionWithOpenSM: `ibemu sm` and the real OpenSM on one fabric,
// both with their default SM_Key, hold the SMInfo election of IBTA Vol 1
// §14.4.1: the higher priority is master and the other standby, whichever
// started first; the subnet stays whole.
func TestSMElectionWithOpenSM(t *testing.T) {
	needTools(t, "opensm", "sminfo", "ibnetdiscover", "iblinkinfo", "ibroute")
	abs, err := filepath.Abs("../../emu/topology/testdata/ibsim/net.2sw2path4hca")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		osmPri     int
		oursMaster bool
	}{{"ours-higher", 3, true}, {"opensm-higher", 10, false}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := serveShape(t, abs, false)
			s.startSM(t, "Hca1", "", "--priority", "7", "--sweep-interval", "200ms", "--poll-interval", "200ms")
			env := []string{"LD_PRELOAD=" + umad2sim, "IBSIM_SOCKNAME=" + s.sock, "SIM_HOST=Hca2", "OSM_CACHE_DIR=" + s.dir}
			startProc(t, s.dir, env, "opensm", "-s", "1", "-p", strconv.Itoa(c.osmPri), "-f", filepath.Join(s.dir, "opensm.log"))
			// Our port is Hca1's, OpenSM's Hca2's; ask each SM port by
			// its directed route from Hca3 (net.2sw2path4hca: Hca3 and
			// Hca1 on Switch1 ports 2 and 1, Hca2 on Switch2 port 1,
			// Switch1 port 3 to Switch2).
			state := func(host string) (string, string) {
				path := map[string]string{"Hca1": "0,1,1", "Hca2": "0,1,3,1"}[host]
				out, err := diagErr(t, s.dir, s.sock, "Hca3", "sminfo", "-D", path)
				if err != nil {
					return "", err.Error()
				}
				m := sminfoRE.FindStringSubmatch(out)
				if m == nil {
					return "", out
				}
				return m[4], out
			}
			want := map[bool]string{true: "3", false: "2"} // SMINFO_MASTER, SMINFO_STANDBY
			deadline := time.Now().Add(20 * time.Second)
			for settled := false; ; {
				so, outO := state("Hca1")
				st, outT := state("Hca2")
				if so == want[c.oursMaster] && st == want[!c.oursMaster] {
					if settled {
						break
					}
					// Again after five light sweeps of ours and one of
					// OpenSM's: the election must hold, not flap.
					settled = true
					time.Sleep(time.Second)
					continue
				}
				settled = false
				if time.Now().After(deadline) {
					log, _ := os.ReadFile(filepath.Join(s.dir, "opensm.log"))
					t.Fatalf("after 20s: ours %q, OpenSM %q; want ours %s, OpenSM %s\nours: %s\nOpenSM: %s\nopensm.log:\n%s",
						so, st, want[c.oursMaster], want[!c.oursMaster], outO, outT, lastLines(string(log), 30))
				}
				time.Sleep(200 * time.Millisecond)
			}
			f := s.readFabric(t, "Hca3")
			f.checkRoutes(t)
		})
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestSMUnlinkRelink: `ibemu sm` as a daemon with light sweeps on a ring
// of 8 switches; a console Unlink cuts the ring, the SM notices and
// re-routes every pair the long way round; ReLink closes it again and the
// SM brings both ports back to Active.
func TestSMUnlinkRelink(t *testing.T) {
	needTools(t, "ibnetdiscover", "iblinkinfo", "ibroute")
	dir := t.TempDir()
	s := serveShape(t, genShape(t, dir, "ring8", "ring", "--switches", "8", "--hcas", "1"), true)
	host := caHost(t, s)
	s.startSM(t, host, "", "--routing", "updn", "--sweep-interval", "200ms")
	f := s.readFabric(t, host)
	f.checkRoutes(t)
	if t.Failed() {
		return
	}
	// The first switch's port 3 goes to the second switch.
	var sw *topology.Node
	for _, n := range s.topo.Nodes {
		if n.IsSwitch() {
			sw = n
			break
		}
	}
	if sw == nil || sw.Ports[3] == nil || sw.Ports[3].Remote == nil || !sw.Ports[3].Remote.Node.IsSwitch() {
		t.Fatal("ring: first switch's port 3 is not cabled to a switch")
	}
	settle := func(what string, down int, usesCut bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			f, problems := s.probeFabric(t, host, down)
			if f != nil {
				load, _, rp := f.routes()
				problems = append(problems, rp...)
				cut := 0
				for p, n := range load {
					if p.Node.Desc == sw.Desc && p.Num == 3 {
						cut = n
					}
				}
				if usesCut != (cut > 0) {
					problems = append(problems, fmt.Sprintf("%d routes leave %s by port 3", cut, sw.Desc))
				}
			}
			if len(problems) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the fabric did not settle in 15s:\n%s", what, strings.Join(problems, "\n"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	cmd := fmt.Sprintf("%q[3]", sw.ID)
	s.command(t, "Unlink "+cmd)
	settle("after Unlink", 2, false)
	s.command(t, "ReLink "+cmd)
	settle("after ReLink", 0, true)
}
