package discover_test

import (
	"context"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// emuFabric is a topology brought up in the emulator with real HCAs and
// switches, for discovery to walk.
type emuFabric struct {
	f     *emu.Fabric
	topo  *topology.Topology
	nodes map[*topology.Node]*emu.Node
	hcas  map[*topology.Node]*hca.Device
}

// buildFabric creates the nodes and links of topo (switches from the
// default InfiniScale profile, CAs from the ConnectX-2 profile with their
// port count), gives every switch and CA port a LID when lids is set, and
// starts the fabric. It then rewrites topo to what the emulator reports,
// so that topo is the oracle discovery is compared with: NodeInfo vendor
// and device IDs from the device profiles, and every link's active width
// and speed from the emu ports.
func buildFabric(tb testing.TB, topo *topology.Topology, lids bool, opts ...emu.Option) *emuFabric {
	tb.Helper()
	f := emu.New(opts...)
	ef := &emuFabric{f: f, topo: topo, nodes: map[*topology.Node]*emu.Node{}, hcas: map[*topology.Node]*hca.Device{}}
	profiles := hca.StandardProfiles()
	var next wire.LID = 1
	lid := func() wire.LID {
		if !lids {
			return 0
		}
		next++
		return next - 1
	}
	for _, n := range topo.Nodes {
		switch n.Type {
		case wire.NodeTypeSwitch:
			s, err := ibswitch.Add(f, n.ID, ibswitch.Config{NumPorts: n.NumPorts, NodeGUID: n.NodeGUID,
				SystemImageGUID: n.SysImageGUID, Description: n.Desc})
			if err != nil {
				tb.Fatalf("switch %s: %v", n.ID, err)
			}
			ef.nodes[n] = s.Node()
			n.VendorID, n.DeviceID = s.Profile().VendorID, s.Profile().DeviceID
			n.EnhancedPort0 = s.Profile().EnhancedPort0
			n.LID, n.LMC = lid(), 0
			if n.LID != 0 {
				if err := s.SetLID(n.LID, 0); err != nil {
					tb.Fatal(err)
				}
			}
		case wire.NodeTypeCA:
			prof, err := profiles.ByDeviceID(0x673C, n.NumPorts) // ConnectX-2
			if err != nil {
				tb.Fatalf("CA %s: %v", n.ID, err)
			}
			guids := make([]wire.GUID, n.NumPorts)
			for i := range guids {
				guids[i] = n.Ports[i+1].GUID
			}
			d, err := hca.Add(f, n.ID, hca.Config{Profile: prof, NodeGUID: n.NodeGUID, SystemImageGUID: n.SysImageGUID,
				PortGUIDs: guids, Description: n.Desc})
			if err != nil {
				tb.Fatalf("CA %s: %v", n.ID, err)
			}
			ef.nodes[n], ef.hcas[n] = d.Node(), d
			n.VendorID, n.DeviceID = prof.VendorID, prof.DeviceID
			for i := 1; i <= n.NumPorts; i++ {
				n.Ports[i].LID, n.Ports[i].LMC = lid(), 0
				d.SMA().Port(i).LID = n.Ports[i].LID
			}
		default:
			tb.Fatalf("node %s: %s nodes are not emulated", n.ID, n.Type)
		}
	}
	for _, l := range topo.Links() {
		if _, err := f.Connect(ef.nodes[l.A.Node].Port(l.A.Num), ef.nodes[l.B.Node].Port(l.B.Num)); err != nil {
			tb.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Stop(); cancel() })
	if err := f.Do(func() {
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
