package sm_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/sm"
)

// runSM runs m in the background until the test ends.
func runSM(t *testing.T, m *sm.SM) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStandbyTakesOverWhenMasterDies(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 4))
	aName, bName := f.HCAs[0].Topo.ID, f.HCAs[len(f.HCAs)-1].Topo.ID
	cfg := sm.Config{SweepInterval: -1, PollInterval: time.Second, PollRetries: 3}
	ca, cb := cfg, cfg
	ca.Priority, cb.Priority = 10, 5
	a := newSM(t, f, aName, ca)
	b := newSM(t, f, bName, cb)
	runSM(t, a)
	waitFor(t, "a master", func() bool { return a.State() == wire.SMStateMaster && a.Sweeps() > 0 })
	runSM(t, b)
	waitFor(t, "b standby", func() bool { return b.State() == wire.SMStateStandby })
	before := map[wire.GUID]wire.LID{}
	for _, p := range a.Subnet().EndPorts() {
		before[p.GUID] = p.LID
	}
	sent0, failed0 := b.Polls()
	if err := f.KillNode(aName); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b master", func() bool { return b.State() == wire.SMStateMaster && b.Sweeps() > 0 })
	// The standby takes over after exactly PollRetries unanswered polls.
	sent, failed := b.Polls()
	if c := b.Config(); failed-failed0 != uint64(c.PollRetries) || sent-sent0 > uint64(c.PollRetries)+1 {
		t.Errorf("takeover after %d polls, %d unanswered; want %d unanswered", sent-sent0, failed-failed0, c.PollRetries)
	}
	sn := b.Subnet()
	for _, p := range sn.EndPorts() {
		if old, ok := before[p.GUID]; ok && old != p.LID {
			t.Errorf("%s: lid %d after takeover, was %d", p, p.LID, old)
		}
	}
	if len(sn.EndPorts()) != len(before)-1 {
		t.Errorf("%d end ports after takeover, want %d (all but the dead HCA)", len(sn.EndPorts()), len(before)-1)
	}
}

func TestBetterSMStartingLaterGetsHandover(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 4))
	cfg := sm.Config{SweepInterval: 2 * time.Second, PollInterval: time.Second, PollRetries: 3}
	lo, hi := cfg, cfg
	lo.Priority, hi.Priority = 1, 9
	a := newSM(t, f, f.HCAs[0].Topo.ID, lo)
	runSM(t, a)
	waitFor(t, "low-priority master", func() bool { return a.State() == wire.SMStateMaster && a.Sweeps() > 0 })
	b := newSM(t, f, f.HCAs[3].Topo.ID, hi)
	runSM(t, b)
	waitFor(t, "handover", func() bool { return b.State() == wire.SMStateMaster && a.State() == wire.SMStateStandby })
}

func TestSubnetComesUpWithFivePercentLoss(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 8), ibtest.WithSeed(7))
	for _, n := range f.Topology.Nodes {
		for _, p := range n.Ports {
			if p != nil && p.Num > 0 && p.Remote != nil {
				if err := f.SetDropRate(n.ID, p.Num, 0.05); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	m := newSM(t, f, f.FirstHCA().Topo.ID, sm.Config{Retries: 8})
	sn := sweep(t, m)
	if len(sn.Nodes) != len(f.Topology.Nodes) {
		t.Fatalf("found %d of %d nodes under 5%% loss (problems %v)", len(sn.Nodes), len(f.Topology.Nodes), sn.Problems)
	}
	for _, n := range f.Topology.Nodes {
		for _, p := range n.Ports {
			if p != nil && p.Num > 0 && p.Remote != nil {
				_ = f.SetDropRate(n.ID, p.Num, 0)
			}
		}
	}
	checkUp(t, f, m, sn)
}

func TestDeadNodeMidFabricDoesNotStopTheSweep(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 8))
	// A powered-off HCA leaves its link down; a spine that answers
	// nothing (killed) cuts off no one in a fat tree.
	if err := f.KillNode(f.HCAs[5].Topo.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.KillNode(f.Switches[len(f.Switches)-1].Topo.ID); err != nil {
		t.Fatal(err)
	}
	m := newSM(t, f, f.FirstHCA().Topo.ID, sm.Config{})
	sn := sweep(t, m)
	if want := len(f.Topology.Nodes) - 2; len(sn.Nodes) != want {
		t.Fatalf("found %d nodes, want %d", len(sn.Nodes), want)
	}
	for _, p := range sn.EndPorts() {
		if p.LID == 0 {
			t.Errorf("%s has no lid", p)
		}
	}
}

func TestPartitionFileErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"Default=0x7fff, ipoib : ALL=full ;\nbad line without key : ALL ;\n", "p.conf:2:"},
		{"Default=0x7fff : ALL=full ;\nother=0x7fff : ALL ;\n", "p.conf:2: p_key 0x7fff already defined at line 1"},
		{"# comment\n\nx=0x10 : 0xzz=full ;\n", "p.conf:3: member \"0xzz\""},
		{"x=0x10, wat : ALL ;", "p.conf:1: unknown flag"},
		{"x=0x10 : ALL=sometimes ;", "p.conf:1: member"},
		{"x=0x10 : ALL\n", "p.conf:1: definition does not end"},
	} {
		_, err := sm.ParsePartitions("p.conf", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, sm.ErrPartitionFile) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestPartitionsProgramPKeyTables(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 4))
	member := f.HCAs[2].Topo.Ports[1].GUID
	file := t.TempDir() + "/partitions.conf"
	text := "Default=0x7fff, ipoib : ALL=full ;\nstorage=0x0002 :\n  " + "0x" + strings.TrimPrefix(member.String(), "0x") + "=full,\n  ALL_SWITCHES=limited ;\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	parts, err := sm.LoadPartitions(file)
	if err != nil {
		t.Fatal(err)
	}
	m := newSM(t, f, f.FirstHCA().Topo.ID, sm.Config{Partitions: parts})
	sn := sweep(t, m)
	p := sn.PortByGUID[member]
	if len(p.PKeys) < 2 || p.PKeys[0] != 0xFFFF || p.PKeys[1] != 0x8002 {
		t.Errorf("member pkeys %x", p.PKeys)
	}
	other := sn.PortByGUID[f.HCAs[3].Topo.Ports[1].GUID]
	if other.PKeys[1] != 0 {
		t.Errorf("non-member pkeys %x", other.PKeys)
	}
	// The device holds what the SM wrote.
	tr, _ := f.MADTransport(f.FirstHCA().Topo.ID, 1)
	_ = tr
	d, err := readPKeys(t, f, p)
	if err != nil {
		t.Fatal(err)
	}
	if wire.PKeyTable(d).PKey(1) != 0x8002 {
		t.Errorf("device p_key table entry 1 = %#x", wire.PKeyTable(d).PKey(1))
	}
}

