package sm

import (
	"bytes"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// synthFatTree builds the Subnet a sweep of a k-ary 3-level fat tree
// (k/2 CAs per leaf) would find, without a fabric: every port read and
// linked, LIDs assigned.
func synthFatTree(t *testing.T, k int) *Subnet {
	t.Helper()
	sn := &Subnet{ByGUID: map[wire.GUID]*Node{}, PortByGUID: map[wire.GUID]*Port{}}
	guid := wire.GUID(0x1000)
	node := func(typ wire.NodeType, ports int) *Node {
		guid++
		n := &Node{Info: wire.NodeInfoFields{NodeType: typ, NumPorts: uint8(ports), NodeGUID: guid, PortGUID: guid}, swIdx: -1}
		n.Ports = make([]*Port, ports+1)
		for i := range n.Ports {
			if i == 0 && typ != wire.NodeTypeSwitch {
				continue
			}
			n.Ports[i] = &Port{Node: n, Num: i, Read: true}
		}
		if typ == wire.NodeTypeSwitch {
			n.Ports[0].GUID = guid
			n.swIdx = len(sn.Switches)
			sn.Switches = append(sn.Switches, n)
		} else {
			n.Ports[1].GUID = guid
		}
		sn.Nodes = append(sn.Nodes, n)
		sn.ByGUID[guid] = n
		return n
	}
	link := func(a *Node, pa int, b *Node, pb int) {
		x, y := a.Ports[pa], b.Ports[pb]
		x.Remote, y.Remote = y, x
		x.Info.PortPhysicalState, y.Info.PortPhysicalState = wire.PhysStateLinkUp, wire.PhysStateLinkUp
	}
	h := k / 2
	// Pods of h leaves and h aggregation switches; h*h cores.
	cores := make([]*Node, h*h)
	for i := range cores {
		cores[i] = node(wire.NodeTypeSwitch, k)
	}
	var first *Node
	for pod := range k {
		aggs := make([]*Node, h)
		for i := range aggs {
			aggs[i] = node(wire.NodeTypeSwitch, k)
			for j := range h {
				link(aggs[i], h+1+j, cores[i*h+j], pod+1)
			}
		}
		for l := range h {
			leaf := node(wire.NodeTypeSwitch, k)
			for i, a := range aggs {
				link(leaf, h+1+i, a, l+1)
			}
			for c := range h {
				ca := node(wire.NodeTypeCA, 1)
				link(ca, 1, leaf, c+1)
				if first == nil {
					first = ca
				}
			}
		}
	}
	sn.Local = first.Ports[1]
	if err := assignLIDs(sn, 0, GUIDTable{}, GUIDTable{}); err != nil {
		t.Fatal(err)
	}
	return sn
}

// TestRoutesSameWithAnyWorkers: the parallel route computation gives the
// same tables as the sequential one, for every engine.
func TestRoutesSameWithAnyWorkers(t *testing.T) {
	for _, engine := range []Routing{RoutingMinHop, RoutingUpDown, RoutingFatTree} {
		sn := synthFatTree(t, 8)
		if err := computeRoutesWorkers(sn, engine, nil, 1); err != nil {
			t.Fatal(err)
		}
		want := make([][]uint8, len(sn.Switches))
		for i, n := range sn.Switches {
			want[i] = n.LFT
		}
		for _, workers := range []int{2, 3, 8} {
			if err := computeRoutesWorkers(sn, engine, nil, workers); err != nil {
				t.Fatal(err)
			}
			for i, n := range sn.Switches {
				if !bytes.Equal(n.LFT, want[i]) {
					t.Fatalf("%s with %d workers: switch %d's LFT differs from the sequential one", engine, workers, i)
				}
			}
		}
		// Every CA LID is routed by every switch.
		for _, n := range sn.Switches {
			for lid := 1; lid < len(sn.ByLID); lid++ {
				if p := sn.ByLID[lid]; p != nil && !p.Node.IsSwitch() && n.LFT[lid] == lftUnreachable {
					t.Fatalf("%s: switch %d has no route to lid %d", engine, n.swIdx, lid)
				}
			}
		}
		if err := CheckCreditLoops(sn); err != nil && engine != RoutingMinHop {
			t.Errorf("%s: %v", engine, err)
		}
	}
}
