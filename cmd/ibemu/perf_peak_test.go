package main

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// peakRateByPairs is perftest's peak as print_report_bw computes it, pair
// by pair in floating point: the reference peakRate must agree with.
func peakRateByPairs(tposted, tcompleted []time.Time, cqMod, postList, size int) float64 {
	n := min(len(tposted), len(tcompleted))
	best := 0.0
	try := func(i, j int) {
		if tcompleted[j].IsZero() {
			return
		}
		if d := tcompleted[j].Sub(tposted[i]).Seconds(); d > 0 {
			best = max(best, float64(j-i+1)*float64(size)/d)
		}
	}
	for i := 0; i < n; i += postList {
		for j := (i+cqMod)/cqMod*cqMod - 1; j < n; j += cqMod {
			try(i, j)
		}
		if n%cqMod != 0 {
			try(i, n-1)
		}
	}
	return best
}

// TestPeakRateMatchesPerftest checks peakRate against the pair-by-pair
// computation on random runs: posts in lists, completions polled late or
// not at all, moderation that does and does not divide the count.
func TestPeakRateMatchesPerftest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now()
	for trial := range 300 {
		n := 1 + rng.IntN(400)
		cqMod := 1 + rng.IntN(20)
		postList := 1 + rng.IntN(4)
		tposted := make([]time.Time, n)
		tcompleted := make([]time.Time, n)
		at := time.Duration(0)
		for k := range n {
			at += time.Duration(rng.IntN(2000)) // posts in the same ns too
			tposted[k] = base.Add(at)
		}
		done := time.Duration(rng.IntN(5000))
		for k := range n {
			done += time.Duration(rng.IntN(3000))
			if rng.IntN(4) > 0 {
				tcompleted[k] = tposted[k].Add(done - time.Duration(rng.IntN(4000)))
			}
		}
		size := 1 << rng.IntN(20)
		got := peakRate(tposted, tcompleted, cqMod, postList, size)
		want := peakRateByPairs(tposted, tcompleted, cqMod, postList, size)
		if got != want && math.Abs(got-want) > 1e-12*want {
			t.Fatalf("trial %d (n %d, cq_mod %d, post list %d): peak %v, pair by pair %v", trial, n, cqMod, postList, got, want)
		}
	}
	if got := peakRate(nil, nil, 1, 1, 8); got != 0 {
		t.Errorf("no messages: peak %v", got)
	}
}
