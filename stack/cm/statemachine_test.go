package cm

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// This file drives the CM's receive path and timers one message at a time,
// against connections set up in a given state, and checks what it sends
// back, the state it ends in and its counters against what the Linux
// kernel's ib_cm (drivers/infiniband/core/cm.c) does in the same case.

// recClock records the timers armed; fire runs the last one.
type recClock struct{ timers []*recTimer }

type recTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (t *recTimer) Stop() bool { s := !t.stopped; t.stopped = true; return s }

func (c *recClock) Now() time.Time { return emu.Epoch }
func (c *recClock) AfterFunc(d time.Duration, f func()) emu.Timer {
	t := &recTimer{d: d, f: f}
	c.timers = append(c.timers, t)
	return t
}

// live is the armed timer that has not been stopped, or nil.
func (c *recClock) live() *recTimer {
	var l *recTimer
	for _, t := range c.timers {
		if !t.stopped {
			l = t
		}
	}
	return l
}

type sent struct {
	to mad.Addr
	m  []byte
}

// smCM is a CM without transport or verbs: what it sends is recorded.
type smCM struct {
	*CM
	clk  *recClock
	sent []sent
}

const (
	smGUID     wire.GUID = 0x0002c90300000001 // this CA
	peerGUID   wire.GUID = 0x0002c90300000002
	otherGUID  wire.GUID = 0x0002c90300000003
	smLocalID            = 0x100
	smRemoteID           = 0x200
	smLocalQPN           = 0x55
	smPeerQPN            = 0x77
	smAgentID            = 0x2a
	smReqTID             = uint64(smAgentID)<<32 | smLocalID
	peerTID              = 0x0000000900000200
)

var peerAddr = mad.Addr{LID: 7, QPN: 1}

