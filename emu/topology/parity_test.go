package topology_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// parityBase is a plain file in the style of ibsim's net-examples; the
// variants of TestSyntaxParityAccepted spell the same fabric with the
// constructs ibsim's parser (sim_net.c) accepts, checked against a run of
// ibsim 0.12 on each construct: the graph, GUIDs and per-node settings must
// come out the same.
const parityBase = `Switch 8 "big switch"
[1] "my hca"[1]
[2] "other hca"[2]
[4] "sw b"[4]

Switch 8 "sw b"
[4] "big switch"[4]

Hca 2 "my hca"
[1] "big switch"[1]

Hca 2 "other hca"
[2] "big switch"[2]
`

// TestSyntaxParityAccepted: each variant loads into the same graph as
// parityBase, with the GUIDs ibsim assigns, and check verifies what the
// construct itself sets.
func TestSyntaxParityAccepted(t *testing.T) {
	base := mustParse(t, parityBase)
	node := func(topo *topology.Topology, id string) *topology.Node {
		t.Helper()
		n := topo.NodeByID(id)
		if n == nil {
			t.Fatalf("no node %q", id)
		}
		return n
	}
	tests := []struct {
		name  string
		files map[string]string // "net" is loaded
		check func(t *testing.T, topo *topology.Topology)
	}{
		{name: "CRLF line endings", files: map[string]string{"net": strings.ReplaceAll(parityBase, "\n", "\r\n")}},
		{name: "no newline at the end", files: map[string]string{"net": strings.TrimSuffix(parityBase, "\n")}},
		{name: "trailing spaces and tabs", files: map[string]string{"net": strings.ReplaceAll(parityBase, "\n", " \t \n")}},
		{name: "tabs as separators", files: map[string]string{"net": strings.NewReplacer(`8 "`, "8\t\"", `2 "`, "2\t\"", `] "`, "]\t\"").Replace(parityBase)}},
		{name: "comments and blank lines everywhere", files: map[string]string{"net": "\n\n# a comment\n   \n\t\n" +
			strings.Replace(parityBase, `[2] "other hca"[2]`, "# inside the record\n[2] \"other hca\"[2]\t# after a port", 1) + "\n# the end\n"}},
		{
			name: "ibsim header tail: enhanced port 0, lid, unknown words",
			files: map[string]string{"net": strings.Replace(parityBase, `Switch 8 "big switch"`,
				`Switch 8 "big switch" enhanced port 0 lid 7 whatever else`, 1)},
			check: func(t *testing.T, topo *topology.Topology) {
				n := node(topo, "big switch")
				if !n.EnhancedPort0 || n.LID != 7 || n.Desc != "big switch" {
					t.Errorf("enhanced %v lid %d desc %q, want true, 7, the id", n.EnhancedPort0, n.LID, n.Desc)
				}
			},
		},
		{
			name: "ibnetdiscover header tail: description after #",
			files: map[string]string{"net": strings.Replace(parityBase, `Hca 2 "other hca"`,
				`Ca	2 "other hca"		# "desc of other" `, 1)},
			check: func(t *testing.T, topo *topology.Topology) {
				if d := node(topo, "other hca").Desc; d != "desc of other" {
					t.Errorf("desc %q", d)
				}
			},
		},
		{
			name: "port options w= s= e=",
			files: map[string]string{"net": strings.Replace(parityBase, `[1] "my hca"[1]`,
				`[1] "my hca"[1]  w=3 s=7 e=1`, 1)},
			check: func(t *testing.T, topo *topology.Topology) {
				p := node(topo, "big switch").Ports[1]
				if p.WidthEnabled != 3 || p.SpeedEnabled != 7|1<<8 {
					t.Errorf("w %d s %#x, want 3 and 0x107", p.WidthEnabled, uint16(p.SpeedEnabled))
				}
				if q := node(topo, "big switch").Ports[2]; q.WidthEnabled != topology.DefaultWidthEnabled || q.SpeedEnabled != topology.DefaultSpeedEnabled {
					t.Errorf("port 2: w %d s %v, want ibsim's defaults", q.WidthEnabled, q.SpeedEnabled)
				}
			},
		},
		{
			name:  "vendid and sysimgguid for the next node, devid sticky",
			files: map[string]string{"net": "vendid=0x2c9\ndevid=0xbd36\nsysimgguid=0x5555\n" + parityBase},
			check: func(t *testing.T, topo *topology.Topology) {
				a, b := node(topo, "big switch"), node(topo, "sw b")
				if a.VendorID != 0x2c9 || a.DeviceID != 0xbd36 || a.SysImageGUID != 0x5555 {
					t.Errorf("big switch: vendor %#x device %#x sysimg %v", a.VendorID, a.DeviceID, a.SysImageGUID)
				}
				if b.VendorID != 0 || b.DeviceID != 0xbd36 || b.SysImageGUID != b.NodeGUID {
					t.Errorf("sw b: vendor %#x device %#x sysimg %v, want 0, 0xbd36, its node GUID", b.VendorID, b.DeviceID, b.SysImageGUID)
				}
			},
		},
		{
			// ibsim reads an option's name back from '=' and its value
			// forward, so blanks around '=' are allowed.
			name: "port options with blanks around =",
			files: map[string]string{"net": strings.Replace(parityBase, `[1] "my hca"[1]`,
				"[1] \"my hca\"[1]  w = 3 s= 7\te =1", 1)},
			check: func(t *testing.T, topo *topology.Topology) {
				p := node(topo, "big switch").Ports[1]
				if p.WidthEnabled != 3 || p.SpeedEnabled != 7|1<<8 {
					t.Errorf("w %d s %#x, want 3 and 0x107", p.WidthEnabled, uint16(p.SpeedEnabled))
				}
			},
		},
		{
			// ibsim applies w=, s= and e= wherever they stand on a port
			// line, the comment included (ibnetdiscover -f writes
			// "s=N w=N v=N"); a stated rate after them still wins.
			name: "port options in the comment",
			files: map[string]string{"net": strings.NewReplacer(
				`[1] "my hca"[1]`, `[1] "my hca"[1]	# cable 7 w=1 s=3 v=4`,
				`[2] "other hca"[2]`, `[2] "other hca"[2]	# "d" lid 3 1xDDR s=1 w=2 v=4`,
				`[1] "big switch"[1]`, `[1] "big switch"[1] # w=1 s=3`,
				`[2] "big switch"[2]`, `[2] "big switch"[2]	# lid 3 lmc 0 "d" lid 3 1xDDR s=1 w=2 v=4`,
			).Replace(parityBase)},
			check: func(t *testing.T, topo *topology.Topology) {
				p := node(topo, "big switch").Ports[1]
				if p.WidthEnabled != 1 || p.SpeedEnabled != 3 {
					t.Errorf("port 1: w %d s %#x, want 1 and 3", p.WidthEnabled, uint16(p.SpeedEnabled))
				}
				q := node(topo, "big switch").Ports[2]
				if q.WidthEnabled != 1 || q.SpeedEnabled != 3 || q.Width != wire.Width1X || q.Speed != wire.SpeedDDR {
					t.Errorf("port 2: w %d s %#x rate %v %v, want the stated 1xDDR to win", q.WidthEnabled, uint16(q.SpeedEnabled), q.Width, q.Speed)
				}
			},
		},
		{
			// ibsim takes a CA port's own LID from "lid N" at the start
			// of its comment, with or without "lmc M".
			name: "CA port LID without lmc",
			files: map[string]string{"net": strings.Replace(parityBase, "Hca 2 \"my hca\"\n[1] \"big switch\"[1]",
				"Hca 2 \"my hca\"\n[1] \"big switch\"[1] # lid 0x21", 1)},
			check: func(t *testing.T, topo *topology.Topology) {
				if p := node(topo, "my hca").Ports[1]; p.LID != 0x21 || p.LMC != 0 {
					t.Errorf("lid %d lmc %d, want 33 and 0", p.LID, p.LMC)
				}
			},
		},
		{
			name:  "comment lines starting with do: ibsim's console skips them",
			files: map[string]string{"net": "done: checked the cabling\n" + parityBase},
			check: func(t *testing.T, topo *topology.Topology) {
				if len(topo.Commands) != 0 {
					t.Errorf("commands %v, want none", topo.Commands)
				}
			},
		},
		{
			name: "include, relative to the including file",
			files: map[string]string{
				"net":         "include \"dir/cas.net\"\n" + parityBase[:strings.Index(parityBase, "Hca 2")],
				"dir/cas.net": parityBase[strings.Index(parityBase, "Hca 2"):],
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := topology.LoadFS(fstest.MapFS(mapFS(tc.files)), "net")
			if err != nil {
				t.Fatalf("does not load:\n%v", err)
			}
			if tc.check != nil {
				tc.check(t, topo)
			}
			// Match nodes by id: descriptions are what some variants set.
			for _, n := range topo.Nodes {
				n.Desc = n.ID
			}
			topo.Reindex()
			if err := topology.Compare(base, topo); err != nil {
				t.Errorf("graph differs from the plain file: %v", err)
			}
			for _, n := range base.Nodes {
				if m := topo.NodeByID(n.ID); m == nil || m.NodeGUID != n.NodeGUID {
					t.Errorf("%s: node %v, want GUID %v", n.ID, m, n.NodeGUID)
				}
			}
		})
	}
	// ibsim's GUIDs for the plain file: switches from 0x200000 one each,
	// CAs from 0x100000 NumPorts+1 each.
	for id, g := range map[string]wire.GUID{"big switch": 0x200000, "sw b": 0x200001, "my hca": 0x100000, "other hca": 0x100003} {
		if n := node(base, id); n.NodeGUID != g {
			t.Errorf("%s: GUID %v, want %v", id, n.NodeGUID, g)
		}
	}
}

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return m
}

