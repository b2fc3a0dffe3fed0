package attach

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// dataPathHandshake bounds how long a new connection may take to send
// its HELLO.
const dataPathHandshake = 5 * time.Second

// DataPathConfig configures the data-path endpoint of a Server.
type DataPathConfig struct {
	// Listen selects the endpoint. Empty: the server's own mode, the
	// abstract unix stream socket "@<sockname>:data" in local mode, or
	// TCP on the address and port of the UDP control socket in remote
	// mode. Otherwise TCP on "ADDR:PORT", ":PORT" or "PORT" (the last two
	// bind 127.0.0.1).
	Listen string
	// QueueFrames bounds each session's queue of frames waiting to be
	// written to its client (default DefaultDataPathQueue).
	QueueFrames int
	// Logger receives the endpoint's log (default: the server's).
	Logger *slog.Logger
}

// DataPathServer is the data-path endpoint of a Server: processes attach
// their own emulated HCA to one CA port of the fabric and exchange
// complete frames with it (DATAPATH.md). While a client holds a port,
// every frame arriving at that port goes to the client, and every frame
// the client sends leaves the port into the fabric; the node's own device
// no longer sees that port, so the client's SMA and PMA answer the SM and
// the diagnostics for it, with the GUIDs, LID and tables the client's HCA
// took over from the node in the WELCOME. When the client goes (in order
// or not) the link of the port goes down and comes back up with the
// node's own device behind it, as when a cable moves from one HCA to
// another: the SM sees the change (Trap 128 from the switch) and brings
// the port back to Active.
//
// Create it with ListenDataPath after Server.Start; it closes when the
// server closes, or with Close.
type DataPathServer struct {
	s     *Server
	cfg   DataPathConfig
	log   *slog.Logger
	ln    net.Listener
	addr  string
	stats DataPathStats

	mu sync.Mutex
	// +checklocks:mu
	held map[*emu.Port]*dpSession
	// +checklocks:mu
	closed bool

	wg   sync.WaitGroup
	done chan struct{}
}

// dpSession is one attached client on the server.
type dpSession struct {
	d    *DataPathServer
	n    *node
	port *emu.Port
	peer string
	pid  uint32
	pipe *dpPipe
	// attached is set while the port's frames go to the client.
	// Loop-owned.
	attached bool
}

// ListenDataPath opens the data-path endpoint of s (started) and accepts
// clients until s or the endpoint closes.
func ListenDataPath(s *Server, cfg DataPathConfig) (*DataPathServer, error) {
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	d := &DataPathServer{s: s, cfg: cfg, log: cfg.Logger, held: map[*emu.Port]*dpSession{}, done: make(chan struct{})}
	var err error
	switch {
	case cfg.Listen != "":
		u, perr := newUDPNetwork(cfg.Listen)
		if perr != nil {
			return nil, fmt.Errorf("attach: data path: %w", perr)
		}
		d.ln, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: u.ip, Port: u.port})
	case s.cfg.Listen != "":
		u, ok := s.netw.(*udpNetwork)
		if !ok {
			return nil, fmt.Errorf("attach: data path: remote mode without a udp network")
		}
		d.ln, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: u.ip, Port: u.port})
	default:
		d.ln, err = listenDataPathLocal(s.cfg.SockName)
	}
	if err != nil {
		return nil, fmt.Errorf("attach: data path: listen: %w", err)
	}
	if _, ok := d.ln.(*net.TCPListener); ok {
		d.addr = "tcp " + d.ln.Addr().String()
	} else {
		d.addr = "@" + s.cfg.SockName + ":data"
	}
	d.log.Info("attach: data path listening", "addr", d.addr)
	d.wg.Add(2)
	go d.acceptLoop()
	go func() {
		defer d.wg.Done()
		select {
		case <-s.Done():
			d.shut()
		case <-d.done:
		}
	}()
	return d, nil
}

// Addr describes the endpoint: "@NAME:data" (an abstract unix stream
// socket) or "tcp ADDR:PORT".
func (d *DataPathServer) Addr() string { return d.addr }

