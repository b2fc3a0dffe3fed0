package sm

import (
	"github.com/ibemu/ibemu/emu/wire"
)

// pathProps follows the route from src to the LID dlid of dst as OpenSM's
// SA does (osm_sa_path_record.c, pr_rcv_get_path_parms) and returns the
// smallest MTUCap and the slowest rate (in compareRates order) of the
// ports it counts: the source end port (port 0 of a switch), the ingress
// and egress port of every switch crossed (each at the speeds port 0 of
// that switch says it supports), and the destination end port (port 0 of
// a switch). ok is false when the route does not arrive.
func pathProps(sn *Subnet, src, dst *Port, dlid wire.LID) (mtu wire.MTU, rate wire.Rate, ok bool) {
	if !src.Read {
		return 0, 0, false
	}
	mtu, rate = src.Info.MTUCap, portRate(src)
	count := func(p *Port) {
		mtu = min(mtu, p.Info.MTUCap)
		rate = slowerRate(rate, portRate(p))
	}
	// egress is the port a switch forwards dlid by (port 0 for its own
	// LID), nil when its table has none.
	egress := func(n *Node) *Port {
		if int(dlid) >= len(n.LFT) {
			return nil
		}
		out := int(n.LFT[dlid])
		if out >= len(n.Ports) || n.Ports[out] == nil || !n.Ports[out].Read {
			return nil
		}
		return n.Ports[out]
	}
	cur := src
	if src.Node.IsSwitch() {
		if cur = egress(src.Node); cur == nil {
			return 0, 0, false
		}
	}
	end := dst
	if dst.Node.IsSwitch() {
		if end = egress(dst.Node); end == nil {
			return 0, 0, false
		}
	}
	for hops := 0; cur != end; hops++ {
		in := cur.Remote
		if in == nil || !in.Read || hops > maxPathHops {
			return 0, 0, false
		}
		if in == end {
			break
		}
		if !in.Node.IsSwitch() {
			return 0, 0, false
		}
		count(in)
		if cur = egress(in.Node); cur == nil {
			return 0, 0, false
		}
		count(cur)
	}
	if !end.Read {
		return 0, 0, false
	}
	count(end)
	return mtu, rate, true
}

// maxPathHops is the most switches a path may cross (OpenSM's MAX_HOPS).
const maxPathHops = 64

// sharedPKey returns the P_Key src and dst can talk with: want when given
// and both hold it (not both limited), else the default partition, else
// the first key they share.
func sharedPKey(src, dst *Port, want wire.PKey, has bool) (wire.PKey, bool) {
	keys := func(p *Port) []wire.PKey {
		if p.Node.IsSwitch() || len(p.PKeys) == 0 {
			return []wire.PKey{wire.PKeyDefault}
		}
		return p.PKeys
	}
	ks, kd := keys(src), keys(dst)
	find := func(base wire.PKey) (wire.PKey, bool) {
		for _, a := range ks {
			if a&0x7FFF != base || a == 0 {
				continue
			}
			for _, b := range kd {
				if b&0x7FFF == base && (a&0x8000 != 0 || b&0x8000 != 0) {
					return base | 0x8000, true
				}
			}
		}
		return 0, false
	}
	if has {
		return find(want & 0x7FFF)
	}
	if k, ok := find(0x7FFF); ok {
		return k, true
	}
	for _, a := range ks {
		if k, ok := find(a & 0x7FFF); ok && a != 0 {
			return k, true
		}
	}
	return 0, false
}

// selected reports whether value v satisfies selector sel against the
// requested value want (IBTA Vol 1 §15.2.5.16: 0 greater than, 1 less
// than, 2 exactly, 3 largest/smallest available, which any value does).
func selected(sel wire.Selector, v, want float64) bool {
	switch sel {
	case wire.SelectorGreaterThan:
		return v > want
	case wire.SelectorLessThan:
		return v < want
	case wire.SelectorExactly:
		return v == want
	}
	return true
}

func mtuBytes(m wire.MTU) float64 { return float64(int(128) << m) }

// pathLimit is the most paths a NumbPath-less GetTable or GetMulti
// returns per port pair: all of them (OpenSM), and for a MultiPathRecord
// OpenSM's OSM_SA_MPR_MAX_NUM_PATH in total.
const (
	pathLimitAll        = 1 << 30
	multiPathMaxNumPath = 127
)

