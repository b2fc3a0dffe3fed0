package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/verbs"
)

// perfObserved runs ibemu perf and calls check with the environment while
// its fabric still runs.
func perfObserved(t *testing.T, check func(*perfEnv), args ...string) string {
	t.Helper()
	seen := false
	perfObserve = func(e *perfEnv) { seen = true; check(e) }
	defer func() { perfObserve = nil }()
	out, errOut, code := runCmd(t, append([]string{"perf"}, args...)...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s\n%s", args, code, errOut, out)
	}
	if !seen {
		t.Fatalf("%v: no run observed", args)
	}
	return out
}

func rowFloat(t *testing.T, row []string, i int) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(row[i], 64)
	if err != nil {
		t.Fatalf("row %q field %d: %v", row, i, err)
	}
	return v
}

const (
	bwHead  = " #bytes     #iterations    BW peak[MB/sec]"
	latHead = " #bytes #iterations    t_min[usec]"
	durHead = " #bytes        #iterations       t_avg[usec]"
)

// TestPerfDuration checks -D: the run stops at the duration of virtual
// time and reports what completed in the sample window between the
// margins, at the rate the link carries.
func TestPerfDuration(t *testing.T) {
	iters := map[string]float64{}
	for _, d := range []string{"0.002", "0.004"} {
		out, _, code := runCmd(t, "perf", "write_bw", "-D", d)
		if code != 0 {
			t.Fatalf("-D %s: exit %d", d, code)
		}
		if !strings.Contains(out, " WARNING: BW peak won't be measured in this run.") {
			t.Errorf("-D %s: no peak warning:\n%s", d, out)
		}
		row := perfRow(t, out, bwHead)
		n, peak, avg := rowFloat(t, row, 1), rowFloat(t, row, 2), rowFloat(t, row, 3)
		if peak != 0 {
			t.Errorf("-D %s: peak %v, want 0.00 (not measured)", d, peak)
		}
		// The sample window is duration - 2*margin = duration/2.
		secs, _ := strconv.ParseFloat(d, 64)
		want := avg * (1 << 20) * secs / 2 / 65536
		if math.Abs(n-want) > 1 {
			t.Errorf("-D %s: %v iterations, but %v MB/s over %v s make %v", d, n, avg, secs/2, want)
		}
		if avg < 3500 || avg > 4000 {
			t.Errorf("-D %s: %v MB/s on 4x QDR", d, avg)
		}
		iters[d] = n
	}
	if r := iters["0.004"] / iters["0.002"]; r < 1.9 || r > 2.1 {
		t.Errorf("twice the duration ran %v times the iterations", r)
	}
	// Latency: iterations x average x 2 (half round trips) fill the window.
	out, _, code := runCmd(t, "perf", "send_lat", "-D", "0.002", "-s", "64")
	if code != 0 {
		t.Fatal(code)
	}
	row := perfRow(t, out, durHead)
	n, lat, tps := rowFloat(t, row, 1), rowFloat(t, row, 2), rowFloat(t, row, 3)
	if n < 100 || math.Abs(n*lat*2-1000)/1000 > 0.03 || math.Abs(tps*0.001-n) > 1 {
		t.Errorf("send_lat -D: %v iterations of %v usec at %v/s in a 1 ms window:\n%s", n, lat, tps, out)
	}
	out2, _, _ := runCmd(t, "perf", "send_lat", "-D", "0.002", "-s", "64")
	if r2 := perfRow(t, out2, durHead); strings.Join(r2, " ") != strings.Join(row, " ") {
		t.Errorf("duration runs differ under the virtual clock: %q vs %q", row, r2)
	}
	out, _, code = runCmd(t, "perf", "read_lat", "-D", "0.002", "--output=latency")
	if v, err := strconv.ParseFloat(strings.TrimSpace(out), 64); code != 0 || err != nil || v <= 0 || v > 5 {
		t.Errorf("read_lat -D --output=latency: %q", out)
	}
}

// TestPerfBidirectional checks -b: both sides send, and the report sums
// both directions.
func TestPerfBidirectional(t *testing.T) {
	one := perfRow(t, perfObserved(t, func(e *perfEnv) {
		if n := e.totals().serverWRs; n != 0 {
			t.Errorf("unidirectional: the server posted %d sends", n)
		}
	}, "write_bw", "-n", "200"), bwHead)
	out := perfObserved(t, func(e *perfEnv) {
		if n := e.totals().serverWRs; n != 200 {
			t.Errorf("-b: the server posted %d writes, want 200", n)
		}
	}, "write_bw", "-n", "200", "-b")
	if !strings.Contains(out, "RDMA_Write Bidirectional BW Test") {
		t.Errorf("-b title:\n%s", out)
	}
	two := perfRow(t, out, bwHead)
	if r := rowFloat(t, two, 3) / rowFloat(t, one, 3); r < 1.8 || r > 2.05 {
		t.Errorf("-b average %s vs %s one way: ratio %v, want about 2", two[3], one[3], r)
	}
	// SEND both ways: each side receives the other's messages.
	out = perfObserved(t, func(e *perfEnv) {
		if n := e.totals().clientRecv; n != 300 {
			t.Errorf("send_bw -b: the client received %d messages, want 300", n)
		}
		if n := e.totals().serverWRs; n != 300 {
			t.Errorf("send_bw -b: the server sent %d messages, want 300", n)
		}
	}, "send_bw", "-n", "300", "-s", "4096", "-b")
	if !strings.Contains(out, " RX depth        : 300") {
		t.Errorf("send_bw -b header has no RX depth:\n%s", out)
	}
	if r := rowFloat(t, perfRow(t, out, bwHead), 4); r < 1.5 {
		t.Errorf("send_bw -b message rate %v Mpps: not both directions", r)
	}
}

