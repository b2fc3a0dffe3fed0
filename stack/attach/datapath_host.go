package attach

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// DataPathDialConfig says where a DataPathHost attaches. Zero fields are
// taken from the environment as libumad2sim takes them.
type DataPathDialConfig struct {
	// SockName is the base name of the server's abstract sockets in local
	// mode ($IBSIM_SOCKNAME, else "sim"); the endpoint is "@NAME:data".
	SockName string
	// Server, when set, selects remote mode: the server's TCP endpoint
	// "HOST:PORT" (default: $IBSIM_SERVER_NAME and $IBSIM_SERVER_PORT,
	// else port 7070, when IBSIM_SERVER_NAME is set).
	Server string
	// Node names the node to take over: its id, its NodeDescription,
	// either followed by "[port]", or a node or port GUID as 0x and hex
	// digits ($SIM_HOST).
	Node string
	// Port is the CA port (0: the node's default port, or the one Node
	// names).
	Port int
	// QueueFrames bounds the queue of frames waiting to be written to the
	// server (default DefaultDataPathQueue).
	QueueFrames int
	// Profiles resolves the HCA model the server names (default
	// hca.StandardProfiles()).
	Profiles *hca.Registry
	// Logger receives the host's and its fabric's log (default: discard).
	Logger *slog.Logger
	// EmuOptions are passed to the host's fabric after emu.WithWallClock,
	// the logger and emu.WithCRCCheck(false).
	EmuOptions []emu.Option
}

