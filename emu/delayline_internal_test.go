package emu

import "testing"

// TestDelayLine: values leave in the order they came, Front and Back
// see the ends, and a line that is never empty keeps its storage from
// growing past what it holds at once (popped slots are reused).
func TestDelayLine(t *testing.T) {
	var d DelayLine[int]
	if d.Front() != nil || d.Back() != nil || d.Len() != 0 {
		t.Fatal("a new line is not empty")
	}
	next, want := 0, 0
	for round := range 10000 {
		for range 3 {
			d.Push(next)
			next++
		}
		if b := d.Back(); b == nil || *b != next-1 {
			t.Fatalf("round %d: back %v, want %d", round, b, next-1)
		}
		for range 2 {
			if f := d.Front(); f == nil || *f != want {
				t.Fatalf("round %d: front %v, want %d", round, f, want)
			}
			if v := d.Pop(); v != want {
				t.Fatalf("round %d: popped %d, want %d", round, v, want)
			}
			want++
		}
		// It holds round+1 values: the live ones slide back once the
		// popped ones are as many, and append at most doubles.
		if c := cap(d.q); c > 4*(round+1)+256 {
			t.Fatalf("round %d: storage of %d for %d values", round, c, d.Len())
		}
	}
	if d.Len() != next-want {
		t.Fatalf("len %d, want %d", d.Len(), next-want)
	}
	for d.Len() > 0 {
		if v := d.Pop(); v != want {
			t.Fatalf("drain: popped %d, want %d", v, want)
		}
		want++
	}
	d.Push(7)
	d.Reset()
	if d.Len() != 0 || d.Front() != nil {
		t.Fatal("reset left values")
	}
}
