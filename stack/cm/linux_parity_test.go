package cm_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/capture/capturetest"
	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/cm"
	"github.com/ibemu/ibemu/stack/mad"
)

// These tests check what the CM puts on the wire and into the QPs against
// what the Linux kernel's ib_cm (drivers/infiniband/core/cm.c) and rdma_cm
// do with the same parameters.

// TestREQFieldsAndQPAttrsAsIBCM connects with distinct values on each side
// and checks the REQ's fields (cm_format_req) and both QPs' RTR/RTS
// attributes (ib_cm_init_qp_attr).
func TestREQFieldsAndQPAttrsAsIBCM(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	reqs := make(chan wire.CMREQFields, 1)
	acc := make(chan accepted, 1)
	if _, err := b.cm.Listen(21, func(r *cm.ConnRequest) {
		reqs <- r.REQ()
		c, err := r.Accept(r.Context(), cm.AcceptParams{QP: b.qp(t, hv.QPTypeRC), ResponderResources: 2, InitiatorDepth: 1,
			RNRRetryCount: 5, FlowControl: true})
		acc <- accepted{c, err}
	}); err != nil {
		t.Fatal(err)
	}
	qp := a.qp(t, hv.QPTypeRC)
	p := path(a, b)
	p.PacketLifeTime, p.SL, p.Rate, p.FlowLabel = 13, 2, 3, 0x12345
	conn, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 21, QP: qp, Path: p, ResponderResources: 4, InitiatorDepth: 3,
		RetryCount: 6, RNRRetryCount: 3, FlowControl: true})
	if err != nil {
		t.Fatal(err)
	}
	pc := wait(t, acc)
	if pc.err != nil {
		t.Fatal(pc.err)
	}
	req := <-reqs
	aq, err := qp.Query()
	if err != nil {
		t.Fatal(err)
	}
	bq, err := pc.conn.QP().Query()
	if err != nil {
		t.Fatal(err)
	}
	// cm_ack_timeout(ack delay 15, packet lifetime 13) = 16.
	const lat = 16
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"REQ local QPN", req.LocalQPN, qp.Num()},
		{"REQ starting PSN = the active QP's RQ PSN", req.StartingPSN, aq.RQPSN},
		{"REQ remote CM response timeout", req.RemoteCMResponseTimeout, uint8(cm.DefaultCMResponseTimeout)},
		{"REQ local CM response timeout", req.LocalCMResponseTimeout, uint8(cm.DefaultCMResponseTimeout)},
		{"REQ max CM retries", req.MaxCMRetries, uint8(cm.DefaultMaxCMRetries)},
		{"REQ retry count", req.RetryCount, uint8(6)},
		{"REQ RNR retry count", req.RNRRetryCount, uint8(3)},
		{"REQ responder resources", req.ResponderResources, uint8(4)},
		{"REQ initiator depth", req.InitiatorDepth, uint8(3)},
		{"REQ end-to-end flow control", req.EndToEndFlowControl, true},
		{"REQ SRQ", req.SRQ, false},
		{"REQ transport", req.TransportServiceType, wire.CMTransportRC},
		{"REQ P_Key", req.PKey, wire.PKeyDefault},
		{"REQ path MTU", req.PathMTU, wire.MTU2048},
		{"REQ primary local LID", req.Primary.LocalLID, a.lid},
		{"REQ primary remote LID", req.Primary.RemoteLID, b.lid},
		{"REQ primary local GID", req.Primary.LocalGID, a.gid},
		{"REQ primary remote GID", req.Primary.RemoteGID, b.gid},
		{"REQ primary flow label", req.Primary.FlowLabel, uint32(0x12345)},
		{"REQ primary packet rate", req.Primary.PacketRate, wire.Rate(3)},
		{"REQ primary SL", req.Primary.SL, uint8(2)},
		{"REQ primary subnet local", req.Primary.SubnetLocal, true},
		{"REQ primary local ACK timeout", req.Primary.LocalACKTimeout, uint8(lat)},
		{"REQ no alternate path", req.Alternate, (*wire.CMPathFields)(nil)},
		// Active QP: RTR from the REP, RTS from the REQ's parameters,
		// rnr_retry from the REP (cm_rep_handler).
		{"active dest QPN", aq.DestQPNum, pc.conn.QP().Num()},
		{"active path MTU", aq.PathMTU, wire.MTU2048},
		{"active SQ PSN = passive RQ PSN", aq.SQPSN, bq.RQPSN},
		{"active max_dest_rd_atomic = REP initiator depth", aq.MaxDestRdAtomic, uint8(1)},
		{"active max_rd_atomic = REP responder resources", aq.MaxRdAtomic, uint8(2)},
		{"active min_rnr_timer", aq.MinRNRTimer, uint8(0)},
		{"active timeout", aq.Timeout, uint8(lat)},
		{"active retry_cnt", aq.RetryCnt, uint8(6)},
		{"active rnr_retry = REP RNR retry count", aq.RNRRetry, uint8(5)},
		{"active remote read (responder resources 1)", aq.QPAccessFlags&hv.AccessRemoteRead != 0, true},
		// Passive QP: everything from the REQ.
		{"passive dest QPN", bq.DestQPNum, qp.Num()},
		{"passive path MTU", bq.PathMTU, wire.MTU2048},
		{"passive SQ PSN = REQ starting PSN", bq.SQPSN, req.StartingPSN},
		{"passive max_dest_rd_atomic = min(REQ initiator depth, own)", bq.MaxDestRdAtomic, uint8(2)},
		{"passive max_rd_atomic = min(REQ responder resources, own)", bq.MaxRdAtomic, uint8(1)},
		{"passive min_rnr_timer", bq.MinRNRTimer, uint8(0)},
		{"passive timeout = REQ local ACK timeout", bq.Timeout, uint8(lat)},
		{"passive retry_cnt = REQ retry count", bq.RetryCnt, uint8(6)},
		{"passive rnr_retry = REQ RNR retry count", bq.RNRRetry, uint8(3)},
		{"passive SL", bq.AHAttr.SL, uint8(2)},
		{"passive DLID", bq.AHAttr.DLID, a.lid},
	} {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if err := conn.Disconnect(tctx(t), nil); err != nil {
		t.Fatal(err)
	}
}

