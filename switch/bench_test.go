package ibswitch_test

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// sink is a CA that counts what it receives, hands the buffers back for
// reuse and signals when it has seen want frames.
type sink struct {
	n, want int
	done    chan struct{}
	free    [][]byte
}

func (k *sink) HandlePacket(_ *emu.Port, frame []byte) {
	k.n++
	k.free = append(k.free, frame)
	if k.n == k.want {
		close(k.done)
	}
}

// BenchmarkForwardLFT measures unicast frames forwarded per second
// through one switch: each op is one 256-byte UD frame handed to the
// switch on port 1, looked up in the LinearForwardingTable, checked
// (states, P_Key enforcement on both ports, SLtoVL) and sent out port 2
// to a CA that checks its VCRC.
func BenchmarkForwardLFT(b *testing.B) {
	f := emu.New()
	s, err := ibswitch.Add(f, "S", ibswitch.Config{NumPorts: 8, NodeGUID: 0x10})
	if err != nil {
		b.Fatal(err)
	}
	src := &testCA{name: "A"}
	dst := &sink{}
	na, _ := f.AddNode("A", wire.NodeTypeCA, 1, src)
	nb, _ := f.AddNode("B", wire.NodeTypeCA, 1, dst)
	src.node = na
	f.Connect(na.Port(1), s.Node().Port(1))
	f.Connect(nb.Port(1), s.Node().Port(2))
	for _, p := range []*emu.Port{na.Port(1), nb.Port(1), s.Node().Port(1), s.Node().Port(2)} {
		p.SetState(wire.PortStateArmed)
		p.SetState(wire.PortStateActive)
	}
	must(b, s.SetRoute(2, 2))
	for _, n := range []int{1, 2} {
		pa := s.SMA().Port(n)
		pa.PartitionEnforcementInbound, pa.PartitionEnforcementOutbound = true, true
	}
	if err := f.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer f.Stop()
	frame := dataFrame(b, 1, 2, 0, 0xFFFF, 0, 256)
	in := s.Node().Port(1)
	const batch = 512
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(batch, b.N-sent)
		dst.n, dst.want, dst.done = 0, n, make(chan struct{})
		_ = f.Do(func() {
			for range n {
				var fr []byte
				if k := len(dst.free); k > 0 {
					fr, dst.free = dst.free[k-1], dst.free[:k-1]
					copy(fr, frame)
				} else {
					fr = append([]byte(nil), frame...)
				}
				s.HandlePacket(in, fr)
			}
		})
		<-dst.done
		sent += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
	if st := s.Stats(); st.Forwarded != uint64(b.N) {
		b.Fatalf("forwarded %d of %d", st.Forwarded, b.N)
	}
}

// drRequester is a CA whose SM sends directed-route SMPs and signals
// each answer (on got), or, with got nil, counts them in answers.
type drRequester struct {
	node    *emu.Node
	got     chan wire.SMP
	answers int
}

func (r *drRequester) HandlePacket(p *emu.Port, frame []byte) {
	af, err := agent.ParseFrame(frame)
	if err != nil || !af.MAD.IsResponse() {
		return
	}
	smp := wire.SMP(af.MAD)
	if route, err := agent.RouteDR(p, smp); err == nil && route.ToSM {
		if r.got == nil {
			r.answers++
			return
		}
		r.got <- smp
	}
}

// BenchmarkDRSMP5Hop measures directed-route round trips per second: each
// op is a Get(NodeInfo) from a CA's SM through four switches to the
// fifth switch's SMA and back along the return path, in process.
func BenchmarkDRSMP5Hop(b *testing.B) {
	f := emu.New()
	req := &drRequester{got: make(chan wire.SMP, 1)}
	na, _ := f.AddNode("A", wire.NodeTypeCA, 1, req)
	req.node = na
	last := drChain(b, f, na)
	defer f.Stop()
	smp := wire.SMP(make([]byte, wire.MADSize))
	fields := drNodeInfoGet()
	ad := agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, PKey: 0xFFFF}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		fields.TID = uint64(i + 1)
		_ = f.Do(func() {
			smp.Encode(&fields)
			if _, err := agent.RouteDRSend(na, smp); err != nil {
				b.Fatal(err)
			}
			fr, err := agent.AppendFrame(nil, &ad, smp)
			if err != nil {
				b.Fatal(err)
			}
			na.Port(1).Send(fr)
		})
		select {
		case r := <-req.got:
			if r.MAD().TID() != uint64(i+1) || wire.NodeInfo(r.Data()).NodeGUID() != last.GUID() {
				b.Fatal("wrong answer")
			}
		case <-time.After(5 * time.Second):
			b.Fatal("no answer")
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}

