package wire_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ibemu/ibemu/emu/wire"
)

// extCase drives one extended header through Encode, Fields, the Parse
// function and the known bytes of the IBTA Vol 1 §9.3 layout.
type extCase struct {
	name   string
	size   int
	bytes  string                              // hex of the header below
	fields any                                 // what bytes decode to
	decode func(b []byte) (any, error)         // Parse + Fields
	encode func(b []byte, f any)               // Encode
	valid  func(b []byte) bool                 // IsValid
	errMsg string                              // Parse error text for size-1 bytes
	extra  func(t *testing.T, b []byte, f any) // setters, where the header has them
}

func extCases() []extCase {
	return []extCase{
		{
			name: "rdeth", size: wire.RDETHSize,
			bytes:  "00 0a0b0c", // reserved, EECnxt
			fields: wire.RDETHFields{EECnxt: 0x0a0b0c},
			decode: func(b []byte) (any, error) { v, err := wire.ParseRDETH(b); return fieldsOr(v, err, v.Fields) },
			encode: func(b []byte, f any) { x := f.(wire.RDETHFields); wire.RDETH(b).Encode(&x) },
			valid:  func(b []byte) bool { return wire.RDETH(b).IsValid() },
			errMsg: "wire: packet truncated: rdeth needs 4 bytes, have 3",
			extra: func(t *testing.T, b []byte, _ any) {
				wire.RDETH(b).SetEECnxt(0xFF123456)
				if got := wire.RDETH(b).EECnxt(); got != 0x123456 || b[0] != 0 {
					t.Errorf("SetEECnxt: %#x, reserved %#x", got, b[0])
				}
			},
		},
		{
			name: "deth", size: wire.DETHSize,
			bytes:  "80010000 00 000001", // the well-known GSI Q_Key 0x80010000, sent from QP1
			fields: wire.DETHFields{QKey: 0x80010000, SrcQP: 1},
			decode: func(b []byte) (any, error) { v, err := wire.ParseDETH(b); return fieldsOr(v, err, v.Fields) },
			encode: func(b []byte, f any) { x := f.(wire.DETHFields); wire.DETH(b).Encode(&x) },
			valid:  func(b []byte) bool { return wire.DETH(b).IsValid() },
			errMsg: "wire: packet truncated: deth needs 8 bytes, have 7",
			extra: func(t *testing.T, b []byte, _ any) {
				d := wire.DETH(b)
				d.SetQKey(0x11223344)
				d.SetSrcQP(0x1ABCDEF)
				if d.QKey() != 0x11223344 || d.SrcQP() != 0xABCDEF || b[4] != 0 {
					t.Errorf("DETH setters: %x", b)
				}
			},
		},
		{
			name: "reth", size: wire.RETHSize,
			bytes:  "00007f0012345678 1234abcd 00001000",
			fields: wire.RETHFields{VA: 0x00007f0012345678, RKey: 0x1234abcd, DMALen: 4096},
			decode: func(b []byte) (any, error) { v, err := wire.ParseRETH(b); return fieldsOr(v, err, v.Fields) },
			encode: func(b []byte, f any) { x := f.(wire.RETHFields); wire.RETH(b).Encode(&x) },
			valid:  func(b []byte) bool { return wire.RETH(b).IsValid() },
			errMsg: "wire: packet truncated: reth needs 16 bytes, have 15",
			extra: func(t *testing.T, b []byte, _ any) {
				r := wire.RETH(b)
				r.SetVA(1)
				r.SetRKey(2)
				r.SetDMALen(3)
				if diff := cmp.Diff(wire.RETHFields{VA: 1, RKey: 2, DMALen: 3}, r.Fields()); diff != "" {
					t.Errorf("RETH setters (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "atomiceth", size: wire.AtomicETHSize,
			bytes:  "0000000000001000 00000077 1111111122222222 3333333344444444",
			fields: wire.AtomicETHFields{VA: 0x1000, RKey: 0x77, SwapAdd: 0x1111111122222222, Compare: 0x3333333344444444},
			decode: func(b []byte) (any, error) { v, err := wire.ParseAtomicETH(b); return fieldsOr(v, err, v.Fields) },
			encode: func(b []byte, f any) { x := f.(wire.AtomicETHFields); wire.AtomicETH(b).Encode(&x) },
			valid:  func(b []byte) bool { return wire.AtomicETH(b).IsValid() },
			errMsg: "wire: packet truncated: atomiceth needs 28 bytes, have 27",
			extra: func(t *testing.T, b []byte, _ any) {
				a := wire.AtomicETH(b)
				a.SetVA(8)
				a.SetRKey(9)
				a.SetSwapAdd(10)
				a.SetCompare(11)
				if diff := cmp.Diff(wire.AtomicETHFields{VA: 8, RKey: 9, SwapAdd: 10, Compare: 11}, a.Fields()); diff != "" {
					t.Errorf("AtomicETH setters (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "aeth", size: wire.AETHSize,
			bytes:  "62 000042", // NAK remote access error, MSN 0x42
			fields: wire.AETHFields{Syndrome: wire.NAKSyndrome(wire.NAKRemoteAccessError), MSN: 0x42},
			decode: func(b []byte) (any, error) { v, err := wire.ParseAETH(b); return fieldsOr(v, err, v.Fields) },
			encode: func(b []byte, f any) { x := f.(wire.AETHFields); wire.AETH(b).Encode(&x) },
			valid:  func(b []byte) bool { return wire.AETH(b).IsValid() },
			errMsg: "wire: packet truncated: aeth needs 4 bytes, have 3",
			extra: func(t *testing.T, b []byte, _ any) {
				a := wire.AETH(b)
				a.SetSyndrome(wire.ACKSyndrome(8))
				a.SetMSN(0x1FFFFFF)
				if a.Syndrome() != 0x08 || a.MSN() != 0xFFFFFF {
					t.Errorf("AETH setters: %x", b)
				}
			},
		},
		{
			name: "atomicacketh", size: wire.AtomicAckETHSize,
			bytes:  "3333333344444444",
			fields: wire.AtomicAckETHFields{OrigRemData: 0x3333333344444444},
			decode: func(b []byte) (any, error) {
				v, err := wire.ParseAtomicAckETH(b)
				return fieldsOr(v, err, v.Fields)
			},
			encode: func(b []byte, f any) { x := f.(wire.AtomicAckETHFields); wire.AtomicAckETH(b).Encode(&x) },
			valid:  func(b []byte) bool { return wire.AtomicAckETH(b).IsValid() },
			errMsg: "wire: packet truncated: atomicacketh needs 8 bytes, have 7",
			extra: func(t *testing.T, b []byte, _ any) {
				wire.AtomicAckETH(b).SetOrigRemData(5)
				if wire.AtomicAckETH(b).OrigRemData() != 5 {
					t.Errorf("SetOrigRemData: %x", b)
				}
			},
		},
		{
			name: "immdt", size: wire.ImmDtSize,
			bytes:  "deadbeef",
			fields: uint32(0xdeadbeef),
			decode: func(b []byte) (any, error) { v, err := wire.ParseImmDt(b); return fieldsOr(v, err, v.Data) },
			encode: func(b []byte, f any) { wire.ImmDt(b).SetData(f.(uint32)) },
			valid:  func(b []byte) bool { return wire.ImmDt(b).IsValid() },
			errMsg: "wire: packet truncated: immdt needs 4 bytes, have 3",
		},
		{
			name: "ieth", size: wire.IETHSize,
			bytes:  "cafef00d",
			fields: uint32(0xcafef00d),
			decode: func(b []byte) (any, error) { v, err := wire.ParseIETH(b); return fieldsOr(v, err, v.RKey) },
			encode: func(b []byte, f any) { wire.IETH(b).SetRKey(f.(uint32)) },
			valid:  func(b []byte) bool { return wire.IETH(b).IsValid() },
			errMsg: "wire: packet truncated: ieth needs 4 bytes, have 3",
		},
	}
}

// fieldsOr calls get when err is nil.
func fieldsOr[V any, F any](_ V, err error, get func() F) (any, error) {
	if err != nil {
		return nil, err
	}
	return get(), nil
}

func TestExtHeaderKnownBytes(t *testing.T) {
	for _, tc := range extCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := unhex(t, tc.bytes)
			if len(b) != tc.size {
				t.Fatalf("fixture is %d bytes, size constant %d", len(b), tc.size)
			}
			got, err := tc.decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.fields, got); diff != "" {
				t.Errorf("decode mismatch (-want +got):\n%s", diff)
			}
			enc := make([]byte, tc.size)
			for i := range enc {
				enc[i] = 0xA5 // Encode must overwrite everything, reserved bits included
			}
			tc.encode(enc, tc.fields)
			if diff := cmp.Diff(b, enc); diff != "" {
				t.Errorf("encode mismatch (-want +got):\n%s", diff)
			}
			// Round trip through a longer buffer: Parse returns just the header.
			long := append(append([]byte(nil), b...), 0xEE, 0xEE)
			if got, err := tc.decode(long); err != nil || !cmp.Equal(got, tc.fields) {
				t.Errorf("decode of longer buffer = %v, %v", got, err)
			}
			if !tc.valid(b) || tc.valid(b[:tc.size-1]) {
				t.Errorf("IsValid wrong at the size boundary")
			}
			_, err = tc.decode(b[:tc.size-1])
			if !errors.Is(err, wire.ErrPacketTruncated) || err.Error() != tc.errMsg {
				t.Errorf("decode of %d bytes: %v, want %q", tc.size-1, err, tc.errMsg)
			}
			if _, err := tc.decode(nil); !errors.Is(err, wire.ErrPacketTruncated) {
				t.Errorf("decode(nil): %v", err)
			}
			if tc.extra != nil {
				tc.extra(t, b, tc.fields)
			}
		})
	}
}

func TestAETHSyndrome(t *testing.T) {
	type row struct {
		Type    wire.AckType
		Value   uint8
		IsACK   bool
		Credits int
		OK      bool
		RNR     time.Duration
		NAK     wire.NAKCode
		String  string
	}
	tests := []struct {
		s    wire.AETHSyndrome
		want row
	}{
		{wire.ACKSyndrome(0), row{wire.AckTypeACK, 0, true, 0, true, 655360 * time.Microsecond, 0, "ACK credits=0"}},
		{wire.ACKSyndrome(8), row{wire.AckTypeACK, 8, true, 16, true, 160 * time.Microsecond, 8, "ACK credits=16"}},
		{wire.ACKSyndrome(30), row{wire.AckTypeACK, 30, true, 32768, true, 327680 * time.Microsecond, 30, "ACK credits=32768"}},
		{wire.ACKSyndrome(wire.AETHCreditInvalid), row{wire.AckTypeACK, 31, true, 0, false, 491520 * time.Microsecond, 31, "ACK credits=invalid"}},
		{wire.RNRNAKSyndrome(12), row{wire.AckTypeRNRNAK, 12, false, 0, false, 640 * time.Microsecond, 12, "RNR NAK timer=0.64ms"}},
		{wire.RNRNAKSyndrome(0), row{wire.AckTypeRNRNAK, 0, false, 0, false, 655360 * time.Microsecond, 0, "RNR NAK timer=655.36ms"}},
		{wire.NAKSyndrome(wire.NAKPSNSequenceError), row{wire.AckTypeNAK, 0, false, 0, false, 655360 * time.Microsecond, 0, "NAK PSN sequence error"}},
		{wire.NAKSyndrome(wire.NAKInvalidRequest), row{wire.AckTypeNAK, 1, false, 0, false, 10 * time.Microsecond, 1, "NAK invalid request"}},
		{wire.NAKSyndrome(wire.NAKRemoteAccessError), row{wire.AckTypeNAK, 2, false, 0, false, 20 * time.Microsecond, 2, "NAK remote access error"}},
		{wire.NAKSyndrome(wire.NAKRemoteOperationalError), row{wire.AckTypeNAK, 3, false, 0, false, 30 * time.Microsecond, 3, "NAK remote operational error"}},
		{wire.NAKSyndrome(wire.NAKInvalidRDRequest), row{wire.AckTypeNAK, 4, false, 0, false, 40 * time.Microsecond, 4, "NAK invalid RD request"}},
		{wire.NAKSyndrome(9), row{wire.AckTypeNAK, 9, false, 0, false, 240 * time.Microsecond, 9, "NAK NAKCode(9)"}},
		{0x45, row{wire.AckTypeReserved, 5, false, 0, false, 60 * time.Microsecond, 5, "AETHSyndrome(0x45)"}},
	}
	for _, tc := range tests {
		n, ok := tc.s.Credits()
		got := row{tc.s.Type(), tc.s.Value(), tc.s.IsACK(), n, ok, tc.s.RNRTimer().Duration(), tc.s.NAKCode(), tc.s.String()}
		if tc.s.CreditCode() != tc.s.Value() {
			t.Errorf("%#02x: CreditCode %d != Value %d", uint8(tc.s), tc.s.CreditCode(), tc.s.Value())
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("syndrome %#02x (-want +got):\n%s", uint8(tc.s), diff)
		}
	}
	// The syndrome bytes themselves (IBTA Vol 1 §9.3.5: bit 7 zero, bits
	// 6-5 type, bits 4-0 value).
	if got := []uint8{uint8(wire.ACKSyndrome(0x1F)), uint8(wire.RNRNAKSyndrome(0x1F)), uint8(wire.NAKSyndrome(0x1F)),
		uint8(wire.ACKSyndrome(0xFF))}; !cmp.Equal(got, []uint8{0x1F, 0x3F, 0x7F, 0x1F}) {
		t.Errorf("syndrome bytes = %x", got)
	}
}

func TestRNRTimerTable(t *testing.T) {
	// The 32 RNR NAK timer codes in milliseconds (IBTA Vol 1 §9.7.5.2.8).
	want := []string{"655.36", "0.01", "0.02", "0.03", "0.04", "0.06", "0.08", "0.12", "0.16", "0.24",
		"0.32", "0.48", "0.64", "0.96", "1.28", "1.92", "2.56", "3.84", "5.12", "7.68", "10.24",
		"15.36", "20.48", "30.72", "40.96", "61.44", "81.92", "122.88", "163.84", "245.76", "327.68", "491.52"}
	var got []string
	for i := 0; i < 32; i++ {
		s := wire.RNRTimer(i).String()
		got = append(got, s[:len(s)-2])
		var ms float64
		fmt.Sscanf(s, "%fms", &ms)
		if d := wire.RNRTimer(i).Duration(); d != time.Duration(ms*1000+0.5)*time.Microsecond {
			t.Errorf("code %d: Duration %v, String %s", i, d, s)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RNR timers (-want +got):\n%s", diff)
	}
}

func TestCreditCode(t *testing.T) {
	tests := []struct {
		n    int
		want uint8
	}{
		{-1, 0}, {0, 0}, {1, 1}, {4, 4}, {5, 4}, {6, 5}, {7, 5}, {16, 8}, {100, 13},
		{32767, 29}, {32768, 30}, {1 << 20, 30},
	}
	for _, tc := range tests {
		if got := wire.CreditCode(tc.n); got != tc.want {
			t.Errorf("CreditCode(%d) = %d, want %d", tc.n, got, tc.want)
		}
		if n, ok := wire.ACKSyndrome(wire.CreditCode(tc.n)).Credits(); !ok || (tc.n >= 0 && n > tc.n) {
			t.Errorf("CreditCode(%d) advertises %d credits", tc.n, n)
		}
	}
}

func TestAckNAKStrings(t *testing.T) {
	got := []string{wire.AckTypeACK.String(), wire.AckTypeRNRNAK.String(), wire.AckTypeReserved.String(),
		wire.AckTypeNAK.String(), wire.AckType(4).String(), wire.NAKCode(5).String()}
	want := []string{"ACK", "RNR NAK", "reserved", "NAK", "AckType(4)", "NAKCode(5)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// fuzzExt runs decode on arbitrary bytes and checks that what decodes
// re-encodes to the same bytes with reserved bits cleared.
func fuzzExt(f *testing.F, name string, reserved map[int]byte) {
	var tc extCase
	for _, c := range extCases() {
		if c.name == name {
			tc = c
		}
	}
	f.Add(unhex(f, tc.bytes))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := tc.decode(b)
		if err != nil {
			if len(b) >= tc.size {
				t.Fatalf("decode of %d bytes failed: %v", len(b), err)
			}
			return
		}
		out := make([]byte, tc.size)
		tc.encode(out, got)
		want := append([]byte(nil), b[:tc.size]...)
		for i, m := range reserved {
			want[i] &^= m
		}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Fatalf("re-encode mismatch (-want +got):\n%s", diff)
		}
	})
}

func FuzzParseRDETH(f *testing.F)        { fuzzExt(f, "rdeth", map[int]byte{0: 0xFF}) }
func FuzzParseDETH(f *testing.F)         { fuzzExt(f, "deth", map[int]byte{4: 0xFF}) }
func FuzzParseRETH(f *testing.F)         { fuzzExt(f, "reth", nil) }
func FuzzParseAtomicETH(f *testing.F)    { fuzzExt(f, "atomiceth", nil) }
func FuzzParseAETH(f *testing.F)         { fuzzExt(f, "aeth", nil) }
func FuzzParseAtomicAckETH(f *testing.F) { fuzzExt(f, "atomicacketh", nil) }
func FuzzParseImmDt(f *testing.F)        { fuzzExt(f, "immdt", nil) }
func FuzzParseIETH(f *testing.F)         { fuzzExt(f, "ieth", nil) }
