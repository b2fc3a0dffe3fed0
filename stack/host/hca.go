package host

import (
	"fmt"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/fabric"
)

// Adapter is the hardware behind an HCA slot: what the PCI bus and the
// adapter report about themselves, and the live state of its ports. An
// emulated HCA on a running fabric is one (FabricAdapter); so is an
// adapter with no cable attached (DetachedAdapter), which lets hosts
// exist without a fabric for installer-only work.
type Adapter interface {
	// Identity describes the adapter as it left the factory.
	Identity() AdapterIdentity
	// Ports reads the state of every port, port 1 first.
	Ports() ([]PortStatus, error)
}

// FirmwareLoader is implemented by adapters whose running firmware the
// host can replace: when the HCA's driver starts the device, the image in
// its flash becomes the firmware it runs (and reports in GeneralInfo).
type FirmwareLoader interface {
	LoadFirmware(FirmwareImage) error
}

// AdapterIdentity is the fixed description of an adapter.
type AdapterIdentity struct {
	// Name is the fabric node name (or the NodeDescription).
	Name string
	// Profile, Family, Part and Board name the model (hca.Profile).
	Profile, Family, Part, Board string
	// DeviceID is the PCI device ID; Revision the hardware revision.
	DeviceID uint16
	Revision uint32
	// VendorID is NodeInfo.VendorID (the IEEE OUI).
	VendorID uint32
	// NumPorts is the number of IB ports.
	NumPorts int
	// NodeGUID, SystemImageGUID and PortGUIDs identify the adapter.
	NodeGUID        wire.GUID
	SystemImageGUID wire.GUID
	PortGUIDs       []wire.GUID
	// MTUCap, GIDTableLen and PKeyTableLen are port capabilities.
	MTUCap       wire.MTU
	GIDTableLen  int
	PKeyTableLen int
	// Firmware is the image the adapter shipped with.
	Firmware FirmwareImage
}

// PortCounters are a port's PortCounters values, each saturated into the
// width of its field (IBTA Vol 1 §16.1.3.5).
type PortCounters struct {
	LinkErrorRecovery, LinkDowned                           uint64
	RcvErrors, RcvRemotePhysErrors, RcvSwitchRelayErrors    uint64
	XmitDiscards, XmitConstraintErrors, RcvConstraintErrors uint64
	VL15Dropped                                             uint64
	XmitData, RcvData, XmitPkts, RcvPkts                    uint64
}

// PortStatus is the live state of one adapter port, the values vstat
// shows: PortInfo as the port's SMA holds it (IBTA Vol 1 §14.2.5.6) and
// the link's logical and physical state.
type PortStatus struct {
	Num  int
	GUID wire.GUID
	// State and Phys are PortInfo.PortState and PortPhysicalState.
	State wire.PortState
	Phys  wire.PhysPortState
	// Width and Speed are the active link width and speed (0 while the
	// link is down).
	Width wire.LinkWidth
	Speed wire.LinkSpeed
	// LID, LMC, SMLID and GIDPrefix are what the SM assigned.
	LID       wire.LID
	LMC       uint8
	SMLID     wire.LID
	GIDPrefix uint64
	// MTUCap is the port's maximum MTU.
	MTUCap wire.MTU
	// Counters are the port's PortCounters.
	Counters PortCounters
}

// IdentityFromProfile describes an adapter of model p with the given
// GUIDs (port GUIDs default to node GUID + port number).
func IdentityFromProfile(p *hca.Profile, name string, nodeGUID, sysGUID wire.GUID, portGUIDs []wire.GUID) AdapterIdentity {
	if sysGUID == 0 {
		sysGUID = nodeGUID
	}
	guids := make([]wire.GUID, p.NumPorts)
	for i := range guids {
		if i < len(portGUIDs) && portGUIDs[i] != 0 {
			guids[i] = portGUIDs[i]
		} else {
			guids[i] = nodeGUID + wire.GUID(i+1)
		}
	}
	fw := p.Firmware
	return AdapterIdentity{
		Name: name, Profile: p.Name, Family: p.Family, Part: p.Part, Board: p.Board,
		DeviceID: p.DeviceID, Revision: p.Revision, VendorID: p.VendorID, NumPorts: p.NumPorts,
		NodeGUID: nodeGUID, SystemImageGUID: sysGUID, PortGUIDs: guids,
		MTUCap: p.MTUCap, GIDTableLen: int(p.GIDTableLen), PKeyTableLen: int(p.PartitionCap),
		Firmware: FirmwareImage{
			Version: FirmwareVersion{uint16(fw.Major), uint16(fw.Minor), uint16(fw.SubMinor)},
			PSID:    fw.PSID, BuildID: fw.BuildID,
		},
	}
}

