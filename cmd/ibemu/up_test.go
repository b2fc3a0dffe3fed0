package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUpDefaultTopology(t *testing.T) {
	out, errOut, code := runCmd(t, "up")
	if code != 0 {
		t.Fatalf("up exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"12 switches, 32 HCAs", "lids: 1-44", "routing: minhop",
		"traffic check: 44 of 44 lids", "all cabled ports are Active"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
}

func TestUpRingWithUpDownAndLMC(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "ring.net")
	out, errOut, code := runCmd(t, "topo", "gen", "ring", "--switches", "5", "--hcas", "2")
	if code != 0 {
		t.Fatalf("topo gen: %s", errOut)
	}
	if err := os.WriteFile(topo, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCmd(t, "up", topo, "--routing", "updn", "--lmc", "1")
	if code != 0 {
		t.Fatalf("up exit %d: %s\n%s", code, errOut, out)
	}
	// 10 CA ports × 2 LIDs + 5 switches.
	for _, want := range []string{"routing: updn", "(LMC 1)", "traffic check: 25 of 25 lids", "all cabled ports are Active"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
}

func TestUpBadPartitionFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "partitions.conf")
	if err := os.WriteFile(file, []byte("Default=0x7fff : ALL=full ;\nbroken : ALL ;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCmd(t, "up", "--partitions", file)
	if code != 1 || !strings.Contains(errOut, "partitions.conf:2:") {
		t.Errorf("exit %d, stderr %q: want exit 1 naming partitions.conf:2", code, errOut)
	}
	if _, _, code := runCmd(t, "up", "--routing", "random"); code != 2 {
		t.Errorf("unknown routing: exit %d, want 2", code)
	}
}

// TestUpEverySubnet: a fabric of several subnets (the two rails of a
// dual-rail fabric; two CAs cabled back to back twice) gets an SM per
// subnet, and every cabled port comes up; an uncabled switch and CA ports
// are no obstacle. Shapes from testdata with a credit-loop-free routing.
func TestUpEverySubnet(t *testing.T) {
	for _, tc := range []struct {
		file  string
		want  []string
		extra int // subnets beyond the first
	}{
		{"dualrail.net", []string{"2 switches, 3 HCAs, 6 links", "traffic check: 8 of 8 lids", `another subnet: subnet manager on "hca1" port 2: 4 nodes`}, 1},
		{"backtoback.net", []string{"0 switches, 2 HCAs, 2 links", "traffic check: 4 of 4 lids", `another subnet: subnet manager on "left" port 2: 2 nodes`}, 1},
		{"unconnected.net", []string{"2 switches, 3 HCAs, 2 links", "traffic check: 3 of 3 lids"}, 0},
		{"highports.net", []string{"traffic check: 5 of 5 lids"}, 0},
		{"switch36.net", []string{"1 switches, 36 HCAs, 36 links", "traffic check: 37 of 37 lids"}, 0},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, errOut, code := runCmd(t, "up", filepath.Join("testdata", tc.file), "--routing", "updn")
			if code != 0 {
				t.Fatalf("up exit %d: %s\n%s", code, errOut, out)
			}
			for _, want := range append(tc.want, "all cabled ports are Active") {
				if !strings.Contains(out, want) {
					t.Errorf("up output lacks %q:\n%s", want, out)
				}
			}
			if got := strings.Count(out, "another subnet:"); got != tc.extra {
				t.Errorf("%d further subnets, want %d:\n%s", got, tc.extra, out)
			}
			if strings.Contains(out, "problems during the sweep") {
				t.Errorf("problems reported:\n%s", out)
			}
		})
	}
}

// TestUpSwitchOnlyIsland: cabled switches that no CA reaches cannot be
// brought up by any SM; up says so and still succeeds for the rest.
func TestUpSwitchOnlyIsland(t *testing.T) {
	file := filepath.Join(t.TempDir(), "island.net")
	if err := os.WriteFile(file, []byte(`Switch 4 "sw"
[1] "h"[1]

Switch 4 "islandA"
[1] "islandB"[2]

Switch 4 "islandB"
[2] "islandA"[1]

Hca 1 "h"
[1] "sw"[1]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCmd(t, "up", file)
	if code != 0 {
		t.Fatalf("up exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"all cabled ports are Active",
		"2 cabled ports are in subnets without a CA port to run a subnet manager on: islandA port 1, islandB port 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
}

// TestUpMinHopCreditLoopWarnings: min-hop's credit loops are reported as
// problems, and the report says whether the CA-to-CA routes loop (a
// torus) or only the routes towards switch LIDs do (a three-level fat
// tree); the subnet comes up either way.
func TestUpMinHopCreditLoopWarnings(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, gen  []string
		switchOnly bool
	}{
		{[]string{"torus"}, []string{"torus", "--dims", "4x4", "--hcas", "1"}, false},
		{[]string{"fattree3"}, []string{"fattree", "--levels", "3", "--radix", "4"}, true},
	} {
		t.Run(tc.name[0], func(t *testing.T) {
			out, errOut, code := runCmd(t, append([]string{"topo", "gen"}, tc.gen...)...)
			if code != 0 {
				t.Fatalf("topo gen: %s", errOut)
			}
			file := filepath.Join(dir, tc.name[0]+".net")
			if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			out, errOut, code = runCmd(t, "up", file)
			if code != 0 {
				t.Fatalf("up exit %d: %s\n%s", code, errOut, out)
			}
			if !strings.Contains(out, "all cabled ports are Active") || !strings.Contains(out, "credit loop in the routes") {
				t.Errorf("want every port Active and the credit loop reported:\n%s", out)
			}
			only := strings.Contains(out, "only with the routes towards switch LIDs")
			warnOnly := strings.Contains(errOut, "min-hop routes towards switch LIDs have a credit loop")
			if only != tc.switchOnly || warnOnly != tc.switchOnly {
				t.Errorf("switch-LIDs-only in the report %v, in the warning %v; want %v\n%s\n%s", only, warnOnly, tc.switchOnly, out, errOut)
			}
		})
	}
}

// TestUpCountsRouters: a router is neither a switch nor an HCA in the
// summaries of up and topo check, and the SM brings its ports up.
func TestUpCountsRouters(t *testing.T) {
	net := filepath.Join("testdata", "router.net")
	out, errOut, code := runCmd(t, "up", net)
	if code != 0 {
		t.Fatalf("up %s: exit %d\n%s%s", net, code, out, errOut)
	}
	for _, want := range []string{": 2 switches, 2 HCAs, 1 router, 5 links", "nodes: 2 switches, 2 CAs (2 CA ports with LIDs), 1 router"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	out, errOut, code = runCmd(t, "topo", "check", net)
	if code != 0 || !strings.Contains(out, "ok: 2 switches, 2 CAs, 1 router, 5 links") {
		t.Errorf("topo check %s: exit %d\n%s%s", net, code, out, errOut)
	}
}

// TestUpConfigFile: `ibemu up --config` reads an OpenSM options file
// for its subnet manager (routing_engine, max_op_vls, congestion control
// on a fabric of models without it), and a flag given wins over it.
func TestUpConfigFile(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "opensm.conf")
	if err := os.WriteFile(conf, []byte("routing_engine updn\nmax_op_vls 1\ncongestion_control TRUE\nlog_flags 0x03\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCmd(t, "up", "--config", conf, "--quiet")
	if code != 0 || !strings.Contains(out, "routing: updn") || !strings.Contains(errOut, "log_flags") {
		t.Errorf("up --config: exit %d\n%s\n%s", code, out, errOut)
	}
	out, _, code = runCmd(t, "up", "--config", conf, "--routing", "ftree", "--quiet")
	if code != 0 || !strings.Contains(out, "routing: ftree") {
		t.Errorf("up --config --routing ftree: exit %d\n%s", code, out)
	}
	if _, errOut, code = runCmd(t, "up", "--config", filepath.Join(t.TempDir(), "none")); code == 0 {
		t.Errorf("up with a missing options file: exit 0\n%s", errOut)
	}
}