// DataPathHost is a process's own emulated HCA attached to a CA port of a
// fabric served by ibemu serve through the data path (DATAPATH.md). It
// runs a fabric of its own on the wall clock with two nodes: the HCA, a
// hca.Device built as the server's node is (model, GUIDs, and the
// port's LID, SM LID, M_Key, P_Key table, SL-to-VL table and port state
// as the SM left them), and a tunnel device whose port 1 is linked to
// the HCA's port and relays frames to and from the server (the buffers
// of frames written go back through emu.Fabric.Recycle). Host software
// (stack/verbs, the MAD agents) uses the HCA as any other; its frames
// cross the server's switches to the other nodes.
//
// When the server goes away or ends the session, the link of the HCA's
// port goes down (Done is closed, Err says why); the HCA keeps its state.
type DataPathHost struct {
	cfg   DataPathDialConfig
	w     DataPathWelcomeMsg
	fab   *emu.Fabric
	dev   *hca.Device
	hport *emu.Port // the HCA's port on the tunnel
	tport *emu.Port // the tunnel's port
	pipe  *dpPipe
	stats DataPathStats

	mu sync.Mutex
	// +checklocks:mu
	err  error
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// dpTunnel is the host's end of the cable: it writes every frame it
// receives to the server.
type dpTunnel struct{ h *DataPathHost }

var _ emu.Device = (*dpTunnel)(nil)

// HandlePacket implements emu.Device.
func (t *dpTunnel) HandlePacket(_ *emu.Port, frame []byte) { t.h.pipe.sendFrame(frame) }

// envDataPath fills the zero fields of c from the environment.
func envDataPath(c *DataPathDialConfig) {
	if c.SockName == "" {
		c.SockName = os.Getenv("IBSIM_SOCKNAME")
	}
	if c.SockName == "" {
		c.SockName = DefaultSockName
	}
	if c.Node == "" {
		c.Node = os.Getenv("SIM_HOST")
	}
	if c.Server == "" {
		if name := os.Getenv("IBSIM_SERVER_NAME"); name != "" {
			port := DefaultPort
			if p, err := strconv.Atoi(os.Getenv("IBSIM_SERVER_PORT")); err == nil {
				port = p
			}
			c.Server = net.JoinHostPort(name, strconv.Itoa(port))
		}
	}
	if c.Profiles == nil {
		c.Profiles = hca.StandardProfiles()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// DialDataPath attaches a new HCA to the server's fabric in place of the
// node cfg names, retrying while no server listens until ctx is done. The
// server refuses a port another data-path client holds, or one that
// ibsim-protocol clients use (ErrDataPathRefused).
func DialDataPath(ctx context.Context, cfg DataPathDialConfig) (*DataPathHost, error) {
	envDataPath(&cfg)
	if cfg.Node == "" {
		return nil, fmt.Errorf("attach: data path: dial: no node named (Node or $SIM_HOST): %w", ErrNoNode)
	}
	if cfg.Port < 0 || cfg.Port > 254 {
		return nil, fmt.Errorf("attach: data path: dial: port %d: %w", cfg.Port, ErrNoNode)
	}
	hello := DataPathHelloMsg{Version: DataPathVersion, Port: uint8(cfg.Port), PID: uint32(os.Getpid()), Node: cfg.Node}
	hb, err := hello.Encode()
	if err != nil {
		return nil, err
	}
	conn, err := dialDataPath(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	h, err := handshake(ctx, conn, &cfg, hb)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return h, nil
}

// dialDataPath connects to the endpoint, retrying while it refuses.
func dialDataPath(ctx context.Context, cfg *DataPathDialConfig) (net.Conn, error) {
	where := "@" + cfg.SockName + ":data"
	if cfg.Server != "" {
		where = "tcp " + cfg.Server
	}
	for {
		var conn net.Conn
		var err error
		if cfg.Server != "" {
			var d net.Dialer
			conn, err = d.DialContext(ctx, "tcp", cfg.Server)
		} else {
			conn, err = dialDataPathLocal(ctx, cfg.SockName)
		}
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("attach: data path: dial %s: %w", where, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("attach: data path: dial %s: no server: %w", where, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// handshake sends the HELLO, reads the answer and builds the host.
func handshake(ctx context.Context, conn net.Conn, cfg *DataPathDialConfig, hello []byte) (*DataPathHost, error) {
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	msg, _ := AppendDataPathMsg(nil, DataPathHello, hello)
	if _, err := conn.Write(msg); err != nil {
		return nil, fmt.Errorf("attach: data path: hello: %w", err)
	}
	r := bufio.NewReaderSize(conn, 64<<10)
	typ, b, err := readDataPathMsg(r)
	if err != nil {
		return nil, fmt.Errorf("attach: data path: waiting for welcome: %w", err)
	}
	switch typ {
	case DataPathRefuse:
		rf, err := ParseDataPathRefuse(b)
		if err != nil {
			return nil, err
		}
		return nil, rf.Error()
	case DataPathWelcome:
	default:
		return nil, fmt.Errorf("%w: %s instead of welcome", ErrDataPathProtocol, typ)
	}
	w, err := ParseDataPathWelcome(b)
	if err != nil {
		return nil, err
	}
	if w.Version != DataPathVersion {
		return nil, fmt.Errorf("%w: welcome for version %d, this client speaks %d", ErrDataPathProtocol, w.Version, DataPathVersion)
	}
	h := &DataPathHost{cfg: *cfg, w: w, done: make(chan struct{})}
	h.pipe = newDPPipe(conn, r, &h.stats, cfg.QueueFrames)
	// Frames the HCA sends go out in a flush on the host's loop (h.fab
	// is set before the loop starts).
	h.pipe.kick = func(fn func()) { h.fab.Post(fn) }
	h.pipe.recycle = func(frame []byte) { h.fab.Recycle(frame) }
	if err := h.build(); err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		h.pipe.writeLoop()
	}()
	go h.run()
	return h, nil
}

// build creates the host's fabric, starts it and gives the HCA the
// node's state.
func (h *DataPathHost) build() error {
	w := &h.w
	ni := wire.NodeInfo(w.NodeInfo)
	prof, err := h.cfg.Profiles.Lookup(w.Profile)
	if err != nil {
		if prof, err = h.cfg.Profiles.ByDeviceID(ni.DeviceID(), int(w.NumPorts)); err != nil {
			return fmt.Errorf("attach: data path: the server's %s is a %q: %w", w.NodeID, w.Profile, err)
		}
	}
	// The server's node may be a variant of the model (another port count
	// or identity, from the topology), as stack/fabric builds it.
	p := *prof
	p.NumPorts, p.VendorID, p.DeviceID, p.Revision = int(w.NumPorts), ni.VendorID(), ni.DeviceID(), ni.Revision()
	p.PartitionCap = ni.PartitionCap()
	prof = &p
	desc := string(bytes.TrimRight(w.NodeDescription, "\x00"))
	dev, err := hca.New(hca.Config{Profile: prof, NodeGUID: ni.NodeGUID(), SystemImageGUID: ni.SystemImageGUID(),
		PortGUIDs: w.PortGUIDs, Description: desc})
	if err != nil {
		return fmt.Errorf("attach: data path: %w", err)
	}
	// Frames from the server were checked (CheckDataPathFrame) before they
	// enter, and the HCA seals its own: the ports need not check VCRCs
	// again, as on the server.
	opts := append([]emu.Option{emu.WithWallClock(), emu.WithLogger(h.cfg.Logger), emu.WithCRCCheck(false)},
		h.cfg.EmuOptions...)
	f := emu.New(opts...)
	cfgs := prof.PortConfigs()
	l := w.Link
	cfgs[w.Port-1] = emu.PortConfig{WidthSupported: l.WidthSupported, WidthEnabled: l.WidthEnabled,
		SpeedSupported: l.SpeedSupported, SpeedEnabled: l.SpeedEnabled}
	hn, err := f.AddNode(w.NodeID, wire.NodeTypeCA, prof.NumPorts, dev, cfgs...)
	if err != nil {
		return fmt.Errorf("attach: data path: %w", err)
	}
	// The tunnel's port enables exactly the active width and speed, so
	// the local link trains as the server's did.
	tc := emu.PortConfig{WidthSupported: l.WidthSupported, SpeedSupported: l.SpeedSupported,
		WidthEnabled: l.WidthEnabled, SpeedEnabled: l.SpeedEnabled}
	if l.Up {
		tc.WidthEnabled, tc.SpeedEnabled = uint8(l.Width), l.Speed
	}
	// The frames the HCA sends (slots of the verbs engine's pool) go back
	// to the pool through Fabric.Recycle once they are written to the
	// server.
	tn, err := f.AddNode("data-path", wire.NodeTypeSwitch, 1, &dpTunnel{h: h}, tc)
	if err != nil {
		return fmt.Errorf("attach: data path: %w", err)
	}
	h.fab, h.dev, h.hport, h.tport = f, dev, hn.Port(int(w.Port)), tn.Port(1)
	link, err := f.Connect(h.hport, h.tport)
	if err != nil {
		return fmt.Errorf("attach: data path: %w", err)
	}
	if !l.Up {
		link.SetCut(true)
	}
	if err := f.Start(context.Background()); err != nil {
		return fmt.Errorf("attach: data path: %w", err)
	}
	if err := f.Do(h.seed); err != nil {
		f.Stop()
		return fmt.Errorf("attach: data path: %w", err)
	}
	return nil
}

// seed gives the HCA's port the state the server's node had: what the SM
// set in PortInfo, the P_Key and GUID tables, the SL-to-VL table, and the
// port state. It runs on the host's event loop after the fabric started
// (the device is bound to its node).
func (h *DataPathHost) seed() {
	w := &h.w
	pa := h.dev.SMA().Port(int(w.Port))
	pi := wire.PortInfo(w.PortInfo)
	pa.MKey, pa.GIDPrefix, pa.LID, pa.LMC = pi.MKey(), pi.GIDPrefix(), pi.LID(), pi.LMC()
	pa.MasterSMLID, pa.MasterSMSL = pi.MasterSMLID(), pi.MasterSMSL()
	pa.MKeyProtectBits, pa.MKeyLeasePeriod, pa.DiagCode = pi.MKeyProtectBits(), pi.MKeyLeasePeriod(), pi.DiagCode()
	pa.LinkDownDefaultState, pa.NeighborMTU, pa.VLHighLimit = pi.LinkDownDefaultState(), pi.NeighborMTU(), pi.VLHighLimit()
	pa.OperationalVLs, pa.HOQLife, pa.VLStallCount = pi.OperationalVLs(), pi.HOQLife(), pi.VLStallCount()
	pa.InitTypeReply, pa.SubnetTimeOut = pi.InitTypeReply(), pi.SubnetTimeOut()
	pa.LocalPhyErrors, pa.OverrunErrors = pi.LocalPhyErrors(), pi.OverrunErrors()
	pa.PartitionEnforcementInbound, pa.PartitionEnforcementOutbound = pi.PartitionEnforcementInbound(), pi.PartitionEnforcementOutbound()
	pa.FilterRawInbound, pa.FilterRawOutbound = pi.FilterRawInbound(), pi.FilterRawOutbound()
	pa.MulticastPKeyTrapSuppressionEnabled = pi.MulticastPKeyTrapSuppressionEnabled()
	for b, blk := range w.PKeyBlocks {
		for j := range 32 {
			pa.SetPKey(b*32+j, wire.PKeyTable(blk).PKey(j))
		}
	}
	for b, blk := range w.GUIDBlocks {
		for j := range 8 {
			if i := b*8 + j; i > 0 {
				pa.SetGUID(i, wire.GUIDInfo(blk).GUID(j))
			}
		}
	}
	for sl := range 16 {
		pa.SetSLtoVL(0, sl, wire.SLtoVLMappingTable(w.SLtoVL).VL(sl))
	}
	h.setState(pi.PortState())
}

// setState brings the local link's ends to state (Armed or Active) once
// the link is up, as the SM had brought the server's port. Loop only.
func (h *DataPathHost) setState(s wire.PortState) {
	if !h.hport.IsUp() || s < wire.PortStateArmed {
		return
	}
	for _, p := range []*emu.Port{h.hport, h.tport} {
		for _, st := range []wire.PortState{wire.PortStateArmed, wire.PortStateActive} {
			if st > s || p.State() >= st {
				continue
			}
			if err := p.SetState(st); err != nil {
				h.cfg.Logger.Warn("attach: data path: port state", "port", p.String(), "err", err)
			}
		}
	}
}

// run reads the server's messages until the session ends, then takes the
// link down.
func (h *DataPathHost) run() {
	defer h.wg.Done()
	err := h.pipe.readLoop(h)
	h.pipe.close(err)
	if err == nil {
		err = h.pipe.Err()
	}
	if err == nil {
		err = errors.New("attach: data path: session ended")
	}
	_ = h.fab.Do(func() {
		if l := h.tport.Link(); l != nil {
			l.SetCut(true)
		}
	})
	h.mu.Lock()
	h.err = err
	h.mu.Unlock()
	close(h.done)
}

// enter implements dpHandler.
func (h *DataPathHost) enter(fn func()) { h.fab.Enter(fn) }

// frames implements dpHandler: the server's frames arrive at the HCA
// through the tunnel.
func (h *DataPathHost) frames(batch [][]byte) {
	for _, f := range batch {
		h.tport.Send(f)
	}
}

// control implements dpHandler: LINK changes the local link as the
// server's changed; HELLO, WELCOME and REFUSE are out of place; unknown
// types are ignored.
func (h *DataPathHost) control(typ DataPathMsgType, b []byte) error {
	switch typ {
	case DataPathLink:
		l, err := ParseDataPathLink(b)
		if err != nil {
			return err
		}
		h.fab.Post(func() { h.applyLink(l) })
	case DataPathHello, DataPathWelcome, DataPathRefuse:
		return fmt.Errorf("%w: %s from the server after the handshake", ErrDataPathProtocol, typ)
	}
	return nil
}

// applyLink mirrors the server port's physical link on the local one: it
// goes down, or (re)trains at the server's width and speed and comes up
// in Init, for the SM to bring to Active. Loop only.
func (h *DataPathHost) applyLink(l DataPathLinkState) {
	link := h.tport.Link()
	if link == nil {
		return
	}
	if !l.Up {
		link.SetCut(true)
		return
	}
	h.tport.SetLinkEnables(uint8(l.Width), l.Speed)
	link.SetCut(false)
}

// Fabric is the host's own fabric (wall clock).
func (h *DataPathHost) Fabric() *emu.Fabric { return h.fab }

// HCA is the host's HCA.
func (h *DataPathHost) HCA() *hca.Device { return h.dev }

// Port is the number of the HCA port attached to the server's fabric.
func (h *DataPathHost) Port() int { return int(h.w.Port) }

// NodeID is the server's id of the node the host took over.
func (h *DataPathHost) NodeID() string { return h.w.NodeID }

// Welcome is what the server described in its WELCOME.
func (h *DataPathHost) Welcome() DataPathWelcomeMsg { return h.w }

// Stats returns the host's data-path counters.
func (h *DataPathHost) Stats() *DataPathStats { return &h.stats }

// Done is closed when the session has ended.
func (h *DataPathHost) Done() <-chan struct{} { return h.done }

// Err says why the session ended (nil while it runs).
func (h *DataPathHost) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// LID is the HCA port's LID (0 before an SM assigned one).
func (h *DataPathHost) LID() wire.LID {
	var l wire.LID
	_ = h.fab.Do(func() { l = h.dev.SMA().Port(int(h.w.Port)).LID })
	return l
}

// WaitActive waits until the HCA's port is Active (at once when the
// server's port was; after an SM sweep otherwise).
func (h *DataPathHost) WaitActive(ctx context.Context) error {
	for {
		var st wire.PortState
		var lid wire.LID
		if err := h.fab.Do(func() {
			st, lid = h.hport.State(), h.dev.SMA().Port(int(h.w.Port)).LID
		}); err != nil {
			return fmt.Errorf("attach: data path: %w", err)
		}
		if st == wire.PortStateActive && lid != wire.LIDUnassigned {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("attach: data path: %s port %d is %s, not Active (is a subnet manager running?): %w",
				h.w.NodeID, h.w.Port, st, ctx.Err())
		case <-h.done:
			return fmt.Errorf("attach: data path: waiting for Active: %w", h.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close ends the session in order (BYE) and stops the host's fabric. It
// is idempotent.
func (h *DataPathHost) Close() error {
	h.once.Do(func() {
		h.pipe.bye(time.Second)
		h.wg.Wait()
		h.fab.Stop()
	})
	return nil
}

// Abort drops the connection without BYE, as a process that dies does,
// and stops the host's fabric. Tests use it to show what the server does
// then.
func (h *DataPathHost) Abort() {
	h.once.Do(func() {
		h.pipe.close(errors.New("attach: data path: aborted"))
		h.wg.Wait()
		h.fab.Stop()
	})
}
