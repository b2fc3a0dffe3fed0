package agent

import (
	"fmt"
	"slices"

	"github.com/ibemu/ibemu/emu/wire"
)

// Well-known queue pairs, keys and lanes of management traffic.
const (
	// QP0 is the subnet management QP (SMI): SMPs only (IBTA Vol 1 §13.5.1).
	QP0 uint32 = 0
	// QP1 is the general services QP (GSI): every other management class.
	QP1 uint32 = 1
	// GSIQKey is the well-known Q_Key of QP1 (IBTA Vol 1 §13.5.2).
	GSIQKey uint32 = 0x80010000
	// VL15 is the management virtual lane SMPs travel on.
	VL15 uint8 = 15
)

// Addr is the address part of a MAD frame: what the LRH, GRH, BTH and DETH
// say about who sends to whom. On a frame a node builds, DLID is where it
// goes and SLID the sending port's LID; ParseFrame fills both from the
// frame as it arrived.
type Addr struct {
	DLID   wire.LID
	SLID   wire.LID
	SL     uint8
	DestQP uint32
	SrcQP  uint32
	QKey   uint32
	PKey   uint16
	// GRH is the global route header, nil when the frame has none.
	GRH *wire.GRHFields
}

// Reply returns the address of the answer to a request that arrived from
// a: LIDs, QPs and GIDs swapped, same SL and P_Key, and the Q_Key of the
// requester's QP (GSIQKey for QP1, 0 for QP0). The reply's SLID is the LID
// the request was sent to; when that was the permissive LID it is ownLID,
// the answering port's LID (permissive too when the port has none). A
// reply whose DLID is permissive goes out with a permissive SLID, as
// Mellanox HCAs send directed-route SMPs (IBTA Vol 1 §14.2.2).
func (a Addr) Reply(ownLID wire.LID) Addr {
	r := Addr{DLID: a.SLID, SLID: a.DLID, SL: a.SL, DestQP: a.SrcQP, SrcQP: a.DestQP, PKey: a.PKey}
	if r.SLID == wire.LIDPermissive || r.SLID == wire.LIDUnassigned || r.SLID.IsMulticast() {
		r.SLID = ownLID
	}
	if r.SLID == wire.LIDUnassigned || r.DLID == wire.LIDPermissive {
		r.SLID = wire.LIDPermissive
	}
	if r.DestQP == QP1 {
		r.QKey = GSIQKey
	}
	if a.GRH != nil {
		g := *a.GRH
		g.SGID, g.DGID = a.GRH.DGID, a.GRH.SGID
		g.HopLmt = 0xFF
		r.GRH = &g
	}
	return r
}

// Frame is a MAD frame as it arrived: its address, its virtual lane, the
// parsed packet and a view of the 256-byte MAD. Every view aliases the
// frame.
type Frame struct {
	Addr   Addr
	VL     uint8
	Packet wire.Packet
	MAD    wire.MAD
}

// ParseFrame decodes an arriving frame that carries a MAD: LRH, optional
// GRH, BTH with opcode UD SEND Only, DETH and a payload of exactly one
// 256-byte MAD. It checks that QP0 frames travel on VL15 and nothing else
// does. It does not verify the CRCs (the port did) nor the MAD header
// (the agents answer a bad version with a status). It never panics.
func ParseFrame(frame []byte) (*Frame, error) {
	f := &Frame{}
	if err := f.parse(frame); err != nil {
		return nil, err
	}
	return f, nil
}

// Parse is ParseFrame into f, which it overwrites: a device that only
// relays the frame (a switch forwarding a directed-route SMP) parses into a
// Frame of its own instead of allocating one per packet, and copies it
// (*copy = *f) only when something keeps it. On error f is zeroed.
func (f *Frame) Parse(frame []byte) error {
	if err := f.parse(frame); err != nil {
		*f = Frame{}
		return err
	}
	return nil
}

// FromPacket is Parse for a frame the caller already decoded with
// wire.ParsePacket (a CA that looked at the BTH first to pick the QP):
// it fills f, which it overwrites, from pkt without decoding the frame
// again, and applies the same checks. On error f is zeroed.
func (f *Frame) FromPacket(pkt *wire.Packet) error {
	f.Packet = *pkt
	if err := f.fill(); err != nil {
		*f = Frame{}
		return err
	}
	return nil
}

// MADFrameLen is the length of a MAD frame without a GRH: LRH, BTH,
// DETH, the 256-byte MAD, ICRC and VCRC (IBTA Vol 1 §13.5.1: MADs travel
// as UD SEND Only datagrams).
const MADFrameLen = wire.LRHSize + wire.BTHSize + wire.DETHSize + wire.MADSize + wire.ICRCSize + wire.VCRCSize

