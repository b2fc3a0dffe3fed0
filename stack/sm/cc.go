package sm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// CongestionControl configures the SM's congestion control manager, as
// OpenSM's congestion_control TRUE and its cc_* options do (IBTA Vol 1
// Annex A10): after every heavy sweep that routed the subnet, the SM
// writes Switch to SwitchCongestionSetting of every switch and CA and CCT
// to CACongestionSetting and the CongestionControlTable of every CA port,
// with Key as the CC_Key of each MAD. Like OpenSM it writes a port again
// only when what it wants differs from the port's last answer (or the
// port is new), never writes SwitchPortCongestionSetting or
// CongestionKeyInfo, and leaves alone a port that answers that it has no
// congestion control (a bad class version, method or attribute status)
// or that timed out more than three sweeps in a row.
type CongestionControl struct {
	// Key is cc_key, the CC_Key every MAD carries.
	Key uint64
	// Switch is the SwitchCongestionSetting (cc_sw_cong_setting_*).
	Switch wire.SwitchCongestionSettingFields
	// CA is the CACongestionSetting (cc_ca_cong_setting_*).
	CA wire.CACongestionSettingFields
	// CCT is the congestion control table (cc_cct), at most
	// MaxCCTEntries entries; CCTI_Limit is its length less one (0 when
	// empty, which still writes block 0 with the limit, as OpenSM does).
	CCT []wire.CCTEntry
}

// MaxCCTEntries is the longest CCT the SM writes (OpenSM's
// OSM_CCT_ENTRY_MAX: two blocks of 64).
const MaxCCTEntries = 128

// ccTimeoutThreshold is how many sweeps in a row a port may time out
// before the SM stops writing to it (OpenSM's
// OSM_CC_TIMEOUT_COUNT_THRESHOLD).
const ccTimeoutThreshold = 3

// ErrCongestionControl reports a congestion control setting the SM
// cannot write.
var ErrCongestionControl = errors.New("sm: bad congestion control setting")

func (c *CongestionControl) check() error {
	if len(c.CCT) > MaxCCTEntries {
		return fmt.Errorf("%w: %d cct entries, at most %d", ErrCongestionControl, len(c.CCT), MaxCCTEntries)
	}
	if c.Switch.Threshold > 15 || c.Switch.CSThreshold > 15 {
		return fmt.Errorf("%w: threshold %d, cs threshold %d (4 bits each)", ErrCongestionControl,
			c.Switch.Threshold, c.Switch.CSThreshold)
	}
	for i, e := range c.CCT {
		if e.Shift > 3 || e.Multiplier > 0x3FFF {
			return fmt.Errorf("%w: cct entry %d: shift %d multiplier %d (2 and 14 bits)", ErrCongestionControl,
				i, e.Shift, e.Multiplier)
		}
	}
	return nil
}

// cctBlocks returns the CongestionControlTable blocks the SM writes.
func (c *CongestionControl) cctBlocks() []wire.CongestionControlTableFields {
	limit := 0
	if len(c.CCT) > 0 {
		limit = len(c.CCT) - 1
	}
	n := max(1, (len(c.CCT)+wire.CCTBlockEntries-1)/wire.CCTBlockEntries)
	bs := make([]wire.CongestionControlTableFields, n)
	for i := range bs {
		bs[i].CCTILimit = uint16(limit)
		copy(bs[i].Entries[:], c.CCT[min(i*wire.CCTBlockEntries, len(c.CCT)):])
	}
	return bs
}

// ccState is what the congestion control manager knows of each port:
// the data of its last successful Set per attribute and block, whether
// it has no congestion control, and its timeouts in a row.
type ccState struct {
	mu sync.Mutex
	// +checklocks:mu
	ports map[portKey]*ccPortState
}

type ccPortState struct {
	last        map[ccAttrKey][]byte
	unavailable bool
	timeouts    int
}

type ccAttrKey struct {
	attr wire.AttrID
	mod  uint32
}

// ccSet is one Set the manager sends.
type ccSet struct {
	port *Port
	lid  wire.LID
	attr wire.AttrID
	mod  uint32
	data []byte
}

