package verbs_test

import (
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// TestWallClockRetransmitTimer drops frames on the wall clock, where the
// local ACK timer is not moved per ACK but checked when it expires (see
// QP.restartTimer): every RDMA WRITE must still complete, in order and
// with its bytes in place, the losses recovered by local ACK timeouts and
// go-back-N. The second round starts soon after the first was
// acknowledged, while the timer is still armed for nothing: it must run
// a full timeout again for the new packets rather than expire on them.
func TestWallClockRetransmitTimer(t *testing.T) {
	tn := newNetWith(t, 2, nil, emu.WithWallClock())
	for _, l := range tn.f.Links() {
		l.SetDropRate(0.05)
	}
	const chunk, n = 4096, 128
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, bufLen: 2 * n * chunk, cqe: 1024})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, bufLen: 2 * n * chunk, cqe: 1024})
	tn.connect(a, b, wire.MTU1024, 4, 7, 7) // local ACK timeout 65.5 µs
	fill(a.buf, 5)
	for round := range 2 {
		base := round * n
		for i := range n {
			off := (base + i) * chunk
			postSend(t, a, verbs.SendWR{WRID: uint64(base + i), Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled,
				SGL: sge(a, off, chunk), RemoteAddr: b.mr.Addr() + uint64(off), RKey: b.mr.RKey()})
		}
		for i, c := range poll(t, a.cq, n) {
			if c.Status != verbs.WCSuccess || c.WRID != uint64(base+i) {
				t.Fatalf("round %d, write %d: %+v", round, i, c)
			}
		}
		time.Sleep(10 * time.Microsecond)
	}
	mustEqual(t, "written data", b.buf, a.buf)
	st := a.e.Stats()
	t.Logf("dropped %d, timeouts %d, retransmits %d", tn.f.Dropped(), st.Timeouts.Load(), st.Retransmits.Load())
	if tn.f.Dropped() == 0 || st.Retransmits.Load() == 0 {
		t.Fatal("no frame was dropped and resent")
	}
}