// TestSweepReplaysUnderLoss: the same seed gives the same heavy sweep, SMP
// for SMP, even with loss and retransmissions and with the SM building
// each phase's SMPs while earlier ones are on the wire: the same frames
// were dropped (the same count), the same SMPs were sent and the sweep
// ended at the same virtual instant.
func TestSweepReplaysUnderLoss(t *testing.T) {
	run := func() (uint64, uint64, time.Duration) {
		f := ibtest.New(t, ibtest.FatTree(2, 8), ibtest.WithSeed(11))
		for _, n := range f.Topology.Nodes {
			for _, p := range n.Ports {
				if p != nil && p.Num > 0 && p.Remote != nil {
					if err := f.SetDropRate(n.ID, p.Num, 0.03); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		m := newSM(t, f, f.FirstHCA().Topo.ID, sm.Config{Retries: 8, Window: 4})
		start := f.Emu.Now()
		sn := sweep(t, m)
		took := f.Emu.Now().Sub(start)
		if len(sn.Problems) > 0 {
			t.Fatalf("problems: %v", sn.Problems)
		}
		return sn.SMPs, f.Emu.Dropped(), took
	}
	s1, d1, t1 := run()
	s2, d2, t2 := run()
	if d1 == 0 {
		t.Fatal("no frame was dropped: the fault injection did nothing")
	}
	if s1 != s2 || d1 != d2 || t1 != t2 {
		t.Errorf("same seed, different sweeps: %d/%d SMPs, %d/%d drops, %v/%v virtual time", s1, s2, d1, d2, t1, t2)
	}
}

// TestSMKeySeparatesSMs: SMs ignore another SM whose SMInfo carries a
// different SM_Key (IBTA Vol 1 §14.4.1; OpenSM does the same), so a
// second SM with another key becomes master too; with the same key it is
// standby.
func TestSMKeySeparatesSMs(t *testing.T) {
	for _, c := range []struct {
		name       string
		keyA, keyB uint64
		wantB      wire.SMState
	}{{"same key", 1, 1, wire.SMStateStandby}, {"other key", 1, 2, wire.SMStateMaster}} {
		t.Run(c.name, func(t *testing.T) {
			f := ibtest.New(t, ibtest.FatTree(2, 4))
			cfg := sm.Config{SweepInterval: -1, PollInterval: time.Second, PollRetries: 3}
			ca, cb := cfg, cfg
			ca.Priority, cb.Priority = 10, 5
			ca.SMKey, cb.SMKey = c.keyA, c.keyB
			a := newSM(t, f, f.HCAs[0].Topo.ID, ca)
			runSM(t, a)
			waitFor(t, "a master", func() bool { return a.State() == wire.SMStateMaster && a.Sweeps() > 0 })
			b := newSM(t, f, f.HCAs[len(f.HCAs)-1].Topo.ID, cb)
			if _, err := b.Sweep(context.Background()); err != nil && !errors.Is(err, sm.ErrNotMaster) {
				t.Fatal(err)
			}
			if b.State() != c.wantB || a.State() != wire.SMStateMaster {
				t.Errorf("a %v, b %v; want a master, b %v", a.State(), b.State(), c.wantB)
			}
		})
	}
}
