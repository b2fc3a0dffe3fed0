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
		if p.Speed != 0 {
			se = p.Speed
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
	s, err := ibswitch.New(ibswitch.Config{
		Profile: prof, NumPorts: n.NumPorts, NodeGUID: n.NodeGUID, SystemImageGUID: n.SysImageGUID,
		Description: n.Desc, Ports: portConfigs(n, base),
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
		prof = c.hcaProfiles.Default()
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
	guids := make([]wire.GUID, n.NumPorts)
	for i := range guids {
		guids[i] = n.Ports[i+1].GUID
	}
	d, err := hca.New(hca.Config{Profile: prof, NodeGUID: n.NodeGUID, SystemImageGUID: n.SysImageGUID,
		PortGUIDs: guids, Description: n.Desc})
	if err != nil {
		return err
	}
	node, err := f.Emu.AddNode(n.ID, prof.Type(), n.NumPorts, d, portConfigs(n, prof.PortConfigs())...)
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
