package cm

import (
	"context"
	"fmt"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// QueryPath asks the SA (at the port's master SM LID) for the path from
// this port to dgid: SubnAdmGet(PathRecord) with SGID and DGID (IBTA Vol 1
// §15.2.5.16), as ib_sa_path_rec_get does for the Linux CM.
func (c *CM) QueryPath(ctx context.Context, dgid wire.GID) (wire.PathRecordFields, error) {
	pi, err := c.portInfo()
	if err != nil {
		return wire.PathRecordFields{}, err
	}
	if pi.smLID == 0 {
		return wire.PathRecordFields{}, fmt.Errorf("cm: path query: port %d knows no SM: %w", c.port, ErrInvalid)
	}
	req := make([]byte, wire.MADSize)
	wire.SAMAD(req).Encode(&wire.SAMADFields{
		MAD: wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
			Method: wire.MethodGet, AttrID: wire.AttrPathRecord},
		SA: wire.SAHeaderFields{ComponentMask: wire.PathRecordCompSGID | wire.PathRecordCompDGID | wire.PathRecordCompReversible |
			wire.PathRecordCompNumbPath},
	})
	wire.PathRecord(wire.SAMAD(req).Data()).Encode(&wire.PathRecordFields{SGID: pi.gid, DGID: dgid, Reversible: true, NumbPath: 1})
	resp, err := c.sa.Call(ctx, mad.Addr{LID: pi.smLID, QPN: 1}, req)
	if err != nil {
		return wire.PathRecordFields{}, fmt.Errorf("cm: path query to %s: %w", dgid, err)
	}
	m, err := wire.ParseSAMAD(resp)
	if err != nil {
		return wire.PathRecordFields{}, fmt.Errorf("cm: path query to %s: %w", dgid, err)
	}
	pr, err := wire.ParsePathRecord(m.Data())
	if err != nil {
		return wire.PathRecordFields{}, fmt.Errorf("cm: path query to %s: %w", dgid, err)
	}
	f := pr.Fields()
	if f.DLID == 0 {
		return wire.PathRecordFields{}, fmt.Errorf("cm: path query to %s: the SA returned no path: %w", dgid, ErrInvalid)
	}
	return f, nil
}
