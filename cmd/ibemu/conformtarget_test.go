package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibemu/ibemu/conformance"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/ibtest"
	"github.com/ibemu/ibemu/stack/mad"
)

// runConformance runs the checks from the first HCA of a fat tree the built-in SM
// brought up, through target wrapped by wrap (when not nil).
func runConformance(t *testing.T, wrap func(conformance.Target) conformance.Target, opts conformance.Options) *conformance.Report {
	t.Helper()
	return runConformanceFrom(t, "node1 HCA-1", wrap, opts)
}

// runConformanceFrom is runConformance from the HCA named from. The SM
// runs on node1 HCA-1 and takes the traps sent to it.
func runConformanceFrom(t *testing.T, from string, wrap func(conformance.Target) conformance.Target, opts conformance.Options) *conformance.Report {
	t.Helper()
	f := ibtest.Up(t, ibtest.FatTree(2, 4))
	tr, err := f.MADTransport(from, 1)
	if err != nil {
		t.Fatal(err)
	}
	tg := newMADTarget(tr, mad.Options{Timeout: 50 * time.Millisecond, Retries: 1})
	tg.takesTraps = true
	t.Cleanup(func() { _ = tg.Close() })
	var target conformance.Target = tg
	if wrap != nil {
		target = wrap(tg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := conformance.Run(ctx, target, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestConformanceEmulatorPasses: every check passes on every node of an
// emulated fat tree (6 switches, 8 HCAs) once the SM has assigned LIDs.
func TestConformanceEmulatorPasses(t *testing.T) {
	r := runConformance(t, nil, conformance.Options{})
	var b strings.Builder
	_ = r.WriteText(&b, false)
	if len(r.Nodes) != 14 {
		t.Errorf("walked %d nodes, want 14", len(r.Nodes))
	}
	if r.Count(conformance.Fail) != 0 || r.Count(conformance.Pass) == 0 {
		t.Errorf("report:\n%s", b.String())
	}
	// Only the check that needs a switch port without a link is skipped
	// (every port of this tree is cabled), and on the CAs the one of
	// AllPortSelect, which only switches' PMAs advertise.
	for _, x := range r.Results {
		allPorts := x.Check.ID == "pma.allportselect" && !x.Node.IsSwitch() && x.Detail == "the PMA does not advertise AllPortSelect"
		if x.Outcome == conformance.Skip && !allPorts && (x.Check.ID != "smi.dr-down-port" || x.Detail != "every port has its link up") {
			t.Errorf("skipped %s on %s: %s", x.Check.ID, x.Node, x.Detail)
		}
	}
}

// rewrite is a Target whose responses edit changes: a device that
// misbehaves in one way.
type rewrite struct {
	conformance.Target
	edit func(req, resp []byte)
}

// Traps passes conformance.TrapReceiver on.
func (r rewrite) Traps(mkey uint64) (<-chan []byte, func(), error) {
	if tr, ok := r.Target.(conformance.TrapReceiver); ok {
		return tr.Traps(mkey)
	}
	return nil, nil, errors.ErrUnsupported
}

// Sleep passes conformance.Sleeper on.
func (r rewrite) Sleep(ctx context.Context, d time.Duration) error {
	if s, ok := r.Target.(conformance.Sleeper); ok {
		return s.Sleep(ctx, d)
	}
	return errors.ErrUnsupported
}

func (r rewrite) Exchange(ctx context.Context, addr conformance.Address, req []byte) ([]byte, error) {
	resp, err := r.Target.Exchange(ctx, addr, req)
	if err == nil {
		r.edit(req, resp)
	}
	return resp, err
}

// TestConformanceChecksCatchViolations: a device that breaks one rule fails the check
// of that rule, on every node, and no other.
func TestConformanceChecksCatchViolations(t *testing.T) {
	smp := func(req []byte) bool { return wire.MAD(req).MgmtClass() == wire.MgmtClassSubnDirected }
	cases := []struct {
		check string
		edit  func(req, resp []byte)
	}{
		{"sma.portinfo-bad-port", func(req, resp []byte) {
			// Answers a port it does not have.
			if smp(req) && wire.MAD(req).AttrID() == wire.AttrPortInfo && wire.MAD(req).Method() == wire.MethodGet &&
				wire.SMP(resp).Status() == wire.MADStatusInvalidField {
				wire.SMP(resp).SetStatus(wire.MADStatusOK)
			}
		}},
		{"sma.unsupported-attribute", func(req, resp []byte) {
			// The SMA says "invalid field" where the attribute is unknown.
			if smp(req) && wire.MAD(req).Method() == wire.MethodGet && wire.SMP(resp).Status() == wire.MADStatusUnsupportedMethodAttr {
				wire.SMP(resp).SetStatus(wire.MADStatusInvalidField)
			}
		}},
		{"sma.pkeytable-set", func(req, resp []byte) {
			// Answers a P_KeyTable Set but keeps the block as it was:
			// a Get never shows the new entry.
			if smp(req) && wire.MAD(req).AttrID() == wire.AttrPKeyTable && wire.MAD(req).Method() == wire.MethodGet {
				t := wire.PKeyTable(wire.SMP(resp).Data())
				for i := range wire.PKeyTableBlockEntries {
					if t.PKey(i) == 0x8A5C {
						t.SetPKey(i, 0)
					}
				}
			}
		}},
		{"sma.set-get-only", func(req, resp []byte) {
			// Takes a Set of NodeInfo.
			if smp(req) && wire.MAD(req).Method() == wire.MethodSet && wire.MAD(req).AttrID() == wire.AttrNodeInfo {
				wire.SMP(resp).SetStatus(wire.MADStatusOK)
			}
		}},
		{"sma.guidinfo", func(req, resp []byte) {
			if smp(req) && wire.MAD(req).AttrID() == wire.AttrGUIDInfo {
				wire.GUIDInfo(wire.SMP(resp).Data()).SetGUID(0, 0x1234)
			}
		}},
		{"sma.guidinfo", func(req, resp []byte) {
			// Answers the block past GUIDCap.
			if smp(req) && wire.MAD(req).AttrID() == wire.AttrGUIDInfo && wire.SMP(resp).Status() == wire.MADStatusInvalidField {
				wire.SMP(resp).SetStatus(wire.MADStatusOK)
			}
		}},
		{"sma.sl2vl-switch", func(req, resp []byte) {
			// Answers a pair of ports the switch does not have.
			if smp(req) && wire.MAD(req).AttrID() == wire.AttrSLtoVLMappingTable && wire.SMP(resp).Status() == wire.MADStatusInvalidField {
				wire.SMP(resp).SetStatus(wire.MADStatusOK)
			}
		}},
		{"sma.vlarbitration", func(req, resp []byte) {
			// A weighted entry on VL15.
			if smp(req) && wire.MAD(req).AttrID() == wire.AttrVLArbitrationTable && wire.SMP(resp).Status() == wire.MADStatusOK {
				wire.VLArbitrationTable(wire.SMP(resp).Data()).SetEntry(0, wire.VLArbEntry{VL: 15, Weight: 1})
			}
		}},
		{"sma.mft-bad-position", func(req, resp []byte) {
			// Answers a port-mask position past the switch's ports.
			if smp(req) && wire.MAD(req).AttrID() == wire.AttrMulticastForwardingTable && wire.SMP(resp).Status() == wire.MADStatusInvalidField {
				wire.SMP(resp).SetStatus(wire.MADStatusOK)
			}
		}},
		{"sma.link-ends", func(req, resp []byte) {
			// Ports an odd number of hops away say their link runs 1x:
			// the other end of each link says 4x.
			if s := wire.SMP(resp); smp(req) && s.MAD().AttrID() == wire.AttrPortInfo && s.MAD().Method() == wire.MethodGetResp &&
				s.Status() == wire.MADStatusOK && s.HopCount()%2 == 1 && wire.PortInfo(s.Data()).LinkWidthActive() == wire.Width4X {
				wire.PortInfo(s.Data()).SetLinkWidthActive(wire.Width1X)
			}
		}},
		{"smi.dr-return-path", func(req, resp []byte) {
			s := wire.SMP(resp)
			if smp(req) && s.HopCount() > 0 {
				s.SetReturnPathAt(int(s.HopCount()), s.ReturnPathAt(int(s.HopCount()))+1)
			}
		}},
		{"pma.portcounters", func(req, resp []byte) {
			// PortSelect of one port (all ports are pma.allportselect's).
			if d := wire.PerfMAD(resp).Data(); wire.MAD(req).MgmtClass() == wire.MgmtClassPerf && wire.MAD(req).AttrID() == wire.AttrPortCounters &&
				d[1] != wire.PMAAllPorts {
				d[1]++
			}
		}},
		{"pma.bad-portselect", func(req, resp []byte) {
			// Answers a port the node does not have.
			if wire.MAD(req).MgmtClass() == wire.MgmtClassPerf && wire.MAD(resp).Status() == wire.MADStatusInvalidField {
				wire.MAD(resp).SetStatus(wire.MADStatusOK)
			}
		}},
		{"pma.allportselect", func(req, resp []byte) {
			// Answers all ports as port 1.
			if wire.MAD(req).MgmtClass() == wire.MgmtClassPerf && wire.MAD(req).AttrID() == wire.AttrPortCounters &&
				wire.PortCounters(wire.PerfMAD(resp).Data()).PortSelect() == wire.PMAAllPorts {
				wire.PerfMAD(resp).Data()[1] = 1
			}
		}},
		{"sma.mkey-lease", func(req, resp []byte) {
			// A lease that never runs out: a port whose protection
			// bits went to 0 with its M_Key still set says 2.
			if pi := wire.PortInfo(wire.SMP(resp).Data()); smp(req) && wire.MAD(req).AttrID() == wire.AttrPortInfo &&
				wire.MAD(req).Method() == wire.MethodGet && pi.MKey() != 0 && pi.MKeyProtectBits() == 0 {
				pi.SetMKeyProtectBits(2)
			}
		}},
		{"sma.portinfo-set-invalid", func(req, resp []byte) {
			// Takes a Set with an invalid field (status only: the port
			// stays as it was).
			if smp(req) && wire.MAD(req).AttrID() == wire.AttrPortInfo && wire.MAD(req).Method() == wire.MethodSet &&
				wire.SMP(resp).Status() == wire.MADStatusInvalidField {
				wire.SMP(resp).SetStatus(wire.MADStatusOK)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.check, func(t *testing.T) {
			// Every check runs, those that write included.
			r := runConformance(t, func(tg conformance.Target) conformance.Target { return rewrite{tg, tc.edit} }, conformance.Options{Write: true})
			fails := r.Failures()
			if len(fails) == 0 {
				t.Fatal("no check failed")
			}
			for _, x := range fails {
				if x.Check.ID != tc.check {
					t.Errorf("%s failed on %s: %s", x.Check.ID, x.Node, x.Detail)
				}
			}
		})
	}
}

// TestConformanceUnknownCheck: Only naming no check is an error, before any MAD.
func TestConformanceUnknownCheck(t *testing.T) {
	if _, err := conformance.Run(context.Background(), nil, conformance.Options{Only: []string{"sma.nope"}}); !errors.Is(err, conformance.ErrUnknownCheck) {
		t.Fatalf("Run with an unknown check: %v", err)
	}
	if _, err := conformance.Run(context.Background(), nil, conformance.Options{Only: []string{"sma.mkey-protect"}}); !errors.Is(err, conformance.ErrUnknownCheck) {
		t.Fatalf("Run with a write check but not Write: %v", err)
	}
}

// answerDiscarded is a Target whose CAs answer the Gets they discarded
// for their M_Key: it remembers the M_Key each Set(PortInfo) wrote along
// each directed route, sends a Get that got no answer again with that key
// and returns the answer with M_Key shown as 0 (an SMA that treats
// protection levels 2 and 3 as level 1).
type answerDiscarded struct {
	conformance.Target
	mu   sync.Mutex
	keys map[string]uint64
}

func (a *answerDiscarded) Exchange(ctx context.Context, addr conformance.Address, req []byte) ([]byte, error) {
	m, s := wire.MAD(req), wire.SMP(req)
	if m.MgmtClass() != wire.MgmtClassSubnDirected {
		return a.Target.Exchange(ctx, addr, req)
	}
	route := string(s.InitialPath()[:s.HopCount()+1])
	if m.Method() == wire.MethodSet && m.AttrID() == wire.AttrPortInfo {
		a.mu.Lock()
		a.keys[route] = wire.PortInfo(s.Data()).MKey()
		a.mu.Unlock()
	}
	resp, err := a.Target.Exchange(ctx, addr, req)
	a.mu.Lock()
	key, ok := a.keys[route]
	a.mu.Unlock()
	if !errors.Is(err, conformance.ErrNoResponse) || m.Method() != wire.MethodGet || !ok {
		return resp, err
	}
	again := append([]byte(nil), req...)
	wire.SMP(again).SetMKey(key)
	resp, err = a.Target.Exchange(ctx, addr, again)
	if err == nil {
		wire.MAD(resp).SetTID(m.TID())
		if m.AttrID() == wire.AttrPortInfo {
			wire.PortInfo(wire.SMP(resp).Data()).SetMKey(0)
		}
	}
	return resp, err
}

// TestConformanceMKeyGetCatchesLevelOne: CAs that answer Gets without
// the key at protection levels 2 and 3 (as if they were level 1) fail
// sma.mkey-protect-get, on every CA the checks reach.
func TestConformanceMKeyGetCatchesLevelOne(t *testing.T) {
	r := runConformance(t, func(tg conformance.Target) conformance.Target {
		return &answerDiscarded{Target: tg, keys: map[string]uint64{}}
	}, conformance.Options{Write: true, Only: []string{"sma.mkey-protect-get"}})
	fails := r.Failures()
	if len(fails) != 7 || r.Count(conformance.Pass) != 0 {
		t.Errorf("%d of the 7 CAs failed, %d passed", len(fails), r.Count(conformance.Pass))
	}
	for _, x := range fails {
		if x.Check.ID != "sma.mkey-protect-get" || !strings.Contains(x.Detail, "was answered") {
			t.Errorf("%s failed on %s: %s", x.Check.ID, x.Node, x.Detail)
		}
	}
}

// counterSelectAs is a Target whose PMAs take a PortCounters Set of
// CounterSelect from (0: any) as one of CounterSelect to.
type counterSelectAs struct {
	conformance.Target
	from, to uint16
}

func (r counterSelectAs) Exchange(ctx context.Context, addr conformance.Address, req []byte) ([]byte, error) {
	m := wire.MAD(req)
	if m.MgmtClass() == wire.MgmtClassPerf && m.Method() == wire.MethodSet && m.AttrID() == wire.AttrPortCounters {
		// In place: the target writes the transaction ID into req.
		pc := wire.PortCounters(wire.PerfMAD(req).Data())
		if f := pc.Fields(); r.from == 0 || f.CounterSelect == r.from {
			f.CounterSelect = r.to
			pc.Encode(&f)
		}
	}
	return r.Target.Exchange(ctx, addr, req)
}

// TestConformanceCounterSelectCatchesPMAs: PMAs that reset every counter
// when a Set names one fail pma.portcounters-select on each of the 14
// nodes, and PMAs that reset PortXmitPkts alone when a Set names every
// counter fail pma.portcounters-reset; each passes the other check.
func TestConformanceCounterSelectCatchesPMAs(t *testing.T) {
	for _, tc := range []struct {
		from, to   uint16
		fail, pass string
	}{
		{0, 0xFFFF, "pma.portcounters-select", "pma.portcounters-reset"},
		{0xFFFF, 1 << 14, "pma.portcounters-reset", "pma.portcounters-select"},
	} {
		r := runConformance(t, func(tg conformance.Target) conformance.Target { return counterSelectAs{tg, tc.from, tc.to} },
			conformance.Options{Write: true, Only: []string{"pma.portcounters-select", "pma.portcounters-reset"}})
		fails := r.Failures()
		if len(fails) != 14 || r.Count(conformance.Pass) != 14 {
			t.Errorf("CounterSelect %#x taken as %#x: %d failed, %d passed; want %s to fail and %s to pass on the 14 nodes", tc.from, tc.to, len(fails), r.Count(conformance.Pass), tc.fail, tc.pass)
		}
		for _, x := range fails {
			if x.Check.ID != tc.fail {
				t.Errorf("CounterSelect %#x taken as %#x: %s failed on %s: %s", tc.from, tc.to, x.Check.ID, x.Node, x.Detail)
			}
		}
	}
}

// sleepMeeting is a target whose Sleep first waits (up to 10 s of wall
// time) until want sleepers are in Sleep together, and records the most
// it saw.
type sleepMeeting struct {
	conformance.Target
	want int

	mu      sync.Mutex
	in, top int
	met     chan struct{}
}

func (s *sleepMeeting) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.in++
	s.top = max(s.top, s.in)
	if s.in == s.want {
		close(s.met)
	}
	s.mu.Unlock()
	select {
	case <-s.met:
	case <-time.After(10 * time.Second):
	}
	defer func() { s.mu.Lock(); s.in--; s.mu.Unlock() }()
	return s.Target.(conformance.Sleeper).Sleep(ctx, d)
}

// TestConformanceTimedChecksOverlap: with Options.Parallel the M_Key lease
// checks of several CAs wait at the same time (all 4 the test lets run
// at once meet in Sleep), pass as they do one after another, and the
// report keeps its node order. With Parallel 1 they never overlap.
func TestConformanceTimedChecksOverlap(t *testing.T) {
	only := []string{"sma.nodeinfo", "sma.mkey-lease"}
	var seq, par *sleepMeeting
	one := runConformance(t, func(tg conformance.Target) conformance.Target {
		seq = &sleepMeeting{Target: tg, want: 2, met: make(chan struct{})}
		close(seq.met) // nothing to wait for: one at a time
		return seq
	}, conformance.Options{Write: true, Only: only, Parallel: 1})
	many := runConformance(t, func(tg conformance.Target) conformance.Target {
		par = &sleepMeeting{Target: tg, want: 4, met: make(chan struct{})}
		return par
	}, conformance.Options{Write: true, Only: only, Parallel: 4})
	if seq.top != 1 || par.top != 4 {
		t.Errorf("sleepers at once: %d with Parallel 1, %d with Parallel 4; want 1 and 4", seq.top, par.top)
	}
	if len(one.Results) != len(many.Results) || many.Count(conformance.Pass) != len(many.Results) || one.Count(conformance.Pass) != len(one.Results) {
		t.Fatalf("Parallel 1: %d results, %d passed; Parallel 4: %d results, %d passed", len(one.Results), one.Count(conformance.Pass), len(many.Results), many.Count(conformance.Pass))
	}
	leases := 0
	for i, x := range many.Results {
		if y := one.Results[i]; x.Check.ID != y.Check.ID || x.Node.Info.NodeGUID != y.Node.Info.NodeGUID {
			t.Errorf("result %d: %s on %s with Parallel 4, %s on %s with Parallel 1", i, x.Check.ID, x.Node, y.Check.ID, y.Node)
		}
		if x.Check.ID == "sma.mkey-lease" {
			leases++
		}
	}
	if leases < 4 {
		t.Errorf("%d lease checks ran, want at least 4", leases)
	}
}

// trapEdit is a target whose traps pass through edit first; edit returns
// false to drop one.
type trapEdit struct {
	conformance.Target
	edit func(m []byte) bool
}

func (w trapEdit) Traps(mkey uint64) (<-chan []byte, func(), error) {
	in, stop, err := w.Target.(conformance.TrapReceiver).Traps(mkey)
	if err != nil {
		return nil, nil, err
	}
	out, done := make(chan []byte, 64), make(chan struct{})
	go func() {
		for {
			select {
			case m := <-in:
				if !w.edit(m) {
					continue
				}
				select {
				case out <- m:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return out, func() { close(done); stop() }, nil
}

// TestConformanceTrapCheck: sma.trap-bad-mkey passes on the emulated CAs
// and leaves each port's MasterSMLID as the SM set it, and it fails when
// the trap does not come or says something else.
func TestConformanceTrapCheck(t *testing.T) {
	only := conformance.Options{Write: true, Only: []string{"sma.trap-bad-mkey"}}
	// From node1, whose SM takes the traps, the check cannot run.
	r := runConformance(t, nil, only)
	if len(r.Results) == 0 || r.Count(conformance.Skip) != len(r.Results) {
		t.Fatalf("from the SM's port: %d results, %d skipped", len(r.Results), r.Count(conformance.Skip))
	}
	r = runConformanceFrom(t, "node2 HCA-1", nil, only)
	if len(r.Results) < 4 || r.Count(conformance.Pass) != len(r.Results) {
		t.Fatalf("%d results, %d passed: %+v", len(r.Results), r.Count(conformance.Pass), r.Failures())
	}
	details := func(m []byte) []byte { return wire.Notice(wire.SMP(m).Data()).DataDetails() }
	for name, edit := range map[string]func(m []byte) bool{
		"no trap":         func([]byte) bool { return false },
		"another trap":    func(m []byte) bool { wire.Notice(wire.SMP(m).Data()).SetTrapNumber(257); return true },
		"wrong modifier":  func(m []byte) bool { details(m)[13]++; return true },
		"wrong method":    func(m []byte) bool { details(m)[6] = uint8(wire.MethodGet); return true },
		"no DR notice":    func(m []byte) bool { details(m)[23] &^= 0x80; return true },
		"wrong last port": func(m []byte) bool { d := details(m); d[24+int(d[23]&0x3f)-1]++; return true },
		"not security": func(m []byte) bool {
			wire.Notice(wire.SMP(m).Data()).SetType(wire.NoticeTypeInformational)
			return true
		},
	} {
		t.Run(name, func(t *testing.T) {
			// The first few nodes only: a CA whose trap never comes
			// costs the check's 3 s wait.
			few := only
			few.MaxNodes = 4
			r := runConformanceFrom(t, "node2 HCA-1", func(tg conformance.Target) conformance.Target { return trapEdit{tg, edit} }, few)
			if len(r.Results) == 0 || len(r.Failures()) != len(r.Results) {
				t.Fatalf("%d results, %d failed", len(r.Results), len(r.Failures()))
			}
		})
	}
}
