package attach

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// ErrUndeliverable is the error a Client reports (as mad.Incoming.Err)
// for a MAD the server returned with status 110: the fabric could not
// deliver it, or no response came.
var ErrUndeliverable = errors.New("attach: mad undeliverable (status 110)")

// DialConfig says where and how a Client attaches. Dial fills the zero
// fields from the environment, as libumad2sim does.
type DialConfig struct {
	// SockName is the base name of the server's abstract sockets
	// ($IBSIM_SOCKNAME, else "sim"). Local mode only.
	SockName string
	// Host is the attach point: a node id or NodeDescription, optionally
	// followed by [port] ($SIM_HOST; empty: the server's default).
	Host string
	// ServerName, when set, selects remote mode: the server's host name or
	// IPv4 address ($IBSIM_SERVER_NAME).
	ServerName string
	// ServerPort is the server's UDP control port in remote mode
	// ($IBSIM_SERVER_PORT, else 7070).
	ServerPort int
	// ISSM attaches as a subnet manager from the start ($SIM_SET_ISSM set).
	// Registering an agent that serves requests also raises IsSM.
	ISSM bool
	// CtlTimeout bounds each control request (default 5s).
	CtlTimeout time.Duration
}

// EnvDialConfig returns the configuration libumad2sim would use: from
// IBSIM_SOCKNAME, SIM_HOST, IBSIM_SERVER_NAME, IBSIM_SERVER_PORT and
// SIM_SET_ISSM.
func EnvDialConfig() DialConfig {
	c := DialConfig{SockName: os.Getenv("IBSIM_SOCKNAME"), Host: os.Getenv("SIM_HOST"),
		ServerName: os.Getenv("IBSIM_SERVER_NAME")}
	if p, err := strconv.Atoi(os.Getenv("IBSIM_SERVER_PORT")); err == nil {
		c.ServerPort = p
	}
	_, c.ISSM = os.LookupEnv("SIM_SET_ISSM")
	return c
}

// Client is the attach protocol's client side: one port of an emulated
// (or ibsim-simulated) node, as libumad2sim gives it to a process. It
// implements mad.Transport, so the host stack (our SM, diagnostics) runs
// against ibemu serve or the real ibsim. MADs are at most 256 bytes: the
// protocol has no RMPP, so the client does not offload it (the agents
// segment themselves).
type Client struct {
	cfg  DialConfig
	ctl  net.Conn
	data net.PacketConn
	out  net.Addr // the server's socket of our slot

	slot     uint32
	node     string
	nodeInfo wire.NodeInfo
	portInfo wire.PortInfo
	pkeys    []byte
	vendor   VendorInfo

	ctlMu sync.Mutex

	mu sync.Mutex
	// +checklocks:mu
	eps map[uint16]*clientEP
	// +checklocks:mu
	serving map[clientServeKey]*clientEP
	// +checklocks:mu
	nextAgent uint16
	// +checklocks:mu
	smAgents int
	// +checklocks:mu
	closed bool

	q      *funcQueue
	done   chan struct{}
	readWG sync.WaitGroup
}

var _ mad.Transport = (*Client)(nil)

type clientServeKey struct {
	class   wire.MgmtClass
	version uint8
	method  wire.Method
}

var dialSeq atomic.Uint32

