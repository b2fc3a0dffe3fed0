package verbs_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/hca/verbs"
	ibswitch "github.com/ibemu/ibemu/switch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testNet is n one-port HCAs on one switch, LIDs 1..n, ports Active.
type testNet struct {
	t    testing.TB
	f    *emu.Fabric
	sw   *ibswitch.Switch
	hcas []*hca.Device
	engs []*verbs.Engine
	// links[i] joins HCA i to the switch.
	links  []*emu.Link
	events []verbs.AsyncEvent
}

func newNet(t testing.TB, n int, opts ...emu.Option) *testNet {
	return newNetWith(t, n, nil, opts...)
}

// shuffler is a two-port middlebox that relays frames between its ports,
// holding back a share of them for a while so that later ones overtake
// them (reordering on the path).
type shuffler struct {
	node  *emu.Node
	rate  float64
	delay time.Duration
	held  int
}

func (s *shuffler) HandlePacket(p *emu.Port, frame []byte) {
	out := s.node.Port(3 - p.Num())
	f := s.node.Fabric()
	if s.rate > 0 && f.Rand().Float64() < s.rate {
		s.held++
		f.Clock().AfterFunc(s.delay+time.Duration(f.Rand().IntN(int(s.delay))), func() { out.Send(frame) })
		return
	}
	out.Send(frame)
}

func newNetWith(t testing.TB, n int, shuf *shuffler, opts ...emu.Option) *testNet {
	spec := netSpec{}
	if shuf != nil {
		spec.mid, spec.midNode = shuf, &shuf.node
	}
	return buildNet(t, n, spec, opts...)
}

// netSpec is what buildNet builds besides its HCAs: the switch model
// (zero: the default switch with at least 4 ports), the HCA model (zero:
// ConnectX-2 QDR), and a two-port device between HCA 1 and the switch
// (mid, whose node goes into *midNode).
type netSpec struct {
	sw      *ibswitch.Profile
	hca     string
	mid     emu.Device
	midNode **emu.Node
	// speed, when not zero, is what every link trains at (4x of it): both
	// ends enable only 4X and speed, and a link that trains otherwise
	// fails the test.
	speed wire.LinkSpeed
}

// buildNet is n HCAs (LIDs 1..n, one port each) on one switch, every port
// Active, on the fabric opts make (the virtual clock unless they say
// otherwise), started.
func buildNet(t testing.TB, n int, spec netSpec, opts ...emu.Option) *testNet {
	t.Helper()
	tn := &testNet{t: t, f: emu.New(opts...)}
	cfg := ibswitch.Config{NumPorts: max(n, 4), NodeGUID: 0x0002c90200000100}
	if spec.sw != nil {
		cfg = ibswitch.Config{Profile: *spec.sw, NodeGUID: 0x0002c90200000100}
	}
	var err error
	if tn.sw, err = ibswitch.Add(tn.f, "sw", cfg); err != nil {
		t.Fatal(err)
	}
	name := spec.hca
	if name == "" {
		name = hca.ProfileConnectX2QDR1p
	}
	prof, err := hca.StandardProfiles().Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		d, err := hca.Add(tn.f, fmt.Sprintf("h%d", i+1), hca.Config{Profile: prof, NodeGUID: wire.GUID(0x0002c90300001000 + uint64(i)*16)})
		if err != nil {
			t.Fatal(err)
		}
		hp := d.Node().Port(1)
		if i == 0 && spec.mid != nil {
			pc := emu.PortConfig{WidthSupported: uint8(wire.Width1X | wire.Width4X), SpeedSupported: wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR}
			node, err := tn.f.AddNode("middlebox", wire.NodeTypeCA, 2, spec.mid, pc, pc)
			if err != nil {
				t.Fatal(err)
			}
			*spec.midNode = node
			if _, err := tn.f.Connect(hp, node.Port(1)); err != nil {
				t.Fatal(err)
			}
			hp = node.Port(2)
		}
		sp := tn.sw.Node().Port(i + 1)
		if spec.speed != 0 {
			for _, p := range []*emu.Port{hp, sp} {
				p.SetLinkEnables(uint8(wire.Width4X), spec.speed)
			}
		}
		l, err := tn.f.Connect(hp, sp)
		if err != nil {
			t.Fatal(err)
		}
		if spec.speed != 0 && (l.Speed() != spec.speed || l.Width() != wire.Width4X) {
			t.Fatalf("link trained at %v %v, want 4x %v", l.Width(), l.Speed(), spec.speed)
		}
		d.SMA().Port(1).LID = wire.LID(i + 1)
		if err := tn.sw.SetRoute(wire.LID(i+1), uint8(i+1)); err != nil {
			t.Fatal(err)
		}
		e, err := verbs.New(d)
		if err != nil {
			t.Fatal(err)
		}
		e.SetAsyncHandler(func(ev verbs.AsyncEvent) { tn.events = append(tn.events, ev) })
		tn.hcas = append(tn.hcas, d)
		tn.engs = append(tn.engs, e)
		tn.links = append(tn.links, l)
	}
	if err := tn.sw.SetLinearFDBTop(wire.LID(n)); err != nil {
		t.Fatal(err)
	}
	if err := tn.sw.SetLID(wire.LID(100), 0); err != nil {
		t.Fatal(err)
	}
	for _, l := range tn.f.Links() {
		a, b := l.Ends()
		for _, p := range []*emu.Port{a, b} {
			if err := p.SetState(wire.PortStateArmed); err != nil {
				t.Fatal(err)
			}
			if err := p.SetState(wire.PortStateActive); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tn.f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.f.Stop)
	return tn
}

