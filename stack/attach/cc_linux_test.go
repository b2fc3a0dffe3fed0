//go:build linux

package attach

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/fabric"
)

// The congestion control interop tests run infiniband-diags' ibccquery
// and ibccconfig, and OpenSM's congestion control manager, against
// emulated SwitchX-2 switches and ConnectX-3 HCAs (models with a CC
// agent, IBTA Vol 1 Annex A10), and check that the default InfiniScale /
// ConnectX-2 models refuse the class as those parts did.

// needCCTools skips the test (or, in CI, fails it) when the CC tools are
// missing.
func needCCTools(t *testing.T) {
	t.Helper()
	needInterop(t)
	var missing []string
	for _, tool := range []string{"ibccquery", "ibccconfig"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "interop: missing " + strings.Join(missing, ", ") + " (Debian infiniband-diags; run make deps)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// newCCInterop starts net.2sw2path4hca with SwitchX-2 switches and
// ConnectX-3 HCAs, brought up by opensm -o with the options file lines
// conf (none: OpenSM's defaults, congestion control off); it returns
// OpenSM's log too.
func newCCInterop(t *testing.T, conf string) (*interop, string) {
	t.Helper()
	needCCTools(t)
	h := newInteropConfig(t, loadExample(t, "net.2sw2path4hca"), func(c *Config) {
		c.FabricOptions = append(c.FabricOptions,
			fabric.WithSwitchProfile("SwitchX-2"), fabric.WithHCAProfile(hca.ProfileConnectX3FDR2p))
	})
	var extra []string
	if conf != "" {
		f := filepath.Join(h.dir, "opensm-cc.conf")
		if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		extra = []string{"-F", f}
	}
	return h, h.opensmOnce(60*time.Second, nil, extra...)
}

var fromHca1 = []string{"SIM_HOST=Hca1"}

// ccquery runs ibccquery from Hca1 and returns its output.
func (h *interop) ccquery(args ...string) (string, error) {
	h.t.Helper()
	return h.run(20*time.Second, fromHca1, "ibccquery", append([]string{"-t", "300"}, args...)...)
}

// mustCCQuery is ccquery, failing the test on error, parsed into fields.
func (h *interop) mustCCQuery(args ...string) map[string]string {
	h.t.Helper()
	out, err := h.ccquery(args...)
	if err != nil {
		h.t.Fatalf("ibccquery %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return fields(out)
}

// ccconfig runs ibccconfig from Hca1.
func (h *interop) ccconfig(args ...string) (string, error) {
	h.t.Helper()
	return h.run(20*time.Second, fromHca1, "ibccconfig", append([]string{"-t", "300"}, args...)...)
}

// ccLog reads a CongestionLog with ibccquery: the header fields and
// each event entry it printed, in order. ibccquery prints the entries that
// are not all zero; it looks at 15 (switch) or 13 (CA) entries of a
// buffer shorter than that, so entries past the attribute's end may show
// its stack, which is why callers look at the leading entries only.
func (h *interop) ccLog(lid string) (map[string]string, []map[string]string) {
	h.t.Helper()
	out, err := h.ccquery("CongestionLog", lid)
	if err != nil {
		h.t.Fatalf("ibccquery CongestionLog %s: %v\n%s", lid, err, out)
	}
	blocks := strings.Split(out, "\n\n")
	var events []map[string]string
	for _, b := range blocks[1:] {
		if f := fields(b); len(f) > 0 {
			events = append(events, f)
		}
	}
	return fields(blocks[0]), events
}

// onCC runs fn with node id's CC agent on the event loop.
func (h *interop) onCC(id string, fn func(*agent.CC)) {
	h.t.Helper()
	if err := h.srv.Fabric().Do(func() {
		n := h.srv.byID[id]
		if n.sw != nil {
			fn(n.sw.CC())
			return
		}
		fn(n.hca.CC())
	}); err != nil {
		h.t.Fatal(err)
	}
}

// swSetting, caSetting and cct read what node id's agent holds.
func (h *interop) swSetting(id string) (s wire.SwitchCongestionSettingFields) {
	h.onCC(id, func(cc *agent.CC) { s = cc.SwitchSetting() })
	return s
}

func (h *interop) caSetting(id string) (s wire.CACongestionSettingFields) {
	h.onCC(id, func(cc *agent.CC) { s = cc.CASetting(1) })
	return s
}

func (h *interop) cct(id string) (t []wire.CCTEntry) {
	h.onCC(id, func(cc *agent.CC) { t = cc.CCT(1) })
	return t
}

func wantField(t *testing.T, what string, f map[string]string, name, want string) {
	t.Helper()
	if got, ok := f[name]; !ok || got != want {
		t.Errorf("%s: %s = %q, want %q (fields %v)", what, name, got, want, f)
	}
}

// TestInteropCCQuery: ibccquery reads every attribute it knows from a
// SwitchX-2 switch and a ConnectX-3 HCA; the switch refuses the CA
// attributes and the reverse; CongestionLog shows what the data path
// logged and a read clears it; TimeStamp runs in 1.024 µs units.
func TestInteropCCQuery(t *testing.T) {
	h, _ := newCCInterop(t, "")
	sw, ca := strconv.Itoa(int(h.lidOf("Switch2"))), strconv.Itoa(int(h.lidOf("Hca2")))

	cpi := h.mustCCQuery("ClassPortInfo", sw)
	wantField(t, "switch ClassPortInfo", cpi, "BaseVersion", "1")
	wantField(t, "switch ClassPortInfo", cpi, "ClassVersion", "2")

	wantField(t, "switch CongestionInfo", h.mustCCQuery("CongestionInfo", sw), "ControlTableCap", "0")
	wantField(t, "ca CongestionInfo", h.mustCCQuery("CongestionInfo", ca), "ControlTableCap", "2")
	for _, lid := range []string{sw, ca} {
		k := h.mustCCQuery("CongestionKeyInfo", lid)
		wantField(t, "CongestionKeyInfo", k, "CC_Key", "0x0000000000000000")
		wantField(t, "CongestionKeyInfo", k, "CC_KeyViolations", "0")
	}

	ss := h.mustCCQuery("SwitchCongestionSetting", sw)
	wantField(t, "SwitchCongestionSetting", ss, "Control_Map", "0x00000000")
	wantField(t, "SwitchCongestionSetting", ss, "Marking_Rate", "0")
	sp := h.mustCCQuery("SwitchPortCongestionSetting", sw, "3")
	wantField(t, "SwitchPortCongestionSetting", sp, "Valid", "0")
	cs := h.mustCCQuery("CACongestionSetting", ca)
	wantField(t, "CACongestionSetting", cs, "Port_Control", "0x0000")
	ct := h.mustCCQuery("CongestionControlTable", ca)
	wantField(t, "CongestionControlTable", ct, "CCTI_Limit", "0")

	// A tool on the switch itself reaches the same agent (one CC state
	// per switch).
	h.onCC("Switch2", func(cc *agent.CC) { cc.LogSwitchEvent(1, wire.CongestionLogEventSwitchFields{SLID: 1}) })
	self := fields(h.mustRun(20*time.Second, []string{"SIM_HOST=Switch2"}, "ibccquery", "CongestionLog", sw))
	wantField(t, "switch CongestionLog read on the switch", self, "LogEventsCounter", "1")
	wantField(t, "switch CongestionLog read on the switch", self, "LogType", "1")
	wantField(t, "switch CongestionLog after the local read", h.mustCCQuery("CongestionLog", sw), "LogEventsCounter", "0")

	// A switch has no CA attributes, a CA no switch ones (0x000C).
	for _, q := range [][]string{{"CACongestionSetting", sw}, {"CongestionControlTable", sw},
		{"SwitchCongestionSetting", ca}} {
		if out, err := h.ccquery(append([]string{"-d"}, q...)...); err == nil || !strings.Contains(out, "error status 0xc;") {
			t.Errorf("ibccquery %s: %v, want status 0x000C:\n%s", strings.Join(q, " "), err, out)
		}
	}

	// CongestionLog: the events the data path hands the agent, once.
	h.onCC("Switch2", func(cc *agent.CC) {
		cc.LogSwitchEvent(2, wire.CongestionLogEventSwitchFields{SLID: 7, DLID: 9, SL: 3, Timestamp: 1234})
	})
	h.onCC("Hca2", func(cc *agent.CC) {
		cc.LogCAEvent(1, wire.CongestionLogEventCAFields{LocalQP: 0x48, SL: 5, ServiceType: 1, RemoteQP: 0x49,
			LocalLID: 4, RemoteLID: 5, Timestamp: 99})
	})
	hdr, events := h.ccLog(sw)
	wantField(t, "switch CongestionLog", hdr, "LogType", "1")
	wantField(t, "switch CongestionLog", hdr, "LogEventsCounter", "1")
	wantField(t, "switch CongestionLog", hdr, "PortMap", strings.Repeat("0", 63)+"4")
	if len(events) == 0 {
		t.Fatalf("switch CongestionLog shows no event")
	}
	for k, v := range map[string]string{"SLID": "7", "DLID": "9", "SL": "3", "Timestamp": "1234"} {
		wantField(t, "switch CongestionLog event", events[0], k, v)
	}
	hdr, events = h.ccLog(sw)
	wantField(t, "switch CongestionLog after a read", hdr, "LogEventsCounter", "0")
	for _, e := range events {
		if e["SLID"] == "7" && e["DLID"] == "9" {
			t.Errorf("switch CongestionLog still holds the event after a read: %v", e)
		}
	}
	hdr, events = h.ccLog(ca)
	wantField(t, "ca CongestionLog", hdr, "LogType", "2")
	wantField(t, "ca CongestionLog", hdr, "ThresholdEventCounter", "1")
	wantField(t, "ca CongestionLog", hdr, "ThresholdCongestionEventMap", "0x0020")
	if len(events) == 0 {
		t.Fatalf("ca CongestionLog shows no event")
	}
	for k, v := range map[string]string{"Local_QP_CN_Entry": "72", "SL_CN_Entry": "5", "Service_Type_CN_Entry": "0x01",
		"Remote_QP_Number_CN_Entry": "73", "Local_LID_CN": "4", "Remote_LID_CN_Entry": "5", "Timestamp_CN_Entry": "99"} {
		wantField(t, "ca CongestionLog event", events[0], k, v)
	}
	hdr, events = h.ccLog(ca)
	wantField(t, "ca CongestionLog after a read", hdr, "ThresholdEventCounter", "0")
	for _, e := range events {
		if e["Timestamp_CN_Entry"] == "99" && e["Local_QP_CN_Entry"] == "72" {
			t.Errorf("ca CongestionLog still holds the event after a read: %v", e)
		}
	}

	// TimeStamp counts 1.024 µs units of the fabric clock.
	ts := func() (uint32, time.Time) {
		t.Helper()
		f := h.mustCCQuery("Timestamp", sw)
		v, err := strconv.ParseUint(f["Timestamp"], 10, 32)
		if err != nil {
			t.Fatalf("Timestamp %q: %v", f["Timestamp"], err)
		}
		return uint32(v), time.Now()
	}
	t1, w1 := ts()
	time.Sleep(200 * time.Millisecond)
	t2, w2 := ts()
	units := float64(t2-t1) * 1.024e-6
	if el := w2.Sub(w1).Seconds(); units < 0.15 || units > el+0.5 {
		t.Errorf("Timestamp advanced %d units (%.3fs) over %.3fs of wall clock", t2-t1, units, el)
	}
}

// TestInteropCCConfig: ibccconfig sets every settable attribute, ibccquery
// reads the values back; once CongestionKeyInfo protects a CC_Key, MADs
// with another key are dropped and counted.
func TestInteropCCConfig(t *testing.T) {
	h, _ := newCCInterop(t, "")
	sw, ca := strconv.Itoa(int(h.lidOf("Switch2"))), strconv.Itoa(int(h.lidOf("Hca2")))
	mustConfig := func(args ...string) {
		t.Helper()
		if out, err := h.ccconfig(args...); err != nil {
			t.Fatalf("ibccconfig %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	mustConfig("SwitchCongestionSetting", sw, "0x1F", "0xF0", "0x0C", "0x7", "8", "0x3", "1:100", "40")
	ss := h.mustCCQuery("SwitchCongestionSetting", sw)
	wantField(t, "SwitchCongestionSetting", ss, "Control_Map", "0x0000001f")
	wantField(t, "SwitchCongestionSetting", ss, "Threshold", "0x07")
	wantField(t, "SwitchCongestionSetting", ss, "Packet_Size", "8")
	wantField(t, "SwitchCongestionSetting", ss, "CS_Threshold", "0x03")
	wantField(t, "SwitchCongestionSetting", ss, "CS_ReturnDelay", fmt.Sprintf("0x%04x", 1<<14|100))
	wantField(t, "SwitchCongestionSetting", ss, "Marking_Rate", "40")
	if got := h.swSetting("Switch2").VictimMask[31]; got != 0xF0 {
		t.Errorf("victim mask byte 31 = %#x, want 0xf0", got)
	}

	mustConfig("SwitchPortCongestionSetting", sw, "5", "1", "0", "0x9", "12", "300")
	sp := h.mustCCQuery("SwitchPortCongestionSetting", sw, "5")
	wantField(t, "SwitchPortCongestionSetting port 5", sp, "Valid", "1")
	wantField(t, "SwitchPortCongestionSetting port 5", sp, "Threshold", "0x09")
	wantField(t, "SwitchPortCongestionSetting port 5", sp, "Packet_Size", "12")
	wantField(t, "SwitchPortCongestionSetting port 5", sp, "Cong_Parm_Marking_Rate", "300")
	wantField(t, "SwitchPortCongestionSetting port 4", h.mustCCQuery("SwitchPortCongestionSetting", sw, "4"), "Valid", "0")

	mustConfig("CACongestionSetting", ca, "1", "0x0003", "150", "2", "10", "1")
	cs, err := h.ccquery("CACongestionSetting", ca)
	if err != nil {
		t.Fatalf("ibccquery CACongestionSetting: %v\n%s", err, cs)
	}
	wantField(t, "CACongestionSetting", fields(cs), "Port_Control", "0x0001")
	wantField(t, "CACongestionSetting", fields(cs), "Control_Map", "0x0003")
	// SLs 0 and 1 (Control_Map 0x0003) took the entry, SL 2 did not.
	for sl, want := range map[int]string{0: "150", 1: "150", 2: "0"} {
		if got := h.caSetting("Hca2").Entries[sl].CCTITimer; strconv.Itoa(int(got)) != want {
			t.Errorf("SL %d CCTI_Timer %d, want %s", sl, got, want)
		}
	}
	if !strings.Contains(cs, "CCTI_Timer:......................150") {
		t.Errorf("ibccquery CACongestionSetting shows no CCTI_Timer 150:\n%s", cs)
	}

	// ibccconfig wants CCTI_Limit+1 = 64*block + entries given.
	mustConfig("CongestionControlTable", ca, "66", "1", "1:10", "2:20", "3:30")
	ct, err := h.ccquery("CongestionControlTable", ca)
	if err != nil {
		t.Fatalf("ibccquery CongestionControlTable: %v\n%s", err, ct)
	}
	wantField(t, "CongestionControlTable", fields(ct), "CCTI_Limit", "66")
	cct := h.cct("Hca2")
	if len(cct) != 67 || cct[64] != (wire.CCTEntry{Shift: 1, Multiplier: 10}) || cct[66] != (wire.CCTEntry{Shift: 3, Multiplier: 30}) {
		t.Errorf("CCT after the set: %d entries, [64..66] = %v", len(cct), cct[64:67])
	}
	// Block 1 holds entries 64..127: ibccquery reads it since the limit is 66.
	if !strings.Contains(ct, "Entry:...........................65\nCCT_Shift:.......................2\nCCT_Multiplier:..................20") {
		t.Errorf("ibccquery CongestionControlTable does not show entry 65 = 2:20:\n%s", ct)
	}
	// Block 2 (entries 128..191) is past the table's 128 entries: 0x001C.
	if out, err := h.ccconfig("-d", "CongestionControlTable", ca, "130", "2", "1:1", "1:1", "1:1"); err == nil ||
		!strings.Contains(out, "error status 0x1c;") {
		t.Errorf("ibccconfig of CCT block 2 on a 128-entry table: %v, want status 0x001C:\n%s", err, out)
	}
	if n := len(h.cct("Hca2")); n != 67 {
		t.Errorf("a refused CCT set left %d entries, want 67", n)
	}

	// CC_Key: protect the switch's key, then a MAD with another key is
	// dropped and counted.
	mustConfig("CongestionKeyInfo", sw, "0x1234", "1", "0", "0")
	k := h.mustCCQuery("-c", "0x1234", "CongestionKeyInfo", sw)
	wantField(t, "CongestionKeyInfo", k, "CC_Key", "0x0000000000001234")
	wantField(t, "CongestionKeyInfo", k, "CC_KeyProtectBit", "1")
	// Dropped, not refused: no answer comes back, with any status.
	if out, err := h.ccquery("-d", "CongestionKeyInfo", sw); err == nil || strings.Contains(out, "error status") {
		t.Errorf("ibccquery without the CC_Key on a protected switch: %v, want no answer:\n%s", err, out)
	}
	if out, err := h.ccconfig("-d", "-c", "0x9999", "SwitchCongestionSetting", sw, "0x10", "0", "0", "0", "0", "0", "0:0", "7"); err == nil ||
		strings.Contains(out, "error status") {
		t.Errorf("ibccconfig with a wrong CC_Key: %v, want no answer:\n%s", err, out)
	}
	k = h.mustCCQuery("-c", "0x1234", "CongestionKeyInfo", sw)
	if v, _ := strconv.Atoi(k["CC_KeyViolations"]); v < 2 {
		t.Errorf("CC_KeyViolations %q after two bad keys, want at least 2", k["CC_KeyViolations"])
	}
	wantField(t, "SwitchCongestionSetting after a refused set", h.mustCCQuery("-c", "0x1234", "SwitchCongestionSetting", sw), "Marking_Rate", "40")
	// The right key still configures it; a violations value of 0 clears
	// the counter.
	mustConfig("-c", "0x1234", "CongestionKeyInfo", sw, "0x1234", "1", "0", "0")
	wantField(t, "CongestionKeyInfo after clearing", h.mustCCQuery("-c", "0x1234", "CongestionKeyInfo", sw), "CC_KeyViolations", "0")
	// The HCA's key is its own: unprotected, it still answers keyless Gets.
	wantField(t, "ca CongestionKeyInfo", h.mustCCQuery("CongestionKeyInfo", ca), "CC_Key", "0x0000000000000000")
}

// TestInteropCCOpenSM: OpenSM's congestion control manager (congestion_control
// TRUE) configures every switch and CA at bring-up with its cc_key and
// its cc_sw_*/cc_ca_*/cc_cct values, which ibccquery then reads back.
func TestInteropCCOpenSM(t *testing.T) {
	conf := strings.Join([]string{
		"congestion_control TRUE",
		"cc_key 0x00000000000000AB",
		"cc_max_outstanding_mads 16",
		"cc_sw_cong_setting_control_map 0x1F",
		"cc_sw_cong_setting_victim_mask 0x0000000000000000000000000000000000000000000000000000000000000006",
		"cc_sw_cong_setting_credit_mask 0x0000000000000000000000000000000000000000000000000000000000000000",
		"cc_sw_cong_setting_threshold 0x0A",
		"cc_sw_cong_setting_packet_size 16",
		"cc_sw_cong_setting_credit_starvation_threshold 0x00",
		"cc_sw_cong_setting_credit_starvation_return_delay 0:0",
		"cc_sw_cong_setting_marking_rate 25",
		"cc_ca_cong_setting_port_control 0x0001",
		"cc_ca_cong_setting_control_map 0x0001",
		"cc_ca_cong_setting_ccti_timer 0 300",
		"cc_ca_cong_setting_ccti_increase 0 4",
		"cc_ca_cong_setting_trigger_threshold 0 7",
		"cc_ca_cong_setting_ccti_min 0 1",
		"cc_cct 0:0,0:5,1:10,2:20",
		"",
	}, "\n")
	h, log := newCCInterop(t, conf)
	// OpenSM logs "ERR C1xx" when a CC MAD times out or is refused.
	if strings.Contains(log, "ERR C1") {
		t.Errorf("OpenSM's CC manager logged errors:\n%s", tail(log, 40))
	}
	for _, id := range []string{"Switch1", "Switch2"} {
		lid := strconv.Itoa(int(h.lidOf(id)))
		ss := h.mustCCQuery("-c", "0xAB", "SwitchCongestionSetting", lid)
		wantField(t, id, ss, "Control_Map", "0x0000001f")
		wantField(t, id, ss, "Threshold", "0x0a")
		wantField(t, id, ss, "Packet_Size", "16")
		wantField(t, id, ss, "Marking_Rate", "25")
		if got := h.swSetting(id).VictimMask[31]; got != 0x06 {
			t.Errorf("%s: victim mask byte 31 %#x, want 0x06", id, got)
		}
	}
	for _, id := range []string{"Hca1", "Hca2", "Hca3", "Hca4"} {
		lid := strconv.Itoa(int(h.lidOf(id)))
		cs, err := h.ccquery("-c", "0xAB", "CACongestionSetting", lid)
		if err != nil {
			t.Fatalf("%s: ibccquery CACongestionSetting: %v\n%s", id, err, cs)
		}
		wantField(t, id, fields(cs), "Port_Control", "0x0001")
		wantField(t, id, fields(cs), "Control_Map", "0x0001")
		e := h.caSetting(id).Entries[0]
		if e != (wire.CACongestionEntryFields{CCTITimer: 300, CCTIIncrease: 4, TriggerThreshold: 7, CCTIMin: 1}) {
			t.Errorf("%s: SL 0 entry %+v", id, e)
		}
		ct := h.mustCCQuery("-c", "0xAB", "CongestionControlTable", lid)
		wantField(t, id, ct, "CCTI_Limit", "3")
		if cct := h.cct(id); len(cct) != 4 || cct[3] != (wire.CCTEntry{Shift: 2, Multiplier: 20}) {
			t.Errorf("%s: CCT %v, want OpenSM's 4 entries", id, cct)
		}
	}
}

// TestInteropCCDefaultModels: the default models (InfiniScale-III and
// ConnectX-2, which had no congestion control agent) refuse the class
// with 0x000C, and OpenSM with its CC manager on still brings the subnet
// up, leaving them alone.
func TestInteropCCDefaultModels(t *testing.T) {
	needCCTools(t)
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	conf := filepath.Join(h.dir, "opensm-cc.conf")
	if err := os.WriteFile(conf, []byte("congestion_control TRUE\ncc_key 0x5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.opensmOnce(60*time.Second, nil, "-F", conf)
	for _, id := range []string{"Switch2", "Hca2"} {
		h.onCC(id, func(cc *agent.CC) {
			if cc != nil {
				t.Errorf("%s: default model has a CC agent", id)
			}
		})
		lid := strconv.Itoa(int(h.lidOf(id)))
		out, err := h.ccquery("-d", "CongestionInfo", lid)
		if err == nil || !strings.Contains(out, "error status 0xc;") {
			t.Errorf("%s: ibccquery CongestionInfo on a model without CC: %v, want status 0x000C:\n%s", id, err, out)
		}
	}
}
