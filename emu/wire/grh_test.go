package wire_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ibemu/ibemu/emu/wire"
)

func TestGRHRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		f    wire.GRHFields
	}{
		{"zero", wire.GRHFields{}},
		{"typical", wire.GRHFields{IPVer: 6, TClass: 0x20, FlowLabel: 0xABCDE, PayLen: 44,
			NxtHdr: 0x1B, HopLmt: 0xFF, SGID: sgidA, DGID: dgidB}},
		{"all ones", wire.GRHFields{IPVer: 0xF, TClass: 0xFF, FlowLabel: 0xFFFFF, PayLen: 0xFFFF,
			NxtHdr: 0xFF, HopLmt: 0xFF, SGID: wire.GID{0: 0xFF, 15: 0xFF}, DGID: mgidIPoIB}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := make(wire.GRH, wire.GRHSize)
			b.Encode(&tc.f)
			if diff := cmp.Diff(tc.f, b.Fields()); diff != "" {
				t.Errorf("Fields() after Encode mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGRHKnownBytes(t *testing.T) {
	// The GRH of packetFixtures[1]: IPVer 6, TClass 0x20, FlowLabel 0xABCDE,
	// PayLen 44, NxtHdr 0x1B, HopLmt 255 (IBTA Vol 1 §8.3 layout).
	b := unhex(t, "620abcde 002c1bff fe800000000000000002c90300012345 fe800000000000000002c90300012346")
	g, err := wire.ParseGRH(b)
	if err != nil {
		t.Fatal(err)
	}
	want := wire.GRHFields{IPVer: 6, TClass: 0x20, FlowLabel: 0xABCDE, PayLen: 44, NxtHdr: 0x1B,
		HopLmt: 0xFF, SGID: sgidA, DGID: dgidB}
	if diff := cmp.Diff(want, g.Fields()); diff != "" {
		t.Errorf("Fields() mismatch (-want +got):\n%s", diff)
	}
	enc := make(wire.GRH, wire.GRHSize)
	enc.Encode(&want)
	if diff := cmp.Diff(b, []byte(enc)); diff != "" {
		t.Errorf("Encode mismatch (-want +got):\n%s", diff)
	}
}

func TestGRHSetters(t *testing.T) {
	f := wire.GRHFields{IPVer: 6, TClass: 0x11, FlowLabel: 0x22222, PayLen: 3, NxtHdr: 0x1B, HopLmt: 4,
		SGID: sgidA, DGID: dgidB}
	b := make(wire.GRH, wire.GRHSize)
	b.Encode(&f)
	b.SetTClass(0xEE)
	b.SetFlowLabel(0xFFABCDE) // high bits beyond 20 are dropped
	b.SetPayLen(1000)
	b.SetNxtHdr(0x3B)
	b.SetHopLmt(9)
	b.SetSGID(dgidB)
	b.SetDGID(sgidA)
	want := wire.GRHFields{IPVer: 6, TClass: 0xEE, FlowLabel: 0xABCDE, PayLen: 1000, NxtHdr: 0x3B, HopLmt: 9,
		SGID: dgidB, DGID: sgidA}
	if diff := cmp.Diff(want, b.Fields()); diff != "" {
		t.Errorf("after setters (-want +got):\n%s", diff)
	}
}

func TestParseGRHErrors(t *testing.T) {
	if _, err := wire.ParseGRH(make([]byte, 39)); !errors.Is(err, wire.ErrPacketTruncated) ||
		err.Error() != "wire: packet truncated: grh needs 40 bytes, have 39" {
		t.Errorf("short: %v", err)
	}
	b := make([]byte, 48)
	b[0] = 0x40
	if _, err := wire.ParseGRH(b); !errors.Is(err, wire.ErrMalformedPacket) ||
		err.Error() != "wire: malformed packet: grh ip version 4, want 6" {
		t.Errorf("ipv4: %v", err)
	}
	b[0] = 0x60
	g, err := wire.ParseGRH(b)
	if err != nil || len(g) != wire.GRHSize || cap(g) != wire.GRHSize || !g.IsValid() {
		t.Errorf("ParseGRH = len %d cap %d, %v", len(g), cap(g), err)
	}
	if wire.GRH(b[:39]).IsValid() {
		t.Errorf("39 bytes IsValid")
	}
}

func FuzzParseGRH(f *testing.F) {
	f.Add(unhex(f, "620abcde 002c1bff fe800000000000000002c90300012345 fe800000000000000002c90300012346"))
	f.Add([]byte{0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := wire.ParseGRH(b)
		if err != nil {
			return
		}
		fields := g.Fields()
		out := make(wire.GRH, wire.GRHSize)
		out.Encode(&fields)
		if diff := cmp.Diff([]byte(g), []byte(out)); diff != "" {
			t.Fatalf("re-encode mismatch (-want +got):\n%s", diff)
		}
	})
}
