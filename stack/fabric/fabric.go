// Package fabric assembles a running emulated fabric from a topology: one
// emulated Mellanox HCA (package hca) per CA, one emulated Mellanox switch
// (package ibswitch) per switch, one router per router, joined by links
// that train to the widths and speeds the topology gives. Device models
// are chosen by the topology's device IDs (or the default models), GUIDs,
// descriptions and LIDs come from the topology, and so does a switch's
// "enhanced port 0" (SwitchInfo.EnhancedPort0, IBTA Vol 1 §14.2.5.4).
//
// A router ("Rt" in the file) is an hca.Device with a router profile
// (hca.Profile.AsRouter of the model a CA with its device ID would get):
// an end node that reports NodeType router (IBTA Vol 1 §14.2.5.3), with
// its own SMA, LIDs, P_Key and GUID tables per port, as ibsim models
// routers. It does not forward packets between its ports or subnets
// (inter-subnet routing, IBTA Vol 1 §19, is not emulated) and has no
// verbs engine. The hca package serves it because a router's management
// face is a CA's; a separate device package would duplicate the HCA's
// QP0/QP1 demultiplexing and host-agent interface for nothing.
//
// Models follow the rates the topology states, as a real cluster's
// hardware would: a node without a device ID (and without a model forced
// by WithHCAProfile or WithSwitchProfile) gets the oldest model of
// hca.Generations or ibswitch.Generations whose ports support every speed
// its links state or enable (and 2x lanes when a link states 2x), so a
// 4xEDR link between two such nodes joins ConnectX-4 HCAs and Switch-IB
// switches, and a 4xFDR10 link ConnectX-3 and SwitchX-2 (FDR10 lives in
// Mellanox's MlnxExtPortInfo, which those models answer). When no model
// can (an NDR link), the newest is taken and its ports' supported masks
// grow, with IsExtendedSpeedsSupported set whenever a port supports FDR
// or faster, so a device's PortInfo never shows a rate it does not
// support. ibsim nets that state nothing keep the default models.
//
// It is the one place that knows both device packages, so commands, the
// test helper (stack/ibtest), scenarios and the host stack build fabrics
// through it. It imports emu, emu/topology, hca and ibswitch.
package fabric

