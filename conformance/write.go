package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// WriteChecks change a node's state while they run: Run runs them only
// with Options.Write. The M_Key, PortInfo and P_KeyTable checks put the
// port back as it was (a subnet manager sweeping meanwhile may find it
// locked or changed for the moment); the counter resets cannot give back
// the counts they clear. The port checks run on CAs other than the one
// the checks run from, and skip a port that already has an M_Key.
var WriteChecks = []*Check{
	{ID: "sma.mkey-protect", Ref: "IBTA Vol 1 §14.2.4",
		What:    "with an M_Key and protection level 1 a CA port answers a Get without the key with the M_Key read as 0, discards a Set without the key (no answer, M_KeyViolations counts it, nothing changes) and takes one with the key",
		Applies: func(n *Node) bool { return isCA(n) && len(n.Path) > 0 },
		Run:     onPort(checkMKeyProtect)},
	{ID: "sma.mkey-protect-get", Ref: "IBTA Vol 1 §14.2.4.1",
		What:    "with an M_Key and protection level 2, then 3, a CA port discards every Get without the key or with a wrong one, of NodeInfo as of PortInfo (no answer, M_KeyViolations counts each) and answers a Get with the key",
		Applies: func(n *Node) bool { return isCA(n) && len(n.Path) > 0 },
		Run:     onPort(checkMKeyProtectGet)},
	{ID: "sma.mkey-lease", Ref: "IBTA Vol 1 §14.2.4.2",
		What:    "with an M_Key, protection level 2 and M_KeyLeasePeriod 1 s, a Get without the key (discarded) starts the lease; with no SMP carrying the key for 2 s it runs out, the protection bits go to 0 and the port answers a Get without the key, showing the M_Key",
		Applies: func(n *Node) bool { return isCA(n) && len(n.Path) > 0 },
		Run:     checkMKeyLease, Timed: true},
	{ID: "sma.trap-bad-mkey", Ref: "IBTA Vol 1 §14.2.4.1, §14.2.5.1",
		What: "with an M_Key at protection level 1 and the checking port's LID as MasterSMLID, a CA port that claims IsTrapSupported " +
			"discards a Set without the key and sends Trap 256 (Bad M_Key) to that LID: a generic security notice from a CA with " +
			"IssuerLID the port's LID and details naming the Set (method, attribute PortInfo, modifier, the M_Key it carried, and " +
			"for a directed-route SMP the DR notice bit, hop count and the return path's last entry, the port it arrived on)",
		Applies: func(n *Node) bool { return isCA(n) && len(n.Path) > 0 && n.Active && n.LID != 0 },
		Run:     onPort(checkBadMKeyTrap)},
	{ID: "sma.portinfo-set-invalid", Ref: "IBTA Vol 1 §14.2.5.6, §13.4.7",
		What:    "a PortInfo Set with one invalid field (OperationalVLs past VLCap, NeighborMTU past MTUCap, a reserved LinkDownDefaultState or PortState, a PortPhysicalState a Set may not ask for) is answered with status 0x001C and changes nothing",
		Applies: func(n *Node) bool { return isCA(n) && len(n.Path) > 0 },
		Run:     onPort(checkPortInfoSetInvalid)},
	{ID: "sma.pkeytable-set", Ref: "IBTA Vol 1 §14.2.5.7",
		What:    "a P_KeyTable Set of block 0 that fills an empty entry within PartitionCap is answered with the new block, a Get reads it back with the other entries as they were, and a Set of the old block restores it",
		Applies: func(n *Node) bool { return isCA(n) && len(n.Path) > 0 },
		Run:     onPort(checkPKeyTableSet)},
	{ID: "pma.portcounters-select", Ref: "IBTA Vol 1 §16.1.3.5",
		What: "a PortCounters Set whose CounterSelect names PortXmitPkts alone resets that counter and no other: PortRcvPkts, PortXmitData and PortRcvData keep counting from where they were",
		Run:  checkPortCountersSelect},
	{ID: "pma.portcounters-reset", Ref: "IBTA Vol 1 §16.1.3.5",
		What: "a PortCounters Set with every CounterSelect bit resets the port's counters: the packet and data counters then hold no more than the management packets since",
		Run:  checkPortCountersReset},
}

