package attach

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// offlineServer builds a server for testNet and starts its fabric without
// opening sockets: the console needs none.
func offlineServer(t *testing.T, set func(*Config)) *Server {
	t.Helper()
	cfg := Config{Topology: parseTestNet(t), Logger: testLogger(t), Listen: "127.0.0.1:1"}
	if set != nil {
		set(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.fab.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.fab.Stop)
	return srv
}

// run runs a console command that must succeed and returns its output.
func run(t *testing.T, srv *Server, line string) string {
	t.Helper()
	var out bytes.Buffer
	if err := srv.Exec(line, &out); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return out.String()
}

// port returns an engine port of a node, read on the loop by f.
func onLoop(t *testing.T, srv *Server, f func()) {
	t.Helper()
	if err := srv.Fabric().Do(f); err != nil {
		t.Fatal(err)
	}
}

func TestConsoleLinks(t *testing.T) {
	srv := offlineServer(t, nil)
	links := func() (n int) {
		onLoop(t, srv, func() { n = len(srv.fab.Links()) })
		return n
	}
	if links() != 6 {
		t.Fatalf("%d links at start", links())
	}
	run(t, srv, `Unlink "Switch2"[3]`)
	if links() != 5 {
		t.Errorf("Unlink: %d links, want 5", links())
	}
	if out := run(t, srv, `Dump "Switch1"`); !strings.Contains(out, "200000\t[3]\t\t\t  4x  2.5G Down/Polling\t# unlinked from \"Switch2\"[3]\n") {
		t.Errorf("Dump does not show the unlinked port:\n%s", out)
	}
	run(t, srv, `ReLink "Switch2"[3]`)
	if links() != 6 {
		t.Errorf("ReLink: %d links, want 6", links())
	}
	// Whole nodes, and the one-letter and prefix forms of ibsim.
	run(t, srv, `U "Switch1"`)
	if links() != 2 {
		t.Errorf("Unlink of a whole switch: %d links, want 2", links())
	}
	run(t, srv, `rel "Switch1"`)
	if links() != 6 {
		t.Errorf("ReLink of a whole switch: %d links, want 6", links())
	}
	run(t, srv, `Link "Hca1"[2] "Switch1"[7]`)
	onLoop(t, srv, func() {
		p := srv.byID["Hca1"].en.Port(2)
		if p.Peer() == nil || p.Peer().Num() != 7 || !p.IsUp() {
			t.Errorf("Link: Hca1 port 2 peer %v up %v", p.Peer(), p.IsUp())
		}
	})
	run(t, srv, `Baselid "Hca3"[1] 9 1`)
	run(t, srv, `Baselid "Switch2"[0] 12`)
	onLoop(t, srv, func() {
		if pa := srv.byID["Hca3"].sma.Port(1); pa.LID != 9 || pa.LMC != 1 {
			t.Errorf("Baselid: lid %d lmc %d", pa.LID, pa.LMC)
		}
		if l := srv.byID["Switch2"].sw.LID(); l != 12 {
			t.Errorf("Baselid of a switch: lid %d", l)
		}
	})
	run(t, srv, `Clear "Hca3"[1]`)
	onLoop(t, srv, func() {
		if pa := srv.byID["Hca3"].sma.Port(1); pa.LID != 0 || srv.byID["Hca3"].en.Port(1).Link() != nil {
			t.Errorf("Clear: lid %d link %v", pa.LID, srv.byID["Hca3"].en.Port(1).Link())
		}
	})
	run(t, srv, `ReLink "Hca3"`)
	run(t, srv, `Guid "Hca4"[1] 0x1234`)
	onLoop(t, srv, func() {
		if g := srv.byID["Hca4"].sma.Port(1).Config.GUID; g != 0x1234 {
			t.Errorf("Guid: port guid %#x", g)
		}
	})
	// ibsim's form changes the node GUID; port GUIDs that followed
	// NodeGUID+port follow it, an explicitly set one stays.
	run(t, srv, `Guid "Hca4" 0x777000`)
	run(t, srv, `Guid "Switch2" 0x888000`)
	onLoop(t, srv, func() {
		n := srv.byID["Hca4"]
		if g := n.sma.Node().NodeGUID; g != 0x777000 || n.hca.NodeGUID() != 0x777000 {
			t.Errorf("Guid: node guid %#x / %#x", g, n.hca.NodeGUID())
		}
		if g := n.sma.Port(1).Config.GUID; g != 0x1234 {
			t.Errorf("Guid: explicit port guid changed to %#x", g)
		}
		if n.sma.Node().NumPorts > 1 {
			if g := n.sma.Port(2).Config.GUID; g != 0x777002 {
				t.Errorf("Guid: port 2 guid %#x, want 0x777002", g)
			}
		}
		sw := srv.byID["Switch2"]
		if sw.sw.GUID() != 0x888000 || sw.sma.Port(0).Config.GUID != 0x888000 || sw.sma.Node().NodeGUID != 0x888000 {
			t.Errorf("Guid: switch guid %#x port0 %#x", sw.sw.GUID(), sw.sma.Port(0).Config.GUID)
		}
	})
}

func TestConsoleFaults(t *testing.T) {
	srv := offlineServer(t, nil)
	port := func(id string, n int) (p *emu.Port) {
		onLoop(t, srv, func() { p = srv.byID[id].en.Port(n) })
		return p
	}
	run(t, srv, `Down "Hca1"[1]`)
	onLoop(t, srv, func() {
		if p := port("Hca1", 1); p.PhysState() != wire.PhysStateDisabled || p.Peer().IsUp() {
			t.Errorf("Down: %s, peer up %v", p.PhysState(), p.Peer().IsUp())
		}
	})
	run(t, srv, `Up "Hca1"[1]`)
	onLoop(t, srv, func() {
		if !port("Hca1", 1).IsUp() {
			t.Error("Up: link did not come back")
		}
	})
	run(t, srv, `Kill "Hca2"`)
	onLoop(t, srv, func() {
		if srv.byID["Hca2"].en.Alive() || port("Switch2", 1).IsUp() {
			t.Error("Kill: node alive or link up")
		}
	})
	run(t, srv, `Revive "Hca2"`)
	onLoop(t, srv, func() {
		if !srv.byID["Hca2"].en.Alive() || !port("Switch2", 1).IsUp() {
			t.Error("Revive: node dead or link down")
		}
	})
	run(t, srv, `Width "Hca1"[1] 1x`)
	onLoop(t, srv, func() {
		if w := port("Hca1", 1).Width(); w != wire.Width1X {
			t.Errorf("Width 1x: link runs %v", w)
		}
	})
	var sp wire.LinkSpeed
	onLoop(t, srv, func() { sp = port("Hca1", 1).Speed() })
	run(t, srv, `Speed "Hca1"[1] `+sp.String())
	run(t, srv, `Drop "Hca1" 50`)
	run(t, srv, `Corrupt "Hca4"[1] 2.5`)
	run(t, srv, `Error "Hca2"[1] 10`)
	run(t, srv, `Error "Hca3"[1] 100 17`)
	onLoop(t, srv, func() {
		if r := port("Hca1", 2).DropRate(); r != 0.5 {
			t.Errorf("Drop: rate %v", r)
		}
		if r := port("Hca4", 1).CorruptRate(); r != 0.025 {
			t.Errorf("Corrupt: rate %v", r)
		}
		if r := port("Switch2", 1).DropRate(); r != 0.1 {
			t.Errorf("Error: frames into Hca2 are lost at the peer at %v", r)
		}
		if e := srv.byID["Hca3"].dev.errAttr[1]; e.attr != wire.AttrNodeInfo || e.rate != 1 {
			t.Errorf("Error with attribute: %+v", e)
		}
	})
	run(t, srv, `Error "Hca3"[1] 0 17`)
	onLoop(t, srv, func() {
		if _, ok := srv.byID["Hca3"].dev.errAttr[1]; ok {
			t.Error("Error rate 0 did not clear the attribute drop")
		}
	})
	var downed uint64
	onLoop(t, srv, func() { downed = port("Hca4", 1).Counters.LinkDowned.Load() })
	run(t, srv, `Flap "Hca4"[1] 3 10ms`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var d uint64
		var up bool
		onLoop(t, srv, func() { d, up = port("Hca4", 1).Counters.LinkDowned.Load(), port("Hca4", 1).IsUp() })
		if d == downed+3 && up {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Flap 3: link downed %d times, up %v", d-downed, up)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConsolePerformanceSet(t *testing.T) {
	srv := offlineServer(t, nil)
	run(t, srv, `PerformanceSet "Hca1"[1] PortCounters.SymbolErrorCounter=70000`) // clamped to 16 bits
	run(t, srv, `PerformanceSet "Hca1"[1] PortCountersExtended.PortXmitData=123456789012`)
	run(t, srv, `PerformanceSet "Switch1"[3] portcounters.portxmitwait=7`)
	onLoop(t, srv, func() {
		n := srv.byID["Hca1"]
		p := n.en.Port(1)
		m := wire.MAD(make([]byte, wire.MADSize))
		m.Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1, Method: wire.MethodGet,
			AttrID: wire.AttrPortCounters})
		wire.PortCounters(wire.PerfMAD(m).Data()).SetPortSelect(1)
		resp, ok := n.hca.PMA().Process(p, m)
		if !ok {
			t.Fatal("no PMA answer")
		}
		if v := wire.PortCounters(wire.PerfMAD(resp).Data()).SymbolErrorCounter(); v != 0xFFFF {
			t.Errorf("SymbolErrorCounter reads %d, want 65535", v)
		}
		m.SetAttrID(wire.AttrPortCountersExtended)
		resp, _ = n.hca.PMA().Process(p, m)
		if v := wire.PortCountersExtended(wire.PerfMAD(resp).Data()).Counter(0); v != 123456789012 {
			t.Errorf("extended PortXmitData reads %d", v)
		}
		if v := srv.byID["Switch1"].en.Port(3).Counters.XmitWait.Load(); v != 7 {
			t.Errorf("switch PortXmitWait %d", v)
		}
	})
	// The detail attributes, as ibsim's PerformanceSet takes them.
	run(t, srv, `PerformanceSet "Hca1"[1] PortRcvErrorDetails.PortLoopingErrors=70000`) // clamped to 16 bits
	run(t, srv, `PerformanceSet "Switch1"[3] PortXmitDiscardDetails.portneighbormtudiscards=9`)
	onLoop(t, srv, func() {
		n := srv.byID["Hca1"]
		m := wire.MAD(make([]byte, wire.MADSize))
		m.Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1, Method: wire.MethodGet,
			AttrID: wire.AttrPortRcvErrorDetails})
		wire.PerfMAD(m).Data()[1] = 1 // PortSelect
		resp, ok := n.hca.PMA().Process(n.en.Port(1), m)
		if !ok || resp.Status() != wire.MADStatusOK {
			t.Fatalf("PortRcvErrorDetails: no answer or status %v", resp.Status())
		}
		ca, err := wire.ParsePMACounterArray(wire.PerfMAD(resp).Data(), wire.LayoutPortRcvErrorDetails)
		if err != nil {
			t.Fatal(err)
		}
		if v := ca.Counter(wire.LayoutPortRcvErrorDetails, 5); v != 0xFFFF {
			t.Errorf("PortLoopingErrors reads %d, want 65535", v)
		}
		sw := srv.byID["Switch1"].en.Port(3).Counters.Details()
		if v := sw.XmitDiscardDetails[emu.XmitNeighborMTUDiscard].Load(); v != 9 {
			t.Errorf("switch PortNeighborMTUDiscards %d, want 9", v)
		}
	})
}

