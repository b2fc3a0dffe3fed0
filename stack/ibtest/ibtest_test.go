package ibtest_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ibemu/ibemu/emu/capture/capturetest"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/ibtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDiscoverMatchesFatTree(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 8))
	res, err := f.Discover()
	if err != nil {
		t.Fatal(err)
	}
	if err := topology.Compare(f.Topology, res.Topology); err != nil {
		t.Fatalf("discovered graph differs:\n%v", err)
	}
}

func TestLinkDownHidesPartOfTheFabric(t *testing.T) {
	f := ibtest.New(t, ibtest.Line(3, 1))
	// Cut switch2 from switch3: switch3 and its HCA are unreachable.
	var cut *topology.Port
	for _, n := range f.Topology.Nodes {
		if n.Desc == "switch2" {
			for _, p := range n.Ports[1:] {
				if p.Remote != nil && p.Remote.Node.Desc == "switch3" {
					cut = p
				}
			}
		}
	}
	if cut == nil {
		t.Fatal("no switch2-switch3 link in the generated line")
	}
	if err := f.LinkDown("switch2", cut.Num); err != nil {
		t.Fatal(err)
	}
	res, err := f.Discover()
	if err != nil {
		t.Fatal(err)
	}
	sw := 0
	for _, n := range res.Topology.Nodes {
		if n.IsSwitch() {
			sw++
		}
	}
	if sw != 2 || len(res.Topology.Nodes) != 4 {
		t.Fatalf("with the link cut: %d nodes, %d switches; want 4 and 2", len(res.Topology.Nodes), sw)
	}
	if err := f.LinkUp("switch2", cut.Num); err != nil {
		t.Fatal(err)
	}
	res, err = f.Discover()
	if err != nil {
		t.Fatal(err)
	}
	if err := topology.Compare(f.Topology, res.Topology); err != nil {
		t.Fatalf("after relinking: %v", err)
	}
}

func TestCaptureDecodesInTshark(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 4), ibtest.WithCapture(""))
	if _, err := f.Discover(); err != nil {
		t.Fatal(err)
	}
	path := f.CapturePath()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Log(capturetest.Check(t, path))
}

func TestBadSourceFails(t *testing.T) {
	if _, err := ibtest.Start(ibtest.FromString("Switch 4 \"a\"\n[9] \"b\"[1]\n")); err == nil {
		t.Fatal("a topology with a port out of range started")
	}
}
