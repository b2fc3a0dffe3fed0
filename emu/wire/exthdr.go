package wire

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Extended transport header sizes (IBTA Vol 1 §9.3).
const (
	RDETHSize        = 4
	DETHSize         = 8
	RETHSize         = 16
	AtomicETHSize    = 28
	AETHSize         = 4
	AtomicAckETHSize = 8
	ImmDtSize        = 4
	IETHSize         = 4
)

func extTruncated(name string, want, have int) error {
	return fmt.Errorf("%w: %s needs %d bytes, have %d", ErrPacketTruncated, name, want, have)
}

// ---------------------------------------------------------------------------
// RDETH

// RDETH is the 4-byte Reliable Datagram Extended Transport Header (IBTA
// Vol 1 §9.3.1), present in every RD packet.
//
//	 0               1               2               3
//	+---------------+-----------------------------------------------+
//	|   reserved    |                    EECnxt                     |
//	+---------------+-----------------------------------------------+
type RDETH []byte

// RDETHFields holds the RDETH fields for Encode and Fields.
type RDETHFields struct {
	EECnxt uint32 // end-to-end context (24 bits)
}

// IsValid reports whether b is long enough to hold an RDETH.
func (b RDETH) IsValid() bool { return len(b) >= RDETHSize }

// EECnxt returns the 24-bit end-to-end context.
func (b RDETH) EECnxt() uint32 { return hdrGet24(b[1:]) }

// SetEECnxt sets the end-to-end context (only the low 24 bits are kept).
func (b RDETH) SetEECnxt(c uint32) { hdrPut24(b[1:], c) }

// Encode writes every field of f into b, zeroing the reserved byte.
func (b RDETH) Encode(f *RDETHFields) {
	binary.BigEndian.PutUint32(b, f.EECnxt&QPNMask)
}

// Fields decodes every field of b.
func (b RDETH) Fields() RDETHFields { return RDETHFields{EECnxt: b.EECnxt()} }

// ParseRDETH checks that b starts with an RDETH and returns the 4-byte view.
func ParseRDETH(b []byte) (RDETH, error) {
	if len(b) < RDETHSize {
		return nil, extTruncated("rdeth", RDETHSize, len(b))
	}
	return RDETH(b[:RDETHSize:RDETHSize]), nil
}

// ---------------------------------------------------------------------------
// DETH

// DETH is the 8-byte Datagram Extended Transport Header (IBTA Vol 1
// §9.3.2), present in UD packets and RD requests.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+---------------+
//	|                             Q_Key                             |
//	+---------------+---------------+---------------+---------------+
//	|   reserved    |                     SrcQP                     |
//	+---------------+-----------------------------------------------+
type DETH []byte

const (
	dethQKey  = 0
	dethSrcQP = 4 // 32-bit word whose low 24 bits are SrcQP
)

// DETHFields holds the DETH fields for Encode and Fields.
type DETHFields struct {
	QKey  uint32 // queue key
	SrcQP uint32 // source queue pair (24 bits)
}

// IsValid reports whether b is long enough to hold a DETH.
func (b DETH) IsValid() bool { return len(b) >= DETHSize }

// QKey returns the queue key.
func (b DETH) QKey() uint32 { return binary.BigEndian.Uint32(b[dethQKey:]) }

// SrcQP returns the 24-bit source queue pair.
func (b DETH) SrcQP() uint32 { return binary.BigEndian.Uint32(b[dethSrcQP:]) & QPNMask }

// SetQKey sets the queue key.
func (b DETH) SetQKey(k uint32) { binary.BigEndian.PutUint32(b[dethQKey:], k) }

// SetSrcQP sets the source queue pair (only the low 24 bits are kept).
func (b DETH) SetSrcQP(qp uint32) { hdrPut24(b[dethSrcQP+1:], qp) }

