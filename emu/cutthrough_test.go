package emu_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// vlFrame is rawFrame on virtual lane vl.
func vlFrame(vl uint8, seq uint32) []byte {
	b := rawFrame(2, seq, 8)
	wire.LRH(b).Encode(&wire.LRHFields{VL: vl, LNH: wire.LNHRaw, DLID: 2, SLID: 1, PktLen: uint16((wire.LRHSize + 8) / 4)})
	if err := wire.SealPacket(b); err != nil {
		panic(err)
	}
	return b
}

// relay passes every frame arriving on port 1 out of port 2, after first
// sending the frames of extra, and writes to log what happened when.
type relay struct {
	log   *[]string
	extra [][]byte
}

func (r *relay) HandlePacket(p *emu.Port, frame []byte) {
	if p.Num() != 1 {
		return
	}
	out := p.Node().Port(2)
	for _, x := range r.extra {
		out.Send(x)
	}
	out.Send(frame)
	*r.log = append(*r.log, fmt.Sprintf("relayed %d", binary.BigEndian.Uint32(frame[wire.LRHSize:])))
}

// sink logs what arrives.
type sink struct{ log *[]string }

func (s *sink) HandlePacket(_ *emu.Port, frame []byte) {
	*s.log = append(*s.log, fmt.Sprintf("got %d", binary.BigEndian.Uint32(frame[wire.LRHSize:])))
}

// chain builds a -> b (relay) -> c (sink) on the wall clock and starts it.
func chain(t *testing.T, opts ...emu.Option) (*emu.Fabric, *emu.Port, *relay, *[]string) {
	t.Helper()
	log := new([]string)
	rl := &relay{log: log}
	f, a := threeNodes(t, rl, log, opts...)
	return f, a, rl, log
}

// threeNodes builds a (a sink that keeps no log) -> b (the switch dev) ->
// c (a sink logging to log), on the wall clock unless opts say otherwise,
// starts it and returns a's port.
func threeNodes(t *testing.T, dev emu.Device, log *[]string, opts ...emu.Option) (*emu.Fabric, *emu.Port) {
	t.Helper()
	f := emu.New(append([]emu.Option{emu.WithWallClock()}, opts...)...)
	cfg := emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: wire.SpeedQDR}
	a, err := f.AddNode("a", wire.NodeTypeCA, 1, &sink{log: new([]string)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.AddNode("b", wire.NodeTypeSwitch, 2, dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.AddNode("c", wire.NodeTypeCA, 1, &sink{log: log}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Connect(a.Port(1), b.Port(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Connect(b.Port(2), c.Port(1)); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f, a.Port(1)
}

// waitLog waits until the log has n entries and returns a copy.
func waitLog(t *testing.T, f *emu.Fabric, log *[]string, n int) []string {
	t.Helper()
	for range 2000 {
		var got []string
		if err := f.Do(func() { got = slices.Clone(*log) }); err != nil {
			t.Fatal(err)
		}
		if len(got) >= n {
			return got
		}
	}
	t.Fatalf("log never reached %d entries", n)
	return nil
}

// TestCutThroughVL15: under the wall clock a management frame a device
// sends while it handles an arrival reaches the next device before the
// send returns; a data-VL frame goes through the event loop.
func TestCutThroughVL15(t *testing.T) {
	for _, tc := range []struct {
		vl   uint8
		want []string
	}{
		{15, []string{"got 1", "relayed 1"}},
		{0, []string{"relayed 1", "got 1"}},
	} {
		t.Run(fmt.Sprintf("vl%d", tc.vl), func(t *testing.T) {
			f, a, _, log := chain(t)
			if err := f.Do(func() { a.Send(vlFrame(tc.vl, 1)) }); err != nil {
				t.Fatal(err)
			}
			if got := waitLog(t, f, log, 2); !slices.Equal(got, tc.want) {
				t.Errorf("log %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCutThroughKeepsLinkOrder: a management frame does not cut through
// while a frame sent before it on the same link is still queued.
func TestCutThroughKeepsLinkOrder(t *testing.T) {
	f, a, rl, log := chain(t)
	rl.extra = [][]byte{vlFrame(0, 7)}
	if err := f.Do(func() { a.Send(vlFrame(15, 1)) }); err != nil {
		t.Fatal(err)
	}
	want := []string{"relayed 1", "got 7", "got 1"}
	if got := waitLog(t, f, log, 3); !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
}

// TestCutThroughOnlyWallClock: under the virtual clock every hop takes
// its link's time, so nothing cuts through.
func TestCutThroughOnlyWallClock(t *testing.T) {
	f, a, _, log := chain(t, emu.WithVirtualClock())
	if err := f.Do(func() { a.Send(vlFrame(15, 1)) }); err != nil {
		t.Fatal(err)
	}
	want := []string{"relayed 1", "got 1"}
	if got := waitLog(t, f, log, 2); !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
}

// TestCutThroughFunc: frames sent inside Fabric.CutThrough cut through
// from the first hop, so the whole relay happens before it returns.
func TestCutThroughFunc(t *testing.T) {
	f, a, _, log := chain(t)
	var during []string
	if err := f.Do(func() {
		f.CutThrough(func() { a.Send(vlFrame(15, 1)) })
		during = slices.Clone(*log)
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{"got 1", "relayed 1"}
	if !slices.Equal(during, want) {
		t.Errorf("log when CutThrough returned %q, want %q", during, want)
	}
}
