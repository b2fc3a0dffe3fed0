// Package capturetest runs the shared tshark checker
// (shared/tools/ib-capture-check, which sits beside the repository) on a
// capture from a test. Tests in any package may import it.
package capturetest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Checker returns the path of ib-capture-check: $IB_CAPTURE_CHECK, or
// shared/tools/ib-capture-check beside the directory holding go.mod.
func Checker() (string, error) {
	if p := os.Getenv("IB_CAPTURE_CHECK"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(dir), "shared", "tools", "ib-capture-check")
			if _, err := os.Stat(p); err != nil {
				return "", err
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("capturetest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Check runs the checker on the ERF capture at path and fails t unless
// tshark decodes every frame with correct CRCs and lengths. Without tshark
// or the checker the test is skipped, except in CI (CI set), where it
// fails: `make deps` installs tshark and CI puts shared/ beside the clone.
func Check(t testing.TB, path string) string {
	t.Helper()
	missing := func(what string, err error) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("capturetest: %s is needed in CI: %v", what, err)
		}
		t.Skipf("capturetest: %s not available: %v", what, err)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		missing("tshark", err)
	}
	tool, err := Checker()
	if err != nil {
		missing("ib-capture-check", err)
	}
	out, err := exec.Command("bash", tool, path).CombinedOutput()
	if err != nil {
		t.Fatalf("ib-capture-check %s: %v\n%s", path, err, out)
	}
	return string(out)
}

// Path returns the path of a new empty file for a capture named after
// name, removed when the test ends. It is a single file rather than a
// t.TempDir tree, so the cleanup also works where directory trees cannot
// be removed (Windows binaries under Wine 8).
func Path(t testing.TB, name string) string {
	t.Helper()
	f, err := os.CreateTemp("", "ibemu-*-"+name)
	if err != nil {
		t.Fatalf("capturetest: %v", err)
	}
	p := f.Name()
	f.Close()
	t.Cleanup(func() { os.Remove(p) })
	return p
}
