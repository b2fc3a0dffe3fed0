package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
		// perftest reports the iterations of all QPs together.
		iters := "300"
		if strings.Contains(strings.Join(c.args, " "), "-q 2") {
			iters = "600"
		}
		if len(row) != 5 || row[0] != c.size || row[1] != iters {
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
		{"perf", "read_bw", "-c", "UC"},
		{"perf", "write_bw", "-c", "UD"},
		{"perf", "send_lat", "-q", "2"},
		{"perf", "write_bw", "-n", "0"},
		{"perf", "atomic_bw", "-s", "16"},
		{"perf", "write_bw", "--server"},
		{"perf", "write_bw", "--attach", "h1"},
		{"perf", "write_bw", "--attach", "h1", "--server", "--connect", "h2"},
		{"perf", "write_bw", "--attach", "h1", "--server", "-p", "0"},
		// perftest's rules (perftest_parameters.c).
		{"perf", "send_lat", "-b"},
		{"perf", "write_bw", "-e"},
		{"perf", "write_lat", "-e"},
		{"perf", "send_bw", "-e", "-D", "1"},
		{"perf", "write_bw", "-D", "1", "-a"},
		{"perf", "write_bw", "-D", "1", "-n", "100"},
		{"perf", "write_bw", "-D", "1", "-f", "1"},
		{"perf", "write_bw", "-D", "-1"},
		{"perf", "write_bw", "-f", "1"},
		{"perf", "read_bw", "-I", "10"},
		{"perf", "atomic_lat", "-I", "10"},
		{"perf", "send_bw", "-I", "2000"},
		{"perf", "send_bw", "-I", "600"}, // above the ConnectX's max_inline_data
		{"perf", "send_bw", "-o", "4"},
		{"perf", "read_bw", "-r", "4"},
		{"perf", "send_bw", "-r", "0"},
		{"perf", "atomic_bw", "-a"},
		{"perf", "atomic_lat", "-s", "16"},
		{"perf", "write_bw", "-A", "FETCH_AND_ADD"},
		{"perf", "atomic_bw", "-A", "XOR"},
		{"perf", "atomic_bw", "-c", "UC"},
		{"perf", "send_lat", "-l", "2"},
		{"perf", "send_bw", "-l", "3", "-n", "100"},
		{"perf", "send_bw", "-l", "4", "-Q", "3", "-n", "100"},
		{"perf", "write_bw", "-H"},
		{"perf", "write_bw", "-U"},
		{"perf", "send_lat", "-C"},
		{"perf", "write_bw", "--output=latency"},
		{"perf", "send_lat", "--output=bandwidth"},
		{"perf", "send_lat", "--output=fast"},
		{"perf", "write_bw", "--run_infinitely"},
		{"perf", "send_lat", "--run_infinitely"},
		{"perf", "send_lat", "-S", "16"},
		{"perf", "send_lat", "-x", "65"},
		{"perf", "send_lat", "-d", "mlx5_0"},
		{"perf", "send_lat", "-i", "2"},
		{"perf", "send_lat", "-i", "0"},
		{"perf", "send_lat", "-n", "4"},
		{"perf", "write_bw", "-u", "32"},
		{"perf", "write_bw", "-t", "15001"},
		{"perf", "write_bw", "-Q", "1025"},
		{"perf", "write_bw", "-s", "0"},
		{"perf", "write_bw", "-b", "-D", "1", "--attach", "h1", "--server"},
		{"perf", "send_bw", "-b", "-c", "UD", "--attach", "h1", "--server"},
		{"perf", "write_bw", "-R", "-c", "UC"},
		{"perf", "write_bw", "-R", "--retry_count", "0"},
		{"perf", "write_bw", "-z"},
		{"perf", "send_bw", "--tclass=256"},
		{"perf", "send_bw", "--pkey_index=-1"},
		{"perf", "send_bw", "--pkey_index=128"}, // the ConnectX's P_Key table holds 128
		{"perf", "send_bw", "--retry_count=-1"},
		{"perf", "send_lat", "--report-both"},
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

// perfNet is two switches with two hosts each: traffic between h1 and h3
// crosses both.
const perfNet = `Switch 8 "sw1"
[1] "h1"[1]
[2] "h2"[1]
[3] "sw2"[3]

Switch 8 "sw2"
[1] "h3"[1]
[2] "h4"[1]
[3] "sw1"[3]

Hca 1 "h1"
[1] "sw1"[1]

Hca 1 "h2"
[1] "sw1"[2]

Hca 1 "h3"
[1] "sw2"[1]

Hca 1 "h4"
[1] "sw2"[2]
`

// perfProc is a process the test started; the test's cleanup kills it by
// PID if it is still running.
type perfProc struct {
	args     []string
	cmd      *exec.Cmd
	out, err syncBuffer
	done     chan struct{}
	code     int
}

func startPerfProc(t *testing.T, env []string, bin string, args ...string) *perfProc {
	t.Helper()
	p := &perfProc{args: args, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits up to d for the exit code.
func (p *perfProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("%v did not exit within %v\nstdout:\n%s\nstderr:\n%s", p.args, d, p.out.String(), p.err.String())
		return -1
	}
}

// waitOutput waits up to d for s on the process's stdout.
func (p *perfProc) waitOutput(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.out.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("%v exited (%d) before printing %q\nstdout:\n%s\nstderr:\n%s", p.args, p.code, s, p.out.String(), p.err.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v did not print %q within %v:\n%s", p.args, s, d, p.out.String())
		}
	}
}

var perfSeq atomic.Uint32

// freeTCPPort returns a loopback TCP port nobody listens on now (and,
// for remote mode, whose UDP port and the next few are free too).
func freeTCPPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port+4 > 65000 {
			continue
		}
		ok := true
		for i := range 4 {
			u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + i})
			if err != nil {
				ok = false
				break
			}
			_ = u.Close()
		}
		if ok {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// buildIbemu builds the ibemu binary into a temporary directory.
func buildIbemu(t *testing.T) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go tool to build ibemu: %v", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "ibemu")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestPerfTwoProcesses runs `ibemu serve` with our SM and the two sides
// of ibemu perf as two more processes, each with its own HCA attached
// through the data path (abstract unix sockets on Linux, TCP elsewhere):
// RC RDMA WRITE bandwidth, SEND latency and a parameter mismatch.
func TestPerfTwoProcesses(t *testing.T) {
	bin := buildIbemu(t)
	dir := t.TempDir()
	topo := filepath.Join(dir, "net")
	if err := os.WriteFile(topo, []byte(perfNet), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := fmt.Sprintf("ibemu-perf2p-%d-%d", os.Getpid(), perfSeq.Add(1))
	env := []string{"IBSIM_SOCKNAME=" + sock}
	serveArgs := []string{"serve", topo, "--no-console"}
	var attachArgs, smArgs []string
	if runtime.GOOS != "linux" {
		port := freeTCPPort(t)
		serveArgs = append(serveArgs, "--listen", "127.0.0.1:"+strconv.Itoa(port))
		attachArgs = []string{"--attach-server", "127.0.0.1:" + strconv.Itoa(port)}
		smArgs = []string{"--server", "127.0.0.1", "--server-port", strconv.Itoa(port)}
	}
	srv := startPerfProc(t, env, bin, serveArgs...)
	srv.waitOutput(t, "data path at", 20*time.Second)
	// The SM keeps running: when a perf process ends, its port goes back
	// to the server's own HCA through a link flap that the SM answers.
	sm := startPerfProc(t, env, bin, append([]string{"sm", "--host", "h4", "--sweep-interval", "1s"}, smArgs...)...)
	sm.waitOutput(t, "SUBNET UP", 30*time.Second)
	pair := func(args ...string) (server, client *perfProc) {
		t.Helper()
		p := strconv.Itoa(freeTCPPort(t))
		server = startPerfProc(t, env, bin, append(append(append([]string{"perf"}, args...), "--attach", "h3", "--server", "-p", p), attachArgs...)...)
		client = startPerfProc(t, env, bin, append(append(append([]string{"perf"}, args...), "--attach", "h1", "--connect", "h3", "-p", p), attachArgs...)...)
		return server, client
	}
	// RDMA WRITE bandwidth, 64 KiB: the client prints the table.
	ps, pc := pair("write_bw", "-n", "300")
	if code := pc.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("client: exit %d: %s\n%s", code, pc.err.String(), pc.out.String())
	}
	if code := ps.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("server: exit %d: %s\n%s", code, ps.err.String(), ps.out.String())
	}
	row := perfRow(t, pc.out.String(), " #bytes     #iterations    BW peak[MB/sec]")
	if len(row) != 5 || row[0] != "65536" || row[1] != "300" {
		t.Fatalf("write_bw row %q", row)
	}
	if avg, err := strconv.ParseFloat(row[3], 64); err != nil || avg <= 0 {
		t.Fatalf("write_bw average %q", row[3])
	}
	for _, p := range []*perfProc{ps, pc} {
		out := p.out.String()
		if !strings.Contains(out, "RDMA_Write BW Test") || !strings.Contains(out, "Clock           : wall") ||
			!strings.Contains(out, " local address: LID") || !strings.Contains(out, " remote address: LID") {
			t.Errorf("%v: header:\n%s", p.args, out)
		}
	}
	// SEND latency (ping-pong): the client prints the table.
	ps, pc = pair("send_lat", "-n", "200", "-s", "8")
	if code := pc.wait(t, 120*time.Second); code != 0 {
		t.Fatalf("client: exit %d: %s\n%s", code, pc.err.String(), pc.out.String())
	}
	if code := ps.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("server: exit %d: %s", code, ps.err.String())
	}
	row = perfRow(t, pc.out.String(), " #bytes #iterations    t_min[usec]")
	if len(row) != 9 || row[0] != "8" || row[1] != "200" {
		t.Fatalf("send_lat row %q", row)
	}
	if lo, err := strconv.ParseFloat(row[2], 64); err != nil || lo <= 0 {
		t.Fatalf("send_lat t_min %q", row[2])
	}
	// Duration mode: the server learns from the client how many SENDs
	// and pings to expect; with events both sides sleep on their
	// completion channels.
	for _, c := range []struct {
		args []string
		head string
	}{
		{[]string{"send_bw", "-D", "0.3", "-s", "4096"}, " #bytes     #iterations    BW peak[MB/sec]"},
		{[]string{"send_lat", "-D", "0.3", "-s", "8"}, " #bytes        #iterations       t_avg[usec]"},
		{[]string{"send_bw", "-e", "-n", "500", "-s", "4096"}, " #bytes     #iterations    BW peak[MB/sec]"},
		{[]string{"send_lat", "-e", "-n", "100", "-x", "0", "-S", "2"}, " #bytes #iterations    t_min[usec]"},
		{[]string{"write_bw", "-b", "-n", "300"}, " #bytes     #iterations    BW peak[MB/sec]"},
		{[]string{"send_bw", "-b", "-n", "300", "-s", "4096"}, " #bytes     #iterations    BW peak[MB/sec]"},
		// -R: the QPs connect through the two processes' CMs, whose
		// MADs cross the server's switches.
		{[]string{"write_bw", "-R", "-q", "2", "-n", "300"}, " #bytes     #iterations    BW peak[MB/sec]"},
		{[]string{"send_lat", "-R", "-c", "UD", "-n", "100"}, " #bytes #iterations    t_min[usec]"},
		// -g: each side joins its group, and the peer's, through the
		// SM's SA; a ping-pong needs both groups' trees.
		{[]string{"send_lat", "-g", "-n", "100"}, " #bytes #iterations    t_min[usec]"},
		{[]string{"send_bw", "-g", "-n", "300", "-s", "1024"}, " #bytes     #iterations    BW peak[MB/sec]"},
		// --use-srq: the server process's QPs share one SRQ.
		{[]string{"send_bw", "--use-srq", "-q", "2", "-n", "300", "-s", "4096"}, " #bytes     #iterations    BW peak[MB/sec]"},
	} {
		ps, pc = pair(c.args...)
		if code := pc.wait(t, 120*time.Second); code != 0 {
			t.Fatalf("%v client: exit %d: %s\n%s", c.args, code, pc.err.String(), pc.out.String())
		}
		if code := ps.wait(t, 30*time.Second); code != 0 {
			t.Fatalf("%v server: exit %d: %s", c.args, code, ps.err.String())
		}
		row = perfRow(t, pc.out.String(), c.head)
		if n, err := strconv.Atoi(row[1]); err != nil || n <= 0 {
			t.Fatalf("%v: row %q", c.args, row)
		}
		if c.args[1] == "-R" {
			for _, p := range []*perfProc{ps, pc} {
				if out := p.out.String(); !strings.Contains(out, " Data ex. method : rdma_cm") || strings.Contains(out, fmt.Sprintf("PSN %#06x", perfPSN)) != (c.args[3] == "UD") {
					t.Errorf("%v: header:\n%s", p.args, out)
				}
			}
		}
		if c.args[1] == "-b" {
			// The client's report adds the server's direction.
			if !strings.Contains(ps.out.String(), "Bidirectional BW Test") || !strings.Contains(ps.out.String(), " TX depth") {
				t.Errorf("%v server header:\n%s", c.args, ps.out.String())
			}
			if avg, err := strconv.ParseFloat(row[3], 64); err != nil || avg <= 0 {
				t.Errorf("%v: average %q", c.args, row[3])
			}
		}
	}
	// Sides that disagree on the test both fail, with the reason.
	p := strconv.Itoa(freeTCPPort(t))
	ps = startPerfProc(t, env, bin, append([]string{"perf", "write_bw", "-n", "100", "--attach", "h3", "--server", "-p", p}, attachArgs...)...)
	pc = startPerfProc(t, env, bin, append([]string{"perf", "write_bw", "-n", "200", "--attach", "h1", "--connect", "h3", "-p", p}, attachArgs...)...)
	for _, x := range []*perfProc{ps, pc} {
		if code := x.wait(t, 60*time.Second); code != 1 || !strings.Contains(x.err.String(), "the two sides differ") {
			t.Errorf("%v: exit %d: %s", x.args, code, x.err.String())
		}
	}
	for _, p := range []*perfProc{srv, sm} {
		select {
		case <-p.done:
			t.Fatalf("%v exited: %s", p.args, p.err.String())
		default:
		}
	}
}
