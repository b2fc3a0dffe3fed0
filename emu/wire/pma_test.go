package wire_test

import (
	"errors"
	"math"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

func perfData(t *testing.T, fixture string, attr wire.AttrID) []byte {
	t.Helper()
	m, err := wire.ParsePerfMAD(madHex(t, fixture))
	if err != nil {
		t.Fatalf("ParsePerfMAD: %v", err)
	}
	if m.MAD().AttrID() != attr || m.MAD().Method() != wire.MethodGetResp {
		t.Fatalf("reply %v %v", m.MAD().Method(), m.MAD().AttrID())
	}
	return m.Data()
}

func TestPortCountersCapture(t *testing.T) {
	// perfquery 2 1: PortSelect 1, every error counter 0, PortXmitData and
	// PortRcvData 8280, PortXmitPkts and PortRcvPkts 115, PortXmitWait 0.
	checkView(t, perfData(t, madPortCounters, wire.AttrPortCounters), wire.PortCountersSize,
		wire.ParsePortCounters, wire.PortCounters.Fields, wire.PortCounters.Encode, wire.PortCountersFields{
			PortSelect: 1, PortXmitData: 8280, PortRcvData: 8280, PortXmitPkts: 115, PortRcvPkts: 115,
		})
}

func TestPortCountersExtendedCapture(t *testing.T) {
	// perfquery -x 2 1: PortSelect 1, PortXmitData/PortRcvData 8280,
	// PortXmitPkts/PortRcvPkts 115, the unicast and multicast counters 0.
	data := perfData(t, madPortCountersExt, wire.AttrPortCountersExtended)
	// ibsim copies only 64 data bytes (ibsim-protocol.md §6.1); the rest of
	// its reply is stack garbage (0x0102020000000000 lands on
	// PortXmitWait), so clear it.
	clear(data[64:])
	checkView(t, data, wire.PortCountersExtendedSize,
		wire.ParsePortCountersExtended, wire.PortCountersExtended.Fields, wire.PortCountersExtended.Encode,
		wire.PortCountersExtendedFields{PortSelect: 1, PortXmitData: 8280, PortRcvData: 8280, PortXmitPkts: 115, PortRcvPkts: 115})
}

func TestPortCountersSaturate(t *testing.T) {
	c := wire.PortCounters(make([]byte, wire.PortCountersSize))
	c.SetSymbolErrorCounter(70000)
	c.SetLinkErrorRecoveryCounter(255)
	c.SetLinkDownedCounter(256)
	c.SetPortRcvErrors(math.MaxUint64)
	c.SetPortRcvRemotePhysicalErrors(0xFFFF)
	c.SetPortRcvSwitchRelayErrors(0x10000)
	c.SetPortXmitDiscards(1)
	c.SetPortXmitConstraintErrors(1000)
	c.SetPortRcvConstraintErrors(7)
	c.SetLocalLinkIntegrityErrors(16)
	c.SetExcessiveBufferOverrunErrors(3)
	c.SetQP1Dropped(1 << 20)
	c.SetVL15Dropped(5)
	c.SetPortXmitData(1 << 40)
	c.SetPortRcvData(math.MaxUint32)
	c.SetPortXmitPkts(math.MaxUint32 + 1)
	c.SetPortRcvPkts(12)
	c.SetPortXmitWait(1 << 33)
	want := wire.PortCountersFields{
		SymbolErrorCounter: 0xFFFF, LinkErrorRecoveryCounter: 0xFF, LinkDownedCounter: 0xFF, PortRcvErrors: 0xFFFF,
		PortRcvRemotePhysicalErrors: 0xFFFF, PortRcvSwitchRelayErrors: 0xFFFF, PortXmitDiscards: 1,
		PortXmitConstraintErrors: 0xFF, PortRcvConstraintErrors: 7, LocalLinkIntegrityErrors: 0xF,
		ExcessiveBufferOverrunErrors: 3, QP1Dropped: 0xFFFF, VL15Dropped: 5, PortXmitData: 0xFFFFFFFF,
		PortRcvData: 0xFFFFFFFF, PortXmitPkts: 0xFFFFFFFF, PortRcvPkts: 12, PortXmitWait: 0xFFFFFFFF,
	}
	checkView(t, c, wire.PortCountersSize, wire.ParsePortCounters, wire.PortCounters.Fields, wire.PortCounters.Encode, want)
	if c[19] != 0xF3 {
		t.Errorf("LocalLinkIntegrity/ExcessiveBufferOverrun byte %#x, want 0xf3", c[19])
	}
}

func TestPortCountersExtendedLayout(t *testing.T) {
	c := wire.PortCountersExtended(make([]byte, wire.PortCountersExtendedSize))
	for i := wire.ExtPortXmitData; i <= wire.ExtQP1Dropped; i++ {
		c.SetCounter(i, uint64(i)+1)
	}
	c.SetCounter(wire.ExtQP1Dropped+1, 99) // ignored
	f := c.Fields()
	if f.PortXmitData != 1 || f.PortMulticastRcvPkts != 8 || f.SymbolErrorCounter != 9 || f.QP1Dropped != 22 {
		t.Errorf("counter order wrong: %+v", f)
	}
	if c[183] != 22 || c[15] != 1 || c[71] != 8 {
		t.Errorf("counter offsets wrong")
	}
	if c.PortMulticastXmitPkts() != 7 || c.PortUnicastRcvPkts() != 6 || c.Counter(-1) != 0 {
		t.Errorf("accessors wrong")
	}
	checkView(t, c, len(c), wire.ParsePortCountersExtended, wire.PortCountersExtended.Fields, wire.PortCountersExtended.Encode, f)
}

func TestParsePerfMAD(t *testing.T) {
	b := madHex(t, madPortCounters)
	b[2] = 2
	m, err := wire.ParsePerfMAD(b)
	if !errors.Is(err, wire.ErrUnsupportedClassVersion) || m == nil {
		t.Errorf("ParsePerfMAD(class version 2) = %v, %v", m == nil, err)
	}
	if _, err := wire.ParsePerfMAD(madHex(t, madNodeInfoCA)); err == nil {
		t.Errorf("ParsePerfMAD(SMP) = nil error")
	}
}
