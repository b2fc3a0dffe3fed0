package ibtest_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/ibtest"
)

// capturedDiscovery discovers a fat tree whose spine ports drop 5% of what
// they send, and returns the capture's bytes.
func capturedDiscovery(t *testing.T, seed uint64) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.pcap")
	f := ibtest.New(t, ibtest.FatTree(2, 8), ibtest.WithSeed(seed), ibtest.WithCapture(path))
	for _, s := range f.Switches {
		if s.Topo.Desc[:5] == "spine" {
			for p := 1; p <= s.Topo.NumPorts; p++ {
				if err := f.SetDropRate(s.Topo.ID, p, 0.05); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	res, err := f.Discover()
	if err != nil {
		t.Fatal(err)
	}
	if err := topology.Compare(f.Topology, res.Topology); err != nil {
		t.Fatalf("with 5%% loss on the spines: %v (problems: %v)", err, res.Problems)
	}
	if f.Emu.Dropped() == 0 {
		t.Fatal("no frame was dropped: the fault injection did nothing")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSameSeedSameCapture checks the virtual clock's promise: the same seed
// gives the same frames in the same order at the same virtual times, even
// with loss and retries, so a failing run replays exactly.
func TestSameSeedSameCapture(t *testing.T) {
	a := capturedDiscovery(t, 11)
	b := capturedDiscovery(t, 11)
	if !bytes.Equal(a, b) {
		t.Fatalf("same seed, different captures (%d and %d bytes)", len(a), len(b))
	}
	c := capturedDiscovery(t, 12)
	if bytes.Equal(a, c) {
		t.Fatal("a different seed gave the same capture")
	}
}
