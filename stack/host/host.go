package host

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// Config describes a host to create.
type Config struct {
	// Name is the computer name (default "NODE").
	Name string
	// OS and Arch are required.
	OS   OS
	Arch Arch
	// EthernetPorts is the number of built-in Ethernet adapters
	// ("Local Area Connection", "Local Area Connection 2" ...); 0 means
	// one, a negative number none.
	EthernetPorts int
	// Adapters are the HCAs in the host's PCI slots, slot 1 first.
	Adapters []Adapter
	// Now is the host's clock for event log time stamps (default
	// time.Now).
	Now func() time.Time
}

// Option configures Open.
type Option func(*Host)

// WithAdapters attaches live adapters to the slots whose node GUID they
// carry; adapters the host has not seen before go into new slots, as if
// plugged in.
func WithAdapters(a ...Adapter) Option {
	return func(h *Host) { h.pending = append(h.pending, a...) }
}

// WithClock sets the clock for event log time stamps.
func WithClock(now func() time.Time) Option { return func(h *Host) { h.now = now } }

// Host is an emulated computer: an operating system flavour and
// architecture, a disk rooted in a real directory, and the state Windows
// keeps in its registry. A Host is not safe for concurrent use; one
// goroutine at a time may call its methods. Another process may Open the
// same root after this one is done with it.
type Host struct {
	root     string
	st       *State
	tx       *Tx
	closed   bool
	now      func() time.Time
	adapters map[wire.GUID]Adapter
	pending  []Adapter
}

