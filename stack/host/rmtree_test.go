package host_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ibemu/ibemu/stack/host"
)

func TestRemoveTree(t *testing.T) {
	dir, err := os.MkdirTemp("", "ibemu-rmtree-")
	if err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "a")
	for _, p := range []string{"b/c/d.txt", "b/e.txt", "f/g/h/i.txt", "j.txt"} {
		full := filepath.Join(tree, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(tree, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := host.RemoveTree(tree); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(tree); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tree still there: %v", err)
	}
	if err := host.RemoveTree(tree); err != nil {
		t.Errorf("removing a missing tree: %v", err)
	}
	file := filepath.Join(dir, "lone.txt")
	os.WriteFile(file, nil, 0o644)
	if err := host.RemoveTree(file); err != nil {
		t.Errorf("removing a file: %v", err)
	}
	if err := host.RemoveTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("dir still there: %v", err)
	}
}
