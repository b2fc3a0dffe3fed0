//go:build linux

package attach

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// The diags' server modes as clients: `ibping -S` (vendor class 0x32) and
// `ibsysstat -S` (0x33) declare their class (IBEMU_VENDOR_CLASSES) and
// answer `ibping` and `ibsysstat` run from other clients, while a daemon
// OpenSM runs; requests of a class a client did not declare never reach it
// (libumad2sim would crash it, ibsim issue #38).

// needVendorTools skips the test (or, in CI, fails it) without the diags.
func needVendorTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ibping", "ibsysstat"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := "interop: missing " + tool + " (Debian infiniband-diags; run make deps)"
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bgProc is a tool running in the background (its own process group).
type bgProc struct {
	name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// startBG starts a tool in the background and waits until it is attached
// to the server; cleanup kills its process group (by its PID) and reaps
// it.
func (h *interop) startBG(env []string, name string, args ...string) *bgProc {
	h.t.Helper()
	cmd := h.command(context.Background(), env, name, args...)
	p := &bgProc{name: name, cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	h.t.Cleanup(p.kill)
	pid := uint32(cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(h.srv.Clients(), func(c ClientStatus) bool { return c.ID == pid }) {
		if time.Now().After(deadline) || !p.alive() {
			h.t.Fatalf("%s %s did not attach:\n%s", name, strings.Join(args, " "), p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// libumad2sim attaches when the umad device opens and the tool
	// registers its agents right after: let it get there.
	time.Sleep(300 * time.Millisecond)
	return p
}

func (p *bgProc) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill ends the process group p started, and waits for p.
func (p *bgProc) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// mustLive fails the test if p has exited (crashed).
func (p *bgProc) mustLive(t *testing.T) {
	t.Helper()
	if !p.alive() {
		t.Fatalf("%s died: %v\n%s", p.name, p.cmd.ProcessState, p.out.String())
	}
}

// waitDetached waits until the server has dropped the client with pid.
func (h *interop) waitDetached(pid int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for slices.ContainsFunc(h.srv.Clients(), func(c ClientStatus) bool { return c.ID == uint32(pid) }) {
		if time.Now().After(deadline) {
			h.t.Fatalf("client %d still attached", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestVendorServers(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	needVendorTools(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	osm, _ := h.startOpenSM([]string{"SIM_HOST=Hca1"})
	osmAlive := func(t *testing.T) {
		t.Helper()
		select {
		case <-osm.done:
			t.Fatalf("opensm died: %v\n%s", osm.cmd.ProcessState, osm.out.String())
		default:
		}
	}

	pingSrv := h.startBG([]string{"SIM_HOST=Hca2", vendorEnv + "=0x32"}, "ibping", "-S")
	statSrv := h.startBG([]string{"SIM_HOST=Hca3", vendorEnv + "=0x33"}, "ibsysstat", "-S")
	// Declares nothing: must never be handed a vendor request.
	silent := h.startBG([]string{"SIM_HOST=Hca4"}, "ibping", "-S")
	lid := func(id string) string { return strconv.Itoa(int(h.lidOf(id))) }
	all := func(t *testing.T) {
		t.Helper()
		osmAlive(t)
		pingSrv.mustLive(t)
		statSrv.mustLive(t)
		silent.mustLive(t)
	}

	t.Run("ibping", func(t *testing.T) {
		// From another CA, and from the node OpenSM is attached at.
		for _, from := range []string{"Hca4", "Hca1"} {
			out := h.mustRun(20*time.Second, []string{"SIM_HOST=" + from}, "ibping", "-c", "3", lid("Hca2"))
			if !strings.Contains(out, "3 packets transmitted, 3 received") || !strings.Contains(out, "Pong from "+host) {
				t.Errorf("ibping -c 3 from %s to Hca2 (ibping -S):\n%s", from, out)
			}
		}
		all(t)
	})
	t.Run("ibsysstat", func(t *testing.T) {
		out := h.mustRun(20*time.Second, []string{"SIM_HOST=Hca1"}, "ibsysstat", lid("Hca3"), "host")
		if !strings.Contains(out, host) {
			t.Errorf("ibsysstat host to Hca3 (ibsysstat -S) lacks %q:\n%s", host, out)
		}
		out = h.mustRun(20*time.Second, []string{"SIM_HOST=Hca2"}, "ibsysstat", lid("Hca3"), "cpu")
		if !strings.Contains(out, "cpu 0: model") {
			t.Errorf("ibsysstat cpu to Hca3 (ibsysstat -S):\n%s", out)
		}
		out = h.mustRun(20*time.Second, []string{"SIM_HOST=Hca4"}, "ibsysstat", lid("Hca3"))
		if !strings.Contains(out, "sysstat ping succeeded") {
			t.Errorf("ibsysstat ping to Hca3 (ibsysstat -S):\n%s", out)
		}
		all(t)
	})
	t.Run("undeclared", func(t *testing.T) {
		// Each class goes to its declared holder only: the node answers the
		// others itself (0x000C), and no server is handed a class it did
		// not register (it would die of SIGSEGV in libumad2sim).
		out := h.mustRun(20*time.Second, []string{"SIM_HOST=Hca1"}, "ibsysstat", lid("Hca2"), "host")
		if strings.Contains(out, host) {
			t.Errorf("ibsysstat host to Hca2 (only 0x32 served) was answered by a host:\n%s", out)
		}
		for _, to := range []string{"Hca3", "Hca4", "Hca1"} {
			out := h.mustRun(20*time.Second, []string{"SIM_HOST=Hca2"}, "ibping", "-c", "1", lid(to))
			if !strings.Contains(out, "1 packets transmitted, 0 received") {
				t.Errorf("ibping to %s, which serves no 0x32:\n%s", to, out)
			}
		}
		all(t)
	})
	t.Run("holder leaves", func(t *testing.T) {
		pid := pingSrv.cmd.Process.Pid
		pingSrv.kill()
		h.waitDetached(pid)
		out := h.mustRun(20*time.Second, []string{"SIM_HOST=Hca4"}, "ibping", "-c", "1", lid("Hca2"))
		if !strings.Contains(out, "1 packets transmitted, 0 received") {
			t.Errorf("ibping to Hca2 after its server left:\n%s", out)
		}
		again := h.startBG([]string{"SIM_HOST=Hca2", vendorEnv + "=0x32"}, "ibping", "-S")
		out = h.mustRun(20*time.Second, []string{"SIM_HOST=Hca4"}, "ibping", "-c", "2", lid("Hca2"))
		if !strings.Contains(out, "2 packets transmitted, 2 received") {
			t.Errorf("ibping to Hca2 with a new server:\n%s", out)
		}
		again.mustLive(t)
		osmAlive(t)
		statSrv.mustLive(t)
		silent.mustLive(t)
	})
}

func TestParseVendorClasses(t *testing.T) {
	for _, tc := range []struct {
		in      string
		classes []wire.MgmtClass
		bad     []string
	}{
		{"0x32", []wire.MgmtClass{0x32}, nil},
		{"0x32,0x33 0x32", []wire.MgmtClass{0x32, 0x33}, nil},
		{" 9, 0x0f ,0x4F", []wire.MgmtClass{0x09, 0x0F, 0x4F}, nil},
		{"0x01,0x81,0x03,0x04,0x50,0x08,zz,0x132", nil, []string{"0x01", "0x81", "0x03", "0x04", "0x50", "0x08", "zz", "0x132"}},
		{"", nil, nil},
	} {
		classes, bad := parseVendorClasses(tc.in)
		if !slices.Equal(classes, tc.classes) || !slices.Equal(bad, tc.bad) {
			t.Errorf("parseVendorClasses(%q) = %v, %q; want %v, %q", tc.in, classes, bad, tc.classes, tc.bad)
		}
	}
}