// pathConstraints are the components of a PathRecord or MultiPathRecord
// request that every path must satisfy (IBTA Vol 1 §15.2.5.16,
// §15.2.5.20).
type pathConstraints struct {
	serviceID            uint64
	pkey                 wire.PKey
	hasPKey              bool
	sl                   uint8
	hasSL                bool
	mtuSel               wire.Selector
	mtu                  wire.MTU
	hasMTU               bool
	rateSel              wire.Selector
	rate                 wire.Rate
	hasRate              bool
	lifeSel              wire.Selector
	life                 uint8
	hasLife              bool
	reversible           bool // only reversible paths
	fixedSLID, fixedDLID wire.LID
}

// checkValues rejects an MTU or rate code outside the defined ones when
// the request selects on it (OpenSM: ERR_REQ_INVALID).
func (c *pathConstraints) checkValues() wire.MADStatus {
	if c.hasMTU && (c.mtu < wire.MTU256 || c.mtu > wire.MTU4096) {
		return wire.SAStatusRequestInvalid
	}
	if c.hasRate && (c.rate < minRate || c.rate > maxRate) {
		return wire.SAStatusRequestInvalid
	}
	return wire.MADStatusOK
}

// fit applies the MTU, rate and PacketLifeTime selectors of c to the
// values of a path, as OpenSM does (pr_rcv_get_path_parms): "greater
// than" only accepts, "less than" lowers the value to the one just below
// the requested one when the path's is not already below it, "exactly"
// gives the requested value when the path can carry it, and "largest
// available" takes the path's. Rates step and compare in compareRates
// order. It reports false when the path cannot satisfy them.
func (c *pathConstraints) fit(mtu *wire.MTU, rate *wire.Rate, life *uint8) bool {
	if c.hasMTU {
		switch c.mtuSel {
		case wire.SelectorGreaterThan:
			if *mtu <= c.mtu {
				return false
			}
		case wire.SelectorLessThan:
			if *mtu >= c.mtu {
				if c.mtu <= wire.MTU256 {
					return false
				}
				*mtu = c.mtu - 1
			}
		case wire.SelectorExactly:
			if *mtu < c.mtu {
				return false
			}
			*mtu = c.mtu
		}
	}
	if c.hasRate {
		switch c.rateSel {
		case wire.SelectorGreaterThan:
			if compareRates(*rate, c.rate) <= 0 {
				return false
			}
		case wire.SelectorLessThan:
			if compareRates(*rate, c.rate) >= 0 {
				if *rate = ratePrev(c.rate); *rate == 0 {
					return false
				}
			}
		case wire.SelectorExactly:
			if compareRates(*rate, c.rate) != 0 {
				return false
			}
			*rate = c.rate
		}
	}
	if c.hasLife {
		switch c.lifeSel {
		case wire.SelectorGreaterThan:
			if *life <= c.life {
				return false
			}
		case wire.SelectorLessThan:
			if *life >= c.life {
				if c.life <= 1 {
					return false
				}
				*life = c.life - 1
			}
		case wire.SelectorExactly:
			if *life < c.life {
				return false
			}
			*life = c.life
		}
	}
	return true
}

// portLIDs is the LIDs of end port p: its base LID and the 2^LMC that
// follow (IBTA Vol 1 §7.11.1).
func portLIDs(p *Port) (lo, hi wire.LID) {
	ep := endPortOf(p)
	return ep.LID, ep.LID + wire.LID(1)<<ep.LMC - 1
}

// portPairPaths appends to out up to limit paths from src to dst that
// satisfy c, in OpenSM's order (osm_sa_path_record.c): first the LID
// pairs at the same offset in both ranges (preference 0, the most
// redundant), then every other pair (preference 2). A fixed SLID or DLID
// narrows its range to that LID.
func (s *SA) portPairPaths(sn *Subnet, src, dst *Port, c *pathConstraints, limit int, out [][]byte) ([][]byte, int) {
	if limit <= 0 {
		return out, 0
	}
	sLo, sHi := portLIDs(src)
	dLo, dHi := portLIDs(dst)
	if c.fixedSLID != 0 {
		sLo, sHi = c.fixedSLID, c.fixedSLID
	}
	if c.fixedDLID != 0 {
		dLo, dHi = c.fixedDLID, c.fixedDLID
	}
	if sLo == 0 || dLo == 0 {
		return out, 0
	}
	n := 0
	try := func(slid, dlid wire.LID, pref uint8) {
		if rec := s.lidPairPath(sn, src, dst, slid, dlid, pref, c); rec != nil {
			out = append(out, rec)
			n++
		}
	}
	for sl, dl := sLo, dLo; n < limit && sl <= sHi && dl <= dHi; sl, dl = sl+1, dl+1 {
		try(sl, dl, 0)
	}
	for si := 0; n < limit && sLo+wire.LID(si) <= sHi; si++ {
		for di := 0; n < limit && dLo+wire.LID(di) <= dHi; di++ {
			if si != di {
				try(sLo+wire.LID(si), dLo+wire.LID(di), 2)
			}
		}
	}
	return out, n
}