// TestPerfInline checks -I and perftest's inline defaults: messages up to
// the inline size are posted with IBV_SEND_INLINE, larger ones are not,
// and READ carries none.
func TestPerfInline(t *testing.T) {
	for _, c := range []struct {
		args   []string
		inline bool
		header string
	}{
		{[]string{"send_lat", "-n", "50"}, true, " Max inline data : 236[B]"},
		{[]string{"send_lat", "-n", "50", "-c", "UD"}, true, " Max inline data : 188[B]"},
		{[]string{"write_lat", "-n", "50", "-s", "220"}, true, " Max inline data : 220[B]"},
		{[]string{"write_lat", "-n", "50", "-s", "221"}, false, " Max inline data : 220[B]"},
		{[]string{"send_lat", "-n", "50", "-I", "0"}, false, " Max inline data : 0[B]"},
		{[]string{"send_bw", "-n", "100", "-s", "64"}, false, " Max inline data : 0[B]"},
		{[]string{"send_bw", "-n", "100", "-s", "64", "-I", "64"}, true, " Max inline data : 64[B]"},
		{[]string{"write_bw", "-n", "100", "-s", "512", "-I", "512"}, true, " Max inline data : 512[B]"},
		{[]string{"read_lat", "-n", "50"}, false, " Outstand reads  : 16"},
	} {
		out := perfObserved(t, func(e *perfEnv) {
			sent, inl := e.totals().sendWRs, e.totals().inlineWRs
			if sent == 0 || c.inline && inl != sent || !c.inline && inl != 0 {
				t.Errorf("%v: %d of %d work requests inline", c.args, inl, sent)
			}
			a, err := e.client.qps[0].Query()
			if err != nil {
				t.Fatal(err)
			}
			if want := uint32(e.c.inlineSize); a.Cap.MaxInlineData < want {
				t.Errorf("%v: QP max_inline_data %d, want %d", c.args, a.Cap.MaxInlineData, want)
			}
		}, c.args...)
		if !strings.Contains(out, c.header) {
			t.Errorf("%v: no %q in:\n%s", c.args, c.header, out)
		}
	}
}

// TestPerfEvents checks -e: the sides sleep on the completion channel
// (events are received) and the results stay deterministic.
func TestPerfEvents(t *testing.T) {
	for _, args := range [][]string{
		{"send_bw", "-n", "300", "-s", "4096"},
		{"send_lat", "-n", "100"},
		{"read_lat", "-n", "100"},
		{"atomic_bw", "-n", "300"},
	} {
		perfObserved(t, func(e *perfEnv) {
			if n := e.totals().cqEvents; n != 0 {
				t.Errorf("%v: %d completion events without -e", args, n)
			}
		}, args...)
		var rows [2]string
		for i := range rows {
			out := perfObserved(t, func(e *perfEnv) {
				if n := e.totals().cqEvents; n == 0 {
					t.Errorf("%v -e: no completion event received", args)
				}
			}, append(args, "-e")...)
			if !strings.Contains(out, " Test with events. Using mlx4_0_comp0") {
				t.Errorf("%v -e: header:\n%s", args, out)
			}
			head := bwHead
			if strings.HasSuffix(args[0], "_lat") {
				head = latHead
			}
			rows[i] = strings.Join(perfRow(t, out, head), " ")
		}
		if rows[0] != rows[1] {
			t.Errorf("%v -e: two runs differ: %q vs %q", args, rows[0], rows[1])
		}
	}
	// Latency with events: every wait sleeps, one event per completion
	// at least on the client's side of each read.
	perfObserved(t, func(e *perfEnv) {
		if n := e.totals().cqEvents; n < 100 {
			t.Errorf("read_lat -e: %d events for 100 reads", n)
		}
	}, "read_lat", "-n", "100", "-e")
}

