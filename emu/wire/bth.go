package wire

import (
	"encoding/binary"
	"fmt"
)

// BTH is the 12-byte Base Transport Header (IBTA Vol 1 §9.2). It follows
// the LRH, or the GRH when LRH.LNH is LNHIBAGlobal, in every packet that
// is not raw.
//
//	 0               1               2               3
//	 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
//	+---------------+-+-+---+-------+-------------------------------+
//	|    OpCode     |S|M|Pad| TVer  |             P_Key             |
//	|               |E| |Cnt|       |                               |
//	+-+-+-----------+-+-+---+-------+-------------------------------+
//	|F|B|   Resv6   |                    DestQP                     |
//	+-+-+-----------+-----------------------------------------------+
//	|A|    Resv7    |                      PSN                      |
//	+-+-------------+-----------------------------------------------+
//
// F and B are the FECN and BECN congestion bits of IBTA Vol 1 Annex A10
// (the Resv8a byte of the base specification). The whole of byte 4 is a
// variant field that the ICRC covers as all ones.
//
// The accessors do no bounds checks: call IsValid or ParseBTH first.
type BTH []byte

// BTHSize is the length of a BTH.
const BTHSize = 12

// Masks of the 24-bit BTH fields.
const (
	QPNMask = 0xFFFFFF // DestQP, SrcQP and EECnxt are 24 bits
	PSNMask = 0xFFFFFF // PSN is 24 bits
)

const (
	bthOpCode  = 0
	bthFlags   = 1 // SE, M, PadCnt, TVer
	bthPKey    = 2
	bthResv8a  = 4 // FECN, BECN, Resv6
	bthDestQP  = 4 // 32-bit word whose low 24 bits are DestQP
	bthAckPSN  = 8 // 32-bit word: A, Resv7, PSN
	bthSE      = 0x80
	bthMigReq  = 0x40
	bthPadMask = 0x30
	bthPadShft = 4
	bthTVer    = 0x0F
	bthFECN    = 0x80
	bthBECN    = 0x40
	bthAckReq  = 0x80
)

// BTHFields holds the BTH fields for Encode and Fields. Reserved bits are
// always written as zero.
type BTHFields struct {
	OpCode OpCode
	SE     bool   // solicited event
	MigReq bool   // M: migration request
	PadCnt uint8  // pad bytes after the payload (0-3)
	TVer   uint8  // transport header version (0)
	PKey   uint16 // partition key
	FECN   bool   // forward explicit congestion notification (Annex A10)
	BECN   bool   // backward explicit congestion notification (Annex A10)
	DestQP uint32 // destination queue pair (24 bits)
	AckReq bool   // A: acknowledge request
	PSN    uint32 // packet sequence number (24 bits)
}

// IsValid reports whether b is long enough to hold a BTH.
func (b BTH) IsValid() bool { return len(b) >= BTHSize }

// OpCode returns the operation code.
func (b BTH) OpCode() OpCode { return OpCode(b[bthOpCode]) }

// SE returns the solicited event bit.
func (b BTH) SE() bool { return b[bthFlags]&bthSE != 0 }

// MigReq returns the M (migration request) bit.
func (b BTH) MigReq() bool { return b[bthFlags]&bthMigReq != 0 }

// PadCnt returns the number of pad bytes (0-3) between payload and ICRC.
func (b BTH) PadCnt() uint8 { return b[bthFlags] & bthPadMask >> bthPadShft }

// TVer returns the transport header version.
func (b BTH) TVer() uint8 { return b[bthFlags] & bthTVer }

// PKey returns the partition key.
func (b BTH) PKey() uint16 { return binary.BigEndian.Uint16(b[bthPKey:]) }

// FECN returns the forward explicit congestion notification bit.
func (b BTH) FECN() bool { return b[bthResv8a]&bthFECN != 0 }

// BECN returns the backward explicit congestion notification bit.
func (b BTH) BECN() bool { return b[bthResv8a]&bthBECN != 0 }

// DestQP returns the 24-bit destination queue pair number.
func (b BTH) DestQP() uint32 { return binary.BigEndian.Uint32(b[bthDestQP:]) & QPNMask }

// AckReq returns the A (acknowledge request) bit.
func (b BTH) AckReq() bool { return b[bthAckPSN]&bthAckReq != 0 }

// PSN returns the 24-bit packet sequence number.
func (b BTH) PSN() uint32 { return binary.BigEndian.Uint32(b[bthAckPSN:]) & PSNMask }

// SetOpCode sets the operation code. Changing it between opcodes with
// different extended headers leaves the packet malformed.
func (b BTH) SetOpCode(op OpCode) { b[bthOpCode] = uint8(op) }

