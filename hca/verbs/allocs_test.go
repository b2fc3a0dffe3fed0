package verbs_test

import (
	"runtime"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// TestWriteStreamAllocs checks that the RC data path allocates nothing per
// packet once warm: a 64 KiB RDMA WRITE at a 4096-byte path MTU is 16
// request packets and their ACKs through the switch, each parsed by the
// HCA and handed to the engine (hca.Transport), and none of them may cost
// a heap allocation. The count covers every goroutine (the event loop
// included) and so also this test's own few allocations per WRITE.
func TestWriteStreamAllocs(t *testing.T) {
	const size, n, warm = 64 << 10, 400, 100
	tn := newNet(t, 2)
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, bufLen: size})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, bufLen: size})
	tn.connect(a, b, wire.MTU4096, 14, 7, 7)
	wr := []verbs.SendWR{{Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled, SGL: sge(a, 0, size),
		RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}}
	wc := make([]verbs.WC, 1)
	write := func() {
		if k, err := a.qp.PostSend(wr); err != nil || k != 1 {
			t.Fatalf("post send: %d posted: %v", k, err)
		}
		for {
			k := a.cq.Poll(wc)
			if k < 0 {
				t.Fatal("cq overflowed")
			}
			if k == 1 {
				if wc[0].Status != verbs.WCSuccess {
					t.Fatalf("completion %+v", wc[0])
				}
				return
			}
			runtime.Gosched()
		}
	}
	for range warm {
		write()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		write()
	}
	runtime.ReadMemStats(&after)
	sent := tn.engs[0].Stats().SentPackets.Load()
	perWrite := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.2f allocations per 64 KiB write (%d packets sent in all)", perWrite, sent)
	// 16 request packets per WRITE: an allocation per packet anywhere on
	// the path would show as 16 or more.
	if perWrite > 2 {
		t.Fatalf("%.2f heap allocations per 64 KiB RDMA WRITE, want at most 2 (none per packet)", perWrite)
	}
}
