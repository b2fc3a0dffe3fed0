package attach

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/fabric"
)

// Errors of the server. Each error returned wraps one of them.
var (
	// ErrNoNode: an attach point (SIM_HOST) or a console argument names no
	// node or port of the fabric.
	ErrNoNode = errors.New("attach: no such node")
	// ErrClosed: the server has been closed.
	ErrClosed = errors.New("attach: server closed")
	// ErrUnsupported: the platform cannot open the requested sockets
	// (abstract unix sockets exist on Linux only).
	ErrUnsupported = errors.New("attach: not supported on this platform")
	// ErrCommand: a console command is malformed or cannot be carried out.
	ErrCommand = errors.New("attach: bad command")
	// ErrRefused: a control request was refused (an SM already attached to
	// the node, an unknown client).
	ErrRefused = errors.New("attach: request refused")
)

// Config configures a Server.
type Config struct {
	// Topology is the fabric to emulate.
	Topology *topology.Topology
	// SockName is the base name of the abstract unix sockets in local mode
	// (default: $IBSIM_SOCKNAME, else "sim").
	SockName string
	// Listen, when not empty, selects remote mode: UDP on "ADDR:PORT",
	// ":PORT" or "PORT" (the last two bind 127.0.0.1). Slot i is served
	// on PORT+1+i.
	Listen string
	// Logger receives the server's and the engine's log (default: discard).
	Logger *slog.Logger
	// FabricOptions are passed to stack/fabric.Build (device models).
	FabricOptions []fabric.Option
	// EmuOptions are passed to the engine, after emu.WithWallClock and
	// the logger.
	EmuOptions []emu.Option
	// Output is where console commands run from the topology's do lines
	// print (default: discard).
	Output io.Writer
	// MADTimeout and MADRetries are the response timeout and the number
	// of retransmissions the server applies to client requests, as the
	// Linux MAD layer applies a umad send's timeout_ms and retries
	// (libumad2sim does not pass them on). Defaults: 200ms (OpenSM's
	// transaction_timeout) and 3 (its transaction_retries); a negative MADRetries means none.
	// One sweep per quarter MADTimeout checks every open request, so a
	// request goes again between one and 1.25 MADTimeouts after it was
	// last sent.
	MADTimeout time.Duration
	MADRetries int
	// LogLevel, when set, is the level of Logger's handler; the console's
	// Verbose command changes it.
	LogLevel *slog.LevelVar
	// PollReads makes every client's reader wait for datagrams in the
	// runtime's network poller, as on platforms without blocking batched
	// reads. By default, on Linux with GOMAXPROCS 2 or more, the reader of
	// one client at a time (the first to attach, while it stays) sleeps in
	// its socket instead, which costs less CPU per datagram.
	PollReads bool
	// OnQuit is called when a console Quit command runs (default: nothing;
	// the command only reports it).
	OnQuit func()
}

// Server is an ibsim-compatible attach server: it emulates Config.Topology
// on the wall clock and lets processes run with libumad2sim.so attach to
// its nodes. Create it with New, start it with Start, stop it with Close.
type Server struct {
	cfg   Config
	log   *slog.Logger
	fab   *emu.Fabric
	nodes []*node
	byID  map[string]*node
	netw  network

	// points holds the attach points in use, by attach port. Loop-owned.
	points map[*emu.Port]*attachPoint
	// txs tracks the clients' open requests. Loop-owned.
	txs txTable
	// frames are recycled frame buffers (see recycleFrame). Loop-owned.
	frames [][]byte

	mu sync.Mutex
	// +checklocks:mu
	clients []*client // index = slot; nil = free
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	ctl net.PacketConn

	wg      sync.WaitGroup
	done    chan struct{}
	verbose atomic.Int32
	// blockingReader is set while a client's reader sleeps in its socket
	// (takeBlockingReader).
	blockingReader atomic.Bool
	started        time.Time

	stats Stats
}

