package topology_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ibemu/ibemu/emu/topology"
)

// FuzzParse checks that parsing never panics, and that whatever parses is
// written, read back and compared equal, with a second write identical to
// the first; the same with KeepIDs when that writer accepts the topology.
func FuzzParse(f *testing.F) {
	names := []string{
		"testdata/ibsim/net", "testdata/ibsim/net.2sw2path4hca2port",
		"testdata/ibnetdiscover/mixed.txt", "testdata/ibnetdiscover/mixed-g.txt",
		"testdata/ibnetdiscover/2sw2path4hca-s.txt", "testdata/ibnetdiscover/mixed.net",
		"testdata/include/racks/rack.net", "testdata/ibnetdiscover/mlnx-rates.txt", "testdata/ibnetdiscover/qdr-f.txt",
		"testdata/ibnetdiscover/qdr-H.txt",
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		compareBase,
		parityBase,
		strings.ReplaceAll(parityBase, "\n", " \t\r\n"),
		"Switch 4 \"S\" # \"d\" enhanced port 0 lid 3 lmc 1\n[1] \"H\"[1] w=3 s=7 e=1\n@[2] \"x\"\nHca 2 \"H\"\n[1] \"S\"[1] # lid 9 lmc 0 \"d\" lid 3 4xFDR10\n[2] \"@x\"\n",
		"module=\"m\"\nSwitch 2 \"s\"\n[1] \"s\"[2]\n[2] \"s\"[1]\ndo Dump\n",
		"switchguid+3\ncaguid=0x0\nHca 1 \"h\"\nRt 1 \"r\" # r\n[1] \"h\"[1]\n",
		"Switch 4 \"S\"\n[1] \"H\"[1] w = 1 s= 3 # x w=1 s=3 e=0\n[2] \"H\"[2]\t# \"h\" lid 3 4xEDR s=4 w=2 v=4 e=2\nHca 2 \"H\"\n[1] \"S\"[1] # lid 7\n[2] \"S\"[2]\n",
		"Switches 2 \"x\"\nswitchguids=1\nhcaguid=2\nCable\ndone\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := topology.LoadFS(fstest.MapFS{"net": {Data: data}}, "net")
		if err != nil {
			if topo != nil {
				t.Fatal("topology returned with an error")
			}
			return
		}
		roundTrip(t, topo)
		// The subnet a walk from any node's first port discovers is a
		// valid topology too, and never larger than the whole.
		for _, n := range topo.Nodes {
			p := n.Ports[0]
			if p == nil {
				p = n.Ports[1]
			}
			r := topo.Reachable(p)
			if err := r.Validate(); err != nil {
				t.Fatalf("Reachable(%s) does not validate: %v", p, err)
			}
			if len(r.Nodes) > len(topo.Nodes) || len(r.Links()) > len(topo.Links()) {
				t.Fatalf("Reachable(%s) is larger than the topology", p)
			}
		}

		var kept bytes.Buffer
		if err := topology.Write(&kept, topo, topology.KeepIDs()); err != nil {
			return // module ids cannot be kept
		}
		back, err := topology.Parse("kept", &kept)
		if err != nil {
			t.Fatalf("Parse(Write(KeepIDs)):\n%v", err)
		}
		if err := topology.Compare(topo, back); err != nil {
			t.Fatalf("KeepIDs round trip: %v", err)
		}
		if len(back.Commands) != len(topo.Commands) {
			t.Fatalf("commands: %d, want %d", len(back.Commands), len(topo.Commands))
		}
	})
}