// BenchmarkDRSMP5HopCutThrough is BenchmarkDRSMP5Hop without the
// goroutine hand-offs: the SMPs are sent from the event loop inside
// emu.Fabric.CutThrough, as ibemu serve injects a client's batch, so
// every hop out and back runs nested in the send and each op measures the
// fabric's own work for one round trip (10 hops, the SMA's answer, the
// requester's parse).
func BenchmarkDRSMP5HopCutThrough(b *testing.B) { benchDRCutThrough(b, drNodeInfoGet()) }

// BenchmarkDRPortInfoSet5HopCutThrough is BenchmarkDRSMP5HopCutThrough
// with the SMP OpenSM sends most while it brings a fabric up: a PortInfo
// Set of an external port of the fifth switch that writes the link
// enables in force (0xFF and 0xF: all supported) and changes no state.
func BenchmarkDRPortInfoSet5HopCutThrough(b *testing.B) {
	fields := drNodeInfoGet()
	fields.Method, fields.AttrID, fields.AttrMod = wire.MethodSet, wire.AttrPortInfo, 1
	pi := wire.PortInfo(fields.Data[:])
	pi.SetLinkWidthEnabled(0xFF)
	pi.SetLinkSpeedEnabled(0xF)
	benchDRCutThrough(b, fields)
}

// benchDRCutThrough sends b.N directed-route SMPs like fields (each with
// its own TID) from A down the 5-switch chain, in batches run inside
// emu.Fabric.CutThrough on the event loop, and checks every one was
// answered.
func benchDRCutThrough(b *testing.B, fields wire.SMPFields) {
	f := emu.New(emu.WithWallClock())
	req := &drRequester{}
	na, _ := f.AddNode("A", wire.NodeTypeCA, 1, req)
	req.node = na
	drChain(b, f, na)
	defer f.Stop()
	smp := wire.SMP(make([]byte, wire.MADSize))
	ad := agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, PKey: 0xFFFF}
	buf := make([]byte, 0, agent.MADFrameLen)
	const batch = 256
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		n := min(batch, b.N-sent)
		_ = f.Do(func() {
			f.CutThrough(func() {
				for i := range n {
					fields.TID = uint64(sent + i + 1)
					smp.Encode(&fields)
					if _, err := agent.RouteDRSend(na, smp); err != nil {
						b.Fatal(err)
					}
					fr, err := agent.AppendUnsealedFrame(buf[:0], &ad, smp)
					if err != nil {
						b.Fatal(err)
					}
					na.Port(1).SendUnsealed(fr)
				}
			})
		})
		sent += n
	}
	b.StopTimer()
	if req.answers != b.N {
		b.Fatalf("%d answers to %d requests", req.answers, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}

// drChain links five 8-port switches in a row behind na's port 1 (each
// switch's port 1 to the previous one's port 2), starts f and returns the
// last switch. The caller stops f.
func drChain(b *testing.B, f *emu.Fabric, na *emu.Node) *ibswitch.Switch {
	b.Helper()
	prev := na.Port(1)
	var last *ibswitch.Switch
	for i := range 5 {
		s, err := ibswitch.Add(f, "S", ibswitch.Config{NumPorts: 8, NodeGUID: wire.GUID(0x100 + i)})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Connect(prev, s.Node().Port(1)); err != nil {
			b.Fatal(err)
		}
		prev, last = s.Node().Port(2), s
	}
	if err := f.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return last
}

// drNodeInfoGet is a directed-route Get(NodeInfo) to the fifth switch of
// drChain.
func drNodeInfoGet() wire.SMPFields {
	fields := wire.SMPFields{Directed: true, Method: wire.MethodGet, AttrID: wire.AttrNodeInfo, HopCount: 5,
		DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive}
	copy(fields.InitialPath[1:], []uint8{1, 2, 2, 2, 2})
	return fields
}
