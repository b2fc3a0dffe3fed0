package ibswitch

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// Errors of the package's Go API. Each error returned wraps one of them.
var (
	// ErrConfig: a Config is unusable (no GUID, ports out of range, a bad
	// profile).
	ErrConfig = errors.New("ibswitch: bad switch configuration")
	// ErrRange: a LID, MLID, block or port is outside the switch's tables.
	ErrRange = errors.New("ibswitch: outside the switch's tables")
)

// Config describes one switch to create.
type Config struct {
	// Profile is the switch model; a zero Profile means DefaultProfile.
	Profile Profile
	// NumPorts is the number of external ports (the radix the topology
	// gives); 0 means Profile.NumPorts.
	NumPorts int
	// NodeGUID is the switch's GUID, which is also the GUID of port 0
	// (IBTA Vol 1 §14.2.5.3). It must not be 0.
	NodeGUID wire.GUID
	// SystemImageGUID groups the ASICs of one chassis; 0 means NodeGUID.
	SystemImageGUID wire.GUID
	// Description is the NodeDescription; "" means Profile.Description.
	Description string
	// Ports optionally overrides the link capabilities of external ports:
	// Ports[i] applies to port i+1 and missing entries take the last one
	// given. Zero fields take the profile's width and speed.
	Ports []emu.PortConfig
	// TrapRetry and TrapRetries tune the repetition of unrepressed traps
	// (agent.SMAOptions); zero values take the agent's defaults.
	TrapRetry   time.Duration
	TrapRetries int
	// DisableTrap128 stops the switch from sending Trap 128 on link
	// changes (SwitchInfo.PortStateChange is still set).
	DisableTrap128 bool
}

// Stats counts what the switch did with the frames it saw, beyond the
// per-port IBTA counters (which live in each emu.Port). It is a snapshot
// (Switch.Stats), safe to take from any goroutine.
type Stats struct {
	Forwarded  uint64 // unicast frames relayed by LID from one external port to another
	Replicated uint64 // multicast copies sent
	Local      uint64 // frames delivered to management port 0
	DRRelayed  uint64 // directed-route SMPs relayed by their path
	SMPReplies uint64 // SMP responses the SMA sent
	GMPReplies uint64 // PMA and vendor responses sent
	Dropped    uint64 // frames discarded (each also counted in a port counter or VL15Dropped)
}

// Switch is an emulated InfiniBand switch: an emu.Device (with
// emu.PortStateHandler and emu.Starter) that forwards frames between its
// external ports and runs management port 0. Create it with Add (or New
// and emu.Fabric.AddNode with PortConfigs). See the package doc for the
// concurrency rules.
type Switch struct {
	// What every frame's hop reads and counts comes first, together
	// (at scale the switch is cold at every hop): the node, its port
	// table and the statistics in the first cache line, then the SMA and
	// the ports' SMA state.
	node *emu.Node
	// ports is node's port table (emu.Node.Ports), held here so that
	// relaying a directed-route SMP does not look into the Node.
	ports []*emu.Port
	stats stats
	sma   *agent.SMA
	pa    []*agent.PortAttrs // SMA state per port, index = port number

	nports int
	lft    lft
	info   switchInfo
	log    *slog.Logger

	prof     Profile
	guid     wire.GUID
	portCfgs []emu.PortConfig

	mft mft

	pma      *agent.PMA
	vendor   *agent.Vendor
	cc       *agent.CC // nil: the model has no congestion control agent
	fwd      *fwdLine  // the forwarding delay line (forward.go), made on first use
	ccOn     bool      // some port marks FECN (cc.go): the packet path's one test
	ccd      *ccData
	noTrap   bool
	trapTIDs []uint64
}

// stats are the live counters behind Stats.
type stats struct {
	DRRelayed, Local, SMPReplies, Forwarded, Replicated, GMPReplies, Dropped atomic.Uint64
}

// The interfaces the fabric engine looks for.
var (
	_ emu.Device           = (*Switch)(nil)
	_ emu.PortStateHandler = (*Switch)(nil)
	_ emu.Starter          = (*Switch)(nil)
)

// switchInfo is the changeable part of SwitchInfo (IBTA Vol 1 §14.2.5.4).
type switchInfo struct {
	linearFDBTop      wire.LID
	defaultPort       uint8
	defMcastPrimary   uint8
	defMcastNotPrim   uint8
	lifeTimeValue     uint8
	portStateChange   bool
	optimizedSLtoVL   uint8
	multicastFDBTop   uint16
	mcastTopSupported bool
}

