package verbs_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/verbs"
)

// The memmove benchmarks give the physical limit of this machine in the
// same run as the fabric benchmarks: an RDMA WRITE copies each byte at
// least twice (into the frame, out of it).
func benchMemmove(b *testing.B, n int) {
	src, dst := make([]byte, n), make([]byte, n)
	b.SetBytes(int64(n))
	for b.Loop() {
		copy(dst, src)
	}
}

// cpuMeter reports CPU time per operation next to wall time: on a shared
// machine the wall clock also counts other processes, CPU time is what the
// emulator itself spent (all goroutines: event loop and both hosts).
type cpuMeter struct{ start time.Duration }

func startCPU(b *testing.B) *cpuMeter {
	b.ResetTimer()
	return &cpuMeter{start: cpuTime()}
}

func (m *cpuMeter) report(b *testing.B, bytesPerOp int) {
	d := cpuTime() - m.start
	if d <= 0 {
		return
	}
	b.ReportMetric(float64(d.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if bytesPerOp > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/d.Seconds()/1e6, "MB/cpu-s")
	}
}

func BenchmarkMemmove64K(b *testing.B) { benchMemmove(b, 64<<10) }
func BenchmarkMemmove1M(b *testing.B)  { benchMemmove(b, 1<<20) }

// BenchmarkCacheLineHandOff is the physical limit of the latency
// benchmarks, as memmove is of the bandwidth ones: two goroutines pass a
// counter back and forth through two cache lines, each spinning until the
// other's store is visible. Its "ns/hand-off" is what one cache line
// costs to move from one core to the other. Every half round trip of a
// two-goroutine ping-pong moves at least the work request's and the
// completion's lines between cores (and, when the poster runs the fabric
// inline, every line of fabric state the other side touched last), so on
// two processors SendLatencyWall cannot fall below a few of these. With
// one processor the two goroutines take turns, and the figure is the
// scheduler's hand-over instead.
func BenchmarkCacheLineHandOff(b *testing.B) {
	type line struct {
		v atomic.Int64
		_ [120]byte
	}
	var ping, pong line
	one := runtime.GOMAXPROCS(0) == 1
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := int64(1); i <= int64(b.N); i++ {
			for ping.v.Load() != i {
				if one {
					runtime.Gosched()
				}
			}
			pong.v.Store(i)
		}
	}()
	b.ResetTimer()
	for i := int64(1); i <= int64(b.N); i++ {
		ping.v.Store(i)
		for pong.v.Load() != i {
			if one {
				runtime.Gosched()
			}
		}
	}
	b.StopTimer()
	<-done
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2, "ns/hand-off")
}

func benchPair(b *testing.B, bufLen int, opts ...emu.Option) (*side, *side) {
	fb := pair(b, opts...)
	debugFab = fb
	x := open(b, fb.HCAs[0].Device, bufLen, hv.QPTypeRC)
	y := open(b, fb.HCAs[1].Device, bufLen, hv.QPTypeRC)
	connect(b, x, y, wire.MTU4096)
	return x, y
}

var (
	debugQPs []*verbs.QP
	debugFab *fabric.Fabric
)

func spin(b *testing.B, cq *verbs.CQ, wc []verbs.WC) int {
	n, err := cq.PollWait(b.Context(), wc)
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range wc[:n] {
		if w.Status != hv.WCSuccess {
			for _, qp := range debugQPs {
				b.Log(qp.Debug())
			}
			if debugFab != nil {
				debugFab.Emu.Do(func() {
					for _, n := range debugFab.Emu.Nodes() {
						for _, p := range n.Ports() {
							if p != nil {
								b.Logf("%s: rcverr %d xmitdisc %d relay %d rcv %d xmit %d", p, p.Counters.RcvErrors.Load(), p.Counters.XmitDiscards.Load(), p.Counters.RcvSwitchRelayErrors.Load(), p.Counters.RcvPkts.Load(), p.Counters.XmitPkts.Load())
							}
						}
					}
					for _, h := range debugFab.HCAs {
						st := h.Device.Stats()
						b.Logf("%s: baddlid %d malformed %d notransport %d", h.Node, st.BadDLID.Load(), st.Malformed.Load(), st.NoTransport.Load())
					}
				})
				for _, qp := range debugQPs {
					_ = qp
				}
			}
			b.Fatalf("completion %+v", w)
		}
	}
	return n
}

// benchWrite streams RDMA WRITEs of size bytes, 16 in flight, every 8th
// signaled: wall-clock bandwidth of the emulator through one switch.
func benchWrite(b *testing.B, size int, opts ...emu.Option) {
	x, y := benchPair(b, size, opts...)
	const depth, mod = 16, 8
	wc := make([]verbs.WC, 16)
	posted, done := 0, 0
	b.SetBytes(int64(size))
	m := startCPU(b)
	defer m.report(b, size)
	for done < b.N {
		for posted < b.N && posted-done < depth {
			wr := verbs.SendWR{WRID: uint64(posted), Opcode: hv.WRRDMAWrite, SGL: []verbs.SGE{x.mr.SGE(0, size)},
				RemoteAddr: y.mr.Addr(), RKey: y.mr.RKey()}
			if (posted+1)%mod == 0 || posted+1 == b.N {
				wr.Flags = hv.SendSignaled
			}
			if _, err := x.qp.PostSend([]verbs.SendWR{wr}); err != nil {
				b.Fatal(err)
			}
			posted++
		}
		n := spin(b, x.cq, wc)
		done = int(wc[n-1].WRID) + 1
	}
}

