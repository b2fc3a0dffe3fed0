package agent

import (
	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// MlnxExtPortInfo serves the Mellanox vendor SM attribute MlnxExtPortInfo
// (wire.AttrMlnxExtPortInfo, 0xFF90) for an SMA: the FDR10 speed of each
// port, which PortInfo has no bit for. Mellanox firmware of the FDR
// generation and later answers it (ConnectX-3 onwards, SwitchX onwards:
// the device IDs libibnetdisc, ibportstate and OpenSM query it on); older
// parts and other vendors' answer 0x000C, which an SMA without this
// handler does.
//
// Get reports, per port: StateChangeEnable as last written;
// LinkSpeedSupported and LinkSpeedEnabled from the emu.Port's speed masks
// (wire.SpeedFDR10); LinkSpeedActive FDR10 while the link runs at FDR10.
// Set applies LinkSpeedEnabled when StateChangeEnable has
// wire.MlnxStateChangeSpeed: 0 disables FDR10, FDR10 enables it on a port
// that supports it, any other bit fails the whole Set with 0x001C. As with
// PortInfo's enables (IBTA Vol 1 §14.2.5.6) the new mask takes effect at
// the next link training: the link keeps its speed until it retrains. The
// port the AttributeModifier names follows PortInfo's rules (on a CA or
// router 0 means the arrival port and a Set may name only the arrival
// port); switch port 0 has no link, so a speed Set there changes nothing.
type MlnxExtPortInfo struct {
	sma *SMA
	sce []uint8 // StateChangeEnable per port, as last written
}

// ServeMlnxExtPortInfo registers the MlnxExtPortInfo handler (Get and Set)
// on s, replacing any other, and returns it. Devices call it for models
// whose firmware implements the attribute.
func ServeMlnxExtPortInfo(s *SMA) *MlnxExtPortInfo {
	m := &MlnxExtPortInfo{sma: s, sce: make([]uint8, s.node.NumPorts+1)}
	s.Handle(wire.AttrMlnxExtPortInfo, smaGetSet, m.serve)
	return m
}

func (m *MlnxExtPortInfo) serve(r *Request) wire.MADStatus {
	pa, ep, ok := m.sma.portInfoTarget(r)
	if !ok {
		return wire.MADStatusInvalidField
	}
	st := wire.MADStatusOK
	if r.Method() == wire.MethodSet {
		st = m.set(wire.MlnxExtPortInfo(r.Req.Data()), pa.Num, ep)
	}
	out := wire.MlnxExtPortInfo(r.Data())
	if !out.IsValid() {
		return wire.MADStatusInvalidField
	}
	m.Fill(out, pa.Num)
	return st
}

// set validates and applies a Set to port num: all or nothing.
func (m *MlnxExtPortInfo) set(in wire.MlnxExtPortInfo, num int, ep *emu.Port) wire.MADStatus {
	if !in.IsValid() {
		return wire.MADStatusInvalidField
	}
	sce := in.StateChangeEnable()
	if sce&wire.MlnxStateChangeSpeed != 0 {
		en := in.LinkSpeedEnabled()
		if en&^wire.MlnxSpeedFDR10 != 0 || (en != 0 && !ep.SpeedSupported().HasFDR10()) {
			return wire.MADStatusInvalidField
		}
		if num != 0 {
			mask := ep.SpeedEnabled() &^ wire.SpeedFDR10
			if en != 0 {
				mask |= wire.SpeedFDR10
			}
			if mask != ep.SpeedEnabled() {
				ep.StoreLinkEnables(0, mask)
			}
		}
	}
	m.sce[num] = sce
	return wire.MADStatusOK
}

// Fill writes the MlnxExtPortInfo of port num into out (64 bytes); it
// reports false for a port the SMA does not have.
func (m *MlnxExtPortInfo) Fill(out wire.MlnxExtPortInfo, num int) bool {
	ep := m.sma.emuPort(num)
	if ep == nil || num >= len(m.sce) || !out.IsValid() {
		return false
	}
	f := wire.MlnxExtPortInfoFields{StateChangeEnable: m.sce[num]}
	if ep.SpeedSupported().HasFDR10() {
		f.LinkSpeedSupported = wire.MlnxSpeedFDR10
	}
	if ep.SpeedEnabled().HasFDR10() {
		f.LinkSpeedEnabled = wire.MlnxSpeedFDR10
	}
	if ep.IsUp() && ep.Speed() == wire.SpeedFDR10 {
		f.LinkSpeedActive = wire.MlnxSpeedFDR10
	}
	out.Encode(&f)
	return true
}
