package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/capture/capturetest"
)

// perfRow returns the fields of the result line after the table header
// that starts with head.
func perfRow(t *testing.T, out, head string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, head) && i+1 < len(lines) {
			return strings.Fields(lines[i+1])
		}
	}
	t.Fatalf("no %q table in:\n%s", head, out)
	return nil
}

func TestPerfBandwidthTables(t *testing.T) {
	for _, c := range []struct {
		test string
		args []string
		size string
		// min and max average bandwidth (MB/sec, or Gb/sec with
		// --report_gbits) on the emulated 4x QDR link.
		lo, hi float64
	}{
		{"write_bw", nil, "65536", 3500, 4000},
		{"read_bw", []string{"-q", "2", "--report_gbits"}, "65536", 29, 32.01},
		{"send_bw", []string{"-s", "4096"}, "4096", 3000, 4000},
		{"atomic_bw", nil, "8", 100, 1000},
		{"send_bw", []string{"-c", "UD", "-s", "2048"}, "2048", 2500, 4000},
		{"write_bw", []string{"-c", "UC", "-m", "1024"}, "65536", 3000, 4000},
	} {
		args := append([]string{"perf", c.test, "-n", "300"}, c.args...)
		out, errOut, code := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		head := " #bytes     #iterations    BW peak[MB/sec]"
		if strings.Contains(strings.Join(c.args, " "), "report_gbits") {
			head = " #bytes     #iterations    BW peak[Gb/sec]"
		}
		row := perfRow(t, out, head)
		if len(row) != 5 || row[0] != c.size || row[1] != "300" {
			t.Fatalf("%v: row %q", args, row)
		}
		avg, err := strconv.ParseFloat(row[3], 64)
		if err != nil || avg < c.lo || avg > c.hi {
			t.Fatalf("%v: average %q outside %v..%v\n%s", args, row[3], c.lo, c.hi, out)
		}
	}
}

func TestPerfLatencyTablesAreDeterministic(t *testing.T) {
	for _, test := range []string{"write_lat", "send_lat", "read_lat"} {
		out1, e1, code1 := runCmd(t, "perf", test, "-n", "200", "-s", "1024")
		out2, _, _ := runCmd(t, "perf", test, "-n", "200", "-s", "1024")
		if code1 != 0 {
			t.Fatalf("%s: exit %d: %s", test, code1, e1)
		}
		row := perfRow(t, out1, " #bytes #iterations    t_min[usec]")
		if len(row) != 9 || row[0] != "1024" || row[1] != "200" {
			t.Fatalf("%s: row %q", test, row)
		}
		min, _ := strconv.ParseFloat(row[2], 64)
		max, _ := strconv.ParseFloat(row[3], 64)
		if min <= 0.1 || max > 5 || max < min {
			t.Fatalf("%s: t_min %v t_max %v µs on a one-switch 4x QDR path", test, min, max)
		}
		if r2 := perfRow(t, out2, " #bytes #iterations    t_min[usec]"); strings.Join(r2, " ") != strings.Join(row, " ") {
			t.Fatalf("%s: two runs under the virtual clock differ: %q vs %q", test, row, r2)
		}
	}
}

func TestPerfAllSizesAndWall(t *testing.T) {
	out, errOut, code := runCmd(t, "perf", "write_bw", "-a", "-n", "20")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "\n 8388608 "); n != 1 || !strings.Contains(out, "\n 2          20 ") {
		t.Fatalf("-a did not run 2 .. 8388608:\n%s", out)
	}
	out, errOut, code = runCmd(t, "perf", "send_lat", "-n", "50", "--wall")
	if code != 0 || !strings.Contains(out, "Clock           : wall") {
		t.Fatalf("--wall: exit %d: %s\n%s", code, errOut, out)
	}
}

func TestPerfUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"perf"},
		{"perf", "nosuch_bw"},
		{"perf", "write_bw", "-m", "3000"},
		{"perf", "read_bw", "-c", "UC"},
		{"perf", "write_bw", "-c", "UD"},
		{"perf", "send_lat", "-q", "2"},
		{"perf", "write_bw", "-n", "0"},
		{"perf", "atomic_bw", "-s", "16"},
	} {
		if _, errOut, code := runCmd(t, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// TestPerfCaptureDecodes runs mixed verbs traffic with a capture and has
// tshark judge every frame (ib-capture-check).
func TestPerfCaptureDecodes(t *testing.T) {
	dir := t.TempDir()
	for i, args := range [][]string{
		{"write_bw", "-n", "20", "-s", "10000"},
		{"read_bw", "-n", "20", "-s", "10000"},
		{"send_bw", "-n", "20", "-s", "5000"},
		{"atomic_bw", "-n", "20"},
		{"send_lat", "-n", "20", "-c", "UD"},
		{"write_lat", "-n", "20", "-c", "UC"},
	} {
		capFile := filepath.Join(dir, strconv.Itoa(i)+".pcap")
		if _, errOut, code := runCmd(t, append(append([]string{"perf"}, args...), "--capture", capFile)...); code != 0 {
			t.Fatalf("%v: %s", args, errOut)
		}
		capturetest.Check(t, capFile)
	}
}