func TestConsoleRouteDumpAttached(t *testing.T) {
	srv := offlineServer(t, nil)
	srv.programLinear(t)
	out := run(t, srv, `Route 3 4`)
	for _, want := range []string{`From node "Hca1" port 1 lid 3`, `[1] -> "Switch1"[1]`, `[3] -> "Switch2"[3]`,
		`[1] -> "Hca2"[1]`, `To node "Hca2" port 1 lid 4`} {
		if !strings.Contains(out, want) {
			t.Errorf("Route 3 4 lacks %q:\n%s", want, out)
		}
	}
	if out := run(t, srv, `Route 3 2`); !strings.Contains(out, `To node "Switch2" port 0 lid 2`) {
		t.Errorf("Route to a switch:\n%s", out)
	}
	out = run(t, srv, `d`)
	// ibsim's loop prints FDBtop 16 as one line of entries 0..16.
	if !strings.Contains(out, "#  dumped 6 nodes") || !strings.Contains(out, `Switch 8 "Switch1"`) ||
		!strings.Contains(out, "#\tForwarding table 0-16: [0]FF [1]") || strings.Contains(out, "Forwarding table 16") {
		t.Errorf("Dump:\n%s", out)
	}
	if out := run(t, srv, `Attached`); out != "# 0 client(s) attached\n" {
		t.Errorf("Attached: %s", out)
	}
	if out := run(t, srv, `# a comment`); out != "# a comment\n" {
		t.Errorf("comment echoed as %q", out)
	}
	if out := run(t, srv, `?`); !strings.Contains(out, "PerformanceSet") || !strings.Contains(out, "Flap") {
		t.Errorf("help:\n%s", out)
	}
}

