package topology_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// mustLoad loads a testdata file or fails the test.
func mustLoad(t *testing.T, name string) *topology.Topology {
	t.Helper()
	topo, err := topology.Load(name)
	if err != nil {
		t.Fatalf("Load(%s):\n%v", name, err)
	}
	return topo
}

// parseString parses one in-memory file named "net".
func parseString(t *testing.T, text string) (*topology.Topology, error) {
	t.Helper()
	return topology.LoadFS(fstest.MapFS{"net": {Data: []byte(text)}}, "net")
}

func mustParse(t *testing.T, text string) *topology.Topology {
	t.Helper()
	topo, err := parseString(t, text)
	if err != nil {
		t.Fatalf("parse:\n%v", err)
	}
	return topo
}

// problemLines is the Error() text of each problem of an *ErrorList.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	var list *topology.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %v (%T) is not an *ErrorList", err, err)
	}
	lines := make([]string, len(list.Problems))
	for i, p := range list.Problems {
		lines[i] = p.Error()
	}
	return lines
}

func diffLines(t *testing.T, want, got []string) {
	t.Helper()
	if strings.Join(want, "\n") == strings.Join(got, "\n") {
		return
	}
	t.Errorf("problems differ (-want +got):\n-%s\n+%s", strings.Join(want, "\n-"), strings.Join(got, "\n+"))
}

func TestLoadIBSimExamples(t *testing.T) {
	tests := []struct {
		file                 string
		switches, cas, links int
	}{
		{"net", 2, 2, 4},
		{"net.1", 1, 2, 2},
		{"net.2sw2path", 2, 2, 4},
		{"net.2sw2path4hca", 2, 4, 6},
		{"net.2sw2path4hca2port", 2, 2, 6},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			topo := mustLoad(t, filepath.Join("testdata", "ibsim", tt.file))
			if got := topo.Count(wire.NodeTypeSwitch); got != tt.switches {
				t.Errorf("switches = %d, want %d", got, tt.switches)
			}
			if got := topo.Count(wire.NodeTypeCA); got != tt.cas {
				t.Errorf("CAs = %d, want %d", got, tt.cas)
			}
			if got := len(topo.Links()); got != tt.links {
				t.Errorf("links = %d, want %d", got, tt.links)
			}
			// No desc in these files: desc = id.
			for _, n := range topo.Nodes {
				if n.Desc != n.ID {
					t.Errorf("%s: desc %q, want the id", n, n.Desc)
				}
			}
		})
	}
	// Every file of the directory loads, whatever its name.
	names, err := filepath.Glob(filepath.Join("testdata", "ibsim", "net*"))
	if err != nil || len(names) != len(tests) {
		t.Fatalf("glob: %v %v", names, err)
	}
}

// The GUIDs ibemu assigns to a net file without GUIDs are the ones real
// ibsim assigned: ibnetdiscover found them in the same fabric.
func TestDefaultGUIDsMatchIBSim(t *testing.T) {
	for _, tt := range []struct{ net, ibnd string }{
		{"testdata/ibsim/net.2sw2path4hca", "testdata/ibnetdiscover/2sw2path4hca.txt"},
		{"testdata/ibnetdiscover/mixed.net", "testdata/ibnetdiscover/mixed.txt"},
	} {
		t.Run(filepath.Base(tt.net), func(t *testing.T) {
			net, disc := mustLoad(t, tt.net), mustLoad(t, tt.ibnd)
			for _, d := range disc.Nodes {
				n := net.NodeByDesc(d.Desc)
				if n == nil {
					t.Errorf("%q missing from %s", d.Desc, tt.net)
					continue
				}
				if n.NodeGUID != d.NodeGUID || n.SysImageGUID != d.SysImageGUID {
					t.Errorf("%q: GUID %s sysimg %s, ibsim gave %s sysimg %s", d.Desc, n.NodeGUID, n.SysImageGUID, d.NodeGUID, d.SysImageGUID)
				}
				for i, dp := range d.Ports {
					if dp != nil && dp.Remote != nil && n.Ports[i].GUID != dp.GUID {
						t.Errorf("%s: port GUID %s, ibsim gave %s", n.Ports[i], n.Ports[i].GUID, dp.GUID)
					}
				}
			}
		})
	}
}

