package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ibemu/ibemu/emu/wire"
)

// drFabric is net.2sw2path4hca from ibsim's examples:
//
//	Hca1:1 - 1:Switch1:3 - 3:Switch2:1 - 1:Hca2
//	Hca3:1 - 2:Switch1:5 - 5:Switch2:2 - 1:Hca4
//
// with the LIDs OpenSM gave it (Switch1 1, Hca1 2, Switch2 3, Hca2 4,
// Hca3 5, Hca4 6).
type drNode struct {
	isSwitch bool
	ports    int
	lid      wire.LID
}

type drEnd struct {
	node string
	port int
}

type drFabric struct {
	nodes map[string]drNode
	links map[drEnd]drEnd
	// tailEnd is the LID of the node that turned the last request into a
	// LID-routed tail: the LRH SLID the responder answers to.
	tailEnd wire.LID
}

func newDRFabric() *drFabric {
	f := &drFabric{
		nodes: map[string]drNode{
			"Switch1": {true, 8, 1}, "Switch2": {true, 8, 3},
			"Hca1": {false, 2, 2}, "Hca2": {false, 2, 4}, "Hca3": {false, 2, 5}, "Hca4": {false, 2, 6},
		},
		links: map[drEnd]drEnd{},
	}
	link := func(a string, ap int, b string, bp int) {
		f.links[drEnd{a, ap}] = drEnd{b, bp}
		f.links[drEnd{b, bp}] = drEnd{a, ap}
	}
	link("Switch1", 1, "Hca1", 1)
	link("Switch1", 2, "Hca3", 1)
	link("Switch1", 3, "Switch2", 3)
	link("Switch1", 5, "Switch2", 5)
	link("Switch2", 1, "Hca2", 1)
	link("Switch2", 2, "Hca4", 1)
	return f
}

// lidRoute follows the shortest path from node to the node owning lid and
// returns where it arrives (a LID-routed packet; no SMI runs on the way).
func (f *drFabric) lidRoute(from string, lid wire.LID) (drEnd, bool) {
	seen := map[string]bool{from: true}
	queue := []string{from}
	arrival := map[string]drEnd{}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if f.nodes[n].lid == lid {
			return arrival[n], true
		}
		if !f.nodes[n].isSwitch && n != from {
			continue // CAs do not forward
		}
		for p := 1; p <= f.nodes[n].ports; p++ {
			peer, ok := f.links[drEnd{n, p}]
			if !ok || seen[peer.node] {
				continue
			}
			seen[peer.node] = true
			arrival[peer.node] = peer
			queue = append(queue, peer.node)
		}
	}
	return drEnd{}, false
}

// walk runs the SMI of every node the SMP visits, starting with the node
// that produces it (inPort 0), until one delivers or drops it. leadInDLID
// is the LRH DLID a requester uses for a LID-routed lead-in. It returns one
// line per node and the delivering node.
func (f *drFabric) walk(t *testing.T, s wire.SMP, start string, leadInDLID wire.LID) (trace []string, end string) {
	t.Helper()
	at := drEnd{start, 0}
	for step := 0; step < 100; step++ {
		n := f.nodes[at.node]
		action, out, err := wire.DRProcess(s, at.port, n.isSwitch, n.ports)
		line := fmt.Sprintf("%s in=%d %s", at.node, at.port, action)
		if action == wire.DRForwardPort {
			line += fmt.Sprintf(" out=%d", out)
		}
		trace = append(trace, line+fmt.Sprintf(" hp=%d", s.HopPointer()))
		switch action {
		case wire.DRDrop:
			t.Fatalf("dropped at %s: %v\ntrace: %q", at.node, err, trace)
		case wire.DRDeliver:
			return trace, at.node
		case wire.DRForwardPort:
			next, ok := f.links[drEnd{at.node, out}]
			if !ok {
				t.Fatalf("%s port %d is not connected", at.node, out)
			}
			at = next
		case wire.DRForwardLID:
			var dst wire.LID
			switch {
			case s.Direction() == wire.DROutbound && at.port == 0:
				dst = leadInDLID
			case s.Direction() == wire.DROutbound:
				dst, f.tailEnd = s.DrDLID(), n.lid
			case at.port == 0:
				dst = f.tailEnd // the responder answers the request's LRH SLID
			default:
				dst = s.DrSLID()
			}
			next, ok := f.lidRoute(at.node, dst)
			if !ok {
				t.Fatalf("no route from %s to LID %d", at.node, dst)
			}
			at = next
		}
	}
	t.Fatalf("no delivery after 100 steps: %q", trace)
	return nil, ""
}

