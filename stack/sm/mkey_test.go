package sm_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/mad"
	"github.com/ibemu/ibemu/stack/sm"
)

// TestMKeyProtection: the SM writes its M_Key and protection bits into
// every port, and then a foreign SMP with a wrong M_Key is refused as IBTA
// Vol 1 §14.2.4.1 (C14-18 to C14-20) says: with protection 1 a Get is
// answered with the M_Key field zeroed and a Set is not answered (and
// changes nothing); with protection 2 a Get is not answered either. The
// SM's own key still works.
func TestMKeyProtection(t *testing.T) {
	const key = 0x0123456789ABCDEF
	for _, protect := range []uint8{1, 2} {
		t.Run(fmt.Sprintf("protect%d", protect), func(t *testing.T) {
			f := ibtest.UpWith(t, ibtest.FatTree(2, 4), sm.Config{MKey: key, MKeyProtect: protect, MKeyLeasePeriod: 0})
			target := f.HCAs[2].Topo.ID
			lid := f.LID(target, 1)
			tr, err := f.MADTransport(f.HCAs[1].Topo.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			agent := func(mkey uint64) *mad.Agent {
				a, err := mad.NewAgent(tr, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: wire.SMPClassVersion},
					mad.Options{MKey: mkey, Timeout: 50 * time.Millisecond, Retries: 1})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { a.Close() })
				return a
			}
			ctx := context.Background()
			good, bad := agent(key), agent(0x1111)

			// The SM's key: answered, and the port holds key and bits.
			d, err := good.SMPGet(ctx, mad.LIDRoute(lid), wire.AttrPortInfo, 1)
			if err != nil {
				t.Fatalf("get with the right m_key: %v", err)
			}
			pi, err := wire.ParsePortInfo(d)
			if err != nil {
				t.Fatal(err)
			}
			if fi := pi.Fields(); fi.MKey != key || fi.MKeyProtectBits != protect {
				t.Fatalf("port holds m_key %#x protect %d, want %#x %d", fi.MKey, fi.MKeyProtectBits, uint64(key), protect)
			}
			before := pi.Fields()

			// A wrong key: Get.
			d, err = bad.SMPGet(ctx, mad.LIDRoute(lid), wire.AttrPortInfo, 1)
			switch protect {
			case 1:
				if err != nil {
					t.Fatalf("protect 1: get with a wrong m_key refused: %v", err)
				}
				pi, _ := wire.ParsePortInfo(d)
				if pi.Fields().MKey != 0 || pi.Fields().LID != lid {
					t.Errorf("protect 1: get with a wrong m_key returned m_key %#x lid %d, want 0 and %d", pi.Fields().MKey, pi.Fields().LID, lid)
				}
			default:
				if !errors.Is(err, mad.ErrTimeout) {
					t.Errorf("protect %d: get with a wrong m_key: err %v, want no answer (timeout)", protect, err)
				}
			}

			// A wrong key: Set of a new LID is not answered and not applied.
			changed := before
			changed.LID = 999
			changed.PortState, changed.PortPhysicalState, changed.LinkDownDefaultState = wire.PortStateNoChange, wire.PhysStateNoChange, wire.PhysStateNoChange
			changed.LinkWidthEnabled, changed.LinkSpeedEnabled, changed.LinkSpeedExtEnabled = 0, 0, 0
			data := make([]byte, wire.SMPDataSize)
			wire.PortInfo(data).Encode(&changed)
			if _, err := bad.SMPSet(ctx, mad.LIDRoute(lid), wire.AttrPortInfo, 1, data); !errors.Is(err, mad.ErrTimeout) {
				t.Errorf("set with a wrong m_key: err %v, want no answer (timeout)", err)
			}
			d, err = good.SMPGet(ctx, mad.LIDRoute(lid), wire.AttrPortInfo, 1)
			if err != nil {
				t.Fatal(err)
			}
			pi, _ = wire.ParsePortInfo(d)
			if got := pi.Fields().LID; got != lid {
				t.Errorf("set with a wrong m_key changed the lid to %d", got)
			}
		})
	}
}
