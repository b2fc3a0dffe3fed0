package sm

import (
	"fmt"
	"math/bits"

	"github.com/ibemu/ibemu/emu/wire"
)

const (
	lftUnreachable = 0xFF
	infHops        = int32(1 << 30)
)

// swEdge is one switch-to-switch link seen from switch s.
type swEdge struct {
	port uint8 // output port on s
	to   int32 // switch index
}

// graph is the switch graph of a subnet.
type graph struct {
	sw  []*Node
	adj [][]swEdge
}

func buildGraph(sn *Subnet) *graph {
	g := &graph{sw: sn.Switches, adj: make([][]swEdge, len(sn.Switches))}
	for i, n := range sn.Switches {
		for _, p := range n.Ports[1:] {
			if p == nil || p.Remote == nil || !p.Remote.Node.IsSwitch() || p.Remote.Node == n {
				continue
			}
			g.adj[i] = append(g.adj[i], swEdge{uint8(p.Num), int32(p.Remote.Node.swIdx)})
		}
	}
	return g
}

// destGroup is the LIDs that leave the fabric at one switch.
type destGroup struct {
	sw   int32
	lids []destLID
}

type destLID struct {
	lid  wire.LID
	port uint8 // output port at the destination switch (0: the switch itself)
	idx  int   // index among all CA LIDs (fat-tree spreading)
}

// destinations groups every assigned LID by the switch it leaves at.
func destinations(sn *Subnet) []destGroup {
	groups := make([]destGroup, len(sn.Switches))
	for i := range groups {
		groups[i].sw = int32(i)
	}
	idx := 0
	for lid := wire.LID(1); int(lid) < len(sn.ByLID); lid++ {
		p := sn.ByLID[lid]
		if p == nil {
			continue
		}
		switch {
		case p.Node.IsSwitch():
			groups[p.Node.swIdx].lids = append(groups[p.Node.swIdx].lids, destLID{lid: lid, port: 0, idx: -1})
		case p.switchPort() != nil:
			sp := p.switchPort()
			groups[sp.Node.swIdx].lids = append(groups[sp.Node.swIdx].lids, destLID{lid: lid, port: uint8(sp.Num), idx: idx})
			idx++
		}
	}
	return groups
}

// computeRoutes fills n.LFT of every switch with the chosen engine.
func computeRoutes(sn *Subnet, engine Routing, roots []wire.GUID) error {
	g := buildGraph(sn)
	S := len(g.sw)
	top := len(sn.ByLID)
	for _, n := range g.sw {
		n.LFT = make([]uint8, top)
		for i := range n.LFT {
			n.LFT[i] = lftUnreachable
		}
	}
	if S == 0 {
		return nil
	}
	var rank []int32
	if engine != RoutingMinHop {
		rank = ranks(sn, g, roots)
	}
	up := func(s, t int32) bool {
		return rank[t] < rank[s] || rank[t] == rank[s] && g.sw[t].GUID() < g.sw[s].GUID()
	}
	load := make([][]uint32, S)
	for i, n := range g.sw {
		load[i] = make([]uint32, len(n.Ports))
	}
	dist := make([]int32, S)
	ddown := make([]int32, S)
	queue := make([]int32, 0, S)
	cands := make([][]uint8, S)
	candBuf := make([]uint8, 0, S*4)
	for _, dg := range destinations(sn) {
		if len(dg.lids) == 0 {
			continue
		}
		d := dg.sw
		// Distances to d.
		for i := range dist {
			dist[i], ddown[i] = infHops, infHops
		}
		switch engine {
		case RoutingMinHop:
			bfs(g, d, dist, queue, nil)
		default:
			// Down-only distances: walk from d along moves that are up
			// when reversed.
			bfs(g, d, ddown, queue, func(from, to int32) bool { return up(from, to) })
			copy(dist, ddown)
			upwardFill(g, dist, ddown, up)
		}
		// Candidate ports of every switch toward d.
		candBuf = candBuf[:0]
		for s := range int32(S) {
			cands[s] = nil
			if s == d || dist[s] == infHops {
				continue
			}
			start := len(candBuf)
			for _, e := range g.adj[s] {
				t := e.to
				ok := false
				switch {
				case engine == RoutingMinHop:
					ok = dist[t] == dist[s]-1
				case ddown[s] != infHops:
					ok = !up(s, t) && ddown[t] == ddown[s]-1
				default:
					ok = up(s, t) && dist[t] == dist[s]-1
				}
				if ok {
					candBuf = append(candBuf, e.port)
				}
			}
			cands[s] = candBuf[start:len(candBuf):len(candBuf)]
		}
		for _, dl := range dg.lids {
			g.sw[d].LFT[dl.lid] = dl.port
		}
		// Switch by switch, then LID by LID: each switch's load and LFT
		// evolve independently of the others', so this order gives the
		// same tables as LID-major order while writing each LFT in a run
		// of neighbouring entries instead of one entry per switch per LID.
		for s := range int32(S) {
			c := cands[s]
			if len(c) == 0 {
				continue
			}
			lft, ld := g.sw[s].LFT, load[s]
			for _, dl := range dg.lids {
				var port uint8
				if engine == RoutingFatTree && dl.idx >= 0 {
					port = c[dl.idx%len(c)]
				} else {
					port = c[0]
					best := ld[port]
					for _, q := range c[1:] {
						if ld[q] < best {
							port, best = q, ld[q]
						}
					}
				}
				if dl.idx >= 0 {
					ld[port]++
				}
				lft[dl.lid] = port
			}
		}
	}
	return nil
}

