package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
)

// This file holds ibemu perf's command line: perftest's flags, their
// defaults, and the rules by which perftest (perftest_parameters.c: the
// parser, force_dependecies, check_link_and_mtu) rejects or adjusts a
// combination, restated. Messages follow perftest's wording.

// perftest's limits and defaults (perftest_parameters.h).
const (
	perfMinIters      = 5
	perfMaxTx         = 15000
	perfMaxCQMod      = 1024
	perfMaxRx         = 16384
	perfUCMaxRx       = 16000
	perfDefRxSend     = 512
	perfMaxInline     = 1024
	perfMaxSL         = 15
	perfMaxGIDIndex   = 64
	perfDefQPTimeout  = 14
	perfCQModLimit    = 8192 // larger messages signal every WR
	perfNoPeakIters   = 20000
	perfDefRetryCount = 7   // perftest's DEF_RETRY_COUNT
	perfInlineWrite   = 220 // default inline of write_lat
	perfInlineSendRC  = 236 // default inline of send_lat over RC/UC
	perfInlineSendUD  = 188 // default inline of send_lat over UD
	perfQKey          = 0x11111111
	perfAtomicSize    = 8
	perfMaxQPs        = 256 // ibemu's limit (perftest allows 16384)
	perfMaxMsgSize    = 1 << 30
	perfDefaultMargin = -1
	perfMinSRQUDRx    = 100 // perftest's MIN_SRQ_UD_RX_DEPTH
)

// perfSize is -s: a byte count with perftest's optional K or M suffix.
type perfSize struct {
	n   int
	set bool
}

func (s *perfSize) String() string { return strconv.Itoa(s.n) }

func (s *perfSize) Set(v string) error {
	f := 1
	switch {
	case strings.HasSuffix(v, "K"):
		f, v = 1<<10, strings.TrimSuffix(v, "K")
	case strings.HasSuffix(v, "M"):
		f, v = 1<<20, strings.TrimSuffix(v, "M")
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil || n < 1 || n*int64(f) > perfMaxMsgSize {
		return fmt.Errorf("message size should be between 1 and %d", perfMaxMsgSize)
	}
	s.n, s.set = int(n)*f, true
	return nil
}

// perfInt is an int flag that remembers whether it was given.
type perfInt struct {
	n   int
	set bool
}

func (p *perfInt) String() string { return strconv.Itoa(p.n) }

func (p *perfInt) Set(v string) error {
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
		return fmt.Errorf("not an integer: %q", v)
	}
	p.n, p.set = int(n), true
	return nil
}

// perfOpts are the perftest options beyond the first set (sizes,
// iterations, QPs, MTU, depth, moderation, connection type).
type perfOpts struct {
	duration    float64  // -D seconds; 0: iterations mode
	margin      float64  // -f seconds; perfDefaultMargin: duration/4
	bidir       bool     // -b
	inline      perfInt  // -I; resolved into inlineSize
	atomic      string   // -A
	outs        perfInt  // -o; resolved into outReads
	rx          perfInt  // -r; resolved into rxDepth
	postList    int      // -l
	events      bool     // -e
	cpuFreq     bool     // -F (no cpufreq governor to warn about)
	dev         string   // -d
	ibPort      int      // -i
	gidIndex    perfInt  // -x
	qpTimeout   int      // -u
	sl          int      // -S
	cycles      bool     // -C
	histogram   bool     // -H
	unsorted    bool     // -U
	output      string   // --output
	runInf      bool     // --run_infinitely
	userNoPk    bool     // -N
	report2     bool     // --report-both
	tclass      int      // --tclass
	pkeyIndex   int      // --pkey_index
	retryCnt    int      // --retry_count (rdma_cm only)
	noXchg      bool     // --dont_xchg_versions
	oldPost     bool     // --use_old_post_send
	mrPerQP     bool     // --mr_per_qp
	hugePages   bool     // --use_hugepages
	waitDestroy int      // --wait_destroy (seconds)
	warmUp      bool     // --perform_warm_up
	cpuUtil     bool     // --cpu_util
	rdmaCM      bool     // -R
	useSRQ      bool     // --use-srq
	mcg         bool     // -g
	mgidStr     string   // -M
	mgid        wire.GID // -M, or the default group
	commCM      bool     // -z
	limitBW     float64  // -w (in the table's unit)
	limitRate   float64  // -y (Mpps)
	outJSON     bool     // --out_json
	jsonFile    string   // --out_json_file
	latencyGap  int      // --latency_gap (µs)
	rateLimit   float64  // --rate_limit
	rateUnits   string   // --rate_units: M, g or p
	rateType    string   // --rate_limit_type: SW, HW or PP ("" off)
	burstSize   int      // --burst_size
	rateSW      bool     // the SW rate limiter runs
	countersStr string   // -W
	counters    []string // -W's counters (names under counters/)

	// Resolved by validate.
	inlineSize int
	outReads   int // 0 until the device is known (its max_qp_rd_atom)
	rxDepth    int
	noPeak     bool
	reqCQMod   bool
	notes      []string        // what perftest prints while it parses (warnings)
	given      map[string]bool // the flags on the command line, by short name
	sizeFlag   perfSize
	itersFlag  perfInt
}

