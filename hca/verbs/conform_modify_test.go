package verbs_test

import (
	"errors"
	"fmt"
	"math/bits"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca/verbs"
)

// Conformance of ibv_modify_qp with the Linux core: the transitions and
// the attributes each requires and allows per QP type are those of IBTA
// Vol 1 §11.2.5.2 (Table 91) as drivers/infiniband/core/verbs.c
// (qp_state_table, ib_modify_qp_is_ok) enforces them, restated here as
// data independent of the engine's own table.

type kTrans struct{ req, opt [5]verbs.AttrMask } // indexed by QPType

// kernelQPTable restates qp_state_table for RC, UC and UD: a missing
// entry is an invalid transition.
var kernelQPTable = func() map[[2]verbs.QPState]kTrans {
	const (
		rc, uc, ud = verbs.QPTypeRC, verbs.QPTypeUC, verbs.QPTypeUD
		pkey       = verbs.AttrPKeyIndex
		port       = verbs.AttrPort
		qkey       = verbs.AttrQKey
		acc        = verbs.AttrAccessFlags
		cur        = verbs.AttrCurState
		alt        = verbs.AttrAltPath
		mig        = verbs.AttrPathMigState
		rnrT       = verbs.AttrMinRNRTimer
	)
	t := map[[2]verbs.QPState]kTrans{}
	tr := func(req, opt map[verbs.QPType]verbs.AttrMask) kTrans {
		var k kTrans
		for q, m := range req {
			k.req[q] = m
		}
		for q, m := range opt {
			k.opt[q] = m
		}
		return k
	}
	S := func(a, b verbs.QPState) [2]verbs.QPState { return [2]verbs.QPState{a, b} }
	t[S(verbs.QPStateReset, verbs.QPStateReset)] = kTrans{}
	t[S(verbs.QPStateReset, verbs.QPStateInit)] = tr(map[verbs.QPType]verbs.AttrMask{
		ud: pkey | port | qkey, uc: pkey | port | acc, rc: pkey | port | acc}, nil)
	for _, s := range []verbs.QPState{verbs.QPStateInit, verbs.QPStateRTR, verbs.QPStateRTS, verbs.QPStateSQD, verbs.QPStateSQE, verbs.QPStateError} {
		t[S(s, verbs.QPStateReset)] = kTrans{}
		t[S(s, verbs.QPStateError)] = kTrans{}
	}
	t[S(verbs.QPStateInit, verbs.QPStateInit)] = tr(nil, map[verbs.QPType]verbs.AttrMask{
		ud: pkey | port | qkey, uc: pkey | port | acc, rc: pkey | port | acc})
	t[S(verbs.QPStateInit, verbs.QPStateRTR)] = tr(map[verbs.QPType]verbs.AttrMask{
		uc: verbs.AttrAV | verbs.AttrPathMTU | verbs.AttrDestQPN | verbs.AttrRQPSN,
		rc: verbs.AttrAV | verbs.AttrPathMTU | verbs.AttrDestQPN | verbs.AttrRQPSN | verbs.AttrMaxDestRdAtomic | rnrT,
	}, map[verbs.QPType]verbs.AttrMask{ud: pkey | qkey, uc: alt | acc | pkey, rc: alt | acc | pkey})
	toRTS := map[verbs.QPType]verbs.AttrMask{ud: cur | qkey, uc: cur | alt | acc | mig, rc: cur | alt | acc | rnrT | mig}
	t[S(verbs.QPStateRTR, verbs.QPStateRTS)] = tr(map[verbs.QPType]verbs.AttrMask{
		ud: verbs.AttrSQPSN, uc: verbs.AttrSQPSN,
		rc: verbs.AttrTimeout | verbs.AttrRetryCnt | verbs.AttrRNRRetry | verbs.AttrSQPSN | verbs.AttrMaxQPRdAtomic,
	}, toRTS)
	t[S(verbs.QPStateRTS, verbs.QPStateRTS)] = tr(nil, toRTS)
	t[S(verbs.QPStateRTS, verbs.QPStateSQD)] = tr(nil, map[verbs.QPType]verbs.AttrMask{
		ud: verbs.AttrEnSQDAsyncNotify, uc: verbs.AttrEnSQDAsyncNotify, rc: verbs.AttrEnSQDAsyncNotify})
	t[S(verbs.QPStateSQD, verbs.QPStateRTS)] = tr(nil, toRTS)
	t[S(verbs.QPStateSQD, verbs.QPStateSQD)] = tr(nil, map[verbs.QPType]verbs.AttrMask{
		ud: pkey | qkey,
		uc: verbs.AttrAV | alt | acc | pkey | mig,
		rc: port | verbs.AttrAV | verbs.AttrTimeout | verbs.AttrRetryCnt | verbs.AttrRNRRetry | verbs.AttrMaxQPRdAtomic |
			verbs.AttrMaxDestRdAtomic | alt | acc | pkey | rnrT | mig,
	})
	t[S(verbs.QPStateSQE, verbs.QPStateRTS)] = tr(nil, map[verbs.QPType]verbs.AttrMask{ud: cur | qkey, uc: cur | acc})
	return t
}()

