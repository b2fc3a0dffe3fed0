package discover_test

import (
	"context"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/fabric"
)

// emuFabric is a topology brought up in the emulator with real HCAs and
// switches (stack/fabric), for discovery to walk.
type emuFabric struct {
	f     *emu.Fabric
	topo  *topology.Topology
	nodes map[*topology.Node]*emu.Node
	hcas  map[*topology.Node]*hca.Device
}

// buildFabric gives every switch and CA port a LID when lids is set,
// builds topo with stack/fabric and starts it. It then rewrites topo to
// what the emulator reports, so that topo is the oracle discovery is
// compared with: NodeInfo vendor and device IDs and EnhancedPort0 from
// the device profiles, and every link's active width and speed and every
// port's enabled masks from the emu ports.
func buildFabric(tb testing.TB, topo *topology.Topology, lids bool, opts ...emu.Option) *emuFabric {
	tb.Helper()
	if lids {
		var next wire.LID = 1
		for _, n := range topo.Nodes {
			if n.IsSwitch() {
				n.LID, n.LMC = next, 0
				next++
				continue
			}
			for _, p := range n.Ports[1:] {
				p.LID, p.LMC = next, 0
				next++
			}
		}
	}
	fab, err := fabric.Build(topo, fabric.WithEmuOptions(opts...))
	if err != nil {
		tb.Fatalf("build: %v", err)
	}
	ef := &emuFabric{f: fab.Emu, topo: topo, nodes: map[*topology.Node]*emu.Node{}, hcas: map[*topology.Node]*hca.Device{}}
	for _, s := range fab.Switches {
		ef.nodes[s.Topo] = s.Node
		prof := s.Switch.Profile()
		s.Topo.VendorID, s.Topo.DeviceID, s.Topo.EnhancedPort0 = prof.VendorID, prof.DeviceID, prof.EnhancedPort0
	}
	for _, h := range fab.HCAs {
		ef.nodes[h.Topo], ef.hcas[h.Topo] = h.Node, h.Device
		prof := h.Device.Profile()
		h.Topo.VendorID, h.Topo.DeviceID = prof.VendorID, prof.DeviceID
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := fab.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fab.Stop(); cancel() })
	if err := ef.f.Do(func() {
		for _, n := range topo.Nodes {
			for i := 1; i <= n.NumPorts; i++ {
				p, ep := n.Ports[i], ef.nodes[n].Port(i)
				p.Width, p.Speed = 0, 0
				if p.Remote != nil && ep.IsUp() {
					p.Width, p.Speed = ep.Width(), ep.Speed()
				}
				p.WidthEnabled, p.SpeedEnabled = ep.WidthEnabled(), ep.SpeedEnabled()
			}
		}
	}); err != nil {
		tb.Fatal(err)
	}
	return ef
}

// hcaPort returns the HCA device and port number of topology port p.
func (ef *emuFabric) hcaPort(tb testing.TB, p *topology.Port) (*hca.Device, int) {
	tb.Helper()
	d := ef.hcas[p.Node]
	if d == nil {
		tb.Fatalf("%s is not an HCA port", p)
	}
	return d, p.Num
}