// TestPerfAtomics checks -A and atomic_lat: the operation the responder
// applies to the target.
func TestPerfAtomics(t *testing.T) {
	target := func(e *perfEnv) [2]uint64 {
		b := e.server.bufs[0][:8]
		return [2]uint64{binary.BigEndian.Uint64(b), binary.LittleEndian.Uint64(b)}
	}
	for _, c := range []struct {
		args  []string
		title string
		want  uint64
	}{
		{[]string{"atomic_bw", "-n", "300"}, "Atomic FETCH_AND_ADD BW Test", 300},
		{[]string{"atomic_lat", "-n", "100"}, "Atomic FETCH_AND_ADD Latency Test", 100},
		{[]string{"atomic_bw", "-n", "300", "-A", "CMP_AND_SWAP"}, "Atomic CMP_AND_SWAP BW Test", 0},
		{[]string{"atomic_lat", "-n", "100", "-A", "CMP_AND_SWAP"}, "Atomic CMP_AND_SWAP Latency Test", 0},
	} {
		out := perfObserved(t, func(e *perfEnv) {
			if v := target(e); v[0] != c.want && v[1] != c.want {
				t.Errorf("%v: the target holds %#x, want %d", c.args, v, c.want)
			}
		}, c.args...)
		if !strings.Contains(out, c.title) {
			t.Errorf("%v: no title %q:\n%s", c.args, c.title, out)
		}
	}
	out, _, _ := runCmd(t, "perf", "atomic_lat", "-n", "100")
	if row := perfRow(t, out, latHead); row[0] != "8" || rowFloat(t, row, 2) <= 0 {
		t.Errorf("atomic_lat row %q", row)
	}
}

// TestPerfOutstandingReads checks -o: the QPs' max_rd_atomic and the
// READ rate it allows.
func TestPerfOutstandingReads(t *testing.T) {
	rate := map[string]float64{}
	for _, o := range []string{"1", "16", "99"} {
		out := perfObserved(t, func(e *perfEnv) {
			a, err := e.client.qps[0].Query()
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]uint8{"1": 1, "16": 16, "99": 16}[o]
			if a.MaxRdAtomic != want || a.MaxDestRdAtomic != want {
				t.Errorf("-o %s: max_rd_atomic %d, max_dest_rd_atomic %d, want %d", o, a.MaxRdAtomic, a.MaxDestRdAtomic, want)
			}
		}, "read_bw", "-s", "64", "-n", "300", "-o", o)
		rate[o] = rowFloat(t, perfRow(t, out, bwHead), 4)
		if o == "99" && !strings.Contains(out, " Number of outstanding reads is above max = 16") {
			t.Errorf("-o 99: no warning:\n%s", out)
		}
		if !strings.Contains(out, " OUT 0x") {
			t.Errorf("-o %s: the address lines show no OUT:\n%s", o, out)
		}
	}
	if rate["1"]*4 > rate["16"] {
		t.Errorf("one outstanding read runs %v Mpps, sixteen %v", rate["1"], rate["16"])
	}
}

// TestPerfOneProcessor checks that a --wall send_bw on one processor
// (GOMAXPROCS 1) sends every message and keeps the receiver fed, polling or (-e) sleeping on its completion
// channel: the client starts once the server side waits for its
// completions, and the doorbells hand it the processor (see hca/verbs),
// so no RNR NAK comes back. Before, the server's goroutine ran only when
// the scheduler preempted the client, and an RNR NAK came every rx depth
// (512) messages; and with -e the server lost the completions it had
// polled when the client stopped, and waited for them until it failed.
func TestPerfOneProcessor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const n = 5000
	for _, events := range []bool{false, true} {
		args := []string{"send_bw", "--wall", "-s", "8", "-n", strconv.Itoa(n)}
		if events {
			args = append(args, "-e")
		}
		perfObserved(t, func(e *perfEnv) {
			tot := e.totals()
			if tot.sendWRs != n {
				t.Errorf("%v: %d send WRs, want %d", args, tot.sendWRs, n)
			}
			if rnr := e.client.ctx.Stats().RNRNAKs.Load(); rnr != 0 {
				t.Errorf("%v: %d RNR NAKs: the server side did not keep its %d receives posted", args, rnr, e.c.rxDepth)
			}
			if events && tot.cqEvents == 0 {
				t.Errorf("%v: no completion events", args)
			}
		}, args...)
	}
}

// TestPerfPostListAndRxDepth checks -l (lists of WRs per post, CQ
// moderation following) and -r (receives posted: too few make RNR NAKs).
func TestPerfPostListAndRxDepth(t *testing.T) {
	out := perfObserved(t, func(e *perfEnv) {
		if n, calls := e.totals().maxList, e.totals().postCalls; n != 10 || calls != 30 {
			t.Errorf("-l 10: longest list %d, %d posts, want 10 and 30", n, calls)
		}
	}, "send_bw", "-n", "300", "-s", "4096", "-l", "10")
	for _, s := range []string{"Send Post List BW Test", " Post List       : 10", " CQ Moderation   : 10", "Post List requested - CQ moderation will be the size of the post list"} {
		if !strings.Contains(out, s) {
			t.Errorf("-l 10: no %q in:\n%s", s, out)
		}
	}
	// The receive queue is as deep as -r (perftest's default 512, cut
	// to the iterations): the engine refuses to post more.
	for r, want := range map[string]uint32{"": 300, "2": 2, "64": 64} {
		args := []string{"send_bw", "-n", "300", "-s", "1024"}
		if r != "" {
			args = append(args, "-r", r)
		}
		perfObserved(t, func(e *perfEnv) {
			a, err := e.server.qps[0].Query()
			if err != nil {
				t.Fatal(err)
			}
			if a.Cap.MaxRecvWR != want {
				t.Errorf("-r %q: max_recv_wr %d, want %d", r, a.Cap.MaxRecvWR, want)
			}
			if e.c.rxDepth != int(want) {
				t.Errorf("-r %q: rx depth %d", r, e.c.rxDepth)
			}
		}, args...)
	}
}

