package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/install"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// runHost manages emulated host roots.
//
//	ibemu host create --host DIR --os OS --arch ARCH [--name NAME] [--ethernet N] [--hca PROFILE]... [--topology FILE --node ID]...
//	ibemu host show|devices|events|reboot|reimage|trust --host DIR [--topology FILE]
//	ibemu host remove-device --host DIR INSTANCE-ID
//	ibemu host offline-disk --host DIR VOLUME
func runHost(stdout, stderr io.Writer, args []string) error {
	const synopsis = "host create|show|devices|events|reboot|reimage|trust|remove-device|offline-disk --host DIR [...]"
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: ibemu %s\n", synopsis)
		return fmt.Errorf("%w: no subcommand", errUsage)
	}
	sub, rest := args[0], args[1:]
	root, topo, rest, err := hostArgs(rest)
	if err != nil {
		return err
	}
	if sub == "create" {
		return hostCreate(stdout, stderr, root, topo, rest)
	}
	fs := newFlagSet("host "+sub, stderr, synopsis)
	pos, err := parseArgs(fs, rest)
	if err != nil {
		return err
	}
	h, err := openHost(root, topo)
	if err != nil {
		return err
	}
	defer h.Close()
	need := func(n int) error {
		if len(pos) != n {
			return fmt.Errorf("%w: host %s takes %d argument(s)", errUsage, sub, n)
		}
		return nil
	}
	switch sub {
	case "show":
		return hostShow(stdout, h.Host)
	case "devices":
		for _, d := range h.Devices() {
			state := string(d.Status)
			if d.Status == host.StatusProblem {
				state = fmt.Sprintf("problem (code %d)", d.Problem)
			}
			class := d.Class
			if class == "" {
				class = "Other devices"
			}
			fmt.Fprintf(stdout, "%-22s %-48s %-12s %s\n  %s\n", class, d.Description, d.Service, state, d.InstanceID)
		}
	case "events":
		for _, e := range h.Events() {
			fmt.Fprintf(stdout, "%5d %s %-11s %-26s %5d %s\n", e.Record, e.Time.Format("2006-01-02 15:04:05"), e.Level, e.Source, e.ID, e.Message)
		}
	case "reboot":
		if err := h.Reboot(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s restarted (boot %d)\n", h.Name(), h.Boots())
	case "reimage":
		if err := h.Reimage(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s re-imaged with a clean %s\n", h.Name(), h.OS())
	case "trust":
		if err := install.TrustPublisher(h.Host); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s added to the Trusted Publishers store of %s\n", install.Publisher, h.Name())
	case "remove-device":
		if err := need(1); err != nil {
			return err
		}
		return h.RemoveDevice(pos[0])
	case "offline-disk":
		if err := need(1); err != nil {
			return err
		}
		return h.OfflineDisk(pos[0])
	default:
		return fmt.Errorf("%w: unknown host subcommand %q", errUsage, sub)
	}
	return nil
}

func hostCreate(stdout, stderr io.Writer, root, topo string, args []string) error {
	fs := newFlagSet("host create", stderr, "host create --host DIR --os OS --arch ARCH [--name NAME] [--ethernet N] [--hca PROFILE]... [--topology FILE --node ID]...")
	osName := fs.String("os", "", "xp, server2003, vista, server2008, hpc2008 or linux")
	archName := fs.String("arch", "", "x86, x64 or ia64")
	name := fs.String("name", "NODE", "computer name")
	eth := fs.Int("ethernet", 1, "built-in Ethernet ports")
	var hcas, nodes stringList
	fs.Var(&hcas, "hca", "an HCA of this model in the next PCI slot (repeatable; "+strings.Join(hca.StandardProfiles().Names(), ", ")+")")
	fs.Var(&nodes, "node", "the topology HCA (id or description) in the next PCI slot (repeatable; needs --topology)")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	o, err := host.ParseOS(*osName)
	if err != nil {
		return fmt.Errorf("%w: --os: %v", errUsage, err)
	}
	a, err := host.ParseArch(*archName)
	if err != nil {
		return fmt.Errorf("%w: --arch: %v", errUsage, err)
	}
	if *eth == 0 {
		*eth = -1
	}
	cfg := host.Config{Name: *name, OS: o, Arch: a, EthernetPorts: *eth}
	reg := hca.StandardProfiles()
	for i, p := range hcas {
		prof, err := reg.Lookup(p)
		if err != nil {
			return fmt.Errorf("%w: --hca: %v", errUsage, err)
		}
		cfg.Adapters = append(cfg.Adapters, host.DetachedAdapter(host.IdentityFromProfile(prof, fmt.Sprintf("slot%d", i+1), hostGUID(*name, i+1), 0, nil)))
	}
	if len(nodes) > 0 {
		if topo == "" {
			return fmt.Errorf("%w: --node needs --topology", errUsage)
		}
		fab, err := startFabric(topo)
		if err != nil {
			return err
		}
		defer fab.Stop()
		for _, n := range nodes {
			fh := fab.HCA(n)
			if fh == nil {
				return fmt.Errorf("%w: --node %q: no HCA of %s has that id or description", errUsage, n, topo)
			}
			cfg.Adapters = append(cfg.Adapters, host.FabricAdapter(fh))
		}
	}
	h, err := host.Create(root, cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	fmt.Fprintf(stdout, "created %s (%s %s) in %s with %d HCA(s)\n", h.Name(), h.OS(), h.Arch(), h.Root(), len(h.HCAs()))
	return nil
}

// hostShow prints a summary of the host.
func hostShow(w io.Writer, h *host.Host) error {
	fmt.Fprintf(w, "%s: %s %s, boot %d", h.Name(), h.OS(), h.Arch(), h.Boots())
	if h.RebootPending() {
		fmt.Fprint(w, ", restart pending")
	}
	fmt.Fprintln(w)
	for _, s := range h.HCAs() {
		fmt.Fprintf(w, "hca slot %d: %s %s (%s) firmware %s PSID %s node guid 0x%016x\n", s.Slot, s.Family, s.Part, s.Board, s.Firmware.Version, s.Firmware.PSID, uint64(s.NodeGUID))
	}
	for _, p := range h.Products() {
		fmt.Fprintf(w, "product: %s %s %s (%s)\n", p.Name, p.Version, p.Code, strings.Join(p.Features, ", "))
	}
	if info, err := install.InstalledRelease(h); err == nil {
		fmt.Fprintf(w, "release: %s %s, file version %s\n", info.Product, info.Version, info.FileVersion)
		for _, d := range info.Drivers {
			fmt.Fprintf(w, "driver: %-10s %-14s %s  %s\n", d.Service, d.Version, d.INF, d.Description)
		}
	}
	for _, s := range h.Services() {
		if s.Kind == host.KindProcess {
			fmt.Fprintf(w, "service: %s (%s) %s, %s\n", s.Name, s.DisplayName, s.StartMode, s.State)
		}
	}
	for _, a := range h.NetAdapters() {
		addr := "DHCP"
		if !a.DHCP {
			addr = a.IPv4 + "/" + a.Mask
		}
		fmt.Fprintf(w, "connection: %q %s %s %s\n", a.Name, a.Description, a.MAC, addr)
	}
	for _, p := range h.Providers() {
		fmt.Fprintf(w, "provider: %s %s %s\n", p.Kind, p.Name, p.Path)
	}
	for _, d := range h.Disks() {
		fmt.Fprintf(w, "disk: %s: (%s) online=%v\n", d.Volume, d.Transport, d.Online)
	}
	fmt.Fprintf(w, "PATH=%s\n", h.Getenv("PATH"))
	if v, ok := h.LookupEnv("DAT_OVERRIDE"); ok {
		fmt.Fprintf(w, "DAT_OVERRIDE=%s\n", v)
	}
	if h.OS().IsWindows() {
		if log, err := h.ReadFile(install.OpenSMLog); err == nil {
			fmt.Fprintf(w, "%s:\n%s", h.ExpandEnv(install.OpenSMLog), log)
		}
	}
	return nil
}

// runVstat prints the host's HCAs in WinOF's vstat layout.
//
//	ibemu vstat --host DIR [--topology FILE] [-c]
func runVstat(stdout, stderr io.Writer, args []string) error {
	root, topo, rest, err := hostArgs(args)
	if err != nil {
		return err
	}
	fs := newFlagSet("vstat", stderr, "vstat --host DIR [--topology FILE] [-c]")
	counters := fs.Bool("c", false, "print port counters")
	if pos, err := parseArgs(fs, rest); err != nil {
		return err
	} else if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected %q", errUsage, pos[0])
	}
	h, err := openHost(root, topo)
	if err != nil {
		return err
	}
	defer h.Close()
	out, err := install.Vstat(h.Host, install.VstatOptions{Counters: *counters})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, out)
	return nil
}

