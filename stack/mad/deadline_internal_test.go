package mad

import (
	"math/rand/v2"
	"testing"
)

// TestDeadlineQueueOrder: deadlines come out by (time, sequence) whatever
// the mix of in-order pushes (the FIFO) and earlier ones (the heap), and
// compaction keeps exactly the live ones.
func TestDeadlineQueueOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var q deadlineQueue
	var all []*call
	at := int64(1000)
	for seq := uint64(1); seq <= 5000; seq++ {
		if r.IntN(4) == 0 {
			at -= int64(r.IntN(50)) // an earlier deadline: a shorter timeout
		} else {
			at += int64(r.IntN(3))
		}
		c := &call{state: callWaiting, gen: 1}
		all = append(all, c)
		q.push(deadline{at: at, seq: seq, c: c, gen: 1})
		if r.IntN(3) == 0 && q.len() > 0 {
			q.pop()
		}
	}
	// Answer a third of the calls, compact, and drain.
	for i, c := range all {
		if i%3 == 0 {
			c.gen++
		}
	}
	before := q.len()
	q.compact()
	if q.len() >= before {
		t.Fatalf("compact kept %d of %d", q.len(), before)
	}
	var prev *deadline
	n := q.len()
	for i := 0; i < n; i++ {
		d := q.pop()
		if !d.live() {
			t.Fatalf("compact kept an answered call's deadline")
		}
		if prev != nil && d.before(prev) {
			t.Fatalf("deadline (%d, %d) came after (%d, %d)", d.at, d.seq, prev.at, prev.seq)
		}
		prev = &d
	}
	if q.len() != 0 || q.peek() != nil {
		t.Fatalf("queue not empty after draining: %d", q.len())
	}
}
