// Package discover walks an InfiniBand fabric from one HCA port with
// directed-route SMPs only, the way ibnetdiscover (libibnetdisc) does, and
// returns what it found as a *topology.Topology: node types, GUIDs,
// descriptions, LIDs, and every link with its active width and speed.
//
// # The walk
//
// Discovery starts with NodeInfo of the local node (the empty directed
// route) and extends routes one hop at a time (IBTA Vol 1 §14.2.2):
//
//   - a node's NodeInfo (IBTA Vol 1 §14.2.5.3) names it by NodeGUID, gives
//     its type and port count and the port the SMP entered by
//     (LocalPortNum), which links that port to the port the route left the
//     previous node by;
//   - a node seen for the first time gets NodeDescription (§14.2.5.2); a
//     new switch gets SwitchInfo (§14.2.5.4), PortInfo of port 0 (its LID)
//     and then PortInfo of every external port (§14.2.5.6);
//   - a CA gets PortInfo of the port it was reached by;
//   - a switch port whose physical state is LinkUp, other than the one the
//     switch was first reached by, and the starting port of the local CA,
//     lead on: NodeInfo is queried one hop further.
//
// Nodes are deduplicated by NodeGUID, so loops, parallel links and a CA
// whose ports hang off different switches come out as one node with
// several links. Routes never pass through a CA. A CA port that no route
// reaches keeps the GUID NodeGUID+n (only NodeInfo read through a port
// gives its GUID), as topology.Parse numbers the ports an ibnetdiscover
// file leaves out; a node whose NodeDescription could not be read is
// described by its id. SMPs go through a bounded
// window of outstanding transactions (Options.Window) with timeouts and
// retries (package mad); a part of the fabric that does not answer is
// recorded in Result.Problems and the walk goes on.
//
// # Layering
//
// discover imports emu/wire, emu/topology and stack/mad; it talks to the
// fabric only through a mad.Transport, so it runs over the in-process
// emulator, the ibsim attach protocol or a real umad device alike.
// Commands, scenarios and the subnet manager's tests import it.
package discover

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// DefaultWindow is the number of SMPs discovery keeps outstanding
// (libibnetdisc keeps 2 by default, which real fabrics answer slowly).
// Measured on the emulated 3-level radix-36 fat tree (13,284 nodes,
// 143,210 SMPs): 32 reaches the floor of virtual time (20.8 ms; 16 gives
// 22.9 ms, 8 gives 42.5 ms) and the best wall time (about 3 s on two
// cores); larger windows only lengthen the event queues.
const DefaultWindow = 32

// DefaultProgressEvery is how many new nodes pass between two Progress
// calls by default.
const DefaultProgressEvery = 1024

// Options configures Discover. Zero fields take the defaults given.
type Options struct {
	// Window bounds the outstanding SMPs (DefaultWindow).
	Window int
	// Timeout and Retries govern each SMP (mad.DefaultTimeout,
	// mad.DefaultRetries; negative Retries: none).
	Timeout time.Duration
	Retries int
	// MaxHops bounds the directed routes (0: the 63 an SMP can carry).
	// Nodes further away are reported as problems.
	MaxHops int
	// MKey is put in every SMP.
	MKey uint64
	// Progress, when set, is called every ProgressEvery new nodes and once
	// at the end, on the transport's delivery goroutine (keep it short).
	Progress func(Progress)
	// ProgressEvery is the node count between Progress calls
	// (DefaultProgressEvery).
	ProgressEvery int
}

// Progress is a snapshot of a running discovery.
type Progress struct {
	// Switches, CAs and Routers found so far.
	Switches, CAs, Routers int
	// SMPs sent so far, retransmissions included.
	SMPs uint64
	// Outstanding is the number of SMPs in flight or queued.
	Outstanding int
	// Problems recorded so far.
	Problems int
	// MaxHops is the longest directed route used so far.
	MaxHops int
	// Done is set on the final call.
	Done bool
}

