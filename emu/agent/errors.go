package agent

import "errors"

// Errors reported when a frame is not a MAD frame an agent can take. Each
// error returned wraps one of them (or a wire error), with detail.
var (
	// ErrNotUD: the frame is not a UD SEND Only packet with a DETH.
	ErrNotUD = errors.New("agent: not a ud send-only frame")
	// ErrMADSize: the UD payload is not exactly one 256-byte MAD.
	ErrMADSize = errors.New("agent: payload is not a 256-byte mad")
	// ErrVL15: a QP0 frame not on VL15, or a frame for another QP on VL15
	// (IBTA Vol 1 §7.6.5: VL15 carries subnet management only).
	ErrVL15 = errors.New("agent: qp0 and vl15 disagree")
	// ErrLinkDown: the egress port of a directed-route SMP is not
	// physically up.
	ErrLinkDown = errors.New("agent: egress link is down")
	// ErrNoTrapPath: a trap cannot be sent because the port has no LID,
	// no MasterSMLID, or its link is down.
	ErrNoTrapPath = errors.New("agent: no path to the subnet manager")
	// ErrNoPort: a port number names no port of the node.
	ErrNoPort = errors.New("agent: no such port")
	// ErrNotBound: the agent has not been bound to its emu.Node yet.
	ErrNotBound = errors.New("agent: not bound to a node")
)
