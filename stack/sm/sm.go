package sm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// SM is a subnet manager on one port (IBTA Vol 1 §14.4). Create it with
// New, then call Run (or Sweep for a single pass). Its methods are safe for
// concurrent use.
type SM struct {
	cfg   Config
	log   *slog.Logger
	t     mad.Transport
	dr    *mad.Agent // directed route: the sweep, SMInfo from other SMs
	lr    *mad.Agent // LID routed: traps, SMInfo
	sa    *SA
	clock emu.Clock
	smps  atomic.Uint64
	// polls and pollFailures count a standby's SMInfo polls of the master.
	polls, pollFailures atomic.Uint64

	// sweepMu serialises heavy sweeps.
	sweepMu sync.Mutex
	// Sweep-owned state (under sweepMu).
	lastLFT   map[wire.GUID][]uint8
	lastPKeys map[portKey][]wire.PKey
	lastQoS   map[portKey]int
	prevLIDs  GUIDTable
	guidTable GUIDTable
	mftDone   map[mftKey][]uint16

	mu sync.Mutex
	// +checklocks:mu
	state wire.SMState
	// +checklocks:mu
	guid wire.GUID
	// +checklocks:mu
	actCount uint32
	// +checklocks:mu
	subnet *Subnet
	// +checklocks:mu
	sweeps int
	// +checklocks:mu
	master *remoteSM
	// +checklocks:mu
	others []*remoteSM
	// +checklocks:mu
	mcast *mcastState
	// +checklocks:mu
	upWaiters []chan struct{}

	wake chan struct{} // a heavy sweep is wanted (trap, handover)
	// wantHeavy is set with wake for a heavy sweep, wantMcast for new
	// multicast forwarding tables.
	wantHeavy, wantMcast atomic.Bool
	// inService are the end ports of the last sweep (traps 64/65).
	inService map[wire.GUID]wire.GID
	// cc is the congestion control manager's agent (nil unless
	// Config.CongestionControl), ccState what it knows of the ports.
	cc      *mad.Agent
	ccState ccState
}

// remoteSM is another SM the sweep found.
type remoteSM struct {
	port *Port
	info wire.SMInfoFields
}

// New registers the SM's agents on t: directed-route and LID-routed
// subnet management agents serving SMInfo and traps (which makes the port
// advertise IsSM), and the SA on QP1.
func New(t mad.Transport, cfg Config) (*SM, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &SM{cfg: cfg, log: cfg.Logger, t: t, clock: t.Clock(), state: wire.SMStateNotActive,
		lastLFT: map[wire.GUID][]uint8{}, lastPKeys: map[portKey][]wire.PKey{}, lastQoS: map[portKey]int{},
		prevLIDs: GUIDTable{}, guidTable: GUIDTable{}, mftDone: map[mftKey][]uint16{},
		wake: make(chan struct{}, 1), mcast: newMcastState()}
	if cfg.GUIDFile != "" {
		if m.guidTable, err = LoadGUIDTable(cfg.GUIDFile); err != nil {
			return nil, err
		}
	}
	opts := mad.Options{Window: cfg.Window, Timeout: cfg.Timeout, Retries: cfg.Retries, MKey: cfg.MKey}
	m.dr, err = mad.NewAgent(t, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: wire.SMPClassVersion,
		Methods: []wire.Method{wire.MethodGet, wire.MethodSet}}, opts)
	if err != nil {
		return nil, fmt.Errorf("sm: directed-route agent: %w", err)
	}
	m.lr, err = mad.NewAgent(t, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: wire.SMPClassVersion,
		Methods: []wire.Method{wire.MethodGet, wire.MethodSet, wire.MethodTrap}}, opts)
	if err != nil {
		m.dr.Close()
		return nil, fmt.Errorf("sm: lid-routed agent: %w", err)
	}
	m.dr.Serve(m.serveSMP)
	m.lr.Serve(m.serveSMP)
	m.sa, err = newSA(m)
	if err != nil {
		m.dr.Close()
		m.lr.Close()
		return nil, err
	}
	if cfg.CongestionControl != nil {
		m.ccState.ports = map[portKey]*ccPortState{}
		m.cc, err = mad.NewAgent(t, mad.Registration{QPN: 1, Class: wire.MgmtClassCC, ClassVersion: wire.CCClassVersion},
			mad.Options{Window: cfg.Window, Timeout: cfg.Timeout, Retries: cfg.Retries})
		if err != nil {
			m.sa.close()
			m.dr.Close()
			m.lr.Close()
			return nil, fmt.Errorf("sm: congestion control agent: %w", err)
		}
	}
	return m, nil
}

