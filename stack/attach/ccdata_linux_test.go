//go:build linux

package attach

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	hv "github.com/ibemu/ibemu/hca/verbs"
	"github.com/ibemu/ibemu/stack/fabric"
)

// ccEnd is one RC QP of the data path interop test, with its buffer.
type ccEnd struct {
	cq  *hv.CQ
	qp  *hv.QP
	mr  *hv.MR
	lid wire.LID
}

// ccOpen makes an RC QP on engine e (on the event loop).
func ccOpen(e *hv.Engine, lid wire.LID, n int) (*ccEnd, error) {
	x := &ccEnd{lid: lid}
	pd, err := e.AllocPD()
	if err != nil {
		return nil, err
	}
	if x.mr, err = pd.RegMR(make([]byte, n), hv.AccessLocalWrite|hv.AccessRemoteWrite); err != nil {
		return nil, err
	}
	if x.cq, err = e.CreateCQ(1024, nil); err != nil {
		return nil, err
	}
	x.qp, err = pd.CreateQP(hv.QPInitAttr{SendCQ: x.cq, RecvCQ: x.cq, QPType: hv.QPTypeRC,
		Cap: hv.QPCap{MaxSendWR: 256, MaxRecvWR: 16, MaxSendSGE: 1, MaxRecvSGE: 1}})
	return x, err
}

// ccConnect brings x to RTS aimed at y (on the event loop).
func ccConnect(x, y *ccEnd) error {
	steps := []struct {
		a hv.QPAttr
		m hv.AttrMask
	}{
		{hv.QPAttr{QPState: hv.QPStateInit, PortNum: 1, QPAccessFlags: hv.AccessRemoteWrite},
			hv.AttrState | hv.AttrPort | hv.AttrPKeyIndex | hv.AttrAccessFlags},
		{hv.QPAttr{QPState: hv.QPStateRTR, PathMTU: wire.MTU2048, DestQPNum: y.qp.Num(), RQPSN: 1, MaxDestRdAtomic: 1,
			MinRNRTimer: 1, AHAttr: hv.AHAttr{DLID: y.lid, PortNum: 1}},
			hv.AttrState | hv.AttrAV | hv.AttrPathMTU | hv.AttrDestQPN | hv.AttrRQPSN | hv.AttrMaxDestRdAtomic | hv.AttrMinRNRTimer},
		{hv.QPAttr{QPState: hv.QPStateRTS, SQPSN: 1, Timeout: 18, RetryCnt: 7, RNRRetry: 7, MaxRdAtomic: 1},
			hv.AttrState | hv.AttrSQPSN | hv.AttrTimeout | hv.AttrRetryCnt | hv.AttrRNRRetry | hv.AttrMaxQPRdAtomic},
	}
	for _, s := range steps {
		if err := x.qp.Modify(&s.a, s.m); err != nil {
			return err
		}
	}
	return nil
}