// portInfoSet is a PortInfo Set of port that writes M_Key fields and
// changes nothing else: from the current value cur, port and link states
// "no change".
func portInfoSet(cur []byte, mkey uint64, protect uint8) wire.SMPFields {
	return portInfoSetLease(cur, mkey, protect, 0)
}

// portInfoSetLease is portInfoSet with M_KeyLeasePeriod lease (seconds).
func portInfoSetLease(cur []byte, mkey uint64, protect uint8, lease uint16) wire.SMPFields {
	f := wire.SMPFields{Method: wire.MethodSet, AttrID: wire.AttrPortInfo}
	copy(f.Data[:], cur)
	pi := wire.PortInfo(f.Data[:])
	pi.SetMKey(mkey)
	pi.SetMKeyProtectBits(protect)
	pi.SetMKeyLeasePeriod(lease)
	pi.SetPortState(0)
	pi.SetPortPhysicalState(0)
	return f
}

// portProbe reads and writes the PortInfo (the M_Key fields above all) of the port
// a check reaches a CA through.
type portProbe struct {
	c    *Conn
	n    *Node
	port uint32
	// cur is the PortInfo the port had before the check; every Set
	// writes it back but for the M_Key fields.
	cur []byte
}

// onPort makes a check's Run of run, which gets a probe of the port the
// check reaches the node through.
func onPort(run func(ctx context.Context, p *portProbe) error) func(ctx context.Context, c *Conn, n *Node) error {
	return func(ctx context.Context, c *Conn, n *Node) error {
		p, err := newPortProbe(ctx, c, n)
		if err != nil {
			return err
		}
		return run(ctx, p)
	}
}

// newPortProbe reads the port's PortInfo and skips the check when the
// port already has an M_Key (a subnet manager protects it).
func newPortProbe(ctx context.Context, c *Conn, n *Node) (*portProbe, error) {
	p := &portProbe{c: c, n: n, port: uint32(n.Arrival)}
	orig, err := p.get(ctx, 0)
	if err != nil {
		return nil, err
	}
	if orig.MKey() != 0 || orig.MKeyProtectBits() != 0 {
		return nil, skip("the port already has an M_Key (protection %d)", orig.MKeyProtectBits())
	}
	p.cur = append([]byte(nil), orig...)
	return p, nil
}

// key is the M_Key the checks set on the port.
func (p *portProbe) key() uint64 { return uint64(p.n.Info.PortGUID) ^ 0x5A5A_0000_C0DE_0001 }

// get is a Get(PortInfo) with M_Key key that must be answered with status 0.
func (p *portProbe) get(ctx context.Context, key uint64) (wire.PortInfo, error) {
	s, err := p.c.SMP(ctx, p.n, wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrPortInfo, AttrMod: p.port, MKey: key})
	if err != nil {
		return nil, err
	}
	if s.Status() != wire.MADStatusOK {
		return nil, violation("Get(PortInfo) with M_Key %#x: status %s", key, s.Status())
	}
	return wire.PortInfo(s.Data()), nil
}

// set is a Set(PortInfo) with M_Key key writing M_Key mkey and protection
// level protect, which must be answered with status 0.
func (p *portProbe) set(ctx context.Context, key, mkey uint64, protect uint8) (wire.PortInfo, error) {
	return p.setLease(ctx, key, mkey, protect, 0)
}

// setLease is set with M_KeyLeasePeriod lease.
func (p *portProbe) setLease(ctx context.Context, key, mkey uint64, protect uint8, lease uint16) (wire.PortInfo, error) {
	f := portInfoSetLease(p.cur, mkey, protect, lease)
	f.AttrMod, f.MKey = p.port, key
	s, err := p.c.SMP(ctx, p.n, f)
	if err != nil {
		return nil, err
	}
	if s.Status() != wire.MADStatusOK {
		return nil, violation("Set(PortInfo) with M_Key %#x: status %s", key, s.Status())
	}
	return wire.PortInfo(s.Data()), nil
}

// protected sets the check's M_Key with protection level level and
// M_KeyLeasePeriod lease (the port's M_Key is 0, so any key passes), runs
// fn with the key, and takes the key off again with it.
func (p *portProbe) protected(ctx context.Context, level uint8, lease uint16, fn func(key uint64) error) (err error) {
	key := p.key()
	got, err := p.setLease(ctx, 0, key, level, lease)
	if err != nil {
		return err
	}
	defer func() {
		if _, rerr := p.set(ctx, key, 0, 0); rerr != nil && err == nil {
			err = violation("restoring M_Key 0 with the key: %v", rerr)
		}
	}()
	if got.MKey() != key || got.MKeyProtectBits() != level || got.MKeyLeasePeriod() != lease {
		return violation("Set(PortInfo) of M_Key %#x protection %d lease %d s answered M_Key %#x protection %d lease %d s",
			key, level, lease, got.MKey(), got.MKeyProtectBits(), got.MKeyLeasePeriod())
	}
	return fn(key)
}

