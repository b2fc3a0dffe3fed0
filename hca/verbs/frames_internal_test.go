package verbs

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/ibemu/ibemu/emu/wire"
)

// TestFramePayloadAligned checks that a frame from the pool places the
// payload of every packet layout the engine sends on a 16-byte boundary
// (the copies into and out of frames depend on it), that
// wire.DataFields.HeaderLen agrees with the wire codec, and that a frame handed back maps to its whole
// slot again.
func TestFramePayloadAligned(t *testing.T) {
	payload := bytes.Repeat([]byte{0xA5}, 4096)
	layouts := []wire.DataFields{
		{OpCode: wire.OpRCRDMAWriteMiddle, Payload: payload},
		{OpCode: wire.OpRCRDMAWriteFirst, RETH: wire.RETHFields{DMALen: 8192}, Payload: payload},
		{OpCode: wire.OpRCRDMAWriteLastImm, ImmDt: 7, Payload: payload[:100]},
		{OpCode: wire.OpRCRDMAReadResponseFirst, Payload: payload},
		{OpCode: wire.OpUDSendOnly, DETH: wire.DETHFields{QKey: 1}, Payload: payload[:256]},
		{GRH: &wire.GRHFields{HopLmt: 1}, OpCode: wire.OpUDSendOnlyImm, DETH: wire.DETHFields{QKey: 1}, ImmDt: 7, Payload: payload[:64]},
		{OpCode: wire.OpRCSendOnly, Payload: payload[:8]},
	}
	e := &Engine{fcache: &slotCache{}}
	for round := 0; round < 100; round++ {
		for i := range layouts {
			f := &layouts[i]
			f.DLID, f.SLID = 2, 1
			hdr := f.HeaderLen()
			frame, err := wire.AppendDataUnsealed(e.getFrame(hdr), f)
			if err != nil {
				t.Fatalf("layout %d: %v", i, err)
			}
			pkt, err := wire.ParsePacket(frame)
			if err != nil {
				t.Fatalf("layout %d: %v", i, err)
			}
			if got := len(frame) - len(pkt.Payload) - wire.ICRCSize - wire.VCRCSize; got != hdr && !(f.Payload != nil && len(f.Payload)%4 != 0) {
				t.Fatalf("layout %d: HeaderLen %d, the codec wrote %d header bytes", i, hdr, got)
			}
			if !bytes.Equal(pkt.Payload[:len(f.Payload)], f.Payload) {
				t.Fatalf("layout %d: payload changed", i)
			}
			if a := uintptr(unsafe.Pointer(&frame[hdr])) % 16; a != 0 {
				t.Fatalf("layout %d (round %d): payload at %d mod 16", i, round, a)
			}
			e.putFrame(frame)
		}
	}
	// Many frames in flight at once: the engine trades slots with the
	// shared pool in batches; every slot comes back whole and distinct.
	held := map[uintptr]bool{}
	var out [][]byte
	for range 5 * frameBatch {
		b := e.getFrame(20)
		p := uintptr(unsafe.Pointer(unsafe.SliceData(b[:1])))
		if held[p] {
			t.Fatalf("slot %#x handed out twice", p)
		}
		held[p] = true
		out = append(out, append(b, 1, 2, 3))
	}
	for _, b := range out {
		e.putFrame(b)
	}
	if len(e.fcache.s) >= 2*frameBatch {
		t.Fatalf("engine keeps %d slots", len(e.fcache.s))
	}
	// A frame the pool did not make is not taken into it.
	n := len(e.fcache.s)
	e.putFrame(make([]byte, 64, frameSlot))
	if len(e.fcache.s) != n {
		t.Fatalf("a foreign frame joined the pool")
	}
	frames.mu.Lock()
	defer frames.mu.Unlock()
	for _, b := range append(e.fcache.s, frames.free...) {
		if cap(b) != frameSlot || len(b) != 0 {
			t.Fatalf("a slot of cap %d len %d in the pool", cap(b), len(b))
		}
	}
}
