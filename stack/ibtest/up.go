package ibtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/sm"
)

// UpFabric is a running fabric brought up by ibemu's subnet manager: every
// cabled port Active, LIDs assigned, forwarding tables written, the IPoIB
// broadcast group created and the SA answering on the SM's port.
type UpFabric struct {
	*Fabric
	// SM is the master subnet manager, on port 1 of the first HCA. It
	// keeps running (reacting to traps, joins and handovers, without
	// periodic light sweeps) until the fabric is closed.
	SM *sm.SM
	// Subnet is what the SM's heavy sweep found and configured.
	Subnet *sm.Subnet

	cancel context.CancelFunc
	done   chan struct{}
}

// Up starts a fabric for tb like New and brings it up with the subnet
// manager (default configuration: min-hop routing, LMC 0) in one call.
//
//	f := ibtest.Up(t, ibtest.FatTree(2, 8))
//	lid := f.LID("node3 HCA-1", 1)
func Up(tb testing.TB, src Source, opts ...Option) *UpFabric {
	tb.Helper()
	return UpWith(tb, src, sm.Config{}, opts...)
}

// UpWith is Up with a subnet manager configuration.
func UpWith(tb testing.TB, src Source, cfg sm.Config, opts ...Option) *UpFabric {
	tb.Helper()
	f := New(tb, src, opts...)
	u, err := BringUp(f, cfg)
	if err != nil {
		tb.Fatalf("ibtest: bring up: %v", err)
	}
	tb.Cleanup(func() { u.Close() })
	return u
}

// BringUp runs the subnet manager on port 1 of f's first HCA until the
// subnet is up. Close the result (which does not stop f).
func BringUp(f *Fabric, cfg sm.Config) (*UpFabric, error) {
	first := f.FirstHCA()
	if first == nil {
		return nil, fmt.Errorf("ibtest: bring up: the topology has no hca")
	}
	tr, err := f.MADTransport(first.Topo.ID, 1)
	if err != nil {
		return nil, fmt.Errorf("ibtest: bring up: %w", err)
	}
	if cfg.SweepInterval == 0 {
		// Virtual time jumps to the next timer when the fabric is idle:
		// periodic light sweeps would run back to back.
		cfg.SweepInterval = -1
	}
	m, err := sm.New(tr, cfg)
	if err != nil {
		return nil, fmt.Errorf("ibtest: bring up: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &UpFabric{Fabric: f, SM: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		_ = m.Run(ctx)
	}()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer wcancel()
	if err := m.WaitUp(wctx); err != nil {
		u.Close()
		return nil, fmt.Errorf("ibtest: bring up: %w", err)
	}
	u.Subnet = m.Subnet()
	return u, nil
}

// Close stops the subnet manager. It is idempotent; the fabric itself
// stops with its test (or its own Close).
func (u *UpFabric) Close() error {
	u.cancel()
	<-u.done
	return u.SM.Close()
}

// LID returns the base LID of port num of the named node (port 0 for a
// switch), or 0 when it has none.
func (u *UpFabric) LID(node string, num int) wire.LID {
	n := u.Fabric.Topology.NodeByID(node)
	if n == nil {
		n = u.Fabric.Topology.NodeByDesc(node)
	}
	if n == nil {
		return 0
	}
	sn := u.Subnet
	if sn == nil || sn.ByGUID[n.NodeGUID] == nil {
		return 0
	}
	sw := sn.ByGUID[n.NodeGUID]
	if num < 0 || num >= len(sw.Ports) || sw.Ports[num] == nil {
		return 0
	}
	if sw.IsSwitch() {
		return sw.Ports[0].LID
	}
	return sw.Ports[num].LID
}
