package sm

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// SA is the subnet administrator (IBTA Vol 1 §15): the SM's database
// answered over QP1. It serves only while its SM is master (a standby SM
// leaves the requester to time out, as OpenSM does).
type SA struct {
	m *SM
	a *mad.Agent

	mu sync.Mutex
	// +checklocks:mu
	services []*service
	// +checklocks:mu
	subs []*subscription
	// +checklocks:mu
	nextMGID uint32
}

type service struct {
	rec     []byte // ServiceRecordSize
	expires time.Time
}

type subscription struct {
	info wire.InformInfoFields
	addr mad.Addr
	gid  wire.GID
}

// saMethods are the SA requests served (IBTA Vol 1 §15.2.2).
var saMethods = []wire.Method{wire.MethodGet, wire.MethodSet, wire.MethodGetTable, wire.MethodGetMulti, wire.MethodDelete}

func newSA(m *SM) (*SA, error) {
	a, err := mad.NewAgent(m.t, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
		Methods: saMethods, RMPP: true}, mad.Options{})
	if err != nil {
		return nil, fmt.Errorf("sm: sa agent: %w", err)
	}
	s := &SA{m: m, a: a}
	a.Serve(s.serve)
	return s, nil
}

func (s *SA) close() { s.a.Close() }

// saReq is one decoded SA request.
type saReq struct {
	r      *mad.Received
	method wire.Method
	attr   wire.AttrID
	mod    uint32
	mask   wire.ComponentMask
	rec    []byte // request record, zero-padded to the record size
}

// serve answers an SA request. It runs on the delivery context; the
// subnet it reads is immutable, the SA's own tables are locked.
func (s *SA) serve(r *mad.Received) {
	if len(r.MAD) < wire.SADataOffset {
		s.m.log.Warn("sa: malformed request dropped", "from", r.Addr.String(), "len", len(r.MAD))
		return
	}
	mm := wire.MAD(r.MAD)
	if mm.ClassVersion() != wire.SAClassVersion {
		_ = r.RespondStatus(wire.MADStatusBadVersion)
		return
	}
	if s.m.State() != wire.SMStateMaster {
		s.m.log.Info("sa: request while not master dropped", "from", r.Addr.String())
		return
	}
	h := wire.SAHeader(r.MAD[wire.SAHeaderOffset:wire.SADataOffset])
	if k := h.SMKey(); k != 0 && k != s.m.cfg.SMKey {
		// C15-0.1.5 (IBTA Vol 1 §15.2.1.2): an SM_Key that is neither 0
		// nor the SM's is discarded without an answer, as OpenSM does.
		s.m.log.Info("sa: request with a wrong SM_Key dropped", "from", r.Addr.String(), "attr", mm.AttrID().String())
		return
	}
	q := &saReq{r: r, method: mm.Method(), attr: mm.AttrID(), mod: mm.AttrMod(), mask: h.ComponentMask()}
	size := recordSize(q.attr)
	if q.attr == wire.AttrClassPortInfo {
		size = wire.ClassPortInfoSize
	}
	if size == 0 {
		_ = r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
		return
	}
	// A request reassembled from RMPP segments (GetMulti) may carry more
	// than one MAD's records.
	q.rec = make([]byte, max(size, wire.SADataSize, len(r.MAD)-wire.SADataOffset))
	copy(q.rec, r.MAD[wire.SADataOffset:])
	sn := s.m.Subnet()
	if sn == nil {
		_ = r.RespondStatus(wire.SAStatusNoResources)
		return
	}
	switch q.attr {
	case wire.AttrClassPortInfo:
		s.classPortInfo(q)
	case wire.AttrNodeRecord, wire.AttrPortInfoRecord, wire.AttrLinkRecord, wire.AttrSwitchInfoRecord, wire.AttrLinearForwardingTableRecord:
		if !s.readOnly(q) {
			return
		}
		s.answer(q, s.tableRecords(sn, q))
	case wire.AttrPathRecord:
		if !s.readOnly(q) {
			return
		}
		recs, st := s.pathRecords(sn, q)
		if st != wire.MADStatusOK {
			_ = r.RespondStatus(st)
			return
		}
		s.answer(q, recs)
	case wire.AttrMultiPathRecord:
		s.multiPathRecords(sn, q)
	case wire.AttrMCMemberRecord:
		s.mcMember(sn, q)
	case wire.AttrServiceRecord:
		s.serviceRecord(sn, q)
	case wire.AttrInformInfo:
		s.informInfo(sn, q)
	default:
		if tableAttr(q.attr) {
			s.tables(sn, q)
			return
		}
		_ = r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
	}
}

