package install_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/host/hosttest"
	"github.com/ibemu/ibemu/stack/install"
)

var fixedNow = func() time.Time { return time.Date(2010, 4, 21, 9, 30, 0, 0, time.UTC) }

// adapter is a detached adapter of the named model.
func adapter(t testing.TB, profile string, guid wire.GUID) host.Adapter {
	t.Helper()
	p, err := hca.StandardProfiles().Lookup(profile)
	if err != nil {
		t.Fatal(err)
	}
	return host.DetachedAdapter(host.IdentityFromProfile(p, "hca", guid, 0, nil))
}

const (
	guidCX = 0x0002c903000a0000
	guidIH = 0x0002c90200001000
)

// newHost makes a host with a ConnectX-2 and an InfiniHost III Ex.
func newHost(t testing.TB, o host.OS, a host.Arch, adapters ...host.Adapter) *host.Host {
	t.Helper()
	if adapters == nil {
		adapters = []host.Adapter{adapter(t, hca.ProfileConnectX2QDR2p, guidCX), adapter(t, hca.ProfileInfiniHostIIIEx, guidIH)}
	}
	h, err := host.Create(filepath.Join(hosttest.TempDir(t), "root"), host.Config{Name: "node1", OS: o, Arch: a, Adapters: adapters, Now: fixedNow})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// msiexec runs a command line on h.
func msiexec(t testing.TB, h *host.Host, line string, o install.Options) (*install.Result, error) {
	t.Helper()
	args, err := install.SplitCommandLine(line)
	if err != nil {
		return nil, err
	}
	req, err := install.ParseCommandLine(args)
	if err != nil {
		return nil, err
	}
	return install.Run(h, req, o)
}

func mustRun(t testing.TB, h *host.Host, line string, o install.Options) *install.Result {
	t.Helper()
	res, err := msiexec(t, h, line, o)
	if err != nil {
		t.Fatalf("%s: %v\nlog:\n%s", line, err, strings.Join(logOf(res), "\n"))
	}
	return res
}

func logOf(r *install.Result) []string {
	if r == nil {
		return nil
	}
	return r.Log
}

func snap(t testing.TB, h *host.Host) host.Snapshot {
	t.Helper()
	s, err := host.TakeSnapshot(h.Root())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pkgName(o host.OS, a host.Arch) string {
	p, err := install.PackageFor(nil, o, a)
	if err != nil {
		panic(err)
	}
	return p.FileName
}

func deviceByService(h *host.Host, svc string) []host.Device {
	var out []host.Device
	for _, d := range h.Devices() {
		if d.Service == svc {
			out = append(out, d)
		}
	}
	return out
}

func hasProvider(h *host.Host, kind string) bool {
	return slices.ContainsFunc(h.Providers(), func(p host.Provider) bool { return p.Kind == kind })
}
