package discover_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/discover"
	"github.com/ibemu/ibemu/stack/mad"
)

// discoverFrom runs Discover over the in-process transport of HCA port p.
func discoverFrom(tb testing.TB, ef *emuFabric, p *topology.Port, o discover.Options) *discover.Result {
	tb.Helper()
	d, num := ef.hcaPort(tb, p)
	tr := mad.NewInProcess(ef.f, d, num)
	defer tr.Close()
	res, err := discover.Discover(context.Background(), tr, o)
	if err != nil {
		tb.Fatalf("Discover from %s: %v", p, err)
	}
	return res
}

func parseNet(t *testing.T, name, text string) *topology.Topology {
	t.Helper()
	topo, err := topology.Parse(name, strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return topo
}

// ibsimExamples returns the net files of Debian's ibsim-utils, or the
// copies in emu/topology's test data.
func ibsimExamples(t *testing.T) []string {
	t.Helper()
	for _, dir := range []string{"/usr/share/doc/ibsim-utils/net-examples", "../../emu/topology/testdata/ibsim"} {
		files, _ := filepath.Glob(filepath.Join(dir, "net*"))
		if len(files) > 0 {
			return files
		}
	}
	t.Skip("no ibsim net examples found")
	return nil
}

func TestDiscoverIBSimExamples(t *testing.T) {
	for _, file := range ibsimExamples(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			topo, err := topology.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			ef := buildFabric(t, topo, true)
			// ibsim attaches the SM to the first port of the file; start
			// from the first linked CA port.
			var start *topology.Port
			for _, n := range topo.Nodes {
				for _, p := range n.Ports {
					if start == nil && p != nil && !n.IsSwitch() && p.Remote != nil {
						start = p
					}
				}
			}
			res := discoverFrom(t, ef, start, discover.Options{})
			if len(res.Problems) != 0 {
				t.Fatalf("problems: %v", res.Problems)
			}
			sameFabric(t, topo, res.Topology)
			if res.Local.Node.NodeGUID != start.Node.NodeGUID || res.Local.Num != start.Num {
				t.Errorf("local port %s, want %s", res.Local, start)
			}
		})
	}
}

func TestDiscoverFatTree2Level(t *testing.T) {
	topo, err := topology.FatTree(2, 8)
	if err != nil {
		t.Fatal(err)
	}
	ef := buildFabric(t, topo, true)
	res := discoverFrom(t, ef, firstCA(t, topo), discover.Options{Window: 16})
	if len(res.Problems) != 0 {
		t.Fatalf("problems: %v", res.Problems)
	}
	sameFabric(t, topo, res.Topology)
	if res.MaxHops != 4 {
		t.Errorf("max hops %d, want 4", res.MaxHops)
	}
	// The walk ran on virtual time: a few hundred SMPs over 4 hops take
	// microseconds, not the wall time this test took.
	if res.Duration <= 0 || res.Duration > 50*time.Millisecond {
		t.Errorf("discovery took %v of virtual time", res.Duration)
	}
}

func TestDiscoverParallelLinksAndLoops(t *testing.T) {
	topo := parseNet(t, "parallel", `
Switch	8 "sw1"
[1]	"h1"[1]
[2]	"sw2"[2]
[3]	"sw2"[3]
[4]	"sw2"[4]
[5]	"sw3"[5]

Switch	8 "sw2"
[2]	"sw1"[2]
[3]	"sw1"[3]
[4]	"sw1"[4]
[6]	"sw3"[6]
[7]	"h2"[1]

Switch	8 "sw3"
[5]	"sw1"[5]
[6]	"sw2"[6]
[8]	"sw3"[7]
[7]	"sw3"[8]

Hca	1 "h1"
[1]	"sw1"[1]

Hca	1 "h2"
[1]	"sw2"[7]
`)
	ef := buildFabric(t, topo, true)
	res := discoverFrom(t, ef, topo.NodeByID("h1").Ports[1], discover.Options{})
	if len(res.Problems) != 0 {
		t.Fatalf("problems: %v", res.Problems)
	}
	sameFabric(t, topo, res.Topology)
	if n := len(res.Topology.Links()); n != len(topo.Links()) {
		t.Errorf("%d links, want %d", n, len(topo.Links()))
	}
}

