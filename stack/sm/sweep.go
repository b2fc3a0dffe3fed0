package sm

import (
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// smpQuery is one SMP of a batch and what to do with its answer.
type smpQuery struct {
	path   mad.DRPath
	method wire.Method
	attr   wire.AttrID
	mod    uint32
	data   []byte
	// done gets the attribute data, or err.
	done func(data []byte, err error)
}

// batchChunk is how many SMPs a batch hands the agent at once (at least;
// see batchSeq): while one chunk is on the wire the next is built, and
// only a few chunks of requests are alive at a time.
const batchChunk = 4096

// batch sends qs through the agent's window and calls each done in order.
func (m *SM) batch(ctx context.Context, qs []smpQuery) { m.batchSeq(ctx, slices.Values(qs)) }

// smpChunk is a chunk of a batch: its queries, their requests (nil for a
// query whose request could not be built, failed in errs) and the
// agent's batch once started.
type smpChunk struct {
	qs   []smpQuery
	reqs []mad.Request
	pos  []int   // index in qs of each request
	errs []error // per query: why its request could not be built
	b    *mad.Batch
}

// batchSeq sends the queries seq yields through the agent's window and
// calls each done on the calling goroutine, in order. The queries are
// handed to the agent in chunks on one mad.Stream: while a chunk is on
// the wire the next is built, the window never drains between chunks,
// and the SMPs leave at the instants one batch of all of them would. The
// done calls of a chunk run while later chunks are on the wire.
func (m *SM) batchSeq(ctx context.Context, seq iter.Seq[smpQuery]) {
	// A chunk larger than the window keeps requests queued in the agent
	// when the producer waits for an earlier chunk (see mad.Stream).
	size := max(batchChunk, 2*m.cfg.Window)
	st := m.dr.Stream()
	defer st.Close()
	var inflight, spare *smpChunk
	newChunk := func() *smpChunk {
		if c := spare; c != nil {
			spare = nil
			return c
		}
		// Small to start (most batches of a light sweep or a poll are
		// tiny); a chunk that grew is reused by the next but one.
		const first = 64
		return &smpChunk{qs: make([]smpQuery, 0, first), reqs: make([]mad.Request, 0, first),
			pos: make([]int, 0, first), errs: make([]error, 0, first)}
	}
	cur := newChunk()
	flush := func(last bool) {
		cur.b = st.Start(cur.reqs) // a done ctx fails them in Wait
		m.smps.Add(uint64(len(cur.reqs)))
		if last {
			st.Close()
		}
		if inflight != nil {
			inflight.settle(inflight.b.Wait(ctx))
			inflight.reset()
			spare = inflight
		}
		inflight, cur = cur, newChunk()
	}
	for q := range seq {
		i := len(cur.qs)
		cur.qs = append(cur.qs, q)
		r, err := m.dr.SMPRequest(q.path, q.method, q.attr, q.mod, q.data)
		if err == nil {
			cur.reqs = append(cur.reqs, r)
			cur.pos = append(cur.pos, i)
		}
		cur.errs = append(cur.errs, err)
		if len(cur.qs) == size {
			flush(false)
		}
	}
	if len(cur.qs) > 0 || inflight == nil {
		flush(true)
	}
	st.Close()
	if inflight != nil {
		inflight.settle(inflight.b.Wait(ctx))
	}
}

// reset empties a settled chunk for reuse (every request of it has
// completed, so the agent holds none of them any more).
func (c *smpChunk) reset() {
	clear(c.qs)
	clear(c.reqs)
	clear(c.errs)
	c.qs, c.reqs, c.pos, c.errs, c.b = c.qs[:0], c.reqs[:0], c.pos[:0], c.errs[:0], nil
}

// settle calls the done of every query of the chunk, in order, with the
// results of its requests.
func (c *smpChunk) settle(res []mad.Result) {
	j := 0
	for i, q := range c.qs {
		if err := c.errs[i]; err != nil {
			q.done(nil, &PathError{Path: q.path, Method: q.method, Attr: q.attr, Mod: q.mod, Err: err})
			continue
		}
		r := res[j]
		j++
		if r.Err != nil {
			q.done(nil, &PathError{Path: q.path, Method: q.method, Attr: q.attr, Mod: q.mod, Err: r.Err})
			continue
		}
		d, err := mad.SMPData(r.MAD)
		if err != nil {
			q.done(nil, &PathError{Path: q.path, Method: q.method, Attr: q.attr, Mod: q.mod, Err: err})
			continue
		}
		q.done(d, nil)
	}
}

// PathError is one SMP that failed: what it asked, along which route.
type PathError struct {
	Path   mad.DRPath
	Method wire.Method
	Attr   wire.AttrID
	Mod    uint32
	Err    error
}

// Error implements error.
func (e *PathError) Error() string {
	return fmt.Sprintf("sm: %s %s (modifier %d) along %s: %v", e.Method, e.Attr, e.Mod, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *PathError) Unwrap() error { return e.Err }

// frontierItem is a route whose far end is not yet known: it leaves from
// port from.
type frontierItem struct {
	from *Port
	path mad.DRPath
}

// discover walks the fabric breadth first with directed-route SMPs (IBTA
// Vol 1 §14.2.2), one hop per round, and returns the subnet graph with
// every node's NodeInfo, NodeDescription, SwitchInfo and PortInfo.
func (m *SM) discover(ctx context.Context) (*Subnet, error) {
	sn := &Subnet{ByGUID: map[wire.GUID]*Node{}, PortByGUID: map[wire.GUID]*Port{}, LMC: m.cfg.LMC, Routing: m.cfg.Routing}
	problem := func(err error) {
		sn.Problems = append(sn.Problems, err)
		m.log.Warn("sm: sweep problem", "err", err)
	}
	// Round 0: the local node.
	var local *Node
	var localErr error
	m.batch(ctx, []smpQuery{{path: mad.DRPath{}, method: wire.MethodGet, attr: wire.AttrNodeInfo, done: func(d []byte, err error) {
		if err != nil {
			localErr = err
			return
		}
		ni, perr := wire.ParseNodeInfo(d)
		if perr != nil {
			localErr = perr
			return
		}
		f := ni.Fields()
		local = m.newNode(sn, f, mad.DRPath{})
		local.entry = f.LocalPortNum
	}}})
	if local == nil {
		return nil, fmt.Errorf("%w: %w", ErrNoLocalPort, localErr)
	}
	if int(local.entry) >= len(local.Ports) || local.entry == 0 && !local.IsSwitch() {
		return nil, fmt.Errorf("sm: local node reports port %d of %d: %w", local.entry, local.Info.NumPorts, ErrNoLocalPort)
	}
	sn.Local = local.Ports[local.entry]
	if sn.Local == nil {
		return nil, fmt.Errorf("sm: local port %d missing: %w", local.entry, ErrNoLocalPort)
	}
	newNodes := []*Node{local}
	var frontier []frontierItem
	for round := 0; ; round++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sm: sweep: %w", err)
		}
		// Read the attributes of the nodes found in the last round.
		m.readNodes(ctx, sn, newNodes, problem)
		m.progress("discover", len(sn.Nodes), 0)
		// Extend routes by one hop from each new switch (and from the
		// local CA port).
		frontier = frontier[:0]
		for _, n := range newNodes {
			if n == local && !n.IsSwitch() {
				if sn.Local.LinkUp() && sn.Local.Remote == nil {
					frontier = append(frontier, frontierItem{sn.Local, mad.DRPath{uint8(sn.Local.Num)}})
				}
				continue
			}
			if !n.IsSwitch() {
				continue
			}
			for _, p := range n.Ports[1:] {
				if p == nil || !p.LinkUp() || p.Remote != nil || uint8(p.Num) == n.entry && n != local {
					continue
				}
				if len(n.Path) >= mad.MaxDRHops {
					problem(fmt.Errorf("sm: %s: beyond the 63-hop directed-route limit", p))
					continue
				}
				frontier = append(frontier, frontierItem{p, n.Path.Extend(uint8(p.Num))})
			}
		}
		if len(frontier) == 0 {
			break
		}
		newNodes = newNodes[:0:0]
		inNew := map[*Node]bool{}
		qs := make([]smpQuery, 0, len(frontier))
		for _, fi := range frontier {
			qs = append(qs, smpQuery{path: fi.path, method: wire.MethodGet, attr: wire.AttrNodeInfo, done: func(d []byte, err error) {
				if err != nil {
					problem(err)
					return
				}
				ni, perr := wire.ParseNodeInfo(d)
				if perr != nil {
					problem(&PathError{Path: fi.path, Method: wire.MethodGet, Attr: wire.AttrNodeInfo, Err: perr})
					return
				}
				f := ni.Fields()
				if f.NodeType != wire.NodeTypeCA && f.NodeType != wire.NodeTypeSwitch && f.NodeType != wire.NodeTypeRouter {
					problem(fmt.Errorf("sm: node type %d along %s: ignored", f.NodeType, fi.path))
					return
				}
				n := sn.ByGUID[f.NodeGUID]
				if n == nil {
					n = m.newNode(sn, f, fi.path)
					n.entry = f.LocalPortNum
					newNodes = append(newNodes, n)
					inNew[n] = true
				} else if n.Info.NodeType != f.NodeType || n.Info.NumPorts != f.NumPorts {
					problem(fmt.Errorf("sm: %s answers as a %d-port %s along %s: inconsistent", n, f.NumPorts, f.NodeType, fi.path))
					return
				}
				if int(f.LocalPortNum) >= len(n.Ports) || n.Ports[f.LocalPortNum] == nil {
					problem(fmt.Errorf("sm: %s reports arrival port %d along %s: out of range", n, f.LocalPortNum, fi.path))
					return
				}
				p := n.Ports[f.LocalPortNum]
				if p.Remote != nil && p.Remote != fi.from {
					problem(fmt.Errorf("sm: %s already linked to %s, now seen from %s", p, p.Remote, fi.from))
					return
				}
				p.Remote, fi.from.Remote = fi.from, p
				if !n.IsSwitch() {
					if p.GUID == 0 {
						p.GUID = f.PortGUID
					}
					if p.Path == nil {
						p.Path = fi.path
						if !p.Read && !inNew[n] {
							newNodes = append(newNodes, n)
							inNew[n] = true
						}
					}
				}
			}})
		}
		m.batch(ctx, qs)
		for _, n := range newNodes {
			if len(n.Path) > sn.MaxHops {
				sn.MaxHops = len(n.Path)
			}
		}
	}
	for _, n := range sn.Nodes {
		for _, p := range n.Ports {
			if p != nil && p.EndPort() && p.GUID != 0 && (p.Read || p.Num == 0) {
				sn.PortByGUID[p.GUID] = p
			}
		}
	}
	return sn, nil
}

