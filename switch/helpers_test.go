package ibswitch_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCA is a one-port channel adapter for the tests: it records every
// frame it receives and sends raw frames the test builds. It has no SMA.
type testCA struct {
	name string
	node *emu.Node
	lid  wire.LID
	got  [][]byte
}

func (c *testCA) HandlePacket(_ *emu.Port, frame []byte) { c.got = append(c.got, frame) }

func (c *testCA) port() *emu.Port { return c.node.Port(1) }

// testFabric is a fabric of switches and test CAs built in a test.
type testFabric struct {
	t   testing.TB
	f   *emu.Fabric
	box *emu.Inbox[struct{}] // holds virtual time between sleeps
	sw  []*ibswitch.Switch
	cas map[string]*testCA
	tid uint64
}

func newTestFabric(t testing.TB) *testFabric {
	return &testFabric{t: t, f: emu.New(), cas: map[string]*testCA{}}
}

// addSwitch adds switch i (GUID 0x0002c90200000000+i) with n ports.
func (tf *testFabric) addSwitch(n int, prof string) *ibswitch.Switch {
	tf.t.Helper()
	p, ok := ibswitch.LookupProfile(prof)
	if !ok {
		tf.t.Fatalf("no profile %q", prof)
	}
	i := len(tf.sw)
	s, err := ibswitch.Add(tf.f, fmt.Sprintf("S%d", i+1), ibswitch.Config{
		Profile: p, NumPorts: n, NodeGUID: wire.GUID(0x0002c90200000100 + uint64(i)),
	})
	if err != nil {
		tf.t.Fatal(err)
	}
	tf.sw = append(tf.sw, s)
	return s
}

func (tf *testFabric) addCA(name string, lid wire.LID) *testCA {
	tf.t.Helper()
	c := &testCA{name: name, lid: lid}
	n, err := tf.f.AddNode(name, wire.NodeTypeCA, 1, c, emu.PortConfig{SpeedSupported: wire.SpeedSDR | wire.SpeedDDR})
	if err != nil {
		tf.t.Fatal(err)
	}
	c.node = n
	tf.cas[name] = c
	return c
}

func (tf *testFabric) connect(a, b *emu.Port) {
	tf.t.Helper()
	if _, err := tf.f.Connect(a, b); err != nil {
		tf.t.Fatal(err)
	}
}

func (tf *testFabric) start() {
	tf.t.Helper()
	if err := tf.f.Start(context.Background()); err != nil {
		tf.t.Fatal(err)
	}
	tf.box = emu.NewInbox[struct{}](tf.f)
	tf.t.Cleanup(tf.f.Stop)
	tf.sleep(0) // from here on virtual time moves only in sleep
}

// do runs fn on the event loop.
func (tf *testFabric) do(fn func()) {
	tf.t.Helper()
	if err := tf.f.Do(fn); err != nil {
		tf.t.Fatal(err)
	}
}

// settle lets the fabric run until every frame in flight has arrived:
// under the virtual clock 1 ms of fabric time is far more than any
// exchange here needs.
func (tf *testFabric) settle() {
	tf.t.Helper()
	tf.sleep(time.Millisecond)
}