// Close unregisters the SM's agents. It is idempotent.
func (m *SM) Close() error {
	m.sa.close()
	var ccErr error
	if m.cc != nil {
		ccErr = m.cc.Close()
	}
	return errors.Join(m.dr.Close(), m.lr.Close(), ccErr)
}

// State is the SM's SMInfo state.
func (m *SM) State() wire.SMState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Subnet is the subnet of the last heavy sweep, nil before the first.
func (m *SM) Subnet() *Subnet {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.subnet
}

// Sweeps counts the heavy sweeps completed.
func (m *SM) Sweeps() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sweeps
}

// SMPs counts the SMPs the SM's sweeps sent (retries not included).
func (m *SM) SMPs() uint64 { return m.smps.Load() }

// Polls returns how many SMInfo polls of the master this SM sent as a
// standby and how many of them went unanswered.
func (m *SM) Polls() (sent, failed uint64) { return m.polls.Load(), m.pollFailures.Load() }

// Config is the configuration in effect, defaults filled in.
func (m *SM) Config() Config { return m.cfg }

func (m *SM) progress(phase string, done, total int) {
	if m.cfg.Progress != nil {
		m.cfg.Progress(Progress{Phase: phase, Done: done, Total: total})
	}
}

func (m *SM) setState(s wire.SMState) {
	m.mu.Lock()
	old := m.state
	m.state = s
	m.mu.Unlock()
	if old != s {
		m.log.Info("sm: state change", "from", old, "to", s)
	}
}

// sameSMKey reports whether another SM's SMInfo belongs to this SM's
// subnet: an SM with a non-zero SM_Key ignores SMs that answer with another
// key (IBTA Vol 1 §14.4.1; OpenSM's ERR 2F18 "sm_key that doesn't match").
func (m *SM) sameSMKey(f wire.SMInfoFields) bool {
	return m.cfg.SMKey == 0 || f.SMKey == m.cfg.SMKey
}

// better reports whether an SM with priority pa and GUID ga takes
// precedence over one with pb, gb (IBTA Vol 1 §14.4.1.1: higher priority,
// then lower GUID).
func better(pa uint8, ga wire.GUID, pb uint8, gb wire.GUID) bool {
	if pa != pb {
		return pa > pb
	}
	return ga < gb
}

// Sweep runs one heavy sweep: discovery, the SM election, and when this SM
// is (or becomes) the master, LID assignment, routing and configuration of
// every port and switch. It returns the subnet, or ErrNotMaster (with the
// discovered subnet) when another SM is master.
func (m *SM) Sweep(ctx context.Context) (*Subnet, error) {
	m.sweepMu.Lock()
	defer m.sweepMu.Unlock()
	start := m.clock.Now()
	smps0 := m.smps.Load()
	if m.State() == wire.SMStateNotActive {
		m.setState(wire.SMStateDiscovering)
	}
	sn, err := m.discover(ctx)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.guid = sn.Local.GUID
	m.mu.Unlock()
	m.log.Info("sm: discovered", "nodes", len(sn.Nodes), "switches", len(sn.Switches), "maxhops", sn.MaxHops,
		"problems", len(sn.Problems))
	if master := m.elect(ctx, sn); !master {
		sn.SMPs = m.smps.Load() - smps0
		m.mu.Lock()
		m.subnet = sn
		m.mu.Unlock()
		return sn, ErrNotMaster
	}
	if err := m.configure(ctx, sn); err != nil {
		return sn, err
	}
	sn.SMPs = m.smps.Load() - smps0
	m.mu.Lock()
	m.subnet = sn
	m.sweeps++
	waiters := m.upWaiters
	m.upWaiters = nil
	m.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
	m.serviceTraps(sn)
	m.log.Info("sm: subnet up", "nodes", len(sn.Nodes), "lids", len(sn.ByLID)-1, "smps", sn.SMPs,
		"took", m.clock.Now().Sub(start), "problems", len(sn.Problems))
	return sn, nil
}

