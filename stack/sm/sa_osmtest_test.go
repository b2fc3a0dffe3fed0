package sm_test

import (
	"errors"
	"math/bits"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// TestSAPathRecordAsOsmtestAsks covers the PathRecord requests osmtest's
// validation flow makes (osmtest.c, osmtest_validate_against_db) that
// OpenSM answers with records: a path to the IPoIB broadcast group (the
// group's MLID, P_Key, MTU, rate and lifetime, exactly) and a link-local
// DGID whose prefix is not the subnet's (the port its interface ID
// names). A multicast group the SA does not know has no path.
func TestSAPathRecordAsOsmtestAsks(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	src := caPort(f, 1)
	c := newRawSA(t, f.Fabric, f.HCAs[1].Topo.ID, f.Subnet.Local.LID)
	mask := wire.PathRecordCompSGID | wire.PathRecordCompDGID

	q := make([]byte, wire.PathRecordSize)
	wire.PathRecord(q).Encode(&wire.PathRecordFields{SGID: src.GID(sm.DefaultGIDPrefix), DGID: sm.BroadcastMGID})
	recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask, rec: q})
	var bcast *sm.Group
	for _, g := range f.SM.Groups() {
		if g.MGID == sm.BroadcastMGID {
			bcast = &g
		}
	}
	if bcast == nil {
		t.Fatal("no IPoIB broadcast group")
	}
	if len(recs) != 1 {
		t.Fatalf("path to the broadcast group: %d records, want 1", len(recs))
	}
	pr := wire.PathRecord(recs[0]).Fields()
	if pr.DGID != sm.BroadcastMGID || pr.DLID != bcast.MLID || pr.PKey != bcast.PKey || pr.NumbPath != 1 ||
		pr.MTUSelector != wire.SelectorExactly || pr.MTU != bcast.MTU || pr.RateSelector != wire.SelectorExactly || pr.Rate != bcast.Rate ||
		pr.PacketLifeTimeSelector != wire.SelectorExactly || pr.PacketLifeTime != bcast.Lifetime || pr.SGID != src.GID(sm.DefaultGIDPrefix) {
		t.Errorf("path to the broadcast group %+v, group %+v", pr, *bcast)
	}

	// A site-local IPoIB MGID no one created: no path, and a Get says so.
	site := sm.BroadcastMGID
	site[1] = 0x15
	wire.PathRecord(q).SetDGID(site)
	if recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask, rec: q}); len(recs) != 0 {
		t.Errorf("path to an unknown group: %d records", len(recs))
	}
	if st := c.status(saReq{method: wire.MethodGet, attr: wire.AttrPathRecord, mask: mask, rec: q}); st != wire.SAStatusNoRecords {
		t.Errorf("Get of a path to an unknown group: %v, want 0x0300", st)
	}

	// fe80:0:0:ff::<guid> is link-local: the port of that GUID.
	dgid := src.GID(sm.DefaultGIDPrefix)
	dgid[7] = 0xff
	wire.PathRecord(q).SetDGID(dgid)
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask, rec: q})
	if len(recs) != 1 || wire.PathRecord(recs[0]).DLID() != src.LID {
		t.Errorf("path to a link-local GID of another prefix: %d records", len(recs))
	}
	// A site-local (fec0::/10) GID of a port is off the subnet: no router.
	dgid = src.GID(sm.DefaultGIDPrefix)
	dgid[1] = 0xc0
	wire.PathRecord(q).SetDGID(dgid)
	if st := c.status(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask, rec: q}); st != wire.SAStatusInvalidGID {
		t.Errorf("path to a site-local GID: %v, want 0x0500", st)
	}
}

