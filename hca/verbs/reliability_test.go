package verbs_test

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// lossyPair is an RC connection whose path drops 1% of the frames in
// each direction and reorders 1% more.
func lossyPair(t *testing.T, bufLen int) (*testNet, *ep, *ep, *shuffler) {
	shuf := &shuffler{rate: 0.01, delay: 3 * time.Microsecond}
	tn := newNetWith(t, 2, shuf)
	for _, l := range tn.f.Links() {
		l.SetDropRate(0.01)
	}
	a := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC, bufLen: bufLen, cqe: 8192})
	b := tn.endpoint(1, epOpts{typ: verbs.QPTypeRC, bufLen: bufLen, cqe: 8192})
	tn.connect(a, b, wire.MTU4096, 8, 7, 7)
	return tn, a, b, shuf
}

func transferSize(t *testing.T) int {
	if testing.Short() {
		return 16 << 20
	}
	return 256 << 20
}

// TestLossyWrite moves a stream of RDMA WRITE WITH IMMEDIATE chunks
// through a ring on the receiver and checks that the receiver saw every
// chunk exactly once and in order: the SHA-256 of what it read from its
// ring equals the SHA-256 of what the sender wrote.
func TestLossyWrite(t *testing.T) {
	lossyStream(t, true)
}

// TestLossySend does the same with SENDs into receive buffers.
func TestLossySend(t *testing.T) {
	lossyStream(t, false)
}

func lossyStream(t *testing.T, write bool) {
	const chunk = 1 << 20
	const slots = 8
	total := transferSize(t)
	tn, a, b, shuf := lossyPair(t, slots*chunk)
	rng := rand.New(rand.NewPCG(1, 2))
	sent, got := sha256.New(), sha256.New()
	nchunks := total / chunk
	// A slot is filled again only once the receiver has hashed what it
	// held and the sender's completion for it arrived.
	posted, done, sendDone := 0, 0, 0
	wc := make([]verbs.WC, 32)
	deadline := time.Now().Add(10 * time.Minute)
	for done < nchunks {
		for posted < nchunks && posted-slots < min(done, sendDone) {
			slot := posted % slots
			src := a.buf[slot*chunk : (slot+1)*chunk]
			for i := 0; i < chunk; i += 8 {
				binary.LittleEndian.PutUint64(src[i:], rng.Uint64())
			}
			binary.LittleEndian.PutUint64(src, uint64(posted))
			sent.Write(src)
			if write {
				postRecv(t, b, verbs.RecvWR{WRID: uint64(posted)})
				postSend(t, a, verbs.SendWR{WRID: uint64(posted), Opcode: verbs.WRRDMAWriteImm, Imm: uint32(posted), Flags: verbs.SendSignaled,
					SGL: sge(a, slot*chunk, chunk), RemoteAddr: b.mr.Addr() + uint64(slot*chunk), RKey: b.mr.RKey()})
			} else {
				postRecv(t, b, verbs.RecvWR{WRID: uint64(posted), SGL: sge(b, slot*chunk, chunk)})
				postSend(t, a, verbs.SendWR{WRID: uint64(posted), Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge(a, slot*chunk, chunk)})
			}
			posted++
		}
		n := b.rcq.Poll(wc)
		if n < 0 {
			t.Fatal("receive cq overflow")
		}
		for _, c := range wc[:n] {
			if c.Status != verbs.WCSuccess || c.WRID != uint64(done) || c.ByteLen != chunk {
				t.Fatalf("receive completion %d: %+v", done, c)
			}
			if write && c.Imm != uint32(done) {
				t.Fatalf("chunk %d arrived with immediate %d", done, c.Imm)
			}
			slot := done % slots
			dst := b.buf[slot*chunk : (slot+1)*chunk]
			if seq := binary.LittleEndian.Uint64(dst); seq != uint64(done) {
				t.Fatalf("slot %d holds chunk %d, want %d", slot, seq, done)
			}
			got.Write(dst)
			done++
		}
		k := a.cq.Poll(wc)
		for _, c := range wc[:max(k, 0)] {
			if c.Status != verbs.WCSuccess {
				t.Fatalf("send completion %+v", c)
			}
			sendDone++
		}
		if n == 0 && k == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("stalled at %d of %d chunks", done, nchunks)
			}
			time.Sleep(10 * time.Microsecond)
		}
	}
	if string(sent.Sum(nil)) != string(got.Sum(nil)) {
		t.Fatal("checksums differ")
	}
	st := tn.engs[0].Stats()
	t.Logf("%d MiB: %d frames dropped, %d held back, %d retransmits, %d timeouts, %d duplicates at the responder, %d out of sequence",
		total>>20, tn.f.Dropped(), shuf.held, st.Retransmits.Load(), st.Timeouts.Load(), tn.engs[1].Stats().Duplicates.Load(), tn.engs[1].Stats().OutOfSequence.Load())
	if tn.f.Dropped() == 0 || shuf.held == 0 || st.Retransmits.Load() == 0 {
		t.Fatal("the path injected no faults")
	}
}