// Dial attaches to an ibsim-compatible server (ibemu serve, or ibsim
// itself) with cfg (nil: EnvDialConfig()), retrying while the server is
// not there yet until ctx is done, and reads the attach port's NodeInfo,
// PortInfo and P_Keys.
func Dial(ctx context.Context, cfg *DialConfig) (*Client, error) {
	c := &Client{eps: map[uint16]*clientEP{}, serving: map[clientServeKey]*clientEP{}, q: newFuncQueue(),
		done: make(chan struct{})}
	if cfg == nil {
		c.cfg = EnvDialConfig()
	} else {
		c.cfg = *cfg
	}
	if c.cfg.SockName == "" {
		c.cfg.SockName = DefaultSockName
	}
	if c.cfg.ServerPort == 0 {
		c.cfg.ServerPort = DefaultPort
	}
	if c.cfg.CtlTimeout <= 0 {
		c.cfg.CtlTimeout = 5 * time.Second
	}
	var id uint32
	var outAddr func(slot uint32) net.Addr
	var err error
	if c.cfg.ServerName != "" {
		id, outAddr, err = c.dialUDP(ctx)
	} else {
		// The first client of a process is named by the pid, as
		// libumad2sim's; further ones by the pid above the largest pid
		// Linux gives out, so names never collide.
		id = uint32(os.Getpid()) + (dialSeq.Add(1)-1)<<22
		c.ctl, c.data, outAddr, err = dialLocal(ctx, c.cfg.SockName, id)
	}
	if err != nil {
		return nil, err
	}
	ci := ClientInfo{ID: id, NodeID: c.cfg.Host}
	if c.cfg.ISSM {
		ci.ISSM = 1
	}
	data := make([]byte, CtlDataSize)
	ci.Encode(data)
	if data, err = c.ctlCall(CtlConnect, data, ClientInfoSize); err != nil {
		c.closeSockets()
		return nil, fmt.Errorf("attach: dial: connect: %w", err)
	}
	reply, _ := DecodeClientInfo(data)
	c.slot, c.node = reply.ID, reply.NodeID
	c.out = outAddr(c.slot)
	if err := c.refresh(); err != nil {
		_, _ = c.ctlCall(CtlDisconnect, nil, 0)
		c.closeSockets()
		return nil, fmt.Errorf("attach: dial: %w", err)
	}
	if c.cfg.ISSM {
		if _, err := c.ctlCall(CtlSetISSM, hostInt(1), 4); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("attach: dial: set issm: %w", err)
		}
	}
	c.readWG.Add(1)
	go c.readLoop()
	go c.q.run(c.done)
	return c, nil
}

func hostInt(v uint32) []byte {
	b := make([]byte, 4)
	hostOrder.PutUint32(b, v)
	return b
}

// dialUDP opens the remote-mode sockets: both on ephemeral ports, the
// CONNECT id being the data socket's port.
func (c *Client) dialUDP(ctx context.Context) (uint32, func(uint32) net.Addr, error) {
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip4", c.cfg.ServerName)
	if err != nil || len(ips) == 0 {
		return 0, nil, fmt.Errorf("attach: dial: server %q: %w", c.cfg.ServerName, err)
	}
	srv := ips[0]
	ctl, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: srv, Port: c.cfg.ServerPort})
	if err != nil {
		return 0, nil, fmt.Errorf("attach: dial: %w", err)
	}
	data, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		_ = ctl.Close()
		return 0, nil, fmt.Errorf("attach: dial: %w", err)
	}
	_ = data.SetReadBuffer(4 << 20)
	c.ctl, c.data = ctl, data
	port := c.cfg.ServerPort
	return uint32(data.LocalAddr().(*net.UDPAddr).Port), func(slot uint32) net.Addr {
		return &net.UDPAddr{IP: srv, Port: port + 1 + int(slot)}
	}, nil
}

// ctlCall sends one control request and returns the reply's payload.
func (c *Client) ctlCall(typ CtlType, data []byte, n uint32) ([]byte, error) {
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	req := NewCtl(typ, c.slot)
	req.SetLen(n)
	copy(req.Data(), data)
	if err := c.ctl.SetDeadline(time.Now().Add(c.cfg.CtlTimeout)); err != nil {
		return nil, err
	}
	if _, err := c.ctl.Write(req); err != nil {
		return nil, fmt.Errorf("attach: %s: %w", typ, err)
	}
	buf := make([]byte, 2*CtlSize)
	for {
		k, err := c.ctl.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("attach: %s: %w", typ, err)
		}
		rep, err := ParseCtl(buf[:k])
		if err != nil {
			continue // not a reply; keep waiting
		}
		if rep.Type() == CtlError {
			return nil, fmt.Errorf("attach: %s refused by the server: %w", typ, ErrRefused)
		}
		if rep.Type() != typ {
			continue
		}
		return slices.Clone(rep.Data()), nil
	}
}

