package mad_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/mad"
)

// twoHosts is h1 - sw - h2 in the emulator, LIDs sw 1, h1 2, h2 3, the
// switch routing them and every port Active, as an SM would leave it.
type twoHosts struct {
	fab    *fabric.Fabric
	h1, h2 *hca.Device
}

func newTwoHosts(t *testing.T, opts ...emu.Option) *twoHosts {
	t.Helper()
	topo, err := topology.Parse("two", strings.NewReader(`
Switch	4 "sw"
[1]	"h1"[1]
[2]	"h2"[1]

Hca	1 "h1"
[1]	"sw"[1]

Hca	1 "h2"
[1]	"sw"[2]
`))
	if err != nil {
		t.Fatal(err)
	}
	topo.NodeByID("sw").LID = 1
	topo.NodeByID("h1").Ports[1].LID = 2
	topo.NodeByID("h2").Ports[1].LID = 3
	fab, err := fabric.Build(topo, fabric.WithEmuOptions(append([]emu.Option{emu.WithSeed(3)}, opts...)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := fab.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fab.Stop)
	sw := fab.Switch("sw").Switch
	err = fab.Emu.Do(func() {
		for lid, port := range map[wire.LID]uint8{1: 0, 2: 1, 3: 2} {
			if err := sw.SetRoute(lid, port); err != nil {
				t.Error(err)
			}
		}
		for _, n := range fab.Emu.Nodes() {
			for _, p := range n.Ports()[1:] {
				if p.IsUp() {
					p.SetState(wire.PortStateArmed)
					p.SetState(wire.PortStateActive)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return &twoHosts{fab: fab, h1: fab.HCA("h1").Device, h2: fab.HCA("h2").Device}
}

func (th *twoHosts) agent(t *testing.T, d *hca.Device, reg mad.Registration, o mad.Options) *mad.Agent {
	t.Helper()
	tr := mad.NewInProcess(th.fab.Emu, d, 1)
	t.Cleanup(func() { tr.Close() })
	a, err := mad.NewAgent(tr, reg, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

var smpReg = mad.Registration{QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: 1}

func TestInProcessSMPs(t *testing.T) {
	th := newTwoHosts(t)
	a := th.agent(t, th.h1, smpReg, mad.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		route     mad.Route
		guid      wire.GUID
		localPort uint8
	}{
		{mad.DRPath{}, th.h1.NodeGUID(), 1},
		{mad.DRPath{1}, th.fab.Switch("sw").Switch.GUID(), 1},
		{mad.DRPath{1, 2}, th.h2.NodeGUID(), 1},
		{mad.LIDRoute(3), th.h2.NodeGUID(), 1},
		// A LID-routed SMP reports the port it entered the switch by.
		{mad.LIDRoute(1), th.fab.Switch("sw").Switch.GUID(), 1},
	} {
		data, err := a.SMPGet(ctx, tc.route, wire.AttrNodeInfo, 0)
		if err != nil {
			t.Errorf("NodeInfo via %s: %v", tc.route, err)
			continue
		}
		ni := wire.NodeInfo(data)
		if ni.NodeGUID() != tc.guid || ni.LocalPortNum() != tc.localPort {
			t.Errorf("NodeInfo via %s: guid %s port %d, want %s port %d", tc.route, ni.NodeGUID(), ni.LocalPortNum(), tc.guid, tc.localPort)
		}
	}
	data, err := a.SMPGet(ctx, mad.DRPath{1, 2}, wire.AttrNodeDescription, 0)
	if err != nil || wire.NodeDescription(data).String() != "h2" {
		t.Errorf("NodeDescription of h2: %q, %v", data, err)
	}
	if _, err := a.SMPGet(ctx, mad.DRPath{1}, wire.AttrSMInfo, 0); !errors.Is(err, wire.ErrUnsupportedAttr) && err == nil {
		t.Errorf("SMInfo of a switch without an SM: %v", err)
	}
}

func TestInProcessTimeoutsRunOnVirtualTime(t *testing.T) {
	th := newTwoHosts(t)
	a := th.agent(t, th.h1, smpReg, mad.Options{Timeout: time.Second, Retries: 2})
	before := th.fab.Emu.Now()
	wall := time.Now()
	// Port 3 of the switch has no link: the SMP is dropped there.
	_, err := a.SMPGet(context.Background(), mad.DRPath{1, 3}, wire.AttrNodeInfo, 0)
	if !errors.Is(err, mad.ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", err)
	}
	if el := th.fab.Emu.Now().Sub(before); el < 3*time.Second || el > 3*time.Second+time.Millisecond {
		t.Errorf("%v of virtual time passed, want 3 timeouts of 1s", el)
	}
	if el := time.Since(wall); el > 2*time.Second {
		t.Errorf("virtual timeouts took %v of real time", el)
	}
	if st := a.Stats(); st.Retries != 2 || st.Timeouts != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestInProcessRMPPAcrossTheFabric(t *testing.T) {
	th := newTwoHosts(t)
	// Lose a fifth of what the switch sends towards h1, deterministically
	// (seeded): segments and ACKs are retransmitted.
	if err := th.fab.Emu.Do(func() { th.fab.Node("sw").Port(1).SetDropRate(0.2) }); err != nil {
		t.Fatal(err)
	}
	server := th.agent(t, th.h2, saReg, mad.Options{Timeout: 100 * time.Millisecond, Retries: 10})
	var gotReq []byte
	server.Serve(func(r *mad.Received) {
		gotReq = slices.Clone(r.MAD)
		resp := saMAD(wire.MAD(r.MAD).Method().Response(), wire.AttrNodeRecord, pattern(2000, 4))[:wire.SADataOffset+2000]
		h := wire.MAD(resp).RMPPHeader()
		h.SetVersion(wire.RMPPVersion)
		h.SetType(wire.RMPPTypeData)
		h.SetFlags(wire.RMPPFlagActive)
		if err := r.Respond(resp); err != nil {
			t.Error(err)
		}
	})
	client := th.agent(t, th.h1, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2},
		mad.Options{Timeout: time.Second, Retries: 5})
	req := saMAD(wire.MethodGetMulti, wire.AttrNodeRecord, pattern(700, 8))
	resp, err := client.Call(context.Background(), mad.Addr{LID: 3, QPN: 1}, req)
	if err != nil {
		t.Fatalf("Call: %v (client %+v server %+v)", err, client.Stats(), server.Stats())
	}
	if len(gotReq) != wire.SADataOffset+700 || !bytes.Equal(gotReq[wire.SADataOffset:], pattern(700, 8)) {
		t.Errorf("server got a %d-byte request", len(gotReq))
	}
	if len(resp) != wire.SADataOffset+2000 || !bytes.Equal(resp[wire.SADataOffset:], pattern(2000, 4)) {
		t.Errorf("client got a %d-byte response", len(resp))
	}
	if st := server.Stats(); st.RMPPRetransmits == 0 || st.RMPPSegmentsSent < 10 {
		t.Errorf("server stats %+v: with 20%% loss some window must have been sent again", st)
	}
}

func TestInProcessSendFailure(t *testing.T) {
	th := newTwoHosts(t)
	a := th.agent(t, th.h1, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2}, mad.Options{Timeout: time.Hour})
	if err := th.fab.Emu.Do(func() { th.fab.Node("h1").Port(1).SetEnabled(false) }); err != nil {
		t.Fatal(err)
	}
	_, err := a.Call(context.Background(), mad.Addr{LID: 3, QPN: 1}, saMAD(wire.MethodGet, wire.AttrNodeRecord, nil))
	if !errors.Is(err, mad.ErrSendFailed) || !errors.Is(err, hca.ErrPortDown) {
		t.Fatalf("Call on a disabled port: %v, want ErrSendFailed wrapping hca.ErrPortDown", err)
	}
}

func TestInProcessStopFailsOutstanding(t *testing.T) {
	// On the wall clock: under the virtual clock an idle fabric jumps
	// straight to the timeout.
	th := newTwoHosts(t, emu.WithWallClock())
	sa := th.agent(t, th.h1, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2}, mad.Options{})
	smp := th.agent(t, th.h1, smpReg, mad.Options{Timeout: time.Hour})
	done := make(chan error, 1)
	go func() {
		// Port 3 of the switch has no link: no answer, ever.
		_, err := smp.SMPGet(context.Background(), mad.DRPath{1, 3}, wire.AttrNodeInfo, 0)
		done <- err
	}()
	for smp.Stats().Sent == 0 {
		time.Sleep(time.Millisecond)
	}
	th.fab.Stop()
	select {
	case err := <-done:
		if !errors.Is(err, mad.ErrClosed) {
			t.Errorf("Call across Stop: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Call still blocked after the fabric stopped")
	}
	// The agents hear of the stop from their transports' delivery
	// goroutines; give them a moment.
	for _, ag := range []*mad.Agent{sa, smp} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := ag.Go(mad.Request{Addr: mad.Addr{LID: 3, QPN: 1}, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)},
				func(r mad.Result) {
					if !errors.Is(r.Err, mad.ErrClosed) {
						t.Errorf("request sent just before the agent closed: %v", r.Err)
					}
				})
			if errors.Is(err, mad.ErrClosed) {
				break
			}
			if err != nil || time.Now().After(deadline) {
				t.Fatalf("Go after Stop: %v", err)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestStreamLeavesAsOneBatch: batches started on a Stream by a producer
// that is slower than the wire leave at the same virtual instants as one
// batch of all the requests: the window never drains between them, so
// the last answer comes at the same virtual time.
func TestStreamLeavesAsOneBatch(t *testing.T) {
	run := func(stream bool) time.Duration {
		th := newTwoHosts(t)
		a := th.agent(t, th.h1, smpReg, mad.Options{Window: 4})
		var reqs []mad.Request
		for range 60 {
			r, err := a.SMPRequest(mad.DRPath{1, 2}, wire.MethodGet, wire.AttrNodeInfo, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, r)
		}
		ctx := context.Background()
		start := th.fab.Emu.Now()
		var bs []*mad.Batch
		if stream {
			st := a.Stream()
			for i := 0; i < len(reqs); i += 20 {
				bs = append(bs, st.Start(reqs[i:i+20]))
				time.Sleep(3 * time.Millisecond) // a slow producer
			}
			st.Close()
		} else {
			bs = append(bs, a.Start(reqs))
		}
		for _, b := range bs {
			for i, r := range b.Wait(ctx) {
				if r.Err != nil {
					t.Fatalf("request %d: %v", i, r.Err)
				}
			}
		}
		return th.fab.Emu.Now().Sub(start)
	}
	one, streamed := run(false), run(true)
	if one != streamed || one == 0 {
		t.Errorf("one batch took %v of virtual time, the stream %v", one, streamed)
	}
}
