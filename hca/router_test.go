package hca_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// routerB makes the bench's device b a two-port router built from the
// default CA profile.
func routerB(_, b *hca.Config) {
	b.Profile = hca.StandardProfiles().Default().AsRouter(2)
}

// TestRouterSMA: a device with a router profile answers NodeInfo with
// NodeType router (IBTA Vol 1 §14.2.5.3), its per-port GUID, LocalPortNum
// and port count; PortInfo, GUIDInfo and P_KeyTable as an end port; and
// takes a LID per port from PortInfo Set, like a CA port.
func TestRouterSMA(t *testing.T) {
	bt := newBench(t, routerB)
	if bt.b.Node().Type() != wire.NodeTypeRouter {
		t.Fatalf("engine node type %s, want router", bt.b.Node().Type())
	}
	ni := wire.NodeInfo(bt.getDR(t, wire.AttrNodeInfo, 0).Data()).Fields()
	if ni.NodeType != wire.NodeTypeRouter || ni.NumPorts != 2 || ni.PortGUID != guidB+1 || ni.LocalPortNum != 1 || ni.NodeGUID != guidB {
		t.Errorf("router NodeInfo %+v", ni)
	}
	pi := wire.PortInfo(bt.getDR(t, wire.AttrPortInfo, 0).Data())
	if pi.LocalPortNum() != 1 || pi.PortState() != wire.PortStateInit {
		t.Errorf("router PortInfo: local port %d, state %s", pi.LocalPortNum(), pi.PortState())
	}
	caps := pi.CapabilityMask()
	if caps.Has(wire.PortCapIsCommunicationManagementSupported) || caps.Has(wire.PortCapIsAutomaticMigrationSupported) {
		t.Errorf("router advertises CM or APM: %v", caps)
	}
	if !caps.Has(wire.PortCapIsTrapSupported) || !caps.Has(wire.PortCapIsSLMappingSupported) {
		t.Errorf("router lost CA capabilities it keeps: %v", caps)
	}
	if g := wire.GUIDInfo(bt.getDR(t, wire.AttrGUIDInfo, 0).Data()); g.GUID(0) != guidB+1 {
		t.Errorf("router GUIDInfo entry 0 = %v, want %v", g.GUID(0), guidB+1)
	}
	if pk := wire.PKeyTable(bt.getDR(t, wire.AttrPKeyTable, 0).Data()); pk.PKey(0) != wire.PKeyDefault {
		t.Errorf("router P_KeyTable entry 0 = %v", pk.PKey(0))
	}
	// A router port has its own LID, as a CA port does.
	if r := bt.setDR(t, wire.AttrPortInfo, 0, 0, portInfoSet(7, 1, wire.PortStateNoChange)); r.Status() != wire.MADStatusOK {
		t.Fatalf("router PortInfo Set: %s", r.Status())
	}
	var lid wire.LID
	bt.do(t, func() { lid = bt.b.SMA().Port(1).LID })
	if lid != 7 {
		t.Errorf("router port 1 LID %d after Set, want 7", lid)
	}
	// SwitchInfo is a switch's: a router answers it with 0x000C.
	if st := bt.getDR(t, wire.AttrSwitchInfo, 0).Status(); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("router SwitchInfo: %s, want unsupported attribute", st)
	}
}

// TestRouterProfileValidate: a router may have up to 254 ports, a CA 2;
// AsRouter leaves the CA profile it copies alone.
func TestRouterProfileValidate(t *testing.T) {
	ca := hca.StandardProfiles().Default()
	r := ca.AsRouter(8)
	if err := r.Validate(); err != nil {
		t.Errorf("8-port router: %v", err)
	}
	if r.Type() != wire.NodeTypeRouter || ca.Type() != wire.NodeTypeCA || ca.NodeType != 0 {
		t.Errorf("types: router %s, ca %s (%d)", r.Type(), ca.Type(), ca.NodeType)
	}
	wide := *ca
	wide.NumPorts = 8
	if err := wide.Validate(); err == nil {
		t.Error("an 8-port CA profile validated")
	}
	bad := *ca
	bad.NodeType = wire.NodeTypeSwitch
	if err := bad.Validate(); err == nil {
		t.Error("a CA profile with node type switch validated")
	}
	if r.AsRouter(0).Name != r.Name {
		t.Errorf("AsRouter twice renamed %q to %q", r.Name, r.AsRouter(0).Name)
	}
}
