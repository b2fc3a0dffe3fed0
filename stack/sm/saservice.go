package sm

import (
	"bytes"
	"slices"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// serviceRecord serves ServiceRecord (IBTA Vol 1 §15.2.5.14): Set
// registers (replacing a record with the same ServiceID, ServiceGID and
// ServiceP_Key), Delete deregisters, Get and GetTable look up; leases
// expire on the SM's clock.
func (s *SA) serviceRecord(sn *Subnet, q *saReq) {
	req := wire.ServiceRecord(q.rec[:wire.ServiceRecordSize])
	now := s.m.clock.Now()
	s.mu.Lock()
	// Drop expired leases.
	s.services = slices.DeleteFunc(s.services, func(sv *service) bool {
		return !sv.expires.IsZero() && now.After(sv.expires)
	})
	same := func(sv *service) bool {
		r := wire.ServiceRecord(sv.rec)
		return r.ServiceID() == req.ServiceID() && r.ServiceGID() == req.ServiceGID() && r.ServicePKey() == req.ServicePKey()
	}
	switch q.method {
	case wire.MethodSet:
		if !q.mask.Has(wire.ServiceRecordCompServiceID) || !q.mask.Has(wire.ServiceRecordCompServiceGID) {
			s.mu.Unlock()
			_ = q.r.RespondStatus(wire.SAStatusInsufficientComponents)
			return
		}
		if sn.PortByGUID[guidFromGID(req.ServiceGID())] == nil {
			s.mu.Unlock()
			_ = q.r.RespondStatus(wire.SAStatusInvalidGID)
			return
		}
		rec := bytes.Clone(q.rec[:wire.ServiceRecordSize])
		sv := &service{rec: rec}
		if l := req.ServiceLease(); l != wire.ServiceLeaseInfinite {
			sv.expires = now.Add(time.Duration(l) * time.Second)
		}
		s.services = slices.DeleteFunc(s.services, same)
		s.services = append(s.services, sv)
		s.mu.Unlock()
		s.answer(q, [][]byte{rec})
	case wire.MethodDelete:
		var gone [][]byte
		s.services = slices.DeleteFunc(s.services, func(sv *service) bool {
			if matches(wire.AttrServiceRecord, q.mask, q.rec, sv.rec) {
				gone = append(gone, sv.rec)
				return true
			}
			return false
		})
		s.mu.Unlock()
		if len(gone) > 1 {
			gone = gone[:1]
		}
		s.answer(q, gone)
	case wire.MethodGet, wire.MethodGetTable:
		var recs [][]byte
		for _, sv := range s.services {
			if matches(wire.AttrServiceRecord, q.mask, q.rec, sv.rec) {
				rec := bytes.Clone(sv.rec)
				if !sv.expires.IsZero() {
					left := uint32(sv.expires.Sub(now) / time.Second)
					wire.ServiceRecord(rec).SetServiceLease(left)
				}
				recs = append(recs, rec)
			}
		}
		s.mu.Unlock()
		s.answer(q, recs)
	default:
		s.mu.Unlock()
		_ = q.r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
	}
}

// informInfo serves InformInfo Set (IBTA Vol 1 §15.2.5.12, §13.4.8.3):
// subscribe or unsubscribe the requester to traps.
func (s *SA) informInfo(sn *Subnet, q *saReq) {
	if q.method != wire.MethodSet {
		_ = q.r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
		return
	}
	ii := wire.InformInfo(q.rec[:wire.InformInfoSize])
	f := ii.Fields()
	sub := &subscription{info: f, addr: q.r.Addr.ReplyAddr()}
	if f.QPN != 0 {
		sub.addr.QPN = f.QPN
	}
	if p := s.requester(sn, q); p != nil {
		sub.gid = p.GID(s.m.cfg.SubnetPrefix)
	}
	key := func(x *subscription) bool {
		return x.addr.LID == sub.addr.LID && x.addr.QPN == sub.addr.QPN && x.info.TrapNumber == f.TrapNumber &&
			x.info.IsGeneric == f.IsGeneric && x.info.Type == f.Type
	}
	s.mu.Lock()
	n0 := len(s.subs)
	s.subs = slices.DeleteFunc(s.subs, key)
	if f.Subscribe {
		s.subs = append(s.subs, sub)
	}
	removed := n0 > len(s.subs)-boolInt(f.Subscribe)
	s.mu.Unlock()
	if !f.Subscribe && !removed {
		_ = q.r.RespondStatus(wire.SAStatusRequestInvalid)
		return
	}
	s.answer(q, [][]byte{bytes.Clone(q.rec[:wire.InformInfoSize])})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// notify sends notice n as SubnAdmReport(Notice) to every subscriber whose
// InformInfo matches it (IBTA Vol 1 §13.4.8.3); the subscriber answers
// with ReportResp, and the agent retransmits until it does.
func (s *SA) notify(n wire.Notice) {
	f := n.Fields()
	s.mu.Lock()
	var to []*subscription
	for _, sub := range s.subs {
		i := sub.info
		if i.IsGeneric != f.IsGeneric {
			continue
		}
		if i.TrapNumber != 0xFFFF && i.TrapNumber != f.TrapNumber {
			continue
		}
		if i.Type != 0xFFFF && i.Type != uint16(f.Type) {
			continue
		}
		if i.GID == (wire.GID{}) && i.LIDRangeBegin != wire.InformInfoAllLIDs &&
			(f.IssuerLID < i.LIDRangeBegin || f.IssuerLID > max(i.LIDRangeEnd, i.LIDRangeBegin)) {
			continue
		}
		to = append(to, sub)
	}
	s.mu.Unlock()
	for _, sub := range to {
		msg := make([]byte, wire.MADSize)
		wire.MAD(msg).Encode(&wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassSubnAdm,
			ClassVersion: wire.SAClassVersion, Method: wire.MethodReport, AttrID: wire.AttrNotice})
		nb := wire.Notice(msg[wire.SADataOffset : wire.SADataOffset+wire.NoticeSize])
		copy(nb, n)
		if len(n) < wire.NoticeSize {
			// An SMP notice has no IssuerGID; leave it zero.
			clear(nb[len(n):])
		}
		err := s.a.Go(mad.Request{Addr: sub.addr, MAD: msg}, func(r mad.Result) {
			if r.Err != nil {
				s.m.log.Info("sa: report not acknowledged", "to", sub.addr.String(), "err", r.Err)
			}
		})
		if err != nil {
			s.m.log.Warn("sa: report not sent", "to", sub.addr.String(), "err", err)
		}
	}
}

// gidNotice sends a notice the SM generates itself (traps 64-67, IBTA
// Vol 1 §14.2.5.1 Table 131).
func (s *SA) gidNotice(trap uint16, gid wire.GID) {
	sn := s.m.Subnet()
	if sn == nil {
		return
	}
	f := wire.GIDTrapNotice(trap, gid, sn.Local.LID, sn.Local.GID(s.m.cfg.SubnetPrefix))
	b := make([]byte, wire.NoticeSize)
	wire.Notice(b).Encode(&f)
	s.notify(wire.Notice(b))
}