// discarded sends f, which the port must discard: no answer.
func (p *portProbe) discarded(ctx context.Context, f wire.SMPFields, what string) error {
	s, err := p.c.SMP(ctx, p.n, f)
	if err == nil {
		return violation("%s was answered (status %s)", what, s.Status())
	}
	if !errors.Is(err, ErrNoResponse) {
		return err
	}
	return nil
}

func checkMKeyProtect(ctx context.Context, p *portProbe) error {
	return p.protected(ctx, 1, 0, func(key uint64) error { return p.setsDiscarded(ctx, key) })
}

// setsDiscarded checks, at protection level 1, that a Get without the key
// is answered with M_Key 0 and a Set without it is discarded, counted and
// changes nothing.
func (p *portProbe) setsDiscarded(ctx context.Context, key uint64) error {
	if pi, err := p.get(ctx, 0); err != nil {
		return err
	} else if pi.MKey() != 0 {
		return violation("protection 1: a Get without the key reads M_Key %#x, want 0", pi.MKey())
	}
	before, err := p.get(ctx, key)
	if err != nil {
		return err
	}
	if before.MKey() != key {
		return violation("a Get with the key reads M_Key %#x, want %#x", before.MKey(), key)
	}
	// A Set without the key must be discarded: no answer.
	f := portInfoSet(p.cur, 0, 0)
	f.AttrMod = p.port
	if err := p.discarded(ctx, f, "a Set without the key"); err != nil {
		return err
	}
	after, err := p.get(ctx, key)
	if err != nil {
		return err
	}
	switch {
	case after.MKey() != key || after.MKeyProtectBits() != 1:
		return violation("a Set without the key changed M_Key to %#x protection %d", after.MKey(), after.MKeyProtectBits())
	case after.MKeyViolations() == before.MKeyViolations():
		return violation("M_KeyViolations stayed %d after a Set without the key", after.MKeyViolations())
	}
	return nil
}

func checkMKeyProtectGet(ctx context.Context, p *portProbe) error {
	for _, level := range []uint8{2, 3} {
		if err := p.protected(ctx, level, 0, func(key uint64) error { return p.getsDiscarded(ctx, key, level) }); err != nil {
			return err
		}
	}
	return nil
}

func checkPortInfoSetInvalid(ctx context.Context, p *portProbe) error {
	orig := wire.PortInfo(p.cur)
	fields := func(pi wire.PortInfo) [5]uint8 {
		return [5]uint8{pi.OperationalVLs(), uint8(pi.NeighborMTU()), uint8(pi.LinkDownDefaultState()), uint8(pi.PortState()), uint8(pi.PortPhysicalState())}
	}
	cases := []struct {
		what string
		bad  func(pi wire.PortInfo)
	}{
		{fmt.Sprintf("OperationalVLs %d past VLCap %d", orig.VLCap()+1, orig.VLCap()), func(pi wire.PortInfo) { pi.SetOperationalVLs(orig.VLCap() + 1) }},
		{fmt.Sprintf("NeighborMTU %d past MTUCap %d", orig.MTUCap()+1, orig.MTUCap()), func(pi wire.PortInfo) { pi.SetNeighborMTU(orig.MTUCap() + 1) }},
		{"LinkDownDefaultState 3 (reserved)", func(pi wire.PortInfo) { pi.SetLinkDownDefaultState(3) }},
		{"PortState 5 (reserved)", func(pi wire.PortInfo) { pi.SetPortState(5) }},
		{"PortPhysicalState 4 (PortConfigurationTraining)", func(pi wire.PortInfo) { pi.SetPortPhysicalState(wire.PhysStateConfigTraining) }},
	}
	for _, tc := range cases {
		f := portInfoSetLease(p.cur, 0, 0, orig.MKeyLeasePeriod())
		f.AttrMod = p.port
		tc.bad(wire.PortInfo(f.Data[:]))
		s, err := p.c.SMP(ctx, p.n, f)
		if err != nil {
			return fmt.Errorf("set with %s: %w", tc.what, err)
		}
		after, gerr := p.get(ctx, 0)
		if gerr != nil {
			return gerr
		}
		changed := fields(after) != fields(orig)
		if changed {
			// Put the port back as it was before judging.
			if _, rerr := p.setLease(ctx, 0, 0, 0, orig.MKeyLeasePeriod()); rerr != nil {
				return violation("a Set with %s changed the port, and restoring it failed: %v", tc.what, rerr)
			}
		}
		switch {
		case s.Status() != wire.MADStatusInvalidField:
			return violation("a Set with %s answered with status %s, want invalid field", tc.what, s.Status())
		case changed:
			return violation("a Set with %s changed OperationalVLs, NeighborMTU, LinkDownDefaultState, PortState, PortPhysicalState from %v to %v",
				tc.what, fields(orig), fields(after))
		}
	}
	return nil
}

