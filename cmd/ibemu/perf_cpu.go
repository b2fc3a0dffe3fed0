package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuSampler is perftest's --cpu_util (get_cpu_stats, calc_cpu_util): the
// machine's user CPU time as a share of user and idle time, from the
// first line of /proc/stat, read when the run first reaches the start
// and the end of the measured window of a timed run (-D). In virtual
// time those are the instants the host's goroutine gets there, so the
// figure is the load of the machine running the emulator. Where there is
// no /proc/stat (Windows), it reads 0.00, as perftest's does.
type cpuSampler struct {
	user, idle [2]int64
	taken      [2]bool
}

// observe reads the counters once now has reached start, and again once
// it has reached end.
func (s *cpuSampler) observe(now, start, end time.Time) {
	if s == nil {
		return
	}
	for i, at := range []time.Time{start, end} {
		if !s.taken[i] && !now.Before(at) {
			s.user[i], s.idle[i] = readCPUStat()
			s.taken[i] = true
		}
	}
}

// util is the user share in percent between the two readings (0 without
// them).
func (s *cpuSampler) util() float64 {
	if s == nil || !s.taken[1] {
		return 0
	}
	u, i := s.user[1]-s.user[0], s.idle[1]-s.idle[0]
	if u+i == 0 {
		return 0
	}
	return float64(u) / float64(u+i) * 100
}

// readCPUStat returns the user and idle jiffies of /proc/stat's "cpu"
// line (0, 0 when it cannot be read).
func readCPUStat() (user, idle int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	user, _ = strconv.ParseInt(f[1], 10, 64)
	idle, _ = strconv.ParseInt(f[4], 10, 64)
	return user, idle
}
