package topology_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/topology"
)

const compareBase = `Switch 8 "S1"
[1] "H1"[1]
[2] "H2"[1]
[3] "S2"[3]

Switch 8 "S2"
[3] "S1"[3]

Hca 2 "H1"
[1] "S1"[1]

Hca 2 "H2"
[1] "S1"[2]
`

func TestCompare(t *testing.T) {
	base := mustParse(t, compareBase)
	if err := topology.Compare(base, mustParse(t, compareBase)); err != nil {
		t.Errorf("Compare(same) = %v", err)
	}
	tests := []struct {
		name  string
		other string
		want  []string
	}{
		{
			name: "moved, missing and extra",
			other: `Switch 8 "S1"
[1] "H1"[1]
[4] "S2"[3]

Switch 36 "S2"
[3] "S1"[4]
[5] "H3"[1]

Rt 2 "H1"
[1] "S1"[1]

Hca 2 "H3"
[1] "S2"[5]
`,
			want: []string{
				`node "H1": CA in the first topology, Router in the second`,
				`node "H2" is only in the first topology`,
				`node "H3" is only in the second topology`,
				`node "S2": 8 ports in the first topology, 36 in the second`,
				`link "S1"[3] - "S2"[3] is only in the first topology`,
				`link "S1"[4] - "S2"[3] is only in the second topology`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := topology.Compare(base, mustParse(t, tt.other))
			var de *topology.DiffError
			if !errors.As(err, &de) {
				t.Fatalf("Compare = %v", err)
			}
			diffLines(t, tt.want, de.Diffs)
			if !strings.HasPrefix(err.Error(), "topology: graphs differ:\n\t") {
				t.Errorf("Error() = %q", err)
			}
		})
	}
}

// Nodes are matched by description, then GUID, then id.
func TestCompareKeys(t *testing.T) {
	// Same descriptions in both ("host"), so GUIDs match the nodes.
	a := mustParse(t, `Switch 4 "s" # "sw"
[1] "a"[1]
[2] "b"[1]
Hca 1 "a" # "host"
[1] "s"[1]
Hca 1 "b" # "host"
[1] "s"[2]
`)
	b := mustParse(t, `Switch 4 "s" # "sw"
[1] "b"[1]
[2] "a"[1]
Hca 1 "a" # "host"
[1] "s"[2]
Hca 1 "b" # "host"
[1] "s"[1]
`)
	want := []string{
		`link 0x0000000000100000[1] - 0x0000000000200000[1] is only in the first topology`,
		`link 0x0000000000100000[1] - 0x0000000000200000[2] is only in the second topology`,
		`link 0x0000000000100002[1] - 0x0000000000200000[1] is only in the second topology`,
		`link 0x0000000000100002[1] - 0x0000000000200000[2] is only in the first topology`,
	}
	diffLines(t, want, topology.Diff(a, b))

	// Written and read back: ids change, GUIDs and descriptions do not.
	roundTrip(t, a)

	// Duplicate GUIDs too (only in a topology built in code): ids.
	a.Nodes[2].NodeGUID = a.Nodes[1].NodeGUID
	c := mustParse(t, `Switch 4 "s" # "sw"
[1] "a"[1]
Hca 1 "a" # "host"
[1] "s"[1]
Hca 1 "b" # "host"
`)
	want = []string{`link id "b"[1] - id "s"[2] is only in the first topology`}
	diffLines(t, want, topology.Diff(a, c))
}
