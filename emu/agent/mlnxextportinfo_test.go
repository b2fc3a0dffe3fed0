package agent_test

import (
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// speedBench is a probe CA linked at 4x FDR10 to port 1 of a SwitchX-like
// switch (port 0 with IsExtendedSpeedsSupported, MlnxExtPortInfo served);
// port 2 links to a second switch at QDR, port 3 supports no FDR10.
type speedBench struct {
	swBench
	mepi *agent.MlnxExtPortInfo
}

const (
	qdrSpeeds   = wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR
	fdr10Speeds = qdrSpeeds | wire.SpeedFDR10
)

func newSpeedBench(t *testing.T, serve bool) *speedBench {
	t.Helper()
	f := emu.New()
	b := &speedBench{swBench: swBench{f: f, sw: &testSwitch{pma: agent.NewPMA(wire.NodeTypeSwitch, agent.PMAConfig{})},
		sw2: newTestSwitch(t, 0x0002c90000000200)}}
	b.pr = &probe{box: emu.NewInbox[[]byte](f)}
	var err error
	b.sw.sma, err = agent.NewSMA(agent.NodeConfig{Type: wire.NodeTypeSwitch, NumPorts: 3, NodeGUID: 0x0002c90000000100,
		PartitionCap: 8, DeviceID: 0xC738, VendorID: 0x0002C9, Description: "sx"},
		[]agent.PortConfig{{CapabilityMask: wire.PortCapIsTrapSupported | wire.PortCapIsExtendedSpeedsSupported}, {PKeyCap: 32}},
		agent.SMAOptions{Transmit: func(p *emu.Port, frame []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	if serve {
		b.mepi = agent.ServeMlnxExtPortInfo(b.sw.sma)
	}
	fdr := emu.PortConfig{WidthSupported: uint8(wire.Width1X | wire.Width4X), SpeedSupported: fdr10Speeds | wire.SpeedFDR}
	fdr.SpeedEnabled = fdr10Speeds // as a QDR cable: FDR10 is the best both ends share
	qdr := emu.PortConfig{WidthSupported: uint8(wire.Width1X | wire.Width4X), SpeedSupported: qdrSpeeds}
	pc := emu.PortConfig{WidthSupported: uint8(wire.Width1X | wire.Width4X), SpeedSupported: fdr10Speeds}
	b.start(t, "sx", []emu.PortConfig{fdr, fdr, qdr}, []emu.PortConfig{qdr}, pc)
	return b
}

// mepi gets (or, with in, sets) MlnxExtPortInfo of switch port num.
func (b *speedBench) mepiDo(t *testing.T, num uint32, in *wire.MlnxExtPortInfoFields) (wire.MADStatus, wire.MlnxExtPortInfoFields) {
	t.Helper()
	m, data := wire.MethodGet, []byte(nil)
	if in != nil {
		m, data = wire.MethodSet, make([]byte, wire.MlnxExtPortInfoSize)
		wire.MlnxExtPortInfo(data).Encode(in)
	}
	r := b.dr(t, m, wire.AttrMlnxExtPortInfo, num, data, 1)
	return r.Status(), wire.MlnxExtPortInfo(r.Data()).Fields()
}

// retrain takes switch port num down and up again, as ibportstate reset
// does, and waits for the link.
func (b *speedBench) retrain(t *testing.T, num int) {
	t.Helper()
	p := b.sw.node.Port(num)
	if err := b.f.Do(func() { p.SetEnabled(false); p.SetEnabled(true) }); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var up bool
		_ = b.f.Do(func() { up = p.IsUp() })
		if up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d did not come back", num)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMlnxExtPortInfoUnsupported(t *testing.T) {
	b := newSpeedBench(t, false)
	if st, _ := b.mepiDo(t, 1, nil); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("MlnxExtPortInfo Get on a model without it: status %s, want 0x000C", st)
	}
}

// TestMlnxExtPortInfoFDR10: a link both ends of which enable FDR10 trains
// at FDR10: MlnxExtPortInfo says so, PortInfo shows QDR (10 Gb/s,
// LinkSpeedExtActive 0), and the link serialises at 40 Gb/s of data. A
// Set disabling FDR10 changes the enabled mask at once and the active
// speed only at the next training; invalid speed bits fail with 0x001C.
func TestMlnxExtPortInfoFDR10(t *testing.T) {
	b := newSpeedBench(t, true)
	st, f := b.mepiDo(t, 1, nil)
	want := wire.MlnxExtPortInfoFields{LinkSpeedSupported: wire.MlnxSpeedFDR10, LinkSpeedEnabled: wire.MlnxSpeedFDR10, LinkSpeedActive: wire.MlnxSpeedFDR10}
	if st != wire.MADStatusOK || f != want {
		t.Fatalf("port 1: status %s %+v, want %+v", st, f, want)
	}
	pi := wire.PortInfo(b.dr(t, wire.MethodGet, wire.AttrPortInfo, 1, nil, 1).Data())
	if pi.LinkSpeedActive() != wire.SpeedQDR || pi.LinkSpeedExtActive() != 0 || pi.LinkSpeedSupported() != qdrSpeeds {
		t.Errorf("PortInfo of an FDR10 port: active %v ext %d supported %v; want QDR, 0, SDR-QDR",
			pi.LinkSpeedActive(), pi.LinkSpeedExtActive(), pi.LinkSpeedSupported())
	}
	var ser time.Duration
	_ = b.f.Do(func() { ser = b.sw.node.Port(1).Link().SerialisationTime(1000) })
	if ser != 200*time.Nanosecond {
		t.Errorf("1000 bytes at 4x FDR10 take %v, want 200ns (40 Gb/s of data)", ser)
	}
	// Port 2 runs QDR with a QDR-only peer; port 3 has no FDR10.
	if _, f := b.mepiDo(t, 2, nil); f.LinkSpeedActive != 0 || f.LinkSpeedSupported != wire.MlnxSpeedFDR10 {
		t.Errorf("port 2 (QDR peer): %+v", f)
	}
	if st, _ := b.mepiDo(t, 3, &wire.MlnxExtPortInfoFields{StateChangeEnable: 1, LinkSpeedEnabled: wire.MlnxSpeedFDR10}); st != wire.MADStatusInvalidField {
		t.Errorf("FDR10 enable on a port without FDR10: status %s, want 0x001C", st)
	}
	if st, _ := b.mepiDo(t, 1, &wire.MlnxExtPortInfoFields{StateChangeEnable: 1, LinkSpeedEnabled: 0x02}); st != wire.MADStatusInvalidField {
		t.Errorf("unknown speed bit: status %s, want 0x001C", st)
	}
	if st, _ := b.mepiDo(t, 9, nil); st != wire.MADStatusInvalidField {
		t.Errorf("port 9 of 3: status %s, want 0x001C", st)
	}

	// Disable FDR10: enabled at once, active until the link retrains.
	st, f = b.mepiDo(t, 1, &wire.MlnxExtPortInfoFields{StateChangeEnable: 1})
	if st != wire.MADStatusOK || f.LinkSpeedEnabled != 0 || f.LinkSpeedActive != wire.MlnxSpeedFDR10 || f.StateChangeEnable != 1 {
		t.Fatalf("Set FDR10 off: status %s %+v", st, f)
	}
	// Without StateChangeEnable a Set changes no speed.
	if _, f := b.mepiDo(t, 1, &wire.MlnxExtPortInfoFields{LinkSpeedEnabled: wire.MlnxSpeedFDR10}); f.LinkSpeedEnabled != 0 {
		t.Errorf("Set without StateChangeEnable enabled FDR10: %+v", f)
	}
	b.retrain(t, 1)
	if _, f := b.mepiDo(t, 1, nil); f.LinkSpeedActive != 0 {
		t.Errorf("after retraining without FDR10: %+v", f)
	}
	_ = b.f.Do(func() { ser = b.sw.node.Port(1).Link().SerialisationTime(1000) })
	if ser != 250*time.Nanosecond {
		t.Errorf("1000 bytes at 4x QDR take %v, want 250ns (32 Gb/s of data)", ser)
	}

	// A PortInfo Set of LinkSpeedEnabled leaves the FDR10 enable alone.
	b.mepiDo(t, 1, &wire.MlnxExtPortInfoFields{StateChangeEnable: 1, LinkSpeedEnabled: wire.MlnxSpeedFDR10})
	in := make([]byte, wire.PortInfoSize)
	copy(in, b.dr(t, wire.MethodGet, wire.AttrPortInfo, 1, nil, 1).Data())
	pin := wire.PortInfo(in)
	pin.SetPortState(wire.PortStateNoChange)
	pin.SetPortPhysicalState(wire.PhysStateNoChange)
	pin.SetLinkSpeedEnabled(0xF)
	if r := b.dr(t, wire.MethodSet, wire.AttrPortInfo, 1, in, 1); r.Status() != wire.MADStatusOK {
		t.Fatalf("PortInfo Set: %s", r.Status())
	}
	b.retrain(t, 1)
	if _, f := b.mepiDo(t, 1, nil); f.LinkSpeedEnabled != wire.MlnxSpeedFDR10 || f.LinkSpeedActive != wire.MlnxSpeedFDR10 {
		t.Errorf("FDR10 after a PortInfo speed Set and a retrain: %+v", f)
	}
}

// TestPortInfoExtSpeedsAttrMod: LinkSpeedExtEnabled is written only when
// the SM sets SMSupportsExtendedSpeeds (AttributeModifier bit 31) and the
// port has IsExtendedSpeedsSupported (a switch's in port 0).
func TestPortInfoExtSpeedsAttrMod(t *testing.T) {
	b := newSpeedBench(t, true)
	set := func(mod uint32, ext uint8) wire.PortInfo {
		t.Helper()
		in := make([]byte, wire.PortInfoSize)
		copy(in, b.dr(t, wire.MethodGet, wire.AttrPortInfo, 1, nil, 1).Data())
		pin := wire.PortInfo(in)
		pin.SetPortState(wire.PortStateNoChange)
		pin.SetPortPhysicalState(wire.PhysStateNoChange)
		pin.SetLinkSpeedEnabled(0)
		pin.SetLinkSpeedExtEnabled(ext)
		r := b.dr(t, wire.MethodSet, wire.AttrPortInfo, mod, in, 1)
		if r.Status() != wire.MADStatusOK {
			t.Fatalf("Set mod %#x ext %#x: %s", mod, ext, r.Status())
		}
		return wire.PortInfo(r.Data())
	}
	if pi := set(1, 0x1E); pi.LinkSpeedExtEnabled() != 0 {
		t.Fatalf("ext enabled %#x before the test", pi.LinkSpeedExtEnabled())
	}
	// Port 1 enables SDR-QDR and FDR10 only; enable FDR as the SM would.
	if pi := set(1|1<<31, 0x1F); pi.LinkSpeedExtEnabled() != 0x01 {
		t.Errorf("with bit 31, 0x1F: ext enabled %#x, want 0x01 (FDR)", pi.LinkSpeedExtEnabled())
	}
	if pi := set(1, 0x1E); pi.LinkSpeedExtEnabled() != 0x01 {
		t.Errorf("without bit 31 the SMA must ignore LinkSpeedExtEnabled: %#x", pi.LinkSpeedExtEnabled())
	}
	if pi := set(1|1<<31, 0x1E); pi.LinkSpeedExtEnabled() != 0 {
		t.Errorf("with bit 31, 0x1E: ext enabled %#x, want 0", pi.LinkSpeedExtEnabled())
	}
}
