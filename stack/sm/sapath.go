package sm

import (
	"github.com/ibemu/ibemu/emu/wire"
)

// PacketLifeTime the SA puts in PathRecords and MCMemberRecords (OpenSM's
// default: 0x12 with selector "exactly").
const pathLifeTime = 0x12

// portRate is the rate code of a port's active width and speed.
func portRate(pi wire.PortInfoFields) wire.Rate {
	sp := wire.LinkSpeed(pi.LinkSpeedActive)
	if pi.LinkSpeedExtActive != 0 {
		sp = wire.LinkSpeed(pi.LinkSpeedExtActive) << 8
	}
	g := float64(pi.LinkWidthActive.Lanes()) * sp.SignalGbps()
	best := wire.Rate(0)
	for r := wire.Rate(2); r <= wire.Rate1200Gbps; r++ {
		if rg := r.Gbps(); rg <= g+0.01 && (best == 0 || rg > best.Gbps()) {
			best = r
		}
	}
	if best == 0 {
		best = wire.Rate(3)
	}
	return best
}

// pathProps walks the LFTs from src to the LID dlid of dst and returns the
// smallest MTU and rate of the links crossed; ok is false when the route
// does not arrive.
func pathProps(sn *Subnet, src, dst *Port, dlid wire.LID) (mtu wire.MTU, rate wire.Rate, ok bool) {
	mtu, rate = wire.MTU4096, wire.Rate1200Gbps
	link := func(p *Port) {
		if p.Read && p.Remote != nil && p.Remote.Read {
			mtu = min(mtu, p.Info.MTUCap, p.Remote.Info.MTUCap)
			if r := portRate(p.Info); r.Gbps() < rate.Gbps() {
				rate = r
			}
		}
	}
	if src == dst {
		if src.Read {
			mtu = min(mtu, src.Info.MTUCap)
			rate = portRate(src.Info)
		}
		return mtu, rate, true
	}
	var n *Node
	if src.Node.IsSwitch() {
		n = src.Node
	} else {
		if src.Remote == nil {
			return 0, 0, false
		}
		link(src)
		if src.Remote == dst {
			return mtu, rate, true
		}
		n = src.Remote.Node
	}
	for hops := 0; hops < 64; hops++ {
		if !n.IsSwitch() || int(dlid) >= len(n.LFT) {
			return 0, 0, false
		}
		out := n.LFT[dlid]
		if out == 0 {
			return mtu, rate, n == dst.Node
		}
		if int(out) >= len(n.Ports) || n.Ports[out] == nil || n.Ports[out].Remote == nil {
			return 0, 0, false
		}
		p := n.Ports[out]
		link(p)
		if p.Remote == dst {
			return mtu, rate, true
		}
		n = p.Remote.Node
	}
	return 0, 0, false
}

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
	if c.hasRate && (c.rate < 2 || c.rate > wire.Rate1200Gbps) {
		return wire.SAStatusRequestInvalid
	}
	return wire.MADStatusOK
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
	life := uint8(pathLifeTime)
	if src == dst {
		life = 0
	}
	if c.hasMTU && !selected(c.mtuSel, mtuBytes(mtu), mtuBytes(c.mtu)) ||
		c.hasRate && !selected(c.rateSel, rate.Gbps(), c.rate.Gbps()) ||
		c.hasLife && !selected(c.lifeSel, float64(life), float64(c.life)) {
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
