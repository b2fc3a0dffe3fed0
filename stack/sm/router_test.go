package sm_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/sm"
)

// TestRouterComesUp: on a net with a router (cmd/ibemu/testdata/router.net)
// the SM discovers the router as a router (NodeInfo NodeType 3, IBTA Vol 1
// §14.2.5.3), gives each of its ports a LID of its own like a CA port,
// brings them Active, routes to them (a LID-routed SMP reaches each), and
// finds the switch whose port 0 is enhanced.
func TestRouterComesUp(t *testing.T) {
	for _, r := range []sm.Routing{sm.RoutingMinHop, sm.RoutingUpDown} {
		t.Run(string(r), func(t *testing.T) {
			f := ibtest.New(t, shapeFile("router.net"))
			tr, err := f.MADTransport("h1", 1)
			if err != nil {
				t.Fatal(err)
			}
			m, err := sm.New(tr, sm.Config{Routing: r})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			sn := sweep(t, m)
			if len(sn.Nodes) != 5 {
				t.Fatalf("found %d nodes, want 5", len(sn.Nodes))
			}
			rt := sn.ByGUID[0x300000]
			if rt == nil || rt.Info.NodeType != wire.NodeTypeRouter || rt.Desc != "rt1" {
				t.Fatalf("router not found as a router: %+v", rt)
			}
			lids := map[wire.LID]bool{}
			for _, p := range rt.Ports[1:] {
				if p.LID == 0 || lids[p.LID] || !p.EndPort() {
					t.Errorf("router port %d: lid %d (end port %v)", p.Num, p.LID, p.EndPort())
				}
				lids[p.LID] = true
				ep, err := f.Port("rt1", p.Num)
				if err != nil {
					t.Fatal(err)
				}
				if st := ep.State(); st != wire.PortStateActive {
					t.Errorf("router port %d is %s, want Active", p.Num, st)
				}
			}
			var enhanced int
			for _, s := range sn.Switches {
				if s.Switch.EnhancedPort0 {
					enhanced++
				}
			}
			if enhanced != 1 {
				t.Errorf("%d switches with enhanced port 0, want 1", enhanced)
			}
			reachAll(t, tr, sn)
		})
	}
}
