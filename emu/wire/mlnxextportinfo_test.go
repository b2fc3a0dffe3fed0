package wire_test

import (
	"errors"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// TestMlnxExtPortInfoLayout checks the byte positions libibmad's
// IB_MLNX_EXT_PORT_* fields read (bits 24, 56, 88 and 120: the low byte of
// each of the first four 32-bit words) and that Encode clears the rest.
func TestMlnxExtPortInfoLayout(t *testing.T) {
	b := make([]byte, wire.MlnxExtPortInfoSize)
	for i := range b {
		b[i] = 0xEE
	}
	m, err := wire.ParseMlnxExtPortInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	m.Encode(&wire.MlnxExtPortInfoFields{StateChangeEnable: 0x01, LinkSpeedSupported: wire.MlnxSpeedFDR10,
		LinkSpeedEnabled: 0x02, LinkSpeedActive: wire.MlnxSpeedFDR10})
	want := map[int]byte{3: 0x01, 7: 0x01, 11: 0x02, 15: 0x01}
	for i, v := range b {
		if v != want[i] {
			t.Errorf("byte %d = %#x, want %#x", i, v, want[i])
		}
	}
	f := m.Fields()
	if f.StateChangeEnable != 1 || f.LinkSpeedSupported != wire.MlnxSpeedFDR10 || f.LinkSpeedEnabled != 2 || f.LinkSpeedActive != wire.MlnxSpeedFDR10 {
		t.Errorf("Fields() = %+v", f)
	}
	if _, err := wire.ParseMlnxExtPortInfo(b[:63]); !errors.Is(err, wire.ErrMADTooShort) {
		t.Errorf("short buffer: err %v, want ErrMADTooShort", err)
	}
}

// TestLinkSpeedFDR10 checks where FDR10 sits among the speeds: outside the
// PortInfo code, between QDR and FDR, 10 Gb/s of data per lane (64b/66b).
func TestLinkSpeedFDR10(t *testing.T) {
	all := wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR | wire.SpeedFDR10 | wire.SpeedFDR
	if got := all.Base(); got != 0x07 {
		t.Errorf("Base() = %#x, want 0x07 (FDR10 is not a PortInfo speed)", got)
	}
	if got := all.Ext(); got != 0x01 {
		t.Errorf("Ext() = %#x, want 0x01", got)
	}
	if !all.HasFDR10() || (all &^ wire.SpeedFDR10).HasFDR10() {
		t.Error("HasFDR10 wrong")
	}
	if !(wire.SpeedQDR < wire.SpeedFDR10 && wire.SpeedFDR10 < wire.SpeedFDR) || wire.SpeedFDR10.IsExt() {
		t.Error("FDR10 must order between QDR and FDR and not be an extended speed")
	}
	if g, s := wire.SpeedFDR10.LaneGbps(), wire.SpeedFDR10.SignalGbps(); g != 10.0 || s != 10.3125 {
		t.Errorf("FDR10 lane %v Gb/s data, %v Gb/s signal; want 10 and 10.3125", g, s)
	}
	if sp, err := wire.ParseLinkSpeed("fdr10"); err != nil || sp != wire.SpeedFDR10 || sp.String() != "FDR10" {
		t.Errorf("ParseLinkSpeed(fdr10) = %v, %v", sp, err)
	}
}

func FuzzMlnxExtPortInfo(f *testing.F) {
	fuzzView(f, wire.MlnxExtPortInfoSize, wire.ParseMlnxExtPortInfo, wire.MlnxExtPortInfo.Fields, wire.MlnxExtPortInfo.Encode)
}
