//go:build linux

package attach

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
)

// The shape tests run real OpenSM and infiniband-diags on fabric shapes
// and OpenSM options the other interop tests leave out: a line of
// switches deep enough for 20-hop directed routes and 21-hop LID routes
// (ibsim's LID routing stops at 16 hops), a 2D mesh and a ring, two-port
// HCAs cabled to two switches of one subnet, LMC 2, partitions with
// limited members, QoS SL-to-VL and VL arbitration tables, one-second
// sweeps across link failures, and LIDs kept across a restart by the
// guid2lid cache.

// caPort is one cabled CA port with the LID the SM gave it.
type caPort struct {
	node string
	num  int
	guid wire.GUID
	lid  wire.LID
	lmc  uint8
}

// caPorts lists every cabled CA port of the fabric, in topology order.
func (h *interop) caPorts() []caPort {
	var out []caPort
	_ = h.srv.Fabric().Do(func() {
		for _, tn := range h.topo.Nodes {
			if tn.IsSwitch() {
				continue
			}
			n := h.srv.byID[tn.ID]
			for _, tp := range tn.Ports[1:] {
				if tp.Remote == nil {
					continue
				}
				pa := n.sma.Port(tp.Num)
				out = append(out, caPort{node: tn.ID, num: tp.Num, guid: tp.GUID, lid: pa.LID, lmc: pa.LMC})
			}
		}
	})
	return out
}

// hop is one step of a LID route as ibtracert prints it: the port the
// packet left by, and the GUID and port number it arrived at.
type hop struct {
	out  int
	guid wire.GUID
	in   int
}

func (x hop) String() string { return fmt.Sprintf("[%d]->%#x[%d]", x.out, uint64(x.guid), x.in) }

// walkLID follows the forwarding tables from port num of node from to
// dst and returns the hops, and whether the last one reached the port
// that owns dst (a CA port, or a switch's port 0).
func (h *interop) walkLID(from string, num int, dst wire.LID) (hops []hop, ok bool) {
	_ = h.srv.Fabric().Do(func() {
		p := h.srv.byID[from].en.Port(num)
		for range 64 {
			q := p.Peer()
			if q == nil {
				return
			}
			n := h.srv.byID[q.Node().Name()]
			guid := n.topo.NodeGUID
			if !n.topo.IsSwitch() {
				guid = n.topo.Ports[q.Num()].GUID
			}
			hops = append(hops, hop{out: p.Num(), guid: guid, in: q.Num()})
			if n.sw == nil {
				ok = n.sma.Port(q.Num()).OwnsLID(dst)
				return
			}
			if n.sma.Port(0).OwnsLID(dst) {
				ok = true
				return
			}
			p = n.en.Port(int(n.sw.Route(dst)))
			if p == nil || p.Num() == 0 {
				return
			}
		}
	})
	return hops, ok
}

var tracertStep = regexp.MustCompile(`(?m)^\[(\d+)\] -> \w+ port \{0x([0-9a-f]+)\}\[(\d+)\]`)

// tracert runs ibtracert from slid to dlid and returns its hops.
func (h *interop) tracert(env []string, slid, dlid wire.LID) []hop {
	h.t.Helper()
	out := h.mustRun(20*time.Second, env, "ibtracert", strconv.Itoa(int(slid)), strconv.Itoa(int(dlid)))
	var hops []hop
	for _, m := range tracertStep.FindAllStringSubmatch(out, -1) {
		o, _ := strconv.Atoi(m[1])
		g, _ := strconv.ParseUint(m[2], 16, 64)
		i, _ := strconv.Atoi(m[3])
		hops = append(hops, hop{out: o, guid: wire.GUID(g), in: i})
	}
	if len(hops) == 0 {
		h.t.Errorf("ibtracert %d %d printed no hops:\n%s", slid, dlid, out)
	}
	return hops
}

func hopsString(hs []hop) string {
	var b strings.Builder
	for _, x := range hs {
		b.WriteString(x.String())
		b.WriteByte(' ')
	}
	return b.String()
}

// errLines returns the lines of an OpenSM log that report an error.
func errLines(log string) []string {
	var errs []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, " ERR ") {
			errs = append(errs, l)
		}
	}
	return errs
}

// firstLastCA returns the first and last cabled CA ports in topology order.
func firstLastCA(ps []caPort) (caPort, caPort) { return ps[0], ps[len(ps)-1] }

