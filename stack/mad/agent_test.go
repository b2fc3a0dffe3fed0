package mad_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

const (
	clientLID wire.LID = 1
	serverLID wire.LID = 2
)

var saReg = mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
	Methods: []wire.Method{wire.MethodGet, wire.MethodGetTable, wire.MethodGetMulti}}

var toServer = mad.Addr{LID: serverLID, QPN: 1}

// saMAD builds an SA MAD of the given method and attribute whose record
// area holds data; a message longer than a MAD comes out longer.
func saMAD(method wire.Method, attr wire.AttrID, data []byte) []byte {
	n := max(wire.MADSize, wire.SADataOffset+len(data))
	b := make([]byte, n)
	wire.SAMAD(b).MAD().Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm,
		ClassVersion: wire.SAClassVersion, Method: method, AttrID: attr})
	copy(b[wire.SADataOffset:], data)
	return b
}

// pattern returns n bytes of a recognisable sequence.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>8)
	}
	return b
}

func newAgent(t *testing.T, p *simPort, reg mad.Registration, o mad.Options) *mad.Agent {
	t.Helper()
	a, err := mad.NewAgent(p, reg, o)
	if err != nil {
		t.Fatalf("NewAgent: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// goCall starts a transaction with Go and returns a function reporting
// its result once done.
func goCall(t *testing.T, a *mad.Agent, req mad.Request) func() (mad.Result, bool) {
	t.Helper()
	var mu sync.Mutex
	var res mad.Result
	done := false
	if err := a.Go(req, func(r mad.Result) { mu.Lock(); res, done = r, true; mu.Unlock() }); err != nil {
		t.Fatalf("Go: %v", err)
	}
	return func() (mad.Result, bool) { mu.Lock(); defer mu.Unlock(); return res, done }
}

func waitResult(s *sim, get func() (mad.Result, bool)) mad.Result {
	s.runUntil(func() bool { _, ok := get(); return ok })
	r, _ := get()
	return r
}

func TestCallMatchesResponseByTID(t *testing.T) {
	s := newSim(t)
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2}, mad.Options{})
	server := newAgent(t, s.port(serverLID), saReg, mad.Options{})
	var seen []uint64
	server.Serve(func(r *mad.Received) {
		seen = append(seen, wire.MAD(r.MAD).TID())
		resp := slices.Clone(r.MAD)
		wire.MAD(resp).SetMethod(wire.MethodGetResp)
		copy(resp[wire.SADataOffset:], []byte("answer"))
		if err := r.Respond(resp); err != nil {
			t.Errorf("Respond: %v", err)
		}
	})
	get := goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)})
	r := waitResult(s, get)
	if r.Err != nil {
		t.Fatalf("result: %v", r.Err)
	}
	if got := string(r.MAD[wire.SADataOffset : wire.SADataOffset+6]); got != "answer" {
		t.Errorf("response data %q, want answer", got)
	}
	if len(seen) != 1 || uint32(seen[0]>>32) != client.ID() || uint32(seen[0]) == 0 {
		t.Errorf("request TIDs %x: want one with agent ID %x in the upper 32 bits and a non-zero sequence", seen, client.ID())
	}
	if tid := wire.MAD(r.MAD).TID(); tid != seen[0] {
		t.Errorf("response TID %#x, request %#x", tid, seen[0])
	}
}

func TestResponsesRoutedToTheirAgent(t *testing.T) {
	s := newSim(t)
	reg := mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2}
	a1 := newAgent(t, s.port(clientLID), reg, mad.Options{})
	a2 := newAgent(t, s.port(clientLID), reg, mad.Options{})
	if a1.ID() == a2.ID() {
		t.Fatalf("two agents share ID %x", a1.ID())
	}
	server := newAgent(t, s.port(serverLID), saReg, mad.Options{})
	server.Serve(func(r *mad.Received) {
		resp := slices.Clone(r.MAD)
		wire.MAD(resp).SetMethod(wire.MethodGetResp)
		// Echo the requester's agent ID in the data.
		copy(resp[wire.SADataOffset:], r.MAD[8:12])
		r.Respond(resp)
	})
	var gets []func() (mad.Result, bool)
	var agents []*mad.Agent
	for i := range 10 {
		a := []*mad.Agent{a1, a2}[i%2]
		agents = append(agents, a)
		gets = append(gets, goCall(t, a, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)}))
	}
	for i, g := range gets {
		r := waitResult(s, g)
		if r.Err != nil {
			t.Fatalf("call %d: %v", i, r.Err)
		}
		if id := uint32(r.MAD[wire.SADataOffset])<<24 | uint32(r.MAD[wire.SADataOffset+1])<<16 |
			uint32(r.MAD[wire.SADataOffset+2])<<8 | uint32(r.MAD[wire.SADataOffset+3]); id != agents[i].ID() {
			t.Errorf("call %d of agent %x got the response for agent %x", i, agents[i].ID(), id)
		}
	}
	if st := a1.Stats(); st.Unmatched != 0 {
		t.Errorf("agent 1 saw %d unmatched responses", st.Unmatched)
	}
}

