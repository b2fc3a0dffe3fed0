//go:build linux

package attach

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/mad"
)

// mcMember is an HCA of the multicast interop test: its SA agent, and a
// UD QP with a buffer.
type mcMember struct {
	id   string
	gid  wire.GID
	sa   *mad.Agent
	sm   wire.LID
	e    *hv.Engine
	pd   *hv.PD
	cq   *hv.CQ
	qp   *hv.QP
	mr   *hv.MR
	buf  []byte
	wrid uint64
}

// mcQKey is the Q_Key of the test's group.
const mcQKey = 0x0B1B

// mcJoin sends SubnAdmSet (join) or SubnAdmDelete (leave) of an
// MCMemberRecord for m's port to the SA and returns the SA's record, as
// an IPoIB driver's join of its broadcast group does (IBTA Vol 1
// §15.2.5.17; the components OpenSM requires to create a group).
func (m *mcMember) mcJoin(ctx context.Context, method wire.Method, mgid wire.GID) (wire.MCMemberRecordFields, error) {
	req := make([]byte, wire.MADSize)
	mask := wire.MCMemberRecordCompMGID | wire.MCMemberRecordCompPortGID | wire.MCMemberRecordCompJoinState
	if method == wire.MethodSet {
		mask |= wire.MCMemberRecordCompQKey | wire.MCMemberRecordCompTClass | wire.MCMemberRecordCompPKey |
			wire.MCMemberRecordCompFlowLabel | wire.MCMemberRecordCompSL
	}
	wire.SAMAD(req).Encode(&wire.SAMADFields{
		MAD: wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
			Method: method, AttrID: wire.AttrMCMemberRecord},
		SA: wire.SAHeaderFields{ComponentMask: mask},
	})
	wire.MCMemberRecord(wire.SAMAD(req).Data()).Encode(&wire.MCMemberRecordFields{MGID: mgid, PortGID: m.gid,
		QKey: mcQKey, PKey: 0xFFFF, JoinState: wire.JoinFullMember})
	resp, err := m.sa.Call(ctx, mad.Addr{LID: m.sm, QPN: 1}, req)
	if err != nil {
		return wire.MCMemberRecordFields{}, fmt.Errorf("%s: %s MCMemberRecord: %w", m.id, method, err)
	}
	sa, err := wire.ParseSAMAD(resp)
	if err != nil {
		return wire.MCMemberRecordFields{}, err
	}
	return wire.MCMemberRecord(sa.Data()).Fields(), nil
}

