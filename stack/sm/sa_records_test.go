package sm_test

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// saReq is one SA request of these tests.
type saReq struct {
	method wire.Method
	attr   wire.AttrID
	mask   wire.ComponentMask
	smKey  uint64
	rec    []byte
	// rmpp sends the request as an RMPP transfer (GetMulti).
	rmpp bool
}

// rawSA sends SA requests from an HCA port and returns whole responses.
type rawSA struct {
	t     *testing.T
	a     *mad.Agent
	smLID wire.LID
}

func newRawSA(t *testing.T, f *ibtest.Fabric, hca string, smLID wire.LID) *rawSA {
	t.Helper()
	tr, err := f.MADTransport(hca, 1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := mad.NewAgent(tr, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
		Methods: []wire.Method{wire.MethodReport}}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &rawSA{t: t, a: a, smLID: smLID}
}

// do sends r and returns the response MAD (reassembled) or the error.
func (c *rawSA) do(r saReq) ([]byte, error) {
	c.t.Helper()
	n := wire.MADSize
	if len(r.rec) > wire.SADataSize {
		n = wire.SADataOffset + len(r.rec)
	}
	req := make([]byte, n)
	f := wire.SAMADFields{
		MAD: wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
			Method: r.method, AttrID: r.attr},
		SA: wire.SAHeaderFields{SMKey: r.smKey, ComponentMask: r.mask},
	}
	if r.rmpp {
		f.RMPP = wire.RMPPHeaderFields{Version: 1, Type: wire.RMPPTypeData, Flags: wire.RMPPFlagActive}
	}
	wire.SAMAD(req[:wire.MADSize]).Encode(&f)
	copy(req[wire.SADataOffset:], r.rec)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.a.Call(ctx, mad.Addr{LID: c.smLID, QPN: 1}, req)
}

// records splits a response into its records by AttributeOffset; a Get
// response has one.
func records(resp []byte) [][]byte {
	stride := int(wire.SAHeader(resp[wire.SAHeaderOffset:wire.SADataOffset]).AttributeOffset()) * 8
	if stride == 0 {
		return nil
	}
	if m := wire.MAD(resp).Method(); m == wire.MethodGetResp || m == wire.MethodDeleteResp {
		return [][]byte{resp[wire.SADataOffset : wire.SADataOffset+stride]}
	}
	var out [][]byte
	for off := wire.SADataOffset; off+stride <= len(resp); off += stride {
		out = append(out, resp[off:off+stride])
	}
	return out
}

// get runs r and returns its records, failing the test on an error.
func (c *rawSA) get(r saReq) [][]byte {
	c.t.Helper()
	resp, err := c.do(r)
	if err != nil {
		c.t.Fatalf("%s %s mask %#x: %v", r.method, r.attr, uint64(r.mask), err)
	}
	return records(resp)
}

// status runs r and returns the MAD status of its answer.
func (c *rawSA) status(r saReq) wire.MADStatus {
	c.t.Helper()
	_, err := c.do(r)
	if err == nil {
		return wire.MADStatusOK
	}
	return saStatus(err)
}

// smpGet reads an attribute of the node owning lid from an HCA port.
func smpGet(t *testing.T, f *ibtest.Fabric, from string, lid wire.LID, attr wire.AttrID, mod uint32) []byte {
	t.Helper()
	tr, err := f.MADTransport(from, 1)
	if err != nil {
		t.Fatal(err)
	}
	ag, err := mad.NewAgent(tr, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1}, mad.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ag.Close()
	d, err := ag.SMPGet(context.Background(), mad.LIDRoute(lid), attr, mod)
	if err != nil {
		t.Fatalf("smp get %s %#x of lid %d: %v", attr, mod, lid, err)
	}
	return d
}

func lidRec(size int, lid wire.LID) []byte {
	b := make([]byte, size)
	b[0], b[1] = byte(lid>>8), byte(lid)
	return b
}

func caPort(f *ibtest.UpFabric, i int) *sm.Port {
	return f.Subnet.PortByGUID[f.HCAs[i].Topo.Ports[1].GUID]
}