func TestLoadIbnetdiscover(t *testing.T) {
	want := mustLoad(t, "testdata/ibnetdiscover/2sw2path4hca.txt")
	for _, f := range []string{"2sw2path4hca-s.txt", "2sw2path4hca-g.txt", "2sw2path4hca-f.txt"} {
		// -s progress lines, -g grouping and -f tails change nothing.
		if err := topology.Compare(want, mustLoad(t, "testdata/ibnetdiscover/"+f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if err := topology.Compare(want, mustLoad(t, "testdata/ibsim/net.2sw2path4hca")); err != nil {
		t.Errorf("ibnetdiscover output and the net file it came from: %v", err)
	}
	if l := mustLoad(t, "testdata/ibnetdiscover/mixed-l.txt"); len(l.Nodes) != 0 {
		t.Errorf("ibnetdiscover -l output: %d nodes, want none", len(l.Nodes))
	}

	m := mustLoad(t, "testdata/ibnetdiscover/mixed.txt")
	if err := topology.Compare(m, mustLoad(t, "testdata/ibnetdiscover/mixed-g.txt")); err != nil {
		t.Errorf("mixed-g.txt: %v", err)
	}
	swA := m.NodeByID("S-0002c90200001000")
	if swA == nil {
		t.Fatal("no S-0002c90200001000")
	}
	if swA.Desc != "spine IS4 a" || !swA.EnhancedPort0 || swA.LID != 10 || swA.LMC != 0 ||
		swA.VendorID != 0x2c9 || swA.DeviceID != 0xbd36 || swA.NumPorts != 36 || swA.Ports[0].GUID != 0x2c90200001000 {
		t.Errorf("sw-a = %+v", *swA)
	}
	if r := swA.Ports[3].ActiveRate(); r.String() != "12xEDR" || swA.Ports[3].Width != wire.Width12X || swA.Ports[3].Speed != wire.SpeedEDR {
		t.Errorf("sw-a[3] rate %s (stated %s %s)", r, swA.Ports[3].Width, swA.Ports[3].Speed)
	}
	if p := swA.Ports[5]; p.ActiveRate().String() != "1xSDR" || p.WidthEnabled != 1 || p.SpeedEnabled != wire.SpeedSDR {
		t.Errorf("sw-a[5] rate %s, enabled %#x %#x", p.ActiveRate(), p.WidthEnabled, p.SpeedEnabled)
	}
	hca3 := m.NodeByDesc("node3 HCA-1")
	if hca3.SysImageGUID != 0x2c90300009999 || hca3.NodeGUID != 0x2c90300002005 || hca3.DeviceID != 0x673c {
		t.Errorf("hca-3 = %+v", *hca3)
	}
	for _, i := range []int{1, 2} {
		p := hca3.Ports[i]
		if p.GUID != hca3.NodeGUID+wire.GUID(i) || p.LID != wire.LID(4+i) || p.ActiveRate().String() != "4xFDR" ||
			p.SpeedEnabled != 0x107 || p.WidthEnabled != 3 || !p.FDR10Enabled {
			t.Errorf("%s: GUID %s LID %d rate %s enabled %#x/%#x", p, p.GUID, p.LID, p.ActiveRate(), p.WidthEnabled, p.SpeedEnabled)
		}
	}
	if p := hca3.Ports[1].Remote; p == nil || p.Node.Desc != "leaf IS4 b" || p.Num != 7 {
		t.Errorf("hca-3[1] linked to %v", p)
	}
	rt := m.NodeByDesc("router one")
	if rt == nil || rt.Type != wire.NodeTypeRouter || rt.ID != "R-0002c90400003000" || rt.Ports[1].GUID != 0x2c90400003001 || rt.Ports[1].LID != 3 {
		t.Errorf("router = %+v", rt)
	}
	if got := m.PortByGUID(0x2c90400003001); got != rt.Ports[1] {
		t.Errorf("PortByGUID = %v", got)
	}
	if got := m.NodeByGUID(0x2c90300002005); got != hca3 {
		t.Errorf("NodeByGUID = %v", got)
	}

	// The net file it came from has one link more: ibnetdiscover cannot
	// see a CA-to-CA link.
	d := topology.Diff(mustLoad(t, "testdata/ibnetdiscover/mixed.net"), m)
	want2 := []string{`link "node4 HCA-1"[2] - "node5 HCA-1"[2] is only in the first topology`}
	diffLines(t, want2, d)
}

// Write reproduces real ibnetdiscover output byte for byte after the header
// comment block (whose date and starting node differ).
func TestWriteMatchesIbnetdiscover(t *testing.T) {
	for _, f := range []string{"2sw2path4hca.txt", "mixed.txt"} {
		t.Run(f, func(t *testing.T) {
			name := filepath.Join("testdata", "ibnetdiscover", f)
			orig, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := topology.Write(&out, mustLoad(t, name)); err != nil {
				t.Fatal(err)
			}
			body := func(b []byte) string {
				_, after, _ := strings.Cut(string(b), "# Initiated from")
				_, after, _ = strings.Cut(after, "\n")
				return after
			}
			if got, want := body(out.Bytes()), body(orig); got != want {
				t.Errorf("Write differs from ibnetdiscover:\n--- got\n%s\n--- want\n%s", got, want)
			}
		})
	}
}

func testdataFiles(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, pat := range []string{"testdata/ibsim/net*", "testdata/ibnetdiscover/*.txt", "testdata/ibnetdiscover/*.net", "testdata/include/top.net"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m...)
	}
	return names
}

// Load → Write → Parse gives the same graph, and writing that again gives
// the same bytes.
func TestRoundTripTestdata(t *testing.T) {
	for _, name := range testdataFiles(t) {
		t.Run(name, func(t *testing.T) {
			roundTrip(t, mustLoad(t, name))
		})
	}
}

// roundTrip writes topo, reads it back, compares the graphs and checks that
// a second write is identical to the first.
func roundTrip(t testing.TB, topo *topology.Topology) *topology.Topology {
	t.Helper()
	var first bytes.Buffer
	if err := topology.Write(&first, topo); err != nil {
		t.Fatalf("Write: %v", err)
	}
	back, err := topology.Parse("written", bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatalf("Parse(Write(t)):\n%v\n%s", err, first.Bytes())
	}
	if err := topology.Compare(topo, back); err != nil {
		t.Fatalf("Compare(t, Parse(Write(t))): %v", err)
	}
	var second bytes.Buffer
	if err := topology.Write(&second, back); err != nil {
		t.Fatalf("Write again: %v", err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("second Write differs:\n%s\n---\n%s", first.Bytes(), second.Bytes())
	}
	return back
}

func TestParseProblems(t *testing.T) {
	long := "# " + strings.Repeat("x", 300)
	tests := []struct {
		name  string
		files map[string]string // "net" is loaded
		want  []string
	}{
		{
			name: "many problems in one file",
			files: map[string]string{"net": `Switch 8 "S1"
[1] "H1"[1]
[9] "H2"[1]
[1] "H3"[1]
[2] "Nope"[1]
[3] "H1"[2]
[0] "H1"[1]

Hca 2 "H1"
[1] "S1"[1]
Swich 4 "X"
Switch 0x "S2"
Hca 2 "H1"
Hca 2 H5
` + long + "\n"},
			want: []string{
				`net:3: "S1": port 9 out of range 1..8`,
				`net:4: "S1"[1]: declared twice (first at line 2)`,
				`net:5: "S1"[2]: unknown node "Nope"`,
				`net:6: "S1"[3]: links to "H1"[2], but "H1" does not list port 2`,
				`net:7: "S1": port 0 out of range 1..8 (port 0 is the switch management port)`,
				`net:11: unknown node type "Swich" (want Switch, Hca, Ca or Rt)`,
				`net:12: "S2": bad port count "0x"`,
				`net:13: duplicate node id "H1" (first at net:9)`,
				`net:14: node header: the node id must be in double quotes`,
				`net:15: line is 302 bytes long, more than 254`,
			},
		},
		{
			name: "ends disagree",
			files: map[string]string{"net": `Switch 4 "A"
[1] "B"[3]
[2] "D"[1]

Switch 4 "B"
[3] "C"[1]

Hca 1 "C"
[1] "B"[3]

Hca 1 "D"
[1] "A"[3]
`},
			want: []string{
				`net:2: "A"[1]: links to "B"[3], but "B"[3] links to "C"[1] (net:6)`,
				`net:3: "A"[2]: links to "D"[1], but "D"[1] links to "A"[3] (net:12)`,
				`net:12: "D"[1]: links to "A"[3], but "A" does not list port 3`,
			},
		},
		{
			name: "bad numbers and options",
			files: map[string]string{"net": `vendid=0xZZ
devid=70000
caguid=12ab
width=0
speed=8
Switch 4 "S" # "s" lid x lmc 3
[x] "H"[1]
[1] "H"[0]
[2] "H"[1] width=4 w=99 s=abc e=3
[3] "H" [2]

Hca 2 "H"
[1] "S"[2] # lid 70000 lmc 0 "s" lid 1 4xQDR
[2] "S"[4] # lid 1 lmc 0 "s" lid 1 3xQDR
`},
			want: []string{
				`net:1: bad vendid "0xZZ"`,
				`net:2: devid "70000" is out of range`,
				`net:3: bad caguid "12ab"`,
				`net:4: width 0 out of range 1..31`,
				`net:5: speed 8 out of range 1..7`,
				`net:6: "S": bad lid "x"`,
				`net:7: "S": bad port number "x"`,
				`net:8: "S"[1]: bad remote port "0": want 1..254`,
				`net:9: "S"[2]: unknown port option "width=" (want w=, s= or e=)`,
				`net:9: "S"[2]: port option w=99 out of range 1..31`,
				`net:9: "S"[2]: bad port option s= "abc"`,
				`net:10: "S"[3]: the remote port must follow the closing quote directly (ibsim reads "H" [n] as port 1)`,
				`net:13: "H"[1]: lid "70000" is out of range`,
				`net:14: "H"[2]: bad link width "3x" in "3xQDR": want 1x, 2x, 4x, 8x or 12x`,
				`net:14: "H"[2]: links to "S"[4], but "S" does not list port 4`,
			},
		},
		{
			name: "quotes",
			files: map[string]string{"net": `Switch 4 "S1
Switch 4 S2
Switch 4 "S3" # "unterminated
[1] H1[1]
[2] "H1[1]
include net2
module=A
Hca 1 "H9"
`},
			want: []string{
				`net:1: node header: missing closing quote after the node id`,
				`net:2: node header: the node id must be in double quotes`,
				`net:3: "S3": missing closing quote after the node description`,
				`net:4: "S3"[1]: the remote node id must be in double quotes`,
				`net:5: "S3"[2]: missing closing quote after the remote node id`,
				`net:6: include: the file name must be in double quotes`,
				`net:7: module: the name must be in double quotes`,
			},
		},
		{
			name: "duplicate GUIDs and LIDs",
			files: map[string]string{"net": `caguid=0x100
Hca 2 "H1"
[1](200) "S"[1] # lid 5 lmc 1 "s" lid 9 4xSDR
caguid=0x100
Hca 1 "H2"
[1](200) "S"[2] # lid 6 lmc 0 "s" lid 9 4xSDR
switchguid=0x100
Switch 4 "S" # "s" lid 9
[1] "H1"[1](999)
[2] "H2"[1]
`},
			want: []string{
				`net:5: "H2": node GUID 0x0000000000000100 already used by "H1" (net:2)`,
				`net:6: "H2"[1]: port GUID 0x0000000000000200 already used by "H1"[1] (net:3)`,
				`net:6: "H2"[1]: LID 6 already used by "H1"[1] (net:3)`,
				`net:8: "S": node GUID 0x0000000000000100 already used by "H1" (net:2)`,
				`net:9: "S"[1]: remote port GUID 0x0000000000000999 does not match "H1"[1], whose GUID is 0x0000000000000200`,
			},
		},
		{
			name: "link rates",
			files: map[string]string{"net": `Switch 4 "S"
[1] "H1"[1] w=1
[2] "H2"[1] s=1 e=0
[3] "H3"[1] # "h3" lid 1 4xQDR

Hca 1 "H1"
[1] "S"[1] w=2
Hca 1 "H2"
[1] "S"[2] s=2
Hca 1 "H3"
[1] "S"[3] # lid 1 lmc 0 "s" lid 0 1xDDR
`},
			want: []string{
				`net:2: "S"[1]: no common link width with "H1"[1] (enabled 0x1 and 0x2)`,
				`net:3: "S"[2]: no common link speed with "H2"[1] (enabled 0x1 and 0x2)`,
				`net:4: "S"[3]: width 4x here but 1x at "H3"[1] (net:11)`,
				`net:4: "S"[3]: speed QDR here but DDR at "H3"[1] (net:11)`,
			},
		},
		{
			name: "settings",
			files: map[string]string{"net": `vendid 0x2c9
devid=
sysimgguid=0x1 junk
switchguid 5
switchguid=0x10(zz)
caguid=0x10(0x11)
switchguid=0x10(11
rtguid=
module "x"
module="abc
module="a#b"
module="aaaaaaaaaaaaaaaaaaaaa"
include "
include ""
pdebug=1
sysimgguid=0x1 # a comment is fine
`},
			want: []string{
				`net:1: vendid: missing '='`,
				`net:2: devid: missing value`,
				`net:3: sysimgguid: unexpected text after the value: "junk"`,
				`net:4: switchguid: missing '=' or '+'`,
				`net:5: switchguid: bad port GUID "zz"`,
				`net:6: caguid: bad port GUID "0x11"`,
				`net:7: switchguid: missing ')' after the port GUID`,
				`net:8: rtguid: missing value`,
				`net:9: module: missing '='`,
				`net:10: module: missing closing quote`,
				`net:11: module name "a#b": '#' and '@' are reserved`,
				`net:12: module name "aaaaaaaaaaaaaaaaaaaaa" is longer than 20 bytes`,
				`net:13: include: missing closing quote`,
				`net:14: include: empty file name`,
			},
		},
		{
			name: "headers",
			files: map[string]string{"net": `Hca 1 "H1" # "h" lid 3
Rt 1 "R" # "r" enhanced port 0
Switch 300 "S"
[1] "H1"[1]
Switch 2 "a#b"
Switch 2 ""
Switch 2 "S2" # "` + strings.Repeat("d", 65) + `"
Router 2 "R2"
Switch 2 "` + strings.Repeat("i", 65) + `"
do
`},
			want: []string{
				`net:1: "H1": "lid" applies to switch headers only (give a CA's LID and LMC on its port lines)`,
				`net:2: "R": "enhanced port 0" applies to switch headers only`,
				`net:3: "S": port count 300 out of range 1..254`,
				`net:5: node id "a#b": '#' and '@' are reserved`,
				`net:6: empty node id`,
				`net:7: "S2": node description is 65 bytes, more than 64`,
				`net:8: unknown node type "Router" (want Switch, Hca, Ca or Rt)`,
				`net:9: node id "` + strings.Repeat("i", 65) + `" is 65 bytes, more than 64`,
				`net:10: do: missing console command`,
			},
		},
		{
			name: "stray port line and self links",
			files: map[string]string{"net": `Switch 4 "S"
[1] "H"[1]

[2] "H"[2]
Hca 2 "H"
[1] "S"[1]
[2] "H"[2]
`},
			want: []string{
				`net:4: port line outside a node record (a blank or other line ended the record)`,
				`net:7: "H"[2]: linked to itself`,
			},
		},
		{
			name: "aliases",
			files: map[string]string{"net": `Switch 4 "S"
@[1] "up"
@[2] "up"
@[3] "a@b"
[4] "H"[1]

Hca 2 "H"
[1] "S"[4]
[2] "@nothere"
Hca 2 "G"
[1] "@up"
[2] "@up"
Hca 1 "K"
[1] "S"[1]
`},
			want: []string{
				`net:3: "S"[2]: alias "@up" already names "S"[1] (net:2)`,
				`net:4: "S"[3]: alias "a@b": '#' and '@' are reserved`,
				`net:9: "H"[2]: unknown alias "@nothere"`,
				`net:12: "G"[2]: alias "@up" names "S"[1], which is already linked to "G"[1]`,
				`net:14: "K"[1]: links to "S"[1], but that port is alias "@up" (net:2); link to the alias instead`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, text := range tt.files {
				fsys[name] = &fstest.MapFile{Data: []byte(text)}
			}
			topo, err := topology.LoadFS(fsys, "net")
			if err == nil {
				t.Fatalf("no error; %d nodes", len(topo.Nodes))
			}
			if topo != nil {
				t.Errorf("a topology came back with the error")
			}
			diffLines(t, tt.want, problemLines(t, err))
		})
	}
}

func TestIncludeProblems(t *testing.T) {
	files := map[string]string{
		"net":       "include \"a.net\"\ninclude \"missing.net\"\ninclude \"d1\"\n",
		"a.net":     "include \"sub/b.net\"\n",
		"sub/b.net": "\n\ninclude \"../a.net\"\nHca 1 \"X\"\n[1] \"Y\"[1]\n",
	}
	// net includes d1, d1 includes d2, ... d8 includes d9: nine files are
	// open when d8 asks for a tenth.
	for i := 1; i <= 8; i++ {
		files[fmt.Sprintf("d%d", i)] = fmt.Sprintf("include \"d%d\"\n", i+1)
	}
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text)}
	}
	_, err := topology.LoadFS(fsys, "net")
	got := problemLines(t, err)
	want := []string{
		`net:2: include "missing.net": open missing.net: file does not exist`,
		`sub/b.net:3: include "../a.net": include loop: a.net -> sub/b.net -> a.net`,
		`sub/b.net:5: "X"[1]: unknown node "Y"`,
		`d8:1: include "d9": more than 9 files deep`,
	}
	diffLines(t, want, got)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
}

