package verbs

import (
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// TestLatencyOnlyVirtual: an engine applies its model's Timing under the
// virtual clock only, and not at all for a model without one; under the
// wall clock its doorbell and completion paths make the one test of
// latOn and go on as before.
func TestLatencyOnlyVirtual(t *testing.T) {
	prof, err := hca.StandardProfiles().Lookup(hca.ProfileConnectX4EDR1p)
	if err != nil {
		t.Fatal(err)
	}
	bare := *prof
	bare.Name, bare.Timing = "no-timing", hca.Timing{}
	for _, c := range []struct {
		name string
		opt  emu.Option
		prof *hca.Profile
		want bool
	}{
		{"virtual", emu.WithVirtualClock(), prof, true},
		{"wall", emu.WithWallClock(), prof, false},
		{"virtual without timing", emu.WithVirtualClock(), &bare, false},
	} {
		f := emu.New(c.opt)
		d, err := hca.Add(f, "h", hca.Config{Profile: c.prof, NodeGUID: wire.GUID(0x0002c90300001000)})
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(d)
		if err != nil {
			t.Fatal(err)
		}
		if e.latOn != c.want || (c.want && e.lat != prof.Timing) {
			t.Errorf("%s: latOn %v lat %+v", c.name, e.latOn, e.lat)
		}
		cq, err := e.CreateCQ(4, nil)
		if err != nil {
			t.Fatal(err)
		}
		if (cq.delayTimer != nil) != c.want {
			t.Errorf("%s: completion delay timer %v", c.name, cq.delayTimer != nil)
		}
	}
}
