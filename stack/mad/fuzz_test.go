package mad_test

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// FuzzAgentDeliver feeds arbitrary bytes to an agent as if they had
// arrived from the network, while it has a transaction outstanding and a
// Serve handler installed: the agent must never panic, whatever the bytes
// claim (RMPP headers, lengths, segment numbers, statuses).
func FuzzAgentDeliver(f *testing.F) {
	seg := func(method wire.Method, typ wire.RMPPType, flags wire.RMPPFlags, d1, d2 uint32) []byte {
		b := saMAD(method, wire.AttrNodeRecord, nil)
		wire.MAD(b).RMPPHeader().Encode(&wire.RMPPHeaderFields{Version: 1, Type: typ, Flags: flags, Data1: d1, Data2: d2})
		return b
	}
	f.Add(seg(wire.MethodGetTableResp, wire.RMPPTypeData, wire.RMPPFlagActive|wire.RMPPFlagFirst, 1, 3*220), true)
	f.Add(seg(wire.MethodGetTableResp, wire.RMPPTypeData, wire.RMPPFlagActive|wire.RMPPFlagFirst|wire.RMPPFlagLast, 1, 5000), true)
	f.Add(seg(wire.MethodGetTableResp, wire.RMPPTypeData, wire.RMPPFlagActive|wire.RMPPFlagLast, 2, 0), true)
	f.Add(seg(wire.MethodGetTable, wire.RMPPTypeData, wire.RMPPFlagActive|wire.RMPPFlagFirst, 1, 0), false)
	f.Add(seg(wire.MethodGetTableResp, wire.RMPPTypeAck, wire.RMPPFlagActive, 1, 0xffffffff), true)
	f.Add(seg(wire.MethodGetTable, wire.RMPPTypeAbort, wire.RMPPFlagActive, 0, 0), false)
	f.Add(seg(wire.MethodGetTableResp, 9, wire.RMPPFlagActive, 0, 0), true)
	f.Add(saMAD(wire.MethodGetResp, wire.AttrNodeRecord, nil), true)
	f.Add([]byte{1, 3, 2}, false)
	f.Add(make([]byte, 300), true)
	f.Fuzz(func(t *testing.T, b []byte, matchTID bool) {
		s := newSim(t)
		client, err := mad.NewAgent(s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2,
			Methods: []wire.Method{wire.MethodGetTable, wire.MethodGet}}, mad.Options{Timeout: time.Millisecond, RMPPTotalTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		client.Serve(func(r *mad.Received) { r.RespondStatus(wire.MADStatusOK) })
		req := saMAD(wire.MethodGetTable, wire.AttrNodeRecord, nil)
		if err := client.Go(mad.Request{Addr: toServer, MAD: req, Timeout: time.Second}, nil); err != nil {
			t.Fatal(err)
		}
		in := slices.Clone(b)
		if matchTID && len(in) >= 16 {
			binary.BigEndian.PutUint64(in[8:], wire.MAD(req).TID())
		}
		ep := s.port(clientLID).eps[0]
		ep.deliver(mad.Incoming{Addr: mad.Addr{LID: serverLID, QPN: 1}, MAD: in})
		// Deliver it again (duplicates), then let every timer run.
		ep.deliver(mad.Incoming{Addr: mad.Addr{LID: serverLID, QPN: 1}, MAD: slices.Clone(in)})
		s.drain()
		if client.Outstanding() != 0 {
			t.Fatalf("transaction still outstanding after every timer ran")
		}
	})
}

// FuzzParseDRPath checks that ParseDRPath never panics and that what it
// accepts formats back to an equivalent path.
func FuzzParseDRPath(f *testing.F) {
	for _, s := range []string{"0", "0,1", "0,1,3,24", "1,2", "0,,", "0,255", " 0, 4 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := mad.ParseDRPath(s)
		if err != nil {
			return
		}
		q, err := mad.ParseDRPath(p.String())
		if err != nil || !slices.Equal(p, q) {
			t.Fatalf("%q parsed to %v, which formats as %q and parses to %v, %v", s, p, p.String(), q, err)
		}
	})
}