func TestSASMInfoRecord(t *testing.T) {
	f := ibtest.New(t, ibtest.FatTree(2, 4))
	aName, bName := f.HCAs[0].Topo.ID, f.HCAs[len(f.HCAs)-1].Topo.ID
	cfg := sm.Config{SweepInterval: -1, PollInterval: time.Hour}
	ca, cb := cfg, cfg
	ca.Priority, cb.Priority = 11, 4
	a := newSM(t, f, aName, ca)
	b := newSM(t, f, bName, cb)
	runSM(t, a)
	waitFor(t, "a master", func() bool { return a.State() == wire.SMStateMaster && a.Sweeps() > 0 })
	runSM(t, b)
	waitFor(t, "b standby", func() bool { return b.State() == wire.SMStateStandby })
	// The master learns of the standby at its next heavy sweep.
	if _, err := a.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	sn := a.Subnet()
	pa := sn.PortByGUID[f.HCAs[0].Topo.Ports[1].GUID]
	pb := sn.PortByGUID[f.HCAs[len(f.HCAs)-1].Topo.Ports[1].GUID]
	c := newRawSA(t, f, f.HCAs[2].Topo.ID, pa.LID)

	recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrSMInfoRecord})
	if len(recs) != 2 {
		t.Fatalf("GetTable SMInfoRecord: %d records, want 2 (master and standby)", len(recs))
	}
	want := map[wire.LID]wire.SMInfoFields{
		pa.LID: {GUID: pa.GUID, Priority: 11, SMState: wire.SMStateMaster},
		pb.LID: {GUID: pb.GUID, Priority: 4, SMState: wire.SMStateStandby},
	}
	for _, r := range recs {
		got := wire.SMInfoRecord(r).Fields()
		w, ok := want[got.LID]
		if !ok {
			t.Errorf("record for lid %d: %+v", got.LID, got)
			continue
		}
		got.SMInfo.ActCount = 0
		if got.SMInfo != w {
			t.Errorf("lid %d: %+v, want %+v", got.LID, got.SMInfo, w)
		}
	}
	// Components: SMState standby, and Get by the LID of each SM.
	q := make([]byte, wire.SMInfoRecordSize)
	wire.SMInfoRecord(q).Encode(&wire.SMInfoRecordFields{SMInfo: wire.SMInfoFields{SMState: wire.SMStateStandby}})
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrSMInfoRecord, mask: wire.SMInfoRecordCompSMState, rec: q})
	if len(recs) != 1 || wire.SMInfoRecord(recs[0]).SMInfo().GUID() != pb.GUID {
		t.Errorf("standby only: %d records", len(recs))
	}
	for _, p := range []*sm.Port{pa, pb} {
		recs = c.get(saReq{method: wire.MethodGet, attr: wire.AttrSMInfoRecord, mask: wire.SMInfoRecordCompLID, rec: lidRec(wire.SMInfoRecordSize, p.LID)})
		if g := wire.SMInfoRecord(recs[0]).SMInfo().GUID(); g != p.GUID {
			t.Errorf("Get by lid %d: guid %s, want %s", p.LID, g, p.GUID)
		}
	}
	// Errors: a Get of two records, a LID without an SM, priority that no
	// SM has, a Set, and a component past the record's last.
	if st := c.status(saReq{method: wire.MethodGet, attr: wire.AttrSMInfoRecord}); st != wire.SAStatusTooManyRecords {
		t.Errorf("Get of both SMs: %v, want 0x0400", st)
	}
	other := sn.PortByGUID[f.HCAs[2].Topo.Ports[1].GUID]
	if st := c.status(saReq{method: wire.MethodGet, attr: wire.AttrSMInfoRecord, mask: wire.SMInfoRecordCompLID, rec: lidRec(wire.SMInfoRecordSize, other.LID)}); st != wire.SAStatusNoRecords {
		t.Errorf("Get at a port without an SM: %v, want 0x0300", st)
	}
	wire.SMInfoRecord(q).Encode(&wire.SMInfoRecordFields{SMInfo: wire.SMInfoFields{Priority: 9}})
	if st := c.status(saReq{method: wire.MethodGet, attr: wire.AttrSMInfoRecord, mask: wire.SMInfoRecordCompPriority, rec: q}); st != wire.SAStatusNoRecords {
		t.Errorf("Get with priority 9: %v, want 0x0300", st)
	}
	if st := c.status(saReq{method: wire.MethodSet, attr: wire.AttrSMInfoRecord, rec: q}); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("Set SMInfoRecord: %v, want 0x000c", st)
	}
	if st := c.status(saReq{method: wire.MethodGetTable, attr: wire.AttrSMInfoRecord, mask: 1 << 7, rec: q}); st != wire.SAStatusRequestInvalid {
		t.Errorf("component 7 of a 7-component record: %v, want 0x0200", st)
	}
}