func TestConsoleBadCommands(t *testing.T) {
	srv := offlineServer(t, nil)
	for _, line := range []string{
		`Frobnicate`,
		`Link "Hca1"[1]`,
		`Link "Hca1"[1] "Switch1"[2]`, // both busy
		`Unlink "Nope"`,
		`Unlink "Hca1"[2]`, // not linked
		`Unlink "Hca1"[9]`, // no such port
		`Unlink "Hca1`,     // unterminated
		`Baselid "Hca1"[1] 0`,
		`Baselid "Hca1" 5`,
		`Error "Hca1"[1] 101`,
		`Error "Hca1"[1]`,
		`Wait -1`,
		`Wait soon`,
		`PerformanceSet "Hca1"[1] PortCounters.Nope=1`,
		`PerformanceSet "Hca1"[1] PortRcvErrorDetails.PortNoSuchErrors=1`,
		`PerformanceSet "Hca1"[1] PortCounters.PortRcvErrors=-3`,
		`PerformanceSet "Hca1" PortCounters.PortRcvErrors=3`,
		`Speed "Hca1"[1] XDR`,
		`Width "Hca1"[1] 3x`,
		`Flap "Hca1"[2] 3`,
		`Flap "Hca1"[1] 0`,
		`Kill "Hca1"[1]`,
		`Guid "Hca1" 0`,
		`Guid "Hca1" nope`,
		`Guid "Switch1"[1] 0x55`,
		`X 99`,
		`Route 1`,
		`Route 3 4`, // no LIDs yet
		`Drop "Hca1"`,
		`Dump "Hca1" extra`,
	} {
		var out bytes.Buffer
		err := srv.Exec(line, &out)
		if err == nil {
			t.Errorf("%s: accepted", line)
			continue
		}
		if !errors.Is(err, ErrCommand) && !errors.Is(err, ErrNoNode) {
			t.Errorf("%s: %v, want ErrCommand or ErrNoNode", line, err)
		}
	}
	// Nothing changed, and the server still answers.
	onLoop(t, srv, func() {
		if n := len(srv.fab.Links()); n != 6 {
			t.Errorf("%d links after bad commands", n)
		}
	})
	run(t, srv, `Attached`)
}

