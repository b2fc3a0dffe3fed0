package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/stack/sm"
)

func TestSMUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"sm", "--priority", "16"},
		{"sm", "--routing", "dfsssp"},
		{"sm", "--lmc", "8"},
		{"sm", "--mkey-protect", "4"},
		{"sm", "--mkey", "nope"},
		{"sm", "--sm-key", "0xzz"},
		{"sm", "extra"},
		{"sm", "--umad", "mlx4_0:0"},
		{"sm", "--umad", "mlx4_0:x"},
	} {
		_, errOut, code := runCmd(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, code, errOut)
		}
	}
}

// With no server to attach to, ibemu sm fails after --attach-wait with a
// clear error instead of hanging.
func TestSMNoServer(t *testing.T) {
	sock := fmt.Sprintf("ibemu-nosuch-%d-%d", os.Getpid(), time.Now().UnixNano())
	start := time.Now()
	_, errOut, code := runCmd(t, "sm", "--once", "--sockname", sock, "--attach-wait", "200ms")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	if !strings.HasPrefix(errOut, "ibemu sm: ") {
		t.Errorf("error not reported as ibemu sm: %q", errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("gave up after %v, want about 200ms", d)
	}
}

// On a machine without that HCA (this one has none), --umad fails with an
// error naming what it looked for instead of falling back to the attach
// protocol.
func TestSMUmadWithoutHardware(t *testing.T) {
	if _, err := os.Stat("/sys/class/infiniband_mad/umad0"); err == nil {
		t.Skip("this machine has a umad device; the error path is not reachable")
	}
	_, errOut, code := runCmd(t, "sm", "--once", "--umad", "nosuchca0:1")
	if code != 1 || !strings.HasPrefix(errOut, "ibemu sm: ") || !strings.Contains(errOut, "nosuchca0") {
		t.Fatalf("exit %d, stderr %q; want exit 1 and an error naming the CA", code, errOut)
	}
}

// TestFailingProblems: a min-hop credit loop closed only by the routes
// towards switch LIDs does not fail `ibemu sm --once`; one in the CA-to-CA
// routes and every other problem does.
func TestFailingProblems(t *testing.T) {
	switchOnly := &sm.CreditLoopError{Links: 4, SwitchLIDsOnly: true}
	caLoop := &sm.CreditLoopError{Links: 6}
	other := fmt.Errorf("sm: port 3 of x: %w", sm.ErrNoLocalPort)
	for _, tc := range []struct {
		problems []error
		want     int
	}{
		{nil, 0},
		{[]error{switchOnly}, 0},
		{[]error{fmt.Errorf("wrapped: %w", switchOnly)}, 0},
		{[]error{caLoop}, 1},
		{[]error{switchOnly, other}, 1},
		{[]error{caLoop, other}, 2},
	} {
		if got := failingProblems(&sm.Subnet{Problems: tc.problems}); got != tc.want {
			t.Errorf("failingProblems(%v) = %d, want %d", tc.problems, got, tc.want)
		}
	}
}