// fabricAdapter is an emulated HCA on a fabric.
type fabricAdapter struct {
	h  *fabric.HCA
	id AdapterIdentity
}

// FabricAdapter is the Adapter of an emulated HCA built by stack/fabric.
// Ports reads its state on the fabric's event loop.
func FabricAdapter(h *fabric.HCA) Adapter {
	d := h.Device
	prof := d.Profile()
	guids := make([]wire.GUID, prof.NumPorts)
	for i := range guids {
		guids[i] = d.PortGUID(i + 1)
	}
	name := h.Topo.ID
	if name == "" {
		name = h.Topo.Desc
	}
	return &fabricAdapter{h: h, id: IdentityFromProfile(prof, name, d.NodeGUID(), h.Topo.SysImageGUID, guids)}
}

// Identity implements Adapter.
func (a *fabricAdapter) Identity() AdapterIdentity { return a.id }

// HCA returns the fabric HCA behind the adapter, for host software that
// drives it (MAD agents, verbs).
func (a *fabricAdapter) HCA() *fabric.HCA { return a.h }

// LoadFirmware implements FirmwareLoader: the emulated HCA runs image from
// now on. GeneralInfo has one byte per version part, so on a model without
// its extended version words (ConnectX-2 and older) a sub-minor above 255
// (2.7.9000) is reported as 255 there; vstat reads the host's record.
func (a *fabricAdapter) LoadFirmware(image FirmwareImage) error {
	d := a.h.Device
	var err error
	if derr := a.h.Node.Fabric().Do(func() {
		fw := d.Vendor().Firmware()
		fw.Major, fw.Minor, fw.SubMinor = image.Version.Major, image.Version.Minor, image.Version.SubMinor
		if !wire.MellanoxExtendedFWInfo(fw.HWDeviceID) {
			fw.Major, fw.Minor, fw.SubMinor = clampByte(fw.Major), clampByte(fw.Minor), clampByte(fw.SubMinor)
		}
		if image.PSID != "" {
			fw.PSID = image.PSID
		}
		err = d.LoadFirmware(fw)
	}); derr != nil {
		err = derr
	}
	if err != nil {
		return fmt.Errorf("host: hca %s: load firmware %s: %w", a.id.Name, image.Version, err)
	}
	return nil
}

func clampByte(v uint16) uint16 { return min(v, 255) }

// Ports implements Adapter.
func (a *fabricAdapter) Ports() ([]PortStatus, error) {
	n := a.h.Node
	out := make([]PortStatus, 0, n.NumPorts())
	err := n.Fabric().Do(func() {
		for i := 1; i <= n.NumPorts(); i++ {
			out = append(out, portStatus(a.h.Device, n.Port(i), i))
		}
	})
	if err != nil {
		return nil, fmt.Errorf("host: hca %s: read ports: %w", a.id.Name, err)
	}
	return out, nil
}