func TestConsoleFileQuitVerbose(t *testing.T) {
	quit := 0
	level := new(slog.LevelVar)
	srv := offlineServer(t, func(c *Config) {
		c.OnQuit = func() { quit++ }
		c.LogLevel = level
	})
	f := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(f, []byte("# setup\nUnlink \"Hca4\"\nBogus\nVerbose 2\nQuit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := srv.Exec("!"+f, &out)
	if !errors.Is(err, ErrCommand) || !strings.Contains(out.String(), ":3:") {
		t.Errorf("command file with a bad line: %v\n%s", err, out.String())
	}
	onLoop(t, srv, func() {
		if srv.byID["Hca4"].en.Port(1).Link() != nil {
			t.Error("the command file's Unlink did not run")
		}
	})
	if quit != 1 || level.Level() != slog.LevelDebug {
		t.Errorf("quit %d, level %v", quit, level.Level())
	}
	// The console goes on after the end of its input.
	r := strings.NewReader("ReLink \"Hca4\"\nnonsense\n")
	out.Reset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv.RunConsole(ctx, r, &out, true)
	if !strings.Contains(out.String(), "sim> ") || !strings.Contains(out.String(), "unknown") {
		t.Errorf("console output:\n%s", out.String())
	}
	onLoop(t, srv, func() {
		if srv.byID["Hca4"].en.Port(1).Link() == nil {
			t.Error("the console's ReLink did not run")
		}
	})
}

// TestConsoleIbsimOutput checks the output of Dump, PerformanceSet and
// Attached line by line against what ibsim 0.10 prints for the same
// fabric (sim_cmd.c: dump_net, do_perf_counter_set; ibsim.c:
// list_connections), as captured from a run of ibsim on testNet.
func TestConsoleIbsimOutput(t *testing.T) {
	srv := offlineServer(t, nil)
	run(t, srv, `Unlink "Switch2"[5]`)
	run(t, srv, `Error "Hca2"[1] 20 21`)
	out := run(t, srv, `DUMP "Switch2"`) + run(t, srv, `dump "Hca2"`)
	for _, want := range []string{
		"\nSwitch 8 \"Switch2\"\tnodeguid 200001\tsysimgguid 200001\n",
		"200001\t[0]\t\"Sma Port\"[0]\t lid 0 lmc 0 smlid 0  4x  2.5G Active/LinkUp\n",
		"200001\t[1]\t\"Hca2\"[1]\t  4x  2.5G Init/LinkUp\n",
		"200001\t[4]\t\t\t  4x  2.5G Down/Polling\n",
		"200001\t[5]\t\t\t  4x  2.5G Down/Polling\t# unlinked from \"Switch1\"[5]\n",
		"\nCa 2 \"Hca2\"\tnodeguid 100003\tsysimgguid 100003\n",
		"100004\t[1]\t\"Switch2\"[1]\t lid 0 lmc 0 smlid 0  4x  2.5G Init/LinkUp\t# err_rate 20\t# err_attr 21\n",
		"100005\t[2]\t\t\t lid 0 lmc 0 smlid 0  4x  2.5G Down/Polling\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Dump lacks %q:\n%s", want, out)
		}
	}
	// No forwarding table lines while FDBtop is 0.
	if strings.Contains(out, "Forwarding table") {
		t.Errorf("Dump prints a forwarding table with FDBtop 0:\n%s", out)
	}
	if got, want := run(t, srv, `PerformanceSet "Hca1"[1] PortCounters.SymbolErrorCounter=70000`),
		"Hca1[1] PortCounters.SymbolErrorCounter has been set to 65535\n"; got != want {
		t.Errorf("PerformanceSet printed %q, want %q", got, want)
	}
	if out := run(t, srv, `Attached`); out != "# 0 client(s) attached\n" {
		t.Errorf("Attached with no clients printed %q", out)
	}
}