// lidPairPath builds the PathRecord from src (LID slid) to dst (LID
// dlid), or nil when the route does not arrive or a constraint fails.
// Reversible is set when the route back arrives too; a loopback path has
// PacketLifeTime 0 (IBTA Vol 1 §15.2.5.16 Table 205).
func (s *SA) lidPairPath(sn *Subnet, src, dst *Port, slid, dlid wire.LID, pref uint8, c *pathConstraints) []byte {
	mtu, rate, ok := pathProps(sn, src, dst, dlid)
	if !ok {
		return nil
	}
	_, _, rev := pathProps(sn, dst, src, slid)
	if c.reversible && !rev {
		return nil
	}
	pkey, ok := sharedPKey(src, dst, c.pkey, c.hasPKey)
	if !ok {
		return nil
	}
	if c.hasSL && c.sl != 0 {
		return nil
	}
	// PacketLifeTime is the subnet timeout, 0 on a loopback path (IBTA
	// Vol 1 §15.2.5.16 Table 205; OpenSM's subnet_timeout).
	life := s.m.cfg.SubnetTimeout
	if src == dst {
		life = 0
	}
	if !c.fit(&mtu, &rate, &life) {
		return nil
	}
	prefix := s.m.cfg.SubnetPrefix
	rec := make([]byte, wire.PathRecordSize)
	wire.PathRecord(rec).Encode(&wire.PathRecordFields{
		ServiceID: c.serviceID, DGID: dst.GID(prefix), SGID: src.GID(prefix), DLID: dlid, SLID: slid,
		Reversible: rev, PKey: pkey, SL: 0,
		MTUSelector: wire.SelectorExactly, MTU: mtu, RateSelector: wire.SelectorExactly, Rate: rate,
		PacketLifeTimeSelector: wire.SelectorExactly, PacketLifeTime: life, Preference: pref,
	})
	return rec
}

// pathRecords answers PathRecord Get and GetTable (IBTA Vol 1 §15.2.5.16)
// for the source and destination the request names by GID or LID (the
// requester and every end port when absent). With LMC > 0 each port pair
// has a path per LID pair, OpenSM's set: a Get gets the first, a GetTable
// NumbPath of them per pair when the component is given, else all.
func (s *SA) pathRecords(sn *Subnet, q *saReq) ([][]byte, wire.MADStatus) {
	req := wire.PathRecord(q.rec)
	mask := q.mask
	prefix := s.m.cfg.SubnetPrefix
	if sid := mask & wire.PathRecordCompServiceID; sid != 0 && sid != wire.PathRecordCompServiceID {
		// Both halves of the ServiceID or neither (OpenSM).
		return nil, wire.SAStatusInsufficientComponents
	}
	c := &pathConstraints{
		serviceID: req.ServiceID(),
		pkey:      req.PKey(), hasPKey: mask.Has(wire.PathRecordCompPKey),
		sl: req.SL(), hasSL: mask.Has(wire.PathRecordCompSL),
		mtuSel: req.MTUSelector(), mtu: req.MTU(), hasMTU: mask.Has(wire.PathRecordCompMTUSelector | wire.PathRecordCompMTU),
		rateSel: req.RateSelector(), rate: req.Rate(), hasRate: mask.Has(wire.PathRecordCompRateSelector | wire.PathRecordCompRate),
		lifeSel: req.PacketLifeTimeSelector(), life: req.PacketLifeTime(),
		hasLife:    mask.Has(wire.PathRecordCompLifeSelector | wire.PathRecordCompPacketLifeTime),
		reversible: mask.Has(wire.PathRecordCompReversible) && req.Reversible(),
	}
	if st := c.checkValues(); st != wire.MADStatusOK {
		return nil, st
	}
	if mask.Has(wire.PathRecordCompDGID) && req.DGID()[0] == 0xff {
		return s.multicastPath(q), wire.MADStatusOK
	}
	byGID := func(g wire.GID) (*Port, wire.MADStatus) {
		// A link-local GID (fe80::/10) names a port of this subnet
		// whatever the rest of its prefix holds (IBTA Vol 1 §4.1.1;
		// OpenSM looks such a GID up by its interface ID alone).
		if pf := prefixFromGID(g); pf != prefix && pf&linkLocalMask != linkLocalPrefix {
			return nil, wire.SAStatusInvalidGID
		}
		p := sn.PortByGUID[guidFromGID(g)]
		if p == nil {
			return nil, wire.SAStatusInvalidGID
		}
		return p, wire.MADStatusOK
	}
	var srcs, dsts []*Port
	if mask.Has(wire.PathRecordCompSLID) {
		c.fixedSLID = req.SLID()
		p := sn.EndPortOf(req.SLID())
		if p == nil {
			return nil, wire.MADStatusOK
		}
		srcs = []*Port{p}
	}
	if mask.Has(wire.PathRecordCompSGID) {
		p, st := byGID(req.SGID())
		if st != wire.MADStatusOK {
			return nil, st
		}
		if srcs != nil && srcs[0] != p {
			// SGID and SLID name different ports (OpenSM: ERR_REQ_INVALID).
			return nil, wire.SAStatusRequestInvalid
		}
		srcs = []*Port{p}
	}
	if srcs == nil {
		if p := s.requester(sn, q); p != nil {
			srcs = []*Port{p}
		}
	}
	if mask.Has(wire.PathRecordCompDLID) {
		c.fixedDLID = req.DLID()
		p := sn.EndPortOf(req.DLID())
		if p == nil {
			return nil, wire.MADStatusOK
		}
		dsts = []*Port{p}
	}
	if mask.Has(wire.PathRecordCompDGID) {
		p, st := byGID(req.DGID())
		if st != wire.MADStatusOK {
			return nil, st
		}
		if dsts != nil && dsts[0] != p {
			return nil, wire.SAStatusRequestInvalid
		}
		dsts = []*Port{p}
	}
	if dsts == nil {
		if q.method == wire.MethodGet {
			return nil, wire.SAStatusInsufficientComponents
		}
		dsts = sn.EndPorts()
	}
	limit := pathLimitAll
	switch {
	case q.method == wire.MethodGet:
		limit = 1 // IBTA 1.2 erratum: a Get asks for NumbPath 1
	case mask.Has(wire.PathRecordCompNumbPath):
		limit = int(req.NumbPath())
	}
	var out [][]byte
	for _, src := range srcs {
		for _, dst := range dsts {
			out, _ = s.portPairPaths(sn, src, dst, c, limit, out)
		}
	}
	return out, wire.MADStatusOK
}