func TestIncludeModulesAliasesCommands(t *testing.T) {
	topo := mustLoad(t, filepath.Join("testdata", "include", "top.net"))
	if got := len(topo.Nodes); got != 7 {
		t.Fatalf("%d nodes, want 7", got)
	}
	leafA, leafB, spine := topo.NodeByID("rackA#leaf"), topo.NodeByID("rackB#leaf"), topo.NodeByID("spine")
	if leafA == nil || leafB == nil || spine == nil {
		t.Fatalf("nodes: %v %v %v", leafA, leafB, spine)
	}
	if leafA.Desc != "rackA#leaf" || leafA.File != filepath.Join("testdata", "include", "racks", "rack.net") || leafA.Line != 3 {
		t.Errorf("leafA: desc %q at %s:%d", leafA.Desc, leafA.File, leafA.Line)
	}
	// GUID counters carry across includes: rackA then rackB.
	if leafA.NodeGUID != 0x200000 || leafB.NodeGUID != 0x200001 || topo.NodeByID("rackB#h2").NodeGUID != 0x100006 {
		t.Errorf("GUIDs %s %s", leafA.NodeGUID, leafB.NodeGUID)
	}
	if spine.NodeGUID != 0x2c902000000ff || spine.LID != 1 {
		t.Errorf("spine GUID %s LID %d", spine.NodeGUID, spine.LID)
	}
	// The aliases joined each leaf's port 4 to the spine.
	if spine.Ports[1].Remote != leafA.Ports[4] || spine.Ports[2].Remote != leafB.Ports[4] {
		t.Errorf("spine[1] -> %v, spine[2] -> %v", spine.Ports[1].Remote, spine.Ports[2].Remote)
	}
	if h1 := topo.NodeByID("rackB#h1"); h1.Ports[1].Remote != leafB.Ports[1] {
		t.Errorf("rackB#h1[1] -> %v", h1.Ports[1].Remote)
	}
	wantCmds := []topology.Command{
		{Text: `Error "rackA#h1"[1] 0`, File: filepath.Join("testdata", "include", "top.net"), Line: 14},
		{Text: `Verbose 0`, File: filepath.Join("testdata", "include", "top.net"), Line: 15},
	}
	if len(topo.Commands) != len(wantCmds) {
		t.Fatalf("commands %+v", topo.Commands)
	}
	for i, c := range topo.Commands {
		if c != wantCmds[i] {
			t.Errorf("command %d = %+v, want %+v", i, c, wantCmds[i])
		}
	}
	// Module ids cannot be written back as they are.
	if err := topology.Write(&bytes.Buffer{}, topo, topology.KeepIDs()); err == nil || !strings.Contains(err.Error(), `"rackA#leaf" cannot be kept`) {
		t.Errorf("Write(KeepIDs) = %v", err)
	}
}

