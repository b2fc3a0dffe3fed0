package sm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// Routing names a routing engine.
type Routing string

// The routing engines (OpenSM's -R names).
const (
	// RoutingMinHop sends every LID along a shortest path, balancing the
	// LIDs over the equal-cost ports (OpenSM "minhop").
	RoutingMinHop Routing = "minhop"
	// RoutingUpDown ranks switches from the roots and allows only paths
	// that go up, then down, which cannot form credit loops (OpenSM
	// "updn").
	RoutingUpDown Routing = "updn"
	// RoutingFatTree is up/down with the roots at the top of a fat tree
	// and each destination's index choosing among the equal ports digit
	// by digit, one digit per rank (d-mod-k), which gives every
	// destination its own top switch and spreads destinations evenly over
	// the up links of every rank (OpenSM "ftree"; unlike OpenSM's, it
	// works with LMC > 0 too).
	RoutingFatTree Routing = "ftree"
)

// ParseRouting parses a routing engine name.
func ParseRouting(s string) (Routing, error) {
	switch r := Routing(s); r {
	case RoutingMinHop, RoutingUpDown, RoutingFatTree:
		return r, nil
	case "":
		return RoutingMinHop, nil
	}
	return "", fmt.Errorf("sm: unknown routing engine %q (minhop, updn, ftree): %w", s, ErrConfig)
}

// Defaults of Config.
const (
	DefaultWindow        = 32
	DefaultTimeout       = 200 * time.Millisecond
	DefaultRetries       = 3
	DefaultSweepInterval = 10 * time.Second // OpenSM sweep_interval
	DefaultPollInterval  = 10 * time.Second // OpenSM sminfo_polling_timeout
	DefaultPollRetries   = 4                // OpenSM polling_retry_number
	DefaultSubnetTimeout = 18               // OpenSM subnet_timeout (4.096 µs × 2^18 ≈ 1 s)
	DefaultGIDPrefix     = 0xFE80000000000000
	// DefaultMaxCreditLoopWork bounds the size (switches × LIDs) of a
	// fabric whose routes are checked for credit loops when
	// Config.CheckCreditLoops is left at its default.
	DefaultMaxCreditLoopWork = 64 << 20
)

// Errors of the package. Returned errors wrap them; test with errors.Is.
var (
	// ErrConfig: a configuration value is out of range.
	ErrConfig = errors.New("sm: bad configuration")
	// ErrNoLocalPort: the SM's own port did not answer.
	ErrNoLocalPort = errors.New("sm: local port did not answer")
	// ErrLIDsExhausted: more end ports than unicast LIDs.
	ErrLIDsExhausted = errors.New("sm: unicast lids exhausted")
	// ErrCreditLoop: the routes form a cycle in the channel dependency
	// graph.
	ErrCreditLoop = errors.New("sm: credit loop in the routes")
	// ErrNotMaster: the SM is not the master (it is standby).
	ErrNotMaster = errors.New("sm: not the master sm")
	// ErrPartitionFile: a partition file has an error (a *FileError wraps
	// it).
	ErrPartitionFile = errors.New("sm: bad partition file")
	// ErrGUIDFile: the GUID-to-LID file has an error.
	ErrGUIDFile = errors.New("sm: bad guid-to-lid file")
)