// Encode writes every field of f into b, zeroing the reserved byte.
func (b DETH) Encode(f *DETHFields) {
	_ = b[DETHSize-1]
	binary.BigEndian.PutUint32(b[dethQKey:], f.QKey)
	binary.BigEndian.PutUint32(b[dethSrcQP:], f.SrcQP&QPNMask)
}

// Fields decodes every field of b.
func (b DETH) Fields() DETHFields { return DETHFields{QKey: b.QKey(), SrcQP: b.SrcQP()} }

// ParseDETH checks that b starts with a DETH and returns the 8-byte view.
func ParseDETH(b []byte) (DETH, error) {
	if len(b) < DETHSize {
		return nil, extTruncated("deth", DETHSize, len(b))
	}
	return DETH(b[:DETHSize:DETHSize]), nil
}

// ---------------------------------------------------------------------------
// RETH

// RETH is the 16-byte RDMA Extended Transport Header (IBTA Vol 1 §9.3.3),
// carried by the first (or only) packet of an RDMA WRITE and by an RDMA
// READ request.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+---------------+
//	|                                                               |
//	+                      Virtual Address (64)                     +
//	|                                                               |
//	+---------------+---------------+---------------+---------------+
//	|                             R_Key                             |
//	+---------------+---------------+---------------+---------------+
//	|                            DMALen                             |
//	+---------------+---------------+---------------+---------------+
type RETH []byte

const (
	rethVA     = 0
	rethRKey   = 8
	rethDMALen = 12
)

// RETHFields holds the RETH fields for Encode and Fields.
type RETHFields struct {
	VA     uint64 // virtual address
	RKey   uint32 // remote key
	DMALen uint32 // length of the whole RDMA operation in bytes
}

// IsValid reports whether b is long enough to hold a RETH.
func (b RETH) IsValid() bool { return len(b) >= RETHSize }

// VA returns the virtual address.
func (b RETH) VA() uint64 { return binary.BigEndian.Uint64(b[rethVA:]) }

// RKey returns the remote key.
func (b RETH) RKey() uint32 { return binary.BigEndian.Uint32(b[rethRKey:]) }

// DMALen returns the DMA length in bytes.
func (b RETH) DMALen() uint32 { return binary.BigEndian.Uint32(b[rethDMALen:]) }

// SetVA sets the virtual address.
func (b RETH) SetVA(va uint64) { binary.BigEndian.PutUint64(b[rethVA:], va) }

// SetRKey sets the remote key.
func (b RETH) SetRKey(k uint32) { binary.BigEndian.PutUint32(b[rethRKey:], k) }

// SetDMALen sets the DMA length.
func (b RETH) SetDMALen(n uint32) { binary.BigEndian.PutUint32(b[rethDMALen:], n) }

// Encode writes every field of f into b.
func (b RETH) Encode(f *RETHFields) {
	_ = b[RETHSize-1]
	binary.BigEndian.PutUint64(b[rethVA:], f.VA)
	binary.BigEndian.PutUint32(b[rethRKey:], f.RKey)
	binary.BigEndian.PutUint32(b[rethDMALen:], f.DMALen)
}

// Fields decodes every field of b.
func (b RETH) Fields() RETHFields {
	return RETHFields{VA: b.VA(), RKey: b.RKey(), DMALen: b.DMALen()}
}

// ParseRETH checks that b starts with a RETH and returns the 16-byte view.
func ParseRETH(b []byte) (RETH, error) {
	if len(b) < RETHSize {
		return nil, extTruncated("reth", RETHSize, len(b))
	}
	return RETH(b[:RETHSize:RETHSize]), nil
}

// ---------------------------------------------------------------------------
// AtomicETH

// AtomicETH is the 28-byte Atomic Extended Transport Header (IBTA Vol 1
// §9.3.4) of COMPARE SWAP and FETCH ADD requests.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+---------------+
//	+                      Virtual Address (64)                     +
//	+---------------+---------------+---------------+---------------+
//	|                             R_Key                             |
//	+---------------+---------------+---------------+---------------+
//	+                  Swap (or Add) Data (64)                      +
//	+---------------+---------------+---------------+---------------+
//	+                      Compare Data (64)                        +
//	+---------------+---------------+---------------+---------------+
type AtomicETH []byte