// SetSE sets the solicited event bit.
func (b BTH) SetSE(v bool) { b[bthFlags] = hdrSetFlag(b[bthFlags], bthSE, v) }

// SetMigReq sets the M (migration request) bit.
func (b BTH) SetMigReq(v bool) { b[bthFlags] = hdrSetFlag(b[bthFlags], bthMigReq, v) }

// SetPadCnt sets the pad count (only the low two bits of n are kept).
func (b BTH) SetPadCnt(n uint8) {
	b[bthFlags] = b[bthFlags]&^bthPadMask | n<<bthPadShft&bthPadMask
}

// SetTVer sets the transport header version (only the low four bits are kept).
func (b BTH) SetTVer(v uint8) { b[bthFlags] = b[bthFlags]&^bthTVer | v&bthTVer }

// SetPKey sets the partition key.
func (b BTH) SetPKey(k uint16) { binary.BigEndian.PutUint16(b[bthPKey:], k) }

// SetFECN sets the forward explicit congestion notification bit. A switch
// marks a packet this way without touching the ICRC, which treats the
// byte as variant; the VCRC must be resealed.
func (b BTH) SetFECN(v bool) { b[bthResv8a] = hdrSetFlag(b[bthResv8a], bthFECN, v) }

// SetBECN sets the backward explicit congestion notification bit.
func (b BTH) SetBECN(v bool) { b[bthResv8a] = hdrSetFlag(b[bthResv8a], bthBECN, v) }

// SetDestQP sets the destination queue pair (only the low 24 bits of qp are kept).
func (b BTH) SetDestQP(qp uint32) { hdrPut24(b[bthDestQP+1:], qp) }

// SetAckReq sets the A (acknowledge request) bit.
func (b BTH) SetAckReq(v bool) { b[bthAckPSN] = hdrSetFlag(b[bthAckPSN], bthAckReq, v) }

// SetPSN sets the packet sequence number (only the low 24 bits of psn are kept).
func (b BTH) SetPSN(psn uint32) { hdrPut24(b[bthAckPSN+1:], psn) }

// Encode writes every field of f into b, zeroing the reserved bits.
func (b BTH) Encode(f *BTHFields) {
	_ = b[BTHSize-1]
	b[bthOpCode] = uint8(f.OpCode)
	b[bthFlags] = hdrFlag(f.SE, bthSE) | hdrFlag(f.MigReq, bthMigReq) |
		f.PadCnt<<bthPadShft&bthPadMask | f.TVer&bthTVer
	binary.BigEndian.PutUint16(b[bthPKey:], f.PKey)
	binary.BigEndian.PutUint32(b[bthDestQP:], uint32(hdrFlag(f.FECN, bthFECN)|hdrFlag(f.BECN, bthBECN))<<24|f.DestQP&QPNMask)
	binary.BigEndian.PutUint32(b[bthAckPSN:], uint32(hdrFlag(f.AckReq, bthAckReq))<<24|f.PSN&PSNMask)
}

// Fields decodes every field of b.
func (b BTH) Fields() BTHFields {
	return BTHFields{
		OpCode: b.OpCode(), SE: b.SE(), MigReq: b.MigReq(), PadCnt: b.PadCnt(), TVer: b.TVer(),
		PKey: b.PKey(), FECN: b.FECN(), BECN: b.BECN(), DestQP: b.DestQP(),
		AckReq: b.AckReq(), PSN: b.PSN(),
	}
}

// ParseBTH checks that b starts with a BTH and returns the 12-byte view.
// It does not judge the opcode; ParsePacket does.
func ParseBTH(b []byte) (BTH, error) {
	if len(b) < BTHSize {
		return nil, fmt.Errorf("%w: bth needs %d bytes, have %d", ErrPacketTruncated, BTHSize, len(b))
	}
	return BTH(b[:BTHSize:BTHSize]), nil
}

// hdrFlag returns mask if v is set, else 0.
func hdrFlag(v bool, mask uint8) uint8 {
	if v {
		return mask
	}
	return 0
}

// hdrSetFlag returns x with mask set or cleared.
func hdrSetFlag(x, mask uint8, v bool) uint8 {
	if v {
		return x | mask
	}
	return x &^ mask
}

// hdrPut24 writes the low 24 bits of v big-endian into b[0:3].
func hdrPut24(b []byte, v uint32) {
	_ = b[2]
	b[0], b[1], b[2] = byte(v>>16), byte(v>>8), byte(v)
}

// hdrGet24 reads a 24-bit big-endian value from b[0:3].
func hdrGet24(b []byte) uint32 {
	_ = b[2]
	return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2])
}
