package agent

import (
	"github.com/ibemu/ibemu/emu/wire"
)

// tablePort resolves the port a table attribute names: on a switch the
// port number given (0..NumPorts), elsewhere the arrival port (the port
// field is reserved on CAs and routers).
func (s *SMA) tablePort(r *Request, switchPort uint32) *PortAttrs {
	if s.node.Type == wire.NodeTypeSwitch {
		if switchPort > uint32(s.node.NumPorts) {
			return nil
		}
		return s.Port(int(switchPort))
	}
	return s.Port(r.Port.Num())
}

// guidInfo answers GUIDInfo Get and Set (IBTA Vol 1 §14.2.5.5): the
// AttributeModifier is the block of 8 GUIDs; entry 0 of block 0 is the
// port GUID, which a Set cannot change. On a switch only port 0 has
// GUIDs.
func (s *SMA) guidInfo(r *Request) wire.MADStatus {
	pa := s.Port(r.Port.Num())
	if s.node.Type == wire.NodeTypeSwitch {
		pa = s.ports[0]
	}
	block := int(r.AttrMod())
	first := block * wire.GUIDInfoBlockEntries
	if pa == nil || r.AttrMod() > 0xFFFF || first >= pa.NumGUIDs() {
		return wire.MADStatusInvalidField
	}
	g := wire.GUIDInfo(r.Data())
	if r.Method() == wire.MethodSet {
		in := wire.GUIDInfo(r.Req.Data())
		for i := range wire.GUIDInfoBlockEntries {
			if idx := first + i; idx > 0 {
				pa.SetGUID(idx, in.GUID(i))
			}
		}
		s.event(r.Port, EventGIDChange)
	}
	clear(r.Data())
	for i := range wire.GUIDInfoBlockEntries {
		if idx := first + i; idx < pa.NumGUIDs() {
			g.SetGUID(i, pa.GUID(idx))
		}
	}
	return wire.MADStatusOK
}

// pkeyTable answers P_KeyTable Get and Set (IBTA Vol 1 §14.2.5.7): bits
// 15-0 of the AttributeModifier are the block of 32 entries, bits 31-16
// the port on a switch. Entries past the table's size read as 0 and are
// not written.
func (s *SMA) pkeyTable(r *Request) wire.MADStatus {
	pa := s.tablePort(r, r.AttrMod()>>16)
	block := int(r.AttrMod() & 0xFFFF)
	first := block * wire.PKeyTableBlockEntries
	if pa == nil || first >= pa.NumPKeys() {
		return wire.MADStatusInvalidField
	}
	t := wire.PKeyTable(r.Data())
	if r.Method() == wire.MethodSet {
		in := wire.PKeyTable(r.Req.Data())
		changed := false
		for i := range wire.PKeyTableBlockEntries {
			if idx := first + i; idx < pa.NumPKeys() && pa.PKey(idx) != in.PKey(i) {
				pa.SetPKey(idx, in.PKey(i))
				changed = true
			}
		}
		if changed {
			s.event(s.emuPort(pa.Num), EventPKeyChange)
		}
	}
	clear(r.Data())
	for i := range wire.PKeyTableBlockEntries {
		if idx := first + i; idx < pa.NumPKeys() {
			t.SetPKey(i, pa.PKey(idx))
		}
	}
	return wire.MADStatusOK
}

// sl2vlTable answers SLtoVLMappingTable Get and Set (IBTA Vol 1
// §14.2.5.8): on a switch bits 15-8 of the AttributeModifier are the input
// port and bits 7-0 the output port; on a CA the modifier is reserved and
// the arrival port's table is meant.
func (s *SMA) sl2vlTable(r *Request) wire.MADStatus {
	var pa *PortAttrs
	row := 0
	if s.node.Type == wire.NodeTypeSwitch {
		in, out := (r.AttrMod()>>8)&0xFF, r.AttrMod()&0xFF
		if r.AttrMod()>>16 != 0 || in > uint32(s.node.NumPorts) {
			return wire.MADStatusInvalidField
		}
		pa, row = s.tablePort(r, out), int(in)
	} else {
		pa = s.Port(r.Port.Num())
	}
	if pa == nil {
		return wire.MADStatusInvalidField
	}
	t := wire.SLtoVLMappingTable(r.Data())
	if r.Method() == wire.MethodSet {
		in := wire.SLtoVLMappingTable(r.Req.Data())
		for sl := range wire.NumSLs {
			pa.SetSLtoVL(row, sl, in.VL(sl))
		}
		s.event(s.emuPort(pa.Num), EventSLtoVLChange)
	}
	clear(r.Data())
	for sl := range wire.NumSLs {
		t.SetVL(sl, pa.SLtoVL(row, sl))
	}
	return wire.MADStatusOK
}

// vlArbTable answers VLArbitrationTable Get and Set (IBTA Vol 1
// §14.2.5.9): bits 31-16 of the AttributeModifier select the block (1 and
// 2 low priority, 3 and 4 high priority, 32 entries each), bits 15-0 the
// port on a switch. A block past the port's VLArbitration capacity is an
// invalid modifier; entries past the capacity read as 0.
func (s *SMA) vlArbTable(r *Request) wire.MADStatus {
	pa := s.tablePort(r, r.AttrMod()&0xFFFF)
	if pa == nil {
		return wire.MADStatusInvalidField
	}
	var (
		high     bool
		first, n int
	)
	switch r.AttrMod() >> 16 {
	case wire.VLArbLowBlock0:
		n = int(pa.Config.VLArbLowCap)
	case wire.VLArbLowBlock1:
		n, first = int(pa.Config.VLArbLowCap), wire.VLArbitrationTableBlockEntries
	case wire.VLArbHighBlock0:
		high, n = true, int(pa.Config.VLArbHighCap)
	case wire.VLArbHighBlock1:
		high, n, first = true, int(pa.Config.VLArbHighCap), wire.VLArbitrationTableBlockEntries
	default:
		return wire.MADStatusInvalidField
	}
	if first >= n {
		return wire.MADStatusInvalidField
	}
	get := pa.VLArbLow
	if high {
		get = pa.VLArbHigh
	}
	t := wire.VLArbitrationTable(r.Data())
	if r.Method() == wire.MethodSet {
		in := wire.VLArbitrationTable(r.Req.Data())
		for i := range wire.VLArbitrationTableBlockEntries {
			if idx := first + i; idx < n {
				pa.setVLArb(high, idx, in.Entry(i))
			}
		}
	}
	clear(r.Data())
	for i := range wire.VLArbitrationTableBlockEntries {
		if idx := first + i; idx < n {
			t.SetEntry(i, get(idx))
		}
	}
	return wire.MADStatusOK
}