// TestInteropCCDataPath: real OpenSM's congestion control manager
// configures SwitchX-2 switches and ConnectX-3 HCAs served on the virtual
// clock (the data path marks only there: under the wall clock no output
// queue forms); then Hca3 (through Switch1) and Hca2 write to Hca4 at
// once, incast at Switch2's port 2. The switch marks FECN, Hca4 answers
// with BECN, the senders' CCTI rises, and infiniband-diags see it all:
// ibccquery reads the switch's and the senders' CongestionLogs, perfquery
// the PortRcvConCtrl FECN and BECN counts and PortXmitConCtrl's
// congested time.
func TestInteropCCDataPath(t *testing.T) {
	needCCTools(t)
	conf := strings.Join([]string{
		"congestion_control TRUE",
		"cc_sw_cong_setting_control_map 0x1F",
		"cc_sw_cong_setting_threshold 0x0F",
		"cc_sw_cong_setting_packet_size 8",
		"cc_sw_cong_setting_marking_rate 0",
		"cc_ca_cong_setting_port_control 0x0000",
		"cc_ca_cong_setting_control_map 0x0001",
		"cc_ca_cong_setting_ccti_timer 0 5",
		"cc_ca_cong_setting_ccti_increase 0 1",
		"cc_ca_cong_setting_trigger_threshold 0 2",
		"cc_ca_cong_setting_ccti_min 0 0",
		"cc_cct " + ccTable(32),
		"",
	}, "\n")
	h := newInteropConfig(t, loadExample(t, "net.2sw2path4hca"), func(c *Config) {
		c.FabricOptions = append(c.FabricOptions,
			fabric.WithSwitchProfile("SwitchX-2"), fabric.WithHCAProfile(hca.ProfileConnectX3FDR2p))
		c.EmuOptions = append(c.EmuOptions, emu.WithVirtualClock())
	})
	f := filepath.Join(h.dir, "opensm-cc.conf")
	if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if log := h.opensmOnce(60*time.Second, nil, "-F", f); strings.Contains(log, "ERR C1") {
		t.Errorf("OpenSM's CC manager logged errors:\n%s", tail(log, 40))
	}
	if s := h.swSetting("Switch2"); s.Threshold != 0x0F {
		t.Fatalf("OpenSM did not configure Switch2: %+v", s)
	}

	const msgs, size = 16, 64 << 10
	ids := []string{"Hca3", "Hca2", "Hca4"}
	lids := map[string]wire.LID{}
	for _, id := range ids {
		lids[id] = h.lidOf(id)
	}
	var src, dst []*ccEnd
	fab := h.srv.Fabric()
	var setupErr error
	if err := fab.Do(func() { src, dst, setupErr = ccIncastQPs(h, ids, lids, size) }); err != nil {
		t.Fatal(err)
	}
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	release := fab.Hold()
	for i, x := range src {
		wrs := make([]hv.SendWR, msgs)
		for k := range wrs {
			wrs[k] = hv.SendWR{WRID: uint64(k), Opcode: hv.WRRDMAWrite,
				SGL:        []hv.SGE{{Addr: x.mr.Addr(), Length: size, LKey: x.mr.LKey()}},
				RemoteAddr: dst[i].mr.Addr(), RKey: dst[i].mr.RKey()}
		}
		wrs[msgs-1].Flags = hv.SendSignaled
		if _, err := x.qp.PostSend(wrs); err != nil {
			release()
			t.Fatal(err)
		}
	}
	release()
	for i, x := range src {
		wc := make([]hv.WC, 1)
		deadline := time.Now().Add(20 * time.Second)
		for x.cq.Poll(wc) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no completion", ids[i])
			}
			time.Sleep(100 * time.Microsecond)
		}
		if wc[0].Status != hv.WCSuccess {
			t.Fatalf("%s: write %v", ids[i], wc[0].Status)
		}
	}
	// The switch's CongestionLog through ibccquery: events toward Hca4
	// from both senders, Switch2's port 2 in the PortMap.
	sw2 := strconv.Itoa(int(h.lidOf("Switch2")))
	hdr, events := h.ccLog(sw2)
	if n, _ := strconv.ParseUint(hdr["LogEventsCounter"], 0, 16); n == 0 {
		t.Fatalf("Switch2 CongestionLog: no events (%v)", hdr)
	}
	if len(events) == 0 || events[0]["DLID"] != strconv.Itoa(int(lids["Hca4"])) {
		t.Errorf("Switch2 CongestionLog entries: %v", first(events, 2))
	}
	if pm := hdr["PortMap"]; !strings.HasSuffix(strings.TrimRight(pm, " "), "04") {
		t.Errorf("Switch2 PortMap %q, want port 2", pm)
	}
	// The senders' CCTI reached Trigger_Threshold: they logged threshold
	// events, naming their QP, Hca4's QP and LID.
	for _, id := range ids[:2] {
		hdr, events := h.ccLog(strconv.Itoa(int(lids[id])))
		if n, _ := strconv.ParseUint(hdr["ThresholdEventCounter"], 0, 16); n == 0 || len(events) == 0 ||
			events[0]["Remote_LID_CN_Entry"] != strconv.Itoa(int(lids["Hca4"])) || hdr["ThresholdCongestionEventMap"] != "0x0001" {
			t.Errorf("%s CongestionLog: %v %v", id, hdr, first(events, 1))
		}
	}
	// perfquery: FECN at the receiver, BECN at the senders, the
	// congested time at Switch2's port 2.
	perf := func(args ...string) map[string]string {
		out, err := h.run(20*time.Second, fromHca1, "perfquery", args...)
		if err != nil {
			t.Fatalf("perfquery %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return fields(out)
	}
	if v := perf("--rcvcc", strconv.Itoa(int(lids["Hca4"])), "1"); atoiOr0(v["PortPktRcvFECN"]) == 0 {
		t.Errorf("Hca4 PortRcvConCtrl: %v", v)
	}
	for _, id := range ids[:2] {
		if v := perf("--rcvcc", strconv.Itoa(int(lids[id])), "1"); atoiOr0(v["PortPktRcvBECN"]) == 0 {
			t.Errorf("%s PortRcvConCtrl: %v", id, v)
		}
	}
	if v := perf("--xmitcc", sw2, "2"); atoiOr0(v["PortXmitTimeCong"]) == 0 {
		t.Errorf("Switch2 port 2 PortXmitConCtrl: %v", v)
	}
}

// ccIncastQPs attaches verbs engines to the HCAs ids and connects an RC
// QP of each of the first two to one of its own on the third (on the
// event loop).
func ccIncastQPs(h *interop, ids []string, lids map[string]wire.LID, size int) (src, dst []*ccEnd, err error) {
	engs := map[string]*hv.Engine{}
	for _, id := range ids {
		if engs[id], err = hv.New(h.srv.byID[id].hca); err != nil {
			return nil, nil, err
		}
	}
	for _, id := range ids[:2] {
		x, err := ccOpen(engs[id], lids[id], size)
		if err != nil {
			return nil, nil, err
		}
		y, err := ccOpen(engs[ids[2]], lids[ids[2]], size)
		if err != nil {
			return nil, nil, err
		}
		if err := ccConnect(x, y); err != nil {
			return nil, nil, err
		}
		if err := ccConnect(y, x); err != nil {
			return nil, nil, err
		}
		src, dst = append(src, x), append(dst, y)
	}
	return src, dst, nil
}

// ccTable is an OpenSM cc_cct value of n entries, entry i a delay of
// i/4 packet times (shift 2, multiplier i).
func ccTable(n int) string {
	e := make([]string, n)
	for i := range e {
		e[i] = fmt.Sprintf("2:%d", i)
	}
	return strings.Join(e, ",")
}

func first(m []map[string]string, n int) []map[string]string { return m[:min(n, len(m))] }

func atoiOr0(s string) uint64 {
	v, _ := strconv.ParseUint(strings.Trim(s, "."), 0, 64)
	return v
}
