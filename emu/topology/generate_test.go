package topology_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

func TestFatTreeSizes(t *testing.T) {
	tests := []struct {
		levels, radix int
		hcas, sws     int
	}{
		{2, 36, 648, 54},
		{2, 2, 2, 3},
		{2, 8, 32, 12},
		{3, 4, 16, 20},
		{3, 8, 128, 80},
		{3, 24, 3456, 720},
		{3, 36, 11664, 1620},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d-level radix %d", tt.levels, tt.radix), func(t *testing.T) {
			start := time.Now()
			topo, err := topology.FatTree(tt.levels, tt.radix)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("generation took %v", d)
			}
			if got := topo.Count(wire.NodeTypeCA); got != tt.hcas {
				t.Errorf("HCAs = %d, want %d", got, tt.hcas)
			}
			if got := topo.Count(wire.NodeTypeSwitch); got != tt.sws {
				t.Errorf("switches = %d, want %d", got, tt.sws)
			}
			if err := topo.Validate(); err != nil {
				t.Fatalf("Validate:\n%v", err)
			}
			// Every switch port is cabled: a full fat tree has no spare ports.
			for _, n := range topo.Nodes {
				if !n.IsSwitch() {
					if n.Ports[1].Remote == nil || !n.Ports[1].Remote.Node.IsSwitch() {
						t.Fatalf("%s: port 1 not on a leaf", n)
					}
					continue
				}
				if n.NumPorts != tt.radix {
					t.Fatalf("%s: %d ports", n, n.NumPorts)
				}
				for _, p := range n.Ports[1:] {
					if p.Remote == nil {
						t.Fatalf("%s is not cabled", p)
					}
				}
			}
		})
	}
}

func TestFatTreeWiring(t *testing.T) {
	topo, err := topology.FatTree(3, 4)
	if err != nil {
		t.Fatal(err)
	}
	tier := func(n *topology.Node) string {
		if !n.IsSwitch() {
			return "hca"
		}
		return strings.TrimRight(strings.Fields(n.Desc)[0], "0123456789")
	}
	// Leaves: down ports (1..2) to HCAs, up ports (3..4) to spines of the
	// same pod; spines: 1..2 to leaves, 3..4 to cores; cores: port p to
	// pod p.
	for _, n := range topo.Nodes {
		if !n.IsSwitch() {
			if !strings.HasSuffix(n.Desc, " HCA-1") || n.ID != topology.GUIDID(n.Type, n.NodeGUID) || n.NodeGUID>>40 != 0x0002c9 {
				t.Errorf("HCA %s desc %q GUID %s", n, n.Desc, n.NodeGUID)
			}
			continue
		}
		for _, p := range n.Ports[1:] {
			r := p.Remote
			want := map[string][2]string{
				"leaf":  {"hca", "spine"},
				"spine": {"leaf", "core"},
				"core":  {"spine", "spine"},
			}[tier(n)]
			got := tier(r.Node)
			if (p.Num <= 2 && got != want[0]) || (p.Num > 2 && got != want[1]) {
				t.Errorf("%s (%s) -> %s (%s)", p, n.Desc, r, r.Node.Desc)
			}
			if (tier(n) == "leaf" && got == "spine") || (tier(n) == "spine" && got == "leaf") {
				if pod := strings.Fields(n.Desc)[1]; strings.Fields(r.Node.Desc)[1] != pod {
					t.Errorf("%s (%s) leaves its pod: %s", p, n.Desc, r.Node.Desc)
				}
			}
			if tier(n) == "core" && !strings.HasSuffix(r.Node.Desc, fmt.Sprintf("pod%d", p.Num)) {
				t.Errorf("core port %d -> %s", p.Num, r.Node.Desc)
			}
		}
	}
	leaf3 := topo.NodeByDesc("leaf3 pod2")
	if leaf3 == nil || leaf3.Ports[1].Remote.Node.Desc != "node5 HCA-1" || leaf3.Ports[2].Remote.Node.Desc != "node6 HCA-1" {
		t.Errorf("leaf3 = %+v", leaf3)
	}
	if topo.Nodes[0].Desc != "node1 HCA-1" || topo.Nodes[0].NodeGUID != 0x0002c90300000010 || topo.Nodes[0].Ports[1].GUID != 0x0002c90300000011 {
		t.Errorf("first node %s %q %s", topo.Nodes[0], topo.Nodes[0].Desc, topo.Nodes[0].NodeGUID)
	}
	if sw := topo.NodeByDesc("leaf1 pod1"); sw.NodeGUID != 0x0002c90200000001 || sw.ID != "S-0002c90200000001" ||
		sw.VendorID != topology.MellanoxVendorID || sw.DeviceID != topology.DefaultSwitchDeviceID {
		t.Errorf("leaf1 = %+v", sw)
	}
}

