package attach

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// FuzzClientDatagram feeds arbitrary datagrams from a client attached at
// a CA and at a switch's port 0 through the server's injection path: the
// server must never panic, whatever the MAD says, and the fabric must go
// on answering.
func FuzzClientDatagram(f *testing.F) {
	srv, err := New(Config{Topology: parseTestNet(&testing.T{}), Logger: nil, SockName: "fuzz-unused",
		MADTimeout: time.Millisecond, MADRetries: -1})
	if err != nil {
		f.Fatal(err)
	}
	if err := srv.fab.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(srv.fab.Stop)
	var clients [2]*client
	for i, id := range []string{"Hca1", "Switch1"} {
		c := &client{s: srv, slot: i, out: newOutQueue()}
		if err := srv.fab.Do(func() {
			n := srv.byID[id]
			c.point = srv.point(n, defaultAttach(n))
			c.point.add(c)
			c.point.setISSM(c, true)
		}); err != nil {
			f.Fatal(err)
		}
		clients[i] = c
	}
	f.Add(byte(0), []byte(drSMPSeed(1, 1)))
	f.Add(byte(1), []byte(drSMPSeed(2, 3)))
	lid := NewDatagram()
	lid.SetDLID(1)
	wire.MAD(lid.MAD()).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnLID, ClassVersion: 1,
		Method: wire.MethodGet, AttrID: wire.AttrPortInfo})
	f.Add(byte(1), []byte(lid))
	f.Fuzz(func(t *testing.T, which byte, b []byte) {
		if len(b) > DatagramSize {
			b = b[:DatagramSize]
		}
		buf := make([]byte, DatagramSize)
		copy(buf, b)
		d, err := ParseDatagram(buf)
		if err != nil {
			return
		}
		c := clients[int(which)%2]
		if err := srv.fab.Do(func() { c.point.fromClient(c, d) }); err != nil {
			t.Fatal(err)
		}
		for c.out.len() > 0 {
			batch, _ := c.out.wait()
			if len(batch)%DatagramSize != 0 {
				t.Fatalf("server queued %d bytes, not whole datagrams", len(batch))
			}
			for off := 0; off < len(batch); off += DatagramSize {
				if _, err := ParseDatagram(batch[off : off+DatagramSize]); err != nil {
					t.Fatalf("server produced a bad datagram: %v", err)
				}
			}
			c.out.recycle(batch)
		}
	})
}

// drSMPSeed is a DR NodeInfo Get along 0,first[,next].
func drSMPSeed(tid uint64, first uint8) Datagram {
	d := NewDatagram()
	d.SetDLID(wire.LIDPermissive)
	s := wire.SMP(d.MAD())
	f := wire.SMPFields{Directed: true, Method: wire.MethodGet, TID: tid, AttrID: wire.AttrNodeInfo,
		HopCount: 1, DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive}
	f.InitialPath[1] = first
	s.Encode(&f)
	return d
}
