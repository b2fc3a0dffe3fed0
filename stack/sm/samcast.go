package sm

import (
	"encoding/binary"

	"github.com/ibemu/ibemu/emu/wire"
)

// groupRecord encodes g as an MCMemberRecord for port gid with join state
// js.
func groupRecord(g *Group, gid wire.GID, js uint8) []byte {
	rec := make([]byte, wire.MCMemberRecordSize)
	wire.MCMemberRecord(rec).Encode(&wire.MCMemberRecordFields{
		MGID: g.MGID, PortGID: gid, QKey: g.QKey, MLID: g.MLID,
		MTUSelector: wire.SelectorExactly, MTU: g.MTU, TClass: g.TClass, PKey: g.PKey,
		RateSelector: wire.SelectorExactly, Rate: g.Rate,
		PacketLifeTimeSelector: wire.SelectorExactly, PacketLifeTime: g.Lifetime,
		SL: g.SL, FlowLabel: g.FlowLabel, HopLimit: g.HopLimit, Scope: g.Scope, JoinState: js,
	})
	return rec
}

// mcMember serves MCMemberRecord (IBTA Vol 1 §15.2.5.17): Set joins (and
// creates a group), Delete leaves, Get and GetTable look groups up.
func (s *SA) mcMember(sn *Subnet, q *saReq) {
	req := wire.MCMemberRecord(q.rec)
	mask := q.mask
	switch q.method {
	case wire.MethodSet, wire.MethodDelete:
		if !mask.Has(wire.MCMemberRecordCompPortGID) || !mask.Has(wire.MCMemberRecordCompJoinState) || req.JoinState() == 0 {
			_ = q.r.RespondStatus(wire.SAStatusInsufficientComponents)
			return
		}
		gid := req.PortGID()
		port := sn.PortByGUID[guidFromGID(gid)]
		if port == nil || prefixFromGID(gid) != s.m.cfg.SubnetPrefix {
			_ = q.r.RespondStatus(wire.SAStatusInvalidGID)
			return
		}
		if q.method == wire.MethodSet {
			s.join(sn, q, req, port)
		} else {
			s.leave(q, req, port)
		}
	case wire.MethodGet, wire.MethodGetTable:
		var recs [][]byte
		s.m.mu.Lock()
		for _, g := range s.m.Groups0() {
			if mask.Has(wire.MCMemberRecordCompPortGID) {
				for guid, js := range g.Members {
					p := sn.PortByGUID[guid]
					if p == nil {
						continue
					}
					rec := groupRecord(g, p.GID(s.m.cfg.SubnetPrefix), js)
					if matches(wire.AttrMCMemberRecord, mask, q.rec, rec) {
						recs = append(recs, rec)
					}
				}
				continue
			}
			rec := groupRecord(g, wire.GID{}, 0)
			if matches(wire.AttrMCMemberRecord, mask&^(wire.MCMemberRecordCompJoinState|wire.MCMemberRecordCompProxyJoin), q.rec, rec) {
				recs = append(recs, rec)
			}
		}
		s.m.mu.Unlock()
		s.answer(q, recs)
	default:
		_ = q.r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
	}
}

// Groups0 lists the groups in MLID order; the caller holds m.mu.
func (m *SM) Groups0() []*Group {
	out := make([]*Group, 0, len(m.mcast.byMLID))
	for l := wire.LIDMulticastBase; l <= wire.LIDMulticastMax && len(out) < len(m.mcast.byMLID); l++ {
		if g := m.mcast.byMLID[l]; g != nil {
			out = append(out, g)
		}
	}
	return out
}