// perfFlags registers perftest's flags on fs, with perftest's long
// names as aliases where they have one.
func (c *perfConfig) perfFlags(fs *flag.FlagSet) {
	alias := func(long, short string) {
		f := fs.Lookup(short)
		fs.Var(f.Value, long, "same as -"+short)
	}
	fs.Var(&c.sizeFlag, "s", "message size in bytes, K or M suffix allowed (default 65536 for bandwidth, 2 for latency, 8 for atomics)")
	fs.Var(&c.itersFlag, "n", "iterations per size and QP, at least 5 (default 5000 for write_bw, 1000 otherwise)")
	fs.Float64Var(&c.duration, "D", 0, "run each test for this many seconds of (virtual) time instead of -n iterations; fractions allowed (ibemu extension)")
	fs.Float64Var(&c.margin, "f", perfDefaultMargin, "with -D: seconds left out of the measurement at both ends (default duration/4)")
	fs.BoolVar(&c.bidir, "b", false, "bidirectional bandwidth: both sides send; the report sums both directions")
	fs.Var(&c.inline, "I", "send messages up to this many bytes inline (default 220 for write_lat, 236 for send_lat, 188 over UD, else 0)")
	fs.StringVar(&c.atomic, "A", "", "atomic operation of atomic_bw and atomic_lat: CMP_AND_SWAP or FETCH_AND_ADD (default FETCH_AND_ADD)")
	fs.Var(&c.outs, "o", "outstanding RDMA READs or atomics per QP (read and atomic tests; default the device's max_qp_rd_atom)")
	fs.Var(&c.rx, "r", "receive queue depth (send tests; default 512)")
	fs.IntVar(&c.postList, "l", 1, "post lists of this many send work requests per ibv_post_send (bandwidth tests)")
	fs.BoolVar(&c.events, "e", false, "sleep on completion channel events instead of polling the CQ (not for write tests)")
	fs.BoolVar(&c.cpuFreq, "F", false, "do not warn about the CPU frequency governor (accepted; the emulator has none)")
	fs.StringVar(&c.dev, "d", "", "IB device (default the first found: mlx4_0 on the emulated ConnectX)")
	fs.IntVar(&c.ibPort, "i", 1, "port of the IB device")
	fs.Var(&c.gidIndex, "x", "use the GID with this index: the QPs' address vectors carry a GRH")
	fs.IntVar(&c.qpTimeout, "u", perfDefQPTimeout, "QP local ACK timeout: 4.096 usec * 2^TIMEOUT (RC)")
	fs.IntVar(&c.sl, "S", 0, "service level of the QPs' address vectors (0-15)")
	fs.BoolVar(&c.cycles, "C", false, "report times in CPU cycles (latency tests; refused: the emulator counts time, not cycles)")
	fs.BoolVar(&c.histogram, "H", false, "latency tests: print every sample, sorted, before the summary")
	fs.BoolVar(&c.unsorted, "U", false, "latency tests: print every sample in the order measured before the summary")
	fs.StringVar(&c.output, "output", "", "print only one number per size: bandwidth or message_rate (bandwidth tests), latency (latency tests)")
	fs.BoolVar(&c.runInf, "run_infinitely", false, "perftest's endless run (refused: use -D)")
	fs.BoolVar(&c.userNoPk, "N", false, "bandwidth tests: do not compute the peak bandwidth (BW peak reads 0.00)")
	fs.BoolVar(&c.report2, "report-both", false, "bidirectional bandwidth tests: after the summed row, report this side's (local) and the peer's (remote) results separately")
	fs.IntVar(&c.tclass, "tclass", 0, "traffic class of the GRH (with -x)")
	fs.IntVar(&c.pkeyIndex, "pkey_index", 0, "P_Key index of the QPs (an entry of the port's P_Key table)")
	fs.IntVar(&c.retryCnt, "retry_count", perfDefRetryCount, "with -R: the retry count the REQ asks for the RC QPs (at most 7, as rdma_cm); without -R no effect, as in perftest (retry_cnt stays 7)")
	fs.BoolVar(&c.noXchg, "dont_xchg_versions", false, "do not exchange versions with the peer (accepted: ibemu perf exchanges none)")
	fs.BoolVar(&c.oldPost, "use_old_post_send", false, "post with ibv_post_send (accepted: ibemu perf always does)")
	fs.BoolVar(&c.mrPerQP, "mr_per_qp", false, "a memory region per QP (accepted: ibemu perf always registers one per QP)")
	fs.BoolVar(&c.hugePages, "use_hugepages", false, "back the buffers with huge pages (accepted: the emulated HCA's buffers are the process's memory, with no pages to pin)")
	fs.IntVar(&c.waitDestroy, "wait_destroy", 0, "wait this many seconds after the test before destroying its QPs, CQs and memory regions")
	fs.BoolVar(&c.cpuUtil, "cpu_util", false, "with -D: report the machine's CPU utilization over the measured window (user time of /proc/stat, as perftest)")
	fs.BoolVar(&c.warmUp, "perform_warm_up", false, "write, read and atomic bandwidth tests: before each size, every QP of a sending side (both with -b) posts tx depth work requests (or one post list) and waits for them, unmeasured")
	fs.BoolVar(&c.mcg, "g", false, "SEND tests over UD to multicast groups of 1 QP: each receiving side's QP joins a group, and the side that sends to it joins it too (in process the switches' MFTs are set statically; with --attach the joins go through the SM's SA)")
	fs.StringVar(&c.mgidStr, "M", "", "with -g: the group's MGID (16 numbers separated by colons, as perftest: 255:1:0:0:0:2:201:133:0:0:0:0:0:0:0:0 by default, the client's group one more)")
	fs.Float64Var(&c.limitBW, "w", 0, "bandwidth tests: a verifier limit; the run fails (exit 1) unless a size's BW average reaches it (MB/sec, Gb/sec with --report_gbits)")
	fs.Float64Var(&c.limitRate, "y", 0, "bandwidth tests: a verifier limit; the run fails (exit 1) unless a size's MsgRate reaches it (Mpps)")
	fs.BoolVar(&c.outJSON, "out_json", false, "after each size, write the test and its result as JSON to --out_json_file (the last size's stays)")
	fs.StringVar(&c.jsonFile, "out_json_file", perfDefaultJSON, "the file --out_json writes")
	fs.StringVar(&c.countersStr, "W", "", "after each row, how much each of these port counters grew (comma-separated, as perftest names sysfs files: counters/port_xmit_data, counters/port_rcv_packets, ...)")
	fs.IntVar(&c.latencyGap, "latency_gap", 0, "latency tests: each side waits this many microseconds before each of its sends; as in perftest the samples, taken from one send to the next, include the waits")
	fs.Float64Var(&c.rateLimit, "rate_limit", 0, "bandwidth tests: the most each side sends, in --rate_units (Gbps by default); perftest's default HW limiter (the AH's static rate) is not modelled, so the SW one paces the posts, as perftest falls back to it")
	fs.StringVar(&c.rateUnits, "rate_units", "g", "units of --rate_limit: M (MiB/s), g (Gbps) or p (messages/s)")
	fs.StringVar(&c.rateType, "rate_limit_type", "", "SW (bursts of --burst_size posts, spaced to keep the rate), HW (refused: no static rate pacing) or PP (refused: no packet pacing)")
	fs.IntVar(&c.burstSize, "burst_size", 0, "with a rate limiter: messages per burst (default the tx depth)")
	fs.BoolVar(&c.useSRQ, "use-srq", false, "SEND tests: the receiving side's QPs take their receives from one shared receive queue of rx depth work requests")
	fs.BoolVar(&c.rdmaCM, "R", false, "connect the QPs through the communication manager, as rdma_cm: REQ, REP and RTU for RC (SIDR for UD) on the fabric, the peer's rkey and address in the private data")
	fs.BoolVar(&c.commCM, "z", false, "exchange the QPs' attributes over rdma_cm (refused: use -R)")
	for long, short := range perfAliases {
		if fs.Lookup(short) != nil {
			alias(long, short)
		}
	}
}