// sleep lets exactly d of fabric time pass, then holds the virtual clock
// still (through an Inbox) until the next sleep, so the test inspects the
// fabric at a known instant: timers due later (trap repeats) wait.
func (tf *testFabric) sleep(d time.Duration) {
	tf.t.Helper()
	tf.do(func() { tf.f.Clock().AfterFunc(d, func() { tf.box.Push(struct{}{}) }) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := tf.box.Recv(ctx); err != nil {
		tf.t.Fatalf("fabric did not advance: %v", err)
	}
}

// activate moves both ends of every link to Active (what the SM does
// with PortInfo Sets).
func (tf *testFabric) activate() {
	tf.do(func() {
		for _, l := range tf.f.Links() {
			a, b := l.Ends()
			for _, p := range []*emu.Port{a, b} {
				if err := p.SetState(wire.PortStateArmed); err != nil {
					tf.t.Fatal(err)
				}
				if err := p.SetState(wire.PortStateActive); err != nil {
					tf.t.Fatal(err)
				}
			}
		}
	})
}

// take removes and returns what c received so far.
func (tf *testFabric) take(c *testCA) [][]byte {
	var out [][]byte
	tf.do(func() { out, c.got = c.got, nil })
	return out
}

// dataFrame builds a UD SEND Only frame of n payload bytes from src to
// dlid with P_Key pkey on SL sl; the payload starts with seq.
func dataFrame(t testing.TB, src, dlid wire.LID, sl uint8, pkey uint16, seq uint32, n int) []byte {
	t.Helper()
	payload := make([]byte, n)
	binary.BigEndian.PutUint32(payload, seq)
	f, err := wire.EncodePacket(&wire.PacketFields{
		LRH:     wire.LRHFields{SL: sl, DLID: dlid, SLID: src},
		BTH:     wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: pkey, DestQP: 0x48},
		DETH:    &wire.DETHFields{QKey: 0x11111111, SrcQP: 0x49},
		Payload: payload,
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// frameSeq returns the sequence number a dataFrame carries.
func frameSeq(t testing.TB, f []byte) uint32 {
	t.Helper()
	p, err := wire.ParsePacket(f)
	if err != nil {
		t.Fatalf("bad frame: %v", err)
	}
	if err := wire.CheckPacket(f); err != nil {
		t.Fatalf("frame crcs: %v", err)
	}
	return binary.BigEndian.Uint32(p.Payload)
}

// smpReq describes a request SMP a test CA sends.
type smpReq struct {
	method   wire.Method
	attr     wire.AttrID
	mod      uint32
	data     []byte
	mkey     uint64
	directed bool
	path     []uint8 // initial path entries 1..n (hop count = len)
	drSLID   wire.LID
	drDLID   wire.LID
	dlid     wire.LID // LRH DLID (permissive for a plain DR SMP)
	slid     wire.LID
}

// sendSMP sends r from c and returns its TID.
func (tf *testFabric) sendSMP(c *testCA, r smpReq) uint64 {
	tf.t.Helper()
	tf.tid++
	tid := tf.tid
	smp := wire.SMP(make([]byte, wire.MADSize))
	f := wire.SMPFields{Directed: r.directed, Method: r.method, TID: tid, AttrID: r.attr, AttrMod: r.mod, MKey: r.mkey}
	copy(f.Data[:], r.data)
	if r.directed {
		f.HopCount = uint8(len(r.path))
		copy(f.InitialPath[1:], r.path)
		f.DrSLID, f.DrDLID = r.drSLID, r.drDLID
		if f.DrSLID == 0 {
			f.DrSLID = wire.LIDPermissive
		}
		if f.DrDLID == 0 {
			f.DrDLID = wire.LIDPermissive
		}
	}
	smp.Encode(&f)
	dlid, slid := r.dlid, r.slid
	if dlid == 0 {
		dlid = wire.LIDPermissive
	}
	if slid == 0 {
		slid = wire.LIDPermissive
	}
	tf.do(func() {
		if r.directed {
			// The CA's SMI sends it: the hop pointer advances as on the
			// requester (IBTA Vol 1 §14.2.2.2).
			route, err := agent.RouteDRSend(c.node, smp)
			if err != nil {
				tf.t.Fatalf("route dr send: %v", err)
			}
			if route.Action == wire.DRForwardPort && route.Out != c.port() {
				tf.t.Fatalf("dr send leaves by %v", route.Out)
			}
		}
		a := agent.Addr{DLID: dlid, SLID: slid, DestQP: agent.QP0, SrcQP: agent.QP0, PKey: 0xFFFF}
		frame, err := agent.AppendFrame(nil, &a, smp)
		if err != nil {
			tf.t.Fatal(err)
		}
		c.port().Send(frame)
	})
	return tid
}

// awaitSMP waits for the response with TID tid at c and returns it with
// its frame.
func (tf *testFabric) awaitSMP(c *testCA, tid uint64) (wire.SMP, []byte) {
	tf.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var smp wire.SMP
		var fr []byte
		tf.do(func() {
			for i, f := range c.got {
				af, err := agent.ParseFrame(f)
				if err != nil || af.Addr.DestQP != agent.QP0 {
					continue
				}
				if af.MAD.TID() == tid && af.MAD.IsResponse() {
					smp, fr = wire.SMP(af.MAD), f
					c.got = append(c.got[:i:i], c.got[i+1:]...)
					return
				}
			}
		})
		if smp != nil {
			if err := wire.CheckPacket(fr); err != nil {
				tf.t.Fatalf("response crcs: %v", err)
			}
			return smp, fr
		}
		tf.sleep(100 * time.Microsecond)
	}
	tf.t.Fatalf("no response to tid %d at %s", tid, c.name)
	return nil, nil
}

// smp sends r from c and waits for the answer.
func (tf *testFabric) smp(c *testCA, r smpReq) wire.SMP {
	tf.t.Helper()
	return func() wire.SMP { s, _ := tf.awaitSMP(c, tf.sendSMP(c, r)); return s }()
}

// gmp sends a GMP (QP1) of class cls from c to dlid and waits for the
// answer.
func (tf *testFabric) gmp(c *testCA, dlid wire.LID, cls wire.MgmtClass, method wire.Method, attr wire.AttrID, mod uint32, data []byte, dataOff int) wire.MAD {
	tf.t.Helper()
	tf.tid++
	tid := tf.tid
	m := wire.MAD(make([]byte, wire.MADSize))
	m.Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: cls, ClassVersion: 1, Method: method, TID: tid, AttrID: attr, AttrMod: mod})
	copy(m[dataOff:], data)
	tf.do(func() {
		a := agent.Addr{DLID: dlid, SLID: c.lid, DestQP: agent.QP1, SrcQP: agent.QP1, QKey: agent.GSIQKey, PKey: 0xFFFF}
		frame, err := agent.AppendFrame(nil, &a, m)
		if err != nil {
			tf.t.Fatal(err)
		}
		c.port().Send(frame)
	})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var resp wire.MAD
		tf.do(func() {
			for i, f := range c.got {
				af, err := agent.ParseFrame(f)
				if err == nil && af.Addr.DestQP == agent.QP1 && af.MAD.TID() == tid && af.MAD.IsResponse() {
					resp = af.MAD
					c.got = append(c.got[:i:i], c.got[i+1:]...)
					return
				}
			}
		})
		if resp != nil {
			return resp
		}
		tf.sleep(100 * time.Microsecond)
	}
	tf.t.Fatalf("no %s response to tid %d", cls, tid)
	return nil
}