// configureCC runs the congestion control manager after a heavy sweep
// (OpenSM's osm_congestion_control_setup, which runs once the ports are
// Active, LID-routed GMPs needing them).
func (m *SM) configureCC(ctx context.Context, sn *Subnet) {
	cc := m.cfg.CongestionControl
	if cc == nil || m.cc == nil {
		return
	}
	sw := make([]byte, wire.SwitchCongestionSettingSize)
	wire.SwitchCongestionSetting(sw).Encode(&cc.Switch)
	ca := make([]byte, wire.CACongestionSettingSize)
	wire.CACongestionSetting(ca).Encode(&cc.CA)
	var cct [][]byte
	for _, b := range cc.cctBlocks() {
		d := make([]byte, wire.CongestionControlTableSize)
		wire.CongestionControlTable(d).Encode(&b)
		cct = append(cct, d)
	}
	var sets []ccSet
	m.ccState.mu.Lock()
	want := func(p *Port, lid wire.LID, attr wire.AttrID, mod uint32, data []byte) {
		st := m.ccState.ports[portKey{p.Node.GUID(), p.Num}]
		if st != nil && (st.unavailable || string(st.last[ccAttrKey{attr, mod}]) == string(data)) {
			return
		}
		sets = append(sets, ccSet{port: p, lid: lid, attr: attr, mod: mod, data: data})
	}
	for _, n := range sn.Nodes {
		if n.IsSwitch() {
			if p := n.Ports[0]; p != nil && p.LID != 0 {
				want(p, p.LID, wire.AttrSwitchCongestionSetting, 0, sw)
			}
			continue
		}
		for _, p := range n.Ports[1:] {
			if p == nil || p.LID == 0 || !p.LinkUp() {
				continue
			}
			want(p, p.LID, wire.AttrCACongestionSetting, 0, ca)
			for i, b := range cct {
				want(p, p.LID, wire.AttrCongestionControlTable, uint32(i), b)
			}
		}
	}
	m.ccState.mu.Unlock()
	if len(sets) == 0 {
		return
	}
	m.progress("congestion control", 0, len(sets))
	reqs := make([]mad.Request, len(sets))
	for i, s := range sets {
		b := make([]byte, wire.MADSize)
		wire.CCMAD(b).Encode(&wire.CCMADFields{Method: wire.MethodSet, AttrID: s.attr, AttrMod: s.mod, CCKey: cc.Key})
		copy(wire.CCMAD(b).Data(), s.data)
		reqs[i] = mad.Request{Addr: mad.Addr{LID: s.lid, QPN: 1}, MAD: b}
	}
	res := m.cc.CallMany(ctx, reqs)
	sn.CCMADs += len(reqs)
	m.ccState.mu.Lock()
	defer m.ccState.mu.Unlock()
	timedOut := map[portKey]bool{}
	for i, r := range res {
		s := sets[i]
		key := portKey{s.port.Node.GUID(), s.port.Num}
		st := m.ccState.ports[key]
		if st == nil {
			st = &ccPortState{last: map[ccAttrKey][]byte{}}
			m.ccState.ports[key] = st
		}
		var se *wire.MADStatusError
		switch {
		case r.Err == nil:
			st.timeouts = 0
			// The port's answer is what it now holds (OpenSM keeps the
			// response's data and compares the next sweep's with it).
			got := append([]byte(nil), wire.CCMAD(r.MAD).Data()[:len(s.data)]...)
			st.last[ccAttrKey{s.attr, s.mod}] = got
		case errors.As(r.Err, &se):
			st.timeouts = 0
			// OpenSM tests the status bits of the three "not
			// supported" codes (so 0x001C counts too).
			if se.Status&(wire.MADStatusBadVersion|wire.MADStatusUnsupportedMethod|wire.MADStatusUnsupportedMethodAttr) != 0 {
				st.unavailable = true
			} else {
				m.problem(sn, fmt.Errorf("sm: congestion control %v of %s port %d: %w", s.attr, s.port.Node.Desc, s.port.Num, r.Err))
			}
		case errors.Is(r.Err, context.Canceled) || ctx.Err() != nil:
			return
		default:
			// A timeout: counted once per sweep and port, and only the
			// first is logged (OpenSM assumes the port has no CC).
			if !timedOut[key] {
				timedOut[key] = true
				if st.timeouts == 0 {
					m.log.Warn("sm: congestion control mad timed out", "node", s.port.Node.Desc, "port", s.port.Num, "attr", s.attr, "err", r.Err)
				}
				if st.timeouts++; st.timeouts > ccTimeoutThreshold {
					st.unavailable, st.timeouts = true, 0
				}
			}
		}
	}
}
