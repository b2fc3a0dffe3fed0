package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/topology"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(&o, &e, args)
	return o.String(), e.String(), code
}

func TestTopoCheckReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.net")
	os.WriteFile(bad, []byte(`Switch 4 "sw1"
[1] "h1"[1]
[7] "h2"[1]
[2] "nosuch"[1]

Hca 1 "h1"
[1] "sw1"[2]

Hca 1 "h2"
[1] "sw1"[7]
`), 0o644)
	out, _, code := runCmd(t, "topo", "check", bad)
	if code == 0 {
		t.Fatalf("topo check of a bad file exited 0:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("want every problem reported, got:\n%s", out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, bad+":") {
			t.Errorf("problem line %q does not start with FILE:LINE", l)
		}
	}
	for _, want := range []string{bad + ":3:", bad + ":4:"} {
		if !strings.Contains(out, want) {
			t.Errorf("no problem reported at %s:\n%s", want, out)
		}
	}
}

func TestTopoGenSizes(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		switches, ca int
	}{
		{[]string{"fattree", "--levels", "2", "--radix", "36"}, 54, 648},
		{[]string{"fattree", "--levels", "3", "--radix", "24"}, 720, 3456},
		{[]string{"ring", "--switches", "5", "--hcas", "2"}, 5, 10},
	} {
		out, errOut, code := runCmd(t, append([]string{"topo", "gen"}, tc.args...)...)
		if code != 0 {
			t.Fatalf("topo gen %v: exit %d: %s", tc.args, code, errOut)
		}
		topo, err := topology.Parse("gen", strings.NewReader(out))
		if err != nil {
			t.Fatalf("topo gen %v output does not load: %v", tc.args, err)
		}
		sw, ca, _ := summarize(topo)
		if sw != tc.switches || ca != tc.ca {
			t.Errorf("topo gen %v: %d switches, %d CAs; want %d and %d", tc.args, sw, ca, tc.switches, tc.ca)
		}
	}
}

// TestDiscoverSameGraph runs `ibemu discover` on every ibsim example and on
// irregular shapes, and loads the printed topology back.
func TestDiscoverSameGraph(t *testing.T) {
	files, _ := filepath.Glob("../../emu/topology/testdata/ibsim/net*")
	files = append(files, "testdata/irregular.net")
	if len(files) < 3 {
		t.Fatalf("test topologies missing: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, errOut, code := runCmd(t, "discover", f, "--quiet")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			want, err := topology.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := topology.Parse("discovered", strings.NewReader(out))
			if err != nil {
				t.Fatalf("discover output does not load: %v\n%s", err, out)
			}
			if err := topology.Compare(want, got); err != nil {
				t.Fatalf("not the same graph: %v", err)
			}
		})
	}
}

func TestDiscoverFromAnotherHCA(t *testing.T) {
	out, errOut, code := runCmd(t, "discover", "testdata/irregular.net", "--from", "dual", "--port", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "from dual port 2") {
		t.Errorf("summary does not name the starting port:\n%s", errOut)
	}
	if !strings.Contains(out, "dual") {
		t.Errorf("output lacks the starting node")
	}
	_, errOut, code = runCmd(t, "discover", "testdata/irregular.net", "--from", "nobody")
	if code == 0 || !strings.Contains(errOut, "nobody") {
		t.Errorf("--from an unknown node: exit %d, %s", code, errOut)
	}
}

func TestDemo(t *testing.T) {
	out, errOut, code := runCmd(t, "demo")
	if code != 0 {
		t.Fatalf("demo exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{"12 switches, 32 HCAs", "matches the generated topology"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	if _, _, code := runCmd(t, "nosuch"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if _, _, code := runCmd(t, "topo", "gen", "blob"); code != 2 {
		t.Errorf("unknown shape: exit %d, want 2", code)
	}
	if _, _, code := runCmd(t, "discover"); code != 2 {
		t.Errorf("discover without a file: exit %d, want 2", code)
	}
}