const (
	atomicVA      = 0
	atomicRKey    = 8
	atomicSwapAdd = 12
	atomicCompare = 20
)

// AtomicETHFields holds the AtomicETH fields for Encode and Fields.
type AtomicETHFields struct {
	VA      uint64 // virtual address (8-byte aligned)
	RKey    uint32 // remote key
	SwapAdd uint64 // swap data (COMPARE SWAP) or add data (FETCH ADD)
	Compare uint64 // compare data (COMPARE SWAP; ignored by FETCH ADD)
}

// IsValid reports whether b is long enough to hold an AtomicETH.
func (b AtomicETH) IsValid() bool { return len(b) >= AtomicETHSize }

// VA returns the virtual address.
func (b AtomicETH) VA() uint64 { return binary.BigEndian.Uint64(b[atomicVA:]) }

// RKey returns the remote key.
func (b AtomicETH) RKey() uint32 { return binary.BigEndian.Uint32(b[atomicRKey:]) }

// SwapAdd returns the swap data (COMPARE SWAP) or add data (FETCH ADD).
func (b AtomicETH) SwapAdd() uint64 { return binary.BigEndian.Uint64(b[atomicSwapAdd:]) }

// Compare returns the compare data.
func (b AtomicETH) Compare() uint64 { return binary.BigEndian.Uint64(b[atomicCompare:]) }

// SetVA sets the virtual address.
func (b AtomicETH) SetVA(va uint64) { binary.BigEndian.PutUint64(b[atomicVA:], va) }

// SetRKey sets the remote key.
func (b AtomicETH) SetRKey(k uint32) { binary.BigEndian.PutUint32(b[atomicRKey:], k) }

// SetSwapAdd sets the swap or add data.
func (b AtomicETH) SetSwapAdd(v uint64) { binary.BigEndian.PutUint64(b[atomicSwapAdd:], v) }

// SetCompare sets the compare data.
func (b AtomicETH) SetCompare(v uint64) { binary.BigEndian.PutUint64(b[atomicCompare:], v) }

// Encode writes every field of f into b.
func (b AtomicETH) Encode(f *AtomicETHFields) {
	_ = b[AtomicETHSize-1]
	binary.BigEndian.PutUint64(b[atomicVA:], f.VA)
	binary.BigEndian.PutUint32(b[atomicRKey:], f.RKey)
	binary.BigEndian.PutUint64(b[atomicSwapAdd:], f.SwapAdd)
	binary.BigEndian.PutUint64(b[atomicCompare:], f.Compare)
}

// Fields decodes every field of b.
func (b AtomicETH) Fields() AtomicETHFields {
	return AtomicETHFields{VA: b.VA(), RKey: b.RKey(), SwapAdd: b.SwapAdd(), Compare: b.Compare()}
}

// ParseAtomicETH checks that b starts with an AtomicETH and returns the
// 28-byte view.
func ParseAtomicETH(b []byte) (AtomicETH, error) {
	if len(b) < AtomicETHSize {
		return nil, extTruncated("atomiceth", AtomicETHSize, len(b))
	}
	return AtomicETH(b[:AtomicETHSize:AtomicETHSize]), nil
}

// ---------------------------------------------------------------------------
// AETH

// AETH is the 4-byte ACK Extended Transport Header (IBTA Vol 1 §9.3.5) of
// acknowledges and RDMA READ responses.
//
//	 0               1               2               3
//	+---------------+-----------------------------------------------+
//	|   Syndrome    |                      MSN                      |
//	+---------------+-----------------------------------------------+
type AETH []byte

const (
	aethSyndrome = 0
	aethMSN      = 1
)

// AETHFields holds the AETH fields for Encode and Fields.
type AETHFields struct {
	Syndrome AETHSyndrome
	MSN      uint32 // message sequence number (24 bits)
}

