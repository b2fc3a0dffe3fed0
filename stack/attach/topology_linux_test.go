//go:build linux

package attach

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
)

// TestTopologyShapes: real OpenSM (opensm -o) brings up, through the
// attach server, fabrics of shapes beyond the ibsim examples and two-level
// fat trees: a three-level fat tree, a 3D torus, a dual-rail fabric (each
// rail a subnet of its own, with an OpenSM per rail: one on an HCA, one on
// the rail B switch, as libumad2sim attaches a CA at its port 1 only) and
// a 254-port switch cabled at high port numbers, a 36-port switch with
// every port cabled, a fabric with an unconnected switch and uncabled CA
// ports, and two CAs cabled back to back with no switch. Each subnet reaches
// SUBNET UP, every cabled port is Active in the fabric and as smpquery
// portinfo reads it, and ibnetdiscover run in each subnet prints the
// graph a walk from its attach port finds in the input
// (topology.Reachable), loaded back and compared.
func TestTopologyShapes(t *testing.T) {
	needInterop(t)
	testdata := func(name string) func() (*topology.Topology, error) {
		return func() (*topology.Topology, error) {
			return topology.Load(filepath.Join("..", "..", "cmd", "ibemu", "testdata", name))
		}
	}
	type subnet struct {
		host string // SIM_HOST for OpenSM and the diags ("" = default attach port)
		from string // node id whose attach port the walk starts from ("" = the first node, the default attach port)
	}
	tests := []struct {
		name    string
		gen     func() (*topology.Topology, error)
		subnets []subnet
		// probe lists extra (node id, port) pairs smpquery checks by
		// number; every test also checks the first and last linked
		// port of each subnet.
		probe [][2]string
	}{
		{name: "fattree3-radix8", gen: func() (*topology.Topology, error) { return topology.FatTree(3, 8) },
			subnets: []subnet{{"", ""}}},
		{name: "torus3x3x3", gen: func() (*topology.Topology, error) { return topology.Torus([]int{3, 3, 3}, 1) },
			subnets: []subnet{{"", ""}}},
		{name: "dualrail", gen: testdata("dualrail.net"),
			subnets: []subnet{{"hca1", "hca1"}, {"railB", "railB"}}},
		{name: "highports", gen: testdata("highports.net"),
			subnets: []subnet{{"h1", "h1"}},
			probe:   [][2]string{{"wide", "200"}, {"wide", "254"}, {"sw2", "250"}, {"sw2", "128"}}},
		{name: "switch36", gen: testdata("switch36.net"),
			subnets: []subnet{{"", ""}}, probe: [][2]string{{"big", "36"}}},
		// An unconnected switch and CA ports left uncabled: the walk
		// from h1 sees neither the lonely switch nor the orphan CA.
		{name: "unconnected", gen: testdata("unconnected.net"),
			subnets: []subnet{{"h1", "h1"}}},
		{name: "backtoback", gen: func() (*topology.Topology, error) {
			return topology.Parse("b2b", strings.NewReader("Hca 1 \"left\"\n[1] \"right\"[1]\n\nHca 1 \"right\"\n[1] \"left\"[1]\n"))
		}, subnets: []subnet{{"right", "right"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := tc.gen()
			if err != nil {
				t.Fatal(err)
			}
			h := newInterop(t, in)
			start := time.Now()
			for _, sn := range tc.subnets {
				h.opensmOnce(40*time.Second, []string{"SIM_HOST=" + sn.host})
			}
			t.Logf("%s: %d subnets up in %v", tc.name, len(tc.subnets), time.Since(start))
			ps := h.checkAllActive()
			if len(ps) != 2*len(in.Links()) {
				t.Errorf("%d linked ports, want %d", len(ps), 2*len(in.Links()))
			}

			for _, sn := range tc.subnets {
				n := in.Nodes[0]
				if sn.from != "" {
					n = in.NodeByID(sn.from)
				}
				if n == nil {
					t.Fatalf("no node %q", sn.from)
				}
				attach := n.Ports[0]
				if !n.IsSwitch() {
					attach = n.Ports[1]
				}
				want := in.Reachable(attach)
				env := []string{"SIM_HOST=" + sn.host}

				// smpquery portinfo, from inside the subnet, on the
				// first and last linked port of it and the probes.
				inSubnet := map[string]bool{}
				for _, m := range want.Nodes {
					inSubnet[m.ID] = true
				}
				var check []portState
				for _, p := range ps {
					if inSubnet[p.node] && want.NodeByID(p.node).Ports[p.num].Remote != nil {
						check = append(check, p)
					}
				}
				if len(check) == 0 {
					t.Fatalf("subnet of %s: no linked ports", sn.from)
				}
				sample := []portState{check[0], check[len(check)-1]}
				for _, pr := range tc.probe {
					for _, p := range check {
						if p.node == pr[0] && strconv.Itoa(p.num) == pr[1] {
							sample = append(sample, p)
						}
					}
				}
				if len(sample) != 2+len(tc.probe) {
					t.Errorf("subnet of %s: %d of the probes %v are linked ports of it", sn.from, len(sample)-2, tc.probe)
				}
				for _, p := range sample {
					out := h.mustRun(10*time.Second, env, "smpquery", "portinfo", strconv.Itoa(int(p.lid)), strconv.Itoa(p.num))
					if got := fields(out)["LinkState"]; got != "Active" {
						t.Errorf("smpquery portinfo %d %d (%s): LinkState %q, want Active\n%s", p.lid, p.num, p.node, got, out)
					}
				}

				out := h.mustRun(30*time.Second, env, "ibnetdiscover")
				got, err := topology.Parse("ibnetdiscover", strings.NewReader(out))
				if err != nil {
					t.Fatalf("SIM_HOST=%q: ibnetdiscover output does not load: %v\n%s", sn.host, err, out)
				}
				if err := topology.Compare(want, got); err != nil {
					t.Errorf("SIM_HOST=%q: ibnetdiscover graph differs from the subnet in the input: %v", sn.host, err)
				}
			}
		})
	}
}
