package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// The host's disk lives under its root: Windows drive X: is the directory
// <root>/X, a Linux host's / is <root>/rootfs. The state file sits beside
// them.
const (
	linuxRootDir = "rootfs"
	// StateFile is the name of the state file in the root.
	StateFile = "host.json"
)

// reservedNames are Windows device names no file may take.
var reservedNames = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

// checkWinName reports whether name can be a Windows file name.
func checkWinName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	for _, r := range name {
		if r < 0x20 || strings.ContainsRune(`<>:"|?*`, r) {
			return fmt.Errorf("%q holds %q, which Windows file names cannot", name, r)
		}
	}
	if strings.HasSuffix(name, " ") || strings.HasSuffix(name, ".") {
		return fmt.Errorf("%q ends in a space or dot", name)
	}
	base := strings.ToUpper(name)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	if reservedNames[base] {
		return fmt.Errorf("%q is a reserved device name", name)
	}
	return nil
}

// splitWin splits an absolute Windows path into its drive letter and
// cleaned components.
func splitWin(p string) (drive string, comps []string, err error) {
	p = strings.ReplaceAll(p, "/", `\`)
	if len(p) < 2 || p[1] != ':' || !isLetter(p[0]) {
		if strings.HasPrefix(p, `\\`) {
			return "", nil, fmt.Errorf("host: path %q: network paths are not supported: %w", p, ErrBadPath)
		}
		return "", nil, fmt.Errorf("host: path %q: not an absolute path with a drive letter: %w", p, ErrBadPath)
	}
	if len(p) > 2 && p[2] != '\\' {
		return "", nil, fmt.Errorf("host: path %q: drive-relative paths are not supported: %w", p, ErrBadPath)
	}
	drive = strings.ToUpper(p[:1])
	for _, c := range strings.Split(p[2:], `\`) {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(comps) == 0 {
				return "", nil, fmt.Errorf("host: path %q: climbs above the drive root: %w", p, ErrBadPath)
			}
			comps = comps[:len(comps)-1]
			continue
		}
		if err := checkWinName(c); err != nil {
			return "", nil, fmt.Errorf("host: path %q: %v: %w", p, err, ErrBadPath)
		}
		comps = append(comps, c)
	}
	return drive, comps, nil
}

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

// Path maps a host path to the real file system path under the root.
// Windows paths are absolute with a drive letter (environment references
// such as %SystemRoot% are expanded first), compare without regard to
// case as on NTFS, and must be names Windows can hold, so a root built on
// Linux opens on Windows too. Linux paths are absolute.
func (h *Host) Path(p string) (string, error) {
	if h.st.OS == Linux {
		if !strings.HasPrefix(p, "/") {
			return "", fmt.Errorf("host: path %q: not absolute: %w", p, ErrBadPath)
		}
		clean := path.Clean(p)
		return filepath.Join(h.root, linuxRootDir, filepath.FromSlash(strings.TrimPrefix(clean, "/"))), nil
	}
	drive, comps, err := splitWin(h.rooted(h.ExpandEnv(p)))
	if err != nil {
		return "", err
	}
	return resolveFold(filepath.Join(h.root, drive), comps), nil
}

// rooted puts a path relative to the root of the current drive
// ("\temp\msi.log") on the system drive, where processes start.
func (h *Host) rooted(p string) string {
	if (strings.HasPrefix(p, `\`) || strings.HasPrefix(p, "/")) && !strings.HasPrefix(p, `\\`) && !strings.HasPrefix(p, "//") {
		if d := h.Getenv("SystemDrive"); d != "" {
			return d + p
		}
	}
	return p
}

// resolveFold appends comps to dir, matching each against existing
// entries without regard to case, so a path names an existing entry by the
// case it was created with. On a file system that already ignores case
// (Windows, macOS) a component found by Lstat may differ in case from the
// entry, so the entry's own name is looked up there too.
func resolveFold(dir string, comps []string) string {
	cur, exists := dir, true
	for _, c := range comps {
		next := filepath.Join(cur, c)
		if exists {
			if _, err := os.Lstat(next); err != nil || foldingFS {
				next = ""
				if ents, err := os.ReadDir(cur); err == nil {
					for _, e := range ents {
						if strings.EqualFold(e.Name(), c) {
							next = filepath.Join(cur, e.Name())
							break
						}
					}
				}
				if next == "" {
					next, exists = filepath.Join(cur, c), false
				}
			}
		}
		cur = next
	}
	return cur
}

// foldingFS is set where the native file system ignores case.
var foldingFS = runtime.GOOS == "windows" || runtime.GOOS == "darwin"

// HostPath maps a real path under the root back to the host's path
// ("C:\Windows\System32\drivers\mthca.sys").
func (h *Host) HostPath(real string) (string, error) {
	rel, err := filepath.Rel(h.root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("host: %s is outside the host root: %w", real, ErrBadPath)
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if h.st.OS == Linux {
		if parts[0] != linuxRootDir {
			return "", fmt.Errorf("host: %s is not on the host's disk: %w", real, ErrBadPath)
		}
		return "/" + strings.Join(parts[1:], "/"), nil
	}
	if len(parts[0]) != 1 || !isLetter(parts[0][0]) {
		return "", fmt.Errorf("host: %s is not on a drive of the host: %w", real, ErrBadPath)
	}
	return parts[0] + `:\` + strings.Join(parts[1:], `\`), nil
}

// JoinPath joins path elements with the host's separator.
func (h *Host) JoinPath(elem ...string) string {
	sep := `\`
	if h.st.OS == Linux {
		sep = "/"
	}
	out := ""
	for _, e := range elem {
		switch {
		case e == "":
		case out == "":
			out = e
		default:
			out = strings.TrimRight(out, sep) + sep + strings.TrimLeft(e, sep)
		}
	}
	return out
}

// samePath compares two host paths as the host's file system would.
func (h *Host) samePath(a, b string) bool {
	if h.st.OS == Linux {
		return path.Clean(a) == path.Clean(b)
	}
	da, ca, err1 := splitWin(h.rooted(h.ExpandEnv(a)))
	db, cb, err2 := splitWin(h.rooted(h.ExpandEnv(b)))
	if err1 != nil || err2 != nil || da != db || len(ca) != len(cb) {
		return false
	}
	for i := range ca {
		if !strings.EqualFold(ca[i], cb[i]) {
			return false
		}
	}
	return true
}

// inUse reports the online disk that holds host path p open, if any.
func (h *Host) inUse(p string) (string, bool) {
	for _, d := range h.st.Disks {
		if !d.Online {
			continue
		}
		for _, held := range d.Holds {
			if h.samePath(held, p) {
				return d.Volume, true
			}
		}
	}
	return "", false
}

// Exists reports whether the host path p names a file or folder.
func (h *Host) Exists(p string) bool {
	real, err := h.Path(p)
	if err != nil {
		return false
	}
	_, err = os.Stat(real)
	return err == nil
}

// IsDir reports whether the host path p names a folder.
func (h *Host) IsDir(p string) bool {
	real, err := h.Path(p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(real)
	return err == nil && fi.IsDir()
}

// ReadFile reads the file at host path p.
func (h *Host) ReadFile(p string) ([]byte, error) {
	if err := h.usable(); err != nil {
		return nil, err
	}
	real, err := h.Path(p)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(real)
	if err != nil {
		return nil, fmt.Errorf("host: read %s: %w", p, err)
	}
	return b, nil
}

// ReadDir lists the names in the folder at host path p, sorted.
func (h *Host) ReadDir(p string) ([]string, error) {
	if err := h.usable(); err != nil {
		return nil, err
	}
	real, err := h.Path(p)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(real)
	if err != nil {
		return nil, fmt.Errorf("host: list %s: %w", p, err)
	}
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = e.Name()
	}
	sort.Strings(out)
	return out, nil
}

// MkdirAll creates the folder at host path p and its parents. Inside a
// transaction the folders it creates are journaled.
func (h *Host) MkdirAll(p string) error {
	if err := h.usable(); err != nil {
		return err
	}
	real, err := h.Path(p)
	if err != nil {
		return err
	}
	return h.mkdirAllReal(real)
}

// mkdirAllReal creates real and its missing parents under the root,
// journaling each.
func (h *Host) mkdirAllReal(real string) error {
	if fi, err := os.Stat(real); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("host: mkdir %s: a file is in the way: %w", real, ErrExists)
		}
		return nil
	}
	if parent := filepath.Dir(real); parent != real && len(parent) >= len(h.root) {
		if err := h.mkdirAllReal(parent); err != nil {
			return err
		}
	}
	if h.tx != nil {
		if err := h.tx.record(journalEntry{Op: opMkdir, Path: h.rel(real)}); err != nil {
			return err
		}
	}
	if err := os.Mkdir(real, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("host: mkdir: %w", err)
	}
	return nil
}

// WriteFile writes data to the file at host path p, creating its folder
// if needed and replacing what was there. Inside a transaction the old
// content is saved first so Rollback restores it. A file an online disk
// holds open cannot be replaced (ErrInUse).
func (h *Host) WriteFile(p string, data []byte) error {
	if err := h.usable(); err != nil {
		return err
	}
	real, err := h.Path(p)
	if err != nil {
		return err
	}
	if vol, busy := h.inUse(p); busy {
		return fmt.Errorf("host: write %s: held open by disk %s: %w", p, vol, ErrInUse)
	}
	if fi, err := os.Stat(real); err == nil && fi.IsDir() {
		return fmt.Errorf("host: write %s: a folder is in the way: %w", p, ErrExists)
	}
	if err := h.mkdirAllReal(filepath.Dir(real)); err != nil {
		return err
	}
	if h.tx != nil {
		if err := h.tx.beforeChange(real); err != nil {
			return err
		}
	}
	if err := os.WriteFile(real, data, 0o644); err != nil {
		return fmt.Errorf("host: write %s: %w", p, err)
	}
	return nil
}

// Remove deletes the file or empty folder at host path p. Inside a
// transaction the file is saved first. A file an online disk holds open
// cannot be deleted (ErrInUse).
func (h *Host) Remove(p string) error {
	if err := h.usable(); err != nil {
		return err
	}
	real, err := h.Path(p)
	if err != nil {
		return err
	}
	return h.removeReal(p, real)
}

func (h *Host) removeReal(p, real string) error {
	fi, err := os.Lstat(real)
	if err != nil {
		return fmt.Errorf("host: remove %s: %w", p, err)
	}
	if !fi.IsDir() {
		if vol, busy := h.inUse(p); busy {
			return fmt.Errorf("host: remove %s: held open by disk %s: %w", p, vol, ErrInUse)
		}
	}
	if h.tx != nil {
		if err := h.tx.beforeChange(real); err != nil {
			return err
		}
	}
	if err := os.Remove(real); err != nil {
		return fmt.Errorf("host: remove %s: %w", p, err)
	}
	return nil
}

// RemoveAll deletes the folder at host path p with everything in it (or
// the file p). Files held open by an online disk stay; their errors are
// joined into the result and the folders holding them stay too.
func (h *Host) RemoveAll(p string) error {
	if err := h.usable(); err != nil {
		return err
	}
	real, err := h.Path(p)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(real); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return h.removeAllReal(real)
}

func (h *Host) removeAllReal(real string) error {
	fi, err := os.Lstat(real)
	if err != nil {
		return fmt.Errorf("host: remove: %w", err)
	}
	hp, err := h.HostPath(real)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return h.removeReal(hp, real)
	}
	ents, err := os.ReadDir(real)
	if err != nil {
		return fmt.Errorf("host: remove %s: %w", hp, err)
	}
	var errs []error
	for _, e := range ents {
		if err := h.removeAllReal(filepath.Join(real, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return h.removeReal(hp, real)
}

// Walk calls fn for every file and folder under host path p (p first,
// then in lexical order) with its host path.
func (h *Host) Walk(p string, fn func(hostPath string, isDir bool) error) error {
	if err := h.usable(); err != nil {
		return err
	}
	real, err := h.Path(p)
	if err != nil {
		return err
	}
	if _, err := os.Stat(real); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(real, func(r string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hp, err := h.HostPath(r)
		if err != nil {
			return err
		}
		return fn(hp, d.IsDir())
	})
}

// rel is real's path relative to the root, with forward slashes.
func (h *Host) rel(real string) string {
	r, err := filepath.Rel(h.root, real)
	if err != nil {
		return real
	}
	return filepath.ToSlash(r)
}
