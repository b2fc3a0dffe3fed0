//go:build linux

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/capture/capturetest"
)

// TestServeCaptureOfRealTools: `ibemu serve --capture` records every frame
// that crosses the fabric's links while a subnet manager (ours, then real
// OpenSM) brings the subnet up and real diags query it: directed-route and
// LID-routed SMPs, SA queries and their RMPP-segmented answers, PMA, traps.
// Wireshark's dissector (ib-capture-check) must decode every frame with
// correct CRCs and lengths. The tools are those whose attributes Wireshark
// 4.0 knows (it has no names for the vendor class's or for PortRcvError-
// Details, so vendstat and perfquery -E are left out).
func TestServeCaptureOfRealTools(t *testing.T) {
	needTools(t, "opensm", "ibnetdiscover", "smpquery", "perfquery", "saquery", "ibtracert", "sminfo", "ibroute")
	for _, sm := range []string{"ibemu sm", "opensm"} {
		t.Run(strings.ReplaceAll(sm, " ", "_"), func(t *testing.T) {
			path := capturetest.Path(t, "serve.pcap")
			f := servePeer(t, "--capture", path)
			if sm == "opensm" {
				// OpenSM buffers its log unless told to flush it.
				logf, conf := filepath.Join(f.dir, "opensm.log"), filepath.Join(f.dir, "opensm.conf")
				if err := os.WriteFile(conf, []byte("force_log_flush TRUE\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				env := []string{"LD_PRELOAD=" + umad2sim, "IBSIM_SOCKNAME=" + f.sock, "SIM_HOST=Hca1",
					"OSM_TMP_DIR=" + f.dir, "OSM_CACHE_DIR=" + f.dir}
				startProc(t, f.dir, env, "opensm", "-F", conf, "-f", logf, "-s", "0")
				deadline := time.Now().Add(30 * time.Second)
				for {
					b, _ := os.ReadFile(logf)
					if strings.Contains(string(b), "SUBNET UP") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("opensm did not reach SUBNET UP:\n%s", b)
					}
					time.Sleep(50 * time.Millisecond)
				}
			} else {
				p := startIbemu(t, f.dir, nil, "sm", "--host", "Hca1", "--sockname", f.sock, "--sweep-interval", "-1s")
				p.waitOutput(t, "SUBNET UP", 30*time.Second)
			}
			got := idsOf(checkDiscovered(t, f.dir, f.sock, "Hca3", f.topo))
			lid := func(name string) string { return strconv.Itoa(int(got.lid[name])) }
			for _, argv := range [][]string{
				{"smpquery", "nodeinfo", lid("Hca2")},
				{"smpquery", "-D", "portinfo", "0,1", "1"},
				{"smpquery", "switchinfo", lid("Switch1")},
				{"ibroute", lid("Switch1")},
				{"ibtracert", lid("Hca3"), lid("Hca4")},
				{"perfquery", lid("Hca2")},
				{"perfquery", "-x", lid("Switch1"), "1"},
				{"perfquery", "-R", lid("Hca2")},
				{"sminfo"},
				{"saquery", "PR", lid("Hca3"), lid("Hca4")},
				{"saquery", "NR"},
				{"saquery", "-s"},
				{"saquery", "-g"},
				{"saquery", "LR"},
			} {
				diag(t, f.dir, f.sock, "Hca3", argv...)
			}
			f.srv.stop()
			if out := f.srv.out.String(); !regexp.MustCompile(`captured [1-9]\d* frames`).MatchString(out) {
				t.Fatalf("serve did not report its capture:\n%s\n%s", out, f.srv.err.String())
			}
			out := capturetest.Check(t, path)
			m := regexp.MustCompile(`OK: (\d+) frames`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("ib-capture-check: %s", out)
			}
			if n, _ := strconv.Atoi(m[1]); n < 200 {
				t.Errorf("only %d frames captured: %s", n, out)
			}
			t.Log(strings.TrimSpace(out))
		})
	}
}
