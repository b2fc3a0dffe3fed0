// Package install is the WinOF installer and the host tools that come
// with it, run against an emulated host (package host). It reproduces the
// installer lifecycle of the WinOF 2.2.1 release notes.
//
// # What it owns
//
//   - The package catalogue (catalog.go): WinOF 2.2.1 (wxp, wnet and wlh
//     packages for x86, x64 and ia64) and WinOF 1.1, the last release
//     with the root-enumerated "InfiniBand Fabric" device; their features
//     (IBcore, fIPoIB, fWSD, fND, fDAPL, fSRP, fVNIC,
//     OpenSM_Service_Started, fChecked), files and driver packages. The
//     HCA driver is not a feature choice: both mthca (InfiniHost) and the
//     mlx4 bus and HCA drivers (ConnectX) are staged, and Plug and Play
//     binds by PCI device ID. WSD is offered on Server 2003 and 2008 only,
//     NetworkDirect on Server 2008, HPC Server 2008 and Vista only, SRP and
//     VNIC never by default. The HCA drivers carry their firmware policy
//     (minimal and optimal versions per device ID).
//   - msiexec (cmdline.go, install.go, uninstall.go): ParseCommandLine
//     takes the command lines of the release notes (/i, /x by package or
//     product code, /a, /qn, /quiet, /passive, /log, /l*v, /forcerestart,
//     PROPERTY=value; property and feature names are case-sensitive) and
//     Run carries them out: interactive and unattended installs, NODRV=1,
//     administrative installs (TARGETDIR, whose last folder must not
//     exist), uninstalls. Every change runs in a host transaction: a step
//     that fails rolls everything back, and an installer killed at any step
//     (Options.Fault returning ErrKilled) is rolled back by the host's next
//     Open, byte for byte. Unsigned-by-WHQL drivers install unattended only
//     when the publisher is in the host's Trusted Publishers store
//     (TrustPublisher); interactively the user is asked (Options.Prompt).
//   - The troubleshooting cases: a leftover "InfiniBand Fabric" device
//     makes the driver install fail with "DriverInstall - HCA Ret 2 Error 0";
//     leftover driver store folders are used instead of the new files; an
//     online SRP disk (AttachSRPDisk) keeps driver files in use so they
//     linger after an uninstall; IBScan and IBCleanup list and remove
//     every WinOF file.
//   - Host tools (tools.go, opensm.go): Vstat in WinOF's layout from the
//     emulated HCAs' live port state, InstalledRelease (release, file and
//     driver versions), flint query and burn of firmware images
//     (FlintQuery, FlintBurn; the host records the image, the driver
//     checks it when the device restarts), ProvisionDrivers (HPC image
//     provisioning), and the OpenSM service: installed disabled, or
//     automatic and started with OpenSM_Service_Started, it runs ibemu's
//     subnet manager (stack/sm) on the first local port whose link is up
//     and logs to %SystemRoot%\Temp\osm.log. It survives reboots, can be
//     killed (host.KillService) and restarted, and resumes when a later
//     process opens the host with the fabric attached (RunningSM).
//
// Package data that the release notes do not give (product codes, build
// dates) are stable values of ours, documented where they are defined.
//
// # Concurrency
//
// Run and the tools use the host from the caller's goroutine; one run at
// a time per host (a second gets ErrBusy). The OpenSM service's subnet
// manager runs on goroutines of its own, over the in-process MAD
// transport, from the service's start until it stops, is killed, or the
// Host is closed or abandoned.
//
// # Who may import it
//
// cmd/ibemu, scenarios and tests. It imports emu/wire, stack/host,
// stack/fabric, stack/mad and stack/sm.
package install
