package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// SMP is a subnet management packet (IBTA Vol 1 §14.2.1), LID-routed
// (MgmtClass 0x01, §14.2.1.1) or directed-route (0x81, §14.2.1.2), viewed
// over the whole 256-byte MAD.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+-+-------------+
//	|  BaseVersion  |   MgmtClass   | ClassVersion  |R|   Method    |
//	+-+-------------+---------------+---------------+---------------+
//	|D|         Status (15)         |  HopPointer   |   HopCount    |  DR only: D, HopPointer, HopCount
//	+-+-----------------------------+---------------+---------------+
//	|                     TransactionID (64)                        |  8
//	+-------------------------------+-------------------------------+
//	|          AttributeID          |           reserved            |  16
//	+-------------------------------+-------------------------------+
//	|                      AttributeModifier                        |  20
//	+---------------------------------------------------------------+
//	|                          M_Key (64)                           |  24
//	+-------------------------------+-------------------------------+
//	|            DrSLID             |            DrDLID             |  32 (DR only)
//	+-------------------------------+-------------------------------+
//	|                     reserved (28 bytes)                       |  36
//	+---------------------------------------------------------------+
//	|                    SMP data (64 bytes)                        |  64
//	+---------------------------------------------------------------+
//	|            InitialPath[0..63] (64 bytes, DR only)             |  128
//	+---------------------------------------------------------------+
//	|             ReturnPath[0..63] (64 bytes, DR only)             |  192
//	+---------------------------------------------------------------+
//
// In a LID-routed SMP the whole status word is the status and bytes 6-7,
// 32-63 and 128-255 are reserved. In a directed-route SMP bit 15 of the
// status word is the direction bit D (0 outbound, 1 returning), the low 15
// bits are the status, and HopPointer/HopCount/InitialPath/ReturnPath
// drive the per-hop processing in DRProcessOutbound and DRProcessReturn.
type SMP []byte

// SMP offsets and sizes (IBTA Vol 1 §14.2.1).
const (
	SMPDataOffset        = 64
	SMPDataSize          = 64
	SMPInitialPathOffset = 128
	SMPReturnPathOffset  = 192
	// SMPPathSize is the number of entries of InitialPath and ReturnPath.
	SMPPathSize = 64
	// SMPMaxHopCount is the largest valid HopCount (IBTA Vol 1 §14.2.2, C14-6).
	SMPMaxHopCount = 63
	// SMPClassVersion is the class version of both SM classes.
	SMPClassVersion = 1
)

const (
	smpHopPointer = 6
	smpHopCount   = 7
	smpMKey       = 24
	smpDrSLID     = 32
	smpDrDLID     = 34
)

// DRDirection is the D bit of a directed-route SMP (IBTA Vol 1 §14.2.1.2).
type DRDirection uint8

// Directions.
const (
	DROutbound  DRDirection = 0 // request travelling along InitialPath
	DRReturning DRDirection = 1 // response travelling back along ReturnPath
)

// String returns "outbound" or "returning".
func (d DRDirection) String() string {
	if d == DRReturning {
		return "returning"
	}
	return "outbound"
}

// SMPFields holds an SMP for Encode. Directed selects MgmtClass 0x81; the
// DR-only fields are ignored (and encoded as zero) for a LID-routed SMP.
// Method is the whole method byte, R bit included. Status is 16 bits for a
// LID-routed SMP and 15 bits for a directed-route one.
type SMPFields struct {
	Directed    bool
	Method      Method
	Status      MADStatus
	Direction   DRDirection // DR only
	HopPointer  uint8       // DR only
	HopCount    uint8       // DR only
	TID         uint64
	AttrID      AttrID
	AttrMod     uint32
	MKey        uint64
	DrSLID      LID // DR only
	DrDLID      LID // DR only
	Data        [SMPDataSize]byte
	InitialPath [SMPPathSize]uint8 // DR only
	ReturnPath  [SMPPathSize]uint8 // DR only
}

