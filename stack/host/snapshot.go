package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Snapshot is the content of a directory tree: for every path under it
// (slash-separated, relative) "dir" or the SHA-256 of the file's bytes.
// Two snapshots are equal when the trees hold the same folders and the
// same bytes in the same files.
type Snapshot map[string]string

// TakeSnapshot records the tree under dir (a host root, say).
func TakeSnapshot(dir string) (Snapshot, error) {
	s := Snapshot{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			s[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		s[rel] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("host: snapshot %s: %w", dir, err)
	}
	return s, nil
}

// Diff lists how other differs from s: "+path" (only in other), "-path"
// (only in s) and "~path" (different content), sorted by path.
func (s Snapshot) Diff(other Snapshot) []string {
	var out []string
	for p, v := range s {
		w, ok := other[p]
		switch {
		case !ok:
			out = append(out, "-"+p)
		case v != w:
			out = append(out, "~"+p)
		}
	}
	for p := range other {
		if _, ok := s[p]; !ok {
			out = append(out, "+"+p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][1:] < out[j][1:] })
	return out
}