// probePKey is the P_Key sma.pkeytable-set writes: a full member of a
// partition no subnet manager hands out by default.
const probePKey = wire.PKey(0x8A5C)

func checkPKeyTableSet(ctx context.Context, p *portProbe) error {
	c, n := p.c, p.n
	orig, err := c.GetOK(ctx, n, wire.AttrPKeyTable, 0)
	if err != nil {
		return err
	}
	old := wire.PKeyTable(orig).Fields()
	free := -1
	for i := range min(int(n.Info.PartitionCap), wire.PKeyTableBlockEntries) {
		if k := old.PKeys[i]; k&0x7FFF == 0 {
			free = i
			break
		}
		if old.PKeys[i]&0x7FFF == probePKey&0x7FFF {
			return skip("P_KeyTable block 0 already holds partition %#04x", uint16(probePKey&0x7FFF))
		}
	}
	if free < 0 {
		return skip("P_KeyTable block 0 has no empty entry within PartitionCap %d", n.Info.PartitionCap)
	}
	want := old
	want.PKeys[free] = probePKey
	set := func(f wire.PKeyTableFields) (wire.PKeyTableFields, error) {
		sf := wire.SMPFields{Method: wire.MethodSet, AttrID: wire.AttrPKeyTable, MKey: 0}
		wire.PKeyTable(sf.Data[:]).Encode(&f)
		s, err := c.SMP(ctx, n, sf)
		if err != nil {
			return wire.PKeyTableFields{}, err
		}
		if s.Status() != wire.MADStatusOK {
			return wire.PKeyTableFields{}, violation("Set(P_KeyTable) of block 0: status %s", s.Status())
		}
		return wire.PKeyTable(s.Data()).Fields(), nil
	}
	got, err := set(want)
	restored := false
	defer func() {
		// Put the old block back when the check stopped before it did.
		if !restored {
			_, _ = set(old)
		}
	}()
	if err != nil {
		return err
	}
	if got != want {
		return violation("Set(P_KeyTable) filling entry %d with %#04x answered %v", free, uint16(probePKey), got.PKeys[:8])
	}
	b, err := c.GetOK(ctx, n, wire.AttrPKeyTable, 0)
	if err != nil {
		return err
	}
	if read := wire.PKeyTable(b).Fields(); read != want {
		return violation("after filling entry %d with %#04x, a Get reads %v, want %v", free, uint16(probePKey), read.PKeys[:8], want.PKeys[:8])
	}
	back, err := set(old)
	if err != nil {
		return err
	}
	restored = true
	if back != old {
		return violation("restoring P_KeyTable block 0 answered %v, want %v", back.PKeys[:8], old.PKeys[:8])
	}
	return nil
}

// leasePeriod is the M_KeyLeasePeriod sma.mkey-lease sets, and leaseWait
// how long it then leaves the port alone.
const (
	leasePeriod = 1
	leaseWait   = 2 * time.Second
)

func checkMKeyLease(ctx context.Context, c *Conn, n *Node) error {
	sl, ok := c.t.(Sleeper)
	if !ok {
		return skip("the target cannot wait on the device's clock")
	}
	p, err := newPortProbe(ctx, c, n)
	if err != nil {
		return err
	}
	return p.protected(ctx, 2, leasePeriod, func(key uint64) error { return p.leaseRunsOut(ctx, sl, key) })
}

