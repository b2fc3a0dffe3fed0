package sm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// saClient is an SA requester on an HCA port.
type saClient struct {
	t     *testing.T
	a     *mad.Agent
	smLID wire.LID
}

func newSAClient(t *testing.T, f *ibtest.UpFabric, hcaName string) *saClient {
	t.Helper()
	tr, err := f.MADTransport(hcaName, 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := mad.NewAgent(tr, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
		Methods: []wire.Method{wire.MethodReport}}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &saClient{t: t, a: a, smLID: f.Subnet.Local.LID}
}

// query sends an SA request and returns the records of the response.
func (c *saClient) query(method wire.Method, attr wire.AttrID, mod uint32, mask wire.ComponentMask, rec []byte) ([][]byte, error) {
	c.t.Helper()
	req := make([]byte, wire.MADSize)
	wire.SAMAD(req).Encode(&wire.SAMADFields{
		MAD: wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
			Method: method, AttrID: attr, AttrMod: mod},
		SA: wire.SAHeaderFields{ComponentMask: mask},
	})
	copy(req[wire.SADataOffset:], rec)
	resp, err := c.a.Call(context.Background(), mad.Addr{LID: c.smLID, QPN: 1}, req)
	if err != nil {
		return nil, err
	}
	h := wire.SAHeader(resp[wire.SAHeaderOffset:wire.SADataOffset])
	stride := int(h.AttributeOffset()) * 8
	if stride == 0 {
		return nil, nil
	}
	var out [][]byte
	for off := wire.SADataOffset; off+stride <= len(resp); off += stride {
		out = append(out, resp[off:off+stride])
	}
	if method != wire.MethodGetTable {
		out = out[:1]
	}
	return out, nil
}

func saStatus(err error) wire.MADStatus {
	var se *wire.MADStatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0xFFFF
}

func TestSANodeRecordsOverRMPP(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 8))
	c := newSAClient(t, f, f.HCAs[3].Topo.ID)
	recs, err := c.query(wire.MethodGetTable, wire.AttrNodeRecord, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 32 CA ports + 12 switches: far more than one 200-byte segment.
	if len(recs) != 44 {
		t.Fatalf("GetTable NodeRecord: %d records, want 44", len(recs))
	}
	// Component mask NodeType = switch.
	q := make([]byte, wire.NodeRecordSize)
	wire.NodeRecord(q).Encode(&wire.NodeRecordFields{NodeInfo: wire.NodeInfoFields{NodeType: wire.NodeTypeSwitch}})
	recs, err = c.query(wire.MethodGetTable, wire.AttrNodeRecord, 0, 1<<4, q)
	if err != nil || len(recs) != 12 {
		t.Fatalf("switch NodeRecords: %d, %v", len(recs), err)
	}
	// Get with many matches: ERR_TOO_MANY_RECORDS; with none: ERR_NO_RECORDS.
	if _, err := c.query(wire.MethodGet, wire.AttrNodeRecord, 0, 1<<4, q); saStatus(err) != wire.SAStatusTooManyRecords {
		t.Errorf("Get of 12 records: %v, want 0x0400", err)
	}
	wire.NodeRecord(q).Encode(&wire.NodeRecordFields{LID: 0xBFFF})
	if _, err := c.query(wire.MethodGet, wire.AttrNodeRecord, 0, 1, q); saStatus(err) != wire.SAStatusNoRecords {
		t.Errorf("Get of a missing lid: %v, want 0x0300", err)
	}
	// Get by LID gives exactly that node.
	want := f.HCAs[5]
	wire.NodeRecord(q).Encode(&wire.NodeRecordFields{LID: f.LID(want.Topo.ID, 1)})
	recs, err = c.query(wire.MethodGet, wire.AttrNodeRecord, 0, 1, q)
	if err != nil {
		t.Fatal(err)
	}
	if g := wire.NodeRecord(recs[0]).Fields().NodeInfo.NodeGUID; g != want.Topo.NodeGUID {
		t.Errorf("NodeRecord by lid: guid %s, want %s", g, want.Topo.NodeGUID)
	}
}