// serviceTraps reports end ports that appeared (trap 64) or vanished
// (trap 65) since the last sweep to the SA's subscribers.
func (m *SM) serviceTraps(sn *Subnet) {
	now := map[wire.GUID]wire.GID{}
	for _, p := range sn.EndPorts() {
		now[p.GUID] = p.GID(m.cfg.SubnetPrefix)
	}
	if m.inService != nil {
		for g, gid := range now {
			if _, ok := m.inService[g]; !ok {
				m.sa.gidNotice(wire.TrapGIDInService, gid)
			}
		}
		for g, gid := range m.inService {
			if _, ok := now[g]; !ok {
				m.sa.gidNotice(wire.TrapGIDOutOfService, gid)
			}
		}
	}
	m.inService = now
}

// configure is the master's part of a heavy sweep.
func (m *SM) configure(ctx context.Context, sn *Subnet) error {
	m.progress("lids", 0, len(sn.Nodes))
	if err := assignLIDs(sn, m.cfg.LMC, m.prevLIDs, m.guidTable); err != nil {
		return err
	}
	m.prevLIDs = lidTable(sn)
	if m.cfg.GUIDFile != "" {
		for g, r := range m.prevLIDs {
			m.guidTable[g] = r
		}
		if err := m.guidTable.Save(m.cfg.GUIDFile); err != nil {
			m.problem(sn, err)
		}
	}
	m.progress("routing", 0, len(sn.Switches))
	// The routes are computed while the port configuration and the P_Key
	// tables go out: neither needs them, and computeRoutes reads only the
	// topology and the LIDs, which those phases leave alone (they write
	// PortInfo and P_Key state the routing never reads).
	routed := make(chan error, 1)
	go func() { routed <- computeRoutes(sn, m.cfg.Routing, m.cfg.Roots) }()
	m.configurePorts(ctx, sn)
	m.programPKeys(ctx, sn)
	if err := <-routed; err != nil {
		return err
	}
	check := m.cfg.CheckCreditLoops > 0 ||
		m.cfg.CheckCreditLoops == 0 && len(sn.Switches)*len(sn.ByLID) <= DefaultMaxCreditLoopWork
	if check {
		if err := CheckCreditLoops(sn); err != nil {
			var cl *CreditLoopError
			switch {
			case m.cfg.Routing != RoutingMinHop:
				return err
			case errors.As(err, &cl) && cl.SwitchLIDsOnly:
				m.log.Warn("sm: min-hop routes towards switch LIDs have a credit loop (CA-to-CA routes have none); use updn or ftree for loop-free management routes", "err", err)
				m.problem(sn, err)
			default:
				m.log.Warn("sm: min-hop routes between CA ports have a credit loop and can deadlock; use updn or ftree", "err", err)
				m.problem(sn, err)
			}
		}
	}
	m.programSwitches(ctx, sn)
	m.programQoS(ctx, sn)
	m.programMulticast(ctx, sn)
	m.activate(ctx, sn)
	m.configureCC(ctx, sn)
	m.mu.Lock()
	m.actCount++
	m.mu.Unlock()
	return ctx.Err()
}

