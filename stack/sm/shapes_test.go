package sm_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// shapeFile is a robustness shape in cmd/ibemu/testdata.
func shapeFile(name string) ibtest.Source {
	return ibtest.FromFile(filepath.Join("..", "..", "cmd", "ibemu", "testdata", name))
}

// shapes are the fabrics the SM is checked on beyond two-level fat trees.
// loopy names the engines whose routes have a credit loop on the shape
// (min-hop on anything with cycles that are not up/down), and
// switchLIDsOnly marks a min-hop loop that only the routes towards switch
// LIDs close.
var shapes = []struct {
	name           string
	src            ibtest.Source
	minhopLoop     bool
	switchLIDsOnly bool
}{
	{"fattree3-radix8", ibtest.FatTree(3, 8), true, true},
	{"ring6", ibtest.Ring(6, 1), true, false},
	{"torus4x4", ibtest.FromTopology(must(topology.Torus([]int{4, 4}, 1))), true, false},
	{"mesh3x3x2", ibtest.FromTopology(must(topology.Grid([]int{3, 3, 2}, 1))), true, false},
	{"dualrail", shapeFile("dualrail.net"), false, false},
	{"switch36", shapeFile("switch36.net"), false, false},
	{"backtoback", shapeFile("backtoback.net"), false, false},
	{"unconnected", shapeFile("unconnected.net"), false, false},
	{"highports", shapeFile("highports.net"), false, false},
	{"irregular", shapeFile("irregular.net"), false, false},
}

func must(t *topology.Topology, err error) *topology.Topology {
	if err != nil {
		panic(err)
	}
	return t
}

// subnetStarts picks one CA port in each subnet of topo that has one (the
// first cabled CA port in node order not yet covered) and returns them
// with the set of cabled ports each subnet covers.
func subnetStarts(topo *topology.Topology) (starts []*topology.Port, covered map[*topology.Port]bool) {
	covered = map[*topology.Port]bool{}
	for _, n := range topo.Nodes {
		if n.IsSwitch() {
			continue
		}
		for _, p := range n.Ports[1:] {
			if p.Remote == nil || covered[p] {
				continue
			}
			starts = append(starts, p)
			for _, rn := range topo.Reachable(p).Nodes {
				tn := topo.NodeByID(rn.ID)
				for i, rp := range rn.Ports {
					if rp != nil && rp.Remote != nil {
						covered[tn.Ports[i]] = true
					}
				}
			}
		}
	}
	return starts, covered
}