func TestSAPathRecord(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 8))
	src, dst := f.HCAs[2], f.HCAs[20]
	c := newSAClient(t, f, src.Topo.ID)
	sp, dp := f.Subnet.PortByGUID[src.Topo.Ports[1].GUID], f.Subnet.PortByGUID[dst.Topo.Ports[1].GUID]
	q := make([]byte, wire.PathRecordSize)
	wire.PathRecord(q).Encode(&wire.PathRecordFields{SGID: sp.GID(sm.DefaultGIDPrefix), DGID: dp.GID(sm.DefaultGIDPrefix)})
	recs, err := c.query(wire.MethodGet, wire.AttrPathRecord, 0, wire.PathRecordCompSGID|wire.PathRecordCompDGID, q)
	if err != nil {
		t.Fatal(err)
	}
	pr := wire.PathRecord(recs[0]).Fields()
	if pr.SLID != sp.LID || pr.DLID != dp.LID || !pr.Reversible || pr.PKey != 0xFFFF {
		t.Errorf("path %+v", pr)
	}
	if pr.MTU == 0 || pr.Rate == 0 || pr.MTUSelector != wire.SelectorExactly {
		t.Errorf("path mtu %d rate %d", pr.MTU, pr.Rate)
	}
	// GetTable from the source to everyone.
	recs, err = c.query(wire.MethodGetTable, wire.AttrPathRecord, 0, wire.PathRecordCompSGID, q)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(f.Subnet.EndPorts()); len(recs) != want {
		t.Errorf("GetTable paths: %d, want %d", len(recs), want)
	}
	// An unknown GID is ERR_REQ_INVALID_GID.
	g := dp.GID(sm.DefaultGIDPrefix)
	g[15] ^= 0xFF
	wire.PathRecord(q).Encode(&wire.PathRecordFields{SGID: sp.GID(sm.DefaultGIDPrefix), DGID: g})
	if _, err := c.query(wire.MethodGet, wire.AttrPathRecord, 0, wire.PathRecordCompSGID|wire.PathRecordCompDGID, q); saStatus(err) != wire.SAStatusInvalidGID {
		t.Errorf("unknown dgid: %v", err)
	}
	// A Get without a destination lacks components.
	if _, err := c.query(wire.MethodGet, wire.AttrPathRecord, 0, wire.PathRecordCompSGID, q); saStatus(err) != wire.SAStatusInsufficientComponents {
		t.Errorf("no destination: %v", err)
	}
}