func newSMCM(t *testing.T) *smCM {
	s := &smCM{clk: &recClock{}}
	c := &CM{clock: s.clk, opts: Options{}.withDefaults(), caGUID: smGUID, agentID: smAgentID, nextID: 0x1000,
		conns: map[uint32]*Conn{}, byRemote: map[remoteKey]*Conn{}, listeners: map[uint64]*Listener{},
		sidrListeners: map[uint64]*Listener{}, sidrPending: map[uint32]*sidrCall{}, sidrServing: map[sidrKey]bool{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.send = func(a mad.Addr, m []byte) error { s.sent = append(s.sent, sent{a, m}); return nil }
	t.Cleanup(func() { c.cancel(); c.wg.Wait() })
	s.CM = c
	return s
}

// conn installs a connection in state st, as ib_cm would hold it there:
// on the passive side (active false) known by the remote IDs from the
// REQ on, the remote QP reserved from the REQ (passive) or the REP
// (active) until TimeWait.
func (s *smCM) conn(active bool, st State) *Conn {
	cn := newConn(s.CM, active)
	cn.state, cn.localID, cn.localQPN, cn.addr = st, smLocalID, smLocalQPN, peerAddr.ReplyAddr()
	cn.reqTID, cn.timeout, cn.maxRetries, cn.retriesLeft = smReqTID, time.Second, 3, 3
	cn.pktLife, cn.avTimeout, cn.ackTimeout = 14, 18, 18
	cn.remoteGUID, cn.remoteQPN = peerGUID, smPeerQPN
	if active && (st == StateReqSent || st == StateMRAReqRcvd) {
		cn.remoteGUID, cn.remoteQPN = 0, 0 // no REP yet
	} else {
		cn.remoteID = smRemoteID
	}
	if !active {
		cn.reqTID = peerTID
		s.byRemote[remoteKey{cn.remoteGUID, cn.remoteID}] = cn
	}
	cn.inRemoteQP = cn.remoteQPN != 0 && st != StateTimeWait && st != StateIdle
	if st == StateTimeWait {
		delete(s.byRemote, remoteKey{cn.remoteGUID, cn.remoteID})
	}
	if st >= StateEstablished {
		cn.setEstabLocked(nil)
	}
	if st == StateEstablished && active {
		cn.last = newMsg(wire.AttrCMRTU, smReqTID)
		wire.CMRTU(msgOf(cn.last)).Encode(&wire.CMRTUFields{CMCommIDs: wire.CMCommIDs{LocalCommID: smLocalID, RemoteCommID: smRemoteID},
			PrivateData: []byte("rtu again")})
	}
	if st == StateMRAReqSent {
		cn.mraMsg = newMsg(wire.AttrCMMRA, peerTID)
		wire.CMMRA(msgOf(cn.mraMsg)).Encode(&wire.CMMRAFields{LocalCommID: smLocalID, RemoteCommID: smRemoteID,
			MessageMRAed: wire.CMMsgREQ, ServiceTimeout: 21})
	}
	if st == StateReqSent || st == StateMRAReqRcvd || st == StateRepSent || st == StateMRARepRcvd || st == StateDreqSent {
		cn.msg = newMsg(wire.AttrCMREQ, smReqTID)
		cn.startTimerLocked(cn.timeout)
	}
	s.conns[cn.localID] = cn
	return cn
}

// peerMAD builds a CM MAD from the peer.
func peerMAD(a wire.AttrID, tid uint64, fill func(b []byte)) []byte {
	m := newMsg(a, tid)
	fill(msgOf(m))
	return m
}

func peerREQ(commID, qpn uint32, sid uint64) []byte {
	return peerMAD(wire.AttrCMREQ, peerTID, func(b []byte) {
		wire.CMREQ(b).Encode(&wire.CMREQFields{LocalCommID: commID, ServiceID: sid, LocalCAGUID: peerGUID, LocalQPN: qpn,
			StartingPSN: 0x1234, LocalCMResponseTimeout: 14, RemoteCMResponseTimeout: 14, MaxCMRetries: 3,
			PKey: wire.PKeyDefault, PathMTU: wire.MTU2048, Primary: wire.CMPathFields{LocalLID: 7, RemoteLID: 9,
				SubnetLocal: true, LocalACKTimeout: 15}})
	})
}

func peerREP(localID, remoteID, qpn uint32) []byte {
	return peerMAD(wire.AttrCMREP, smReqTID, func(b []byte) {
		wire.CMREP(b).Encode(&wire.CMREPFields{LocalCommID: localID, RemoteCommID: remoteID, LocalQPN: qpn,
			StartingPSN: 0x4321, TargetACKDelay: 15, RNRRetryCount: 5, LocalCAGUID: peerGUID})
	})
}

func peerREJ(local, remote uint32, msg wire.CMMsgResponse, reason wire.CMRejectReason, ari []byte) []byte {
	return peerMAD(wire.AttrCMREJ, smReqTID, func(b []byte) {
		wire.CMREJ(b).Encode(&wire.CMREJFields{LocalCommID: local, RemoteCommID: remote, MessageRejected: msg, Reason: reason, ARI: ari})
	})
}

func peerMRA(local, remote uint32, msg wire.CMMsgResponse, svc uint8) []byte {
	return peerMAD(wire.AttrCMMRA, smReqTID, func(b []byte) {
		wire.CMMRA(b).Encode(&wire.CMMRAFields{LocalCommID: local, RemoteCommID: remote, MessageMRAed: msg, ServiceTimeout: svc})
	})
}

func peerIDs(a wire.AttrID, local, remote uint32) []byte {
	return peerMAD(a, 0x0000000900000200, func(b []byte) {
		wire.CMRTU(b).Encode(&wire.CMRTUFields{CMCommIDs: wire.CMCommIDs{LocalCommID: local, RemoteCommID: remote}})
	})
}

func peerDREQ(local, remote, qpn uint32) []byte {
	return peerMAD(wire.AttrCMDREQ, 0x0000000900000201, func(b []byte) {
		wire.CMDREQ(b).Encode(&wire.CMDREQFields{CMCommIDs: wire.CMCommIDs{LocalCommID: local, RemoteCommID: remote}, RemoteQPN: qpn})
	})
}

func peerLAP(local, remote uint32) []byte {
	return peerMAD(wire.AttrCMLAP, 0x0000000900000202, func(b []byte) {
		wire.CMLAP(b).Encode(&wire.CMLAPFields{CMCommIDs: wire.CMCommIDs{LocalCommID: local, RemoteCommID: remote}, RemoteQPN: smLocalQPN})
	})
}

// want is one message the CM must send.
type want struct {
	attr  wire.AttrID
	tid   uint64
	check func(t *testing.T, msg []byte)
}

func rejIs(local, remote uint32, msg wire.CMMsgResponse, reason wire.CMRejectReason) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		t.Helper()
		r := wire.CMREJ(b)
		if r.LocalCommID() != local || r.RemoteCommID() != remote || r.MessageRejected() != msg || r.Reason() != reason {
			t.Errorf("REJ local %#x remote %#x rejected %s reason %d, want %#x %#x %s %d", r.LocalCommID(), r.RemoteCommID(),
				r.MessageRejected(), r.Reason(), local, remote, msg, reason)
		}
	}
}

