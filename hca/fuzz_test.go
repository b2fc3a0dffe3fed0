package hca_test

import (
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// seedFrame builds a sealed MAD frame for the fuzz corpus.
func seedFrame(t testing.TB, a agent.Addr, mad []byte) []byte {
	f, err := agent.AppendFrame(nil, &a, mad)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// arriving sets the hop pointer of a one-hop DR SMP to 1, as the sender's
// SMI leaves it when it reaches the responder.
func arriving(smp []byte) []byte {
	wire.SMP(smp).SetHopPointer(1)
	return smp
}

// FuzzHandlePacket feeds arbitrary frames to an HCA's HandlePacket. It
// must never panic, and whatever the frame does it must not corrupt the
// node's identity or the shape of its tables.
func FuzzHandlePacket(f *testing.F) {
	smp := agent.Addr{DLID: wire.LIDPermissive, SLID: wire.LIDPermissive, DestQP: 0, SrcQP: 0, PKey: 0xFFFF}
	gsi := agent.Addr{DLID: 0, SLID: 5, DestQP: 1, SrcQP: 1, QKey: agent.GSIQKey, PKey: 0xFFFF}
	pi := make([]byte, wire.PortInfoSize)
	wire.PortInfo(pi).SetLID(9)
	wire.PortInfo(pi).SetPortState(wire.PortStateArmed)
	seeds := [][]byte{
		seedFrame(f, smp, arriving(drSMP(wire.MethodGet, wire.AttrNodeInfo, 0, 1, 0, nil))),
		seedFrame(f, smp, arriving(drSMP(wire.MethodSet, wire.AttrPortInfo, 0, 2, 0, pi))),
		seedFrame(f, smp, arriving(drSMP(wire.MethodSet, wire.AttrPKeyTable, 1, 3, 0, make([]byte, 64)))),
		seedFrame(f, smp, arriving(drSMP(wire.MethodGet, wire.AttrVLArbitrationTable, 3<<16, 4, 0, nil))),
		seedFrame(f, smp, lidSMP(wire.MethodTrapRepress, wire.AttrNotice, 0, 5, 0, nil)),
		seedFrame(f, gsi, gmp(wire.MgmtClassPerf, 1, wire.MethodSet, wire.AttrPortCounters, 0, 6, 64, pcSelect(1, 0xFFFF, 1))),
		seedFrame(f, gsi, gmp(wire.MgmtClassMellanox, 1, wire.MethodGet, wire.AttrVendorGeneralInfo, 0, 7, 24, nil)),
		seedFrame(f, gsi, gmp(wire.MgmtClassSubnAdm, 2, wire.MethodGetResp, wire.AttrPathRecord, 0, 1<<32|8, 56, nil)),
		{0x00, 0x01, 0x02},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		fab := emu.New()
		d, err := hca.Add(fab, "fuzz", hca.Config{NodeGUID: guidB})
		if err != nil {
			t.Fatal(err)
		}
		peer, err := hca.Add(fab, "peer", hca.Config{NodeGUID: guidA})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fab.Connect(d.Node().Port(1), peer.Node().Port(1)); err != nil {
			t.Fatal(err)
		}
		before := d.SMA().Node()
		nPKeys := d.SMA().Port(1).NumPKeys()
		// The fabric is not started: Do runs at once, and what the device
		// sends is queued, never delivered.
		if err := fab.Do(func() {
			d.HandlePacket(d.Node().Port(1), append([]byte(nil), frame...))
			// A well-formed request still works afterwards.
			d.HandlePacket(d.Node().Port(1), append([]byte(nil), seeds[0]...)) // HandlePacket owns the frame
		}); err != nil {
			t.Fatal(err)
		}
		if got := d.SMA().Node(); got != before {
			t.Fatalf("node config changed: %+v", got)
		}
		pa := d.SMA().Port(1)
		if pa.GUID(0) != guidB+1 || pa.NumPKeys() != nPKeys || d.PortGUID(1) != guidB+1 {
			t.Fatalf("port identity changed: guid %v, %d p_keys", pa.GUID(0), pa.NumPKeys())
		}
		buf := make([]byte, wire.PortInfoSize)
		if !d.SMA().FillPortInfo(buf, 1, 1, true) {
			t.Fatal("FillPortInfo failed")
		}
		if d.Stats().Answered.Load() == 0 {
			t.Fatal("the well-formed NodeInfo Get after the fuzz frame got no answer")
		}
		fab.Stop()
	})
}