// Stats returns the endpoint's counters (all sessions together).
func (d *DataPathServer) Stats() *DataPathStats { return &d.stats }

// Close closes the endpoint and ends every session (the ports' links go
// down and come back with the nodes' own devices, while the server runs).
// It is idempotent.
func (d *DataPathServer) Close() error {
	d.shut()
	d.wg.Wait()
	return nil
}

func (d *DataPathServer) shut() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	sessions := make([]*dpSession, 0, len(d.held))
	for _, ss := range d.held {
		sessions = append(sessions, ss)
	}
	d.mu.Unlock()
	close(d.done)
	_ = d.ln.Close()
	for _, ss := range sessions {
		if ss.pipe != nil {
			ss.pipe.close(nil)
		}
	}
}

// DataPathSession describes one attached data-path client.
type DataPathSession struct {
	// Node and Port are the attached CA port.
	Node string
	Port int
	// Peer is the client's address; PID its process id as it gave it.
	Peer string
	PID  uint32
}

// Sessions lists the attached clients, by node and port.
func (d *DataPathServer) Sessions() []DataPathSession {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DataPathSession, 0, len(d.held))
	for _, ss := range d.held {
		if ss.pipe != nil {
			out = append(out, DataPathSession{Node: ss.n.topo.ID, Port: ss.port.Num(), Peer: ss.peer, PID: ss.pid})
		}
	}
	slices.SortFunc(out, func(a, b DataPathSession) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return a.Port - b.Port
	})
	return out
}

func (d *DataPathServer) acceptLoop() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			select {
			case <-d.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Warn("attach: data path accept", "err", err)
			select {
			case <-d.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		d.wg.Add(1)
		go d.serve(c)
	}
}

// refuse writes a REFUSE and closes c.
func (d *DataPathServer) refuse(c net.Conn, code DataPathRefuseCode, reason string) error {
	d.stats.Refused.Add(1)
	r := DataPathRefuseMsg{Code: code, Reason: reason}
	msg, _ := AppendDataPathMsg(nil, DataPathRefuse, r.Encode())
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write(msg)
	_ = c.Close()
	d.log.Warn("attach: data path attach refused", "peer", c.RemoteAddr().String(), "code", code.String(), "reason", reason)
	return r.Error()
}