func (s *SA) readOnly(q *saReq) bool {
	if q.method != wire.MethodGet && q.method != wire.MethodGetTable {
		_ = q.r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
		return false
	}
	return true
}

// answer responds with recs: a Get gets exactly one record or
// ERR_NO_RECORDS / ERR_TOO_MANY_RECORDS; a GetTable gets all of them over
// RMPP, none being success with AttributeOffset 0 (IBTA Vol 1 §15.2.5,
// §15.4).
func (s *SA) answer(q *saReq, recs [][]byte) {
	switch q.method {
	case wire.MethodGet, wire.MethodSet, wire.MethodDelete:
		if len(recs) == 0 {
			_ = q.r.RespondStatus(wire.SAStatusNoRecords)
			return
		}
		if len(recs) > 1 && q.method == wire.MethodGet {
			_ = q.r.RespondStatus(wire.SAStatusTooManyRecords)
			return
		}
		resp := s.header(q, q.method.Response(), 0)
		copy(resp[wire.SADataOffset:], recs[0])
		wire.SAHeader(resp[wire.SAHeaderOffset:wire.SADataOffset]).SetAttributeOffset(wire.SAAttributeOffset(len(recs[0])))
		_ = q.r.Respond(resp)
	case wire.MethodGetTable:
		s.respondTable(q, wire.MethodGetTableResp, q.attr, recordSize(q.attr), recs)
	default:
		_ = q.r.RespondStatus(wire.MADStatusUnsupportedMethod)
	}
}

// respondTable answers q with every record of recs (size bytes each) over
// RMPP: a GetTableResp, or the GetMultiResp of a MultiPathRecord request
// (IBTA Vol 1 §15.4; none is success with AttributeOffset 0).
func (s *SA) respondTable(q *saReq, method wire.Method, attr wire.AttrID, size int, recs [][]byte) {
	stride := int(wire.SAAttributeOffset(size)) * 8
	// The message is exactly as long as its records: RMPP's PayloadLength
	// tells the requester how many there are (IBTA Vol 1 §13.6.2.3,
	// §15.2.1.1), even when they fit in one segment.
	resp := s.header(q, method, len(recs)*stride)[:wire.SADataOffset+len(recs)*stride]
	wire.MAD(resp).SetAttrID(attr)
	for i, rec := range recs {
		copy(resp[wire.SADataOffset+i*stride:], rec)
	}
	if len(recs) > 0 {
		wire.SAHeader(resp[wire.SAHeaderOffset:wire.SADataOffset]).SetAttributeOffset(uint16(stride / 8))
	}
	rh := wire.RMPPHeader(resp[wire.RMPPHeaderOffset:wire.SAHeaderOffset])
	rh.Encode(&wire.RMPPHeaderFields{Version: 1, Type: wire.RMPPTypeData, Flags: wire.RMPPFlagActive})
	_ = q.r.Respond(resp)
}

// header returns a response of method with the request's headers, room
// for dataLen record bytes (at least one MAD), SM_Key 0 and no RMPP.
func (s *SA) header(q *saReq, method wire.Method, dataLen int) []byte {
	n := max(wire.MADSize, wire.SADataOffset+dataLen)
	resp := make([]byte, n)
	copy(resp[:wire.SADataOffset], q.r.MAD[:wire.SADataOffset])
	mm := wire.MAD(resp)
	mm.SetMethod(method)
	mm.SetStatus(wire.MADStatusOK)
	clear(resp[wire.RMPPHeaderOffset:wire.SAHeaderOffset])
	h := wire.SAHeader(resp[wire.SAHeaderOffset:wire.SADataOffset])
	h.SetSMKey(0)
	h.SetAttributeOffset(0)
	return resp
}

// classPortInfo answers ClassPortInfo Get (IBTA Vol 1 §13.4.8.1).
func (s *SA) classPortInfo(q *saReq) {
	if q.method != wire.MethodGet {
		_ = q.r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
		return
	}
	resp := s.header(q, wire.MethodGetResp, 0)
	wire.ClassPortInfo(resp[wire.SADataOffset:]).Encode(&wire.ClassPortInfoFields{
		BaseVersion: wire.MADBaseVersion, ClassVersion: wire.SAClassVersion,
		CapabilityMask: wire.ClassCapIsNoticeSupported | wire.SACapUDMulticastSupported | wire.SACapPortInfoCapMaskMatchSupported,
		RespTimeValue:  s.m.cfg.SubnetTimeout,
	})
	_ = q.r.Respond(resp)
}

