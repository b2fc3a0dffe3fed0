package host

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// A transaction makes a set of changes to a host all-or-nothing, the way
// Windows Installer's rollback script does. Before a file is replaced or
// deleted it is copied into the rollback folder (%SystemDrive%\Config.Msi
// on Windows); files and folders that did not exist are noted; the state
// file is copied at the start. The notes are written to a journal before
// each change, so a process killed mid-install leaves enough behind for
// the next Open to undo the changes. Commit writes the state and deletes
// the journal: that deletion is the commit point.

// Journal operations.
const (
	opBegin  = "begin"  // first record: owner and the saved state file
	opCreate = "create" // Path did not exist
	opBackup = "backup" // Path existed; its content is in Backup
	opMkdir  = "mkdir"  // folder Path was created
)

type journalEntry struct {
	Op     string      `json:"op"`
	Path   string      `json:"path,omitempty"`
	Backup string      `json:"backup,omitempty"`
	Mode   fs.FileMode `json:"mode,omitempty"`
	// Begin record only.
	Name       string `json:"name,omitempty"`
	PID        int    `json:"pid,omitempty"`
	Token      string `json:"token,omitempty"`
	State      string `json:"state,omitempty"`
	CreatedDir bool   `json:"created_dir,omitempty"`
}

// live holds the tokens of transactions open in this process; a journal
// whose owner is this process but whose token is not here was abandoned
// (a simulated kill).
var live = struct {
	sync.Mutex
	tokens map[string]bool
}{tokens: map[string]bool{}}

func setLive(token string, on bool) {
	live.Lock()
	defer live.Unlock()
	if on {
		live.tokens[token] = true
	} else {
		delete(live.tokens, token)
	}
}

func isLive(token string) bool {
	live.Lock()
	defer live.Unlock()
	return live.tokens[token]
}

// Tx is an open transaction on a host. Every change made through the
// Host while it is open (files written, removed or created through the
// Host's file methods, and any change to the host's state) belongs to it.
type Tx struct {
	h       *Host
	name    string
	token   string
	dir     string // real path of the rollback folder
	journal *os.File
	entries []journalEntry
	seen    map[string]bool // real paths already journaled
	snap    []byte          // the state as it was at Begin
	n       int
	done    bool
}

// journalDir is the host's rollback folder.
func (h *Host) journalDir() (string, error) {
	if h.st.OS == Linux {
		return h.Path("/var/lib/ibemu/rollback")
	}
	return h.Path(`%SystemDrive%\Config.Msi`)
}