// DirectedSMP reports whether frame is a directed-route SMP in the layout
// nearly every management frame has (no GRH, UD SEND Only without pad
// bytes, QP0 on VL15, class 0x81) and returns a view of the SMP. Every
// frame it accepts, ParseFrame accepts too, with Addr.DestQP QP0 and
// that MAD: a switch relaying a directed-route SMP (IBTA Vol 1 §14.2.2)
// needs only the SMP and the LRH, and parses the whole frame only for an
// SMP it answers. It never panics.
func DirectedSMP(frame []byte) (wire.SMP, bool) {
	const bthAt, madAt = wire.LRHSize, wire.LRHSize + wire.BTHSize + wire.DETHSize
	if len(frame) != MADFrameLen {
		return nil, false
	}
	lrh := wire.LRH(frame[:wire.LRHSize:wire.LRHSize])
	bth := wire.BTH(frame[bthAt : bthAt+wire.BTHSize : bthAt+wire.BTHSize])
	if lrh.LNH() != wire.LNHIBALocal || int(lrh.PktLen())*4+wire.VCRCSize != len(frame) || lrh.VL() != VL15 ||
		bth.OpCode() != wire.OpUDSendOnly || bth.PadCnt() != 0 || bth.DestQP() != QP0 {
		return nil, false
	}
	m := wire.MAD(frame[madAt : madAt+wire.MADSize : madAt+wire.MADSize])
	if m.MgmtClass() != wire.MgmtClassSubnDirected {
		return nil, false
	}
	return wire.SMP(m), true
}

func (f *Frame) parse(frame []byte) error {
	// Nearly every management frame is a UD SEND Only without a GRH and
	// without pad bytes: take its views at their fixed offsets. This
	// accepts exactly what wire.ParsePacket would accept for such a
	// frame; anything else takes the general decoder.
	if len(frame) == MADFrameLen {
		lrh := wire.LRH(frame[:wire.LRHSize:wire.LRHSize])
		const bthAt, dethAt = wire.LRHSize, wire.LRHSize + wire.BTHSize
		const madAt = dethAt + wire.DETHSize
		bth := wire.BTH(frame[bthAt : bthAt+wire.BTHSize : bthAt+wire.BTHSize])
		if lrh.LNH() == wire.LNHIBALocal && int(lrh.PktLen())*4+wire.VCRCSize == len(frame) &&
			bth.OpCode() == wire.OpUDSendOnly && bth.PadCnt() == 0 {
			// Set the five views one by one: assigning a whole
			// wire.Packet (13 slices) per hop was most of the parse.
			// The views such a frame lacks are nil already unless the
			// general decoder filled f last.
			p := &f.Packet
			if p.GRH != nil || p.RDETH != nil || p.RETH != nil || p.AtomicETH != nil || p.AETH != nil ||
				p.AtomicAckETH != nil || p.ImmDt != nil || p.IETH != nil {
				*p = wire.Packet{}
			}
			p.Frame, p.LRH, p.BTH = frame, lrh, bth
			p.DETH = wire.DETH(frame[dethAt : dethAt+wire.DETHSize : dethAt+wire.DETHSize])
			p.Payload = frame[madAt : madAt+wire.MADSize : madAt+wire.MADSize]
			return f.fill()
		}
	}
	var err error
	f.Packet, err = wire.ParsePacket(frame)
	if err != nil {
		return fmt.Errorf("agent: parse mad frame: %w", err)
	}
	return f.fill()
}

// fill checks the decoded f.Packet and sets the other fields from it.
func (f *Frame) fill() error {
	pkt := &f.Packet
	if pkt.BTH == nil || pkt.BTH.OpCode() != wire.OpUDSendOnly || pkt.DETH == nil {
		return fmt.Errorf("agent: parse mad frame: %w", ErrNotUD)
	}
	if len(pkt.Payload) != wire.MADSize {
		return fmt.Errorf("agent: parse mad frame: %d-byte payload: %w", len(pkt.Payload), ErrMADSize)
	}
	qp := pkt.BTH.DestQP()
	if vl := pkt.LRH.VL(); (qp == QP0) != (vl == VL15) {
		return fmt.Errorf("agent: parse mad frame: qp %d on vl %d: %w", qp, vl, ErrVL15)
	}
	f.VL = pkt.LRH.VL()
	f.MAD = wire.MAD(pkt.Payload)
	f.Addr = Addr{
		DLID:   pkt.LRH.DLID(),
		SLID:   pkt.LRH.SLID(),
		SL:     pkt.LRH.SL(),
		DestQP: qp,
		SrcQP:  pkt.DETH.SrcQP(),
		QKey:   pkt.DETH.QKey(),
		PKey:   pkt.BTH.PKey(),
	}
	if pkt.GRH != nil {
		g := pkt.GRH.Fields()
		f.Addr.GRH = &g
	}
	return nil
}

