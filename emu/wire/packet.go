package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Errors reported by the packet parser and builder (and the header Parse
// functions). Each error returned wraps exactly one of them, with detail
// appended: "wire: packet truncated: bth needs 12 bytes, have 4".
var (
	// ErrPacketTruncated: a header does not fit in the frame.
	ErrPacketTruncated = errors.New("wire: packet truncated")
	// ErrPacketLength: LRH.PktLen or GRH.PayLen disagrees with the frame length.
	ErrPacketLength = errors.New("wire: packet length mismatch")
	// ErrPacketTooLong: the packet does not fit the 11-bit LRH.PktLen.
	ErrPacketTooLong = errors.New("wire: packet too long")
	// ErrUnsupportedOpCode: the BTH opcode is reserved, XRC or
	// manufacturer specific.
	ErrUnsupportedOpCode = errors.New("wire: unsupported opcode")
	// ErrPacketHeaders: the extended headers given to AppendPacket do not
	// match the opcode.
	ErrPacketHeaders = errors.New("wire: extended headers do not match the opcode")
	// ErrMalformedPacket: a field holds a value the layout forbids (GRH
	// version or next header, a pad count larger than the payload, a
	// payload on an opcode that carries none, a raw payload that is not
	// whole words).
	ErrMalformedPacket = errors.New("wire: malformed packet")
)

// MaxPacketSize is the longest frame LRH.PktLen can describe: 0x7FF words
// from the LRH through the ICRC, plus the VCRC.
const MaxPacketSize = lrhMaxWord*4 + VCRCSize

// PacketFields describes a whole packet for AppendPacket, and is what
// Packet.Fields decodes. A nil pointer means the header is absent.
//
// AppendPacket computes LRH.LNH, LRH.PktLen, GRH.PayLen and BTH.PadCnt;
// every other field is written as given, except that a zero GRH.IPVer or
// GRH.NxtHdr becomes GRHIPVersion or GRHNextHeaderIBA.
type PacketFields struct {
	LRH LRHFields
	// Raw selects a raw packet (IBTA Vol 1 §7.7.2): LRH.LNH is used as
	// given (LNHRaw or LNHIPv6), Payload follows the LRH directly, and
	// there is no GRH, BTH, extended header or ICRC. BTH is ignored.
	Raw          bool
	GRH          *GRHFields
	BTH          BTHFields
	RDETH        *RDETHFields
	DETH         *DETHFields
	RETH         *RETHFields
	AtomicETH    *AtomicETHFields
	AETH         *AETHFields
	AtomicAckETH *AtomicAckETHFields
	ImmDt        *uint32 // immediate data
	IETH         *uint32 // R_Key to invalidate
	// Payload is the message data; AppendPacket pads it with zeros to a
	// multiple of four bytes. A raw packet's payload must already be one.
	Payload []byte
}

// extHeaders returns the set of extended headers present in f.
func (f *PacketFields) extHeaders() ExtHeaders {
	var h ExtHeaders
	if f.RDETH != nil {
		h |= ExtRDETH
	}
	if f.DETH != nil {
		h |= ExtDETH
	}
	if f.RETH != nil {
		h |= ExtRETH
	}
	if f.AtomicETH != nil {
		h |= ExtAtomicETH
	}
	if f.AETH != nil {
		h |= ExtAETH
	}
	if f.AtomicAckETH != nil {
		h |= ExtAtomicAckETH
	}
	if f.ImmDt != nil {
		h |= ExtImmDt
	}
	if f.IETH != nil {
		h |= ExtIETH
	}
	return h
}

// EncodePacket returns a new frame built from f, as AppendPacket(nil, f).
func EncodePacket(f *PacketFields) ([]byte, error) { return AppendPacket(nil, f) }

// AppendPacket appends to dst a complete frame described by f: LRH, GRH if
// any, BTH, the extended headers the opcode calls for (IBTA Vol 1 Table
// 38), the payload, zero pad bytes up to a multiple of four, the ICRC and
// the VCRC (IBTA Vol 1 §7.8). It returns the extended slice; the new frame
// is its last len-len(dst) bytes. When dst has room for the frame nothing
// is allocated, otherwise dst grows once.
//
// It fails, leaving dst as it was, when the opcode is not Defined, when
// the extended headers present in f are not exactly those of the opcode,
// when a payload is given to an opcode that carries none, or when the
// frame would exceed MaxPacketSize.
func AppendPacket(dst []byte, f *PacketFields) ([]byte, error) {
	return appendPacket(dst, f, true)
}

// AppendPacketUnsealed is AppendPacket without the CRCs: the ICRC and
// VCRC bytes are left zero for whoever observes the frame first to fill
// in with SealPacket (the emulator's CRC offload: a frame's CRCs are a
// function of its other bytes, so computing them when the frame is
// captured, corrupted or handed to a device that checks them gives the
// same bytes as computing them here).
func AppendPacketUnsealed(dst []byte, f *PacketFields) ([]byte, error) {
	return appendPacket(dst, f, false)
}

func appendPacket(dst []byte, f *PacketFields, seal bool) ([]byte, error) {
	if f.Raw {
		return appendRaw(dst, f, seal)
	}
	op := f.BTH.OpCode
	info := &opTable[op]
	if !info.defined {
		return dst, fmt.Errorf("%w: %v", ErrUnsupportedOpCode, op)
	}
	if have := f.extHeaders(); have != info.ext {
		return dst, fmt.Errorf("%w: %v needs %v, got %v", ErrPacketHeaders, op, info.ext, have)
	}
	if !info.payload && len(f.Payload) > 0 {
		return dst, fmt.Errorf("%w: %v carries no payload, got %d bytes", ErrMalformedPacket, op, len(f.Payload))
	}
	hdr := LRHSize + BTHSize + int(info.size)
	if f.GRH != nil {
		hdr += GRHSize
	}
	pad := -len(f.Payload) & 3
	n := hdr + len(f.Payload) + pad + ICRCSize // what LRH.PktLen counts
	if n+VCRCSize > MaxPacketSize {
		return dst, fmt.Errorf("%w: %d-byte frame exceeds %d", ErrPacketTooLong, n+VCRCSize, MaxPacketSize)
	}

	start := len(dst)
	dst = slices.Grow(dst, n+VCRCSize)[:start+n+VCRCSize]
	b := dst[start:]

	lrh := f.LRH
	lrh.LNH = LNHIBALocal
	if f.GRH != nil {
		lrh.LNH = LNHIBAGlobal
	}
	lrh.PktLen = uint16(n / 4)
	LRH(b).Encode(&lrh)
	off := LRHSize
	if f.GRH != nil {
		putGRH(b[off:off+GRHSize], f.GRH, n)
		off += GRHSize
	}
	bth := f.BTH
	bth.PadCnt = uint8(pad)
	BTH(b[off:]).Encode(&bth)
	off += BTHSize
	if f.RDETH != nil {
		RDETH(b[off:]).Encode(f.RDETH)
		off += RDETHSize
	}
	if f.DETH != nil {
		DETH(b[off:]).Encode(f.DETH)
		off += DETHSize
	}
	if f.RETH != nil {
		RETH(b[off:]).Encode(f.RETH)
		off += RETHSize
	}
	if f.AtomicETH != nil {
		AtomicETH(b[off:]).Encode(f.AtomicETH)
		off += AtomicETHSize
	}
	if f.AETH != nil {
		AETH(b[off:]).Encode(f.AETH)
		off += AETHSize
	}
	if f.AtomicAckETH != nil {
		AtomicAckETH(b[off:]).Encode(f.AtomicAckETH)
		off += AtomicAckETHSize
	}
	if f.ImmDt != nil {
		binary.BigEndian.PutUint32(b[off:], *f.ImmDt)
		off += ImmDtSize
	}
	if f.IETH != nil {
		binary.BigEndian.PutUint32(b[off:], *f.IETH)
		off += IETHSize
	}
	off += copy(b[off:], f.Payload)
	clear(b[off : off+pad])
	if !seal {
		clear(b[off+pad:])
		return dst, nil
	}
	if err := SealPacket(b); err != nil {
		return dst[:start], err // unreachable: b always holds LRH+BTH+ICRC+VCRC
	}
	return dst, nil
}

// appendRaw is AppendPacket for raw packets.
func appendRaw(dst []byte, f *PacketFields, seal bool) ([]byte, error) {
	if f.LRH.LNH != LNHRaw && f.LRH.LNH != LNHIPv6 {
		return dst, fmt.Errorf("%w: raw packet needs lnh 0 or 1, got %d", ErrMalformedPacket, f.LRH.LNH)
	}
	if f.GRH != nil || f.extHeaders() != 0 {
		return dst, fmt.Errorf("%w: raw packet carries no grh or transport headers", ErrPacketHeaders)
	}
	if len(f.Payload)%4 != 0 {
		return dst, fmt.Errorf("%w: raw payload of %d bytes is not a multiple of 4", ErrMalformedPacket, len(f.Payload))
	}
	n := LRHSize + len(f.Payload)
	if n+VCRCSize > MaxPacketSize {
		return dst, fmt.Errorf("%w: %d-byte frame exceeds %d", ErrPacketTooLong, n+VCRCSize, MaxPacketSize)
	}
	start := len(dst)
	dst = slices.Grow(dst, n+VCRCSize)[:start+n+VCRCSize]
	b := dst[start:]
	lrh := f.LRH
	lrh.PktLen = uint16(n / 4)
	LRH(b).Encode(&lrh)
	copy(b[LRHSize:], f.Payload)
	if seal {
		ResealVCRC(b)
	} else {
		clear(b[n:])
	}
	return dst, nil
}

// Packet is a parsed frame: views into the frame for each header present
// (nil when absent) and the payload without its pad bytes. Writing through
// a view changes the frame; reseal the CRCs afterwards (ResealVCRC for
// variant fields such as LRH.VL or BTH.FECN, SealPacket otherwise).
type Packet struct {
	Frame        []byte // the whole frame, LRH through VCRC
	LRH          LRH
	GRH          GRH // nil unless LRH.LNH is LNHIBAGlobal
	BTH          BTH // nil for raw packets
	RDETH        RDETH
	DETH         DETH
	RETH         RETH
	AtomicETH    AtomicETH
	AETH         AETH
	AtomicAckETH AtomicAckETH
	ImmDt        ImmDt
	IETH         IETH
	// Payload is the data after the last header: for transport packets up
	// to the pad bytes (BTH.PadCnt of them) before the ICRC, for raw
	// packets up to the VCRC.
	Payload []byte
}

// ParsePacket decodes frame (LRH through VCRC) into views, allocating
// nothing. It checks that LRH.PktLen matches the frame length; that a GRH
// has IP version 6, next header 0x1B and a PayLen matching the frame; that
// the opcode is Defined and its extended headers fit before the ICRC; that
// BTH.PadCnt does not exceed the bytes after the headers; and that opcodes
// without payload have none. Raw packets (LNH 0 or 1) decode to the LRH and
// a payload running to the VCRC.
//
// ParsePacket does not verify the ICRC or VCRC; call CheckPacket for that.
// It never panics. Errors wrap ErrPacketTruncated, ErrPacketLength,
// ErrUnsupportedOpCode or ErrMalformedPacket.
func ParsePacket(frame []byte) (p Packet, err error) {
	if err = p.decode(frame); err != nil {
		p = Packet{}
	}
	return p, err
}

// Decode is ParsePacket writing into p, whatever p held before: the
// receive path of a device keeps one Packet and decodes each frame into
// it in place, rather than copying a Packet out of ParsePacket. On error
// p is zeroed. It never panics.
func (p *Packet) Decode(frame []byte) error {
	*p = Packet{}
	if err := p.decode(frame); err != nil {
		*p = Packet{}
		return err
	}
	return nil
}

// decode is ParsePacket writing into p, which must be zero; on error p
// holds partial views.
func (p *Packet) decode(frame []byte) error {
	if len(frame) < LRHSize+VCRCSize {
		return fmt.Errorf("%w: frame of %d bytes is shorter than lrh+vcrc (%d)", ErrPacketTruncated, len(frame), LRHSize+VCRCSize)
	}
	lrh := LRH(frame[:LRHSize:LRHSize])
	if words := int(lrh.PktLen()); words*4+VCRCSize != len(frame) {
		return fmt.Errorf("%w: lrh pktlen %d words means a %d-byte frame, have %d", ErrPacketLength, words, words*4+VCRCSize, len(frame))
	}
	p.Frame = frame
	p.LRH = lrh
	vcrc := len(frame) - VCRCSize
	lnh := lrh.LNH()
	if lnh == LNHRaw || lnh == LNHIPv6 {
		p.Payload = frame[LRHSize:vcrc:vcrc]
		return nil
	}
	end := vcrc - ICRCSize // headers, payload and pad end here
	off := LRHSize
	if lnh == LNHIBAGlobal {
		if end-off < GRHSize {
			return fmt.Errorf("%w: grh needs %d bytes, have %d before the icrc", ErrPacketTruncated, GRHSize, max(end-off, 0))
		}
		g := GRH(frame[off : off+GRHSize : off+GRHSize])
		if v := g.IPVer(); v != GRHIPVersion {
			return fmt.Errorf("%w: grh ip version %d, want %d", ErrMalformedPacket, v, GRHIPVersion)
		}
		if h := g.NxtHdr(); h != GRHNextHeaderIBA {
			return fmt.Errorf("%w: grh next header 0x%02x, want 0x%02x (iba transport)", ErrMalformedPacket, h, GRHNextHeaderIBA)
		}
		if pl, want := int(g.PayLen()), vcrc-LRHSize-GRHSize; pl != want {
			return fmt.Errorf("%w: grh paylen %d, frame has %d bytes from bth through icrc", ErrPacketLength, pl, want)
		}
		p.GRH = g
		off += GRHSize
	}
	if end-off < BTHSize {
		return fmt.Errorf("%w: bth needs %d bytes, have %d before the icrc", ErrPacketTruncated, BTHSize, max(end-off, 0))
	}
	bth := BTH(frame[off : off+BTHSize : off+BTHSize])
	p.BTH = bth
	off += BTHSize
	op := bth.OpCode()
	info := &opTable[op]
	if !info.defined {
		return fmt.Errorf("%w: %v", ErrUnsupportedOpCode, op)
	}
	if end-off < int(info.size) {
		return fmt.Errorf("%w: %v needs %v (%d bytes) after the bth, have %d", ErrPacketTruncated, op, info.ext, info.size, end-off)
	}
	if ext := info.ext; ext != 0 {
		if ext&ExtRDETH != 0 {
			p.RDETH = RDETH(frame[off : off+RDETHSize : off+RDETHSize])
			off += RDETHSize
		}
		if ext&ExtDETH != 0 {
			p.DETH = DETH(frame[off : off+DETHSize : off+DETHSize])
			off += DETHSize
		}
		if ext&ExtRETH != 0 {
			p.RETH = RETH(frame[off : off+RETHSize : off+RETHSize])
			off += RETHSize
		}
		if ext&ExtAtomicETH != 0 {
			p.AtomicETH = AtomicETH(frame[off : off+AtomicETHSize : off+AtomicETHSize])
			off += AtomicETHSize
		}
		if ext&ExtAETH != 0 {
			p.AETH = AETH(frame[off : off+AETHSize : off+AETHSize])
			off += AETHSize
		}
		if ext&ExtAtomicAckETH != 0 {
			p.AtomicAckETH = AtomicAckETH(frame[off : off+AtomicAckETHSize : off+AtomicAckETHSize])
			off += AtomicAckETHSize
		}
		if ext&ExtImmDt != 0 {
			p.ImmDt = ImmDt(frame[off : off+ImmDtSize : off+ImmDtSize])
			off += ImmDtSize
		}
		if ext&ExtIETH != 0 {
			p.IETH = IETH(frame[off : off+IETHSize : off+IETHSize])
			off += IETHSize
		}
	}
	data := end - off
	if !info.payload && data != 0 {
		return fmt.Errorf("%w: %v carries no payload, got %d bytes", ErrMalformedPacket, op, data)
	}
	pad := int(bth.PadCnt())
	if pad > data {
		return fmt.Errorf("%w: bth padcnt %d exceeds the %d bytes after the headers", ErrMalformedPacket, pad, data)
	}
	p.Payload = frame[off : end-pad : end-pad]
	return nil
}

// IsRaw reports whether p is a raw packet (no BTH).
func (p *Packet) IsRaw() bool { return p.BTH == nil }

// ICRC returns the invariant CRC carried by a transport packet (as written,
// least significant byte first), or 0 for a raw packet.
func (p *Packet) ICRC() uint32 {
	if p.BTH == nil || len(p.Frame) < ICRCSize+VCRCSize {
		return 0
	}
	return binary.LittleEndian.Uint32(p.Frame[len(p.Frame)-VCRCSize-ICRCSize:])
}

// VCRC returns the variant CRC carried by the frame.
func (p *Packet) VCRC() uint16 {
	if len(p.Frame) < VCRCSize {
		return 0
	}
	return binary.LittleEndian.Uint16(p.Frame[len(p.Frame)-VCRCSize:])
}

// Fields decodes p into a PacketFields that AppendPacket turns back into
// the same frame, up to reserved bits and pad bytes (which it zeroes) and
// the CRCs (which it recomputes). Payload aliases the frame.
func (p *Packet) Fields() PacketFields {
	f := PacketFields{Payload: p.Payload}
	if p.LRH != nil {
		f.LRH = p.LRH.Fields()
	}
	if p.BTH == nil {
		f.Raw = true
		return f
	}
	if p.GRH != nil {
		g := p.GRH.Fields()
		f.GRH = &g
	}
	f.BTH = p.BTH.Fields()
	if p.RDETH != nil {
		v := p.RDETH.Fields()
		f.RDETH = &v
	}
	if p.DETH != nil {
		v := p.DETH.Fields()
		f.DETH = &v
	}
	if p.RETH != nil {
		v := p.RETH.Fields()
		f.RETH = &v
	}
	if p.AtomicETH != nil {
		v := p.AtomicETH.Fields()
		f.AtomicETH = &v
	}
	if p.AETH != nil {
		v := p.AETH.Fields()
		f.AETH = &v
	}
	if p.AtomicAckETH != nil {
		v := p.AtomicAckETH.Fields()
		f.AtomicAckETH = &v
	}
	if p.ImmDt != nil {
		v := p.ImmDt.Data()
		f.ImmDt = &v
	}
	if p.IETH != nil {
		v := p.IETH.RKey()
		f.IETH = &v
	}
	return f
}

// putGRH writes grh into b for a packet of n bytes (LRH to ICRC): the
// payload length follows from n, and a zero IP version or next header
// takes the IBA values (IBTA Vol 1 §8.3.1).
func putGRH(b []byte, grh *GRHFields, n int) {
	g := *grh
	g.PayLen = uint16(n - LRHSize - GRHSize)
	if g.IPVer == 0 {
		g.IPVer = GRHIPVersion
	}
	if g.NxtHdr == 0 {
		g.NxtHdr = GRHNextHeaderIBA
	}
	GRH(b).Encode(&g)
}