// perfAliases are perftest's long option names and their short ones.
var perfAliases = map[string]string{
	"size": "s", "iters": "n", "all": "a", "qp": "q", "mtu": "m", "tx-depth": "t", "cq-mod": "Q",
	"connection": "c", "duration": "D", "margin": "f", "bidirectional": "b", "inline_size": "I",
	"atomic_type": "A", "outs": "o", "rx-depth": "r", "post_list": "l", "events": "e", "CPU-freq": "F",
	"ib-dev": "d", "ib-port": "i", "gid-index": "x", "qp-timeout": "u", "sl": "S", "report-cycles": "C",
	"report-histogram": "H", "report-unsorted": "U", "port": "p", "noPeak": "N", "rdma_cm": "R", "comm_rdma_cm": "z",
	"mcg": "g", "MGID": "M", "limit_bw": "w", "limit_msgrate": "y", "report-counters": "W",
}

// firstOr returns the first of pos, or "".
func firstOr(pos []string) string {
	if len(pos) == 0 {
		return ""
	}
	return pos[0]
}

// perfVerb is perftest's VerbType of a test.
func perfVerb(test string) string {
	verb, _, _ := strings.Cut(test, "_")
	return verb
}

// usageErr is a usage error with perftest's message.
func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

func (c *perfConfig) validate() error {
	t, ok := perfTests[c.test]
	if !ok {
		return usageErr("unknown test %q", c.test)
	}
	verb := perfVerb(c.test)
	rdma := verb == "read" || verb == "atomic" // one-sided with a response
	c.conn = strings.ToUpper(c.conn)
	if c.mcg {
		c.conn = "UD" // perftest: multicast runs on UD
	}
	switch {
	case c.conn != "RC" && c.conn != "UC" && c.conn != "UD":
		return usageErr("-c %s: invalid connection type, choose from RC, UC, UD", c.conn)
	case c.conn == "UC" && rdma:
		return usageErr("-c UC: UC connection not possible in READ/ATOMIC verbs")
	case c.conn == "UD" && verb != "send":
		return usageErr("-c UD: UD connection only possible in SEND verb")
	}
	// -A and the size of atomics.
	switch {
	case c.atomic != "" && verb != "atomic":
		return usageErr("-A: you are not running the atomic_lat/bw test; to change the atomic action type, run one of the atomic tests")
	case c.atomic == "":
		c.atomic = "FETCH_AND_ADD"
	case c.atomic != "CMP_AND_SWAP" && c.atomic != "FETCH_AND_ADD":
		return usageErr("-A %s: invalid atomic type, choose from CMP_AND_SWAP, FETCH_AND_ADD", c.atomic)
	}
	c.size = c.sizeFlag.n
	switch {
	case verb == "atomic" && (c.all || c.sizeFlag.set && c.sizeFlag.n != perfAtomicSize):
		return usageErr("message size cannot be changed for atomic tests (they move %d bytes)", perfAtomicSize)
	case verb == "atomic":
		c.size = perfAtomicSize
	case !c.sizeFlag.set && t.lat:
		c.size = 2
	case !c.sizeFlag.set:
		c.size = 65536
	}
	// Iterations or duration.
	c.iters = c.itersFlag.n
	switch {
	case c.itersFlag.set && c.duration != 0:
		return usageErr("-n and -D: a test runs for a number of iterations or for a duration, not both")
	case c.itersFlag.set && c.iters < perfMinIters:
		return usageErr("-n %d: iteration num should be at least %d", c.iters, perfMinIters)
	case !c.itersFlag.set && t.op == hv.WRRDMAWrite && !t.lat:
		c.iters = 5000
	case !c.itersFlag.set:
		c.iters = 1000
	}
	if math.IsNaN(c.duration) || c.duration < 0 {
		return usageErr("-D %v: the duration period must be positive", c.duration)
	}
	switch {
	case c.txDepth < 1 || c.txDepth > perfMaxTx:
		return usageErr("-t %d: tx depth should be between 1 and %d", c.txDepth, perfMaxTx)
	case c.cqMod < 1 || c.cqMod > perfMaxCQMod:
		return usageErr("-Q %d: CQ moderation should be between 1 and %d", c.cqMod, perfMaxCQMod)
	case c.qps < 1 || c.qps > perfMaxQPs:
		return usageErr("-q %d: 1 to %d QPs", c.qps, perfMaxQPs)
	case t.lat && c.qps != 1:
		return usageErr("-q %d: multiple QPs only available on bw tests", c.qps)
	case c.inline.set && (c.inline.n < 0 || c.inline.n > perfMaxInline):
		return usageErr("-I %d: max inline should be between 0 and %d", c.inline.n, perfMaxInline)
	case c.inline.set && rdma:
		return usageErr("-I: inline feature not available on READ/Atomic verbs")
	case c.outs.set && !rdma:
		return usageErr("-o: setting outstanding reads only available on READ and atomic verbs")
	case c.rx.set && (c.rx.n < 1 || c.rx.n > perfMaxRx):
		return usageErr("-r %d: rx depth should be between 1 and %d", c.rx.n, perfMaxRx)
	case c.rx.set && rdma && c.rx.n > 1:
		return usageErr("-r %d: on RDMA verbs rx depth can be only 1", c.rx.n)
	case c.bidir && t.lat:
		return usageErr("-b: bidirectional is only available in BW test")
	case c.cycles && !t.lat, c.histogram && !t.lat, c.unsorted && !t.lat:
		return usageErr("-C, -H and -U are available only on latency tests")
	case c.cycles:
		return usageErr("-C: ibemu perf has no CPU cycle counter to report in; it reports usec of fabric time")
	case c.events && verb == "write":
		return usageErr("-e: events feature not available on WRITE verb")
	case c.events && c.duration > 0:
		return usageErr("-e: duration mode doesn't work with events")
	case c.duration > 0 && c.all:
		return usageErr("-D: duration mode currently doesn't support running on all sizes")
	case c.postList < 1:
		return usageErr("-l %d: the post list holds at least one work request", c.postList)
	case c.postList > 1 && t.lat:
		return usageErr("-l: post list is supported in BW tests only")
	case c.postList > c.txDepth && c.postList > 1:
		return usageErr("-l %d: a post list longer than the tx depth (%d) never fits the send queue", c.postList, c.txDepth)
	case c.sl < 0 || c.sl > perfMaxSL:
		return usageErr("-S %d: only %d service levels (0-%d)", c.sl, perfMaxSL+1, perfMaxSL)
	case c.qpTimeout < 0 || c.qpTimeout > 31:
		return usageErr("-u %d: the QP timeout exponent is 0 to 31", c.qpTimeout)
	case c.gidIndex.set && (c.gidIndex.n < 0 || c.gidIndex.n > perfMaxGIDIndex):
		return usageErr("-x %d: gid index should be between 0 and %d", c.gidIndex.n, perfMaxGIDIndex)
	case c.ibPort < 1:
		return usageErr("-i %d: IB port can't be less than 1", c.ibPort)
	case c.output != "" && c.output != "bandwidth" && c.output != "message_rate" && c.output != "latency":
		return usageErr("--output=%s: invalid verbosity level output flag, use bandwidth, latency, message_rate", c.output)
	case c.output != "" && !t.lat && c.output == "latency":
		return usageErr("--output=%s: output verbosity level for BW can be: bandwidth, message_rate", c.output)
	case c.output != "" && t.lat && c.output != "latency":
		return usageErr("--output=%s: output verbosity level for LAT can be: latency", c.output)
	case c.runInf && t.lat:
		return usageErr("--run_infinitely exists only in BW tests")
	case c.runInf && c.events:
		return usageErr("--run_infinitely does not support events")
	case c.runInf && c.bidir && verb == "send":
		return usageErr("--run_infinitely is not supported in a bidirectional SEND test")
	case c.runInf:
		return usageErr("--run_infinitely: ibemu perf does not run forever; use -D SECONDS for a timed run")
	case c.mcg && c.bidir:
		return usageErr("-g -b: Bidirectional mode not supported in multicast")
	case c.mcg && c.qps > 1:
		return usageErr("-g -q %d: Only 1 QP supported in multicast", c.qps)
	case c.mcg && c.rdmaCM:
		return usageErr("-g -R: Perftest still doesn't support Multicast with rdma_cm")
	case c.mgidStr != "" && !c.mcg:
		return usageErr("-M: the MGID goes with -g (multicast)")
	case c.given["rate_limit"] && c.rateLimit <= 0:
		return usageErr("--rate_limit=%g: Rate limit must be non-negative floating point number", c.rateLimit)
	case c.rateUnits != "M" && c.rateUnits != "g" && c.rateUnits != "p":
		return usageErr("--rate_units=%s: Invalid rate limit units. Please use M,g or p", c.rateUnits)
	case c.rateType != "" && c.rateType != "SW" && c.rateType != "HW" && c.rateType != "PP":
		return usageErr("--rate_limit_type=%s: Invalid rate limit type flag. Please use HW, SW or PP.", c.rateType)
	case c.burstSize < 0:
		return usageErr("--burst_size=%d: Burst size can't be negative", c.burstSize)
	case c.burstSize > 0 && !c.given["rate_limit"] && c.rateType == "":
		return usageErr("--burst_size: Can't enable burst mode when rate limiter is off")
	case c.rateType != "" && !c.given["rate_limit"]:
		return usageErr("--rate_limit_type=%s: give the rate with --rate_limit", c.rateType)
	case c.rateType == "PP":
		return usageErr("--rate_limit_type=PP: packet pacing is not modelled; use SW")
	case c.given["rate_limit"] && (t.lat || verb == "atomic" || verb == "send" && c.bidir):
		return usageErr("--rate_limit: SW Rate limiter cann't be executed on non-BW, ATOMIC or bidirectional SEND / SEND_IMM tests")
	case c.latencyGap < 0:
		return usageErr("--latency_gap=%d: Latency gap time can't be negative", c.latencyGap)
	case c.latencyGap > 0 && !t.lat:
		return usageErr("--latency_gap: Latency gap feature is only for latency tests")
	case c.limitBW < 0:
		return usageErr("-w %g: Invalid Minimum BW Limit", c.limitBW)
	case c.limitRate < 0:
		return usageErr("-y %g: Invalid Minimum msgRate Limit", c.limitRate)
	case (c.given["w"] || c.given["y"]) && t.lat:
		return usageErr("-w and -y: the verifier limits are for bandwidth tests")
	case c.useSRQ && verb != "send":
		return usageErr("--use-srq: Using SRQ only available in SEND tests")
	case c.commCM:
		return usageErr("-z: ibemu perf exchanges the QPs' attributes in process or over its own socket; -R connects them through the CM")
	case c.rdmaCM && c.conn == "UC":
		return usageErr("-R -c UC: UC is not supported in librdmacm")
	case c.rdmaCM && c.retryCnt == 0:
		return usageErr("--retry_count=0 -R: ibemu's CM takes a retry count of 0 as its default, 7; give 1 to 7")
	case c.tclass < 0 || c.tclass > 255:
		return usageErr("--tclass=%d: the traffic class is 0 to 255", c.tclass)
	case c.pkeyIndex < 0:
		return usageErr("--pkey_index=%d: Pkey index can't be negative", c.pkeyIndex)
	case c.waitDestroy < 0:
		return usageErr("--wait_destroy=%d: the wait can't be negative", c.waitDestroy)
	case c.retryCnt < 0:
		return usageErr("--retry_count=%d: Retry Count can't be negative", c.retryCnt)
	case c.report2 && t.lat:
		return usageErr("--report-both: reports RX and TX separately on bidirectional BW tests only")
	}
	c.noPeak = c.userNoPk && !t.lat
	if !c.gidIndex.set {
		c.gidIndex.n = -1
		if c.mcg {
			c.gidIndex.n = 0 // perftest: multicast needs a GRH
		}
	}
	ctrs, err := parsePerfCounters(c.countersStr)
	if err != nil {
		return err
	}
	c.counters = ctrs
	if c.mcg {
		g, err := parsePerfMGID(c.mgidStr)
		if err != nil {
			return err
		}
		c.mgid = g
	}
	// Duration mode and its margins.
	if c.duration > 0 {
		if c.margin == perfDefaultMargin {
			c.margin = c.duration / 4
			if c.duration >= 1 {
				c.margin = float64(int(c.duration) / 4) // perftest's integer seconds
			}
		}
		switch {
		case c.margin < 0:
			return usageErr("-f %v: the margin can't be negative", c.margin)
		case !(c.duration > 2*c.margin):
			return usageErr("-D %v -f %v: please check that DURATION > 2*MARGIN", c.duration, c.margin)
		}
		c.iters = 0
		if !t.lat && !c.noPeak {
			c.notes = append(c.notes, " WARNING: BW peak won't be measured in this run.")
		}
		c.noPeak = true
	} else if c.margin != perfDefaultMargin {
		return usageErr("-f: the margin applies to duration mode (-D)")
	}
	return c.dependencies(verb)
}

