package agent

import (
	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// portInfoTarget resolves the port a PortInfo SMP names (IBTA Vol 1
// §14.2.5.6): the AttributeModifier is the port number (bit 31 ignored);
// on a CA or router 0 means the arrival port, and a Set may only name the
// arrival port (ibsim-protocol.md §6.5).
func (s *SMA) portInfoTarget(r *Request) (*PortAttrs, *emu.Port, bool) {
	num := int(r.AttrMod() &^ (1 << 31))
	if num > s.node.NumPorts {
		return nil, nil, false
	}
	if s.node.Type != wire.NodeTypeSwitch {
		if num == 0 {
			num = r.Port.Num()
		}
		if r.Method() == wire.MethodSet && num != r.Port.Num() {
			return nil, nil, false
		}
	}
	pa, ep := s.Port(num), s.emuPort(num)
	if pa == nil || ep == nil {
		return nil, nil, false
	}
	return pa, ep, true
}

// switchWide reports whether the switch-wide PortInfo components (M_Key,
// GidPrefix, LID, MasterSMLID, LMC, M_Key protection and lease,
// MasterSMSL, SubnetTimeOut, ClientReregister) are reserved on port num:
// they are on a switch's external ports, where port 0 holds them (IBTA
// Vol 1 §14.2.5.6).
func (s *SMA) switchWide(num int) bool {
	return s.node.Type == wire.NodeTypeSwitch && num != 0
}

// FillPortInfo writes the PortInfo of port num as a Get reports it into
// pi (64 bytes): the SMA state of the port and the logical and physical
// state, widths and speeds of the emu.Port. localPort is the arrival port
// (LocalPortNum); showMKey false zeroes M_Key, as protection level 1
// does for a Get with a wrong key. The SMA must be bound.
func (s *SMA) FillPortInfo(pi wire.PortInfo, num, localPort int, showMKey bool) bool {
	pa, ep := s.Port(num), s.emuPort(num)
	if pa == nil || ep == nil || !pi.IsValid() {
		return false
	}
	f := wire.PortInfoFields{
		CapabilityMask:       pa.CapabilityMask,
		DiagCode:             pa.DiagCode,
		LocalPortNum:         uint8(localPort),
		LinkWidthEnabled:     wire.LinkWidth(ep.WidthEnabled()),
		LinkWidthSupported:   wire.LinkWidth(ep.WidthSupported()),
		LinkWidthActive:      activeWidth(ep),
		LinkSpeedSupported:   wire.LinkSpeed(ep.SpeedSupported().Base()),
		PortState:            ep.State(),
		PortPhysicalState:    ep.PhysState(),
		LinkDownDefaultState: pa.LinkDownDefaultState,
		LinkSpeedActive:      activeSpeed(ep),
		LinkSpeedEnabled:     wire.LinkSpeed(ep.SpeedEnabled().Base()),
		NeighborMTU:          pa.NeighborMTU,
		VLCap:                pa.Config.VLCap,
		InitType:             pa.Config.InitType,
		VLHighLimit:          pa.VLHighLimit,
		VLArbitrationHighCap: pa.Config.VLArbHighCap,
		VLArbitrationLowCap:  pa.Config.VLArbLowCap,
		InitTypeReply:        pa.InitTypeReply,
		MTUCap:               pa.Config.MTUCap,
		VLStallCount:         pa.VLStallCount,
		HOQLife:              pa.HOQLife,
		OperationalVLs:       pa.OperationalVLs,

		PartitionEnforcementInbound:         pa.PartitionEnforcementInbound,
		PartitionEnforcementOutbound:        pa.PartitionEnforcementOutbound,
		FilterRawInbound:                    pa.FilterRawInbound,
		FilterRawOutbound:                   pa.FilterRawOutbound,
		MKeyViolations:                      sat16(ep.Counters.MKeyViolations.Load()),
		PKeyViolations:                      sat16(ep.Counters.PKeyViolations.Load()),
		QKeyViolations:                      sat16(ep.Counters.QKeyViolations.Load()),
		GUIDCap:                             pa.Config.GUIDCap,
		MulticastPKeyTrapSuppressionEnabled: pa.MulticastPKeyTrapSuppressionEnabled,
		RespTimeValue:                       pa.Config.RespTimeValue,
		LocalPhyErrors:                      pa.LocalPhyErrors,
		OverrunErrors:                       pa.OverrunErrors,
		MaxCreditHint:                       pa.Config.MaxCreditHint,
		LinkRoundTripLatency:                pa.Config.LinkRoundTripLatency,
		CapabilityMask2:                     pa.Config.CapabilityMask2,
		LinkSpeedExtActive:                  ep.Speed().Ext(),
		LinkSpeedExtSupported:               ep.SpeedSupported().Ext(),
		LinkSpeedExtEnabled:                 ep.SpeedEnabled().Ext(),
	}
	if !s.switchWide(num) {
		f.GIDPrefix = pa.GIDPrefix
		f.LID = pa.LID
		f.MasterSMLID = pa.MasterSMLID
		f.MKeyLeasePeriod = pa.MKeyLeasePeriod
		f.MKeyProtectBits = pa.MKeyProtectBits
		f.LMC = pa.LMC
		f.MasterSMSL = pa.MasterSMSL
		f.SubnetTimeOut = pa.SubnetTimeOut
		if showMKey {
			f.MKey = pa.MKey
		}
	}
	pi.Encode(&f)
	return true
}

// portInfo answers PortInfo Get and Set (IBTA Vol 1 §14.2.5.6).
func (s *SMA) portInfo(r *Request) wire.MADStatus {
	pa, ep, ok := s.portInfoTarget(r)
	if !ok {
		return wire.MADStatusInvalidField
	}
	st := wire.MADStatusOK
	var planned plannedLink
	if r.Method() == wire.MethodSet {
		st, planned = s.setPortInfo(r, pa, ep)
	}
	show := r.MKeyOK || s.mkeyPort(r.Port).MKeyProtectBits != 1
	s.FillPortInfo(wire.PortInfo(r.Data()), pa.Num, r.Port.Num(), show)
	if st == wire.MADStatusOK {
		planned.show(wire.PortInfo(r.Data()))
	}
	return st
}

// plannedLink is what a PortInfo Set will do to the link once its reply
// has left; the reply already shows it.
type plannedLink struct {
	phys                wire.PhysPortState // 0: no change
	retrain             bool               // Polling on an up port: the link goes down and trains again
	width               uint8              // 0: no change
	speedBase, speedExt uint8
	speedSet            bool
}

func (pl plannedLink) show(pi wire.PortInfo) {
	if pl.phys != 0 || pl.retrain {
		if pl.retrain {
			pl.phys = wire.PhysStatePolling
		}
		pi.SetPortPhysicalState(pl.phys)
		if pl.phys == wire.PhysStateDisabled || pl.retrain {
			pi.SetPortState(wire.PortStateDown)
			pi.SetLinkWidthActive(idleWidth(pi.LinkWidthSupported()))
			pi.SetLinkSpeedActive(idleSpeed)
			pi.SetLinkSpeedExtActive(0)
		}
	}
	if pl.width != 0 {
		pi.SetLinkWidthEnabled(wire.LinkWidth(pl.width))
	}
	if pl.speedSet {
		pi.SetLinkSpeedEnabled(wire.LinkSpeed(pl.speedBase))
		pi.SetLinkSpeedExtEnabled(pl.speedExt)
	}
}

// setPortInfo validates a PortInfo Set as a whole and, when every field is
// acceptable, applies it: the SMA state at once, the logical state through
// emu.Port.SetState, and the physical changes (enable/disable, link
// enables) through Request.After. An invalid field fails the whole Set
// with MADStatusInvalidField and changes nothing.
func (s *SMA) setPortInfo(r *Request, pa *PortAttrs, ep *emu.Port) (wire.MADStatus, plannedLink) {
	in := wire.PortInfo(r.Req.Data())
	var pl plannedLink
	bad := wire.MADStatusInvalidField
	wide := !s.switchWide(pa.Num)

	lid := in.LID()
	if wide && lid != wire.LIDUnassigned && !lid.IsUnicast() {
		return bad, pl
	}
	if wide && in.MasterSMLID() != wire.LIDUnassigned && !in.MasterSMLID().IsUnicast() {
		return bad, pl
	}
	oper := in.OperationalVLs()
	if oper != 0 && (wire.DataVLs(oper) == 0 || oper > pa.Config.VLCap) {
		return bad, pl
	}
	mtu := in.NeighborMTU()
	if mtu != 0 && (mtu.Bytes() == 0 || mtu > pa.Config.MTUCap) {
		return bad, pl
	}
	switch in.LinkDownDefaultState() {
	case wire.PhysStateNoChange, wire.PhysStateSleep, wire.PhysStatePolling:
	default:
		return bad, pl
	}
	switch ps := in.PortPhysicalState(); ps {
	case wire.PhysStateNoChange:
	case wire.PhysStatePolling, wire.PhysStateDisabled:
		if pa.Num == 0 {
			return bad, pl
		}
		switch {
		case (ps == wire.PhysStateDisabled) == ep.Enabled():
			pl.phys = ps
		case ps == wire.PhysStatePolling && ep.IsUp():
			// Polling on a trained link resets it (IBTA Vol 1 §14.2.5.6:
			// the port goes to Polling and trains again).
			pl.retrain = true
		}
	default:
		return bad, pl
	}
	if w := uint8(in.LinkWidthEnabled()); w != 0 && pa.Num != 0 {
		if w == 0xFF {
			w = ep.WidthSupported()
		}
		if w&ep.WidthSupported() == 0 {
			return bad, pl
		}
		pl.width = w & ep.WidthSupported()
	}
	base, ext := uint8(in.LinkSpeedEnabled()), in.LinkSpeedExtEnabled()
	if r.AttrMod()&smSupportsExtendedSpeeds == 0 || !s.extSpeeds(pa) {
		// An SM that does not set SMSupportsExtendedSpeeds, or a port
		// without IsExtendedSpeedsSupported, leaves LinkSpeedExtEnabled
		// alone (IBTA Vol 1 §14.2.5.6): the field is ignored.
		ext = 0
	}
	if (base != 0 || ext != 0) && pa.Num != 0 {
		sup := ep.SpeedSupported()
		nb, ne := ep.SpeedEnabled().Base(), ep.SpeedEnabled().Ext()
		switch {
		case base == 0:
		case base == 0xF:
			nb = sup.Base()
		case base&sup.Base() == 0:
			return bad, pl
		default:
			nb = base & sup.Base()
		}
		switch {
		case ext == 0:
		case ext == 0x1E: // disable extended speeds
			ne = 0
		case ext == 0x1F:
			ne = sup.Ext()
		case ext&sup.Ext() == 0:
			return bad, pl
		default:
			ne = ext & sup.Ext()
		}
		if nb == 0 && ne == 0 {
			return bad, pl
		}
		pl.speedBase, pl.speedExt, pl.speedSet = nb, ne, true
	}
	newState, ok := portStateStep(ep, in.PortState())
	if !ok {
		return bad, pl
	}

	// Every field is acceptable: apply, and tell the host what changed
	// once everything is in place.
	var events []PortEvent
	defer func() {
		for _, ev := range events {
			s.event(ep, ev)
		}
	}()
	if wide {
		if pa.LID != lid || pa.LMC != in.LMC() {
			events = append(events, EventLIDChange)
		}
		if pa.MasterSMLID != in.MasterSMLID() || pa.MasterSMSL != in.MasterSMSL() {
			events = append(events, EventSMChange)
		}
		if pa.GIDPrefix != in.GIDPrefix() {
			events = append(events, EventGIDChange)
		}
		pa.MKey = in.MKey()
		pa.GIDPrefix = in.GIDPrefix()
		pa.LID = lid
		pa.LMC = in.LMC()
		pa.MasterSMLID = in.MasterSMLID()
		pa.MasterSMSL = in.MasterSMSL()
		pa.MKeyProtectBits = in.MKeyProtectBits()
		pa.MKeyLeasePeriod = in.MKeyLeasePeriod()
		pa.SubnetTimeOut = in.SubnetTimeOut()
		if in.ClientReregister() && pa.CapabilityMask.Has(wire.PortCapIsClientReregistrationSupported) {
			events = append(events, EventClientReregister)
		}
	}
	if st := in.LinkDownDefaultState(); st != wire.PhysStateNoChange {
		pa.LinkDownDefaultState = st
	}
	if mtu != 0 {
		pa.NeighborMTU = mtu
	}
	if oper != 0 {
		pa.OperationalVLs = oper
	}
	pa.VLHighLimit = in.VLHighLimit()
	pa.HOQLife = in.HOQLife()
	pa.VLStallCount = in.VLStallCount()
	pa.InitTypeReply = in.InitTypeReply()
	pa.LocalPhyErrors = in.LocalPhyErrors()
	pa.OverrunErrors = in.OverrunErrors()
	pa.PartitionEnforcementInbound = in.PartitionEnforcementInbound()
	pa.PartitionEnforcementOutbound = in.PartitionEnforcementOutbound()
	pa.FilterRawInbound = in.FilterRawInbound()
	pa.FilterRawOutbound = in.FilterRawOutbound()
	pa.MulticastPKeyTrapSuppressionEnabled = in.MulticastPKeyTrapSuppressionEnabled()
	if newState != wire.PortStateNoChange {
		if err := ep.SetState(newState); err != nil {
			return bad, plannedLink{}
		}
	}
	if pl.phys != 0 {
		on := pl.phys == wire.PhysStatePolling
		pa.physGen++
		r.After(func() { ep.SetEnabled(on) })
	}
	if pl.retrain {
		pa.physGen++
		gen := pa.physGen
		r.After(func() {
			if pa.physGen != gen || !ep.Enabled() {
				return
			}
			ep.SetEnabled(false)
			s.n.Fabric().Clock().AfterFunc(LinkRetrainTime, func() {
				if pa.physGen == gen && !ep.Enabled() {
					ep.SetEnabled(true)
				}
			})
		})
	}
	if pl.width != 0 || pl.speedSet {
		// New enables take effect at the next link training (IBTA Vol 1
		// §14.2.5.6; ibportstate's "speed"/"width" need a "reset"): the
		// link keeps its width and speed now, and the reply shows the
		// new enabled masks. A retrain in this same Set (Polling) runs
		// after the reply, with the masks already stored.
		w, sp := pl.width, wire.LinkSpeed(0)
		if pl.speedSet {
			// FDR10 is MlnxExtPortInfo's to enable: keep its bit.
			sp = wire.LinkSpeed(pl.speedBase) | wire.LinkSpeed(pl.speedExt)<<8 | ep.SpeedEnabled()&wire.SpeedFDR10
		}
		ep.StoreLinkEnables(w, sp)
	}
	return wire.MADStatusOK, pl
}

// smSupportsExtendedSpeeds is PortInfo's AttributeModifier bit 31
// (IBTA Vol 1 §14.2.5.6): the SM writes LinkSpeedExtEnabled.
const smSupportsExtendedSpeeds = 1 << 31

// extSpeeds reports whether port pa has IsExtendedSpeedsSupported in its
// CapabilityMask; a switch's external ports have port 0's (where OpenSM
// and the diags read it).
func (s *SMA) extSpeeds(pa *PortAttrs) bool {
	if s.switchWide(pa.Num) {
		pa = s.Port(0)
	}
	return pa != nil && pa.CapabilityMask.Has(wire.PortCapIsExtendedSpeedsSupported)
}

// portStateStep checks a PortInfo.PortState write against the port state
// machine of IBTA Vol 1 §7.2 and §14.2.5.6: NoChange; Down from any state
// (the link retrains and comes back in Init); Init only as "stay in
// Init"; Armed from Init; Active from Armed; writing the current state is
// no change. Anything but NoChange and Down needs the link up.
func portStateStep(ep *emu.Port, want wire.PortState) (wire.PortState, bool) {
	cur := ep.State()
	switch want {
	case wire.PortStateNoChange:
		return want, true
	case wire.PortStateDown:
		return want, ep.Num() != 0
	}
	if !ep.IsUp() {
		return 0, false
	}
	switch want {
	case cur:
		return wire.PortStateNoChange, true
	case wire.PortStateArmed:
		return want, cur == wire.PortStateInit
	case wire.PortStateActive:
		return want, cur == wire.PortStateArmed
	}
	return 0, false
}

// idleSpeed is the LinkSpeedActive of a port whose link is down: 2.5 Gbps
// (SDR, which every port supports), as Mellanox firmware and ibsim report
// it. IBTA Vol 1 §14.2.5.6 defines no zero value for LinkSpeedActive or
// LinkWidthActive, and the diags warn about one ("bad width 0").
const idleSpeed = wire.SpeedSDR

// idleWidth is the LinkWidthActive of a port whose link is down: 4X when
// the port supports it, else the narrowest width it supports (1X).
func idleWidth(supported wire.LinkWidth) wire.LinkWidth {
	if supported&wire.Width4X != 0 || supported&wire.Width1X == 0 {
		return wire.Width4X
	}
	return wire.Width1X
}

// activeWidth is PortInfo.LinkWidthActive of ep: the trained width while
// the link is up, idleWidth otherwise.
func activeWidth(ep *emu.Port) wire.LinkWidth {
	if w := ep.Width(); w != 0 {
		return w
	}
	return idleWidth(wire.LinkWidth(ep.WidthSupported()))
}

// activeSpeed is PortInfo.LinkSpeedActive of ep: the trained base speed
// while the link is up, idleSpeed otherwise. Above QDR it is QDR, as
// Mellanox firmware reports it (ibportstate on an FDR link shows
// LinkSpeedActive 10.0 Gbps beside LinkSpeedExtActive 14.0625 Gbps): at
// FDR10, which only MlnxExtPortInfo names, and at the extended speeds,
// which LinkSpeedExtActive gives.
func activeSpeed(ep *emu.Port) wire.LinkSpeed {
	switch sp := ep.Speed(); {
	case sp == wire.SpeedFDR10 || sp.IsExt():
		return wire.SpeedQDR
	case sp != 0:
		return wire.LinkSpeed(sp.Base())
	}
	return idleSpeed
}

// sat16 saturates a counter into a 16-bit field.
func sat16(v uint64) uint16 {
	if v > 0xFFFF {
		return 0xFFFF
	}
	return uint16(v)
}