// TestInteropMulticastOpenSM: UD multicast among emulated hosts whose
// group real OpenSM manages. Hca2, Hca3 and Hca4 join a group through
// OpenSM's SA (SubnAdmSet MCMemberRecord from their own QP1, through the
// switches to the SM); OpenSM assigns the MLID and programs the
// switches' MulticastForwardingTables; saquery lists the three members
// and dump_mfts the MLID. A datagram Hca2 sends to the MLID reaches the
// QPs attached on Hca3 and Hca4 by those tables, with its GRH. After
// Hca4 leaves (SubnAdmDelete), OpenSM prunes Hca4's branch and the next
// datagram reaches Hca3 only.
func TestInteropMulticastOpenSM(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	h.startOpenSM(nil)
	fab := h.srv.Fabric()
	mgid := wire.GID{0xff, 0x12, 0x40, 0x1b, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x0a, 0xbe, 0xe0, 0x01}

	ids := []string{"Hca2", "Hca3", "Hca4"}
	members := make([]*mcMember, len(ids))
	for i, id := range ids {
		m := &mcMember{id: id, buf: make([]byte, 1<<16)}
		dev := h.srv.byID[id].hca
		var err error
		if err := fab.Do(func() {
			m.sm = dev.SMA().Port(1).MasterSMLID
			if m.gid, err = dev.GID(1, 0); err != nil {
				return
			}
			if m.e, err = hv.New(dev); err != nil {
				return
			}
			if m.pd, err = m.e.AllocPD(); err != nil {
				return
			}
			if m.mr, err = m.pd.RegMR(m.buf, hv.AccessLocalWrite); err != nil {
				return
			}
			if m.cq, err = m.e.CreateCQ(256, nil); err != nil {
				return
			}
			if m.qp, err = m.pd.CreateQP(hv.QPInitAttr{SendCQ: m.cq, RecvCQ: m.cq, QPType: hv.QPTypeUD,
				Cap: hv.QPCap{MaxSendWR: 16, MaxRecvWR: 64, MaxSendSGE: 1, MaxRecvSGE: 1}}); err != nil {
				return
			}
			if err = m.qp.Modify(&hv.QPAttr{QPState: hv.QPStateInit, PortNum: 1, QKey: mcQKey},
				hv.AttrState|hv.AttrPKeyIndex|hv.AttrPort|hv.AttrQKey); err != nil {
				return
			}
			if err = m.qp.Modify(&hv.QPAttr{QPState: hv.QPStateRTR}, hv.AttrState); err != nil {
				return
			}
			err = m.qp.Modify(&hv.QPAttr{QPState: hv.QPStateRTS, SQPSN: 1}, hv.AttrState|hv.AttrSQPSN)
		}); err != nil {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if m.sm == 0 {
			t.Fatalf("%s: PortInfo names no master SM after SUBNET UP", id)
		}
		if m.sa, err = mad.NewAgent(mad.NewInProcess(fab, dev, 1),
			mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion},
			mad.Options{Timeout: time.Second, Retries: 5}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.sa.Close() })
		members[i] = m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Join: the first creates the group, OpenSM picks the MLID.
	var mlid wire.LID
	for _, m := range members {
		rec, err := m.mcJoin(ctx, wire.MethodSet, mgid)
		if err != nil {
			t.Fatal(err)
		}
		if rec.MGID != mgid || rec.PortGID != m.gid || rec.QKey != mcQKey || rec.MLID < 0xC000 {
			t.Fatalf("%s: join answered %+v", m.id, rec)
		}
		if mlid != 0 && rec.MLID != mlid {
			t.Fatalf("%s: joined MLID %#x, the group has %#x", m.id, rec.MLID, mlid)
		}
		mlid = rec.MLID
	}
	// The SA's view, through saquery from another host, trusted (OpenSM's
	// default SM_Key) so that OpenSM shows each member's PortGID.
	if got := h.mcMembers(mlid); len(got) != 3 || !got[members[0].gid] || !got[members[1].gid] || !got[members[2].gid] {
		t.Errorf("saquery -m: members of MLID %#x: %v", mlid, got)
	}

	// Hca3 and Hca4 attach their QPs and post receives.
	for _, m := range members[1:] {
		var err error
		if err := fab.Do(func() { err = m.qp.AttachMcast(mgid, mlid) }); err != nil {
			t.Fatal(err)
		}
		m.postRecv(t, err)
	}
	// OpenSM programs the MFTs after the join's answer (its multicast
	// manager runs from the SA's request for a sweep): wait for dump_mfts
	// to show the MLID on both switches.
	mftRe := regexp.MustCompile(`(?m)^0x` + strconv.FormatUint(uint64(mlid), 16) + `\s`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := h.mustRun(20*time.Second, []string{"SIM_HOST=Hca1"}, "dump_mfts")
		if len(mftRe.FindAllString(strings.ToLower(out), -1)) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dump_mfts: MLID %#x not on both switches:\n%s", mlid, out)
		}
		time.Sleep(200 * time.Millisecond)
	}

	send := members[0]
	var ah *hv.AH
	if err := fab.Do(func() {
		var err error
		ah, err = send.pd.CreateAH(hv.AHAttr{DLID: mlid, PortNum: 1, IsGlobal: true, GRH: hv.GlobalRoute{DGID: mgid, HopLimit: 1}})
		if err != nil {
			t.Error(err)
		}
	}); err != nil || ah == nil {
		t.Fatal("create AH", err)
	}
	probe := func(tag byte) {
		t.Helper()
		for i := range 64 {
			send.buf[i] = tag + byte(i)
		}
		send.wrid++
		wr := hv.SendWR{WRID: send.wrid, Opcode: hv.WRSend, Flags: hv.SendSignaled,
			SGL: []hv.SGE{{Addr: send.mr.Addr(), Length: 64, LKey: send.mr.LKey()}},
			AH:  ah, RemoteQPN: hv.MulticastQPN, RemoteQKey: mcQKey}
		if err := fab.Do(func() {
			if _, err := send.qp.PostSend([]hv.SendWR{wr}); err != nil {
				t.Error(err)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if wc := send.wait(t, 5*time.Second); wc == nil || wc.Status != hv.WCSuccess {
			t.Fatalf("multicast send: %+v", wc)
		}
	}
	// received reports whether m got the datagram tagged tag within d.
	received := func(m *mcMember, tag byte, d time.Duration) bool {
		t.Helper()
		wc := m.wait(t, d)
		if wc == nil {
			return false
		}
		if wc.Status != hv.WCSuccess || wc.ByteLen != 40+64 || wc.Flags&hv.WCFlagGRH == 0 || wc.SLID != h.lidOf(send.id) {
			t.Fatalf("%s: completion %+v", m.id, *wc)
		}
		off := int(wc.WRID) * 256
		if got := m.buf[off+40]; got != tag {
			t.Fatalf("%s: payload starts %#x, want %#x", m.id, got, tag)
		}
		m.postRecv(t, nil)
		return true
	}
	probe(0x10)
	for _, m := range members[1:] {
		if !received(m, 0x10, 5*time.Second) {
			t.Fatalf("%s: the datagram to MLID %#x did not arrive", m.id, mlid)
		}
	}

	// Hca4 leaves; OpenSM prunes its branch of the tree. A datagram sent
	// meanwhile may still reach it; once the tables are updated none does.
	leaver := members[2]
	if err := fab.Do(func() { _ = leaver.qp.DetachMcast(mgid, mlid) }); err != nil {
		t.Fatal(err)
	}
	if _, err := leaver.mcJoin(ctx, wire.MethodDelete, mgid); err != nil {
		t.Fatal(err)
	}
	if err := fab.Do(func() { _ = leaver.qp.AttachMcast(mgid, mlid) }); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for tag := byte(0x20); ; tag++ {
		probe(tag)
		if !received(members[1], tag, 5*time.Second) {
			t.Fatalf("Hca3: datagram %#x lost after Hca4 left", tag)
		}
		if !received(leaver, tag, 200*time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Hca4 still receives the group's datagrams after leaving it")
		}
	}
	if got := h.mcMembers(mlid); len(got) != 2 || got[leaver.gid] {
		t.Errorf("saquery -m after %s left: members %v", leaver.id, got)
	}
}

var mcmrRe = regexp.MustCompile(`(?s)Mlid\.+(0x[0-9A-Fa-f]+)\s+PortGid\.+(\S+)`)

// mcMembers returns the PortGIDs of MLID mlid's members as saquery -m
// lists them, asking with OpenSM's default SM_Key.
func (h *interop) mcMembers(mlid wire.LID) map[wire.GID]bool {
	h.t.Helper()
	out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "saquery", "-m", "--smkey", "1")
	got := map[wire.GID]bool{}
	for _, m := range mcmrRe.FindAllStringSubmatch(out, -1) {
		if v, err := strconv.ParseUint(m[1], 0, 16); err != nil || wire.LID(v) != mlid {
			continue
		}
		ip := net.ParseIP(m[2])
		if ip == nil {
			h.t.Fatalf("saquery -m: PortGid %q:\n%s", m[2], out)
		}
		got[wire.GID(ip.To16())] = true
	}
	return got
}

// postRecv posts one receive of 256 bytes at slot WRID; err is an earlier
// step's error to report.
func (m *mcMember) postRecv(t *testing.T, err error) {
	if err != nil {
		t.Errorf("%s: %v", m.id, err)
		return
	}
	m.wrid++
	slot := m.wrid % 128
	if _, err := m.qp.PostRecv([]hv.RecvWR{{WRID: slot, SGL: []hv.SGE{{Addr: m.mr.Addr() + slot*256, Length: 256, LKey: m.mr.LKey()}}}}); err != nil {
		t.Errorf("%s: post recv: %v", m.id, err)
	}
}

// wait polls m's CQ for one completion for up to d (nil when none came).
func (m *mcMember) wait(t *testing.T, d time.Duration) *hv.WC {
	t.Helper()
	wc := make([]hv.WC, 1)
	deadline := time.Now().Add(d)
	for m.cq.Poll(wc) == 0 {
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(200 * time.Microsecond)
	}
	return &wc[0]
}
