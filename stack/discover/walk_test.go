package discover_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/discover"
	"github.com/ibemu/ibemu/stack/mad"
)

// sameFabric checks that got describes the fabric of want: the graph
// (topology.Compare) and, node by node, the identity, LIDs, port GUIDs of
// linked ports and the active rate of every link. Ports of want that
// discovery cannot reach are skipped when reachable says so.
func sameFabric(t *testing.T, want, got *topology.Topology) {
	t.Helper()
	if err := topology.Compare(want, got); err != nil {
		t.Fatalf("discovered topology differs:\n%v", err)
	}
	for _, w := range want.Nodes {
		g := got.NodeByGUID(w.NodeGUID)
		if g == nil {
			t.Errorf("node %s (%q) not discovered", w.NodeGUID, w.Desc)
			continue
		}
		if g.Type != w.Type || g.NumPorts != w.NumPorts || g.Desc != w.Desc || g.SysImageGUID != w.SysImageGUID ||
			g.VendorID != w.VendorID || g.DeviceID != w.DeviceID || g.ID != topology.GUIDID(w.Type, w.NodeGUID) {
			t.Errorf("node %s: got %s %d ports %q sys %s vendor %#x dev %#x id %s; want %s %d ports %q sys %s vendor %#x dev %#x",
				w.NodeGUID, g.Type, g.NumPorts, g.Desc, g.SysImageGUID, g.VendorID, g.DeviceID, g.ID,
				w.Type, w.NumPorts, w.Desc, w.SysImageGUID, w.VendorID, w.DeviceID)
		}
		if w.IsSwitch() && (g.LID != w.LID || g.LMC != w.LMC || g.EnhancedPort0 != w.EnhancedPort0) {
			t.Errorf("switch %q: LID %d LMC %d EP0 %v, want %d %d %v", w.Desc, g.LID, g.LMC, g.EnhancedPort0, w.LID, w.LMC, w.EnhancedPort0)
		}
		for i := 1; i <= w.NumPorts; i++ {
			wp, gp := w.Ports[i], g.Ports[i]
			if wp.Remote == nil {
				continue
			}
			if gp.Remote == nil || gp.Remote.Node.NodeGUID != wp.Remote.Node.NodeGUID || gp.Remote.Num != wp.Remote.Num {
				t.Errorf("%q port %d: linked to %v, want %s[%d]", w.Desc, i, gp.Remote, wp.Remote.Node.NodeGUID, wp.Remote.Num)
				continue
			}
			if gp.GUID != wp.GUID {
				t.Errorf("%q port %d: GUID %s, want %s", w.Desc, i, gp.GUID, wp.GUID)
			}
			if !w.IsSwitch() && (gp.LID != wp.LID || gp.LMC != wp.LMC) {
				t.Errorf("%q port %d: LID %d LMC %d, want %d %d", w.Desc, i, gp.LID, gp.LMC, wp.LID, wp.LMC)
			}
			if wr := wp.ActiveRate(); gp.Width != wr.Width || gp.Speed != wr.Speed {
				t.Errorf("%q port %d: %s, want %s", w.Desc, i, topology.Rate{Width: gp.Width, Speed: gp.Speed}, wr)
			}
		}
	}
	if err := got.Validate(); err != nil {
		t.Errorf("discovered topology does not validate: %v", err)
	}
	var buf bytes.Buffer
	if err := topology.Write(&buf, got); err != nil {
		t.Fatalf("Write: %v", err)
	}
	back, err := topology.Parse("discovered", &buf)
	if err != nil {
		t.Fatalf("Parse of the written topology: %v", err)
	}
	if err := topology.Compare(want, back); err != nil {
		t.Errorf("written and re-read topology differs: %v", err)
	}
}

// firstCA returns port 1 of the first CA of t.
func firstCA(t testing.TB, topo *topology.Topology) *topology.Port {
	t.Helper()
	for _, n := range topo.Nodes {
		if n.Type == wire.NodeTypeCA {
			return n.Ports[1]
		}
	}
	t.Fatal("no CA")
	return nil
}

func discoverFake(t *testing.T, f *smaFabric, o discover.Options) *discover.Result {
	t.Helper()
	res, err := discover.Discover(context.Background(), f, o)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return res
}

