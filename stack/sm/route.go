package sm

import (
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/ibemu/ibemu/emu/wire"
)

const (
	lftUnreachable = 0xFF
	infHops        = int32(1 << 30)
)

// swEdge is one switch-to-switch link seen from switch s.
type swEdge struct {
	port uint8 // output port on s
	up   bool  // the move s → to goes up (up/down and fat-tree; see router)
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
			g.adj[i] = append(g.adj[i], swEdge{port: uint8(p.Num), to: int32(p.Remote.Node.swIdx)})
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
			groups[sp.Node.swIdx].lids = append(groups[sp.Node.swIdx].lids, destLID{lid: lid, port: uint8(sp.Num), idx: 0})
		}
	}
	// CA LIDs are numbered leaf by leaf, so that the LIDs leaving at one
	// leaf take consecutive indexes and fat-tree routing sends them down
	// different links into that leaf.
	idx := 0
	for i := range groups {
		for j := range groups[i].lids {
			if groups[i].lids[j].idx >= 0 {
				groups[i].lids[j].idx = idx
				idx++
			}
		}
	}
	return groups
}

// computeRoutes fills n.LFT of every switch with the chosen engine.
//
// The work per destination switch (distances to it, and each switch's
// candidate ports toward it) is independent of the other destinations,
// so workers compute it in parallel; the LFTs are then filled from those
// results one destination at a time, in the order destinations returns,
// because the load that spreads LIDs over equal ports depends on that
// order. The tables are therefore the same whatever the number of
// workers.
func computeRoutes(sn *Subnet, engine Routing, roots []wire.GUID) error {
	return computeRoutesWorkers(sn, engine, roots, runtime.GOMAXPROCS(0))
}

