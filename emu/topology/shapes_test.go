package topology_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// degrees counts, per switch, the links to other switches.
func switchDegrees(topo *topology.Topology) map[string]int {
	d := map[string]int{}
	for _, l := range topo.Links() {
		if l.A.Node.IsSwitch() && l.B.Node.IsSwitch() {
			d[l.A.Node.Desc]++
			d[l.B.Node.Desc]++
		}
	}
	return d
}

func TestTorusAndGrid(t *testing.T) {
	tests := []struct {
		name              string
		gen               func() (*topology.Topology, error)
		switches, cas     int
		swLinks           int
		minDeg, maxDeg    int
		ports             int // switch port count
		probe             string
		probePort         int
		probeRemote       string
		probeRemotePort   int
		probeRemoteIsNone bool
	}{
		// 4x4 torus: every switch has 4 neighbours; 2·16 links.
		{name: "torus 4x4", gen: func() (*topology.Topology, error) { return topology.Torus([]int{4, 4}, 1) },
			switches: 16, cas: 16, swLinks: 32, minDeg: 4, maxDeg: 4, ports: 5,
			probe: "switch 1,1", probePort: 2, probeRemote: "switch 4,1", probeRemotePort: 3},
		// 3x3x2 grid: corners have 3 neighbours, no wrap.
		{name: "grid 3x3x2", gen: func() (*topology.Topology, error) { return topology.Grid([]int{3, 3, 2}, 2) },
			switches: 18, cas: 36, swLinks: 2*3*2 + 3*2*2 + 3*3, minDeg: 3, maxDeg: 5, ports: 8,
			probe: "switch 1,1,1", probePort: 3, probeRemoteIsNone: true},
		// A dimension of 2 in a torus gives two parallel links.
		{name: "torus 2x3", gen: func() (*topology.Topology, error) { return topology.Torus([]int{2, 3}, 0) },
			switches: 6, cas: 0, swLinks: 6 + 6, minDeg: 4, maxDeg: 4, ports: 4,
			probe: "switch 1,2", probePort: 1, probeRemote: "switch 2,2", probeRemotePort: 2},
		// A dimension of 1 adds no links.
		{name: "torus 1x5", gen: func() (*topology.Topology, error) { return topology.Torus([]int{1, 5}, 1) },
			switches: 5, cas: 5, swLinks: 5, minDeg: 2, maxDeg: 2, ports: 5,
			probe: "switch 1,1", probePort: 2, probeRemoteIsNone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := tc.gen()
			if err != nil {
				t.Fatal(err)
			}
			if err := topo.Validate(); err != nil {
				t.Fatal(err)
			}
			if s, c := topo.Count(wire.NodeTypeSwitch), topo.Count(wire.NodeTypeCA); s != tc.switches || c != tc.cas {
				t.Fatalf("%d switches, %d CAs; want %d and %d", s, c, tc.switches, tc.cas)
			}
			deg := switchDegrees(topo)
			links := 0
			for desc, d := range deg {
				links += d
				if d < tc.minDeg || d > tc.maxDeg {
					t.Errorf("%s has %d switch links, want %d..%d", desc, d, tc.minDeg, tc.maxDeg)
				}
			}
			if links/2 != tc.swLinks {
				t.Errorf("%d switch-to-switch links, want %d", links/2, tc.swLinks)
			}
			sw := topo.NodeByDesc(tc.probe)
			if sw == nil || sw.NumPorts != tc.ports {
				t.Fatalf("%s: %v, want a switch of %d ports", tc.probe, sw, tc.ports)
			}
			r := sw.Ports[tc.probePort].Remote
			switch {
			case tc.probeRemoteIsNone:
				if r != nil {
					t.Errorf("%s port %d links to %s, want unconnected", tc.probe, tc.probePort, r)
				}
			case r == nil || r.Node.Desc != tc.probeRemote || r.Num != tc.probeRemotePort:
				t.Errorf("%s port %d links to %v, want %s port %d", tc.probe, tc.probePort, r, tc.probeRemote, tc.probeRemotePort)
			}
			// Written and loaded back, the graph is the same.
			var buf bytes.Buffer
			if err := topology.Write(&buf, topo); err != nil {
				t.Fatal(err)
			}
			back, err := topology.Parse("written", &buf)
			if err != nil {
				t.Fatal(err)
			}
			if err := topology.Compare(topo, back); err != nil {
				t.Error(err)
			}
		})
	}
	for _, bad := range [][]int{nil, {0, 3}, {3, -1}, {1 << 20, 1 << 20}} {
		if _, err := topology.Torus(bad, 1); err == nil {
			t.Errorf("Torus(%v) accepted", bad)
		}
	}
	if _, err := topology.Grid([]int{2, 2}, -1); err == nil {
		t.Error("Grid with -1 HCAs accepted")
	}
}

