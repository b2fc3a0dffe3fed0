package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// CRC sizes.
const (
	ICRCSize = 4
	VCRCSize = 2
)

// Errors reported by the CRC checks.
var (
	ErrBadICRC = errors.New("wire: invariant crc mismatch")
	ErrBadVCRC = errors.New("wire: variant crc mismatch")
)

// vcrcTable is the reflected table of the CRC-16 with polynomial 0x100B
// (reflected 0xD008) that the VCRC uses, sixteen tables deep so the table
// code can consume sixteen bytes per step: vcrcTable[k][n] is the CRC
// register after byte n followed by k zero bytes.
var vcrcTable = func() (t [16][256]uint16) {
	for n := 0; n < 256; n++ {
		c := uint16(n)
		for k := 0; k < 8; k++ {
			if c&1 != 0 {
				c = c>>1 ^ 0xD008
			} else {
				c >>= 1
			}
		}
		t[0][n] = c
	}
	for n := 0; n < 256; n++ {
		c := t[0][n]
		for k := 1; k < len(t); k++ {
			c = t[0][c&0xff] ^ c>>8
			t[k][n] = c
		}
	}
	return t
}()

// ComputeVCRC is the CRC-16 of b (init 0xFFFF, final xor 0xFFFF, reflected)
// as the variant CRC uses it: over LRH through ICRC, nothing masked
// (IBTA Vol 1 §7.8.2). On amd64 with PCLMULQDQ, inputs of 64 bytes or more
// are folded with carry-less multiplication (crc_amd64.go).
func ComputeVCRC(b []byte) uint16 {
	c := uint16(0xFFFF)
	if useCLMUL && len(b) >= vcrcMinFold {
		block, rest := vcrcFold(c, b)
		c = vcrcUpdate(0, block[:])
		b = rest
	}
	return vcrcUpdate(c, b) ^ 0xFFFF
}

// vcrcUpdate runs the CRC-16 register c over b (no final xor).
func vcrcUpdate(c uint16, b []byte) uint16 {
	t := &vcrcTable
	for len(b) >= 16 {
		c ^= uint16(b[0]) | uint16(b[1])<<8
		c = t[15][c&0xff] ^ t[14][c>>8] ^ t[13][b[2]] ^ t[12][b[3]] ^
			t[11][b[4]] ^ t[10][b[5]] ^ t[9][b[6]] ^ t[8][b[7]] ^
			t[7][b[8]] ^ t[6][b[9]] ^ t[5][b[10]] ^ t[4][b[11]] ^
			t[3][b[12]] ^ t[2][b[13]] ^ t[1][b[14]] ^ t[0][b[15]]
		b = b[16:]
	}
	for _, x := range b {
		c = t[0][byte(c)^x] ^ c>>8
	}
	return c
}

// icrcMaskMax is the longest header prefix that carries variant fields
// (LRH 8 + GRH 40 + BTH 12).
const icrcMaskMax = LRHSize + GRHSize + BTHSize

// icrcMaskLocal and icrcMaskGlobal are ORed into the headers of a packet
// without and with a GRH: ones over the variant fields (IBTA Vol 1 §7.8.1).
var (
	icrcMaskLocal = [LRHSize + BTHSize]byte{
		0:                   0xF0, // LRH.VL
		LRHSize + bthResv8a: 0xFF,
	}
	icrcMaskGlobal = [icrcMaskMax]byte{
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, // the whole LRH
		0x0F, 0xFF, 0xFF, 0xFF, // GRH TClass (low nibble of byte 0, high of byte 1) and FlowLabel
		LRHSize + grhHopLmt:           0xFF,
		LRHSize + GRHSize + bthResv8a: 0xFF,
	}
)