// TestPerfAddressOptions checks -d, -i, -x, -S and -u: the device and
// port are checked, and the QPs' address vector and timeout are what the
// flags say, on the wire too (GRH and SL in every data packet).
func TestPerfAddressOptions(t *testing.T) {
	capFile := filepath.Join(t.TempDir(), "x.pcap")
	out := perfObserved(t, func(e *perfEnv) {
		for _, s := range []*perfSide{e.client, e.server} {
			a, err := s.qps[0].Query()
			if err != nil {
				t.Fatal(err)
			}
			av := a.AHAttr
			if !av.IsGlobal || av.GRH.SGIDIndex != 0 || av.GRH.DGID != s.peer.gid || av.SL != 3 || a.Timeout != 20 {
				t.Errorf("qp attributes: av %+v timeout %d", av, a.Timeout)
			}
		}
	}, "write_bw", "-n", "20", "-s", "8192", "-d", "mlx4_0", "-i", "1", "-x", "0", "-S", "3", "-u", "20", "--tclass=46", "--pkey_index=0", "--capture", capFile)
	if !strings.Contains(out, " GID index       : 0") || !strings.Contains(out, " GID: 254:128:") {
		t.Errorf("-x 0 header:\n%s", out)
	}
	b, err := os.ReadFile(capFile)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := capture.ReadAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	data := 0
	for _, r := range recs {
		l := wire.LRH(r.Frame)
		if !l.IsValid() || l.LNH() == 0 || l.LNH() == 1 || l.VL() == 15 {
			continue // raw or management packets
		}
		data++
		if l.LNH() != 3 || l.SL() != 3 {
			t.Fatalf("data packet with LNH %d SL %d, want a GRH and SL 3", l.LNH(), l.SL())
		}
		if tc := wire.GRH(r.Frame[wire.LRHSize:]).TClass(); tc != 46 {
			t.Fatalf("data packet with traffic class %d, want 46 (--tclass)", tc)
		}
	}
	if data < 40 {
		t.Errorf("%d data packets captured", data)
	}
	// --pkey_index=1 names an entry the SM left empty (P_Key 0x0000):
	// the peer drops every packet, and RC retries until it gives up,
	// as on hardware.
	if _, errOut, code := runCmd(t, "perf", "write_bw", "-n", "20", "-u", "8", "--pkey_index=1"); code != 1 || !strings.Contains(errOut, "retry counter exceeded") {
		t.Errorf("--pkey_index=1 of an empty entry: exit %d, %s", code, errOut)
	}
	// Without the flags: no GRH, SL 0, timeout 14.
	perfObserved(t, func(e *perfEnv) {
		a, err := e.client.qps[0].Query()
		if err != nil {
			t.Fatal(err)
		}
		if a.AHAttr.IsGlobal || a.AHAttr.SL != 0 || a.Timeout != perfDefQPTimeout {
			t.Errorf("default qp attributes: av %+v timeout %d", a.AHAttr, a.Timeout)
		}
	}, "send_lat", "-n", "20", "-F")
}

// TestPerfReportOptions checks --output, -H and -U.
func TestPerfReportOptions(t *testing.T) {
	for _, c := range []struct {
		args []string
		lo   float64
		hi   float64
	}{
		{[]string{"write_bw", "-n", "300", "--output=bandwidth"}, 3500, 4000},
		{[]string{"send_bw", "-n", "300", "-s", "64", "--output=message_rate"}, 1, 100},
		{[]string{"send_lat", "-n", "100", "--output=latency"}, 0.1, 5},
	} {
		out, errOut, code := runCmd(t, append([]string{"perf"}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: %s", c.args, errOut)
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(out, "\n"), 64)
		if err != nil || v < c.lo || v > c.hi || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: output %q, want one number in %v..%v", c.args, out, c.lo, c.hi)
		}
	}
	out, _, code := runCmd(t, "perf", "send_lat", "-n", "20", "-H")
	if code != 0 {
		t.Fatal(code)
	}
	var vals []float64
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Split(l, ", "); len(f) == 2 && f[0] != "#" {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("-H line %q", l)
			}
			vals = append(vals, v)
		}
	}
	if len(vals) != 20 || strings.Count(out, latHead) != 2 || strings.Count(out, "#, usec") != 1 {
		t.Fatalf("-H: %d samples:\n%s", len(vals), out)
	}
	for i := 1; i < len(vals); i++ {
		if vals[i] < vals[i-1] {
			t.Fatalf("-H samples not sorted: %v", vals)
		}
	}
	lines := strings.Split(out, "\n")
	row := strings.Fields(lines[len(lines)-3])
	if len(row) != 9 {
		t.Fatalf("-H: last row %q", row)
	}
	if rowFloat(t, row, 2) != math.Round(vals[0]*100)/100 && math.Abs(rowFloat(t, row, 2)-vals[0]) > 0.006 {
		t.Errorf("-H: t_min %s, smallest sample %v", row[2], vals[0])
	}
	out, _, _ = runCmd(t, "perf", "send_lat", "-n", "20", "-U", "-H")
	if strings.Count(out, "#, usec") != 2 {
		t.Errorf("-U -H: want the unsorted then the sorted list:\n%s", out)
	}
}