func TestGeneratorOptions(t *testing.T) {
	topo, err := topology.FatTree(2, 4, topology.WithRate(topology.Rate{Width: wire.Width4X, Speed: wire.SpeedEDR}),
		topology.WithHCAPorts(2), topology.WithDeviceIDs(0xcb20, 0x1013), topology.WithLIDs())
	if err != nil {
		t.Fatal(err)
	}
	lid := wire.LID(1)
	for _, n := range topo.Nodes {
		if n.IsSwitch() {
			if n.LID != lid || n.DeviceID != 0xcb20 {
				t.Errorf("%s LID %d dev %#x", n, n.LID, n.DeviceID)
			}
			lid++
			continue
		}
		if n.NumPorts != 2 || n.DeviceID != 0x1013 || n.Ports[2].Remote != nil {
			t.Errorf("%s: %d ports dev %#x", n, n.NumPorts, n.DeviceID)
		}
		for _, p := range n.Ports[1:] {
			if p.LID != lid {
				t.Errorf("%s LID %d, want %d", p, p.LID, lid)
			}
			lid++
		}
		if r := n.Ports[1].ActiveRate(); r.String() != "4xEDR" {
			t.Errorf("%s rate %s", n.Ports[1], r)
		}
	}
	roundTrip(t, topo)

	for _, tt := range []struct {
		name string
		gen  func() (*topology.Topology, error)
		want string
	}{
		{"levels", func() (*topology.Topology, error) { return topology.FatTree(4, 8) }, "topology: fat tree: 4 levels, want 2 or 3"},
		{"odd radix", func() (*topology.Topology, error) { return topology.FatTree(2, 7) }, "topology: fat tree: radix 7, want an even number in 2..254"},
		{"too many LIDs", func() (*topology.Topology, error) { return topology.FatTree(3, 58) },
			"topology: fat tree: 4205 switches and 48778 HCA ports need 52983 LIDs, more than the 49151 unicast LIDs of a subnet"},
		{"HCA ports", func() (*topology.Topology, error) { return topology.FatTree(2, 4, topology.WithHCAPorts(16)) }, "topology: fat tree: 16 HCA ports, want 1..15"},
		{"rate", func() (*topology.Topology, error) {
			return topology.FatTree(2, 4, topology.WithRate(topology.Rate{Width: 3, Speed: wire.SpeedQDR}))
		}, "topology: fat tree: bad link rate ??QDR"},
		{"ring", func() (*topology.Topology, error) { return topology.Ring(2, 1) }, "topology: ring: 2 switches, want at least 3"},
		{"line", func() (*topology.Topology, error) { return topology.Line(3, 253) }, "topology: line: switches would need 255 ports, more than 254"},
		{"mesh", func() (*topology.Topology, error) { return topology.Mesh(0, 3, 1) }, "topology: mesh: 0x3 switches"},
	} {
		if _, err := tt.gen(); err == nil || err.Error() != tt.want {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestSimpleShapes(t *testing.T) {
	tests := []struct {
		name            string
		gen             func() (*topology.Topology, error)
		sws, hcas, link int
	}{
		{"line", func() (*topology.Topology, error) { return topology.Line(4, 2) }, 4, 8, 8 + 3},
		{"line of one", func() (*topology.Topology, error) { return topology.Line(1, 0) }, 1, 0, 0},
		{"ring", func() (*topology.Topology, error) { return topology.Ring(5, 1) }, 5, 5, 5 + 5},
		{"mesh", func() (*topology.Topology, error) { return topology.Mesh(3, 4, 2) }, 12, 24, 24 + 3*3 + 2*4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := tt.gen()
			if err != nil {
				t.Fatal(err)
			}
			if s, h, l := topo.Count(wire.NodeTypeSwitch), topo.Count(wire.NodeTypeCA), len(topo.Links()); s != tt.sws || h != tt.hcas || l != tt.link {
				t.Errorf("%d switches, %d HCAs, %d links; want %d, %d, %d", s, h, l, tt.sws, tt.hcas, tt.link)
			}
			roundTrip(t, topo)
		})
	}
	ring, _ := topology.Ring(3, 0)
	if first, last := ring.NodeByDesc("switch1"), ring.NodeByDesc("switch3"); first.Ports[1].Remote != last.Ports[2] {
		t.Errorf("ring not closed: %v", first.Ports[1].Remote)
	}
	mesh, _ := topology.Mesh(2, 2, 1)
	r1c1, r2c2 := mesh.NodeByDesc("switch r1c1"), mesh.NodeByDesc("switch r2c2")
	if r1c1.Ports[3].Remote.Node.Desc != "switch r1c2" || r1c1.Ports[4].Remote.Node != r2c2.Ports[5].Remote.Node {
		t.Errorf("mesh wiring: r1c1 east %v south %v", r1c1.Ports[3].Remote, r1c1.Ports[4].Remote)
	}
}

func TestFatTreeRoundTrip(t *testing.T) {
	cases := [][2]int{{2, 36}, {3, 8}}
	if !testing.Short() {
		cases = append(cases, [2]int{3, 36})
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d-level radix %d", c[0], c[1]), func(t *testing.T) {
			topo, err := topology.FatTree(c[0], c[1], topology.WithLIDs())
			if err != nil {
				t.Fatal(err)
			}
			back := roundTrip(t, topo)
			if h := back.NodeByDesc("node1 HCA-1"); h.Ports[1].LID != topo.NodeByDesc("node1 HCA-1").Ports[1].LID || h.Ports[1].LID == 0 {
				t.Error("LIDs lost")
			}
		})
	}
}

// BenchmarkFatTree3Radix36 generates the 11,664-HCA fat tree, writes it in
// ibnetdiscover format and parses it back.
func BenchmarkFatTree3Radix36(b *testing.B) {
	var buf bytes.Buffer
	for b.Loop() {
		topo, err := topology.FatTree(3, 36)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		if err := topology.Write(&buf, topo); err != nil {
			b.Fatal(err)
		}
		if _, err := topology.Parse("fattree", bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(buf.Len()))
}