// Stats counts the server's traffic. Every field is safe to read from any
// goroutine.
type Stats struct {
	// FromClients and ToClients count data datagrams received from and
	// sent to clients.
	FromClients, ToClients atomic.Uint64
	// Bounced counts client MADs returned with status 110 (undeliverable,
	// or no response after every retransmission).
	Bounced atomic.Uint64
	// Retried counts retransmissions of client requests; TimedOut the
	// requests that got no response after all of them.
	Retried, TimedOut atomic.Uint64
	// Malformed counts datagrams and control messages dropped as malformed.
	Malformed atomic.Uint64
	// MaxOutstanding is the largest number of requests one client had
	// waiting for a response at once, as the server saw them: those it
	// had taken into the fabric unanswered plus those of the read being
	// taken in. MaxBatch is the most datagrams one read took from a
	// client: a client that keeps many requests in flight shows there
	// even when the server answers each batch before the next read.
	MaxOutstanding atomic.Int64
	MaxBatch       atomic.Int64
	// Connects and Drops count clients attached and clients dropped (gone
	// away without DISCONNECT, or forced out with X).
	Connects, Drops atomic.Uint64
	// Reads and Writes count the data sockets' reads and writes that moved
	// datagrams (each takes or writes a batch of them); Wakeups counts the
	// times a client's reader found nothing to read.
	Reads, Writes, Wakeups atomic.Uint64
}

// New builds the fabric of cfg.Topology and prepares the server. It opens
// no sockets and starts nothing.
func New(cfg Config) (*Server, error) {
	if cfg.Topology == nil {
		return nil, errors.New("attach: new server: no topology")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	if cfg.MADTimeout <= 0 {
		cfg.MADTimeout = 200 * time.Millisecond
	}
	if cfg.MADRetries < 0 {
		cfg.MADRetries = 0
	} else if cfg.MADRetries == 0 {
		cfg.MADRetries = 3
	}
	if cfg.SockName == "" {
		cfg.SockName = os.Getenv("IBSIM_SOCKNAME")
	}
	if cfg.SockName == "" {
		cfg.SockName = DefaultSockName
	}
	var netw network
	if cfg.Listen != "" {
		u, err := newUDPNetwork(cfg.Listen)
		if err != nil {
			return nil, err
		}
		netw = u
	} else {
		u, err := newLocalNetwork(cfg.SockName)
		if err != nil {
			return nil, err
		}
		netw = u
	}
	// The devices and the server's node wrappers take frames unsealed (the
	// engine's CRC offload): CRCs are computed only where someone looks
	// (a capture, fault injection), and a corrupted frame still fails its
	// VCRC at the receiving port.
	eopts := append([]emu.Option{emu.WithWallClock(), emu.WithLogger(cfg.Logger), emu.WithCRCCheck(false)},
		cfg.EmuOptions...)
	fab, nodes, byID, err := buildFabric(cfg.Topology, cfg.FabricOptions, eopts)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, fab: fab, nodes: nodes, byID: byID, netw: netw,
		points: map[*emu.Port]*attachPoint{}, done: make(chan struct{})}
	s.txs.init(s)
	return s, nil
}

// Fabric is the emulated fabric.
func (s *Server) Fabric() *emu.Fabric { return s.fab }

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// Addr describes where clients attach: "@NAME:ctl" in local mode, the UDP
// address of the control socket in remote mode.
func (s *Server) Addr() string { return s.netw.describe() }

// Done is closed when the server has been closed.
func (s *Server) Done() <-chan struct{} { return s.done }

// Start starts the fabric, runs the topology's do commands (writing to
// Config.Output) and opens the control socket. It returns once clients
// can attach.
func (s *Server) Start(ctx context.Context) error {
	if err := s.fab.Start(ctx); err != nil {
		return fmt.Errorf("attach: start: %w", err)
	}
	s.started = s.fab.Now()
	for _, c := range s.cfg.Topology.Commands {
		if err := s.Exec(c.Text, s.cfg.Output); err != nil {
			fmt.Fprintf(s.cfg.Output, "# %s:%d: %v\n", c.File, c.Line, err)
		}
	}
	ctl, err := s.netw.listenCtl()
	if err != nil {
		s.fab.Stop()
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ctl.Close()
		s.fab.Stop()
		return ErrClosed
	}
	s.ctl = ctl
	s.mu.Unlock()
	s.log.Info("attach: listening", "addr", s.netw.describe(), "nodes", len(s.nodes))
	s.wg.Add(2)
	go s.ctlLoop(ctl)
	go s.janitor()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return nil
}

// Close disconnects every client, closes the sockets and stops the
// fabric. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ctl := s.ctl
	clients := slices.Clone(s.clients)
	s.mu.Unlock()
	close(s.done)
	if ctl != nil {
		_ = ctl.Close()
	}
	for _, c := range clients {
		if c != nil {
			s.dropClient(c, "server closing")
		}
	}
	s.wg.Wait()
	s.fab.Stop()
	return nil
}

