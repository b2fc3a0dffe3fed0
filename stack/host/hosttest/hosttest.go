// Package hosttest holds test helpers for packages that build emulated
// hosts (stack/host, stack/install, scenarios): a temporary directory
// whose cleanup works without FileDispositionInformationEx, so
// the same tests run as Windows binaries under Wine
// (../shared/tools/wine-go-test), and a live foreign process for tests of
// owner-liveness checks. Only tests import it.
package hosttest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ibemu/ibemu/stack/host"
)

// TempDir is t.TempDir for trees the test fills: a new directory removed
// with host.RemoveTree when the test ends, which works under Wine 8 too
// (t.TempDir's os.RemoveAll needs FileDispositionInformationEx, which Wine
// lacks). A tree that cannot be removed fails the test.
func TempDir(t TB) string {
	t.Helper()
	// A name every file system takes: letters, digits, dot, dash,
	// underscore, and short (spec texts can be long).
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	dir, err := os.MkdirTemp("", "ibemu-"+name+"-")
	if err != nil {
		t.Fatalf("hosttest: temp dir: %v", err)
	}
	t.Cleanup(func() {
		if err := host.RemoveTree(dir); err != nil {
			t.Errorf("hosttest: %v", err)
		}
	})
	return dir
}

// TB is the part of testing.TB that TempDir uses; ginkgo's GinkgoT()
// has it too.
type TB interface {
	Helper()
	Name() string
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// helperEnv makes a test binary started by LiveProcess wait instead of
// running tests (see MaybeServe).
const helperEnv = "IBEMU_HOSTTEST_WAIT"

// MaybeServe is for TestMain: in a process LiveProcess started it blocks
// until its stdin closes (the parent's end) and then exits, so the parent
// has a live process of its own choosing. Otherwise it returns at once.
func MaybeServe() {
	if os.Getenv(helperEnv) == "" {
		return
	}
	buf := make([]byte, 1)
	os.Stdin.Read(buf)
	os.Exit(0)
}

// LiveProcess starts the test binary again as a process that stays alive
// until the test ends (its TestMain must call MaybeServe first) and
// returns its PID: a live process that is not the test itself, on every
// OS, Windows under Wine included.
func LiveProcess(t TB) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("hosttest: executable: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatalf("hosttest: stdin pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("hosttest: start helper: %v", err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	return cmd.Process.Pid
}
