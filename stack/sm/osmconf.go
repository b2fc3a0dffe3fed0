package sm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// ApplyOpenSMOptions reads an OpenSM options file (opensm.conf, the file
// `opensm -c` writes and `opensm -F` reads: "key value" lines, '#'
// comments, "(null)" for an unset string) and applies to c the options
// the SM models: sm_priority, lmc, routing_engine (the first engine of
// the list the SM has), sm_key, m_key, m_key_protection_level,
// m_key_lease_period, subnet_prefix, subnet_timeout, max_wire_smps,
// transaction_timeout, transaction_retries, sweep_interval,
// sminfo_polling_timeout, polling_retry_number, qos,
// partition_config_file, root_guid_file, the link manager's
// head_of_queue_lifetime, leaf_head_of_queue_lifetime, vl_stall_count,
// leaf_vl_stall_count, local_phy_errors_threshold,
// overrun_errors_threshold, max_op_vls, sm_sl, force_link_width,
// force_link_speed, force_link_speed_ext, fdr10, packet_life_time,
// part_enforce and no_partition_enforcement,
// and the congestion control
// manager's congestion_control, cc_key and cc_sw_cong_setting_* /
// cc_ca_cong_setting_* / cc_cct. It returns the keys it read but does
// not model, for the caller to report. Values are read as OpenSM reads
// them (numbers in C's strtoul bases, booleans TRUE or anything else);
// every value it cannot read is reported, with its file:line, in one
// error.
func (c *Config) ApplyOpenSMOptions(name string, r io.Reader) (ignored []string, err error) {
	var errs []error
	var cc CongestionControl
	ccOn, ccSeen, noEnforce := false, false, false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		// As OpenSM's osm_subn_parse_conf_file: a '#' anywhere starts a
		// comment, the key is the first word, the value the rest of the
		// line without surrounding blanks and quotes.
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		key, val := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			key, val = text[:i], strings.TrimSpace(text[i+1:])
		}
		if n := len(val); n >= 2 && (val[0] == '"' && val[n-1] == '"' || val[0] == '\'' && val[n-1] == '\'') {
			val = val[1 : n-1]
		}
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: %s %q: %s: %w", name, line, key, val, fmt.Sprintf(format, a...), ErrConfig))
		}
		num := func(bits int) uint64 {
			v, err := strconv.ParseUint(val, 0, bits)
			if err != nil {
				bad("not a %d-bit number", bits)
			}
			return v
		}
		boolean := func() bool { return val == "TRUE" }
		if val == "(null)" {
			val = ""
		}
		switch key {
		case "sm_priority":
			if v := num(8); v > 15 {
				bad("above 15")
			} else {
				c.Priority = uint8(v)
			}
		case "lmc":
			if v := num(8); v > 7 {
				bad("above 7")
			} else {
				c.LMC = uint8(v)
			}
		case "routing_engine":
			if val == "" {
				continue
			}
			found := false
			for _, e := range strings.Split(val, ",") {
				if rt, err := ParseRouting(strings.TrimSpace(e)); err == nil {
					c.Routing, found = rt, true
					break
				}
			}
			if !found {
				bad("no engine of the list is one of minhop, updn, ftree")
			}
		case "sm_key":
			c.SMKey = num(64)
		case "m_key":
			c.MKey = num(64)
		case "m_key_protection_level":
			if v := num(8); v > 3 {
				bad("above 3")
			} else {
				c.MKeyProtect = uint8(v)
			}
		case "m_key_lease_period":
			c.MKeyLeasePeriod = uint16(num(16))
		case "subnet_prefix":
			c.SubnetPrefix = num(64)
		case "subnet_timeout":
			if v := num(8); v > 31 {
				bad("above 31")
			} else {
				c.SubnetTimeout = uint8(v)
			}
		case "max_wire_smps":
			if v := num(32); v > 0 {
				c.Window = int(v)
			}
		case "transaction_timeout":
			if v := num(32); v > 0 {
				c.Timeout = time.Duration(v) * time.Millisecond
			}
		case "transaction_retries":
			// The retries after the first send (umad_send's retries); 0
			// leaves OpenSM's vendor layer at its default, as here.
			if v := num(32); v > 0 {
				c.Retries = int(v)
			}
		case "sweep_interval":
			// Seconds; 0 turns the periodic sweep off.
			if v := num(32); v == 0 {
				c.SweepInterval = -1
			} else {
				c.SweepInterval = time.Duration(v) * time.Second
			}
		case "sminfo_polling_timeout":
			if v := num(32); v > 0 {
				c.PollInterval = time.Duration(v) * time.Millisecond
			}
		case "polling_retry_number":
			c.PollRetries = int(num(32))
		case "qos":
			c.QoS = boolean()
		case "partition_config_file":
			if val == "" {
				continue
			}
			// OpenSM runs with the default partition when the file is
			// not there.
			if _, err := os.Stat(val); err != nil {
				continue
			}
			p, err := LoadPartitions(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %w", name, line, key, err))
				continue
			}
			c.Partitions = p
		case "root_guid_file":
			if val == "" {
				continue
			}
			roots, err := loadGUIDList(val)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %w", name, line, key, err))
				continue
			}
			c.Roots = roots
		case "head_of_queue_lifetime", "leaf_head_of_queue_lifetime", "vl_stall_count", "leaf_vl_stall_count",
			"local_phy_errors_threshold", "overrun_errors_threshold", "max_op_vls", "sm_sl",
			"force_link_width", "force_link_speed", "force_link_speed_ext", "fdr10", "packet_life_time":
			if c.Ports == nil {
				d := DefaultPortOptions()
				c.Ports = &d
			}
			v := uint8(num(8))
			po := *c.Ports
			switch key {
			case "head_of_queue_lifetime":
				po.HOQLife = v
			case "leaf_head_of_queue_lifetime":
				po.LeafHOQLife = v
			case "vl_stall_count":
				po.VLStallCount = v
			case "leaf_vl_stall_count":
				po.LeafVLStallCount = v
			case "local_phy_errors_threshold":
				po.LocalPhyErrorsThreshold = v
			case "overrun_errors_threshold":
				po.OverrunErrorsThreshold = v
			case "max_op_vls":
				po.MaxOpVLs = v
			case "force_link_width":
				po.ForceLinkWidth = wire.LinkWidth(v)
			case "force_link_speed":
				po.ForceLinkSpeed = wire.LinkSpeed(v)
			case "force_link_speed_ext":
				po.ForceLinkSpeedExt = v
			case "fdr10":
				po.FDR10 = FDR10Mode(v)
			case "packet_life_time":
				po.PacketLifeTime = v
			default:
				po.SMSL = v
			}
			if err := po.check(); err != nil {
				bad("%v", err)
				continue
			}
			*c.Ports = po
		case "part_enforce", "no_partition_enforcement":
			if c.Ports == nil {
				d := DefaultPortOptions()
				c.Ports = &d
			}
			if key == "no_partition_enforcement" {
				// OpenSM: TRUE overrides part_enforce with off.
				if boolean() {
					noEnforce = true
				}
				continue
			}
			mode, ok := map[string]PartEnforce{"both": PartEnforceBoth, "in": PartEnforceIn, "out": PartEnforceOut,
				"off": PartEnforceOff}[val]
			if !ok {
				bad("not both, in, out or off")
				continue
			}
			c.Ports.PartEnforce = mode
		case "congestion_control":
			ccOn, ccSeen = boolean(), true
		case "cc_key":
			cc.Key = num(64)
		case "cc_max_outstanding_mads":
			num(32) // the SM's window bounds its CC MADs as its SMPs
		case "cc_sw_cong_setting_control_map":
			cc.Switch.ControlMap = uint32(num(32))
		case "cc_sw_cong_setting_victim_mask":
			if m, ok := parse256(val); ok {
				cc.Switch.VictimMask = m
			} else {
				bad("not a hexadecimal mask of up to 256 bits")
			}
		case "cc_sw_cong_setting_credit_mask":
			if m, ok := parse256(val); ok {
				cc.Switch.CreditMask = m
			} else {
				bad("not a hexadecimal mask of up to 256 bits")
			}
		case "cc_sw_cong_setting_threshold":
			if v := num(8); v > 15 {
				bad("above 15 (4 bits)")
			} else {
				cc.Switch.Threshold = uint8(v)
			}
		case "cc_sw_cong_setting_packet_size":
			cc.Switch.PacketSize = uint8(num(8))
		case "cc_sw_cong_setting_credit_starvation_threshold":
			if v := num(8); v > 15 {
				bad("above 15 (4 bits)")
			} else {
				cc.Switch.CSThreshold = uint8(v)
			}
		case "cc_sw_cong_setting_credit_starvation_return_delay":
			if e, ok := parseCCTEntry(val); ok {
				cc.Switch.CSReturnDelay = e.Value()
			} else {
				bad("not shift:multiplier (2 and 14 bits)")
			}
		case "cc_sw_cong_setting_marking_rate":
			cc.Switch.MarkingRate = uint16(num(16))
		case "cc_ca_cong_setting_port_control":
			cc.CA.PortControl = uint16(num(16))
		case "cc_ca_cong_setting_control_map":
			cc.CA.ControlMap = uint16(num(16))
		case "cc_ca_cong_setting_ccti_timer", "cc_ca_cong_setting_ccti_increase",
			"cc_ca_cong_setting_trigger_threshold", "cc_ca_cong_setting_ccti_min":
			f := strings.Fields(val)
			if len(f) != 2 {
				bad("not \"SL value\"")
				continue
			}
			sl, err1 := strconv.ParseUint(f[0], 0, 8)
			bits := 8
			if key == "cc_ca_cong_setting_ccti_timer" {
				bits = 16
			}
			v, err2 := strconv.ParseUint(f[1], 0, bits)
			if err1 != nil || sl > 15 || err2 != nil {
				bad("not an SL 0..15 and a %d-bit value", bits)
				continue
			}
			e := &cc.CA.Entries[sl]
			switch key {
			case "cc_ca_cong_setting_ccti_timer":
				e.CCTITimer = uint16(v)
			case "cc_ca_cong_setting_ccti_increase":
				e.CCTIIncrease = uint8(v)
			case "cc_ca_cong_setting_trigger_threshold":
				e.TriggerThreshold = uint8(v)
			default:
				e.CCTIMin = uint8(v)
			}
		case "cc_cct":
			cc.CCT = nil
			if val == "" {
				continue
			}
			for i, tok := range strings.Split(val, ",") {
				e, ok := parseCCTEntry(strings.TrimSpace(tok))
				if !ok {
					bad("entry %d is not shift:multiplier (2 and 14 bits)", i)
					break
				}
				cc.CCT = append(cc.CCT, e)
			}
			if len(cc.CCT) > MaxCCTEntries {
				bad("%d entries, at most %d", len(cc.CCT), MaxCCTEntries)
			}
		default:
			ignored = append(ignored, key)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	if noEnforce {
		c.Ports.PartEnforce = PartEnforceOff
	}
	if ccSeen {
		c.CongestionControl = nil
		if ccOn {
			c.CongestionControl = &cc
		}
	}
	return ignored, errors.Join(errs...)
}