// elect runs the SMInfo exchange with the other SMs the sweep found (CA
// ports advertising IsSM) and decides this SM's state: standby when a
// master or a better discovering SM exists, master otherwise. A master
// that finds a better standby hands the subnet over (IBTA Vol 1 §14.4.1).
func (m *SM) elect(ctx context.Context, sn *Subnet) bool {
	var others []*remoteSM
	var qs []smpQuery
	for _, n := range sn.Nodes {
		for _, p := range n.Ports {
			if p == nil || p == sn.Local || !p.Read || !p.EndPort() || p.Info.CapabilityMask&wire.PortCapIsSM == 0 {
				continue
			}
			qs = append(qs, smpQuery{path: p.Route(), method: wire.MethodGet, attr: wire.AttrSMInfo, done: func(d []byte, err error) {
				if err != nil {
					m.log.Info("sm: sminfo of another sm port failed", "port", p.String(), "err", err)
					return
				}
				if si, perr := wire.ParseSMInfo(d); perr == nil {
					f := si.Fields()
					if !m.sameSMKey(f) {
						m.log.Warn("sm: another sm with a different sm_key ignored", "port", p.String(), "guid", f.GUID)
						return
					}
					others = append(others, &remoteSM{port: p, info: f})
				}
			}})
		}
	}
	m.batch(ctx, qs)
	myPri, myGUID := m.cfg.Priority, sn.Local.GUID
	state := m.State()
	m.mu.Lock()
	m.others = others
	m.mu.Unlock()
	var master, bestOther *remoteSM
	for _, o := range others {
		if o.info.GUID == myGUID {
			continue
		}
		if o.info.SMState == wire.SMStateMaster {
			master = o
		}
		if bestOther == nil || better(o.info.Priority, o.info.GUID, bestOther.info.Priority, bestOther.info.GUID) {
			bestOther = o
		}
	}
	if master != nil && (state != wire.SMStateMaster || better(master.info.Priority, master.info.GUID, myPri, myGUID)) {
		m.mu.Lock()
		m.master = master
		m.mu.Unlock()
		m.setState(wire.SMStateStandby)
		return false
	}
	if state != wire.SMStateMaster && bestOther != nil &&
		(bestOther.info.SMState == wire.SMStateDiscovering || bestOther.info.SMState == wire.SMStateNotActive) &&
		better(bestOther.info.Priority, bestOther.info.GUID, myPri, myGUID) {
		m.mu.Lock()
		m.master = bestOther
		m.mu.Unlock()
		m.setState(wire.SMStateStandby)
		return false
	}
	m.mu.Lock()
	m.master = nil
	m.mu.Unlock()
	m.setState(wire.SMStateMaster)
	if bestOther != nil && bestOther.info.SMState == wire.SMStateStandby &&
		better(bestOther.info.Priority, bestOther.info.GUID, myPri, myGUID) {
		// Configure the subnet first so the new master finds it up, then
		// hand over (done by Run after the sweep).
		m.mu.Lock()
		m.master = bestOther
		m.mu.Unlock()
	}
	return true
}

// handover gives mastership to the better standby elect found (IBTA Vol 1
// §14.4.1.2: SMInfo Set with AttributeModifier HANDOVER).
func (m *SM) handover(ctx context.Context) bool {
	m.mu.Lock()
	to := m.master
	st := m.state
	m.mu.Unlock()
	if to == nil || st != wire.SMStateMaster {
		return false
	}
	data := m.smInfo(true)
	var ok bool
	m.batch(ctx, []smpQuery{{path: to.port.Route(), method: wire.MethodSet, attr: wire.AttrSMInfo, mod: wire.SMInfoHandover, data: data,
		done: func(d []byte, err error) {
			if err != nil {
				m.log.Warn("sm: handover refused", "to", to.info.GUID, "err", err)
				return
			}
			ok = true
		}}})
	if ok {
		m.log.Info("sm: handed over", "to", to.info.GUID)
		m.setState(wire.SMStateStandby)
	}
	return ok
}

// smInfo encodes this SM's SMInfo, with its SM_Key when withKey is set
// (IBTA Vol 1 §14.2.5.13: the key goes only to an authenticated
// requester) and zero in its place otherwise.
func (m *SM) smInfo(withKey bool) []byte {
	m.mu.Lock()
	f := wire.SMInfoFields{GUID: m.guid, ActCount: m.actCount, Priority: m.cfg.Priority, SMState: m.state}
	m.mu.Unlock()
	if withKey {
		f.SMKey = m.cfg.SMKey
	}
	data := make([]byte, wire.SMPDataSize)
	wire.SMInfo(data).Encode(&f)
	return data
}

