package attach

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// dpSeedWelcome is a well-formed WELCOME payload.
func dpSeedWelcome() []byte {
	ni := wire.NodeInfo(make([]byte, wire.NodeInfoSize))
	ni[2], ni[3] = byte(wire.NodeTypeCA), 2
	w := DataPathWelcomeMsg{Version: 1, Port: 1, NumPorts: 2, NodeID: "Hca1", Profile: "ConnectX-2", NodeInfo: ni,
		NodeDescription: make([]byte, 64), PortInfo: make([]byte, 64), PortGUIDs: []wire.GUID{1, 2},
		PKeyBlocks: [][]byte{make([]byte, 64)}, GUIDBlocks: [][]byte{make([]byte, 64)}, SLtoVL: make([]byte, 8),
		Link: DataPathLinkState{Up: true, WidthSupported: 3, WidthEnabled: 3, Width: wire.Width4X, SpeedSupported: 7,
			SpeedEnabled: 7, Speed: wire.SpeedQDR}}
	b, err := w.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzDataPathStream feeds an arbitrary byte stream to the data-path
// framing and every message decoder, as a server or client reads it: no
// input may panic, and what decodes encodes back to the same bytes.
func FuzzDataPathStream(f *testing.F) {
	hello, _ := (&DataPathHelloMsg{Version: 1, Port: 1, PID: 7, Node: "Hca1[1]"}).Encode()
	var seed []byte
	seed, _ = AppendDataPathMsg(seed, DataPathHello, hello)
	seed, _ = AppendDataPathMsg(seed, DataPathWelcome, dpSeedWelcome())
	seed, _ = AppendDataPathMsg(seed, DataPathFrame, make([]byte, 40))
	seed, _ = AppendDataPathMsg(seed, DataPathLink, (&DataPathLinkState{Up: true, Width: 2, Speed: 4}).Encode())
	seed, _ = AppendDataPathMsg(seed, DataPathRefuse, (&DataPathRefuseMsg{Code: 4, Reason: "busy"}).Encode())
	seed, _ = AppendDataPathMsg(seed, DataPathBye, nil)
	f.Add(seed)
	f.Add([]byte{4, 0, 0xFF, 0xFF})
	f.Add([]byte{1, 0, 0, 16, 'I', 'B', 'E', 'M', 'U', '-', 'D', 'P', 0, 1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		// The session reader (dpReader, which takes messages out of its
		// buffer in place) must see the same messages as readDataPathMsg.
		d := dpReader{buf: b, w: len(b)}
		r0 := bufio.NewReader(bytes.NewReader(b))
		for {
			typ, p, ok, err := d.next()
			typ0, p0, err0 := readDataPathMsg(r0)
			if !ok || err != nil {
				if err0 == nil {
					t.Fatalf("readDataPathMsg read %s of %d bytes where dpReader stopped (%v)", typ0, len(p0), err)
				}
				if (err != nil) != errors.Is(err0, ErrDataPathProtocol) {
					t.Fatalf("dpReader: %v, readDataPathMsg: %v", err, err0)
				}
				if err == nil && d.need() < 1 {
					t.Fatalf("dpReader needs %d more bytes", d.need())
				}
				break
			}
			if err0 != nil || typ != typ0 || !bytes.Equal(p, p0) || cap(p) != len(p) {
				t.Fatalf("dpReader read %s %x (cap %d), readDataPathMsg %s %x (%v)", typ, p, cap(p), typ0, p0, err0)
			}
		}
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			_ = bufferedMsg(r)
			typ, p, err := readDataPathMsg(r)
			if err != nil {
				return
			}
			switch typ {
			case DataPathHello:
				if h, err := ParseDataPathHello(p); err == nil {
					enc, err := h.Encode()
					if err != nil || !bytes.Equal(enc, p) {
						t.Fatalf("hello %+v re-encodes to %x (%v), was %x", h, enc, err, p)
					}
				}
			case DataPathWelcome:
				if w, err := ParseDataPathWelcome(p); err == nil {
					enc, err := w.Encode()
					if err != nil {
						t.Fatal(err)
					}
					w2, err := ParseDataPathWelcome(enc)
					if err != nil || !reflect.DeepEqual(w, w2) {
						t.Fatalf("welcome does not round-trip: %v", err)
					}
				}
			case DataPathLink:
				if l, err := ParseDataPathLink(p); err == nil && !bytes.Equal(l.Encode(), p) {
					t.Fatalf("link %+v re-encodes to %x, was %x", l, l.Encode(), p)
				}
			case DataPathRefuse:
				if rf, err := ParseDataPathRefuse(p); err == nil {
					_ = rf.Error()
				}
			case DataPathFrame:
				if err := CheckDataPathFrame(p); err == nil && !wire.CheckVCRC(p) {
					t.Fatal("a frame with a bad VCRC passed")
				}
			}
		}
	})
}

// FuzzDataPathWelcome mutates WELCOME payloads directly (the decoder a
// client runs on what a server says).
func FuzzDataPathWelcome(f *testing.F) {
	f.Add(dpSeedWelcome())
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := ParseDataPathWelcome(b)
		if err != nil {
			return
		}
		if int(w.Port) > int(w.NumPorts) || len(w.PortGUIDs) != int(w.NumPorts) || len(w.NodeInfo) != wire.NodeInfoSize {
			t.Fatalf("accepted an inconsistent welcome: %+v", w)
		}
	})
}