// Config configures an SM. Zero fields take the defaults given.
type Config struct {
	// Priority is SMInfo.Priority, 0-15 (IBTA Vol 1 §14.4.1.1).
	Priority uint8
	// SMKey is SMInfo.SM_Key.
	SMKey uint64
	// Routing selects the routing engine (RoutingMinHop).
	Routing Routing
	// Roots are the root switches of up/down and fat-tree routing by
	// NodeGUID; empty means found automatically (the switches farthest
	// from the CAs, or the switch at the centre of the switch graph when
	// every switch has CAs).
	Roots []wire.GUID
	// LMC gives each CA port 2^LMC LIDs (0-7, IBTA Vol 1 §7.11.1).
	LMC uint8
	// GUIDFile is the persistent GUID-to-LID file (OpenSM's guid2lid);
	// empty means none.
	GUIDFile string
	// Partitions is the partition configuration (see ParsePartitions);
	// nil means the default partition 0x7FFF with every port a full
	// member.
	Partitions *Partitions
	// MKey is written to every port and put in every SMP; MKeyProtect is
	// the protection level (0-3, IBTA Vol 1 §14.2.4.1) and
	// MKeyLeasePeriod the lease in seconds.
	MKey            uint64
	MKeyProtect     uint8
	MKeyLeasePeriod uint16
	// SubnetPrefix is the GID prefix (DefaultGIDPrefix).
	SubnetPrefix uint64
	// SubnetTimeout is PortInfo.SubnetTimeOut (DefaultSubnetTimeout).
	SubnetTimeout uint8
	// Window, Timeout and Retries govern the SMPs of a sweep.
	Window  int
	Timeout time.Duration
	Retries int
	// SweepInterval is the light-sweep period (negative: no light sweeps,
	// the master reacts to traps, joins and handovers only); PollInterval and
	// PollRetries govern a standby's polling of the master.
	SweepInterval time.Duration
	PollInterval  time.Duration
	PollRetries   int
	// QoS programs OpenSM's default QoS tables (SL-to-VL mapping, VL
	// arbitration, VLHighLimit) on every CA port and switch port, as
	// OpenSM does with "qos TRUE" (opensm -Q). Off, as OpenSM's default,
	// the SM leaves the tables the ports power up with (see programQoS).
	QoS bool
	// CongestionControl, when not nil, runs the congestion control
	// manager (OpenSM's congestion_control TRUE) with these settings.
	CongestionControl *CongestionControl
	// Ports are the PortInfo values the link manager writes; nil takes
	// OpenSM's defaults (DefaultPortOptions).
	Ports *PortOptions
	// CheckCreditLoops: 1 always checks the routes for credit loops,
	// -1 never, 0 checks fabrics up to DefaultMaxCreditLoopWork.
	CheckCreditLoops int
	// Logger receives the SM's log; nil discards it.
	Logger *slog.Logger
	// Progress, when set, is called at each phase of a heavy sweep.
	Progress func(Progress)
}

// Progress reports a heavy sweep's phase.
type Progress struct {
	Phase string
	// Done and Total count the work of the phase (nodes, SMPs).
	Done, Total int
}

