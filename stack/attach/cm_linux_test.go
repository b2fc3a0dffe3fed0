//go:build linux

package attach

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/cm"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/verbs"
)

// cmHost is an HCA of the served fabric with a CM and verbs objects.
type cmHost struct {
	id  string
	cm  *cm.CM
	ctx *verbs.Context
	pd  *verbs.PD
	cq  *verbs.CQ
	mr  *verbs.MR
	gid wire.GID
}

func newCMHost(t *testing.T, h *interop, id string) *cmHost {
	t.Helper()
	dev := h.srv.byID[id].hca
	x := &cmHost{id: id}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	tr := mad.NewInProcess(h.srv.Fabric(), dev, 1)
	var err error
	x.ctx, err = verbs.Open(dev)
	must(err)
	x.cm, err = cm.New(tr, x.ctx, 1, cm.Options{})
	must(err)
	t.Cleanup(func() {
		_ = x.cm.Close()
		tr.Close()
		x.ctx.Close()
	})
	x.pd, err = x.ctx.AllocPD()
	must(err)
	x.cq, err = x.ctx.CreateCQ(256, nil)
	must(err)
	x.mr, err = x.pd.RegMR(make([]byte, 1<<16), hv.AccessLocalWrite|hv.AccessRemoteWrite)
	must(err)
	x.gid, err = x.ctx.QueryGID(1, 0)
	must(err)
	return x
}

