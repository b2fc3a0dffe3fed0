package wire

import "math/bits"

// The VCRC is folded with PCLMULQDQ on amd64, after the method of Gopal et
// al., "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
// Instruction" (Intel, 2009), on the bit-reflected representation.
//
// Loaded little-endian, bit j of a 16-byte block stands for the
// coefficient of x^(127-j) of the block polynomial A = A_H·x^64 + A_L,
// whose first eight bytes are A_H. Folding the block across D bytes
// replaces it by any A' ≡ A·x^(8D) (mod P), P = x^16+x^12+x^3+x+1, and
// A·x^(8D) ≡ A_H·(x^(64+8D) mod P) + A_L·(x^(8D) mod P). The carry-less
// product of two reflected 64-bit values is the reflected product shifted
// one place, so the constants are reflect64(x^(64+8D-1) mod P) for the low
// qword and reflect64(x^(8D-1) mod P) for the high qword. What is left is a
// 16-byte block (plus a short tail) that the table code finishes.

var (
	useCLMUL    = cpuHasCLMUL()
	vcrcFoldK   = [4]uint64{vcrcK(64 + 512 - 1), vcrcK(512 - 1), vcrcK(64 + 128 - 1), vcrcK(128 - 1)}
	vcrcMinFold = 64
)

// vcrcK returns reflect64(x^n mod P).
func vcrcK(n int) uint64 {
	r := uint32(1)
	for i := 0; i < n; i++ {
		r <<= 1
		if r&0x10000 != 0 {
			r ^= 0x1100B
		}
	}
	return bits.Reverse64(uint64(r))
}

// vcrcFoldCLMUL is implemented in crc_amd64.s.
//
//go:noescape
func vcrcFoldCLMUL(b []byte, init uint64, k *[4]uint64) (lo, hi uint64)

// cpuHasCLMUL reports whether CPUID advertises PCLMULQDQ.
func cpuHasCLMUL() bool

// vcrcFold folds the longest prefix of b that is a multiple of 16 bytes,
// starting from CRC state c, and returns the folded block and the rest of b.
func vcrcFold(c uint16, b []byte) (block [16]byte, rest []byte) {
	n := len(b) &^ 15
	lo, hi := vcrcFoldCLMUL(b[:n], uint64(c), &vcrcFoldK)
	for i := 0; i < 8; i++ {
		block[i] = byte(lo >> (8 * i))
		block[8+i] = byte(hi >> (8 * i))
	}
	return block, b[n:]
}
