package emu_test

import (
	"context"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

type sinkDev struct{ n int }

func (d *sinkDev) HandlePacket(*emu.Port, []byte) { d.n++ }

// BenchmarkCountedHop measures one frame's hop across a link under the
// wall clock, send and arrival, with every counter the packet path keeps
// (the transmit and receive counts, per SL, and the receiver's per-OpCode,
// per-VL and FECN/BECN counts): 256 frames of a UD SEND Only MAD per
// Fabric.Do, reported per frame.
func BenchmarkCountedHop(b *testing.B) {
	f := emu.New(emu.WithWallClock())
	da, db := &sinkDev{}, &sinkDev{}
	cfg := emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: wire.SpeedQDR}
	a, err := f.AddNode("a", wire.NodeTypeCA, 1, da, cfg)
	if err != nil {
		b.Fatal(err)
	}
	bn, err := f.AddNode("b", wire.NodeTypeCA, 1, db, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Connect(a.Port(1), bn.Port(1)); err != nil {
		b.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer f.Stop()
	fr, err := wire.AppendData(nil, &wire.DataFields{DLID: 2, SLID: 1, OpCode: wire.OpUDSendOnly, PKey: 0xFFFF, DestQP: 1,
		DETH: wire.DETHFields{QKey: 1, SrcQP: 1}, Payload: make([]byte, 256)})
	if err != nil {
		b.Fatal(err)
	}
	const burst = 256
	p := a.Port(1)
	send := func() {
		for range burst {
			p.Send(fr)
		}
	}
	b.ResetTimer()
	for range b.N {
		if err := f.Do(send); err != nil {
			b.Fatal(err)
		}
	}
	_ = f.Do(func() {})
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*burst), "ns/frame")
}