func TestWalkFatTree(t *testing.T) {
	for _, tc := range []struct {
		name          string
		levels, radix int
	}{{"2-level radix 8", 2, 8}, {"3-level radix 8", 3, 8}} {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := topology.FatTree(tc.levels, tc.radix, topology.WithLIDs(),
				topology.WithRate(topology.Rate{Width: wire.Width4X, Speed: wire.SpeedQDR}))
			if err != nil {
				t.Fatal(err)
			}
			f := newSMAFabric(topo, firstCA(t, topo))
			defer f.Close()
			res := discoverFake(t, f, discover.Options{Window: 8})
			if len(res.Problems) != 0 {
				t.Fatalf("problems: %v", res.Problems)
			}
			sameFabric(t, topo, res.Topology)
			if f.maxInFlight > 8 {
				t.Errorf("%d SMPs in flight, window is 8", f.maxInFlight)
			}
			if res.Local == nil || res.Local.Node.NodeGUID != firstCA(t, topo).Node.NodeGUID || res.Local.Num != 1 {
				t.Errorf("local port %v", res.Local)
			}
			if res.Topology.Nodes[0] != res.Local.Node {
				t.Errorf("the local node is not first")
			}
			// Every node's recorded route leads to it.
			for _, n := range topo.Nodes {
				p, ok := res.Paths[n.NodeGUID]
				if !ok {
					t.Errorf("no path to %q", n.Desc)
					continue
				}
				at := firstCA(t, topo).Node
				for i, port := range p {
					if i > 0 && !at.IsSwitch() {
						t.Fatalf("path %s to %q passes through CA %q", p, n.Desc, at.Desc)
					}
					at = at.Ports[port].Remote.Node
				}
				if at != n {
					t.Errorf("path %s leads to %q, not %q", p, at.Desc, n.Desc)
				}
			}
			wantHops := 2 * tc.levels // CA up to the top and down to the farthest CA
			if res.MaxHops != wantHops {
				t.Errorf("max hops %d, want %d", res.MaxHops, wantHops)
			}
			// ibnetdiscover's SMP budget: per switch NodeInfo through every
			// linked port but the one it was found by... exactly:
			nsw, nca, links := 0, 0, 0
			for _, n := range topo.Nodes {
				if n.IsSwitch() {
					nsw++
					nports := n.NumPorts
					linked := 0
					for _, p := range n.Ports[1:] {
						if p.Remote != nil {
							linked++
						}
					}
					links += linked
					_ = nports
				} else {
					nca++
				}
			}
			// NodeInfo: local + one per linked switch port except the port
			// each switch was found by (nsw) + the local CA port. Plus
			// NodeDesc per node, SwitchInfo and PortInfo 0..N per switch,
			// PortInfo per CA arrival.
			want := 1 + (links - nsw) + 1 + // NodeInfo
				(nsw + nca) + // NodeDescription
				nsw + // SwitchInfo
				nsw*(tc.radix+1) + // PortInfo of switches
				nca // PortInfo of CAs
			if int(res.SMPs) != want || f.smps != want {
				t.Errorf("%d SMPs sent (%d seen by the fabric), want %d", res.SMPs, f.smps, want)
			}
		})
	}
}

func TestWalkDeadSwitchIsReportedNotFatal(t *testing.T) {
	topo, err := topology.FatTree(2, 4)
	if err != nil {
		t.Fatal(err)
	}
	start := firstCA(t, topo)
	f := newSMAFabric(topo, start)
	defer f.Close()
	dead := topo.NodeByDesc("leaf2")
	if dead == nil {
		t.Fatal("no leaf2")
	}
	// The switch stops answering but its links stay up (a hung SMA).
	f.dead[dead] = true
	res := discoverFake(t, f, discover.Options{Timeout: 10 * time.Millisecond, Retries: 1})
	if res.Topology.NodeByGUID(dead.NodeGUID) != nil {
		t.Fatalf("dead switch discovered")
	}
	// leaf2's HCAs are only behind leaf2.
	for _, p := range dead.Ports[1:] {
		if r := p.Remote; r != nil && r.Node.Type == wire.NodeTypeCA && res.Topology.NodeByGUID(r.Node.NodeGUID) != nil {
			t.Errorf("HCA %q behind the dead switch discovered", r.Node.Desc)
		}
	}
	// Every spine probed leaf2 once: 2 spines, each a NodeInfo timeout.
	if len(res.Problems) != 2 {
		t.Fatalf("problems %v, want 2", res.Problems)
	}
	for _, p := range res.Problems {
		var pe *discover.PathError
		if !errors.As(p, &pe) || !errors.Is(p, mad.ErrTimeout) || pe.Attr != wire.AttrNodeInfo || len(pe.Path) != 3 {
			t.Errorf("problem %v: want a NodeInfo timeout 3 hops out", p)
		}
	}
	want := len(topo.Nodes) - 1 - 2 // leaf2 and its two HCAs
	if got := len(res.Topology.Nodes); got != want {
		t.Errorf("%d nodes discovered, want %d", got, want)
	}
	if err := res.Topology.Validate(); err != nil {
		t.Errorf("partial topology does not validate: %v", err)
	}
}