// leaseRunsOut checks, at protection level 2 with a lease, that a
// violation starts the lease and that when it has run out a Get without
// the key is answered with protection 0 and the M_Key shown.
func (p *portProbe) leaseRunsOut(ctx context.Context, sl Sleeper, key uint64) error {
	get := wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrPortInfo, AttrMod: p.port}
	if err := p.discarded(ctx, get, "protection 2: a Get(PortInfo) without the key"); err != nil {
		return err
	}
	if err := sl.Sleep(ctx, leaseWait); errors.Is(err, errors.ErrUnsupported) {
		return skip("the target cannot wait on the device's clock")
	} else if err != nil {
		return err
	}
	s, err := p.c.SMP(ctx, p.n, get)
	switch {
	case errors.Is(err, ErrNoResponse):
		return violation("the lease of %d s did not run out: %v after a violation, a Get without the key is still discarded", leasePeriod, leaseWait)
	case err != nil:
		return err
	case s.Status() != wire.MADStatusOK:
		return violation("after the lease ran out, Get(PortInfo) without the key: status %s", s.Status())
	}
	pi := wire.PortInfo(s.Data())
	if pi.MKeyProtectBits() != 0 || pi.MKey() != key {
		return violation("after the lease ran out, PortInfo shows M_Key %#x protection %d, want %#x protection 0", pi.MKey(), pi.MKeyProtectBits(), key)
	}
	return nil
}

// getsDiscarded checks, at protection level 2 or 3, that Gets without the
// key or with a wrong one get no answer and are counted as M_Key
// violations, while a Get with the key is answered.
func (p *portProbe) getsDiscarded(ctx context.Context, key uint64, level uint8) error {
	before, err := p.get(ctx, key)
	if err != nil {
		return err
	}
	if before.MKey() != key || before.MKeyProtectBits() != level {
		return violation("protection %d: a Get with the key reads M_Key %#x protection %d", level, before.MKey(), before.MKeyProtectBits())
	}
	probes := []struct {
		f    wire.SMPFields
		what string
	}{
		{wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrPortInfo, AttrMod: p.port}, "a Get(PortInfo) without the key"},
		{wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrPortInfo, AttrMod: p.port, MKey: key ^ 1}, "a Get(PortInfo) with a wrong key"},
		{wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrNodeInfo}, "a Get(NodeInfo) without the key"},
	}
	for _, pr := range probes {
		if err := p.discarded(ctx, pr.f, fmt.Sprintf("protection %d: %s", level, pr.what)); err != nil {
			return err
		}
	}
	after, err := p.get(ctx, key)
	if err != nil {
		return err
	}
	if d := after.MKeyViolations() - before.MKeyViolations(); int(d) < len(probes) {
		return violation("protection %d: M_KeyViolations rose by %d after %d Gets without the right key", level, d, len(probes))
	}
	return nil
}

// resetSlack bounds the packets a port may count between a PortCounters
// reset and the Get after it: the Set's answer, the Get and its answer,
// and what a subnet manager sweeping meanwhile sends.
const resetSlack = 32

// portCountersSet sends a PortCounters Set of port with CounterSelect sel
// to n's PMA, which must answer it with status 0.
func portCountersSet(ctx context.Context, c *Conn, n *Node, port uint8, sel uint16) error {
	req := make([]byte, wire.MADSize)
	wire.MAD(req).Encode(&wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassPerf,
		ClassVersion: wire.PMAClassVersion, Method: wire.MethodSet, AttrID: wire.AttrPortCounters})
	wire.PortCounters(wire.PerfMAD(req).Data()).Encode(&wire.PortCountersFields{PortSelect: port, CounterSelect: sel})
	m, err := c.LIDRouted(ctx, Address{LID: n.LID, QPN: 1}, req)
	if err != nil {
		return err
	}
	if m.Status() != wire.MADStatusOK {
		return violation("PortCounters Set of port %d, CounterSelect %#04x: status %s", port, sel, m.Status())
	}
	return nil
}

// portCountersOf reads the PortCounters of port of n.
func portCountersOf(ctx context.Context, c *Conn, n *Node, port uint8) (wire.PortCounters, error) {
	g, err := perfGet(ctx, c, n, wire.AttrPortCounters, &wire.PortCountersFields{PortSelect: port})
	if err != nil {
		return nil, err
	}
	return wire.PortCounters(g.Data()), nil
}

