package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// RemoveTree deletes path and, for a folder, everything in it, like
// os.RemoveAll, but one entry at a time with os.Remove, deepest first. On
// Windows os.RemoveAll deletes through FileDispositionInformationEx, which
// some Windows-compatible systems lack (Wine 8 answers "Invalid
// function"); the plain delete calls os.Remove makes work there too. A
// path that does not exist is not an error; the errors of entries that
// could not be removed are joined.
func RemoveTree(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host: remove %s: %w", path, err)
	}
	if fi.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			return fmt.Errorf("host: remove %s: %w", path, err)
		}
		var errs []error
		for _, e := range ents {
			if err := RemoveTree(filepath.Join(path, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("host: remove %s: %w", path, err)
	}
	return nil
}
