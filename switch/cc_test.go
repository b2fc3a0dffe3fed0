package ibswitch_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/capture/capturetest"
	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// ccFabric is a SwitchX-2 (a model with a CC agent) with CAs A (LID 1,
// port 1), B (LID 2, port 2) and C (LID 3, port 3), on the clock opts
// choose.
func ccFabric(t *testing.T, opts ...emu.Option) (*testFabric, *ibswitch.Switch, *testCA, *testCA, *testCA) {
	t.Helper()
	tf := &testFabric{t: t, f: emu.New(opts...), cas: map[string]*testCA{}}
	s := tf.addSwitch(4, "SwitchX-2")
	a, b, c := tf.addCA("A", 1), tf.addCA("B", 2), tf.addCA("C", 3)
	for i, ca := range []*testCA{a, b, c} {
		tf.connect(ca.port(), s.Node().Port(i+1))
		must(t, s.SetRoute(ca.lid, uint8(i+1)))
	}
	must(t, s.SetLinearFDBTop(3))
	must(t, s.SetLID(10, 0))
	tf.start()
	tf.activate()
	return tf, s, a, b, c
}

// ccSet sends a CC Set of attr (data written by fill) to the switch's
// agent through port 0, as a manager's MAD reaches it. Call it on the
// event loop.
func ccSet(t *testing.T, s *ibswitch.Switch, attr wire.AttrID, fill func([]byte)) {
	t.Helper()
	m := wire.CCMAD(make([]byte, wire.MADSize))
	m.Encode(&wire.CCMADFields{Method: wire.MethodSet, TID: 7, AttrID: attr})
	fill(m.AttrData(attr))
	resp, ok := s.CC().Process(s.Node().Port(0), &agent.Addr{SLID: 1, DLID: 10}, wire.MAD(m))
	if !ok || resp.Status() != wire.MADStatusOK {
		t.Fatalf("cc set %v: answered %v", attr, ok)
	}
}

func setSwitchCC(t *testing.T, s *ibswitch.Switch, f wire.SwitchCongestionSettingFields) {
	t.Helper()
	ccSet(t, s, wire.AttrSwitchCongestionSetting, func(b []byte) { wire.SwitchCongestionSetting(b).Encode(&f) })
}

// ccIncast has A and C send n frames of size payload bytes each to B at
// the same instant, so that they queue at the switch's port 2, and
// returns what B received and the frames as they were sent (in the order
// they left A and C, interleaved by arrival at B is not assumed).
func ccIncast(t *testing.T, tf *testFabric, a, b, c *testCA, n, size int) (got [][]byte, sent map[uint32][]byte) {
	t.Helper()
	sent = map[uint32][]byte{}
	tf.do(func() {
		for i := range n {
			for k, src := range []*testCA{a, c} {
				seq := uint32(2*i + k)
				f := dataFrame(t, src.lid, b.lid, 0, 0xFFFF, seq, size)
				sent[seq] = append([]byte(nil), f...)
				src.port().Send(f)
			}
		}
	})
	tf.settle()
	return tf.take(b), sent
}

// marks counts the frames of got with FECN set and checks that every
// frame is the one sent, byte for byte, but for FECN and the VCRC, and
// that its CRCs hold (the ICRC covers BTH byte 4 as ones, IBTA Vol 1
// §7.8.1, so marking needs no new ICRC).
func marks(t *testing.T, got [][]byte, sent map[uint32][]byte) int {
	t.Helper()
	n := 0
	for _, f := range got {
		seq := frameSeq(t, f) // checks the CRCs too
		want := sent[seq]
		bth := wire.BTH(f[wire.LRHSize:])
		if bth.FECN() {
			n++
			w := append([]byte(nil), want...)
			wire.BTH(w[wire.LRHSize:]).SetFECN(true)
			wire.ResealVCRC(w)
			want = w
		}
		if !bytes.Equal(f, want) {
			t.Fatalf("frame %d: % x, want % x", seq, f[:24], want[:24])
		}
	}
	return n
}

// TestCCThresholdDepth: Threshold 1..15 map to fifteen sixteenths down
// to a sixteenth of the port buffer, 15 (the most aggressive) to one
// 4 KiB packet.
func TestCCThresholdDepth(t *testing.T) {
	for thr, want := range map[uint8]int{0: ibswitch.PortBuffer, 1: 61440, 8: 32768, 10: 24576, 15: 4096} {
		if got := ibswitch.ThresholdDepth(thr); got != want {
			t.Errorf("ThresholdDepth(%d) = %d, want %d", thr, got, want)
		}
	}
}