// janitor drops clients whose process has gone away without DISCONNECT
// (killed, crashed), where the network can tell (local mode: the pid no
// longer exists). Remote clients are dropped when a write to them fails.
func (s *Server) janitor() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		clients := slices.Clone(s.clients)
		s.mu.Unlock()
		if !slices.ContainsFunc(clients, func(c *client) bool { return c != nil }) {
			continue
		}
		alive := s.netw.liveness()
		for _, c := range clients {
			if c != nil && !c.closed.Load() && !alive(c.id) {
				s.log.Warn("attach: client vanished", "slot", c.slot, "id", c.id, "node", c.point.n.topo.ID)
				s.dropClient(c, "process gone")
			}
		}
	}
}

// ctlLoop serves the control socket until it is closed.
func (s *Server) ctlLoop(ctl net.PacketConn) {
	defer s.wg.Done()
	buf := make([]byte, 512)
	for {
		n, from, err := ctl.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("attach: control socket read", "err", err)
			select {
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		req, err := ParseCtl(buf[:n])
		if err != nil {
			s.stats.Malformed.Add(1)
			s.log.Warn("attach: control message dropped", "from", from.String(), "err", err)
			continue
		}
		reply := s.handleCtl(req, from)
		if _, err := ctl.WriteTo(reply, s.netw.replyAddr(from)); err != nil {
			s.log.Warn("attach: control reply", "to", from.String(), "type", req.Type(), "err", err)
		}
	}
}

// handleCtl answers one control request: the reply is a copy of the
// request with the payload filled in, or with type ERROR.
func (s *Server) handleCtl(req Ctl, from net.Addr) Ctl {
	reply := Ctl(slices.Clone(req))
	if err := s.ctlRequest(reply, from); err != nil {
		s.log.Warn("attach: control request refused", "from", from.String(), "type", req.Type(),
			"client", req.ClientID(), "err", err)
		reply.SetType(CtlError)
	}
	return reply
}

func (s *Server) ctlRequest(c Ctl, from net.Addr) error {
	if c.Type() == CtlConnect {
		return s.connect(c, from)
	}
	cl := s.client(int(c.ClientID()))
	if cl == nil {
		return fmt.Errorf("attach: %s from %s: no client in slot %d: %w", c.Type(), from, c.ClientID(), ErrRefused)
	}
	if cl.from != from.String() {
		return fmt.Errorf("attach: %s for slot %d from %s, which did not attach it: %w", c.Type(), cl.slot, from, ErrRefused)
	}
	data := c.Data()
	switch c.Type() {
	case CtlDisconnect:
		s.log.Info("attach: client disconnected", "slot", cl.slot, "id", cl.id)
		s.removeClient(cl)
		return nil
	case CtlSetISSM:
		on := hostOrder.Uint32(data) != 0
		return s.fab.Do(func() { cl.point.setISSM(cl, on) })
	case CtlGetVendor, CtlGetNodeInfo, CtlGetPortInfo, CtlGetPKeys, CtlGetPort, CtlGetGID, CtlGetGUID:
		var err error
		if derr := s.fab.Do(func() { err = cl.point.ctlQuery(c.Type(), data) }); derr != nil {
			return derr
		}
		return err
	default:
		s.stats.Malformed.Add(1)
		return fmt.Errorf("attach: unknown control type %d: %w", uint32(c.Type()), ErrRefused)
	}
}

// connect attaches a new client: it resolves the attach point, takes the
// lowest free slot, connects the slot's data socket to the client's and
// fills in the reply.
func (s *Server) connect(c Ctl, from net.Addr) error {
	ci, err := DecodeClientInfo(c.Data())
	if err != nil {
		return err
	}
	n, port, err := s.resolve(ci.NodeID)
	if err != nil {
		return fmt.Errorf("attach: connect from %s (id %d): %w", from, ci.ID, err)
	}
	cl := &client{s: s, id: ci.ID, qp: ci.QP, from: from.String(), out: newOutQueue()}
	var ap *attachPoint
	var refuse error
	if err := s.fab.Do(func() {
		ap = s.point(n, port)
		if ci.ISSM != 0 && ap.smOnNode() != nil {
			refuse = fmt.Errorf("attach: connect from %s: an SM client is already attached to %s: %w", from, n.topo, ErrRefused)
		}
	}); err != nil {
		return err
	}
	if refuse != nil {
		return refuse
	}
	cl.point = ap
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	slot := slices.Index(s.clients, nil)
	if slot < 0 {
		slot = len(s.clients)
		s.clients = append(s.clients, nil)
	}
	cl.slot = slot
	s.clients[slot] = cl // reserve the slot
	s.mu.Unlock()
	conn, err := s.netw.openSlot(slot, from, ci.ID)
	if err != nil {
		s.mu.Lock()
		s.clients[slot] = nil
		s.mu.Unlock()
		return fmt.Errorf("attach: connect from %s: %w", from, err)
	}
	if s.takeBlockingReader() {
		sock, err := takeSocket(conn)
		if err != nil {
			s.blockingReader.Store(false)
			s.mu.Lock()
			s.clients[slot] = nil
			s.mu.Unlock()
			return fmt.Errorf("attach: connect from %s: %w", from, err)
		}
		sock.onClose = func() { s.freeSlot(cl) }
		cl.sock = sock
	} else {
		cl.conn = conn
		if sc, ok := conn.(syscall.Conn); ok {
			if rc, err := sc.SyscallConn(); err == nil {
				cl.raw = rc
			}
		}
	}
	cl.setDirect()
	if err := s.fab.Do(func() {
		ap.add(cl)
		if ci.ISSM != 0 {
			ap.setISSM(cl, true)
		}
	}); err != nil {
		cl.closeSocket()
		return err
	}
	s.stats.Connects.Add(1)
	if cl.sock != nil {
		cl.sock.acquire() // the reader's
		cl.sock.acquire() // the writer's
	}
	s.wg.Add(2)
	go cl.readLoop()
	go cl.writeLoop()
	ci.ID = uint32(slot)
	ci.NodeID = n.topo.ID
	if n.sw == nil && port.Num() != defaultCAPort(n).Num() {
		ci.NodeID = fmt.Sprintf("%s[%d]", n.topo.ID, port.Num())
	}
	ci.Encode(c.Data())
	s.log.Info("attach: client attached", "slot", slot, "id", cl.id, "node", n.topo.ID, "port", ap.port.Num(),
		"issm", ci.ISSM != 0)
	return nil
}

// client returns the client in slot, or nil.
func (s *Server) client(slot int) *client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slot < 0 || slot >= len(s.clients) {
		return nil
	}
	return s.clients[slot]
}

