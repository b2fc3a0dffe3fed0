package fabric_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/fabric"
)

// routerNet is cmd/ibemu/testdata/router.net: an "enhanced port 0"
// switch, a "base port 0" switch, two CAs and a two-port router.
var routerNet = filepath.Join("..", "..", "cmd", "ibemu", "testdata", "router.net")

// TestBuildRouterAndEnhancedPort0: routers are built as router devices
// (NodeType 3 in the engine and in NodeInfo, IBTA Vol 1 §14.2.5.3) with
// the topology's port GUIDs, listed in Routers and not in HCAs; a
// switch's "enhanced port 0" reaches SwitchInfo, and a switch whose
// record does not say it keeps the model's base port 0.
func TestBuildRouterAndEnhancedPort0(t *testing.T) {
	topo, err := topology.Load(routerNet)
	if err != nil {
		t.Fatal(err)
	}
	f, err := fabric.Build(topo)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Routers) != 1 || len(f.HCAs) != 2 || len(f.Switches) != 2 {
		t.Fatalf("built %d routers, %d HCAs, %d switches; want 1, 2, 2", len(f.Routers), len(f.HCAs), len(f.Switches))
	}
	r := f.Router("rt1")
	if r == nil || f.HCA("rt1") != nil {
		t.Fatal("rt1 is not (only) a router")
	}
	if r.Node.Type() != wire.NodeTypeRouter || r.Device.Profile().Type() != wire.NodeTypeRouter || r.Device.SMA().Node().Type != wire.NodeTypeRouter {
		t.Errorf("rt1: engine %s, profile %s, sma %s", r.Node.Type(), r.Device.Profile().Type(), r.Device.SMA().Node().Type)
	}
	if r.Node.NumPorts() != 2 || r.Device.PortGUID(1) != 0x300001 || r.Device.PortGUID(2) != 0x300002 {
		t.Errorf("rt1: %d ports, guids %v %v", r.Node.NumPorts(), r.Device.PortGUID(1), r.Device.PortGUID(2))
	}
	if f.Router("nosuch") != nil || f.Router("edge base") != nil {
		t.Error("Router finds what is not a router")
	}
	for name, want := range map[string]bool{"edge enhanced": true, "edge base": false} {
		s := f.Switch(name)
		if s == nil {
			t.Fatalf("no switch %q", name)
		}
		if got := s.Switch.SwitchInfo().EnhancedPort0; got != want {
			t.Errorf("%s: EnhancedPort0 %v, want %v", name, got, want)
		}
	}
}

// TestBuildDefaultBasePort0: a switch record without "enhanced port 0"
// gets the model's default, base port 0.
func TestBuildDefaultBasePort0(t *testing.T) {
	topo, err := topology.Parse("plain.net", strings.NewReader("Switch 4 \"s\"\n[1] \"h\"[1]\n\nHca 1 \"h\"\n[1] \"s\"[1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := fabric.Build(topo)
	if err != nil {
		t.Fatal(err)
	}
	if f.Switch("s").Switch.SwitchInfo().EnhancedPort0 {
		t.Error("a switch without \"enhanced port 0\" reports it")
	}
}