func TestSAPKeyTableRecord(t *testing.T) {
	parts, err := sm.ParsePartitions("parts.conf", []byte("Default=0x7fff, ipoib : ALL=full ;\nstorage=0x0002 : ALL=limited ;\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := ibtest.UpWith(t, ibtest.FatTree(2, 4), sm.Config{Partitions: parts, SMKey: 0x5A})
	c := newRawSA(t, f.Fabric, f.HCAs[1].Topo.ID, f.Subnet.Local.LID)
	p := caPort(f, 3)
	// Untrusted: SM_Key 0 is not the SM's key.
	if st := c.status(saReq{method: wire.MethodGetTable, attr: wire.AttrPKeyTableRecord}); st != wire.SAStatusRequestInvalid {
		t.Fatalf("untrusted GetTable: %v, want 0x0200", st)
	}
	key := uint64(0x5A)
	recs := c.get(saReq{method: wire.MethodGet, attr: wire.AttrPKeyTableRecord, smKey: key,
		mask: wire.PKeyTableRecordCompLID, rec: lidRec(wire.PKeyTableRecordSize, p.LID)})
	got := wire.PKeyTableRecord(recs[0]).Fields()
	if got.LID != p.LID || got.BlockNum != 0 || int(got.PortNum) != p.Num {
		t.Errorf("record %+v", got)
	}
	if got.PKeyTable.PKeys[0] != 0xFFFF || got.PKeyTable.PKeys[1] != 0x0002 {
		t.Errorf("pkeys %v, want 0xffff 0x0002 first", got.PKeyTable.PKeys[:4])
	}
	// The record is what the port holds.
	dev := wire.PKeyTable(smpGet(t, f.Fabric, f.HCAs[0].Topo.ID, p.LID, wire.AttrPKeyTable, 0)).Fields()
	if dev != got.PKeyTable {
		t.Errorf("SA block %v, port holds %v", got.PKeyTable.PKeys[:4], dev.PKeys[:4])
	}
	// GetTable of everything: one block per CA port and per enforcing
	// switch port facing one, over RMPP (72-byte records, many segments).
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrPKeyTableRecord, smKey: key})
	want := 0
	for _, n := range f.Subnet.Nodes {
		for _, pp := range n.Ports {
			if pp != nil && pp.PKeys != nil {
				want++
			}
		}
	}
	if want < len(f.HCAs) || len(recs) != want {
		t.Errorf("GetTable: %d records, want %d (at least one per CA port)", len(recs), want)
	}
	// A block past the table's capacity has no record; a switch port
	// number selects that port.
	q := lidRec(wire.PKeyTableRecordSize, p.LID)
	wire.PKeyTableRecord(q).SetBlockNum(uint16(p.Node.Info.PartitionCap/32) + 1)
	if st := c.status(saReq{method: wire.MethodGet, attr: wire.AttrPKeyTableRecord, smKey: key,
		mask: wire.PKeyTableRecordCompLID | wire.PKeyTableRecordCompBlockNum, rec: q}); st != wire.SAStatusNoRecords {
		t.Errorf("block past the capacity: %v, want 0x0300", st)
	}
	sp := p.Remote
	if sp.PKeys != nil {
		q = lidRec(wire.PKeyTableRecordSize, sp.Node.Ports[0].LID)
		wire.PKeyTableRecord(q).SetPortNum(uint8(sp.Num))
		recs = c.get(saReq{method: wire.MethodGet, attr: wire.AttrPKeyTableRecord, smKey: key,
			mask: wire.PKeyTableRecordCompLID | wire.PKeyTableRecordCompPortNum, rec: q})
		if r := wire.PKeyTableRecord(recs[0]); int(r.PortNum()) != sp.Num || r.PKeyTable().PKey(1) != 0x0002 {
			t.Errorf("switch port %d record: port %d, pkeys %v %v", sp.Num, r.PortNum(), r.PKeyTable().PKey(0), r.PKeyTable().PKey(1))
		}
	}
	if st := c.status(saReq{method: wire.MethodDelete, attr: wire.AttrPKeyTableRecord, smKey: key}); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("Delete: %v, want 0x000c", st)
	}
}

