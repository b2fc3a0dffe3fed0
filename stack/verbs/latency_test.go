package verbs_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/verbs"
)

// benchPingPongWith is benchPingPong on a fabric built with opts: half
// the round trip of an 8-byte SEND or RDMA WRITE WITH IMMEDIATE
// ping-pong, each side polling its CQ with PollWait on its own goroutine.
func benchPingPongWith(b *testing.B, op hv.WROpcode, opts ...emu.Option) {
	x, y := benchPair(b, 4096, opts...)
	errc := make(chan error, 1)
	msg := func(from, to *side) []verbs.SendWR {
		return []verbs.SendWR{{Opcode: op, SGL: []verbs.SGE{from.mr.SGE(0, 8)}, RemoteAddr: to.mr.Addr(), RKey: to.mr.RKey()}}
	}
	recv := func(s *side) error {
		_, err := s.qp.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{s.mr.SGE(0, 8)}}})
		return err
	}
	if err := recv(x); err != nil {
		b.Fatal(err)
	}
	if err := recv(y); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		wc := make([]verbs.WC, 1)
		for range b.N {
			if _, err := y.cq.PollWait(ctx, wc); err != nil {
				errc <- err
				return
			}
			if wc[0].Status != hv.WCSuccess {
				errc <- &wcError{wc[0]}
				return
			}
			if err := recv(y); err != nil {
				errc <- err
				return
			}
			if _, err := y.qp.PostSend(msg(y, x)); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	wc := make([]verbs.WC, 1)
	m := startCPU(b)
	for range b.N {
		if _, err := x.qp.PostSend(msg(x, y)); err != nil {
			b.Fatal(err)
		}
		spin(b, x.cq, wc)
		if err := recv(x); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1e3, "µs/half-rtt")
	m.report(b, 0)
}

type wcError struct{ wc verbs.WC }

func (e *wcError) Error() string { return "completion " + e.wc.Status.String() }

// The Wall variants run the ping-pong on the wall clock (ibemu perf
// --wall, a fabric with processes attached): a post that finds the event
// loop idle carries its frames through the switch to the peer's CQ on the
// poster's goroutine (emu.Fabric.Enter).
func BenchmarkSendLatencyWall(b *testing.B) { benchPingPongWith(b, hv.WRSend, emu.WithWallClock()) }
func BenchmarkWriteLatencyWall(b *testing.B) {
	benchPingPongWith(b, hv.WRRDMAWriteImm, emu.WithWallClock())
}

// BenchmarkRCWrite64KWall is BenchmarkRCWrite64K on the wall clock, where
// the poster runs the writes through the fabric itself when the event
// loop is idle.
func BenchmarkRCWrite64KWall(b *testing.B) { benchWrite(b, 64<<10, emu.WithWallClock()) }

// BenchmarkRCSend8BWall is the 8-byte SEND message rate of
// BenchmarkRCSend8B (posts in batches of 32, 512 in flight, one in 64
// signaled, the receiver reposting from its own goroutine) on the wall
// clock: the sender's doorbell runs each batch through the fabric inline
// when the loop is idle.
func BenchmarkRCSend8BWall(b *testing.B) { benchSend8B(b, emu.WithWallClock()) }

