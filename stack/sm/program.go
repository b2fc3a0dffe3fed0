package sm

import (
	"bytes"
	"context"
	"fmt"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// configFields returns the PortInfo p should carry, starting from what was
// read, the AttributeModifier of its Set and whether it differs from what
// was read. As in OpenSM's link manager (osm_link_mgr.c), the fields the
// SM does not set are written back as read, PortPhysicalState as "no
// change" (IBTA Vol 1 §14.2.5.6), and the link enables are forced only
// in the pass without a state change (state NoChange), whose Set carries
// SMSupportsExtendedSpeeds (bit 31 of the modifier) when the port has
// extended speeds; the Sets that arm and activate a port do not.
func (m *SM) configFields(sn *Subnet, p *Port, state wire.PortState) (wire.PortInfoFields, uint32, bool) {
	f := p.Info
	po := m.cfg.Ports
	changed := false
	set := func(cond bool) {
		if cond {
			changed = true
		}
	}
	if p.EndPort() {
		set(f.LID != p.LID || f.LMC != p.LMC || f.MasterSMLID != m.masterLID(sn) ||
			f.SubnetTimeOut != m.cfg.SubnetTimeout || f.GIDPrefix != m.cfg.SubnetPrefix ||
			f.MKeyProtectBits != m.cfg.MKeyProtect || f.MKeyLeasePeriod != m.cfg.MKeyLeasePeriod)
		f.LID, f.LMC, f.MasterSMLID = p.LID, p.LMC, m.masterLID(sn)
		f.SubnetTimeOut, f.GIDPrefix = m.cfg.SubnetTimeout, m.cfg.SubnetPrefix
		f.MKeyProtectBits, f.MKeyLeasePeriod = m.cfg.MKeyProtect, m.cfg.MKeyLeasePeriod
		set(f.MasterSMSL != po.SMSL)
		f.MasterSMSL = po.SMSL
	}
	f.MKey = m.cfg.MKey
	if p.Remote != nil && p.Remote.Read && p.Num != 0 {
		mtu := min(f.MTUCap, p.Remote.Info.MTUCap)
		// osm_physp_calc_link_op_vls: the lower VLCap of the two ends
		// (at least VL0), capped by max_op_vls.
		vls := min(max(min(f.VLCap, p.Remote.Info.VLCap), 1), po.MaxOpVLs)
		set(f.NeighborMTU != mtu || f.OperationalVLs != vls)
		f.NeighborMTU, f.OperationalVLs = mtu, vls
	}
	if p.Num != 0 && p.Remote != nil {
		// OpenSM's link manager (osm_link_mgr.c): head-of-queue lifetime
		// and VL stall count on switch ports, the leaf values toward CAs
		// and routers; the leaf lifetime on router ports (IBTA Vol 1
		// §18.2.5.4).
		switch {
		case p.Node.IsSwitch():
			hoq, stall := po.HOQLife, po.VLStallCount
			if !p.Remote.Node.IsSwitch() {
				hoq, stall = po.LeafHOQLife, po.LeafVLStallCount
			}
			set(f.HOQLife != hoq || f.VLStallCount != stall)
			f.HOQLife, f.VLStallCount = hoq, stall
		case p.Node.Info.NodeType == wire.NodeTypeRouter:
			set(f.HOQLife != po.LeafHOQLife)
			f.HOQLife = po.LeafHOQLife
		}
	}
	if p.Num != 0 || p.Node.IsSwitch() && p.Node.Switch.EnhancedPort0 {
		// Not on a base switch port 0 (IBTA Vol 1 §14.2.5.6, Table 148).
		set(f.LocalPhyErrors != po.LocalPhyErrorsThreshold || f.OverrunErrors != po.OverrunErrorsThreshold)
		f.LocalPhyErrors, f.OverrunErrors = po.LocalPhyErrorsThreshold, po.OverrunErrorsThreshold
	}
	mod := uint32(p.Num)
	if linkPort := p.Num != 0 || p.Node.IsSwitch() && p.Node.Switch.EnhancedPort0; linkPort && state == wire.PortStateNoChange {
		mod = m.linkEnables(p, &f, &changed)
	}
	if p.Node.IsSwitch() && p.Num != 0 && p.Remote != nil && !p.Remote.Node.IsSwitch() && p.Node.Switch.PartitionEnforcementCap > 0 {
		// OpenSM's pkey manager (osm_pkey_mgr.c, part_enforce).
		in := po.PartEnforce == PartEnforceBoth || po.PartEnforce == PartEnforceIn
		out := po.PartEnforce == PartEnforceBoth || po.PartEnforce == PartEnforceOut
		set(f.PartitionEnforcementInbound != in || f.PartitionEnforcementOutbound != out)
		f.PartitionEnforcementInbound, f.PartitionEnforcementOutbound = in, out
	}
	if m.cfg.QoS && f.VLHighLimit != qosVLHighLimit {
		// OpenSM's link manager writes the QoS VLHighLimit with QoS on.
		changed = true
		f.VLHighLimit = qosVLHighLimit
	}
	f.PortState = state
	if state != wire.PortStateNoChange {
		changed = true
	}
	f.PortPhysicalState = wire.PhysStateNoChange
	// LinkDownDefaultState Polling on every port, switch port 0 too (OpenSM
	// writes it into every PortInfo Set); a base port 0 has no link, so
	// only the other ports count it as a change.
	if p.Num != 0 || p.Node.IsSwitch() && p.Node.Switch.EnhancedPort0 {
		set(f.LinkDownDefaultState != wire.PhysStatePolling)
	}
	f.LinkDownDefaultState = wire.PhysStatePolling
	return f, mod, changed
}

// linkEnables applies the link enables of OpenSM's link manager with its
// default options to f, the PortInfo of p, and returns the Set's
// AttributeModifier (IBTA Vol 1 §14.2.5.6):
//
//   - force_link_width 255: LinkWidthEnabled 255 ("set to
//     LinkWidthSupported") when the enabled widths are fewer, on ports
//     whose CapabilityMask2 (port 0's on a switch) has
//     IsLinkWidth2XSupported; other ports keep theirs (OpenSM leaves a 4X
//     port that also supports 1X at 4X);
//   - force_link_speed 15: LinkSpeedEnabled 15 ("set to
//     LinkSpeedSupported") when the enabled speeds are fewer;
//   - force_link_speed_ext 31: LinkSpeedExtEnabled 31 ("set to
//     LinkSpeedExtSupported") when the enabled extended speeds are fewer
//     and both ends of the link have IsExtendedSpeedsSupported;
//   - SMSupportsExtendedSpeeds, bit 31 of the modifier, when the port has
//     IsExtendedSpeedsSupported (port 0's CapabilityMask on a switch),
//     without which the port ignores LinkSpeedExtEnabled.
//
// The new enables take effect when the link next trains.
func (m *SM) linkEnables(p *Port, f *wire.PortInfoFields, changed *bool) uint32 {
	mod := uint32(p.Num)
	cap2 := f.CapabilityMask2
	if p.Node.IsSwitch() && p.Num != 0 && p.Node.Ports[0] != nil && p.Node.Ports[0].Read {
		cap2 = p.Node.Ports[0].Info.CapabilityMask2
	}
	po := m.cfg.Ports
	// force_link_width applies to every port when it names widths below
	// 2X, otherwise only where 2X is supported; its "set to supported"
	// (255) only where fewer are enabled.
	if w := po.ForceLinkWidth; w != 0 && (w < wire.Width2X || cap2&capMask2LinkWidth2X != 0) &&
		(w != linkWidthSupported || f.LinkWidthEnabled != f.LinkWidthSupported) {
		*changed = *changed || f.LinkWidthEnabled != w
		f.LinkWidthEnabled = w
	}
	if sp := po.ForceLinkSpeed; sp != 0 && f.LinkSpeedSupported != 0 &&
		(sp != linkSpeedSupported || f.LinkSpeedEnabled != f.LinkSpeedSupported) {
		*changed = *changed || f.LinkSpeedEnabled != sp
		f.LinkSpeedEnabled = sp
	}
	if ext := hasExtSpeeds(p); ext {
		mod |= smSupportsExtendedSpeeds
		if e := po.ForceLinkSpeedExt; e != 0 && p.Num != 0 && p.Remote != nil && p.Remote.Read && hasExtSpeeds(p.Remote) &&
			(e != linkSpeedExtSupported || f.LinkSpeedExtEnabled != f.LinkSpeedExtSupported) {
			*changed = *changed || f.LinkSpeedExtEnabled != e
			f.LinkSpeedExtEnabled = e
		}
	}
	if *changed && (f.LinkWidthEnabled == linkWidthSupported || f.LinkSpeedEnabled == linkSpeedSupported || f.LinkSpeedExtEnabled == linkSpeedExtSupported) {
		m.log.Debug("sm: link enables", "port", p.String(), "width", f.LinkWidthEnabled, "speed", uint8(f.LinkSpeedEnabled),
			"speed_ext", f.LinkSpeedExtEnabled, "modifier", mod)
	}
	return mod
}

// The link enables OpenSM's link manager writes with its defaults
// (force_link_speed 15, force_link_speed_ext 31, force_link_width 255).
const (
	// linkSpeedSupported is LinkSpeedEnabled 15: set the enabled speeds
	// to LinkSpeedSupported (IBTA Vol 1 §14.2.5.6, Table 151).
	linkSpeedSupported = wire.LinkSpeed(0xF)
	// linkSpeedExtSupported is LinkSpeedExtEnabled 31 (set to
	// LinkSpeedExtSupported) and linkWidthSupported LinkWidthEnabled 255
	// (set to LinkWidthSupported), OpenSM's force_link_speed_ext and
	// force_link_width defaults.
	linkSpeedExtSupported = 0x1F
	linkWidthSupported    = wire.LinkWidth(0xFF)
	// smSupportsExtendedSpeeds is bit 31 of a PortInfo Set's
	// AttributeModifier: the SM writes LinkSpeedExtEnabled (IBTA Vol 1
	// §14.2.5.6).
	smSupportsExtendedSpeeds = 1 << 31
	// capMask2LinkWidth2X is IsLinkWidth2XSupported in
	// PortInfo.CapabilityMask2 (IBTA Vol 1 §14.2.5.6, Table 152).
	capMask2LinkWidth2X = 0x0010
)

func (m *SM) masterLID(sn *Subnet) wire.LID { return sn.Local.LID }

// portInfoSet builds a PortInfo Set of p with AttributeModifier mod that
// stores the answer back in p.Info.
func (m *SM) portInfoSet(sn *Subnet, p *Port, f wire.PortInfoFields, mod uint32) smpQuery {
	data := make([]byte, wire.SMPDataSize)
	wire.PortInfo(data).Encode(&f)
	return smpQuery{path: p.Route(), method: wire.MethodSet, attr: wire.AttrPortInfo, mod: mod, data: data,
		done: func(d []byte, err error) {
			if err != nil {
				m.problem(sn, err)
				return
			}
			if pi, perr := wire.ParsePortInfo(d); perr == nil {
				p.Info = pi.Fields()
			}
		}}
}

// configurePorts writes LIDs, LMC, MasterSMLID, M_Key, the subnet prefix
// and timeout to every end port whose PortInfo differs (OpenSM's
// osm_lid_mgr_process_subnet), switch port 0 included, and the link
// parameters of configFields to every port of a trained link whose
// PortInfo differs (OpenSM's link manager pass without a state change).
// It reads MlnxExtPortInfo first on the devices that have it and enables
// FDR10 after a port's PortInfo where the port supports it.
func (m *SM) configurePorts(ctx context.Context, sn *Subnet) {
	m.readMlnxExt(ctx, sn)
	var qs []smpQuery
	for _, n := range sn.Nodes {
		for _, p := range n.Ports {
			if p == nil || !p.Read {
				continue
			}
			// End ports with their LIDs; the other ports of a trained
			// link (switch external ports) for the link parameters, as
			// OpenSM's link manager sets them before arming.
			if p.EndPort() && p.LID == 0 || !p.EndPort() && (!p.LinkUp() || p.Remote == nil || !p.Remote.Read) {
				continue
			}
			if f, mod, changed := m.configFields(sn, p, wire.PortStateNoChange); changed {
				qs = append(qs, m.portInfoSet(sn, p, f, mod))
			}
			// OpenSM's default "fdr10 1": enable FDR10 where the port
			// supports it, after its PortInfo.
			if q, ok := m.fdr10Set(sn, p); ok {
				qs = append(qs, q)
			}
		}
	}
	m.progress("port config", 0, len(qs))
	m.batch(ctx, qs)
}

// programSwitches writes SwitchInfo (LinearFDBTop, clearing
// PortStateChange) and the LFT blocks (IBTA Vol 1 §14.2.5.10) that differ
// from what the SM last wrote to each switch. The queries are generated
// while earlier ones are on the wire (batchSeq).
func (m *SM) programSwitches(ctx context.Context, sn *Subnet) {
	top := len(sn.ByLID) - 1
	blocks := 0
	for _, n := range sn.Switches {
		blocks += (len(n.LFT) + wire.LinearForwardingTableSize - 1) / wire.LinearForwardingTableSize
		if cp := int(n.Switch.LinearFDBCap); len(n.LFT) > 0 && cp > 0 && top >= cp {
			m.problem(sn, fmt.Errorf("sm: %s: linear fdb cap %d below top lid %d; lids above are not routed", n, cp, top))
		}
	}
	m.progress("lft", 0, blocks+len(sn.Switches))
	m.batchSeq(ctx, func(yield func(smpQuery) bool) {
		for _, n := range sn.Switches {
			if len(n.LFT) == 0 {
				continue
			}
			if !yield(m.switchInfoSet(sn, n, top)) {
				return
			}
			prev := m.lastLFT[n.GUID()]
			nb := (len(n.LFT) + wire.LinearForwardingTableSize - 1) / wire.LinearForwardingTableSize
			for b := range nb {
				lo := b * wire.LinearForwardingTableSize
				hi := min(lo+wire.LinearForwardingTableSize, len(n.LFT))
				if cp := int(n.Switch.LinearFDBCap); cp > 0 && lo >= cp {
					break
				}
				if hi <= len(prev) && bytes.Equal(prev[lo:hi], n.LFT[lo:hi]) {
					continue
				}
				// A whole block is sent straight from the table (the request
				// copies it); only the last one is padded with 0xFF.
				data := n.LFT[lo:hi]
				if hi-lo < wire.LinearForwardingTableSize {
					data = make([]byte, wire.SMPDataSize)
					for i := range data {
						data[i] = lftUnreachable
					}
					copy(data, n.LFT[lo:hi])
				}
				if !yield(smpQuery{path: n.Path, method: wire.MethodSet, attr: wire.AttrLinearForwardingTable, mod: uint32(b), data: data,
					done: n.lftDone(m, sn)}) {
					return
				}
			}
		}
	})
	for _, n := range sn.Switches {
		if n.lftFailed {
			delete(m.lastLFT, n.GUID())
			continue
		}
		m.lastLFT[n.GUID()] = n.LFT
	}
}

// lftDone is the completion of an LFT block Set to n: a failure marks the
// switch's table as not written.
func (n *Node) lftDone(m *SM, sn *Subnet) func([]byte, error) {
	if n.lftDoneFn == nil {
		n.lftDoneFn = func(_ []byte, err error) {
			if err != nil {
				m.problem(sn, err)
				n.lftFailed = true
			}
		}
	}
	return n.lftDoneFn
}

// switchInfoSet is the SwitchInfo Set that gives n its LinearFDBTop,
// MulticastFDBTop and LifeTimeValue and clears PortStateChange (writing 1
// clears it).
func (m *SM) switchInfoSet(sn *Subnet, n *Node, top int) smpQuery {
	sf := n.Switch
	sf.LinearFDBTop = uint16(top)
	sf.LifeTimeValue = m.cfg.Ports.PacketLifeTime // OpenSM's packet_life_time (osm_ucast_mgr.c)
	sf.PortStateChange = true
	if mt := m.mcastTop(); mt != 0 {
		sf.MulticastFDBTop = uint16(mt)
	}
	data := make([]byte, wire.SMPDataSize)
	wire.SwitchInfo(data).Encode(&sf)
	return smpQuery{path: n.Path, method: wire.MethodSet, attr: wire.AttrSwitchInfo, data: data, done: func(d []byte, err error) {
		if err != nil {
			m.problem(sn, err)
			return
		}
		if si, perr := wire.ParseSwitchInfo(d); perr == nil {
			n.Switch = si.Fields()
		}
	}}
}

// programPKeys writes the P_Key tables the partition configuration gives
// each CA port, and the same table to the switch port facing it when the
// switch enforces partitions (IBTA Vol 1 §14.2.5.7, §10.9.2).
func (m *SM) programPKeys(ctx context.Context, sn *Subnet) {
	var qs []smpQuery
	for _, n := range sn.Nodes {
		if n.IsSwitch() {
			continue
		}
		for _, p := range n.Ports[1:] {
			if !p.LinkUp() || p.LID == 0 {
				continue
			}
			p.PKeys = m.cfg.Partitions.pkeysFor(p, sn.Local)
			qs = append(qs, m.pkeyQueries(sn, p.Route(), p, uint32(0))...)
			if sp := p.switchPort(); sp != nil && sp.Node.Switch.PartitionEnforcementCap > 0 {
				sp.PKeys = p.PKeys
				qs = append(qs, m.pkeyQueries(sn, sp.Node.Path, sp, uint32(sp.Num)<<16)...)
			}
		}
	}
	m.progress("pkeys", 0, len(qs))
	m.batch(ctx, qs)
}

// pkeyQueries returns the P_KeyTable Sets of the blocks of p's table that
// differ from what the SM wrote last; portMod is the switch port in bits
// 31-16 of the modifier.
func (m *SM) pkeyQueries(sn *Subnet, path mad.DRPath, p *Port, portMod uint32) []smpQuery {
	key := portKey{p.Node.GUID(), p.Num}
	prev := m.lastPKeys[key]
	var qs []smpQuery
	blocks := (len(p.PKeys) + wire.PKeyTableBlockEntries - 1) / wire.PKeyTableBlockEntries
	for b := range max(blocks, 1) {
		lo := b * wire.PKeyTableBlockEntries
		hi := min(lo+wire.PKeyTableBlockEntries, len(p.PKeys))
		same := len(prev) == len(p.PKeys)
		for i := lo; same && i < hi; i++ {
			same = prev[i] == p.PKeys[i]
		}
		if same {
			continue
		}
		data := make([]byte, wire.SMPDataSize)
		t := wire.PKeyTable(data)
		for i := lo; i < hi; i++ {
			t.SetPKey(i-lo, p.PKeys[i])
		}
		qs = append(qs, smpQuery{path: path, method: wire.MethodSet, attr: wire.AttrPKeyTable, mod: portMod | uint32(b), data: data,
			done: func(d []byte, err error) {
				if err != nil {
					m.problem(sn, err)
					delete(m.lastPKeys, key)
					return
				}
				m.lastPKeys[key] = p.PKeys
			}})
	}
	return qs
}

type portKey struct {
	node wire.GUID
	num  int
}

// activate moves every port with a trained link INIT → ARMED, then
// ARMED → ACTIVE (IBTA Vol 1 §7.2.2; OpenSM's osm_link_mgr in two passes),
// switch ports and CA ports alike. A link is armed only when the SM knows
// both ends.
func (m *SM) activate(ctx context.Context, sn *Subnet) {
	for _, state := range []wire.PortState{wire.PortStateArmed, wire.PortStateActive} {
		want := func(p *Port) bool {
			if p == nil || p.Num == 0 || !p.LinkUp() || p.Remote == nil || !p.Remote.Read {
				return false
			}
			if !p.Node.IsSwitch() && p.LID == 0 {
				return false
			}
			cur := p.Info.PortState
			return cur != wire.PortStateActive && cur < state && cur != wire.PortStateDown
		}
		total := 0
		for _, n := range sn.Nodes {
			for _, p := range n.Ports {
				if want(p) {
					total++
				}
			}
		}
		m.progress("activate "+state.String(), 0, total)
		m.batchSeq(ctx, func(yield func(smpQuery) bool) {
			for _, n := range sn.Nodes {
				for _, p := range n.Ports {
					// want is asked again here: the answers of earlier Sets
					// (settled while this runs) only ever raise a port's
					// state toward the one asked for.
					if !want(p) {
						continue
					}
					f, mod, _ := m.configFields(sn, p, state)
					if !yield(m.portInfoSet(sn, p, f, mod)) {
						return
					}
				}
			}
		})
	}
}

// problem records a configuration problem of the sweep.
func (m *SM) problem(sn *Subnet, err error) {
	sn.Problems = append(sn.Problems, err)
	m.log.Warn("sm: sweep problem", "err", err)
}