// localPortCounters reads port num's PortCounters with a local PerfMgt
// Get to the HCA's own PMA, as vstat -c does (so a counter reset by
// `perfquery -R` shows here too). It runs on the event loop.
func localPortCounters(d *hca.Device, p *emu.Port, num int) PortCounters {
	req := make([]byte, wire.MADSize)
	wire.MAD(req).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1,
		Method: wire.MethodGet, AttrID: wire.AttrPortCounters})
	wire.PortCounters(wire.PerfMAD(req).Data()).Encode(&wire.PortCountersFields{PortSelect: uint8(num)})
	resp, ok := d.PMA().Process(p, wire.MAD(req))
	if !ok || resp.Status() != wire.MADStatusOK {
		return PortCounters{}
	}
	c, err := wire.ParsePortCounters(wire.PerfMAD(resp).Data())
	if err != nil {
		return PortCounters{}
	}
	f := c.Fields()
	return PortCounters{
		LinkErrorRecovery: uint64(f.LinkErrorRecoveryCounter), LinkDowned: uint64(f.LinkDownedCounter),
		RcvErrors: uint64(f.PortRcvErrors), RcvRemotePhysErrors: uint64(f.PortRcvRemotePhysicalErrors),
		RcvSwitchRelayErrors: uint64(f.PortRcvSwitchRelayErrors), XmitDiscards: uint64(f.PortXmitDiscards),
		XmitConstraintErrors: uint64(f.PortXmitConstraintErrors), RcvConstraintErrors: uint64(f.PortRcvConstraintErrors),
		VL15Dropped: uint64(f.VL15Dropped),
		XmitData:    uint64(f.PortXmitData), RcvData: uint64(f.PortRcvData),
		XmitPkts: uint64(f.PortXmitPkts), RcvPkts: uint64(f.PortRcvPkts),
	}
}

// portStatus reads port num of d; it runs on the event loop.
func portStatus(d *hca.Device, p *emu.Port, num int) PortStatus {
	st := PortStatus{Num: num, GUID: d.PortGUID(num), State: p.State(), Phys: p.PhysState()}
	if p.IsUp() {
		st.Width, st.Speed = p.Width(), p.Speed()
	}
	if pa := d.SMA().Port(num); pa != nil {
		st.LID, st.LMC, st.SMLID, st.GIDPrefix = pa.LID, pa.LMC, pa.MasterSMLID, pa.GIDPrefix
		st.MTUCap = pa.Config.MTUCap
	}
	st.Counters = localPortCounters(d, p, num)
	return st
}

// detachedAdapter is an adapter with no cable: its ports poll forever.
type detachedAdapter struct{ id AdapterIdentity }

// DetachedAdapter is an adapter with the given identity and no link: its
// ports are Down and Polling. Hosts use it for installer-only work and
// for slots whose fabric HCA is not attached.
func DetachedAdapter(id AdapterIdentity) Adapter { return detachedAdapter{id: id} }

// Identity implements Adapter.
func (a detachedAdapter) Identity() AdapterIdentity { return a.id }

// Ports implements Adapter.
func (a detachedAdapter) Ports() ([]PortStatus, error) {
	out := make([]PortStatus, a.id.NumPorts)
	for i := range out {
		var g wire.GUID
		if i < len(a.id.PortGUIDs) {
			g = a.id.PortGUIDs[i]
		}
		out[i] = PortStatus{Num: i + 1, GUID: g, State: wire.PortStateDown, Phys: wire.PhysStatePolling, MTUCap: a.id.MTUCap}
	}
	return out, nil
}

// slotFromIdentity builds the slot record of a newly seen adapter.
func slotFromIdentity(slot int, id AdapterIdentity) HCASlot {
	return HCASlot{
		Slot: slot, Name: id.Name, Profile: id.Profile, Family: id.Family, Part: id.Part, Board: id.Board,
		DeviceID: id.DeviceID, Revision: id.Revision, VendorID: id.VendorID, NumPorts: id.NumPorts,
		NodeGUID: id.NodeGUID, SystemImageGUID: id.SystemImageGUID, PortGUIDs: append([]wire.GUID(nil), id.PortGUIDs...),
		MTUCap: id.MTUCap, Firmware: id.Firmware,
	}
}

// identityFromSlot describes the adapter a slot record stands for.
func identityFromSlot(s *HCASlot) AdapterIdentity {
	return AdapterIdentity{
		Name: s.Name, Profile: s.Profile, Family: s.Family, Part: s.Part, Board: s.Board,
		DeviceID: s.DeviceID, Revision: s.Revision, VendorID: s.VendorID, NumPorts: s.NumPorts,
		NodeGUID: s.NodeGUID, SystemImageGUID: s.SystemImageGUID, PortGUIDs: append([]wire.GUID(nil), s.PortGUIDs...),
		MTUCap: s.MTUCap, Firmware: s.Firmware,
	}
}
