package mad_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// tableServer answers every GetTable (and GetMulti) with n bytes of
// records, as an SA GetTableResp sent with RMPP.
func tableServer(t *testing.T, s *sim, n int, o mad.Options) *mad.Agent {
	server := newAgent(t, s.port(serverLID), saReg, o)
	server.Serve(func(r *mad.Received) {
		resp := saMAD(wire.MAD(r.MAD).Method().Response(), wire.MAD(r.MAD).AttrID(), pattern(n, r.MAD[wire.SADataOffset]))
		if len(resp) > n+wire.SADataOffset {
			resp = resp[:n+wire.SADataOffset]
		}
		h := wire.MAD(resp).RMPPHeader()
		h.SetVersion(wire.RMPPVersion)
		h.SetType(wire.RMPPTypeData)
		h.SetFlags(wire.RMPPFlagActive)
		if err := r.Respond(resp); err != nil {
			t.Errorf("Respond: %v", err)
		}
	})
	return server
}

func saClient(t *testing.T, s *sim, o mad.Options) *mad.Agent {
	return newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2, RMPP: true}, o)
}

func isRMPP(typ wire.RMPPType) func(p simPacket) bool {
	return func(p simPacket) bool {
		h := wire.MAD(p.mad).RMPPHeader()
		return h.IsActive() && h.Type() == typ
	}
}

func TestRMPPResponseSegmentsAndReassembly(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		records                   int
		segs                      int
		firstPaylen, lastPaylen   uint32
		wantFirstFlags, lastFlags wire.RMPPFlags
	}{
		// 450 bytes: 3 segments of 200, pad 150 (protocols.md §0.5).
		{"three", 450, 3, 3*220 - 150, 220 - 150, wire.RMPPFlagActive | wire.RMPPFlagFirst, wire.RMPPFlagActive | wire.RMPPFlagLast},
		{"five full", 1000, 5, 5 * 220, 220, wire.RMPPFlagActive | wire.RMPPFlagFirst, wire.RMPPFlagActive | wire.RMPPFlagLast},
		{"single", 120, 1, 220 - 80, 220 - 80, wire.RMPPFlagActive | wire.RMPPFlagFirst | wire.RMPPFlagLast, wire.RMPPFlagActive | wire.RMPPFlagFirst | wire.RMPPFlagLast},
		{"empty table", 0, 1, 20, 20, wire.RMPPFlagActive | wire.RMPPFlagFirst | wire.RMPPFlagLast, wire.RMPPFlagActive | wire.RMPPFlagFirst | wire.RMPPFlagLast},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t)
			client := saClient(t, s, mad.Options{})
			tableServer(t, s, tc.records, mad.Options{})
			req := saMAD(wire.MethodGetTable, wire.AttrNodeRecord, []byte{0x40})
			r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: req}))
			if r.Err != nil {
				t.Fatalf("result: %v", r.Err)
			}
			if len(r.MAD) != wire.SADataOffset+tc.records {
				t.Fatalf("message of %d bytes, want %d", len(r.MAD), wire.SADataOffset+tc.records)
			}
			if !bytes.Equal(r.MAD[wire.SADataOffset:], pattern(tc.records, 0x40)) {
				t.Errorf("reassembled records differ")
			}
			if m := wire.MAD(r.MAD); m.Method() != wire.MethodGetTableResp || m.AttrID() != wire.AttrNodeRecord {
				t.Errorf("message header %s %s", m.Method(), m.AttrID())
			}
			data := s.packets(func(p simPacket) bool { return p.from == serverLID && isRMPP(wire.RMPPTypeData)(p) })
			if len(data) != tc.segs {
				t.Fatalf("%d DATA segments, want %d", len(data), tc.segs)
			}
			for i, p := range data {
				typ, flags, seg, paylen, st := rmppInfo(p.mad)
				want := wire.RMPPFlagActive
				var wantLen uint32
				if i == 0 {
					want, wantLen = tc.wantFirstFlags, tc.firstPaylen
				}
				if i == tc.segs-1 {
					want, wantLen = tc.lastFlags, tc.lastPaylen
				}
				if typ != wire.RMPPTypeData || flags != want || seg != uint32(i+1) || paylen != wantLen || st != 0 {
					t.Errorf("segment %d: %s %s seg %d paylen %d status %d; want DATA %s seg %d paylen %d",
						i+1, typ, flags, seg, paylen, st, want, i+1, wantLen)
				}
				if wire.MAD(p.mad).TID() != wire.MAD(req).TID() || wire.MAD(p.mad).Method() != wire.MethodGetTableResp {
					t.Errorf("segment %d: TID %#x method %s", i+1, wire.MAD(p.mad).TID(), wire.MAD(p.mad).Method())
				}
			}
			acks := s.packets(func(p simPacket) bool { return p.from == clientLID && isRMPP(wire.RMPPTypeAck)(p) })
			wantAcks := [][2]uint32{{1, 1 + mad.DefaultRMPPWindow}, {uint32(tc.segs), 1 + mad.DefaultRMPPWindow}}
			if tc.segs == 1 {
				wantAcks = [][2]uint32{{1, 1}}
			}
			if len(acks) != len(wantAcks) {
				t.Fatalf("%d ACKs, want %d", len(acks), len(wantAcks))
			}
			for i, p := range acks {
				_, flags, seg, win, _ := rmppInfo(p.mad)
				if seg != wantAcks[i][0] || win != wantAcks[i][1] || flags != wire.RMPPFlagActive {
					t.Errorf("ACK %d: seg %d newwin %d flags %s, want seg %d newwin %d Active", i, seg, win, flags, wantAcks[i][0], wantAcks[i][1])
				}
				if m := wire.MAD(p.mad); m.Method() != wire.MethodGetTable || m.TID() != wire.MAD(req).TID() {
					t.Errorf("ACK %d: method %s TID %#x: want GetTable with the transaction's TID", i, m.Method(), m.TID())
				}
			}
		})
	}
}

