package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// GUID is an EUI-64 globally unique identifier (node, port or system image).
type GUID uint64

// String formats g the way the diagnostics print it: 0x followed by 16 hex digits.
func (g GUID) String() string { return fmt.Sprintf("0x%016x", uint64(g)) }

// ParseGUID parses a GUID written as 0x-prefixed or bare hex, with or
// without colons (0002:c903:0001:2344 and 00:02:c9:03:00:01:23:44 both work).
func ParseGUID(s string) (GUID, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	t = strings.ReplaceAll(t, ":", "")
	if t == "" || len(t) > 16 {
		return 0, fmt.Errorf("wire: parse guid %q: want up to 16 hex digits", s)
	}
	v, err := strconv.ParseUint(t, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("wire: parse guid %q: %w", s, err)
	}
	return GUID(v), nil
}

// LID is a 16-bit local identifier. 0 is reserved (unassigned), 0x0001-0xBFFF
// are unicast, 0xC000-0xFFFE multicast and 0xFFFF the permissive LID.
type LID uint16

// LID ranges (IBTA Vol 1 §4.1.3).
const (
	LIDUnassigned    LID = 0
	LIDUnicastMax    LID = 0xBFFF
	LIDMulticastBase LID = 0xC000
	LIDMulticastMax  LID = 0xFFFE
	LIDPermissive    LID = 0xFFFF
)

// IsMulticast reports whether l is in the multicast range.
func (l LID) IsMulticast() bool { return l >= LIDMulticastBase && l <= LIDMulticastMax }

// IsUnicast reports whether l is a valid unicast LID.
func (l LID) IsUnicast() bool { return l >= 1 && l <= LIDUnicastMax }

// GID is a 128-bit global identifier (subnet prefix + interface ID).
type GID [16]byte

// String formats the GID in the colon-separated IPv6 style used by the diagnostics.
func (g GID) String() string {
	var b strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02x%02x", g[i], g[i+1])
	}
	return b.String()
}

// NodeType is NodeInfo.NodeType (IBTA Vol 1 §14.2.5.3).
type NodeType uint8

// Node types.
const (
	NodeTypeCA     NodeType = 1
	NodeTypeSwitch NodeType = 2
	NodeTypeRouter NodeType = 3
)

func (t NodeType) String() string {
	switch t {
	case NodeTypeCA:
		return "CA"
	case NodeTypeSwitch:
		return "Switch"
	case NodeTypeRouter:
		return "Router"
	}
	return fmt.Sprintf("NodeType(%d)", uint8(t))
}

// PortState is the logical port state of PortInfo.PortState.
type PortState uint8

// Logical port states. PortStateNoChange is only meaningful in a Set.
const (
	PortStateNoChange PortState = 0
	PortStateDown     PortState = 1
	PortStateInit     PortState = 2
	PortStateArmed    PortState = 3
	PortStateActive   PortState = 4
)

func (s PortState) String() string {
	switch s {
	case PortStateNoChange:
		return "NoChange"
	case PortStateDown:
		return "Down"
	case PortStateInit:
		return "Initialize"
	case PortStateArmed:
		return "Armed"
	case PortStateActive:
		return "Active"
	}
	return fmt.Sprintf("PortState(%d)", uint8(s))
}

// PhysPortState is PortInfo.PortPhysicalState.
type PhysPortState uint8

// Physical port states.
const (
	PhysStateNoChange          PhysPortState = 0
	PhysStateSleep             PhysPortState = 1
	PhysStatePolling           PhysPortState = 2
	PhysStateDisabled          PhysPortState = 3
	PhysStateConfigTraining    PhysPortState = 4
	PhysStateLinkUp            PhysPortState = 5
	PhysStateLinkErrorRecovery PhysPortState = 6
	PhysStatePhyTest           PhysPortState = 7
)

func (s PhysPortState) String() string {
	switch s {
	case PhysStateNoChange:
		return "NoChange"
	case PhysStateSleep:
		return "Sleep"
	case PhysStatePolling:
		return "Polling"
	case PhysStateDisabled:
		return "Disabled"
	case PhysStateConfigTraining:
		return "PortConfigurationTraining"
	case PhysStateLinkUp:
		return "LinkUp"
	case PhysStateLinkErrorRecovery:
		return "LinkErrorRecovery"
	case PhysStatePhyTest:
		return "PhyTest"
	}
	return fmt.Sprintf("PhysPortState(%d)", uint8(s))
}

// LinkWidth is a PortInfo link width bit (LinkWidthActive holds exactly one;
// the Enabled and Supported fields are masks of them).
type LinkWidth uint8

// Link widths.
const (
	Width1X  LinkWidth = 0x01
	Width4X  LinkWidth = 0x02
	Width8X  LinkWidth = 0x04
	Width12X LinkWidth = 0x08
	Width2X  LinkWidth = 0x10
)

// Lanes is the number of physical lanes of a single width value (0 if w is not one).
func (w LinkWidth) Lanes() int {
	switch w {
	case Width1X:
		return 1
	case Width2X:
		return 2
	case Width4X:
		return 4
	case Width8X:
		return 8
	case Width12X:
		return 12
	}
	return 0
}

func (w LinkWidth) String() string {
	if n := w.Lanes(); n > 0 {
		return strconv.Itoa(n) + "X"
	}
	return fmt.Sprintf("LinkWidth(0x%x)", uint8(w))
}

