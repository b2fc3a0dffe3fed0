//go:build linux

package attach

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// TestErrorAttributeReachesTheNode: the frames of a node go straight to
// its device model while the server has no hook on them, and through the
// server's wrapper again once console Error gives the node an attribute
// drop: the attribute's requests are lost, others answered, and all
// answered again once the rate is back to 0.
func TestErrorAttributeReachesTheNode(t *testing.T) {
	srv := startServer(t, parseTestNet(t), nil)
	a := newAgent(t, dial(t, srv, "Hca1", false), smiReg)
	ctx := context.Background()
	toHca3 := mad.DRPath{1, 2}
	get := func(attr wire.AttrID) error {
		_, err := a.SMPGet(ctx, toHca3, attr, 0)
		return err
	}
	if err := get(wire.AttrNodeInfo); err != nil {
		t.Fatalf("NodeInfo of Hca3 before Error: %v", err)
	}
	if err := srv.Exec(`Error "Hca3"[1] 100 17`, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := get(wire.AttrNodeInfo); err == nil {
		t.Error("NodeInfo of Hca3 answered with a 100% drop of attribute 0x11 on its port")
	}
	if err := get(wire.AttrNodeDescription); err != nil {
		t.Errorf("NodeDescription of Hca3 with NodeInfo dropped: %v", err)
	}
	if err := srv.Exec(`Error "Hca3"[1] 0 17`, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := get(wire.AttrNodeInfo); err != nil {
		t.Errorf("NodeInfo of Hca3 after Error 0: %v", err)
	}
	// A client on a switch's port 0 hooks the switch while it is there.
	sw := dial(t, srv, "Switch1", false)
	sa := newAgent(t, sw, smiReg)
	d, err := sa.SMPGet(ctx, mad.DRPath{2}, wire.AttrNodeDescription, 0)
	if err != nil || !strings.HasPrefix(string(d), "third host") {
		t.Errorf("NodeDescription of Hca3 from Switch1's port 0: %q, %v", d, err)
	}
}
