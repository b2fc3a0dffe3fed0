package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ibemu/ibemu/emu"
)

// -W/--report-counters: after each row perftest prints how much each
// named counter of the port's sysfs directory (counters/port_xmit_data,
// ...) grew since the last row (since the QPs were set up, for the
// first). Here the names are those of the port's counters directory,
// read from the emulated port's performance counters, which the PMA
// shows too (port_xmit_data and port_rcv_data count 32-bit words, as
// the kernel's files do). The mlx5 hw_counters have no emulated
// counterpart and are refused.

// perfSysfsCounters maps a sysfs counters/ name to the port counter.
var perfSysfsCounters = map[string]func(c *emu.Counters) uint64{
	"port_xmit_data":                  func(c *emu.Counters) uint64 { return c.XmitData.Load() },
	"port_rcv_data":                   func(c *emu.Counters) uint64 { return c.RcvData.Load() },
	"port_xmit_packets":               func(c *emu.Counters) uint64 { return c.XmitPkts.Load() },
	"port_rcv_packets":                func(c *emu.Counters) uint64 { return c.RcvPkts.Load() },
	"unicast_xmit_packets":            func(c *emu.Counters) uint64 { return c.UnicastXmit.Load() },
	"unicast_rcv_packets":             func(c *emu.Counters) uint64 { return c.UnicastRcv.Load() },
	"multicast_xmit_packets":          func(c *emu.Counters) uint64 { return c.McastXmit.Load() },
	"multicast_rcv_packets":           func(c *emu.Counters) uint64 { return c.McastRcv.Load() },
	"symbol_error":                    func(c *emu.Counters) uint64 { return c.SymbolErrors.Load() },
	"link_error_recovery":             func(c *emu.Counters) uint64 { return c.LinkErrorRecovery.Load() },
	"link_downed":                     func(c *emu.Counters) uint64 { return c.LinkDowned.Load() },
	"port_rcv_errors":                 func(c *emu.Counters) uint64 { return c.RcvErrors.Load() },
	"port_rcv_remote_physical_errors": func(c *emu.Counters) uint64 { return c.RcvRemotePhysErrors.Load() },
	"port_rcv_switch_relay_errors":    func(c *emu.Counters) uint64 { return c.RcvSwitchRelayErrors.Load() },
	"port_xmit_discards":              func(c *emu.Counters) uint64 { return c.XmitDiscards.Load() },
	"port_xmit_constraint_errors":     func(c *emu.Counters) uint64 { return c.XmitConstraintErrors.Load() },
	"port_rcv_constraint_errors":      func(c *emu.Counters) uint64 { return c.RcvConstraintErrors.Load() },
	"local_link_integrity_errors":     func(c *emu.Counters) uint64 { return c.LocalLinkIntegrity.Load() },
	"excessive_buffer_overrun_errors": func(c *emu.Counters) uint64 { return c.ExcessiveBufOverrun.Load() },
	"VL15_dropped":                    func(c *emu.Counters) uint64 { return c.VL15Dropped.Load() },
	"port_xmit_wait":                  func(c *emu.Counters) uint64 { return c.XmitWait.Load() },
}

// parsePerfCounters checks -W's comma-separated list.
func parsePerfCounters(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	var out []string
	for _, name := range strings.Split(list, ",") {
		// perftest opens each name under the port's sysfs directory.
		base, ok := strings.CutPrefix(name, "counters/")
		if _, known := perfSysfsCounters[base]; !ok || !known {
			names := make([]string, 0, len(perfSysfsCounters))
			for n := range perfSysfsCounters {
				names = append(names, "counters/"+n)
			}
			sort.Strings(names)
			return nil, usageErr("-W %s: Failed to parse the performance counter list: %q is none of %s", list, name, strings.Join(names, ", "))
		}
		out = append(out, base)
	}
	return out, nil
}

// perfCounterState is -W's last reading of the side's port.
type perfCounterState struct {
	last []uint64
}

// readCounters reads the named counters of side s's port.
func (env *perfEnv) readCounters(s *perfSide) ([]uint64, error) {
	c, err := env.emu.ReadCounters(s.dev.Node().Port(s.port))
	if err != nil {
		return nil, fmt.Errorf("perf: -W: %w", err)
	}
	v := make([]uint64, len(env.c.counters))
	for i, n := range env.c.counters {
		v[i] = perfSysfsCounters[n](&c)
	}
	return v, nil
}

// startCounters takes -W's first reading, once the QPs are set up.
func (env *perfEnv) startCounters(s *perfSide) error {
	if len(env.c.counters) == 0 || s == nil {
		return nil
	}
	v, err := env.readCounters(s)
	if err != nil {
		return err
	}
	env.ctrs = &perfCounterState{last: v}
	return nil
}

// printCounters prints how much each counter grew since the last
// reading, after a row, as perftest's counters_print.
func (env *perfEnv) printCounters(s *perfSide) {
	if env.ctrs == nil || s == nil {
		return
	}
	v, err := env.readCounters(s)
	if err != nil {
		env.noteReportErr(err)
		return
	}
	for i, n := range env.c.counters {
		fmt.Fprintf(env.c.out, "\t%s=%d\n", "counters/"+n, v[i]-env.ctrs.last[i])
	}
	fmt.Fprintln(env.c.out)
	env.ctrs.last = v
}