// TestPerfLongNamesAndSizes checks perftest's long option names and the
// K/M size suffixes.
func TestPerfLongNamesAndSizes(t *testing.T) {
	out, errOut, code := runCmd(t, "perf", "write_bw", "--size=4K", "--iters=100", "--tx-depth=16", "--qp=2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if row := perfRow(t, out, bwHead); row[0] != "4096" || row[1] != "200" || !strings.Contains(out, " TX depth        : 16") {
		t.Errorf("long names: row %q\n%s", row, out)
	}
	// UD messages are cut to the MTU, as perftest does.
	out, _, code = runCmd(t, "perf", "send_bw", "-c", "UD", "-s", "1M", "-m", "2048", "-n", "50")
	if row := perfRow(t, out, bwHead); code != 0 || row[0] != "2048" {
		t.Errorf("UD -s 1M -m 2048: row %q", row)
	}
}

// TestPerfMTUAsPerftest checks -m against perftest's set_mtu: no -m takes
// the port's active MTU, a size that is no MTU is reported on stderr and
// replaced by the active MTU, a larger MTU than the active one is lowered
// to it with perftest's two lines, and a second port of lower active MTU
// lowers it again.
func TestPerfMTUAsPerftest(t *testing.T) {
	for _, tc := range []struct {
		asked        int
		active       []wire.MTU
		want         int
		notes, warns string
	}{
		{0, []wire.MTU{wire.MTU4096, wire.MTU4096}, 4096, "", ""},
		{0, []wire.MTU{wire.MTU2048, wire.MTU4096}, 2048, "", ""},
		{1024, []wire.MTU{wire.MTU4096, wire.MTU4096}, 1024, "", ""},
		{4096, []wire.MTU{wire.MTU2048, wire.MTU2048}, 2048, "Requested mtu is higher than active mtu |Changing to active mtu - 4", ""},
		{4096, []wire.MTU{wire.MTU4096, wire.MTU1024}, 1024, "", ""},
		{3000, []wire.MTU{wire.MTU2048, wire.MTU2048}, 2048, "", " Invalid MTU - 3000 \n Please choose mtu from {256,512,1024,2048,4096}\n Will run with the port active mtu - 4\n"},
	} {
		var stderr bytes.Buffer
		c := &perfConfig{mtu: tc.asked, errOut: &stderr}
		for _, a := range tc.active {
			c.resolveMTU(a)
		}
		if c.mtu != tc.want || strings.Join(c.notes, "|") != tc.notes || stderr.String() != tc.warns {
			t.Errorf("-m %d on ports of active MTU %v: mtu %d notes %q stderr %q, want %d %q %q",
				tc.asked, tc.active, c.mtu, c.notes, stderr.String(), tc.want, tc.notes, tc.warns)
		}
	}
	out, errOut, code := runCmd(t, "perf", "write_bw", "-n", "20", "-m", "3000")
	if code != 0 || !strings.Contains(errOut, " Invalid MTU - 3000") || !strings.Contains(out, " Mtu             : 4096[B]") {
		t.Fatalf("-m 3000: exit %d, stderr %q\n%s", code, errOut, out)
	}
}

// TestPerfPeakAndReportBoth checks -N (no peak: BW peak reads 0.00, with
// no warning about it) and --report-both (a bidirectional test's summed
// row, then each side's own row).
func TestPerfPeakAndReportBoth(t *testing.T) {
	out, errOut, code := runCmd(t, "perf", "write_bw", "-n", "200", "-N")
	if code != 0 {
		t.Fatalf("-N: %s", errOut)
	}
	if row := perfRow(t, out, bwHead); rowFloat(t, row, 2) != 0 || rowFloat(t, row, 3) <= 0 || strings.Contains(out, "WARNING") {
		t.Errorf("-N: peak %s average %s:\n%s", row[2], row[3], out)
	}
	out, errOut, code = runCmd(t, "perf", "write_bw", "-n", "200")
	if code != 0 || rowFloat(t, perfRow(t, out, bwHead), 2) <= 0 {
		t.Errorf("without -N the peak is measured (exit %d %s):\n%s", code, errOut, out)
	}
	out, errOut, code = runCmd(t, "perf", "write_bw", "-n", "200", "-b", "--report-both")
	if code != 0 {
		t.Fatalf("--report-both: %s", errOut)
	}
	sum := perfRow(t, out, bwHead)
	_, rest, ok := strings.Cut(out, " Local results: ")
	local, remote, ok2 := strings.Cut(rest, " Remote results: ")
	if !ok || !ok2 {
		t.Fatalf("--report-both has no local and remote sections:\n%s", out)
	}
	l, r := perfRow(t, local, bwHead), perfRow(t, remote, bwHead)
	if got, want := rowFloat(t, l, 3)+rowFloat(t, r, 3), rowFloat(t, sum, 3); math.Abs(got-want) > 0.02 {
		t.Errorf("local %s + remote %s = %v, the summed row says %v", l[3], r[3], got, want)
	}
}