func idsAre(local, remote uint32) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		t.Helper()
		r := wire.CMRTU(b)
		if r.LocalCommID() != local || r.RemoteCommID() != remote {
			t.Errorf("ids %#x/%#x, want %#x/%#x", r.LocalCommID(), r.RemoteCommID(), local, remote)
		}
	}
}

func TestStateMachineLikeIBCM(t *testing.T) {
	type row struct {
		name   string
		active bool
		state  State
		// setup adds more connections; in returns the message received.
		setup func(s *smCM) *Conn
		in    []byte
		// fire runs the live timer instead of receiving a message.
		fire       bool
		sends      []want
		end        State // the state of the row's connection after
		dup, unm   uint64
		wait       time.Duration // the timer armed after, 0: not checked
		errIs      error         // what the connection's estab error matches
		noListener bool
	}
	rows := []row{
		// --- REQ ---
		{name: "dup REQ in REQ_RCVD is dropped", state: StateReqRcvd, in: peerREQ(smRemoteID, smPeerQPN, 1), end: StateReqRcvd, dup: 1},
		{name: "dup REQ in MRA_REQ_SENT resends the MRA", state: StateMRAReqSent, in: peerREQ(smRemoteID, smPeerQPN, 1),
			end: StateMRAReqSent, dup: 1, sends: []want{{attr: wire.AttrCMMRA, tid: peerTID, check: func(t *testing.T, b []byte) {
				if m := wire.CMMRA(b); m.ServiceTimeout() != 21 || m.MessageMRAed() != wire.CMMsgREQ {
					t.Errorf("MRA %+v", m.Fields())
				}
			}}}},
		// ib_cm's cm_dup_req_handler sends nothing in REP_SENT: the REP
		// has its own retransmission timer.
		{name: "dup REQ in REP_SENT sends nothing", state: StateRepSent, in: peerREQ(smRemoteID, smPeerQPN, 1), end: StateRepSent, dup: 1},
		{name: "dup REQ in ESTABLISHED is dropped", state: StateEstablished, in: peerREQ(smRemoteID, smPeerQPN, 1), end: StateEstablished, dup: 1},
		// cm_enter_timewait releases the remote ID and QPN: the REQ is
		// new, and without a listener it gets REJ 8, not REJ 10.
		{name: "REQ again in TIMEWAIT is a new request", state: StateTimeWait, in: peerREQ(smRemoteID, smPeerQPN, 99),
			end: StateTimeWait, sends: []want{{attr: wire.AttrCMREJ, tid: peerTID,
				check: rejIs(0, smRemoteID, wire.CMMsgREQ, wire.CMRejectInvalidServiceID)}}},
		{name: "REQ for nobody's service: REJ 8", state: StateIdle, in: peerREQ(0x333, 0x99, 99), end: StateIdle,
			sends: []want{{attr: wire.AttrCMREJ, tid: peerTID, check: rejIs(0, 0x333, wire.CMMsgREQ, wire.CMRejectInvalidServiceID)}}},
		{name: "stale REQ (QP held by a connection being set up): REJ 10", state: StateReqRcvd, in: peerREQ(0x333, smPeerQPN, 1),
			end: StateReqRcvd, sends: []want{{attr: wire.AttrCMREJ, tid: peerTID, check: rejIs(0, 0x333, wire.CMMsgREQ, wire.CMRejectStaleConn)}}},
		{name: "stale REQ (QP connected): REJ 10 and DREQ for the old one", state: StateEstablished, in: peerREQ(0x333, smPeerQPN, 1),
			end: StateDreqSent, sends: []want{{attr: wire.AttrCMREJ, tid: peerTID, check: rejIs(0, 0x333, wire.CMMsgREQ, wire.CMRejectStaleConn)},
				{attr: wire.AttrCMDREQ, tid: smReqTID, check: idsAre(smLocalID, smRemoteID)}}},
		// --- REP (active side) ---
		{name: "dup REP after RTU resends the RTU", active: true, state: StateEstablished, in: peerREP(smRemoteID, smLocalID, smPeerQPN),
			end: StateEstablished, dup: 1, sends: []want{{attr: wire.AttrCMRTU, tid: smReqTID, check: func(t *testing.T, b []byte) {
				if !bytes.HasPrefix(wire.CMRTU(b).PrivateData(), []byte("rtu again")) {
					t.Error("the RTU sent again lost its private data")
				}
			}}}},
		{name: "REP for an unknown comm ID is dropped", active: true, state: StateEstablished, in: peerREP(smRemoteID, 0x999, smPeerQPN),
			end: StateEstablished, unm: 1},
		{name: "stale REP: REJ 10 (REP), DREQ for the old one, REQ still pending", active: true, state: StateReqSent,
			setup: func(s *smCM) *Conn {
				old := newConn(s.CM, true)
				old.state, old.localID, old.remoteID, old.remoteGUID, old.remoteQPN, old.inRemoteQP = StateEstablished, 0x101, 0x201, peerGUID, 0x88, true
				old.addr = peerAddr
				s.conns[old.localID] = old
				return nil
			}, in: peerREP(0x202, smLocalID, 0x88), end: StateReqSent,
			sends: []want{{attr: wire.AttrCMREJ, tid: smReqTID, check: rejIs(smLocalID, 0x202, wire.CMMsgREP, wire.CMRejectStaleConn)},
				{attr: wire.AttrCMDREQ, tid: uint64(smAgentID)<<32 | 0x101, check: idsAre(0x101, 0x201)}}},
		// --- RTU ---
		{name: "RTU in REP_SENT establishes", state: StateRepSent, in: peerIDs(wire.AttrCMRTU, smRemoteID, smLocalID), end: StateEstablished},
		{name: "dup RTU is counted", state: StateEstablished, in: peerIDs(wire.AttrCMRTU, smRemoteID, smLocalID), end: StateEstablished, dup: 1},
		{name: "RTU with the wrong remote ID is dropped", state: StateRepSent, in: peerIDs(wire.AttrCMRTU, 0x999, smLocalID), end: StateRepSent, unm: 1},
		// --- REJ ---
		{name: "REJ of our REQ: idle", active: true, state: StateReqSent,
			in: peerREJ(0, smLocalID, wire.CMMsgREQ, wire.CMRejectConsumerDefined, nil), end: StateIdle, errIs: ErrRejected},
		{name: "REJ of a REQ naming a passive connection is dropped", state: StateReqRcvd,
			in: peerREJ(0, smLocalID, wire.CMMsgREQ, wire.CMRejectConsumerDefined, nil), end: StateReqRcvd, unm: 1},
		{name: "REJ stale in REP_SENT: TimeWait", state: StateRepSent,
			in: peerREJ(smRemoteID, smLocalID, wire.CMMsgREP, wire.CMRejectStaleConn, nil), end: StateTimeWait, wait: cmTime(18),
			errIs: ErrRejected},
		{name: "REJ stale of our REQ: TimeWait, the connect hears the REJ", active: true, state: StateReqSent,
			in: peerREJ(0, smLocalID, wire.CMMsgREQ, wire.CMRejectStaleConn, nil), end: StateTimeWait, errIs: ErrRejected},
		{name: "REJ(timeout) with the peer's GUID drops the half-open passive side", state: StateReqRcvd,
			in: peerREJ(smRemoteID, 0, wire.CMMsgREQ, wire.CMRejectTimeout, guidARI(peerGUID)), end: StateIdle, errIs: ErrRejected},
		{name: "REJ(timeout) with another GUID is dropped", state: StateReqRcvd,
			in: peerREJ(smRemoteID, smLocalID, wire.CMMsgREQ, wire.CMRejectTimeout, guidARI(otherGUID)), end: StateReqRcvd, unm: 1},
		{name: "REJ in ESTABLISHED: TimeWait", active: true, state: StateEstablished,
			in: peerREJ(smRemoteID, smLocalID, wire.CMMsgOther, wire.CMRejectConsumerDefined, nil), end: StateTimeWait},
		{name: "REJ in TIMEWAIT is dropped", state: StateTimeWait,
			in: peerREJ(smRemoteID, smLocalID, wire.CMMsgOther, wire.CMRejectConsumerDefined, nil), end: StateTimeWait, unm: 1},
		// --- MRA ---
		{name: "MRA for our REQ stretches the wait", active: true, state: StateReqSent, in: peerMRA(smRemoteID, smLocalID, wire.CMMsgREQ, 22),
			end: StateMRAReqRcvd, wait: cmTime(22) + cmTime(18)},
		{name: "dup MRA is counted, the wait unchanged", active: true, state: StateMRAReqRcvd, in: peerMRA(smRemoteID, smLocalID, wire.CMMsgREQ, 25),
			end: StateMRAReqRcvd, dup: 1, wait: time.Second},
		{name: "MRA for our REP", state: StateRepSent, in: peerMRA(smRemoteID, smLocalID, wire.CMMsgREP, 20), end: StateMRARepRcvd,
			wait: cmTime(20) + cmTime(18)},
		{name: "MRA for a REP with the wrong remote ID is dropped", state: StateRepSent, in: peerMRA(0x999, smLocalID, wire.CMMsgREP, 20),
			end: StateRepSent, unm: 1},
		// --- DREQ / DREP ---
		{name: "DREQ in ESTABLISHED: DREP, TimeWait", state: StateEstablished, in: peerDREQ(smRemoteID, smLocalID, smLocalQPN),
			end: StateTimeWait, wait: cmTime(18), errIs: ErrDisconnected,
			sends: []want{{attr: wire.AttrCMDREP, tid: 0x0000000900000201, check: idsAre(smLocalID, smRemoteID)}}},
		{name: "DREQ in REP_SENT (RTU lost): DREP, TimeWait, the accept hears it", state: StateRepSent,
			in: peerDREQ(smRemoteID, smLocalID, smLocalQPN), end: StateTimeWait, errIs: ErrDisconnected,
			sends: []want{{attr: wire.AttrCMDREP, tid: 0x0000000900000201, check: idsAre(smLocalID, smRemoteID)}}},
		{name: "dup DREQ in TIMEWAIT resends the DREP", state: StateTimeWait, in: peerDREQ(smRemoteID, smLocalID, smLocalQPN),
			end: StateTimeWait, dup: 1, sends: []want{{attr: wire.AttrCMDREP, tid: 0x0000000900000201, check: idsAre(smLocalID, smRemoteID)}}},
		{name: "DREQ for no connection is answered with DREP", state: StateIdle, in: peerDREQ(0x444, 0x555, 1), end: StateIdle, dup: 1,
			sends: []want{{attr: wire.AttrCMDREP, tid: 0x0000000900000201, check: idsAre(0x555, 0x444)}}},
		{name: "DREQ for another QP is dropped", state: StateEstablished, in: peerDREQ(smRemoteID, smLocalID, 0x999), end: StateEstablished, unm: 1},
		{name: "DREP in DREQ_SENT: TimeWait", state: StateDreqSent, in: peerIDs(wire.AttrCMDREP, smRemoteID, smLocalID),
			end: StateTimeWait, wait: cmTime(18)},
		{name: "DREP in ESTABLISHED is counted", state: StateEstablished, in: peerIDs(wire.AttrCMDREP, smRemoteID, smLocalID),
			end: StateEstablished, dup: 1},
		// --- LAP / APR ---
		{name: "LAP in ESTABLISHED is taken, not answered", state: StateEstablished, in: peerLAP(smRemoteID, smLocalID), end: StateEstablished},
		{name: "LAP again is a duplicate", state: StateEstablished, setup: func(s *smCM) *Conn {
			s.conns[smLocalID].lapRcvd = true
			return nil
		}, in: peerLAP(smRemoteID, smLocalID), end: StateEstablished, dup: 1},
		{name: "LAP before ESTABLISHED is dropped", state: StateRepSent, in: peerLAP(smRemoteID, smLocalID), end: StateRepSent, unm: 1},
		{name: "APR is dropped (no LAP sent)", state: StateEstablished, in: peerIDs(wire.AttrCMAPR, smRemoteID, smLocalID), end: StateEstablished, unm: 1},
		// --- timers ---
		// cm_process_send_error: retries exhausted, back to idle, no REJ.
		{name: "REQ retries run out: idle, no REJ", active: true, state: StateReqSent, fire: true, end: StateIdle, errIs: ErrTimeout},
		{name: "REP retries run out: idle, no REJ", state: StateRepSent, fire: true, end: StateIdle, errIs: ErrTimeout},
		{name: "DREQ retries run out: TimeWait", state: StateDreqSent, fire: true, end: StateTimeWait, wait: cmTime(18)},
		{name: "TimeWait ends: idle", state: StateTimeWait, fire: true, end: StateIdle},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			s := newSMCM(t)
			s.listeners[1] = &Listener{c: s.CM, serviceID: 1, conn: func(*ConnRequest) {}}
			s.mu.Lock()
			var cn *Conn
			if r.state != StateIdle {
				cn = s.conn(r.active, r.state)
				if r.state == StateTimeWait {
					cn.startTimerLocked(cmTime(cn.avTimeout))
				}
			}
			if r.setup != nil {
				r.setup(s)
			}
			if r.fire {
				cn.retriesLeft = 0
			}
			s.mu.Unlock()
			before := s.Stats()
			if r.fire {
				tm := s.clk.live()
				if tm == nil {
					t.Fatal("no timer armed")
				}
				tm.f()
			} else {
				s.dispatch(peerAddr, r.in)
			}
			after := s.Stats()
			var dup uint64
			for i := range after.RxDuplicates {
				dup += after.RxDuplicates[i] - before.RxDuplicates[i]
			}
			if dup != r.dup || after.Unmatched-before.Unmatched != r.unm {
				t.Errorf("duplicates %d unmatched %d, want %d %d", dup, after.Unmatched-before.Unmatched, r.dup, r.unm)
			}
			if len(s.sent) != len(r.sends) {
				var got []string
				for _, m := range s.sent {
					got = append(got, wire.CMAttrName(wire.MAD(m.m).AttrID()))
				}
				t.Fatalf("sent %v, want %d messages", got, len(r.sends))
			}
			for i, w := range r.sends {
				m := wire.MAD(s.sent[i].m)
				if m.AttrID() != w.attr || m.TID() != w.tid {
					t.Errorf("message %d: %s TID %#x, want %s TID %#x", i, wire.CMAttrName(m.AttrID()), m.TID(), wire.CMAttrName(w.attr), w.tid)
					continue
				}
				if w.check != nil {
					w.check(t, msgOf(s.sent[i].m))
				}
			}
			if cn == nil {
				return
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if cn.state != r.end {
				t.Errorf("state %s, want %s", cn.state, r.end)
			}
			if r.wait != 0 {
				if tm := s.clk.live(); tm == nil || tm.d != r.wait {
					t.Errorf("timer %v, want %v", tm, r.wait)
				}
			}
			if err := cmp.Or(cn.estabErr, cn.doneErr); r.errIs != nil && !errors.Is(err, r.errIs) {
				t.Errorf("connection error %v, want %v", err, r.errIs)
			}
		})
	}
}

