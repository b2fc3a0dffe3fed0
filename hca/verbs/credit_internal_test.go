package verbs

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// TestCreditCodeMatchesTable checks the computed credit code against the
// table scan of wire.CreditCode (IBTA Vol 1 §9.3.5) for every count a
// receive queue can hold and beyond.
func TestCreditCodeMatchesTable(t *testing.T) {
	for n := -2; n <= 70000; n++ {
		if got, want := creditCode(n), wire.CreditCode(n); got != want {
			t.Fatalf("creditCode(%d) = %d, want %d", n, got, want)
		}
	}
}
