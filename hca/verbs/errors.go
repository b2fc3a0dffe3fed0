package verbs

import "errors"

// Errors returned by the verbs. Each error returned wraps exactly one of
// them, the way a libibverbs provider returns one errno.
var (
	// ErrInvalid: an argument or attribute is not allowed (EINVAL).
	ErrInvalid = errors.New("verbs: invalid argument")
	// ErrNoMem: a queue is full or a resource limit is reached (ENOMEM).
	ErrNoMem = errors.New("verbs: out of resources")
	// ErrBusy: the object is still in use (EBUSY).
	ErrBusy = errors.New("verbs: resource busy")
	// ErrNotFound: no such object (ENOENT).
	ErrNotFound = errors.New("verbs: no such object")
	// ErrDestroyed: the object was destroyed.
	ErrDestroyed = errors.New("verbs: object destroyed")
)