func TestRMPPWindowAcks(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{RMPPWindow: 8})
	tableServer(t, s, 40*200-13, mad.Options{})
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetTable, wire.AttrNodeRecord, []byte{7})}))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if !bytes.Equal(r.MAD[wire.SADataOffset:], pattern(40*200-13, 7)) {
		t.Errorf("reassembled records differ")
	}
	var got [][2]uint32
	for _, p := range s.packets(isRMPP(wire.RMPPTypeAck)) {
		_, _, seg, win, _ := rmppInfo(p.mad)
		got = append(got, [2]uint32{seg, win})
	}
	want := [][2]uint32{{1, 9}, {9, 17}, {17, 25}, {25, 33}, {33, 41}, {40, 41}}
	if !slices.Equal(got, want) {
		t.Errorf("ACKs (seg, newwin) %v, want %v", got, want)
	}
	// The sender never ran ahead of the window it was granted.
	var granted uint32 = 1
	for _, p := range s.log {
		typ, _, seg, win, _ := rmppInfo(p.mad)
		switch {
		case p.from == clientLID && typ == wire.RMPPTypeAck:
			granted = win
		case p.from == serverLID && typ == wire.RMPPTypeData && seg > granted:
			t.Fatalf("segment %d sent with window last %d", seg, granted)
		}
	}
}

