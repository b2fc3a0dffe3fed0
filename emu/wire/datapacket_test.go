package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ibemu/ibemu/emu/wire"
)

// randomDataFields fills every field of a DataFields for op from r,
// including values wider than their wire fields (which both encoders
// truncate alike).
func randomDataFields(r *rand.Rand, op wire.OpCode, payload []byte, global bool) wire.DataFields {
	f := wire.DataFields{
		VL: uint8(r.Uint32()), SL: uint8(r.Uint32()), DLID: wire.LID(r.Uint32()), SLID: wire.LID(r.Uint32()),
		OpCode: op, SE: r.IntN(2) == 0, MigReq: r.IntN(2) == 0, AckReq: r.IntN(2) == 0,
		FECN: r.IntN(2) == 0, BECN: r.IntN(2) == 0, PKey: uint16(r.Uint32()),
		DestQP: r.Uint32(), PSN: r.Uint32(),
		RDETH:        wire.RDETHFields{EECnxt: r.Uint32()},
		DETH:         wire.DETHFields{QKey: r.Uint32(), SrcQP: r.Uint32()},
		RETH:         wire.RETHFields{VA: r.Uint64(), RKey: r.Uint32(), DMALen: r.Uint32()},
		AtomicETH:    wire.AtomicETHFields{VA: r.Uint64(), RKey: r.Uint32(), SwapAdd: r.Uint64(), Compare: r.Uint64()},
		AETH:         wire.AETHFields{Syndrome: wire.AETHSyndrome(r.Uint32()), MSN: r.Uint32()},
		AtomicAckETH: wire.AtomicAckETHFields{OrigRemData: r.Uint64()},
		ImmDt:        r.Uint32(), IETH: r.Uint32(),
	}
	if global {
		f.GRH = &wire.GRHFields{TClass: uint8(r.Uint32()), FlowLabel: r.Uint32() & 0xFFFFF, HopLmt: uint8(r.Uint32()),
			SGID: sgidA, DGID: dgidB}
	}
	if op.HasPayload() {
		f.Payload = payload
	}
	return f
}

// checkSameFrame encodes f with both encoders, sealed and unsealed, after
// a prefix in dst, and fails unless the frames are identical and the
// prefix is kept.
func checkSameFrame(t *testing.T, f *wire.DataFields) {
	t.Helper()
	prefix := []byte{0xAA, 0xBB, 0xCC}
	pf := f.Fields()
	for _, sealed := range []bool{false, true} {
		enc, gen := wire.AppendDataUnsealed, wire.AppendPacketUnsealed
		if sealed {
			enc, gen = wire.AppendData, wire.AppendPacket
		}
		got, err := enc(append([]byte(nil), prefix...), f)
		if err != nil {
			t.Fatalf("%v sealed=%v: %v", f.OpCode, sealed, err)
		}
		want, err := gen(append([]byte(nil), prefix...), &pf)
		if err != nil {
			t.Fatalf("%v sealed=%v: generic encoder: %v", f.OpCode, sealed, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%v sealed=%v payload %d grh %v:\n got %x\nwant %x", f.OpCode, sealed, len(f.Payload), f.GRH != nil, got, want)
		}
		if sealed {
			if err := wire.CheckPacket(got[len(prefix):]); err != nil {
				t.Fatalf("%v: sealed frame fails CheckPacket: %v", f.OpCode, err)
			}
		}
		if n := f.HeaderLen(); n+len(f.Payload) > len(got)-len(prefix) || !bytes.Equal(got[len(prefix)+n:][:len(f.Payload)], f.Payload) {
			t.Fatalf("%v: HeaderLen %d does not locate the payload", f.OpCode, n)
		}
	}
}

// TestAppendDataMatchesAppendPacket: for every Defined opcode, with and
// without a GRH, every pad count and a full 4 KiB payload, the data-path
// encoder writes the bytes of the generic one.
func TestAppendDataMatchesAppendPacket(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 7))
	big := make([]byte, 4096)
	for i := range big {
		big[i] = byte(i*7 + 1)
	}
	n := 0
	for o := range 256 {
		op := wire.OpCode(o)
		if !op.Defined() {
			continue
		}
		for _, global := range []bool{false, true} {
			for _, plen := range []int{0, 1, 2, 3, 4, 5, 8, 4096} {
				f := randomDataFields(r, op, big[:plen], global)
				checkSameFrame(t, &f)
				n++
			}
		}
	}
	if n < 500 {
		t.Fatalf("only %d cases ran", n)
	}
}