// TestShapesComeUp: on every shape and with every routing engine, one SM
// per subnet (each rail of a dual-rail fabric, each cable between two CAs
// wired back to back is a subnet of its own) brings every cabled port to
// Active, a LID-routed SMP from the SM's port reaches every LID of its
// subnet through the LFTs, and a credit loop is reported exactly where the
// routes have one (min-hop on shapes with non-up/down cycles), and only
// as a problem of min-hop.
func TestShapesComeUp(t *testing.T) {
	for _, sh := range shapes {
		for _, r := range []sm.Routing{sm.RoutingMinHop, sm.RoutingUpDown, sm.RoutingFatTree} {
			t.Run(sh.name+"/"+string(r), func(t *testing.T) {
				f := ibtest.New(t, sh.src)
				starts, covered := subnetStarts(f.Topology)
				if len(starts) == 0 {
					t.Fatal("no subnet with a CA port")
				}
				for _, start := range starts {
					tr, err := f.MADTransport(start.Node.ID, start.Num)
					if err != nil {
						t.Fatal(err)
					}
					m, err := sm.New(tr, sm.Config{Routing: r, CheckCreditLoops: 1})
					if err != nil {
						t.Fatal(err)
					}
					sn := sweep(t, m)
					wantNodes := len(f.Topology.Reachable(start).Nodes)
					if len(sn.Nodes) != wantNodes {
						t.Errorf("SM on %s found %d nodes, want %d", start, len(sn.Nodes), wantNodes)
					}
					loop := sm.CheckCreditLoops(sn)
					var cl *sm.CreditLoopError
					switch {
					case r == sm.RoutingMinHop && sh.minhopLoop:
						if !errors.As(loop, &cl) || !errors.Is(loop, sm.ErrCreditLoop) {
							t.Errorf("min-hop: credit loop check = %v, want a *CreditLoopError", loop)
						} else if cl.SwitchLIDsOnly != sh.switchLIDsOnly {
							t.Errorf("min-hop: SwitchLIDsOnly = %v, want %v (%v)", cl.SwitchLIDsOnly, sh.switchLIDsOnly, loop)
						}
						if len(sn.Problems) != 1 || !errors.Is(sn.Problems[0], sm.ErrCreditLoop) {
							t.Errorf("min-hop: problems %v, want the credit loop alone", sn.Problems)
						}
					default:
						if loop != nil {
							t.Errorf("credit loop check: %v", loop)
						}
						if len(sn.Problems) != 0 {
							t.Errorf("problems: %v", sn.Problems)
						}
					}
					reachAll(t, tr, sn)
					m.Close()
				}
				for _, n := range f.Topology.Nodes {
					for _, p := range n.Ports {
						if p == nil || p.Num == 0 || p.Remote == nil {
							continue
						}
						if !covered[p] {
							t.Errorf("%s: cabled port in no subnet with a CA", p)
							continue
						}
						ep, err := f.Port(n.ID, p.Num)
						if err != nil {
							t.Fatal(err)
						}
						if st := ep.State(); st != wire.PortStateActive {
							t.Errorf("%s is %s, want Active", p, st)
						}
					}
				}
			})
		}
	}
}

