package wire

import (
	"encoding/binary"
	"fmt"
)

// LRH is the 8-byte Local Route Header (IBTA Vol 1 §7.7).
//
//	 0               1               2               3
//	+-------+-------+-------+---+---+---------------+---------------+
//	|  VL   | LVer  |  SL   |rsv|LNH|            DLID               |
//	+-------+-------+-------+---+---+---------------+---------------+
//	|   rsv   |      PktLen (11)    |            SLID               |
//	+---------+---------------------+---------------+---------------+
//
// PktLen counts 4-byte words from the first byte of the LRH through the
// ICRC (the VCRC is not included).
type LRH []byte

// LRH sizes and link next header values.
const (
	LRHSize = 8

	LNHRaw       = 0 // raw packet, no IBA transport
	LNHIPv6      = 1 // raw IPv6
	LNHIBALocal  = 2 // BTH follows
	LNHIBAGlobal = 3 // GRH then BTH follow
)

const (
	lrhVLLVer  = 0
	lrhSLLNH   = 1
	lrhDLID    = 2
	lrhPktLen  = 4
	lrhSLID    = 6
	lrhMaxWord = 0x7FF
)

// LRHFields holds the LRH fields for Encode.
type LRHFields struct {
	VL     uint8
	LVer   uint8
	SL     uint8
	LNH    uint8
	DLID   LID
	PktLen uint16 // in 4-byte words
	SLID   LID
}

// IsValid reports whether b is long enough to hold an LRH.
func (b LRH) IsValid() bool { return len(b) >= LRHSize }

// VL returns the virtual lane.
func (b LRH) VL() uint8 { return b[lrhVLLVer] >> 4 }

// LVer returns the link version.
func (b LRH) LVer() uint8 { return b[lrhVLLVer] & 0x0F }

// SL returns the service level.
func (b LRH) SL() uint8 { return b[lrhSLLNH] >> 4 }

// LNH returns the link next header.
func (b LRH) LNH() uint8 { return b[lrhSLLNH] & 0x03 }

// DLID returns the destination LID.
func (b LRH) DLID() LID { return LID(binary.BigEndian.Uint16(b[lrhDLID:])) }

// PktLen returns the packet length in 4-byte words (LRH through ICRC).
func (b LRH) PktLen() uint16 { return binary.BigEndian.Uint16(b[lrhPktLen:]) & lrhMaxWord }

// SLID returns the source LID.
func (b LRH) SLID() LID { return LID(binary.BigEndian.Uint16(b[lrhSLID:])) }

// SetVL sets the virtual lane (the caller reseals the VCRC).
func (b LRH) SetVL(vl uint8) { b[lrhVLLVer] = vl<<4 | b[lrhVLLVer]&0x0F }

// SetDLID sets the destination LID.
func (b LRH) SetDLID(l LID) { binary.BigEndian.PutUint16(b[lrhDLID:], uint16(l)) }

// SetSLID sets the source LID.
func (b LRH) SetSLID(l LID) { binary.BigEndian.PutUint16(b[lrhSLID:], uint16(l)) }

// SetPktLen sets the packet length in 4-byte words.
func (b LRH) SetPktLen(words uint16) {
	binary.BigEndian.PutUint16(b[lrhPktLen:], words&lrhMaxWord)
}

// Encode writes every field of f into b.
func (b LRH) Encode(f *LRHFields) {
	b[lrhVLLVer] = f.VL<<4 | f.LVer&0x0F
	b[lrhSLLNH] = f.SL<<4 | f.LNH&0x03
	binary.BigEndian.PutUint16(b[lrhDLID:], uint16(f.DLID))
	binary.BigEndian.PutUint16(b[lrhPktLen:], f.PktLen&lrhMaxWord)
	binary.BigEndian.PutUint16(b[lrhSLID:], uint16(f.SLID))
}

// Fields decodes every field of b.
func (b LRH) Fields() LRHFields {
	return LRHFields{VL: b.VL(), LVer: b.LVer(), SL: b.SL(), LNH: b.LNH(),
		DLID: b.DLID(), PktLen: b.PktLen(), SLID: b.SLID()}
}

// ParseLRH validates that frame starts with an LRH whose PktLen matches the
// frame length (frame runs through the VCRC) and returns the view.
func ParseLRH(frame []byte) (LRH, error) {
	if len(frame) < LRHSize+VCRCSize {
		return nil, fmt.Errorf("wire: lrh: frame of %d bytes is shorter than lrh+vcrc", len(frame))
	}
	l := LRH(frame)
	if want := int(l.PktLen())*4 + VCRCSize; want != len(frame) {
		return nil, fmt.Errorf("wire: lrh: pktlen %d words means %d bytes, frame has %d", l.PktLen(), want, len(frame))
	}
	return l[:LRHSize], nil
}
