package wire

import (
	"encoding/binary"
	"fmt"
)

// DataFields describes a transport packet for AppendData and
// AppendDataUnsealed, the encoder of a verbs engine's data path: the
// fields are held by value and the opcode alone decides which extended
// headers the packet carries (IBTA Vol 1 Table 38), so a sender fills in
// the headers of its opcode and nothing checks the others, which are
// ignored. The frame is the one AppendPacket builds from the matching
// PacketFields (see Fields), byte for byte.
//
// The encoder computes LRH.LNH, LRH.PktLen, GRH.PayLen and BTH.PadCnt,
// writes LRH.LVer and BTH.TVer as 0 (IBTA Vol 1 §7.7.1, §9.2.5) and the
// reserved bits as zero; every other field is written as given, except
// that a zero GRH.IPVer or GRH.NxtHdr becomes GRHIPVersion or
// GRHNextHeaderIBA.
type DataFields struct {
	// LRH (IBTA Vol 1 §7.7).
	VL, SL     uint8
	DLID, SLID LID
	// GRH, present when not nil (LRH.LNH is then LNHIBAGlobal).
	GRH *GRHFields
	// BTH (IBTA Vol 1 §9.2).
	OpCode OpCode
	SE     bool // solicited event
	MigReq bool
	AckReq bool
	FECN   bool
	BECN   bool
	PKey   uint16
	DestQP uint32
	PSN    uint32
	// Extended transport headers (IBTA Vol 1 §9.3): only those of
	// OpCode are written.
	RDETH        RDETHFields
	DETH         DETHFields
	RETH         RETHFields
	AtomicETH    AtomicETHFields
	AETH         AETHFields
	AtomicAckETH AtomicAckETHFields
	ImmDt        uint32 // immediate data
	IETH         uint32 // R_Key to invalidate
	// Payload is the message data, padded with zeros to a multiple of
	// four bytes.
	Payload []byte
}

// HeaderLen returns the bytes of headers (LRH, GRH, BTH and the opcode's
// extended headers) before the payload of the packet f describes, or 0
// when the opcode is not Defined.
func (f *DataFields) HeaderLen() int {
	info := &opTable[f.OpCode]
	if !info.defined {
		return 0
	}
	n := LRHSize + BTHSize + int(info.size)
	if f.GRH != nil {
		n += GRHSize
	}
	return n
}

// Fields returns the PacketFields describing the same packet, for
// AppendPacket or comparison; Payload and GRH alias f's.
func (f *DataFields) Fields() PacketFields {
	p := PacketFields{
		LRH: LRHFields{VL: f.VL, SL: f.SL, DLID: f.DLID, SLID: f.SLID},
		GRH: f.GRH,
		BTH: BTHFields{OpCode: f.OpCode, SE: f.SE, MigReq: f.MigReq, PKey: f.PKey, FECN: f.FECN, BECN: f.BECN,
			DestQP: f.DestQP, AckReq: f.AckReq, PSN: f.PSN},
		Payload: f.Payload,
	}
	ext := opTable[f.OpCode].ext
	if ext&ExtRDETH != 0 {
		p.RDETH = &f.RDETH
	}
	if ext&ExtDETH != 0 {
		p.DETH = &f.DETH
	}
	if ext&ExtRETH != 0 {
		p.RETH = &f.RETH
	}
	if ext&ExtAtomicETH != 0 {
		p.AtomicETH = &f.AtomicETH
	}
	if ext&ExtAETH != 0 {
		p.AETH = &f.AETH
	}
	if ext&ExtAtomicAckETH != 0 {
		p.AtomicAckETH = &f.AtomicAckETH
	}
	if ext&ExtImmDt != 0 {
		p.ImmDt = &f.ImmDt
	}
	if ext&ExtIETH != 0 {
		p.IETH = &f.IETH
	}
	return p
}

// AppendData appends to dst the complete, sealed frame f describes (LRH
// through VCRC), as AppendPacket does for f.Fields(). It returns the
// extended slice; nothing is allocated when dst has room for the frame.
//
// It fails, leaving dst as it was, when the opcode is not Defined, when a
// payload is given to an opcode that carries none, or when the frame
// would exceed MaxPacketSize; errors wrap ErrUnsupportedOpCode,
// ErrMalformedPacket or ErrPacketTooLong.
func AppendData(dst []byte, f *DataFields) ([]byte, error) {
	start := len(dst)
	dst, err := AppendDataUnsealed(dst, f)
	if err != nil {
		return dst, err
	}
	if err := SealPacket(dst[start:]); err != nil {
		return dst[:start], err // unreachable: the frame holds LRH+BTH+ICRC+VCRC
	}
	return dst, nil
}

