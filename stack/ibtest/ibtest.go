// Package ibtest starts an emulated InfiniBand fabric inside a Go test in
// one call, the way net/http/httptest starts an HTTP server: no hardware,
// no root, no other process.
//
//	func TestMyTool(t *testing.T) {
//		f := ibtest.New(t, ibtest.FatTree(2, 8))    // stopped when the test ends
//		res := f.Discover()                         // walk it with directed-route SMPs
//		f.LinkDown("leaf1", 5)                      // inject a fault
//		tr := f.MADTransport("node1 HCA-1", 1)      // send your own MADs from an HCA
//		...
//	}
//
// A fabric comes from a topology file (FromFile), a topology in a string
// (FromString), a generator (FatTree, Line, Ring) or a topology value
// (FromTopology). It runs on the deterministic virtual clock unless
// WithWallClock is given: the same seed (WithSeed) gives the same packet
// order and the same fault-injection outcome. WithCapture records every
// frame crossing the fabric into an ERF pcap that Wireshark opens; the
// file is kept when the test fails.
//
// Nodes are named by their topology id or their NodeDescription. Host
// software reaches the fabric only through MADs on an HCA (MADTransport),
// as it would on hardware.
//
// ibtest sits on top of stack/fabric and may be imported by any test.
package ibtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/discover"
	"github.com/ibemu/ibemu/stack/fabric"
	"github.com/ibemu/ibemu/stack/mad"
)

// Source produces the topology a fabric is built from.
type Source func() (*topology.Topology, error)

// FromFile loads a topology file (ibsim net format or ibnetdiscover output).
func FromFile(path string) Source {
	return func() (*topology.Topology, error) { return topology.Load(path) }
}

// FromString parses a topology given inline, in the same format.
func FromString(text string) Source {
	return func() (*topology.Topology, error) { return topology.Parse("inline", strings.NewReader(text)) }
}

// FromTopology uses t as it is.
func FromTopology(t *topology.Topology) Source {
	return func() (*topology.Topology, error) { return t, nil }
}

// FatTree generates a 2- or 3-level fat tree of the given radix.
func FatTree(levels, radix int, opts ...topology.GenOption) Source {
	return func() (*topology.Topology, error) { return topology.FatTree(levels, radix, opts...) }
}

// Line generates a chain of switches with hcas HCAs each.
func Line(switches, hcas int, opts ...topology.GenOption) Source {
	return func() (*topology.Topology, error) { return topology.Line(switches, hcas, opts...) }
}

// Ring generates a ring of switches with hcas HCAs each.
func Ring(switches, hcas int, opts ...topology.GenOption) Source {
	return func() (*topology.Topology, error) { return topology.Ring(switches, hcas, opts...) }
}

// Option configures a test fabric.
type Option func(*config)

type config struct {
	emu     []emu.Option
	build   []fabric.Option
	capture string
}

// WithSeed seeds fault injection (default 1).
func WithSeed(seed uint64) Option {
	return func(c *config) { c.emu = append(c.emu, emu.WithSeed(seed)) }
}

// WithWallClock runs the fabric on the wall clock instead of the virtual one.
func WithWallClock() Option { return func(c *config) { c.emu = append(c.emu, emu.WithWallClock()) } }

// WithEmuOptions passes engine options through.
func WithEmuOptions(opts ...emu.Option) Option {
	return func(c *config) { c.emu = append(c.emu, opts...) }
}

// WithBuildOptions passes fabric builder options through (device models).
func WithBuildOptions(opts ...fabric.Option) Option {
	return func(c *config) { c.build = append(c.build, opts...) }
}

// WithCapture writes every frame crossing the fabric to the ERF pcap file
// at path. With New, an empty path means a file in the test's temporary
// directory that is copied next to the test binary's working directory as
// "<TestName>.pcap" when the test fails.
func WithCapture(path string) Option {
	return func(c *config) {
		if path == "" {
			path = "auto"
		}
		c.capture = path
	}
}

// Fabric is a running emulated fabric.
type Fabric struct {
	*fabric.Fabric
	capture *capture.Writer
	capPath string
}

// Start builds and starts a fabric. Stop it with Close. Most tests want
// New, which also registers the cleanup.
func Start(src Source, opts ...Option) (*Fabric, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	t, err := src()
	if err != nil {
		return nil, fmt.Errorf("ibtest: topology: %w", err)
	}
	fb, err := fabric.Build(t, append(c.build, fabric.WithEmuOptions(c.emu...))...)
	if err != nil {
		return nil, fmt.Errorf("ibtest: %w", err)
	}
	f := &Fabric{Fabric: fb}
	if c.capture != "" {
		if c.capture == "auto" {
			return nil, errors.New("ibtest: WithCapture(\"\") needs New (a test's temporary directory)")
		}
		if f.capture, err = capture.Create(c.capture); err != nil {
			return nil, fmt.Errorf("ibtest: %w", err)
		}
		f.capPath = c.capture
		fb.Emu.AddTap(f.capture)
	}
	if err := fb.Start(context.Background()); err != nil {
		return nil, fmt.Errorf("ibtest: %w", err)
	}
	return f, nil
}

