package scenarios

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gleak"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/host/hosttest"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/install"
)

// Seed is the fabric seed of the current spec: GinkgoRandomSeed mixed
// with the spec's full text.
func Seed() uint64 {
	h := fnv.New64a()
	h.Write([]byte(CurrentSpecReport().FullText()))
	return uint64(GinkgoRandomSeed())*0x9E3779B97F4A7C15 ^ h.Sum64()
}

// ArtifactDir is where failed specs keep their captures: $IBEMU_ARTIFACTS,
// or ibemu-scenarios in the system's temporary folder.
func ArtifactDir() string {
	if d := os.Getenv("IBEMU_ARTIFACTS"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "ibemu-scenarios")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// StartFabric starts an in-process fabric from src for the current spec
// (or, called in BeforeAll, for its Ordered container), seeded with
// Seed() and capturing every frame. It is stopped at cleanup; if the spec
// failed, the capture is kept in ArtifactDir and a fabric dump attached.
func StartFabric(src ibtest.Source, opts ...ibtest.Option) *ibtest.Fabric {
	GinkgoHelper()
	seed := Seed()
	capPath := filepath.Join(hosttest.TempDir(GinkgoT()), "capture.pcap")
	f, err := ibtest.Start(src, append([]ibtest.Option{ibtest.WithSeed(seed), ibtest.WithCapture(capPath)}, opts...)...)
	Expect(err).NotTo(HaveOccurred())
	AddReportEntry("fabric seed", fmt.Sprintf("%d (suite --seed=%d)", seed, GinkgoRandomSeed()), ReportEntryVisibilityFailureOrVerbose)
	// Cleanups run last-registered first: dump while the fabric runs,
	// close it (flushing the capture), then keep the capture.
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		dir := ArtifactDir()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return
		}
		name := unsafeName.ReplaceAllString(CurrentSpecReport().FullText(), "_")
		if len(name) > 120 {
			name = name[:120]
		}
		dst := filepath.Join(dir, fmt.Sprintf("%s-p%d.pcap", name, GinkgoParallelProcess()))
		if b, err := os.ReadFile(capPath); err == nil && os.WriteFile(dst, b, 0o644) == nil {
			AddReportEntry("capture", dst)
		}
	})
	DeferCleanup(func() { Expect(f.Close()).To(Succeed()) })
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			AddReportEntry("fabric dump", Dump(f.Fabric))
		}
	})
	return f
}

// Dump describes a fabric for a failure report: its topology (ibsim net
// format) and the state of every port.
func Dump(f *fabric.Fabric) string {
	var b strings.Builder
	if err := topology.Write(&b, f.Topology); err != nil {
		fmt.Fprintf(&b, "topology: %v\n", err)
	}
	b.WriteString("\nports:\n")
	err := f.Emu.Do(func() {
		for _, n := range f.Emu.Nodes() {
			alive := ""
			if !n.Alive() {
				alive = " (killed)"
			}
			for i := 1; i <= n.NumPorts(); i++ {
				p := n.Port(i)
				if p.Link() == nil {
					continue
				}
				peer := "-"
				if q := p.Peer(); q != nil {
					peer = q.String()
				}
				fmt.Fprintf(&b, "  %s%s: %s/%s %s %s drop=%.3f -> %s\n", p, alive, p.State(), p.PhysState(), p.Width(), p.Speed(), p.DropRate(), peer)
			}
		}
	})
	if err != nil {
		fmt.Fprintf(&b, "  (fabric stopped: %v)\n", err)
	}
	return b.String()
}

// NewHost creates a host root for the current spec (or Ordered
// container); it is closed at cleanup, and summarised in the report if
// the spec failed.
func NewHost(cfg host.Config) *host.Host {
	GinkgoHelper()
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("NODE%d", GinkgoParallelProcess())
	}
	h, err := host.Create(filepath.Join(hosttest.TempDir(GinkgoT()), "host"), cfg)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(h.Close()).To(Succeed()) })
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			AddReportEntry("host", HostSummary(h))
		}
	})
	return h
}