func TestGUIDAssignment(t *testing.T) {
	topo := mustParse(t, `switchguid=0x1000
Switch 2 "s1"
Switch 2 "s2"
switchguid+0x10
Switch 2 "s3"
switchguid=0x2000(0x2abc)
Switch 2 "s4"
Switch 2 "s5"
hcaguids=0x500
Hca 2 "h1"
caguid+6
Hca 1 "h2"
Ca 1 "h3"
Rt 1 "r1"
rtguid=0x9000
Rt 3 "r2"
sysimgguid=0x7777
vendid=0x2c9
devid=0x1003
Hca 1 "h4"
Hca 1 "h5"
`)
	want := map[string]wire.GUID{
		"s1": 0x1000, "s2": 0x1001, "s3": 0x1010, "s4": 0x2000, "s5": 0x2001,
		"h1": 0x500, "h2": 0x506, "h3": 0x508, "r1": 0x300000, "r2": 0x9000,
		"h4": 0x50a, "h5": 0x50c,
	}
	for id, g := range want {
		if n := topo.NodeByID(id); n == nil || n.NodeGUID != g {
			t.Errorf("%s: GUID %v, want %s", id, n, g)
		}
	}
	if p := topo.NodeByID("s4").Ports; p[0].GUID != 0x2abc || p[2].GUID != 0x2abc {
		t.Errorf("s4 port GUIDs %s %s, want 0x2abc", p[0].GUID, p[2].GUID)
	}
	if p := topo.NodeByID("s5").Ports[0]; p.GUID != 0x2001 {
		t.Errorf("s5 port 0 GUID %s", p.GUID)
	}
	if p := topo.NodeByID("r2").Ports[3]; p.GUID != 0x9003 {
		t.Errorf("r2[3] GUID %s", p.GUID)
	}
	h4, h5 := topo.NodeByID("h4"), topo.NodeByID("h5")
	if h4.SysImageGUID != 0x7777 || h4.VendorID != 0x2c9 || h4.DeviceID != 0x1003 {
		t.Errorf("h4 = %+v", *h4)
	}
	// sysimgguid= and vendid= are for one node, devid= sticks.
	if h5.SysImageGUID != h5.NodeGUID || h5.VendorID != 0 || h5.DeviceID != 0x1003 {
		t.Errorf("h5 = %+v", *h5)
	}
	if topo.NodeByID("s1").Ports[0] == nil || topo.NodeByID("h1").Ports[0] != nil {
		t.Error("Ports[0] must exist on switches only")
	}
}