func BenchmarkRCWrite64K(b *testing.B) { benchWrite(b, 64<<10) }
func BenchmarkRCWrite1M(b *testing.B)  { benchWrite(b, 1<<20) }

// The NoCRCCheck variants run the fabric with emu.WithCRCCheck(false):
// receiving ports verify the VCRC only of frames fault injection
// corrupted, not of every frame at every hop.
func BenchmarkRCWrite64KNoCRCCheck(b *testing.B) { benchWrite(b, 64<<10, emu.WithCRCCheck(false)) }
func BenchmarkRCWrite1MNoCRCCheck(b *testing.B)  { benchWrite(b, 1<<20, emu.WithCRCCheck(false)) }

// BenchmarkRCSend8B is the 8-byte SEND message rate on one QP: posts in
// batches of 32, 512 in flight, one in 64 signaled; the receiver keeps
// receives posted from its own goroutine.
func BenchmarkRCSend8B(b *testing.B) { benchSend8B(b) }

// benchSend8B runs the message rate of BenchmarkRCSend8B on a fabric made
// with opts.
func benchSend8B(b *testing.B, opts ...emu.Option) {
	x, y := benchPair(b, 4096, opts...)
	debugQPs = []*verbs.QP{x.qp, y.qp}
	const depth, mod, batch = 512, 64, 32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recvDone := make(chan int, 1)
	// The receiver posts from one array of WRs, as a real one would.
	rsgl := []verbs.SGE{y.mr.SGE(0, 8)}
	rwrs := make([]verbs.RecvWR, 16384)
	for i := range rwrs {
		rwrs[i] = verbs.RecvWR{SGL: rsgl}
	}
	post := func(n int) {
		if _, err := y.qp.PostRecv(rwrs[:n]); err != nil {
			b.Error(err)
		}
	}
	post(16384)
	go func() {
		got := 0
		wc := make([]verbs.WC, 256)
		for got < b.N && ctx.Err() == nil {
			n, err := y.cq.PollWait(ctx, wc)
			if err != nil {
				break
			}
			got += n
			post(n)
		}
		recvDone <- got
	}()
	wc := make([]verbs.WC, 16)
	wrs := make([]verbs.SendWR, batch)
	ssgl := []verbs.SGE{x.mr.SGE(0, 8)}
	posted, done := 0, 0
	m := startCPU(b)
	for done < b.N {
		for posted < b.N && posted-done+batch <= depth {
			k := min(batch, b.N-posted)
			for i := range k {
				wrs[i] = verbs.SendWR{WRID: uint64(posted + i), Opcode: hv.WRSend, SGL: ssgl}
				if (posted+i+1)%mod == 0 || posted+i+1 == b.N {
					wrs[i].Flags = hv.SendSignaled
				}
			}
			if _, err := x.qp.PostSend(wrs[:k]); err != nil {
				b.Fatal(err)
			}
			posted += k
		}
		n := spin(b, x.cq, wc)
		done = int(wc[n-1].WRID) + 1
	}
	if got := <-recvDone; got < b.N {
		b.Fatalf("received %d of %d", got, b.N)
	}
	st := x.ctx.Stats()
	b.Logf("n=%d rnr naks %d retransmits %d timeouts %d sent %d received %d", b.N, st.RNRNAKs.Load(), st.Retransmits.Load(), st.Timeouts.Load(), st.SentPackets.Load(), st.RecvPackets.Load())
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/1e6, "Mmsg/s")
	m.report(b, 0)
}

// benchPingPong measures half the round trip of SEND or RDMA WRITE WITH
// IMMEDIATE ping-pong of 8 bytes (perftest's *_lat report).
func benchPingPong(b *testing.B, op hv.WROpcode) {
	x, y := benchPair(b, 4096)
	errc := make(chan error, 1)
	msg := func(from, to *side) []verbs.SendWR {
		return []verbs.SendWR{{Opcode: op, SGL: []verbs.SGE{from.mr.SGE(0, 8)}, RemoteAddr: to.mr.Addr(), RKey: to.mr.RKey()}}
	}
	recv := func(s *side) {
		if _, err := s.qp.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{s.mr.SGE(0, 8)}}}); err != nil {
			b.Error(err)
		}
	}
	recv(x)
	recv(y)
	wc := make([]verbs.WC, 1)
	go func() {
		wc := make([]verbs.WC, 1)
		for range b.N {
			if _, err := y.cq.PollWait(context.Background(), wc); err != nil {
				errc <- err
				return
			}
			recv(y)
			if _, err := y.qp.PostSend(msg(y, x)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	m := startCPU(b)
	for range b.N {
		if _, err := x.qp.PostSend(msg(x, y)); err != nil {
			b.Fatal(err)
		}
		spin(b, x.cq, wc)
		recv(x)
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1e3, "µs/half-rtt")
	m.report(b, 0)
}

func BenchmarkSendLatency(b *testing.B)  { benchPingPong(b, hv.WRSend) }
func BenchmarkWriteLatency(b *testing.B) { benchPingPong(b, hv.WRRDMAWriteImm) }
