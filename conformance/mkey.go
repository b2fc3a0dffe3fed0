package conformance

import (
	"context"
	"errors"

	"github.com/ibemu/ibemu/emu/wire"
)

// WriteChecks change a node's state while they run: Run runs them only
// with Options.Write. The M_Key check restores the port after (a subnet
// manager sweeping meanwhile may find it locked for the moment); the
// counter reset cannot give back the counts it clears.
var WriteChecks = []*Check{
	{ID: "sma.mkey-protect", Ref: "IBTA Vol 1 §14.2.4",
		What:    "with an M_Key and protection level 1 a CA port answers a Get without the key with the M_Key read as 0, discards a Set without the key (no answer, M_KeyViolations counts it, nothing changes) and takes one with the key",
		Applies: func(n *Node) bool { return isCA(n) && len(n.Path) > 0 },
		Run:     checkMKeyProtect},
	{ID: "pma.portcounters-reset", Ref: "IBTA Vol 1 §16.1.3.5",
		What: "a PortCounters Set with every CounterSelect bit resets the port's counters: the packet and data counters then hold no more than the management packets since",
		Run:  checkPortCountersReset},
}

// portInfoSet is a PortInfo Set of port that writes M_Key fields and
// changes nothing else: from the current value cur, port and link states
// "no change".
func portInfoSet(cur []byte, mkey uint64, protect uint8) wire.SMPFields {
	f := wire.SMPFields{Method: wire.MethodSet, AttrID: wire.AttrPortInfo}
	copy(f.Data[:], cur)
	pi := wire.PortInfo(f.Data[:])
	pi.SetMKey(mkey)
	pi.SetMKeyProtectBits(protect)
	pi.SetMKeyLeasePeriod(0)
	pi.SetPortState(0)
	pi.SetPortPhysicalState(0)
	return f
}

func checkMKeyProtect(ctx context.Context, c *Conn, n *Node) (err error) {
	port := uint32(n.Arrival)
	get := func(key uint64) (wire.PortInfo, error) {
		s, err := c.SMP(ctx, n, wire.SMPFields{Method: wire.MethodGet, AttrID: wire.AttrPortInfo, AttrMod: port, MKey: key})
		if err != nil {
			return nil, err
		}
		if s.Status() != wire.MADStatusOK {
			return nil, violation("Get(PortInfo) with M_Key %#x: status %s", key, s.Status())
		}
		return wire.PortInfo(s.Data()), nil
	}
	set := func(key uint64, cur []byte, mkey uint64, protect uint8) (wire.PortInfo, error) {
		f := portInfoSet(cur, mkey, protect)
		f.AttrMod, f.MKey = port, key
		s, err := c.SMP(ctx, n, f)
		if err != nil {
			return nil, err
		}
		if s.Status() != wire.MADStatusOK {
			return nil, violation("Set(PortInfo) with M_Key %#x: status %s", key, s.Status())
		}
		return wire.PortInfo(s.Data()), nil
	}
	orig, err := get(0)
	if err != nil {
		return err
	}
	if orig.MKey() != 0 || orig.MKeyProtectBits() != 0 {
		return skip("the port already has an M_Key (protection %d)", orig.MKeyProtectBits())
	}
	cur := append([]byte(nil), orig...)
	key := uint64(n.Info.PortGUID) ^ 0x5A5A_0000_C0DE_0001
	got, err := set(0, cur, key, 1)
	if err != nil {
		return err
	}
	if got.MKey() != key || got.MKeyProtectBits() != 1 {
		return violation("Set(PortInfo) of M_Key %#x protection 1 answered M_Key %#x protection %d", key, got.MKey(), got.MKeyProtectBits())
	}
	defer func() {
		// Take the key off again, with the key.
		if _, rerr := set(key, cur, 0, 0); rerr != nil && err == nil {
			err = violation("restoring M_Key 0 with the key: %v", rerr)
		}
	}()
	if pi, err := get(0); err != nil {
		return err
	} else if pi.MKey() != 0 {
		return violation("protection 1: a Get without the key reads M_Key %#x, want 0", pi.MKey())
	}
	before, err := get(key)
	if err != nil {
		return err
	}
	if before.MKey() != key {
		return violation("a Get with the key reads M_Key %#x, want %#x", before.MKey(), key)
	}
	// A Set without the key must be discarded: no answer.
	f := portInfoSet(cur, 0, 0)
	f.AttrMod = port
	if s, err := c.SMP(ctx, n, f); err == nil {
		return violation("a Set without the key was answered (status %s)", s.Status())
	} else if !errors.Is(err, ErrNoResponse) {
		return err
	}
	after, err := get(key)
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

// resetSlack bounds the packets a port may count between a PortCounters
// reset and the Get after it: the Set's answer, the Get and its answer,
// and what a subnet manager sweeping meanwhile sends.
const resetSlack = 32

func checkPortCountersReset(ctx context.Context, c *Conn, n *Node) error {
	if err := needLID(n); err != nil {
		return err
	}
	port := max(n.Arrival, 1)
	req := make([]byte, wire.MADSize)
	wire.MAD(req).Encode(&wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassPerf,
		ClassVersion: wire.PMAClassVersion, Method: wire.MethodSet, AttrID: wire.AttrPortCounters})
	wire.PortCounters(wire.PerfMAD(req).Data()).Encode(&wire.PortCountersFields{PortSelect: port, CounterSelect: 0xFFFF})
	m, err := c.LIDRouted(ctx, Address{LID: n.LID, QPN: 1}, req)
	if err != nil {
		return err
	}
	if m.Status() != wire.MADStatusOK {
		return violation("PortCounters Set of port %d: status %s", port, m.Status())
	}
	g, err := perfGet(ctx, c, n, wire.AttrPortCounters, &wire.PortCountersFields{PortSelect: port})
	if err != nil {
		return err
	}
	pc := wire.PortCounters(g.Data())
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
