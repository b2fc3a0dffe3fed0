//go:build linux

package attach

import (
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
)

// TestInteropRoutingEngines: real OpenSM brings the fabric up through the
// attach server with each of its routing engines, and its log says that
// engine (not the Min Hop fallback) configured the switches, with no
// error logged (LASH and DFSSSP read the ports' VL capabilities and set
// SL-to-VL mapping tables, Fat-Tree ranks the switches, DOR and Nue need
// a mesh or torus to work on; Up/Down finds no root in a torus, on ibsim
// as here). Every cabled port is Active, and the forwarding tables the
// engine programmed carry every HCA to every other HCA.
func TestInteropRoutingEngines(t *testing.T) {
	needInterop(t)
	fattree, err := topology.FatTree(2, 8)
	if err != nil {
		t.Fatal(err)
	}
	torus, err := topology.Torus([]int{3, 3, 2}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		topo    *topology.Topology
		engines []string
	}{
		{"fattree2-radix8", fattree, []string{"minhop", "updn", "dnup", "ftree", "lash", "dor", "nue", "dfsssp", "sssp"}},
		{"torus3x3x2", torus, []string{"lash", "dor", "nue", "dfsssp"}},
	} {
		var hcas []string
		for _, n := range tc.topo.Nodes {
			if !n.IsSwitch() {
				hcas = append(hcas, n.ID)
			}
		}
		for _, eng := range tc.engines {
			t.Run(tc.name+"/"+eng, func(t *testing.T) {
				h := newInterop(t, tc.topo)
				log := h.opensmOnce(40*time.Second, nil, "-R", eng)
				if want := eng + " tables configured on all switches"; !strings.Contains(log, want) {
					t.Fatalf("opensm -R %s: log does not say %q:\n%s", eng, want, tail(log, 30))
				}
				var errs []string
				for _, l := range strings.Split(log, "\n") {
					if strings.Contains(l, " ERR ") {
						errs = append(errs, l)
					}
				}
				if len(errs) > 0 {
					t.Errorf("opensm -R %s logged errors:\n%s", eng, strings.Join(errs, "\n"))
				}
				ps := h.checkAllActive()
				if len(ps) != 2*len(tc.topo.Links()) {
					t.Errorf("%d linked ports, want %d", len(ps), 2*len(tc.topo.Links()))
				}
				bad := 0
				for _, a := range hcas {
					for _, b := range hcas {
						if a == b {
							continue
						}
						hops := h.lftPath(a, b)
						if len(hops) == 0 || !strings.HasPrefix(hops[len(hops)-1], b+"<") {
							if bad++; bad <= 5 {
								t.Errorf("%s -> %s: the forwarding tables lead %v", a, b, hops)
							}
						}
					}
				}
				if bad > 5 {
					t.Errorf("%d HCA pairs unreachable in all", bad)
				}
			})
		}
	}
}
