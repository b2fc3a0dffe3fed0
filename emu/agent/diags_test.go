package agent_test

import (
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// The behaviour infiniband-diags rely on (see stack/attach's
// diags_linux_test.go for the same checks through the real tools).

// TestSMASupportsOwnsGetSet: the SMA owns every Get and Set but SMInfo's,
// so an attribute the node lacks (a vendor attribute such as
// MlnxExtPortInfo) is answered with 0x000C instead of being offered to a
// host SM agent that would leave the requester waiting; SMInfo and Trap
// go to the SM.
func TestSMASupportsOwnsGetSet(t *testing.T) {
	s := newTestSwitch(t, 0x0002c90000000100).sma
	smp := func(m wire.Method, attr wire.AttrID) wire.MAD {
		b := wire.SMP(make([]byte, wire.MADSize))
		b.Encode(&wire.SMPFields{Method: m, AttrID: attr})
		return wire.MAD(b)
	}
	for _, c := range []struct {
		m    wire.Method
		attr wire.AttrID
		want bool
	}{
		{wire.MethodGet, wire.AttrNodeInfo, true},
		{wire.MethodGet, wire.AttrMlnxExtPortInfo, true},
		{wire.MethodSet, wire.AttrMlnxExtPortInfo, true},
		{wire.MethodGet, wire.AttrID(0xFF10), true},
		{wire.MethodGet, wire.AttrPortInfoExtended, true},
		{wire.MethodGet, wire.AttrSMInfo, false},
		{wire.MethodSet, wire.AttrSMInfo, false},
		{wire.MethodTrap, wire.AttrNotice, false},
		{wire.MethodTrapRepress, wire.AttrNotice, true},
	} {
		if got := s.Supports(smp(c.m, c.attr)); got != c.want {
			t.Errorf("Supports(%s %s) = %v, want %v", c.m, c.attr, got, c.want)
		}
	}

	b := newSwBench(t)
	if r := b.dr(t, wire.MethodGet, wire.AttrMlnxExtPortInfo, 1, nil, 1); r.Status() != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("MlnxExtPortInfo Get: status %s, want 0x000C", r.Status())
	}
}

// TestPortInfoIdleActive: a port whose link is down reports 4X and
// 2.5 Gbps as LinkWidthActive and LinkSpeedActive (IBTA Vol 1 §14.2.5.6
// defines no 0 for either; smpquery prints "bad width 0"), and a port
// disabled by a Set shows the same in the reply.
func TestPortInfoIdleActive(t *testing.T) {
	b := newSwBench(t)
	pi := wire.PortInfo(b.dr(t, wire.MethodGet, wire.AttrPortInfo, 3, nil, 1).Data())
	if pi.PortState() != wire.PortStateDown || pi.LinkWidthActive() != wire.Width4X || pi.LinkSpeedActive() != wire.SpeedSDR {
		t.Errorf("unlinked port 3: state %s width %v speed %v, want Down 4X SDR",
			pi.PortState(), pi.LinkWidthActive(), pi.LinkSpeedActive())
	}
	if pi := wire.PortInfo(b.dr(t, wire.MethodGet, wire.AttrPortInfo, 2, nil, 1).Data()); pi.LinkSpeedActive() != wire.SpeedDDR {
		t.Errorf("linked port 2: speed %v, want DDR", pi.LinkSpeedActive())
	}
	set := make([]byte, wire.PortInfoSize)
	wire.PortInfo(set).SetPortPhysicalState(wire.PhysStateDisabled)
	r := b.dr(t, wire.MethodSet, wire.AttrPortInfo, 2, set, 1)
	if pi := wire.PortInfo(r.Data()); r.Status() != wire.MADStatusOK || pi.PortPhysicalState() != wire.PhysStateDisabled ||
		pi.LinkWidthActive() != wire.Width4X || pi.LinkSpeedActive() != wire.SpeedSDR {
		t.Errorf("disable reply: %s phys %s width %v speed %v", r.Status(), pi.PortPhysicalState(), pi.LinkWidthActive(), pi.LinkSpeedActive())
	}
}

// TestPortInfoPollingResets: writing PortPhysicalState Polling to a port
// whose link is up (ibportstate reset) takes the link down (both ends
// count LinkDowned) and trains it again, back in Init; on a port that is
// already polling it changes nothing.
func TestPortInfoPollingResets(t *testing.T) {
	b := newSwBench(t)
	p2 := b.sw.node.Port(2)
	peer := b.sw2.node.Port(1)
	var up bool
	_ = b.f.Do(func() {
		up = p2.IsUp()
		_ = p2.SetState(wire.PortStateArmed)
		_ = p2.SetState(wire.PortStateActive)
	})
	if !up {
		t.Fatal("sw port 2 is not up")
	}
	set := make([]byte, wire.PortInfoSize)
	wire.PortInfo(set).SetPortPhysicalState(wire.PhysStatePolling)
	r := b.dr(t, wire.MethodSet, wire.AttrPortInfo, 2, set, 1)
	if pi := wire.PortInfo(r.Data()); r.Status() != wire.MADStatusOK || pi.PortPhysicalState() != wire.PhysStatePolling {
		t.Fatalf("reset reply: %s phys %s", r.Status(), pi.PortPhysicalState())
	}
	b.pr.box.Done() // the probe has reacted: virtual time runs on
	deadline := time.Now().Add(5 * time.Second)
	for {
		var downed, peerDowned uint64
		var back bool
		var st wire.PortState
		_ = b.f.Do(func() {
			downed, peerDowned = p2.Counters.LinkDowned.Load(), peer.Counters.LinkDowned.Load()
			back, st = p2.IsUp() && p2.Enabled(), p2.State()
		})
		if downed == 1 && peerDowned == 1 && back {
			if st != wire.PortStateInit {
				t.Errorf("after the reset port 2 is %s, want Init", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reset: LinkDowned %d/%d, up again %v", downed, peerDowned, back)
		}
		time.Sleep(time.Millisecond)
	}
	// Port 3 has no link: Polling there is no change.
	if r := b.dr(t, wire.MethodSet, wire.AttrPortInfo, 3, set, 1); r.Status() != wire.MADStatusOK {
		t.Errorf("Polling on an unlinked port: %s", r.Status())
	}
	b.pr.box.Done()
	time.Sleep(10 * agent.LinkRetrainTime)
	var downed uint64
	_ = b.f.Do(func() { downed = b.sw.node.Port(3).Counters.LinkDowned.Load() })
	if downed != 0 {
		t.Errorf("unlinked port 3 LinkDowned %d", downed)
	}
}