func (c Config) withDefaults() (Config, error) {
	if c.Priority > 15 {
		return c, fmt.Errorf("sm: priority %d above 15: %w", c.Priority, ErrConfig)
	}
	if c.LMC > 7 {
		return c, fmt.Errorf("sm: lmc %d above 7: %w", c.LMC, ErrConfig)
	}
	if c.MKeyProtect > 3 {
		return c, fmt.Errorf("sm: m_key protection %d above 3: %w", c.MKeyProtect, ErrConfig)
	}
	if c.CongestionControl != nil {
		if err := c.CongestionControl.check(); err != nil {
			return c, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if c.Ports == nil {
		d := DefaultPortOptions()
		c.Ports = &d
	} else if err := c.Ports.check(); err != nil {
		return c, err
	}
	r, err := ParseRouting(string(c.Routing))
	if err != nil {
		return c, err
	}
	c.Routing = r
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.PollRetries <= 0 {
		c.PollRetries = DefaultPollRetries
	}
	if c.SubnetPrefix == 0 {
		c.SubnetPrefix = DefaultGIDPrefix
	}
	if c.SubnetTimeout == 0 {
		c.SubnetTimeout = DefaultSubnetTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Partitions == nil {
		c.Partitions = DefaultPartitions()
	}
	return c, nil
}

// PortOptions are the PortInfo values OpenSM's link manager
// (osm_link_mgr.c) writes from its options, and the SwitchInfo
// LifeTimeValue its unicast manager writes, by their opensm.conf names.
type PortOptions struct {
	// HOQLife and VLStallCount go to switch ports toward switches
	// (head_of_queue_lifetime, vl_stall_count); LeafHOQLife and
	// LeafVLStallCount to switch ports toward CAs and routers and
	// LeafHOQLife to router ports (leaf_head_of_queue_lifetime,
	// leaf_vl_stall_count). HOQLife is 4.096 µs × 2^n, 20 and up
	// infinite (IBTA Vol 1 §18.2.5.4); VLStallCount is 3 bits.
	HOQLife, LeafHOQLife           uint8
	VLStallCount, LeafVLStallCount uint8
	// LocalPhyErrorsThreshold and OverrunErrorsThreshold are the 4-bit
	// error thresholds of every port (local_phy_errors_threshold,
	// overrun_errors_threshold).
	LocalPhyErrorsThreshold, OverrunErrorsThreshold uint8
	// MaxOpVLs caps OperationalVLs (max_op_vls: 1 VL0, 2 VL0-1, 3 VL0-3,
	// 4 VL0-7, 5 VL0-14); the link gets the lower VLCap of its two ends
	// up to this.
	MaxOpVLs uint8
	// SMSL is MasterSMSL, the SL to the SM, of every end port (sm_sl).
	SMSL uint8
	// ForceLinkWidth, ForceLinkSpeed and ForceLinkSpeedExt are written
	// into LinkWidthEnabled, LinkSpeedEnabled and LinkSpeedExtEnabled
	// (force_link_width, force_link_speed, force_link_speed_ext); 0
	// leaves a port's enables alone, 255, 15 and 31 mean "set to
	// supported" and are written only where fewer are enabled. They take
	// effect when a link next trains.
	ForceLinkWidth    wire.LinkWidth
	ForceLinkSpeed    wire.LinkSpeed
	ForceLinkSpeedExt uint8
	// FDR10 is what the SM does with FDR10 on the Mellanox ports that
	// have it (fdr10: FDR10Ignore, FDR10Enable, FDR10Disable).
	FDR10 FDR10Mode
	// PartEnforce is the partition enforcement switch ports toward CAs
	// and routers get (part_enforce; no_partition_enforcement TRUE is
	// PartEnforceOff): both directions, inbound, outbound or none (IBTA
	// Vol 1 §10.9.3).
	PartEnforce PartEnforce
	// PacketLifeTime is every switch's SwitchInfo LifeTimeValue, the
	// time a packet may live in it, 4.096 µs × 2^n (packet_life_time,
	// 5 bits).
	PacketLifeTime uint8
}

// PartEnforce is OpenSM's part_enforce option.
type PartEnforce uint8

// Partition enforcement modes (OpenSM's both, in, out, off).
const (
	PartEnforceBoth PartEnforce = iota
	PartEnforceIn
	PartEnforceOut
	PartEnforceOff
)

// FDR10Mode is OpenSM's fdr10 option.
type FDR10Mode uint8

// FDR10 modes, with OpenSM's values.
const (
	FDR10Ignore  FDR10Mode = 0 // leave MlnxExtPortInfo alone
	FDR10Enable  FDR10Mode = 1 // enable FDR10 where supported (the default)
	FDR10Disable FDR10Mode = 2 // disable it
)

// DefaultPortOptions returns OpenSM's defaults.
func DefaultPortOptions() PortOptions {
	return PortOptions{HOQLife: 0x12, LeafHOQLife: 0x10, VLStallCount: 7, LeafVLStallCount: 7,
		LocalPhyErrorsThreshold: 8, OverrunErrorsThreshold: 8, MaxOpVLs: 5,
		ForceLinkWidth: 0xFF, ForceLinkSpeed: 0xF, ForceLinkSpeedExt: 0x1F, FDR10: FDR10Enable, PacketLifeTime: 0x12}
}

func (o *PortOptions) check() error {
	switch {
	case o.HOQLife > 31 || o.LeafHOQLife > 31:
		return fmt.Errorf("sm: head of queue lifetime %d/%d above 31 (5 bits): %w", o.HOQLife, o.LeafHOQLife, ErrConfig)
	case o.VLStallCount > 7 || o.LeafVLStallCount > 7:
		return fmt.Errorf("sm: vl stall count %d/%d above 7 (3 bits): %w", o.VLStallCount, o.LeafVLStallCount, ErrConfig)
	case o.LocalPhyErrorsThreshold > 15 || o.OverrunErrorsThreshold > 15:
		return fmt.Errorf("sm: error thresholds %d/%d above 15 (4 bits): %w", o.LocalPhyErrorsThreshold, o.OverrunErrorsThreshold, ErrConfig)
	case o.MaxOpVLs < 1 || o.MaxOpVLs > 5:
		return fmt.Errorf("sm: max op vls %d not 1..5: %w", o.MaxOpVLs, ErrConfig)
	case o.SMSL > 15:
		return fmt.Errorf("sm: sm sl %d above 15: %w", o.SMSL, ErrConfig)
	case o.ForceLinkSpeed > 15 || o.ForceLinkSpeedExt > 31:
		return fmt.Errorf("sm: force link speed %d / ext %d above 15 / 31: %w", o.ForceLinkSpeed, o.ForceLinkSpeedExt, ErrConfig)
	case o.PartEnforce > PartEnforceOff:
		return fmt.Errorf("sm: partition enforcement %d not 0..3: %w", o.PartEnforce, ErrConfig)
	case o.PacketLifeTime > 31:
		return fmt.Errorf("sm: packet life time %d above 31 (5 bits): %w", o.PacketLifeTime, ErrConfig)
	case o.FDR10 > FDR10Disable:
		return fmt.Errorf("sm: fdr10 %d not 0..2: %w", o.FDR10, ErrConfig)
	}
	return nil
}