// parse256 reads a 256-bit mask as OpenSM's opts_parse_256bit does: hex
// digits (with an optional 0x), the last digit the lowest bit, stored big
// endian.
func parse256(s string) ([32]byte, bool) {
	var m [32]byte
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if s == "" || len(s) > 64 {
		return m, false
	}
	for i := 0; i < len(s); i++ {
		d, err := strconv.ParseUint(s[len(s)-1-i:len(s)-i], 16, 8)
		if err != nil {
			return m, false
		}
		m[31-i/2] |= byte(d) << (4 * (i % 2))
	}
	return m, true
}

// parseCCTEntry reads "shift:multiplier".
func parseCCTEntry(s string) (wire.CCTEntry, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return wire.CCTEntry{}, false
	}
	shift, err1 := strconv.ParseUint(strings.TrimSpace(a), 0, 8)
	mult, err2 := strconv.ParseUint(strings.TrimSpace(b), 0, 16)
	if err1 != nil || err2 != nil || shift > 3 || mult > 0x3FFF {
		return wire.CCTEntry{}, false
	}
	return wire.CCTEntry{Shift: uint8(shift), Multiplier: uint16(mult)}, true
}

// loadGUIDList reads a file of GUIDs, one per line (OpenSM's
// root_guid_file), '#' comments allowed.
func loadGUIDList(path string) ([]wire.GUID, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sm: guid list: %w", err)
	}
	var gs []wire.GUID
	var errs []error
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if j := strings.IndexByte(l, '#'); j >= 0 {
			l = strings.TrimSpace(l[:j])
		}
		if l == "" {
			continue
		}
		g, err := strconv.ParseUint(l, 0, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %q is not a guid: %w", path, i+1, l, ErrConfig))
			continue
		}
		gs = append(gs, wire.GUID(g))
	}
	return gs, errors.Join(errs...)
}
