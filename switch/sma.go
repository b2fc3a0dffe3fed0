package ibswitch

import (
	"fmt"

	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
)

// registerSMA adds the switch-only attributes to the shared SMA. Anything
// else a switch does not implement (RandomForwardingTable on these
// linear-table switches, SMInfo without an SM, ...) is refused by the
// agent with status 0x000C.
func (s *Switch) registerSMA() {
	getSet := []wire.Method{wire.MethodGet, wire.MethodSet}
	s.sma.Handle(wire.AttrSwitchInfo, getSet, s.switchInfoAttr)
	s.sma.Handle(wire.AttrLinearForwardingTable, getSet, s.lftAttr)
	s.sma.Handle(wire.AttrMulticastForwardingTable, getSet, s.mftAttr)
}

// SwitchInfo returns the switch's SwitchInfo as a Get reports it.
func (s *Switch) SwitchInfo() wire.SwitchInfoFields {
	p := &s.prof
	top := s.info.multicastFDBTop
	if !s.info.mcastTopSupported {
		top = 0
	}
	return wire.SwitchInfoFields{
		LinearFDBCap:                      p.LinearFDBCap,
		RandomFDBCap:                      p.RandomFDBCap,
		MulticastFDBCap:                   p.MulticastFDBCap,
		LinearFDBTop:                      uint16(s.info.linearFDBTop),
		DefaultPort:                       s.info.defaultPort,
		DefaultMulticastPrimaryPort:       s.info.defMcastPrimary,
		DefaultMulticastNotPrimaryPort:    s.info.defMcastNotPrim,
		LifeTimeValue:                     s.info.lifeTimeValue,
		PortStateChange:                   s.info.portStateChange,
		OptimizedSLtoVLMappingProgramming: s.info.optimizedSLtoVL,
		LIDsPerPort:                       0,
		PartitionEnforcementCap:           p.PartitionEnforcementCap,
		InboundEnforcementCap:             p.InboundEnforcementCap,
		OutboundEnforcementCap:            p.OutboundEnforcementCap,
		FilterRawInboundCap:               p.FilterRawInboundCap,
		FilterRawOutboundCap:              p.FilterRawOutboundCap,
		EnhancedPort0:                     p.EnhancedPort0,
		MulticastFDBTop:                   top,
	}
}

// validPortOrNone reports whether v names a port of the switch or is
// 0xFF ("none").
func (s *Switch) validPortOrNone(v uint8) bool { return v == DropPort || int(v) <= s.nports }

// switchInfoAttr answers SwitchInfo Get and Set (IBTA Vol 1 §14.2.5.4).
// A Set writes LinearFDBTop, DefaultPort, DefaultMulticastPrimaryPort,
// DefaultMulticastNotPrimaryPort, LifeTimeValue, PortStateChange (a 1
// clears it, a 0 leaves it) and, on switches that advertise it,
// MulticastFDBTop; the capabilities are read-only and ignored. A
// LinearFDBTop at or above LinearFDBCap, a default port the switch does
// not have or a MulticastFDBTop outside the table fails the whole Set
// with 0x001C. The AttributeModifier is reserved.
func (s *Switch) switchInfoAttr(r *agent.Request) wire.MADStatus {
	st := wire.MADStatusOK
	if r.Method() == wire.MethodSet {
		st = s.setSwitchInfo(wire.SwitchInfo(r.Req.Data()))
	}
	clear(r.Data())
	f := s.SwitchInfo()
	wire.SwitchInfo(r.Data()).Encode(&f)
	return st
}

func (s *Switch) setSwitchInfo(in wire.SwitchInfo) wire.MADStatus {
	f := in.Fields()
	bad := wire.MADStatusInvalidField
	if s.prof.LinearFDBCap == 0 || f.LinearFDBTop >= s.prof.LinearFDBCap {
		return bad
	}
	if !s.validPortOrNone(f.DefaultPort) || !s.validPortOrNone(f.DefaultMulticastPrimaryPort) ||
		!s.validPortOrNone(f.DefaultMulticastNotPrimaryPort) {
		return bad
	}
	if s.info.mcastTopSupported {
		// 0xBFFF (one below the first MLID) empties the table.
		last := uint32(wire.LIDMulticastBase) + uint32(s.prof.MulticastFDBCap) - 1
		if f.MulticastFDBTop != 0 && (uint32(f.MulticastFDBTop) < uint32(wire.LIDMulticastBase)-1 || uint32(f.MulticastFDBTop) > last) {
			return bad
		}
	}
	s.info.linearFDBTop = wire.LID(f.LinearFDBTop)
	// The SM programs the blocks up to the new top next: make room for
	// them once, rather than doubling the table as they come.
	s.lft.reserve(int(f.LinearFDBTop)/LFTBlockSize + 1)
	s.info.defaultPort = f.DefaultPort
	s.info.defMcastPrimary = f.DefaultMulticastPrimaryPort
	s.info.defMcastNotPrim = f.DefaultMulticastNotPrimaryPort
	s.info.lifeTimeValue = f.LifeTimeValue
	if f.PortStateChange {
		s.info.portStateChange = false
	}
	if s.info.mcastTopSupported {
		s.info.multicastFDBTop = f.MulticastFDBTop
	}
	return wire.MADStatusOK
}

