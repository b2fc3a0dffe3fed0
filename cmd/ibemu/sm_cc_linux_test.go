//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ccConf is one OpenSM options file for both SMs: congestion control on,
// with switch and CA settings, a two-block CCT and a key the MADs carry.
const ccConf = `congestion_control TRUE
cc_key 0x0000000000004242
cc_sw_cong_setting_control_map 0x1F
cc_sw_cong_setting_victim_mask 0x0000000000000000000000000000000000000000000000000000000000000006
cc_sw_cong_setting_credit_mask 0x0000000000000000000000000000000000000000000000000000000000000002
cc_sw_cong_setting_threshold 0x09
cc_sw_cong_setting_packet_size 4
cc_sw_cong_setting_credit_starvation_threshold 0x02
cc_sw_cong_setting_credit_starvation_return_delay 2:100
cc_sw_cong_setting_marking_rate 3
cc_ca_cong_setting_port_control 0x0000
cc_ca_cong_setting_control_map 0x0003
cc_ca_cong_setting_ccti_timer 0 1000
cc_ca_cong_setting_ccti_increase 0 1
cc_ca_cong_setting_trigger_threshold 0 2
cc_ca_cong_setting_ccti_min 0 0
cc_ca_cong_setting_ccti_timer 1 500
cc_ca_cong_setting_ccti_increase 1 4
cc_cct %s
head_of_queue_lifetime 0x0e
leaf_head_of_queue_lifetime 0x0c
vl_stall_count 5
leaf_vl_stall_count 3
local_phy_errors_threshold 0x04
overrun_errors_threshold 0x05
max_op_vls 2
sm_sl 1
force_link_width 3
force_link_speed 7
force_link_speed_ext 30
fdr10 2
packet_life_time 0x0b
part_enforce in
`

