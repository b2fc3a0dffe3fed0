package wire

import (
	"encoding/binary"
	"fmt"
)

// GRH is the 40-byte Global Route Header (IBTA Vol 1 §8.3). It follows the
// LRH when LRH.LNH is LNHIBAGlobal and has the layout of an IPv6 header.
//
//	 0               1               2               3
//	 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
//	+-------+---------------+---------------------------------------+
//	| IPVer |    TClass     |              FlowLabel                |
//	+-------+-------+-------+-------+---------------+---------------+
//	|            PayLen             |    NxtHdr     |    HopLmt     |
//	+-------------------------------+---------------+---------------+
//	|                                                               |
//	+                          SGID (128)                           +
//	|                         bytes 8-23                            |
//	+---------------------------------------------------------------+
//	|                                                               |
//	+                          DGID (128)                           +
//	|                         bytes 24-39                           |
//	+---------------------------------------------------------------+
//
// PayLen counts the bytes after the GRH through the ICRC (BTH, extended
// headers, payload, pad and ICRC). TClass, FlowLabel and HopLmt are variant
// fields that the ICRC covers as all ones.
//
// The accessors do no bounds checks: call IsValid or ParseGRH first.
type GRH []byte

// GRH size and constant field values.
const (
	GRHSize = 40

	// GRHIPVersion is the only IPVer a GRH may carry (IBTA Vol 1 §8.3.1).
	GRHIPVersion = 6
	// GRHNextHeaderIBA is the NxtHdr value that announces an IBA transport
	// header (BTH) after the GRH (IBTA Vol 1 §8.3.1).
	GRHNextHeaderIBA = 0x1B
)

const (
	grhVerClassFlow = 0 // 32-bit word: IPVer 4, TClass 8, FlowLabel 20
	grhPayLen       = 4
	grhNxtHdr       = 6
	grhHopLmt       = 7
	grhSGID         = 8
	grhDGID         = 24
	grhFlowMask     = 0xFFFFF
)

// GRHFields holds the GRH fields for Encode and Fields.
type GRHFields struct {
	IPVer     uint8  // IP version, 6
	TClass    uint8  // traffic class
	FlowLabel uint32 // 20 bits
	PayLen    uint16 // bytes from after the GRH through the ICRC
	NxtHdr    uint8  // next header, GRHNextHeaderIBA for a BTH
	HopLmt    uint8  // hop limit
	SGID      GID
	DGID      GID
}

// IsValid reports whether b is long enough to hold a GRH.
func (b GRH) IsValid() bool { return len(b) >= GRHSize }

// IPVer returns the IP version field.
func (b GRH) IPVer() uint8 { return b[grhVerClassFlow] >> 4 }

// TClass returns the traffic class.
func (b GRH) TClass() uint8 {
	return uint8(binary.BigEndian.Uint16(b[grhVerClassFlow:]) >> 4)
}

// FlowLabel returns the 20-bit flow label.
func (b GRH) FlowLabel() uint32 {
	return binary.BigEndian.Uint32(b[grhVerClassFlow:]) & grhFlowMask
}

// PayLen returns the payload length: bytes after the GRH through the ICRC.
func (b GRH) PayLen() uint16 { return binary.BigEndian.Uint16(b[grhPayLen:]) }

// NxtHdr returns the next header field.
func (b GRH) NxtHdr() uint8 { return b[grhNxtHdr] }

// HopLmt returns the hop limit.
func (b GRH) HopLmt() uint8 { return b[grhHopLmt] }

// SGID returns the source GID.
func (b GRH) SGID() GID { return GID(b[grhSGID : grhSGID+16]) }

// DGID returns the destination GID.
func (b GRH) DGID() GID { return GID(b[grhDGID : grhDGID+16]) }

// SetTClass sets the traffic class.
func (b GRH) SetTClass(c uint8) {
	w := binary.BigEndian.Uint32(b[grhVerClassFlow:])
	binary.BigEndian.PutUint32(b[grhVerClassFlow:], w&^0x0FF00000|uint32(c)<<20)
}

// SetFlowLabel sets the flow label (only the low 20 bits of l are kept).
func (b GRH) SetFlowLabel(l uint32) {
	w := binary.BigEndian.Uint32(b[grhVerClassFlow:])
	binary.BigEndian.PutUint32(b[grhVerClassFlow:], w&^grhFlowMask|l&grhFlowMask)
}

// SetPayLen sets the payload length.
func (b GRH) SetPayLen(n uint16) { binary.BigEndian.PutUint16(b[grhPayLen:], n) }

// SetNxtHdr sets the next header field.
func (b GRH) SetNxtHdr(h uint8) { b[grhNxtHdr] = h }

// SetHopLmt sets the hop limit (a router decrements it; the ICRC treats it
// as variant, the VCRC must be resealed).
func (b GRH) SetHopLmt(n uint8) { b[grhHopLmt] = n }

// SetSGID sets the source GID.
func (b GRH) SetSGID(g GID) { copy(b[grhSGID:grhSGID+16], g[:]) }

// SetDGID sets the destination GID.
func (b GRH) SetDGID(g GID) { copy(b[grhDGID:grhDGID+16], g[:]) }

// Encode writes every field of f into b.
func (b GRH) Encode(f *GRHFields) {
	_ = b[GRHSize-1]
	binary.BigEndian.PutUint32(b[grhVerClassFlow:],
		uint32(f.IPVer&0x0F)<<28|uint32(f.TClass)<<20|f.FlowLabel&grhFlowMask)
	binary.BigEndian.PutUint16(b[grhPayLen:], f.PayLen)
	b[grhNxtHdr] = f.NxtHdr
	b[grhHopLmt] = f.HopLmt
	copy(b[grhSGID:grhSGID+16], f.SGID[:])
	copy(b[grhDGID:grhDGID+16], f.DGID[:])
}

// Fields decodes every field of b.
func (b GRH) Fields() GRHFields {
	return GRHFields{
		IPVer: b.IPVer(), TClass: b.TClass(), FlowLabel: b.FlowLabel(), PayLen: b.PayLen(),
		NxtHdr: b.NxtHdr(), HopLmt: b.HopLmt(), SGID: b.SGID(), DGID: b.DGID(),
	}
}

// ParseGRH checks that b starts with a GRH of IP version 6 and returns the
// 40-byte view. NxtHdr and PayLen are judged by ParsePacket, which knows
// what follows.
func ParseGRH(b []byte) (GRH, error) {
	if len(b) < GRHSize {
		return nil, fmt.Errorf("%w: grh needs %d bytes, have %d", ErrPacketTruncated, GRHSize, len(b))
	}
	g := GRH(b[:GRHSize:GRHSize])
	if v := g.IPVer(); v != GRHIPVersion {
		return nil, fmt.Errorf("%w: grh ip version %d, want %d", ErrMalformedPacket, v, GRHIPVersion)
	}
	return g, nil
}