func TestTimeoutRetriesThenSuccess(t *testing.T) {
	s := newSim(t)
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2},
		mad.Options{Timeout: 100 * time.Millisecond, Retries: 3})
	server := newAgent(t, s.port(serverLID), saReg, mad.Options{})
	requests := 0
	server.Serve(func(r *mad.Received) {
		requests++
		resp := slices.Clone(r.MAD)
		wire.MAD(resp).SetMethod(wire.MethodGetResp)
		r.Respond(resp)
	})
	lostRequests := 0
	s.drop = func(from wire.LID, out mad.Outgoing) bool {
		if from == clientLID && lostRequests < 2 {
			lostRequests++
			return true
		}
		return false
	}
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)}))
	if r.Err != nil {
		t.Fatalf("result: %v", r.Err)
	}
	if st := client.Stats(); st.Retries != 2 || st.Timeouts != 0 {
		t.Errorf("stats: %d retries %d timeouts, want 2 and 0", st.Retries, st.Timeouts)
	}
	sent := s.packets(func(p simPacket) bool { return p.from == clientLID })
	if len(sent) != 3 {
		t.Fatalf("client sent %d MADs, want 3", len(sent))
	}
	for i, p := range sent {
		if wire.MAD(p.mad).TID() != wire.MAD(sent[0].mad).TID() {
			t.Errorf("retransmission %d changed the TID", i)
		}
		if want := time.Duration(i) * 100 * time.Millisecond; p.at != want {
			t.Errorf("send %d at %v, want %v", i, p.at, want)
		}
	}
	if requests != 1 {
		t.Errorf("server saw %d requests, want 1", requests)
	}
}

func TestTimeoutAfterRetries(t *testing.T) {
	s := newSim(t)
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2},
		mad.Options{Timeout: 250 * time.Millisecond, Retries: 2})
	s.port(serverLID) // exists, nobody registered: requests vanish
	start := s.elapsed()
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)}))
	if !errors.Is(r.Err, mad.ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", r.Err)
	}
	if got, want := s.elapsed()-start, 750*time.Millisecond; got != want {
		t.Errorf("timed out after %v of virtual time, want %v", got, want)
	}
	if n := len(s.packets(func(p simPacket) bool { return p.from == clientLID })); n != 3 {
		t.Errorf("%d sends, want 3 (1 + 2 retries)", n)
	}
	if st := client.Stats(); st.Timeouts != 1 || st.Retries != 2 || client.Outstanding() != 0 {
		t.Errorf("stats %+v outstanding %d", st, client.Outstanding())
	}

	// A per-request override: no retries at all.
	r = waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil),
		Timeout: 10 * time.Millisecond, Retries: -1}))
	if !errors.Is(r.Err, mad.ErrTimeout) {
		t.Fatalf("error %v, want ErrTimeout", r.Err)
	}
	if n := len(s.packets(func(p simPacket) bool { return p.from == clientLID })); n != 4 {
		t.Errorf("%d sends, want 4", n)
	}
}

