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