// dependencies are perftest's force_dependecies: values one option
// implies for another.
func (c *perfConfig) dependencies(verb string) error {
	t := perfTests[c.test]
	c.rxDepth = perfDefRxSend
	if verb == "read" || verb == "atomic" {
		c.rxDepth = 1
	}
	if c.rx.set {
		c.rxDepth = c.rx.n
	}
	if verb == "write" {
		c.rxDepth = 1 // nothing to receive
	}
	if c.duration == 0 {
		c.txDepth = min(c.txDepth, c.iters)
		if verb == "send" {
			c.rxDepth = min(c.rxDepth, c.iters)
			if (c.conn == "UD" || c.conn == "UC") && !c.rx.set {
				c.rxDepth = min(c.iters, perfUCMaxRx)
			}
		}
	}
	if c.useSRQ && (c.conn == "UD" || c.conn == "UC") && c.iters <= perfMinSRQUDRx {
		c.rxDepth = perfMinSRQUDRx
	}
	if verb == "send" && c.rxDepth%2 == 1 && !c.all {
		c.rxDepth++ // perftest's work-around for odd depths
	}
	if c.size > perfCQModLimit && c.conn != "UD" && !c.all && !c.events && !t.lat {
		if !c.reqCQMod {
			c.cqMod = 1
		} else if c.cqMod > 1 {
			c.notes = append(c.notes, strings.Repeat("-", 87), "Warning: Large message requested and CQ moderation enabled", "Warning: It can lead to inaccurate results")
		}
	}
	if c.postList > 1 {
		if c.duration == 0 && c.iters%c.postList != 0 {
			return usageErr("-l %d: number of iterations must be a multiple of post list size", c.postList)
		}
		if !c.reqCQMod {
			c.cqMod = c.postList
			c.notes = append(c.notes, strings.Repeat("-", 87), "Post List requested - CQ moderation will be the size of the post list")
		} else if c.postList%c.cqMod != 0 {
			return usageErr("-l %d -Q %d: post list size must be a multiple of CQ moderation", c.postList, c.cqMod)
		}
	}
	c.cqMod = min(c.cqMod, c.txDepth)
	// Inline (ctx_set_max_inline): latency tests send small messages
	// inline by default; READ and atomics carry no data to inline.
	switch {
	case verb == "read" || verb == "atomic":
		c.inlineSize = 0
	case c.inline.set:
		c.inlineSize = c.inline.n
	case t.lat && verb == "write":
		c.inlineSize = perfInlineWrite
	case t.lat && c.conn == "UD":
		c.inlineSize = perfInlineSendUD
	case t.lat:
		c.inlineSize = perfInlineSendRC
	}
	if c.duration == 0 && c.iters > perfNoPeakIters && !t.lat && !c.noPeak {
		c.notes = append(c.notes, " WARNING: BW peak won't be measured in this run.")
		c.noPeak = true
	}
	switch {
	case c.useSRQ && c.qps > c.rxDepth:
		return usageErr("--use-srq -q %d: Using SRQ depth (%d) should be greater than number of QPs", c.qps, c.rxDepth)
	case c.attach == "" && (c.server || c.connect != "" || c.sockName != "" || c.dpAddr != ""):
		return usageErr("--server, --connect, --sockname and --attach-server go with --attach")
	case c.attach != "" && c.server == (c.connect != ""):
		return usageErr("--attach needs --server or --connect PEER (one of them)")
	case c.attach != "" && (c.port < 1 || c.port > 65535):
		return usageErr("-p %d", c.port)
	case c.attach != "" && c.bidir && c.conn == "UD":
		return usageErr("-b -c UD: a bidirectional UD test runs in-process only (not with --attach)")
	case c.attach != "" && c.bidir && c.duration > 0:
		return usageErr("-b -D: a timed bidirectional test runs in-process only (not with --attach)")
	case c.attach != "":
		c.wall = true // two processes share no virtual clock
	}
	return c.rateLimiter()
}