// runFlint queries and burns HCA firmware.
//
//	ibemu flint --host DIR --mst
//	ibemu flint --host DIR -d DEVICE query
//	ibemu flint --host DIR -d DEVICE -i IMAGE [--allow-psid-change] burn
//	ibemu flint image --device-id N --psid PSID --fw VERSION -o FILE
func runFlint(stdout, stderr io.Writer, args []string) error {
	const synopsis = "flint --host DIR (--mst | -d DEVICE query | -d DEVICE -i IMAGE burn) | flint image --device-id N --psid PSID --fw X.Y.Z -o FILE"
	if len(args) > 0 && args[0] == "image" {
		fs := newFlagSet("flint image", stderr, synopsis)
		id := fs.Uint("device-id", 0, "PCI device ID, decimal (26428 for ConnectX-2, 25218 for InfiniHost III Ex)")
		psid := fs.String("psid", "", "board PSID")
		fw := fs.String("fw", "", "firmware version")
		out := fs.String("o", "", "output file")
		if _, err := parseArgs(fs, args[1:]); err != nil {
			return err
		}
		v, err := host.ParseFirmwareVersion(*fw)
		if err != nil || *id == 0 || *id > 0xFFFF || *psid == "" || *out == "" {
			return fmt.Errorf("%w: flint image needs --device-id, --psid, --fw X.Y.Z and -o", errUsage)
		}
		img := install.FirmwareImageFile(uint16(*id), host.FirmwareImage{Version: v, PSID: *psid})
		if _, _, err := install.ParseFirmwareImage(img); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return os.WriteFile(*out, img, 0o644)
	}
	root, topo, rest, err := hostArgs(args)
	if err != nil {
		return err
	}
	fs := newFlagSet("flint", stderr, synopsis)
	dev := fs.String("d", "", "mst device (mt26428_pci_cr0)")
	image := fs.String("i", "", "firmware image file")
	mst := fs.Bool("mst", false, "list the devices, as mst status does")
	allow := fs.Bool("allow-psid-change", false, "burn an image with another PSID")
	pos, err := parseArgs(fs, rest)
	if err != nil {
		return err
	}
	h, err := openHost(root, topo)
	if err != nil {
		return err
	}
	defer h.Close()
	if *mst {
		for _, d := range install.MSTDevices(h.Host) {
			fmt.Fprintln(stdout, d)
		}
		return nil
	}
	if *dev == "" || len(pos) != 1 {
		return fmt.Errorf("%w: usage: ibemu %s", errUsage, synopsis)
	}
	switch pos[0] {
	case "query", "q":
		out, err := install.FlintQuery(h.Host, *dev)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, out)
	case "burn", "b":
		if *image == "" {
			return fmt.Errorf("%w: burn needs -i IMAGE", errUsage)
		}
		img, err := os.ReadFile(*image)
		if err != nil {
			return err
		}
		out, err := install.FlintBurn(h.Host, *dev, img, *allow)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, out)
	default:
		return fmt.Errorf("%w: unknown flint command %q (query or burn)", errUsage, pos[0])
	}
	return nil
}