// join adds port to a group, creating it when it does not exist and the
// request carries the components OpenSM requires for creation (Q_Key,
// TClass, P_Key, FlowLabel, SL) and full membership.
func (s *SA) join(sn *Subnet, q *saReq, req wire.MCMemberRecord, port *Port) {
	mask := q.mask
	mgid := req.MGID()
	s.m.mu.Lock()
	g := s.m.mcast.groups[mgid]
	created := false
	if g == nil || mgid == (wire.GID{}) {
		need := wire.MCMemberRecordCompQKey | wire.MCMemberRecordCompTClass | wire.MCMemberRecordCompPKey |
			wire.MCMemberRecordCompFlowLabel | wire.MCMemberRecordCompSL
		if mask&need != need {
			s.m.mu.Unlock()
			_ = q.r.RespondStatus(wire.SAStatusInsufficientComponents)
			return
		}
		if req.JoinState()&wire.JoinFullMember == 0 {
			s.m.mu.Unlock()
			_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
			return
		}
		if mgid == (wire.GID{}) {
			// SA-assigned MGID: ff12:a01b:<pkey>:: and a counter.
			s.mu.Lock()
			s.nextMGID++
			n := s.nextMGID
			s.mu.Unlock()
			mgid = wire.GID{0xff, 0x12, 0xa0, 0x1b}
			binary.BigEndian.PutUint16(mgid[4:], uint16(req.PKey()))
			binary.BigEndian.PutUint32(mgid[12:], n)
		}
		mtu := wire.MTU2048
		if mask.Has(wire.MCMemberRecordCompMTU) && req.MTU() >= wire.MTU256 && req.MTU() <= wire.MTU4096 {
			mtu = req.MTU()
		}
		rate := wire.Rate(3)
		if mask.Has(wire.MCMemberRecordCompRate) && req.Rate() != 0 {
			rate = req.Rate()
		}
		scope := uint8(2)
		if mask.Has(wire.MCMemberRecordCompScope) {
			scope = req.Scope()
		}
		g = &Group{MGID: mgid, QKey: req.QKey(), PKey: req.PKey(), MTU: mtu, Rate: rate, Lifetime: pathLifeTime,
			SL: req.SL(), FlowLabel: req.FlowLabel(), HopLimit: req.HopLimit(), TClass: req.TClass(), Scope: scope,
			Members: map[wire.GUID]uint8{}}
		if !s.m.mcast.add(g) {
			s.m.mu.Unlock()
			_ = q.r.RespondStatus(wire.SAStatusNoResources)
			return
		}
		created = true
	} else {
		// Joining an existing group: the requested parameters must fit it.
		if mask.Has(wire.MCMemberRecordCompQKey) && req.QKey() != g.QKey ||
			mask.Has(wire.MCMemberRecordCompPKey) && req.PKey()&0x7FFF != g.PKey&0x7FFF ||
			mask.Has(wire.MCMemberRecordCompMTUSelector|wire.MCMemberRecordCompMTU) &&
				!selected(req.MTUSelector(), mtuBytes(g.MTU), mtuBytes(req.MTU())) ||
			mask.Has(wire.MCMemberRecordCompRateSelector|wire.MCMemberRecordCompRate) &&
				!selected(req.RateSelector(), g.Rate.Gbps(), req.Rate().Gbps()) {
			s.m.mu.Unlock()
			_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
			return
		}
	}
	g.Members[port.GUID] |= req.JoinState()
	s.m.mcast.dirty = true
	rec := groupRecord(g, req.PortGID(), g.Members[port.GUID])
	s.m.mu.Unlock()
	if created {
		s.m.log.Info("sa: multicast group created", "mlid", g.MLID)
		s.gidNotice(wire.TrapMcastGroupCreated, mgid)
	}
	s.m.requestMcast()
	s.answer(q, [][]byte{rec})
}

// leave drops the JoinState bits the request names; a group with no
// members left is deleted unless predefined.
func (s *SA) leave(q *saReq, req wire.MCMemberRecord, port *Port) {
	s.m.mu.Lock()
	g := s.m.mcast.groups[req.MGID()]
	if g == nil || g.Members[port.GUID] == 0 {
		s.m.mu.Unlock()
		_ = q.r.RespondStatus(wire.SAStatusNoRecords)
		return
	}
	js := g.Members[port.GUID] &^ req.JoinState()
	rec := groupRecord(g, req.PortGID(), req.JoinState())
	if js == 0 {
		delete(g.Members, port.GUID)
	} else {
		g.Members[port.GUID] = js
	}
	deleted := false
	if len(g.Members) == 0 && !g.Predefined {
		s.m.mcast.remove(g)
		deleted = true
	}
	s.m.mcast.dirty = true
	s.m.mu.Unlock()
	if deleted {
		s.gidNotice(wire.TrapMcastGroupDeleted, g.MGID)
	}
	s.m.requestMcast()
	s.answer(q, [][]byte{rec})
}
