package host

import "errors"

// Sentinel errors. Every error the package returns wraps one of these (or
// an os/fs error) so callers can test with errors.Is.
var (
	// ErrBadConfig: a Config or argument is out of range.
	ErrBadConfig = errors.New("bad configuration")
	// ErrCorruptState: the state file is unreadable, truncated, of an
	// unknown format or inconsistent.
	ErrCorruptState = errors.New("corrupt host state")
	// ErrNoHost: the root holds no host (no state file).
	ErrNoHost = errors.New("no host at this root")
	// ErrExists: the thing to create is already there.
	ErrExists = errors.New("already exists")
	// ErrNotFound: no device, service, adapter, product, disk or file of
	// that name.
	ErrNotFound = errors.New("not found")
	// ErrBadPath: a path is relative, malformed, escapes its drive or
	// names something the host's OS cannot hold.
	ErrBadPath = errors.New("bad path")
	// ErrInUse: a file is held open (by an online SRP disk) and cannot be
	// deleted or replaced.
	ErrInUse = errors.New("file in use")
	// ErrBusy: another transaction (an install in this or another
	// process) is in progress; Windows Installer's error 1618.
	ErrBusy = errors.New("another installation is in progress")
	// ErrClosed: the Host was closed or abandoned.
	ErrClosed = errors.New("host closed")
	// ErrNoTx: a transactional operation was called with no open
	// transaction.
	ErrNoTx = errors.New("no transaction in progress")
	// ErrServiceDisabled: a disabled service was asked to start
	// (ERROR_SERVICE_DISABLED, 1058).
	ErrServiceDisabled = errors.New("the service is disabled")
	// ErrNotWindows: a Windows-only operation on a Linux host.
	ErrNotWindows = errors.New("not a windows host")
)
