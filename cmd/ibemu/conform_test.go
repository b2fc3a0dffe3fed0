package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/conformance"
)

// TestConformInProcess: `ibemu conform` brings the built-in fat tree up
// with the built-in SM and every check passes on its 44 nodes but the one
// that needs a switch port without a link (every port is cabled); -v lists
// each check of each node, --only narrows the run, --max-nodes bounds the
// walk.
func TestConformInProcess(t *testing.T) {
	out, errOut, code := runCmd(t, "conform")
	if code != 0 || !strings.Contains(out, "conformance: 44 nodes, 946 checks: 902 passed, 0 failed, 44 skipped") {
		t.Fatalf("conform exit %d: %s\n%s", code, errOut, out)
	}
	if !strings.Contains(errOut, "in process on the built-in topology, from node1 HCA-1 port 1") {
		t.Errorf("conform says where it runs: %q", errOut)
	}
	out, _, code = runCmd(t, "conform", "--write", "--only", "sma.mkey-protect", "--timeout", "20ms", "--retries", "0")
	if code != 0 || !strings.Contains(out, "conformance: 44 nodes, 31 checks: 31 passed") {
		// Every CA but the one the checks run from.
		t.Errorf("conform --write --only sma.mkey-protect exit %d:\n%s", code, out)
	}
	if _, errOut, code := runCmd(t, "conform", "--only", "sma.mkey-protect"); code != 2 {
		t.Errorf("a write check without --write: exit %d (%s)", code, errOut)
	}
	out, _, code = runCmd(t, "conform", "-v", "--only", "sma.switchinfo,pma.portcounters", "--max-nodes", "5")
	// Breadth first: node1's HCA, its leaf, and the leaf's next three
	// HCAs; one SwitchInfo and five PortCounters checks.
	if code != 0 || strings.Count(out, "pass  ") != 6 || !strings.Contains(out, "conformance: 5 nodes, 6 checks: 6 passed") {
		t.Errorf("conform --only --max-nodes exit %d:\n%s", code, out)
	}
}

// TestConformTopologyFile: a topology file and --from pick the fabric
// and the HCA the checks run from.
func TestConformTopologyFile(t *testing.T) {
	dir := t.TempDir()
	topo := filepath.Join(dir, "ring.net")
	out, errOut, code := runCmd(t, "topo", "gen", "ring", "--switches", "3", "--hcas", "1")
	if code != 0 {
		t.Fatalf("topo gen: %s", errOut)
	}
	if err := os.WriteFile(topo, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCmd(t, "conform", topo, "--from", "node2 HCA-1")
	if code != 0 || !strings.Contains(out, "conformance: 6 nodes,") || !strings.Contains(out, " 0 failed, 6 skipped") {
		t.Fatalf("conform exit %d: %s\n%s", code, errOut, out)
	}
	// ibsim's example net leaves switch ports without cables: every check
	// runs, the directed route out of a port without a link included.
	out, errOut, code = runCmd(t, "conform", "--write", "../../emu/topology/testdata/ibsim/net.2sw2path4hca")
	if code != 0 || !strings.Contains(out, "conformance: 6 nodes, 158 checks: 154 passed, 0 failed, 4 skipped") {
		t.Fatalf("conform exit %d: %s\n%s", code, errOut, out)
	}
}

// TestConformJUnit: --junit writes a JUnit report that CI systems read:
// one test case per check and node, the failures and skips counted.
func TestConformJUnit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "conform.xml")
	_, errOut, code := runCmd(t, "conform", "--junit", file, "--max-nodes", "3")
	if code != 0 {
		t.Fatalf("conform --junit exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name      string `xml:"name,attr"`
				ClassName string `xml:"classname,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("junit report: %v\n%s", err, b)
	}
	if len(doc.Suites) != 1 || doc.Suites[0].Tests == 0 || doc.Suites[0].Tests != len(doc.Suites[0].Cases) || doc.Suites[0].Failures != 0 {
		t.Fatalf("junit report:\n%s", b)
	}
	if c := doc.Suites[0].Cases[0]; c.ClassName != "sma.nodeinfo" || !strings.HasPrefix(c.Name, "sma.nodeinfo on \"node1 HCA-1\"") {
		t.Errorf("first test case %+v", c)
	}
}

// TestConformList: --list names every check with its IBTA section.
func TestConformList(t *testing.T) {
	out, _, code := runCmd(t, "conform", "--list")
	if code != 0 {
		t.Fatal(code)
	}
	for _, c := range append(conformance.Checks, conformance.WriteChecks...) {
		if !strings.Contains(out, c.ID) || !strings.Contains(out, c.Ref) {
			t.Errorf("--list lacks %s (%s)", c.ID, c.Ref)
		}
	}
}

// TestConformUsage: bad invocations are usage errors (exit 2).
func TestConformUsage(t *testing.T) {
	for _, args := range [][]string{
		{"conform", "--attach", "--umad", "mlx4_0"},
		{"conform", "--attach", "some.net"},
		{"conform", "a.net", "b.net"},
		{"conform", "--only", "sma.nope"},
		{"conform", "--timeout", "0s"},
		{"conform", "--parallel", "0"},
	} {
		if _, errOut, code := runCmd(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}