func TestPortOptionsAndRates(t *testing.T) {
	topo := mustParse(t, `width=11
speed=7
extspeed=3
Switch 8 "S"
[1] "H1"[1]
[2] "H2"[1] w=2 s=3 e=0
[3] "H3"[1] s=0
[4] "H4"[1] # "h4" lid 7 8xHDR
[5] "H5"[1] # "h5" lid 9 4xFDR10 s=4 w=2 v=4
[6] "H6"[2]	w=1	# uplink, no tail

width=2
speed=1
extspeed=0
Hca 1 "H1"
[1] "S"[1] w=8 s=4 e=2
Hca 1 "H2"
[1] "S"[2] s=7
Hca 1 "H3"
[1] "S"[3] s=4
Hca 1 "H4"
[1] "S"[4]
Hca 1 "H5"
[1] "S"[5] # lid 9 lmc 2 "s" lid 0 4xFDR10
Hca 2 "H6"
[2] "S"[6] w=17
`)
	s := topo.NodeByID("S")
	tests := []struct {
		port       int
		rate       string
		wEn        uint8
		sEn        wire.LinkSpeed
		stated     bool
		fdr10Enabl bool
	}{
		{1, "12xEDR", 11, 0x307, false, false},
		{2, "4xDDR", 2, 0x003, false, false},
		{3, "4xQDR", 11, 0x304, false, false},
		{4, "8xHDR", 4, 0x707, true, true},
		{5, "4xFDR10", 3, 0x007, true, true},
		{6, "1xSDR", 1, 0x307, false, false},
	}
	for _, tt := range tests {
		p := s.Ports[tt.port]
		if got := p.ActiveRate().String(); got != tt.rate {
			t.Errorf("%s: rate %s, want %s", p, got, tt.rate)
		}
		if p.WidthEnabled != tt.wEn || p.SpeedEnabled != tt.sEn || p.FDR10Enabled != tt.fdr10Enabl {
			t.Errorf("%s: enabled width %#x speed %#x fdr10 %v, want %#x %#x %v", p, p.WidthEnabled, p.SpeedEnabled, p.FDR10Enabled, tt.wEn, tt.sEn, tt.fdr10Enabl)
		}
		if (p.Width != 0) != tt.stated {
			t.Errorf("%s: stated width %s", p, p.Width)
		}
		if got := p.Remote.ActiveRate().String(); got != tt.rate {
			t.Errorf("%s: remote end rate %s, want %s", p.Remote, got, tt.rate)
		}
	}
	h5 := topo.NodeByID("H5").Ports[1]
	if h5.LID != 9 || h5.LMC != 2 || h5.BaseLID() != 9 || s.Ports[5].BaseLID() != s.LID {
		t.Errorf("H5[1] LID %d LMC %d", h5.LID, h5.LMC)
	}
	if p := topo.NodeByID("H6").Ports[1]; p.Connected() || p.Remote != nil {
		t.Errorf("H6[1] is connected: %v", p.Remote)
	}
}