func TestWindowBoundsOutstanding(t *testing.T) {
	s := newSim(t)
	const window, total = 4, 23
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2},
		mad.Options{Window: window})
	server := newAgent(t, s.port(serverLID), saReg, mad.Options{})
	inServer, maxInServer := 0, 0
	var order []byte
	server.Serve(func(r *mad.Received) {
		inServer++
		maxInServer = max(maxInServer, inServer)
		order = append(order, r.MAD[wire.SADataOffset])
		// Answer 3 ms later.
		s.schedule(3*time.Millisecond, func() {
			inServer--
			resp := slices.Clone(r.MAD)
			wire.MAD(resp).SetMethod(wire.MethodGetResp)
			r.Respond(resp)
		})
	})
	var mu sync.Mutex
	var completed []byte
	maxOut := 0
	for i := range total {
		err := client.Go(mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, []byte{byte(i)})},
			func(r mad.Result) {
				if r.Err != nil {
					t.Errorf("call: %v", r.Err)
				}
				mu.Lock()
				completed = append(completed, r.MAD[wire.SADataOffset])
				mu.Unlock()
			})
		if err != nil {
			t.Fatal(err)
		}
		maxOut = max(maxOut, client.Outstanding())
	}
	for s.step() {
		maxOut = max(maxOut, client.Outstanding())
	}
	if len(completed) != total {
		t.Fatalf("%d of %d completed", len(completed), total)
	}
	if maxOut != window || maxInServer != window {
		t.Errorf("max outstanding %d, max at server %d, want %d", maxOut, maxInServer, window)
	}
	for i := range total {
		if order[i] != byte(i) || completed[i] != byte(i) {
			t.Fatalf("requests served in order %v, completed %v: want submission order", order, completed)
		}
	}
	// With the window full, 23 calls of 3 ms take ceil(23/4) rounds.
	if got, min := s.elapsed(), 6*3*time.Millisecond; got < min {
		t.Errorf("all done after %v, faster than the window allows (%v)", got, min)
	}
}

func TestCallManyAndStatusError(t *testing.T) {
	s := newSim(t)
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2}, mad.Options{Window: 2})
	server := newAgent(t, s.port(serverLID), saReg, mad.Options{})
	server.Serve(func(r *mad.Received) {
		if r.MAD[wire.SADataOffset] == 1 {
			r.RespondStatus(wire.SAStatusNoRecords)
			return
		}
		if r.MAD[wire.SADataOffset] == 2 {
			r.RespondStatus(wire.MADStatusInvalidField)
			return
		}
		resp := slices.Clone(r.MAD)
		wire.MAD(resp).SetMethod(wire.MethodGetResp)
		r.Respond(resp)
	})
	reqs := []mad.Request{
		{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, []byte{0})},
		{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, []byte{1})},
		{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, []byte{2})},
	}
	var res []mad.Result
	done := make(chan struct{})
	go func() { res = client.CallMany(context.Background(), reqs); close(done) }()
	s.runUntil(func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if res[0].Err != nil {
		t.Errorf("request 0: %v", res[0].Err)
	}
	var se *wire.MADStatusError
	if !errors.Is(res[1].Err, wire.ErrNoRecords) || !errors.As(res[1].Err, &se) || se.Status != wire.SAStatusNoRecords {
		t.Errorf("request 1: %v, want ErrNoRecords as *MADStatusError", res[1].Err)
	}
	if res[1].MAD == nil {
		t.Errorf("request 1: response withheld with its status error")
	}
	if !errors.Is(res[2].Err, wire.ErrInvalidField) {
		t.Errorf("request 2: %v, want ErrInvalidField", res[2].Err)
	}
}

func TestBlockingCallAndCancel(t *testing.T) {
	s := newSim(t)
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2},
		mad.Options{Timeout: time.Hour, Window: 1})
	server := newAgent(t, s.port(serverLID), saReg, mad.Options{})
	server.Serve(func(r *mad.Received) {
		if r.MAD[wire.SADataOffset] == 9 {
			return // never answered
		}
		resp := slices.Clone(r.MAD)
		wire.MAD(resp).SetMethod(wire.MethodGetResp)
		r.Respond(resp)
	})
	type out struct {
		resp []byte
		err  error
	}
	ch := make(chan out, 1)
	go func() {
		resp, err := client.Call(context.Background(), toServer, saMAD(wire.MethodGet, wire.AttrNodeRecord, nil))
		ch <- out{resp, err}
	}()
	var o out
	s.runUntil(func() bool {
		select {
		case o = <-ch:
			return true
		default:
			return false
		}
	})
	if o.err != nil || !wire.MAD(o.resp).IsResponse() {
		t.Fatalf("Call: %v", o.err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		resp, err := client.Call(ctx, toServer, saMAD(wire.MethodGet, wire.AttrNodeRecord, []byte{9}))
		ch <- out{resp, err}
	}()
	s.runUntil(func() bool {
		return client.Outstanding() == 1 && len(s.packets(func(p simPacket) bool { return p.from == clientLID })) == 2
	})
	cancel()
	o = <-ch
	if !errors.Is(o.err, context.Canceled) {
		t.Fatalf("cancelled Call: %v", o.err)
	}
	if client.Outstanding() != 0 {
		t.Errorf("cancelled call still holds its window slot")
	}
}