func TestSAQoSRecords(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	c := newRawSA(t, f.Fabric, f.HCAs[1].Topo.ID, f.Subnet.Local.LID)
	p := caPort(f, 5)
	from := f.HCAs[0].Topo.ID

	// SL-to-VL: the record of a CA port is the table the port holds.
	recs := c.get(saReq{method: wire.MethodGet, attr: wire.AttrSLtoVLMappingTableRecord,
		mask: wire.SLtoVLMappingTableRecordCompLID, rec: lidRec(wire.SLtoVLMappingTableRecordSize, p.LID)})
	r := wire.SLtoVLMappingTableRecord(recs[0]).Fields()
	dev := wire.SLtoVLMappingTable(smpGet(t, f.Fabric, from, p.LID, wire.AttrSLtoVLMappingTable, 0)).Fields()
	if r.LID != p.LID || r.SLtoVLMappingTable != dev {
		t.Errorf("SL2VL record %+v, port holds %v", r, dev)
	}
	if dev.VL == ([16]uint8{}) && wire.DataVLs(p.Info.OperationalVLs) > 1 {
		t.Errorf("port's SL-to-VL table maps every SL to VL 0 with %d data VLs", wire.DataVLs(p.Info.OperationalVLs))
	}
	// Every port has records, as in OpenSM: a CA one, and one per (input,
	// output) port pair of each switch, each the table the port holds
	// (the switches keep their power-on tables: the SM does not program
	// them without QoS).
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrSLtoVLMappingTableRecord})
	want := len(f.HCAs)
	for _, n := range f.Subnet.Nodes {
		if n.IsSwitch() {
			read := 0
			for _, sp := range n.Ports {
				if sp != nil && sp.Read {
					read++
				}
			}
			want += read * read
		}
	}
	if len(recs) != want {
		t.Errorf("GetTable SL2VL: %d records, want one per CA port and per switch port pair (%d)", len(recs), want)
	}
	sw := p.Remote.Node.Ports[0].LID
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrSLtoVLMappingTableRecord,
		mask: wire.SLtoVLMappingTableRecordCompLID, rec: lidRec(wire.SLtoVLMappingTableRecordSize, sw)})
	if len(recs) == 0 {
		t.Fatal("no SL2VL records of a switch")
	}
	for _, rr := range recs {
		r := wire.SLtoVLMappingTableRecord(rr).Fields()
		dev := wire.SLtoVLMappingTable(smpGet(t, f.Fabric, from, sw, wire.AttrSLtoVLMappingTable,
			uint32(r.InputPortNum)<<8|uint32(r.OutputPortNum))).Fields()
		if r.LID != sw || r.SLtoVLMappingTable != dev {
			t.Errorf("switch SL2VL record %+v, port holds %v", r, dev)
		}
	}
	q0 := lidRec(wire.SLtoVLMappingTableRecordSize, sw)
	if recs := c.get(saReq{method: wire.MethodGet, attr: wire.AttrSLtoVLMappingTableRecord, mask: wire.SLtoVLMappingTableRecordCompLID |
		wire.SLtoVLMappingTableRecordCompInputPortNum | wire.SLtoVLMappingTableRecordCompOutputPortNum, rec: q0}); len(recs) != 1 {
		t.Errorf("Get SL2VL of switch port 0 (osmtest's query): %d records", len(recs))
	}

	// VL arbitration: block 1 as the port holds it.
	q := lidRec(wire.VLArbitrationTableRecordSize, p.LID)
	wire.VLArbitrationTableRecord(q).SetBlockNum(wire.VLArbLowBlock0)
	recs = c.get(saReq{method: wire.MethodGet, attr: wire.AttrVLArbitrationTableRecord,
		mask: wire.VLArbitrationTableRecordCompLID | wire.VLArbitrationTableRecordCompBlockNum, rec: q})
	vr := wire.VLArbitrationTableRecord(recs[0]).Fields()
	vdev := wire.VLArbitrationTable(smpGet(t, f.Fabric, from, p.LID, wire.AttrVLArbitrationTable, wire.VLArbLowBlock0<<16)).Fields()
	if vr.BlockNum != wire.VLArbLowBlock0 || int(vr.OutputPortNum) != p.Num || vr.VLArbitrationTable != vdev {
		t.Errorf("VLArb record %+v, port holds %+v", vr, vdev)
	}
	if vdev.Entries[0].Weight == 0 {
		t.Errorf("port's low-priority VL arbitration table is empty")
	}
	// All four blocks of a port, as OpenSM answers: those within the
	// port's capacities as the port holds them, the others empty.
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrVLArbitrationTableRecord,
		mask: wire.VLArbitrationTableRecordCompLID, rec: lidRec(wire.VLArbitrationTableRecordSize, p.LID)})
	if len(recs) != 4 {
		t.Errorf("VLArb blocks of one port: %d, want 4", len(recs))
	}
	checkVLArb := func(lid wire.LID, recs [][]byte) {
		t.Helper()
		for _, rr := range recs {
			v := wire.VLArbitrationTableRecord(rr).Fields()
			sp := f.Subnet.EndPortOf(lid)
			if sp.Node.IsSwitch() {
				sp = sp.Node.Ports[v.OutputPortNum]
			}
			capN := sp.Info.VLArbitrationLowCap
			if v.BlockNum >= wire.VLArbHighBlock0 {
				capN = sp.Info.VLArbitrationHighCap
			}
			var want wire.VLArbitrationTableFields
			if int(capN) > vlArbFirstEntry(v.BlockNum) {
				want = wire.VLArbitrationTable(smpGet(t, f.Fabric, from, lid, wire.AttrVLArbitrationTable,
					uint32(v.BlockNum)<<16|uint32(v.OutputPortNum))).Fields()
			}
			if v.LID != lid || v.VLArbitrationTable != want {
				t.Errorf("lid %d port %d block %d: SA %+v, port holds %+v", lid, v.OutputPortNum, v.BlockNum, v.VLArbitrationTable, want)
			}
		}
	}
	checkVLArb(p.LID, recs)
	// osmtest asks a CA for port 0 and gets the CA's own port.
	q = lidRec(wire.VLArbitrationTableRecordSize, p.LID)
	wire.VLArbitrationTableRecord(q).SetBlockNum(wire.VLArbLowBlock1)
	if recs := c.get(saReq{method: wire.MethodGet, attr: wire.AttrVLArbitrationTableRecord, mask: wire.VLArbitrationTableRecordCompLID |
		wire.VLArbitrationTableRecordCompOutputPortNum | wire.VLArbitrationTableRecordCompBlockNum, rec: q}); len(recs) != 1 ||
		int(wire.VLArbitrationTableRecord(recs[0]).OutputPortNum()) != p.Num {
		t.Errorf("Get VLArb of a CA, port 0, block 2: %d records", len(recs))
	}
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrVLArbitrationTableRecord,
		mask: wire.VLArbitrationTableRecordCompLID, rec: lidRec(wire.VLArbitrationTableRecordSize, sw)})
	if len(recs) != 4*len(p.Remote.Node.Ports) {
		t.Errorf("VLArb records of a switch: %d, want 4 per port (%d)", len(recs), 4*len(p.Remote.Node.Ports))
	}
	checkVLArb(sw, recs)
	if st := c.status(saReq{method: wire.MethodGetTable, attr: wire.AttrVLArbitrationTableRecord, mask: 1 << 4}); st != wire.SAStatusRequestInvalid {
		t.Errorf("component 4 of a 4-component record: %v, want 0x0200", st)
	}
}

