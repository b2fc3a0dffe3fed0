package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTopoGenTorusGrid: topo gen torus and grid write loadable files of
// the right size; bad --dims is a usage error.
func TestTopoGenTorusGrid(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		switches, cas int
		links         int
	}{
		{[]string{"torus", "--dims", "4x4", "--hcas", "1"}, 16, 16, 32 + 16},
		{[]string{"grid", "--dims", "3x3x2", "--hcas", "2"}, 18, 36, 33 + 36},
		{[]string{"torus", "--dims", "3x3x3", "--hcas", "0"}, 27, 0, 81},
	} {
		out, errOut, code := runCmd(t, append([]string{"topo", "gen"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("topo gen %v: exit %d: %s", tc.args, code, errOut)
		}
		file := filepath.Join(t.TempDir(), "gen.net")
		if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		check, _, code := runCmd(t, "topo", "check", file)
		want := strings.Join([]string{strconv.Itoa(tc.switches) + " switches", strconv.Itoa(tc.cas) + " CAs", strconv.Itoa(tc.links) + " links"}, ", ")
		if code != 0 || !strings.Contains(check, want) {
			t.Errorf("topo gen %v: check says %q, want %q", tc.args, check, want)
		}
	}
	for _, dims := range []string{"4x0", "x", "3by3", ""} {
		if _, _, code := runCmd(t, "topo", "gen", "torus", "--dims", dims); code != 2 {
			t.Errorf("--dims %q: exit %d, want 2", dims, code)
		}
	}
}

// TestTopoDiff: topo diff finds a graph the same as itself written in
// another form, names what differs otherwise, and with --from compares
// only what a walk from that port discovers (dual-rail: rail A alone).
func TestTopoDiff(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	railA := write("railA.net", `Switch 8 "railA"
[1] "hca1"[1]
[2] "hca2"[1]
[3] "hca3"[1]

Hca 2 "hca1"
[1] "railA"[1]

Hca 2 "hca2"
[1] "railA"[2]

Hca 2 "hca3"
[1] "railA"[3]
`)
	dual := filepath.Join("testdata", "dualrail.net")
	out, _, code := runCmd(t, "topo", "diff", "--from", "hca1", dual, railA)
	if code != 0 || !strings.Contains(out, "are the same graph") {
		t.Errorf("--from hca1: exit %d:\n%s", code, out)
	}
	out, _, code = runCmd(t, "topo", "diff", "--from", "hca1:1", dual, railA)
	if code != 0 {
		t.Errorf("--from hca1:1: exit %d:\n%s", code, out)
	}
	out, _, code = runCmd(t, "topo", "diff", dual, railA)
	if code != 1 || !strings.Contains(out, `node "railB" is only in the first topology`) {
		t.Errorf("whole dual-rail file against rail A: exit %d:\n%s", code, out)
	}
	out, _, code = runCmd(t, "topo", "diff", "--from", "hca1:2", dual, railA)
	if code != 1 || !strings.Contains(out, `"railA" is only in the second topology`) {
		t.Errorf("--from hca1:2 (rail B) against rail A: exit %d:\n%s", code, out)
	}
	for _, bad := range [][]string{{dual}, {"--from", "nosuch", dual, railA}, {"--from", "hca1:9", dual, railA}} {
		if _, _, code := runCmd(t, append([]string{"topo", "diff"}, bad...)...); code != 2 {
			t.Errorf("topo diff %v: exit %d, want 2", bad, code)
		}
	}
}
