//go:build linux

package attach

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

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

// TestErrorSwitchPort0: console Error on a switch's port 0 (as ibsim's
// do_seterror allows) loses the requests that end at the switch, every
// attribute or the one given, while SMPs passing through it to other
// nodes are answered; a rate of 0 clears it.
func TestErrorSwitchPort0(t *testing.T) {
	srv := startServer(t, parseTestNet(t), nil)
	// Lost requests are the point here: a short timeout and no retries.
	a, err := mad.NewAgent(dial(t, srv, "Hca1", false), smiReg, mad.Options{Timeout: 150 * time.Millisecond, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	ctx := context.Background()
	toSwitch2, toHca2 := mad.DRPath{1, 3}, mad.DRPath{1, 3, 1}
	get := func(p mad.DRPath, attr wire.AttrID) error {
		_, err := a.SMPGet(ctx, p, attr, 0)
		return err
	}
	exec := func(cmd string) {
		t.Helper()
		if err := srv.Exec(cmd, io.Discard); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	exec(`Error "Switch2"[0] 100`)
	for _, attr := range []wire.AttrID{wire.AttrNodeInfo, wire.AttrNodeDescription, wire.AttrSwitchInfo} {
		if err := get(toSwitch2, attr); err == nil {
			t.Errorf("attribute %#x of Switch2 answered with a 100%% error rate on its port 0", attr)
		}
	}
	if err := get(toHca2, wire.AttrNodeInfo); err != nil {
		t.Errorf("NodeInfo of Hca2 through Switch2: %v", err)
	}
	var dump strings.Builder
	if err := srv.Exec(`Dump "Switch2"`, &dump); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump.String(), "\"Sma Port\"[0]") || !strings.Contains(dump.String(), "# err_rate 100") ||
		strings.Contains(dump.String(), "err_attr") {
		t.Errorf("Dump of Switch2 with an error rate on port 0:\n%s", dump.String())
	}
	exec(`Error "Switch2"[0] 100 17`)
	if err := get(toSwitch2, wire.AttrNodeInfo); err == nil {
		t.Error("NodeInfo of Switch2 answered with attribute 0x11 dropped on its port 0")
	}
	if err := get(toSwitch2, wire.AttrNodeDescription); err != nil {
		t.Errorf("NodeDescription of Switch2 with only NodeInfo dropped: %v", err)
	}
	exec(`Error "Switch2"[0] 0`)
	if err := get(toSwitch2, wire.AttrNodeInfo); err != nil {
		t.Errorf("NodeInfo of Switch2 after Error 0: %v", err)
	}
	if err := srv.Exec(`Error "Hca2"[0] 10`, io.Discard); err == nil {
		t.Error("Error on port 0 of a CA accepted")
	}
}