// IsValid reports whether b is long enough to hold an AETH.
func (b AETH) IsValid() bool { return len(b) >= AETHSize }

// Syndrome returns the syndrome byte.
func (b AETH) Syndrome() AETHSyndrome { return AETHSyndrome(b[aethSyndrome]) }

// MSN returns the 24-bit message sequence number.
func (b AETH) MSN() uint32 { return hdrGet24(b[aethMSN:]) }

// SetSyndrome sets the syndrome byte.
func (b AETH) SetSyndrome(s AETHSyndrome) { b[aethSyndrome] = uint8(s) }

// SetMSN sets the message sequence number (only the low 24 bits are kept).
func (b AETH) SetMSN(msn uint32) { hdrPut24(b[aethMSN:], msn) }

// Encode writes every field of f into b.
func (b AETH) Encode(f *AETHFields) {
	binary.BigEndian.PutUint32(b, uint32(f.Syndrome)<<24|f.MSN&QPNMask)
}

// Fields decodes every field of b.
func (b AETH) Fields() AETHFields { return AETHFields{Syndrome: b.Syndrome(), MSN: b.MSN()} }

// ParseAETH checks that b starts with an AETH and returns the 4-byte view.
func ParseAETH(b []byte) (AETH, error) {
	if len(b) < AETHSize {
		return nil, extTruncated("aeth", AETHSize, len(b))
	}
	return AETH(b[:AETHSize:AETHSize]), nil
}

// AETHSyndrome is the AETH syndrome byte (IBTA Vol 1 §9.3.5).
//
//	  7   6   5   4   3   2   1   0
//	+---+-------+-------------------+
//	| 0 | type  |       value       |
//	+---+-------+-------------------+
//
// Type 0 is an ACK whose value is an end-to-end credit code, type 1 an RNR
// NAK whose value is an RNRTimer, type 3 a NAK whose value is a NAKCode;
// type 2 is reserved.
type AETHSyndrome uint8

// AckType is bits 6-5 of an AETHSyndrome.
type AckType uint8

// Acknowledge types (IBTA Vol 1 §9.3.5).
const (
	AckTypeACK      AckType = 0
	AckTypeRNRNAK   AckType = 1
	AckTypeReserved AckType = 2
	AckTypeNAK      AckType = 3
)

// String returns "ACK", "RNR NAK", "NAK" or "reserved".
func (t AckType) String() string {
	switch t {
	case AckTypeACK:
		return "ACK"
	case AckTypeRNRNAK:
		return "RNR NAK"
	case AckTypeNAK:
		return "NAK"
	case AckTypeReserved:
		return "reserved"
	}
	return fmt.Sprintf("AckType(%d)", uint8(t))
}

// NAKCode is the value of a NAK syndrome (IBTA Vol 1 §9.3.5).
type NAKCode uint8

// NAK codes.
const (
	NAKPSNSequenceError       NAKCode = 0
	NAKInvalidRequest         NAKCode = 1
	NAKRemoteAccessError      NAKCode = 2
	NAKRemoteOperationalError NAKCode = 3
	NAKInvalidRDRequest       NAKCode = 4
)

var nakNames = [...]string{
	"PSN sequence error",
	"invalid request",
	"remote access error",
	"remote operational error",
	"invalid RD request",
}

// String returns the IBTA description ("remote access error" and so on).
func (c NAKCode) String() string {
	if int(c) < len(nakNames) {
		return nakNames[c]
	}
	return fmt.Sprintf("NAKCode(%d)", uint8(c))
}

// RNRTimer is the 5-bit RNR NAK timer code: how long the requester waits
// before retrying (IBTA Vol 1 §9.3.5 encoding; its use is in §9.7.5.2.8).
type RNRTimer uint8

// rnrMicros is the RNR timer table in microseconds; code 0 is the longest.
var rnrMicros = [32]uint32{
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720,
	40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
}

