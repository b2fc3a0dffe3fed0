package hca

import "errors"

// Errors returned by the host-agent interface and the profile registry.
// Each error returned wraps one of them, with detail.
var (
	// ErrNoProfile: no registered profile has that name or device ID.
	ErrNoProfile = errors.New("hca: no such profile")
	// ErrDuplicateProfile: a profile with that name is registered already.
	ErrDuplicateProfile = errors.New("hca: duplicate profile")
	// ErrBadProfile: a profile's tables are inconsistent.
	ErrBadProfile = errors.New("hca: bad profile")
	// ErrBadPort: a port number names no port of the HCA.
	ErrBadPort = errors.New("hca: no such port")
	// ErrAgentConflict: another agent already serves that port, class and
	// method.
	ErrAgentConflict = errors.New("hca: agent conflict")
	// ErrBadAgentSpec: an AgentSpec is inconsistent (QP and class disagree,
	// a response method in Methods, no handler).
	ErrBadAgentSpec = errors.New("hca: bad agent spec")
	// ErrUnregistered: the agent has been unregistered.
	ErrUnregistered = errors.New("hca: agent unregistered")
	// ErrBadMAD: a MAD to send is not a valid 256-byte MAD for the agent.
	ErrBadMAD = errors.New("hca: bad mad")
	// ErrPortDown: the port's link is not up.
	ErrPortDown = errors.New("hca: port is down")
	// ErrPKey: the P_Key is not in the port's P_Key table.
	ErrPKey = errors.New("hca: p_key not in the port's table")
	// ErrNotStarted: the device is not part of a fabric yet.
	ErrNotStarted = errors.New("hca: device not attached to a fabric")
)
