package emu

import (
	"testing"
	"unsafe"
)

// TestPortLayout checks what Port's field order promises the packet
// path: the fields a hop reads in the first cache line, the traffic
// counters in the second, and a size whose allocations start on a line.
func TestPortLayout(t *testing.T) {
	var p Port
	if s := unsafe.Sizeof(p); s != portSize {
		t.Errorf("Port is %d bytes, want %d (adjust portPad)", s, portSize)
	}
	hot := []struct {
		name string
		off  uintptr
		size uintptr
	}{
		{"node", unsafe.Offsetof(p.node), unsafe.Sizeof(p.node)},
		{"peer", unsafe.Offsetof(p.peer), unsafe.Sizeof(p.peer)},
		{"fabric", unsafe.Offsetof(p.fabric), unsafe.Sizeof(p.fabric)},
		{"offload", unsafe.Offsetof(p.offload), unsafe.Sizeof(p.offload)},
		{"num", unsafe.Offsetof(p.num), unsafe.Sizeof(p.num)},
		{"arriving", unsafe.Offsetof(p.arriving), unsafe.Sizeof(p.arriving)},
		{"phys", unsafe.Offsetof(p.phys), unsafe.Sizeof(p.phys)},
		{"state", unsafe.Offsetof(p.state), unsafe.Sizeof(p.state)},
		{"lossy", unsafe.Offsetof(p.lossy), unsafe.Sizeof(p.lossy)},
		{"widthEnabled", unsafe.Offsetof(p.widthEnabled), unsafe.Sizeof(p.widthEnabled)},
		{"speedEnabled", unsafe.Offsetof(p.speedEnabled), unsafe.Sizeof(p.speedEnabled)},
	}
	for _, h := range hot {
		if h.off+h.size > 64 {
			t.Errorf("Port.%s ends at byte %d, outside the first cache line", h.name, h.off+h.size)
		}
	}
	c := unsafe.Offsetof(p.Counters)
	if c != 64 {
		t.Errorf("Port.Counters at byte %d, want 64", c)
	}
	if end := c + unsafe.Offsetof(p.Counters.McastRcv) + 8; end > 128 {
		t.Errorf("traffic counters end at byte %d, outside the second cache line", end)
	}
	// The allocator's 320-byte class: every object of a span starts on a
	// line (spans start on a page).
	ports := make([]*Port, 64)
	for i := range ports {
		ports[i] = new(Port)
		if a := uintptr(unsafe.Pointer(ports[i])); a%64 != 0 {
			t.Fatalf("a new Port at %#x is not on a cache line", a)
		}
	}
	var n Node
	if end := unsafe.Offsetof(n.dead) + 1; end > 64 {
		t.Errorf("Node.dead ends at byte %d, outside the first cache line", end)
	}
}