// AppendFrame appends to dst a sealed frame that carries mad (256 bytes)
// from a.SrcQP to a.DestQP: LRH on VL15 when a.DestQP is QP0 and VL0
// otherwise, the GRH when a.GRH is set, BTH UD SEND Only with a.PKey, DETH
// with a.QKey and a.SrcQP, ICRC and VCRC.
func AppendFrame(dst []byte, a *Addr, mad []byte) ([]byte, error) {
	return appendFrame(dst, a, mad, true)
}

// AppendUnsealedFrame is AppendFrame without the ICRC and VCRC, for
// Port.SendUnsealed (the fabric computes them when they are observed).
func AppendUnsealedFrame(dst []byte, a *Addr, mad []byte) ([]byte, error) {
	return appendFrame(dst, a, mad, false)
}

func appendFrame(dst []byte, a *Addr, mad []byte, seal bool) ([]byte, error) {
	if len(mad) != wire.MADSize {
		return dst, fmt.Errorf("agent: build mad frame: %d bytes: %w", len(mad), ErrMADSize)
	}
	vl := uint8(0)
	if a.DestQP == QP0 {
		vl = VL15
	}
	if a.GRH == nil {
		return appendLocalFrame(dst, a, mad, vl, seal), nil
	}
	deth := wire.DETHFields{QKey: a.QKey, SrcQP: a.SrcQP & wire.QPNMask}
	f := wire.PacketFields{
		LRH:     wire.LRHFields{VL: vl, SL: a.SL & 0x0F, DLID: a.DLID, SLID: a.SLID},
		GRH:     a.GRH,
		BTH:     wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: a.PKey, DestQP: a.DestQP & wire.QPNMask},
		DETH:    &deth,
		Payload: mad,
	}
	// Direct calls, not a function value, so f stays on the stack.
	var out []byte
	var err error
	if seal {
		out, err = wire.AppendPacket(dst, &f)
	} else {
		out, err = wire.AppendPacketUnsealed(dst, &f)
	}
	if err != nil {
		return dst, fmt.Errorf("agent: build mad frame: %w", err)
	}
	return out, nil
}

// appendLocalFrame is appendFrame for a frame without a GRH (nearly every
// MAD frame: SMPs always, GMPs within the subnet), written at the fixed
// offsets of its headers instead of through the general packet encoder,
// which an SMA answering at every hop of a large fabric paid for on each
// reply. It yields the bytes wire.AppendPacket (seal) or
// wire.AppendPacketUnsealed would (frame_test.go checks it).
func appendLocalFrame(dst []byte, a *Addr, mad []byte, vl uint8, seal bool) []byte {
	const bthAt, dethAt = wire.LRHSize, wire.LRHSize + wire.BTHSize
	const madAt = dethAt + wire.DETHSize
	start := len(dst)
	dst = slices.Grow(dst, MADFrameLen)[:start+MADFrameLen]
	b := dst[start : start+MADFrameLen : start+MADFrameLen]
	wire.LRH(b[:wire.LRHSize]).Encode(&wire.LRHFields{VL: vl, SL: a.SL & 0x0F, LNH: wire.LNHIBALocal,
		DLID: a.DLID, SLID: a.SLID, PktLen: uint16((MADFrameLen - wire.VCRCSize) / 4)})
	wire.BTH(b[bthAt:dethAt]).Encode(&wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: a.PKey,
		DestQP: a.DestQP & wire.QPNMask})
	wire.DETH(b[dethAt:madAt]).Encode(&wire.DETHFields{QKey: a.QKey, SrcQP: a.SrcQP & wire.QPNMask})
	copy(b[madAt:madAt+wire.MADSize], mad)
	if seal {
		_ = wire.SealPacket(b) // cannot fail: b holds a whole frame
	} else {
		clear(b[madAt+wire.MADSize:])
	}
	return dst
}

// AppendReply appends the frame that answers req with mad, addressed by
// req.Addr.Reply(ownLID).
func AppendReply(dst []byte, req *Frame, ownLID wire.LID, mad []byte) ([]byte, error) {
	a := req.Addr.Reply(ownLID)
	return AppendFrame(dst, &a, mad)
}

// AppendUnsealedReply is AppendReply without the ICRC and VCRC, for
// Port.SendUnsealed.
func AppendUnsealedReply(dst []byte, req *Frame, ownLID wire.LID, mad []byte) ([]byte, error) {
	a := req.Addr.Reply(ownLID)
	return AppendUnsealedFrame(dst, &a, mad)
}
