package discover_test

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/discover"
)

// FuzzWalkAnswers replaces the attribute data of some SMP answers with
// arbitrary bytes (NodeInfo claiming any type, port count, local port or
// GUID; PortInfo with any state) and checks that the walk neither panics
// nor hangs, and that what it returns holds together: symmetric links
// between ports of nodes it lists.
func FuzzWalkAnswers(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{1, 1, 2, 255, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}, uint8(3))
	f.Add(make([]byte, 128), uint8(5))
	f.Add([]byte{1, 1, 1, 3, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 0, 0, 0, 0, 0, 7}, uint8(9))
	topo, err := topology.FatTree(2, 4)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, first uint8) {
		fab := newSMAFabric(topo, firstCA(t, topo))
		defer fab.Close()
		fab.mangle = func(n int, d []byte) {
			k := n - int(first)
			if k < 0 || k*64 >= len(data) {
				return
			}
			copy(d, data[k*64:])
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res, err := discover.Discover(ctx, fab, discover.Options{Timeout: time.Millisecond, Retries: -1})
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("walk did not finish: %v", err)
			}
			return
		}
		in := map[*topology.Node]bool{}
		for _, n := range res.Topology.Nodes {
			in[n] = true
		}
		for _, n := range res.Topology.Nodes {
			if len(n.Ports) != n.NumPorts+1 {
				t.Fatalf("node %s has %d port entries for %d ports", n.ID, len(n.Ports), n.NumPorts)
			}
			for _, p := range n.Ports {
				if p == nil || p.Remote == nil {
					continue
				}
				if p.Remote.Remote != p || !in[p.Remote.Node] {
					t.Fatalf("link %s - %s is not symmetric or leaves the topology", p, p.Remote)
				}
			}
		}
		_ = res.Topology.Validate() // may fail on nonsense answers; must not panic
	})
}