// TestREQLeavingTheSubnetCarriesPermissiveLIDs: a path with a hop limit
// above 1 goes in the REQ with the permissive LID at both ends and subnet
// local clear (cm_format_req).
func TestREQLeavingTheSubnetCarriesPermissiveLIDs(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	reqs := make(chan wire.CMREQFields, 1)
	if _, err := b.cm.Listen(22, func(r *cm.ConnRequest) {
		reqs <- r.REQ()
		_ = r.Reject(wire.CMRejectConsumerDefined, nil, nil)
	}); err != nil {
		t.Fatal(err)
	}
	p := path(a, b)
	p.HopLimit = 8
	_, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 22, QP: a.qp(t, hv.QPTypeRC), Path: p})
	if !errors.Is(err, cm.ErrRejected) {
		t.Fatalf("connect: %v", err)
	}
	req := <-reqs
	if req.Primary.LocalLID != wire.LIDPermissive || req.Primary.RemoteLID != wire.LIDPermissive || req.Primary.SubnetLocal ||
		req.Primary.HopLimit != 8 {
		t.Fatalf("routed REQ path %+v", req.Primary)
	}
}

// TestREQForAGIDNotOursIsRejected12: a REQ whose primary Remote Port GID
// is not the passive port's gets REJ 12 (invalid GID) with the port's GID
// as ARI before any listener sees it (cm_req_handler's cm_init_av_by_path
// failing).
func TestREQForAGIDNotOursIsRejected12(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	called := make(chan struct{}, 1)
	if _, err := b.cm.Listen(23, func(r *cm.ConnRequest) {
		select {
		case called <- struct{}{}:
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	p := path(a, b)
	p.DGID[15] ^= 0x5a
	_, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 23, QP: a.qp(t, hv.QPTypeRC), Path: p})
	var rej *cm.RejectError
	if !errors.As(err, &rej) || rej.Reason != wire.CMRejectInvalidGID || rej.MessageRejected != wire.CMMsgREQ ||
		!bytes.Equal(rej.ARI, b.gid[:]) {
		t.Fatalf("connect to a GID not the port's: %v %+v", err, rej)
	}
	select {
	case <-called:
		t.Fatal("the listener saw the REQ")
	default:
	}
}

// TestSIDRRetriesAsRDMACM: an unanswered SIDR_REQ is sent 1 + 15 times,
// 4096 ms apart, as rdma_cm's cma_resolve_ib_udp asks of ib_cm.
func TestSIDRRetriesAsRDMACM(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	if err := f.KillNode(b.name); err != nil {
		t.Fatal(err)
	}
	start := a.cm.Clock().Now()
	if _, err := a.cm.ResolveSIDR(tctx(t), cm.SIDRParams{ServiceID: 5, Path: path(a, b)}); !errors.Is(err, cm.ErrTimeout) {
		t.Fatalf("sidr to a dead port: %v", err)
	}
	if s := a.cm.Stats(); s.Tx(wire.AttrCMSIDRREQ) != 16 {
		t.Fatalf("%d SIDR_REQs, want 16", s.Tx(wire.AttrCMSIDRREQ))
	}
	if d := a.cm.Clock().Now().Sub(start); d < 16*cm.DefaultSIDRTimeout {
		t.Fatalf("gave up after %v", d)
	}
}

// TestCaptureOfEveryMessageDecodesInTshark records a run with every CM
// message on the wire (REQ, MRA, REP, RTU, REJ with ARI and private data,
// SIDR_REQ and SIDR_REP both ways, LAP, DREQ, DREP) and checks that
// tshark decodes every frame without malformed or expert errors and reads
// the fields it dissects as the values the connections used.
func TestCaptureOfEveryMessageDecodesInTshark(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	capPath := capturetest.Path(t, "cm-messages.pcap")
	w, err := capture.Create(capPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Emu.Do(func() { f.Emu.AddTap(w) }); err != nil {
		t.Fatal(err)
	}

	// REQ, MRA, REP, RTU.
	acc := make(chan accepted, 1)
	if _, err := b.cm.Listen(31, func(r *cm.ConnRequest) {
		// Keep fabric time still from the MRA to the REP, so that the
		// active side's stretched REQ timer cannot run out meanwhile.
		release := f.Emu.Hold()
		if err := r.MRA(16, []byte("wait")); err != nil {
			t.Error(err)
		}
		go func() {
			for end := time.Now().Add(30 * time.Second); b.cm.Stats().Tx(wire.AttrCMREP) == 0 && time.Now().Before(end); {
				time.Sleep(time.Millisecond)
			}
			release()
		}()
		c, err := r.Accept(r.Context(), cm.AcceptParams{QP: b.qp(t, hv.QPTypeRC), PrivateData: []byte("rep")})
		acc <- accepted{c, err}
	}); err != nil {
		t.Fatal(err)
	}
	qp := a.qp(t, hv.QPTypeRC)
	conn, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 31, QP: qp, Path: path(a, b), PrivateData: []byte("req")})
	if err != nil {
		t.Fatal(err)
	}
	pc := wait(t, acc)
	if pc.err != nil {
		t.Fatal(pc.err)
	}
	aq, _ := qp.Query()
	bq, _ := pc.conn.QP().Query()
	// REJ with ARI and private data.
	ari := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	if _, err := b.cm.Listen(32, func(r *cm.ConnRequest) { _ = r.Reject(wire.CMRejectConsumerDefined, ari, []byte("no")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.cm.Connect(tctx(t), cm.ConnectParams{ServiceID: 32, QP: a.qp(t, hv.QPTypeRC), Path: path(a, b)}); !errors.Is(err, cm.ErrRejected) {
		t.Fatalf("rejected connect: %v", err)
	}
	// SIDR both ways: a success and a reject.
	ud := a.qp(t, hv.QPTypeUD)
	if _, err := b.cm.ListenSIDR(33, func(r *cm.SIDRRequest) { _ = r.Reply(ud.Num(), 0x11111111, []byte("sidr ok")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.cm.ListenSIDR(34, func(r *cm.SIDRRequest) { _ = r.Reject(wire.CMSIDRReject, []byte{9}, nil) }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.cm.ResolveSIDR(tctx(t), cm.SIDRParams{ServiceID: 33, Path: path(a, b), PrivateData: []byte("who")}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.cm.ResolveSIDR(tctx(t), cm.SIDRParams{ServiceID: 34, Path: path(b, a)}); !errors.Is(err, cm.ErrRejected) {
		t.Fatalf("sidr reject: %v", err)
	}
	// LAP (nothing answers it, as under rdma_cm).
	lap := make([]byte, wire.MADSize)
	wire.EncodeCMMAD(lap, wire.AttrCMLAP, 0x77)
	wire.CMLAP(wire.CMMAD(lap).Message()).Encode(&wire.CMLAPFields{CMCommIDs: wire.CMCommIDs{LocalCommID: conn.LocalCommID(),
		RemoteCommID: conn.RemoteCommID()}, RemoteQPN: pc.conn.QP().Num(), RemoteCMResponseTimeout: 20,
		Alternate: wire.CMPathFields{LocalLID: a.lid, RemoteLID: b.lid, LocalGID: a.gid, RemoteGID: b.gid, SubnetLocal: true, LocalACKTimeout: 16}})
	if err := a.cm.SendRaw(mad.Addr{LID: b.lid, QPN: 1, QKey: mad.GSIQKey}, lap); err != nil {
		t.Fatal(err)
	}
	// DREQ, DREP.
	if err := conn.Disconnect(tctx(t), []byte("bye")); err != nil {
		t.Fatal(err)
	}
	if s := b.cm.Stats(); s.Rx(wire.AttrCMLAP) != 1 || s.Tx(wire.AttrCMAPR) != 0 {
		t.Errorf("LAP received %d, APR sent %d", s.Rx(wire.AttrCMLAP), s.Tx(wire.AttrCMAPR))
	}
	if err := f.Emu.Do(func() { f.Emu.RemoveTap(w) }); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(capturetest.Check(t, capPath)))

	// Every CM attribute is on the wire.
	attrs := tsharkFields(t, capPath, "infiniband.mad.mgmtclass == 0x07", "infiniband.mad.attributeid")
	seen := map[string]int{}
	for _, r := range attrs {
		seen[normHexT(r["infiniband.mad.attributeid"])]++
	}
	for _, a := range []wire.AttrID{wire.AttrCMREQ, wire.AttrCMMRA, wire.AttrCMREJ, wire.AttrCMREP, wire.AttrCMRTU, wire.AttrCMDREQ,
		wire.AttrCMDREP, wire.AttrCMSIDRREQ, wire.AttrCMSIDRREP, wire.AttrCMLAP} {
		if seen[normHexT(fmt.Sprintf("%#x", uint16(a)))] == 0 {
			t.Errorf("no %s in the capture (%v)", wire.CMAttrName(a), seen)
		}
	}
	check := func(filter string, want map[string]string) {
		t.Helper()
		var fields []string
		for k := range want {
			fields = append(fields, k)
		}
		rows := tsharkFields(t, capPath, filter, fields...)
		if len(rows) == 0 {
			t.Errorf("%s: no frame", filter)
			return
		}
		for k, v := range want {
			if got := normHexT(rows[0][k]); got != normHexT(v) {
				t.Errorf("%s: %s = %q, want %q", filter, k, rows[0][k], v)
			}
		}
	}
	h := func(v any) string { return fmt.Sprintf("%#x", v) }
	check("infiniband.cm.req.serviceid == 31", map[string]string{
		"infiniband.cm.req":             h(conn.LocalCommID()),
		"infiniband.cm.req.localqpn":    h(qp.Num()),
		"infiniband.cm.req.startpsn":    h(aq.RQPSN),
		"infiniband.cm.req.localcaguid": h(uint64(a.cm.CAGUID())), "infiniband.cm.req.remoteresptout": "0x14",
		"infiniband.cm.req.localresptout": "0x14", "infiniband.cm.req.maxcmretr": "0xf", "infiniband.cm.req.retrcount": "0x7",
		"infiniband.cm.req.rnrretrcount": "0x7", "infiniband.cm.req.pkey": "0xffff", "infiniband.cm.req.pppmtu": "0x4",
		"infiniband.cm.req.prim_locallid": fmt.Sprint(a.lid), "infiniband.cm.req.prim_remotelid": fmt.Sprint(b.lid),
		"infiniband.cm.req.prim_subnetlocal": "0x1", "infiniband.cm.req.prim_localacktout": "0xf",
	})
	check("infiniband.cm.rep.remotecommid == "+h(conn.LocalCommID()), map[string]string{
		"infiniband.cm.rep":              h(pc.conn.LocalCommID()),
		"infiniband.cm.rep.localqpn":     h(pc.conn.QP().Num()),
		"infiniband.cm.rep.startpsn":     h(bq.RQPSN),
		"infiniband.cm.rep.tgtackdelay":  h(cm.DefaultTargetACKDelay),
		"infiniband.cm.rep.rnrretrcount": "0x7", "infiniband.cm.rep.localcaguid": h(uint64(b.cm.CAGUID())),
	})
	check("infiniband.cm.rtu.localcommid == "+h(conn.LocalCommID()), map[string]string{
		"infiniband.cm.rtu.remotecommid": h(pc.conn.LocalCommID()),
	})
	check("infiniband.cm.rej.reason == 28", map[string]string{
		"infiniband.cm.rej.localcommid": "0x0", "infiniband.cm.rej.msgrej": "0x0", "infiniband.cm.rej.rejinfolen": "0x08",
		"infiniband.cm.rej.ari":     hex.EncodeToString(append(ari, make([]byte, wire.CMREJARISize-len(ari))...)),
		"infiniband.cm.rej.private": hex.EncodeToString(append([]byte("no"), make([]byte, wire.CMREJPrivateDataSize-2)...)),
	})
	check("infiniband.cm.dreq.localcommid == "+h(conn.LocalCommID()), map[string]string{
		"infiniband.cm.dreq.remotecommid": h(pc.conn.LocalCommID()), "infiniband.cm.req.remoteqpneecn": h(pc.conn.QP().Num()),
	})
	check("infiniband.cm.drsp.remotecommid == "+h(conn.LocalCommID()), map[string]string{
		"infiniband.cm.drsp.localcommid": h(pc.conn.LocalCommID()),
	})
	// The DREQ's TID is the REQ's (cm_form_tid of the same ID).
	tids := tsharkFields(t, capPath, "infiniband.cm.req.serviceid == 31 || infiniband.cm.dreq.localcommid == "+h(conn.LocalCommID()),
		"infiniband.mad.transactionid")
	if len(tids) < 2 || tids[0]["infiniband.mad.transactionid"] != tids[len(tids)-1]["infiniband.mad.transactionid"] {
		t.Errorf("REQ and DREQ TIDs %v", tids)
	}
}

// tsharkFields runs tshark on the capture with a display filter and
// returns the fields of every matching frame.
func tsharkFields(t *testing.T, path, filter string, fields ...string) []map[string]string {
	t.Helper()
	args := []string{"-n", "-r", path, "-Y", filter, "-T", "fields", "-E", "separator=|", "-E", "aggregator=,"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", filter, err)
	}
	var rows []map[string]string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		r := map[string]string{}
		for i, v := range strings.Split(line, "|") {
			if i < len(fields) {
				r[fields[i]] = v
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// normHexT makes tshark's and our hex spellings comparable ("0x0f" and
// "0xf").
func normHexT(s string) string {
	if strings.HasPrefix(s, "0x") {
		t := strings.TrimLeft(s[2:], "0")
		if t == "" {
			t = "0"
		}
		return "0x" + strings.ToLower(t)
	}
	return s
}

// TestPrivateDataLimitsPerMessage: every message takes private data up to
// its IBTA size (REQ 92, REP 196, REJ 148 with 72 bytes of ARI, RTU 224,
// DREQ 220, DREP 224, MRA 222, SIDR_REQ 216, SIDR_REP 136 with 72 bytes of
// additional information) and one byte more is refused at the API with
// ErrInvalid, as ib_cm's ib_send_cm_* return -EINVAL.
func TestPrivateDataLimitsPerMessage(t *testing.T) {
	f := fabric(t)
	a, b := newNode(t, f, 1, nil), newNode(t, f, 2, nil)
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, cm.ErrInvalid) || !strings.HasPrefix(err.Error(), "cm: ") {
			t.Errorf("%s: %v, want a cm: ... ErrInvalid", what, err)
		}
	}
	acc := make(chan accepted, 1)
	if _, err := b.cm.Listen(41, func(r *cm.ConnRequest) {
		refused("MRA 223", r.MRA(0, make([]byte, 223)))
		refused("REJ 149", r.Reject(wire.CMRejectConsumerDefined, nil, make([]byte, 149)))
		refused("REJ ARI 73", r.Reject(wire.CMRejectConsumerDefined, make([]byte, 73), nil))
		qp := b.qp(t, hv.QPTypeRC)
		_, err := r.Accept(r.Context(), cm.AcceptParams{QP: qp, PrivateData: make([]byte, 197)})
		refused("REP 197", err)
		_, err = r.Accept(r.Context(), cm.AcceptParams{QP: qp, DREPPrivateData: make([]byte, 225)})
		refused("DREP 225", err)
		c, err := r.Accept(r.Context(), cm.AcceptParams{QP: qp, PrivateData: bytes.Repeat([]byte{'p'}, 196)})
		acc <- accepted{c, err}
	}); err != nil {
		t.Fatal(err)
	}
	base := cm.ConnectParams{ServiceID: 41, QP: a.qp(t, hv.QPTypeRC), Path: path(a, b)}
	for what, mod := range map[string]func(*cm.ConnectParams){
		"REQ 93":  func(p *cm.ConnectParams) { p.PrivateData = make([]byte, 93) },
		"RTU 225": func(p *cm.ConnectParams) { p.RTUPrivateData = make([]byte, 225) },
		"DREP 225": func(p *cm.ConnectParams) {
			p.DREPPrivateData = make([]byte, 225)
		},
	} {
		p := base
		mod(&p)
		_, err := a.cm.Connect(tctx(t), p)
		refused(what, err)
	}
	p := base
	p.PrivateData, p.RTUPrivateData = bytes.Repeat([]byte{'q'}, 92), bytes.Repeat([]byte{'r'}, 224)
	conn, err := a.cm.Connect(tctx(t), p)
	if err != nil {
		t.Fatal(err)
	}
	pc := wait(t, acc)
	if pc.err != nil {
		t.Fatal(pc.err)
	}
	if !bytes.Equal(pc.conn.PrivateData(), p.PrivateData) || !bytes.Equal(pc.conn.RTUPrivateData(), p.RTUPrivateData) ||
		!bytes.Equal(conn.PrivateData(), bytes.Repeat([]byte{'p'}, 196)) {
		t.Fatal("private data at the limits did not arrive whole")
	}
	refused("DREQ 221", conn.Disconnect(tctx(t), make([]byte, 221)))
	if err := conn.Disconnect(tctx(t), bytes.Repeat([]byte{'d'}, 220)); err != nil {
		t.Fatal(err)
	}

	if _, err := b.cm.ListenSIDR(42, func(r *cm.SIDRRequest) {
		refused("SIDR_REP 137", r.Reply(1, 2, make([]byte, 137)))
		refused("SIDR_REP info 73", r.Reject(wire.CMSIDRReject, make([]byte, 73), nil))
		if err := r.Reply(1, 2, bytes.Repeat([]byte{'s'}, 136)); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	_, err = a.cm.ResolveSIDR(tctx(t), cm.SIDRParams{ServiceID: 42, Path: path(a, b), PrivateData: make([]byte, 217)})
	refused("SIDR_REQ 217", err)
	rep, err := a.cm.ResolveSIDR(tctx(t), cm.SIDRParams{ServiceID: 42, Path: path(a, b), PrivateData: make([]byte, 216)})
	if err != nil || !bytes.Equal(rep.PrivateData, bytes.Repeat([]byte{'s'}, 136)) {
		t.Fatalf("sidr at the limits: %v %q", err, rep.PrivateData)
	}
}