// bfs computes hop counts to d over the switch graph into dist; when
// allow is set, only moves from a node u to a neighbour v with
// allow(v, u) (the move v→u is permitted toward d) are followed.
func bfs(g *graph, d int32, dist []int32, queue []int32, allow func(from, to int32) bool) {
	dist[d] = 0
	queue = append(queue[:0], d)
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, e := range g.adj[u] {
			v := e.to
			if dist[v] != infHops {
				continue
			}
			// v reaches d through u by the move v→u; allow(u, v) says
			// whether that move is permitted.
			if allow != nil && !allow(u, v) {
				continue
			}
			dist[v] = dist[u] + 1
			queue = append(queue, v)
		}
	}
}

// upwardFill extends up/down distances to switches that have no down-only
// path: such a switch first goes up to a switch that has one, so its
// distance is one more than its best up neighbour (a bucket-ordered
// Dijkstra over unit weights).
func upwardFill(g *graph, dist, ddown []int32, up func(s, t int32) bool) {
	maxD := int32(0)
	for _, v := range dist {
		if v != infHops {
			maxD = max(maxD, v)
		}
	}
	buckets := make([][]int32, int(maxD)+1+len(dist))
	for s, v := range dist {
		if v != infHops {
			buckets[v] = append(buckets[v], int32(s))
		}
	}
	for b := 0; b < len(buckets); b++ {
		for i := 0; i < len(buckets[b]); i++ {
			u := buckets[b][i]
			if dist[u] != int32(b) {
				continue
			}
			for _, e := range g.adj[u] {
				s := e.to
				// s goes up to u.
				if ddown[s] != infHops || !up(s, u) || dist[s] <= int32(b)+1 {
					continue
				}
				dist[s] = int32(b) + 1
				if int(dist[s]) < len(buckets) {
					buckets[dist[s]] = append(buckets[dist[s]], s)
				}
			}
		}
	}
}

// ranks gives every switch its distance from the nearest root. Without
// configured roots, the roots are the switches farthest from the CAs (the
// spines of a fat tree; every switch of a fabric where all have CAs).
func ranks(sn *Subnet, g *graph, roots []wire.GUID) []int32 {
	S := len(g.sw)
	rank := make([]int32, S)
	for i := range rank {
		rank[i] = infHops
	}
	var rootIdx []int32
	for _, r := range roots {
		if n := sn.ByGUID[r]; n != nil && n.IsSwitch() {
			rootIdx = append(rootIdx, int32(n.swIdx))
		}
	}
	if len(rootIdx) == 0 {
		// Distance of each switch from the CA-attached switches.
		caDist := make([]int32, S)
		for i := range caDist {
			caDist[i] = infHops
		}
		var q []int32
		for i, n := range g.sw {
			for _, p := range n.Ports[1:] {
				if p != nil && p.Remote != nil && !p.Remote.Node.IsSwitch() {
					caDist[i] = 0
					q = append(q, int32(i))
					break
				}
			}
		}
		for len(q) > 0 {
			u := q[0]
			q = q[1:]
			for _, e := range g.adj[u] {
				if caDist[e.to] == infHops {
					caDist[e.to] = caDist[u] + 1
					q = append(q, e.to)
				}
			}
		}
		far := int32(-1)
		for _, v := range caDist {
			if v != infHops {
				far = max(far, v)
			}
		}
		for i, v := range caDist {
			if v == far || v == infHops && far < 0 {
				rootIdx = append(rootIdx, int32(i))
			}
		}
	}
	q := make([]int32, 0, S)
	for _, r := range rootIdx {
		rank[r] = 0
		q = append(q, r)
	}
	for len(q) > 0 {
		u := q[0]
		q = q[1:]
		for _, e := range g.adj[u] {
			if rank[e.to] == infHops {
				rank[e.to] = rank[u] + 1
				q = append(q, e.to)
			}
		}
	}
	// Switches no root reaches rank below everything.
	for i := range rank {
		if rank[i] == infHops {
			rank[i] = int32(S)
		}
	}
	return rank
}