// reachAll sends a LID-routed NodeInfo from the SM's port to every LID of
// the subnet and checks the right node answers.
func reachAll(t *testing.T, tr mad.Transport, sn *sm.Subnet) {
	t.Helper()
	a, err := mad.NewAgent(tr, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var reqs []mad.Request
	var want []*sm.Port
	for _, p := range sn.EndPorts() {
		r, err := a.SMPRequest(mad.LIDRoute(p.LID), wire.MethodGet, wire.AttrNodeInfo, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		reqs, want = append(reqs, r), append(want, p)
	}
	for i, r := range a.CallMany(context.Background(), reqs) {
		if r.Err != nil {
			t.Errorf("lid-routed NodeInfo to %s (lid %d): %v", want[i], want[i].LID, r.Err)
			continue
		}
		d, _ := mad.SMPData(r.MAD)
		ni, _ := wire.ParseNodeInfo(d)
		if ni.NodeGUID() != want[i].Node.GUID() {
			t.Errorf("lid-routed NodeInfo to %s answered by %s", want[i], ni.NodeGUID())
		}
	}
}

// cyclic builds the channel dependency graph of the LFTs of sn for the
// destination LIDs keep accepts, independently of sm.CheckCreditLoops,
// and reports whether it has a cycle (Kahn's algorithm: peel channels
// nothing depends on; a cycle is what cannot be peeled).
func cyclic(sn *sm.Subnet, keep func(*sm.Port) bool) bool {
	type channel struct {
		n    *sm.Node
		port int
	}
	out := map[channel]map[channel]bool{}
	indeg := map[channel]int{}
	for _, s := range sn.Switches {
		for lid, p := range s.LFT {
			if lid == 0 || lid >= len(sn.ByLID) || sn.ByLID[lid] == nil || !keep(sn.ByLID[lid]) {
				continue
			}
			if int(p) >= len(s.Ports) || p == 0 || s.Ports[p] == nil || s.Ports[p].Remote == nil {
				continue
			}
			rp := s.Ports[p].Remote
			tn := rp.Node
			if !tn.IsSwitch() || tn == s || lid >= len(tn.LFT) {
				continue
			}
			q := tn.LFT[lid]
			if int(q) >= len(tn.Ports) || q == 0 || tn.Ports[q] == nil || tn.Ports[q].Remote == nil || !tn.Ports[q].Remote.Node.IsSwitch() {
				continue
			}
			a, b := channel{s, int(p)}, channel{tn, int(q)}
			if out[a] == nil {
				out[a] = map[channel]bool{}
			}
			if !out[a][b] {
				out[a][b] = true
				indeg[b]++
				if _, ok := indeg[a]; !ok {
					indeg[a] = 0
				}
			}
		}
	}
	var free []channel
	for c, d := range indeg {
		if d == 0 {
			free = append(free, c)
		}
	}
	peeled := 0
	for len(free) > 0 {
		c := free[len(free)-1]
		free = free[:len(free)-1]
		peeled++
		for b := range out[c] {
			indeg[b]--
			if indeg[b] == 0 {
				free = append(free, b)
			}
		}
	}
	return peeled < len(indeg)
}

// TestMinHopCreditLoopClaims checks what CheckCreditLoops claims against
// an independent build of the channel dependency graph: min-hop on a
// three-level fat tree has a genuine credit loop, closed only by the
// routes towards switch LIDs (a spine reaches a sibling spine of its pod
// down through a leaf and back up, a down-up turn), while the routes
// between CA ports are up/down and loop-free; on a ring the CA routes
// loop by themselves; up/down has no loop on either.
func TestMinHopCreditLoopClaims(t *testing.T) {
	all := func(*sm.Port) bool { return true }
	caOnly := func(p *sm.Port) bool { return !p.Node.IsSwitch() }
	for _, tc := range []struct {
		name   string
		src    ibtest.Source
		r      sm.Routing
		anyLID bool // a cycle with every LID's routes
		caLIDs bool // a cycle with the CA LIDs' routes alone
	}{
		{"fattree3/minhop", ibtest.FatTree(3, 8), sm.RoutingMinHop, true, false},
		{"fattree3/updn", ibtest.FatTree(3, 8), sm.RoutingUpDown, false, false},
		{"fattree3/ftree", ibtest.FatTree(3, 8), sm.RoutingFatTree, false, false},
		{"ring6/minhop", ibtest.Ring(6, 1), sm.RoutingMinHop, true, true},
		{"ring6/updn", ibtest.Ring(6, 1), sm.RoutingUpDown, false, false},
		{"torus3x3x3/minhop", ibtest.FromTopology(must(topology.Torus([]int{3, 3, 3}, 1))), sm.RoutingMinHop, true, true},
		{"torus3x3x3/updn", ibtest.FromTopology(must(topology.Torus([]int{3, 3, 3}, 1))), sm.RoutingUpDown, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ibtest.New(t, tc.src)
			m := newSM(t, f, f.FirstHCA().Topo.ID, sm.Config{Routing: tc.r, CheckCreditLoops: 1})
			sn := sweep(t, m)
			if got := cyclic(sn, all); got != tc.anyLID {
				t.Errorf("independent check, every LID: cycle %v, want %v", got, tc.anyLID)
			}
			if got := cyclic(sn, caOnly); got != tc.caLIDs {
				t.Errorf("independent check, CA LIDs: cycle %v, want %v", got, tc.caLIDs)
			}
			err := sm.CheckCreditLoops(sn)
			var cl *sm.CreditLoopError
			switch {
			case !tc.anyLID:
				if err != nil {
					t.Errorf("CheckCreditLoops = %v, want nil", err)
				}
			case !errors.As(err, &cl):
				t.Errorf("CheckCreditLoops = %v, want a *CreditLoopError", err)
			default:
				if cl.SwitchLIDsOnly != !tc.caLIDs {
					t.Errorf("SwitchLIDsOnly = %v, want %v: %v", cl.SwitchLIDsOnly, !tc.caLIDs, err)
				}
				if cl.Links < 2 || cl.Switch == nil || !cl.Switch.IsSwitch() {
					t.Errorf("implausible cycle: %+v", cl)
				}
			}
		})
	}
}