func TestDiscoverRing(t *testing.T) {
	topo, err := topology.Ring(6, 1)
	if err != nil {
		t.Fatal(err)
	}
	ef := buildFabric(t, topo, false)
	res := discoverFrom(t, ef, firstCA(t, topo), discover.Options{})
	if len(res.Problems) != 0 {
		t.Fatalf("problems: %v", res.Problems)
	}
	sameFabric(t, topo, res.Topology)
	// The far side of a 6-ring is 3 switch hops away, plus the CA hops.
	if res.MaxHops != 5 {
		t.Errorf("max hops %d, want 5", res.MaxHops)
	}
}

func TestDiscoverDualPortHCAOnTwoSwitches(t *testing.T) {
	topo := parseNet(t, "dual", `
Switch	4 "swA"
[1]	"dual"[1]
[2]	"swB"[2]
[3]	"h1"[1]

Switch	4 "swB"
[1]	"dual"[2]
[2]	"swA"[2]
[4]	"h2"[2]

Hca	2 "dual"
[1]	"swA"[1]
[2]	"swB"[1]

Hca	1 "h1"
[1]	"swA"[3]

Hca	2 "h2"
[2]	"swB"[4]
`)
	ef := buildFabric(t, topo, true)
	for _, start := range []*topology.Port{topo.NodeByID("h1").Ports[1], topo.NodeByID("dual").Ports[2], topo.NodeByID("h2").Ports[2]} {
		res := discoverFrom(t, ef, start, discover.Options{})
		if len(res.Problems) != 0 {
			t.Fatalf("from %s: problems: %v", start, res.Problems)
		}
		sameFabric(t, topo, res.Topology)
		dual := res.Topology.NodeByGUID(topo.NodeByID("dual").NodeGUID)
		if dual.Ports[1].Remote == nil || dual.Ports[2].Remote == nil || dual.Ports[1].GUID == dual.Ports[2].GUID {
			t.Errorf("from %s: dual-port HCA ports %v %v", start, dual.Ports[1], dual.Ports[2])
		}
		h2 := res.Topology.NodeByGUID(topo.NodeByID("h2").NodeGUID)
		if want := topo.NodeByID("h2").NodeGUID + 1; h2.Ports[1].GUID != want && start.Node.ID != "h2" {
			t.Errorf("unreached port 1 of h2 has GUID %s, want the conventional %s", h2.Ports[1].GUID, want)
		}
	}
}

func TestDiscoverDownLinkAndDeadNode(t *testing.T) {
	topo := parseNet(t, "line", `
Switch	4 "sw1"
[1]	"h1"[1]
[2]	"sw2"[2]
[3]	"sw3"[3]

Switch	4 "sw2"
[2]	"sw1"[2]
[1]	"h2"[1]

Switch	4 "sw3"
[3]	"sw1"[3]
[1]	"h3"[1]

Hca	1 "h1"
[1]	"sw1"[1]

Hca	1 "h2"
[1]	"sw2"[1]

Hca	1 "h3"
[1]	"sw3"[1]
`)
	ef := buildFabric(t, topo, false)
	// sw2 loses power; sw1's port 3 is disabled.
	if err := ef.f.Do(func() {
		ef.f.KillNode(ef.nodes[topo.NodeByID("sw2")])
		ef.nodes[topo.NodeByID("sw1")].Port(3).SetEnabled(false)
	}); err != nil {
		t.Fatal(err)
	}
	res := discoverFrom(t, ef, topo.NodeByID("h1").Ports[1], discover.Options{})
	if len(res.Problems) != 0 {
		t.Errorf("problems: %v", res.Problems)
	}
	if n := len(res.Topology.Nodes); n != 2 {
		t.Fatalf("%d nodes, want sw1 and h1", n)
	}
	sw1 := res.Topology.NodeByGUID(topo.NodeByID("sw1").NodeGUID)
	if sw1 == nil || sw1.Ports[2].Remote != nil || sw1.Ports[3].Remote != nil || sw1.Ports[1].Remote == nil {
		t.Errorf("sw1 ports: %v %v %v", sw1.Ports[1].Remote, sw1.Ports[2].Remote, sw1.Ports[3].Remote)
	}
}

