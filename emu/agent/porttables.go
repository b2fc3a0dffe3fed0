package agent

import "github.com/ibemu/ibemu/emu/wire"

// portTables holds the tables of one port that differ from the defaults
// NewSMA gives them. Most ports of a fabric never see their GUIDInfo,
// P_KeyTable, SLtoVLMappingTable or VLArbitrationTable written beyond
// entry 0, so a port keeps only what was written: each table stays nil,
// and reads fall back to the default, until the first write that changes
// it copies the default out (copy on write). The contents a Get reports
// are the same either way.
type portTables struct {
	guids     []wire.GUID          // GUIDCap entries; [0] unused (guid0)
	pkeys     []wire.PKey          // PKeyCap entries
	sl2vl     [][wire.NumSLs]uint8 // sl2vlRows rows
	vlArbLow  []wire.VLArbEntry    // VLArbLowCap entries
	vlArbHigh []wire.VLArbEntry    // VLArbHighCap entries
}

// defaultSL2VL[vls] is the SLtoVL row a port with vls data VLs starts
// with: SL s maps to VL s mod vls (vls is 1, 2, 4, 8 or 15).
var defaultSL2VL = func() (t [16][wire.NumSLs]uint8) {
	for vls := 1; vls < len(t); vls++ {
		for sl := range wire.NumSLs {
			t[vls][sl] = uint8(sl % vls)
		}
	}
	return t
}()

func (pa *PortAttrs) own() *portTables {
	if pa.tables == nil {
		pa.tables = &portTables{}
	}
	return pa.tables
}

// NumGUIDs is the number of GUIDInfo entries (PortConfig.GUIDCap).
func (pa *PortAttrs) NumGUIDs() int { return int(pa.Config.GUIDCap) }

// GUID returns entry i of the GUIDInfo table (IBTA Vol 1 §14.2.5.5);
// entry 0 is the port GUID. Entries outside the table read as 0.
func (pa *PortAttrs) GUID(i int) wire.GUID {
	switch {
	case i == 0:
		return pa.guid0
	case i < 0 || i >= pa.NumGUIDs() || pa.tables == nil || pa.tables.guids == nil:
		return 0
	}
	return pa.tables.guids[i]
}

// SetGUID writes entry i of the GUIDInfo table and reports whether the
// table has an entry i. Entry 0 is the port GUID: GUIDInfo Set cannot
// write it, but local configuration (a GUID change) can.
func (pa *PortAttrs) SetGUID(i int, g wire.GUID) bool {
	if i < 0 || i >= pa.NumGUIDs() {
		return false
	}
	if i == 0 {
		pa.guid0 = g
		return true
	}
	if pa.GUID(i) == g {
		return true
	}
	t := pa.own()
	if t.guids == nil {
		t.guids = make([]wire.GUID, pa.NumGUIDs())
	}
	t.guids[i] = g
	return true
}

// NumPKeys is the number of P_KeyTable entries (PortConfig.PKeyCap).
func (pa *PortAttrs) NumPKeys() int { return int(pa.Config.PKeyCap) }

// PKey returns entry i of the P_Key table (IBTA Vol 1 §10.9, §14.2.5.7).
// The table starts with the default partition 0xFFFF in entry 0 and
// invalid (0) entries elsewhere; entries outside the table read as 0.
func (pa *PortAttrs) PKey(i int) wire.PKey {
	if i < 0 || i >= pa.NumPKeys() {
		return 0
	}
	if pa.tables == nil || pa.tables.pkeys == nil {
		if i == 0 {
			return wire.PKeyDefault
		}
		return 0
	}
	return pa.tables.pkeys[i]
}

// SetPKey writes entry i of the P_Key table and reports whether the table
// has an entry i.
func (pa *PortAttrs) SetPKey(i int, k wire.PKey) bool {
	if i < 0 || i >= pa.NumPKeys() {
		return false
	}
	if pa.PKey(i) == k {
		return true
	}
	t := pa.own()
	if t.pkeys == nil {
		t.pkeys = make([]wire.PKey, pa.NumPKeys())
		t.pkeys[0] = wire.PKeyDefault
	}
	t.pkeys[i] = k
	return true
}

