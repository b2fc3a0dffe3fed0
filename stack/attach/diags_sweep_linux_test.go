//go:build linux

package attach

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// The long tail of infiniband-diags, run unmodified through libumad2sim
// against one server with a daemon OpenSM: the optional PMA attributes
// perfquery asks for (-X, -S, -E, -D, -c), ibqueryerrors --details, and
// ibportstate's Set operations on a switch port, with the output checked
// for the values the emulator holds.

// sweepTools are the programs TestDiagsSweepLongTail runs besides
// interopTools.
var sweepTools = []string{"ibqueryerrors", "ibportstate"}

// port returns the emu port num of node id.
func (h *interop) port(id string, num int) *emu.Port {
	h.t.Helper()
	n := h.srv.byID[id]
	if n == nil || n.en.Port(num) == nil {
		h.t.Fatalf("no port %s[%d]", id, num)
	}
	return n.en.Port(num)
}

// counters reads a port's emu counters on the event loop.
func (h *interop) counters(id string, num int) emu.Counters {
	h.t.Helper()
	c, err := h.srv.Fabric().ReadCounters(h.port(id, num))
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// TestDiagsSweepLongTail: perfquery's optional attributes show what the
// emulator counted, ibqueryerrors --details names an injected error, and
// ibportstate disable/enable/speed on a switch port change the port, with
// OpenSM seeing the change.
func TestDiagsSweepLongTail(t *testing.T) {
	needInterop(t)
	for _, tool := range sweepTools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (make deps)", tool)
		}
	}
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	_, logf := h.startOpenSM(nil)
	h.waitAllActive(10 * time.Second)
	env := []string{"SIM_HOST=Hca1"}
	run := func(args ...string) string {
		t.Helper()
		return h.mustRun(10*time.Second, env, args[0], args[1:]...)
	}
	hca2 := strconv.Itoa(int(h.lidOf("Hca2")))
	sw2 := strconv.Itoa(int(h.lidOf("Switch2")))

	// DataSL.
	{
		// Management traffic from Hca1 to Hca2 runs on SL 0.
		for range 3 {
			run("smpquery", "nodeinfo", hca2)
		}
		c := h.counters("Hca2", 1)
		out := run("perfquery", "-X", hca2, "1")
		sent := c.Details().XmitDataSL[0].Load()
		f := fields(out)
		sl0, err := strconv.ParseUint(f["XmtDataSL0"], 10, 64)
		if err != nil || sl0 < 3*72 {
			t.Errorf("perfquery -X: XmtDataSL0 %q, want at least three NodeInfo answers (216 words):\n%s", f["XmtDataSL0"], out)
		}
		if sl0 < sent {
			t.Errorf("XmtDataSL0 %d below the %d words the port had sent before the query", sl0, sent)
		}
		for sl := 1; sl < 16; sl++ {
			if v := f["XmtDataSL"+strconv.Itoa(sl)]; v != "0" {
				t.Errorf("XmtDataSL%d = %q with traffic on SL 0 only", sl, v)
			}
		}
		f = fields(run("perfquery", "-S", hca2, "1"))
		if v, _ := strconv.ParseUint(f["RcvDataSL0"], 10, 64); v < 3*72 {
			t.Errorf("perfquery -S: RcvDataSL0 %q, want at least three NodeInfo requests", f["RcvDataSL0"])
		}
		// -R clears them (CounterSelect 0xFFFF): only the reset's own
		// answer and this query's request remain.
		run("perfquery", "-X", "-R", hca2, "1")
		f = fields(run("perfquery", "-X", hca2, "1"))
		if v, _ := strconv.ParseUint(f["XmtDataSL0"], 10, 64); v > 2*72 {
			t.Errorf("XmtDataSL0 %d after perfquery -X -R", v)
		}
	}

	// ErrorDetails.
	{
		// Errors injected in Switch2 port 2's counters, as its forwarding
		// would count them: 5 DLID mapping errors, 3 malformed packets, 2
		// discards for an inactive port.
		if err := h.srv.Fabric().Do(func() {
			c := &h.port("Switch2", 2).Counters
			for range 5 {
				c.CountRcvError(emu.RcvDLIDMapping)
			}
			for range 3 {
				c.CountRcvError(emu.RcvMalformedPacket)
			}
			for range 2 {
				c.CountXmitDiscard(emu.XmitInactiveDiscard)
			}
		}); err != nil {
			t.Fatal(err)
		}
		e := fields(run("perfquery", "-E", sw2, "2"))
		if e["PortDLIDMappingErrors"] != "5" || e["PortMalformedPktErrors"] != "3" || e["PortLoopingErrors"] != "0" {
			t.Errorf("perfquery -E: %v", e)
		}
		d := fields(run("perfquery", "-D", sw2, "2"))
		if d["PortInactiveDiscards"] != "2" || d["PortNeighborMTUDiscards"] != "0" {
			t.Errorf("perfquery -D: %v", d)
		}
		pc := fields(run("perfquery", sw2, "2"))
		if pc["PortRcvSwitchRelayErrors"] != "5" || pc["PortRcvErrors"] != "3" || pc["PortXmitDiscards"] != "2" {
			t.Errorf("PortCounters summaries: relay %s rcv %s discards %s, want 5 3 2",
				pc["PortRcvSwitchRelayErrors"], pc["PortRcvErrors"], pc["PortXmitDiscards"])
		}
		// ibqueryerrors exits 1 when it finds errors. It decodes each
		// details attribute with the other one's field names (its
		// print_results pairs PortXmitDiscardDetails with the
		// IB_PC_RCV_* fields and PortRcvErrorDetails with IB_PC_XMT_*,
		// and the latter only for 4 fields), so on this fabric as on
		// hardware the 2 inactive discards print as PortLocalPhysicalErrors,
		// the 3 malformed packets as PortNeighborMTUDiscards and the 5 DLID
		// mapping errors as PortSwHOQLifetimeLimitDiscards.
		out, err := h.run(10*time.Second, env, "ibqueryerrors", "--details")
		if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
			t.Fatalf("ibqueryerrors --details: %v\n%s", err, out)
		}
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)GUID 0x200001 port 2: \[PortRcvErrors == 3\] \[PortNeighborMTUDiscards == 3\] ` +
				`\[PortSwHOQLifetimeLimitDiscards == 5\] \[PortRcvSwitchRelayErrors == 5\] ` +
				`\[PortXmitDiscards == 2\] \[PortLocalPhysicalErrors == 2\]$`),
			regexp.MustCompile(`1 ports have errors beyond threshold`),
		} {
			if !want.MatchString(out) {
				t.Errorf("ibqueryerrors --details lacks %s:\n%s", want, out)
			}
		}
		// perfquery -E -R clears the details (and only them).
		run("perfquery", "-E", "-R", sw2, "2")
		if e := fields(run("perfquery", "-E", sw2, "2")); e["PortDLIDMappingErrors"] != "0" || e["PortMalformedPktErrors"] != "0" {
			t.Errorf("perfquery -E after -R: %v", e)
		}
		if pc := fields(run("perfquery", sw2, "2")); pc["PortRcvSwitchRelayErrors"] != "5" {
			t.Errorf("PortRcvSwitchRelayErrors %s after clearing the details, want 5", pc["PortRcvSwitchRelayErrors"])
		}
		// A packet to a LID nobody has is a relay error at the first
		// switch (Switch1 port 1, Hca1's link).
		c := h.counters("Switch1", 1)
		before := c.RcvSwitchRelayErrors.Load()
		_, _ = h.run(5*time.Second, env, "perfquery", "-t", "100", "999", "1")
		c = h.counters("Switch1", 1)
		if after := c.RcvSwitchRelayErrors.Load(); after <= before {
			t.Errorf("RcvSwitchRelayErrors at Switch1[1] stayed %d after a query to LID 999", after)
		}
	}

	// SamplesControl.
	{
		f := fields(run("perfquery", "-c", hca2, "1"))
		if f["SampleStatus"] != "0" || f["CounterWidth"] != "4" || f["PortSelect"] != "1" {
			t.Errorf("perfquery -c: %v", f)
		}
	}

	// A client on a switch asks about its own ports' peers: a directed
	// route whose LID-routed lead-in names the switch itself.
	{
		sw1 := strconv.Itoa(int(h.lidOf("Switch1")))
		swEnv := []string{"SIM_HOST=Switch1"}
		out := h.mustRun(10*time.Second, swEnv, "ibportstate", sw1, "1")
		peer := out[strings.Index(out, "Peer PortInfo:")+1:]
		if !strings.Contains(out, "Peer PortInfo:") || !strings.Contains(peer, "LinkState:.......................Active") {
			t.Errorf("ibportstate %s 1 from Switch1: no peer port info:\n%s", sw1, out)
		}
		out = h.mustRun(10*time.Second, swEnv, "iblinkinfo", "--switch", "0x200000")
		for _, want := range []string{`"Hca1"`, `"Switch2"`} {
			if !strings.Contains(out, want) {
				t.Errorf("iblinkinfo --switch 0x200000 from Switch1 lacks %s:\n%s", want, out)
			}
		}
	}

	// PortState.
	{
		// Switch2 port 5 is one of the two links between the switches:
		// disabling it leaves the fabric connected.
		q := fields(run("ibportstate", sw2, "5"))
		if q["LinkState"] != "Active" || q["PhysLinkState"] != "LinkUp" {
			t.Fatalf("ibportstate query: %v", q)
		}
		traps := strings.Count(h.waitLog(logf, "SUBNET UP", 1, time.Second), "num:128")
		run("ibportstate", sw2, "5", "disable")
		p5 := h.port("Switch2", 5)
		deadline := time.Now().Add(5 * time.Second)
		for {
			var phys wire.PhysPortState
			_ = h.srv.Fabric().Do(func() { phys = p5.PhysState() })
			if phys == wire.PhysStateDisabled {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Switch2 port 5 is %v after ibportstate disable", phys)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The switches report the link change (trap 128) and OpenSM
		// resweeps.
		h.waitLog(logf, "num:128", traps+1, 10*time.Second)
		if q := fields(run("ibportstate", sw2, "5")); q["PhysLinkState"] != "Disabled" || q["LinkState"] != "Down" {
			t.Errorf("after disable: %v", q)
		}
		run("ibportstate", sw2, "5", "speed", "1")
		if q := fields(run("ibportstate", sw2, "5")); q["LinkSpeedEnabled"] != "2.5 Gbps" {
			t.Errorf("LinkSpeedEnabled %q after speed 1", q["LinkSpeedEnabled"])
		}
		// Enabled again, the link trains and OpenSM brings it back to
		// Active (and, configuring the port, enables every supported
		// speed again: OpenSM's default force_link_speed).
		run("ibportstate", sw2, "5", "enable")
		h.waitAllActive(15 * time.Second)
		if q := fields(run("ibportstate", sw2, "5")); q["LinkState"] != "Active" || q["PhysLinkState"] != "LinkUp" {
			t.Errorf("after enable: %v", q)
		}
		// The link trained with only SDR enabled. OpenSM enabled every
		// speed again, but new enables take effect at the next training,
		// as on hardware: the link stays at 2.5 Gbps until a reset.
		deadline = time.Now().Add(10 * time.Second)
		for q = fields(run("ibportstate", sw2, "5")); q["LinkSpeedEnabled"] == "2.5 Gbps"; q = fields(run("ibportstate", sw2, "5")) {
			if time.Now().After(deadline) {
				t.Fatalf("OpenSM did not enable the speeds again: %v", q)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if q["LinkSpeedActive"] != "2.5 Gbps" {
			t.Errorf("LinkSpeedActive %q once OpenSM enabled %q, want the trained 2.5 Gbps", q["LinkSpeedActive"], q["LinkSpeedEnabled"])
		}
		run("ibportstate", sw2, "5", "reset")
		deadline = time.Now().Add(15 * time.Second)
		for q = fields(run("ibportstate", sw2, "5")); q["LinkSpeedActive"] == "2.5 Gbps" || q["LinkState"] != "Active"; q = fields(run("ibportstate", sw2, "5")) {
			if time.Now().After(deadline) {
				t.Fatalf("after reset: %v, want the link retrained faster and Active", q)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
