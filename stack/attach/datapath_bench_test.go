package attach

import (
	"context"
	"strconv"
	"testing"
	"time"

	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/verbs"
)

// dpBenchPair is two data-path hosts (Hca1 and Hca2 of testNet, on two
// switches) with an RC connection between them, all in this process but
// through the server's sockets: the frames cross the same code as
// between processes.
func dpBenchPair(b *testing.B, bufLen int) (*dpEnv, *rcEnd, *rcEnd) {
	e := startDP(b, false)
	ha, hb := e.attachHost(b, "Hca1"), e.attachHost(b, "Hca2")
	x, y := newRCEnd(b, ha, bufLen), newRCEnd(b, hb, bufLen)
	rcConnect(b, x, y, 14, 7)
	b.Cleanup(func() {
		for _, r := range []*rcEnd{x, y} {
			_ = r.qp.Destroy()
			_ = r.ctx.Close()
		}
	})
	return e, x, y
}

// reportDP adds the data path's counters per operation: frames dropped
// at a full send queue (which cost RC a retransmission) and the frames
// each side wrote.
func reportDP(b *testing.B, e *dpEnv, hs ...*DataPathHost) {
	var drops uint64
	for _, h := range hs {
		drops += h.Stats().QueueDrops.Load()
	}
	drops += e.dp.Stats().QueueDrops.Load()
	b.ReportMetric(float64(drops)/float64(b.N), "drops/op")
}

// BenchmarkDataPathWrite is RC RDMA WRITE bandwidth between two data-path
// hosts through the server: 128 writes outstanding, as perftest's
// write_bw keeps its send queue full.
func BenchmarkDataPathWrite(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		b.Run(sizeName(size), func(b *testing.B) {
			e, x, y := dpBenchPair(b, size)
			const depth = 64
			wr := []verbs.SendWR{{Opcode: hv.WRRDMAWrite, Flags: hv.SendSignaled, SGL: []verbs.SGE{x.mr.SGE(0, size)},
				RemoteAddr: y.mr.Addr(), RKey: y.mr.RKey()}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			wc := make([]verbs.WC, 64)
			b.SetBytes(int64(size))
			b.ResetTimer()
			posted, done := 0, 0
			for done < b.N {
				for posted < b.N && posted-done < depth {
					if _, err := x.qp.PostSend(wr); err != nil {
						b.Fatal(err)
					}
					posted++
				}
				n, err := x.cq.PollWait(ctx, wc)
				if err != nil {
					b.Fatalf("after %d of %d writes: %v", done, b.N, err)
				}
				for i := range n {
					if wc[i].Status != hv.WCSuccess {
						b.Fatalf("write: %+v", wc[i])
					}
				}
				done += n
			}
			b.StopTimer()
			reportDP(b, e, x.h, y.h)
		})
	}
}

// BenchmarkDataPathSendLat is the SEND ping-pong of perftest's send_lat
// (2-byte messages): ns/op is one round trip, two crossings of the data
// path each way.
func BenchmarkDataPathSendLat(b *testing.B) {
	e, x, y := dpBenchPair(b, 64)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recv := func(r *rcEnd) {
		if _, err := r.qp.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{r.mr.SGE(0, 2)}}}); err != nil {
			b.Fatal(err)
		}
	}
	send := func(r *rcEnd) {
		if _, err := r.qp.PostSend([]verbs.SendWR{{Opcode: hv.WRSend, Flags: hv.SendSignaled,
			SGL: []verbs.SGE{r.mr.SGE(8, 2)}}}); err != nil {
			b.Fatal(err)
		}
	}
	// wait waits on r's CQ until it saw its receive (and its send's
	// completion, which may come in either order).
	wait := func(r *rcEnd) {
		var wc [4]verbs.WC
		got := 0
		for got < 2 {
			n, err := r.cq.PollWait(ctx, wc[:])
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if wc[i].Status != hv.WCSuccess {
					b.Fatalf("%+v", wc[i])
				}
			}
			got += n
		}
	}
	recv(x)
	recv(y)
	// y answers every ping on its own goroutine.
	yctx, stop := context.WithCancel(ctx)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		var wc [4]verbs.WC
		pending := 0 // receives seen, not yet answered
		for {
			n, err := y.cq.PollWait(yctx, wc[:])
			if err != nil {
				return
			}
			for i := range n {
				if wc[i].Opcode == hv.WCRecv {
					pending++
				}
			}
			for ; pending > 0; pending-- {
				_, err1 := y.qp.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{y.mr.SGE(0, 2)}}})
				_, err2 := y.qp.PostSend([]verbs.SendWR{{Opcode: hv.WRSend, Flags: hv.SendSignaled, SGL: []verbs.SGE{y.mr.SGE(8, 2)}}})
				if err1 != nil || err2 != nil {
					return
				}
			}
		}
	}()
	b.ResetTimer()
	for range b.N {
		send(x)
		wait(x)
		recv(x)
	}
	b.StopTimer()
	stop()
	<-answered
	reportDP(b, e, x.h, y.h)
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
