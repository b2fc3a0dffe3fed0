package sm_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/sm"
)

// FuzzSARequest sends arbitrary records, component masks and methods for
// every record the SA serves to one running SA: it must answer each (or
// refuse it with a status) and never fail.
func FuzzSARequest(f *testing.F) {
	attrs := []wire.AttrID{wire.AttrPathRecord, wire.AttrMultiPathRecord, wire.AttrSMInfoRecord, wire.AttrPKeyTableRecord,
		wire.AttrSLtoVLMappingTableRecord, wire.AttrVLArbitrationTableRecord, wire.AttrMulticastForwardingTableRecord,
		wire.AttrGUIDInfoRecord, wire.AttrInformInfoRecord, wire.AttrNodeRecord, wire.AttrPortInfoRecord}
	methods := []wire.Method{wire.MethodGet, wire.MethodGetTable, wire.MethodGetMulti, wire.MethodSet, wire.MethodDelete}
	for i := range attrs {
		f.Add(uint8(i), uint8(1), uint64(1), []byte{0, 1})
		f.Add(uint8(i), uint8(2), uint64(0xFFFFFFFFFFFFFFFF), make([]byte, 200))
	}
	f.Add(uint8(1), uint8(2), uint64(1<<19|1<<20), append(make([]byte, 15), 0xFF, 0xFF))
	u := ibtest.UpWith(f, ibtest.FatTree(2, 4), sm.Config{LMC: 1})
	f.Fuzz(func(t *testing.T, ai, mi uint8, mask uint64, rec []byte) {
		c := newRawSA(t, u.Fabric, u.HCAs[2].Topo.ID, u.Subnet.Local.LID)
		r := saReq{method: methods[int(mi)%len(methods)], attr: attrs[int(ai)%len(attrs)], mask: wire.ComponentMask(mask),
			rec: rec, rmpp: mi&0x80 != 0}
		if len(r.rec) > wire.SADataSize {
			r.rec = r.rec[:wire.SADataSize]
		}
		if _, err := c.do(r); err != nil && saStatus(err) == 0xFFFF {
			t.Fatalf("%s %s mask %#x: no answer: %v", r.method, r.attr, mask, err)
		}
	})
}
