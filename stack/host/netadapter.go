package host

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// freeConnectionName is the next "Local Area Connection" name Windows
// would give a new network adapter: the bare name if free, then the
// lowest free "Local Area Connection N" from 2. Names of adapters whose
// device is not present still count, as on Windows.
func (h *Host) freeConnectionName() string {
	used := map[string]bool{}
	for _, a := range h.st.Adapters {
		used[strings.ToLower(a.Name)] = true
	}
	const base = "Local Area Connection"
	if !used[strings.ToLower(base)] {
		return base
	}
	for n := 2; ; n++ {
		name := base + " " + strconv.Itoa(n)
		if !used[strings.ToLower(name)] {
			return name
		}
	}
}

// ensureAdapter gives a started network device its connection, keeping
// the one it had (connections are bound to the device instance).
func (h *Host) ensureAdapter(d *Device) {
	for _, a := range h.st.Adapters {
		if strings.EqualFold(a.Device, d.InstanceID) {
			return
		}
	}
	desc := d.Description
	n := 0
	for _, a := range h.st.Adapters {
		if a.Description == desc || strings.HasPrefix(a.Description, desc+" #") {
			n++
		}
	}
	if n > 0 {
		desc = fmt.Sprintf("%s #%d", desc, n+1)
	}
	var mac string
	if d.Slot > 0 && d.Port > 0 {
		g := uint64(h.st.HCAs[d.Slot-1].PortGUIDs[d.Port-1])
		// WinOF's IPoIB derives the adapter's MAC from the port GUID:
		// the OUI and the low three bytes.
		mac = fmt.Sprintf("%02X-%02X-%02X-%02X-%02X-%02X", byte(g>>56), byte(g>>48), byte(g>>40), byte(g>>16), byte(g>>8), byte(g))
	}
	h.st.Adapters = append(h.st.Adapters, NetAdapter{
		Name: h.freeConnectionName(), Description: desc, Kind: AdapterIPoIB, Device: d.InstanceID, MAC: mac, DHCP: true,
	})
}

// dropAdapter removes the connection of device id.
func (h *Host) dropAdapter(id string) {
	for i, a := range h.st.Adapters {
		if a.Device != "" && strings.EqualFold(a.Device, id) {
			h.st.Adapters = append(h.st.Adapters[:i], h.st.Adapters[i+1:]...)
			return
		}
	}
}

// NetAdapters returns the network connections that are present: the
// Ethernet ports and the IPoIB adapters whose device runs.
func (h *Host) NetAdapters() []NetAdapter {
	var out []NetAdapter
	st := h.State()
	for _, a := range st.Adapters {
		if a.Kind == AdapterEthernet {
			out = append(out, a)
			continue
		}
		for _, d := range st.Devices {
			if strings.EqualFold(d.InstanceID, a.Device) && d.Status == StatusStarted {
				out = append(out, a)
			}
		}
	}
	return out
}

// NetAdapter returns the present connection called name (any case).
func (h *Host) NetAdapter(name string) (NetAdapter, error) {
	for _, a := range h.NetAdapters() {
		if strings.EqualFold(a.Name, name) {
			return a, nil
		}
	}
	return NetAdapter{}, fmt.Errorf("host: network connection %q: %w", name, ErrNotFound)
}

func (h *Host) adapter(name string) (*NetAdapter, error) {
	if _, err := h.NetAdapter(name); err != nil {
		return nil, err
	}
	for i := range h.st.Adapters {
		if strings.EqualFold(h.st.Adapters[i].Name, name) {
			return &h.st.Adapters[i], nil
		}
	}
	return nil, fmt.Errorf("host: network connection %q: %w", name, ErrNotFound)
}

// SetStaticAddress gives a connection a static IPv4 address, as
// `netsh interface ip set address NAME static IP MASK [GATEWAY]` does.
func (h *Host) SetStaticAddress(name, ip, mask, gateway string) error {
	a, err := h.adapter(name)
	if err != nil {
		return err
	}
	for _, v := range []struct{ what, s string }{{"address", ip}, {"mask", mask}, {"gateway", gateway}} {
		if v.s == "" && v.what == "gateway" {
			continue
		}
		if addr, err := netip.ParseAddr(v.s); err != nil || !addr.Is4() {
			return fmt.Errorf("host: set address of %q: %s %q is not an IPv4 address: %w", name, v.what, v.s, ErrBadConfig)
		}
	}
	a.DHCP, a.IPv4, a.Mask, a.Gateway = false, ip, mask, gateway
	return h.changed()
}

// SetDHCP returns a connection to DHCP (`netsh interface ip set address
// NAME dhcp`).
func (h *Host) SetDHCP(name string) error {
	a, err := h.adapter(name)
	if err != nil {
		return err
	}
	a.DHCP, a.IPv4, a.Mask, a.Gateway = true, "", "", ""
	return h.changed()
}

// RenameAdapter renames a connection (as the HPC network manager renames
// the IPoIB connection "Application").
func (h *Host) RenameAdapter(name, newName string) error {
	if newName == "" {
		return fmt.Errorf("host: rename %q: empty name: %w", name, ErrBadConfig)
	}
	for _, a := range h.st.Adapters {
		if strings.EqualFold(a.Name, newName) {
			return fmt.Errorf("host: rename %q to %q: %w", name, newName, ErrExists)
		}
	}
	a, err := h.adapter(name)
	if err != nil {
		return err
	}
	a.Name = newName
	return h.changed()
}
