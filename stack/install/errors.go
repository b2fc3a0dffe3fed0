package install

import (
	"errors"
	"fmt"
)

// Sentinel errors. Each maps to the Windows Installer exit code msiexec
// would return (Code).
var (
	// ErrBadCommandLine: a malformed msiexec command line (1639).
	ErrBadCommandLine = errors.New("invalid command line")
	// ErrUnknownProperty: a property the package does not define, or a
	// bad value for one (1639). Property names are case-sensitive.
	ErrUnknownProperty = errors.New("unknown property")
	// ErrUnknownFeature: ADDLOCAL or REMOVE names a feature the package
	// does not have, or one not available on this host (1639).
	ErrUnknownFeature = errors.New("unknown feature")
	// ErrPackage: the package cannot be opened: not one ibemu carries
	// (1619).
	ErrPackage = errors.New("this installation package could not be opened")
	// ErrWrongPlatform: the package is for another OS flavour or
	// architecture (1603).
	ErrWrongPlatform = errors.New("the package does not install on this system")
	// ErrNotInstalled: the product to remove is not installed (1605).
	ErrNotInstalled = errors.New("this action is only valid for products that are currently installed")
	// ErrOtherVersion: a WinOF product is already installed (1638).
	ErrOtherVersion = errors.New("another version of this product is already installed")
	// ErrTargetExists: the last folder of an administrative install's
	// TARGETDIR exists (1603).
	ErrTargetExists = errors.New("TARGETDIR must not exist")
	// ErrUntrusted: an unattended install met drivers whose publisher is
	// not in the Trusted Publishers store, or the user declined them
	// (1603).
	ErrUntrusted = errors.New("driver publisher not trusted")
	// ErrDriverInstall: the driver install phase failed (1603).
	ErrDriverInstall = errors.New("driver install failed")
	// ErrFailed: a step failed; the install was rolled back (1603).
	ErrFailed = errors.New("fatal error during installation")
	// ErrKilled: the installer process died at a step (fault injection);
	// nothing was rolled back yet: the host's next Open does it.
	ErrKilled = errors.New("installer process killed")
	// ErrBusy: another installation is in progress (1618).
	ErrBusy = errors.New("another installation is already in progress")
	// ErrNotWindows: WinOF installs on Windows only (1603).
	ErrNotWindows = errors.New("not a windows host")
	// ErrNoTool: a host tool that is not installed was run.
	ErrNoTool = errors.New("is not recognized as an internal or external command")
	// ErrFlint: a flint command failed (bad device, image or PSID).
	ErrFlint = errors.New("flint failed")
)

// ExitCode is the Windows Installer exit code of err (0 for nil).
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrBadCommandLine), errors.Is(err, ErrUnknownProperty), errors.Is(err, ErrUnknownFeature):
		return 1639
	case errors.Is(err, ErrPackage):
		return 1619
	case errors.Is(err, ErrNotInstalled):
		return 1605
	case errors.Is(err, ErrOtherVersion):
		return 1638
	case errors.Is(err, ErrBusy):
		return 1618
	}
	return 1603
}

// StepError reports the step an install or uninstall failed at.
type StepError struct {
	// N is the step number (from 1) and Name its action.
	N    int
	Name string
	Err  error
}

// Error reports the step and the cause.
func (e *StepError) Error() string {
	return fmt.Sprintf("install: step %d (%s): %v", e.N, e.Name, e.Err)
}

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }
