// Package failure_test is the failure scenario suite: installs that fail
// or die at every step and roll back byte for byte, corrupt and
// half-written host roots, malformed command lines, untrusted drivers and
// concurrent installs.
package failure_test

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/ibemu/ibemu/scenarios"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/host/hosttest"
	"github.com/ibemu/ibemu/stack/install"
)

// plans are the steps of each faulted command line, computed before the
// spec tree is built so that every step gets specs of its own.
var plans = map[string][]string{}

// faulted are the command lines whose every step is faulted, with the
// host each runs on.
var faulted = []struct {
	Name  string
	OS    host.OS
	Arch  host.Arch
	Setup string // an install to run first ("" none)
	Line  string
}{
	{"a full install", host.Server2008, host.X64, "", `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn ADDLOCAL=ALL OSMS=1`},
	{"a driverless install", host.Server2003, host.X86, "", `msiexec /i WinOF_2-2-1_wnet_x86.msi /qn NODRV=1`},
	{"an administrative install", host.HPCServer2008, host.X64, "", `msiexec /a WinOF_2-2-1_wlh_x64.msi TARGETDIR=%TEMP%\WinOF`},
	{"an uninstall", host.Server2008, host.X64, `msiexec /i WinOF_2-2-1_wlh_x64.msi /qn SRP=1 OSMS=1`, `msiexec /x WinOF_2-2-1_wlh_x64.msi /quiet /forcerestart`},
}

func TestMain(m *testing.M) {
	hosttest.MaybeServe() // a live foreign installer for the busy-lock spec
	os.Exit(m.Run())
}

func TestFailure(t *testing.T) {
	dir := hosttest.TempDir(t)
	for i, f := range faulted {
		h, err := host.Create(filepath.Join(dir, f.Name), host.Config{OS: f.OS, Arch: f.Arch})
		if err != nil {
			t.Fatal(err)
		}
		install.TrustPublisher(h)
		if f.Setup != "" {
			if _, err := Msiexec(h, f.Setup, install.Options{}); err != nil {
				t.Fatal(err)
			}
		}
		args, _ := install.SplitCommandLine(f.Line)
		req, err := install.ParseCommandLine(args)
		if err != nil {
			t.Fatal(err)
		}
		if plans[f.Line], err = install.Plan(h, req); err != nil {
			t.Fatalf("plan %d: %v", i, err)
		}
		h.Close()
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "Failure Suite")
}

var _ = BeforeSuite(SuiteSetup)