func TestRMPPRequestSegmentsBothWays(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{})
	server := newAgent(t, s.port(serverLID), saReg, mad.Options{})
	var got []byte
	server.Serve(func(r *mad.Received) {
		got = slices.Clone(r.MAD)
		// Answer with a two-segment GetMultiResp.
		resp := saMAD(wire.MethodGetMultiResp, wire.AttrMultiPathRecord, pattern(300, 3))[:wire.SADataOffset+300]
		r.Respond(resp)
	})
	req := saMAD(wire.MethodGetMulti, wire.AttrMultiPathRecord, pattern(700, 9))
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: req}))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(got) != wire.SADataOffset+700 || !bytes.Equal(got[wire.SADataOffset:], pattern(700, 9)) {
		t.Fatalf("server got a %d-byte request; want the 756-byte message", len(got))
	}
	if wire.MAD(got).TID() != wire.MAD(req).TID() || wire.MAD(got).Method() != wire.MethodGetMulti {
		t.Errorf("reassembled request header: TID %#x method %s", wire.MAD(got).TID(), wire.MAD(got).Method())
	}
	if len(r.MAD) != wire.SADataOffset+300 || !bytes.Equal(r.MAD[wire.SADataOffset:], pattern(300, 3)) {
		t.Errorf("response of %d bytes", len(r.MAD))
	}
	reqSegs := s.packets(func(p simPacket) bool { return p.from == clientLID && isRMPP(wire.RMPPTypeData)(p) })
	if len(reqSegs) != 4 {
		t.Errorf("request went in %d segments, want 4", len(reqSegs))
	}
	// ACKs for the request come from the server with the response bit.
	for _, p := range s.packets(func(p simPacket) bool { return p.from == serverLID && isRMPP(wire.RMPPTypeAck)(p) }) {
		if wire.MAD(p.mad).Method() != wire.MethodGetMultiResp {
			t.Errorf("server ACK method %s, want GetMultiResp", wire.MAD(p.mad).Method())
		}
	}
}

func TestRMPPLostSegmentRetransmitted(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{})
	server := tableServer(t, s, 1000, mad.Options{RMPPAckTimeout: 50 * time.Millisecond})
	lost := false
	s.drop = func(from wire.LID, out mad.Outgoing) bool {
		typ, _, seg, _, _ := rmppInfo(out.MAD)
		if from == serverLID && typ == wire.RMPPTypeData && seg == 3 && !lost {
			lost = true
			return true
		}
		return false
	}
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetTable, wire.AttrNodeRecord, []byte{1})}))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if !bytes.Equal(r.MAD[wire.SADataOffset:], pattern(1000, 1)) {
		t.Errorf("reassembled records differ")
	}
	if st := server.Stats(); st.RMPPRetransmits != 1 || st.RMPPAborts != 0 {
		t.Errorf("server stats %+v: want 1 retransmitted window", st)
	}
	var segs []uint32
	for _, p := range s.packets(func(p simPacket) bool { return p.from == serverLID && isRMPP(wire.RMPPTypeData)(p) }) {
		_, _, seg, _, _ := rmppInfo(p.mad)
		segs = append(segs, seg)
	}
	// 1, then 2-5 with 3 lost, then after the ACK timeout 2-5 again.
	if want := []uint32{1, 2, 3, 4, 5, 2, 3, 4, 5}; !slices.Equal(segs, want) {
		t.Errorf("segments sent %v, want %v", segs, want)
	}
}

func TestRMPPLostAckRecovered(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{})
	server := tableServer(t, s, 600, mad.Options{RMPPAckTimeout: 50 * time.Millisecond})
	acksLost := 0
	s.drop = func(from wire.LID, out mad.Outgoing) bool {
		typ, _, _, _, _ := rmppInfo(out.MAD)
		if from == clientLID && typ == wire.RMPPTypeAck && acksLost < 2 {
			acksLost++ // the first ACK and, after the resend, its repeat
			return true
		}
		return false
	}
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetTable, wire.AttrNodeRecord, []byte{2})}))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if !bytes.Equal(r.MAD[wire.SADataOffset:], pattern(600, 2)) {
		t.Errorf("reassembled records differ")
	}
	if st := server.Stats(); st.RMPPRetransmits != 2 {
		t.Errorf("server retransmitted %d windows, want 2", st.RMPPRetransmits)
	}
	// The final ACK also reached the server: its transfer is complete, so
	// it no longer retransmits.
	s.drain()
	if st := server.Stats(); st.RMPPRetransmits != 2 || st.RMPPAborts != 0 {
		t.Errorf("after drain: %+v", st)
	}
}

