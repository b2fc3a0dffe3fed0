package attach

import (
	"slices"
	"testing"
)

// TestTxSet: the transaction set finds, replaces and removes by key the
// same way below and above txSetSmall, moving to a map and back.
func TestTxSet(t *testing.T) {
	var s txSet
	ref := map[uint64]*transaction{}
	check := func(when string) {
		t.Helper()
		if s.len() != len(ref) {
			t.Fatalf("%s: len %d, want %d", when, s.len(), len(ref))
		}
		for k, tr := range ref {
			if got := s.get(k); got != tr {
				t.Fatalf("%s: get(%d) = %p, want %p", when, k, got, tr)
			}
		}
		if s.get(1<<40) != nil {
			t.Fatalf("%s: a key never put is found", when)
		}
		all := s.appendTo(nil)
		if len(all) != len(ref) {
			t.Fatalf("%s: snapshot of %d, want %d", when, len(all), len(ref))
		}
		for _, tr := range all {
			if ref[tr.key] != tr {
				t.Fatalf("%s: snapshot holds %d, not in the set", when, tr.key)
			}
		}
	}
	const n = 3 * txSetSmall
	for k := range uint64(n) {
		tr := &transaction{key: k * 7}
		s.put(tr)
		ref[tr.key] = tr
		check("put")
	}
	if s.m == nil {
		t.Fatalf("%d transactions still in the slice", n)
	}
	keys := make([]uint64, 0, n)
	for k := range ref {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		s.del(k)
		s.del(k) // twice: no effect
		delete(ref, k)
		check("del")
		if i == len(keys)-1 && s.m != nil {
			t.Fatal("an empty set kept its map")
		}
	}
	for k := range uint64(txSetSmall) {
		tr := &transaction{key: k}
		s.put(tr)
		ref[k] = tr
	}
	if s.m != nil {
		t.Fatalf("%d transactions went to a map", txSetSmall)
	}
	s.del(3)
	delete(ref, 3)
	check("del in the slice")
	s.reset()
	clear(ref)
	check("reset")
}