// kernelModifyOK is ib_modify_qp_is_ok.
func kernelModifyOK(cur, next verbs.QPState, typ verbs.QPType, mask verbs.AttrMask) bool {
	if mask&verbs.AttrCurState != 0 && cur != verbs.QPStateRTR && cur != verbs.QPStateRTS && cur != verbs.QPStateSQD && cur != verbs.QPStateSQE {
		return false
	}
	tr, ok := kernelQPTable[[2]verbs.QPState{cur, next}]
	if !ok {
		return false
	}
	req, opt := tr.req[typ], tr.opt[typ]
	return mask&req == req && mask&^(req|opt|verbs.AttrState) == 0
}

// allAttrBits are the attribute mask bits other than IB_QP_STATE.
// Alternate paths are left out: the engine has no automatic path
// migration and refuses IB_QP_ALT_PATH wherever it appears (checked
// separately).
const allAttrBits = verbs.AttrCurState | verbs.AttrEnSQDAsyncNotify | verbs.AttrAccessFlags | verbs.AttrPKeyIndex |
	verbs.AttrPort | verbs.AttrQKey | verbs.AttrAV | verbs.AttrPathMTU | verbs.AttrTimeout | verbs.AttrRetryCnt |
	verbs.AttrRNRRetry | verbs.AttrRQPSN | verbs.AttrMaxQPRdAtomic | verbs.AttrMinRNRTimer | verbs.AttrSQPSN |
	verbs.AttrMaxDestRdAtomic | verbs.AttrPathMigState | verbs.AttrCap | verbs.AttrDestQPN

// goodAttr has a valid value for every attribute, so that only the mask
// decides.
func goodAttr(cur, next verbs.QPState, peer wire.LID) verbs.QPAttr {
	return verbs.QPAttr{
		QPState: next, CurQPState: cur, PathMTU: wire.MTU1024, QKey: 0x11, RQPSN: 0x10, SQPSN: 0x20, DestQPNum: 0x99,
		QPAccessFlags: verbs.AccessRemoteWrite, AHAttr: verbs.AHAttr{DLID: peer, PortNum: 1}, PKeyIndex: 0,
		MaxRdAtomic: 4, MaxDestRdAtomic: 4, MinRNRTimer: 12, PortNum: 1, Timeout: 14, RetryCnt: 7, RNRRetry: 7,
		Cap: verbs.QPCap{MaxSendWR: 16, MaxRecvWR: 16, MaxSendSGE: 1, MaxRecvSGE: 1},
	}
}