// runIBScan lists every WinOF file on the host.
//
//	ibemu ibscan --host DIR
func runIBScan(stdout, stderr io.Writer, args []string) error {
	root, topo, rest, err := hostArgs(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected %q", errUsage, rest[0])
	}
	h, err := openHost(root, topo)
	if err != nil {
		return err
	}
	defer h.Close()
	files, err := install.IBScan(h.Host)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, f)
	}
	fmt.Fprintf(stderr, "%d WinOF files and folders\n", len(files))
	return nil
}

// runIBCleanup removes every WinOF file from the host (not an uninstall).
//
//	ibemu ibcleanup --host DIR
func runIBCleanup(stdout, stderr io.Writer, args []string) error {
	root, topo, rest, err := hostArgs(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: unexpected %q", errUsage, rest[0])
	}
	h, err := openHost(root, topo)
	if err != nil {
		return err
	}
	defer h.Close()
	removed, kept, err := install.IBCleanup(h.Host)
	for _, f := range removed {
		fmt.Fprintf(stdout, "removed %s\n", f)
	}
	for _, f := range kept {
		fmt.Fprintf(stdout, "in use, kept %s\n", f)
	}
	fmt.Fprintln(stderr, "WARNING: ibcleanup is not an uninstall tool")
	if err != nil && errors.Is(err, host.ErrInUse) {
		return fmt.Errorf("%d files are in use (release SRP disks first): %w", len(kept), err)
	}
	return err
}
