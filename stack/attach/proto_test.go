package attach

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// ctlBytes builds a control message the way libumad2sim does: a C struct
// in host byte order.
func ctlBytes(magic, client, typ, n uint32, data []byte) []byte {
	b := make([]byte, CtlSize)
	binary.NativeEndian.PutUint32(b[0:], magic)
	binary.NativeEndian.PutUint32(b[4:], client)
	binary.NativeEndian.PutUint32(b[8:], typ)
	binary.NativeEndian.PutUint32(b[12:], n)
	copy(b[16:], data)
	return b
}

func TestCtlCodec(t *testing.T) {
	info := make([]byte, ClientInfoSize)
	binary.NativeEndian.PutUint32(info[0:], 4242)
	binary.NativeEndian.PutUint32(info[8:], 1)
	copy(info[12:], "Switch1\x00garbage")
	c, err := ParseCtl(ctlBytes(Magic, 0, 1, ClientInfoSize, info))
	if err != nil {
		t.Fatal(err)
	}
	if c.Type() != CtlConnect || c.ClientID() != 0 || c.Len() != ClientInfoSize {
		t.Errorf("header: type %v client %d len %d", c.Type(), c.ClientID(), c.Len())
	}
	ci, err := DecodeClientInfo(c.Data())
	if err != nil {
		t.Fatal(err)
	}
	if ci != (ClientInfo{ID: 4242, ISSM: 1, NodeID: "Switch1"}) {
		t.Errorf("client info %+v", ci)
	}
	// Encoding a reply cuts the node id to 31 bytes and NUL-terminates it.
	long := ClientInfo{ID: 3, NodeID: string(bytes.Repeat([]byte("x"), 40))}
	long.Encode(c.Data())
	back, _ := DecodeClientInfo(c.Data())
	if back.ID != 3 || len(back.NodeID) != NodeIDSize-1 || c.Data()[12+NodeIDSize-1] != 0 {
		t.Errorf("long node id: %+v", back)
	}
	for _, bad := range [][]byte{nil, make([]byte, 79), make([]byte, 81)} {
		if _, err := ParseCtl(bad); !errors.Is(err, ErrSize) {
			t.Errorf("%d bytes: %v, want ErrSize", len(bad), err)
		}
	}
	if _, err := ParseCtl(ctlBytes(0xBEEFDEAD, 0, 1, 0, nil)); !errors.Is(err, ErrMagic) {
		t.Errorf("wrong magic: %v", err)
	}
	if _, err := DecodeClientInfo(make([]byte, 10)); !errors.Is(err, ErrSize) {
		t.Errorf("short client info: %v", err)
	}
	v := VendorInfo{VendorID: 0x2c9, PartID: 0x673c, HWVer: 0xa0, FWVer: 2<<32 | 7<<16}
	d := make([]byte, CtlDataSize)
	v.Encode(d)
	if binary.NativeEndian.Uint64(d[16:]) != v.FWVer || binary.NativeEndian.Uint32(d[4:]) != 0x673c {
		t.Errorf("vendor layout % x", d[:VendorSize])
	}
	if got, _ := DecodeVendorInfo(d); got != v {
		t.Errorf("vendor round trip %+v", got)
	}
	if CtlType(9).String() != "SET_ISSM" || CtlType(99).String() != "type 99" {
		t.Error("CtlType names")
	}
}

func TestDatagramCodec(t *testing.T) {
	b := make([]byte, DatagramSize)
	// dlid 0x0012 and slid 0xFFFF big-endian in the first two bytes of
	// their words, QPs and status big-endian, length a big-endian u64.
	copy(b, []byte{0x00, 0x12, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 110, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 1, 0})
	b[32] = 1
	d, err := ParseDatagram(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.DLID() != 0x12 || d.SLID() != wire.LIDPermissive || d.DQP() != 1 || d.SQP() != 0 || d.Status() != 110 ||
		d.Length() != 256 || d.MAD().BaseVersion() != 1 {
		t.Errorf("decoded %d %d %d %d %d %d", d.DLID(), d.SLID(), d.DQP(), d.SQP(), d.Status(), d.Length())
	}
	n := NewDatagram()
	n.SetDLID(0x12)
	n.SetSLID(wire.LIDPermissive)
	n.SetDQP(1)
	n.SetStatus(110)
	n.MAD()[0] = 1
	if !bytes.Equal(n, b) {
		t.Errorf("encoded\n% x\nwant\n% x", n[:32], b[:32])
	}
	if _, err := ParseDatagram(b[:287]); !errors.Is(err, ErrSize) {
		t.Errorf("short: %v", err)
	}
	d.SetLength(257)
	if _, err := ParseDatagram(b); !errors.Is(err, ErrLength) {
		t.Errorf("length 257: %v", err)
	}
}

func FuzzParseCtl(f *testing.F) {
	f.Add(ctlBytes(Magic, 0, 1, ClientInfoSize, []byte{1, 2, 3, 4}))
	f.Add(ctlBytes(Magic, 3, 8, 64, []byte{0}))
	f.Add([]byte{0xef, 0xbe, 0xad, 0xde})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCtl(b)
		if err != nil {
			return
		}
		_ = c.Type().String()
		ci, err := DecodeClientInfo(c.Data())
		if err != nil {
			t.Fatal(err)
		}
		if len(ci.NodeID) >= NodeIDSize {
			t.Fatalf("node id of %d bytes", len(ci.NodeID))
		}
		_, _ = DecodeVendorInfo(c.Data())
		// Encoding what was decoded gives the same node id back.
		out := make([]byte, CtlDataSize)
		ci.Encode(out)
		if back, _ := DecodeClientInfo(out); back.NodeID != ci.NodeID && !bytes.ContainsRune([]byte(ci.NodeID), 0) {
			t.Fatalf("node id %q came back as %q", ci.NodeID, back.NodeID)
		}
	})
}

func FuzzParseDatagram(f *testing.F) {
	f.Add(make([]byte, DatagramSize))
	d := NewDatagram()
	d.SetDLID(wire.LIDPermissive)
	f.Add([]byte(d))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDatagram(b)
		if err != nil {
			return
		}
		if d.Length() > wire.MADSize || len(d.MAD()) != wire.MADSize {
			t.Fatalf("accepted length %d", d.Length())
		}
		_, _, _, _, _ = d.DLID(), d.SLID(), d.DQP(), d.SQP(), d.Status()
	})
}