// New creates a switch that is not yet part of a fabric. Add it with
// emu.Fabric.AddNode(name, wire.NodeTypeSwitch, s.NumPorts(), s,
// s.PortConfigs()...); it binds to its node when the fabric starts. Add
// does both in one call.
func New(cfg Config) (*Switch, error) {
	prof := cfg.Profile
	if prof.Name == "" {
		prof = DefaultProfile()
	}
	if err := prof.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	n := cfg.NumPorts
	if n == 0 {
		n = prof.NumPorts
	}
	if n < 1 || n > 254 {
		return nil, fmt.Errorf("%w: %d ports is outside 1..254", ErrConfig, n)
	}
	if cfg.NodeGUID == 0 {
		return nil, fmt.Errorf("%w: node guid 0", ErrConfig)
	}
	desc := cfg.Description
	if desc == "" {
		desc = prof.Description
	}
	s := &Switch{
		prof:   prof,
		nports: n,
		guid:   cfg.NodeGUID,
		noTrap: cfg.DisableTrap128,
		lft:    newLFT(prof.LinearFDBCap),
		mft:    newMFT(prof.MulticastFDBCap, n),
		info: switchInfo{
			defaultPort:       DropPort,
			defMcastPrimary:   DropPort,
			defMcastNotPrim:   DropPort,
			lifeTimeValue:     prof.LifeTimeValue,
			mcastTopSupported: prof.CapabilityMask&CapIsMulticastFDBTopSupported != 0,
		},
		log: slog.New(slog.DiscardHandler),
	}
	s.portCfgs = make([]emu.PortConfig, n)
	pc := emu.PortConfig{}
	for i := range n {
		if i < len(cfg.Ports) {
			pc = cfg.Ports[i]
		}
		c := pc
		if c.WidthSupported == 0 {
			c.WidthSupported = prof.WidthSupported
		}
		if c.SpeedSupported == 0 {
			c.SpeedSupported = prof.SpeedSupported
		}
		s.portCfgs[i] = c
	}

	opts := agent.SMAOptions{TrapRetry: cfg.TrapRetry, TrapRetries: cfg.TrapRetries}
	opts.Transmit = func(_ *emu.Port, frame []byte) { s.sendFromPort0(frame, true) }
	port0 := agent.PortConfig{
		CapabilityMask: wire.PortCapabilityMask(prof.CapabilityMask),
		MTUCap:         prof.MTUCap,
		VLCap:          prof.VLCap,
		VLArbHighCap:   prof.VLArbitrationHighCap,
		VLArbLowCap:    prof.VLArbitrationLowCap,
		GUIDCap:        1,
		PKeyCap:        prof.PartitionCap,
	}
	ext := port0
	ext.CapabilityMask = 0
	ext.PKeyCap = max(prof.PartitionEnforcementCap, 1)
	sma, err := agent.NewSMA(agent.NodeConfig{
		Type:            wire.NodeTypeSwitch,
		NumPorts:        n,
		SystemImageGUID: cfg.SystemImageGUID,
		NodeGUID:        cfg.NodeGUID,
		PartitionCap:    prof.PartitionCap,
		DeviceID:        prof.DeviceID,
		Revision:        prof.Revision,
		VendorID:        prof.VendorID,
		Description:     desc,
	}, []agent.PortConfig{port0, ext}, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s.sma = sma
	s.pa = make([]*agent.PortAttrs, n+1)
	for i := range s.pa {
		s.pa[i] = sma.Port(i)
		s.pa[i].VLHighLimit = prof.VLHighLimit
	}
	s.registerSMA()
	prof.ConfigureSMA(sma)
	s.pma = agent.NewPMA(wire.NodeTypeSwitch, agent.PMAConfig{})
	s.newCC()
	if s.vendor, err = agent.NewVendor(prof.Firmware); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

// Add creates a switch and adds it to f as node name, with one port
// config per external port from the profile (and Config.Ports).
func Add(f *emu.Fabric, name string, cfg Config) (*Switch, error) {
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	n, err := f.AddNode(name, wire.NodeTypeSwitch, s.nports, s, s.portCfgs...)
	if err != nil {
		return nil, fmt.Errorf("ibswitch: add %q: %w", name, err)
	}
	if err := s.bind(n); err != nil {
		return nil, err
	}
	return s, nil
}

// bind attaches the switch to its node.
func (s *Switch) bind(n *emu.Node) error {
	if s.node == n {
		return nil
	}
	if s.node != nil {
		return fmt.Errorf("ibswitch: %s is already bound to %s", n, s.node)
	}
	if err := s.sma.Bind(n); err != nil {
		return fmt.Errorf("ibswitch: bind %s: %w", n, err)
	}
	s.node = n
	s.ports = n.Ports()
	s.log = n.Fabric().Logger().With("node", n.Name())
	return nil
}

// Start binds the switch to its node when the fabric starts (emu.Starter)
// and starts the firmware's uptime.
func (s *Switch) Start(n *emu.Node) {
	if err := s.bind(n); err != nil {
		n.Fabric().Logger().Error("ibswitch: start", "err", err)
		return
	}
	s.vendor.Start(n.Fabric().Now())
	// Links that trained before the fabric started went Down->Init
	// without a callback: that too is a port state change.
	for _, p := range n.Ports()[1:] {
		if p.IsUp() {
			s.info.portStateChange = true
		}
	}
}

// Node is the emu node the switch runs as (nil before it is added).
func (s *Switch) Node() *emu.Node { return s.node }

// Profile returns the switch's profile.
func (s *Switch) Profile() Profile { return s.prof }

// NumPorts is the number of external ports.
func (s *Switch) NumPorts() int { return s.nports }

// GUID is the node GUID (also port 0's GUID).
func (s *Switch) GUID() wire.GUID { return s.guid }

// PortConfigs returns the link capabilities of ports 1..NumPorts, for
// emu.Fabric.AddNode.
func (s *Switch) PortConfigs() []emu.PortConfig { return append([]emu.PortConfig(nil), s.portCfgs...) }

// SMA is the switch's subnet management agent (the shared agent of
// emu/agent with the switch attributes registered). Its PortAttrs hold
// each port's LID, P_Key table, SL-to-VL tables and enforcement flags.
func (s *Switch) SMA() *agent.SMA { return s.sma }

// Stats returns what the switch has done so far. It may be called from
// any goroutine.
func (s *Switch) Stats() Stats {
	return Stats{
		Forwarded: s.stats.Forwarded.Load(), Replicated: s.stats.Replicated.Load(), Local: s.stats.Local.Load(),
		DRRelayed: s.stats.DRRelayed.Load(), SMPReplies: s.stats.SMPReplies.Load(), GMPReplies: s.stats.GMPReplies.Load(),
		Dropped: s.stats.Dropped.Load(),
	}
}

// LID is port 0's base LID (0 until the SM assigns one).
func (s *Switch) LID() wire.LID { return s.pa[0].LID }

// SetLID assigns port 0's LID and LMC directly, as a topology file's
// "lid=" does; the SM normally sets them with PortInfo.
func (s *Switch) SetLID(lid wire.LID, lmc uint8) error {
	if lid != wire.LIDUnassigned && !lid.IsUnicast() {
		return fmt.Errorf("%w: lid %d is not unicast", ErrRange, lid)
	}
	if lmc > 7 {
		return fmt.Errorf("%w: lmc %d", ErrRange, lmc)
	}
	s.pa[0].LID, s.pa[0].LMC = lid, lmc
	return nil
}

// PortStateChanged reacts to a physical link change on an external port
// (emu.PortStateHandler): it sets SwitchInfo.PortStateChange and sends
// Trap 128 to the master SM when port 0 has a LID, knows the SM's LID and
// has a route to it (IBTA Vol 1 §14.2.5.4, §14.2.5.1).
func (s *Switch) PortStateChanged(p *emu.Port) {
	if p.Num() == 0 || p.Node() != s.node {
		return
	}
	s.info.portStateChange = true
	if s.noTrap {
		return
	}
	if !s.trapRoute() {
		return
	}
	tid, err := s.sma.SendTrap(0, agent.LinkStateChangeNotice(s.pa[0].LID))
	if err != nil {
		s.log.Debug("ibswitch: trap 128 not sent", "err", err)
		return
	}
	s.trapTIDs = append(s.trapTIDs, tid)
}

// trapRoute reports whether a trap from port 0 can reach the master SM:
// port 0 has a LID and a MasterSMLID, and the forwarding table leads to
// an external port whose link is up (or the SM is the switch itself).
func (s *Switch) trapRoute() bool {
	p0 := s.pa[0]
	sm := p0.MasterSMLID
	if p0.LID == wire.LIDUnassigned || sm == wire.LIDUnassigned || !sm.IsUnicast() {
		return false
	}
	if p0.OwnsLID(sm) {
		return false // an SM on the switch's own port 0 is not emulated
	}
	out, ok := s.unicastEgress(sm)
	if !ok || out == 0 {
		return false
	}
	ep := s.node.Port(int(out))
	return ep != nil && ep.IsUp() && ep.State() >= wire.PortStateInit
}

// TrapTIDs returns the transaction IDs of the Trap 128s sent so far.
func (s *Switch) TrapTIDs() []uint64 { return append([]uint64(nil), s.trapTIDs...) }
