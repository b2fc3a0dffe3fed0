package host_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/host/hosttest"
)

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A corrupt or half-written state file gives an error naming the problem
// and leaves the root untouched.
func TestOpenCorruptState(t *testing.T) {
	h := newHost(t, host.Server2008, host.X64)
	good, err := os.ReadFile(filepath.Join(h.Root(), host.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	json.Unmarshal(good, &generic)
	mutate := func(k string, v any) []byte {
		m := map[string]any{}
		for a, b := range generic {
			m[a] = b
		}
		m[k] = v
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "truncated"},
		{"empty", nil, "empty"},
		{"garbage", []byte("{\"format\": ibemu}"), "corrupt at byte"},
		{"wrong format", mutate("format", "ibemu-host/99"), `format "ibemu-host/99"`},
		{"unknown os", mutate("os", "beos"), "unknown os"},
		{"wrong type", mutate("boots", "many"), "wrong type"},
		{"unknown field", mutate("extra", 1), "unknown field"},
		{"trailing data", append(append([]byte(nil), good...), []byte("{}")...), "data after"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(h.Root(), host.StateFile), tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			before := snap(t, h)
			_, err := host.Open(h.Root())
			if !errors.Is(err, host.ErrCorruptState) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want ErrCorruptState mentioning %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), host.StateFile) {
				t.Errorf("error does not name the file: %v", err)
			}
			if d := before.Diff(snap(t, h)); len(d) > 0 {
				t.Errorf("Open changed the root: %v", d)
			}
		})
	}
	if _, err := host.Open(hosttest.TempDir(t)); !errors.Is(err, host.ErrNoHost) {
		t.Errorf("Open of an empty dir = %v, want ErrNoHost", err)
	}
}

func FuzzOpenState(f *testing.F) {
	root := hosttest.TempDir(f)
	h, err := host.Create(filepath.Join(root, "seed"), host.Config{OS: host.Server2008, Arch: host.X64, Now: fixedNow})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(h.Root(), host.StateFile))
	f.Add(good)
	f.Add([]byte("{}"))
	f.Add([]byte(`{"format":"ibemu-host/1","name":"X","os":"xp","arch":"x86","hcas":[{"slot":1,"num_ports":1}],"devices":[{"slot":9}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := hosttest.TempDir(t)
		if err := os.WriteFile(filepath.Join(dir, host.StateFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		h, err := host.Open(dir)
		if err != nil {
			return
		}
		// A state that opens must survive use.
		_ = h.Enumerate()
		_ = h.NetAdapters()
		_ = h.Reboot()
	})
}

func FuzzParseFirmwareVersion(f *testing.F) {
	for _, s := range []string{"5.3.0", "2.07.9000", "", "1.2", "65536.0.0", "a.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := host.ParseFirmwareVersion(s)
		if err != nil {
			return
		}
		w, err := host.ParseFirmwareVersion(v.String())
		if err != nil || w != v {
			t.Fatalf("%q -> %v -> %v, %v", s, v, w, err)
		}
		if w, err := host.ParseFirmwareVersion(v.VstatString()); err != nil || w != v {
			t.Fatalf("vstat form of %v: %v, %v", v, w, err)
		}
	})
}

func FuzzParseDriverVer(f *testing.F) {
	f.Add([]byte("[Version]\r\nDriverVer=01/20/2010,2.2.1.2778\r\n"))
	f.Add([]byte("DriverVer = ,"))
	f.Fuzz(func(t *testing.T, inf []byte) {
		d, v, ok := host.ParseDriverVer(inf)
		if ok && (d == "" || v == "") {
			t.Fatalf("ok with empty fields: %q %q", d, v)
		}
	})
}