// serve runs one connection: the handshake, then the session until
// either side ends it.
func (d *DataPathServer) serve(c net.Conn) {
	defer d.wg.Done()
	_ = c.SetDeadline(time.Now().Add(dataPathHandshake))
	r := bufio.NewReaderSize(c, 64<<10)
	typ, b, err := readDataPathMsg(r)
	if err != nil {
		_ = d.refuse(c, DataPathRefuseBadHello, fmt.Sprintf("reading hello: %v", err))
		return
	}
	if typ != DataPathHello {
		_ = d.refuse(c, DataPathRefuseBadHello, fmt.Sprintf("first message is %s, want HELLO", typ))
		return
	}
	h, err := ParseDataPathHello(b)
	if err != nil {
		_ = d.refuse(c, DataPathRefuseBadHello, err.Error())
		return
	}
	if h.Version != DataPathVersion {
		_ = d.refuse(c, DataPathRefuseVersion, fmt.Sprintf("client speaks version %d, this server version %d", h.Version, DataPathVersion))
		return
	}
	n, port, err := d.resolve(h.Node, int(h.Port))
	if err != nil {
		_ = d.refuse(c, DataPathRefuseNoNode, err.Error())
		return
	}
	peer := c.RemoteAddr().String()
	if peer == "" || peer == "@" {
		peer = "pid " + strconv.FormatUint(uint64(h.PID), 10)
	}
	ss := &dpSession{d: d, n: n, port: port, peer: peer, pid: h.PID}
	// Claim the port; a second client is refused.
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		_ = d.refuse(c, DataPathRefuseClosing, "the server is closing")
		return
	}
	if o := d.held[port]; o != nil {
		d.mu.Unlock()
		_ = d.refuse(c, DataPathRefuseBusy, fmt.Sprintf("%s port %d is already attached by the data-path client %s (pid %d)",
			n.topo.ID, port.Num(), o.peer, o.pid))
		return
	}
	d.held[port] = ss
	d.mu.Unlock()
	release := func() {
		d.mu.Lock()
		if d.held[port] == ss {
			delete(d.held, port)
		}
		d.mu.Unlock()
	}
	ss.pipe = newDPPipe(c, r, &d.stats, d.cfg.QueueFrames)
	ss.pipe.kick = d.s.fab.Post
	// Frames for the port may be queued as soon as the session is
	// installed; the welcome goes first.
	ss.pipe.hold()
	var w DataPathWelcomeMsg
	var code DataPathRefuseCode
	derr := d.s.fab.Do(func() {
		if ap := d.s.points[port]; ap != nil && len(ap.clients) > 0 {
			code, err = DataPathRefuseInUse, fmt.Errorf("%s port %d has %d ibsim-protocol client(s) attached (an SM or diagnostics run there)",
				n.topo.ID, port.Num(), len(ap.clients))
			return
		}
		if w, err = dataPathWelcome(n, port); err != nil {
			code = DataPathRefuseDevice
			return
		}
		ss.install()
	})
	if derr != nil {
		release()
		_ = d.refuse(c, DataPathRefuseClosing, derr.Error())
		return
	}
	if err != nil {
		release()
		_ = d.refuse(c, code, err.Error())
		return
	}
	payload, err := w.Encode()
	if err == nil {
		var msg []byte
		msg, _ = AppendDataPathMsg(nil, DataPathWelcome, payload)
		_, err = c.Write(msg)
	}
	if err != nil {
		d.log.Warn("attach: data path welcome", "peer", peer, "err", err)
		ss.pipe.close(err)
		ss.end()
		release()
		return
	}
	_ = c.SetDeadline(time.Time{})
	ss.pipe.release()
	d.stats.Attached.Add(1)
	d.log.Info("attach: data path client attached", "node", n.topo.ID, "port", port.Num(), "peer", peer, "pid", h.PID)
	go ss.pipe.writeLoop()
	rerr := ss.pipe.readLoop(ss)
	ss.pipe.close(rerr)
	<-ss.pipe.wdone
	ss.end()
	release()
	d.stats.Ended.Add(1)
	if rerr != nil {
		d.log.Info("attach: data path client gone", "node", n.topo.ID, "port", port.Num(), "peer", peer, "err", rerr)
	} else {
		d.log.Info("attach: data path client detached", "node", n.topo.ID, "port", port.Num(), "peer", peer)
	}
}

// resolve finds the CA port a HELLO names: a node id, a NodeDescription
// or either with "[port]" (as SIM_HOST), or a node or port GUID written
// 0x and hex digits; port, when not 0, picks the port of a node.
func (d *DataPathServer) resolve(name string, port int) (*node, *emu.Port, error) {
	var n *node
	var p *emu.Port
	if g, ok := parseGUIDName(name); ok {
		for _, x := range d.s.nodes {
			if x.hca == nil {
				continue
			}
			if x.hca.NodeGUID() == g {
				n, p = x, defaultCAPort(x)
				break
			}
			for i := 1; i <= x.en.NumPorts(); i++ {
				if x.hca.PortGUID(i) == g {
					n, p = x, x.en.Port(i)
					port = 0
					break
				}
			}
			if n != nil {
				break
			}
		}
		if n == nil {
			return nil, nil, fmt.Errorf("attach: data path: no CA has node or port guid %s: %w", name, ErrNoNode)
		}
	} else {
		var err error
		if n, p, err = d.s.resolve(name); err != nil {
			return nil, nil, err
		}
	}
	if n.hca == nil {
		return nil, nil, fmt.Errorf("attach: data path: %s is a switch; the data path attaches CA ports: %w", n.topo, ErrNoNode)
	}
	if port != 0 {
		if p = n.en.Port(port); p == nil {
			return nil, nil, fmt.Errorf("attach: data path: %s has ports 1..%d, not %d: %w", n.topo, n.en.NumPorts(), port, ErrNoNode)
		}
	}
	return n, p, nil
}