// New starts a fabric for tb and stops it when the test ends; any setup
// error fails the test at once.
func New(tb testing.TB, src Source, opts ...Option) *Fabric {
	tb.Helper()
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.capture == "auto" {
		opts = append(opts, WithCapture(filepath.Join(tb.TempDir(), "capture.pcap")))
	}
	f, err := Start(src, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := f.Close(); err != nil {
			tb.Error(err)
		}
		if c.capture == "auto" && tb.Failed() && f.capPath != "" {
			name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name()) + ".pcap"
			if b, err := os.ReadFile(f.capPath); err == nil && os.WriteFile(name, b, 0o644) == nil {
				tb.Logf("ibtest: capture kept in %s", name)
			}
		}
	})
	return f
}

// Close stops the fabric and closes the capture. It is idempotent.
func (f *Fabric) Close() error {
	f.Stop()
	if f.capture != nil {
		err := f.capture.Close()
		f.capture = nil
		if err != nil {
			return fmt.Errorf("ibtest: %w", err)
		}
	}
	return nil
}

// CapturePath is the capture file, or "" when not capturing.
func (f *Fabric) CapturePath() string { return f.capPath }

// Port returns port num of the node named node (topology id or
// NodeDescription), or an error.
func (f *Fabric) Port(node string, num int) (*emu.Port, error) {
	n := f.Node(node)
	if n == nil {
		if h := f.HCA(node); h != nil {
			n = h.Node
		} else if s := f.Switch(node); s != nil {
			n = s.Node
		}
	}
	if n == nil {
		return nil, fmt.Errorf("ibtest: no node %q", node)
	}
	p := n.Port(num)
	if p == nil {
		return nil, fmt.Errorf("ibtest: %s has no port %d", n, num)
	}
	return p, nil
}

func (f *Fabric) withPort(node string, num int, fn func(p *emu.Port)) error {
	p, err := f.Port(node, num)
	if err != nil {
		return err
	}
	return f.Emu.Do(func() { fn(p) })
}

// LinkDown pulls the cable of a port.
func (f *Fabric) LinkDown(node string, port int) error {
	return f.withPort(node, port, func(p *emu.Port) {
		if l := p.Link(); l != nil {
			l.SetCut(true)
		}
	})
}

// LinkUp plugs the cable of a port back in.
func (f *Fabric) LinkUp(node string, port int) error {
	return f.withPort(node, port, func(p *emu.Port) {
		if l := p.Link(); l != nil {
			l.SetCut(false)
		}
	})
}

// SetDropRate makes a port lose that fraction of the frames it transmits.
func (f *Fabric) SetDropRate(node string, port int, rate float64) error {
	return f.withPort(node, port, func(p *emu.Port) { p.SetDropRate(rate) })
}

// SetCorruptRate makes a port corrupt that fraction of the frames it
// transmits; receivers fail their VCRC, drop them and count PortRcvErrors.
func (f *Fabric) SetCorruptRate(node string, port int, rate float64) error {
	return f.withPort(node, port, func(p *emu.Port) { p.SetCorruptRate(rate) })
}

// KillNode powers a node off: it stops answering and its links go down.
func (f *Fabric) KillNode(node string) error {
	p, err := f.Port(node, 1)
	if err != nil {
		return err
	}
	return f.Emu.Do(func() { f.Emu.KillNode(p.Node()) })
}

// ReviveNode powers a killed node back on.
func (f *Fabric) ReviveNode(node string) error {
	p, err := f.Port(node, 1)
	if err != nil {
		return err
	}
	return f.Emu.Do(func() { f.Emu.ReviveNode(p.Node()) })
}

// MADTransport is a MAD transport on port of the named HCA, through which
// host software sends and receives MADs (package stack/mad).
func (f *Fabric) MADTransport(hcaName string, port int) (mad.Transport, error) {
	h := f.HCA(hcaName)
	if h == nil {
		return nil, fmt.Errorf("ibtest: no HCA %q", hcaName)
	}
	if port < 1 || port > h.Node.NumPorts() {
		return nil, fmt.Errorf("ibtest: %s has no port %d", h.Node, port)
	}
	return mad.NewInProcess(f.Emu, h.Device, port), nil
}

// DiscoverFrom walks the fabric from port of the named HCA with
// directed-route SMPs, as ibnetdiscover does.
func (f *Fabric) DiscoverFrom(ctx context.Context, hcaName string, port int) (*discover.Result, error) {
	return f.DiscoverFromWith(ctx, hcaName, port, discover.Options{})
}

// DiscoverFromWith is DiscoverFrom with discovery options (more retries
// for a lossy fabric, say).
func (f *Fabric) DiscoverFromWith(ctx context.Context, hcaName string, port int, opts discover.Options) (*discover.Result, error) {
	tr, err := f.MADTransport(hcaName, port)
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	return discover.Discover(ctx, tr, opts)
}

// Discover walks the fabric from the first HCA's first port, within a
// minute.
func (f *Fabric) Discover() (*discover.Result, error) {
	h := f.FirstHCA()
	if h == nil {
		return nil, errors.New("ibtest: no HCA to discover from")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return f.DiscoverFrom(ctx, h.Topo.ID, 1)
}