// refresh reads the attach port's vendor data, NodeInfo, PortInfo and
// P_Keys from the server.
func (c *Client) refresh() error {
	v, err := c.ctlCall(CtlGetVendor, nil, VendorSize)
	if err != nil {
		return err
	}
	if c.vendor, err = DecodeVendorInfo(v); err != nil {
		return err
	}
	ni, err := c.ctlCall(CtlGetNodeInfo, nil, CtlDataSize)
	if err != nil {
		return err
	}
	pi, err := c.ctlCall(CtlGetPortInfo, make([]byte, 1), CtlDataSize)
	if err != nil {
		return err
	}
	pk, err := c.ctlCall(CtlGetPKeys, nil, CtlDataSize)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.nodeInfo, c.portInfo, c.pkeys = wire.NodeInfo(ni), wire.PortInfo(pi), pk
	c.mu.Unlock()
	return nil
}

// Refresh reads the attach port's NodeInfo, PortInfo and P_Keys again
// (they change as the SM configures the port).
func (c *Client) Refresh() error { return c.refresh() }

// Slot is the client slot the server assigned.
func (c *Client) Slot() int { return int(c.slot) }

// Node is the id of the node the client is attached to.
func (c *Client) Node() string { return c.node }

// NodeInfo is the attach node's NodeInfo as of the last refresh.
func (c *Client) NodeInfo() wire.NodeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodeInfo
}

// PortInfo is the attach port's PortInfo as of the last refresh.
func (c *Client) PortInfo() wire.PortInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.portInfo
}

// Vendor is what GET_VENDOR reported.
func (c *Client) Vendor() VendorInfo { return c.vendor }

// PKeys returns the first 32 P_Keys of the attach port as of the last
// refresh.
func (c *Client) PKeys() []wire.PKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]wire.PKey, 0, MaxPKeys)
	for i := 0; i+1 < len(c.pkeys) && len(out) < MaxPKeys; i += 2 {
		out = append(out, wire.PKey(uint16(c.pkeys[i])<<8|uint16(c.pkeys[i+1])))
	}
	return out
}

// Clock implements mad.Transport: the wall clock, with callbacks run on
// the client's delivery goroutine.
func (c *Client) Clock() emu.Clock { return clientClock{c} }

// Register implements mad.Transport.
func (c *Client) Register(reg mad.Registration, deliver func(mad.Incoming)) (mad.Endpoint, error) {
	switch {
	case deliver == nil:
		return nil, errors.New("attach: register: no deliver function")
	case reg.QPN > 1:
		return nil, fmt.Errorf("attach: register: qp %d: the attach protocol carries QP0 and QP1 only", reg.QPN)
	case (reg.QPN == 0) != reg.Class.IsSubn():
		return nil, fmt.Errorf("attach: register: class %s does not travel on qp %d", reg.Class, reg.QPN)
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	for _, m := range reg.Methods {
		if other := c.serving[clientServeKey{reg.Class, reg.ClassVersion, m}]; other != nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("attach: register: %s version %d %s is served by agent %d", reg.Class,
				reg.ClassVersion, m, other.agent)
		}
	}
	c.nextAgent++
	for c.eps[c.nextAgent] != nil || c.nextAgent == 0 {
		c.nextAgent++
	}
	ep := &clientEP{c: c, agent: c.nextAgent, reg: reg, deliver: deliver}
	ep.reg.Methods = slices.Clone(reg.Methods)
	c.eps[ep.agent] = ep
	for _, m := range reg.Methods {
		c.serving[clientServeKey{reg.Class, reg.ClassVersion, m}] = ep
	}
	becameSM := false
	if len(reg.Methods) > 0 {
		c.smAgents++
		becameSM = c.smAgents == 1 && !c.cfg.ISSM
	}
	c.mu.Unlock()
	if becameSM {
		// Only SM clients receive unsolicited requests from the server.
		if _, err := c.ctlCall(CtlSetISSM, hostInt(1), 4); err != nil {
			_ = ep.Close()
			return nil, fmt.Errorf("attach: register: set issm: %w", err)
		}
	}
	return ep, nil
}