// TestAppendDataRCSendBytes pins the bytes of an 8-byte RC SEND ONLY
// (IBTA Vol 1 §7.7 LRH, §9.2 BTH), the message-rate benchmark's packet,
// independently of the generic encoder.
func TestAppendDataRCSendBytes(t *testing.T) {
	f := wire.DataFields{VL: 0, SL: 0, DLID: 2, SLID: 1, OpCode: wire.OpRCSendOnly, AckReq: true,
		PKey: 0xFFFF, DestQP: 0x49, PSN: 0x123456, Payload: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	got, err := wire.AppendDataUnsealed(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
		00 02 0002 | 0008 0001
		04 00 ffff | 00 000049 | 80 123456
		0102030405060708
		00000000 | 0000`)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	if n := f.HeaderLen(); n != wire.LRHSize+wire.BTHSize {
		t.Fatalf("HeaderLen %d", n)
	}
}

func TestAppendDataErrors(t *testing.T) {
	var undefined wire.OpCode
	for o := range 256 {
		if !wire.OpCode(o).Defined() {
			undefined = wire.OpCode(o)
			break
		}
	}
	cases := []struct {
		name string
		f    wire.DataFields
		want error
	}{
		{"undefined opcode", wire.DataFields{OpCode: undefined}, wire.ErrUnsupportedOpCode},
		{"payload on an ack", wire.DataFields{OpCode: wire.OpRCAcknowledge, Payload: []byte{1}}, wire.ErrMalformedPacket},
		{"payload on a read request", wire.DataFields{OpCode: wire.OpRCRDMAReadRequest, Payload: make([]byte, 4)}, wire.ErrMalformedPacket},
		{"too long", wire.DataFields{OpCode: wire.OpRCSendOnly, Payload: make([]byte, wire.MaxPacketSize)}, wire.ErrPacketTooLong},
	}
	for _, tc := range cases {
		dst := []byte{1, 2}
		for _, enc := range []func([]byte, *wire.DataFields) ([]byte, error){wire.AppendData, wire.AppendDataUnsealed} {
			out, err := enc(dst, &tc.f)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
			}
			if !bytes.Equal(out, []byte{1, 2}) {
				t.Errorf("%s: dst changed to %x", tc.name, out)
			}
		}
	}
	if n := (&wire.DataFields{OpCode: undefined}).HeaderLen(); n != 0 {
		t.Errorf("HeaderLen of an undefined opcode: %d", n)
	}
}

func TestAppendDataNoAlloc(t *testing.T) {
	buf := make([]byte, 0, 4200)
	f := wire.DataFields{DLID: 2, SLID: 1, OpCode: wire.OpRCRDMAWriteFirst, PKey: 0xFFFF, DestQP: 0x49,
		RETH: wire.RETHFields{VA: 1, RKey: 2, DMALen: 4096}, Payload: make([]byte, 4096)}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := wire.AppendDataUnsealed(buf[:0], &f); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
	// Without room, dst grows once.
	small := make([]byte, 1, 8)
	out, err := wire.AppendDataUnsealed(small, &f)
	if err != nil || len(out) != 1+f.HeaderLen()+4096+wire.ICRCSize+wire.VCRCSize {
		t.Fatalf("grown frame: len %d, err %v", len(out), err)
	}
}

// TestPacketDecodeInPlace: Decode into a Packet that held another packet
// gives what ParsePacket gives, and a failed Decode leaves it zero.
func TestPacketDecodeInPlace(t *testing.T) {
	var p wire.Packet
	prev := allOpcodeFields(wire.OpRCRDMAWriteFirst, make([]byte, 64), true)
	fr, err := wire.EncodePacket(&prev)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Decode(fr); err != nil {
		t.Fatal(err)
	}
	for o := range 256 {
		op := wire.OpCode(o)
		if !op.Defined() {
			continue
		}
		pf := allOpcodeFields(op, []byte{9, 8, 7}, o%3 == 0)
		frame, err := wire.EncodePacket(&pf)
		if err != nil {
			t.Fatal(err)
		}
		want, err := wire.ParsePacket(frame)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Decode(frame); err != nil {
			t.Fatalf("%v: %v", op, err)
		}
		if diff := cmp.Diff(want, p, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("%v: Decode differs from ParsePacket (-want +got):\n%s", op, diff)
		}
		if (want.GRH == nil) != (p.GRH == nil) || (want.RETH == nil) != (p.RETH == nil) || (want.AETH == nil) != (p.AETH == nil) {
			t.Fatalf("%v: header presence differs", op)
		}
	}
	bad := append([]byte(nil), fr...)
	binary.BigEndian.PutUint16(bad[4:], 3) // PktLen disagrees with the frame
	if err := p.Decode(bad); !errors.Is(err, wire.ErrPacketLength) {
		t.Fatalf("bad pktlen: %v", err)
	}
	if diff := cmp.Diff(wire.Packet{}, p); diff != "" {
		t.Fatalf("failed Decode left views behind:\n%s", diff)
	}
}

// FuzzAppendData derives a DataFields from the fuzz input and checks that
// the data-path encoder agrees with the generic one and that its frame
// parses back to the same fields.
func FuzzAppendData(f *testing.F) {
	f.Add(uint8(wire.OpRCSendOnly), uint64(1), uint16(8), false)
	f.Add(uint8(wire.OpRCAcknowledge), uint64(2), uint16(0), false)
	f.Add(uint8(wire.OpUDSendOnlyImm), uint64(3), uint16(3), true)
	f.Add(uint8(wire.OpRCCompareSwap), uint64(4), uint16(0), false)
	f.Add(uint8(0xFF), uint64(5), uint16(4097), true)
	payload := make([]byte, wire.MaxPacketSize)
	f.Fuzz(func(t *testing.T, op uint8, seed uint64, plen uint16, global bool) {
		r := rand.New(rand.NewPCG(seed, uint64(op)))
		fl := randomDataFields(r, wire.OpCode(op), payload[:int(plen)%len(payload)], global)
		fl.Payload = payload[:int(plen)%len(payload)] // also on opcodes without payload
		got, err := wire.AppendData(nil, &fl)
		pf := fl.Fields()
		want, gerr := wire.AppendPacket(nil, &pf)
		if (err == nil) != (gerr == nil) {
			t.Fatalf("%v: data encoder err %v, generic %v", fl.OpCode, err, gerr)
		}
		if err != nil {
			if got != nil {
				t.Fatalf("failed encode returned %x", got)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%v: frames differ:\n got %x\nwant %x", fl.OpCode, got, want)
		}
		p, err := wire.ParsePacket(got)
		if err != nil {
			t.Fatalf("%v: encoded frame does not parse: %v", fl.OpCode, err)
		}
		if p.BTH.OpCode() != fl.OpCode || p.BTH.PSN() != fl.PSN&wire.PSNMask || !bytes.Equal(p.Payload, fl.Payload) {
			t.Fatalf("%v: parsed back differently", fl.OpCode)
		}
	})
}

func benchEncode8B(b *testing.B, data bool) {
	buf := make([]byte, 0, 128)
	payload := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if data {
			f := wire.DataFields{SL: 0, DLID: 2, SLID: 1, OpCode: wire.OpRCSendOnly, PKey: 0xFFFF, DestQP: 0x49, PSN: 7, Payload: payload}
			_, err = wire.AppendDataUnsealed(buf[:0], &f)
		} else {
			f := wire.PacketFields{LRH: wire.LRHFields{DLID: 2, SLID: 1},
				BTH: wire.BTHFields{OpCode: wire.OpRCSendOnly, PKey: 0xFFFF, DestQP: 0x49, PSN: 7}, Payload: payload}
			_, err = wire.AppendPacketUnsealed(buf[:0], &f)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeRCSend8B compares the data-path encoder with the generic
// one on the message-rate benchmark's packet.
func BenchmarkEncodeRCSend8B(b *testing.B) {
	b.Run("data", func(b *testing.B) { benchEncode8B(b, true) })
	b.Run("generic", func(b *testing.B) { benchEncode8B(b, false) })
}

// BenchmarkDecodeRCSend8B compares decoding the message-rate benchmark's
// packet in place (Packet.Decode, what a device's receive path does)
// with copying the Packet ParsePacket returns into a kept one.
func BenchmarkDecodeRCSend8B(b *testing.B) {
	f := wire.DataFields{DLID: 2, SLID: 1, OpCode: wire.OpRCSendOnly, PKey: 0xFFFF, DestQP: 0x49, PSN: 7,
		Payload: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	frame, err := wire.AppendData(nil, &f)
	if err != nil {
		b.Fatal(err)
	}
	var kept wire.Packet
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := kept.Decode(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse+copy", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if kept, err = wire.ParsePacket(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}