func TestParseQuirks(t *testing.T) {
	// ibnetdiscover's list lines, DR path lines and chassis headings are
	// comments; a record may hold # lines; CRLF line ends; unquoted
	// descriptions; octal port counts; "do" keeps its text.
	topo := mustParse(t, "DR path slid 0; dlid 0; 0,1 -> new Switch {0000000000200000} portnum 0 lid 0-0 \"\"\r\n"+
		"Ca\t : 0x0000000000100009 ports 2 devid 0x0 vendid 0x0 \"Hca4\"\r\n"+
		"Chassis 1 (guid 0x1234)\r\n"+
		"Switch\t010 \"S\" # a bare description lid 5 lmc 1\r\n"+
		"# a comment inside the record\r\n"+
		"[1][ext 3]\t\"H\"[1][ext 1](100001)\t\t# \"h\" lid 2 4xSDR slot 1\r\n"+
		"\r\n"+
		"Hca\t2 \"H\" #   host  one   \r\n"+
		"[1]\t\"S\"[1]\r\n"+
		"do   Dump \"S\"  \r\n"+
		"done with it\r\n")
	s := topo.NodeByID("S")
	if s.NumPorts != 8 || s.Desc != "a bare description" || s.LID != 5 || s.LMC != 1 {
		t.Errorf("S = %+v", *s)
	}
	if h := topo.NodeByID("H"); h.Desc != "host  one" {
		t.Errorf("H desc %q", h.Desc)
	}
	if len(topo.Commands) != 1 || topo.Commands[0].Text != `Dump "S"` || topo.Commands[0].Line != 10 {
		t.Errorf("commands %+v", topo.Commands)
	}
}