// AppendDataUnsealed is AppendData with the ICRC and VCRC left zero, for
// whoever observes the frame first to fill in with SealPacket (see
// AppendPacketUnsealed).
func AppendDataUnsealed(dst []byte, f *DataFields) ([]byte, error) {
	op := f.OpCode
	info := &opTable[op]
	if !info.defined {
		return dst, fmt.Errorf("%w: %v", ErrUnsupportedOpCode, op)
	}
	np := len(f.Payload)
	if !info.payload && np > 0 {
		return dst, fmt.Errorf("%w: %v carries no payload, got %d bytes", ErrMalformedPacket, op, np)
	}
	hdr := LRHSize + BTHSize + int(info.size)
	lnh := uint8(LNHIBALocal)
	if f.GRH != nil {
		hdr += GRHSize
		lnh = LNHIBAGlobal
	}
	pad := -np & 3
	n := hdr + np + pad + ICRCSize // what LRH.PktLen counts
	if n+VCRCSize > MaxPacketSize {
		return dst, fmt.Errorf("%w: %d-byte frame exceeds %d", ErrPacketTooLong, n+VCRCSize, MaxPacketSize)
	}
	start := len(dst)
	if cap(dst)-start < n+VCRCSize {
		nd := make([]byte, start, start+n+VCRCSize)
		copy(nd, dst)
		dst = nd
	}
	dst = dst[:start+n+VCRCSize]
	b := dst[start:]

	// LRH (§7.7): VL|LVer, SL|LNH, DLID, PktLen, SLID in one store.
	binary.BigEndian.PutUint64(b[:LRHSize], uint64(f.VL)<<60|uint64(f.SL&0x0F)<<52|uint64(lnh)<<48|
		uint64(f.DLID)<<32|uint64(n/4&lrhMaxWord)<<16|uint64(f.SLID))
	off := LRHSize
	if f.GRH != nil {
		putGRH(b[off:off+GRHSize], f.GRH, n)
		off += GRHSize
	}
	// BTH (§9.2): three words.
	bt := b[off : off+BTHSize]
	flags := uint32(pad) << bthPadShft
	if f.SE {
		flags |= bthSE
	}
	if f.MigReq {
		flags |= bthMigReq
	}
	binary.BigEndian.PutUint32(bt[0:], uint32(op)<<24|flags<<16|uint32(f.PKey))
	w1 := f.DestQP & QPNMask
	if f.FECN {
		w1 |= bthFECN << 24
	}
	if f.BECN {
		w1 |= bthBECN << 24
	}
	binary.BigEndian.PutUint32(bt[4:], w1)
	w2 := f.PSN & PSNMask
	if f.AckReq {
		w2 |= bthAckReq << 24
	}
	binary.BigEndian.PutUint32(bt[8:], w2)
	off += BTHSize

	if ext := info.ext; ext != 0 {
		off = f.putExt(b, off, ext)
	}
	off += copy(b[off:], f.Payload)
	clear(b[off:]) // pad, ICRC and VCRC
	return dst, nil
}

// putExt writes the extended headers ext of f into b from off, in the
// order of IBTA Vol 1 Table 38, and returns the offset after them.
func (f *DataFields) putExt(b []byte, off int, ext ExtHeaders) int {
	if ext&ExtRDETH != 0 {
		RDETH(b[off : off+RDETHSize]).Encode(&f.RDETH)
		off += RDETHSize
	}
	if ext&ExtDETH != 0 {
		DETH(b[off : off+DETHSize]).Encode(&f.DETH)
		off += DETHSize
	}
	if ext&ExtRETH != 0 {
		RETH(b[off : off+RETHSize]).Encode(&f.RETH)
		off += RETHSize
	}
	if ext&ExtAtomicETH != 0 {
		AtomicETH(b[off : off+AtomicETHSize]).Encode(&f.AtomicETH)
		off += AtomicETHSize
	}
	if ext&ExtAETH != 0 {
		AETH(b[off : off+AETHSize]).Encode(&f.AETH)
		off += AETHSize
	}
	if ext&ExtAtomicAckETH != 0 {
		AtomicAckETH(b[off : off+AtomicAckETHSize]).Encode(&f.AtomicAckETH)
		off += AtomicAckETHSize
	}
	if ext&ExtImmDt != 0 {
		binary.BigEndian.PutUint32(b[off:off+ImmDtSize], f.ImmDt)
		off += ImmDtSize
	}
	if ext&ExtIETH != 0 {
		binary.BigEndian.PutUint32(b[off:off+IETHSize], f.IETH)
		off += IETHSize
	}
	return off
}