// TestSAMulticastAsOsmtestChecks covers the MCMemberRecord checks of
// osmtest's multicast flow (osmt_multicast.c) the way OpenSM answers them:
// creating a group with a rate or MTU the joining port cannot carry, or
// with an MGID that is not a valid multicast GID, is ERR_REQ_INVALID; a
// delete must name JoinState bits the member holds (o15-0.1.14), and the
// answer carries the JoinState the member keeps.
func TestSAMulticastAsOsmtestChecks(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	port := caPort(f, 1)
	c := newRawSA(t, f.Fabric, f.HCAs[1].Topo.ID, f.Subnet.Local.LID)
	gid := port.GID(sm.DefaultGIDPrefix)
	create := wire.MCMemberRecordCompMGID | wire.MCMemberRecordCompPortGID | wire.MCMemberRecordCompJoinState |
		wire.MCMemberRecordCompQKey | wire.MCMemberRecordCompTClass | wire.MCMemberRecordCompPKey |
		wire.MCMemberRecordCompFlowLabel | wire.MCMemberRecordCompSL
	rateMask := wire.MCMemberRecordCompRateSelector | wire.MCMemberRecordCompRate
	mtuMask := wire.MCMemberRecordCompMTUSelector | wire.MCMemberRecordCompMTU
	rec := func(mgid wire.GID, js uint8, edit func(*wire.MCMemberRecordFields)) []byte {
		q := make([]byte, wire.MCMemberRecordSize)
		fl := wire.MCMemberRecordFields{MGID: mgid, PortGID: gid, QKey: 0x1234, PKey: 0xFFFF, JoinState: js}
		if edit != nil {
			edit(&fl)
		}
		wire.MCMemberRecord(q).Encode(&fl)
		return q
	}
	mgid := wire.GID{0xff, 0x12, 0xa0, 0x1c, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78}
	for name, r := range map[string]saReq{
		"rate greater than the port's": {mask: create | rateMask, rec: rec(mgid, wire.JoinFullMember, func(f *wire.MCMemberRecordFields) {
			f.RateSelector, f.Rate = wire.SelectorGreaterThan, wire.Rate1200Gbps
		})},
		"mtu greater than 4096": {mask: create | mtuMask, rec: rec(mgid, wire.JoinFullMember, func(f *wire.MCMemberRecordFields) {
			f.MTUSelector, f.MTU = wire.SelectorGreaterThan, wire.MTU4096
		})},
		"not multicast":                  {mask: create, rec: rec(wire.GID{0xfa, 0x12, 0xa0, 0x1c, 15: 1}, wire.JoinFullMember, nil)},
		"SA signature, link-local scope": {mask: create, rec: rec(wire.GID{0xff, 0x12, 0xa0, 0x1b, 15: 1}, wire.JoinFullMember, nil)},
		"reserved flag":                  {mask: create, rec: rec(wire.GID{0xff, 0x52, 0xa0, 0x1c, 15: 1}, wire.JoinFullMember, nil)},
	} {
		r.method, r.attr = wire.MethodSet, wire.AttrMCMemberRecord
		if st := c.status(r); st != wire.SAStatusRequestInvalid {
			t.Errorf("%s: %v, want 0x0200", name, st)
		}
	}

	// Rate less than 40 Gb/s: the next slower rate in OpenSM's order of
	// data rates (ib_path_rate_get_prev), 28 Gb/s (FDR 2X, 35 Gb/s
	// equivalent), not 30 Gb/s (12X SDR, 24 of data).
	recs := c.get(saReq{method: wire.MethodSet, attr: wire.AttrMCMemberRecord, mask: create | rateMask,
		rec: rec(mgid, wire.JoinFullMember|wire.JoinNonMember, func(f *wire.MCMemberRecordFields) {
			f.RateSelector, f.Rate = wire.SelectorLessThan, wire.Rate40Gbps
		})})
	if r := wire.MCMemberRecord(recs[0]).Fields(); r.Rate != wire.Rate28Gbps {
		t.Errorf("rate less than 40 Gb/s: %v", r.Rate)
	}
	del := wire.MCMemberRecordCompMGID | wire.MCMemberRecordCompPortGID | wire.MCMemberRecordCompJoinState
	// SendOnlyNonMember is not held: the delete is invalid.
	if st := c.status(saReq{method: wire.MethodDelete, attr: wire.AttrMCMemberRecord, mask: del,
		rec: rec(mgid, wire.JoinNonMember|wire.JoinSendOnlyNonMember, nil)}); st != wire.SAStatusRequestInvalid {
		t.Errorf("delete of bits not held: %v, want 0x0200", st)
	}
	// Dropping NonMember keeps FullMember, and the answer says so.
	recs = c.get(saReq{method: wire.MethodDelete, attr: wire.AttrMCMemberRecord, mask: del, rec: rec(mgid, wire.JoinNonMember, nil)})
	if js := wire.MCMemberRecord(recs[0]).Fields().JoinState; js != wire.JoinFullMember {
		t.Errorf("after leaving as non-member: JoinState %#x, want full member", js)
	}
	recs = c.get(saReq{method: wire.MethodDelete, attr: wire.AttrMCMemberRecord, mask: del, rec: rec(mgid, wire.JoinFullMember, nil)})
	if js := wire.MCMemberRecord(recs[0]).Fields().JoinState; js != 0 {
		t.Errorf("after leaving: JoinState %#x, want 0", js)
	}
	// The group is gone: a delete names no group.
	if st := c.status(saReq{method: wire.MethodDelete, attr: wire.AttrMCMemberRecord, mask: del,
		rec: rec(mgid, wire.JoinFullMember, nil)}); st != wire.SAStatusRequestInvalid {
		t.Errorf("delete from a deleted group: %v, want 0x0200", st)
	}
}

