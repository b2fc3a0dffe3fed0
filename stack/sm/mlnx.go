package sm

import (
	"context"

	"github.com/ibemu/ibemu/emu/wire"
)

// Mellanox's vendor ID (IEEE OUI 00-02-C9) and Bull's, whose OEM parts
// carry Mellanox silicon.
const (
	vendorMellanox = 0x0002C9
	vendorBull     = 0x00119F
)

// mlnxExtPortInfoSupported reports whether a device answers the Mellanox
// MlnxExtPortInfo attribute (wire.AttrMlnxExtPortInfo), the device IDs
// OpenSM asks it of (osm_subnet.c, is_mlnx_ext_port_info_supported):
// SwitchX and SwitchX-2, Connect-IB, Switch-IB, Switch-IB 2, Quantum and
// the ConnectX-3 to ConnectX-6 families, and Bull's OEM versions of them.
// Like OpenSM it looks at the device ID alone for the Mellanox parts.
func mlnxExtPortInfoSupported(vendor uint32, dev uint16) bool {
	switch {
	case dev >= 0xC738 && dev <= 0xC73B, dev == 0xC839, dev == 0xCB20, dev == 0xCF08, dev == 0xCF09, dev == 0xD2F0:
		return true // SwitchX, SwitchX-2, Switch-IB, Switch-IB 2, Quantum
	case dev >= 0x1003 && dev <= 0x101B, dev == 0xA2D2:
		return true // ConnectX-3 to ConnectX-6, BlueField
	}
	if vendor != vendorBull {
		return false
	}
	switch dev {
	case 0x1B02, 0x1B50, 0x1BA0, 0x1BF0, 0x1B33, 0x1B73, 0x1B40, 0x1B41, 0x1B60, 0x1B61, 0x1B83, 0x1B93, 0x1B94,
		0x1BB4, 0x1BB5, 0x1BC4, 0x1BC5, 0x1BC6:
		return true
	}
	return dev >= 0x1BD0 && dev <= 0x1BD5
}

// wantsMlnxExt reports whether the SM reads p's MlnxExtPortInfo: a port
// of a device that has the attribute whose link is up (a switch's
// external ports, its port 0 only when enhanced; a CA's ports), as
// OpenSM's PortInfo, NodeInfo and SwitchInfo receivers ask for it.
func wantsMlnxExt(p *Port) bool {
	if p == nil || !p.Read || !mlnxExtPortInfoSupported(p.Node.Info.VendorID, p.Node.Info.DeviceID) {
		return false
	}
	if p.Num == 0 {
		return p.Node.IsSwitch() && p.Node.Switch.EnhancedPort0
	}
	return p.Info.PortState != wire.PortStateDown
}

// readMlnxExt reads MlnxExtPortInfo of every port wantsMlnxExt names into
// Port.MlnxExt. A port that does not answer keeps MlnxExtRead false and
// is left alone: the attribute is the vendor's, and OpenSM too carries on
// without it.
func (m *SM) readMlnxExt(ctx context.Context, sn *Subnet) {
	var qs []smpQuery
	for _, n := range sn.Nodes {
		for _, p := range n.Ports {
			if !wantsMlnxExt(p) {
				continue
			}
			qs = append(qs, smpQuery{path: p.Route(), method: wire.MethodGet, attr: wire.AttrMlnxExtPortInfo, mod: uint32(p.Num),
				done: func(d []byte, err error) {
					if err == nil {
						var e wire.MlnxExtPortInfo
						if e, err = wire.ParseMlnxExtPortInfo(d); err == nil {
							p.MlnxExt, p.MlnxExtRead = e.Fields(), true
							return
						}
					}
					m.log.Info("sm: MlnxExtPortInfo not read", "port", p.String(), "err", err)
				}})
		}
	}
	if len(qs) == 0 {
		return
	}
	m.progress("mlnx ext port info", 0, len(qs))
	m.batch(ctx, qs)
}

// fdr10Set is the MlnxExtPortInfo Set that enables FDR10 on p when the
// port supports it and has it off (OpenSM's default "fdr10 1",
// osm_link_mgr.c: StateChangeEnable with LinkSpeedEnabled FDR10), or
// disables it when it is on and PortOptions.FDR10 says so ("fdr10 2"). Like
// the PortInfo enables, it takes effect at the next link training. ok is
// false when there is nothing to write.
func (m *SM) fdr10Set(sn *Subnet, p *Port) (q smpQuery, ok bool) {
	mode := m.cfg.Ports.FDR10
	if mode == FDR10Ignore || !p.MlnxExtRead || p.MlnxExt.LinkSpeedSupported&wire.MlnxSpeedFDR10 == 0 ||
		(p.MlnxExt.LinkSpeedEnabled&wire.MlnxSpeedFDR10 != 0) == (mode == FDR10Enable) {
		return smpQuery{}, false
	}
	f := p.MlnxExt
	f.StateChangeEnable = wire.MlnxStateChangeSpeed
	f.LinkSpeedEnabled = 0
	what := "sm: disabling FDR10"
	if mode == FDR10Enable {
		f.LinkSpeedEnabled, what = wire.MlnxSpeedFDR10, "sm: enabling FDR10"
	}
	data := make([]byte, wire.SMPDataSize)
	wire.MlnxExtPortInfo(data).Encode(&f)
	m.log.Debug(what, "port", p.String())
	return smpQuery{path: p.Route(), method: wire.MethodSet, attr: wire.AttrMlnxExtPortInfo, mod: uint32(p.Num), data: data,
		done: func(d []byte, err error) {
			if err != nil {
				m.problem(sn, err)
				return
			}
			if e, perr := wire.ParseMlnxExtPortInfo(d); perr == nil {
				p.MlnxExt = e.Fields()
			}
		}}, true
}