// serveSMP answers SMInfo Get and Set and takes traps (IBTA Vol 1
// §14.4.1, §14.3.1.4). It runs on the transport's delivery context.
func (m *SM) serveSMP(r *mad.Received) {
	req := wire.MAD(r.MAD)
	if len(r.MAD) != wire.MADSize || !req.IsValid() {
		m.log.Warn("sm: malformed smp dropped", "from", r.Addr.String(), "len", len(r.MAD))
		return
	}
	switch {
	case req.Method() == wire.MethodTrap && req.AttrID() == wire.AttrNotice:
		m.trap(r)
	case req.AttrID() == wire.AttrSMInfo && (req.Method() == wire.MethodGet || req.Method() == wire.MethodSet):
		// M_Key authentication of the requester (IBTA Vol 1 §14.2.4,
		// OpenSM's sminfo receiver): the M_Key this SM gave its own port
		// must be in the SMP when it protects the port; a Get with the
		// wrong key under protection 1 is answered without the SM_Key,
		// above 1 not at all, and a Set with the wrong key is dropped.
		smp := wire.SMP(r.MAD)
		authentic := m.cfg.MKey == 0 || smp.MKey() == m.cfg.MKey
		if !authentic && (req.Method() == wire.MethodSet || m.cfg.MKeyProtect > 1) {
			m.log.Warn("sm: sminfo request with a wrong m_key dropped", "method", req.Method(), "from", r.Addr.String())
			return
		}
		if req.Method() == wire.MethodSet {
			m.smInfoSet(req.AttrMod(), smp.Data())
		}
		resp := slices.Clone(r.MAD)
		wire.MAD(resp).SetResponse(wire.MADStatusOK)
		copy(wire.SMP(resp).Data(), m.smInfo(authentic))
		if err := r.Respond(resp); err != nil {
			m.log.Warn("sm: sminfo response not sent", "err", err)
		}
	default:
		m.log.Info("sm: unsupported smp refused", "method", req.Method(), "attr", req.AttrID(), "from", r.Addr.String())
		_ = r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
	}
}

// smInfoSet reacts to an SMInfo Set from another SM (IBTA Vol 1 §14.4.1.2).
func (m *SM) smInfoSet(mod uint32, data []byte) {
	switch mod {
	case wire.SMInfoHandover:
		m.mu.Lock()
		standby := m.state == wire.SMStateStandby || m.state == wire.SMStateDiscovering
		if standby {
			m.state = wire.SMStateMaster
			m.master = nil
		}
		m.mu.Unlock()
		if standby {
			m.log.Info("sm: handover received; now master")
			m.requestHeavy()
		}
	case wire.SMInfoDisable:
		m.setState(wire.SMStateNotActive)
	case wire.SMInfoStandby:
		m.setState(wire.SMStateStandby)
	case wire.SMInfoDiscover:
		m.setState(wire.SMStateDiscovering)
		m.requestHeavy()
	case wire.SMInfoAcknowledge:
	}
}

// trap answers a trap with TrapRepress and reacts: Trap 128 (a switch
// port changed state) starts a heavy sweep; every trap is passed to the
// SA's InformInfo subscribers.
func (m *SM) trap(r *mad.Received) {
	smp := wire.SMP(r.MAD)
	resp := slices.Clone(r.MAD)
	wire.MAD(resp).SetResponse(wire.MADStatusOK)
	if err := m.lr.Send(r.Addr.ReplyAddr(), resp); err != nil {
		m.log.Warn("sm: trap repress not sent", "err", err)
	}
	n, err := wire.ParseSMPNotice(smp.Data())
	if err != nil {
		m.log.Warn("sm: malformed trap dropped", "from", r.Addr.String(), "err", err)
		return
	}
	m.log.Info("sm: trap", "number", n.TrapNumber(), "issuer", n.IssuerLID())
	if m.State() != wire.SMStateMaster {
		return
	}
	m.sa.notify(n)
	// Trap 128 (a switch port changed state) and trap 144 (a port's
	// capabilities changed, such as another SM registering) start a heavy
	// sweep, as in OpenSM's trap receiver.
	if n.IsGeneric() && (n.TrapNumber() == wire.TrapLinkStateChange || n.TrapNumber() == wire.TrapLocalChanges) {
		m.requestHeavy()
	}
}

