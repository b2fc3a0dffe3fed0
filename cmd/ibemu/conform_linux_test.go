//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var conformFail = regexp.MustCompile(`(?m)^FAIL\s+(\S+)\s+"([^"]*)"`)

// conformFailures runs `ibemu conform --attach` against the server on
// sock, after real OpenSM brought its fabric up, and returns the IDs of
// the checks that failed (sorted, once each) and the output.
func conformFailures(t *testing.T, dir, sock string) ([]string, string) {
	t.Helper()
	env := []string{"LD_PRELOAD=" + umad2sim, "IBSIM_SOCKNAME=" + sock, "OSM_TMP_DIR=" + dir, "OSM_CACHE_DIR=" + dir}
	osm := startProc(t, dir, env, "opensm", "-o", "-f", filepath.Join(dir, "opensm.log"))
	if code := osm.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("opensm -o exited %d:\n%s%s", code, osm.out.String(), osm.err.String())
	}
	junit := filepath.Join(dir, "conform.xml")
	p := startIbemu(t, dir, []string{"IBSIM_SOCKNAME=" + sock}, "conform", "--attach", "--write", "--timeout", "100ms", "--retries", "1",
		"--junit", junit)
	code := p.wait(t, 120*time.Second)
	out := p.out.String()
	if !strings.Contains(out, "conformance: 6 nodes, 164 checks") {
		t.Fatalf("ibemu conform exited %d:\n%s%s", code, out, p.err.String())
	}
	var ids []string
	for _, m := range conformFail.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(ids, m[1]) {
			ids = append(ids, m[1])
		}
	}
	slices.Sort(ids)
	if (len(ids) > 0) != (code == 1) || code > 1 {
		t.Errorf("exit status %d with failures %v", code, ids)
	}
	// The JUnit report counts the same failures.
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	fails := len(conformFail.FindAllString(out, -1))
	if !strings.Contains(string(b), fmt.Sprintf(`tests="164" failures="%d"`, fails)) || strings.Count(string(b), "<failure ") != fails {
		t.Errorf("junit report for %d failures:\n%s", fails, b)
	}
	return ids, out
}

// TestConformAttach: `ibemu conform --attach --write` walks a fabric
// OpenSM brought up and runs every check on its six nodes, the M_Key
// protection check of the four CAs included. On `ibemu serve`
// every check passes. On the real ibsim the same run fails exactly the
// checks of the behaviours ibsim does not model (it answers an unknown
// method and a bad class version as a Get, refuses a Set of NodeInfo
// with 0x0008 where the method is known but not for the attribute
// (0x000C), drops a Get of an attribute
// the SM or PerfMgt class does not define, answers LinearForwardingTable
// blocks past its LinearFDBCap, GUIDInfo blocks past its GUIDCap,
// SLtoVLMappingTable pairs of ports it does not have and multicast port
// masks past its ports, takes a PortInfo Set of a NeighborMTU past
// its MTUCap, and keeps no M_Key), which shows the
// checks tell a conforming agent from one that is not.
func TestConformAttach(t *testing.T) {
	needTools(t, "opensm", "ibsim")
	abs, err := filepath.Abs(net2sw)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ibemu serve", func(t *testing.T) {
		f := servePeer(t)
		if ids, out := conformFailures(t, f.dir, f.sock); len(ids) > 0 {
			t.Errorf("checks failed on ibemu serve: %v\n%s", ids, out)
		}
	})
	t.Run("ibsim", func(t *testing.T) {
		dir, sock := t.TempDir(), uniqueSock("ibemu-conf")
		startProc(t, dir, []string{"IBSIM_SOCKNAME=" + sock}, "ibsim", "-s", abs)
		waitSocket(t, sock)
		want := []string{"pma.unsupported-attribute", "sma.bad-class-version", "sma.guidinfo", "sma.lft-bad-block",
			"sma.mft-bad-position", "sma.mkey-lease", "sma.mkey-protect", "sma.mkey-protect-get", "sma.portinfo-set-invalid", "sma.set-get-only", "sma.sl2vl-switch", "sma.unsupported-attribute", "sma.unsupported-method"}
		if ids, out := conformFailures(t, dir, sock); !slices.Equal(ids, want) {
			t.Errorf("checks failed on ibsim: %v, want %v\n%s", ids, want, out)
		}
	})
}

// waitSocket waits until a server listens on the abstract socket
// @SOCK:ctl (ibsim prints nothing when it is ready).
func waitSocket(t *testing.T, sock string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile("/proc/net/unix")
		if strings.Contains(string(b), "@"+sock+":ctl") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server on @%s:ctl", sock)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