// TestPerfWarmUp checks --perform_warm_up: before the measured run every
// QP of a sending side posts tx depth work requests (one post list with
// -l), on write, read and atomic tests, both sides with -b; SEND tests
// have none, as in perftest. The table still counts -n iterations per QP.
// The warm-up's completions must not keep the virtual clock held: with
// -b the server's warm-up runs after the client's.
func TestPerfWarmUp(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		client, server int
		iters          string
	}{
		{[]string{"write_bw", "-n", "100", "-t", "64"}, 64, 0, "100"},
		{[]string{"read_bw", "-n", "100", "-t", "32", "-q", "2"}, 64, 0, "200"},
		{[]string{"atomic_bw", "-n", "100", "-t", "16"}, 16, 0, "100"},
		{[]string{"write_bw", "-n", "100", "-t", "16", "-b"}, 16, 16, "100"},
		{[]string{"write_bw", "-n", "96", "-t", "64", "-l", "8"}, 8, 0, "96"},
		{[]string{"send_bw", "-n", "100", "-t", "64"}, 0, 0, "100"},
	} {
		args := append(tc.args, "--perform_warm_up")
		out := perfObserved(t, func(e *perfEnv) {
			if e.client.warmedUp != tc.client || e.server.warmedUp != tc.server {
				t.Errorf("%v: warm-up posted %d on the client, %d on the server; want %d and %d", args, e.client.warmedUp, e.server.warmedUp, tc.client, tc.server)
			}
		}, args...)
		if row := perfRow(t, out, bwHead); row[1] != tc.iters {
			t.Errorf("%v: the table counts %s iterations, want %s", args, row[1], tc.iters)
		}
	}
}

// TestPerfCPUUtil checks --cpu_util: in duration mode the bandwidth and
// latency tables gain perftest's CPU_Util[%] column, a share between 0
// and 100 (0.00 where there is no /proc/stat); without -D perftest's
// message goes to stderr and the table has no such column.
func TestPerfCPUUtil(t *testing.T) {
	for _, args := range [][]string{
		{"perf", "write_bw", "-D", "0.02", "--cpu_util"},
		{"perf", "send_lat", "-D", "0.02", "--cpu_util"},
	} {
		out, errOut, code := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		head, row := "", []string(nil)
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "#bytes") {
				head = l
			} else if head != "" && row == nil && strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "---") {
				row = strings.Fields(l)
			}
		}
		if !strings.HasSuffix(head, "    CPU_Util[%]") || len(row) == 0 {
			t.Fatalf("%v: no CPU_Util column:\n%s", args, out)
		}
		if u := rowFloat(t, row, len(row)-1); u < 0 || u > 100 {
			t.Errorf("%v: CPU utilization %v%%", args, u)
		}
	}
	out, errOut, code := runCmd(t, "perf", "write_bw", "-n", "100", "--cpu_util")
	if code != 0 || !strings.Contains(errOut, "CPU Utilization works only with Duration mode.") || strings.Contains(out, "CPU_Util") {
		t.Errorf("--cpu_util without -D: exit %d, stderr %q:\n%s", code, errOut, out)
	}
}

// TestPerfSRQ checks --use-srq: the sides that receive (the server; both
// in latency tests and with -b) take their receives from one SRQ, which
// their QPs are attached to (a receive posted to such a QP is refused),
// the header says so, and the tests run with it over RC, UC and UD.
func TestPerfSRQ(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		clientHasSRQ bool
	}{
		{[]string{"send_bw", "-n", "300", "-q", "3", "-s", "4096"}, false},
		{[]string{"send_bw", "-n", "300", "-b", "-q", "2", "-s", "4096"}, true},
		{[]string{"send_lat", "-n", "100"}, true},
		{[]string{"send_bw", "-n", "300", "-c", "UD", "-q", "2"}, false},
		{[]string{"send_bw", "-n", "300", "-c", "UC"}, false},
		{[]string{"send_bw", "-n", "300", "-R", "-q", "2", "-s", "4096"}, false},
	} {
		args := append(append([]string{}, tc.args...), "--use-srq")
		out := perfObserved(t, func(e *perfEnv) {
			if e.server.srq == nil || (e.client.srq != nil) != tc.clientHasSRQ {
				t.Errorf("%v: server srq %v, client srq %v; want the client's: %t", args, e.server.srq != nil, e.client.srq != nil, tc.clientHasSRQ)
				return
			}
			for _, qp := range e.server.qps {
				if _, err := qp.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{e.server.mrs[0].SGE(0, 8)}}}); err == nil {
					t.Errorf("%v: qp %#x took a receive of its own: not attached to the srq", args, qp.Num())
				}
			}
		}, args...)
		if !strings.Contains(out, "Using SRQ      : ON") {
			t.Errorf("%v: header:\n%s", args, out)
		}
		head := bwHead
		if tc.args[0] == "send_lat" {
			head = latHead
		}
		if row := perfRow(t, out, head); len(row) < 4 || rowFloat(t, row, 3) <= 0 {
			t.Errorf("%v: row %q", args, row)
		}
	}
	for _, args := range [][]string{
		{"perf", "write_bw", "--use-srq"},
		{"perf", "send_bw", "--use-srq", "-q", "8", "-r", "4"},
	} {
		if _, errOut, code := runCmd(t, args...); code != 2 || !strings.Contains(errOut, "SRQ") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}

