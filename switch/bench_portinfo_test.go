package ibswitch_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// BenchmarkDRPortInfoSet5HopCutThrough is BenchmarkDRSMP5HopCutThrough
// with the SMP OpenSM sends most while it brings a fabric up: a PortInfo
// Set of an external port of the fifth switch that writes the link
// enables in force (0xFF and 0xF: all supported) and changes no state.
func BenchmarkDRPortInfoSet5HopCutThrough(b *testing.B) {
	f := emu.New(emu.WithWallClock())
	req := &drRequester{}
	na, _ := f.AddNode("A", wire.NodeTypeCA, 1, req)
	req.node = na
	drChain(b, f, na)
	defer f.Stop()
	smp := wire.SMP(make([]byte, wire.MADSize))
	fields := drNodeInfoGet()
	fields.Method, fields.AttrID, fields.AttrMod = wire.MethodSet, wire.AttrPortInfo, 1
	pi := wire.PortInfo(fields.Data[:])
	pi.SetLinkWidthEnabled(0xFF)
	pi.SetLinkSpeedEnabled(0xF)
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
}