func TestDRWalks(t *testing.T) {
	tests := []struct {
		name       string
		smp        wire.SMPFields
		fixture    string // instead of smp
		requester  string
		leadInDLID wire.LID
		wantOut    []string
		responder  string
		wantBack   []string
		wantRet    []uint8 // ReturnPath[1..HopCount] after the outbound walk
	}{
		{
			name:      "ibsim capture: smpquery -D nodeinfo 0,1,3,1",
			fixture:   madNodeInfoDR3Req,
			requester: "Hca1",
			wantOut: []string{
				"Hca1 in=0 forward-port out=1 hp=1",
				"Switch1 in=1 forward-port out=3 hp=2",
				"Switch2 in=3 forward-port out=1 hp=3",
				"Hca2 in=1 deliver hp=4",
			},
			responder: "Hca2",
			wantBack: []string{
				"Hca2 in=0 forward-port out=1 hp=3",
				"Switch2 in=1 forward-port out=3 hp=2",
				"Switch1 in=3 forward-port out=1 hp=1",
				"Hca1 in=1 deliver hp=0",
			},
			wantRet: []uint8{1, 3, 1},
		},
		{
			name: "zero hops: the SM asks its own node",
			smp: wire.SMPFields{Directed: true, Method: wire.MethodGet, AttrID: wire.AttrNodeInfo,
				DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive},
			requester: "Hca1",
			wantOut:   []string{"Hca1 in=0 deliver hp=1"},
			responder: "Hca1",
			wantBack:  []string{"Hca1 in=0 deliver hp=0"},
			wantRet:   []uint8{},
		},
		{
			name: "lid-routed lead-in to Switch2, then one directed hop to Hca4",
			smp: wire.SMPFields{Directed: true, Method: wire.MethodGet, AttrID: wire.AttrNodeInfo, HopCount: 1,
				DrSLID: 2, DrDLID: wire.LIDPermissive, InitialPath: drPath(0, 2)},
			requester:  "Hca1",
			leadInDLID: 3,
			wantOut: []string{
				"Hca1 in=0 forward-lid hp=0",
				"Switch2 in=3 forward-port out=2 hp=1",
				"Hca4 in=1 deliver hp=2",
			},
			responder: "Hca4",
			wantBack: []string{
				"Hca4 in=0 forward-port out=1 hp=1",
				"Switch2 in=2 forward-lid hp=0",
				"Hca1 in=1 deliver hp=0",
			},
			wantRet: []uint8{1},
		},
		{
			name: "two directed hops, then a lid-routed tail to Hca4",
			smp: wire.SMPFields{Directed: true, Method: wire.MethodGet, AttrID: wire.AttrPortInfo, HopCount: 2,
				DrSLID: wire.LIDPermissive, DrDLID: 6, InitialPath: drPath(0, 1, 3)},
			requester: "Hca1",
			wantOut: []string{
				"Hca1 in=0 forward-port out=1 hp=1",
				"Switch1 in=1 forward-port out=3 hp=2",
				"Switch2 in=3 forward-lid hp=3",
				"Hca4 in=1 deliver hp=3",
			},
			responder: "Hca4",
			wantBack: []string{
				"Hca4 in=0 forward-lid hp=3",
				"Switch2 in=2 forward-port out=3 hp=2",
				"Switch1 in=3 forward-port out=1 hp=1",
				"Hca1 in=1 deliver hp=0",
			},
			wantRet: []uint8{1, 3},
		},
		{
			name: "lead-in, directed part and tail: Hca3 to Switch1, 5 to Switch2, LID to Hca2",
			smp: wire.SMPFields{Directed: true, Method: wire.MethodGet, AttrID: wire.AttrNodeDescription, HopCount: 1,
				DrSLID: 5, DrDLID: 4, InitialPath: drPath(0, 5)},
			requester:  "Hca3",
			leadInDLID: 1,
			wantOut: []string{
				"Hca3 in=0 forward-lid hp=0",
				"Switch1 in=2 forward-port out=5 hp=1",
				"Switch2 in=5 forward-lid hp=2",
				"Hca2 in=1 deliver hp=2",
			},
			responder: "Hca2",
			wantBack: []string{
				"Hca2 in=0 forward-lid hp=2",
				"Switch2 in=1 forward-port out=5 hp=1",
				"Switch1 in=5 forward-lid hp=0",
				"Hca3 in=1 deliver hp=0",
			},
			wantRet: []uint8{5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fab := newDRFabric()
			b := make([]byte, wire.MADSize)
			if tc.fixture != "" {
				b = madHex(t, tc.fixture)
			} else {
				wire.SMP(b).Encode(&tc.smp)
			}
			s := wire.SMP(b)
			out, end := fab.walk(t, s, tc.requester, tc.leadInDLID)
			if diff := cmp.Diff(tc.wantOut, out); diff != "" {
				t.Errorf("outbound trace (-want +got):\n%s", diff)
			}
			if end != tc.responder {
				t.Fatalf("delivered at %s, want %s", end, tc.responder)
			}
			ret := []uint8(s.ReturnPath()[1 : 1+int(s.HopCount())])
			if diff := cmp.Diff(tc.wantRet, ret); diff != "" {
				t.Errorf("ReturnPath[1..HopCount] (-want +got):\n%s", diff)
			}
			s.MAD().SetResponse(wire.MADStatusOK)
			back, end := fab.walk(t, s, tc.responder, 0)
			if diff := cmp.Diff(tc.wantBack, back); diff != "" {
				t.Errorf("return trace (-want +got):\n%s", diff)
			}
			if end != tc.requester {
				t.Errorf("reply delivered at %s, want %s", end, tc.requester)
			}
		})
	}
}