// TestShapes: opensm -o brings up a line of 20 switches (attached at the
// HCA of one end: the HCA of the other end is 21 hops away), a 4x3 mesh,
// a ring of 6 and a fabric of two-port HCAs whose ports are cabled to
// two switches of one subnet (multi-rail), with no ERR in its log. Every
// cabled port is Active; every CA port has a LID and the forwarding
// tables carry every CA port to every other; ibnetdiscover prints the
// graph of the topology; ibtracert between the two CA ports farthest
// apart in the list prints the hops the forwarding tables give, and a
// 20-hop directed route reads the far end's NodeDescription.
func TestShapes(t *testing.T) {
	needInterop(t)
	mrail := func() (*topology.Topology, error) {
		var b strings.Builder
		for _, sw := range []string{"swA", "swB"} {
			other := map[string]string{"swA": "swB", "swB": "swA"}[sw]
			fmt.Fprintf(&b, "Switch 8 %q\n", sw)
			for i, hc := range []string{"h1", "h2", "h3"} {
				fmt.Fprintf(&b, "[%d] %q[%d]\n", i+1, hc, map[string]int{"swA": 1, "swB": 2}[sw])
			}
			fmt.Fprintf(&b, "[7] %q[7]\n[8] %q[8]\n\n", other, other)
		}
		for i, hc := range []string{"h1", "h2", "h3"} {
			fmt.Fprintf(&b, "Hca 2 %q\n[1] \"swA\"[%d]\n[2] \"swB\"[%d]\n\n", hc, i+1, i+1)
		}
		return topology.Parse("multirail", strings.NewReader(b.String()))
	}
	for _, tc := range []struct {
		name string
		gen  func() (*topology.Topology, error)
		// drHops is the length of a directed route from the attach
		// port to probe with smpquery -D (0: none).
		drHops int
	}{
		{name: "line20", gen: func() (*topology.Topology, error) { return topology.Line(20, 1) }, drHops: 20},
		{name: "mesh4x3", gen: func() (*topology.Topology, error) { return topology.Mesh(4, 3, 1) }},
		{name: "ring6", gen: func() (*topology.Topology, error) { return topology.Ring(6, 2) }},
		{name: "multirail", gen: mrail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := tc.gen()
			if err != nil {
				t.Fatal(err)
			}
			h := newInterop(t, in)
			// OpenSM and the diags run at the first CA's port 1.
			var host string
			for _, n := range in.Nodes {
				if !n.IsSwitch() {
					host = n.ID
					break
				}
			}
			env := []string{"SIM_HOST=" + host}
			log := h.opensmOnce(40*time.Second, env)
			if errs := errLines(log); len(errs) > 0 {
				t.Errorf("opensm logged errors:\n%s", strings.Join(errs, "\n"))
			}
			if ps := h.checkAllActive(); len(ps) != 2*len(in.Links()) {
				t.Errorf("%d linked ports, want %d", len(ps), 2*len(in.Links()))
			}

			cas := h.caPorts()
			lids := map[wire.LID]string{}
			for _, p := range cas {
				id := fmt.Sprintf("%s[%d]", p.node, p.num)
				if p.lid == 0 {
					t.Errorf("%s has no LID", id)
				} else if o, dup := lids[p.lid]; dup {
					t.Errorf("%s and %s share LID %d", o, id, p.lid)
				}
				lids[p.lid] = id
			}
			bad := 0
			for _, a := range cas {
				for _, b := range cas {
					if a == b {
						continue
					}
					if hops, ok := h.walkLID(a.node, a.num, b.lid); !ok {
						if bad++; bad <= 5 {
							t.Errorf("%s[%d] -> %s[%d] (LID %d): the forwarding tables lead %s", a.node, a.num, b.node, b.num, b.lid, hopsString(hops))
						}
					}
				}
			}
			if bad > 5 {
				t.Errorf("%d CA port pairs unreachable in all", bad)
			}

			out := h.mustRun(30*time.Second, env, "ibnetdiscover")
			got, err := topology.Parse("ibnetdiscover", strings.NewReader(out))
			if err != nil {
				t.Fatalf("ibnetdiscover output does not load: %v\n%s", err, out)
			}
			if err := topology.Compare(in, got); err != nil {
				t.Errorf("ibnetdiscover graph differs from the input: %v", err)
			}

			first, last := firstLastCA(cas)
			for _, pair := range [][2]caPort{{first, last}, {last, first}} {
				want, _ := h.walkLID(pair[0].node, pair[0].num, pair[1].lid)
				got := h.tracert(env, pair[0].lid, pair[1].lid)
				if hopsString(got) != hopsString(want) {
					t.Errorf("ibtracert %d -> %d: %s, the forwarding tables say %s", pair[0].lid, pair[1].lid, hopsString(got), hopsString(want))
				}
			}

			if tc.drHops > 0 {
				// 0,1 leaves the HCA; each further 3 goes one switch on.
				path := "0,1" + strings.Repeat(",3", tc.drHops-1)
				out := h.mustRun(10*time.Second, env, "smpquery", "-D", "nodedesc", path)
				if want := fmt.Sprintf("switch%d", tc.drHops); !strings.Contains(out, "."+want+"\n") {
					t.Errorf("smpquery -D nodedesc %s: want %s\n%s", path, want, out)
				}
			}
		})
	}
}

