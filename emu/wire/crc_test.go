package wire_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// bitwiseVCRC is the CRC-16 of the VCRC computed one bit at a time from
// its definition (capture.md: polynomial 0x100B reflected to 0xD008, init
// and final xor 0xFFFF): the reference for the table-driven ComputeVCRC.
func bitwiseVCRC(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c ^= uint16(x)
		for k := 0; k < 8; k++ {
			if c&1 != 0 {
				c = c>>1 ^ 0xD008
			} else {
				c >>= 1
			}
		}
	}
	return c ^ 0xFFFF
}

func TestVCRCCheckValue(t *testing.T) {
	// The CRC catalogue check value: CRC of the ASCII string "123456789".
	if got := wire.ComputeVCRC([]byte("123456789")); got != 0x0A3D {
		t.Errorf("ComputeVCRC(\"123456789\") = %#04x, want 0x0a3d", got)
	}
	if got := bitwiseVCRC([]byte("123456789")); got != 0x0A3D {
		t.Errorf("bitwiseVCRC(\"123456789\") = %#04x, want 0x0a3d", got)
	}
}

// TestVCRCMatchesBitwise compares ComputeVCRC with the bitwise definition
// at every length up to 300 and a few large ones, so that each tail and
// block path of the table code is covered.
func TestVCRCMatchesBitwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 9010)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	lengths := []int{4095, 4096, 4097, 8190, 9000}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		for _, off := range []int{0, 1, 3} {
			b := buf[off : off+n]
			if got, want := wire.ComputeVCRC(b), bitwiseVCRC(b); got != want {
				t.Fatalf("ComputeVCRC(len %d, offset %d) = %#04x, want %#04x", len(b), off, got, want)
			}
		}
	}
}

// TestICRCKnownPackets checks the ICRC of the fixtures (values confirmed by
// tshark with ibcrc.lua) and that it equals the IEEE CRC-32 of the frame
// with the variant fields replaced by ones, built here byte by byte.
func TestICRCKnownPackets(t *testing.T) {
	want := map[string]uint32{
		"trap 128 SMP on QP0": 0x8c0e0bca,
		"RC RDMA WRITE Only with Immediate, GRH, 3 pad bytes": 0xd8428c86,
		"RC ACKNOWLEDGE, NAK remote access error":             0xb91b27bf,
	}
	for _, tc := range packetFixtures {
		w, ok := want[tc.name]
		if !ok {
			continue
		}
		frame := unhex(t, tc.frame)
		body := frame[:len(frame)-6]
		got, err := wire.ComputeICRC(body)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != w {
			t.Errorf("%s: ComputeICRC = %#08x, want %#08x", tc.name, got, w)
		}
		// Mask per IBTA Vol 1 §7.8.1 as restated in capture.md.
		m := append([]byte(nil), body...)
		bth := 8
		if m[1]&3 == 3 {
			for i := 0; i < 8; i++ {
				m[i] = 0xFF
			}
			m[8] |= 0x0F
			m[9], m[10], m[11], m[15] = 0xFF, 0xFF, 0xFF, 0xFF
			bth = 48
		} else {
			m[0] |= 0xF0
		}
		m[bth+4] = 0xFF
		if ref := crc32.ChecksumIEEE(m); ref != got {
			t.Errorf("%s: ComputeICRC = %#08x, masked CRC-32 = %#08x", tc.name, got, ref)
		}
		if stored := binary.LittleEndian.Uint32(frame[len(frame)-6:]); stored != w {
			t.Errorf("%s: fixture carries ICRC %#08x, want %#08x", tc.name, stored, w)
		}
	}
}

func TestComputeICRCErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short", make([]byte, 19)},
		{"raw", []byte{0, 0, 0, 1, 0, 5, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"global too short", append([]byte{0, 3}, make([]byte, 40)...)},
	} {
		if _, err := wire.ComputeICRC(tc.b); err == nil {
			t.Errorf("%s: ComputeICRC succeeded", tc.name)
		}
	}
}

func TestCheckPacketErrors(t *testing.T) {
	good := unhex(t, packetFixtures[2].frame)
	bad := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	if err := wire.CheckPacket(good); err != nil {
		t.Fatalf("CheckPacket(good) = %v", err)
	}
	if err := wire.CheckPacket(bad(func(b []byte) { b[len(b)-1] ^= 1 })); !errors.Is(err, wire.ErrBadVCRC) {
		t.Errorf("flipped VCRC: %v", err)
	}
	if err := wire.CheckPacket(bad(func(b []byte) { b[20] ^= 1; wire.ResealVCRC(b) })); !errors.Is(err, wire.ErrBadICRC) {
		t.Errorf("flipped AETH bit: %v", err)
	}
	if err := wire.CheckPacket(good[:len(good)-4]); err == nil {
		t.Errorf("short frame passed")
	}
}

func FuzzICRC(f *testing.F) {
	for _, tc := range packetFixtures {
		f.Add(unhex(f, tc.frame))
	}
	f.Add([]byte{})
	f.Add(make([]byte, 20))
	f.Add(append([]byte{0xF0, 0x03}, make([]byte, 58)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		wire.ComputeVCRC(b)
		_, _ = wire.ComputeICRC(b)
		_ = wire.CheckVCRC(b)
		_ = wire.CheckPacket(b)
		frame := append([]byte(nil), b...)
		if err := wire.SealPacket(frame); err == nil {
			// A sealed frame's CRCs are right whatever PktLen says.
			if !wire.CheckVCRC(frame) {
				t.Fatalf("SealPacket left a bad VCRC: %x", frame)
			}
			if err := wire.CheckPacket(frame); errors.Is(err, wire.ErrBadICRC) || errors.Is(err, wire.ErrBadVCRC) {
				t.Fatalf("SealPacket then CheckPacket: %v", err)
			}
		}
	})
}

func BenchmarkComputeVCRC(b *testing.B) {
	for _, n := range []int{30, 64, 128, 290, 4096 + 34} {
		buf := make([]byte, n)
		for i := range buf {
			buf[i] = byte(i)
		}
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				wire.ComputeVCRC(buf)
			}
		})
	}
}

func BenchmarkComputeICRC4096(b *testing.B) {
	f := wire.PacketFields{BTH: wire.BTHFields{OpCode: wire.OpRCSendMiddle}, Payload: make([]byte, 4096)}
	frame, err := wire.EncodePacket(&f)
	if err != nil {
		b.Fatal(err)
	}
	body := frame[:len(frame)-6]
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := wire.ComputeICRC(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealPacket4096 seals a frame with a 4096-byte payload (ICRC and
// VCRC over 4118 bytes): the per-packet CRC cost at the largest IB MTU.
func BenchmarkSealPacket4096(b *testing.B) {
	f := wire.PacketFields{
		LRH:     wire.LRHFields{DLID: 1, SLID: 2},
		BTH:     wire.BTHFields{OpCode: wire.OpRCRDMAWriteMiddle, PKey: 0xFFFF, DestQP: 0x42, PSN: 1},
		Payload: make([]byte, 4096),
	}
	frame, err := wire.EncodePacket(&f)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := wire.SealPacket(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResealVCRC4096 is the per-hop cost of a switch that rewrites
// LRH.VL: only the VCRC is recomputed.
func BenchmarkResealVCRC4096(b *testing.B) {
	frame := make([]byte, 4096+28)
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		wire.ResealVCRC(frame)
	}
}