// TestCCMarking: with congestion control on, the frames that leave port
// 2 while its queue is past the threshold carry FECN, at the marking
// rate, only from Packet_Size up; the CongestionLog lists them and the
// congested time is counted. Off (Threshold 0, or a port setting that
// turns the port off), nothing is marked.
func TestCCMarking(t *testing.T) {
	const n, size = 12, 1000
	run := func(t *testing.T, setup func(*testing.T, *ibswitch.Switch)) (int, [][]byte, *ibswitch.Switch, *testFabric) {
		tf, s, a, b, c := ccFabric(t)
		tf.do(func() { setup(t, s) })
		got, sent := ccIncast(t, tf, a, b, c, n, size)
		if len(got) != 2*n {
			t.Fatalf("B got %d frames, want %d", len(got), 2*n)
		}
		m := marks(t, got, sent)
		var st ibswitch.CCStats
		tf.do(func() { st = s.CCStats() })
		if st.Marked != uint64(m) {
			t.Errorf("switch counted %d marks, B got %d", st.Marked, m)
		}
		return m, got, s, tf
	}
	all := wire.SwitchCongestionSettingFields{ControlMap: wire.SwitchCongestionControlMapAll, Threshold: 15}

	eligible, got, s, tf := run(t, func(t *testing.T, s *ibswitch.Switch) { setSwitchCC(t, s, all) })
	// Two links' worth into one: the queue grows by a frame per frame
	// time, so all but the first few frames find more than 4 KiB ahead.
	if eligible < n || eligible >= 2*n {
		t.Fatalf("threshold 15: %d of %d frames marked", eligible, 2*n)
	}
	for _, f := range got[:3] {
		if wire.BTH(f[wire.LRHSize:]).FECN() {
			t.Errorf("frame %d marked with the queue still short", frameSeq(t, f))
		}
	}
	// The CongestionLog, read as ibccquery reads it: the last 15 events,
	// every one counted, port 2 in the PortMap; reading clears it.
	var log wire.CongestionLog
	tf.do(func() {
		m := wire.CCMAD(make([]byte, wire.MADSize))
		m.Encode(&wire.CCMADFields{Method: wire.MethodGet, TID: 9, AttrID: wire.AttrCongestionLog})
		resp, _ := s.CC().Process(s.Node().Port(0), &agent.Addr{SLID: 1, DLID: 10}, wire.MAD(m))
		log = wire.CongestionLog(wire.CCMAD(resp).AttrData(wire.AttrCongestionLog))
	})
	if int(log.LogEventsCounter()) != eligible || log.PortMap()[31] != 1<<2 {
		t.Errorf("log: counter %d (want %d), port map byte 31 %#x", log.LogEventsCounter(), eligible, log.PortMap()[31])
	}
	for i := range min(eligible, wire.CongestionLogSwitchEntries) {
		ev := log.SwitchEvent(i).Fields()
		if ev.DLID != 2 || (ev.SLID != 1 && ev.SLID != 3) || ev.SL != 0 {
			t.Errorf("log entry %d: %+v", i, ev)
		}
	}
	// The congested time, in PMA sample ticks, on VL 0.
	tf.do(func() {
		d := s.Node().Port(2).Counters.Details()
		tc := d.Optional().XmitTimeCong.Load()
		if tc == 0 || d.Optional().VLXmitTimeCong[0].Load() != tc || d.Optional().SwPortVLCongestion[0].Load() != tc {
			t.Errorf("congestion time: port %d, VL0 %d, SwPortVLCongestion VL0 %d", tc, d.Optional().VLXmitTimeCong[0].Load(), d.Optional().SwPortVLCongestion[0].Load())
		}
		if o := s.Node().Port(1).Counters.Details().Optional().XmitTimeCong.Load(); o != 0 {
			t.Errorf("port 1 (never congested) counted %d", o)
		}
	})

	t.Run("MarkingRate", func(t *testing.T) {
		r := all
		r.MarkingRate = 2
		m, _, _, _ := run(t, func(t *testing.T, s *ibswitch.Switch) { setSwitchCC(t, s, r) })
		if m != eligible/3 {
			t.Errorf("marking rate 2: %d marks of %d eligible, want one in three (%d)", m, eligible, eligible/3)
		}
	})
	t.Run("PacketSize", func(t *testing.T) {
		r := all
		r.PacketSize = uint8((size+100)/64 + 1) // credits: just above the frames' length
		m, _, _, _ := run(t, func(t *testing.T, s *ibswitch.Switch) { setSwitchCC(t, s, r) })
		if m != 0 {
			t.Errorf("packet size above the frames: %d marked", m)
		}
		r.PacketSize = uint8(size / 64)
		if m, _, _, _ := run(t, func(t *testing.T, s *ibswitch.Switch) { setSwitchCC(t, s, r) }); m != eligible {
			t.Errorf("packet size below the frames: %d marked, want %d", m, eligible)
		}
	})
	t.Run("Off", func(t *testing.T) {
		if m, _, _, _ := run(t, func(t *testing.T, s *ibswitch.Switch) {}); m != 0 {
			t.Errorf("unconfigured: %d marked", m)
		}
		r := all
		r.Threshold = 0
		if m, _, _, _ := run(t, func(t *testing.T, s *ibswitch.Switch) { setSwitchCC(t, s, r) }); m != 0 {
			t.Errorf("threshold 0: %d marked", m)
		}
	})
	t.Run("PortSetting", func(t *testing.T) {
		// A valid port element overrides the switch-wide values: port 2
		// off while the switch marks, then port 2 on while it does not.
		port := func(p int, e wire.SwitchPortCongestionSettingElementFields) func(*testing.T, *ibswitch.Switch) {
			return func(t *testing.T, s *ibswitch.Switch) {
				setSwitchCC(t, s, all)
				ccSet(t, s, wire.AttrSwitchPortCongestionSetting, func(b []byte) {
					wire.SwitchPortCongestionSetting(b).Element(p).Encode(&e)
				})
			}
		}
		if m, _, _, _ := run(t, port(2, wire.SwitchPortCongestionSettingElementFields{Valid: true})); m != 0 {
			t.Errorf("port 2 threshold 0: %d marked", m)
		}
		if m, _, _, _ := run(t, port(1, wire.SwitchPortCongestionSettingElementFields{Valid: true})); m != eligible {
			t.Errorf("port 1 off, port 2 on: %d marked, want %d", m, eligible)
		}
		if m, _, _, _ := run(t, func(t *testing.T, s *ibswitch.Switch) {
			ccSet(t, s, wire.AttrSwitchPortCongestionSetting, func(b []byte) {
				wire.SwitchPortCongestionSetting(b).Element(2).Encode(&wire.SwitchPortCongestionSettingElementFields{
					Valid: true, Threshold: 15, MarkingRate: 1})
			})
		}); m != eligible/2 {
			t.Errorf("port 2 on alone at rate 1: %d marked, want %d", m, eligible/2)
		}
	})
}