func (tn *testNet) do(fn func()) {
	tn.t.Helper()
	if err := tn.f.Do(fn); err != nil {
		tn.t.Fatal(err)
	}
}

// ep is one side of a connection.
type ep struct {
	e   *verbs.Engine
	pd  *verbs.PD
	cq  *verbs.CQ
	rcq *verbs.CQ
	qp  *verbs.QP
	buf []byte
	mr  *verbs.MR
	lid wire.LID
}

type epOpts struct {
	typ    verbs.QPType
	bufLen int
	cqe    int
	srq    *verbs.SRQ
	access verbs.Access
	caps   verbs.QPCap
}

func (tn *testNet) endpoint(i int, o epOpts) *ep {
	tn.t.Helper()
	if o.bufLen == 0 {
		o.bufLen = 1 << 16
	}
	if o.cqe == 0 {
		o.cqe = 4096
	}
	if o.access == 0 {
		o.access = verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead | verbs.AccessRemoteAtomic
	}
	if o.caps.MaxSendWR == 0 {
		o.caps = verbs.QPCap{MaxSendWR: 1024, MaxRecvWR: 1024, MaxSendSGE: 4, MaxRecvSGE: 4, MaxInlineData: 256}
	}
	x := &ep{e: tn.engs[i], lid: wire.LID(i + 1), buf: make([]byte, o.bufLen)}
	var err error
	tn.do(func() {
		if x.pd, err = x.e.AllocPD(); err != nil {
			return
		}
		if x.mr, err = x.pd.RegMR(x.buf, o.access); err != nil {
			return
		}
		if x.cq, err = x.e.CreateCQ(o.cqe, nil); err != nil {
			return
		}
		if x.rcq, err = x.e.CreateCQ(o.cqe, nil); err != nil {
			return
		}
		x.qp, err = x.pd.CreateQP(verbs.QPInitAttr{SendCQ: x.cq, RecvCQ: x.rcq, SRQ: o.srq, QPType: o.typ, Cap: o.caps})
	})
	if err != nil {
		tn.t.Fatal(err)
	}
	return x
}

