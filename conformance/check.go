package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// Node is one node the walk reached: the checks address it along Path.
type Node struct {
	// Path is the directed route from the target's port, one output port
	// per hop (InitialPath[1:] of the SMPs); empty for the target's own
	// node.
	Path []uint8
	// Info is the node's NodeInfo as the walk read it.
	Info wire.NodeInfoFields
	// Description is its NodeDescription (empty when unreadable).
	Description string
	// Arrival is the port the walk's SMPs arrive on (NodeInfo's
	// LocalPortNum).
	Arrival uint8
	// LID is the LID of the node's management port (a CA's arrival port,
	// a switch's port 0) and Active whether that port is Active: LID-routed
	// checks run only then.
	LID    wire.LID
	Active bool
}

// IsSwitch reports whether n is a switch.
func (n *Node) IsSwitch() bool { return n.Info.NodeType == wire.NodeTypeSwitch }

// PathString formats n's route as the diagnostics do ("0,1,3").
func (n *Node) PathString() string {
	var b strings.Builder
	b.WriteByte('0')
	for _, p := range n.Path {
		fmt.Fprintf(&b, ",%d", p)
	}
	return b.String()
}

// String names n for a report: description, GUID and route.
func (n *Node) String() string {
	return fmt.Sprintf("%q %s %s", n.Description, n.Info.NodeGUID, n.PathString())
}

// Check is one compliance check of a node.
type Check struct {
	// ID names the check ("sma.nodeinfo"); Ref is the IBTA section it
	// checks; What says what a device must do to pass.
	ID, Ref, What string
	// Applies reports whether the check concerns n (nil: every node).
	Applies func(n *Node) bool
	// Run checks n; it returns nil when n complies, a *SkipError when it
	// cannot tell, and otherwise the violation.
	Run func(ctx context.Context, c *Conn, n *Node) error
	// Timed marks a check that spends most of its time waiting on the
	// device's clock (Sleeper). With Options.Parallel above 1 it runs
	// after the others, on up to Parallel nodes at once, so that its
	// waits overlap instead of adding up node after node.
	Timed bool
}

// SkipError says why a check did not run on a node.
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

func skip(format string, args ...any) error { return &SkipError{Reason: fmt.Sprintf(format, args...)} }

// violation is a failed compliance statement.
func violation(format string, args ...any) error { return fmt.Errorf(format, args...) }

// Outcome of a check on a node.
type Outcome int

const (
	Pass Outcome = iota
	Fail
	Skip
)

func (o Outcome) String() string {
	switch o {
	case Pass:
		return "pass"
	case Fail:
		return "FAIL"
	}
	return "skip"
}

// Result is a check's outcome on one node.
type Result struct {
	Node    *Node
	Check   *Check
	Outcome Outcome
	// Detail is the violation, or why the check was skipped.
	Detail string
}

// Conn is the checks' view of the target: requests built from fields,
// responses checked for the parts every response must echo.
type Conn struct {
	t Target
	// self is the target's own node (the walk's first), once Run walked.
	self *Node
}

// NewConn wraps t.
func NewConn(t Target) *Conn { return &Conn{t: t} }

// errBadResponse marks a response that does not answer its request.
var errBadResponse = errors.New("response does not answer the request")

// SMP sends a directed-route SMP along n's path and returns the response,
// after checking that it answers the request (IBTA Vol 1 §13.4.5 and
// §14.2.2): the response method, the same attribute, modifier and
// transaction ID, the direction bit set, the hop count kept. A response
// with a non-zero status is returned without error: the status is the
// device's answer.
func (c *Conn) SMP(ctx context.Context, n *Node, f wire.SMPFields) (wire.SMP, error) {
	return c.smpWith(ctx, n, f, nil)
}

// smpWith is SMP with edit applied to the encoded request before it goes.
func (c *Conn) smpWith(ctx context.Context, n *Node, f wire.SMPFields, edit func(req []byte)) (wire.SMP, error) {
	f.Directed = true
	f.HopCount = uint8(len(n.Path))
	f.HopPointer = 0
	f.Direction = wire.DROutbound
	f.DrSLID, f.DrDLID = wire.LIDPermissive, wire.LIDPermissive
	f.InitialPath = [wire.SMPPathSize]uint8{}
	for i, p := range n.Path {
		f.InitialPath[i+1] = p
	}
	req := make([]byte, wire.MADSize)
	wire.SMP(req).Encode(&f)
	if edit != nil {
		edit(req)
	}
	resp, err := c.exchange(ctx, Address{LID: wire.LIDPermissive}, req)
	if err != nil {
		return nil, err
	}
	s := wire.SMP(resp)
	if s.Direction() != wire.DRReturning || s.HopCount() != f.HopCount {
		return nil, fmt.Errorf("%w: direction %s, hop count %d (sent %d)", errBadResponse, s.Direction(), s.HopCount(), f.HopCount)
	}
	return s, nil
}

// Get is SMP with method Get of attribute attr, modifier mod.
func (c *Conn) Get(ctx context.Context, n *Node, attr wire.AttrID, mod uint32) (wire.SMP, error) {
	return c.SMP(ctx, n, wire.SMPFields{Method: wire.MethodGet, AttrID: attr, AttrMod: mod})
}

// GetOK is Get that requires status 0.
func (c *Conn) GetOK(ctx context.Context, n *Node, attr wire.AttrID, mod uint32) ([]byte, error) {
	s, err := c.Get(ctx, n, attr, mod)
	if err != nil {
		return nil, err
	}
	if st := s.Status(); st != wire.MADStatusOK {
		return nil, violation("Get(%s, modifier %#x) answered with status %s", attr, mod, st)
	}
	return s.Data(), nil
}

// LIDRouted sends req (a whole MAD of a LID-routed class) to addr and
// checks the response as SMP does.
func (c *Conn) LIDRouted(ctx context.Context, addr Address, req []byte) (wire.MAD, error) {
	resp, err := c.exchange(ctx, addr, req)
	return wire.MAD(resp), err
}

// exchange sends req and checks the echoed header fields.
func (c *Conn) exchange(ctx context.Context, addr Address, req []byte) ([]byte, error) {
	resp, err := c.t.Exchange(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	if len(resp) < wire.MADSize {
		return nil, fmt.Errorf("%w: %d bytes", errBadResponse, len(resp))
	}
	q, r := wire.MAD(req), wire.MAD(resp)
	want := q.Method() | wire.MethodResponseBit
	if q.Method() == wire.MethodSet {
		want = wire.MethodGetResp
	}
	switch {
	case r.MgmtClass() != q.MgmtClass():
		return nil, fmt.Errorf("%w: class %s, sent %s", errBadResponse, r.MgmtClass(), q.MgmtClass())
	case r.Method() != want:
		return nil, fmt.Errorf("%w: method %s to a %s", errBadResponse, r.Method(), q.Method())
	case r.AttrID() != q.AttrID() || r.AttrMod() != q.AttrMod():
		return nil, fmt.Errorf("%w: attribute %s modifier %#x, sent %s %#x", errBadResponse, r.AttrID(), r.AttrMod(), q.AttrID(), q.AttrMod())
	case uint32(r.TID()) != uint32(q.TID()):
		return nil, fmt.Errorf("%w: transaction ID %#x, sent %#x", errBadResponse, r.TID(), q.TID())
	}
	return resp, nil
}
