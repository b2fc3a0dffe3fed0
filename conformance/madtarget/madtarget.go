// Package madtarget runs the conformance checks through a stack/mad
// Transport: an emulated HCA in process (mad.NewInProcess), an attach
// client of ibemu serve or ibsim (stack/attach.Dial), or a real HCA's
// Linux umad device (mad.OpenUmad). It keeps the conformance package free
// of the stack; the command and tests import it.
package madtarget

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ibemu/ibemu/conformance"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// Target is a conformance.Target over a mad.Transport: one agent per
// management class and version the checks send, registered on first use.
type Target struct {
	tr   mad.Transport
	opts mad.Options

	mu     sync.Mutex
	agents map[agentKey]*mad.Agent
}

type agentKey struct {
	class   wire.MgmtClass
	version uint8
}

var _ conformance.Target = (*Target)(nil)

// New returns a Target sending through tr with the agents' options opts
// (their Timeout and Retries bound the wait for each response).
func New(tr mad.Transport, opts mad.Options) *Target {
	return &Target{tr: tr, opts: opts, agents: map[agentKey]*mad.Agent{}}
}

// Exchange implements conformance.Target.
func (t *Target) Exchange(ctx context.Context, addr conformance.Address, req []byte) ([]byte, error) {
	if len(req) != wire.MADSize {
		return nil, fmt.Errorf("madtarget: %d-byte request, want %d", len(req), wire.MADSize)
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
	case errors.Is(err, mad.ErrTimeout):
		return nil, fmt.Errorf("%w: %w", conformance.ErrNoResponse, err)
	}
	return nil, err
}

// agent returns the agent of class and version, registering it first.
func (t *Target) agent(class wire.MgmtClass, version uint8) (*mad.Agent, error) {
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
		return nil, fmt.Errorf("madtarget: register class %s version %d: %w", class, version, err)
	}
	t.agents[k] = a
	return a, nil
}

// Close unregisters the agents (the transport stays open).
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for k, a := range t.agents {
		errs = append(errs, a.Close())
		delete(t.agents, k)
	}
	return errors.Join(errs...)
}