// counterSelectXmitPkts is the CounterSelect bit of PortXmitPkts (IBTA
// Vol 1 §16.1.3.5).
const counterSelectXmitPkts = 1 << 14

func checkPortCountersSelect(ctx context.Context, c *Conn, n *Node) error {
	if err := needLID(n); err != nil {
		return err
	}
	port := max(n.Arrival, 1)
	before, err := portCountersOf(ctx, c, n, port)
	if err != nil {
		return err
	}
	// Each Get is a packet in and one out: count past what a reset
	// leaves, so that a reset shows.
	for i := before.PortXmitPkts(); i <= 2*resetSlack && err == nil; i++ {
		before, err = portCountersOf(ctx, c, n, port)
	}
	if err != nil {
		return err
	}
	if err := portCountersSet(ctx, c, n, port, counterSelectXmitPkts); err != nil {
		return err
	}
	pc, err := portCountersOf(ctx, c, n, port)
	if err != nil {
		return err
	}
	switch {
	case pc.PortXmitPkts() > resetSlack:
		return violation("after a reset of PortXmitPkts alone port %d counts %d packets sent (%d before)", port, pc.PortXmitPkts(), before.PortXmitPkts())
	case pc.PortRcvPkts() < before.PortRcvPkts() || pc.PortXmitData() < before.PortXmitData() || pc.PortRcvData() < before.PortRcvData():
		return violation("a reset of PortXmitPkts alone also reset PortRcvPkts (%d to %d), PortXmitData (%d to %d) or PortRcvData (%d to %d) of port %d",
			before.PortRcvPkts(), pc.PortRcvPkts(), before.PortXmitData(), pc.PortXmitData(), before.PortRcvData(), pc.PortRcvData(), port)
	}
	return nil
}

func checkPortCountersReset(ctx context.Context, c *Conn, n *Node) error {
	if err := needLID(n); err != nil {
		return err
	}
	port := max(n.Arrival, 1)
	if err := portCountersSet(ctx, c, n, port, 0xFFFF); err != nil {
		return err
	}
	pc, err := portCountersOf(ctx, c, n, port)
	if err != nil {
		return err
	}
	switch {
	case pc.PortXmitPkts() > resetSlack || pc.PortRcvPkts() > resetSlack:
		return violation("after the reset port %d counts %d packets sent and %d received", port, pc.PortXmitPkts(), pc.PortRcvPkts())
	case pc.PortXmitData() > resetSlack*wire.MADSize/4*2 || pc.PortRcvData() > resetSlack*wire.MADSize/4*2:
		return violation("after the reset port %d counts %d words sent and %d received", port, pc.PortXmitData(), pc.PortRcvData())
	case pc.SymbolErrorCounter() != 0 || pc.PortRcvErrors() != 0:
		return violation("after the reset port %d counts %d symbol errors and %d receive errors", port, pc.SymbolErrorCounter(), pc.PortRcvErrors())
	}
	return nil
}

// trapWait is how long sma.trap-bad-mkey waits for the trap (wall time:
// the port sends it at once).
const trapWait = 3 * time.Second