// PKeyIndex returns the index of the first entry of the port's P_Key
// table that accepts a packet carrying key (wire.PKey.Matches, IBTA Vol 1
// §10.9.3), or -1 when none does.
func (pa *PortAttrs) PKeyIndex(key wire.PKey) int {
	if pa.tables != nil && pa.tables.pkeys != nil {
		for i, e := range pa.tables.pkeys {
			if key.Matches(e) {
				return i
			}
		}
		return -1
	}
	// The default table: 0xFFFF, then invalid entries.
	n := pa.NumPKeys()
	switch {
	case n > 0 && key.Matches(wire.PKeyDefault):
		return 0
	case n > 1 && key.Matches(0):
		return 1
	}
	return -1
}

// PKeyEntryIndex returns the index of the first entry of the port's P_Key
// table equal to key, membership bit included, or -1 when there is none:
// the P_Key index of a key taken from the table itself (a received
// packet's matched entry), which PKeyIndex's matching rule would not find
// for a limited entry.
func (pa *PortAttrs) PKeyEntryIndex(key wire.PKey) int {
	for i := range pa.NumPKeys() {
		if pa.PKey(i) == key {
			return i
		}
	}
	return -1
}

// HasPartition reports whether the port's P_Key table holds an entry of
// key's partition, whatever the membership of either: the test of switch
// partition enforcement (IBTA Vol 1 §10.9.4), which keeps foreign
// partitions out and leaves the full/limited rule to the end ports, so a
// limited member's packets pass its switch port (whose table the SM
// copies from the end port's, limited keys included) on their way to a
// full member.
func (pa *PortAttrs) HasPartition(key wire.PKey) bool {
	if !key.IsValid() {
		return false
	}
	if pa.tables == nil || pa.tables.pkeys == nil {
		return pa.NumPKeys() > 0 && key.SamePartition(wire.PKeyDefault)
	}
	for _, e := range pa.tables.pkeys {
		if e.IsValid() && e.SamePartition(key) {
			return true
		}
	}
	return false
}

// SendPKeyIndex returns the entry of the port's P_Key table that a packet
// sent "in partition key" carries, or -1 when the port is no member of
// that partition. A port can only send a P_Key its table holds (the
// channel adapter puts the entry of the send's P_Key index in the BTH,
// IBTA Vol 1 §10.9.2): the entry of the same partition, a full-member
// entry before a limited one, whatever key's membership bit says. So a
// limited member of 0x7FFF asking for 0xFFFF sends 0x7FFF.
func (pa *PortAttrs) SendPKeyIndex(key wire.PKey) int {
	if !key.IsValid() {
		return -1
	}
	n := pa.NumPKeys()
	if pa.tables == nil || pa.tables.pkeys == nil {
		n = min(n, 1) // the default table: 0xFFFF, then invalid entries
	}
	limited := -1
	for i := range n {
		e := pa.PKey(i)
		if !e.IsValid() || !e.SamePartition(key) {
			continue
		}
		if e.IsFullMember() {
			return i
		}
		if limited < 0 {
			limited = i
		}
	}
	return limited
}

// NumSLtoVLRows is the number of SLtoVL rows of the port: one per input
// port (0..NumPorts) on a switch, one on a CA or router.
func (pa *PortAttrs) NumSLtoVLRows() int { return int(pa.sl2vlRows) }

// SLtoVL returns the VL that SL sl maps to for traffic leaving this port
// (IBTA Vol 1 §7.6.6, §14.2.5.8); on a switch in is the input port, on a
// CA it must be 0. It returns 0 for a row or SL outside the table.
func (pa *PortAttrs) SLtoVL(in, sl int) uint8 {
	if uint(in) >= uint(pa.sl2vlRows) || uint(sl) >= wire.NumSLs {
		return 0
	}
	if pa.tables != nil && pa.tables.sl2vl != nil {
		return pa.tables.sl2vl[in][sl]
	}
	return defaultSL2VL[wire.DataVLs(pa.Config.VLCap)&15][sl]
}