// TestShapesLMC: with --lmc 2 OpenSM gives every CA port four LIDs; the
// forwarding tables carry each of them to its port, over both of the two
// parallel inter-switch links; ibtracert follows the tables for each LID
// of the range; SA PathRecords exist for a non-base LID; and sminfo reads
// the priority the SM was started with (--priority).
func TestShapesLMC(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	env := []string{"SIM_HOST=Hca1"}
	_, logf := h.startOpenSM(env, "--lmc", "2", "--priority", "7")
	h.waitAllActive(10 * time.Second)
	cas := h.caPorts()
	var src, dst caPort
	for _, p := range cas {
		if p.lmc != 2 || p.lid%4 != 0 {
			t.Errorf("%s[%d]: LID %d LMC %d, want an LMC 2 range", p.node, p.num, p.lid, p.lmc)
		}
		switch p.node {
		case "Hca1":
			src = p
		case "Hca2":
			dst = p
		}
	}
	// Switch1 reaches Switch2's CAs through port 3 or 5 by LID.
	viaLinks := map[int]bool{}
	for off := range wire.LID(4) {
		l := dst.lid + off
		want, ok := h.walkLID(src.node, src.num, l)
		if !ok || len(want) != 3 {
			t.Fatalf("LID %d of Hca2: the forwarding tables lead %s", l, hopsString(want))
		}
		viaLinks[want[1].out] = true
		if got := h.tracert(env, src.lid, l); hopsString(got) != hopsString(want) {
			t.Errorf("ibtracert %d -> %d: %s, the forwarding tables say %s", src.lid, l, hopsString(got), hopsString(want))
		}
	}
	if len(viaLinks) != 2 {
		t.Errorf("the four LIDs of Hca2 leave Switch1 by ports %v, want both inter-switch links", viaLinks)
	}
	out := h.mustRun(10*time.Second, env, "saquery", "PR", "--src-to-dst", fmt.Sprintf("%d:%d", src.lid+1, dst.lid+2))
	if !strings.Contains(out, fmt.Sprintf("dlid....................%d\n", dst.lid+2)) {
		t.Errorf("saquery PR %d:%d:\n%s", src.lid+1, dst.lid+2, out)
	}
	out = h.mustRun(10*time.Second, env, "sminfo")
	if !strings.Contains(out, "priority 7") || !strings.Contains(out, "SMINFO_MASTER") {
		t.Errorf("sminfo: %s", out)
	}
	if b, _ := os.ReadFile(logf); len(errLines(string(b))) > 0 {
		t.Errorf("opensm logged errors:\n%s", strings.Join(errLines(string(b)), "\n"))
	}
}