// The link-local GID prefix fe80::/10 (IBTA Vol 1 §4.1.1).
const (
	linkLocalPrefix = 0xFE80000000000000
	linkLocalMask   = 0xFFC0000000000000
)

// multicastPath answers a PathRecord request whose DGID is a multicast
// GID (IBTA Vol 1 §15.2.5.16): the path to the group, built as OpenSM
// builds it from the group's MCMemberRecord: the request's record with
// the group's MGID, MLID, TClass, P_Key and SL, one path, MTU, rate and
// packet lifetime exactly the group's, and a hop limit of 0xFF unless the
// group is link-local. A group the SA does not know, or one whose P_Key or
// SL differ from those the request gives, has no path: none records.
func (s *SA) multicastPath(q *saReq) [][]byte {
	req := wire.PathRecord(q.rec)
	s.m.mu.Lock()
	g := s.m.mcast.groups[req.DGID()]
	var c Group
	if g != nil {
		c = *g
	}
	s.m.mu.Unlock()
	if g == nil ||
		q.mask.Has(wire.PathRecordCompPKey) && req.PKey()&0x7FFF != c.PKey&0x7FFF ||
		q.mask.Has(wire.PathRecordCompSL) && req.SL() != c.SL {
		return nil
	}
	rec := make([]byte, wire.PathRecordSize)
	copy(rec, q.rec)
	r := wire.PathRecord(rec)
	r.SetDGID(c.MGID)
	r.SetDLID(c.MLID)
	r.SetTClass(c.TClass)
	r.SetNumbPath(1)
	r.SetPKey(c.PKey)
	r.SetSL(c.SL)
	r.SetQoSClass(0)
	r.SetMTUSelector(wire.SelectorExactly)
	r.SetMTU(c.MTU)
	r.SetRateSelector(wire.SelectorExactly)
	r.SetRate(c.Rate)
	r.SetPacketLifeTimeSelector(wire.SelectorExactly)
	r.SetPacketLifeTime(c.Lifetime)
	hop := c.HopLimit
	if c.MGID[1]&0x0F != 2 { // not link-local scope
		hop = 0xFF
	}
	r.SetHopLimit(hop)
	r.SetFlowLabel(c.FlowLabel)
	return [][]byte{rec}
}
