//go:build !linux

package mad

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// errUmadUnsupported is what every umad entry point returns off Linux.
var errUmadUnsupported = fmt.Errorf("mad: umad not supported on %s: the user MAD interface is a Linux kernel device", runtime.GOOS)

// Umad is the Transport of a real HCA port through Linux's
// /dev/infiniband/umadN. On this GOOS there is none: OpenUmad and
// OpenUmadGUID fail, and no Umad is ever returned.
type Umad struct{}

var _ Transport = (*Umad)(nil)

// OpenUmad fails: umad is Linux-only.
func OpenUmad(ca string, port int, opts *UmadOptions) (*Umad, error) {
	return nil, errUmadUnsupported
}

// OpenUmadGUID fails: umad is Linux-only.
func OpenUmadGUID(guid wire.GUID, opts *UmadOptions) (*Umad, error) {
	return nil, errUmadUnsupported
}

// Port returns the zero UmadPort.
func (u *Umad) Port() UmadPort { return UmadPort{} }

// HdrSize returns UmadHdrSize.
func (u *Umad) HdrSize() int { return UmadHdrSize }

// Stats returns zero counters.
func (u *Umad) Stats() UmadStats { return UmadStats{} }

// Clock implements Transport.Clock with the wall clock.
func (u *Umad) Clock() emu.Clock { return wallClock{} }

// Register implements Transport.Register; it always fails.
func (u *Umad) Register(reg Registration, deliver func(Incoming)) (Endpoint, error) {
	return nil, errUmadUnsupported
}

// Close implements Transport.Close.
func (u *Umad) Close() error { return nil }

// wallClock is the wall clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, fn func()) emu.Timer { return time.AfterFunc(d, fn) }