// newNode records a node found along path.
func (m *SM) newNode(sn *Subnet, f wire.NodeInfoFields, path mad.DRPath) *Node {
	n := &Node{Info: f, Path: path, swIdx: -1, Desc: f.NodeGUID.String()}
	n.Ports = make([]*Port, int(f.NumPorts)+1)
	for i := range n.Ports {
		if i == 0 && f.NodeType != wire.NodeTypeSwitch {
			continue
		}
		n.Ports[i] = &Port{Node: n, Num: i}
	}
	if f.NodeType == wire.NodeTypeSwitch {
		n.Ports[0].GUID = f.PortGUID
		n.swIdx = len(sn.Switches)
		sn.Switches = append(sn.Switches, n)
	} else if int(f.LocalPortNum) < len(n.Ports) && f.LocalPortNum > 0 {
		p := n.Ports[f.LocalPortNum]
		p.GUID, p.Path = f.PortGUID, path
	}
	sn.Nodes = append(sn.Nodes, n)
	sn.ByGUID[f.NodeGUID] = n
	return n
}

// readNodes reads NodeDescription of new nodes, SwitchInfo and every
// PortInfo of new switches and PortInfo of CA ports not read yet.
func (m *SM) readNodes(ctx context.Context, sn *Subnet, ns []*Node, problem func(error)) {
	var qs []smpQuery
	for _, n := range ns {
		if n.Desc == n.Info.NodeGUID.String() {
			qs = append(qs, smpQuery{path: n.Path, method: wire.MethodGet, attr: wire.AttrNodeDescription, done: func(d []byte, err error) {
				if err != nil {
					problem(err)
					return
				}
				if nd, perr := wire.ParseNodeDescription(d); perr == nil {
					n.Desc = nd.String()
				}
			}})
		}
		if n.IsSwitch() {
			qs = append(qs, smpQuery{path: n.Path, method: wire.MethodGet, attr: wire.AttrSwitchInfo, done: func(d []byte, err error) {
				if err != nil {
					problem(err)
					return
				}
				if si, perr := wire.ParseSwitchInfo(d); perr == nil {
					n.Switch = si.Fields()
				}
			}})
			for _, p := range n.Ports {
				qs = append(qs, m.portInfoQuery(n.Path, p, problem))
			}
			continue
		}
		for _, p := range n.Ports[1:] {
			if p.Path != nil && !p.Read {
				qs = append(qs, m.portInfoQuery(p.Path, p, problem))
			}
		}
	}
	m.batch(ctx, qs)
}

func (m *SM) portInfoQuery(path mad.DRPath, p *Port, problem func(error)) smpQuery {
	return smpQuery{path: path, method: wire.MethodGet, attr: wire.AttrPortInfo, mod: uint32(p.Num), done: func(d []byte, err error) {
		if err != nil {
			problem(err)
			return
		}
		pi, perr := wire.ParsePortInfo(d)
		if perr != nil {
			problem(&PathError{Path: path, Method: wire.MethodGet, Attr: wire.AttrPortInfo, Mod: uint32(p.Num), Err: perr})
			return
		}
		p.Info, p.Read = pi.Fields(), true
	}}
}