// TestShapesPartitions: OpenSM with a partitions file makes every port a
// limited member of the default partition except its own (full), and
// Hca2 and Hca4 full members of 0x8001. The P_Key tables read back as
// configured; the SA gives Hca2 a path to Hca4 in 0x8001 and none to
// Hca3 (both limited); a GMP from a limited member to another limited
// member is dropped by the receiving port (perfquery times out, the
// port counts a P_Key violation and reports it to the SM with trap 257),
// while the full member's PMA queries reach every port, and SMPs are
// not subject to partitions at all.
func TestShapesPartitions(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	conf := filepath.Join(h.dir, "partitions.conf")
	if err := os.WriteFile(conf, []byte("Default=0x7fff, ipoib : ALL=limited, SELF=full ;\nP1=0x8001 : 0x100004=full, 0x10000a=full ;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, logf := h.startOpenSMConf([]string{"SIM_HOST=Hca1"}, "partition_config_file "+conf+"\n")
	_ = d
	h.waitLog(logf, "SUBNET UP", 1, 30*time.Second)
	h.waitAllActive(10 * time.Second)
	lid := map[string]wire.LID{}
	for _, id := range []string{"Hca1", "Hca2", "Hca3", "Hca4"} {
		lid[id] = h.lidOf(id)
	}
	s := func(l wire.LID) string { return strconv.Itoa(int(l)) }
	want := map[string]string{"Hca1": "0xffff", "Hca2": "0x7fff 0x8001", "Hca3": "0x7fff", "Hca4": "0x7fff 0x8001"}
	for id, w := range want {
		out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "smpquery", "pkeys", s(lid[id]), "1")
		if f := strings.Fields(strings.SplitN(out, "\n", 2)[0]); len(f) < 3 || !strings.HasPrefix(strings.Join(f[1:], " "), w+" 0x0000") {
			t.Errorf("smpquery pkeys %s: first line %q, want %s then 0x0000", id, f, w)
		}
	}
	hca2 := []string{"SIM_HOST=Hca2"}
	out := h.mustRun(10*time.Second, hca2, "saquery", "PR", "--src-to-dst", s(lid["Hca2"])+":"+s(lid["Hca4"]))
	if !strings.Contains(out, "pkey....................0x8001") {
		t.Errorf("saquery PR Hca2 -> Hca4: no path in partition 0x8001:\n%s", out)
	}
	out = h.mustRun(10*time.Second, hca2, "saquery", "PR", "--src-to-dst", s(lid["Hca2"])+":"+s(lid["Hca3"]))
	if strings.Contains(out, "PathRecord") {
		t.Errorf("saquery PR Hca2 -> Hca3: a path between two limited members:\n%s", out)
	}

	// The full member's PMA queries reach every port.
	for _, id := range []string{"Hca2", "Hca3", "Hca4"} {
		h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "perfquery", s(lid[id]), "1")
	}
	violations := func(id string) int {
		f := fields(h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "smpquery", "portinfo", s(lid[id]), "1"))
		v, err := strconv.Atoi(f["PkeyViolations"])
		if err != nil {
			t.Fatalf("smpquery portinfo %s: PkeyViolations %q", id, f["PkeyViolations"])
		}
		return v
	}
	before := violations("Hca3")
	b, _ := os.ReadFile(logf)
	traps := strings.Count(string(b), "num:257")
	// Limited to limited: the request is dropped at Hca3.
	if out, err := h.run(10*time.Second, hca2, "perfquery", "-t", "300", s(lid["Hca3"]), "1"); err == nil {
		t.Errorf("perfquery from limited Hca2 to limited Hca3 answered:\n%s", out)
	}
	if v := violations("Hca3"); v <= before {
		t.Errorf("Hca3 PkeyViolations %d -> %d after a limited-to-limited GMP", before, v)
	}
	h.waitLog(logf, "num:257", traps+1, 10*time.Second)
	// SMPs ignore partitions.
	h.mustRun(10*time.Second, hca2, "smpquery", "nodeinfo", s(lid["Hca3"]))
	if b, _ := os.ReadFile(logf); len(errLines(string(b))) > 0 {
		t.Errorf("opensm logged errors:\n%s", strings.Join(errLines(string(b)), "\n"))
	}
}

// TestShapesQoS: opensm -Q with QoS options programs the SL-to-VL tables
// and VL arbitration tables of CAs and switch ports, and smpquery sl2vl
// and vlarb read them back.
func TestShapesQoS(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	env := []string{"SIM_HOST=Hca1"}
	conf := "qos TRUE\nqos_max_vls 4\nqos_high_limit 0\nqos_vlarb_high 0:4,1:4\nqos_vlarb_low 0:64,1:32,2:16,3:8\nqos_sl2vl 0,1,2,3,3,2,1,0,0,1,2,3,3,2,1,0\n"
	d, logf := h.startOpenSMConf(env, conf, "-Q")
	_ = d
	log := h.waitLog(logf, "SUBNET UP", 1, 30*time.Second)
	if errs := errLines(log); len(errs) > 0 {
		t.Errorf("opensm -Q logged errors:\n%s", strings.Join(errs, "\n"))
	}
	h.waitAllActive(10 * time.Second)
	const row = "| 0| 1| 2| 3| 3| 2| 1| 0| 0| 1| 2| 3| 3| 2| 1| 0|"
	hca3, sw1 := strconv.Itoa(int(h.lidOf("Hca3"))), strconv.Itoa(int(h.lidOf("Switch1")))
	if out := h.mustRun(10*time.Second, env, "smpquery", "sl2vl", hca3, "1"); !strings.Contains(out, row) {
		t.Errorf("smpquery sl2vl Hca3: want %s\n%s", row, out)
	}
	// Out port 3 of Switch1 (to Switch2), every input port.
	out := h.mustRun(10*time.Second, env, "smpquery", "sl2vl", sw1, "3")
	if n := strings.Count(out, row); n != 9 {
		t.Errorf("smpquery sl2vl Switch1 3: %d rows of the QoS mapping, want 9 (inputs 0..8)\n%s", n, out)
	}
	out = h.mustRun(10*time.Second, env, "smpquery", "vlarb", hca3, "1")
	for _, want := range []string{"WEIGHT: |0x40|0x20|0x10|0x8 |", "VL    : |0x0 |0x1 |0x2 |0x3 |"} {
		if !strings.Contains(out, want) {
			t.Errorf("smpquery vlarb Hca3: no %q\n%s", want, out)
		}
	}
}

