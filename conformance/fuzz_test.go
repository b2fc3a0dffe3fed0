package conformance_test

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/conformance"
	"github.com/ibemu/ibemu/emu/wire"
)

// garbage answers every request with a response that echoes the header
// (so the checks get past the echo test) and carries status and data
// from the fuzzer's bytes, or, when the bytes say so, a short or empty
// one or no response at all.
type garbage struct {
	data []byte
	off  int
}

func (g *garbage) next(n int) []byte {
	out := make([]byte, n)
	for i := range out {
		if len(g.data) > 0 {
			out[i] = g.data[g.off%len(g.data)]
			g.off++
		}
	}
	return out
}

func (g *garbage) Exchange(_ context.Context, _ conformance.Address, req []byte) ([]byte, error) {
	switch g.next(1)[0] % 16 {
	case 0:
		return nil, conformance.ErrNoResponse
	case 1:
		return g.next(int(g.next(1)[0])), nil
	}
	resp := append([]byte(nil), req...)
	m := wire.MAD(resp)
	m.SetResponse(wire.MADStatus(g.next(1)[0]) << 2 & wire.MADStatusCodeMask)
	if m.MgmtClass() == wire.MgmtClassSubnDirected {
		wire.SMP(resp).SetDirection(wire.DRReturning)
		copy(wire.SMP(resp).Data(), g.next(wire.SMPDataSize))
		copy(wire.SMP(resp).ReturnPath(), g.next(wire.SMPPathSize))
	} else {
		copy(resp[wire.MADHeaderSize:], g.next(wire.MADSize-wire.MADHeaderSize))
	}
	return resp, nil
}

// Sleep implements conformance.Sleeper: the timed checks run too.
func (g *garbage) Sleep(context.Context, time.Duration) error { return nil }

// FuzzRun: no device answer makes the walk or a check (those that
// write included) panic, and the walk
// stays within its node bound.
func FuzzRun(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 0, 0x02, 0x01, 0x01, 0x02, 0x08, 0xff, 0x11, 0x22})
	f.Add([]byte{5, 0, 1, 1, 2, 36, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := conformance.Run(context.Background(), &garbage{data: data}, conformance.Options{MaxNodes: 8, Write: true})
		if err != nil {
			return
		}
		if len(r.Nodes) > 8 {
			t.Fatalf("walked %d nodes past the bound of 8", len(r.Nodes))
		}
		for _, x := range r.Results {
			if x.Outcome != conformance.Pass && x.Detail == "" {
				t.Fatalf("%s %s without a reason", x.Check.ID, x.Outcome)
			}
		}
	})
}