// Begin opens a transaction named name. Only one may be open on a host
// at a time, across processes (ErrBusy).
func (h *Host) Begin(name string) (*Tx, error) {
	if err := h.usable(); err != nil {
		return nil, err
	}
	if h.tx != nil {
		return nil, fmt.Errorf("host: begin %q: %q is open: %w", name, h.tx.name, ErrBusy)
	}
	if err := recoverJournals(h.root, h.st.OS); err != nil {
		return nil, err
	}
	dir, err := h.journalDir()
	if err != nil {
		return nil, err
	}
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("host: begin %q: %w", name, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	token := hex.EncodeToString(rnd[:])
	snap, err := json.Marshal(h.st)
	if err != nil {
		return nil, fmt.Errorf("host: begin %q: %w", name, err)
	}
	stateCopy := "ibemu-" + token + ".state"
	cur, err := os.ReadFile(filepath.Join(h.root, StateFile))
	if err != nil {
		return nil, fmt.Errorf("host: begin %q: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateCopy), cur, 0o644); err != nil {
		return nil, fmt.Errorf("host: begin %q: %w", name, err)
	}
	jf, err := os.OpenFile(filepath.Join(dir, "ibemu-"+token+".rbs"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("host: begin %q: %w", name, err)
	}
	tx := &Tx{h: h, name: name, token: token, dir: dir, journal: jf, seen: map[string]bool{}, snap: snap}
	setLive(token, true)
	if err := tx.record(journalEntry{Op: opBegin, Name: name, PID: os.Getpid(), Token: token, State: stateCopy, CreatedDir: created}); err != nil {
		setLive(token, false)
		jf.Close()
		return nil, err
	}
	h.tx = tx
	return tx, nil
}

// Name is the transaction's name.
func (tx *Tx) Name() string { return tx.name }

// record appends e to the journal before the change it describes.
func (tx *Tx) record(e journalEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("host: journal: %w", err)
	}
	if _, err := tx.journal.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("host: journal: %w", err)
	}
	tx.entries = append(tx.entries, e)
	return nil
}

// beforeChange journals the file at real before it is written or
// removed: a copy of its content, or a note that it did not exist.
func (tx *Tx) beforeChange(real string) error {
	if tx.seen[real] {
		return nil
	}
	tx.seen[real] = true
	fi, err := os.Lstat(real)
	if errors.Is(err, fs.ErrNotExist) {
		return tx.record(journalEntry{Op: opCreate, Path: tx.h.rel(real)})
	}
	if err != nil {
		return fmt.Errorf("host: journal: %w", err)
	}
	if fi.IsDir() {
		// An existing folder being removed: recreating it undoes that.
		return tx.record(journalEntry{Op: opBackup, Path: tx.h.rel(real), Mode: fi.Mode()})
	}
	data, err := os.ReadFile(real)
	if err != nil {
		return fmt.Errorf("host: journal: %w", err)
	}
	tx.n++
	name := fmt.Sprintf("ibemu-%s-%d.rbf", tx.token, tx.n)
	if err := os.WriteFile(filepath.Join(tx.dir, name), data, 0o644); err != nil {
		return fmt.Errorf("host: journal: %w", err)
	}
	return tx.record(journalEntry{Op: opBackup, Path: tx.h.rel(real), Backup: name, Mode: fi.Mode().Perm()})
}

// Commit makes the transaction's changes permanent: the state is saved
// and the journal deleted.
func (tx *Tx) Commit() error {
	if tx.done {
		return fmt.Errorf("host: commit %q: %w", tx.name, ErrNoTx)
	}
	h := tx.h
	h.tx = nil
	if err := h.save(); err != nil {
		// The journal stays; undo now so the host is as it was.
		h.tx = tx
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	tx.done = true
	setLive(tx.token, false)
	tx.journal.Close()
	if err := os.Remove(tx.journal.Name()); err != nil {
		return fmt.Errorf("host: commit %q: %w", tx.name, err)
	}
	return cleanupJournal(tx.dir, tx.token, tx.entries[0].CreatedDir)
}

// Rollback undoes every change of the transaction: files and folders,
// and the host's state.
func (tx *Tx) Rollback() error {
	if tx.done {
		return fmt.Errorf("host: rollback %q: %w", tx.name, ErrNoTx)
	}
	tx.done = true
	h := tx.h
	h.tx = nil
	setLive(tx.token, false)
	tx.journal.Close()
	var st State
	if err := json.Unmarshal(tx.snap, &st); err != nil {
		return fmt.Errorf("host: rollback %q: %w", tx.name, err)
	}
	h.st = &st
	if err := undo(h.root, tx.dir, tx.entries); err != nil {
		return fmt.Errorf("host: rollback %q: %w", tx.name, err)
	}
	if err := os.Remove(tx.journal.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("host: rollback %q: %w", tx.name, err)
	}
	return cleanupJournal(tx.dir, tx.token, tx.entries[0].CreatedDir)
}

// Abandon drops the transaction the way a killed process would: nothing
// is undone, the journal stays on disk, and the Host can no longer be
// used. The next Open of the root rolls the changes back.
func (tx *Tx) Abandon() {
	if tx.done {
		return
	}
	tx.done = true
	setLive(tx.token, false)
	tx.journal.Close()
	tx.h.tx = nil
	// The programs this process ran die with it.
	tx.h.detachServices()
	tx.h.closed = true
}

// undo reverses entries (newest first) under root, taking backups from dir.
func undo(root, dir string, entries []journalEntry) error {
	var errs []error
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		real := filepath.Join(root, filepath.FromSlash(e.Path))
		switch e.Op {
		case opCreate:
			if err := RemoveTree(real); err != nil {
				errs = append(errs, err)
			}
		case opMkdir:
			if err := os.Remove(real); err != nil && !errors.Is(err, fs.ErrNotExist) {
				// Something outside the transaction was put there; keep it.
				if ents, rerr := os.ReadDir(real); rerr != nil || len(ents) == 0 {
					errs = append(errs, err)
				}
			}
		case opBackup:
			if e.Backup == "" { // a folder
				if err := os.MkdirAll(real, 0o755); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Backup))
			if err != nil {
				errs = append(errs, fmt.Errorf("backup of %s: %w", e.Path, err))
				continue
			}
			if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
				errs = append(errs, err)
				continue
			}
			_ = RemoveTree(real)
			mode := e.Mode
			if mode == 0 {
				mode = 0o644
			}
			if err := os.WriteFile(real, data, mode); err != nil {
				errs = append(errs, err)
			}
		case opBegin:
			if e.State == "" {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.State))
			if err != nil {
				errs = append(errs, fmt.Errorf("saved state: %w", err))
				continue
			}
			if err := writeAtomic(filepath.Join(root, StateFile), data); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// cleanupJournal removes the backups and saved state of token, and the
// rollback folder when the transaction created it and it is empty.
func cleanupJournal(dir, token string, createdDir bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("host: journal: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "ibemu-"+token) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("host: journal: %w", err)
			}
		}
	}
	if createdDir {
		if ents, err := os.ReadDir(dir); err == nil && len(ents) == 0 {
			if err := os.Remove(dir); err != nil {
				return fmt.Errorf("host: journal: %w", err)
			}
		}
	}
	return nil
}

