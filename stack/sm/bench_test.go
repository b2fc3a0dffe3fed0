package sm_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/sm"
)

// peakRSSKB reads the process's peak resident set (VmHWM) on Linux, 0
// elsewhere.
func peakRSSKB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				v, _ := strconv.ParseFloat(f[1], 64)
				return v
			}
		}
	}
	return 0
}

// benchBringUp measures one in-process heavy sweep (discovery, LIDs,
// routing, LFTs, activation) of a fabric per iteration, reporting the SMPs
// sent and the peak RSS of the process.
func benchBringUp(b *testing.B, src ibtest.Source, routing sm.Routing) {
	b.ReportAllocs()
	var smps uint64
	for b.Loop() {
		b.StopTimer()
		f, err := ibtest.Start(src)
		if err != nil {
			b.Fatal(err)
		}
		tr, err := f.MADTransport(f.FirstHCA().Topo.ID, 1)
		if err != nil {
			b.Fatal(err)
		}
		m, err := sm.New(tr, sm.Config{Routing: routing, CheckCreditLoops: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sn, err := m.Sweep(context.Background())
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if len(sn.Problems) > 0 {
			b.Fatalf("%d problems, first %v", len(sn.Problems), sn.Problems[0])
		}
		smps = sn.SMPs
		m.Close()
		f.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(smps), "SMPs/op")
	b.ReportMetric(peakRSSKB()/1024, "peakRSS-MB")
}

func BenchmarkBringUpFatTree2x8(b *testing.B) {
	benchBringUp(b, ibtest.FatTree(2, 8), sm.RoutingMinHop)
}

// 3-level radix 24: 3,456 HCAs, 720 switches.
func BenchmarkBringUpFatTree3x24(b *testing.B) {
	if testing.Short() {
		b.Skip("large fabric")
	}
	benchBringUp(b, ibtest.FatTree(3, 24), sm.RoutingFatTree)
}

// 3-level radix 36: 11,664 HCAs, 1,620 switches.
func BenchmarkBringUpFatTree3x36(b *testing.B) {
	if testing.Short() {
		b.Skip("large fabric")
	}
	benchBringUp(b, ibtest.FatTree(3, 36), sm.RoutingFatTree)
}

// Above 40,000 LIDs: the 3-level radix-36 fat tree with LMC 2 uses
// 11,664 × 4 + 1,620 = 48,276 of the 49,151 unicast LIDs.
func BenchmarkBringUpAbove40kLIDs(b *testing.B) {
	if testing.Short() {
		b.Skip("large fabric")
	}
	src := func() (*topology.Topology, error) { return topology.FatTree(3, 36) }
	b.ReportAllocs()
	var smps uint64
	var lids int
	for b.Loop() {
		b.StopTimer()
		f, err := ibtest.Start(src)
		if err != nil {
			b.Fatal(err)
		}
		tr, _ := f.MADTransport(f.FirstHCA().Topo.ID, 1)
		m, err := sm.New(tr, sm.Config{Routing: sm.RoutingFatTree, LMC: 2, CheckCreditLoops: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		sn, err := m.Sweep(context.Background())
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if len(sn.Problems) > 0 {
			b.Fatalf("%d problems, first %v", len(sn.Problems), sn.Problems[0])
		}
		smps, lids = sn.SMPs, len(sn.ByLID)-1
		m.Close()
		f.Close()
		b.StartTimer()
	}
	if lids <= 40000 {
		b.Fatalf("only %d lids", lids)
	}
	b.ReportMetric(float64(lids), "LIDs")
	b.ReportMetric(float64(smps), "SMPs/op")
	b.ReportMetric(peakRSSKB()/1024, "peakRSS-MB")
}