// ComputeICRC is the invariant CRC of a native InfiniBand packet whose
// transport headers start at an LRH: b runs from the LRH through the pad
// bytes (ICRC and VCRC excluded). Variant fields are taken as all ones:
// LRH.VL when there is no GRH; the whole LRH plus GRH TClass, FlowLabel and
// HopLmt when there is one; and BTH.Resv8a in both cases (IBTA Vol 1
// §7.8.1). It allocates nothing.
func ComputeICRC(b []byte) (uint32, error) {
	if len(b) < LRHSize+BTHSize {
		return 0, fmt.Errorf("wire: icrc: %d bytes is shorter than lrh+bth", len(b))
	}
	var mask []byte
	switch LRH(b).LNH() {
	case LNHIBALocal:
		mask = icrcMaskLocal[:]
	case LNHIBAGlobal:
		if len(b) < icrcMaskMax {
			return 0, fmt.Errorf("wire: icrc: %d bytes is shorter than lrh+grh+bth", len(b))
		}
		mask = icrcMaskGlobal[:]
	default:
		return 0, fmt.Errorf("wire: icrc: raw packet (lnh %d) has no icrc", LRH(b).LNH())
	}
	hdr := b[:len(mask)]
	c := ^uint32(0)
	t := crc32.IEEETable
	for i, x := range hdr {
		c = t[byte(c)^(x|mask[i])] ^ c>>8
	}
	return crc32.Update(^c, crc32.IEEETable, b[len(mask):]), nil
}

// SealPacket fills in the CRCs of a complete native packet frame: frame
// runs from the LRH through the VCRC, and LRH.PktLen must already be
// right. For packets with a transport header (LNH 2 or 3) the ICRC is
// written LSB first in the four bytes before the VCRC; raw packets have
// no ICRC. The VCRC is written LSB first in the last two bytes.
func SealPacket(frame []byte) error {
	if len(frame) < LRHSize+VCRCSize {
		return fmt.Errorf("wire: seal: frame of %d bytes is too short", len(frame))
	}
	if lnh := LRH(frame).LNH(); lnh == LNHIBALocal || lnh == LNHIBAGlobal {
		end := len(frame) - VCRCSize - ICRCSize
		if end < 0 {
			return fmt.Errorf("wire: seal: frame of %d bytes has no room for the icrc", len(frame))
		}
		c, err := ComputeICRC(frame[:end])
		if err != nil {
			return fmt.Errorf("wire: seal: %w", err)
		}
		binary.LittleEndian.PutUint32(frame[end:], c)
	}
	ResealVCRC(frame)
	return nil
}

// ResealVCRC recomputes the VCRC of a frame (after a switch changes LRH.VL,
// say). frame must be at least LRHSize+VCRCSize bytes long.
func ResealVCRC(frame []byte) {
	n := len(frame) - VCRCSize
	binary.LittleEndian.PutUint16(frame[n:], ComputeVCRC(frame[:n]))
}

// CheckVCRC reports whether the last two bytes of frame are its VCRC.
func CheckVCRC(frame []byte) bool {
	if len(frame) < LRHSize+VCRCSize {
		return false
	}
	n := len(frame) - VCRCSize
	return binary.LittleEndian.Uint16(frame[n:]) == ComputeVCRC(frame[:n])
}

// CheckPacket verifies a frame's length against LRH.PktLen, its VCRC and,
// for packets with a transport header, its ICRC.
func CheckPacket(frame []byte) error {
	if len(frame) < LRHSize+VCRCSize {
		return fmt.Errorf("wire: check: frame of %d bytes is too short", len(frame))
	}
	if want := int(LRH(frame).PktLen())*4 + VCRCSize; want != len(frame) {
		return fmt.Errorf("wire: check: lrh pktlen says %d bytes, frame has %d", want, len(frame))
	}
	if !CheckVCRC(frame) {
		return ErrBadVCRC
	}
	if lnh := LRH(frame).LNH(); lnh == LNHIBALocal || lnh == LNHIBAGlobal {
		end := len(frame) - VCRCSize - ICRCSize
		c, err := ComputeICRC(frame[:end])
		if err != nil {
			return fmt.Errorf("wire: check: %w", err)
		}
		if binary.LittleEndian.Uint32(frame[end:]) != c {
			return ErrBadICRC
		}
	}
	return nil
}