// connect brings two RC or UC QPs to RTS, each aimed at the other.
func (tn *testNet) connect(a, b *ep, mtu wire.MTU, timeout, retry, rnrRetry uint8) {
	tn.t.Helper()
	var err error
	tn.do(func() {
		for _, p := range [][2]*ep{{a, b}, {b, a}} {
			x, y := p[0], p[1]
			init := &verbs.QPAttr{QPState: verbs.QPStateInit, PortNum: 1, QPAccessFlags: verbs.AccessRemoteWrite | verbs.AccessRemoteRead | verbs.AccessRemoteAtomic}
			if err = x.qp.Modify(init, verbs.AttrState|verbs.AttrPKeyIndex|verbs.AttrPort|verbs.AttrAccessFlags); err != nil {
				return
			}
			rtr := &verbs.QPAttr{QPState: verbs.QPStateRTR, PathMTU: mtu, DestQPNum: y.qp.Num(), RQPSN: 0x100,
				MaxDestRdAtomic: 16, MinRNRTimer: 1, AHAttr: verbs.AHAttr{DLID: y.lid, PortNum: 1}}
			mask := verbs.AttrState | verbs.AttrAV | verbs.AttrPathMTU | verbs.AttrDestQPN | verbs.AttrRQPSN
			if x.qp.Type() == verbs.QPTypeRC {
				mask |= verbs.AttrMaxDestRdAtomic | verbs.AttrMinRNRTimer
			}
			if err = x.qp.Modify(rtr, mask); err != nil {
				return
			}
			rts := &verbs.QPAttr{QPState: verbs.QPStateRTS, SQPSN: 0x100, Timeout: timeout, RetryCnt: retry, RNRRetry: rnrRetry, MaxRdAtomic: 16}
			mask = verbs.AttrState | verbs.AttrSQPSN
			if x.qp.Type() == verbs.QPTypeRC {
				mask |= verbs.AttrTimeout | verbs.AttrRetryCnt | verbs.AttrRNRRetry | verbs.AttrMaxQPRdAtomic
			}
			if err = x.qp.Modify(rts, mask); err != nil {
				return
			}
		}
	})
	if err != nil {
		tn.t.Fatal(err)
	}
}

// poll waits (wall clock) for n completions on cq.
func poll(t testing.TB, cq *verbs.CQ, n int) []verbs.WC {
	t.Helper()
	out := make([]verbs.WC, 0, n)
	buf := make([]verbs.WC, 64)
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < n {
		k := cq.Poll(buf[:min(len(buf), n-len(out))])
		if k < 0 {
			t.Fatalf("cq overflowed after %d completions", len(out))
		}
		out = append(out, buf[:k]...)
		if k == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("got %d of %d completions: %+v", len(out), n, out)
			}
			runtime.Gosched()
			time.Sleep(20 * time.Microsecond)
		}
	}
	return out
}

// settle lets d of virtual time pass.
func (tn *testNet) settle(d time.Duration) {
	tn.t.Helper()
	box := emu.NewInbox[struct{}](tn.f)
	defer box.Close()
	tn.do(func() { tn.f.Clock().AfterFunc(d, func() { box.Push(struct{}{}) }) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := box.Recv(ctx); err != nil {
		tn.t.Fatalf("fabric did not advance: %v", err)
	}
}

func sge(x *ep, off, n int) []verbs.SGE {
	return []verbs.SGE{{Addr: x.mr.Addr() + uint64(off), Length: uint32(n), LKey: x.mr.LKey()}}
}

func postSend(t testing.TB, x *ep, wrs ...verbs.SendWR) {
	t.Helper()
	if n, err := x.qp.PostSend(wrs); err != nil {
		t.Fatalf("post send: %d posted: %v", n, err)
	}
}

func postRecv(t testing.TB, x *ep, wrs ...verbs.RecvWR) {
	t.Helper()
	if n, err := x.qp.PostRecv(wrs); err != nil {
		t.Fatalf("post recv: %d posted: %v", n, err)
	}
}

func fill(b []byte, seed byte) {
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>9)
	}
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: differs at byte %d of %d/%d", what, i, len(got), len(want))
	}
}