// SetSLtoVL writes the VL that SL sl maps to for traffic from input port
// in (0 on a CA) leaving this port, and reports whether the table has
// that entry.
func (pa *PortAttrs) SetSLtoVL(in, sl int, vl uint8) bool {
	if uint(in) >= uint(pa.sl2vlRows) || uint(sl) >= wire.NumSLs {
		return false
	}
	if pa.SLtoVL(in, sl) == vl {
		return true
	}
	t := pa.own()
	if t.sl2vl == nil {
		t.sl2vl = make([][wire.NumSLs]uint8, pa.sl2vlRows)
		def := defaultSL2VL[wire.DataVLs(pa.Config.VLCap)&15]
		for r := range t.sl2vl {
			t.sl2vl[r] = def
		}
	}
	t.sl2vl[in][sl] = vl
	return true
}

// VLArbLow returns entry i of the low-priority VLArbitration table (IBTA
// Vol 1 §14.2.5.9; PortConfig.VLArbLowCap entries). It starts with entry
// i on VL i mod (data VLs), weight 1. Entries outside the table read as
// zero.
func (pa *PortAttrs) VLArbLow(i int) wire.VLArbEntry {
	if i < 0 || i >= int(pa.Config.VLArbLowCap) {
		return wire.VLArbEntry{}
	}
	if pa.tables != nil && pa.tables.vlArbLow != nil {
		return pa.tables.vlArbLow[i]
	}
	return wire.VLArbEntry{VL: uint8(i % max(wire.DataVLs(pa.Config.VLCap), 1)), Weight: 1}
}

// VLArbHigh returns entry i of the high-priority VLArbitration table
// (PortConfig.VLArbHighCap entries, all zero at first). Entries outside
// the table read as zero.
func (pa *PortAttrs) VLArbHigh(i int) wire.VLArbEntry {
	if i < 0 || i >= int(pa.Config.VLArbHighCap) || pa.tables == nil || pa.tables.vlArbHigh == nil {
		return wire.VLArbEntry{}
	}
	return pa.tables.vlArbHigh[i]
}

// SetVLArbLow writes entry i of the low-priority VLArbitration table and
// reports whether the table has an entry i.
func (pa *PortAttrs) SetVLArbLow(i int, e wire.VLArbEntry) bool { return pa.setVLArb(false, i, e) }

// SetVLArbHigh writes entry i of the high-priority VLArbitration table
// and reports whether the table has an entry i.
func (pa *PortAttrs) SetVLArbHigh(i int, e wire.VLArbEntry) bool { return pa.setVLArb(true, i, e) }

// setVLArb writes entry i of the low- (high false) or high-priority
// VLArbitration table and reports whether the table has an entry i.
func (pa *PortAttrs) setVLArb(high bool, i int, e wire.VLArbEntry) bool {
	n, get := int(pa.Config.VLArbLowCap), pa.VLArbLow
	if high {
		n, get = int(pa.Config.VLArbHighCap), pa.VLArbHigh
	}
	if i < 0 || i >= n {
		return false
	}
	if get(i) == e {
		return true
	}
	t := pa.own()
	tbl := &t.vlArbLow
	if high {
		tbl = &t.vlArbHigh
	}
	if *tbl == nil {
		cp := make([]wire.VLArbEntry, n)
		for j := range cp {
			cp[j] = get(j)
		}
		*tbl = cp
	}
	(*tbl)[i] = e
	return true
}

// SLtoVLRow returns the whole SLtoVL row of input port in (0 on a CA):
// entry sl is the VL that SL sl maps to.
func (pa *PortAttrs) SLtoVLRow(in int) (row [wire.NumSLs]uint8) {
	for sl := range row {
		row[sl] = pa.SLtoVL(in, sl)
	}
	return row
}

// SetSLtoVLRow writes the whole SLtoVL row of input port in (0 on a CA)
// and reports whether the table has that row.
func (pa *PortAttrs) SetSLtoVLRow(in int, row [wire.NumSLs]uint8) bool {
	if uint(in) >= uint(pa.sl2vlRows) {
		return false
	}
	for sl, vl := range row {
		pa.SetSLtoVL(in, sl, vl)
	}
	return true
}