// rawPeer is a scripted RMPP peer: it sees every MAD for its endpoint and
// sends what the test tells it to.
type rawPeer struct {
	s   *sim
	ep  mad.Endpoint
	got []mad.Incoming
	on  func(in mad.Incoming)
}

func newRawPeer(t *testing.T, s *sim, lid wire.LID, reg mad.Registration) *rawPeer {
	p := &rawPeer{s: s}
	ep, err := s.port(lid).Register(reg, func(in mad.Incoming) {
		p.got = append(p.got, in)
		if p.on != nil {
			p.on(in)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	p.ep = ep
	return p
}

func (p *rawPeer) send(to mad.Addr, m []byte) {
	if err := p.ep.Send(mad.Outgoing{Addr: to, MAD: m}); err != nil {
		p.s.t.Fatal(err)
	}
}

// segmentFor builds RMPP packet bytes answering or continuing request req.
func segmentFor(req []byte, method wire.Method, typ wire.RMPPType, flags wire.RMPPFlags, st wire.RMPPStatus, d1, d2 uint32) []byte {
	b := make([]byte, wire.MADSize)
	copy(b, req[:wire.SADataOffset])
	wire.MAD(b).SetMethod(method)
	wire.MAD(b).RMPPHeader().Encode(&wire.RMPPHeaderFields{Version: 1, Type: typ, Flags: flags, Status: st, Data1: d1, Data2: d2})
	return b
}

func TestRMPPAbortFromSenderFailsCall(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{})
	peer := newRawPeer(t, s, serverLID, saReg)
	toClient := mad.Addr{LID: clientLID, QPN: 1}
	peer.on = func(in mad.Incoming) {
		m := wire.MAD(in.MAD)
		switch {
		case m.Method() == wire.MethodGetTable && !m.RMPPHeader().IsActive():
			peer.send(toClient, segmentFor(in.MAD, wire.MethodGetTableResp, wire.RMPPTypeData, wire.RMPPFlagActive|wire.RMPPFlagFirst, 0, 1, 3*220))
		case m.RMPPHeader().Type() == wire.RMPPTypeAck:
			peer.send(toClient, segmentFor(in.MAD, wire.MethodGetTableResp, wire.RMPPTypeAbort, wire.RMPPFlagActive, wire.RMPPStatusUnspecified, 0, 0))
		}
	}
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetTable, wire.AttrNodeRecord, nil)}))
	var re *mad.RMPPError
	if !errors.As(r.Err, &re) || !errors.Is(r.Err, mad.ErrRMPP) || !re.Remote || re.Type != wire.RMPPTypeAbort || re.Status != wire.RMPPStatusUnspecified {
		t.Fatalf("error %v, want a remote ABORT (unspecified)", r.Err)
	}
	if client.Outstanding() != 0 {
		t.Errorf("aborted call still outstanding")
	}
}

func TestRMPPStopFromReceiverFailsCall(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{})
	peer := newRawPeer(t, s, serverLID, saReg)
	peer.on = func(in mad.Incoming) {
		if typ, _, seg, _, _ := rmppInfo(in.MAD); typ == wire.RMPPTypeData && seg == 1 {
			peer.send(in.Addr.ReplyAddr(), segmentFor(in.MAD, wire.MethodGetMultiResp, wire.RMPPTypeStop, wire.RMPPFlagActive, wire.RMPPStatusResourcesExhausted, 0, 0))
		}
	}
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetMulti, wire.AttrMultiPathRecord, pattern(900, 1))}))
	var re *mad.RMPPError
	if !errors.As(r.Err, &re) || !re.Remote || re.Type != wire.RMPPTypeStop || re.Status != wire.RMPPStatusResourcesExhausted {
		t.Fatalf("error %v, want a remote STOP (resources exhausted)", r.Err)
	}
	if n := len(s.packets(func(p simPacket) bool { return p.from == clientLID && isRMPP(wire.RMPPTypeData)(p) })); n != 1 {
		t.Errorf("client sent %d segments; the STOP should have ended the transfer after 1", n)
	}
}

