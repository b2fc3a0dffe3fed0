package emu_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// rawFrame builds a raw (LNH 0) frame of n payload bytes with a sealed VCRC.
func rawFrame(dlid wire.LID, seq uint32, n int) []byte {
	words := (wire.LRHSize + n) / 4
	b := make([]byte, words*4+wire.VCRCSize)
	wire.LRH(b).Encode(&wire.LRHFields{LNH: wire.LNHRaw, DLID: dlid, SLID: 1, PktLen: uint16(words)})
	binary.BigEndian.PutUint32(b[wire.LRHSize:], seq)
	if err := wire.SealPacket(b); err != nil {
		panic(err)
	}
	return b
}

// recorder is a device that records what it receives and can echo it.
type recorder struct {
	got   []uint32
	at    []time.Time
	echo  bool
	state []wire.PhysPortState
}

func (r *recorder) HandlePacket(p *emu.Port, frame []byte) {
	r.got = append(r.got, binary.BigEndian.Uint32(frame[wire.LRHSize:]))
	r.at = append(r.at, p.Node().Fabric().Now())
	if r.echo {
		p.Send(frame)
	}
}

func (r *recorder) PortStateChanged(p *emu.Port) { r.state = append(r.state, p.PhysState()) }

func pair(t *testing.T, opts ...emu.Option) (*emu.Fabric, *recorder, *recorder, *emu.Link) {
	t.Helper()
	f := emu.New(opts...)
	ra, rb := &recorder{}, &recorder{}
	cfg := emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: wire.SpeedQDR}
	a, err := f.AddNode("a", wire.NodeTypeCA, 1, ra, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.AddNode("b", wire.NodeTypeCA, 1, rb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := f.Connect(a.Port(1), b.Port(1))
	if err != nil {
		t.Fatal(err)
	}
	return f, ra, rb, l
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLinkTrainsToInit(t *testing.T) {
	f, _, _, l := pair(t)
	a, b := l.Ends()
	if !a.IsUp() || !b.IsUp() || a.State() != wire.PortStateInit {
		t.Fatalf("after connect: phys %s state %s, want LinkUp Initialize", a.PhysState(), a.State())
	}
	if l.Width() != wire.Width4X || l.Speed() != wire.SpeedQDR {
		t.Fatalf("negotiated %s %s, want 4X QDR", l.Width(), l.Speed())
	}
	_ = f
}

func TestDeliveryOrderAndTiming(t *testing.T) {
	f, _, rb, l := pair(t)
	a, b := l.Ends()
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	const n = 100
	if err := f.Do(func() {
		for i := 0; i < n; i++ {
			a.Send(rawFrame(2, uint32(i), 1024))
		}
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, f, func() bool { return len(rb.got) == n })
	f.Do(func() {
		for i, v := range rb.got {
			if v != uint32(i) {
				t.Fatalf("frame %d carried seq %d: out of order", i, v)
			}
		}
		// 4x QDR moves 32 bits per ns: 1034 bytes take ~258 ns to serialise.
		gap := rb.at[n-1].Sub(rb.at[n-2])
		if gap < 250*time.Nanosecond || gap > 270*time.Nanosecond {
			t.Errorf("back-to-back frames %v apart, want the serialisation time (~258ns)", gap)
		}
	})
	if got := b.Counters.RcvPkts.Load(); got != n {
		t.Errorf("RcvPkts = %d, want %d", got, n)
	}
	if got, want := a.Counters.XmitData.Load(), uint64(n*(1034/4)); got != want {
		t.Errorf("XmitData = %d words, want %d", got, want)
	}
}

func TestCorruptionCountedAndDropped(t *testing.T) {
	f, _, rb, l := pair(t, emu.WithSeed(7), emu.WithCRCCheck(false))
	a, b := l.Ends()
	a.SetCorruptRate(1)
	f.Start(context.Background())
	defer f.Stop()
	f.Do(func() {
		for i := 0; i < 10; i++ {
			a.Send(rawFrame(2, uint32(i), 64))
		}
	})
	waitFor(t, f, func() bool { return b.Counters.RcvErrors.Load() == 10 })
	f.Do(func() {
		if len(rb.got) != 0 {
			t.Errorf("device got %d corrupted frames", len(rb.got))
		}
	})
}

func runDropPattern(seed uint64) []uint32 {
	f := emu.New(emu.WithSeed(seed))
	ra, rb := &recorder{}, &recorder{}
	a, _ := f.AddNode("a", wire.NodeTypeCA, 1, ra)
	b, _ := f.AddNode("b", wire.NodeTypeCA, 1, rb)
	l, _ := f.Connect(a.Port(1), b.Port(1))
	l.SetDropRate(0.3)
	f.Start(context.Background())
	defer f.Stop()
	f.Do(func() {
		for i := 0; i < 200; i++ {
			a.Port(1).Send(rawFrame(2, uint32(i), 32))
		}
	})
	for {
		var done bool
		f.Do(func() { done = int(f.Dropped())+len(rb.got) == 200 })
		if done {
			break
		}
		time.Sleep(time.Millisecond)
	}
	var got []uint32
	f.Do(func() { got = append(got, rb.got...) })
	return got
}

func TestSameSeedSameOutcome(t *testing.T) {
	x, y := runDropPattern(42), runDropPattern(42)
	if len(x) == 200 || len(x) == 0 {
		t.Fatalf("30%% drop delivered %d of 200", len(x))
	}
	if len(x) != len(y) {
		t.Fatalf("same seed: %d then %d frames delivered", len(x), len(y))
	}
	for i := range x {
		if x[i] != y[i] {
			t.Fatalf("same seed: frame %d differs (%d vs %d)", i, x[i], y[i])
		}
	}
	z := runDropPattern(43)
	same := len(z) == len(x)
	for i := 0; same && i < len(x); i++ {
		same = x[i] == z[i]
	}
	if same {
		t.Error("a different seed gave the same drop pattern")
	}
}

func TestLinkDownUpNotifies(t *testing.T) {
	f, ra, rb, l := pair(t)
	a, _ := l.Ends()
	f.Start(context.Background())
	defer f.Stop()
	f.Do(func() { l.SetCut(true) })
	f.Do(func() {
		if a.IsUp() || a.State() != wire.PortStateDown || a.PhysState() != wire.PhysStatePolling {
			t.Errorf("cut link: %s/%s", a.PhysState(), a.State())
		}
		a.Send(rawFrame(2, 1, 8))
		if a.Counters.XmitDiscards.Load() != 1 {
			t.Error("send on a down port not counted as XmitDiscards")
		}
		l.SetCut(false)
		if a.State() != wire.PortStateInit {
			t.Errorf("replugged: state %s, want Initialize", a.State())
		}
	})
	f.Do(func() {
		want := []wire.PhysPortState{wire.PhysStatePolling, wire.PhysStateLinkUp}
		for _, r := range []*recorder{ra, rb} {
			if len(r.state) != 2 || r.state[0] != want[0] || r.state[1] != want[1] {
				t.Errorf("notifications %v, want %v", r.state, want)
			}
		}
		if a.Counters.LinkDowned.Load() != 1 {
			t.Errorf("LinkDowned = %d, want 1", a.Counters.LinkDowned.Load())
		}
	})
}

func TestKillNodeTakesLinksDown(t *testing.T) {
	f, _, _, l := pair(t)
	a, b := l.Ends()
	f.KillNode(b.Node())
	if a.IsUp() {
		t.Fatal("peer killed, link still up")
	}
	f.ReviveNode(b.Node())
	if !a.IsUp() {
		t.Fatal("peer revived, link still down")
	}
}

func TestVirtualTimersAndInboxHold(t *testing.T) {
	f, _, _, l := pair(t)
	a, _ := l.Ends()
	_ = a
	box := emu.NewInbox[int](f)
	f.Start(context.Background())
	defer f.Stop()
	start := f.Now()
	var fired time.Time
	f.Do(func() {
		box.Push(1)
		f.Clock().AfterFunc(time.Second, func() { fired = f.Now(); box.Push(2) })
	})
	ctx := context.Background()
	v, err := box.Recv(ctx)
	if err != nil || v != 1 {
		t.Fatalf("recv = %v, %v", v, err)
	}
	// While the consumer reacts, virtual time must not move.
	time.Sleep(20 * time.Millisecond)
	if d := f.Now().Sub(start); d != 0 {
		t.Fatalf("virtual time moved %v while the consumer held an item", d)
	}
	v, err = box.Recv(ctx)
	if err != nil || v != 2 {
		t.Fatalf("recv = %v, %v", v, err)
	}
	if d := fired.Sub(start); d != time.Second {
		t.Fatalf("timer fired after %v, want 1s", d)
	}
	box.Close()
}

// TestInboxWithdraw checks that a withdrawn item is never received and
// gives back its hold on virtual time, and that the others keep their
// order.
func TestInboxWithdraw(t *testing.T) {
	f, _, _, _ := pair(t)
	box := emu.NewInbox[int](f)
	f.Start(context.Background())
	defer f.Stop()
	start := f.Now()
	ticked := make(chan time.Time, 1)
	f.Do(func() {
		box.Push(1)
		box.Push(2)
		box.Push(3)
		f.Clock().AfterFunc(time.Second, func() { ticked <- f.Now() })
	})
	if box.Withdraw(func(v int) bool { return v == 9 }) {
		t.Fatal("withdrew an item that was never pushed")
	}
	if !box.Withdraw(func(v int) bool { return v == 2 }) {
		t.Fatal("item 2 was not withdrawn")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, want := range []int{1, 3} {
		if v, err := box.Recv(ctx); err != nil || v != want {
			t.Fatalf("recv = %v, %v; want %d", v, err, want)
		}
	}
	if box.Withdraw(func(int) bool { return true }) {
		t.Fatal("withdrew from an empty inbox")
	}
	box.Done()
	// Every hold is given back (two received and done, one withdrawn):
	// virtual time reaches the timer.
	select {
	case at := <-ticked:
		if d := at.Sub(start); d != time.Second {
			t.Fatalf("timer fired after %v, want 1s", d)
		}
	case <-ctx.Done():
		t.Fatal("virtual time stood still: the withdrawn item kept its hold")
	}
}

func TestStopClosesInbox(t *testing.T) {
	f := emu.New()
	box := emu.NewInbox[int](f)
	f.Start(context.Background())
	errc := make(chan error)
	go func() { _, err := box.Recv(context.Background()); errc <- err }()
	f.Stop()
	if err := <-errc; err != emu.ErrStopped {
		t.Fatalf("Recv after Stop = %v, want ErrStopped", err)
	}
	if err := f.Do(func() {}); err != emu.ErrStopped {
		t.Fatalf("Do after Stop = %v", err)
	}
}

func TestWallClockDelivers(t *testing.T) {
	f, _, rb, l := pair(t, emu.WithWallClock())
	a, _ := l.Ends()
	f.Start(context.Background())
	defer f.Stop()
	f.Do(func() { a.Send(rawFrame(2, 9, 16)) })
	waitFor(t, f, func() bool { return len(rb.got) == 1 })
	var fired bool
	f.Do(func() { f.Clock().AfterFunc(5*time.Millisecond, func() { fired = true }) })
	waitFor(t, f, func() bool { return fired })
}

func waitFor(t *testing.T, f *emu.Fabric, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ok bool
		if err := f.Do(func() { ok = cond() }); err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("condition not met within 5s")
}

// TestStoppedTimerDoesNotMoveTime: a stopped timer is dropped without
// advancing virtual time to its deadline.
func TestStoppedTimerDoesNotMoveTime(t *testing.T) {
	f := emu.New()
	f.Start(context.Background())
	defer f.Stop()
	start := f.Now()
	var fired bool
	f.Do(func() {
		tm := f.Clock().AfterFunc(time.Hour, func() { fired = true })
		if !tm.Stop() {
			t.Error("Stop of a pending timer returned false")
		}
		if tm.Stop() {
			t.Error("second Stop returned true")
		}
		f.Clock().AfterFunc(time.Millisecond, func() {})
	})
	waitFor(t, f, func() bool { return f.Now().Sub(start) >= time.Millisecond })
	time.Sleep(10 * time.Millisecond)
	if d := f.Now().Sub(start); d != time.Millisecond {
		t.Fatalf("virtual time is %v after a stopped 1h timer and a 1ms timer, want 1ms", d)
	}
	if fired {
		t.Fatal("stopped timer fired")
	}
}
