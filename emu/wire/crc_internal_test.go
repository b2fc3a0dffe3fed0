package wire

import (
	"math/rand/v2"
	"testing"
)

// TestVCRCPaths checks that the table-only path and, where the CPU has
// it, the carry-less multiplication path agree at every length that
// exercises the fold loops and the tails.
func TestVCRCPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 5000)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	for n := 0; n <= len(buf); n += 1 + n/64 {
		b := buf[len(buf)-n:]
		table := vcrcUpdate(0xFFFF, b) ^ 0xFFFF
		if got := ComputeVCRC(b); got != table {
			t.Fatalf("len %d: ComputeVCRC = %#04x, table path %#04x (clmul %v)", n, got, table, useCLMUL)
		}
	}
}

func FuzzVCRCPaths(f *testing.F) {
	f.Add(make([]byte, 64))
	f.Add([]byte("123456789"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := ComputeVCRC(b), vcrcUpdate(0xFFFF, b)^0xFFFF; got != want {
			t.Fatalf("len %d: ComputeVCRC = %#04x, table path %#04x", len(b), got, want)
		}
	})
}