func TestRMPPSenderAbortsAfterRetries(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{Retries: 2, RMPPAckTimeout: 10 * time.Millisecond})
	newRawPeer(t, s, serverLID, saReg) // never ACKs
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetMulti, wire.AttrMultiPathRecord, pattern(500, 1))}))
	var re *mad.RMPPError
	if !errors.As(r.Err, &re) || re.Remote || re.Type != wire.RMPPTypeAbort || re.Status != wire.RMPPStatusTooManyRetries {
		t.Fatalf("error %v, want a local ABORT (too many retries)", r.Err)
	}
	segs := s.packets(func(p simPacket) bool { return p.from == clientLID && isRMPP(wire.RMPPTypeData)(p) })
	if len(segs) != 3 {
		t.Errorf("segment 1 sent %d times, want 3 (1 + 2 retries)", len(segs))
	}
	aborts := s.packets(func(p simPacket) bool { return p.from == clientLID && isRMPP(wire.RMPPTypeAbort)(p) })
	if len(aborts) != 1 {
		t.Fatalf("%d ABORTs sent, want 1", len(aborts))
	}
	if _, _, _, _, st := rmppInfo(aborts[0].mad); st != wire.RMPPStatusTooManyRetries || wire.MAD(aborts[0].mad).Method() != wire.MethodGetMulti {
		t.Errorf("ABORT status %d method %s", st, wire.MAD(aborts[0].mad).Method())
	}
	if got := s.elapsed(); got < 30*time.Millisecond {
		t.Errorf("gave up after %v, before three ACK timeouts", got)
	}
}

func TestRMPPBadSegmentNacked(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{Timeout: 20 * time.Millisecond, Retries: -1})
	peer := newRawPeer(t, s, serverLID, saReg)
	peer.on = func(in mad.Incoming) {
		if wire.MAD(in.MAD).Method() == wire.MethodGetTable && !wire.MAD(in.MAD).RMPPHeader().IsActive() {
			// Segment 2 flagged First: inconsistent.
			peer.send(in.Addr.ReplyAddr(), segmentFor(in.MAD, wire.MethodGetTableResp, wire.RMPPTypeData, wire.RMPPFlagActive|wire.RMPPFlagFirst, 0, 2, 0))
		}
	}
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetTable, wire.AttrNodeRecord, nil)}))
	if !errors.Is(r.Err, mad.ErrTimeout) {
		t.Errorf("error %v, want ErrTimeout (the bad segment is dropped)", r.Err)
	}
	aborts := s.packets(func(p simPacket) bool { return p.from == clientLID && isRMPP(wire.RMPPTypeAbort)(p) })
	if len(aborts) != 1 {
		t.Fatalf("%d ABORTs, want 1", len(aborts))
	}
	if _, _, _, _, st := rmppInfo(aborts[0].mad); st != wire.RMPPStatusInconsistentFirstAndSeg || wire.MAD(aborts[0].mad).Method() != wire.MethodGetTable {
		t.Errorf("ABORT status %d method %s, want 120 GetTable", st, wire.MAD(aborts[0].mad).Method())
	}
}

