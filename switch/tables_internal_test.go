package ibswitch

import "testing"

// TestLFTReserve: reserving room for the blocks up to LinearFDBTop keeps
// the table's contents and lets the blocks that follow fill it without
// copying it again; a reservation never passes LinearFDBCap, and entries
// at or past the cap are neither stored nor read.
func TestLFTReserve(t *testing.T) {
	tbl := lft{cap: 200}
	tbl.set(3, 7)
	tbl.reserve(10) // 640 entries asked, 256 (4 blocks) allowed by the cap
	if cap(tbl.e) != 4*LFTBlockSize || tbl.lookup(3) != 7 || tbl.lookup(4) != DropPort {
		t.Fatalf("after reserve: cap %d, lid 3 -> %d, lid 4 -> %d", cap(tbl.e), tbl.lookup(3), tbl.lookup(4))
	}
	first := &tbl.e[:1][0]
	src := make([]byte, LFTBlockSize)
	for b := range 4 {
		for i := range src {
			src[i] = byte(b*LFTBlockSize + i)
		}
		tbl.setBlock(b, src)
	}
	if &tbl.e[0] != first {
		t.Error("setting reserved blocks reallocated the table")
	}
	dst := make([]byte, LFTBlockSize)
	tbl.getBlock(3, dst)
	for i, v := range dst {
		want := byte(3*LFTBlockSize + i)
		if 3*LFTBlockSize+i >= 200 {
			want = DropPort
		}
		if v != want {
			t.Fatalf("block 3 entry %d = %d, want %d", i, v, want)
		}
	}
	if tbl.lookup(199) != 199 || tbl.lookup(200) != DropPort {
		t.Errorf("lid 199 -> %d, lid 200 -> %d", tbl.lookup(199), tbl.lookup(200))
	}
}