// parseGUIDName reads "0x" and 1 to 16 hex digits.
func parseGUIDName(s string) (wire.GUID, bool) {
	if len(s) < 3 || len(s) > 18 || (s[:2] != "0x" && s[:2] != "0X") {
		return 0, false
	}
	v, err := strconv.ParseUint(s[2:], 16, 64)
	if err != nil {
		return 0, false
	}
	return wire.GUID(v), true
}

// portLink is the link state of p. Call it on the event loop.
func portLink(p *emu.Port) DataPathLinkState {
	return DataPathLinkState{Up: p.IsUp(), WidthSupported: p.WidthSupported(), WidthEnabled: p.WidthEnabled(),
		Width: p.Width(), SpeedSupported: p.SpeedSupported(), SpeedEnabled: p.SpeedEnabled(), Speed: p.Speed()}
}

// dataPathWelcome describes port p of CA n for a client taking it over.
// Call it on the event loop.
func dataPathWelcome(n *node, p *emu.Port) (DataPathWelcomeMsg, error) {
	w := DataPathWelcomeMsg{Version: DataPathVersion, Port: uint8(p.Num()), NumPorts: uint8(n.en.NumPorts()),
		NodeID: n.topo.ID, Profile: n.hca.Profile().Name, Link: portLink(p)}
	var err error
	if w.NodeInfo, err = dpSMAGet(n, p, wire.AttrNodeInfo, 0); err != nil {
		return w, err
	}
	if w.NodeDescription, err = dpSMAGet(n, p, wire.AttrNodeDescription, 0); err != nil {
		return w, err
	}
	if w.PortInfo, err = dpSMAGet(n, p, wire.AttrPortInfo, uint32(p.Num())); err != nil {
		return w, err
	}
	w.NodeInfo = w.NodeInfo[:wire.NodeInfoSize]
	w.NodeDescription = w.NodeDescription[:wire.NodeDescriptionSize]
	w.PortInfo = w.PortInfo[:wire.PortInfoSize]
	for i := 1; i <= n.en.NumPorts(); i++ {
		w.PortGUIDs = append(w.PortGUIDs, n.hca.PortGUID(i))
	}
	pa := n.sma.Port(p.Num())
	for i := 0; i < pa.NumPKeys(); i += 32 {
		t := wire.PKeyTable(make([]byte, wire.PKeyTableSize))
		for j := 0; j < 32 && i+j < pa.NumPKeys(); j++ {
			t.SetPKey(j, pa.PKey(i+j))
		}
		w.PKeyBlocks = append(w.PKeyBlocks, t)
	}
	for i := 0; i < pa.NumGUIDs(); i += 8 {
		t := wire.GUIDInfo(make([]byte, wire.GUIDInfoSize))
		for j := 0; j < 8 && i+j < pa.NumGUIDs(); j++ {
			t.SetGUID(j, pa.GUID(i+j))
		}
		w.GUIDBlocks = append(w.GUIDBlocks, t)
	}
	t := wire.SLtoVLMappingTable(make([]byte, wire.SLtoVLMappingTableSize))
	if pa.NumSLtoVLRows() > 0 {
		for sl := range 16 {
			t.SetVL(sl, pa.SLtoVL(0, sl))
		}
	}
	w.SLtoVL = t
	return w, nil
}

// dpSMAGet reads an attribute from n's SMA as the node's own host does,
// through port p.
func dpSMAGet(n *node, p *emu.Port, attr wire.AttrID, mod uint32) ([]byte, error) {
	smp := wire.SMP(make([]byte, wire.MADSize))
	smp.Encode(&wire.SMPFields{Method: wire.MethodGet, AttrID: attr, AttrMod: mod, MKey: n.sma.Port(p.Num()).MKey})
	var out []byte
	st := wire.MADStatusOK
	n.sma.Process(p, &agent.Frame{MAD: wire.MAD(smp)}, func(resp wire.MAD) {
		st = resp.Status()
		out = append([]byte(nil), wire.SMP(resp).Data()...)
	})
	switch {
	case out == nil:
		return nil, fmt.Errorf("attach: data path: %s of %s: no answer from the sma", attr, n.topo)
	case st != wire.MADStatusOK:
		return nil, fmt.Errorf("attach: data path: %s of %s: %w", attr, n.topo, st.Err(wire.MgmtClassSubnLID, attr, 0))
	}
	return out, nil
}