func TestCloseFailsOutstanding(t *testing.T) {
	s := newSim(t)
	client, err := mad.NewAgent(s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2},
		mad.Options{Window: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.port(serverLID)
	g1 := goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)})
	g2 := goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)})
	client.Close()
	for i, g := range []func() (mad.Result, bool){g1, g2} {
		r, ok := g()
		if !ok || !errors.Is(r.Err, mad.ErrClosed) {
			t.Errorf("call %d after Close: done=%v err=%v", i, ok, r.Err)
		}
	}
	if err := client.Go(mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)}, nil); !errors.Is(err, mad.ErrClosed) {
		t.Errorf("Go after Close: %v", err)
	}
	s.drain() // timers of the closed agent do nothing
}

func TestSendFailureFailsAtOnce(t *testing.T) {
	s := newSim(t)
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2},
		mad.Options{Timeout: time.Second})
	r := waitResult(s, goCall(t, client, mad.Request{Addr: mad.Addr{LID: 77, QPN: 1}, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)}))
	if !errors.Is(r.Err, mad.ErrSendFailed) {
		t.Fatalf("error %v, want ErrSendFailed", r.Err)
	}
	if s.elapsed() >= time.Second {
		t.Errorf("failure took %v: it should not wait for the timeout", s.elapsed())
	}
}

func TestBadRequestsRejected(t *testing.T) {
	s := newSim(t)
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: 1}, mad.Options{})
	cases := map[string][]byte{
		"short":            make([]byte, 10),
		"long non-rmpp":    append(make([]byte, 300), 0),
		"response method":  func() []byte { b := saMAD(wire.MethodGetResp, 0, nil); return b }(),
		"bad base version": func() []byte { b := saMAD(wire.MethodGet, 0, nil); b[0] = 2; return b }(),
	}
	cases["long non-rmpp"][0] = 1
	cases["long non-rmpp"][1] = byte(wire.MgmtClassPerf)
	for name, m := range cases {
		if err := client.Go(mad.Request{Addr: toServer, MAD: m}, nil); !errors.Is(err, mad.ErrBadMAD) {
			t.Errorf("%s: %v, want ErrBadMAD", name, err)
		}
	}
}

func TestUnsolicitedWithoutHandlerCounted(t *testing.T) {
	s := newSim(t)
	server := newAgent(t, s.port(serverLID), saReg, mad.Options{})
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2}, mad.Options{})
	if err := client.Send(toServer, saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)); err != nil {
		t.Fatal(err)
	}
	s.drain()
	if st := server.Stats(); st.Unhandled != 1 || st.Received != 1 {
		t.Errorf("server stats %+v: want 1 received, 1 unhandled", st)
	}
}

func TestRespondOnlyOnce(t *testing.T) {
	s := newSim(t)
	server := newAgent(t, s.port(serverLID), saReg, mad.Options{})
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2}, mad.Options{})
	var errs []error
	server.Serve(func(r *mad.Received) {
		resp := slices.Clone(r.MAD)
		wire.MAD(resp).SetMethod(wire.MethodGetResp)
		errs = append(errs, r.Respond(slices.Clone(resp)), r.Respond(resp))
		notResp := slices.Clone(r.MAD)
		errs = append(errs, r.Respond(notResp))
	})
	r := waitResult(s, goCall(t, client, mad.Request{Addr: toServer, MAD: saMAD(wire.MethodGet, wire.AttrNodeRecord, nil)}))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if errs[0] != nil || !errors.Is(errs[1], mad.ErrBadMAD) || !errors.Is(errs[2], mad.ErrBadMAD) {
		t.Errorf("Respond errors %v: want nil, then ErrBadMAD twice", errs)
	}
}

func TestReplyAddr(t *testing.T) {
	a := mad.Addr{LID: 5, QPN: 1, SL: 3, PKeyIndex: 2, GRH: &mad.GRH{HopLimit: 9}}
	r := a.ReplyAddr()
	if r.QKey != mad.GSIQKey || r.LID != 5 || r.SL != 3 || r.PKeyIndex != 2 || r.GRH == a.GRH || r.GRH.HopLimit != 9 {
		t.Errorf("ReplyAddr %+v", r)
	}
	if !bytes.Contains([]byte(a.String()), []byte("lid 5 qp 1")) {
		t.Errorf("String %q", a.String())
	}
}
