package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ibemu/ibemu/conformance"
	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/attach"
	"github.com/ibemu/ibemu/stack/mad"
)

// madTarget runs the conformance checks through a stack/mad Transport:
// an emulated HCA in process (mad.NewInProcess), an attach client of
// ibemu serve or ibsim (stack/attach.Dial), or a real HCA's Linux umad
// device (mad.OpenUmad). It lives here because the conformance package
// may depend on the wire codecs only. It registers one agent per
// management class and version the checks send, on first use.
type madTarget struct {
	tr   mad.Transport
	opts mad.Options

	mu     sync.Mutex
	agents map[agentKey]*mad.Agent

	// takesTraps says the transport delivers the traps sent to this
	// port's LID (in process, umad; not an attach server, which gives
	// traps to SM clients only). trapAgent serves them while Traps runs.
	takesTraps bool
	trapAgent  *mad.Agent
}

type agentKey struct {
	class   wire.MgmtClass
	version uint8
}

var _ conformance.Target = (*madTarget)(nil)

// newMADTarget returns a madTarget sending through tr with the agents'
// options opts (their Timeout and Retries bound the wait for each
// response).
func newMADTarget(tr mad.Transport, opts mad.Options) *madTarget {
	return &madTarget{tr: tr, opts: opts, agents: map[agentKey]*mad.Agent{}}
}

// Exchange implements conformance.Target.
func (t *madTarget) Exchange(ctx context.Context, addr conformance.Address, req []byte) ([]byte, error) {
	if len(req) != wire.MADSize {
		return nil, fmt.Errorf("conform: %d-byte request, want %d", len(req), wire.MADSize)
	}
	m := wire.MAD(req)
	a, err := t.agent(m.MgmtClass(), m.ClassVersion())
	if err != nil {
		return nil, err
	}
	to := mad.Addr{LID: addr.LID, QPN: addr.QPN}
	if m.MgmtClass() == wire.MgmtClassSubnDirected {
		to = mad.Addr{LID: wire.LIDPermissive}
	}
	resp, err := a.CallRequest(ctx, mad.Request{Addr: to, MAD: req})
	var se *wire.MADStatusError
	switch {
	case err == nil, errors.As(err, &se) && resp != nil:
		return resp, nil
	case errors.Is(err, mad.ErrTimeout), errors.Is(err, attach.ErrUndeliverable):
		// An attach server returns a MAD it could not deliver, or that
		// got no answer, with status 110, as libumad2sim reports a
		// timeout: to the checks that is no response.
		return nil, fmt.Errorf("%w: %w", conformance.ErrNoResponse, err)
	}
	return nil, err
}

// Sleep implements conformance.Sleeper on the transport's clock: the
// fabric's for the in-process transport, the wall clock for the others.
func (t *madTarget) Sleep(ctx context.Context, d time.Duration) error {
	if err := sleepOn(ctx, t.tr.Clock(), d); err != nil {
		return fmt.Errorf("conform: sleep: %w", err)
	}
	return nil
}

// sleepOn waits d on clock clk (a fabric's virtual clock moves on at once
// when nothing else is due), or until ctx ends.
func sleepOn(ctx context.Context, clk emu.Clock, d time.Duration) error {
	done := make(chan struct{})
	tm := clk.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		tm.Stop()
		return ctx.Err()
	}
}

// agent returns the agent of class and version, registering it first.
func (t *madTarget) agent(class wire.MgmtClass, version uint8) (*mad.Agent, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := agentKey{class, version}
	if a := t.agents[k]; a != nil {
		return a, nil
	}
	qpn := uint32(1)
	if class == wire.MgmtClassSubnLID || class == wire.MgmtClassSubnDirected {
		qpn = 0
	}
	a, err := mad.NewAgent(t.tr, mad.Registration{QPN: qpn, Class: class, ClassVersion: version}, t.opts)
	if err != nil {
		return nil, fmt.Errorf("conform: register class %s version %d: %w", class, version, err)
	}
	t.agents[k] = a
	return a, nil
}

// Traps implements conformance.TrapReceiver: an agent on QP0 takes the
// SubnTrap requests that reach this port, answers each with TrapRepress
// carrying mkey, as an SM does, and hands it on. The target has it only when its
// transport delivers traps (takesTraps); otherwise it fails with
// errors.ErrUnsupported.
func (t *madTarget) Traps(mkey uint64) (<-chan []byte, func(), error) {
	if !t.takesTraps {
		return nil, nil, fmt.Errorf("conform: traps: %w", errors.ErrUnsupported)
	}
	a, err := mad.NewAgent(t.tr, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1,
		Methods: []wire.Method{wire.MethodTrap}}, t.opts)
	if err != nil {
		// Most often an SM on this port takes its traps already.
		return nil, nil, fmt.Errorf("conform: this port cannot take traps (%w): %w", err, errors.ErrUnsupported)
	}
	ch := make(chan []byte, 64)
	a.Serve(func(r *mad.Received) {
		repress := slices.Clone(r.MAD)
		wire.MAD(repress).SetResponse(wire.MADStatusOK)
		wire.SMP(repress).SetMKey(mkey)
		_ = a.Send(r.Addr.ReplyAddr(), repress)
		select {
		case ch <- r.MAD:
		default: // the check reads only the traps it looks for
		}
	})
	t.mu.Lock()
	t.trapAgent = a
	t.mu.Unlock()
	stop := func() {
		t.mu.Lock()
		if t.trapAgent == a {
			t.trapAgent = nil
		}
		t.mu.Unlock()
		_ = a.Close()
	}
	return ch, stop, nil
}

// Close unregisters the agents (the transport stays open).
func (t *madTarget) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	if t.trapAgent != nil {
		errs = append(errs, t.trapAgent.Close())
		t.trapAgent = nil
	}
	for k, a := range t.agents {
		errs = append(errs, a.Close())
		delete(t.agents, k)
	}
	return errors.Join(errs...)
}