// IsValid reports whether s holds a whole MAD. It is the gate before the
// unchecked accessors.
func (s SMP) IsValid() bool { return len(s) >= MADSize }

// MAD returns the common-header view of s.
func (s SMP) MAD() MAD { return MAD(s) }

// IsDirected reports whether s is a directed-route SMP (class 0x81).
func (s SMP) IsDirected() bool { return MgmtClass(s[madMgmtClass]) == MgmtClassSubnDirected }

// Status returns the SMP status: 15 bits for a directed-route SMP, 16 for a
// LID-routed one.
func (s SMP) Status() MADStatus { return MAD(s).Status() }

// SetStatus sets the status, keeping the D bit of a directed-route SMP.
func (s SMP) SetStatus(st MADStatus) { MAD(s).SetStatus(st) }

// Direction returns the D bit (DR only).
func (s SMP) Direction() DRDirection {
	return DRDirection(s[madStatus] >> 7)
}

// SetDirection sets the D bit (DR only).
func (s SMP) SetDirection(d DRDirection) { mfSetBit(&s[madStatus], 7, d == DRReturning) }

// HopPointer returns the hop pointer (DR only).
func (s SMP) HopPointer() uint8 { return s[smpHopPointer] }

// SetHopPointer sets the hop pointer (DR only).
func (s SMP) SetHopPointer(v uint8) { s[smpHopPointer] = v }

// HopCount returns the hop count (DR only).
func (s SMP) HopCount() uint8 { return s[smpHopCount] }

// SetHopCount sets the hop count (DR only).
func (s SMP) SetHopCount(v uint8) { s[smpHopCount] = v }

// MKey returns the M_Key.
func (s SMP) MKey() uint64 { return binary.BigEndian.Uint64(s[smpMKey:]) }

// SetMKey sets the M_Key.
func (s SMP) SetMKey(k uint64) { binary.BigEndian.PutUint64(s[smpMKey:], k) }

// DrSLID returns the directed-route SLID (DR only; 0xFFFF when the
// directed part starts at the requester).
func (s SMP) DrSLID() LID { return LID(binary.BigEndian.Uint16(s[smpDrSLID:])) }

// SetDrSLID sets the directed-route SLID.
func (s SMP) SetDrSLID(l LID) { binary.BigEndian.PutUint16(s[smpDrSLID:], uint16(l)) }

// DrDLID returns the directed-route DLID (DR only; 0xFFFF when the
// directed part ends at the responder).
func (s SMP) DrDLID() LID { return LID(binary.BigEndian.Uint16(s[smpDrDLID:])) }

// SetDrDLID sets the directed-route DLID.
func (s SMP) SetDrDLID(l LID) { binary.BigEndian.PutUint16(s[smpDrDLID:], uint16(l)) }

// Data returns the 64-byte attribute area, for the attribute views.
func (s SMP) Data() []byte { return s[SMPDataOffset : SMPDataOffset+SMPDataSize] }

// InitialPath returns the 64-entry initial path (DR only).
func (s SMP) InitialPath() []byte {
	return s[SMPInitialPathOffset : SMPInitialPathOffset+SMPPathSize]
}

// ReturnPath returns the 64-entry return path (DR only).
func (s SMP) ReturnPath() []byte {
	return s[SMPReturnPathOffset : SMPReturnPathOffset+SMPPathSize]
}

// InitialPathAt returns InitialPath[i], or 0 when i is outside 0..63.
func (s SMP) InitialPathAt(i int) uint8 {
	if i < 0 || i >= SMPPathSize {
		return 0
	}
	return s[SMPInitialPathOffset+i]
}

// SetInitialPathAt sets InitialPath[i]; i outside 0..63 is ignored.
func (s SMP) SetInitialPathAt(i int, port uint8) {
	if i >= 0 && i < SMPPathSize {
		s[SMPInitialPathOffset+i] = port
	}
}

// ReturnPathAt returns ReturnPath[i], or 0 when i is outside 0..63.
func (s SMP) ReturnPathAt(i int) uint8 {
	if i < 0 || i >= SMPPathSize {
		return 0
	}
	return s[SMPReturnPathOffset+i]
}