// requestMcast asks Run to rewrite the multicast forwarding tables after a
// join or leave.
func (m *SM) requestMcast() {
	m.wantMcast.Store(true)
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// UpdateMulticast rewrites the multicast forwarding tables of the current
// subnet now (Run does it by itself after joins and leaves).
func (m *SM) UpdateMulticast(ctx context.Context) error {
	m.sweepMu.Lock()
	defer m.sweepMu.Unlock()
	sn := m.Subnet()
	if sn == nil || m.State() != wire.SMStateMaster {
		return ErrNotMaster
	}
	m.wantMcast.Store(false)
	m.programMulticast(ctx, sn)
	return ctx.Err()
}

func (m *SM) requestHeavy() {
	m.wantHeavy.Store(true)
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// WaitUp waits until a heavy sweep of this SM as master has completed.
func (m *SM) WaitUp(ctx context.Context) error {
	m.mu.Lock()
	if m.sweeps > 0 && m.state == wire.SMStateMaster {
		m.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	m.upWaiters = append(m.upWaiters, ch)
	m.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sm: wait for subnet up: %w", ctx.Err())
	}
}

// after returns a channel that receives once d has passed on the SM's
// clock.
func (m *SM) after(d time.Duration) (<-chan struct{}, emu.Timer) {
	ch := make(chan struct{}, 1)
	t := m.clock.AfterFunc(d, func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	return ch, t
}

// Run runs the SM until ctx ends: a heavy sweep, then as master light
// sweeps every SweepInterval and a heavy sweep on a trap or a change; as
// standby, polling of the master every PollInterval and a takeover after
// PollRetries polls go unanswered (IBTA Vol 1 §14.4.1; OpenSM's
// sminfo_polling_timeout and polling_retry_number).
func (m *SM) Run(ctx context.Context) error {
	heavy := true
	failures := 0
	for {
		if err := ctx.Err(); err != nil {
			return nil
		}
		if heavy || m.wantHeavy.Swap(false) {
			heavy = false
			_, err := m.Sweep(ctx)
			switch {
			case errors.Is(err, ErrNotMaster):
			case ctx.Err() != nil:
				return nil
			case err != nil:
				m.log.Error("sm: heavy sweep failed", "err", err)
			default:
				failures = 0
				if m.handover(ctx) {
					failures = 0
				}
			}
		}
		var tick <-chan struct{}
		var timer emu.Timer = stoppedTimer{}
		switch st := m.State(); {
		case st == wire.SMStateMaster && m.cfg.SweepInterval < 0:
			// No light sweeps: react to traps, joins and handovers only.
		case st == wire.SMStateMaster:
			tick, timer = m.after(m.cfg.SweepInterval)
		default:
			tick, timer = m.after(m.cfg.PollInterval)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-m.wake:
			timer.Stop()
			if m.wantMcast.Load() && !m.wantHeavy.Load() {
				if err := m.UpdateMulticast(ctx); err != nil && ctx.Err() == nil {
					m.log.Info("sm: multicast update skipped", "err", err)
				}
			}
			continue
		case <-tick:
		}
		switch m.State() {
		case wire.SMStateMaster:
			if m.lightSweep(ctx) {
				heavy = true
			}
		case wire.SMStateStandby:
			m.polls.Add(1)
			if m.pollMaster(ctx) {
				failures = 0
				continue
			}
			m.pollFailures.Add(1)
			failures++
			m.log.Warn("sm: master did not answer sminfo poll", "failures", failures, "of", m.cfg.PollRetries)
			if failures >= m.cfg.PollRetries {
				m.log.Info("sm: master lost; taking over")
				m.setState(wire.SMStateDiscovering)
				failures = 0
				heavy = true
			}
		default:
			heavy = true
		}
	}
}

type stoppedTimer struct{}

func (stoppedTimer) Stop() bool { return false }

// pollMaster reads the master's SMInfo; false when it did not answer or is
// no longer master.
func (m *SM) pollMaster(ctx context.Context) bool {
	m.mu.Lock()
	ms := m.master
	m.mu.Unlock()
	if ms == nil {
		return false
	}
	ok := false
	m.batch(ctx, []smpQuery{{path: ms.port.Route(), method: wire.MethodGet, attr: wire.AttrSMInfo, done: func(d []byte, err error) {
		if err != nil {
			return
		}
		if si, perr := wire.ParseSMInfo(d); perr == nil {
			ok = si.SMState() == wire.SMStateMaster && m.sameSMKey(si.Fields())
		}
	}}})
	return ok
}

// lightSweep reads SwitchInfo of every switch, PortInfo of every CA port
// the SM configured and SMInfo of the other SMs (OpenSM's light sweep); it
// reports whether something changed: a switch with PortStateChange set, a
// node that no longer answers, a CA port that is not active any more or
// that starts or stops advertising IsSM, another SM that is master too.
func (m *SM) lightSweep(ctx context.Context) bool {
	sn := m.Subnet()
	if sn == nil {
		return true
	}
	changed := false
	var qs []smpQuery
	for _, n := range sn.Switches {
		qs = append(qs, smpQuery{path: n.Path, method: wire.MethodGet, attr: wire.AttrSwitchInfo, done: func(d []byte, err error) {
			if err != nil {
				m.log.Info("sm: light sweep: switch not answering", "switch", n.String(), "err", err)
				changed = true
				return
			}
			if si, perr := wire.ParseSwitchInfo(d); perr != nil || si.Fields().PortStateChange {
				changed = true
			}
		}})
	}
	for _, n := range sn.Nodes {
		if n.IsSwitch() {
			continue
		}
		for _, p := range n.Ports[1:] {
			if p.LID == 0 || p == sn.Local {
				continue
			}
			qs = append(qs, smpQuery{path: p.Route(), method: wire.MethodGet, attr: wire.AttrPortInfo, mod: uint32(p.Num), done: func(d []byte, err error) {
				if err != nil {
					changed = true
					return
				}
				// A port that starts or stops advertising IsSM is an SM
				// coming or going: the election runs again.
				if pi, perr := wire.ParsePortInfo(d); perr != nil || pi.PortState() != wire.PortStateActive || pi.LID() != p.LID ||
					(pi.CapabilityMask()^p.Info.CapabilityMask)&wire.PortCapIsSM != 0 {
					changed = true
				}
			}})
		}
	}
	// The other SMs: a better one in standby gets the subnet.
	m.mu.Lock()
	others := m.others
	m.mu.Unlock()
	myPri := m.cfg.Priority
	var better_ *remoteSM
	for _, o := range others {
		qs = append(qs, smpQuery{path: o.port.Route(), method: wire.MethodGet, attr: wire.AttrSMInfo, done: func(d []byte, err error) {
			if err != nil {
				return
			}
			si, perr := wire.ParseSMInfo(d)
			if perr != nil {
				return
			}
			f := si.Fields()
			if !m.sameSMKey(f) {
				return
			}
			if f.SMState == wire.SMStateMaster && better(f.Priority, f.GUID, myPri, sn.Local.GUID) {
				// A better master: the heavy sweep's election makes this
				// SM standby (OpenSM's sminfo receiver forces a heavy
				// sweep too). A worse one yields by its own election.
				changed = true
			}
			if f.SMState == wire.SMStateStandby && better(f.Priority, f.GUID, myPri, sn.Local.GUID) {
				better_ = &remoteSM{port: o.port, info: f}
			}
		}})
	}
	m.batch(ctx, qs)
	if changed {
		m.log.Info("sm: light sweep found a change; heavy sweep")
		return true
	}
	if better_ != nil {
		m.mu.Lock()
		m.master = better_
		m.mu.Unlock()
		m.handover(ctx)
	}
	return false
}