// TestPerfAcceptedFlags: --mr_per_qp and --use_hugepages are accepted (a
// region per QP is what ibemu perf does anyway, and its buffers have no
// pages to pin), and --wait_destroy keeps the run's resources a while
// before they go.
func TestPerfAcceptedFlags(t *testing.T) {
	start := time.Now()
	out, errOut, code := runCmd(t, "perf", "write_bw", "-n", "50", "-q", "2", "--mr_per_qp", "--use_hugepages", "--wait_destroy", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("--wait_destroy 1: the run ended after %v", el)
	}
	if _, errOut, code := runCmd(t, "perf", "write_bw", "--wait_destroy", "-1"); code != 2 || errOut == "" {
		t.Errorf("--wait_destroy -1: exit %d, %q", code, errOut)
	}
}

// TestPerfVerifierLimits: -w and -y make a bandwidth run fail (exit 1,
// perftest's message) when no size reaches the limit, in the unit of the
// table (MB/sec, or Gb/sec with --report_gbits; Mpps). The emulated QDR
// link carries 64 KiB writes at about 3,790 MB/sec (31.8 Gb/sec).
func TestPerfVerifierLimits(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"write_bw", "-n", "100", "-w", "3000"}, 0, ""},
		{[]string{"write_bw", "-n", "100", "-w", "5000"}, 1, "BW result is below bw limit"},
		{[]string{"write_bw", "-n", "100", "--report_gbits", "-w", "30"}, 0, ""},
		{[]string{"write_bw", "-n", "100", "--report_gbits", "--limit_bw=40"}, 1, "BW result is below bw limit"},
		{[]string{"send_bw", "-n", "200", "-s", "8", "-y", "0.5"}, 0, ""},
		{[]string{"send_bw", "-n", "200", "-s", "8", "--limit_msgrate=500"}, 1, "Msg rate is below msg_rate limit"},
		{[]string{"write_bw", "-n", "100", "-a", "-w", "3700"}, 0, ""}, // the largest sizes reach it
		{[]string{"send_lat", "-w", "1"}, 2, "bandwidth tests"},
		{[]string{"write_bw", "-w", "-1"}, 2, "Invalid Minimum BW Limit"},
	} {
		out, errOut, code := runCmd(t, append([]string{"perf"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d with %q\n%s", tc.args, code, errOut, tc.code, tc.msg, out)
		}
	}
}

// TestPerfJSON checks --out_json: the file holds perftest's "test_info"
// and "results" of the last size, the same figures as the table.
func TestPerfJSON(t *testing.T) {
	dir := t.TempDir()
	read := func(path string) map[string]map[string]any {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, b)
		}
		return m
	}
	f := filepath.Join(dir, "bw.json")
	out, errOut, code := runCmd(t, "perf", "write_bw", "-n", "100", "-s", "4096", "-q", "2", "--out_json", "--out_json_file", f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	row := perfRow(t, out, bwHead)
	m := read(f)
	if m["test_info"]["test"] != "RDMA_Write_BW_Test" || m["test_info"]["Number_of_qps"] != 2.0 || m["test_info"]["Connection_type"] != "RC" {
		t.Errorf("test_info %v", m["test_info"])
	}
	if r := m["results"]; r["MsgSize"] != 4096.0 || r["n_iterations"] != 200.0 || r["BW_average"] != rowFloat(t, row, 3) || r["MsgRate"] != rowFloat(t, row, 4) {
		t.Errorf("results %v, row %q", r, row)
	}
	f = filepath.Join(dir, "lat.json")
	out, errOut, code = runCmd(t, "perf", "send_lat", "-n", "100", "-a", "--out_json", "--out_json_file", f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m = read(f)
	if r := m["results"]; r["MsgSize"] != float64(1<<23) || r["t_typical"] == nil || r["percentile_99.9"] == nil || m["test_info"]["test"] != "Send_Latency_Test" {
		t.Errorf("the last size's report: %v", m)
	}
	if _, errOut, code := runCmd(t, "perf", "write_bw", "-n", "10", "--out_json", "--out_json_file", filepath.Join(dir, "no", "such", "dir", "x.json")); code != 1 || !strings.Contains(errOut, "out_json") {
		t.Errorf("unwritable file: exit %d, %q", code, errOut)
	}
}

// TestPerfReportCounters checks -W: after each row, the growth of the
// named counters of the client's port since the last row. 100 RDMA
// WRITEs of 4 KiB at MTU 4096 are 100 packets out; what comes back is
// their coalesced ACKs.
func TestPerfReportCounters(t *testing.T) {
	out, errOut, code := runCmd(t, "perf", "write_bw", "-n", "100", "-s", "4096", "-W", "counters/port_xmit_packets,counters/port_rcv_packets,counters/port_xmit_data")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && strings.HasPrefix(k, "counters/") {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("line %q", line)
			}
			got[k] = n
		}
	}
	if got["counters/port_xmit_packets"] != 100 || got["counters/port_rcv_packets"] < 1 || got["counters/port_rcv_packets"] > 100 ||
		got["counters/port_xmit_data"] < 100*4096/4 {
		t.Errorf("counters %v\n%s", got, out)
	}
	for _, list := range []string{"port_xmit_data", "hw_counters/out_of_buffer", "counters/nope"} {
		if _, errOut, code := runCmd(t, "perf", "write_bw", "-W", list); code != 2 || !strings.Contains(errOut, "performance counter") {
			t.Errorf("-W %s: exit %d, %q", list, code, errOut)
		}
	}
}