// TestShapesSweepRelink: OpenSM sweeping every second (-s 1) sees a link
// between the switches and an HCA link go and come back twice, re-sweeps
// each time and leaves the fabric whole, with no ERR in its log.
func TestShapesSweepRelink(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	_, logf := h.startOpenSM([]string{"SIM_HOST=Hca1"}, "-s", "1")
	h.waitAllActive(10 * time.Second)
	var out bytes.Buffer
	for round := range 2 {
		for _, port := range []string{`"Switch2"[3]`, `"Switch2"[2]`} {
			b, _ := os.ReadFile(logf)
			ups := strings.Count(string(b), "SUBNET UP")
			if err := h.srv.Exec("Unlink "+port, &out); err != nil {
				t.Fatal(err)
			}
			h.waitLog(logf, "SUBNET UP", ups+1, 10*time.Second)
			if ps := h.linkedPorts(); len(ps) != 10 {
				t.Errorf("round %d: %d linked ports after Unlink %s, want 10", round, len(ps), port)
			}
			if err := h.srv.Exec("ReLink "+port, &out); err != nil {
				t.Fatal(err)
			}
			h.waitAllActive(10 * time.Second)
			if ps := h.linkedPorts(); len(ps) != 12 {
				t.Errorf("round %d: %d linked ports after ReLink %s, want 12", round, len(ps), port)
			}
		}
	}
	// Hca4 (behind Switch2[2]) is back in the SA's view.
	h.mustRun(10*time.Second, []string{"SIM_HOST=Hca1"}, "saquery", "NR", strconv.Itoa(int(h.lidOf("Hca4"))))
	if b, _ := os.ReadFile(logf); len(errLines(string(b))) > 0 {
		t.Errorf("opensm logged errors:\n%s", strings.Join(errLines(string(b)), "\n"))
	}
}

// TestShapesGuid2LID: OpenSM run at Hca4 writes its guid2lid cache; on a
// fresh fabric (all LIDs lost, as after a power cycle) OpenSM run at Hca1
// with --honor_guid2lid and that cache gives every port the LID it had,
// where without the cache it numbers them in its own discovery order.
func TestShapesGuid2LID(t *testing.T) {
	topo := loadExample(t, "net.2sw2path4hca")
	cache := t.TempDir()
	lidsOf := func(h *interop) map[string]wire.LID {
		m := map[string]wire.LID{}
		for _, id := range []string{"Hca1", "Hca2", "Hca3", "Hca4", "Switch1", "Switch2"} {
			m[id] = h.lidOf(id)
		}
		return m
	}
	h1 := newInterop(t, topo)
	h1.opensmOnce(30*time.Second, []string{"SIM_HOST=Hca4", "OSM_CACHE_DIR=" + cache})
	first := lidsOf(h1)
	if _, err := os.Stat(filepath.Join(cache, "guid2lid")); err != nil {
		t.Fatalf("opensm wrote no guid2lid: %v", err)
	}

	h2 := newInterop(t, topo)
	h2.opensmOnce(30*time.Second, []string{"SIM_HOST=Hca1"})
	if fresh := lidsOf(h2); fmt.Sprint(fresh) == fmt.Sprint(first) {
		t.Fatalf("OpenSM at Hca1 without the cache gives the LIDs it gave at Hca4 (%v): the test proves nothing", fresh)
	}

	h3 := newInterop(t, topo)
	h3.opensmOnce(30*time.Second, []string{"SIM_HOST=Hca1", "OSM_CACHE_DIR=" + cache}, "--honor_guid2lid")
	if again := lidsOf(h3); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("LIDs after the restart with --honor_guid2lid: %v, want %v", again, first)
	}
	h3.checkAllActive()
}