// Create makes a new host in root, which must be missing or empty, boots
// it once and saves its state.
func Create(root string, cfg Config) (*Host, error) {
	if !cfg.OS.Valid() {
		return nil, fmt.Errorf("host: create: os %d: %w", int(cfg.OS), ErrBadConfig)
	}
	if !cfg.Arch.Valid() {
		return nil, fmt.Errorf("host: create: architecture %d: %w", int(cfg.Arch), ErrBadConfig)
	}
	if cfg.Name == "" {
		cfg.Name = "NODE"
	}
	if strings.ContainsAny(cfg.Name, `\/:*?"<>| `) || len(cfg.Name) > 15 {
		return nil, fmt.Errorf("host: create: computer name %q: at most 15 characters, no spaces or punctuation: %w", cfg.Name, ErrBadConfig)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("host: create: %w", err)
	}
	if ents, err := os.ReadDir(abs); err == nil && len(ents) > 0 {
		if _, err := os.Stat(filepath.Join(abs, StateFile)); err == nil {
			return nil, fmt.Errorf("host: create: %s already holds a host: %w", abs, ErrExists)
		}
		return nil, fmt.Errorf("host: create: %s is not empty: %w", abs, ErrExists)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("host: create: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("host: create: %w", err)
	}
	h := &Host{root: abs, now: cfg.Now, adapters: map[wire.GUID]Adapter{}}
	if h.now == nil {
		h.now = time.Now
	}
	h.st = &State{Format: StateFormat, Name: strings.ToUpper(cfg.Name), OS: cfg.OS, Arch: cfg.Arch}
	if err := h.layout(); err != nil {
		return nil, err
	}
	eth := cfg.EthernetPorts
	if eth == 0 {
		eth = 1
	}
	for i := 0; i < eth; i++ {
		h.st.Adapters = append(h.st.Adapters, NetAdapter{
			Name: h.freeConnectionName(), Description: "Intel(R) PRO/1000 MT Network Connection", Kind: AdapterEthernet,
			MAC: ethernetMAC(h.st.Name, i), DHCP: true,
		})
	}
	for _, a := range cfg.Adapters {
		h.attach(a)
	}
	if err := h.boot(); err != nil {
		return nil, err
	}
	if err := h.save(); err != nil {
		return nil, err
	}
	return h, nil
}

// ethernetMAC makes a stable locally administered MAC for Ethernet port i.
func ethernetMAC(name string, i int) string {
	var s uint32 = 2166136261
	for _, c := range []byte(name) {
		s = (s ^ uint32(c)) * 16777619
	}
	return fmt.Sprintf("02-00-%02X-%02X-%02X-%02X", byte(s>>24), byte(s>>16), byte(s>>8), byte(int(s)+i))
}

// layout creates the system folders and the default environment.
func (h *Host) layout() error {
	st := h.st
	if st.OS == Linux {
		st.Env = []EnvVar{{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, {"HOSTNAME", strings.ToLower(st.Name)}}
		for _, d := range []string{"/etc", "/usr/bin", "/usr/sbin", "/var/log", "/tmp", "/lib/modules"} {
			if err := h.MkdirAll(d); err != nil {
				return err
			}
		}
		return nil
	}
	win, sys := `C:\Windows`, "System32"
	if st.OS.VersionNT() < 600 {
		win, sys = `C:\WINDOWS`, "system32"
	}
	st.Env = []EnvVar{
		{"ComSpec", `%SystemRoot%\system32\cmd.exe`},
		{"COMPUTERNAME", st.Name},
		{"OS", "Windows_NT"},
		{"Path", `%SystemRoot%\system32;%SystemRoot%;%SystemRoot%\System32\Wbem`},
		{"PATHEXT", ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC"},
		{"PROCESSOR_ARCHITECTURE", st.Arch.ProcessorArchitecture()},
		{"ProgramFiles", `C:\Program Files`},
		{"SystemDrive", "C:"},
		{"SystemRoot", win},
		{"TEMP", `%SystemRoot%\TEMP`},
		{"TMP", `%SystemRoot%\TEMP`},
		{"windir", win},
	}
	if st.Arch.Is64() {
		st.Env = append(st.Env, EnvVar{"ProgramFiles(x86)", `C:\Program Files (x86)`})
	}
	dirs := []string{win, win + `\` + sys, win + `\` + sys + `\drivers`, win + `\inf`, win + `\TEMP`, `C:\Program Files`}
	if st.Arch.Is64() {
		dirs = append(dirs, win+`\SysWOW64`, `C:\Program Files (x86)`)
	}
	if st.OS.HasDriverStore() {
		dirs = append(dirs, win+`\`+sys+`\DriverStore\FileRepository`, `C:\Users\Administrator`, `C:\ProgramData\Microsoft\Windows\Start Menu\Programs`)
	} else {
		dirs = append(dirs, `C:\Documents and Settings\Administrator`, `C:\Documents and Settings\All Users\Start Menu\Programs`)
	}
	for _, d := range dirs {
		if err := h.MkdirAll(d); err != nil {
			return err
		}
	}
	return nil
}

// Open opens the host saved in root. A transaction a killed process left
// unfinished is rolled back first. A missing, unreadable, truncated or
// inconsistent state file is an error that names the problem
// (ErrNoHost, ErrCorruptState); the root is then left untouched.
func Open(root string, opts ...Option) (*Host, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("host: open: %w", err)
	}
	st, err := loadState(abs)
	if err != nil {
		return nil, err
	}
	if err := recoverJournals(abs, st.OS); err != nil {
		return nil, err
	}
	// Recovery may have restored an older state file.
	if st, err = loadState(abs); err != nil {
		return nil, err
	}
	cleanStaleTemps(abs)
	h := &Host{root: abs, st: st, now: time.Now, adapters: map[wire.GUID]Adapter{}}
	for _, o := range opts {
		o(h)
	}
	if len(h.pending) > 0 {
		for _, a := range h.pending {
			h.attach(a)
		}
		h.pending = nil
		if err := h.Enumerate(); err != nil {
			return nil, err
		}
		h.attachServices()
	}
	return h, nil
}

// loadState reads and checks the state file in root.
func loadState(root string) (*State, error) {
	path := filepath.Join(root, StateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("host: open %s: no %s: %w", root, StateFile, ErrNoHost)
	}
	if err != nil {
		return nil, fmt.Errorf("host: open %s: %w", root, err)
	}
	var st State
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case len(strings.TrimSpace(string(data))) == 0:
			return nil, fmt.Errorf("host: open %s: state file %s is empty (half-written?): %w", root, path, ErrCorruptState)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			return nil, fmt.Errorf("host: open %s: state file %s is truncated after %d bytes (half-written?): %w", root, path, len(data), ErrCorruptState)
		case errors.As(err, &syn):
			return nil, fmt.Errorf("host: open %s: state file %s is corrupt at byte %d: %v: %w", root, path, syn.Offset, err, ErrCorruptState)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("host: open %s: state file %s: field %q has the wrong type (%v): %w", root, path, typ.Field, err, ErrCorruptState)
		default:
			return nil, fmt.Errorf("host: open %s: state file %s: %v: %w", root, path, err, ErrCorruptState)
		}
	}
	if dec.More() {
		return nil, fmt.Errorf("host: open %s: state file %s has data after the state: %w", root, path, ErrCorruptState)
	}
	if err := st.validate(); err != nil {
		return nil, fmt.Errorf("host: open %s: state file %s: %v: %w", root, path, err, ErrCorruptState)
	}
	return &st, nil
}

// validate checks the state's invariants.
func (st *State) validate() error {
	var errs []string
	if st.Format != StateFormat {
		errs = append(errs, fmt.Sprintf("format %q, want %q", st.Format, StateFormat))
	}
	if !st.OS.Valid() || !st.Arch.Valid() {
		errs = append(errs, "no os or architecture")
	}
	if st.Name == "" {
		errs = append(errs, "no computer name")
	}
	dup := func(kind string, keys []string) {
		seen := map[string]bool{}
		for _, k := range keys {
			lk := strings.ToLower(k)
			if seen[lk] {
				errs = append(errs, fmt.Sprintf("%s %q twice", kind, k))
			}
			seen[lk] = true
		}
	}
	var keys []string
	for _, d := range st.Devices {
		keys = append(keys, d.InstanceID)
	}
	dup("device", keys)
	keys = keys[:0]
	for _, s := range st.Services {
		keys = append(keys, s.Name)
	}
	dup("service", keys)
	keys = keys[:0]
	for _, a := range st.Adapters {
		keys = append(keys, a.Name)
	}
	dup("network adapter", keys)
	keys = keys[:0]
	for _, p := range st.Products {
		keys = append(keys, p.Code)
	}
	dup("product", keys)
	keys = keys[:0]
	for _, p := range st.DriverStore {
		keys = append(keys, p.Published)
	}
	dup("published inf", keys)
	for i, s := range st.HCAs {
		if s.Slot != i+1 {
			errs = append(errs, fmt.Sprintf("hca slot %d listed as %d", i+1, s.Slot))
		}
		if s.NumPorts < 1 || len(s.PortGUIDs) != s.NumPorts {
			errs = append(errs, fmt.Sprintf("hca slot %d: %d ports with %d port guids", s.Slot, s.NumPorts, len(s.PortGUIDs)))
		}
	}
	for _, d := range st.Devices {
		switch {
		case d.Slot < 0 || d.Slot > len(st.HCAs):
			errs = append(errs, fmt.Sprintf("device %s in hca slot %d of %d", d.InstanceID, d.Slot, len(st.HCAs)))
		case d.Port < 0 || (d.Port > 0 && (d.Slot == 0 || d.Port > st.HCAs[d.Slot-1].NumPorts)):
			errs = append(errs, fmt.Sprintf("device %s on port %d of hca slot %d", d.InstanceID, d.Port, d.Slot))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// cleanStaleTemps removes state temporaries a killed save left behind.
func cleanStaleTemps(root string) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), StateFile+".tmp-") {
			_ = os.Remove(filepath.Join(root, e.Name()))
		}
	}
}

// Root is the real directory the host lives in.
func (h *Host) Root() string { return h.root }

// Name is the computer name.
func (h *Host) Name() string { return h.st.Name }

// OS is the operating system flavour.
func (h *Host) OS() OS { return h.st.OS }

// Arch is the processor architecture.
func (h *Host) Arch() Arch { return h.st.Arch }

// Boots counts system starts.
func (h *Host) Boots() int { return h.st.Boots }

// RebootPending reports whether a change waits for a restart.
func (h *Host) RebootPending() bool { return h.st.RebootPending }

// SetRebootPending records that a change needs a restart.
func (h *Host) SetRebootPending() error {
	h.st.RebootPending = true
	return h.changed()
}

// State returns a copy of the host's state, for inspection.
func (h *Host) State() State {
	b, err := json.Marshal(h.st)
	if err != nil {
		panic(fmt.Sprintf("host: state does not marshal: %v", err)) // the types are ours
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		panic(fmt.Sprintf("host: state does not unmarshal: %v", err))
	}
	return st
}

// InTx reports whether a transaction is open.
func (h *Host) InTx() bool { return h.tx != nil }

// Close releases the host. An open transaction is rolled back, and the
// in-process programs of running services are detached (they stay
// Running in the saved state; a later Open with live adapters resumes
// them). The state on disk is what the last change saved.
func (h *Host) Close() error {
	if h.closed {
		return nil
	}
	var err error
	if h.tx != nil {
		err = h.tx.Rollback()
	}
	h.detachServices()
	h.closed = true
	return err
}

// usable reports ErrClosed once the host is closed or abandoned.
func (h *Host) usable() error {
	if h.closed {
		return fmt.Errorf("host: %s: %w", h.root, ErrClosed)
	}
	return nil
}

// changed saves the state, or leaves it for Commit inside a transaction.
func (h *Host) changed() error {
	if err := h.usable(); err != nil {
		return err
	}
	if h.tx != nil {
		return nil
	}
	return h.save()
}

// save writes the state file atomically.
func (h *Host) save() error {
	b, err := json.MarshalIndent(h.st, "", "  ")
	if err != nil {
		return fmt.Errorf("host: save: %w", err)
	}
	return writeAtomic(filepath.Join(h.root, StateFile), append(b, '\n'))
}

// Update runs fn, which changes the host, as one unit: inside an open
// transaction it simply runs; otherwise it runs in a transaction of its
// own that commits when fn succeeds and rolls back when it fails.
func (h *Host) Update(name string, fn func() error) error {
	if h.tx != nil {
		return fn()
	}
	tx, err := h.Begin(name)
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return tx.Commit()
}

// attach records adapter a in its slot (a new slot for an unseen GUID).
func (h *Host) attach(a Adapter) {
	id := a.Identity()
	h.adapters[id.NodeGUID] = a
	for i := range h.st.HCAs {
		if h.st.HCAs[i].NodeGUID == id.NodeGUID {
			return
		}
	}
	h.st.HCAs = append(h.st.HCAs, slotFromIdentity(len(h.st.HCAs)+1, id))
}

// HCAs returns the HCA slots.
func (h *Host) HCAs() []HCASlot {
	out := make([]HCASlot, len(h.st.HCAs))
	for i, s := range h.st.HCAs {
		out[i] = s
		out[i].PortGUIDs = slices.Clone(s.PortGUIDs)
	}
	return out
}

// HCA returns slot n (from 1).
func (h *Host) HCA(n int) (HCASlot, error) {
	if n < 1 || n > len(h.st.HCAs) {
		return HCASlot{}, fmt.Errorf("host: hca slot %d of %d: %w", n, len(h.st.HCAs), ErrNotFound)
	}
	return h.HCAs()[n-1], nil
}

// Adapter returns the hardware in slot n: the live adapter attached to
// it, or a detached one built from the slot record.
func (h *Host) Adapter(n int) (Adapter, error) {
	s, err := h.HCA(n)
	if err != nil {
		return nil, err
	}
	if a, ok := h.adapters[s.NodeGUID]; ok {
		return a, nil
	}
	return DetachedAdapter(identityFromSlot(&s)), nil
}

// BurnFirmware writes image into the flash of the HCA in slot n, as
// flint's burn command does. The image must carry the board's PSID
// unless allowPSIDChange. The running driver keeps the old firmware
// until the device restarts (RestartDevice) or the host reboots.
func (h *Host) BurnFirmware(n int, image FirmwareImage, allowPSIDChange bool) error {
	if err := h.usable(); err != nil {
		return err
	}
	if n < 1 || n > len(h.st.HCAs) {
		return fmt.Errorf("host: burn firmware: hca slot %d of %d: %w", n, len(h.st.HCAs), ErrNotFound)
	}
	s := &h.st.HCAs[n-1]
	if image.Version.IsZero() {
		return fmt.Errorf("host: burn firmware: image has no version: %w", ErrBadConfig)
	}
	if image.PSID == "" {
		image.PSID = s.Firmware.PSID
	}
	if image.PSID != s.Firmware.PSID && !allowPSIDChange {
		return fmt.Errorf("host: burn firmware: image PSID %s does not match the board's %s: %w", image.PSID, s.Firmware.PSID, ErrBadConfig)
	}
	image.Burns = s.Firmware.Burns + 1
	s.Firmware = image
	return h.changed()
}

// Reboot restarts the host: services stop, the event log notes the
// restart, devices are found again and bound to their drivers (HCA
// firmware is checked anew), and services set to start automatically
// start.
func (h *Host) Reboot() error {
	if err := h.usable(); err != nil {
		return err
	}
	if h.tx != nil {
		return fmt.Errorf("host: reboot during %q: %w", h.tx.name, ErrBusy)
	}
	for i := range h.st.Services {
		s := &h.st.Services[i]
		if s.State == ServiceRunning && s.Kind == KindProcess {
			if err := h.stopRunner(*s); err != nil {
				h.logEvent(LevelWarning, "Service Control Manager", 7034, fmt.Sprintf("The %s service terminated unexpectedly: %v", s.DisplayName, err))
			}
		}
		s.State = ServiceStopped
	}
	for i := range h.st.Devices {
		if h.st.Devices[i].Status == StatusStarted {
			h.st.Devices[i].Status = StatusProblem
			h.st.Devices[i].Problem = ProblemFailedStart
		}
	}
	h.logEvent(LevelInformation, "EventLog", 6006, "The Event log service was stopped.")
	if err := h.boot(); err != nil {
		return err
	}
	return h.save()
}

// boot starts the system: event log, devices, automatic services.
func (h *Host) boot() error {
	h.st.Boots++
	h.st.RebootPending = false
	h.logEvent(LevelInformation, "EventLog", 6005, "The Event log service was started.")
	if h.st.OS == Linux {
		return nil
	}
	// Devices are found again from scratch: software children go away
	// and come back when their parents start.
	kept := h.st.Devices[:0]
	for _, d := range h.st.Devices {
		if d.Parent == "" {
			if !d.RootEnumerated {
				d.Status, d.Problem = StatusProblem, ProblemNoDriver
			}
			kept = append(kept, d)
		}
	}
	h.st.Devices = kept
	if err := h.Enumerate(); err != nil {
		return err
	}
	for i := range h.st.Services {
		s := h.st.Services[i]
		if s.Kind == KindProcess && s.StartMode == StartAuto {
			if err := h.StartService(s.Name); err != nil {
				h.logEvent(LevelError, "Service Control Manager", 7000, fmt.Sprintf("The %s service failed to start: %v", s.DisplayName, err))
			}
		}
	}
	return nil
}

// Reimage reinstalls the operating system from a clean image, as HPC
// node provisioning does: the disk is wiped and recreated, software,
// drivers, services, certificates and settings are gone; the hardware
// (HCA slots and their firmware) and the computer name stay.
func (h *Host) Reimage() error {
	if err := h.usable(); err != nil {
		return err
	}
	if h.tx != nil {
		return fmt.Errorf("host: reimage during %q: %w", h.tx.name, ErrBusy)
	}
	ents, err := os.ReadDir(h.root)
	if err != nil {
		return fmt.Errorf("host: reimage: %w", err)
	}
	for _, e := range ents {
		if e.Name() == StateFile {
			continue
		}
		if err := RemoveTree(filepath.Join(h.root, e.Name())); err != nil {
			return fmt.Errorf("host: reimage: %w", err)
		}
	}
	old := h.st
	eth := 0
	for _, a := range old.Adapters {
		if a.Kind == AdapterEthernet {
			eth++
		}
	}
	h.st = &State{Format: StateFormat, Name: old.Name, OS: old.OS, Arch: old.Arch, HCAs: old.HCAs, Boots: old.Boots}
	if err := h.layout(); err != nil {
		return err
	}
	for i := 0; i < eth; i++ {
		h.st.Adapters = append(h.st.Adapters, NetAdapter{
			Name: h.freeConnectionName(), Description: "Intel(R) PRO/1000 MT Network Connection", Kind: AdapterEthernet,
			MAC: ethernetMAC(h.st.Name, i), DHCP: true,
		})
	}
	if err := h.boot(); err != nil {
		return err
	}
	return h.save()
}