// WidthFromLanes is the LinkWidth for a lane count (0 if none matches).
func WidthFromLanes(n int) LinkWidth {
	switch n {
	case 1:
		return Width1X
	case 2:
		return Width2X
	case 4:
		return Width4X
	case 8:
		return Width8X
	case 12:
		return Width12X
	}
	return 0
}

// LinkSpeed is a per-lane signalling rate. The first three are PortInfo
// LinkSpeed bits (SDR, DDR, QDR); FDR10 is Mellanox's own speed, carried in
// the vendor MlnxExtPortInfo attribute rather than in PortInfo, and sits
// above the 4-bit PortInfo field; the others are LinkSpeedExt bits shifted
// left by 8 so one type names every generation. A mask's highest bit is its
// fastest speed (QDR < FDR10 < FDR).
type LinkSpeed uint16

// Link speeds.
const (
	SpeedSDR LinkSpeed = 0x01 // 2.5 Gb/s per lane
	SpeedDDR LinkSpeed = 0x02 // 5 Gb/s
	SpeedQDR LinkSpeed = 0x04 // 10 Gb/s
	// SpeedFDR10 is Mellanox FDR10: 10.3125 Gb/s signalling with 64b/66b
	// coding, 10 Gb/s of data per lane. PortInfo shows an FDR10 link as
	// QDR; MlnxExtPortInfo.LinkSpeedActive says FDR10.
	SpeedFDR10 LinkSpeed = 0x10
	SpeedFDR   LinkSpeed = 0x100
	SpeedEDR   LinkSpeed = 0x200
	SpeedHDR   LinkSpeed = 0x400
	SpeedNDR   LinkSpeed = 0x800
)

// IsExt reports whether s is carried in LinkSpeedExt rather than LinkSpeed.
func (s LinkSpeed) IsExt() bool { return s >= SpeedFDR }

// Base is the PortInfo.LinkSpeed code: the SDR, DDR and QDR bits of s
// (0 for an extended speed; FDR10 is not a PortInfo speed).
func (s LinkSpeed) Base() uint8 { return uint8(s & 0x0f) }

// HasFDR10 reports whether mask s includes FDR10.
func (s LinkSpeed) HasFDR10() bool { return s&SpeedFDR10 != 0 }

// Ext is the PortInfo.LinkSpeedExtActive code (0 for a base speed).
func (s LinkSpeed) Ext() uint8 { return uint8(s >> 8) }

// LaneGbps is the data rate of one lane after line coding, in Gb/s
// (SDR-QDR 8b/10b, FDR and later 64b/66b or better).
func (s LinkSpeed) LaneGbps() float64 {
	switch s {
	case SpeedSDR:
		return 2.0
	case SpeedDDR:
		return 4.0
	case SpeedQDR:
		return 8.0
	case SpeedFDR10:
		return 10.0
	case SpeedFDR:
		return 13.64
	case SpeedEDR:
		return 25.0
	case SpeedHDR:
		return 50.0
	case SpeedNDR:
		return 100.0
	}
	return 0
}

// SignalGbps is the signalling rate of one lane, in Gb/s, as the tools print it.
func (s LinkSpeed) SignalGbps() float64 {
	switch s {
	case SpeedSDR:
		return 2.5
	case SpeedDDR:
		return 5.0
	case SpeedQDR:
		return 10.0
	case SpeedFDR10:
		return 10.3125
	case SpeedFDR:
		return 14.0625
	case SpeedEDR:
		return 25.78125
	case SpeedHDR:
		return 53.125
	case SpeedNDR:
		return 106.25
	}
	return 0
}

func (s LinkSpeed) String() string {
	switch s {
	case SpeedSDR:
		return "SDR"
	case SpeedDDR:
		return "DDR"
	case SpeedQDR:
		return "QDR"
	case SpeedFDR10:
		return "FDR10"
	case SpeedFDR:
		return "FDR"
	case SpeedEDR:
		return "EDR"
	case SpeedHDR:
		return "HDR"
	case SpeedNDR:
		return "NDR"
	}
	return fmt.Sprintf("LinkSpeed(0x%x)", uint16(s))
}

// ParseLinkSpeed parses SDR, DDR, QDR, FDR10, FDR, EDR, HDR or NDR (any
// case).
func ParseLinkSpeed(name string) (LinkSpeed, error) {
	for _, s := range []LinkSpeed{SpeedSDR, SpeedDDR, SpeedQDR, SpeedFDR10, SpeedFDR, SpeedEDR, SpeedHDR, SpeedNDR} {
		if strings.EqualFold(name, s.String()) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("wire: unknown link speed %q", name)
}

// MTU is the IBTA MTU code used in PortInfo, PathRecord and QP attributes.
type MTU uint8

// MTU codes.
const (
	MTU256  MTU = 1
	MTU512  MTU = 2
	MTU1024 MTU = 3
	MTU2048 MTU = 4
	MTU4096 MTU = 5
)

// Bytes is the payload size the code stands for (0 for an invalid code).
func (m MTU) Bytes() int {
	if m < MTU256 || m > MTU4096 {
		return 0
	}
	return 128 << m
}

func (m MTU) String() string {
	if n := m.Bytes(); n > 0 {
		return strconv.Itoa(n)
	}
	return fmt.Sprintf("MTU(%d)", uint8(m))
}
