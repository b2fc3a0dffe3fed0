package ibtest_test

import (
	"context"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/mad"
)

func TestUpGivesLIDsAndRoutes(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	last := f.HCAs[len(f.HCAs)-1]
	lid := f.LID(last.Topo.ID, 1)
	if lid == 0 {
		t.Fatalf("%s has no lid", last.Topo.ID)
	}
	if f.LID("no such node", 1) != 0 {
		t.Error("lid of a missing node")
	}
	// A LID-routed SMP from another HCA reaches it through the switches.
	tr, err := f.MADTransport(f.HCAs[1].Topo.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := mad.NewAgent(tr, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	d, err := a.SMPGet(context.Background(), mad.LIDRoute(lid), wire.AttrNodeInfo, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ni, _ := wire.ParseNodeInfo(d); ni.NodeGUID() != last.Topo.NodeGUID {
		t.Errorf("lid %d answered by %s, want %s", lid, ni.NodeGUID(), last.Topo.NodeGUID)
	}
}
