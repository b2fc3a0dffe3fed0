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
	sn, node, link := synthSubnet(0x1000)
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

// TestFatTreeSpreadsEvenly: on a 3-level fat tree, fat-tree routing uses
// every switch-to-switch link and loads none with more CA-to-CA routes
// than a leaf's up link must carry (its CAs' routes to every CA outside
// the leaf, shared by its up links), as OpenSM's ftree does on the same
// fabric; up/down, which balances by load alone, leaves links unused.
func TestFatTreeSpreadsEvenly(t *testing.T) {
	const k = 8
	sn := synthFatTree(t, k)
	if err := computeRoutesWorkers(sn, RoutingFatTree, nil, 1); err != nil {
		t.Fatal(err)
	}
	load := map[*Port]int{}
	var cas []*Port
	for lid := 1; lid < len(sn.ByLID); lid++ {
		if p := sn.ByLID[lid]; p != nil && !p.Node.IsSwitch() {
			cas = append(cas, p)
		}
	}
	for _, src := range cas {
		for _, dst := range cas {
			if src == dst {
				continue
			}
			at, hops := src.Remote, 0
			for at.Node.IsSwitch() {
				out := at.Node.LFT[dst.LID]
				if out == lftUnreachable || hops > 8 {
					t.Fatalf("route %d -> %d stops at switch %d", src.LID, dst.LID, at.Node.swIdx)
				}
				p := at.Node.Ports[out]
				if p.Remote.Node.IsSwitch() {
					load[p]++
				}
				at, hops = p.Remote, hops+1
			}
			if at != dst {
				t.Fatalf("route %d -> %d ends at lid %d", src.LID, dst.LID, at.LID)
			}
		}
	}
	links := 0
	for _, n := range sn.Switches {
		for _, p := range n.Ports[1:] {
			if p.Remote != nil && p.Remote.Node.IsSwitch() {
				links++
				if load[p] == 0 {
					t.Errorf("switch %d port %d carries no CA-to-CA route", n.swIdx, p.Num)
				}
			}
		}
	}
	h := k / 2
	bound := h * (len(cas) - h) / h
	for p, l := range load {
		if l > bound {
			t.Errorf("switch %d port %d carries %d routes, more than %d", p.Node.swIdx, p.Num, l, bound)
		}
	}
	t.Logf("%d switch-to-switch links, %d CAs, bound %d", links, len(cas), bound)
}

// synthSwitches builds the Subnet a sweep would find of switches
// 0..nsw-1 (GUIDs rising with the index) cabled by edges, one CA on port
// 1 of each, LIDs assigned.
func synthSwitches(t *testing.T, nsw int, edges [][2]int) *Subnet {
	t.Helper()
	sn, node, link := synthSubnet(0x2000)
	sws := make([]*Node, nsw)
	next := make([]int, nsw)
	for i := range sws {
		sws[i] = node(wire.NodeTypeSwitch, 8)
		next[i] = 2
	}
	for i, sw := range sws {
		ca := node(wire.NodeTypeCA, 1)
		link(ca, 1, sw, 1)
		if i == 0 {
			sn.Local = ca.Ports[1]
		}
	}
	for _, e := range edges {
		link(sws[e[0]], next[e[0]], sws[e[1]], next[e[1]])
		next[e[0]]++
		next[e[1]]++
	}
	if err := assignLIDs(sn, 0, GUIDTable{}, GUIDTable{}); err != nil {
		t.Fatal(err)
	}
	return sn
}

// TestUpDownRoutesACutRing: a ring of 8 switches, each with a CA, cut
// open between the first two switches is a line whose GUIDs do not rise
// along it. Up/down and fat-tree routing must still carry every CA to
// every LID, switch LIDs included, without a credit loop (OpenSM's updn
// finds no roots here and falls back to min-hop).
func TestUpDownRoutesACutRing(t *testing.T) {
	var edges [][2]int
	for i := 1; i < 8; i++ {
		edges = append(edges, [2]int{i, (i + 1) % 8})
	}
	for _, engine := range []Routing{RoutingUpDown, RoutingFatTree} {
		sn := synthSwitches(t, 8, edges)
		if err := computeRoutesWorkers(sn, engine, nil, 1); err != nil {
			t.Fatal(err)
		}
		for _, src := range sn.Nodes {
			if src.IsSwitch() {
				continue
			}
			for lid := 1; lid < len(sn.ByLID); lid++ {
				dst := sn.ByLID[lid]
				if dst == nil || dst == src.Ports[1] {
					continue
				}
				at, hops := src.Ports[1].Remote, 0
				for at != dst && at.Node.IsSwitch() {
					if at.Node == dst.Node {
						break // a switch's own LID: arrived
					}
					out := at.Node.LFT[lid]
					if out == lftUnreachable || hops > 16 {
						t.Fatalf("%s: no route from lid %d to lid %d (stops at switch %d)", engine, src.Ports[1].LID, lid, at.Node.swIdx)
					}
					at, hops = at.Node.Ports[out].Remote, hops+1
				}
				if at != dst && at.Node != dst.Node {
					t.Fatalf("%s: route from lid %d to lid %d ends at %s", engine, src.Ports[1].LID, lid, at)
				}
			}
		}
		if err := CheckCreditLoops(sn); err != nil {
			t.Errorf("%s: %v", engine, err)
		}
	}
}

// synthSubnet returns an empty Subnet and the two ways to grow it as a
// sweep would find it: node adds a switch or CA (GUIDs counting up from
// guid+1, every port read) and link cables two ports, both LinkUp.
func synthSubnet(guid wire.GUID) (sn *Subnet, node func(typ wire.NodeType, ports int) *Node, link func(a *Node, pa int, b *Node, pb int)) {
	sn = &Subnet{ByGUID: map[wire.GUID]*Node{}, PortByGUID: map[wire.GUID]*Port{}}
	node = func(typ wire.NodeType, ports int) *Node {
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
	link = func(a *Node, pa int, b *Node, pb int) {
		x, y := a.Ports[pa], b.Ports[pb]
		x.Remote, y.Remote = y, x
		x.Info.PortPhysicalState, y.Info.PortPhysicalState = wire.PhysStateLinkUp, wire.PhysStateLinkUp
	}
	return sn, node, link
}
