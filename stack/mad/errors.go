package mad

import (
	"errors"
	"fmt"

	"github.com/ibemu/ibemu/emu/wire"
)

// Sentinel errors. Errors returned by this package wrap them with context;
// test with errors.Is.
var (
	// ErrTimeout: no response arrived within the timeout, after every
	// retry (IBTA Vol 1 §13.4.6.3: the requester times out and may retry).
	ErrTimeout = errors.New("mad: response timeout")
	// ErrClosed: the agent or transport is closed.
	ErrClosed = errors.New("mad: closed")
	// ErrSendFailed: the transport reported that a MAD could not be
	// delivered (umad send status, ibsim status 110, a port that is down).
	ErrSendFailed = errors.New("mad: send failed")
	// ErrBadMAD: a MAD handed to the agent is malformed (too short, wrong
	// size for a class without RMPP, response bit where a request belongs).
	ErrBadMAD = errors.New("mad: malformed mad")
	// ErrBadRoute: a directed route is longer than 63 hops or malformed.
	ErrBadRoute = errors.New("mad: bad route")
	// ErrRMPP: an RMPP transfer ended with STOP or ABORT; the error is an
	// *RMPPError.
	ErrRMPP = errors.New("mad: rmpp transfer aborted")
)

// RMPPError reports an RMPP transfer ended by STOP or ABORT (IBTA Vol 1
// §13.6.3), sent by the peer (Remote) or by this agent. It matches ErrRMPP
// with errors.Is.
type RMPPError struct {
	// Type is wire.RMPPTypeStop or wire.RMPPTypeAbort.
	Type wire.RMPPType
	// Status says why (wire.RMPPStatusTooManyRetries, ...).
	Status wire.RMPPStatus
	// Remote is true when the peer ended the transfer.
	Remote bool
	// TID is the transaction's ID.
	TID uint64
}

// Error implements error.
func (e *RMPPError) Error() string {
	who := "local"
	if e.Remote {
		who = "remote"
	}
	return fmt.Sprintf("mad: rmpp tid 0x%016x: %s %s (status %d, %s)", e.TID, who, e.Type, uint8(e.Status), e.Status)
}

// Is reports whether target is ErrRMPP.
func (e *RMPPError) Is(target error) bool { return target == ErrRMPP }
