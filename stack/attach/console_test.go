package attach

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
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
	if out := run(t, srv, `Dump "Switch1"`); !strings.Contains(out, `(unlinked from "Switch2"[3])`) {
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
	run(t, srv, `Speed "Hca1"[1] `+speedName(sp))
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
	if !strings.Contains(out, "#  dumped 6 nodes") || !strings.Contains(out, `Switch 8 "Switch1"`) ||
		!strings.Contains(out, "Forwarding table 0-15") {
		t.Errorf("Dump:\n%s", out)
	}
	if out := run(t, srv, `Attached`); !strings.Contains(out, "0 client(s)") {
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
		`PerformanceSet "Hca1"[1] PortRcvErrorDetails.PortLoopingErrors=1`,
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