// TestModulePrefixesIDs: module="m" makes later ids m#id, so one file can
// be included twice under two modules (ibsim's modules).
func TestModulePrefixesIDs(t *testing.T) {
	topo, err := topology.LoadFS(mapFS(map[string]string{
		"net":    "module=\"a\"\ninclude \"rack\"\nmodule=\"b\"\ninclude \"rack\"\n",
		"rack":   "Switch 4 \"sw\"\n[1] \"h\"[1]\n\nHca 1 \"h\"\n[1] \"sw\"[1]\n",
		"unused": "",
	}), "net")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a#sw", "a#h", "b#sw", "b#h"} {
		if topo.NodeByID(id) == nil {
			t.Errorf("no node %q", id)
		}
	}
	if len(topo.Links()) != 2 {
		t.Errorf("%d links, want 2", len(topo.Links()))
	}
}

// TestAliasesKept: the port aliases a file defines stay in
// Topology.Aliases under their full names (module prefix included), for
// console commands.
func TestAliasesKept(t *testing.T) {
	topo, err := topology.LoadFS(mapFS(map[string]string{
		"net":  "Hca 1 \"top\"\n@[1] \"up\"\n\nSwitch 4 \"s0\"\n[1] \"@up\"\n\nmodule=\"m\"\ninclude \"rack\"\n",
		"rack": "Switch 4 \"sw\"\n@[2] \"down\"\n\nHca 1 \"h\"\n[1] \"@down\"\n",
	}), "net")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"@up": `"top"[1]`, "m@down": `"m#sw"[2]`}
	if len(topo.Aliases) != len(want) {
		t.Errorf("aliases %v, want %v", topo.Aliases, want)
	}
	for name, port := range want {
		p := topo.Aliases[name]
		if p == nil || fmt.Sprintf("%q[%d]", p.Node.ID, p.Num) != port {
			t.Errorf("alias %q names %v, want %s", name, p, port)
		}
	}
	if len(topo.Links()) != 2 {
		t.Errorf("%d links, want 2", len(topo.Links()))
	}
}