// TestCMTimeIsCMConvertToMS pins the timer conversion to ib_cm's
// cm_convert_to_ms (1 << max(v - 8, 0) ms) and the ACK timeout to
// cm_ack_timeout.
func TestCMTimeIsCMConvertToMS(t *testing.T) {
	for _, c := range []struct {
		v    uint8
		want time.Duration
	}{{0, time.Millisecond}, {8, time.Millisecond}, {9, 2 * time.Millisecond}, {14, 64 * time.Millisecond},
		{20, 4096 * time.Millisecond}, {31, (1 << 23) * time.Millisecond}, {40, (1 << 23) * time.Millisecond}} {
		if got := cmTime(c.v); got != c.want {
			t.Errorf("cmTime(%d) = %v, want %v", c.v, got, c.want)
		}
	}
	for _, c := range []struct{ delay, life, want uint8 }{
		{15, 10, 15}, {15, 13, 16}, {15, 14, 16}, {15, 18, 19}, {0, 0, 2}, {10, 30, 31}, {31, 31, 31}} {
		if got := ackTimeout(c.delay, c.life); got != c.want {
			t.Errorf("ackTimeout(%d, %d) = %d, want %d", c.delay, c.life, got, c.want)
		}
	}
}

// TestMRAWaitAppliesToRetransmissions: after an MRA the REQ goes again
// every service timeout + av.timeout (ib_modify_mad changes the MAD's
// timeout for the retries left), while the connection's own response
// timeout, which a later DREQ uses, stays.
func TestMRAWaitAppliesToRetransmissions(t *testing.T) {
	s := newSMCM(t)
	s.mu.Lock()
	cn := s.conn(true, StateReqSent)
	cn.retryEvery = cn.timeout
	s.mu.Unlock()
	s.dispatch(peerAddr, peerMRA(smRemoteID, smLocalID, wire.CMMsgREQ, 22))
	wait := cmTime(22) + cmTime(18)
	for i := range 2 {
		tm := s.clk.live()
		if tm == nil || tm.d != wait {
			t.Fatalf("timer %d: %+v, want %v", i, tm, wait)
		}
		tm.f()
	}
	if n := len(s.sent); n != 2 || wire.MAD(s.sent[0].m).AttrID() != wire.AttrCMREQ || wire.MAD(s.sent[0].m).TID() != smReqTID {
		t.Fatalf("%d messages sent after the MRA, want 2 REQs with the REQ's TID", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cn.timeout != time.Second || cn.retriesLeft != 1 || cn.state != StateMRAReqRcvd {
		t.Fatalf("timeout %v, retries left %d, state %s", cn.timeout, cn.retriesLeft, cn.state)
	}
}