// rateLimiter settles --rate_limit as perftest does: the default limiter
// is HW, the AH's static rate, which the emulated HCA keeps but does not
// pace by; like a QP that refuses it, perftest then falls back to the SW
// limiter, saying so, unless HW was asked for by name. A burst is the tx
// depth unless --burst_size says.
func (c *perfConfig) rateLimiter() error {
	if !c.given["rate_limit"] {
		return nil
	}
	switch c.rateType {
	case "HW":
		return errors.New("--rate_limit_type=HW: The QP failed to accept HW rate limit (the emulated HCA does not pace by the static rate)")
	case "":
		fmt.Fprintln(c.errOut, "The QP failed to accept HW rate limit, providing SW rate limit")
	case "SW":
		if c.burstSize <= 0 {
			fmt.Fprintf(c.errOut, " Setting burst size to tx depth = %d\n", c.txDepth)
		}
	}
	if c.burstSize <= 0 {
		c.burstSize = c.txDepth
	}
	c.rateSW = true
	return nil
}

// perfMTUs are the path MTUs -m takes.
var perfMTUs = map[int]wire.MTU{256: wire.MTU256, 512: wire.MTU512, 1024: wire.MTU1024, 2048: wire.MTU2048, 4096: wire.MTU4096}

// title is perftest's test title line (ctx_print_test_info).
func (c *perfConfig) title() string {
	t := perfTests[c.test]
	s := map[string]string{"send": "Send", "write": "RDMA_Write", "read": "RDMA_Read", "atomic": "Atomic"}[perfVerb(c.test)] + " "
	if perfVerb(c.test) == "atomic" {
		s += c.atomic + " "
	}
	if t.lat {
		return s + "Latency " + c.mcgWord() + "Test"
	}
	if c.bidir {
		s += "Bidirectional "
	}
	if c.postList > 1 {
		s += "Post List "
	}
	return s + "BW " + c.mcgWord() + "Test"
}

