package agent

import (
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// checkMKey applies M_Key protection (IBTA Vol 1 §14.2.4) to an SMP that
// arrived on p, guarded by the M_Key of mp. ok reports that the SMP
// carried the right key (or none was needed); drop that the SMA must
// discard it without an answer.
//
// The key matches when the port's M_Key is 0 or equals the SMP's. A match
// on a Get, Set or TrapRepress stops a running lease countdown. On a
// mismatch:
//   - Get at protection level 0 or 1 is answered (level 1 hides M_Key in
//     PortInfo);
//   - Get at level 2 or 3, and Set and TrapRepress at any level, fail: the
//     SMP is dropped, M_KeyViolations counts it, the lease countdown
//     starts (unless it runs already or M_KeyLeasePeriod is 0) and trap
//     256 goes to the SM, unless a trap 256 of the port is still waiting
//     for its TrapRepress.
//
// One Bad M_Key trap at a time per port keeps a subnet manager that
// represses with another key (OpenSM puts the M_Key it has on record for
// the port in its TrapRepress) from driving a storm: each repress it
// sends fails the check itself, and a trap for each would be answered
// by another failing repress, at once, for ever. The waiting trap is
// repeated every TrapRetry until repressed or its repeats run out; the
// violations meanwhile are counted in M_KeyViolations.
//
// Other methods are not checked here: the SMA refuses them anyway.
func (s *SMA) checkMKey(p *emu.Port, mp *PortAttrs, f *Frame, smp wire.SMP) (ok, drop bool) {
	method := smp.MAD().Method()
	switch method {
	case wire.MethodGet, wire.MethodSet, wire.MethodTrapRepress:
	default:
		return true, false
	}
	if mp == nil || mp.MKey == 0 || smp.MKey() == mp.MKey {
		if mp != nil && mp.lease != nil {
			mp.lease.Stop()
			mp.lease = nil
		}
		return true, false
	}
	if method == wire.MethodGet && mp.MKeyProtectBits < 2 {
		return false, false
	}
	ep := s.emuPort(mp.Num)
	if ep == nil {
		ep = p
	}
	ep.Counters.MKeyViolations.Add(1)
	if mp.lease == nil && mp.MKeyLeasePeriod != 0 && s.n != nil {
		period := time.Duration(mp.MKeyLeasePeriod) * time.Second
		mp.lease = s.n.Fabric().Clock().AfterFunc(period, func() {
			// The lease ran out: the protection bits go to 0 so a new SM
			// can take the port over (IBTA Vol 1 §14.2.4.2).
			mp.lease = nil
			mp.MKeyProtectBits = 0
			mp.leaseEnded = true
		})
	}
	var slid wire.LID
	if f != nil {
		slid = f.Addr.SLID
	}
	if !s.trapWaiting(mp.Num, wire.TrapBadMKey) {
		_, _ = s.SendTrap(mp.Num, BadMKeyNotice(s.node.Type, mp.LID, slid, smp))
	}
	return false, true
}

// LeaseRunning reports whether the M_Key lease countdown of the port runs.
func (pa *PortAttrs) LeaseRunning() bool { return pa.lease != nil }

// LeaseExpired reports whether the M_Key lease of the port ran out at
// least once (and so cleared the protection bits).
func (pa *PortAttrs) LeaseExpired() bool { return pa.leaseEnded }