// Duration returns the wait the code stands for (code 0 is 655.36 ms).
func (t RNRTimer) Duration() time.Duration {
	return time.Duration(rnrMicros[t&0x1F]) * time.Microsecond
}

// String formats the timer in milliseconds, as in "0.64ms".
func (t RNRTimer) String() string {
	us := rnrMicros[t&0x1F]
	return fmt.Sprintf("%d.%02dms", us/1000, us%1000/10)
}

// AETHCreditInvalid is the ACK credit code that carries no credit count
// (the responder does not do end-to-end flow control, e.g. it uses an SRQ).
const AETHCreditInvalid = 0x1F

// creditCounts is the end-to-end flow control credit encoding of the AETH
// (IBTA Vol 1 §9.3.5): credit code to number of receive WQEs.
var creditCounts = [31]uint16{
	0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256,
	384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288,
	16384, 24576, 32768,
}

// CreditCode returns the largest ACK credit code whose count does not
// exceed n receive WQEs (the responder must not advertise more than it has).
func CreditCode(n int) uint8 {
	c := uint8(0)
	for i, v := range creditCounts {
		if int(v) <= n {
			c = uint8(i)
		}
	}
	return c
}

// ACKSyndrome returns the syndrome of an ACK carrying credit code c (0-30,
// or AETHCreditInvalid).
func ACKSyndrome(c uint8) AETHSyndrome { return AETHSyndrome(c & 0x1F) }

// RNRNAKSyndrome returns the syndrome of an RNR NAK with timer t.
func RNRNAKSyndrome(t RNRTimer) AETHSyndrome {
	return AETHSyndrome(uint8(AckTypeRNRNAK)<<5 | uint8(t)&0x1F)
}

// NAKSyndrome returns the syndrome of a NAK with code c.
func NAKSyndrome(c NAKCode) AETHSyndrome {
	return AETHSyndrome(uint8(AckTypeNAK)<<5 | uint8(c)&0x1F)
}

// Type returns the acknowledge type (bits 6-5).
func (s AETHSyndrome) Type() AckType { return AckType(s >> 5 & 0x3) }

// Value returns the low five bits: credit code, RNR timer or NAK code.
func (s AETHSyndrome) Value() uint8 { return uint8(s) & 0x1F }

// IsACK reports whether s is a positive acknowledge.
func (s AETHSyndrome) IsACK() bool { return s.Type() == AckTypeACK }

// CreditCode returns the end-to-end credit code of an ACK.
func (s AETHSyndrome) CreditCode() uint8 { return s.Value() }

// Credits returns the number of receive WQEs an ACK advertises; ok is false
// for AETHCreditInvalid (no credit count) or when s is not an ACK.
func (s AETHSyndrome) Credits() (n int, ok bool) {
	if s.Type() != AckTypeACK || s.Value() == AETHCreditInvalid {
		return 0, false
	}
	return int(creditCounts[s.Value()]), true
}

// RNRTimer returns the timer of an RNR NAK.
func (s AETHSyndrome) RNRTimer() RNRTimer { return RNRTimer(s.Value()) }

// NAKCode returns the code of a NAK.
func (s AETHSyndrome) NAKCode() NAKCode { return NAKCode(s.Value()) }

// String describes the syndrome, as in "ACK credits=16", "ACK credits=invalid",
// "RNR NAK timer=0.64ms" or "NAK remote access error".
func (s AETHSyndrome) String() string {
	switch s.Type() {
	case AckTypeACK:
		if n, ok := s.Credits(); ok {
			return fmt.Sprintf("ACK credits=%d", n)
		}
		return "ACK credits=invalid"
	case AckTypeRNRNAK:
		return "RNR NAK timer=" + s.RNRTimer().String()
	case AckTypeNAK:
		return "NAK " + s.NAKCode().String()
	}
	return fmt.Sprintf("AETHSyndrome(0x%02x)", uint8(s))
}

// ---------------------------------------------------------------------------
// AtomicAckETH