// TestConsoleMisreadArguments: where ibsim quietly reads a malformed
// argument as the whole node (a blank before [port], a bare port number),
// the command fails, says why, and changes nothing.
func TestConsoleMisreadArguments(t *testing.T) {
	srv := offlineServer(t, nil)
	for _, tc := range []struct{ line, want string }{
		{`Unlink "Switch1" [3]`, `the port must follow the closing quote directly, as "Switch1"[3]`},
		{`Unlink "Switch1" 3`, `unexpected "3"`},
		{`Clear "Hca1" [1]`, `the port must follow the closing quote directly`},
		// Switch1's port 0 is a base port 0: no PMA of its own.
		{`PerformanceSet "Switch1"[0] PortCounters.PortXmitData=5`, `a base switch port 0 has no performance counters`},
	} {
		var out bytes.Buffer
		err := srv.Exec(tc.line, &out)
		if err == nil || !errors.Is(err, ErrCommand) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.line, err, tc.want)
		}
	}
	var n int
	onLoop(t, srv, func() { n = len(srv.fab.Links()) })
	if n != 6 {
		t.Errorf("%d links after the failed commands, want all 6", n)
	}
}

// TestConsoleAliases: a port alias of the topology file names a node and
// its port in console commands, as ibsim's expand_name reads "@name".
func TestConsoleAliases(t *testing.T) {
	net := strings.Replace(strings.Replace(testNet, "[5]\t\"Switch2\"[5]", "@[5]\t\"trunk\"", 1),
		"[5]\t\"Switch1\"[5]", "[5]\t\"@trunk\"", 1)
	topo, err := topology.Parse("aliases", strings.NewReader(net))
	if err != nil {
		t.Fatal(err)
	}
	srv := offlineServer(t, func(c *Config) { c.Topology = topo })
	run(t, srv, `Unlink "@trunk"`)
	onLoop(t, srv, func() {
		if p := srv.byID["Switch1"].en.Port(5); p.Link() != nil {
			t.Error(`Unlink "@trunk": Switch1 port 5 still linked`)
		}
		if n := len(srv.fab.Links()); n != 5 {
			t.Errorf("%d links, want 5", n)
		}
	})
	run(t, srv, `ReLink "@trunk"`)
	for _, line := range []string{`Unlink "@nope"`, `Unlink "@trunk"[3]`} {
		if err := srv.Exec(line, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: no error", line)
		}
	}
}

// TestConsoleAttachedLine: Attached lists a client in ibsim's words
// (ibsim.c, list_connections): slot, pid (in remote mode the client's UDP
// data port), node id, the attach port's GUID, LID and SM, with ibemu's
// traffic counts after a '#'.
func TestConsoleAttachedLine(t *testing.T) {
	srv, port := startRemoteServer(t, parseTestNet(t), "")
	c, err := Dial(context.Background(), &DialConfig{ServerName: "127.0.0.1", ServerPort: port, Host: "Hca2", ISSM: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := run(t, srv, `attached`)
	re := regexp.MustCompile(`^Client 0: pid [0-9]+ connected at "Hca2" port 0x100004, lid 0, qp 0 SM\t# port 1, in [0-9]+, out [0-9]+, queued [0-9]+\n# 1 client\(s\) attached\n$`)
	if !re.MatchString(out) {
		t.Errorf("Attached printed %q, want a match of %s", out, re)
	}
}
