//go:build race

package attach

import (
	"runtime"
	"unsafe"
)

// dpRaceSync stands for the kernel's ordering of a stream socket: what a
// goroutine did before it wrote bytes happens before what a goroutine
// of the same process does after it read them. Go's own file and socket
// I/O tells the race detector so; the data path's writes from the event
// loop (raw writev) and its reads say it here.
var dpRaceSync byte

// dpRaceWrote marks a raw write for the race detector.
func dpRaceWrote() { runtime.RaceReleaseMerge(unsafe.Pointer(&dpRaceSync)) }

// dpRaceRead marks a read for the race detector.
func dpRaceRead() { runtime.RaceAcquire(unsafe.Pointer(&dpRaceSync)) }