func TestRMPPReceiveTotalTimeout(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{RMPPTotalTimeout: 3 * time.Second})
	peer := newRawPeer(t, s, serverLID, saReg)
	peer.on = func(in mad.Incoming) {
		if wire.MAD(in.MAD).Method() == wire.MethodGetTable && !wire.MAD(in.MAD).RMPPHeader().IsActive() {
			peer.send(in.Addr.ReplyAddr(), segmentFor(in.MAD, wire.MethodGetTableResp, wire.RMPPTypeData, wire.RMPPFlagActive|wire.RMPPFlagFirst, 0, 1, 2*220))
		}
	}
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetTable, wire.AttrNodeRecord, nil)}))
	var re *mad.RMPPError
	if !errors.As(r.Err, &re) || re.Remote || re.Status != wire.RMPPStatusTotalTimeTooLong {
		t.Fatalf("error %v, want local ABORT total time too long", r.Err)
	}
	if e := s.elapsed(); e < 3*time.Second || e > 3*time.Second+time.Millisecond {
		t.Errorf("aborted at %v, want 3s after the first segment", e)
	}
	if n := len(s.packets(func(p simPacket) bool { return p.from == clientLID && isRMPP(wire.RMPPTypeAbort)(p) })); n != 1 {
		t.Errorf("%d ABORTs sent, want 1", n)
	}
}

func TestRMPPInconsistentLengthAborted(t *testing.T) {
	s := newSim(t)
	client := saClient(t, s, mad.Options{})
	peer := newRawPeer(t, s, serverLID, saReg)
	peer.on = func(in mad.Incoming) {
		if wire.MAD(in.MAD).Method() == wire.MethodGetTable && !wire.MAD(in.MAD).RMPPHeader().IsActive() {
			// First says 3 segments' worth, the transfer ends at 2.
			peer.send(in.Addr.ReplyAddr(), segmentFor(in.MAD, wire.MethodGetTableResp, wire.RMPPTypeData, wire.RMPPFlagActive|wire.RMPPFlagFirst, 0, 1, 3*220))
			peer.send(in.Addr.ReplyAddr(), segmentFor(in.MAD, wire.MethodGetTableResp, wire.RMPPTypeData, wire.RMPPFlagActive|wire.RMPPFlagLast, 0, 2, 220))
		}
	}
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetTable, wire.AttrNodeRecord, nil)}))
	var re *mad.RMPPError
	if !errors.As(r.Err, &re) || re.Status != wire.RMPPStatusInconsistentLastAndLength {
		t.Fatalf("error %v, want ABORT inconsistent last and payload length", r.Err)
	}
}

func TestRMPPOffloadedTransport(t *testing.T) {
	s := newSim(t)
	// Endpoints that offload RMPP from the start, as umad with
	// rmpp_version 1 does.
	mk := func(lid wire.LID, reg mad.Registration) *mad.Agent {
		a, err := mad.NewAgent(offloadPort{s.port(lid)}, reg, mad.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	c2 := mk(clientLID, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2, RMPP: true})
	srv := mk(serverLID, saReg)
	srv.Serve(func(r *mad.Received) {
		resp := saMAD(wire.MethodGetTableResp, wire.AttrNodeRecord, pattern(1000, 5))
		r.Respond(resp)
	})
	res := waitResult(s, goCall(t, c2, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGetTable, wire.AttrNodeRecord, nil)}))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(res.MAD) != wire.SADataOffset+1000 || !bytes.Equal(res.MAD[wire.SADataOffset:], pattern(1000, 5)) {
		t.Errorf("offloaded response of %d bytes", len(res.MAD))
	}
	resp := s.packets(func(p simPacket) bool { return p.from == serverLID })
	if len(resp) != 1 || len(resp[0].mad) != wire.SADataOffset+1000 {
		t.Fatalf("server handed %d MADs to an offloading transport; want the whole message once", len(resp))
	}
	if h := wire.MAD(resp[0].mad).RMPPHeader(); !h.IsActive() || h.Type() != wire.RMPPTypeData || h.Version() != 1 {
		t.Errorf("offloaded message RMPP header %+v: want active DATA", h.Fields())
	}
}

// offloadPort wraps a sim port so that its endpoints offload RMPP.
type offloadPort struct{ *simPort }

func (o offloadPort) Register(reg mad.Registration, deliver func(mad.Incoming)) (mad.Endpoint, error) {
	ep, err := o.simPort.Register(reg, deliver)
	if err == nil {
		ep.(*simEP).offload = true
	}
	return ep, err
}