// TestDRReplyMatchesIbsim checks the reply our rules produce for the
// captured 3-hop request against ibsim's reply: same D bit, hop count,
// paths and (after the full return walk) hop pointer 0.
func TestDRReplyMatchesIbsim(t *testing.T) {
	fab := newDRFabric()
	s := wire.SMP(madHex(t, madNodeInfoDR3Req))
	fab.walk(t, s, "Hca1", 0)
	s.MAD().SetResponse(wire.MADStatusOK)
	fab.walk(t, s, "Hca2", 0)
	ibsim := wire.SMP(madHex(t, madNodeInfoDR3Resp))
	type drState struct {
		Raw        uint16
		HP, HC     uint8
		Initial    []byte
		ReturnHops []byte
	}
	st := func(s wire.SMP) drState {
		return drState{s.MAD().RawStatus(), s.HopPointer(), s.HopCount(), s.InitialPath()[:4], s.ReturnPath()[1:4]}
	}
	if diff := cmp.Diff(st(ibsim), st(s)); diff != "" {
		t.Errorf("DR state vs ibsim (-ibsim +ours):\n%s", diff)
	}
}

func TestDRDrops(t *testing.T) {
	base := wire.SMPFields{Directed: true, Method: wire.MethodGet, AttrID: wire.AttrNodeInfo, HopCount: 2,
		DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive, InitialPath: drPath(0, 1, 3)}
	tests := []struct {
		name     string
		mod      func(f *wire.SMPFields)
		raw      func(b []byte)
		inPort   int
		isSwitch bool
		ports    int
		want     error
	}{
		{name: "hop count 64", mod: func(f *wire.SMPFields) { f.HopCount = 64 }, ports: 2, want: wire.ErrDRHopCount},
		{name: "outbound hop pointer past the end", mod: func(f *wire.SMPFields) { f.HopPointer = 4 },
			inPort: 1, isSwitch: true, ports: 8, want: wire.ErrDRHopPointer},
		{name: "outbound hop pointer 255", mod: func(f *wire.SMPFields) { f.HopPointer = 255 },
			inPort: 1, isSwitch: true, ports: 8, want: wire.ErrDRHopPointer},
		{name: "returning hop pointer past the end", mod: func(f *wire.SMPFields) { f.Direction = wire.DRReturning; f.HopPointer = 9 },
			inPort: 1, isSwitch: true, ports: 8, want: wire.ErrDRHopPointer},
		{name: "hop pointer 0 from the wire with permissive DrSLID",
			inPort: 1, isSwitch: true, ports: 8, want: wire.ErrDRHopPointer},
		{name: "CA asked to relay", mod: func(f *wire.SMPFields) { f.HopPointer = 1 },
			inPort: 1, ports: 2, want: wire.ErrDRNotSwitch},
		{name: "CA asked to relay a reply", mod: func(f *wire.SMPFields) { f.Direction = wire.DRReturning; f.HopPointer = 2 },
			inPort: 1, ports: 2, want: wire.ErrDRNotSwitch},
		{name: "CA at the end of the directed part with a LID-routed tail",
			mod: func(f *wire.SMPFields) { f.HopPointer = 2; f.DrDLID = 6 }, inPort: 1, ports: 2, want: wire.ErrDRNotSwitch},
		{name: "CA at node 0 of a reply with a LID-routed return",
			mod:    func(f *wire.SMPFields) { f.Direction = wire.DRReturning; f.HopPointer = 1; f.DrSLID = 2 },
			inPort: 1, ports: 2, want: wire.ErrDRNotSwitch},
		{name: "CA starting the directed part after a lead-in",
			mod: func(f *wire.SMPFields) { f.DrSLID = 2 }, inPort: 1, ports: 2, want: wire.ErrDRNotSwitch},
		{name: "initial path names port 9 of 8", mod: func(f *wire.SMPFields) { f.HopPointer = 1; f.InitialPath[2] = 9 },
			inPort: 1, isSwitch: true, ports: 8, want: wire.ErrDRBadPort},
		{name: "initial path names port 0", mod: func(f *wire.SMPFields) { f.InitialPath[1] = 0 },
			ports: 2, want: wire.ErrDRBadPort},
		{name: "return path names port 200", mod: func(f *wire.SMPFields) {
			f.Direction = wire.DRReturning
			f.HopPointer = 2
			f.ReturnPath[1] = 200
		}, inPort: 3, isSwitch: true, ports: 8, want: wire.ErrDRBadPort},
		{name: "arrival port out of range", inPort: 9, isSwitch: true, ports: 8, want: wire.ErrDRBadPort},
		{name: "negative arrival port", inPort: -1, isSwitch: true, ports: 8, want: wire.ErrDRBadPort},
		{name: "LID-routed SMP", mod: func(f *wire.SMPFields) { f.Directed = false }, ports: 2, want: wire.ErrDRNotDirected},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			if tc.mod != nil {
				tc.mod(&f)
			}
			b := make([]byte, wire.MADSize)
			wire.SMP(b).Encode(&f)
			before := bytes.Clone(b)
			action, out, err := wire.DRProcess(wire.SMP(b), tc.inPort, tc.isSwitch, tc.ports)
			if action != wire.DRDrop || out != 0 || !errors.Is(err, tc.want) {
				t.Errorf("DRProcess = %s, %d, %v; want drop, 0, %v", action, out, err, tc.want)
			}
			if !bytes.Equal(before, b) {
				t.Errorf("a dropped SMP was modified")
			}
		})
	}
	// Calling the function for the other direction is a drop, not a walk.
	b := make([]byte, wire.MADSize)
	wire.SMP(b).Encode(&base)
	if _, _, err := wire.DRProcessReturn(wire.SMP(b), 0, false, 2); !errors.Is(err, wire.ErrDRNotDirected) {
		t.Errorf("DRProcessReturn(outbound SMP) = %v, want ErrDRNotDirected", err)
	}
	if _, _, err := wire.DRProcessOutbound(wire.SMP(b[:100]), 0, false, 2); !errors.Is(err, wire.ErrDRNotDirected) {
		t.Errorf("DRProcessOutbound(short buffer) = %v, want ErrDRNotDirected", err)
	}
}