// TestLossyReadAtomic checks READ and atomics through the same lossy path:
// replayed READ responses and saved atomic results.
func TestLossyReadAtomic(t *testing.T) {
	tn, a, b, _ := lossyPair(t, 4<<20)
	fill(b.buf[:2<<20], 17)
	const reads = 40
	for i := range reads {
		off := i * 50000
		postSend(t, a, verbs.SendWR{WRID: uint64(i), Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled,
			SGL: sge(a, off, 50000), RemoteAddr: b.mr.Addr() + uint64(off), RKey: b.mr.RKey()})
	}
	for i, c := range poll(t, a.cq, reads) {
		if c.Status != verbs.WCSuccess || c.WRID != uint64(i) {
			t.Fatalf("read %d: %+v", i, c)
		}
	}
	mustEqual(t, "read data", a.buf[:reads*50000], b.buf[:reads*50000])
	// 2000 fetch-and-adds of 1: the counter must end at exactly 2000.
	ctr := 3 << 20
	binary.NativeEndian.PutUint64(b.buf[ctr:], 0)
	const adds = 2000
	for i := 0; i < adds; i += 100 {
		wrs := make([]verbs.SendWR, 100)
		for j := range wrs {
			wrs[j] = verbs.SendWR{WRID: uint64(i + j), Opcode: verbs.WRAtomicFetchAndAdd, Flags: verbs.SendSignaled,
				SGL: sge(a, 2<<20+8*(i+j), 8), RemoteAddr: b.mr.Addr() + uint64(ctr), RKey: b.mr.RKey(), CompareAdd: 1}
		}
		postSend(t, a, wrs...)
		for _, c := range poll(t, a.cq, 100) {
			if c.Status != verbs.WCSuccess {
				t.Fatalf("atomic %+v; timeouts %d retransmits %d dups %d", c, tn.engs[0].Stats().Timeouts.Load(), tn.engs[0].Stats().Retransmits.Load(), tn.engs[1].Stats().Duplicates.Load())
			}
		}
	}
	if got := binary.NativeEndian.Uint64(b.buf[ctr:]); got != adds {
		t.Fatalf("counter %d after %d fetch-and-adds", got, adds)
	}
	seen := make([]bool, adds)
	for i := range adds {
		v := binary.NativeEndian.Uint64(a.buf[2<<20+8*i:])
		if v >= adds || seen[v] {
			t.Fatalf("fetch-and-add %d returned %d (duplicate or out of range)", i, v)
		}
		seen[v] = true
	}
	t.Logf("dropped %d, retransmits %d, responder duplicates %d", tn.f.Dropped(), tn.engs[0].Stats().Retransmits.Load(), tn.engs[1].Stats().Duplicates.Load())
}