func (x *cmHost) qp(t *testing.T) *verbs.QP {
	t.Helper()
	qp, err := x.pd.CreateQP(verbs.QPInitAttr{SendCQ: x.cq, RecvCQ: x.cq, QPType: hv.QPTypeRC,
		Cap: verbs.QPCap{MaxSendWR: 64, MaxRecvWR: 64, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return qp
}

// pollOne waits up to 10 s for one completion on cq.
func pollOne(t *testing.T, cq *verbs.CQ) verbs.WC {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wc := make([]verbs.WC, 1)
	if _, err := cq.PollWait(ctx, wc); err != nil {
		t.Fatal(err)
	}
	return wc[0]
}

// pathSL picks DLID, SL and MTU (selector in the top two bits) out of
// saquery's PathRecord dump.
var pathSL = regexp.MustCompile(`(?s)PathRecord dump:.*?dlid\.+(\d+).*?sl\.+0x([0-9a-fA-F]+)\s+mtu\.+0x([0-9a-fA-F]+)`)

// TestInteropCMOverOpenSM: the connection manager of two emulated hosts
// with the path from real OpenSM's SA. OpenSM runs with a QoS policy that
// puts every path on SL 3. Hca2's CM asks OpenSM's SA for the path to
// Hca4 (PathRecord from its own QP1, across the switches), connects to
// a service Hca4 listens on (REQ, REP, RTU), sends, and disconnects (DREQ,
// DREP). Both QPs carry the SA's path (DLID, SL, MTU, as saquery shows
// it), and the SEND crossed the fabric on SL 3: Hca2's PMA counts its
// data on SL 3 (perfquery -X).
func TestInteropCMOverOpenSM(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	policy := filepath.Join(h.dir, "qos-policy.conf")
	if err := os.WriteFile(policy, []byte("qos-ulps\n    default : 3\nend-qos-ulps\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, logf := h.startOpenSMConf([]string{"SIM_HOST=Hca1"}, "qos TRUE\nqos_policy_file "+policy+"\n")
	h.waitLog(logf, "SUBNET UP", 1, 30*time.Second)

	// What OpenSM's SA says of the path, through saquery.
	lid2, lid4 := h.lidOf("Hca2"), h.lidOf("Hca4")
	out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca2"}, "saquery", "-p", "--src-to-dst", fmt.Sprintf("%d:%d", lid2, lid4))
	m := pathSL.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("saquery PathRecord:\n%s", out)
	}
	wantSL, _ := strconv.ParseUint(m[2], 16, 8)
	wantMTU, _ := strconv.ParseUint(m[3], 16, 8)
	wantMTU &= 0x3F
	if m[1] != strconv.Itoa(int(lid4)) || wantSL != 3 {
		t.Fatalf("saquery PathRecord %d -> %d: dlid %s sl %d, want dlid %d sl 3 (the QoS policy)\n%s", lid2, lid4, m[1], wantSL, lid4, out)
	}

	a, b := newCMHost(t, h, "Hca2"), newCMHost(t, h, "Hca4")
	const sid = 0x1000_0000_0000_00CC
	accepted := make(chan *cm.Conn, 1)
	if _, err := b.cm.Listen(sid, func(r *cm.ConnRequest) {
		c, err := r.Accept(r.Context(), cm.AcceptParams{QP: b.qp(t)})
		if err != nil {
			t.Error(err)
			c = nil
		}
		accepted <- c
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path, err := a.cm.QueryPath(ctx, b.gid)
	if err != nil {
		t.Fatal(err)
	}
	if path.DLID != lid4 || uint64(path.SL) != wantSL || uint64(path.MTU) != wantMTU {
		t.Errorf("cm QueryPath: dlid %d sl %d mtu %d; saquery: dlid %d sl %d mtu %d", path.DLID, path.SL, path.MTU, lid4, wantSL, wantMTU)
	}
	qp := a.qp(t)
	conn, err := a.cm.Connect(ctx, cm.ConnectParams{ServiceID: sid, QP: qp, DGID: b.gid, PrivateData: []byte("over opensm")})
	if err != nil {
		t.Fatal(err)
	}
	var pc *cm.Conn
	select {
	case pc = <-accepted:
	case <-ctx.Done():
		t.Fatal("no REQ reached Hca4's listener")
	}
	if pc == nil {
		t.FailNow()
	}
	if conn.State() != cm.StateEstablished || pc.State() != cm.StateEstablished {
		t.Fatalf("states %s / %s", conn.State(), pc.State())
	}
	for _, q := range []struct {
		qp   *verbs.QP
		dlid wire.LID
	}{{qp, lid4}, {pc.QP(), lid2}} {
		attr, err := q.qp.Query()
		if err != nil {
			t.Fatal(err)
		}
		if attr.AHAttr.DLID != q.dlid || uint64(attr.AHAttr.SL) != wantSL || uint64(attr.PathMTU) != wantMTU {
			t.Errorf("qp %d: dlid %d sl %d mtu %d, want dlid %d and the SA's sl %d mtu %d", q.qp.Num(),
				attr.AHAttr.DLID, attr.AHAttr.SL, attr.PathMTU, q.dlid, wantSL, wantMTU)
		}
	}

	before := h.xmitDataSL3(lid2)
	const msg = "a SEND on the SL OpenSM chose"
	copy(a.mr.Buf(), msg)
	if _, err := pc.QP().PostRecv([]verbs.RecvWR{{WRID: 7, SGL: []verbs.SGE{b.mr.SGE(0, 4096)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := qp.PostSend([]verbs.SendWR{{WRID: 1, Opcode: hv.WRSend, Flags: hv.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, len(msg))}}}); err != nil {
		t.Fatal(err)
	}
	if wc := pollOne(t, b.cq); wc.Status != hv.WCSuccess || wc.WRID != 7 || string(b.mr.Buf()[:len(msg)]) != msg {
		t.Fatalf("receive: %+v %q", wc, b.mr.Buf()[:len(msg)])
	}
	if wc := pollOne(t, a.cq); wc.Status != hv.WCSuccess {
		t.Fatalf("send: %+v", wc)
	}
	if after := h.xmitDataSL3(lid2); after <= before {
		t.Errorf("Hca2 PortXmitDataSL3 %d -> %d: the SEND did not leave on SL 3", before, after)
	}

	if err := conn.Disconnect(ctx, []byte("bye")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pc.Done():
	case <-ctx.Done():
		t.Fatal("Hca4 not told of the disconnect")
	}
	if qp.State() != hv.QPStateError || pc.QP().State() != hv.QPStateError {
		t.Errorf("qp states after DREQ/DREP: %s / %s", qp.State(), pc.QP().State())
	}
}

// xmitDataSL3 reads PortXmitDataSL3 of port 1 of lid (perfquery -X).
func (h *interop) xmitDataSL3(lid wire.LID) uint64 {
	h.t.Helper()
	out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", "-X", strconv.Itoa(int(lid)), "1")
	v, err := strconv.ParseUint(fields(out)["XmtDataSL3"], 10, 64)
	if err != nil {
		h.t.Fatalf("perfquery -X: no XmtDataSL3:\n%s", out)
	}
	return v
}