// TestWallClockPingPongAndStream drives RC traffic on the wall clock, where
// a post finds the event loop idle and carries its frames to the peer on
// the poster's goroutine: a SEND ping-pong whose payloads count up, then
// both sides streaming RDMA WRITEs and SENDs at once, checking every
// completion, the order of the received messages and the bytes written.
func TestWallClockPingPongAndStream(t *testing.T) {
	fb := pair(t, emu.WithWallClock())
	x := open(t, fb.HCAs[0].Device, 1<<16, hv.QPTypeRC)
	y := open(t, fb.HCAs[1].Device, 1<<16, hv.QPTypeRC)
	connect(t, x, y, wire.MTU1024)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const rounds = 2000
	const pingPongWR = 1 << 40
	// Ping-pong: x sends i, y answers i+1 from its own goroutine.
	recvOne := func(s *side, off int) error {
		_, err := s.qp.PostRecv([]verbs.RecvWR{{WRID: uint64(off), SGL: []verbs.SGE{s.mr.SGE(off, 8)}}})
		return err
	}
	sendVal := func(s *side, off int, v uint64) error {
		binary.LittleEndian.PutUint64(s.mr.Buf()[off:], v)
		_, err := s.qp.PostSend([]verbs.SendWR{{WRID: pingPongWR, Opcode: hv.WRSend, Flags: hv.SendSignaled, SGL: []verbs.SGE{s.mr.SGE(off, 8)}}})
		return err
	}
	// waitRecv returns the value of the next receive completion, taking
	// send completions on the way.
	waitRecv := func(s *side, wc []verbs.WC) (uint64, error) {
		for {
			n, err := s.cq.PollWait(ctx, wc[:1])
			if err != nil {
				return 0, err
			}
			if n == 0 {
				continue
			}
			w := wc[0]
			if w.Status != hv.WCSuccess {
				return 0, &wcError{w}
			}
			if w.Opcode&hv.WCRecv != 0 {
				return binary.LittleEndian.Uint64(s.mr.Buf()[w.WRID:]), nil
			}
		}
	}
	if err := recvOne(x, 0); err != nil {
		t.Fatal(err)
	}
	if err := recvOne(y, 0); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		wc := make([]verbs.WC, 1)
		for r := range rounds {
			v, err := waitRecv(y, wc)
			if err == nil && r+1 < rounds {
				err = recvOne(y, 0)
			}
			if err == nil {
				err = sendVal(y, 64, v+1)
			}
			if err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	wc := make([]verbs.WC, 1)
	for i := range uint64(rounds) {
		if err := sendVal(x, 64, 2*i); err != nil {
			t.Fatal(err)
		}
		v, err := waitRecv(x, wc)
		if err != nil {
			t.Fatal(err)
		}
		if v != 2*i+1 {
			t.Fatalf("round %d: answer %d, want %d", i, v, 2*i+1)
		}
		if i+1 == rounds {
			break
		}
		if err := recvOne(x, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}

	// Both sides at once, in lock step: each posts an RDMA WRITE of a 4 KiB
	// block into the peer's memory and a SEND of the message number, then
	// waits for its send to complete and for the peer's message of the
	// same number, whose block must have landed before the SEND (RC
	// keeps the order of one QP's requests).
	const msgs = 500
	const blk, rblk, val, rval = 4096, 16384, 512, 1024
	fill := func(b []byte, seed byte, i int) {
		for j := range b {
			b[j] = seed + byte(i) + byte(j>>3)
		}
	}
	side := func(me, peer *side, seed, peerSeed byte) error {
		rwrs := make([]verbs.RecvWR, msgs)
		for i := range rwrs {
			rwrs[i] = verbs.RecvWR{WRID: uint64(i), SGL: []verbs.SGE{me.mr.SGE(rval+(i%2)*8, 8)}}
		}
		if _, err := me.qp.PostRecv(rwrs); err != nil {
			return err
		}
		buf := me.mr.Buf()
		want := make([]byte, 4096)
		wc := make([]verbs.WC, 4)
		sent, got := 0, 0
		for i := range msgs {
			slot := (i % 2) * 4096
			fill(buf[blk+slot:blk+slot+4096], seed, i)
			binary.LittleEndian.PutUint64(buf[val+(i%2)*8:], uint64(i))
			wrs := []verbs.SendWR{
				{Opcode: hv.WRRDMAWrite, SGL: []verbs.SGE{me.mr.SGE(blk+slot, 4096)},
					RemoteAddr: peer.mr.Addr() + uint64(rblk+slot), RKey: peer.mr.RKey()},
				{WRID: uint64(i), Opcode: hv.WRSend, Flags: hv.SendSignaled, SGL: []verbs.SGE{me.mr.SGE(val+(i%2)*8, 8)}},
			}
			if _, err := me.qp.PostSend(wrs); err != nil {
				return err
			}
			// A completion of a later message may come before this one's
			// (the peer runs ahead by one): receives are checked in
			// order as they come, against the slot they used.
			for sent <= i || got <= i {
				n, err := me.cq.PollWait(ctx, wc)
				if err != nil {
					return err
				}
				for _, w := range wc[:n] {
					switch {
					case w.Status != hv.WCSuccess:
						return &wcError{w}
					case w.Opcode&hv.WCRecv != 0:
						k := got
						if w.WRID != uint64(k) {
							return fmt.Errorf("message %d: receive completion %d", k, w.WRID)
						}
						if v := binary.LittleEndian.Uint64(buf[rval+(k%2)*8:]); v != uint64(k) {
							return fmt.Errorf("message %d: received number %d", k, v)
						}
						fill(want, peerSeed, k)
						if s := (k % 2) * 4096; !bytes.Equal(buf[rblk+s:rblk+s+4096], want) {
							return fmt.Errorf("message %d: the written block differs", k)
						}
						got++
					case w.WRID == pingPongWR:
						// The completion of the last ping-pong send.
					default:
						if w.WRID != uint64(sent) {
							return fmt.Errorf("message %d: send completion %d", sent, w.WRID)
						}
						sent++
					}
				}
			}
		}
		return nil
	}
	go func() { errc <- side(y, x, 100, 1) }()
	errx := side(x, y, 1, 100)
	if errx != nil {
		cancel() // y may wait for a message x never sends
	}
	if erry := <-errc; erry != nil || errx != nil {
		t.Fatalf("x: %v; y: %v", errx, erry)
	}
}
