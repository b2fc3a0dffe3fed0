package agent

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// TestPortTablesDefaults: the tables a port starts with read as NewSMA
// has always given them: GUIDInfo entry 0 the port GUID and the rest 0,
// P_Key 0xFFFF then invalid entries, SL s on VL s mod (data VLs) in every
// row, low-priority VLArbitration entry i on VL i mod (data VLs) with
// weight 1, high-priority entries zero.
func TestPortTablesDefaults(t *testing.T) {
	for _, vlcap := range []uint8{wire.VLCapVL0, wire.VLCapVL0to1, wire.VLCapVL0to3, wire.VLCapVL0to7, wire.VLCapVL0to14} {
		s, err := NewSMA(NodeConfig{Type: wire.NodeTypeSwitch, NumPorts: 5, NodeGUID: 0x100, PartitionCap: 8},
			[]PortConfig{{VLCap: vlcap, PKeyCap: 40, GUIDCap: 9, VLArbLowCap: 64, VLArbHighCap: 20}}, SMAOptions{})
		if err != nil {
			t.Fatal(err)
		}
		vls := wire.DataVLs(vlcap)
		pa := s.Port(3)
		if pa.NumSLtoVLRows() != 6 || pa.NumPKeys() != 40 || pa.NumGUIDs() != 9 {
			t.Fatalf("sizes: %d rows, %d p_keys, %d guids", pa.NumSLtoVLRows(), pa.NumPKeys(), pa.NumGUIDs())
		}
		for in := range 6 {
			for sl := range wire.NumSLs {
				if got, want := pa.SLtoVL(in, sl), uint8(sl%vls); got != want {
					t.Fatalf("vlcap %d: sl2vl[%d][%d] = %d, want %d", vlcap, in, sl, got, want)
				}
			}
		}
		for i := range 64 {
			if got, want := pa.VLArbLow(i), (wire.VLArbEntry{VL: uint8(i % vls), Weight: 1}); got != want {
				t.Fatalf("vlcap %d: vlarb low %d = %+v, want %+v", vlcap, i, got, want)
			}
		}
		for i := range 20 {
			if got := pa.VLArbHigh(i); got != (wire.VLArbEntry{}) {
				t.Fatalf("vlarb high %d = %+v", i, got)
			}
		}
		if pa.VLArbLow(64) != (wire.VLArbEntry{}) || pa.VLArbHigh(20) != (wire.VLArbEntry{}) || pa.SLtoVL(6, 0) != 0 ||
			pa.SLtoVL(0, 16) != 0 || pa.PKey(40) != 0 || pa.GUID(9) != 0 || pa.GUID(-1) != 0 {
			t.Fatal("entries outside the tables do not read as 0")
		}
		if pa.GUID(0) != 0x100 || pa.GUID(1) != 0 || pa.PKey(0) != wire.PKeyDefault || pa.PKey(1) != 0 {
			t.Fatalf("guid0 %v guid1 %v pkey0 %v pkey1 %v", pa.GUID(0), pa.GUID(1), pa.PKey(0), pa.PKey(1))
		}
		if pa.tables != nil {
			t.Fatal("reads allocated tables")
		}
	}
}