// Result is what Discover found.
type Result struct {
	// Topology is the fabric: nodes in the order they were found (the
	// local node first), ids in ibnetdiscover's "S-"/"H-"/"R-" form,
	// descriptions from NodeDescription, and every link seen with the
	// active width and speed of its ports. What no SMP can tell is filled
	// in so that the topology validates: see the package documentation.
	Topology *topology.Topology
	// Local is the port discovery started from.
	Local *topology.Port
	// Paths gives, by node GUID, the directed route each node was first
	// reached by (what a subnet manager addresses it with before LIDs).
	Paths map[wire.GUID]mad.DRPath
	// Problems lists the parts of the fabric that could not be read, each
	// a *PathError. Discovery carries on past them.
	Problems []error
	// SMPs is the number of SMPs sent, retransmissions included.
	SMPs uint64
	// MaxHops is the longest directed route used.
	MaxHops int
	// Duration is the time the walk took on the transport's clock (virtual
	// time for the in-process emulator).
	Duration time.Duration
}

// PathError is one query that failed: the attribute, its modifier and the
// directed route it was sent along.
type PathError struct {
	// Path is the directed route the SMP took.
	Path mad.DRPath
	// Attr and Mod are the attribute queried and its modifier.
	Attr wire.AttrID
	Mod  uint32
	// Err is why it failed: mad.ErrTimeout, a *wire.MADStatusError,
	// ErrHopLimit, ErrInconsistent, ...
	Err error
}

// Error implements error.
func (e *PathError) Error() string {
	return fmt.Sprintf("discover: %s(%d) via %s: %v", wire.AttrName(wire.MgmtClassSubnDirected, e.Attr), e.Mod, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *PathError) Unwrap() error { return e.Err }

// Errors of Discover.
var (
	// ErrNoLocalNode: the local node did not answer NodeInfo, so there is
	// nothing to walk from.
	ErrNoLocalNode = errors.New("discover: local node did not answer")
	// ErrHopLimit: a node lies beyond Options.MaxHops (a *PathError wraps
	// it).
	ErrHopLimit = errors.New("discover: beyond the hop limit")
	// ErrInconsistent: answers contradict each other (a GUID reporting a
	// different type or port count, a port linked twice, a port number out
	// of range).
	ErrInconsistent = errors.New("discover: inconsistent answers")
)

// Discover walks the fabric reachable from the port of t and returns it.
// It opens its own directed-route SMP agent on t and closes it when done.
// The error is non-nil only when nothing could be discovered (the local
// node did not answer, the agent could not be opened) or ctx ended; parts
// that could not be read are in Result.Problems.
//
// Equivalent to: `ibnetdiscover` on the port.
func Discover(ctx context.Context, t mad.Transport, opts Options) (*Result, error) {
	window := opts.Window
	if window <= 0 {
		window = DefaultWindow
	}
	a, err := mad.NewAgent(t, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: wire.SMPClassVersion},
		mad.Options{Timeout: opts.Timeout, Retries: opts.Retries, Window: window, MKey: opts.MKey})
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	defer a.Close()
	return run(ctx, a, opts)
}

// walker holds the state of one discovery.
type walker struct {
	a    *mad.Agent
	opts Options

	mu sync.Mutex
	// +checklocks:mu
	topo *topology.Topology
	// +checklocks:mu
	nodes map[wire.GUID]*dnode
	// +checklocks:mu
	local *dnode
	// +checklocks:mu
	localPort int
	// +checklocks:mu
	outstanding int
	// +checklocks:mu
	problems []error
	// +checklocks:mu
	maxHops int
	// +checklocks:mu
	counts [4]int // by wire.NodeType
	// +checklocks:mu
	nextProgress int
	done         chan struct{}
}

// dnode is a discovered node and the route it was first reached by.
type dnode struct {
	n    *topology.Node
	path mad.DRPath
}

// from is the port a directed route left its last-but-one node by.
type from struct {
	d    *dnode
	port int
}

// query is one SMP to send and what to do with its answer.
type query struct {
	path   mad.DRPath
	attr   wire.AttrID
	mod    uint32
	handle func(data []byte) []query
}