// TestSyntaxParityRejected: what ibsim 0.12 refuses to load (it stops with
// "parsing failed", or warns and leaves the link out) is an error here,
// located at the right FILE:LINE; where ibsim quietly does something
// else (a space before the remote port links port 1, a port count above
// 254 wraps in the 8-bit NumPorts), the error says so. Every problem of a
// file is reported, not only the first.
func TestSyntaxParityRejected(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // substrings, one problem each, in order
	}{
		{"port count not a number", "Switch x \"s\"\n", []string{`net:1: "s": bad port count "x"`}},
		{"zero ports", "Switch 0 \"s\"\n", []string{`net:1: "s": port count 0 out of range 1..254`}},
		{"more ports than NumPorts holds", "Switch 300 \"s\"\n", []string{`net:1: "s": port count 300 out of range 1..254`}},
		{"unquoted id", "Switch 4 s\n", []string{`net:1: node header: the node id must be in double quotes`}},
		{"unterminated id", "Switch 4 \"s\n", []string{`net:1: node header: missing closing quote after the node id`}},
		{"unknown node type", "Router 2 \"r\"\n", []string{`net:1: unknown node type "Router"`}},
		{"duplicate id", "Hca 1 \"h\"\n\nHca 1 \"h\"\n", []string{`net:3: duplicate node id "h" (first at net:1)`}},
		{"unknown remote node", "Switch 4 \"s\"\n[1] \"ghost\"[1]\n", []string{`net:2: "s"[1]: unknown node "ghost"`}},
		{"link declared on one side", "Switch 4 \"s\"\n[1] \"h\"[1]\n\nHca 1 \"h\"\n", []string{`net:2: "s"[1]: links to "h"[1], but "h" does not list port 1`}},
		{"port out of range", "Switch 4 \"s\"\n[5] \"h\"[1]\n\nHca 1 \"h\"\n[1] \"s\"[5]\n",
			[]string{`net:2: "s": port 5 out of range 1..4`, `net:5: "h"[1]: links to "s"[5], but "s" has ports 1..4`}},
		{"switch port 0 cabled", "Switch 4 \"s\"\n[0] \"h\"[1]\n\nHca 1 \"h\"\n[1] \"s\"[0]\n",
			[]string{`net:2: "s": port 0 out of range 1..4 (port 0 is the switch management port)`, `net:5: "h"[1]: bad remote port "0"`}},
		{"bad width option", "Switch 4 \"s\"\n[1] \"h\"[1] w=99\n\nHca 1 \"h\"\n[1] \"s\"[1]\n", []string{`net:2: "s"[1]: port option w=99 out of range 1..31`}},
		{"two links to one port", "Switch 4 \"s\"\n[1] \"h\"[1]\n[2] \"h\"[1]\n\nHca 1 \"h\"\n[1] \"s\"[1]\n",
			[]string{`net:3: "s"[2]: links to "h"[1], but "h"[1] links to "s"[1] (net:6)`}},
		{"space before the remote port", "Switch 4 \"s\"\n[1] \"h\" [1]\n\nHca 1 \"h\"\n[1] \"s\"[1]\n",
			[]string{`net:2: "s"[1]: the remote port must follow the closing quote directly`}},
		{"missing include", "include \"nothere.net\"\n", []string{`net:1: include "nothere.net": open`}},
		// ibsim compares keywords as prefixes: these lines would make a
		// switch, set the switch GUID base and the default speed there.
		{"keyword with a suffix: header", "Switches 4 \"s\"\n",
			[]string{`net:1: "Switches" is not a keyword: ibsim reads a line starting with "Switch" as a node header`}},
		{"keyword with a suffix: setting", "switchguids=0x5000\nspeeds=3\n",
			[]string{`net:1: "switchguids" is not a keyword: ibsim reads a line starting with "switchguid" as the switchguid= setting`,
				`net:2: "speeds" is not a keyword: ibsim reads a line starting with "speed" as the speed= setting`}},
		{"text starting with a node type", "Cabling plan follows\n",
			[]string{`net:1: "Cabling" is not a keyword: ibsim reads a line starting with "Ca" as a node header`}},
		// ibsim skips hcaguid= (its keywords are caguid and hcaguids).
		{"hcaguid", "hcaguid=0x1000\nHca 1 \"h\"\n", []string{`net:1: "hcaguid" is not a keyword (ibsim ignores the line): write caguid= or hcaguids=`}},
		{"every problem, CRLF line numbers", "Switch x \"a\"\r\n\r\nSwitch 0 \"b\"\r\n\r\nHca 1 \"h\"\r\n[1] \"ghost\"[1]\r\n",
			[]string{`net:1: "a": bad port count "x"`, `net:3: "b": port count 0 out of range`, `net:6: "h"[1]: unknown node "ghost"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := parseString(t, tc.text)
			if err == nil {
				t.Fatalf("loaded (%d nodes), want an error", len(topo.Nodes))
			}
			got := problemLines(t, err)
			if len(got) < len(tc.want) {
				t.Fatalf("%d problems, want at least %d:\n%s", len(got), len(tc.want), strings.Join(got, "\n"))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}