// TestPerfLatencyGap checks --latency_gap in virtual time: each side
// waits before its sends, and the samples, from one send to the next as
// perftest takes them, grow by the gap: half of both sides' gaps for a
// ping-pong, the client's whole gap for a READ.
func TestPerfLatencyGap(t *testing.T) {
	typical := func(args ...string) float64 {
		t.Helper()
		out, errOut, code := runCmd(t, append([]string{"perf"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return rowFloat(t, perfRow(t, out, latHead), 4)
	}
	for _, test := range []string{"send_lat", "write_lat", "read_lat"} {
		base := typical(test, "-n", "100")
		gap := typical(test, "-n", "100", "--latency_gap", "10")
		if d := gap - base; d < 9.98 || d > 10.02 {
			t.Errorf("%s: t_typical %.2f without a gap, %.2f with 10 usec: grew %.2f, want 10", test, base, gap, d)
		}
	}
	for _, args := range [][]string{{"perf", "write_bw", "--latency_gap", "5"}, {"perf", "send_lat", "--latency_gap", "-1"}} {
		if _, errOut, code := runCmd(t, args...); code != 2 || !strings.Contains(errOut, "atency gap") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}

// TestPerfRateLimit checks --rate_limit in virtual time: the SW limiter
// (the fallback from perftest's default HW one, which the emulated HCA
// does not accept, or asked for by name) keeps each side's average at
// the limit, in the units asked, over all its QPs; what perftest refuses
// is refused.
func TestPerfRateLimit(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		want   float64 // BW average, MB/sec
		stderr string
	}{
		{[]string{"write_bw", "--rate_limit", "10", "--rate_limit_type", "SW"}, 10e9 / 8 / (1 << 20), "Setting burst size to tx depth = 128"},
		{[]string{"write_bw", "--rate_limit", "10"}, 10e9 / 8 / (1 << 20), "providing SW rate limit"},
		{[]string{"write_bw", "--rate_limit", "500", "--rate_units", "M"}, 500, ""},
		{[]string{"write_bw", "--rate_limit", "5", "-q", "4"}, 5e9 / 8 / (1 << 20), ""},
		{[]string{"read_bw", "--rate_limit", "8", "--burst_size", "4", "-n", "2000"}, 8e9 / 8 / (1 << 20), ""},
		{[]string{"write_bw", "--rate_limit", "10", "-b"}, 2 * 10e9 / 8 / (1 << 20), ""},
	} {
		out, errOut, code := runCmd(t, append([]string{"perf"}, tc.args...)...)
		if code != 0 || !strings.Contains(errOut, tc.stderr) {
			t.Fatalf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
		if avg := rowFloat(t, perfRow(t, out, bwHead), 3); avg < tc.want*0.99 || avg > tc.want*1.02 {
			t.Errorf("%v: BW average %.2f MB/sec, want %.2f", tc.args, avg, tc.want)
		}
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"write_bw", "--rate_limit", "10", "--rate_limit_type", "HW"}, 1},
		{[]string{"write_bw", "--rate_limit", "10", "--rate_limit_type", "PP"}, 2},
		{[]string{"write_bw", "--burst_size", "8"}, 2},
		{[]string{"write_bw", "--rate_limit", "0"}, 2},
		{[]string{"write_bw", "--rate_limit", "1", "--rate_units", "k"}, 2},
		{[]string{"send_lat", "--rate_limit", "1"}, 2},
		{[]string{"atomic_bw", "--rate_limit", "1"}, 2},
		{[]string{"send_bw", "-b", "--rate_limit", "1"}, 2},
	} {
		if _, errOut, code := runCmd(t, append([]string{"perf"}, c.args...)...); code != c.code || errOut == "" {
			t.Errorf("%v: exit %d (%q), want %d", c.args, code, errOut, c.code)
		}
	}
}