// readJournal reads a journal file; a torn last line (the process died
// while writing it) is ignored: its change was not made yet.
func readJournal(path string) ([]journalEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []journalEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e journalEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			break
		}
		out = append(out, e)
	}
	if len(out) == 0 || out[0].Op != opBegin {
		return nil, fmt.Errorf("host: journal %s has no begin record: %w", filepath.Base(path), ErrCorruptState)
	}
	return out, nil
}

// recoverJournals rolls back every transaction whose journal is still in
// the rollback folder of the host at root and whose owner is gone. A
// journal whose owner still runs means another install is in progress.
func recoverJournals(root string, o OS) error {
	var dir string
	if o == Linux {
		dir = filepath.Join(root, linuxRootDir, "var", "lib", "ibemu", "rollback")
	} else {
		dir = resolveFold(filepath.Join(root, "C"), []string{"Config.Msi"})
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host: rollback folder: %w", err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "ibemu-") && strings.HasSuffix(e.Name(), ".rbs") {
			names = append(names, e.Name())
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	for _, n := range names {
		entries, err := readJournal(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		b := entries[0]
		if ownerAlive(b.PID, b.Token) {
			return fmt.Errorf("host: %q (process %d) holds the host: %w", b.Name, b.PID, ErrBusy)
		}
		if err := undo(root, dir, entries); err != nil {
			return fmt.Errorf("host: roll back interrupted %q: %w", b.Name, err)
		}
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("host: roll back interrupted %q: %w", b.Name, err)
		}
		if err := cleanupJournal(dir, b.Token, b.CreatedDir); err != nil {
			return err
		}
	}
	// Backups whose journal is gone belong to committed transactions
	// that died while cleaning up.
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, "ibemu-") && (strings.HasSuffix(n, ".rbf") || strings.HasSuffix(n, ".state")) {
				tok := strings.TrimPrefix(n, "ibemu-")
				tok = tok[:min(16, len(tok))]
				if _, err := os.Stat(filepath.Join(dir, "ibemu-"+tok+".rbs")); errors.Is(err, fs.ErrNotExist) {
					_ = os.Remove(filepath.Join(dir, n))
				}
			}
		}
	}
	return nil
}

// ownerAlive reports whether the process that opened a journal still
// runs with it open.
func ownerAlive(pid int, token string) bool {
	if pid == os.Getpid() {
		return isLive(token)
	}
	return processAlive(pid)
}

// writeAtomic writes data to path through a temporary file in the same
// folder and a rename, so readers see the old or the new content, never
// a mix.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("host: save: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("host: save: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("host: save: %w", err)
	}
	return nil
}