// lftAttr answers LinearForwardingTable Get and Set (IBTA Vol 1
// §14.2.5.10): the AttributeModifier is the block of 64 LIDs. Blocks up to
// LinearFDBCap may be written and read whatever LinearFDBTop is (OpenSM
// writes the blocks and the top in either order); a block beyond the cap
// gets 0x001C.
func (s *Switch) lftAttr(r *agent.Request) wire.MADStatus {
	mod := r.AttrMod()
	if mod >= uint32(s.lft.blocks()) {
		return wire.MADStatusInvalidField
	}
	b := int(mod)
	if r.Method() == wire.MethodSet {
		s.lft.setBlock(b, r.Req.Data()[:LFTBlockSize])
	}
	s.lft.getBlock(b, r.Data()[:LFTBlockSize])
	return wire.MADStatusOK
}

// mftAttr answers MulticastForwardingTable Get and Set (IBTA Vol 1
// §14.2.5.12): AttributeModifier bits 31-28 are the port-mask position
// (16 ports each), bits 8-0 the block of 32 MLIDs. A position beyond the
// switch's ports or a block beyond MulticastFDBCap gets 0x001C. Mask bits
// of ports the switch does not have are stored as 0.
func (s *Switch) mftAttr(r *agent.Request) wire.MADStatus {
	pos, block := wire.MFTAttrModSplit(r.AttrMod())
	if int(pos) >= s.mft.positions || int(block) >= s.mft.blocks() {
		return wire.MADStatusInvalidField
	}
	if r.Method() == wire.MethodSet {
		s.mft.setBlock(int(block), int(pos), r.Req.Data()[:wire.MulticastForwardingTableSize], s.nports)
	}
	s.mft.getBlock(int(block), int(pos), r.Data()[:wire.MulticastForwardingTableSize])
	return wire.MADStatusOK
}

// SetLinearFDBTop sets SwitchInfo.LinearFDBTop directly (the SM normally
// does it with a SwitchInfo Set).
func (s *Switch) SetLinearFDBTop(top wire.LID) error {
	if uint32(top) >= uint32(s.prof.LinearFDBCap) {
		return fmt.Errorf("%w: linear fdb top %d, cap %d", ErrRange, top, s.prof.LinearFDBCap)
	}
	s.info.linearFDBTop = top
	return nil
}

// SetRoute sets the LinearForwardingTable entry of lid to port (DropPort
// for none) and raises LinearFDBTop to lid when it is below.
func (s *Switch) SetRoute(lid wire.LID, port uint8) error {
	if port != DropPort && int(port) > s.nports {
		return fmt.Errorf("%w: port %d of %d", ErrRange, port, s.nports)
	}
	if !s.lft.set(lid, port) {
		return fmt.Errorf("%w: lid %d, linear fdb cap %d", ErrRange, lid, s.prof.LinearFDBCap)
	}
	if lid > s.info.linearFDBTop {
		s.info.linearFDBTop = lid
	}
	return nil
}

// Route returns the LinearForwardingTable entry of lid (DropPort when
// none), regardless of LinearFDBTop.
func (s *Switch) Route(lid wire.LID) uint8 { return s.lft.lookup(lid) }

// SetMulticastPort adds (on) or removes port from the port mask of mlid.
// On switches that honour MulticastFDBTop it is raised to mlid.
func (s *Switch) SetMulticastPort(mlid wire.LID, port int, on bool) error {
	if port < 0 || port > s.nports {
		return fmt.Errorf("%w: port %d of %d", ErrRange, port, s.nports)
	}
	if !s.mft.setPort(mlid, port, on) {
		return fmt.Errorf("%w: mlid 0x%04x, multicast fdb cap %d", ErrRange, uint16(mlid), s.prof.MulticastFDBCap)
	}
	if s.info.mcastTopSupported && uint16(mlid) > s.info.multicastFDBTop {
		s.info.multicastFDBTop = uint16(mlid)
	}
	return nil
}

// MulticastPorts returns the ports in the mask of mlid, in order.
func (s *Switch) MulticastPorts(mlid wire.LID) []int {
	var out []int
	m := s.mft.mask(s.mft.index(mlid))
	for w, bits := range m {
		for j := range MFTPortsPerPosition {
			if bits&(1<<j) != 0 {
				out = append(out, w*MFTPortsPerPosition+j)
			}
		}
	}
	return out
}