func run(ctx context.Context, a *mad.Agent, opts Options) (*Result, error) {
	if opts.MaxHops <= 0 || opts.MaxHops > mad.MaxDRHops {
		opts.MaxHops = mad.MaxDRHops
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = DefaultProgressEvery
	}
	w := &walker{a: a, opts: opts, topo: &topology.Topology{}, nodes: map[wire.GUID]*dnode{},
		done: make(chan struct{}), nextProgress: opts.ProgressEvery}
	start := a.Clock().Now()
	w.mu.Lock()
	first := w.nodeInfo(mad.DRPath{}, nil)
	w.outstanding++
	w.mu.Unlock()
	w.issue(first)
	select {
	case <-w.done:
	case <-ctx.Done():
		a.Close() // fails what is outstanding; the walk then ends
		<-w.done
		return nil, fmt.Errorf("discover: %w", ctx.Err())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.local == nil {
		var cause error = ErrNoLocalNode
		if len(w.problems) > 0 {
			cause = fmt.Errorf("%w: %w", ErrNoLocalNode, w.problems[0])
		}
		return nil, cause
	}
	w.fillUnknownLocked()
	w.checkPortGUIDsLocked()
	w.topo.Reindex()
	st := a.Stats()
	res := &Result{Topology: w.topo, Local: w.local.n.Ports[w.localPort], Problems: w.problems,
		SMPs: st.Sent, MaxHops: w.maxHops, Duration: a.Clock().Now().Sub(start),
		Paths: make(map[wire.GUID]mad.DRPath, len(w.nodes))}
	for g, d := range w.nodes {
		res.Paths[g] = d.path
	}
	if opts.Progress != nil {
		opts.Progress(w.progressLocked(true))
	}
	return res, nil
}

// fillUnknownLocked gives what no SMP can tell a value that keeps the
// topology valid and writable: a node whose NodeDescription failed is
// described by its id, and a CA or router port never reached (its GUID is
// only in NodeInfo read through that port) takes NodeGUID+num, the GUID
// topology.Parse gives a port an ibnetdiscover file does not list.
//
// +checklocks:w.mu
func (w *walker) fillUnknownLocked() {
	used := make(map[wire.GUID]bool)
	for _, n := range w.topo.Nodes {
		used[n.NodeGUID] = true
		for _, p := range n.Ports {
			if p != nil {
				used[p.GUID] = true
			}
		}
	}
	for _, n := range w.topo.Nodes {
		if n.Desc == "" {
			n.Desc = n.ID
		}
		if n.IsSwitch() {
			continue
		}
		for _, p := range n.Ports {
			if p != nil && p.GUID == 0 && !used[n.NodeGUID+wire.GUID(p.Num)] {
				p.GUID = n.NodeGUID + wire.GUID(p.Num)
				used[p.GUID] = true
			}
		}
	}
}

// checkPortGUIDsLocked reports port GUIDs that two ports of different
// nodes answered with (libibnetdisc keys ports by GUID; a duplicate is a
// misconfigured fabric).
//
// +checklocks:w.mu
func (w *walker) checkPortGUIDsLocked() {
	seen := make(map[wire.GUID]*topology.Port)
	for _, n := range w.topo.Nodes {
		for _, p := range n.Ports {
			if p == nil || p.GUID == 0 || (n.IsSwitch() && p.Num != 0) {
				continue
			}
			if q := seen[p.GUID]; q != nil && q.Node != n {
				w.problems = append(w.problems, &PathError{Path: w.nodes[n.NodeGUID].path, Attr: wire.AttrNodeInfo,
					Err: fmt.Errorf("port guid %s of %s also belongs to %s: %w", p.GUID, p, q, ErrInconsistent)})
				continue
			}
			seen[p.GUID] = p
		}
	}
}

// issue sends q. The caller has counted it in w.outstanding.
func (w *walker) issue(q query) {
	req, err := w.a.SMPRequest(q.path, wire.MethodGet, q.attr, q.mod, nil)
	if err == nil {
		err = w.a.Go(req, func(r mad.Result) { w.complete(q, r) })
	}
	if err != nil {
		w.complete(q, mad.Result{Err: err})
	}
}

// complete handles the answer to q and sends the queries it leads to.
func (w *walker) complete(q query, r mad.Result) {
	var next []query
	w.mu.Lock()
	if r.Err == nil {
		data, err := mad.SMPData(r.MAD)
		if err == nil {
			next = q.handle(data)
		} else {
			w.problemLocked(q, err)
		}
	} else {
		w.problemLocked(q, r.Err)
	}
	w.outstanding += len(next) - 1
	last := w.outstanding == 0
	w.mu.Unlock()
	for _, n := range next {
		w.issue(n)
	}
	if last {
		close(w.done)
	}
}

// +checklocks:w.mu
func (w *walker) problemLocked(q query, err error) {
	w.problems = append(w.problems, &PathError{Path: q.path, Attr: q.attr, Mod: q.mod, Err: err})
}

// +checklocks:w.mu
func (w *walker) progressLocked(done bool) Progress {
	st := w.a.Stats()
	return Progress{Switches: w.counts[wire.NodeTypeSwitch], CAs: w.counts[wire.NodeTypeCA], Routers: w.counts[wire.NodeTypeRouter],
		SMPs: st.Sent, Outstanding: w.outstanding, Problems: len(w.problems), MaxHops: w.maxHops, Done: done}
}

// nodeInfo is the query for the node at path, reached from f (nil for the
// local node).
//
// +checklocks:w.mu
func (w *walker) nodeInfo(path mad.DRPath, f *from) query {
	q := query{path: path, attr: wire.AttrNodeInfo}
	q.handle = func(data []byte) []query { return w.gotNodeInfo(q, f, data) }
	return q
}

// +checklocks:w.mu
func (w *walker) gotNodeInfo(q query, f *from, data []byte) []query {
	ni, err := wire.ParseNodeInfo(data)
	if err != nil {
		w.problemLocked(q, err)
		return nil
	}
	typ, nports, lp := ni.NodeType(), int(ni.NumPorts()), int(ni.LocalPortNum())
	if typ != wire.NodeTypeCA && typ != wire.NodeTypeSwitch && typ != wire.NodeTypeRouter {
		w.problemLocked(q, fmt.Errorf("node type %d: %w", uint8(typ), ErrInconsistent))
		return nil
	}
	if nports < 1 || nports > topology.MaxPorts {
		w.problemLocked(q, fmt.Errorf("%d ports: %w", nports, ErrInconsistent))
		return nil
	}
	if lp > nports || (lp == 0 && typ != wire.NodeTypeSwitch) {
		w.problemLocked(q, fmt.Errorf("local port %d of %d: %w", lp, nports, ErrInconsistent))
		return nil
	}
	guid := ni.NodeGUID()
	d := w.nodes[guid]
	isNew := d == nil
	if isNew {
		d = w.newNode(ni, q.path)
	} else if d.n.Type != typ || d.n.NumPorts != nports {
		w.problemLocked(q, fmt.Errorf("node guid %s answers as %s with %d ports, earlier as %s with %d: %w",
			guid, typ, nports, d.n.Type, d.n.NumPorts, ErrInconsistent))
		return nil
	}
	port := d.n.Ports[lp]
	if typ != wire.NodeTypeSwitch {
		port.GUID = ni.PortGUID()
	}
	if f == nil {
		if w.local == nil {
			w.local, w.localPort = d, lp
		}
	} else {
		w.link(q, f.d.n.Ports[f.port], port)
	}
	var next []query
	if isNew {
		next = append(next, w.nodeDesc(d))
		if typ == wire.NodeTypeSwitch {
			next = append(next, w.switchInfo(d), w.portInfo(d, q.path, 0))
		}
	}
	if typ != wire.NodeTypeSwitch {
		next = append(next, w.portInfo(d, q.path, lp))
	}
	if len(q.path) > w.maxHops {
		w.maxHops = len(q.path)
	}
	if w.opts.Progress != nil && len(w.topo.Nodes) >= w.nextProgress {
		w.nextProgress += w.opts.ProgressEvery
		w.opts.Progress(w.progressLocked(false))
	}
	return next
}

// newNode adds the node ni describes, first reached along path.
//
// +checklocks:w.mu
func (w *walker) newNode(ni wire.NodeInfo, path mad.DRPath) *dnode {
	typ, nports := ni.NodeType(), int(ni.NumPorts())
	n := &topology.Node{Type: typ, ID: topology.GUIDID(typ, ni.NodeGUID()), NumPorts: nports,
		NodeGUID: ni.NodeGUID(), SysImageGUID: ni.SystemImageGUID(), VendorID: ni.VendorID(),
		DeviceID: ni.DeviceID(), Ports: make([]*topology.Port, nports+1)}
	for i := range n.Ports {
		if i == 0 && typ != wire.NodeTypeSwitch {
			continue
		}
		p := &topology.Port{Node: n, Num: i}
		if typ == wire.NodeTypeSwitch {
			// Every port of a switch answers with the port 0 GUID (IBTA
			// Vol 1 §14.2.5.3).
			p.GUID = ni.PortGUID()
		}
		n.Ports[i] = p
	}
	d := &dnode{n: n, path: path}
	w.nodes[ni.NodeGUID()] = d
	w.topo.Nodes = append(w.topo.Nodes, n)
	w.counts[typ]++
	return d
}

// link joins a and b. Answers that contradict an earlier link are
// reported; the newer answer wins, as in libibnetdisc.
//
// +checklocks:w.mu
func (w *walker) link(q query, a, b *topology.Port) {
	if a.Remote == b && b.Remote == a {
		return
	}
	if a == b || (a.Remote != nil && a.Remote != b) || (b.Remote != nil && b.Remote != a) {
		w.problemLocked(q, fmt.Errorf("port %s linked to %s, now seen linked to %s: %w", a, a.Remote, b, ErrInconsistent))
		if a == b {
			return
		}
	}
	if a.Remote != nil {
		a.Remote.Remote = nil
	}
	if b.Remote != nil {
		b.Remote.Remote = nil
	}
	a.Remote, b.Remote = b, a
}

// +checklocks:w.mu
func (w *walker) nodeDesc(d *dnode) query {
	q := query{path: d.path, attr: wire.AttrNodeDescription}
	q.handle = func(data []byte) []query {
		nd, err := wire.ParseNodeDescription(data)
		if err != nil {
			w.problemLocked(q, err)
			return nil
		}
		d.n.Desc = nd.String()
		return nil
	}
	return q
}

// +checklocks:w.mu
func (w *walker) switchInfo(d *dnode) query {
	q := query{path: d.path, attr: wire.AttrSwitchInfo}
	q.handle = func(data []byte) []query {
		si, err := wire.ParseSwitchInfo(data)
		if err != nil {
			w.problemLocked(q, err)
			return nil
		}
		d.n.EnhancedPort0 = si.EnhancedPort0()
		return nil
	}
	return q
}

// portInfo is the query for PortInfo of port num of d along path.
//
// +checklocks:w.mu
func (w *walker) portInfo(d *dnode, path mad.DRPath, num int) query {
	q := query{path: path, attr: wire.AttrPortInfo, mod: uint32(num)}
	q.handle = func(data []byte) []query { return w.gotPortInfo(q, d, num, data) }
	return q
}

// +checklocks:w.mu
func (w *walker) gotPortInfo(q query, d *dnode, num int, data []byte) []query {
	pi, err := wire.ParsePortInfo(data)
	if err != nil {
		w.problemLocked(q, err)
		return nil
	}
	n := d.n
	if num == 0 {
		// Switch port 0: the switch's LID; then every external port.
		n.LID, n.LMC = pi.LID(), pi.LMC()
		next := make([]query, 0, n.NumPorts)
		for i := 1; i <= n.NumPorts; i++ {
			next = append(next, w.portInfo(d, q.path, i))
		}
		return next
	}
	p := n.Ports[num]
	if !n.IsSwitch() {
		p.LID, p.LMC = pi.LID(), pi.LMC()
	}
	p.WidthEnabled = uint8(pi.LinkWidthEnabled())
	p.SpeedEnabled = pi.LinkSpeedEnabled()
	if ext := pi.LinkSpeedExtEnabled(); ext < 30 { // 30 and 31 are Set-only codes
		p.SpeedEnabled |= wire.LinkSpeed(ext) << 8
	}
	up := pi.PortPhysicalState() == wire.PhysStateLinkUp
	if up {
		p.Width, p.Speed = pi.LinkWidthActive(), pi.ActiveSpeed()
	}
	leadsOn := (n.IsSwitch() && num != int(pi.LocalPortNum())) || (d == w.local && num == w.localPort && len(q.path) == 0)
	if !up || !leadsOn {
		return nil
	}
	if len(q.path) >= w.opts.MaxHops {
		w.problemLocked(query{path: q.path.Extend(uint8(num)), attr: wire.AttrNodeInfo},
			fmt.Errorf("%d hops: %w", len(q.path)+1, ErrHopLimit))
		return nil
	}
	return []query{w.nodeInfo(q.path.Extend(uint8(num)), &from{d: d, port: num})}
}