// CheckCreditLoops builds the channel dependency graph of the subnet's
// LFTs (an edge from link A to link B when some LID's route enters a
// switch by A and leaves by B) and reports ErrCreditLoop, naming a switch
// on the cycle, when it has a cycle (Dally and Seitz; OpenSM's
// credit-loop check). Without cycles the routes cannot deadlock.
func CheckCreditLoops(sn *Subnet) error {
	S := len(sn.Switches)
	if S == 0 {
		return nil
	}
	// chanBase[s] + port numbers the channel leaving s by port.
	chanBase := make([]int, S+1)
	for i, n := range sn.Switches {
		chanBase[i+1] = chanBase[i] + len(n.Ports)
	}
	words := make([]int, S)
	depBase := make([]int, S+1)
	for i, n := range sn.Switches {
		words[i] = (len(n.Ports) + 63) / 64
		depBase[i+1] = depBase[i] + len(n.Ports)*words[i]
	}
	deps := make([]uint64, depBase[S])
	for s, n := range sn.Switches {
		for lid, p := range n.LFT {
			if p == 0 || p == lftUnreachable || int(p) >= len(n.Ports) {
				continue
			}
			rp := n.Ports[p].Remote
			if rp == nil || !rp.Node.IsSwitch() || rp.Node == n {
				continue
			}
			t := rp.Node
			if lid >= len(t.LFT) {
				continue
			}
			q := t.LFT[lid]
			if q == 0 || q == lftUnreachable || int(q) >= len(t.Ports) {
				continue
			}
			if r := t.Ports[q].Remote; r == nil || !r.Node.IsSwitch() {
				continue
			}
			ti := t.swIdx
			deps[depBase[ti]+rp.Num*words[ti]+int(q)/64] |= 1 << (q % 64)
		}
		_ = s
	}
	// Iterative DFS over channels.
	color := make([]uint8, chanBase[S])
	type frame struct {
		sw, port int
		w        int    // next word of the dependency set
		rest     uint64 // bits of word w-1 not yet visited
	}
	var stack []frame
	succ := func(f *frame) (int, int, bool) {
		n := sn.Switches[f.sw]
		rp := n.Ports[f.port].Remote
		t := rp.Node.swIdx
		base := depBase[t] + rp.Num*words[t]
		for {
			if f.rest != 0 {
				b := bits.TrailingZeros64(f.rest)
				f.rest &^= 1 << b
				return t, (f.w-1)*64 + b, true
			}
			if f.w >= words[t] {
				return 0, 0, false
			}
			f.rest = deps[base+f.w]
			f.w++
		}
	}
	for s, n := range sn.Switches {
		for _, p := range n.Ports[1:] {
			if p == nil || p.Remote == nil || !p.Remote.Node.IsSwitch() || p.Remote.Node == n {
				continue
			}
			c := chanBase[s] + p.Num
			if color[c] != 0 {
				continue
			}
			color[c] = 1
			stack = append(stack[:0], frame{sw: s, port: p.Num})
			for len(stack) > 0 {
				f := &stack[len(stack)-1]
				t, q, ok := succ(f)
				if !ok {
					color[chanBase[f.sw]+f.port] = 2
					stack = stack[:len(stack)-1]
					continue
				}
				c2 := chanBase[t] + q
				switch color[c2] {
				case 1:
					return fmt.Errorf("sm: link leaving %s by port %d depends on itself through %d links: %w",
						sn.Switches[t], q, len(stack), ErrCreditLoop)
				case 0:
					color[c2] = 1
					stack = append(stack, frame{sw: t, port: q})
				}
			}
		}
	}
	return nil
}