// TestSMCongestionControlLikeOpenSM: `ibemu sm --config` and the real
// `opensm -F` read the same options file with congestion control on and
// bring up twin fabrics of speedsFabric (CC-capable Quantum, Switch-IB,
// SwitchX-2 and ConnectX-3 and later, and an InfiniScale-IV and two
// ConnectX-2 without); ibccquery then reads the same
// SwitchCongestionSetting from every switch and CACongestionSetting and
// CongestionControlTable from every CA port, by GUID, on both, and
// smpquery the same PortInfo of every port (the file also sets the link
// manager's head-of-queue lifetimes, VL stall counts, error thresholds,
// max_op_vls and sm_sl).
func TestSMCongestionControlLikeOpenSM(t *testing.T) {
	needTools(t, "opensm", "ibccquery")
	file, err := filepath.Abs(speedsFabric)
	if err != nil {
		t.Fatal(err)
	}
	var cct []string
	for i := range 80 {
		cct = append(cct, fmt.Sprintf("%d:%d", i%4, i*7))
	}
	ours, theirs := serveShape(t, file, false), serveShape(t, file, false)
	conf := filepath.Join(ours.dir, "opensm.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, ccConf, strings.Join(cct, ",")), 0o644); err != nil {
		t.Fatal(err)
	}
	sm := startIbemu(t, ours.dir, nil, "sm", "--sockname", ours.sock, "--host", speedsHost, "--sweep-interval", "-1s", "--config", conf)
	sm.waitOutput(t, "SUBNET UP", 30*time.Second)
	osmLog := theirs.startOpenSM(t, "-F", conf)
	// OpenSM configures congestion control after SUBNET UP's sweep ends;
	// give its MADs a moment.
	time.Sleep(300 * time.Millisecond)

	var jobs []diagJob
	value := regexp.MustCompile(`(?m)^\s*(\w+)[:.]*\.+(.*)$`)
	// ibccquery prints a CA's entries per SL and a table's per entry,
	// each after an "SL" or "Entry" line: the fields that follow are
	// named after it.
	parse := func(out string) map[string]string {
		m := map[string]string{}
		prefix := ""
		for _, f := range value.FindAllStringSubmatch(out, -1) {
			v := strings.TrimSpace(f[2])
			if f[1] == "SL" || f[1] == "Entry" {
				prefix = f[1] + v + "_"
				continue
			}
			m[prefix+f[1]] = v
		}
		return m
	}
	capable := 0
	for _, n := range ours.topo.Nodes {
		if n.IsSwitch() {
			jobs = append(jobs, diagJob{key: n.ID + " SwitchCongestionSetting",
				argv: []string{"ibccquery", "-G", "SwitchCongestionSetting", fmt.Sprintf("%#x", uint64(n.NodeGUID))}, parse: parse})
			continue
		}
		g := fmt.Sprintf("%#x", uint64(n.Ports[1].GUID))
		jobs = append(jobs,
			diagJob{key: n.ID + " CACongestionSetting", argv: []string{"ibccquery", "-G", "CACongestionSetting", g}, parse: parse},
			diagJob{key: n.ID + " CongestionControlTable", argv: []string{"ibccquery", "-G", "CongestionControlTable", g}, parse: parse})
	}
	// The link and unicast managers' options of the same file: PortInfo
	// of every port, SwitchInfo of every switch.
	paths := drPaths(ours.topo, speedsHost)
	for _, n := range ours.topo.Nodes {
		if n.IsSwitch() {
			jobs = append(jobs, diagJob{key: n.ID + " switchinfo", argv: []string{"smpquery", "-D", "switchinfo", paths[n]},
				parse: dotFields("LifeTime", "LinearFdbTop")})
		}
	}
	for _, j := range speedJobs(ours.topo) {
		if strings.HasSuffix(j.key, " portinfo") || strings.HasSuffix(j.key, " mepi") {
			jobs = append(jobs, j)
		}
	}
	fo, ft := ours.runDiags(t, jobs), theirs.runDiags(t, jobs)
	lidsToNodes(fo)
	lidsToNodes(ft)
	for k, v := range fo {
		if strings.HasSuffix(k, ": error") {
			// The old models answer 0x000C on both fabrics.
			fo[k] = "error"
			continue
		}
		if strings.HasSuffix(k, ": Threshold") && v != "0x00" || strings.HasSuffix(k, "SL0_CCTI_Timer") && v != "0" {
			capable++
		}
	}
	for k := range ft {
		if strings.HasSuffix(k, ": error") {
			ft[k] = "error"
		}
	}
	compareFacts(t, fo, ft)
	if text, err := os.ReadFile(osmLog); err == nil && regexp.MustCompile(`ERR C1[0-9A-F]{2}`).Match(text) {
		t.Errorf("opensm's congestion control manager logged an error:\n%s", lastLines(string(text), 30))
	}
	if log := sm.out.String() + sm.err.String(); strings.Contains(log, "problem:") || strings.Contains(log, "level=ERROR") ||
		!strings.Contains(log, "congestion control: ") {
		t.Errorf("ibemu sm's output:\n%s", log)
	}
	t.Logf("%d ibccquery and smpquery runs per fabric, %d facts compared", len(jobs), len(ft))
	// What both must show, so that the two agreeing on nothing written
	// fails too.
	for k, want := range map[string]string{
		"S-quantum SwitchCongestionSetting: Threshold":         "0x09",
		"S-sx SwitchCongestionSetting: Marking_Rate":           "3",
		"H-cx3 CACongestionSetting: Control_Map":               "0x0003",
		"S-is4 SwitchCongestionSetting: error":                 "error",
		"H-cx4 CongestionControlTable: CCTI_Limit":             "79",
		"H-cx6b CACongestionSetting: SL1_CCTI_Increase":        "4",
		"H-cx3pro CACongestionSetting: SL0_CCTI_Timer":         "1000",
		"H-cx3pro CACongestionSetting: SL1_CCTI_Timer":         "500",
		"H-cx2 CACongestionSetting: error":                     "error",
		"S-sib SwitchCongestionSetting: Packet_Size":           "4",
		"S-sib SwitchCongestionSetting: CS_Threshold":          "0x02",
		"H-cx6 CongestionControlTable: Entry79_CCT_Multiplier": "553",
		"H-cx6 CongestionControlTable: Entry5_CCT_Shift":       "1",
		"S-sx/1 portinfo: OperVLs":                             "VL0-1",
		"S-quantum/1 portinfo: HoqLife":                        "14", // toward a switch
		"S-quantum/1 portinfo: VLStallCount":                   "5",
		"S-quantum/2 portinfo: HoqLife":                        "12", // toward a CA
		"S-quantum/2 portinfo: VLStallCount":                   "3",
		"S-quantum/1 portinfo: LocalPhysErr":                   "4",
		"H-cx3/1 portinfo: OverrunErr":                         "5",
		"H-cx3/1 portinfo: LinkSpeedEnabled":                   "2.5 Gbps or 5.0 Gbps or 10.0 Gbps", // force_link_speed 7
		"H-cx3/1 portinfo: LinkWidthEnabled":                   "1X or 4X",                          // force_link_width 3
		"H-cx6/1 portinfo: LinkSpeedExtEnabled":                "0",                                 // force_link_speed_ext 30: off
		"H-cx3pro/1 mepi: LinkSpeedEnabled":                    "0x00",                              // fdr10 2 (it trained at FDR10)
		"S-sib switchinfo: LifeTime":                           "11",                                // packet_life_time
		"S-sib/2 portinfo: PartEnforceInb":                     "1",                                 // part_enforce in
		"S-sib/2 portinfo: PartEnforceOutb":                    "0",
	} {
		if fo[k] != want {
			t.Errorf("%s: %q, want %q", k, fo[k], want)
		}
	}
	if capable != 8 {
		t.Errorf("%d settings written, want the 3 CC switches' and 5 CC CAs'", capable)
	}
}

// TestSMConfigFromOpenSM: the options file real OpenSM writes with its
// defaults (opensm -c) is read whole by `ibemu sm --config`: no error, the
// keys the SM does not model named in one warning, and the SM runs with
// OpenSM's defaults (min-hop routing, 4 SMPs on the wire) and brings the
// fabric up.
func TestSMConfigFromOpenSM(t *testing.T) {
	needTools(t, "opensm")
	file, err := filepath.Abs(speedsFabric)
	if err != nil {
		t.Fatal(err)
	}
	s := serveShape(t, file, false)
	conf := filepath.Join(s.dir, "opensm.conf")
	if out, err := runDiag(s.dir, s.sock, speedsHost, "opensm", "-c", conf); err != nil {
		t.Fatalf("opensm -c: %v\n%s", err, out)
	}
	out := s.startSM(t, speedsHost, "", "--config", conf, "--sweep-interval", "-1s", "--debug")
	if !strings.Contains(out, "routing minhop") {
		t.Errorf("ibemu sm with OpenSM's defaults:\n%s", out)
	}
}
