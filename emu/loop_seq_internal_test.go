package emu

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestSameInstantKeepsQueueOrder checks the numbering that lets the token
// holder schedule frame deliveries without a locked add: callbacks queued
// from anywhere (Post, Enter, Do), loop timers and deliveries that fall due
// at the same instant run in the order they were queued, and events of
// different instants in time order.
func TestSameInstantKeepsQueueOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	f := New()
	l := f.loop
	ports := []*Port{{num: 1}, {num: 2}, {num: 3}}
	var got []int
	l.deliver = func(_ *Port, frame []byte, _, _ bool) {
		got = append(got, int(binary.BigEndian.Uint32(frame)))
	}
	for round := range 200 {
		type op struct{ at, id int }
		var want []op
		got = got[:0]
		base := l.now.Load()
		for id := range 64 {
			at := base + int64(r.IntN(3))
			switch r.IntN(4) {
			case 0, 1:
				// Deliveries to one port mostly arrive in order; an
				// earlier one goes into the heap on its own.
				frame := binary.BigEndian.AppendUint32(nil, uint32(id))
				l.scheduleDelivery(at, ports[r.IntN(len(ports))], frame, false, true)
			case 2:
				l.queueAt(at, func() { got = append(got, id) })
			case 3:
				lt := f.NewLoopTimer(func() { got = append(got, id) })
				lt.Reset(time.Duration(at - l.nowNanos()))
			}
			want = append(want, op{int(at - base), id})
		}
		slices.SortStableFunc(want, func(a, b op) int { return a.at - b.at })
		for {
			e, _ := l.next()
			if e == nil {
				break
			}
			l.dispatch(e)
		}
		if len(got) != len(want) {
			t.Fatalf("round %d: ran %d events, want %d", round, len(got), len(want))
		}
		for i, w := range want {
			if got[i] != w.id {
				t.Fatalf("round %d: event %d is %d, want %d (order %v, want %v)", round, i, got[i], w.id, got, want)
			}
		}
	}
}
