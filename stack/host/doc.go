// Package host emulates the computers InfiniBand HCAs sit in: an
// operating system flavour (Windows XP, Server 2003, Vista, Server 2008,
// HPC Server 2008, or Linux) and architecture (x86, x64, ia64), the HCAs
// in its PCI slots, and the parts of the system host software and
// installers touch.
//
// # What it owns
//
//   - The disk (fs.go): a real directory, the host's root. Windows drive
//     X: is <root>/X, a Linux host's / is <root>/rootfs. Windows paths
//     (with %SystemRoot%-style references) map onto it portably: names
//     compare without regard to case, as on NTFS, and only names Windows
//     can hold are accepted, so a root written on Linux opens on Windows.
//     System folders, Program Files, the driver store
//     (System32\DriverStore\FileRepository on Vista and later) and
//     %SystemDrive%\DAT live there.
//   - The state Windows keeps in its registry (model.go), saved as JSON in
//     <root>/host.json after every change, atomically (a temporary file
//     and a rename): the Plug and Play device tree with driver binding by
//     hardware ID (pnp.go: PCI\VEN_15B3&DEV_6282 binds mthca,
//     DEV_673C the mlx4 bus driver, as the staged packages say), the
//     driver store, services with start modes (services.go), network
//     adapters with names and addresses (netadapter.go), the system
//     environment (PATH, DAT_OVERRIDE), certificate stores, installed
//     products, Winsock Direct and NetworkDirect providers, fabric disks,
//     and the System event log (registry.go).
//   - The hardware (hca.go): HCA slots, each backed by an Adapter: an
//     emulated HCA of a running fabric (FabricAdapter) or one with no
//     cable (DetachedAdapter), so hosts exist without a fabric for
//     installer-only work. The slot records the firmware image in the
//     adapter's flash; BurnFirmware replaces it (flint) and the HCA
//     drivers' firmware policy (FirmwareRule) is applied when the device
//     starts, so a restart or reboot re-evaluates it.
//   - Transactions (tx.go): Begin/Commit/Rollback make a set of changes
//     all-or-nothing, with a write-ahead journal in %SystemDrive%\Config.Msi
//     (Windows Installer's rollback folder). A process killed in the middle
//     leaves the journal; the next Open rolls its changes back, so the tree
//     and the state are byte for byte what they were (TakeSnapshot,
//     Snapshot.Diff check that).
//   - Reboot and Reimage (host.go). Services' programs are emulated by
//     ServiceRunners registered by image name (the installer registers
//     opensm.exe); a runner whose program keeps running in this process
//     (a ServiceAttacher) is detached on Close and resumed by an Open with
//     live adapters, and KillService ends it as a killed process would.
//
// A second process reopens a host with Open. A missing, corrupt or
// half-written state file is an error naming the problem (ErrNoHost,
// ErrCorruptState), and the root is left as it was.
//
// # Concurrency
//
// A Host is used by one goroutine at a time. Only one transaction may be
// open on a root at a time across processes (ErrBusy). FabricAdapter
// reads port state on the fabric's event loop through emu.Fabric.Do.
//
// # Who may import it
//
// The installer (stack/install), the rest of the host stack, scenarios,
// cmd and tests. It imports emu, emu/wire, hca and stack/fabric.
package host
