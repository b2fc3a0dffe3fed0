package sm

import "github.com/ibemu/ibemu/emu/wire"

// The static rate codes of IBTA Vol 1 §15.2.5.16 (Table 207) are not in
// speed order: 25 Gb/s (15) came after 120 Gb/s (10), and the codes of the
// extended speeds carry 64b/66b data where the older ones carry 8b/10b.
// OpenSM compares and steps rates by their data rate (libopensm's
// ordered_rates, ib_path_compare_rates, ib_path_rate_get_next and
// ib_path_rate_get_prev): a 4X EDR link (100 Gb/s, 125 equivalent) is
// faster than a 12X QDR one (120 Gb/s, 96 of data), 25 Gb/s faster than
// 30. rateOrder is the rank of each code in that order, 0 for the
// reserved codes 0 and 1 and anything above 1200 Gb/s.
var rateOrder = [...]uint8{
	2:  1,  // 2.5 Gb/s
	5:  2,  // 5
	3:  3,  // 10
	11: 4,  // 14 (FDR 1X)
	6:  5,  // 20
	4:  6,  // 30
	15: 7,  // 25 (EDR 1X, 31.25 equivalent)
	19: 8,  // 28 (FDR 2X)
	7:  9,  // 40
	8:  10, // 60
	20: 11, // 50 (EDR 2X, HDR 1X)
	12: 12, // 56 (FDR 4X)
	9:  13, // 80
	10: 14, // 120
	16: 15, // 100 (EDR 4X, HDR 2X)
	13: 16, // 112 (FDR 8X)
	14: 17, // 168 (FDR 12X)
	17: 18, // 200 (EDR 8X, HDR 4X)
	18: 19, // 300 (EDR 12X)
	21: 20, // 400 (HDR 8X, NDR 4X)
	22: 21, // 600 (HDR 12X)
	23: 22, // 800 (NDR 8X)
	24: 23, // 1200 (NDR 12X)
}

// Rate codes the SA accepts in a request (OpenSM's IB_MIN_RATE and
// IB_MAX_RATE).
const (
	minRate = wire.Rate2_5Gbps
	maxRate = wire.Rate1200Gbps
)

// rateRank is r's place in rateOrder (0: not a rate).
func rateRank(r wire.Rate) uint8 {
	if int(r) < len(rateOrder) {
		return rateOrder[r]
	}
	return 0
}

// compareRates orders two rate codes by the data they carry, as OpenSM's
// ib_path_compare_rates: -1 when a is slower than b, 0 when they are the
// same, 1 when a is faster.
func compareRates(a, b wire.Rate) int {
	ra, rb := rateRank(a), rateRank(b)
	switch {
	case ra < rb:
		return -1
	case ra > rb:
		return 1
	}
	return 0
}

// slowerRate is the slower of a and b (a when they tie).
func slowerRate(a, b wire.Rate) wire.Rate {
	if compareRates(a, b) > 0 {
		return b
	}
	return a
}

// rateWithRank is the code of rank n, 0 when none has it.
func rateWithRank(n int) wire.Rate {
	if n <= 0 {
		return 0
	}
	for r := minRate; r <= maxRate; r++ {
		if int(rateRank(r)) == n {
			return r
		}
	}
	return 0
}

// ratePrev is the next slower rate than r (OpenSM's ib_path_rate_get_prev;
// 0 below 2.5 Gb/s).
func ratePrev(r wire.Rate) wire.Rate {
	if r <= minRate || r > maxRate {
		return 0
	}
	return rateWithRank(int(rateRank(r)) - 1)
}

// rateNext is the next faster rate than r (OpenSM's ib_path_rate_get_next;
// 0 above the fastest).
func rateNext(r wire.Rate) wire.Rate {
	if r < minRate || r >= maxRate {
		return 0
	}
	return rateWithRank(int(rateRank(r)) + 1)
}

// hasExtSpeeds reports whether p's speeds are read from LinkSpeedExt*: its
// CapabilityMask has IsExtendedSpeedsSupported, port 0's for a switch
// port (where OpenSM reads it; IBTA Vol 1 §14.2.5.6).
func hasExtSpeeds(p *Port) bool {
	cm := p.Info.CapabilityMask
	if p.Node.IsSwitch() && p.Num != 0 {
		p0 := p.Node.Ports[0]
		if p0 == nil || !p0.Read {
			return false
		}
		cm = p0.Info.CapabilityMask
	}
	return cm.Has(wire.PortCapIsExtendedSpeedsSupported)
}

// linkRate is the static rate of a port's active width and speed (IBTA
// Vol 1 §15.2.5.16, OpenSM's ib_port_info_compute_rate): with extended
// speeds, LinkSpeedExtActive when it names one (FDR, EDR, HDR, NDR), else
// LinkSpeedActive (SDR, DDR, QDR; an FDR10 link shows QDR there, so it
// is 40 Gb/s at 4X). An unknown width counts as 1X, an unknown speed as
// 2.5 Gb/s, as OpenSM counts them.
func linkRate(pi *wire.PortInfoFields, extended bool) wire.Rate {
	// Rates by width for each speed: 1X, 2X, 4X, 8X, 12X.
	pick := func(r1, r2, r4, r8, r12 wire.Rate) wire.Rate {
		switch pi.LinkWidthActive {
		case wire.Width2X:
			return r2
		case wire.Width4X:
			return r4
		case wire.Width8X:
			return r8
		case wire.Width12X:
			return r12
		}
		return r1
	}
	if extended {
		switch wire.LinkSpeed(pi.LinkSpeedExtActive) << 8 {
		case wire.SpeedFDR:
			return pick(wire.Rate14Gbps, wire.Rate28Gbps, wire.Rate56Gbps, wire.Rate112Gbps, wire.Rate168Gbps)
		case wire.SpeedEDR:
			return pick(wire.Rate25Gbps, wire.Rate50Gbps, wire.Rate100Gbps, wire.Rate200Gbps, wire.Rate300Gbps)
		case wire.SpeedHDR:
			return pick(wire.Rate50Gbps, wire.Rate100Gbps, wire.Rate200Gbps, wire.Rate400Gbps, wire.Rate600Gbps)
		case wire.SpeedNDR:
			return pick(wire.Rate100Gbps, wire.Rate200Gbps, wire.Rate400Gbps, wire.Rate800Gbps, wire.Rate1200Gbps)
		}
	}
	switch pi.LinkSpeedActive {
	case wire.SpeedDDR:
		return pick(wire.Rate5Gbps, wire.Rate10Gbps, wire.Rate20Gbps, wire.Rate40Gbps, wire.Rate60Gbps)
	case wire.SpeedQDR:
		return pick(wire.Rate10Gbps, wire.Rate20Gbps, wire.Rate40Gbps, wire.Rate80Gbps, wire.Rate120Gbps)
	}
	return pick(wire.Rate2_5Gbps, wire.Rate5Gbps, wire.Rate10Gbps, wire.Rate20Gbps, wire.Rate30Gbps)
}

// portRate is the static rate of port p's link as the SA counts it.
func portRate(p *Port) wire.Rate { return linkRate(&p.Info, hasExtSpeeds(p)) }