func TestSAGUIDInfoRecord(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	c := newRawSA(t, f.Fabric, f.HCAs[1].Topo.ID, f.Subnet.Local.LID)
	p := caPort(f, 2)
	blocks := (int(p.Info.GUIDCap) + 7) / 8
	recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrGUIDInfoRecord,
		mask: wire.GUIDInfoRecordCompLID, rec: lidRec(wire.GUIDInfoRecordSize, p.LID)})
	if blocks < 2 || len(recs) != blocks {
		t.Fatalf("GUIDInfo blocks of a port with GUIDCap %d: %d records", p.Info.GUIDCap, len(recs))
	}
	for i, r := range recs {
		g := wire.GUIDInfoRecord(r)
		if int(g.BlockNum()) != i || g.LID() != p.LID {
			t.Errorf("record %d: block %d lid %d", i, g.BlockNum(), g.LID())
		}
		dev := wire.GUIDInfo(smpGet(t, f.Fabric, f.HCAs[0].Topo.ID, p.LID, wire.AttrGUIDInfo, uint32(i))).Fields()
		if g.GUIDInfo().Fields() != dev {
			t.Errorf("block %d: SA %v, port holds %v", i, g.GUIDInfo().Fields(), dev)
		}
	}
	if wire.GUIDInfoRecord(recs[0]).GUIDInfo().GUID(0) != p.GUID {
		t.Errorf("block 0 entry 0 is not the port guid")
	}
	// GUID 0 as a component finds exactly that port's block 0.
	q := make([]byte, wire.GUIDInfoRecordSize)
	wire.GUIDInfoRecord(q).GUIDInfo().SetGUID(0, p.GUID)
	recs = c.get(saReq{method: wire.MethodGet, attr: wire.AttrGUIDInfoRecord, mask: wire.GUIDInfoRecordCompGUID0, rec: q})
	if wire.GUIDInfoRecord(recs[0]).LID() != p.LID {
		t.Errorf("lookup by guid 0: lid %d, want %d", wire.GUIDInfoRecord(recs[0]).LID(), p.LID)
	}
	// Every end port's table over RMPP: far more than one segment.
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrGUIDInfoRecord})
	want := 0
	for _, ep := range f.Subnet.EndPorts() {
		want += (int(ep.Info.GUIDCap) + 7) / 8
	}
	if len(recs) != want {
		t.Errorf("GetTable GUIDInfoRecord: %d records, want %d", len(recs), want)
	}
	q = lidRec(wire.GUIDInfoRecordSize, p.LID)
	wire.GUIDInfoRecord(q).SetBlockNum(uint8(blocks))
	if st := c.status(saReq{method: wire.MethodGet, attr: wire.AttrGUIDInfoRecord,
		mask: wire.GUIDInfoRecordCompLID | wire.GUIDInfoRecordCompBlockNum, rec: q}); st != wire.SAStatusNoRecords {
		t.Errorf("block past GUIDCap: %v, want 0x0300", st)
	}
	if st := c.status(saReq{method: wire.MethodGet, attr: wire.AttrGUIDInfoRecord,
		mask: wire.GUIDInfoRecordCompLID, rec: lidRec(wire.GUIDInfoRecordSize, 0xBF00)}); st != wire.SAStatusNoRecords {
		t.Errorf("unused lid: %v, want 0x0300", st)
	}
}

func TestSAMulticastForwardingTableRecord(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	a, b := f.HCAs[0], f.HCAs[len(f.HCAs)-1]
	for _, hca := range []string{a.Topo.ID, b.Topo.ID} {
		c := newRawSA(t, f.Fabric, hca, f.Subnet.Local.LID)
		port := f.Subnet.PortByGUID[f.Topology.NodeByID(hca).Ports[1].GUID]
		q := make([]byte, wire.MCMemberRecordSize)
		wire.MCMemberRecord(q).Encode(&wire.MCMemberRecordFields{MGID: sm.BroadcastMGID, PortGID: port.GID(sm.DefaultGIDPrefix),
			JoinState: wire.JoinFullMember})
		c.get(saReq{method: wire.MethodSet, attr: wire.AttrMCMemberRecord,
			mask: wire.MCMemberRecordCompMGID | wire.MCMemberRecordCompPortGID | wire.MCMemberRecordCompJoinState, rec: q})
	}
	if err := f.SM.UpdateMulticast(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := newRawSA(t, f.Fabric, f.HCAs[2].Topo.ID, f.Subnet.Local.LID)
	leaf := f.Subnet.PortByGUID[a.Topo.Ports[1].GUID].Remote
	recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrMulticastForwardingTableRecord,
		mask: wire.MulticastForwardingTableRecordCompLID, rec: lidRec(wire.MulticastForwardingTableRecordSize, leaf.Node.Ports[0].LID)})
	positions := (len(leaf.Node.Ports)-1)/16 + 1
	if len(recs) != positions {
		t.Fatalf("leaf switch: %d MFT records, want %d (block 0, every position)", len(recs), positions)
	}
	for _, r := range recs {
		m := wire.MulticastForwardingTableRecord(r)
		dev := wire.MulticastForwardingTable(smpGet(t, f.Fabric, f.HCAs[2].Topo.ID, m.LID(), wire.AttrMulticastForwardingTable,
			wire.MFTAttrMod(m.Position(), m.BlockNum()))).Fields()
		if m.MulticastForwardingTable().Fields() != dev {
			t.Errorf("position %d block %d: SA %v, switch holds %v", m.Position(), m.BlockNum(), m.MulticastForwardingTable().PortMask(0), dev.PortMasks[0])
		}
		if m.Position() == 0 && m.MulticastForwardingTable().PortMask(0)&(1<<leaf.Num) == 0 {
			t.Errorf("mlid 0xc000 mask %#x lacks the member's port %d", m.MulticastForwardingTable().PortMask(0), leaf.Num)
		}
	}
	// Every switch on the tree between the two members has records; one
	// that is off the tree has none.
	all := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrMulticastForwardingTableRecord})
	sws := map[wire.LID]bool{}
	for _, r := range all {
		sws[wire.MulticastForwardingTableRecord(r).LID()] = true
	}
	if len(sws) < 2 || len(sws) == len(f.Subnet.Switches) && len(f.Subnet.Switches) > 3 {
		t.Errorf("switches with MFT records: %d of %d", len(sws), len(f.Subnet.Switches))
	}
	q := lidRec(wire.MulticastForwardingTableRecordSize, leaf.Node.Ports[0].LID)
	wire.MulticastForwardingTableRecord(q).SetBlockNum(1)
	if st := c.status(saReq{method: wire.MethodGet, attr: wire.AttrMulticastForwardingTableRecord,
		mask: wire.MulticastForwardingTableRecordCompLID | wire.MulticastForwardingTableRecordCompBlockNum, rec: q}); st != wire.SAStatusNoRecords {
		t.Errorf("block 1 (no group there): %v, want 0x0300", st)
	}
}

