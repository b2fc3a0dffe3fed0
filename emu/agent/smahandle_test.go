package agent

import (
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

type nopDev struct{}

func (nopDev) HandlePacket(*emu.Port, []byte) {}

// process runs one LID-routed SMP through s.Process on port 0 and returns
// a copy of the answer (nil when none).
func process(t *testing.T, s *SMA, p *emu.Port, method wire.Method, attr wire.AttrID, tid uint64,
	inner func()) wire.SMP {
	t.Helper()
	smp := wire.SMP(make([]byte, wire.MADSize))
	smp.Encode(&wire.SMPFields{Method: method, AttrID: attr, TID: tid})
	var got wire.SMP
	s.Process(p, &Frame{MAD: wire.MAD(smp)}, func(resp wire.MAD) {
		if inner != nil {
			inner() // a nested Process must not disturb resp
		}
		got = wire.SMP(append([]byte(nil), resp...))
	})
	return got
}

// TestSMAHandleRegistry: handlers registered with Handle serve their
// attribute with exactly the methods given; registering an attribute
// again replaces its handler and methods; a registered handler takes over
// one of the SMA's own attributes; attributes nobody serves get 0x000C.
// A Process nested in a reply answers on its own and leaves the outer
// answer intact.
func TestSMAHandleRegistry(t *testing.T) {
	f := emu.New()
	n, err := f.AddNode("S", wire.NodeTypeSwitch, 4, nopDev{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSMA(NodeConfig{Type: wire.NodeTypeSwitch, NumPorts: 4, NodeGUID: 0x42}, []PortConfig{{}}, SMAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(n); err != nil {
		t.Fatal(err)
	}
	p0 := n.Port(0)
	mark := func(b byte) AttrHandler {
		return func(r *Request) wire.MADStatus { r.Data()[0] = b; return wire.MADStatusOK }
	}
	s.Handle(wire.AttrSwitchInfo, []wire.Method{wire.MethodGet}, mark(1))
	s.Handle(wire.AttrLinearForwardingTable, []wire.Method{wire.MethodGet, wire.MethodSet}, mark(2))
	if r := process(t, s, p0, wire.MethodGet, wire.AttrSwitchInfo, 1, nil); r.MAD().Status() != 0 || r.Data()[0] != 1 {
		t.Fatalf("SwitchInfo Get: status %v data %d", r.MAD().Status(), r.Data()[0])
	}
	if r := process(t, s, p0, wire.MethodSet, wire.AttrSwitchInfo, 2, nil); r.MAD().Status() != wire.MADStatusUnsupportedMethodAttr {
		t.Fatalf("SwitchInfo Set registered Get-only: status %v", r.MAD().Status())
	}
	s.Handle(wire.AttrSwitchInfo, []wire.Method{wire.MethodGet, wire.MethodSet}, mark(3))
	if len(s.attrs) != 2 {
		t.Fatalf("re-registering added an entry: %d entries", len(s.attrs))
	}
	if r := process(t, s, p0, wire.MethodSet, wire.AttrSwitchInfo, 3, nil); r.MAD().Status() != 0 || r.Data()[0] != 3 {
		t.Fatalf("SwitchInfo Set after re-registering: status %v data %d", r.MAD().Status(), r.Data()[0])
	}
	if r := process(t, s, p0, wire.MethodGet, wire.AttrLinearForwardingTable, 4, nil); r.Data()[0] != 2 {
		t.Fatalf("LFT Get: data %d", r.Data()[0])
	}
	if r := process(t, s, p0, wire.MethodGet, wire.AttrMulticastForwardingTable, 5, nil); r.MAD().Status() != wire.MADStatusUnsupportedMethodAttr {
		t.Fatalf("unregistered MFT Get: status %v", r.MAD().Status())
	}
	// NodeInfo is the SMA's own until a handler takes it over.
	var nested wire.SMP
	r := process(t, s, p0, wire.MethodGet, wire.AttrNodeInfo, 6, func() {
		nested = process(t, s, p0, wire.MethodGet, wire.AttrSwitchInfo, 7, nil)
	})
	if r.MAD().TID() != 6 || wire.NodeInfo(r.Data()).NodeGUID() != 0x42 {
		t.Fatalf("NodeInfo with a nested Process: tid %d guid %v", r.MAD().TID(), wire.NodeInfo(r.Data()).NodeGUID())
	}
	if nested.MAD().TID() != 7 || nested.Data()[0] != 3 {
		t.Fatalf("nested answer: tid %d data %d", nested.MAD().TID(), nested.Data()[0])
	}
	s.Handle(wire.AttrNodeInfo, []wire.Method{wire.MethodGet}, mark(9))
	if r := process(t, s, p0, wire.MethodGet, wire.AttrNodeInfo, 8, nil); r.Data()[0] != 9 {
		t.Fatalf("NodeInfo after Handle: data %d", r.Data()[0])
	}
}