// HostSummary describes a host for a failure report.
func HostSummary(h *host.Host) string {
	var b strings.Builder
	fmt.Fprintf(&b, "root %s: %s %s boot %d\n", h.Root(), h.OS(), h.Arch(), h.Boots())
	for _, p := range h.Products() {
		fmt.Fprintf(&b, "product %s %s\n", p.Name, p.Code)
	}
	for _, d := range h.Devices() {
		fmt.Fprintf(&b, "device %-40s %-10s %s problem=%d %s\n", d.Description, d.Service, d.Status, d.Problem, d.InstanceID)
	}
	for _, s := range h.Services() {
		fmt.Fprintf(&b, "service %s %s %s\n", s.Name, s.StartMode, s.State)
	}
	for _, e := range h.Events() {
		if e.Level != host.LevelInformation {
			fmt.Fprintf(&b, "event %s %s %d %s\n", e.Level, e.Source, e.ID, e.Message)
		}
	}
	return b.String()
}

// FabricHost creates a host whose PCI slots hold the named HCAs of f
// (topology ids or descriptions), live.
func FabricHost(f *ibtest.Fabric, o host.OS, a host.Arch, hcas ...string) *host.Host {
	GinkgoHelper()
	var adapters []host.Adapter
	for _, n := range hcas {
		fh := f.HCA(n)
		Expect(fh).NotTo(BeNil(), "no HCA %q", n)
		adapters = append(adapters, host.FabricAdapter(fh))
	}
	return NewHost(host.Config{OS: o, Arch: a, Adapters: adapters})
}

// Detached is an HCA of the named model with no cable, for installer-only
// hosts.
func Detached(profile string, guid uint64) host.Adapter {
	GinkgoHelper()
	p, err := hca.StandardProfiles().Lookup(profile)
	Expect(err).NotTo(HaveOccurred())
	return host.DetachedAdapter(host.IdentityFromProfile(p, profile, wire.GUID(guid), 0, nil))
}

// CheckGoroutines snapshots the running goroutines; at cleanup (after
// everything registered later has been torn down) it checks with gleak
// that none was leaked.
func CheckGoroutines() {
	GinkgoHelper()
	snap := gleak.Goroutines()
	DeferCleanup(func() {
		Eventually(gleak.Goroutines).ShouldNot(gleak.HaveLeaked(snap), "goroutines leaked")
	})
}

// Msiexec replays an msiexec command line on h.
func Msiexec(h *host.Host, line string, o install.Options) (*install.Result, error) {
	args, err := install.SplitCommandLine(line)
	if err != nil {
		return nil, err
	}
	req, err := install.ParseCommandLine(args)
	if err != nil {
		return nil, err
	}
	return install.Run(h, req, o)
}

// MustMsiexec replays a command line that must succeed.
func MustMsiexec(h *host.Host, line string) *install.Result {
	GinkgoHelper()
	res, err := Msiexec(h, line, install.Options{})
	if err != nil && res != nil {
		AddReportEntry("msiexec log", strings.Join(res.Log, "\n"))
	}
	Expect(err).NotTo(HaveOccurred(), line)
	return res
}

// Snapshot records the host's root, byte for byte.
func Snapshot(h *host.Host) host.Snapshot {
	GinkgoHelper()
	s, err := host.TakeSnapshot(h.Root())
	Expect(err).NotTo(HaveOccurred())
	return s
}

// EqualSnapshot succeeds when the host's root holds exactly what want
// recorded.
func EqualSnapshot(want host.Snapshot) OmegaMatcher {
	return WithTransform(func(h *host.Host) []string {
		got, err := host.TakeSnapshot(h.Root())
		if err != nil {
			return []string{err.Error()}
		}
		return want.Diff(got)
	}, BeEmpty())
}

// SuiteSetup is what every suite's BeforeSuite does: gomega's
// asynchronous defaults sized for the emulator, and the seed that
// replays the run, printed.
func SuiteSetup() {
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(10 * time.Millisecond)
	SetDefaultConsistentlyDuration(200 * time.Millisecond)
	AddReportEntry("replay", fmt.Sprintf("ginkgo --seed=%d (fabric seeds derive from it and each spec's text)", GinkgoRandomSeed()), ReportEntryVisibilityAlways)
}