func checkBadMKeyTrap(ctx context.Context, p *portProbe) (err error) {
	tr, ok := p.c.t.(TrapReceiver)
	if !ok {
		return skip("the target cannot receive traps")
	}
	self := p.c.self
	if self == nil || self.LID == 0 || !self.Active {
		return skip("the checking port has no LID to receive traps at")
	}
	if !wire.PortInfo(p.cur).CapabilityMask().Has(wire.PortCapIsTrapSupported) {
		return skip("the port does not claim IsTrapSupported")
	}
	key, orig := p.key(), p.cur
	traps, stop, err := tr.Traps(key)
	if errors.Is(err, errors.ErrUnsupported) {
		return skip("the target cannot receive traps: %v", err)
	} else if err != nil {
		return err
	}
	defer stop()
	// The port's traps go to its MasterSMLID: this port, for the check.
	p.cur = slices.Clone(orig)
	wire.PortInfo(p.cur).SetMasterSMLID(self.LID)
	got, err := p.set(ctx, 0, key, 1)
	p.cur = orig
	if err != nil {
		return err
	}
	defer func() {
		// Back to the port's own M_Key 0 and MasterSMLID.
		back, rerr := p.set(ctx, key, 0, 0)
		switch {
		case err != nil:
		case rerr != nil:
			err = violation("restoring M_Key 0 and MasterSMLID with the key: %v", rerr)
		case back.MasterSMLID() != wire.PortInfo(orig).MasterSMLID() || back.MKeyProtectBits() != 0:
			err = violation("restoring MasterSMLID %d and protection 0 answered MasterSMLID %d protection %d",
				wire.PortInfo(orig).MasterSMLID(), back.MasterSMLID(), back.MKeyProtectBits())
		}
	}()
	if got.MKey() != key || got.MKeyProtectBits() != 1 || got.MasterSMLID() != self.LID {
		return violation("Set(PortInfo) of M_Key %#x protection 1 MasterSMLID %d answered M_Key %#x protection %d MasterSMLID %d",
			key, self.LID, got.MKey(), got.MKeyProtectBits(), got.MasterSMLID())
	}
	// A trap 256 that names another SMP is an earlier violation's,
	// which the port repeats until repressed (and raises no new one
	// meanwhile): the receiver represses it, and the check provokes
	// the port again.
	var stale error
	for range trapTries {
		f := portInfoSet(p.cur, 0, 0)
		f.AttrMod = p.port
		if err := p.discarded(ctx, f, "protection 1: a Set without the key"); err != nil {
			return err
		}
		n, err := p.awaitTrap(ctx, traps, self.LID)
		if err != nil {
			return err
		}
		if stale = badMKeyTrapOK(p, n); stale == nil || !errors.Is(stale, errOtherSMP) {
			return stale
		}
	}
	return stale
}

// trapTries is how many violations sma.trap-bad-mkey provokes at most
// while the traps it gets name earlier ones.
const trapTries = 3

// errOtherSMP marks a trap 256 that names an SMP the check did not send.
var errOtherSMP = errors.New("the trap names another SMP")

// awaitTrap waits for a trap 256 from p's port.
func (p *portProbe) awaitTrap(ctx context.Context, traps <-chan []byte, sm wire.LID) (wire.Notice, error) {
	wait := time.NewTimer(trapWait)
	defer wait.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for trap 256: %w", ctx.Err())
		case <-wait.C:
			return nil, violation("no Trap 256 (Bad M_Key) from LID %d reached MasterSMLID %d within %v of a Set without the key", p.n.LID, sm, trapWait)
		case m := <-traps:
			n, err := wire.ParseSMPNotice(wire.SMP(m).Data())
			if err != nil || !n.IsGeneric() || n.TrapNumber() != wire.TrapBadMKey || n.IssuerLID() != p.n.LID {
				continue // another port's trap, or another trap
			}
			return n, nil
		}
	}
}

// badMKeyTrapOK checks the notice of trap 256 that the check's Set without
// the key provoked.
func badMKeyTrapOK(p *portProbe, n wire.Notice) error {
	if n.Type() != wire.NoticeTypeSecurity || n.ProducerType() != uint32(wire.NodeTypeCA) {
		return violation("trap 256: type %s producer %d, want a security notice from a CA (producer 1)", n.Type(), n.ProducerType())
	}
	d, err := wire.DecodeBadMKeyDetails(n.DataDetails())
	if err != nil {
		return violation("trap 256: %v", err)
	}
	switch {
	case d.Method != wire.MethodSet || d.AttrID != wire.AttrPortInfo || d.AttrMod != p.port || d.MKey != 0:
		return fmt.Errorf("trap 256 names %s(%s, modifier %#x) with M_Key %#x, want the Set(PortInfo, %#x) with M_Key 0: %w",
			d.Method, d.AttrID, d.AttrMod, d.MKey, p.port, errOtherSMP)
	case !d.DRNotice:
		return violation("trap 256 of a directed-route SMP lacks the DR notice bit")
	case int(d.HopCount) != min(len(p.n.Path), wire.BadMKeyPathSize) || d.Truncated != (len(p.n.Path) > wire.BadMKeyPathSize):
		return violation("trap 256: DR hop count %d (truncated %t), want %d", d.HopCount, d.Truncated, len(p.n.Path))
	case len(p.n.Path) <= wire.BadMKeyPathSize && (len(d.ReturnPath) == 0 || d.ReturnPath[len(d.ReturnPath)-1] != p.n.Arrival):
		return violation("trap 256: DR return path %v, want it to end with port %d, where the SMP arrived", d.ReturnPath, p.n.Arrival)
	}
	return nil
}
