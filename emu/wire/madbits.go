package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Bit-field helpers shared by the MAD, SMP, SA, PMA and vendor views.
//
// IBTA Vol 1 ch. 13-16 number attribute bits from the most significant bit
// of the first byte (bit 0 = MSB of byte 0). Every field in these views is
// restated as (byte offset, shift from the byte's LSB, width), which is the
// form rdma-core's libibmad/fields.c normalises its tables to; the shift is
// what the layout diagrams beside each view show.

// ErrMADTooShort is wrapped by every Parse function of a management
// datagram, SMP or attribute view when the buffer is shorter than the
// layout it must hold.
var ErrMADTooShort = errors.New("wire: buffer shorter than the management layout")

// mfGet extracts width bits starting shift bits above the LSB of b.
func mfGet(b byte, shift, width uint) uint8 {
	return (b >> shift) & (1<<width - 1)
}

// mfSet stores the low width bits of v at shift bits above the LSB of *p,
// leaving the other bits of *p untouched.
func mfSet(p *byte, shift, width uint, v uint8) {
	m := byte(1<<width-1) << shift
	*p = *p&^m | (v<<shift)&m
}

// mfBit reports whether bit (counted from the LSB) of b is set.
func mfBit(b byte, bit uint) bool { return b&(1<<bit) != 0 }

// mfSetBit sets or clears bit (counted from the LSB) of *p.
func mfSetBit(p *byte, bit uint, v bool) {
	if v {
		*p |= 1 << bit
	} else {
		*p &^= 1 << bit
	}
}

// mfBool is 1 for true and 0 for false.
func mfBool(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

func mfU16(b []byte, off int) uint16 { return binary.BigEndian.Uint16(b[off:]) }
func mfU32(b []byte, off int) uint32 { return binary.BigEndian.Uint32(b[off:]) }
func mfU64(b []byte, off int) uint64 { return binary.BigEndian.Uint64(b[off:]) }

func mfPut16(b []byte, off int, v uint16) { binary.BigEndian.PutUint16(b[off:], v) }
func mfPut32(b []byte, off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }
func mfPut64(b []byte, off int, v uint64) { binary.BigEndian.PutUint64(b[off:], v) }

// mfU24 reads a 24-bit big-endian value.
func mfU24(b []byte, off int) uint32 {
	return uint32(b[off])<<16 | uint32(b[off+1])<<8 | uint32(b[off+2])
}

// mfPut24 writes the low 24 bits of v big-endian.
func mfPut24(b []byte, off int, v uint32) {
	b[off] = byte(v >> 16)
	b[off+1] = byte(v >> 8)
	b[off+2] = byte(v)
}

// mfGID reads a 16-byte GID.
func mfGID(b []byte, off int) (g GID) {
	copy(g[:], b[off:off+16])
	return g
}

// mfCheckLen reports a short buffer for the named layout.
func mfCheckLen(name string, b []byte, want int) error {
	if len(b) < want {
		return fmt.Errorf("wire: %s: %d bytes, need %d: %w", name, len(b), want, ErrMADTooShort)
	}
	return nil
}

// mfCString returns the bytes of b up to the first NUL.
func mfCString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// mfPutCString copies s into b and NUL-pads the rest; s is cut to len(b).
func mfPutCString(b []byte, s string) {
	n := copy(b, s)
	clear(b[n:])
}
