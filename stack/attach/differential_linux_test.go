//go:build linux

package attach

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// Differential testing on random topologies: randomNet writes a random
// net file that ibsim 0.10's parser accepts (switches with unused ports,
// parallel links, cycles, chains deeper than 8 hops, dual-port HCAs
// cabled to one or two switches, HCAs cabled to each other, nodes with no
// cables, mixed enabled widths and speeds, descriptions with spaces and
// quotes, GUIDs given and not), and TestDifferentialRandomNets brings
// each up with OpenSM on our server and on the real ibsim and requires
// the diags to print the same. IBEMU_DIFF_NETDIR writes the nets out for
// runs of other tools.

// widthSets and speedSets are the LinkWidthEnabled and LinkSpeedEnabled
// values the generator writes as w= and s= port options (IBTA Vol 1
// §14.2.5.6: 1x, 4x, 12x and their combinations; SDR, DDR, QDR and
// theirs).
var (
	widthSets = []int{1, 2, 3, 8, 9, 10, 11}
	speedSets = []int{1, 2, 3, 4, 5, 6, 7}
)

// netNode is one node of a generated net.
type netNode struct {
	sw    bool
	id    string
	desc  string // the header's comment after "# ", "" for none
	ports int
	// port lines by local port: remote id, remote port and options.
	lines map[int]string
	free  []int // ports not cabled yet, in the order to use them
	guid  string
}

// netGen is the state of one generated net.
type netGen struct {
	r     *rand.Rand
	nodes []*netNode
	mixed bool // w= and s= options on some links
	width int  // LinkWidthEnabled of a port without w= (the width= default)
	links []genLink
	text  string // the net file
}

// take returns a free port of n, or 0 when none is left.
func (g *netGen) take(n *netNode) int {
	if len(n.free) == 0 {
		return 0
	}
	p := n.free[0]
	n.free = n.free[1:]
	return p
}

// rates returns the w= and s= options of the two ends of a link (none,
// one end's or both ends' options) and the LinkWidthEnabled and
// LinkSpeedEnabled of each end: an end without an option has the
// defaults, and ibsim panics unless the two ends share a width and a
// speed.
func (g *netGen) rates() (a, b string, wa, sa, wb, sb int) {
	const sdr = 1
	wa, sa, wb, sb = g.width, sdr, g.width, sdr
	if !g.mixed || g.r.IntN(3) == 0 {
		return "", "", wa, sa, wb, sb
	}
	pick := func(sets []int, other int) int {
		for {
			if v := sets[g.r.IntN(len(sets))]; v&other != 0 {
				return v
			}
		}
	}
	switch g.r.IntN(4) {
	case 0:
		wa = pick(widthSets, g.width)
		sa = pick(speedSets, sdr)
		return fmt.Sprintf("\tw=%d s=%d", wa, sa), "", wa, sa, wb, sb
	case 1:
		sa = pick(speedSets, sdr)
		wb = pick(widthSets, g.width)
		return fmt.Sprintf("\ts=%d", sa), fmt.Sprintf("\tw=%d", wb), wa, sa, wb, sb
	}
	wa = pick(widthSets, 0x1f)
	sa = pick(speedSets, 7)
	wb = pick(widthSets, wa)
	sb = pick(speedSets, sa)
	return fmt.Sprintf("\tw=%d s=%d", wa, sa), fmt.Sprintf("\tw=%d s=%d", wb, sb), wa, sa, wb, sb
}

// genLink is a generated link and the rate it must train at: the widest
// width and fastest speed both ends enable, as PortInfo then reports
// them in LinkWidthActive and LinkSpeedActive (IBTA Vol 1 §14.2.5.6).
type genLink struct {
	a, b   string // node ids
	pa, pb int
	width  wire.LinkWidth
	speed  wire.LinkSpeed
}

// highest returns the highest bit of mask (0 for none).
func highest(mask int) int {
	if mask == 0 {
		return 0
	}
	return 1 << (bits.Len(uint(mask)) - 1)
}

// link cables a free port of x to a free port of y (x == y: two ports of
// one node); it reports whether both had one.
func (g *netGen) link(x, y *netNode) bool {
	if len(x.free) == 0 || len(y.free) == 0 || (x == y && len(x.free) < 2) {
		return false
	}
	px, py := g.take(x), g.take(y)
	oa, ob, wa, sa, wb, sb := g.rates()
	x.lines[px] = fmt.Sprintf("%q[%d]%s", y.id, py, oa)
	y.lines[py] = fmt.Sprintf("%q[%d]%s", x.id, px, ob)
	g.links = append(g.links, genLink{a: x.id, b: y.id, pa: px, pb: py,
		width: wire.LinkWidth(highest(wa & wb)), speed: wire.LinkSpeed(highest(sa & sb))})
	return true
}

