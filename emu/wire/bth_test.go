package wire_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ibemu/ibemu/emu/wire"
)

func TestBTHRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    wire.BTHFields
	}{
		{"zero", wire.BTHFields{}},
		{"smp", wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: 0xFFFF}},
		{"rc write", wire.BTHFields{OpCode: wire.OpRCRDMAWriteOnlyImm, SE: true, PadCnt: 3, PKey: 0xFFFF,
			DestQP: 0x123456, AckReq: true, PSN: 0xABCDEF}},
		{"every flag", wire.BTHFields{OpCode: 0xFF, SE: true, MigReq: true, PadCnt: 3, TVer: 0xF, PKey: 0xFFFF,
			FECN: true, BECN: true, DestQP: 0xFFFFFF, AckReq: true, PSN: 0xFFFFFF}},
		{"fecn only", wire.BTHFields{OpCode: wire.OpRCSendMiddle, FECN: true, PSN: 1}},
		{"becn only", wire.BTHFields{OpCode: wire.OpRCAcknowledge, BECN: true, DestQP: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := make(wire.BTH, wire.BTHSize)
			b.Encode(&tc.f)
			if diff := cmp.Diff(tc.f, b.Fields()); diff != "" {
				t.Errorf("Fields() after Encode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBTHKnownBytes(t *testing.T) {
	tests := []struct {
		name  string
		bytes string
		want  wire.BTHFields
	}{
		// The BTH of the ibsim trap 128 SMP (packetFixtures[0]): UD SEND
		// Only to QP0 with the default P_Key (IBTA Vol 1 §9.2 layout).
		{"trap smp", "6400ffff 00000000 00000000",
			wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: 0xFFFF}},
		// packetFixtures[1]: opcode 0x0B, SE, PadCnt 3, QP 0x123456, A, PSN 0xABCDEF.
		{"rc write imm", "0bb0ffff 00123456 80abcdef",
			wire.BTHFields{OpCode: wire.OpRCRDMAWriteOnlyImm, SE: true, PadCnt: 3, PKey: 0xFFFF,
				DestQP: 0x123456, AckReq: true, PSN: 0xABCDEF}},
		// Byte 4 bit 7 is FECN and bit 6 BECN (IBTA Vol 1 Annex A10).
		{"fecn becn", "0d4f8001 c0000001 00000002",
			wire.BTHFields{OpCode: wire.OpRCRDMAReadResponseFirst, MigReq: true, TVer: 0xF, PKey: 0x8001,
				FECN: true, BECN: true, DestQP: 1, PSN: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.bytes)
			v, err := wire.ParseBTH(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, v.Fields()); diff != "" {
				t.Errorf("Fields() mismatch (-want +got):\n%s", diff)
			}
			enc := make(wire.BTH, wire.BTHSize)
			enc.Encode(&tc.want)
			if diff := cmp.Diff(b, []byte(enc)); diff != "" {
				t.Errorf("Encode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBTHSetters checks that each setter changes its field alone, keeps
// neighbouring bits and masks values that are too wide.
func TestBTHSetters(t *testing.T) {
	all := wire.BTHFields{OpCode: 0x55, SE: true, MigReq: true, PadCnt: 2, TVer: 5, PKey: 0x1234,
		FECN: true, BECN: true, DestQP: 0xABCDEF, AckReq: true, PSN: 0x654321}
	tests := []struct {
		name string
		set  func(wire.BTH)
		want func(*wire.BTHFields)
	}{
		{"opcode", func(b wire.BTH) { b.SetOpCode(wire.OpRCSendOnly) }, func(f *wire.BTHFields) { f.OpCode = wire.OpRCSendOnly }},
		{"se", func(b wire.BTH) { b.SetSE(false) }, func(f *wire.BTHFields) { f.SE = false }},
		{"migreq", func(b wire.BTH) { b.SetMigReq(false) }, func(f *wire.BTHFields) { f.MigReq = false }},
		{"padcnt", func(b wire.BTH) { b.SetPadCnt(7) }, func(f *wire.BTHFields) { f.PadCnt = 3 }},
		{"tver", func(b wire.BTH) { b.SetTVer(0x1F) }, func(f *wire.BTHFields) { f.TVer = 0xF }},
		{"pkey", func(b wire.BTH) { b.SetPKey(0x7FFF) }, func(f *wire.BTHFields) { f.PKey = 0x7FFF }},
		{"fecn", func(b wire.BTH) { b.SetFECN(false) }, func(f *wire.BTHFields) { f.FECN = false }},
		{"becn", func(b wire.BTH) { b.SetBECN(false) }, func(f *wire.BTHFields) { f.BECN = false }},
		{"destqp", func(b wire.BTH) { b.SetDestQP(0xFF000001) }, func(f *wire.BTHFields) { f.DestQP = 1 }},
		{"ackreq", func(b wire.BTH) { b.SetAckReq(false) }, func(f *wire.BTHFields) { f.AckReq = false }},
		{"psn", func(b wire.BTH) { b.SetPSN(0x1000000) }, func(f *wire.BTHFields) { f.PSN = 0 }},
		{"psn wraps", func(b wire.BTH) { b.SetPSN(b.PSN() + 0xABCDEF) }, func(f *wire.BTHFields) { f.PSN = 0x654321 + 0xABCDEF - 0x1000000 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := make(wire.BTH, wire.BTHSize)
			b.Encode(&all)
			tc.set(b)
			want := all
			tc.want(&want)
			if diff := cmp.Diff(want, b.Fields()); diff != "" {
				t.Errorf("after setter (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBTHErrors(t *testing.T) {
	_, err := wire.ParseBTH(make([]byte, 11))
	if !errors.Is(err, wire.ErrPacketTruncated) || err.Error() != "wire: packet truncated: bth needs 12 bytes, have 11" {
		t.Errorf("ParseBTH(11 bytes) = %v", err)
	}
	b, err := wire.ParseBTH(make([]byte, 20))
	if err != nil || len(b) != wire.BTHSize || cap(b) != wire.BTHSize || !b.IsValid() {
		t.Errorf("ParseBTH(20 bytes) = len %d cap %d, %v", len(b), cap(b), err)
	}
}

func FuzzParseBTH(f *testing.F) {
	f.Add(unhex(f, "6400ffff 00000000 00000000"))
	f.Add(unhex(f, "0bb0ffff 00123456 80abcdef"))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.ParseBTH(b)
		if err != nil {
			return
		}
		fields := v.Fields()
		out := make(wire.BTH, wire.BTHSize)
		out.Encode(&fields)
		// Re-encoding drops only the reserved bits (Resv6 and Resv7).
		want := append([]byte(nil), v...)
		want[4] &^= 0x3F
		want[8] &^= 0x7F
		if diff := cmp.Diff(want, []byte(out)); diff != "" {
			t.Fatalf("re-encode mismatch (-want +got):\n%s", diff)
		}
		_ = v.OpCode().String()
		_ = v.OpCode().ExtHeaders().String()
	})
}