func TestSAMulticastJoinProgramsMFT(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	a, b := f.HCAs[0], f.HCAs[len(f.HCAs)-1]
	ca := newSAClient(t, f, a.Topo.ID)
	cb := newSAClient(t, f, b.Topo.ID)
	join := func(c *saClient, gid wire.GID, mgid wire.GID) error {
		q := make([]byte, wire.MCMemberRecordSize)
		wire.MCMemberRecord(q).Encode(&wire.MCMemberRecordFields{MGID: mgid, PortGID: gid, JoinState: wire.JoinFullMember})
		recs, err := c.query(wire.MethodSet, wire.AttrMCMemberRecord, 0,
			wire.MCMemberRecordCompMGID|wire.MCMemberRecordCompPortGID|wire.MCMemberRecordCompJoinState, q)
		if err != nil {
			return err
		}
		r := wire.MCMemberRecord(recs[0]).Fields()
		if r.QKey != 0x0B1B || r.MLID != 0xC000 || r.MTU != wire.MTU2048 {
			t.Errorf("join reply %+v", r)
		}
		return nil
	}
	ga := f.Subnet.PortByGUID[a.Topo.Ports[1].GUID].GID(sm.DefaultGIDPrefix)
	gb := f.Subnet.PortByGUID[b.Topo.Ports[1].GUID].GID(sm.DefaultGIDPrefix)
	if err := join(ca, ga, sm.BroadcastMGID); err != nil {
		t.Fatal(err)
	}
	if err := join(cb, gb, sm.BroadcastMGID); err != nil {
		t.Fatal(err)
	}
	if err := f.SM.UpdateMulticast(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := f.SM.Groups()[0]
	if len(g.Members) != 2 {
		t.Fatalf("members %v", g.Members)
	}
	// The MFT of a's leaf switch forwards MLID 0xC000 to a's port.
	leaf := f.Subnet.PortByGUID[a.Topo.Ports[1].GUID].Remote
	tr, _ := f.MADTransport(b.Topo.ID, 1)
	ag, _ := mad.NewAgent(tr, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1}, mad.Options{})
	defer ag.Close()
	d, err := ag.SMPGet(context.Background(), mad.LIDRoute(leaf.Node.Ports[0].LID), wire.AttrMulticastForwardingTable, wire.MFTAttrMod(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if mask := wire.MulticastForwardingTable(d).PortMask(0); mask&(1<<leaf.Num) == 0 {
		t.Errorf("leaf mft for 0xC000: mask %#x lacks port %d", mask, leaf.Num)
	}
	// A group that does not exist needs the creation components.
	other := sm.BroadcastMGID
	other[15] = 0x01
	if err := join(ca, ga, other); saStatus(err) != wire.SAStatusInsufficientComponents {
		t.Errorf("join of a missing group without q_key etc: %v", err)
	}
	// Leave.
	q := make([]byte, wire.MCMemberRecordSize)
	wire.MCMemberRecord(q).Encode(&wire.MCMemberRecordFields{MGID: sm.BroadcastMGID, PortGID: ga, JoinState: wire.JoinFullMember})
	if _, err := ca.query(wire.MethodDelete, wire.AttrMCMemberRecord, 0,
		wire.MCMemberRecordCompMGID|wire.MCMemberRecordCompPortGID|wire.MCMemberRecordCompJoinState, q); err != nil {
		t.Fatal(err)
	}
	if g := f.SM.Groups()[0]; len(g.Members) != 1 {
		t.Errorf("after leave: members %v", g.Members)
	}
}

func TestSAServiceRecord(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	h := f.HCAs[1]
	c := newSAClient(t, f, h.Topo.ID)
	gid := f.Subnet.PortByGUID[h.Topo.Ports[1].GUID].GID(sm.DefaultGIDPrefix)
	rec := make([]byte, wire.ServiceRecordSize)
	wire.ServiceRecord(rec).Encode(&wire.ServiceRecordFields{ServiceID: 0x10000CE100415453, ServiceGID: gid, ServicePKey: 0xFFFF,
		ServiceLease: wire.ServiceLeaseInfinite, ServiceName: "DAPL Address Translation Service"})
	mask := wire.ServiceRecordCompServiceID | wire.ServiceRecordCompServiceGID | wire.ServiceRecordCompServicePKey
	if _, err := c.query(wire.MethodSet, wire.AttrServiceRecord, 0, mask, rec); err != nil {
		t.Fatal(err)
	}
	recs, err := c.query(wire.MethodGetTable, wire.AttrServiceRecord, 0, wire.ServiceRecordCompServiceID, rec)
	if err != nil || len(recs) != 1 {
		t.Fatalf("lookup: %d records, %v", len(recs), err)
	}
	if n := wire.ServiceRecord(recs[0]).Fields().ServiceName; n != "DAPL Address Translation Service" {
		t.Errorf("name %q", n)
	}
	if _, err := c.query(wire.MethodDelete, wire.AttrServiceRecord, 0, mask, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := c.query(wire.MethodGet, wire.AttrServiceRecord, 0, wire.ServiceRecordCompServiceID, rec); saStatus(err) != wire.SAStatusNoRecords {
		t.Errorf("after delete: %v", err)
	}
}

func TestSARefusesWhatItDoesNotServe(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	c := newSAClient(t, f, f.HCAs[1].Topo.ID)
	if _, err := c.query(wire.MethodGet, wire.AttrID(0x00FE), 0, 0, nil); saStatus(err) != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("unknown attribute: %v", err)
	}
	if _, err := c.query(wire.MethodSet, wire.AttrNodeRecord, 0, 0, nil); saStatus(err) != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("Set NodeRecord: %v", err)
	}
	// An MCMemberRecord join without PortGID lacks components.
	if _, err := c.query(wire.MethodSet, wire.AttrMCMemberRecord, 0, wire.MCMemberRecordCompMGID, make([]byte, wire.MCMemberRecordSize)); saStatus(err) != wire.SAStatusInsufficientComponents {
		t.Errorf("join without port gid: %v", err)
	}
	// The SA still answers afterwards.
	if _, err := c.query(wire.MethodGetTable, wire.AttrNodeRecord, 0, 0, nil); err != nil {
		t.Errorf("after bad requests: %v", err)
	}
}