func TestSAInformInfoRecord(t *testing.T) {
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	sub := f.HCAs[3]
	c := newRawSA(t, f.Fabric, sub.Topo.ID, f.Subnet.Local.LID)
	ii := make([]byte, wire.InformInfoSize)
	wire.InformInfo(ii).Encode(&wire.InformInfoFields{LIDRangeBegin: wire.InformInfoAllLIDs, IsGeneric: true, Subscribe: true,
		Type: wire.InformInfoAnyType, TrapNumber: 64, QPN: 1, ProducerType: wire.InformInfoAnyProducer})
	c.get(saReq{method: wire.MethodSet, attr: wire.AttrInformInfo, rec: ii})
	gid := f.Subnet.PortByGUID[sub.Topo.Ports[1].GUID].GID(sm.DefaultGIDPrefix)

	recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrInformInfoRecord})
	if len(recs) != 1 {
		t.Fatalf("GetTable InformInfoRecord: %d records, want 1", len(recs))
	}
	r := wire.InformInfoRecord(recs[0]).Fields()
	if r.SubscriberGID != gid || r.InformInfo.TrapNumber != 64 || !r.InformInfo.Subscribe || r.InformInfo.QPN != 0 {
		t.Errorf("record %+v (QPN must be hidden from an untrusted requester)", r)
	}
	q := make([]byte, wire.InformInfoRecordSize)
	wire.InformInfoRecord(q).SetSubscriberGID(gid)
	recs = c.get(saReq{method: wire.MethodGet, attr: wire.AttrInformInfoRecord, mask: wire.InformInfoRecordCompSubscriberGID, rec: q})
	if wire.InformInfoRecord(recs[0]).SubscriberGID() != gid {
		t.Errorf("Get by subscriber gid")
	}
	other := gid
	other[15] ^= 0xFF
	wire.InformInfoRecord(q).SetSubscriberGID(other)
	if st := c.status(saReq{method: wire.MethodGet, attr: wire.AttrInformInfoRecord, mask: wire.InformInfoRecordCompSubscriberGID, rec: q}); st != wire.SAStatusNoRecords {
		t.Errorf("another subscriber: %v, want 0x0300", st)
	}
	// TrapNumber (component 10) of another trap matches nothing.
	wire.InformInfoRecord(q).Encode(&wire.InformInfoRecordFields{InformInfo: wire.InformInfoFields{TrapNumber: 65}})
	if recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrInformInfoRecord, mask: 1 << 10, rec: q}); len(recs) != 0 {
		t.Errorf("trap 65 subscriptions: %d, want 0", len(recs))
	}
	if st := c.status(saReq{method: wire.MethodSet, attr: wire.AttrInformInfoRecord, rec: q}); st != wire.MADStatusUnsupportedMethodAttr {
		t.Errorf("Set InformInfoRecord: %v, want 0x000c", st)
	}
}