func computeRoutesWorkers(sn *Subnet, engine Routing, roots []wire.GUID, workers int) error {
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
	rt := &router{g: g, engine: engine, guid: make([]wire.GUID, S)}
	for i, n := range g.sw {
		rt.guid[i] = n.GUID()
	}
	if engine != RoutingMinHop {
		rt.rank = ranks(sn, g, roots)
		// Ranks and GUIDs are fixed for the whole computation: mark each
		// edge's direction once.
		for s := range g.adj {
			for k := range g.adj[s] {
				g.adj[s][k].up = rt.up(int32(s), g.adj[s][k].to)
			}
		}
		if engine == RoutingFatTree {
			rt.digit = fatTreeDigits(g, rt.rank)
		}
	}
	var groups []destGroup
	for _, dg := range destinations(sn) {
		if len(dg.lids) > 0 {
			groups = append(groups, dg)
		}
	}
	load := make([][]uint32, S)
	for i, n := range g.sw {
		load[i] = make([]uint32, len(n.Ports))
	}
	fill := func(dg destGroup, c *towards) {
		d := dg.sw
		for _, dl := range dg.lids {
			g.sw[d].LFT[dl.lid] = dl.port
		}
		// Switch by switch, then LID by LID: each switch's load and LFT
		// evolve independently of the others', so this order gives the
		// same tables as LID-major order while writing each LFT in a run
		// of neighbouring entries instead of one entry per switch per LID.
		for s := range int32(S) {
			cs := c.ports(s)
			if len(cs) == 0 {
				continue
			}
			lft, ld := g.sw[s].LFT, load[s]
			for _, dl := range dg.lids {
				var port uint8
				if engine == RoutingFatTree && dl.idx >= 0 {
					port = cs[(dl.idx/rt.digit[s])%len(cs)]
				} else {
					port = cs[0]
					best := ld[port]
					for _, q := range cs[1:] {
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
	workers = max(1, min(workers, len(groups)/8))
	if workers == 1 {
		sc, c := rt.newScratch(), &towards{}
		for _, dg := range groups {
			rt.candidates(dg.sw, sc, c)
			fill(dg, c)
		}
		return nil
	}
	// Workers take a result buffer before a destination, so the
	// destination the filler waits for always has its buffer and the
	// pipeline cannot stall; the buffers bound the memory in flight.
	free := make(chan *towards, 4*workers)
	for range cap(free) {
		free <- &towards{}
	}
	slots := make([]chan *towards, len(groups))
	for i := range slots {
		slots[i] = make(chan *towards, 1)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := rt.newScratch()
			for {
				c := <-free
				i := int(next.Add(1) - 1)
				if i >= len(groups) {
					free <- c
					return
				}
				rt.candidates(groups[i].sw, sc, c)
				slots[i] <- c
			}
		}()
	}
	for i, dg := range groups {
		c := <-slots[i]
		fill(dg, c)
		free <- c
	}
	wg.Wait()
	return nil
}

// router is what every destination's computation reads: the switch
// graph, the ranks of up/down and fat-tree and the switch GUIDs that
// break rank ties.
type router struct {
	g      *graph
	engine Routing
	rank   []int32
	guid   []wire.GUID
	digit  []int // fat-tree: per switch, the divisor of a destination's index
}

// fatTreeDigits gives every switch the place value of its rank in a
// destination's index, for fat-tree routing's d-mod-k spreading (Zahavi,
// "D-Mod-K Routing Providing Non-Blocking Traffic for Shift Permutations
// on Real Life Fat Trees", 2010): a leaf picks its up port by the index
// modulo its number of up ports, the rank above by the index divided by
// that modulo its own number, and so on. Every destination then climbs
// to its own top switch, the same from every source, and the up links of
// every rank carry an even share of the destinations, as OpenSM's ftree
// engine spreads them (osm_ucast_ftree.c). The number of up ports of a
// rank is the largest among its switches.
func fatTreeDigits(g *graph, rank []int32) []int {
	S := int32(len(g.sw))
	maxRank := int32(0)
	for _, r := range rank {
		if r < S {
			maxRank = max(maxRank, r)
		}
	}
	upPorts := make([]int, maxRank+1)
	for s, r := range rank {
		if r >= S {
			continue
		}
		n := 0
		for _, e := range g.adj[s] {
			if e.up {
				n++
			}
		}
		upPorts[r] = max(upPorts[r], n)
	}
	// place[r] is the product of the up-port counts of the ranks below r.
	const maxPlace = 1 << 24 // beyond any number of LIDs: higher digits are 0
	place := make([]int, maxRank+2)
	place[maxRank] = 1
	for r := maxRank - 1; r >= 0; r-- {
		place[r] = min(place[r+1]*max(upPorts[r+1], 1), maxPlace)
	}
	digit := make([]int, S)
	for s, r := range rank {
		if r >= S {
			digit[s] = 1
			continue
		}
		digit[s] = place[r]
	}
	return digit
}

// up reports whether the move s → t goes up (toward the roots).
func (rt *router) up(s, t int32) bool {
	return rt.rank[t] < rt.rank[s] || rt.rank[t] == rt.rank[s] && rt.guid[t] < rt.guid[s]
}

// routeScratch is one worker's working memory.
type routeScratch struct {
	dist, ddown, queue []int32
	buckets            [][]int32
}

func (rt *router) newScratch() *routeScratch {
	S := len(rt.g.sw)
	return &routeScratch{dist: make([]int32, S), ddown: make([]int32, S), queue: make([]int32, 0, S)}
}

// towards is the candidate output ports of every switch toward one
// destination switch: ports(s) is ports[start[s]:start[s+1]].
type towards struct {
	start []int32
	list  []uint8
}

func (c *towards) ports(s int32) []uint8 { return c.list[c.start[s]:c.start[s+1]] }

// candidates computes, for destination switch d, every switch's ports
// on a shortest path allowed by the engine: min-hop takes every
// neighbour one hop closer; up/down and fat-tree go down when a
// down-only path exists and up otherwise.
func (rt *router) candidates(d int32, sc *routeScratch, c *towards) {
	g := rt.g
	S := int32(len(g.sw))
	dist, ddown := sc.dist, sc.ddown
	for i := range dist {
		dist[i], ddown[i] = infHops, infHops
	}
	if rt.engine == RoutingMinHop {
		bfs(g, d, dist, sc.queue, false)
	} else {
		// Down-only distances: walk from d along moves that are up when
		// reversed.
		bfs(g, d, ddown, sc.queue, true)
		copy(dist, ddown)
		sc.buckets = upwardFill(g, dist, ddown, sc.buckets)
	}
	if cap(c.start) < int(S)+1 {
		c.start = make([]int32, S+1)
	}
	c.start = c.start[:S+1]
	c.list = c.list[:0]
	for s := range S {
		c.start[s] = int32(len(c.list))
		if s == d || dist[s] == infHops {
			continue
		}
		for _, e := range g.adj[s] {
			t := e.to
			var ok bool
			switch {
			case rt.engine == RoutingMinHop:
				ok = dist[t] == dist[s]-1
			case ddown[s] != infHops:
				ok = ddown[t] == ddown[s]-1 && !e.up
			default:
				ok = dist[t] == dist[s]-1 && e.up
			}
			if ok {
				c.list = append(c.list, e.port)
			}
		}
	}
	c.start[S] = int32(len(c.list))
}

// bfs computes hop counts to d over the switch graph into dist; with
// downOnly, only moves that go down toward d are followed (a node v
// reaches d through its neighbour u when the edge u → v goes up).
func bfs(g *graph, d int32, dist []int32, queue []int32, downOnly bool) {
	dist[d] = 0
	queue = append(queue[:0], d)
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, e := range g.adj[u] {
			v := e.to
			if dist[v] != infHops || downOnly && !e.up {
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
// Dijkstra over unit weights). buckets is scratch memory, returned for
// reuse.
func upwardFill(g *graph, dist, ddown []int32, buckets [][]int32) [][]int32 {
	maxD := int32(0)
	for _, v := range dist {
		if v != infHops {
			maxD = max(maxD, v)
		}
	}
	nb := int(maxD) + 1 + len(dist)
	if cap(buckets) < nb {
		buckets = append(buckets[:cap(buckets)], make([][]int32, nb-cap(buckets))...)
	}
	buckets = buckets[:nb]
	for i := range buckets {
		buckets[i] = buckets[i][:0]
	}
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
				// s goes up to u: the edge u → s goes down (distinct
				// switches differ in rank or GUID, so exactly one
				// direction of a link is up).
				if ddown[s] != infHops || dist[s] <= int32(b)+1 || e.up {
					continue
				}
				dist[s] = int32(b) + 1
				if int(dist[s]) < len(buckets) {
					buckets[dist[s]] = append(buckets[dist[s]], s)
				}
			}
		}
	}
	return buckets
}

// centre is a switch near the middle of the switch graph: the middle of
// a longest shortest path found by two breadth-first searches (the
// double-sweep estimate of the graph's centre), the lowest index among
// equals so that the choice is the same on every sweep.
func centre(g *graph) int32 {
	S := len(g.sw)
	dist := make([]int32, S)
	parent := make([]int32, S)
	sweep := func(from int32) int32 {
		for i := range dist {
			dist[i], parent[i] = infHops, -1
		}
		dist[from] = 0
		q := []int32{from}
		last := from
		for len(q) > 0 {
			u := q[0]
			q = q[1:]
			if dist[u] > dist[last] || dist[u] == dist[last] && u < last {
				last = u
			}
			for _, e := range g.adj[u] {
				if dist[e.to] == infHops {
					dist[e.to], parent[e.to] = dist[u]+1, u
					q = append(q, e.to)
				}
			}
		}
		return last
	}
	u := sweep(0)
	v := sweep(u)
	// Walk half way back from v towards u.
	for range dist[v] / 2 {
		v = parent[v]
	}
	return v
}

// ranks gives every switch its distance from the nearest root. Without
// configured roots, the roots are the switches farthest from the CAs (the
// spines of a fat tree); where every switch has CAs, the one switch at the
// centre of the switch graph.
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
		if far > 0 {
			for i, v := range caDist {
				if v == far {
					rootIdx = append(rootIdx, int32(i))
				}
			}
		} else {
			// Every switch has CAs (a mesh, torus, ring or line) or none
			// has: no switch stands above the others. Roots that are
			// all the switches would rank them by GUID alone, and a line
			// whose GUIDs do not rise along it (a ring cut open) then has
			// pairs with no up-then-down path between them. One root at
			// the centre gives every pair the path up to it and down.
			rootIdx = append(rootIdx, centre(g))
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

// CreditLoopError is the error CheckCreditLoops returns; it wraps
// ErrCreditLoop.
type CreditLoopError struct {
	// Switch and Port name a link on the cycle: the one leaving Switch
	// by Port.
	Switch *Node
	Port   int
	// Links is the length of the cycle found, in switch-to-switch links.
	Links int
	// SwitchLIDsOnly is set when the cycle needs routes towards switch
	// LIDs (management port 0): the routes between CA ports alone have
	// none. Data between CAs cannot deadlock then; management traffic to
	// switches (SMPs ride VL15, which is not flow controlled, but
	// LID-routed GMPs to a switch's PMA or vendor agent do not) can.
	SwitchLIDsOnly bool
}

// Error names the link and the kind of loop.
func (e *CreditLoopError) Error() string {
	what := ""
	if e.SwitchLIDsOnly {
		what = " (only with the routes towards switch LIDs; the routes between CA ports have no credit loop)"
	}
	return fmt.Sprintf("sm: link leaving %s by port %d depends on itself through %d links%s: %v",
		e.Switch, e.Port, e.Links, what, ErrCreditLoop)
}

// Unwrap is ErrCreditLoop.
func (e *CreditLoopError) Unwrap() error { return ErrCreditLoop }

// CheckCreditLoops builds the channel dependency graph of the subnet's
// LFTs (an edge from link A to link B when some LID's route enters a
// switch by A and leaves by B) and reports a *CreditLoopError (wrapping
// ErrCreditLoop), naming a link on the cycle, when it has a cycle (Dally
// and Seitz; OpenSM's credit-loop check). Without cycles the routes cannot
// deadlock. The routes towards CA ports are checked first and on their
// own; when they are free of cycles and only the routes towards switch
// LIDs close one, the error says so (CreditLoopError.SwitchLIDsOnly).
func CheckCreditLoops(sn *Subnet) error {
	isCA := func(lid int) bool {
		return lid < len(sn.ByLID) && sn.ByLID[lid] != nil && !sn.ByLID[lid].Node.IsSwitch()
	}
	if e := creditLoop(sn, isCA); e != nil {
		return e
	}
	if e := creditLoop(sn, nil); e != nil {
		e.SwitchLIDsOnly = true
		return e
	}
	return nil
}

// creditLoop looks for a cycle in the channel dependency graph of the
// routes towards the LIDs include accepts (nil: every LID).
func creditLoop(sn *Subnet, include func(lid int) bool) *CreditLoopError {
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
	// link[s][p] is the switch-to-switch link leaving switch s by port p:
	// the switch it reaches and the port it enters by (to < 0: none). The
	// table spares the walk below a pointer chase per LFT entry.
	type hop struct {
		to   int32
		port int32
	}
	link := make([][]hop, S)
	for i, n := range sn.Switches {
		link[i] = make([]hop, len(n.Ports))
		for p := range n.Ports {
			link[i][p].to = -1
			if p == 0 || n.Ports[p] == nil {
				continue
			}
			if rp := n.Ports[p].Remote; rp != nil && rp.Node.IsSwitch() && rp.Node != n {
				link[i][p] = hop{int32(rp.Node.swIdx), int32(rp.Num)}
			}
		}
	}
	for s, n := range sn.Switches {
		ls := link[s]
		for lid, p := range n.LFT {
			if int(p) >= len(ls) {
				continue // 0xFF (unreachable) included
			}
			if include != nil && !include(lid) {
				continue
			}
			h := ls[p]
			if h.to < 0 {
				continue // port 0, a CA, or no link
			}
			t := sn.Switches[h.to]
			if lid >= len(t.LFT) {
				continue
			}
			q := t.LFT[lid]
			if int(q) >= len(link[h.to]) || link[h.to][q].to < 0 {
				continue
			}
			ti := int(h.to)
			deps[depBase[ti]+int(h.port)*words[ti]+int(q)/64] |= 1 << (q % 64)
		}
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
					// The cycle is the part of the DFS path from the
					// channel found again to the top.
					links := len(stack)
					for i := range stack {
						if stack[i].sw == t && stack[i].port == q {
							links = len(stack) - i
							break
						}
					}
					return &CreditLoopError{Switch: sn.Switches[t], Port: q, Links: links}
				case 0:
					color[c2] = 1
					stack = append(stack, frame{sw: t, port: q})
				}
			}
		}
	}
	return nil
}