// TestPortTablesCopyOnWrite: writing the value already there keeps the
// shared default; a real change copies the table out for that port alone
// and keeps every other entry.
func TestPortTablesCopyOnWrite(t *testing.T) {
	s, err := NewSMA(NodeConfig{Type: wire.NodeTypeSwitch, NumPorts: 4, NodeGUID: 0x100},
		[]PortConfig{{PKeyCap: 64, GUIDCap: 8}}, SMAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := s.Port(1), s.Port(2)
	if !a.SetSLtoVL(2, 3, 3) || !a.SetPKey(0, wire.PKeyDefault) || !a.SetPKey(5, 0) || !a.SetGUID(4, 0) ||
		!a.SetVLArbLow(1, wire.VLArbEntry{VL: 1, Weight: 1}) || !a.SetVLArbHigh(0, wire.VLArbEntry{}) {
		t.Fatal("in-range writes refused")
	}
	if a.tables != nil {
		t.Fatal("writing the default values allocated tables")
	}
	if a.SetSLtoVL(5, 0, 1) || a.SetSLtoVL(0, 16, 1) || a.SetPKey(64, 1) || a.SetGUID(8, 1) ||
		a.SetVLArbLow(8, wire.VLArbEntry{}) || a.SetVLArbHigh(-1, wire.VLArbEntry{}) || a.SetSLtoVLRow(5, [16]uint8{}) {
		t.Fatal("out-of-range writes accepted")
	}
	a.SetSLtoVL(2, 3, 6)
	a.SetPKey(5, 0x8001)
	a.SetGUID(4, 0x44)
	a.SetGUID(0, 0x55)
	a.SetVLArbLow(1, wire.VLArbEntry{VL: 4, Weight: 9})
	a.SetVLArbHigh(7, wire.VLArbEntry{VL: 2, Weight: 3})
	if a.SLtoVL(2, 3) != 6 || a.SLtoVL(2, 4) != 4 || a.SLtoVL(1, 3) != 3 {
		t.Errorf("sl2vl after write: row 2 %v, row 1 %v", a.SLtoVLRow(2), a.SLtoVLRow(1))
	}
	if a.PKey(0) != wire.PKeyDefault || a.PKey(5) != 0x8001 || a.PKey(6) != 0 {
		t.Errorf("p_keys after write: %v %v %v", a.PKey(0), a.PKey(5), a.PKey(6))
	}
	if a.GUID(0) != 0x55 || a.GUID(4) != 0x44 || a.GUID(3) != 0 {
		t.Errorf("guids after write: %v %v %v", a.GUID(0), a.GUID(4), a.GUID(3))
	}
	if a.VLArbLow(1) != (wire.VLArbEntry{VL: 4, Weight: 9}) || a.VLArbLow(2) != (wire.VLArbEntry{VL: 2, Weight: 1}) ||
		a.VLArbHigh(7) != (wire.VLArbEntry{VL: 2, Weight: 3}) || a.VLArbHigh(6) != (wire.VLArbEntry{}) {
		t.Errorf("vlarb after write: %+v %+v %+v", a.VLArbLow(1), a.VLArbLow(2), a.VLArbHigh(7))
	}
	// The other port still reads the defaults.
	if b.tables != nil || b.SLtoVL(2, 3) != 3 || b.PKey(5) != 0 || b.GUID(4) != 0 || b.GUID(0) != 0x100 ||
		b.VLArbLow(1) != (wire.VLArbEntry{VL: 1, Weight: 1}) {
		t.Error("a write to port 1 shows on port 2")
	}
	if got := a.PKeyIndex(0x0001); got != 5 {
		t.Errorf("PKeyIndex(0x0001) on the written table = %d, want 5", got)
	}
	if got := b.PKeyIndex(0x7FFF); got != 0 {
		t.Errorf("PKeyIndex(0x7FFF) on the default table = %d, want 0", got)
	}
	if got := b.PKeyIndex(0x8001); got != -1 {
		t.Errorf("PKeyIndex(0x8001) on the default table = %d, want -1", got)
	}
	row := [16]uint8{7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0}
	if !b.SetSLtoVLRow(4, row) || b.SLtoVLRow(4) != row || b.SLtoVL(3, 0) != 0 || b.SLtoVL(3, 1) != 1 {
		t.Errorf("row write: %v / %v", b.SLtoVLRow(4), b.SLtoVLRow(3))
	}
}

// TestPortTablesPKeyLookups: SendPKeyIndex picks the entry of a key's
// partition a port sends, a full membership first and whatever the
// key's own membership bit; HasPartition is switch enforcement's test,
// the partition in either membership; PKeyIndex stays the end port's
// receive rule (not both limited).
func TestPortTablesPKeyLookups(t *testing.T) {
	s, err := NewSMA(NodeConfig{Type: wire.NodeTypeCA, NumPorts: 1, NodeGUID: 0x100, PartitionCap: 8},
		[]PortConfig{{VLCap: wire.VLCapVL0to3, PKeyCap: 8}}, SMAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pa := s.Port(1)
	// The default table: 0xFFFF in entry 0.
	if pa.SendPKeyIndex(0x7FFF) != 0 || pa.SendPKeyIndex(0xFFFF) != 0 || pa.SendPKeyIndex(0x8001) != -1 ||
		!pa.HasPartition(0x7FFF) || pa.HasPartition(0x8001) || pa.HasPartition(0) {
		t.Fatal("default table lookups")
	}
	for i, k := range []wire.PKey{0x7FFF, 0x0002, 0x8002, 0x0003, 0x8000} {
		pa.SetPKey(i, k)
	}
	for _, c := range []struct {
		key  wire.PKey
		send int
		has  bool
		recv int
	}{
		{0xFFFF, 0, true, 0},  // limited 0x7FFF only: sent as is
		{0x7FFF, 0, true, -1}, // limited to limited is refused
		{0x0002, 2, true, 2},  // the full entry 2 before the limited entry 1
		{0x8002, 2, true, 1},
		{0x8003, 3, true, 3},
		{0x8004, -1, false, -1},
		{0x8000, -1, false, -1}, // base 0 is invalid
	} {
		if got := pa.SendPKeyIndex(c.key); got != c.send {
			t.Errorf("SendPKeyIndex(%v) = %d, want %d", c.key, got, c.send)
		}
		if got := pa.HasPartition(c.key); got != c.has {
			t.Errorf("HasPartition(%v) = %v, want %v", c.key, got, c.has)
		}
		if got := pa.PKeyIndex(c.key); got != c.recv {
			t.Errorf("PKeyIndex(%v) = %d, want %d", c.key, got, c.recv)
		}
	}
	// The entry itself, membership included: the limited 0x7FFF is entry 0
	// though the matching rule refuses it.
	for key, want := range map[wire.PKey]int{0x7FFF: 0, 0x0002: 1, 0x8002: 2, 0xFFFF: -1, 0x8004: -1} {
		if got := pa.PKeyEntryIndex(key); got != want {
			t.Errorf("PKeyEntryIndex(%v) = %d, want %d", key, got, want)
		}
	}
}