func TestSAPathRecordLMC(t *testing.T) {
	f := ibtest.UpWith(t, ibtest.FatTree(2, 4), sm.Config{LMC: 2})
	src, dst := caPort(f, 1), caPort(f, 6)
	c := newRawSA(t, f.Fabric, f.HCAs[1].Topo.ID, f.Subnet.Local.LID)
	q := make([]byte, wire.PathRecordSize)
	wire.PathRecord(q).Encode(&wire.PathRecordFields{SGID: src.GID(sm.DefaultGIDPrefix), DGID: dst.GID(sm.DefaultGIDPrefix)})
	mask := wire.PathRecordCompSGID | wire.PathRecordCompDGID

	// Get: the first path, base LIDs, preference 0.
	recs := c.get(saReq{method: wire.MethodGet, attr: wire.AttrPathRecord, mask: mask, rec: q})
	if pr := wire.PathRecord(recs[0]).Fields(); pr.SLID != src.LID || pr.DLID != dst.LID || pr.Preference != 0 {
		t.Errorf("Get: slid %d dlid %d preference %d", pr.SLID, pr.DLID, pr.Preference)
	}
	// GetTable: every (SLID, DLID) pair of the two LID ranges (4 x 4),
	// the four at equal offsets first with preference 0, over RMPP (1 KiB).
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask, rec: q})
	if len(recs) != 16 {
		t.Fatalf("GetTable with LMC 2: %d paths, want 16", len(recs))
	}
	seen := map[[2]wire.LID]bool{}
	for i, r := range recs {
		pr := wire.PathRecord(r).Fields()
		if pr.SLID < src.LID || pr.SLID > src.LID+3 || pr.DLID < dst.LID || pr.DLID > dst.LID+3 {
			t.Errorf("path %d: slid %d dlid %d outside the ranges", i, pr.SLID, pr.DLID)
		}
		seen[[2]wire.LID{pr.SLID, pr.DLID}] = true
		wantPref := uint8(2)
		if i < 4 {
			wantPref = 0
			if pr.SLID-src.LID != wire.LID(i) || pr.DLID-dst.LID != wire.LID(i) {
				t.Errorf("path %d: slid %d dlid %d, want offset %d on both", i, pr.SLID, pr.DLID, i)
			}
		}
		if pr.Preference != wantPref || !pr.Reversible || pr.MTU == 0 {
			t.Errorf("path %d: %+v", i, pr)
		}
	}
	if len(seen) != 16 {
		t.Errorf("%d distinct lid pairs, want 16", len(seen))
	}
	// NumbPath limits the set; an SLID of the range fixes the source LID.
	wire.PathRecord(q).SetNumbPath(6)
	if recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask | wire.PathRecordCompNumbPath, rec: q}); len(recs) != 6 {
		t.Errorf("NumbPath 6: %d paths", len(recs))
	}
	wire.PathRecord(q).SetSLID(src.LID + 2)
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask | wire.PathRecordCompSLID, rec: q})
	if len(recs) != 4 {
		t.Errorf("fixed slid: %d paths, want 4", len(recs))
	}
	for _, r := range recs {
		if wire.PathRecord(r).SLID() != src.LID+2 {
			t.Errorf("fixed slid: path from %d", wire.PathRecord(r).SLID())
		}
	}
	// SGID and SLID of different ports; half a ServiceID; a bad MTU.
	wire.PathRecord(q).SetSLID(dst.LID)
	if st := c.status(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask | wire.PathRecordCompSLID, rec: q}); st != wire.SAStatusRequestInvalid {
		t.Errorf("sgid and slid of different ports: %v, want 0x0200", st)
	}
	if st := c.status(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord, mask: mask | wire.PathRecordCompServiceIDMSB, rec: q}); st != wire.SAStatusInsufficientComponents {
		t.Errorf("half a service id: %v, want 0x0600", st)
	}
	wire.PathRecord(q).SetMTU(7)
	if st := c.status(saReq{method: wire.MethodGetTable, attr: wire.AttrPathRecord,
		mask: mask | wire.PathRecordCompMTUSelector | wire.PathRecordCompMTU, rec: q}); st != wire.SAStatusRequestInvalid {
		t.Errorf("mtu code 7: %v, want 0x0200", st)
	}
}

// multiPath builds a MultiPathRecord request.
func multiPath(numbPath uint8, gids ...wire.GID) []byte {
	return multiPathN(numbPath, 1, gids...)
}

func multiPathN(numbPath uint8, nsrc int, gids ...wire.GID) []byte {
	b := make([]byte, wire.MultiPathRecordSize+16*len(gids))
	wire.MultiPathRecord(b).Encode(&wire.MultiPathRecordFields{NumbPath: numbPath, SGIDCount: uint8(nsrc),
		DGIDCount: uint8(len(gids) - nsrc), GIDs: gids})
	return b
}

func TestSAMultiPathRecord(t *testing.T) {
	f := ibtest.UpWith(t, ibtest.FatTree(2, 4), sm.Config{LMC: 1})
	src, d1, d2 := caPort(f, 0), caPort(f, 4), caPort(f, 7)
	c := newRawSA(t, f.Fabric, f.HCAs[0].Topo.ID, f.Subnet.Local.LID)
	g := func(p *sm.Port) wire.GID { return p.GID(sm.DefaultGIDPrefix) }
	counts := wire.MultiPathRecordCompSGIDCount | wire.MultiPathRecordCompDGIDCount

	resp, err := c.do(saReq{method: wire.MethodGetMulti, attr: wire.AttrMultiPathRecord, mask: counts, rmpp: true,
		rec: multiPath(0, g(src), g(d1), g(d2))})
	if err != nil {
		t.Fatal(err)
	}
	if m := wire.MAD(resp); m.Method() != wire.MethodGetMultiResp || m.AttrID() != wire.AttrPathRecord {
		t.Fatalf("answer %s %s, want GetMultiResp PathRecord", m.Method(), m.AttrID())
	}
	recs := records(resp)
	// LMC 1: 2 x 2 LID pairs to each of the two destinations.
	if len(recs) != 8 {
		t.Fatalf("%d paths, want 8", len(recs))
	}
	for i, r := range recs {
		pr := wire.PathRecord(r).Fields()
		dst := d1
		if i >= 4 {
			dst = d2
		}
		if pr.SGID != g(src) || pr.DGID != g(dst) || pr.DLID < dst.LID || pr.DLID > dst.LID+1 || pr.SLID < src.LID || pr.SLID > src.LID+1 {
			t.Errorf("path %d: %+v", i, pr)
		}
	}
	// NumbPath bounds the total over all pairs.
	recs = c.get(saReq{method: wire.MethodGetMulti, attr: wire.AttrMultiPathRecord, mask: counts | wire.MultiPathRecordCompNumbPath,
		rmpp: true, rec: multiPath(3, g(src), g(d1), g(d2))})
	if len(recs) != 3 {
		t.Errorf("NumbPath 3: %d paths", len(recs))
	}
	// Two sources, one destination: the sources in order.
	recs = c.get(saReq{method: wire.MethodGetMulti, attr: wire.AttrMultiPathRecord, mask: counts, rmpp: true,
		rec: multiPathN(0, 2, g(src), g(d1), g(d2))})
	if len(recs) != 8 || wire.PathRecord(recs[0]).SGID() != g(src) || wire.PathRecord(recs[7]).SGID() != g(d1) {
		t.Errorf("two sources: %d paths", len(recs))
	}
	// Errors.
	bad := g(d2)
	bad[15] ^= 0xFF
	for _, tc := range []struct {
		name string
		r    saReq
		want wire.MADStatus
	}{
		{"Get", saReq{method: wire.MethodGet, attr: wire.AttrMultiPathRecord, mask: counts, rec: multiPath(0, g(src), g(d1))},
			wire.MADStatusUnsupportedMethodAttr},
		{"no RMPP", saReq{method: wire.MethodGetMulti, attr: wire.AttrMultiPathRecord, mask: counts, rec: multiPath(0, g(src), g(d1))},
			wire.SAStatusRequestInvalid},
		{"no DGIDCount", saReq{method: wire.MethodGetMulti, attr: wire.AttrMultiPathRecord, mask: wire.MultiPathRecordCompSGIDCount,
			rmpp: true, rec: multiPath(0, g(src), g(d1))}, wire.SAStatusInsufficientComponents},
		{"unknown gid", saReq{method: wire.MethodGetMulti, attr: wire.AttrMultiPathRecord, mask: counts, rmpp: true,
			rec: multiPath(0, g(src), bad)}, wire.SAStatusInvalidGID},
		{"no destination", saReq{method: wire.MethodGetMulti, attr: wire.AttrMultiPathRecord, mask: counts, rmpp: true,
			rec: multiPathN(0, 1, g(src))}, wire.SAStatusRequestInvalid},
	} {
		if st := c.status(tc.r); st != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, st, tc.want)
		}
	}
}

