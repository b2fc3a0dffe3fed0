package host_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/host/hosttest"
)

var fixedNow = func() time.Time { return time.Date(2010, 1, 20, 12, 0, 0, 0, time.UTC) }

// adapter is a detached adapter of the named model.
func adapter(t testing.TB, profile string, guid wire.GUID) host.Adapter {
	t.Helper()
	p, err := hca.StandardProfiles().Lookup(profile)
	if err != nil {
		t.Fatal(err)
	}
	return host.DetachedAdapter(host.IdentityFromProfile(p, "hca", guid, 0, nil))
}

func newHost(t testing.TB, os host.OS, arch host.Arch, adapters ...host.Adapter) *host.Host {
	t.Helper()
	h, err := host.Create(filepath.Join(hosttest.TempDir(t), "root"), host.Config{Name: "node1", OS: os, Arch: arch, Adapters: adapters, Now: fixedNow})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func snap(t testing.TB, h *host.Host) host.Snapshot {
	t.Helper()
	s, err := host.TakeSnapshot(h.Root())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateLayoutAndReopen(t *testing.T) {
	for _, tc := range []struct {
		os      host.OS
		arch    host.Arch
		windir  string
		store   bool
		wow     bool
		version int
	}{
		{host.WindowsXP, host.X86, `C:\WINDOWS`, false, false, 501},
		{host.Server2003, host.IA64, `C:\WINDOWS`, false, true, 502},
		{host.Server2008, host.X64, `C:\Windows`, true, true, 600},
		{host.HPCServer2008, host.X64, `C:\Windows`, true, true, 600},
		{host.Vista, host.X86, `C:\Windows`, true, false, 600},
	} {
		t.Run(tc.os.Key()+"-"+tc.arch.String(), func(t *testing.T) {
			h := newHost(t, tc.os, tc.arch, adapter(t, hca.ProfileConnectX2QDR2p, 0x0002c903000a0000))
			if got := h.ExpandEnv(`%SystemRoot%`); got != tc.windir {
				t.Errorf("SystemRoot = %q, want %q", got, tc.windir)
			}
			if tc.os.VersionNT() != tc.version {
				t.Errorf("VersionNT = %d, want %d", tc.os.VersionNT(), tc.version)
			}
			for _, d := range []string{`%SystemRoot%\System32\drivers`, `C:\Program Files`, `%SystemRoot%\inf`} {
				if !h.IsDir(d) {
					t.Errorf("%s missing", d)
				}
			}
			if got := h.IsDir(`%SystemRoot%\System32\DriverStore\FileRepository`); got != tc.store {
				t.Errorf("driver store present = %v, want %v", got, tc.store)
			}
			if got := h.IsDir(`%SystemRoot%\SysWOW64`); got != tc.wow {
				t.Errorf("SysWOW64 present = %v, want %v", got, tc.wow)
			}
			devs := h.Devices()
			if len(devs) != 1 || devs[0].Description != "PCI device" || devs[0].Problem != host.ProblemNoDriver {
				t.Fatalf("devices = %+v, want one driverless PCI device", devs)
			}
			if !strings.HasPrefix(devs[0].InstanceID, `PCI\VEN_15B3&DEV_673C&SUBSYS_673C15B3&REV_B0\`) {
				t.Errorf("instance id %s", devs[0].InstanceID)
			}
			if a := h.NetAdapters(); len(a) != 1 || a[0].Name != "Local Area Connection" {
				t.Errorf("adapters = %+v", a)
			}
			again, err := host.Open(h.Root())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := again.State(), h.State(); !equalJSON(t, got, want) {
				t.Errorf("reopened state differs")
			}
		})
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	dir := hosttest.TempDir(t)
	if _, err := host.Create(dir, host.Config{OS: 99, Arch: host.X86}); !errors.Is(err, host.ErrBadConfig) {
		t.Errorf("bad os: %v", err)
	}
	if _, err := host.Create(dir, host.Config{OS: host.Vista, Arch: host.X86, Name: "has space"}); !errors.Is(err, host.ErrBadConfig) {
		t.Errorf("bad name: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "junk"), nil, 0o644)
	if _, err := host.Create(dir, host.Config{OS: host.Vista, Arch: host.X86}); !errors.Is(err, host.ErrExists) {
		t.Errorf("non-empty root: %v", err)
	}
}

func TestPathMapping(t *testing.T) {
	h := newHost(t, host.Server2003, host.X86)
	a, err := h.Path(`c:\windows\SYSTEM32\Drivers\x.sys`)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(h.Root(), "C", "WINDOWS", "system32", "drivers", "x.sys")
	if a != want {
		t.Errorf("Path = %s, want %s (existing folders matched without case)", a, want)
	}
	if p, _ := h.Path(`C:/Program Files/../Program Files/WinOF`); p != filepath.Join(h.Root(), "C", "Program Files", "WinOF") {
		t.Errorf("slashes and dot-dot: %s", p)
	}
	for _, bad := range []string{`relative\x`, `\\server\share\x`, `C:x`, `C:\..\x`, `C:\a<b`, `C:\con.txt`, `C:\trailing.`} {
		if _, err := h.Path(bad); !errors.Is(err, host.ErrBadPath) {
			t.Errorf("Path(%q) = %v, want ErrBadPath", bad, err)
		}
	}
	hp, err := h.HostPath(want)
	if err != nil || hp != `C:\WINDOWS\system32\drivers\x.sys` {
		t.Errorf("HostPath = %q, %v", hp, err)
	}
	if err := h.WriteFile(`%SystemDrive%\DAT\dat.conf`, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if b, err := h.ReadFile(`C:\dat\DAT.CONF`); err != nil || string(b) != "x" {
		t.Errorf("case-insensitive read: %q %v", b, err)
	}
}

func TestEnvironment(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64)
	if err := h.AppendPath(`C:\Program Files\WinOF`); err != nil {
		t.Fatal(err)
	}
	if err := h.AppendPath(`c:\program files\winof\`); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.ToLower(h.Getenv("path")), `winof`); n != 1 {
		t.Errorf("PATH has WinOF %d times: %s", n, h.Getenv("PATH"))
	}
	if !h.InPath(`%ProgramFiles%\WinOF`) {
		t.Error("InPath with a reference")
	}
	if err := h.RemovePath(`C:\Program Files\WinOF`); err != nil || h.InPath(`C:\Program Files\WinOF`) {
		t.Errorf("RemovePath: %v, %s", err, h.Getenv("PATH"))
	}
	h.Setenv("DAT_OVERRIDE", `D:\MyDAT\test.conf`)
	if got := h.ExpandEnv(`%dat_override% %NOPE% 100%`); got != `D:\MyDAT\test.conf %NOPE% 100%` {
		t.Errorf("ExpandEnv = %q", got)
	}
}

func equalJSON(t testing.TB, a, b host.State) bool {
	t.Helper()
	return strings.EqualFold(mustJSON(t, a), mustJSON(t, b))
}

func TestLinuxHost(t *testing.T) {
	h := newHost(t, host.Linux, host.X64, adapter(t, hca.ProfileConnectX2QDR2p, 0x0002c903000a0000))
	p, err := h.Path("/etc/dat.conf")
	if err != nil || p != filepath.Join(h.Root(), "rootfs", "etc", "dat.conf") {
		t.Errorf("Path = %s, %v", p, err)
	}
	if _, err := h.Path("etc/x"); !errors.Is(err, host.ErrBadPath) {
		t.Errorf("relative path: %v", err)
	}
	if err := h.WriteFile("/etc/dat.conf", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if got := h.ExpandEnv("${HOSTNAME}:$PATH"); !strings.HasPrefix(got, "node1:/usr/local/sbin") {
		t.Errorf("ExpandEnv = %q", got)
	}
	if _, err := h.Folder("System32"); !errors.Is(err, host.ErrNotWindows) {
		t.Errorf("Folder on Linux: %v", err)
	}
	if len(h.HCAs()) != 1 {
		t.Errorf("slots %d", len(h.HCAs()))
	}
	if err := h.AppendPath("/opt/ofed/bin"); err != nil || !h.InPath("/opt/ofed/bin") || !strings.HasSuffix(h.Getenv("PATH"), ":/opt/ofed/bin") {
		t.Errorf("PATH = %s, %v", h.Getenv("PATH"), err)
	}
}