// Close implements mad.Transport: it detaches from the server
// (DISCONNECT), closes the sockets and tells every endpoint.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	eps := make([]*clientEP, 0, len(c.eps))
	for _, ep := range c.eps {
		eps = append(eps, ep)
	}
	c.mu.Unlock()
	_, derr := c.ctlCall(CtlDisconnect, nil, 0)
	c.closeSockets()
	c.readWG.Wait()
	slices.SortFunc(eps, func(a, b *clientEP) int { return int(a.agent) - int(b.agent) })
	for _, ep := range eps {
		if ep.closed.CompareAndSwap(false, true) {
			c.q.push(func() { ep.deliver(mad.Incoming{Err: fmt.Errorf("attach: client closed: %w", ErrClosed)}) })
		}
	}
	c.q.push(func() { close(c.done) })
	if derr != nil {
		return fmt.Errorf("attach: close: %w", derr)
	}
	return nil
}

func (c *Client) closeSockets() {
	if c.ctl != nil {
		_ = c.ctl.Close()
	}
	if c.data != nil {
		_ = c.data.Close()
	}
}

// readLoop receives datagrams and hands them, in order, to the delivery
// goroutine.
func (c *Client) readLoop() {
	defer c.readWG.Done()
	for {
		buf := make([]byte, DatagramSize+1)
		n, _, err := c.data.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.mu.Lock()
			closed := c.closed
			c.mu.Unlock()
			if closed {
				return
			}
			continue
		}
		d, err := ParseDatagram(buf[:n])
		if err != nil {
			continue
		}
		c.q.push(func() { c.dispatch(d) })
	}
}

// dispatch hands a datagram to its endpoint: a response (or a MAD the
// server returned with a status) to the agent in TID bits 32..47, a
// request to the agent serving its class, version and method.
func (c *Client) dispatch(d Datagram) {
	m := wire.MAD(slices.Clone(d.MAD()))
	in := mad.Incoming{Addr: mad.Addr{LID: d.SLID(), QPN: d.SQP()}, MAD: m}
	if in.Addr.QPN == 1 {
		in.Addr.QKey = mad.GSIQKey
	}
	c.mu.Lock()
	var ep *clientEP
	if st := d.Status(); st != 0 {
		ep = c.eps[uint16(m.TID()>>32)]
		in.Addr = mad.Addr{LID: d.DLID(), QPN: d.DQP()}
		in.Err = fmt.Errorf("attach: %s %s to lid %d: %w", m.MgmtClass(), m.Method(), d.DLID(), ErrUndeliverable)
	} else if m.IsResponse() {
		ep = c.eps[uint16(m.TID()>>32)]
	} else {
		ep = c.serving[clientServeKey{m.MgmtClass(), m.ClassVersion(), m.Method()}]
	}
	c.mu.Unlock()
	if ep == nil || ep.closed.Load() {
		return
	}
	ep.deliver(in)
}

// clientEP is one registered agent of a Client.
type clientEP struct {
	c       *Client
	agent   uint16
	reg     mad.Registration
	deliver func(mad.Incoming)
	closed  atomic.Bool
}

// ID implements mad.Endpoint: the slot in the upper 16 bits (the server
// writes it into bits 48..63 of every request) and the agent in the
// lower, as libumad2sim puts its agent id in TID bits 32..47.
func (ep *clientEP) ID() uint32 { return ep.c.slot<<16 | uint32(ep.agent) }

