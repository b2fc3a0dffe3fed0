package emu_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces the one-way import rules of DESIGN.md:
// emu/wire ← emu ← hca, switch (never each other) ← stack ← scenarios, cmd;
// conformance depends on the wire codecs only.
func TestLayering(t *testing.T) {
	const mod = "github.com/ibemu/ibemu/"
	out, err := exec.Command("go", "list", "-deps", "-test=false", "-f", "{{.ImportPath}}: {{join .Imports \" \"}}", mod+"...").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	top := func(p string) string {
		p = strings.TrimPrefix(p, mod)
		switch {
		case p == "emu/wire" || strings.HasPrefix(p, "emu/wire/"):
			return "wire"
		case strings.HasPrefix(p, "emu"):
			return "emu"
		case strings.HasPrefix(p, "switch"):
			return "switch"
		}
		return strings.SplitN(p, "/", 2)[0]
	}
	allowed := map[string]map[string]bool{
		"wire":        {"wire": true},
		"emu":         {"wire": true, "emu": true},
		"hca":         {"wire": true, "emu": true, "hca": true},
		"switch":      {"wire": true, "emu": true, "switch": true},
		"stack":       {"wire": true, "emu": true, "hca": true, "switch": true, "stack": true},
		"conformance": {"wire": true, "conformance": true},
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imps, _ := strings.Cut(line, ": ")
		if !strings.HasPrefix(pkg, mod) {
			continue
		}
		from := top(pkg)
		ok, ruled := allowed[from]
		if !ruled {
			continue // scenarios and cmd may import anything
		}
		for _, imp := range strings.Fields(imps) {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			if to := top(imp); !ok[to] {
				t.Errorf("%s imports %s: %s may not depend on %s", pkg, imp, from, to)
			}
		}
	}
}
