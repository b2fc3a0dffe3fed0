package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// Target is the management port the checks run from: it sends a request
// MAD and returns the response, whatever status the response carries (a
// status is the device's answer, which the checks judge).
type Target interface {
	// Exchange sends req, a whole MAD (wire.MADSize bytes) with its
	// transaction ID to be set by the target, to addr and returns the
	// response MAD. It returns ErrNoResponse when none came in time.
	// Directed-route SMPs (class 0x81) carry their route in req and go
	// to the permissive LID; addr.LID is used for every other class.
	Exchange(ctx context.Context, addr Address, req []byte) ([]byte, error)
}

// Address is where a request goes.
type Address struct {
	// LID is the destination of a LID-routed MAD.
	LID wire.LID
	// QPN is 0 for SMPs and 1 for the general services.
	QPN uint32
}

// Sleeper is a Target that can wait an interval of the device's clock:
// the fabric's clock for an emulated fabric in process (virtual time
// moves on at once when nothing else is due), the wall clock for anything
// reached through a socket or a device. The checks of timed behaviour
// (the M_Key lease) need it and skip on a Target without it, or when
// Sleep returns errors.ErrUnsupported. With Options.Parallel above 1 the
// timed checks of several nodes run at once: Exchange and Sleep are then
// called from several goroutines.
type Sleeper interface {
	Sleep(ctx context.Context, d time.Duration) error
}

// ErrNoResponse is returned by a Target when a request got no response.
var ErrNoResponse = errors.New("conformance: no response")

// TrapReceiver is a Target whose port takes the traps (SubnTrap) devices
// send to its LID, as an SM's port does. Traps starts handing every trap
// received to the channel, each a whole MAD, and answers each with a
// TrapRepress carrying M_Key mkey (as an SM represses with the M_Key it
// has on record for the port) so that its sender stops repeating it,
// until stop is called. The trap checks need it and skip on a Target without it, or
// when Traps returns errors.ErrUnsupported.
type TrapReceiver interface {
	Traps(mkey uint64) (traps <-chan []byte, stop func(), err error)
}