// Send implements mad.Endpoint.
func (ep *clientEP) Send(out mad.Outgoing) error {
	if ep.closed.Load() {
		return fmt.Errorf("attach: agent %d: %w", ep.agent, ErrClosed)
	}
	if len(out.MAD) != wire.MADSize {
		return fmt.Errorf("attach: agent %d send: %d bytes: the attach protocol carries %d-byte mads only (no rmpp)",
			ep.agent, len(out.MAD), wire.MADSize)
	}
	d := NewDatagram()
	copy(d.MAD(), out.MAD)
	m := d.MAD()
	if m.MgmtClass().IsSubn() != (ep.reg.QPN == 0) {
		return fmt.Errorf("attach: agent %d send: class %s on qp %d", ep.agent, m.MgmtClass(), ep.reg.QPN)
	}
	if !m.IsResponse() && m.Method() != wire.MethodTrapRepress {
		m.SetTID(m.TID()&^(0xFFFF<<32) | uint64(ep.agent)<<32)
	}
	d.SetDLID(out.Addr.LID)
	if out.Addr.LID == wire.LIDPermissive {
		d.SetSLID(wire.LIDPermissive)
	}
	dqp := out.Addr.QPN
	if ep.reg.QPN == 1 && dqp == 0 {
		dqp = 1
	}
	d.SetDQP(dqp)
	d.SetSQP(ep.reg.QPN)
	if _, err := ep.c.data.WriteTo(d, ep.c.out); err != nil {
		return fmt.Errorf("attach: agent %d send: %w", ep.agent, err)
	}
	return nil
}

// Close implements mad.Endpoint.
func (ep *clientEP) Close() error {
	if !ep.closed.CompareAndSwap(false, true) {
		return nil
	}
	c := ep.c
	c.mu.Lock()
	delete(c.eps, ep.agent)
	for _, m := range ep.reg.Methods {
		k := clientServeKey{ep.reg.Class, ep.reg.ClassVersion, m}
		if c.serving[k] == ep {
			delete(c.serving, k)
		}
	}
	leftSM := false
	if len(ep.reg.Methods) > 0 {
		c.smAgents--
		leftSM = c.smAgents == 0 && !c.cfg.ISSM && !c.closed
	}
	c.mu.Unlock()
	if leftSM {
		if _, err := c.ctlCall(CtlSetISSM, hostInt(0), 4); err != nil {
			return fmt.Errorf("attach: agent %d close: clear issm: %w", ep.agent, err)
		}
	}
	return nil
}

// funcQueue runs functions one at a time, in order, on one goroutine: the
// client's delivery context.
type funcQueue struct {
	mu sync.Mutex
	// +checklocks:mu
	q     []func()
	ready chan struct{}
}

func newFuncQueue() *funcQueue { return &funcQueue{ready: make(chan struct{}, 1)} }

func (f *funcQueue) push(fn func()) {
	f.mu.Lock()
	f.q = append(f.q, fn)
	f.mu.Unlock()
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// run runs queued functions until done is closed (by a queued function).
func (f *funcQueue) run(done chan struct{}) {
	for {
		f.mu.Lock()
		batch := f.q
		f.q = nil
		f.mu.Unlock()
		for _, fn := range batch {
			fn()
		}
		select {
		case <-done:
			return
		default:
		}
		if len(batch) == 0 {
			select {
			case <-f.ready:
			case <-done:
				return
			}
		}
	}
}

// clientClock is the wall clock with callbacks moved to the delivery
// goroutine.
type clientClock struct{ c *Client }

func (k clientClock) Now() time.Time { return time.Now() }

func (k clientClock) AfterFunc(d time.Duration, fn func()) emu.Timer {
	t := &clientTimer{}
	t.inner = time.AfterFunc(d, func() {
		k.c.q.push(func() {
			if t.state.CompareAndSwap(0, 1) {
				fn()
			}
		})
	})
	return t
}

// clientTimer is a pending clientClock callback; Stop also cancels one
// already queued for the delivery goroutine.
type clientTimer struct {
	inner *time.Timer
	state atomic.Int32 // 0 pending, 1 fired, 2 stopped
}

func (t *clientTimer) Stop() bool {
	if t.state.CompareAndSwap(0, 2) {
		t.inner.Stop()
		return true
	}
	return false
}
