package sm

import (
	"github.com/ibemu/ibemu/emu/wire"
)

// multiPathRecords answers SubnAdmGetMulti(MultiPathRecord) (IBTA Vol 1
// §15.2.5.20, o15-0.2.7) the way OpenSM's osm_sa_multipath_record.c does:
// the request comes with RMPP and must name SGIDCount and DGIDCount; for
// every (source GID, destination GID) pair, in order, the paths between
// the two ports are those PathRecord would give (LID pairs in OpenSM's
// preference order), until NumbPath paths (127 without the component)
// are found. The answer is a GetMultiResp of PathRecords.
//
// OpenSM's special case of two sources, two destinations and NumbPath 2
// (disjoint paths for automatic path migration) is answered like any
// other request: the first two paths in order.
func (s *SA) multiPathRecords(sn *Subnet, q *saReq) {
	if q.method != wire.MethodGetMulti {
		_ = q.r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
		return
	}
	if !wire.MAD(q.r.MAD).RMPPHeader().IsActive() {
		// A GetMulti request is an RMPP transfer (IBTA Vol 1 §15.4).
		_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
		return
	}
	mask := q.mask
	if !mask.Has(wire.MultiPathRecordCompSGIDCount | wire.MultiPathRecordCompDGIDCount) {
		_ = q.r.RespondStatus(wire.SAStatusInsufficientComponents)
		return
	}
	if sid := mask & wire.MultiPathRecordCompServiceID; sid != 0 && sid != wire.MultiPathRecordCompServiceID {
		_ = q.r.RespondStatus(wire.SAStatusInsufficientComponents)
		return
	}
	req, err := wire.ParseMultiPathRecord(q.rec)
	if err != nil {
		s.m.log.Info("sa: multipathrecord shorter than its gid counts", "from", q.r.Addr.String(), "err", err)
		_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
		return
	}
	c := &pathConstraints{
		serviceID: req.ServiceID(),
		pkey:      req.PKey(), hasPKey: mask.Has(wire.MultiPathRecordCompPKey),
		sl: req.SL(), hasSL: mask.Has(wire.MultiPathRecordCompSL),
		mtuSel: req.MTUSelector(), mtu: req.MTU(),
		hasMTU:  mask.Has(wire.MultiPathRecordCompMTUSelector | wire.MultiPathRecordCompMTU),
		rateSel: req.RateSelector(), rate: req.Rate(),
		hasRate: mask.Has(wire.MultiPathRecordCompRateSelector | wire.MultiPathRecordCompRate),
		lifeSel: req.PacketLifeTimeSelector(), life: req.PacketLifeTime(),
		hasLife:    mask.Has(wire.MultiPathRecordCompLifeSelector | wire.MultiPathRecordCompPacketLifeTime),
		reversible: mask.Has(wire.MultiPathRecordCompReversible) && req.Reversible(),
	}
	if st := c.checkValues(); st != wire.MADStatusOK {
		_ = q.r.RespondStatus(st)
		return
	}
	prefix := s.m.cfg.SubnetPrefix
	ports := func(first, n int, source bool) ([]*Port, wire.MADStatus) {
		out := make([]*Port, 0, n)
		for i := first; i < first+n; i++ {
			g := req.GID(i)
			if source && g[0] == 0xFF || prefixFromGID(g) != prefix {
				return nil, wire.SAStatusInvalidGID
			}
			p := sn.PortByGUID[guidFromGID(g)]
			if p == nil {
				return nil, wire.SAStatusInvalidGID
			}
			out = append(out, p)
		}
		return out, wire.MADStatusOK
	}
	srcs, st := ports(0, int(req.SGIDCount()), true)
	if st == wire.MADStatusOK {
		var dsts []*Port
		dsts, st = ports(int(req.SGIDCount()), int(req.DGIDCount()), false)
		if st == wire.MADStatusOK && (len(srcs) == 0 || len(dsts) == 0) {
			st = wire.SAStatusRequestInvalid
		}
		if st == wire.MADStatusOK {
			limit := multiPathMaxNumPath
			if mask.Has(wire.MultiPathRecordCompNumbPath) {
				limit = int(req.NumbPath())
			}
			var out [][]byte
			total := 0
			for _, src := range srcs {
				for _, dst := range dsts {
					var n int
					out, n = s.portPairPaths(sn, src, dst, c, limit-total, out)
					total += n
				}
			}
			s.respondTable(q, wire.MethodGetMultiResp, wire.AttrPathRecord, wire.PathRecordSize, out)
			return
		}
	}
	_ = q.r.RespondStatus(st)
}