func TestWalkDownLinkAndHopLimit(t *testing.T) {
	topo, err := topology.Line(5, 1)
	if err != nil {
		t.Fatal(err)
	}
	start := firstCA(t, topo)
	f := newSMAFabric(topo, start)
	defer f.Close()
	res := discoverFake(t, f, discover.Options{MaxHops: 3})
	// CA - sw1 - sw2 - sw3: three hops reach sw3; sw4 is a fourth.
	var hop []error
	for _, p := range res.Problems {
		if errors.Is(p, discover.ErrHopLimit) {
			hop = append(hop, p)
		}
	}
	if len(hop) == 0 || len(hop) != len(res.Problems) {
		t.Fatalf("problems %v: want hop-limit ones only", res.Problems)
	}
	if res.MaxHops != 3 {
		t.Errorf("max hops %d, want 3", res.MaxHops)
	}

	// A link that is down is not followed and shows as unconnected.
	sw := topo.NodeByDesc(res.Topology.Nodes[1].Desc) // the first switch
	var uplink *topology.Port
	for _, p := range sw.Ports[1:] {
		if p.Remote != nil && p.Remote.Node.IsSwitch() {
			uplink = p
			break
		}
	}
	f2 := newSMAFabric(topo, start)
	defer f2.Close()
	f2.down[uplink] = true
	res = discoverFake(t, f2, discover.Options{})
	if len(res.Problems) != 0 {
		t.Errorf("problems %v", res.Problems)
	}
	if got := len(res.Topology.Nodes); got != 1+countCAs(sw) {
		t.Errorf("%d nodes behind a down link, want the local switch and its CAs", got)
	}
	if p := res.Topology.NodeByGUID(sw.NodeGUID).Ports[uplink.Num]; p.Remote != nil || p.Width != 0 {
		t.Errorf("down port discovered as linked at %s", topology.Rate{Width: p.Width, Speed: p.Speed})
	}
}

func countCAs(sw *topology.Node) int {
	n := 0
	for _, p := range sw.Ports[1:] {
		if p.Remote != nil && !p.Remote.Node.IsSwitch() {
			n++
		}
	}
	return n
}

func TestWalkInconsistentGUIDs(t *testing.T) {
	topo, err := topology.Line(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Give the second switch the first one's GUID but a different size.
	var sws []*topology.Node
	for _, n := range topo.Nodes {
		if n.IsSwitch() {
			sws = append(sws, n)
		}
	}
	start := firstCA(t, topo)
	f := newSMAFabric(topo, start)
	defer f.Close()
	first := start.Remote.Node
	other := sws[0]
	if other == first {
		other = sws[1]
	}
	other.NodeGUID = first.NodeGUID
	other.NumPorts = first.NumPorts + 0
	other.Type = wire.NodeTypeRouter
	res := discoverFake(t, f, discover.Options{})
	found := false
	for _, p := range res.Problems {
		if errors.Is(p, discover.ErrInconsistent) {
			found = true
		}
	}
	if !found {
		t.Errorf("problems %v: want an inconsistency", res.Problems)
	}
}

func TestWalkProgressAndCancel(t *testing.T) {
	topo, err := topology.FatTree(2, 8)
	if err != nil {
		t.Fatal(err)
	}
	f := newSMAFabric(topo, firstCA(t, topo))
	defer f.Close()
	var calls []discover.Progress
	res := discoverFake(t, f, discover.Options{ProgressEvery: 10, Progress: func(p discover.Progress) { calls = append(calls, p) }})
	if len(calls) < 4 {
		t.Fatalf("%d progress calls for %d nodes every 10", len(calls), len(topo.Nodes))
	}
	last := calls[len(calls)-1]
	if !last.Done || last.Switches+last.CAs != len(res.Topology.Nodes) || last.Outstanding != 0 || last.SMPs != res.SMPs {
		t.Errorf("final progress %+v", last)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i].Switches+calls[i].CAs < calls[i-1].Switches+calls[i-1].CAs {
			t.Errorf("progress went backwards: %+v then %+v", calls[i-1], calls[i])
		}
	}

	f2 := newSMAFabric(topo, firstCA(t, topo))
	defer f2.Close()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = discover.Discover(ctx, f2, discover.Options{ProgressEvery: 1, Progress: func(discover.Progress) {
		if n++; n == 5 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Discover: %v", err)
	}
}

func TestWalkNoLocalNode(t *testing.T) {
	topo, err := topology.Line(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	start := firstCA(t, topo)
	f := newSMAFabric(topo, start)
	defer f.Close()
	f.mute = true // not even the local SMA answers
	_, err = discover.Discover(context.Background(), f, discover.Options{Timeout: time.Millisecond, Retries: -1})
	if !errors.Is(err, discover.ErrNoLocalNode) || !errors.Is(err, mad.ErrTimeout) {
		t.Errorf("error %v, want ErrNoLocalNode caused by a timeout", err)
	}
}
