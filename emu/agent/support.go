package agent

import (
	"slices"

	"github.com/ibemu/ibemu/emu/wire"
)

// ClassSupport describes what a class agent implements: the class versions
// it serves and, per attribute, the methods it accepts. Check uses it to
// refuse a request the way IBTA Vol 1 §13.4.7 asks, before the agent looks
// at the attribute data.
type ClassSupport struct {
	// Versions lists the class versions served (an SMA serves 1, an SA 2).
	Versions []uint8
	// Methods lists every request method the agent implements for some
	// attribute. A method not listed gets 0x0008.
	Methods []wire.Method
	// Attrs maps each attribute to the methods it accepts. An attribute
	// missing here, or a listed method missing for it, gets 0x000C.
	Attrs map[wire.AttrID][]wire.Method
}

// Check returns the status a request m gets for its header alone:
// MADStatusBadVersion for a BaseVersion other than 1 or an unserved class
// version, MADStatusUnsupportedMethod for a method the agent does not
// implement, MADStatusUnsupportedMethodAttr for an attribute (or a
// method/attribute pair) it does not implement, else MADStatusOK.
func (cs *ClassSupport) Check(m wire.MAD) wire.MADStatus {
	if m.BaseVersion() != wire.MADBaseVersion || !slices.Contains(cs.Versions, m.ClassVersion()) {
		return wire.MADStatusBadVersion
	}
	if !slices.Contains(cs.Methods, m.Method()) {
		return wire.MADStatusUnsupportedMethod
	}
	if !slices.Contains(cs.Attrs[m.AttrID()], m.Method()) {
		return wire.MADStatusUnsupportedMethodAttr
	}
	return wire.MADStatusOK
}

// Supports reports whether the agent serves m: Check gives MADStatusOK.
func (cs *ClassSupport) Supports(m wire.MAD) bool { return cs.Check(m) == wire.MADStatusOK }

// Answered reports whether a request with method x gets an answer from a
// class agent even when the agent refuses it: every request method except
// Send (which has no response method), Trap (only an SM represses traps)
// and TrapRepress (itself the answer to a trap). Responses (R bit) are
// never answered (IBTA Vol 1 §13.4.5).
func Answered(x wire.Method) bool {
	if x.IsResponse() {
		return false
	}
	switch x {
	case wire.MethodSend, wire.MethodTrap, wire.MethodTrapRepress:
		return false
	}
	return true
}

// ErrorReply returns a new 256-byte MAD answering req with status: a copy
// of req turned into its response (wire.MAD.SetResponse: GetResp for Get
// and Set, the R bit otherwise, D set for a directed-route SMP). req must
// be at least wire.MADHeaderSize bytes; a shorter tail is zero-filled.
func ErrorReply(req wire.MAD, status wire.MADStatus) wire.MAD {
	r := make(wire.MAD, wire.MADSize)
	copy(r, req)
	r.SetResponse(status)
	return r
}

// UnmatchedReply returns the answer a node gives to a request of a class
// no agent on it serves (no firmware agent and no registered host agent):
// a Get or Set is answered with MADStatusUnsupportedMethodAttr, as the
// Linux MAD layer does for unmatched requests (generate_unmatched_resp),
// and anything else is dropped (ok false). A BaseVersion other than 1 is
// answered with MADStatusBadVersion.
func UnmatchedReply(req wire.MAD) (resp wire.MAD, ok bool) {
	if !req.IsValid() || req.IsResponse() {
		return nil, false
	}
	if req.BaseVersion() != wire.MADBaseVersion {
		if !Answered(req.Method()) {
			return nil, false
		}
		return ErrorReply(req, wire.MADStatusBadVersion), true
	}
	switch req.Method() {
	case wire.MethodGet, wire.MethodSet:
		return ErrorReply(req, wire.MADStatusUnsupportedMethodAttr), true
	}
	return nil, false
}

// Refuse is the common front of every class agent: when cs refuses m it
// returns the answer (or ok false when the method is one that gets none)
// and handled true; otherwise handled is false and the agent serves m.
func Refuse(cs *ClassSupport, m wire.MAD) (resp wire.MAD, ok, handled bool) {
	st := cs.Check(m)
	if st == wire.MADStatusOK {
		return nil, false, false
	}
	if m.IsResponse() || !Answered(m.Method()) {
		return nil, false, true
	}
	return ErrorReply(m, st), true, true
}