func TestLookupsAfterChanges(t *testing.T) {
	topo := mustLoad(t, "testdata/ibsim/net")
	h1 := topo.NodeByID("Hca1")
	if h1 == nil || topo.NodeByDesc("Hca1") != h1 || topo.NodeByGUID(h1.NodeGUID) != h1 || topo.PortByGUID(h1.NodeGUID+1) != h1.Ports[1] {
		t.Fatal("lookups")
	}
	h1.ID, h1.Desc = "renamed", "renamed desc"
	// A stale hit is never returned.
	if topo.NodeByID("Hca1") != nil || topo.NodeByDesc("Hca1") != nil {
		t.Error("stale lookup")
	}
	topo.Reindex()
	if topo.NodeByID("renamed") != h1 || topo.NodeByDesc("renamed desc") != h1 {
		t.Error("lookup after Reindex")
	}
	if topo.NodeByID("nope") != nil || topo.NodeByGUID(1) != nil || topo.PortByGUID(1) != nil {
		t.Error("lookup of absent keys")
	}
	if h1.Port(0) != nil || h1.Port(3) != nil || h1.Port(1) == nil || h1.Port(-1) != nil {
		t.Error("Node.Port")
	}
	if got := h1.Ports[1].String(); got != `"renamed"[1]` {
		t.Errorf("Port.String = %s", got)
	}
}