// walkTo brings a fresh QP of x's PD to state s the legal way; SQE
// (UC and UD only) through a send that fails its local key check.
func (tn *testNet) walkTo(x *ep, qp *verbs.QP, s verbs.QPState, peer wire.LID) {
	tn.t.Helper()
	typ := qp.Type()
	path := []verbs.QPState{verbs.QPStateInit, verbs.QPStateRTR, verbs.QPStateRTS}
	switch s {
	case verbs.QPStateReset:
		return
	case verbs.QPStateInit:
		path = path[:1]
	case verbs.QPStateRTR:
		path = path[:2]
	case verbs.QPStateSQD:
		path = append(path, verbs.QPStateSQD)
	case verbs.QPStateError:
		path = append(path, verbs.QPStateError)
	}
	var err error
	tn.do(func() {
		cur := verbs.QPStateReset
		for _, next := range path {
			a := goodAttr(cur, next, peer)
			tr := kernelQPTable[[2]verbs.QPState{cur, next}]
			if err = qp.Modify(&a, verbs.AttrState|tr.req[typ]); err != nil {
				err = fmt.Errorf("%s -> %s: %w", cur, next, err)
				return
			}
			cur = next
		}
	})
	if err != nil {
		tn.t.Fatal(err)
	}
	if s != verbs.QPStateSQE {
		return
	}
	wr := verbs.SendWR{WRID: 1, Opcode: verbs.WRSend, SGL: []verbs.SGE{{Addr: x.mr.Addr(), Length: 8, LKey: x.mr.LKey() ^ 0x80}}}
	if typ == verbs.QPTypeUD {
		wr.AH = tn.ah(x, verbs.AHAttr{DLID: peer, PortNum: 1})
		wr.RemoteQPN = 0x99
	}
	if _, err := qp.PostSend([]verbs.SendWR{wr}); err != nil {
		tn.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for qp.State() != verbs.QPStateSQE {
		if time.Now().After(deadline) {
			tn.t.Fatalf("%s qp did not reach SQE: %s", typ, qp.State())
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// TestConformModifyQPTable sweeps every (current, next) state pair of
// RC, UC and UD QPs with the required attributes, with each one left out
// and with each other attribute added: the engine accepts exactly what
// ib_modify_qp_is_ok accepts.
func TestConformModifyQPTable(t *testing.T) {
	tn := newNet(t, 2)
	peer := wire.LID(2)
	for _, typ := range []verbs.QPType{verbs.QPTypeRC, verbs.QPTypeUC, verbs.QPTypeUD} {
		x := tn.endpoint(0, epOpts{typ: typ})
		for cur := verbs.QPStateReset; cur <= verbs.QPStateError; cur++ {
			if cur == verbs.QPStateSQE && typ == verbs.QPTypeRC {
				continue // an RC QP never enters SQE (IBTA Vol 1 §10.3.1.6)
			}
			for next := verbs.QPStateReset; next <= verbs.QPStateError; next++ {
				base := verbs.AttrState
				if tr, ok := kernelQPTable[[2]verbs.QPState{cur, next}]; ok {
					base |= tr.req[typ]
				}
				masks := []verbs.AttrMask{base}
				for b := verbs.AttrMask(1); b <= verbs.AttrDestQPN; b <<= 1 {
					switch {
					case b == verbs.AttrState:
					case base&b != 0:
						masks = append(masks, base&^b)
					case allAttrBits&b != 0:
						masks = append(masks, base|b)
					}
				}
				for _, mask := range masks {
					want := kernelModifyOK(cur, next, typ, mask)
					var qp *verbs.QP
					var err error
					tn.do(func() {
						qp, err = x.pd.CreateQP(verbs.QPInitAttr{SendCQ: x.cq, RecvCQ: x.rcq, QPType: typ,
							Cap: verbs.QPCap{MaxSendWR: 16, MaxRecvWR: 16, MaxSendSGE: 1, MaxRecvSGE: 1}})
					})
					if err != nil {
						t.Fatal(err)
					}
					tn.walkTo(x, qp, cur, peer)
					a := goodAttr(cur, next, peer)
					tn.do(func() { err = qp.Modify(&a, mask) })
					got := err == nil
					if got != want {
						t.Errorf("%s %s -> %s mask %#x (%s): accepted %v, the kernel %v (%v)", typ, cur, next, uint32(mask), maskNames(mask), got, want, err)
					}
					if err != nil && !errors.Is(err, verbs.ErrInvalid) {
						t.Errorf("%s %s -> %s: error %v does not wrap ErrInvalid", typ, cur, next, err)
					}
					if !got && qp.State() != cur {
						t.Errorf("%s %s -> %s refused but the state changed to %s", typ, cur, next, qp.State())
					}
					tn.do(func() { err = qp.Destroy() })
					if err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

var attrNames = []string{"STATE", "CUR_STATE", "EN_SQD_ASYNC_NOTIFY", "ACCESS_FLAGS", "PKEY_INDEX", "PORT", "QKEY", "AV",
	"PATH_MTU", "TIMEOUT", "RETRY_CNT", "RNR_RETRY", "RQ_PSN", "MAX_QP_RD_ATOMIC", "ALT_PATH", "MIN_RNR_TIMER", "SQ_PSN",
	"MAX_DEST_RD_ATOMIC", "PATH_MIG_STATE", "CAP", "DEST_QPN"}

func maskNames(m verbs.AttrMask) string {
	s := ""
	for m != 0 {
		i := bits.TrailingZeros32(uint32(m))
		m &^= 1 << i
		if s != "" {
			s += "|"
		}
		if i < len(attrNames) {
			s += attrNames[i]
		} else {
			s += fmt.Sprint(i)
		}
	}
	return s
}

// TestConformModifyQPValues: attribute values a driver refuses (rxe
// rxe_qp_chk_attr, the ConnectX drivers' checks) with EINVAL, leaving
// the QP as it was; each row is one bad value in an otherwise good
// INIT->RTR or RTR->RTS of an RC QP.
func TestConformModifyQPValues(t *testing.T) {
	tn := newNet(t, 2)
	x := tn.endpoint(0, epOpts{typ: verbs.QPTypeRC})
	d := x.e.Attr()
	var npkeys int
	var capMTU wire.MTU
	tn.do(func() {
		pa := tn.hcas[0].SMA().Port(1)
		npkeys, capMTU = pa.NumPKeys(), pa.Config.MTUCap
		// The SM negotiated a smaller MTU with the switch than the
		// port can do: the active MTU is 1024.
		pa.NeighborMTU = wire.MTU1024
	})
	if capMTU <= wire.MTU1024 {
		t.Fatalf("port mtu cap %s: the active-mtu rows need a larger one", capMTU)
	}
	aboveCap := func(a *verbs.QPAttr) { a.PathMTU = capMTU + 1 }
	rtrMask := verbs.AttrState | kernelQPTable[[2]verbs.QPState{verbs.QPStateInit, verbs.QPStateRTR}].req[verbs.QPTypeRC]
	rtsMask := verbs.AttrState | kernelQPTable[[2]verbs.QPState{verbs.QPStateRTR, verbs.QPStateRTS}].req[verbs.QPTypeRC]
	rows := []struct {
		name string
		from verbs.QPState
		mask verbs.AttrMask
		mod  func(*verbs.QPAttr)
		ok   bool
	}{
		{"good rtr", verbs.QPStateInit, rtrMask, func(*verbs.QPAttr) {}, true},
		{"path mtu = active", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.PathMTU = wire.MTU1024 }, true},
		// rxe checks the port's max_mtu, the ConnectX drivers 256..4096:
		// none refuses a path MTU above the active one (perftest clamps
		// it itself).
		{"path mtu above active, = cap", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.PathMTU = capMTU }, true},
		{"path mtu above cap", verbs.QPStateInit, rtrMask, aboveCap, false},
		{"path mtu 0", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.PathMTU = 0 }, false},
		{"path mtu 6", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.PathMTU = 6 }, false},
		{"max_dest_rd_atomic = limit", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.MaxDestRdAtomic = uint8(d.MaxQPInitRdAtom) }, true},
		{"max_dest_rd_atomic above limit", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.MaxDestRdAtomic = uint8(d.MaxQPInitRdAtom + 1) }, false},
		{"min_rnr_timer 31", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.MinRNRTimer = 31 }, true},
		{"min_rnr_timer 32", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.MinRNRTimer = 32 }, false},
		{"dest qpn 2^24", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.DestQPNum = 1 << 24 }, false},
		{"pkey index last", verbs.QPStateInit, rtrMask | verbs.AttrPKeyIndex, func(a *verbs.QPAttr) { a.PKeyIndex = uint16(npkeys - 1) }, true},
		{"pkey index beyond the table", verbs.QPStateInit, rtrMask | verbs.AttrPKeyIndex, func(a *verbs.QPAttr) { a.PKeyIndex = uint16(npkeys) }, false},
		{"av port 2 of a one-port hca", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.AHAttr.PortNum = 2 }, false},
		{"av sl 16", verbs.QPStateInit, rtrMask, func(a *verbs.QPAttr) { a.AHAttr.SL = 16 }, false},
		{"access flags unknown bit", verbs.QPStateInit, rtrMask | verbs.AttrAccessFlags, func(a *verbs.QPAttr) { a.QPAccessFlags = 1 << 20 }, false},
		{"good rts", verbs.QPStateRTR, rtsMask, func(*verbs.QPAttr) {}, true},
		{"timeout 31", verbs.QPStateRTR, rtsMask, func(a *verbs.QPAttr) { a.Timeout = 31 }, true},
		{"timeout 32", verbs.QPStateRTR, rtsMask, func(a *verbs.QPAttr) { a.Timeout = 32 }, false},
		{"retry_cnt 8", verbs.QPStateRTR, rtsMask, func(a *verbs.QPAttr) { a.RetryCnt = 8 }, false},
		{"rnr_retry 8", verbs.QPStateRTR, rtsMask, func(a *verbs.QPAttr) { a.RNRRetry = 8 }, false},
		{"max_rd_atomic = limit", verbs.QPStateRTR, rtsMask, func(a *verbs.QPAttr) { a.MaxRdAtomic = uint8(d.MaxQPRdAtom) }, true},
		{"max_rd_atomic above limit", verbs.QPStateRTR, rtsMask, func(a *verbs.QPAttr) { a.MaxRdAtomic = uint8(d.MaxQPRdAtom + 1) }, false},
		{"sq psn 2^24", verbs.QPStateRTR, rtsMask, func(a *verbs.QPAttr) { a.SQPSN = 1 << 24 }, false},
		{"cur_qp_state matches", verbs.QPStateRTR, rtsMask | verbs.AttrCurState, func(a *verbs.QPAttr) { a.CurQPState = verbs.QPStateRTR }, true},
		{"cur_qp_state mismatch", verbs.QPStateRTR, rtsMask | verbs.AttrCurState, func(a *verbs.QPAttr) { a.CurQPState = verbs.QPStateRTS }, false},
	}
	for _, r := range rows {
		var qp *verbs.QP
		var err error
		tn.do(func() {
			qp, err = x.pd.CreateQP(verbs.QPInitAttr{SendCQ: x.cq, RecvCQ: x.rcq, QPType: verbs.QPTypeRC,
				Cap: verbs.QPCap{MaxSendWR: 4, MaxRecvWR: 4, MaxSendSGE: 1, MaxRecvSGE: 1}})
		})
		if err != nil {
			t.Fatal(err)
		}
		tn.walkTo(x, qp, r.from, 2)
		next := verbs.QPStateRTR
		if r.from == verbs.QPStateRTR {
			next = verbs.QPStateRTS
		}
		a := goodAttr(r.from, next, 2)
		r.mod(&a)
		tn.do(func() { err = qp.Modify(&a, r.mask) })
		if r.ok != (err == nil) || (!r.ok && !errors.Is(err, verbs.ErrInvalid)) {
			t.Errorf("%s: %v", r.name, err)
		}
		if want := map[bool]verbs.QPState{true: next, false: r.from}[r.ok]; qp.State() != want {
			t.Errorf("%s: state %s, want %s", r.name, qp.State(), want)
		}
		tn.do(func() { err = qp.Destroy() })
		if err != nil {
			t.Fatal(err)
		}
	}
}
