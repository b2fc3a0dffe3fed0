package emu_test

import (
	"context"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// The packet path reads what each port caches of its link, its peer and
// its node (Port.SendFrame, Fabric.receive); these tests change each of
// those after the fabric started and check that frames follow.

// trio is a fabric of three one-port CAs, a and b linked, c spare.
func trio(t *testing.T) (f *emu.Fabric, a, b, c *emu.Port, ra, rb, rc *recorder) {
	t.Helper()
	f = emu.New(emu.WithSeed(3))
	ra, rb, rc = &recorder{}, &recorder{}, &recorder{}
	add := func(name string, r *recorder) *emu.Port {
		n, err := f.AddNode(name, wire.NodeTypeCA, 1, r)
		if err != nil {
			t.Fatal(err)
		}
		return n.Port(1)
	}
	a, b, c = add("a", ra), add("b", rb), add("c", rc)
	if _, err := f.Connect(a, b); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f, a, b, c, ra, rb, rc
}

// sendN sends n frames from p (sequence numbers from seq) on the loop.
func sendN(t *testing.T, f *emu.Fabric, p *emu.Port, seq uint32, n int) {
	t.Helper()
	if err := f.Do(func() {
		for i := range n {
			p.Send(rawFrame(2, seq+uint32(i), 32))
		}
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRelinkedPortSendsToNewPeer(t *testing.T) {
	f, a, b, c, _, rb, rc := trio(t)
	sendN(t, f, a, 0, 3)
	waitFor(t, f, func() bool { return len(rb.got) == 3 })
	f.Do(func() {
		f.Disconnect(a)
		if a.Peer() != nil || b.Peer() != nil || a.IsUp() {
			t.Errorf("after Disconnect: peers %v %v, a up %v", a.Peer(), b.Peer(), a.IsUp())
		}
		a.Send(rawFrame(2, 100, 32)) // link gone: discarded and counted
		if got := a.Counters.XmitDiscards.Load(); got != 1 {
			t.Errorf("XmitDiscards %d after a send on an unlinked port, want 1", got)
		}
		if _, err := f.Connect(a, c); err != nil {
			t.Error(err)
		}
		if a.Peer() != c || c.Peer() != a {
			t.Errorf("after Connect(a, c): a's peer %v, c's %v", a.Peer(), c.Peer())
		}
	})
	sendN(t, f, a, 10, 4)
	waitFor(t, f, func() bool { return len(rc.got) == 4 })
	f.Do(func() {
		if len(rb.got) != 3 {
			t.Errorf("old peer got %d frames after the relink, want 3", len(rb.got))
		}
		if rc.got[0] != 10 {
			t.Errorf("new peer's first frame %d, want 10", rc.got[0])
		}
	})
}

func TestDropRatesChangedAfterStart(t *testing.T) {
	f, a, _, c, _, rb, rc := trio(t)
	l := a.Link()
	f.Do(func() { l.SetDropRate(1) })
	sendN(t, f, a, 0, 5)
	waitFor(t, f, func() bool { return f.Dropped() == 5 })
	f.Do(func() { l.SetDropRate(0) })
	sendN(t, f, a, 5, 5)
	waitFor(t, f, func() bool { return len(rb.got) == 5 })
	f.Do(func() { a.SetDropRate(1) })
	sendN(t, f, a, 10, 5)
	waitFor(t, f, func() bool { return f.Dropped() == 10 })
	f.Do(func() { a.SetDropRate(0); l.SetCorruptRate(1) })
	sendN(t, f, a, 15, 5)
	_, b := l.Ends()
	waitFor(t, f, func() bool { return b.Counters.RcvErrors.Load() == 5 })
	f.Do(func() {
		if f.Dropped() != 10 || len(rb.got) != 5 {
			t.Errorf("corrupted frames: %d dropped, device got %d, want 10 and 5", f.Dropped(), len(rb.got))
		}
		l.SetCorruptRate(0)
	})
	// A new link starts clean, whatever the old one's rates were.
	f.Do(func() {
		f.Disconnect(a)
		if _, err := f.Connect(a, c); err != nil {
			t.Error(err)
		}
	})
	sendN(t, f, a, 20, 5)
	waitFor(t, f, func() bool { return len(rc.got) == 5 })
}

func TestDeadNodesNeitherSendNorReceive(t *testing.T) {
	f, a, b, _, _, rb, _ := trio(t)
	f.Do(func() { f.KillNode(b.Node()) })
	sendN(t, f, a, 0, 2) // the link is down: counted as discards at a
	f.Do(func() {
		if got := a.Counters.XmitDiscards.Load(); got != 2 {
			t.Errorf("XmitDiscards %d with the peer dead, want 2", got)
		}
		f.ReviveNode(b.Node())
		f.KillNode(a.Node())
	})
	sendN(t, f, a, 2, 2) // a dead node sends nothing and counts nothing
	f.Do(func() {
		if got := a.Counters.XmitDiscards.Load(); got != 2 {
			t.Errorf("XmitDiscards %d after sends from a dead node, want 2", got)
		}
		f.ReviveNode(a.Node())
	})
	sendN(t, f, a, 4, 2)
	waitFor(t, f, func() bool { return len(rb.got) == 2 })
	f.Do(func() {
		if rb.got[0] != 4 {
			t.Errorf("first frame after revival %d, want 4", rb.got[0])
		}
	})
}

func TestUnchangedLinkEnablesKeepPortState(t *testing.T) {
	f := emu.New()
	cfg := emu.PortConfig{WidthSupported: uint8(wire.Width1X | wire.Width4X), SpeedSupported: wire.SpeedSDR | wire.SpeedQDR}
	na, _ := f.AddNode("a", wire.NodeTypeCA, 1, &recorder{}, cfg)
	nb, _ := f.AddNode("b", wire.NodeTypeCA, 1, &recorder{}, cfg)
	a, b := na.Port(1), nb.Port(1)
	if _, err := f.Connect(a, b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []wire.PortState{wire.PortStateArmed, wire.PortStateActive} {
		if err := a.SetState(s); err != nil {
			t.Fatal(err)
		}
	}
	a.SetLinkEnables(a.WidthEnabled(), a.SpeedEnabled())
	if a.State() != wire.PortStateActive || a.Width() != wire.Width4X || a.Speed() != wire.SpeedQDR {
		t.Fatalf("unchanged enables: state %s width %s speed %s, want Active 4x QDR", a.State(), a.Width(), a.Speed())
	}
	a.SetLinkEnables(uint8(wire.Width1X), 0)
	if a.State() != wire.PortStateInit || a.Width() != wire.Width1X || b.State() != wire.PortStateInit {
		t.Fatalf("narrowed enables: state %s/%s width %s, want Init/Init 1x", a.State(), b.State(), a.Width())
	}
}
