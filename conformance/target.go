package conformance

import (
	"context"
	"errors"

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

// ErrNoResponse is returned by a Target when a request got no response.
var ErrNoResponse = errors.New("conformance: no response")