// dpSplit stands in front of a CA's device while data-path clients hold
// some of its ports: frames and link changes of a held port go to its
// session, everything else to the device. It stays in place (passing
// everything through) once installed. Loop-owned.
type dpSplit struct {
	orig emu.Device
	held map[int]*dpSession
}

var (
	_ emu.Device           = (*dpSplit)(nil)
	_ emu.CRCOffloader     = (*dpSplit)(nil)
	_ emu.PortStateHandler = (*dpSplit)(nil)
)

// HandlePacket implements emu.Device.
func (sp *dpSplit) HandlePacket(p *emu.Port, frame []byte) { sp.HandleFrame(p, frame, true) }

// HandleFrame implements emu.CRCOffloader: a frame for a held port leaves
// for the client sealed (the data path carries complete frames); the
// device gets the others as it takes them.
func (sp *dpSplit) HandleFrame(p *emu.Port, frame []byte, sealed bool) {
	if ss := sp.held[p.Num()]; ss != nil {
		if !sealed && wire.SealPacket(frame) != nil {
			p.Counters.RcvErrors.Add(1)
			return
		}
		ss.pipe.sendFrame(frame)
		return
	}
	if o, ok := sp.orig.(emu.CRCOffloader); ok {
		o.HandleFrame(p, frame, sealed)
		return
	}
	if !sealed && wire.SealPacket(frame) != nil {
		p.Counters.RcvErrors.Add(1)
		return
	}
	sp.orig.HandlePacket(p, frame)
}

// PortStateChanged implements emu.PortStateHandler: the client of a held
// port learns of the change with a LINK message.
func (sp *dpSplit) PortStateChanged(p *emu.Port) {
	if ss := sp.held[p.Num()]; ss != nil {
		l := portLink(p)
		ss.pipe.sendCtl(DataPathLink, l.Encode())
		return
	}
	if h, ok := sp.orig.(emu.PortStateHandler); ok {
		h.PortStateChanged(p)
	}
}

// install diverts the port's frames to the session. Call it on the event
// loop.
func (ss *dpSession) install() {
	dev := ss.n.dev
	sp, ok := dev.inner.(*dpSplit)
	if !ok {
		sp = &dpSplit{orig: dev.inner, held: map[int]*dpSession{}}
		dev.inner, dev.offload = sp, sp
		dev.hook()
	}
	sp.held[ss.port.Num()] = ss
	ss.attached = true
}

// end gives the port back to the node's own device: its link goes down
// and comes back up (in Init) as when a cable is moved, unless the link is
// down already or the fabric has stopped.
func (ss *dpSession) end() {
	_ = ss.d.s.fab.Do(func() {
		if !ss.attached {
			return
		}
		ss.attached = false
		if sp, ok := ss.n.dev.inner.(*dpSplit); ok && sp.held[ss.port.Num()] == ss {
			delete(sp.held, ss.port.Num())
		}
		if l := ss.port.Link(); l != nil && l.Up() {
			l.SetCut(true)
			l.SetCut(false)
		}
	})
}

// enter implements dpHandler.
func (ss *dpSession) enter(fn func()) { ss.d.s.fab.Enter(fn) }

// frames implements dpHandler: the client's frames leave the port.
func (ss *dpSession) frames(batch [][]byte) {
	if !ss.attached {
		return
	}
	for _, f := range batch {
		ss.port.Send(f)
	}
}

// control implements dpHandler: a client sends only FRAME and BYE; other
// known types are out of place, unknown ones are ignored.
func (ss *dpSession) control(typ DataPathMsgType, _ []byte) error {
	switch typ {
	case DataPathHello, DataPathWelcome, DataPathRefuse, DataPathLink:
		return fmt.Errorf("%w: %s from a client after the handshake", ErrDataPathProtocol, typ)
	}
	return nil
}
