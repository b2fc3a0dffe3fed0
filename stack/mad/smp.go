package mad

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// Route is how an SMP reaches the node it addresses: a LIDRoute
// (LID-routed, class 0x01, IBTA Vol 1 §14.2.1.1) or a DRPath (directed
// route, class 0x81, §14.2.1.2).
type Route interface {
	// Addr is where the SMP is sent: the LID, or the permissive LID for a
	// directed route, on QP0.
	Addr() Addr
	// String formats the route as the diagnostics take it: "lid 5" or
	// "0,1,3".
	String() string
	// encode writes the routing fields of an SMP.
	encode(s wire.SMP)
}

// LIDRoute addresses an SMP by the destination port's LID.
type LIDRoute wire.LID

// Addr implements Route.Addr.
func (l LIDRoute) Addr() Addr { return Addr{LID: wire.LID(l), QPN: 0} }

// String implements Route.String.
func (l LIDRoute) String() string { return "lid " + strconv.Itoa(int(l)) }

func (l LIDRoute) encode(s wire.SMP) { s.MAD().SetMgmtClass(wire.MgmtClassSubnLID) }

// DRPath is a directed route without LID-routed parts (DrSLID and DrDLID
// permissive): entry i is the port node i sends the SMP out of, node 0
// being the requester, so DRPath{1, 3} leaves the local CA by port 1 and the
// switch behind it by port 3 (InitialPath[1..n], IBTA Vol 1 §14.2.2). The
// empty path addresses the local node itself.
type DRPath []uint8

// MaxDRHops is the longest directed route an SMP can carry.
const MaxDRHops = wire.SMPMaxHopCount

// Addr implements Route.Addr.
func (p DRPath) Addr() Addr { return Addr{LID: wire.LIDPermissive, QPN: 0} }

// String formats p as libibmad does, InitialPath[0] (always 0) first:
// "0" for the local node, "0,1,3" for two hops.
func (p DRPath) String() string {
	var b strings.Builder
	b.WriteByte('0')
	for _, x := range p {
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(int(x)))
	}
	return b.String()
}

// Extend returns a new path that goes on out of port.
func (p DRPath) Extend(port uint8) DRPath {
	q := make(DRPath, len(p)+1)
	copy(q, p)
	q[len(p)] = port
	return q
}

func (p DRPath) encode(s wire.SMP) {
	s.MAD().SetMgmtClass(wire.MgmtClassSubnDirected)
	s.SetHopCount(uint8(len(p)))
	s.SetHopPointer(0)
	s.SetDirection(wire.DROutbound)
	s.SetDrSLID(wire.LIDPermissive)
	s.SetDrDLID(wire.LIDPermissive)
	for i, x := range p {
		s.SetInitialPathAt(i+1, x)
	}
}

// ParseDRPath parses a directed route written as the diagnostics write it
// ("0,1,3"; smpquery -D): comma-separated port numbers starting with 0.
func ParseDRPath(s string) (DRPath, error) {
	fields := strings.Split(strings.TrimSpace(s), ",")
	if len(fields) == 0 || strings.TrimSpace(fields[0]) != "0" {
		return nil, fmt.Errorf("mad: dr path %q: must start with 0: %w", s, ErrBadRoute)
	}
	p := make(DRPath, 0, len(fields)-1)
	for _, f := range fields[1:] {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 8)
		if err != nil || v == 0 || v == 255 {
			return nil, fmt.Errorf("mad: dr path %q: bad port %q: %w", s, f, ErrBadRoute)
		}
		p = append(p, uint8(v))
	}
	if len(p) > MaxDRHops {
		return nil, fmt.Errorf("mad: dr path %q: %d hops, at most %d: %w", s, len(p), MaxDRHops, ErrBadRoute)
	}
	return p, nil
}

// SMPRequest builds an SMP (IBTA Vol 1 §14.2.1) for Go or CallMany: method
// (Get or Set) of attribute attr with modifier mod along route r, carrying
// data (at most 64 bytes) and the agent's M_Key.
func (a *Agent) SMPRequest(r Route, method wire.Method, attr wire.AttrID, mod uint32, data []byte) (Request, error) {
	if r == nil {
		return Request{}, fmt.Errorf("mad: smp: nil route: %w", ErrBadRoute)
	}
	if p, ok := r.(DRPath); ok && len(p) > MaxDRHops {
		return Request{}, fmt.Errorf("mad: smp: dr path of %d hops, at most %d: %w", len(p), MaxDRHops, ErrBadRoute)
	}
	if len(data) > wire.SMPDataSize {
		return Request{}, fmt.Errorf("mad: smp: %d bytes of data, at most %d: %w", len(data), wire.SMPDataSize, ErrBadMAD)
	}
	f := wire.SMPFields{Method: method, AttrID: attr, AttrMod: mod, MKey: a.opts.MKey}
	copy(f.Data[:], data)
	s := wire.SMP(make([]byte, wire.MADSize))
	s.Encode(&f)
	r.encode(s)
	return Request{Addr: r.Addr(), MAD: s}, nil
}

// SMPGet reads attribute attr (modifier mod) of the node route r reaches
// and returns the 64-byte attribute data of the response.
//
// Equivalent to: `smpquery` (-D for a DRPath).
func (a *Agent) SMPGet(ctx context.Context, r Route, attr wire.AttrID, mod uint32) ([]byte, error) {
	return a.smp(ctx, r, wire.MethodGet, attr, mod, nil)
}

// SMPSet writes data to attribute attr (modifier mod) of the node route r
// reaches and returns the attribute data of the response (the value now
// in effect).
func (a *Agent) SMPSet(ctx context.Context, r Route, attr wire.AttrID, mod uint32, data []byte) ([]byte, error) {
	return a.smp(ctx, r, wire.MethodSet, attr, mod, data)
}

func (a *Agent) smp(ctx context.Context, r Route, method wire.Method, attr wire.AttrID, mod uint32, data []byte) ([]byte, error) {
	req, err := a.SMPRequest(r, method, attr, mod, data)
	if err != nil {
		return nil, err
	}
	resp, err := a.CallRequest(ctx, req)
	d, derr := SMPData(resp)
	if err != nil {
		return d, fmt.Errorf("mad: smp %s %s via %s: %w", method, wire.AttrName(wire.MgmtClassSubnLID, attr), r, err)
	}
	return d, derr
}

// SMPData returns the attribute data of an SMP response, or an error when
// resp is not a well-formed SMP.
func SMPData(resp []byte) ([]byte, error) {
	if resp == nil {
		return nil, nil
	}
	s, err := wire.ParseSMP(resp)
	if err != nil || s == nil {
		return nil, fmt.Errorf("mad: smp response: %w: %w", ErrBadMAD, err)
	}
	return s.Data(), nil
}
