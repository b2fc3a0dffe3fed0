package cm

import (
	"errors"
	"fmt"

	"github.com/ibemu/ibemu/emu/wire"
)

// Sentinel errors; the errors this package returns wrap them (test with
// errors.Is).
var (
	// ErrTimeout: the peer did not answer within the CM response timeout
	// after Max CM Retries retransmissions (IBTA Vol 1 §12.9.6).
	ErrTimeout = errors.New("cm: timeout")
	// ErrRejected: the peer rejected the request; the error is a
	// *RejectError (connections) or a *SIDRError (service resolution).
	ErrRejected = errors.New("cm: rejected")
	// ErrClosed: the CM, the listener or the transport is closed.
	ErrClosed = errors.New("cm: closed")
	// ErrState: the operation does not fit the connection's state (accept
	// after reject, disconnect before established, ...).
	ErrState = errors.New("cm: invalid state")
	// ErrInvalid: a parameter is out of range (private data too long, no
	// QP, no path, ...).
	ErrInvalid = errors.New("cm: invalid argument")
	// ErrBusy: another listener has the service ID.
	ErrBusy = errors.New("cm: service ID in use")
	// ErrDisconnected: the peer disconnected (DREQ) an established
	// connection.
	ErrDisconnected = errors.New("cm: disconnected")
)

// RejectError is a REJ received (IBTA Vol 1 §12.6.7). It matches
// ErrRejected with errors.Is.
type RejectError struct {
	// Reason is why the peer rejected.
	Reason wire.CMRejectReason
	// MessageRejected is the message the REJ answers (REQ, REP, other).
	MessageRejected wire.CMMsgResponse
	// ARI is the Additional Rejection Information.
	ARI []byte
	// PrivateData is the REJ's 148-byte private data area.
	PrivateData []byte
}

// Error implements error.
func (e *RejectError) Error() string {
	return fmt.Sprintf("cm: rejected (reason %d, %s) in answer to %s", uint16(e.Reason), e.Reason, e.MessageRejected)
}

// Is reports whether target is ErrRejected.
func (e *RejectError) Is(target error) bool { return target == ErrRejected }

// SIDRError is a SIDR_REP with a status other than success (IBTA Vol 1
// §12.11.2). It matches ErrRejected with errors.Is.
type SIDRError struct {
	Status         wire.CMSIDRStatus
	AdditionalInfo []byte
	PrivateData    []byte
}

// Error implements error.
func (e *SIDRError) Error() string {
	return fmt.Sprintf("cm: sidr rejected (status %d, %s)", uint8(e.Status), e.Status)
}

// Is reports whether target is ErrRejected.
func (e *SIDRError) Is(target error) bool { return target == ErrRejected }
