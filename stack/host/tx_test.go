package host_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ibemu/ibemu/stack/host"
	"github.com/ibemu/ibemu/stack/host/hosttest"
)

// change makes a mix of changes inside an open transaction.
func change(t *testing.T, h *host.Host) {
	t.Helper()
	steps := []error{
		h.WriteFile(`C:\Program Files\WinOF\new\deep\file.txt`, []byte("new")),
		h.WriteFile(`%SystemRoot%\System32\existing.dll`, []byte("replaced")),
		h.Remove(`%SystemRoot%\System32\doomed.dll`),
		h.RemoveAll(`C:\olddir`),
		h.Setenv("DAT_OVERRIDE", `C:\x.conf`),
		h.AppendPath(`C:\Program Files\WinOF`),
		h.AddService(host.Service{Name: "OpenSM", DisplayName: "InfiniBand Subnet Manager", ImagePath: `C:\Program Files\WinOF\opensm.exe`, StartMode: host.StartDisabled}),
		h.LogEvent(host.LevelInformation, "MsiInstaller", 11707, "installed"),
		h.AddCertificate(host.Certificate{Store: host.StoreTrustedPublisher, Subject: "OpenFabrics Alliance", Thumbprint: "ab"}),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
}

func prepare(t *testing.T) *host.Host {
	t.Helper()
	h := newHost(t, host.Server2008, host.X64)
	for p, c := range map[string]string{
		`%SystemRoot%\System32\existing.dll`: "old",
		`%SystemRoot%\System32\doomed.dll`:   "doomed",
		`C:\olddir\a\b.txt`:                  "b",
		`C:\olddir\c.txt`:                    "c",
	} {
		if err := h.WriteFile(p, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestTxRollbackRestoresEverything(t *testing.T) {
	h := prepare(t)
	before, state := snap(t, h), mustJSON(t, h.State())
	tx, err := h.Begin("install")
	if err != nil {
		t.Fatal(err)
	}
	change(t, h)
	if _, err := h.Begin("second"); !errors.Is(err, host.ErrBusy) {
		t.Errorf("nested Begin = %v, want ErrBusy", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if d := before.Diff(snap(t, h)); len(d) > 0 {
		t.Errorf("tree after rollback differs: %v", d)
	}
	if got := mustJSON(t, h.State()); got != state {
		t.Errorf("state after rollback differs")
	}
}

func TestTxCommitPersists(t *testing.T) {
	h := prepare(t)
	tx, err := h.Begin("install")
	if err != nil {
		t.Fatal(err)
	}
	change(t, h)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if h.Exists(`C:\Config.Msi`) {
		t.Error("rollback folder left after commit")
	}
	again, err := host.Open(h.Root())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Service("opensm"); err != nil {
		t.Error(err)
	}
	if b, _ := again.ReadFile(`%SystemRoot%\System32\existing.dll`); string(b) != "replaced" {
		t.Errorf("existing.dll = %q", b)
	}
	if !again.Trusts("OpenFabrics Alliance") {
		t.Error("certificate lost")
	}
}

// A transaction abandoned as a killed process abandons it is rolled back
// by the next Open, byte for byte.
func TestTxKilledIsRecoveredByOpen(t *testing.T) {
	h := prepare(t)
	before := snap(t, h)
	tx, err := h.Begin("install")
	if err != nil {
		t.Fatal(err)
	}
	change(t, h)
	tx.Abandon()
	if err := h.WriteFile(`C:\x`, nil); !errors.Is(err, host.ErrClosed) {
		t.Errorf("abandoned host still usable: %v", err)
	}
	if d := before.Diff(snap(t, h)); len(d) == 0 {
		t.Fatal("the changes are not on disk before recovery")
	}
	again, err := host.Open(h.Root())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if d := before.Diff(snap(t, again)); len(d) > 0 {
		t.Errorf("tree after recovery differs: %v", d)
	}
}

// A journal whose owner still runs means another install holds the host.
func TestTxForeignLiveOwnerIsBusy(t *testing.T) {
	h := prepare(t)
	dir := filepath.Join(h.Root(), "C", "Config.Msi")
	os.MkdirAll(dir, 0o755)
	rec, _ := json.Marshal(map[string]any{"op": "begin", "name": "other install", "pid": hosttest.LiveProcess(t), "token": "00000000000000aa"})
	os.WriteFile(filepath.Join(dir, "ibemu-00000000000000aa.rbs"), append(rec, '\n'), 0o644)
	if _, err := host.Open(h.Root()); !errors.Is(err, host.ErrBusy) {
		t.Errorf("Open = %v, want ErrBusy", err)
	}
	if _, err := h.Begin("mine"); !errors.Is(err, host.ErrBusy) {
		t.Errorf("Begin = %v, want ErrBusy", err)
	}
}

// A torn last journal line (the process died while writing it) is
// ignored: its change had not been made.
func TestTxTornJournalLine(t *testing.T) {
	h := prepare(t)
	before := snap(t, h)
	tx, err := h.Begin("install")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.WriteFile(`C:\a.txt`, []byte("a")); err != nil {
		t.Fatal(err)
	}
	tx.Abandon()
	ents, _ := os.ReadDir(filepath.Join(h.Root(), "C", "Config.Msi"))
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ".rbs" {
			f, _ := os.OpenFile(filepath.Join(h.Root(), "C", "Config.Msi", e.Name()), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"op":"create","pa`)
			f.Close()
		}
	}
	if _, err := host.Open(h.Root()); err != nil {
		t.Fatal(err)
	}
	if d := before.Diff(snap(t, h)); len(d) > 0 {
		t.Errorf("tree after recovery differs: %v", d)
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	h := prepare(t)
	before := snap(t, h)
	boom := errors.New("boom")
	err := h.Update("x", func() error {
		if err := h.WriteFile(`C:\new.txt`, []byte("n")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	if d := before.Diff(snap(t, h)); len(d) > 0 {
		t.Errorf("tree differs: %v", d)
	}
}