// descs are node descriptions as a header's comment: quoted (spaces,
// apostrophes, a #), unquoted (up to the end of the line), and, for
// switches, followed by ibnetdiscover's port 0 note. No double quote
// inside: ibsim ends a quoted description at the next one and takes one
// into an unquoted description, and ibemu refuses both (a description
// with a double quote does not survive ibnetdiscover's output).
var descs = []string{
	`"%s rack 'a' unit %d"`,
	`"%s-%d"`,
	`%s unit %d of row b`,
	`%s 19in unit %d`,
	`"%s: o'brien's #%d"`,
}

// randomNet returns the net file of seed: the same seed always gives the
// same file.
func randomNet(seed uint64) string { return genNet(seed).text }

// genNet generates the net of seed.
func genNet(seed uint64) *netGen {
	g := &netGen{r: rand.New(rand.NewPCG(seed, 0x1bd11bdaa9fc1a22))}
	r := g.r
	g.mixed = r.IntN(4) != 0
	g.width = 2 // 4x
	if r.IntN(6) == 0 {
		g.width = 11 // width=11: 1x, 4x and 12x
	}
	guidMode := r.IntN(3) // 0: none given, 1: each node's, 2: a base and relative steps
	nsw := 1 + r.IntN(12)
	chain := nsw >= 10 && r.IntN(2) == 0

	newNode := func(sw bool, i, ports int) *netNode {
		n := &netNode{sw: sw, ports: ports, lines: map[int]string{}}
		kind := "Hca"
		if sw {
			kind = "Switch"
		}
		switch r.IntN(4) {
		case 0:
			n.id = fmt.Sprintf("%s %d", strings.ToLower(kind), i) // a space in the id
		default:
			n.id = fmt.Sprintf("%s%d", kind, i)
		}
		if r.IntN(4) != 0 {
			n.desc = fmt.Sprintf(descs[r.IntN(len(descs))], kind, i)
			if sw && n.desc[0] == '"' {
				switch r.IntN(4) {
				case 0:
					n.desc += " enhanced port 0"
				case 1:
					n.desc += " base port 0"
				}
			}
		}
		n.free = make([]int, 0, ports)
		for p := 1; p <= ports; p++ {
			n.free = append(n.free, p)
		}
		r.Shuffle(len(n.free), func(a, b int) { n.free[a], n.free[b] = n.free[b], n.free[a] })
		g.nodes = append(g.nodes, n)
		return n
	}

	var sws []*netNode
	for i := range nsw {
		sws = append(sws, newNode(true, i+1, 4+r.IntN(33)))
	}
	// The switches: a chain, or a random tree (a switch now and then left
	// out of it), then extra links: cycles and parallel links.
	for i := 1; i < nsw; i++ {
		switch {
		case chain:
			g.link(sws[i-1], sws[i])
		case r.IntN(12) == 0:
			// not cabled to the earlier switches
		default:
			g.link(sws[r.IntN(i)], sws[i])
		}
	}
	if nsw > 1 {
		for range r.IntN(nsw + 2) {
			a, b := r.IntN(nsw), r.IntN(nsw)
			if a != b {
				g.link(sws[a], sws[b])
			}
		}
		if r.IntN(2) == 0 {
			a := r.IntN(nsw - 1)
			for range 1 + r.IntN(3) {
				g.link(sws[a], sws[a+1])
			}
		}
	}
	// HCAs: 0-3 a switch, some with two ports (the second cabled to the
	// same switch, another one, or nothing).
	nca := 0
	var cas []*netNode
	for _, sw := range sws {
		for range r.IntN(4) {
			nca++
			ports := 1
			if r.IntN(4) == 0 {
				ports = 2
			}
			ca := newNode(false, nca, ports)
			ca.free = []int{1, 2}[:ports]
			cas = append(cas, ca)
			g.link(ca, sw)
			if ports == 2 {
				switch r.IntN(3) {
				case 0:
					g.link(ca, sw)
				case 1:
					g.link(ca, sws[r.IntN(nsw)])
				}
			}
		}
	}
	// HCAs cabled to each other, and nodes with no cables.
	for range r.IntN(3) {
		nca++
		a := newNode(false, nca, 1+r.IntN(2))
		a.free = []int{1, 2}[:a.ports]
		nca++
		b := newNode(false, nca, 1+r.IntN(2))
		b.free = []int{1, 2}[:b.ports]
		g.link(a, b)
		if a.ports == 2 && b.ports == 2 && r.IntN(2) == 0 {
			g.link(a, b)
		}
	}
	if r.IntN(3) == 0 {
		nca++
		newNode(false, nca, 1+r.IntN(2))
	}
	if r.IntN(5) == 0 {
		newNode(true, nsw+1, 4+r.IntN(33))
	}

	// Switch1 first (the default attach point is the first node), in a
	// random order otherwise.
	rest := g.nodes[1:]
	r.Shuffle(len(rest), func(a, b int) { rest[a], rest[b] = rest[b], rest[a] })
	order := append([]*netNode{g.nodes[0]}, rest...)
	// GUIDs, in file order: switches from 0x0002c90200000000 up, CAs from
	// 0x0002c90300000000 up, never twice (ibsim refuses a node GUID
	// twice; a CA takes NumPorts+1 GUIDs).
	if guidMode > 0 {
		next := map[bool]uint64{true: 0x0002c90200000000 + uint64(r.IntN(1<<12))<<4, false: 0x0002c90300000000 + uint64(r.IntN(1<<12))<<4}
		base := map[bool]uint64{}
		kw := map[bool]string{true: "switchguid", false: "caguid"}
		for i, n := range order {
			cur := next[n.sw]
			switch {
			case guidMode == 1 || i == 0 || base[n.sw] == 0:
				cur += uint64(r.IntN(64))
				n.guid = fmt.Sprintf("%s=%#x", kw[n.sw], cur)
				base[n.sw] = cur
			case r.IntN(3) == 0:
				cur += uint64(r.IntN(64))
				n.guid = fmt.Sprintf("%s+%#x", kw[n.sw], cur-base[n.sw])
			}
			step := uint64(1)
			if !n.sw {
				step = uint64(n.ports) + 1
			}
			next[n.sw] = cur + step
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# random net, seed %d\n\n", seed)
	if g.width != 2 {
		// A default for the nodes that follow.
		fmt.Fprintf(&b, "width=%d\n\n", g.width)
	}
	for _, n := range order {
		if n.guid != "" {
			b.WriteString(n.guid + "\n")
		}
		kind := "Hca"
		if n.sw {
			kind = "Switch"
		}
		fmt.Fprintf(&b, "%s\t%d %q", kind, n.ports, n.id)
		if n.desc != "" {
			b.WriteString("\t\t# " + n.desc)
		}
		b.WriteByte('\n')
		for p := 1; p <= n.ports; p++ {
			if l, ok := n.lines[p]; ok {
				fmt.Fprintf(&b, "[%d]\t%s\n", p, l)
			}
		}
		b.WriteByte('\n')
	}
	g.text = b.String()
	return g
}

// diffSeeds parses IBEMU_DIFF_SEEDS ("0-59" or "3,7,11"), or returns def.
func diffSeeds(t *testing.T, def []uint64) []uint64 {
	s := os.Getenv("IBEMU_DIFF_SEEDS")
	if s == "" {
		return def
	}
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		lo, hi, rng := strings.Cut(part, "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil {
			t.Fatalf("IBEMU_DIFF_SEEDS %q: %v", s, err)
		}
		b := a
		if rng {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil {
				t.Fatalf("IBEMU_DIFF_SEEDS %q: %v", s, err)
			}
		}
		for v := a; v <= b; v++ {
			out = append(out, v)
		}
	}
	return out
}

var (
	// diffAttached is libumad2sim's line naming the client it attached.
	diffAttached = regexp.MustCompile(`(?m)^ibwarn: \[\d+\] sim_connect: attached as client \d+ at node "[^"]*"\n`)
	// diffRate is a link rate in ibnetdiscover's output ("4xQDR") and
	// iblinkinfo's ("==( 4X          10.0 Gbps", after linkFix "S Gbps").
	diffRate     = regexp.MustCompile(`\b\d+x(SDR|DDR|QDR)\b|\(\s*\d+X\s+S Gbps`)
	diffNodeAttr = regexp.MustCompile(`(?m)^\s*(device_id|revision|vendor_id|partition_cap)\.+.*\n`)
)

// diffFix removes what differs between the two simulators by design or
// by an ibsim bug, so the rest must be equal:
//   - libumad2sim's attach line;
//   - ibnetdiscover's header comments (a date, the topology file);
//   - the vendor and device ids, revision and PartitionCap (ours are
//     Mellanox models, ibsim's 0 and 64 P_Keys), in ibnetdiscover's
//     vendid=/devid= lines and in NodeRecords;
//   - link rates, and in iblinkinfo the HOQ lifetime and "Could be" note
//     (ours name the speeds the device model supports; ibsim's ports all
//     support 1x-12x and SDR-QDR). ibsim retrains a link to the fastest
//     speed and widest width the port enables whenever OpenSM writes
//     PortInfo (an unchanged LinkSpeedEnabled and LinkWidthEnabled
//     included), ignoring what the other end enables; so a link whose
//     ends enable different rates comes up at whichever end OpenSM set
//     last. TestDifferentialRandomNets checks our rates against the
//     enables instead.
func diffFix(s string) string {
	s = diffAttached.ReplaceAllString(s, "")
	s = discoverFix(linkFix(s))
	s = diffRate.ReplaceAllString(s, "RATE")
	return diffNodeAttr.ReplaceAllString(s, "")
}

// TestDifferentialRandomNets brings random nets (randomNet) up on our
// server and on the real ibsim, each with a daemon OpenSM attached at the
// first switch, and requires ibnetdiscover, dump_lfts, iblinkinfo and
// saquery's NodeRecords to print the same on both (modulo diffFix). Every
// link of ours trains at the widest width and fastest speed both its ends
// enable.
//
// IBEMU_DIFF_SEEDS ("0-59", "3,17") runs other seeds than the fixed
// sample; with IBEMU_DIFF_NETDIR set the test only writes those seeds'
// net files there (randNNN.net), for running other tools on them.
func TestDifferentialRandomNets(t *testing.T) {
	seeds := diffSeeds(t, []uint64{9, 17, 25, 58})
	if dir := os.Getenv("IBEMU_DIFF_NETDIR"); dir != "" {
		for _, seed := range seeds {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("rand%03d.net", seed)), []byte(randomNet(seed)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	needInterop(t)
	for _, tool := range []string{"ibsim", "iblinkinfo", "dump_lfts"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := "differential: missing " + tool + " (make deps)"
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			g := genNet(seed)
			net := filepath.Join(t.TempDir(), "rand.net")
			if err := os.WriteFile(net, []byte(g.text), 0o644); err != nil {
				t.Fatal(err)
			}
			topo, err := topology.Load(net)
			if err != nil {
				t.Fatalf("our parser refuses the net:\n%v\n%s", err, g.text)
			}
			h := newInterop(t, topo)
			d := &diagPair{
				emu: &diagFabric{name: "ibemu", sock: h.sock, dir: h.dir, srv: h.srv},
				sim: startIbsim(t, net),
			}
			d.emu.startOpenSM(t)
			d.sim.startOpenSM(t)
			for _, f := range []*diagFabric{d.emu, d.sim} {
				if b, _ := os.ReadFile(f.osm); len(errLines(string(b))) > 0 {
					t.Errorf("OpenSM on %s logged errors:\n%s", f.name, strings.Join(errLines(string(b)), "\n"))
				}
			}

			for _, args := range [][]string{{"ibnetdiscover"}, {"dump_lfts"}, {"iblinkinfo"}, {"saquery"}} {
				// ibsim now and then drops a MAD on a loaded machine (the
				// tool then prints a timeout): a difference is only one
				// when it is there three times in a row.
				var a, diff string
				for try := 0; try < 3; try++ {
					var b string
					var aerr, berr error
					a, aerr = d.emu.run(t, 30*time.Second, nil, args[0], args[1:]...)
					b, berr = d.sim.run(t, 30*time.Second, nil, args[0], args[1:]...)
					switch {
					case aerr != nil || berr != nil:
						diff = fmt.Sprintf("ibemu %v, ibsim %v\nibemu:\n%s\nibsim:\n%s", aerr, berr, a, b)
					default:
						diff = cmp.Diff(diffFix(b), diffFix(a))
					}
					if diff == "" {
						break
					}
					t.Logf("%s, try %d: differs from ibsim", args[0], try+1)
				}
				if diff != "" {
					t.Errorf("%s differs from ibsim (-ibsim +ibemu):\n%s\nnet:\n%s", args[0], diff, g.text)
					continue
				}
				if args[0] == "ibnetdiscover" {
					// What both print is the subnet of the first switch.
					got, err := topology.Parse("ibnetdiscover", strings.NewReader(a))
					if err != nil {
						t.Fatalf("ibnetdiscover output does not load: %v\n%s", err, a)
					}
					if err := topology.Compare(topo.Reachable(topo.Nodes[0].Ports[0]), got); err != nil {
						t.Errorf("ibnetdiscover: not the first switch's subnet: %v", err)
					}
				}
			}

			// Our links train at the rate both ends enable.
			if err := h.srv.Fabric().Do(func() {
				for _, l := range g.links {
					for _, end := range []struct {
						id  string
						num int
					}{{l.a, l.pa}, {l.b, l.pb}} {
						p := h.srv.byID[end.id].en.Port(end.num)
						if w, sp := p.Width(), p.Speed(); w != l.width || sp != l.speed {
							t.Errorf("%q[%d]: trained %v %v, both ends enable up to %v %v", end.id, end.num, w, sp, l.width, l.speed)
						}
					}
				}
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
