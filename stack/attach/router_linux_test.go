//go:build linux

package attach

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// routerNetFile is the net with a router and an enhanced-port-0 switch
// that both simulators load.
var routerNetFile = filepath.Join("..", "..", "cmd", "ibemu", "testdata", "router.net")

// opensmOnce runs `opensm -o` on f and requires SUBNET UP in its log.
func (f *diagFabric) opensmOnce(t *testing.T) {
	t.Helper()
	f.osm = filepath.Join(f.dir, "opensm-once.log")
	out, err := f.run(t, 30*time.Second, nil, "opensm", "-o", "-f", f.osm)
	log, _ := os.ReadFile(f.osm)
	if err != nil || !strings.Contains(string(log), "SUBNET UP") {
		t.Fatalf("opensm -o on %s: %v\n%s\n%s", f.name, err, out, tail(string(log), 40))
	}
}

var (
	// discoverFix drops what legitimately differs between the two
	// simulators in ibnetdiscover's output: the header comments (a date),
	// the vendor and device ids (ours are Mellanox models, ibsim reports
	// 0) and the link rate (ours train DDR, ibsim's SDR).
	discoverHeader = regexp.MustCompile(`(?m)^#.*\n`)
	discoverIDs    = regexp.MustCompile(`(?m)^(vendid|devid)=.*\n`)
	discoverRate   = regexp.MustCompile(`\b\d+x(SDR|DDR|QDR)\b`)
)

func discoverFix(s string) string {
	return discoverRate.ReplaceAllString(discoverIDs.ReplaceAllString(discoverHeader.ReplaceAllString(s, ""), ""), "RATE")
}

// TestInteropRouterEnhancedPort0 brings cmd/ibemu/testdata/router.net up
// with `opensm -o` on our server and on the real ibsim: OpenSM reaches
// SUBNET UP on both and every cabled port, the router's included, is
// Active with a LID. ibnetdiscover prints the same records on both (an
// Rt record, "enhanced port 0" on one switch and "base port 0" on the
// other) and its output loads back to the file's graph; ibrouters lists
// the router the same way; smpquery switchinfo reads EnhancedPort0 1 and
// 0 on both, and smpquery nodeinfo of the router says Router.
func TestInteropRouterEnhancedPort0(t *testing.T) {
	needInterop(t)
	for _, tool := range []string{"ibsim", "ibrouters"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := "router interop: missing " + tool + " (make deps)"
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	net, err := filepath.Abs(routerNetFile) // ibsim runs in a directory of its own
	if err != nil {
		t.Fatal(err)
	}
	topo, err := topology.Load(net)
	if err != nil {
		t.Fatal(err)
	}
	h := newInterop(t, topo)
	d := &diagPair{
		emu: &diagFabric{name: "ibemu", sock: h.sock, dir: h.dir, srv: h.srv},
		sim: startIbsim(t, net),
	}
	d.emu.opensmOnce(t)
	d.sim.opensmOnce(t)

	// In the fabric: every cabled port Active, the router's with LIDs of
	// their own.
	h.waitAllActive(5 * time.Second)
	rtLIDs := map[wire.LID]bool{}
	for _, p := range h.linkedPorts() {
		if p.node == "rt1" {
			if p.lid == 0 || rtLIDs[p.lid] {
				t.Errorf("router port %d has lid %d", p.num, p.lid)
			}
			rtLIDs[p.lid] = true
		}
	}
	if len(rtLIDs) != 2 {
		t.Errorf("router ports with lids: %v, want 2", rtLIDs)
	}

	t.Run("ibnetdiscover", func(t *testing.T) {
		// Not d.same: its norm rewrites every [n], port numbers included.
		out := attachedLine.ReplaceAllString(d.emu.mustRun(t, nil, "ibnetdiscover"), "")
		sim := attachedLine.ReplaceAllString(d.sim.mustRun(t, nil, "ibnetdiscover"), "")
		if discoverFix(out) != discoverFix(sim) {
			t.Errorf("ibnetdiscover differs from ibsim:\nibemu:\n%s\nibsim:\n%s", out, sim)
		}
		for _, want := range []string{
			"rtguid=0x300000\nRt\t2 \"R-0000000000300000\"\t\t# \"rt1\"",
			`# "edge enhanced" enhanced port 0 lid`,
			`# "edge base" base port 0 lid`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("ibnetdiscover lacks %q:\n%s", want, out)
			}
		}
		got, err := topology.Parse("ibnetdiscover", strings.NewReader(out))
		if err != nil {
			t.Fatalf("ibnetdiscover output does not load: %v\n%s", err, out)
		}
		if err := topology.Compare(topo, got); err != nil {
			t.Errorf("ibnetdiscover graph differs from the file: %v", err)
		}
		for _, n := range got.Nodes {
			want := n.Desc == "edge enhanced"
			if n.IsSwitch() && n.EnhancedPort0 != want {
				t.Errorf("%s: enhanced port 0 %v after the round trip, want %v", n.Desc, n.EnhancedPort0, want)
			}
			if n.Desc == "rt1" && (n.Type != wire.NodeTypeRouter || n.Ports[1].LID == 0 || n.Ports[2].LID == 0) {
				t.Errorf("rt1 after the round trip: type %s, lids %d %d", n.Type, n.Ports[1].LID, n.Ports[2].LID)
			}
		}
	})
	t.Run("ibrouters", func(t *testing.T) {
		out := d.same(t, nil, "ibrouters")
		if !strings.Contains(out, `Rt	: 0x0000000000300000 ports 2 "rt1"`) {
			t.Errorf("ibrouters:\n%s", out)
		}
	})
	t.Run("iblinkinfo", func(t *testing.T) {
		out := d.same(t, linkFix, "iblinkinfo")
		if strings.Count(out, "Active/  LinkUp") != 10 || !strings.Contains(out, `"rt1"`) {
			t.Errorf("iblinkinfo: want 10 active port lines and the router:\n%s", out)
		}
	})
	t.Run("switchinfo", func(t *testing.T) {
		// Both attach at the first switch, "edge enhanced"; its port 3
		// leads to "edge base".
		for path, want := range map[string]string{"0": "1", "0,3": "0"} {
			got := d.fieldsAgree(t, []string{"EnhancedPort0", "LinearFdbTop"}, "smpquery", "-D", "switchinfo", path)
			if got["EnhancedPort0"] != want {
				t.Errorf("smpquery -D switchinfo %s: EnhancedPort0 %q, want %q", path, got["EnhancedPort0"], want)
			}
		}
	})
	t.Run("router", func(t *testing.T) {
		// Port 2 of "edge enhanced" leads to router port 1.
		ni := d.fieldsAgree(t, []string{"NodeType", "NumPorts", "Guid", "PortGuid", "LocalPort"}, "smpquery", "-D", "nodeinfo", "0,2")
		if ni["NodeType"] != "Router" || ni["NumPorts"] != "2" {
			t.Errorf("router nodeinfo: %v", ni)
		}
		pi := d.fieldsAgree(t, []string{"Lid", "SMLid", "LMC", "LinkState", "PhysLinkState", "LocalPort"}, "smpquery", "-D", "portinfo", "0,2")
		if pi["LinkState"] != "Active" {
			t.Errorf("router portinfo: %v", pi)
		}
		d.same(t, nil, "smpquery", "-D", "nodedesc", "0,2")
	})
}
