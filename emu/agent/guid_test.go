package agent

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

func TestSetNodeGUIDFollowsDerivedGUIDs(t *testing.T) {
	ca, err := NewSMA(NodeConfig{Type: wire.NodeTypeCA, NumPorts: 2, NodeGUID: 0x100},
		[]PortConfig{{GUIDCap: 4}, {GUID: 0x999, GUIDCap: 4}}, SMAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ca.SetNodeGUID(0x500)
	if n := ca.Node(); n.NodeGUID != 0x500 || n.SystemImageGUID != 0x500 {
		t.Errorf("node guid %#x system image %#x, want 0x500 both", n.NodeGUID, n.SystemImageGUID)
	}
	if g := ca.Port(1).Config.GUID; g != 0x501 {
		t.Errorf("port 1 guid %#x, want 0x501", g)
	}
	if g := ca.Port(1).GUID(0); g != 0x501 {
		t.Errorf("port 1 guidinfo[0] %#x, want 0x501", g)
	}
	if g := ca.Port(2).Config.GUID; g != 0x999 {
		t.Errorf("explicit port 2 guid changed to %#x", g)
	}
	sw, err := NewSMA(NodeConfig{Type: wire.NodeTypeSwitch, NumPorts: 4, NodeGUID: 0x200, SystemImageGUID: 0x77},
		[]PortConfig{{}}, SMAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sw.SetNodeGUID(0x300)
	if n := sw.Node(); n.NodeGUID != 0x300 || n.SystemImageGUID != 0x77 {
		t.Errorf("switch node guid %#x system image %#x", n.NodeGUID, n.SystemImageGUID)
	}
	if g := sw.Port(0).Config.GUID; g != 0x300 {
		t.Errorf("switch port 0 guid %#x, want 0x300", g)
	}
}
