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
		if mgid != (wire.GID{}) && !validRequestedMGID(mgid) {
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
		mtu, rate, ok := groupMTURate(mask, req, port)
		if !ok {
			s.m.mu.Unlock()
			_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
			return
		}
		scope := uint8(2)
		if mask.Has(wire.MCMemberRecordCompScope) {
			scope = req.Scope()
		}
		g = &Group{MGID: mgid, QKey: req.QKey(), PKey: req.PKey(), MTU: mtu, Rate: rate, Lifetime: groupLifeTime,
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
				!rateSelected(req.RateSelector(), g.Rate, req.Rate()) ||
			!portFitsGroup(g, port) {
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
	// A valid delete (IBTA Vol 1 o15-0.1.14, as OpenSM checks it) names a
	// group and a member of it, and a JoinState that shares a bit with
	// the member's and sets none the member does not hold; anything else
	// is ERR_REQ_INVALID.
	if g == nil {
		s.m.mu.Unlock()
		_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
		return
	}
	cur, want := g.Members[port.GUID], req.JoinState()&0x0F
	if cur == 0 || want&cur == 0 || want&^cur != 0 {
		s.m.mu.Unlock()
		_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
		return
	}
	js := cur &^ want
	// A member left without full membership stays only while another
	// port holds the group as a full member (OpenSM's rule).
	if js != 0 && js&wire.JoinFullMember == 0 {
		others := false
		for guid, st := range g.Members {
			if guid != port.GUID && st&wire.JoinFullMember != 0 {
				others = true
			}
		}
		if !others {
			js = 0
		}
	}
	// The answer carries the JoinState the port is left with (none when
	// it left), as OpenSM's does.
	rec := groupRecord(g, req.PortGID(), js)
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

// groupLifeTime is the PacketLifeTime of a group a join creates (OpenSM's
// default subnet timeout, selector "exactly").
const groupLifeTime = 0x12

// groupMTURate picks the MTU and rate of a group a join creates, as
// OpenSM does (osm_sa_mcmember_record.c, mgrp_request_is_realizable;
// o15-0.2.3 leaves the choice to the SA): a component given with its
// selector is honoured against what the joining port's link carries
// (Greater than: the port's own, refused when the port cannot go above
// the value; Less than: one step below, or the port's when that is
// smaller; Exactly: the value), ok is false when nothing fits; a
// component not given (or selector 3) takes the joining port's
// NeighborMTU and link rate. Rates step and compare in compareRates
// order.
func groupMTURate(mask wire.ComponentMask, req wire.MCMemberRecord, port *Port) (mtu wire.MTU, rate wire.Rate, ok bool) {
	portMTU := port.Info.NeighborMTU
	if !mask.Has(wire.MCMemberRecordCompMTUSelector|wire.MCMemberRecordCompMTU) || req.MTUSelector() == wire.SelectorBest {
		mtu = portMTU
		if mtu == 0 {
			mtu = wire.MTU2048
		}
	} else {
		want := req.MTU()
		mtu = want
		switch req.MTUSelector() {
		case wire.SelectorGreaterThan:
			if portMTU != 0 && want >= portMTU {
				return 0, 0, false
			}
			if portMTU != 0 {
				mtu = portMTU
			} else {
				mtu++
			}
		case wire.SelectorLessThan:
			if portMTU != 0 && want > portMTU {
				mtu = portMTU
			} else {
				mtu--
			}
		}
		if mtu < wire.MTU256 || mtu > wire.MTU4096 {
			return 0, 0, false
		}
	}
	portR := wire.Rate(0)
	if port.Read {
		portR = portRate(port)
	}
	if !mask.Has(wire.MCMemberRecordCompRateSelector|wire.MCMemberRecordCompRate) || req.RateSelector() == wire.SelectorBest {
		rate = portR
		if rate == 0 {
			rate = wire.Rate10Gbps
		}
		return mtu, rate, true
	}
	want := req.Rate()
	rate = want
	switch req.RateSelector() {
	case wire.SelectorGreaterThan:
		if compareRates(want, portR) >= 0 {
			return 0, 0, false
		}
		rate = portR
	case wire.SelectorLessThan:
		if compareRates(want, portR) > 0 {
			rate = portR
		} else {
			rate = ratePrev(want)
		}
	}
	if rate < minRate || rate > maxRate {
		return 0, 0, false
	}
	return mtu, rate, true
}

// portFitsGroup reports whether port can carry group g, OpenSM's check on
// every join (validate_port_caps): its NeighborMTU is at least the
// group's MTU and its link rate at least the group's rate.
func portFitsGroup(g *Group, port *Port) bool {
	if !port.Read {
		return true
	}
	return port.Info.NeighborMTU >= g.MTU && compareRates(portRate(port), g.Rate) >= 0
}

// rateSelected reports whether a group's rate satisfies selector sel
// against the requested rate want, in compareRates order.
func rateSelected(sel wire.Selector, have, want wire.Rate) bool {
	switch c := compareRates(have, want); sel {
	case wire.SelectorGreaterThan:
		return c > 0
	case wire.SelectorLessThan:
		return c < 0
	case wire.SelectorExactly:
		return c == 0
	}
	return true
}

// validRequestedMGID reports whether a group may be created with mgid,
// the checks OpenSM makes (IBTA Vol 1 §4.1.1, o15-0.2.x): a multicast GID
// (first byte 0xFF) with no flag but T set, and an SA-style MGID
// (signature 0xA01B) not of link-local scope; IPoIB MGIDs (signatures
// 0x401B, 0x601B; RFC 4391) are taken as they are.
func validRequestedMGID(mgid wire.GID) bool {
	if mgid[0] != 0xFF {
		return false
	}
	sig := binary.BigEndian.Uint16(mgid[2:])
	if sig == 0x401B || sig == 0x601B {
		return true
	}
	if mgid[1]&0xE0 != 0 {
		return false
	}
	return !(sig == 0xA01B && mgid[1]&0x0F == 2)
}