// TestGridMatchesMesh: a two-dimensional Grid is Mesh's graph.
func TestGridMatchesMesh(t *testing.T) {
	g, err := topology.Grid([]int{3, 4}, 2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := topology.Mesh(3, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Same GUIDs in the same order; descriptions and port numbers differ,
	// so compare how many links join each pair of nodes.
	count := func(topo *topology.Topology) map[[2]wire.GUID]int {
		c := map[[2]wire.GUID]int{}
		for _, l := range topo.Links() {
			a, b := l.A.Node.NodeGUID, l.B.Node.NodeGUID
			if a > b {
				a, b = b, a
			}
			c[[2]wire.GUID{a, b}]++
		}
		return c
	}
	cg, cm := count(g), count(m)
	if len(cg) != len(cm) {
		t.Fatalf("%d node pairs linked in the grid, %d in the mesh", len(cg), len(cm))
	}
	for k, v := range cg {
		if cm[k] != v {
			t.Errorf("%v-%v: %d links in the grid, %d in the mesh", k[0], k[1], v, cm[k])
		}
	}
}

// reachNet has two rails, two CAs back to back on a second cable, an
// island switch pair with no CA, and an unconnected CA.
const reachNet = `Switch 4 "railA"
[1] "h1"[1]
[2] "h2"[1]

Switch 4 "railB"
[1] "h1"[2]
[2] "h2"[2]

Switch 4 "islandA"
[1] "islandB"[1]

Switch 4 "islandB"
[1] "islandA"[1]

Hca 3 "h1"
[1] "railA"[1]
[2] "railB"[1]
[3] "h3"[2]

Hca 2 "h2"
[1] "railA"[2]
[2] "railB"[2]

Hca 2 "h3"
[2] "h1"[3]

Hca 1 "orphan"
`

func TestReachable(t *testing.T) {
	topo := mustParse(t, reachNet)
	port := func(id string, n int) *topology.Port { return topo.NodeByID(id).Ports[n] }
	tests := []struct {
		from  *topology.Port
		nodes []string
		links int
	}{
		// Rail A: h1 and h2 keep both ports, only the rail A links.
		{port("h1", 1), []string{"railA", "h1", "h2"}, 2},
		{port("h2", 2), []string{"railB", "h1", "h2"}, 2},
		{port("railA", 0), []string{"railA", "h1", "h2"}, 2},
		// Back to back: the two CAs and their one link.
		{port("h3", 2), []string{"h1", "h3"}, 1},
		{port("h1", 3), []string{"h1", "h3"}, 1},
		{port("islandB", 0), []string{"islandA", "islandB"}, 1},
		{port("orphan", 1), []string{"orphan"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.from.String(), func(t *testing.T) {
			r := topo.Reachable(tc.from)
			var ids []string
			for _, n := range r.Nodes {
				ids = append(ids, n.ID)
				if orig := topo.NodeByID(n.ID); n == orig || n.NumPorts != orig.NumPorts || len(n.Ports) != len(orig.Ports) {
					t.Errorf("%s: not a full copy of the original node", n.ID)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.nodes) {
				t.Errorf("nodes %v, want %v", ids, tc.nodes)
			}
			if got := len(r.Links()); got != tc.links {
				t.Errorf("%d links, want %d", got, tc.links)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("result does not validate: %v", err)
			}
		})
	}
	// The original is untouched.
	if len(topo.Links()) != 6 || topo.NodeByID("h1").Ports[2].Remote == nil {
		t.Errorf("Reachable changed its input: %d links", len(topo.Links()))
	}
}
