//go:build linux

package attach

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInteropSMFailover: two real OpenSM daemons on one fabric, on
// different HCAs, with priorities 10 and 5. They find each other through
// SMInfo MADs the server carries between them: the first is MASTER, the
// second goes STANDBY and polls it. sminfo, run from a third HCA, names
// the master. When the master is killed the standby's polls go
// unanswered, it takes over (DISCOVERING, MASTER, SUBNET UP), sminfo
// names it, and the fabric stays whole.
func TestInteropSMFailover(t *testing.T) {
	h := newInterop(t, loadExample(t, "net.2sw2path4hca"))
	// Poll every second and give up on a silent master after two misses
	// (the defaults, 10 s and 4, would make the test take a minute).
	conf := "sminfo_polling_timeout 1000\npolling_retry_number 2\n"
	master, mlog := h.startOpenSMConf([]string{"SIM_HOST=Hca1"}, conf, "-p", "10")
	h.waitLog(mlog, "SUBNET UP", 1, 30*time.Second)
	standby, slog := h.startOpenSMConf([]string{"SIM_HOST=Hca2"}, conf, "-p", "5")
	h.waitLog(slog, "Entering STANDBY state", 1, 30*time.Second)
	if b := h.waitLog(slog, "Entering STANDBY state", 1, time.Second); strings.Contains(b, "Entering MASTER state") {
		t.Fatalf("the lower-priority SM became master while the first ran:\n%s", tail(b, 30))
	}
	sminfo := func(prio string) {
		t.Helper()
		out := h.mustRun(10*time.Second, []string{"SIM_HOST=Hca3"}, "sminfo")
		if !strings.Contains(out, "priority "+prio+" ") || !strings.Contains(out, "SMINFO_MASTER") {
			t.Errorf("sminfo: %q, want the master of priority %s", strings.TrimSpace(out), prio)
		}
	}
	sminfo("10")

	if err := syscall.Kill(-master.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-master.done
	h.waitLog(slog, "Entering MASTER state", 1, 30*time.Second)
	h.waitLog(slog, "SUBNET UP", 1, 30*time.Second)
	sminfo("5")
	h.waitAllActive(10 * time.Second)
	select {
	case <-standby.done:
		t.Fatalf("the new master exited:\n%s", standby.out)
	default:
	}
}
