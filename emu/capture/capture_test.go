package capture_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/capture/capturetest"
	"github.com/ibemu/ibemu/emu/wire"
)

// testFrames returns sealed UD frames of a few sizes.
func testFrames(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for i, n := range []int{0, 1, 256, 4096} {
		f := wire.PacketFields{
			LRH:     wire.LRHFields{DLID: wire.LID(2 + i), SLID: 1},
			BTH:     wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: 0xFFFF, DestQP: 0x10, PSN: uint32(i)},
			DETH:    &wire.DETHFields{QKey: 0x1234, SrcQP: 0x11},
			Payload: bytes.Repeat([]byte{byte(i + 1)}, n),
		}
		b, err := wire.AppendPacket(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestWriteReadRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := capture.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	frames := testFrames(t)
	base := time.Unix(1_700_000_000, 123_456_789)
	for i, f := range frames {
		if err := w.WriteFrame(base.Add(time.Duration(i)*time.Microsecond), f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := binary.LittleEndian.Uint32(buf.Bytes()); got != 0xA1B23C4D {
		t.Fatalf("magic %#x, want the nanosecond pcap magic", got)
	}
	if lt := binary.LittleEndian.Uint32(buf.Bytes()[20:]); lt != capture.LinkTypeERF {
		t.Fatalf("link type %d, want %d", lt, capture.LinkTypeERF)
	}
	recs, err := capture.ReadAll(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(frames) {
		t.Fatalf("read %d records, wrote %d", len(recs), len(frames))
	}
	for i, r := range recs {
		if !bytes.Equal(r.Frame, frames[i]) {
			t.Errorf("record %d: frame differs", i)
		}
		// ERF keeps a binary fraction of a second: nanoseconds survive
		// to within one.
		if d := r.Time.Sub(base.Add(time.Duration(i) * time.Microsecond)); d < -time.Nanosecond || d > time.Nanosecond {
			t.Errorf("record %d: time off by %v", i, d)
		}
	}
}

func TestTsharkReadsCapture(t *testing.T) {
	path := capturetest.Path(t, "c.pcap")
	w, err := capture.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range testFrames(t) {
		if err := w.WriteFrame(time.Unix(1_700_000_000, int64(i)), f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	capturetest.Check(t, path)
}

func TestReadAllOtherPcapVariants(t *testing.T) {
	// A big-endian microsecond file, as other writers produce.
	frame := testFrames(t)[1]
	rec := make([]byte, capture.ERFHeaderSize+len(frame))
	rec[8] = capture.ERFTypeInfiniBand
	binary.BigEndian.PutUint16(rec[10:], uint16(len(rec)))
	binary.BigEndian.PutUint16(rec[14:], uint16(len(frame)))
	copy(rec[capture.ERFHeaderSize:], frame)
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.BigEndian.PutUint32(hdr[0:], 0xA1B2C3D4)
	binary.BigEndian.PutUint16(hdr[4:], 2)
	binary.BigEndian.PutUint16(hdr[6:], 4)
	binary.BigEndian.PutUint32(hdr[16:], 65535)
	binary.BigEndian.PutUint32(hdr[20:], capture.LinkTypeERF)
	b.Write(hdr)
	rh := make([]byte, 16)
	binary.BigEndian.PutUint32(rh[0:], 100)
	binary.BigEndian.PutUint32(rh[4:], 250_000)
	binary.BigEndian.PutUint32(rh[8:], uint32(len(rec)))
	binary.BigEndian.PutUint32(rh[12:], uint32(len(rec)))
	b.Write(rh)
	b.Write(rec)
	recs, err := capture.ReadAll(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || !bytes.Equal(recs[0].Frame, frame) || !recs[0].Time.Equal(time.Unix(100, 250_000_000)) {
		t.Fatalf("got %d records (time %v)", len(recs), recs[0].Time)
	}
}

func TestReadAllRejectsBadInput(t *testing.T) {
	good := func() []byte {
		var buf bytes.Buffer
		w, _ := capture.NewWriter(&buf)
		w.WriteFrame(time.Unix(1, 0), testFrames(t)[0])
		w.Close()
		return buf.Bytes()
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"empty":            func(b []byte) []byte { return nil },
		"bad magic":        func(b []byte) []byte { b[0] = 0; return b },
		"bad version":      func(b []byte) []byte { b[4] = 9; return b },
		"other link type":  func(b []byte) []byte { b[20] = 1; return b },
		"truncated record": func(b []byte) []byte { return b[:len(b)-3] },
		"huge record":      func(b []byte) []byte { binary.LittleEndian.PutUint32(b[24+8:], 1<<30); return b },
		"bad fraction":     func(b []byte) []byte { binary.LittleEndian.PutUint32(b[24+4:], 2e9); return b },
		"not infiniband":   func(b []byte) []byte { b[24+16+8] = 2; return b },
	} {
		if _, err := capture.ReadAll(bytes.NewReader(mutate(good()))); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzReadAll(f *testing.F) {
	var buf bytes.Buffer
	w, _ := capture.NewWriter(&buf)
	w.WriteFrame(time.Unix(1, 0), make([]byte, 40))
	w.Close()
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := capture.ReadAll(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range recs {
			if len(r.Frame) > 65535 {
				t.Fatalf("record of %d bytes", len(r.Frame))
			}
		}
	})
}
