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

// pathRecords answers PathRecord Get and GetTable (IBTA Vol 1 §15.2.5.16)
// for the source and destination the request names by GID or LID (the
// requester and every end port when absent).
func (s *SA) pathRecords(sn *Subnet, q *saReq) ([][]byte, wire.MADStatus) {
	req := wire.PathRecord(q.rec)
	mask := q.mask
	prefix := s.m.cfg.SubnetPrefix
	byGID := func(g wire.GID) (*Port, wire.MADStatus) {
		if prefixFromGID(g) != prefix {
			return nil, wire.SAStatusInvalidGID
		}
		p := sn.PortByGUID[guidFromGID(g)]
		if p == nil {
			return nil, wire.SAStatusInvalidGID
		}
		return p, wire.MADStatusOK
	}
	var srcs, dsts []*Port
	switch {
	case mask.Has(wire.PathRecordCompSGID):
		p, st := byGID(req.SGID())
		if st != wire.MADStatusOK {
			return nil, st
		}
		srcs = []*Port{p}
	case mask.Has(wire.PathRecordCompSLID):
		if p := sn.EndPortOf(req.SLID()); p != nil {
			srcs = []*Port{p}
		}
	default:
		if p := s.requester(sn, q); p != nil {
			srcs = []*Port{p}
		}
	}
	switch {
	case mask.Has(wire.PathRecordCompDGID):
		p, st := byGID(req.DGID())
		if st != wire.MADStatusOK {
			return nil, st
		}
		dsts = []*Port{p}
	case mask.Has(wire.PathRecordCompDLID):
		if p := sn.EndPortOf(req.DLID()); p != nil {
			dsts = []*Port{p}
		}
	case q.method == wire.MethodGet:
		return nil, wire.SAStatusInsufficientComponents
	default:
		dsts = sn.EndPorts()
	}
	var out [][]byte
	for _, src := range srcs {
		for _, dst := range dsts {
			slid, dlid := src.LID, dst.LID
			if src.Node.IsSwitch() {
				slid = src.Node.Ports[0].LID
			}
			if dst.Node.IsSwitch() {
				dlid = dst.Node.Ports[0].LID
			}
			if mask.Has(wire.PathRecordCompSLID) {
				if sn.EndPortOf(req.SLID()) != src {
					continue
				}
				slid = req.SLID()
			}
			if mask.Has(wire.PathRecordCompDLID) {
				if sn.EndPortOf(req.DLID()) != dst {
					continue
				}
				dlid = req.DLID()
			}
			mtu, rate, ok := pathProps(sn, src, dst, dlid)
			if !ok {
				continue
			}
			pkey, ok := sharedPKey(src, dst, req.PKey(), mask.Has(wire.PathRecordCompPKey))
			if !ok {
				continue
			}
			if mask.Has(wire.PathRecordCompSL) && req.SL() != 0 {
				continue
			}
			if mask.Has(wire.PathRecordCompMTUSelector|wire.PathRecordCompMTU) && !selected(req.MTUSelector(), mtuBytes(mtu), mtuBytes(req.MTU())) {
				continue
			}
			if mask.Has(wire.PathRecordCompRateSelector|wire.PathRecordCompRate) && !selected(req.RateSelector(), rate.Gbps(), req.Rate().Gbps()) {
				continue
			}
			if mask.Has(wire.PathRecordCompLifeSelector|wire.PathRecordCompPacketLifeTime) &&
				!selected(req.PacketLifeTimeSelector(), pathLifeTime, float64(req.PacketLifeTime())) {
				continue
			}
			rec := make([]byte, wire.PathRecordSize)
			wire.PathRecord(rec).Encode(&wire.PathRecordFields{
				ServiceID: req.ServiceID(), DGID: dst.GID(prefix), SGID: src.GID(prefix), DLID: dlid, SLID: slid,
				Reversible: true, PKey: pkey, SL: 0,
				MTUSelector: wire.SelectorExactly, MTU: mtu, RateSelector: wire.SelectorExactly, Rate: rate,
				PacketLifeTimeSelector: wire.SelectorExactly, PacketLifeTime: pathLifeTime,
			})
			out = append(out, rec)
		}
	}
	return out, wire.MADStatusOK
}