// TestCCWallClockDoesNotMark: under the wall clock frames move at once
// and no output queue forms, so a configured switch marks nothing.
func TestCCWallClockDoesNotMark(t *testing.T) {
	tf, s, a, b, c := ccFabric(t, emu.WithWallClock())
	tf.do(func() {
		setSwitchCC(t, s, wire.SwitchCongestionSettingFields{ControlMap: wire.SwitchCongestionControlMapAll, Threshold: 15})
	})
	got, sent := ccIncast(t, tf, a, b, c, 12, 1000)
	if len(got) != 24 {
		t.Fatalf("B got %d frames", len(got))
	}
	if m := marks(t, got, sent); m != 0 {
		t.Errorf("wall clock: %d marked", m)
	}
}

// TestCCMarkedCaptureDecodes: frames marked on the way decode cleanly in
// tshark with the CRC-checking post-dissector (FECN is ICRC-variant, the
// VCRC resealed).
func TestCCMarkedCaptureDecodes(t *testing.T) {
	path := capturetest.Path(t, "ccmark.pcap")
	w, err := capture.Create(path)
	must(t, err)
	tf, s, a, b, c := ccFabric(t)
	tf.do(func() {
		setSwitchCC(t, s, wire.SwitchCongestionSettingFields{ControlMap: wire.SwitchCongestionControlMapAll, Threshold: 15})
		tf.f.AddTap(w)
	})
	got, sent := ccIncast(t, tf, a, b, c, 8, 700)
	tf.do(func() { tf.f.RemoveTap(w) })
	must(t, w.Close())
	if m := marks(t, got, sent); m == 0 {
		t.Fatal("nothing marked")
	}
	if out := capturetest.Check(t, path); !strings.HasPrefix(out, "OK:") {
		t.Fatalf("ib-capture-check: %s", out)
	}
}

// FuzzCCMark relays any frame, sixteen times at one instant so that the
// egress port's queue passes the threshold, through a SwitchX-2 that
// marks: the marking path must never panic, and a frame it relays keeps
// valid CRCs when it came with them.
func FuzzCCMark(f *testing.F) {
	f.Add(dataFrame(f, 1, 2, 0, 0xFFFF, 1, 300))
	f.Add(dataFrame(f, 3, 2, 5, 0xFFFF, 1, 4000))
	f.Add([]byte{0xF0, 0x02, 0, 2, 0, 5, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		tf, s, a, b, _ := ccFabric(t)
		tf.do(func() {
			setSwitchCC(t, s, wire.SwitchCongestionSettingFields{ControlMap: wire.SwitchCongestionControlMapAll, Threshold: 15})
			for range 16 {
				s.HandlePacket(a.port(), append([]byte(nil), frame...))
			}
		})
		tf.settle()
		for _, g := range tf.take(b) {
			if wire.CheckPacket(frame) == nil && wire.CheckPacket(g) != nil {
				t.Fatalf("relayed frame lost its CRCs: % x", g)
			}
		}
	})
}
