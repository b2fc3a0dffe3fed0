package verbs

import (
	"bytes"
	"testing"
	"unsafe"

	"github.com/ibemu/ibemu/emu/wire"
)

// TestFramePayloadAligned checks that a frame from the pool places the
// payload of every packet layout the engine sends on a 16-byte boundary
// (the copies into and out of frames depend on it), that headerLen agrees
// with the wire codec, and that a frame handed back maps to its whole
// slot again.
func TestFramePayloadAligned(t *testing.T) {
	imm := uint32(7)
	payload := bytes.Repeat([]byte{0xA5}, 4096)
	layouts := []wire.PacketFields{
		{BTH: wire.BTHFields{OpCode: wire.OpRCRDMAWriteMiddle}, Payload: payload},
		{BTH: wire.BTHFields{OpCode: wire.OpRCRDMAWriteFirst}, RETH: &wire.RETHFields{DMALen: 8192}, Payload: payload},
		{BTH: wire.BTHFields{OpCode: wire.OpRCRDMAWriteLastImm}, ImmDt: &imm, Payload: payload[:100]},
		{BTH: wire.BTHFields{OpCode: wire.OpRCRDMAReadResponseFirst}, AETH: &wire.AETHFields{}, Payload: payload},
		{BTH: wire.BTHFields{OpCode: wire.OpUDSendOnly}, DETH: &wire.DETHFields{QKey: 1}, Payload: payload[:256]},
		{GRH: &wire.GRHFields{HopLmt: 1}, BTH: wire.BTHFields{OpCode: wire.OpUDSendOnlyImm}, DETH: &wire.DETHFields{QKey: 1}, ImmDt: &imm, Payload: payload[:64]},
		{BTH: wire.BTHFields{OpCode: wire.OpRCSendOnly}, Payload: payload[:8]},
	}
	e := &Engine{fcache: &slotCache{}}
	for round := 0; round < 100; round++ {
		for i := range layouts {
			f := &layouts[i]
			f.LRH = wire.LRHFields{DLID: 2, SLID: 1}
			hdr := headerLen(f)
			frame, err := wire.AppendPacketUnsealed(e.getFrame(hdr), f)
			if err != nil {
				t.Fatalf("layout %d: %v", i, err)
			}
			pkt, err := wire.ParsePacket(frame)
			if err != nil {
				t.Fatalf("layout %d: %v", i, err)
			}
			if got := len(frame) - len(pkt.Payload) - wire.ICRCSize - wire.VCRCSize; got != hdr && !(f.Payload != nil && len(f.Payload)%4 != 0) {
				t.Fatalf("layout %d: headerLen %d, the codec wrote %d header bytes", i, hdr, got)
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
