package verbs_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/verbs"
)

// BenchmarkSendLatencyWallOneGoroutine is BenchmarkSendLatencyWall with
// one goroutine playing both sides: post a SEND, poll the peer's CQ,
// repost its receive, answer, poll, repost. Every post carries its
// message through the fabric inline (emu.Fabric.Enter) on the same core,
// so the half round trip it reports is the emulator's work per message
// and its ACK, with no hand-over between cores: the floor of the
// two-goroutine latency.
func BenchmarkSendLatencyWallOneGoroutine(b *testing.B) {
	x, y := benchPair(b, 4096, emu.WithWallClock())
	msg := func(from *side) []verbs.SendWR {
		return []verbs.SendWR{{Opcode: hv.WRSend, SGL: []verbs.SGE{from.mr.SGE(0, 8)}}}
	}
	recv := func(s *side) {
		if _, err := s.qp.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{s.mr.SGE(0, 8)}}}); err != nil {
			b.Fatal(err)
		}
	}
	recv(x)
	recv(y)
	wc := make([]verbs.WC, 1)
	poll := func(s *side) {
		for {
			n, err := s.cq.Poll(wc)
			if err != nil {
				b.Fatal(err)
			}
			if n > 0 {
				if wc[0].Status != hv.WCSuccess {
					b.Fatalf("completion %+v", wc[0])
				}
				return
			}
		}
	}
	m := startCPU(b)
	for range b.N {
		if _, err := x.qp.PostSend(msg(x)); err != nil {
			b.Fatal(err)
		}
		poll(y)
		recv(y)
		if _, err := y.qp.PostSend(msg(y)); err != nil {
			b.Fatal(err)
		}
		poll(x)
		recv(x)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1e3, "µs/half-rtt")
	m.report(b, 0)
}
