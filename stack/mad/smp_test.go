package mad_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

func TestDRPathFormat(t *testing.T) {
	for _, tc := range []struct {
		path mad.DRPath
		str  string
	}{
		{mad.DRPath{}, "0"},
		{mad.DRPath{1}, "0,1"},
		{mad.DRPath{1, 3, 24}, "0,1,3,24"},
	} {
		if got := tc.path.String(); got != tc.str {
			t.Errorf("%v.String() = %q, want %q", []uint8(tc.path), got, tc.str)
		}
		p, err := mad.ParseDRPath(tc.str)
		if err != nil || !slices.Equal(p, tc.path) {
			t.Errorf("ParseDRPath(%q) = %v, %v", tc.str, p, err)
		}
	}
	for _, bad := range []string{"", "1,2", "0,0", "0,256", "0,x", "0,1,,2"} {
		if _, err := mad.ParseDRPath(bad); !errors.Is(err, mad.ErrBadRoute) {
			t.Errorf("ParseDRPath(%q): %v, want ErrBadRoute", bad, err)
		}
	}
	long := "0" + string(slices.Repeat([]byte(",1"), 64))
	if _, err := mad.ParseDRPath(long); !errors.Is(err, mad.ErrBadRoute) {
		t.Errorf("64-hop path accepted")
	}
	p := mad.DRPath{1, 2}
	q := p.Extend(7)
	if !slices.Equal(q, mad.DRPath{1, 2, 7}) || !slices.Equal(p, mad.DRPath{1, 2}) {
		t.Errorf("Extend: %v from %v", q, p)
	}
}

func TestSMPRequestEncoding(t *testing.T) {
	s := newSim(t)
	a := newAgent(t, s.port(clientLID), mad.Registration{QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: 1},
		mad.Options{MKey: 0x1122334455667788})
	req, err := a.SMPRequest(mad.DRPath{1, 5, 9}, wire.MethodGet, wire.AttrPortInfo, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	smp, err := wire.ParseSMP(req.MAD)
	if err != nil {
		t.Fatalf("ParseSMP: %v", err)
	}
	f := smp.Fields()
	if !f.Directed || f.Method != wire.MethodGet || f.AttrID != wire.AttrPortInfo || f.AttrMod != 5 ||
		f.HopCount != 3 || f.HopPointer != 0 || f.Direction != wire.DROutbound ||
		f.DrSLID != wire.LIDPermissive || f.DrDLID != wire.LIDPermissive || f.MKey != 0x1122334455667788 ||
		f.InitialPath[1] != 1 || f.InitialPath[2] != 5 || f.InitialPath[3] != 9 || f.InitialPath[0] != 0 || f.InitialPath[4] != 0 {
		t.Errorf("DR SMP fields %+v", f)
	}
	if req.Addr.LID != wire.LIDPermissive || req.Addr.QPN != 0 {
		t.Errorf("DR SMP address %v", req.Addr)
	}

	req, err = a.SMPRequest(mad.LIDRoute(12), wire.MethodSet, wire.AttrPortInfo, 1, []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	f = wire.SMP(req.MAD).Fields()
	if f.Directed || f.Method != wire.MethodSet || f.Data[2] != 3 || req.Addr.LID != 12 || req.Addr.QPN != 0 {
		t.Errorf("LID-routed SMP fields %+v addr %v", f, req.Addr)
	}

	if _, err := a.SMPRequest(make(mad.DRPath, 64), wire.MethodGet, wire.AttrNodeInfo, 0, nil); !errors.Is(err, mad.ErrBadRoute) {
		t.Errorf("64-hop SMP: %v", err)
	}
	if _, err := a.SMPRequest(mad.LIDRoute(1), wire.MethodSet, wire.AttrNodeInfo, 0, make([]byte, 65)); !errors.Is(err, mad.ErrBadMAD) {
		t.Errorf("65 bytes of SMP data: %v", err)
	}
}

// TestSMPGetSet runs SMPGet and SMPSet against an agent acting as a tiny
// SMA that keeps one 64-byte attribute.
func TestSMPGetSet(t *testing.T) {
	s := newSim(t)
	client := newAgent(t, s.port(clientLID), mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1}, mad.Options{})
	sma := newAgent(t, s.port(serverLID), mad.Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1,
		Methods: []wire.Method{wire.MethodGet, wire.MethodSet}}, mad.Options{})
	var stored [64]byte
	copy(stored[:], "initial")
	sma.Serve(func(r *mad.Received) {
		smp := wire.SMP(r.MAD)
		if smp.MAD().AttrID() != wire.AttrNodeDescription {
			r.RespondStatus(wire.MADStatusUnsupportedMethodAttr)
			return
		}
		if smp.MAD().Method() == wire.MethodSet {
			copy(stored[:], smp.Data())
		}
		resp := slices.Clone(r.MAD)
		copy(wire.SMP(resp).Data(), stored[:])
		wire.MAD(resp).SetResponse(wire.MADStatusOK)
		r.Respond(resp)
	})
	type out struct {
		data []byte
		err  error
	}
	run := func(f func() ([]byte, error)) out {
		ch := make(chan out, 1)
		go func() { d, err := f(); ch <- out{d, err} }()
		var o out
		s.runUntil(func() bool {
			select {
			case o = <-ch:
				return true
			default:
				return false
			}
		})
		return o
	}
	ctx := context.Background()
	o := run(func() ([]byte, error) {
		return client.SMPGet(ctx, mad.LIDRoute(serverLID), wire.AttrNodeDescription, 0)
	})
	if o.err != nil || wire.NodeDescription(o.data).String() != "initial" {
		t.Fatalf("SMPGet: %q, %v", o.data, o.err)
	}
	o = run(func() ([]byte, error) {
		return client.SMPSet(ctx, mad.LIDRoute(serverLID), wire.AttrNodeDescription, 0, []byte("changed"))
	})
	if o.err != nil || wire.NodeDescription(o.data).String() != "changed" {
		t.Fatalf("SMPSet: %q, %v", o.data, o.err)
	}
	o = run(func() ([]byte, error) { return client.SMPGet(ctx, mad.LIDRoute(serverLID), wire.AttrSMInfo, 0) })
	if !errors.Is(o.err, wire.ErrUnsupportedAttr) {
		t.Errorf("SMPGet of an unsupported attribute: %v", o.err)
	}
}
