package verbs

import (
	"testing"
	"unsafe"
)

// TestSendWQELayout checks the layout sendWQE's doc describes: what the
// poster writes (the request and its scatter list) fills the first two
// cache lines, the loop's state lies wholly on the last, and the WQE takes
// a 256-byte size class, whose objects start on a cache line boundary.
func TestSendWQELayout(t *testing.T) {
	var w sendWQE
	if got := unsafe.Offsetof(w.sgl) + unsafe.Sizeof(w.sgl); got != 128 {
		t.Errorf("request and scatter list end at byte %d, want 128 (two lines)", got)
	}
	if off := unsafe.Offsetof(w.mr); off != 192 {
		t.Errorf("loop state starts at byte %d, want 192 (the fourth line)", off)
	}
	if size := unsafe.Sizeof(w); size > 256 || size <= 192 {
		t.Errorf("sendWQE is %d bytes, want 193..256", size)
	}
}

// TestSendWQEResetState checks that resetState leaves the loop's part of
// a WQE as a new one has it, so a reused WQE starts afresh.
func TestSendWQEResetState(t *testing.T) {
	w := sendWQE{mr: &MR{}, length: 9, firstPSN: 1, npkts: 2, sent: 3, rdpkts: 4, status: WCLocProtErr,
		msn: 5, doneAt: 6, bellAt: 7, started: true, done: true, rdRetry: true}
	w.resetState()
	if w.mr != nil || w.length != 0 || w.firstPSN != 0 || w.npkts != 0 || w.sent != 0 || w.rdpkts != 0 ||
		w.status != WCSuccess || w.msn != 0 || w.doneAt != 0 || w.bellAt != 0 || w.started || w.done || w.rdRetry {
		t.Fatalf("after resetState: %+v", w)
	}
}