// removeClient detaches cl: its agents and SM role go, its slot is freed
// and its sockets are closed.
func (s *Server) removeClient(cl *client) {
	if !cl.closed.CompareAndSwap(false, true) {
		return
	}
	_ = s.fab.Do(func() { cl.point.remove(cl) })
	if cl.sock == nil {
		// Out of the poller the slot is freed when its socket is closed
		// (freeSlot): its name stays bound until then.
		s.freeSlot(cl)
	}
	cl.out.close()
	cl.closeSocket()
}

// freeSlot frees cl's slot for the next client.
func (s *Server) freeSlot(cl *client) {
	s.mu.Lock()
	if cl.slot < len(s.clients) && s.clients[cl.slot] == cl {
		s.clients[cl.slot] = nil
	}
	s.mu.Unlock()
}

// takeBlockingReader reports whether the client attaching now gets a
// reader that sleeps in its socket (ownSocket) rather than in the network
// poller. One client at a time does, and only with two processors or
// more: a sleeping reader keeps its processor (the runtime takes it back
// only after a while), so everything else (the control socket, the other
// clients, timers) runs on another one. The first client is the one to
// favour: an SM, attached before the diagnostics come and go.
func (s *Server) takeBlockingReader() bool {
	return blockingReads && !s.cfg.PollReads && runtime.GOMAXPROCS(0) >= 2 &&
		s.blockingReader.CompareAndSwap(false, true)
}

// closeSocket closes cl's data socket, or, out of the network poller,
// shuts it down and lets go of it (its reader and writer close it when
// they have let go too), and lets the next client have a blocking reader.
func (cl *client) closeSocket() {
	switch {
	case cl.sock != nil:
		cl.sock.shutdown()
		cl.sock.release()
		cl.s.blockingReader.Store(false)
	case cl.conn != nil:
		_ = cl.conn.Close()
	}
}

// dropClient removes a client that went away or is forced out.
func (s *Server) dropClient(cl *client, why string) {
	if cl.closed.Load() {
		return
	}
	s.stats.Drops.Add(1)
	s.log.Info("attach: client dropped", "slot", cl.slot, "id", cl.id, "why", why)
	s.removeClient(cl)
}