// TestSANodeTableInOpenSMOrder: a NodeRecord or PortInfoRecord GetTable
// lists the nodes in OpenSM's order (its node table: NodeGUIDs in network
// byte order compared as little-endian integers), so that a requester
// reading only the first MAD (libumad2sim has no RMPP) sees the same
// records from either SA; the ports of a node follow each other.
func TestSANodeTableInOpenSMOrder(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	c := newRawSA(t, f.Fabric, f.HCAs[1].Topo.ID, f.Subnet.Local.LID)
	recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrNodeRecord})
	if len(recs) < 2 {
		t.Fatalf("%d node records", len(recs))
	}
	prev := uint64(0)
	for i, r := range recs {
		k := bits.ReverseBytes64(uint64(wire.NodeRecord(r).Fields().NodeInfo.NodeGUID))
		if i > 0 && k < prev {
			t.Errorf("node record %d (%s) out of OpenSM's order", i, wire.NodeRecord(r).Fields().NodeInfo.NodeGUID)
		}
		prev = k
	}
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrPortInfoRecord})
	lastLID, seen := wire.LID(0), map[wire.LID]bool{}
	for _, r := range recs {
		lid := wire.PortInfoRecord(r).Fields().EndportLID
		if lid != lastLID && seen[lid] {
			t.Errorf("PortInfoRecords of LID %d are not together", lid)
		}
		seen[lid], lastLID = true, lid
	}
}

// TestSAWrongSMKeyIgnored: an SA request whose SM_Key is neither 0 nor
// the SM's is discarded without an answer (IBTA Vol 1 C15-0.1.5), which
// osmtest's osmtest_wrong_sm_key_ignored expects and OpenSM does; SM_Key
// 0 is answered.
func TestSAWrongSMKeyIgnored(t *testing.T) {
	f := ibtest.UpWith(t, ibtest.FatTree(2, 4), sm.Config{SMKey: 0x5A})
	c := newRawSA(t, f.Fabric, f.HCAs[1].Topo.ID, f.Subnet.Local.LID)
	p := caPort(f, 1)
	q := lidRec(wire.PortInfoRecordSize, p.LID)
	r := saReq{method: wire.MethodGet, attr: wire.AttrPortInfoRecord, mask: wire.PortInfoRecordCompLID, rec: q}
	if recs := c.get(r); len(recs) != 1 {
		t.Fatalf("SM_Key 0: %d records", len(recs))
	}
	r.smKey = 0x5A
	if recs := c.get(r); len(recs) != 1 {
		t.Fatalf("the SM's SM_Key: %d records", len(recs))
	}
	r.smKey = 0x5B
	if _, err := c.do(r); !errors.Is(err, mad.ErrTimeout) {
		t.Errorf("wrong SM_Key: %v, want no answer (%v)", err, mad.ErrTimeout)
	}
}