func TestParseRate(t *testing.T) {
	for _, s := range []string{"1xSDR", "2xDDR", "4xQDR", "8xFDR", "12xEDR", "4xHDR", "4xNDR", "4xFDR10"} {
		r, err := topology.ParseRate(s)
		if err != nil || r.String() != s {
			t.Errorf("ParseRate(%q) = %v, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "x", "4x", "3xQDR", "4xQDX", "QDR", "04"} {
		if _, err := topology.ParseRate(s); err == nil {
			t.Errorf("ParseRate(%q) did not fail", s)
		}
	}
	if got := (topology.Rate{}).String(); got != "?????" {
		t.Errorf("zero Rate = %q", got)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := topology.Load(filepath.Join("testdata", "no-such-file")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
	if _, err := topology.LoadFS(fstest.MapFS{}, "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadFS(missing) = %v", err)
	}
	// A problem's Error is FILE:LINE: message, and the list prints one a line.
	_, err := parseString(t, "Switch 1 \"A\"\n[1] \"B\"[1]\n[2] \"B\"[1]\n")
	if got, want := err.Error(), "net:2: \"A\"[1]: unknown node \"B\"\nnet:3: \"A\": port 2 out of range 1..1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var p topology.Problem
	if !errors.As(err, &p) || p.File != "net" || p.Line != 2 {
		t.Errorf("errors.As Problem = %+v", p)
	}
}

func TestConcurrentLookups(t *testing.T) {
	topo, err := topology.FatTree(2, 8)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			ok := true
			for _, n := range topo.Nodes {
				ok = ok && topo.NodeByID(n.ID) == n && topo.NodeByGUID(n.NodeGUID) == n && topo.NodeByDesc(n.Desc) == n
			}
			done <- ok
		}()
	}
	for g := 0; g < 4; g++ {
		if !<-done {
			t.Error("lookup failed")
		}
	}
}

// TestLoadMellanoxRates: ibnetdiscover output in the form a real Mellanox
// fabric prints loads with every link's rate as written (widths 2x to 12x,
// speeds FDR10 to NDR), the enabled masks ibsim derives from a rate, and
// the port GUIDs as written ([1](guid), equal to the node GUID on mlx5).
// The -f form's s= w= v= tails give the same graph as the plain one, and
// the -H and -S node lists load as empty topologies.
func TestLoadMellanoxRates(t *testing.T) {
	topo := mustLoad(t, "testdata/ibnetdiscover/mlnx-rates.txt")
	sw := topo.NodeByID("S-7cfe900300a5a2a0")
	if sw == nil || sw.DeviceID != 0xcb20 || sw.EnhancedPort0 || sw.LID != 1 {
		t.Fatalf("switch %+v", sw)
	}
	const base = wire.SpeedSDR | wire.SpeedDDR | wire.SpeedQDR
	for _, tc := range []struct {
		port    int
		rate    string
		wEn     uint8
		sEn     wire.LinkSpeed
		fdr10   bool
		caGUID  wire.GUID
		caLID   wire.LID
		caDevID uint16
	}{
		{1, "4xEDR", 3, base | wire.SpeedFDR | wire.SpeedEDR, true, 0x248a0703009b5a10, 3, 0x1013},
		{2, "4xFDR", 3, base | wire.SpeedFDR, true, 0x248a0703009b5a20, 4, 0x1013},
		{3, "4xFDR10", 3, base, true, 0x248a0703009b5a30, 5, 0x1013},
		{4, "2xHDR", 16, base | wire.SpeedFDR | wire.SpeedEDR | wire.SpeedHDR, true, 0x248a0703009b5a40, 6, 0x101b},
		{5, "4xNDR", 3, base | wire.SpeedFDR | wire.SpeedEDR | wire.SpeedHDR | wire.SpeedNDR, true, 0x248a0703009b5a50, 7, 0x1021},
		{6, "8xEDR", 4, base | wire.SpeedFDR | wire.SpeedEDR, true, 0x248a0703009b5a60, 8, 0x1013},
		{7, "12xEDR", 11, base | wire.SpeedFDR | wire.SpeedEDR, true, 0x248a0703009b5a70, 9, 0x1013},
	} {
		p := sw.Ports[tc.port]
		q := p.Remote
		if q == nil {
			t.Errorf("port %d not linked", tc.port)
			continue
		}
		for _, e := range []*topology.Port{p, q} {
			r := topology.Rate{Width: e.Width, Speed: e.Speed, FDR10: e.FDR10}
			if r.String() != tc.rate || e.WidthEnabled != tc.wEn || e.SpeedEnabled != tc.sEn || e.FDR10Enabled != tc.fdr10 {
				t.Errorf("%s: rate %v enabled w %#x s %#x fdr10 %v, want %s, %#x, %#x, %v", e, r,
					e.WidthEnabled, uint16(e.SpeedEnabled), e.FDR10Enabled, tc.rate, tc.wEn, uint16(tc.sEn), tc.fdr10)
			}
		}
		if q.GUID != tc.caGUID || q.Node.NodeGUID != tc.caGUID || q.LID != tc.caLID || q.Node.DeviceID != tc.caDevID {
			t.Errorf("%s: GUID %v node %v lid %d devid %#x, want %v, lid %d, %#x", q, q.GUID, q.Node.NodeGUID, q.LID,
				q.Node.DeviceID, tc.caGUID, tc.caLID, tc.caDevID)
		}
	}

	plain, full := mustLoad(t, "testdata/ibnetdiscover/qdr.net"), mustLoad(t, "testdata/ibnetdiscover/qdr-f.txt")
	if err := topology.Compare(plain, full); err != nil {
		t.Errorf("ibnetdiscover -f output differs from the fabric: %v", err)
	}
	h3 := full.NodeByGUID(0x2c903000010c0)
	if h3 == nil || h3.Ports[1].Width != wire.Width1X || h3.Ports[1].Speed != wire.SpeedSDR || h3.Ports[1].WidthEnabled != 1 {
		t.Errorf("host3 in the -f output: %+v", h3)
	}
	for _, f := range []string{"qdr-H.txt", "qdr-S.txt"} {
		if topo := mustLoad(t, "testdata/ibnetdiscover/"+f); len(topo.Nodes) != 0 {
			t.Errorf("%s: %d nodes, want none", f, len(topo.Nodes))
		}
	}
}