func TestDiscoverUnansweredNodeIsAProblem(t *testing.T) {
	topo := parseNet(t, "drop", `
Switch	4 "sw1"
[1]	"h1"[1]
[2]	"sw2"[2]

Switch	4 "sw2"
[2]	"sw1"[2]
[1]	"h2"[1]

Hca	1 "h1"
[1]	"sw1"[1]

Hca	1 "h2"
[1]	"sw2"[1]
`)
	ef := buildFabric(t, topo, false)
	// Every frame sw2 sends is lost: its link stays up, it never answers.
	if err := ef.f.Do(func() {
		for _, p := range ef.nodes[topo.NodeByID("sw2")].Ports()[1:] {
			p.SetDropRate(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := discoverFrom(t, ef, topo.NodeByID("h1").Ports[1], discover.Options{Timeout: 200 * time.Millisecond, Retries: 2})
	if len(res.Problems) != 1 {
		t.Fatalf("problems %v, want one", res.Problems)
	}
	var pe *discover.PathError
	if !errors.As(res.Problems[0], &pe) || pe.Attr != wire.AttrNodeInfo || pe.Path.String() != "0,1,2" || !errors.Is(pe, mad.ErrTimeout) {
		t.Errorf("problem %v: want a NodeInfo timeout via 0,1,2", res.Problems[0])
	}
	if n := len(res.Topology.Nodes); n != 2 {
		t.Errorf("%d nodes, want 2", n)
	}
	// Three 200 ms attempts of virtual time; far less of real time.
	if res.Duration < 600*time.Millisecond || res.Duration > 700*time.Millisecond {
		t.Errorf("virtual duration %v, want 3 timeouts of 200ms", res.Duration)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("virtual timeouts took %v of real time", el)
	}
}

func TestDiscoverDeterministic(t *testing.T) {
	run := func() (*discover.Result, string) {
		topo, err := topology.FatTree(2, 6)
		if err != nil {
			t.Fatal(err)
		}
		ef := buildFabric(t, topo, true, emu.WithSeed(7))
		res := discoverFrom(t, ef, firstCA(t, topo), discover.Options{Window: 5})
		var b strings.Builder
		if err := topology.Write(&b, res.Topology); err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, n := range res.Topology.Nodes {
			order = append(order, n.ID)
		}
		return res, b.String() + strings.Join(order, ",")
	}
	r1, s1 := run()
	r2, s2 := run()
	if s1 != s2 || r1.SMPs != r2.SMPs || r1.Duration != r2.Duration {
		t.Errorf("two runs differ: %d/%d SMPs, %v/%v virtual time, same output %v", r1.SMPs, r2.SMPs, r1.Duration, r2.Duration, s1 == s2)
	}
}

// TestDiscoverLargeFatTree walks the 3-level radix-36 fat tree (11,664
// HCAs, 1,620 switches). Set IBEMU_LARGE=1 to run it, and IBEMU_WINDOW to
// try another window.
func TestDiscoverLargeFatTree(t *testing.T) {
	if os.Getenv("IBEMU_LARGE") == "" {
		t.Skip("set IBEMU_LARGE=1 to walk the 13,284-node fat tree")
	}
	topo, err := topology.FatTree(3, 36)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	ef := buildFabric(t, topo, true, emu.WithCRCCheck(false))
	t.Logf("built in %v", time.Since(t0))
	t0 = time.Now()
	win, _ := strconv.Atoi(os.Getenv("IBEMU_WINDOW"))
	res := discoverFrom(t, ef, firstCA(t, topo), discover.Options{Window: win})
	t.Logf("discovered %d nodes with %d SMPs in %v (virtual %v)", len(res.Topology.Nodes), res.SMPs, time.Since(t0), res.Duration)
	if len(res.Problems) != 0 {
		t.Fatalf("%d problems, first %v", len(res.Problems), res.Problems[0])
	}
	sameFabric(t, topo, res.Topology)
}

func BenchmarkDiscoverFatTree(b *testing.B) {
	topo, err := topology.FatTree(3, 8) // 128 HCAs, 80 switches
	if err != nil {
		b.Fatal(err)
	}
	ef := buildFabric(b, topo, true)
	start := firstCA(b, topo)
	b.ResetTimer()
	var smps uint64
	for b.Loop() {
		res := discoverFrom(b, ef, start, discover.Options{})
		if len(res.Problems) != 0 || len(res.Topology.Nodes) != len(topo.Nodes) {
			b.Fatalf("%d nodes, problems %v", len(res.Topology.Nodes), res.Problems)
		}
		smps = res.SMPs
	}
	b.ReportMetric(float64(smps), "SMPs/op")
	b.ReportMetric(float64(len(topo.Nodes))*float64(b.N)/b.Elapsed().Seconds(), "nodes/s")
}