// With Config.QoS the SA serves the tables programQoS writes, on CA ports
// and on every switch port; each record is what the port holds.
func TestSAQoSRecordsWithQoS(t *testing.T) {
	f := ibtest.UpWith(t, ibtest.FatTree(2, 4), sm.Config{QoS: true})
	c := newRawSA(t, f.Fabric, f.HCAs[1].Topo.ID, f.Subnet.Local.LID)
	from := f.HCAs[0].Topo.ID
	p := caPort(f, 5)
	sw := p.Remote.Node.Ports[0].LID

	recs := c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrSLtoVLMappingTableRecord,
		mask: wire.SLtoVLMappingTableRecordCompLID, rec: lidRec(wire.SLtoVLMappingTableRecordSize, p.LID)})
	recs = append(recs, c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrSLtoVLMappingTableRecord,
		mask: wire.SLtoVLMappingTableRecordCompLID, rec: lidRec(wire.SLtoVLMappingTableRecordSize, sw)})...)
	if len(recs) < 2 {
		t.Fatalf("SL2VL records of a CA port and its switch: %d", len(recs))
	}
	for _, r := range recs {
		rr := wire.SLtoVLMappingTableRecord(r).Fields()
		mod := uint32(rr.InputPortNum)<<8 | uint32(rr.OutputPortNum)
		dev := wire.SLtoVLMappingTable(smpGet(t, f.Fabric, from, rr.LID, wire.AttrSLtoVLMappingTable, mod)).Fields()
		if dev != rr.SLtoVLMappingTable {
			t.Errorf("lid %d in %d out %d: SA %v, port holds %v", rr.LID, rr.InputPortNum, rr.OutputPortNum, rr.SLtoVLMappingTable.VL, dev.VL)
		}
	}
	recs = c.get(saReq{method: wire.MethodGetTable, attr: wire.AttrVLArbitrationTableRecord,
		mask: wire.VLArbitrationTableRecordCompLID, rec: lidRec(wire.VLArbitrationTableRecordSize, sw)})
	if len(recs) == 0 {
		t.Fatal("no VLArb records of a switch with QoS")
	}
	swNode := p.Remote.Node
	for _, r := range recs {
		rr := wire.VLArbitrationTableRecord(r).Fields()
		sp := swNode.Ports[rr.OutputPortNum]
		capN := sp.Info.VLArbitrationLowCap
		if rr.BlockNum >= wire.VLArbHighBlock0 {
			capN = sp.Info.VLArbitrationHighCap
		}
		// Blocks the port does not have (port 0, past its capacity)
		// read as empty, as in OpenSM.
		var dev wire.VLArbitrationTableFields
		if int(capN) > vlArbFirstEntry(rr.BlockNum) {
			dev = wire.VLArbitrationTable(smpGet(t, f.Fabric, from, rr.LID, wire.AttrVLArbitrationTable,
				uint32(rr.BlockNum)<<16|uint32(rr.OutputPortNum))).Fields()
		}
		if dev != rr.VLArbitrationTable {
			t.Errorf("switch port %d block %d: SA %v, port holds %v", rr.OutputPortNum, rr.BlockNum, rr.VLArbitrationTable.Entries[:4], dev.Entries[:4])
		}
	}
}

// vlArbFirstEntry is the first table entry VL arbitration block b holds
// (IBTA Vol 1 §14.2.5.9): 0 for blocks 1 and 3, 32 for blocks 2 and 4.
func vlArbFirstEntry(b uint8) int {
	if b == wire.VLArbLowBlock1 || b == wire.VLArbHighBlock1 {
		return wire.VLArbitrationTableBlockEntries
	}
	return 0
}
