package emu_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// offloader records frames with their sealed flag (emu.CRCOffloader).
type offloader struct {
	frames [][]byte
	sealed []bool
}

func (o *offloader) HandlePacket(p *emu.Port, frame []byte) { o.HandleFrame(p, frame, true) }

func (o *offloader) HandleFrame(_ *emu.Port, frame []byte, sealed bool) {
	o.frames = append(o.frames, append([]byte(nil), frame...))
	o.sealed = append(o.sealed, sealed)
}

// frameTap keeps a copy of every frame a tap sees.
type frameTap struct{ frames [][]byte }

func (t *frameTap) TapPacket(_ time.Time, _ *emu.Port, frame []byte) {
	t.frames = append(t.frames, append([]byte(nil), frame...))
}

// udFrame builds a UD SEND frame, sealed or not.
func udFrame(t *testing.T, seal bool, payload byte) []byte {
	t.Helper()
	f := wire.PacketFields{
		LRH:     wire.LRHFields{DLID: 2, SLID: 1},
		BTH:     wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: 0xFFFF, DestQP: 5, PSN: 7},
		DETH:    &wire.DETHFields{QKey: 0x11, SrcQP: 9},
		Payload: bytes.Repeat([]byte{payload}, 100),
	}
	build := wire.AppendPacket
	if !seal {
		build = wire.AppendPacketUnsealed
	}
	b, err := build(nil, &f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// offloadPair joins a sender to a receiver device dev.
func offloadPair(t *testing.T, dev emu.Device, opts ...emu.Option) (*emu.Fabric, *emu.Port, *emu.Port) {
	t.Helper()
	f := emu.New(opts...)
	cfg := emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: wire.SpeedQDR}
	a, err := f.AddNode("a", wire.NodeTypeCA, 1, &recorder{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.AddNode("b", wire.NodeTypeCA, 1, dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Connect(a.Port(1), b.Port(1)); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return f, a.Port(1), b.Port(1)
}

func TestUnsealedFrameReachesOffloaderUnsealed(t *testing.T) {
	o := &offloader{}
	f, a, b := offloadPair(t, o)
	f.Do(func() { a.SendUnsealed(udFrame(t, false, 1)) })
	waitFor(t, f, func() bool { return b.Counters.RcvPkts.Load() == 1 })
	f.Do(func() {
		if len(o.frames) != 1 || o.sealed[0] {
			t.Fatalf("offloader got %d frames, sealed %v; want 1 unsealed", len(o.frames), o.sealed)
		}
		if want := udFrame(t, false, 1); !bytes.Equal(o.frames[0], want) {
			t.Errorf("unsealed frame changed in flight")
		}
	})
}

func TestUnsealedFrameIsSealedForOthers(t *testing.T) {
	for _, tc := range []struct {
		name string
		dev  func() (emu.Device, func() [][]byte)
		opts []emu.Option
		tap  bool
	}{
		{name: "plain device", dev: func() (emu.Device, func() [][]byte) {
			r := &rawRecorder{}
			return r, func() [][]byte { return r.frames }
		}},
		{name: "offloader with a tap", tap: true, dev: func() (emu.Device, func() [][]byte) {
			o := &offloader{}
			return o, func() [][]byte { return o.frames }
		}},
		{name: "offloader in strict mode", opts: []emu.Option{emu.WithCRCCheck(true)}, dev: func() (emu.Device, func() [][]byte) {
			o := &offloader{}
			return o, func() [][]byte { return o.frames }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev, got := tc.dev()
			f := emu.New(tc.opts...)
			tap := &frameTap{}
			if tc.tap {
				f.AddTap(tap)
			}
			cfg := emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: wire.SpeedQDR}
			an, _ := f.AddNode("a", wire.NodeTypeCA, 1, &recorder{}, cfg)
			bn, _ := f.AddNode("b", wire.NodeTypeCA, 1, dev, cfg)
			if _, err := f.Connect(an.Port(1), bn.Port(1)); err != nil {
				t.Fatal(err)
			}
			if err := f.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer f.Stop()
			f.Do(func() { an.Port(1).SendUnsealed(udFrame(t, false, 2)) })
			waitFor(t, f, func() bool { return bn.Port(1).Counters.RcvPkts.Load() == 1 })
			want := udFrame(t, true, 2)
			f.Do(func() {
				frames := got()
				if len(frames) != 1 || !bytes.Equal(frames[0], want) {
					t.Fatalf("receiver got %d frames, want the eagerly sealed frame", len(frames))
				}
				if err := wire.CheckPacket(frames[0]); err != nil {
					t.Errorf("received frame: %v", err)
				}
				if tc.tap && (len(tap.frames) != 1 || !bytes.Equal(tap.frames[0], want)) {
					t.Errorf("tap saw %d frames, want the eagerly sealed frame", len(tap.frames))
				}
				if o, ok := dev.(*offloader); ok && !o.sealed[0] {
					t.Errorf("offloader was told the frame is unsealed")
				}
			})
		})
	}
}

func TestCorruptedUnsealedFrameFailsVCRC(t *testing.T) {
	o := &offloader{}
	f, a, b := offloadPair(t, o, emu.WithSeed(3))
	a.SetCorruptRate(1)
	f.Do(func() {
		for i := range 20 {
			a.SendUnsealed(udFrame(t, false, byte(i)))
		}
	})
	waitFor(t, f, func() bool { return b.Counters.RcvErrors.Load() == 20 })
	f.Do(func() {
		if len(o.frames) != 0 {
			t.Errorf("offloader got %d corrupted frames", len(o.frames))
		}
	})
}

// rawRecorder keeps copies of whole frames (a device without offload).
type rawRecorder struct{ frames [][]byte }

func (r *rawRecorder) HandlePacket(_ *emu.Port, frame []byte) {
	r.frames = append(r.frames, append([]byte(nil), frame...))
}

// TestSetFrameHandlerRedirectsArrivals puts a second handler in front of
// a node's device, checks that arriving frames reach it (and not the
// device), that a link made afterwards uses it too, and that nil gives
// the frames back to the device.
func TestSetFrameHandlerRedirectsArrivals(t *testing.T) {
	dev, front := &offloader{}, &offloader{}
	f := emu.New()
	cfg := emu.PortConfig{WidthSupported: uint8(wire.Width4X), SpeedSupported: wire.SpeedQDR}
	an, err := f.AddNode("a", wire.NodeTypeCA, 1, &recorder{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cn, err := f.AddNode("c", wire.NodeTypeCA, 1, &recorder{}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	bn, err := f.AddNode("b", wire.NodeTypeCA, 2, dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Connect(an.Port(1), bn.Port(1)); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	rcv := func(n uint64) func() bool {
		return func() bool { return bn.Port(1).Counters.RcvPkts.Load()+bn.Port(2).Counters.RcvPkts.Load() == n }
	}
	f.Do(func() { bn.SetFrameHandler(front) })
	f.Do(func() { an.Port(1).Send(udFrame(t, true, 1)) })
	waitFor(t, f, rcv(1))
	// A link made after the handler was set hands its frames to it too.
	f.Do(func() {
		if _, err := f.Connect(cn.Port(1), bn.Port(2)); err != nil {
			t.Error(err)
		}
	})
	waitFor(t, f, func() bool {
		var up bool
		f.Do(func() { up = cn.Port(1).IsUp() && bn.Port(2).IsUp() })
		return up
	})
	f.Do(func() { cn.Port(1).Send(udFrame(t, true, 2)) })
	waitFor(t, f, rcv(2))
	f.Do(func() { bn.SetFrameHandler(nil) })
	f.Do(func() { an.Port(1).Send(udFrame(t, true, 3)) })
	waitFor(t, f, rcv(3))
	f.Do(func() {
		if len(front.frames) != 2 || front.frames[0][len(front.frames[0])-1] == 0 {
			t.Errorf("front handler got %d frames, want 2", len(front.frames))
		}
		if len(dev.frames) != 1 {
			t.Fatalf("device got %d frames, want 1 (after the handler was removed)", len(dev.frames))
		}
		if want := udFrame(t, true, 3); !bytes.Equal(dev.frames[0], want) {
			t.Errorf("device got the wrong frame")
		}
	})
}