// mcgWord is what perftest's title says of a multicast test.
func (c *perfConfig) mcgWord() string {
	if c.mcg {
		return "Multicast "
	}
	return ""
}

// op is the work request opcode the test posts.
func (c *perfConfig) op() hv.WROpcode {
	if perfVerb(c.test) == "atomic" && c.atomic == "CMP_AND_SWAP" {
		return hv.WRAtomicCmpAndSwp
	}
	return perfTests[c.test].op
}

// perfDevName is the name libibverbs gives the device of a host with one
// HCA of profile driver ("mlx4_0", "mthca0").
func perfDevName(driver string) string {
	switch d := strings.TrimPrefix(driver, "ib_"); d {
	case "mlx4_core":
		return "mlx4_0"
	case "":
		return "ibemu0"
	default:
		return strings.TrimSuffix(d, "_core") + "0"
	}
}

// perfMCGGID is perftest's default multicast group (MCG_GID).
var perfMCGGID = wire.GID{255, 1, 0, 0, 0, 2, 201, 133}

// parsePerfMGID reads -M as perftest does: 16 numbers separated by
// colons, each decimal or with a 0x or 0 prefix; empty is the default
// group.
func parsePerfMGID(s string) (wire.GID, error) {
	if s == "" {
		return perfMCGGID, nil
	}
	f := strings.Split(s, ":")
	var g wire.GID
	if len(f) != len(g) {
		return g, usageErr("-M %s: an MGID is 16 numbers separated by colons", s)
	}
	for i, x := range f {
		v, err := strconv.ParseUint(x, 0, 8)
		if err != nil {
			return g, usageErr("-M %s: byte %d: %q is not a number from 0 to 255", s, i, x)
		}
		g[i] = uint8(v)
	}
	if g[0] != 0xff {
		return g, usageErr("-M %s: not a multicast GID (the first byte is 255)", s)
	}
	return g, nil
}