import (
	"context"
	"errors"
	"fmt"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// Option configures Build.
type Option func(*config)

type config struct {
	emuOpts       []emu.Option
	hcaProfiles   *hca.Registry
	hcaProfile    string
	switchProfile string
}

// WithEmuOptions passes options to the engine (clock, seed, latency, logger).
func WithEmuOptions(opts ...emu.Option) Option {
	return func(c *config) { c.emuOpts = append(c.emuOpts, opts...) }
}

// WithHCAProfiles sets the registry HCA models are looked up in (default
// hca.StandardProfiles()).
func WithHCAProfiles(r *hca.Registry) Option { return func(c *config) { c.hcaProfiles = r } }

// WithHCAProfile makes every CA use the named HCA model, whatever its
// device ID says; routers are built from it too (hca.Profile.AsRouter).
func WithHCAProfile(name string) Option { return func(c *config) { c.hcaProfile = name } }

// WithSwitchProfile makes every switch use the named switch model.
func WithSwitchProfile(name string) Option { return func(c *config) { c.switchProfile = name } }

// Fabric is an emulated fabric built from a topology.
type Fabric struct {
	// Emu is the engine.
	Emu *emu.Fabric
	// Topology is the topology the fabric was built from.
	Topology *topology.Topology
	// HCAs, Switches and Routers list the devices in topology order.
	HCAs     []*HCA
	Switches []*Switch
	Routers  []*Router

	byID map[string]*emu.Node
}

// HCA is one emulated CA with the topology node it came from.
type HCA struct {
	Topo   *topology.Node
	Node   *emu.Node
	Device *hca.Device
}

// Router is one emulated router (an hca.Device with a router profile)
// with the topology node it came from.
type Router struct {
	Topo   *topology.Node
	Node   *emu.Node
	Device *hca.Device
}

// Switch is one emulated switch with the topology node it came from.
type Switch struct {
	Topo   *topology.Node
	Node   *emu.Node
	Switch *ibswitch.Switch
}

// Build creates the devices and links of t in a new engine. The fabric is
// not started.
func Build(t *topology.Topology, opts ...Option) (*Fabric, error) {
	if t == nil {
		return nil, errors.New("fabric: nil topology")
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("fabric: %w", err)
	}
	cfg := config{hcaProfiles: hca.StandardProfiles()}
	for _, o := range opts {
		o(&cfg)
	}
	f := &Fabric{Emu: emu.New(cfg.emuOpts...), Topology: t, byID: make(map[string]*emu.Node, len(t.Nodes))}
	var errs []error
	for _, n := range t.Nodes {
		var err error
		switch n.Type {
		case wire.NodeTypeSwitch:
			err = f.addSwitch(&cfg, n)
		case wire.NodeTypeCA, wire.NodeTypeRouter:
			err = f.addHCA(&cfg, n)
		default:
			err = fmt.Errorf("%s is a %s: only CAs, switches and routers are emulated", n, n.Type)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("fabric: node %s (%s:%d): %w", n, n.File, n.Line, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, l := range t.Links() {
		a := f.byID[l.A.Node.ID].Port(l.A.Num)
		b := f.byID[l.B.Node.ID].Port(l.B.Num)
		if _, err := f.Emu.Connect(a, b); err != nil {
			return nil, fmt.Errorf("fabric: %w", err)
		}
	}
	return f, nil
}

// portConfigs merges the topology's enabled widths and speeds into a
// device's port capabilities. A link whose active rate the topology states
// (ibnetdiscover's "4xQDR") is enabled for exactly that rate, so it trains
// to it; the supported masks grow to include what the topology enables.
func portConfigs(n *topology.Node, base []emu.PortConfig) []emu.PortConfig {
	out := make([]emu.PortConfig, n.NumPorts)
	for i := range out {
		var b emu.PortConfig
		if len(base) > 0 {
			b = base[min(i, len(base)-1)]
		}
		p := n.Ports[i+1]
		we, se := p.WidthEnabled, p.SpeedEnabled
		if p.Width != 0 {
			we = uint8(p.Width)
		}
		switch {
		case p.Speed != 0 && p.FDR10:
			// FDR10 runs on top of QDR's PortInfo speeds: PortInfo
			// still enables SDR to QDR, MlnxExtPortInfo FDR10.
			se = wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR | wire.SpeedFDR10
		case p.Speed != 0:
			se = p.Speed
		case p.FDR10Enabled && b.SpeedSupported.HasFDR10():
			// The Mellanox enable bit: only a model with FDR10 has it.
			se |= wire.SpeedFDR10
		}
		if we != 0 {
			b.WidthSupported |= we
			b.WidthEnabled = we
		}
		if se != 0 {
			b.SpeedSupported |= se
			b.SpeedEnabled = se
		}
		out[i] = b
	}
	return out
}

// needs is what the links of n ask of its ports: the speeds they state,
// else the speeds they enable (FDR10 when a port enables it with nothing
// faster), and 2x when one states it. Widths other than 2x are not asked
// of a model: the default models grow to them, as before any model ran
// 2x.
func needs(n *topology.Node) (widths wire.LinkWidth, speeds wire.LinkSpeed) {
	for _, p := range n.Ports[1:] {
		if p == nil {
			continue
		}
		switch {
		case p.Speed != 0 && p.FDR10:
			speeds |= wire.SpeedFDR10
		case p.Speed != 0:
			speeds |= p.Speed
		default:
			speeds |= p.SpeedEnabled
			if p.FDR10Enabled && p.SpeedEnabled < wire.SpeedFDR {
				speeds |= wire.SpeedFDR10
			}
		}
		if p.Width == wire.Width2X {
			widths |= wire.Width2X
		}
	}
	return widths, speeds
}

// extSpeeds are the LinkSpeedExt speeds.
const extSpeeds = wire.SpeedFDR | wire.SpeedEDR | wire.SpeedHDR | wire.SpeedNDR

// hasExt reports whether any port config supports an extended speed.
func hasExt(cfgs []emu.PortConfig) bool {
	for _, c := range cfgs {
		if c.SpeedSupported&extSpeeds != 0 {
			return true
		}
	}
	return false
}

// hasFDR10 reports whether any port config supports FDR10.
func hasFDR10(cfgs []emu.PortConfig) bool {
	for _, c := range cfgs {
		if c.SpeedSupported.HasFDR10() {
			return true
		}
	}
	return false
}

// switchFor picks the switch model for n by generation (see the package
// doc): the default when it can run what n's links need.
func switchFor(n *topology.Node) ibswitch.Profile {
	w, sp := needs(n)
	var last ibswitch.Profile
	for _, name := range ibswitch.Generations {
		p, ok := ibswitch.LookupProfile(name)
		if !ok {
			continue
		}
		if p.CanRun(uint8(w), sp) {
			return p
		}
		last = p
	}
	return last
}

// hcaFor picks the HCA model for n by generation (see the package doc),
// with n's port count when the registry has that variant.
func hcaFor(c *config, n *topology.Node) *hca.Profile {
	def := c.hcaProfiles.Default()
	w, sp := needs(n)
	if def == nil || def.CanRun(w, sp) {
		return def
	}
	var last *hca.Profile
	for _, name := range hca.Generations {
		p, err := c.hcaProfiles.Lookup(name)
		if err != nil {
			continue
		}
		if byPorts, err := c.hcaProfiles.ByDeviceID(p.DeviceID, n.NumPorts); err == nil {
			p = byPorts
		}
		if p.CanRun(w, sp) {
			return p
		}
		last = p
	}
	if last == nil {
		return def
	}
	return last
}

func (f *Fabric) addSwitch(c *config, n *topology.Node) error {
	prof := ibswitch.DefaultProfile()
	switch {
	case c.switchProfile != "":
		p, ok := ibswitch.LookupProfile(c.switchProfile)
		if !ok {
			return fmt.Errorf("no switch profile %q", c.switchProfile)
		}
		prof = p
	case n.DeviceID != 0:
		if p, ok := ibswitch.ProfileByDeviceID(n.DeviceID); ok {
			prof = p
		} else {
			prof.DeviceID = n.DeviceID // an unknown model: keep its identity
		}
	default:
		prof = switchFor(n)
	}
	if n.VendorID != 0 {
		prof.VendorID = n.VendorID
	}
	if n.EnhancedPort0 {
		// The file says "enhanced port 0" (ibnetdiscover prints it from
		// SwitchInfo); without it the model's default stands.
		prof.EnhancedPort0 = true
	}
	base := make([]emu.PortConfig, 1)
	base[0] = emu.PortConfig{WidthSupported: prof.WidthSupported, SpeedSupported: prof.SpeedSupported}
	ports := portConfigs(n, base)
	if hasExt(ports) {
		// Ports grown to FDR or faster carry LinkSpeedExt*: port 0 says
		// so for all of them.
		prof.CapabilityMask |= ibswitch.CapIsExtendedSpeedsSupported
	}
	if hasFDR10(ports) {
		prof.MlnxExtPortInfo = true
	}
	s, err := ibswitch.New(ibswitch.Config{
		Profile: prof, NumPorts: n.NumPorts, NodeGUID: n.NodeGUID, SystemImageGUID: n.SysImageGUID,
		Description: n.Desc, Ports: ports,
	})
	if err != nil {
		return err
	}
	node, err := f.Emu.AddNode(n.ID, wire.NodeTypeSwitch, s.NumPorts(), s, s.PortConfigs()...)
	if err != nil {
		return err
	}
	if n.LID != 0 {
		if err := s.SetLID(n.LID, n.LMC); err != nil {
			return err
		}
	}
	f.byID[n.ID] = node
	f.Switches = append(f.Switches, &Switch{Topo: n, Node: node, Switch: s})
	return nil
}

func (f *Fabric) addHCA(c *config, n *topology.Node) error {
	var prof *hca.Profile
	var err error
	switch {
	case c.hcaProfile != "":
		prof, err = c.hcaProfiles.Lookup(c.hcaProfile)
	case n.DeviceID != 0:
		prof, err = c.hcaProfiles.ByDeviceID(n.DeviceID, n.NumPorts)
		if err != nil {
			prof, err = c.hcaProfiles.ByDeviceID(n.DeviceID, 0)
		}
		if err != nil {
			prof, err = c.hcaProfiles.Default(), nil
			p := *prof
			p.DeviceID = n.DeviceID // an unknown model: keep its identity
			prof = &p
		}
	default:
		prof = hcaFor(c, n)
	}
	if err != nil {
		return err
	}
	if n.Type == wire.NodeTypeRouter {
		prof = prof.AsRouter(n.NumPorts)
	}
	if prof.NumPorts != n.NumPorts || (n.VendorID != 0 && n.VendorID != prof.VendorID) {
		p := *prof
		p.NumPorts = n.NumPorts
		if n.VendorID != 0 {
			p.VendorID = n.VendorID
		}
		prof = &p
	}
	ports := portConfigs(n, prof.PortConfigs())
	if ext, fdr10 := hasExt(ports), hasFDR10(ports); (ext && !prof.CapabilityMask.Has(wire.PortCapIsExtendedSpeedsSupported)) ||
		(fdr10 && !prof.MlnxExtPortInfo) {
		// Ports grown beyond the model: PortInfo and MlnxExtPortInfo
		// must be able to show what they run.
		p := *prof
		if ext {
			p.CapabilityMask |= wire.PortCapIsExtendedSpeedsSupported
		}
		if fdr10 {
			p.MlnxExtPortInfo = true
		}
		prof = &p
	}
	guids := make([]wire.GUID, n.NumPorts)
	for i := range guids {
		guids[i] = n.Ports[i+1].GUID
	}
	d, err := hca.New(hca.Config{Profile: prof, NodeGUID: n.NodeGUID, SystemImageGUID: n.SysImageGUID,
		PortGUIDs: guids, Description: n.Desc})
	if err != nil {
		return err
	}
	node, err := f.Emu.AddNode(n.ID, prof.Type(), n.NumPorts, d, ports...)
	if err != nil {
		return err
	}
	for i := 1; i <= n.NumPorts; i++ {
		if p := n.Ports[i]; p.LID != 0 {
			pa := d.SMA().Port(i)
			pa.LID, pa.LMC = p.LID, p.LMC
		}
	}
	f.byID[n.ID] = node
	if n.Type == wire.NodeTypeRouter {
		f.Routers = append(f.Routers, &Router{Topo: n, Node: node, Device: d})
		return nil
	}
	f.HCAs = append(f.HCAs, &HCA{Topo: n, Node: node, Device: d})
	return nil
}

// Start starts the engine (and with it every device).
func (f *Fabric) Start(ctx context.Context) error { return f.Emu.Start(ctx) }

// Stop stops the engine.
func (f *Fabric) Stop() { f.Emu.Stop() }

// Node returns the engine node of the topology node with id, or nil.
func (f *Fabric) Node(id string) *emu.Node { return f.byID[id] }

// HCA returns the HCA whose topology id or NodeDescription is name, or nil.
func (f *Fabric) HCA(name string) *HCA {
	return byName(f.HCAs, func(h *HCA) *topology.Node { return h.Topo }, name)
}

// Switch returns the switch whose topology id or NodeDescription is name, or nil.
func (f *Fabric) Switch(name string) *Switch {
	return byName(f.Switches, func(s *Switch) *topology.Node { return s.Topo }, name)
}

// Router returns the router whose topology id or NodeDescription is name,
// or nil.
func (f *Fabric) Router(name string) *Router {
	return byName(f.Routers, func(r *Router) *topology.Node { return r.Topo }, name)
}

// byName returns the element of nodes whose topology node (topo) has id
// name, else the first whose NodeDescription is name, or nil.
func byName[T any](nodes []*T, topo func(*T) *topology.Node, name string) *T {
	for _, n := range nodes {
		if topo(n).ID == name {
			return n
		}
	}
	for _, n := range nodes {
		if topo(n).Desc == name {
			return n
		}
	}
	return nil
}

// FirstHCA is the first CA of the topology (ibsim's and ibnetdiscover's
// default starting point), or nil when there is none.
func (f *Fabric) FirstHCA() *HCA {
	if len(f.HCAs) == 0 {
		return nil
	}
	return f.HCAs[0]
}
