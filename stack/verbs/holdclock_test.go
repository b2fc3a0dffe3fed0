package verbs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/verbs"
)

// TestHoldClockStreamWithPollWait streams SENDs between two hosts whose
// CQs hold the virtual clock while they poll with PollWait, as ibemu perf
// does. A poller that took a completion without the clock hold that came
// with it would leave the hold behind and virtual time would stop: the
// stream would stall.
func TestHoldClockStreamWithPollWait(t *testing.T) {
	fb := pair(t)
	a := open(t, fb.HCAs[0].Device, 4096, hv.QPTypeRC)
	b := open(t, fb.HCAs[1].Device, 4096, hv.QPTypeRC)
	connect(t, a, b, wire.MTU1024)
	a.cq.HoldClock()
	b.cq.HoldClock()
	const total, depth = 3000, 64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rwr := []verbs.RecvWR{{SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}
	for range depth {
		if _, err := b.qp.PostRecv(rwr); err != nil {
			t.Fatal(err)
		}
	}
	errc := receiveAll(ctx, b, total, func(w verbs.WC) error {
		if w.Status != hv.WCSuccess || w.ByteLen != 64 {
			t.Errorf("receive completion %+v", w)
		}
		_, err := b.qp.PostRecv(rwr)
		return err
	})
	swr := []verbs.SendWR{{Opcode: hv.WRSend, Flags: hv.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 64)}}}
	wc := make([]verbs.WC, 16)
	for posted, done := 0, 0; done < total; {
		for posted < total && posted-done < depth/2 {
			if _, err := a.qp.PostSend(swr); err != nil {
				t.Fatal(err)
			}
			posted++
		}
		n, err := a.cq.PollWait(ctx, wc)
		if err != nil {
			t.Fatalf("after %d of %d sends: %v", done, total, err)
		}
		for _, w := range wc[:n] {
			if w.Status != hv.WCSuccess {
				t.Fatalf("send completion %+v", w)
			}
		}
		done += n
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Both hosts polled their CQs empty: nothing holds the clock, so
	// virtual time moves on.
	before := fb.Emu.Now()
	fired := make(chan struct{})
	fb.Emu.Clock().AfterFunc(time.Millisecond, func() { close(fired) })
	for range 2 {
		a.cq.Poll(wc)
		b.cq.Poll(wc)
	}
	select {
	case <-fired:
	case <-ctx.Done():
		t.Fatalf("virtual time stuck at %v", before)
	}
}

// receiveAll takes total receive completions off s's CQ in a goroutine
// of its own, handing each to each (nil: none), then polls the CQ once
// more, which must find it empty: under HoldClock that gives the clock
// back. The channel gets the first error, or nil.
func receiveAll(ctx context.Context, s *side, total int, each func(verbs.WC) error) <-chan error {
	errc := make(chan error, 1)
	go func() {
		wc := make([]verbs.WC, 64)
		for got := 0; got < total; {
			n, err := s.cq.PollWait(ctx, wc)
			if err != nil {
				errc <- err
				return
			}
			for _, w := range wc[:n] {
				if each == nil {
					continue
				}
				if err := each(w); err != nil {
					errc <- err
					return
				}
			}
			got += n
		}
		if n, err := s.cq.Poll(wc); n != 0 || err != nil {
			errc <- fmt.Errorf("poll after %d receives: %d more, %v", total, n, err)
			return
		}
		errc <- nil
	}()
	return errc
}