// SetReturnPathAt sets ReturnPath[i]; i outside 0..63 is ignored.
func (s SMP) SetReturnPathAt(i int, port uint8) {
	if i >= 0 && i < SMPPathSize {
		s[SMPReturnPathOffset+i] = port
	}
}

// Encode writes every field of f into s, with BaseVersion 1 and
// ClassVersion 1, and zeroes the reserved areas.
func (s SMP) Encode(f *SMPFields) {
	clear(s[:MADSize])
	s[madBaseVersion] = MADBaseVersion
	s[madClassVersion] = SMPClassVersion
	s[madMethod] = uint8(f.Method)
	binary.BigEndian.PutUint64(s[madTID:], f.TID)
	binary.BigEndian.PutUint16(s[madAttrID:], uint16(f.AttrID))
	binary.BigEndian.PutUint32(s[madAttrMod:], f.AttrMod)
	binary.BigEndian.PutUint64(s[smpMKey:], f.MKey)
	copy(s.Data(), f.Data[:])
	if !f.Directed {
		s[madMgmtClass] = uint8(MgmtClassSubnLID)
		binary.BigEndian.PutUint16(s[madStatus:], uint16(f.Status))
		return
	}
	s[madMgmtClass] = uint8(MgmtClassSubnDirected)
	st := uint16(f.Status) &^ madDirectionBit
	if f.Direction == DRReturning {
		st |= madDirectionBit
	}
	binary.BigEndian.PutUint16(s[madStatus:], st)
	s[smpHopPointer] = f.HopPointer
	s[smpHopCount] = f.HopCount
	s.SetDrSLID(f.DrSLID)
	s.SetDrDLID(f.DrDLID)
	copy(s.InitialPath(), f.InitialPath[:])
	copy(s.ReturnPath(), f.ReturnPath[:])
}

// Fields decodes s. The DR-only fields stay zero for a LID-routed SMP.
func (s SMP) Fields() SMPFields {
	f := SMPFields{
		Directed: s.IsDirected(),
		Method:   Method(s[madMethod]),
		Status:   s.Status(),
		TID:      MAD(s).TID(),
		AttrID:   MAD(s).AttrID(),
		AttrMod:  MAD(s).AttrMod(),
		MKey:     s.MKey(),
	}
	copy(f.Data[:], s.Data())
	if f.Directed {
		f.Direction = s.Direction()
		f.HopPointer = s.HopPointer()
		f.HopCount = s.HopCount()
		f.DrSLID = s.DrSLID()
		f.DrDLID = s.DrDLID()
		copy(f.InitialPath[:], s.InitialPath())
		copy(f.ReturnPath[:], s.ReturnPath())
	}
	return f
}

// ErrDRHopCount is returned for a directed-route SMP whose HopCount is
// above 63 (IBTA Vol 1 §14.2.2, C14-6); such SMPs are discarded.
var ErrDRHopCount = errors.New("wire: dr smp: hop count above 63")

// ParseSMP validates b as an SMP: exactly MADSize bytes, BaseVersion 1,
// class 0x01 or 0x81, ClassVersion 1, and for a directed-route SMP a
// HopCount of at most 63. A bad version comes back as a wrapped
// *MADStatusError (status MADStatusBadVersion) together with the view, so
// the SMA can answer it; other failures return a nil view.
func ParseSMP(b []byte) (SMP, error) {
	if err := checkMAD256("smp", b, MgmtClassSubnLID, MgmtClassSubnDirected); err != nil {
		var se *MADStatusError
		if errors.As(err, &se) {
			return SMP(b), err
		}
		return nil, err
	}
	s := SMP(b)
	if err := checkClassVersion("smp", MAD(b), SMPClassVersion); err != nil {
		return s, err
	}
	if s.IsDirected() && s.HopCount() > SMPMaxHopCount {
		return nil, fmt.Errorf("wire: smp: hop count %d: %w", s.HopCount(), ErrDRHopCount)
	}
	return s, nil
}
