package hca_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// BenchmarkSMPGetNodeInfo measures one directed-route Get NodeInfo round
// trip between two HCAs in one fabric: the host agent's send, the SMI and
// SMA of the far HCA, the reply along the return path, and delivery to the
// agent through an emu.Inbox.
func BenchmarkSMPGetNodeInfo(b *testing.B) {
	bt := newBench(b)
	req := drSMP(wire.MethodGet, wire.AttrNodeInfo, 0, 1, 0, nil)
	b.ReportAllocs()
	for b.Loop() {
		tid := bt.nextTID()
		wire.MAD(req).SetTID(tid)
		bt.send(b, bt.sm, drAddr, req)
		r := bt.expectResp(b, tid)
		if r.Status() != wire.MADStatusOK {
			b.Fatalf("status %s", r.Status())
		}
	}
}