// tableRecords builds the NodeRecords, PortInfoRecords, LinkRecords,
// SwitchInfoRecords or LFT records that match the request.
func (s *SA) tableRecords(sn *Subnet, q *saReq) [][]byte {
	var out [][]byte
	size := recordSize(q.attr)
	keep := func(rec []byte) {
		if matches(q.attr, q.mask, q.rec, rec) {
			out = append(out, rec)
		}
	}
	for _, n := range tableOrder(sn, q) {
		switch q.attr {
		case wire.AttrNodeRecord:
			for _, p := range n.Ports {
				if p == nil || !p.EndPort() || p.LID == 0 {
					continue
				}
				info := n.Info
				info.PortGUID, info.LocalPortNum = p.GUID, uint8(p.Num)
				rec := make([]byte, size)
				wire.NodeRecord(rec).Encode(&wire.NodeRecordFields{LID: p.LID, NodeInfo: info, NodeDescription: n.Desc})
				keep(rec)
			}
		case wire.AttrPortInfoRecord:
			lid := wire.LID(0)
			if n.IsSwitch() {
				lid = n.Ports[0].LID
			}
			for _, p := range n.Ports {
				if p == nil || !p.Read {
					continue
				}
				el := lid
				if !n.IsSwitch() {
					el = p.LID
				}
				if el == 0 {
					continue
				}
				pi := p.Info
				pi.MKey = 0 // not shown to untrusted requesters
				rec := make([]byte, size)
				wire.PortInfoRecord(rec).Encode(&wire.PortInfoRecordFields{EndportLID: el, PortNum: uint8(p.Num), PortInfo: pi})
				if q.mod&wire.PortInfoRecordCapMaskMatch != 0 && q.mask&(1<<7) != 0 {
					want := binary.BigEndian.Uint32(q.rec[24:])
					if uint32(pi.CapabilityMask)&want != want {
						continue
					}
					m := q.mask &^ (1 << 7)
					if matches(q.attr, m, q.rec, rec) {
						out = append(out, rec)
					}
					continue
				}
				keep(rec)
			}
		case wire.AttrLinkRecord:
			for _, p := range n.Ports {
				if p == nil || p.Num == 0 || p.Remote == nil {
					continue
				}
				from, to := endLID(p), endLID(p.Remote)
				if from == 0 || to == 0 {
					continue
				}
				rec := make([]byte, size)
				putLinkRecord(rec, from, uint8(p.Num), uint8(p.Remote.Num), to)
				keep(rec)
			}
		case wire.AttrSwitchInfoRecord:
			if n.IsSwitch() && n.Ports[0].LID != 0 {
				rec := make([]byte, size)
				putSwitchInfoRecord(rec, n.Ports[0].LID, n.Switch)
				keep(rec)
			}
		case wire.AttrLinearForwardingTableRecord:
			if !n.IsSwitch() || n.Ports[0].LID == 0 {
				continue
			}
			for b := 0; b*wire.LinearForwardingTableSize < len(n.LFT); b++ {
				lo := b * wire.LinearForwardingTableSize
				rec := make([]byte, size)
				putLFTRecord(rec, n.Ports[0].LID, uint16(b), n.LFT[lo:min(lo+wire.LinearForwardingTableSize, len(n.LFT))])
				keep(rec)
			}
		}
	}
	return out
}

// endLID is the LID of the end port a port belongs to.
// tableOrder is the order of the nodes whose records a NodeRecord or
// PortInfoRecord GetTable lists: OpenSM's, which walks its node table
// keyed by NodeGUID in network byte order compared as a host integer
// (on the little-endian hosts OpenSM runs on, the byte-reversed GUID). The
// order is no part of the spec, but a requester that reads only the first
// MAD of the answer (libumad2sim has no RMPP) sees the same records from
// either SA. Other attributes, and a Get, keep the subnet's order.
func tableOrder(sn *Subnet, q *saReq) []*Node {
	if q.method != wire.MethodGetTable || q.attr != wire.AttrNodeRecord && q.attr != wire.AttrPortInfoRecord {
		return sn.Nodes
	}
	type keyed struct {
		k uint64
		n *Node
	}
	ks := make([]keyed, len(sn.Nodes))
	for i, n := range sn.Nodes {
		ks[i] = keyed{k: bits.ReverseBytes64(uint64(n.GUID())), n: n}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int { return cmp.Compare(a.k, b.k) })
	out := make([]*Node, len(ks))
	for i, k := range ks {
		out[i] = k.n
	}
	return out
}

func endLID(p *Port) wire.LID {
	if p.Node.IsSwitch() {
		return p.Node.Ports[0].LID
	}
	return p.LID
}

// requester returns the port that sent q (by its source LID), or nil.
func (s *SA) requester(sn *Subnet, q *saReq) *Port {
	return sn.EndPortOf(q.r.Addr.LID)
}