// resolve finds the attach point a client asks for: "" (the first node
// of the topology), a node id, a NodeDescription, or either followed by
// "[port]" for another CA port. Node ids are tried before descriptions.
func (s *Server) resolve(name string) (*node, *emu.Port, error) {
	if name == "" {
		if len(s.nodes) == 0 {
			return nil, nil, fmt.Errorf("attach: the fabric has no nodes: %w", ErrNoNode)
		}
		n := s.nodes[0]
		return n, defaultAttach(n), nil
	}
	base, portNum := name, -1
	if i := strings.LastIndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		if v, err := strconv.Atoi(name[i+1 : len(name)-1]); err == nil {
			base, portNum = name[:i], v
		}
	}
	n := s.findNode(base)
	if n == nil && portNum >= 0 {
		n, base, portNum = s.findNode(name), name, -1
	}
	if n == nil {
		return nil, nil, fmt.Errorf("attach: SIM_HOST %q names no node id or NodeDescription: %w", name, ErrNoNode)
	}
	if portNum < 0 {
		return n, defaultAttach(n), nil
	}
	if n.sw != nil {
		if portNum != 0 {
			return nil, nil, fmt.Errorf("attach: SIM_HOST %q: a switch is attached at port 0 only: %w", name, ErrNoNode)
		}
		return n, n.en.Port(0), nil
	}
	p := n.en.Port(portNum)
	if p == nil || portNum == 0 {
		return nil, nil, fmt.Errorf("attach: SIM_HOST %q: %s has ports 1..%d: %w", name, n.topo, n.en.NumPorts(), ErrNoNode)
	}
	return n, p, nil
}

// findNode returns the node with id name, else the first whose
// NodeDescription is name, else nil.
func (s *Server) findNode(name string) *node {
	if n := s.byID[name]; n != nil {
		return n
	}
	for _, n := range s.nodes {
		if n.topo.Desc == name {
			return n
		}
	}
	return nil
}

// defaultAttach is where a client attached to n without a port lands:
// port 0 of a switch, the default port of a CA.
func defaultAttach(n *node) *emu.Port {
	if n.sw != nil {
		return n.en.Port(0)
	}
	return defaultCAPort(n)
}

// defaultCAPort is the first connected port of a CA, or port 1 when none
// is connected (ibsim always uses port 1, even when only another port has
// a link).
func defaultCAPort(n *node) *emu.Port {
	for _, p := range n.en.Ports()[1:] {
		if n.topo.Ports[p.Num()].Remote != nil {
			return p
		}
	}
	return n.en.Port(1)
}

// point returns the attach point of port p of n, creating it. Call it on
// the event loop.
func (s *Server) point(n *node, p *emu.Port) *attachPoint {
	ap := s.points[p]
	if ap == nil {
		ap = &attachPoint{s: s, n: n, port: p}
		s.points[p] = ap
	}
	return ap
}

// ClientStatus describes one attached client (the console's Attached).
type ClientStatus struct {
	Slot   int
	ID     uint32 // pid, or the UDP data port in remote mode
	QP     uint32 // the QP of its connect request (libumad2sim sends 0)
	Node   string
	Port   int
	GUID   wire.GUID
	LID    wire.LID
	SM     bool
	Sent   uint64 // datagrams received from the client
	Recvd  uint64 // datagrams sent to the client
	Queued int    // datagrams waiting to be written to it
}

// Clients lists the attached clients by slot.
func (s *Server) Clients() []ClientStatus {
	s.mu.Lock()
	cls := slices.Clone(s.clients)
	s.mu.Unlock()
	var out []ClientStatus
	_ = s.fab.Do(func() {
		for _, c := range cls {
			if c == nil || c.closed.Load() {
				continue
			}
			ap := c.point
			pa := ap.n.sma.Port(ap.port.Num())
			guid := pa.Config.GUID
			if ap.n.sw != nil {
				guid = ap.n.sw.GUID()
			}
			out = append(out, ClientStatus{Slot: c.slot, ID: c.id, QP: c.qp, Node: ap.n.topo.ID, Port: ap.port.Num(), GUID: guid,
				LID: pa.LID, SM: ap.sm == c, Sent: c.sent.Load(), Recvd: c.recvd.Load(), Queued: c.out.len()})
		}
	})
	return out
}