// AtomicAckETH is the 8-byte Atomic Acknowledge Extended Transport Header
// (IBTA Vol 1 §9.3.6): the value the target held before the atomic.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+---------------+
//	+                   Original Remote Data (64)                   +
//	+---------------+---------------+---------------+---------------+
type AtomicAckETH []byte

// AtomicAckETHFields holds the AtomicAckETH fields for Encode and Fields.
type AtomicAckETHFields struct {
	OrigRemData uint64 // original remote data
}

// IsValid reports whether b is long enough to hold an AtomicAckETH.
func (b AtomicAckETH) IsValid() bool { return len(b) >= AtomicAckETHSize }

// OrigRemData returns the original remote data.
func (b AtomicAckETH) OrigRemData() uint64 { return binary.BigEndian.Uint64(b) }

// SetOrigRemData sets the original remote data.
func (b AtomicAckETH) SetOrigRemData(v uint64) { binary.BigEndian.PutUint64(b, v) }

// Encode writes every field of f into b.
func (b AtomicAckETH) Encode(f *AtomicAckETHFields) { binary.BigEndian.PutUint64(b, f.OrigRemData) }

// Fields decodes every field of b.
func (b AtomicAckETH) Fields() AtomicAckETHFields {
	return AtomicAckETHFields{OrigRemData: b.OrigRemData()}
}

// ParseAtomicAckETH checks that b starts with an AtomicAckETH and returns
// the 8-byte view.
func ParseAtomicAckETH(b []byte) (AtomicAckETH, error) {
	if len(b) < AtomicAckETHSize {
		return nil, extTruncated("atomicacketh", AtomicAckETHSize, len(b))
	}
	return AtomicAckETH(b[:AtomicAckETHSize:AtomicAckETHSize]), nil
}

// ---------------------------------------------------------------------------
// ImmDt

// ImmDt is the 4-byte Immediate Data Extended Transport Header (IBTA Vol 1
// §9.3.7), carried by the "with immediate" SEND and RDMA WRITE opcodes. The
// value is opaque and is handed to the receiver's completion as is.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+---------------+
//	|                        Immediate Data                         |
//	+---------------+---------------+---------------+---------------+
type ImmDt []byte

// IsValid reports whether b is long enough to hold an ImmDt.
func (b ImmDt) IsValid() bool { return len(b) >= ImmDtSize }

// Data returns the immediate data, read big-endian.
func (b ImmDt) Data() uint32 { return binary.BigEndian.Uint32(b) }

// SetData sets the immediate data.
func (b ImmDt) SetData(v uint32) { binary.BigEndian.PutUint32(b, v) }

// ParseImmDt checks that b starts with an ImmDt and returns the 4-byte view.
func ParseImmDt(b []byte) (ImmDt, error) {
	if len(b) < ImmDtSize {
		return nil, extTruncated("immdt", ImmDtSize, len(b))
	}
	return ImmDt(b[:ImmDtSize:ImmDtSize]), nil
}

// ---------------------------------------------------------------------------
// IETH

// IETH is the 4-byte Invalidate Extended Transport Header (IBTA Vol 1
// §9.3.8) of SEND with Invalidate: the R_Key the responder invalidates.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+---------------+
//	|                             R_Key                             |
//	+---------------+---------------+---------------+---------------+
type IETH []byte

// IsValid reports whether b is long enough to hold an IETH.
func (b IETH) IsValid() bool { return len(b) >= IETHSize }

// RKey returns the R_Key to invalidate.
func (b IETH) RKey() uint32 { return binary.BigEndian.Uint32(b) }

// SetRKey sets the R_Key to invalidate.
func (b IETH) SetRKey(k uint32) { binary.BigEndian.PutUint32(b, k) }

// ParseIETH checks that b starts with an IETH and returns the 4-byte view.
func ParseIETH(b []byte) (IETH, error) {
	if len(b) < IETHSize {
		return nil, extTruncated("ieth", IETHSize, len(b))
	}
	return IETH(b[:IETHSize:IETHSize]), nil
}
