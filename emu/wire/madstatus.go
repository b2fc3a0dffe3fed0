package wire

import (
	"errors"
	"fmt"
	"strings"
)

// MADStatus is the 16-bit MAD status field (IBTA Vol 1 §13.4.7):
//
//	 15            8 7         5 4     2 1 0
//	+---------------+-----------+-------+-+-+
//	| class-specific|  reserved | code  |R|B|
//	+---------------+-----------+-------+-+-+
//
// B (bit 0) is "busy", R (bit 1) "redirect", and the 3-bit code says why a
// request was refused. For a directed-route SMP bit 15 is the direction bit
// and is not part of the status (see MAD.Status).
//
// A reply that carries a non-zero status is a successful exchange; the
// status is data. Convert it to an error at API edges with Err.
type MADStatus uint16

// Common MAD status values (IBTA Vol 1 §13.4.7).
const (
	MADStatusOK       MADStatus = 0x0000
	MADStatusBusy     MADStatus = 0x0001
	MADStatusRedirect MADStatus = 0x0002
	// MADStatusBadVersion: the BaseVersion, or the ClassVersion for this
	// class, is not supported (code 1).
	MADStatusBadVersion MADStatus = 0x0004
	// MADStatusUnsupportedMethod: the method is not supported (code 2).
	MADStatusUnsupportedMethod MADStatus = 0x0008
	// MADStatusUnsupportedMethodAttr: the method/attribute combination is
	// not supported (code 3).
	MADStatusUnsupportedMethodAttr MADStatus = 0x000C
	// MADStatusInvalidField: one or more fields of the attribute or the
	// attribute modifier are invalid (code 7).
	MADStatusInvalidField MADStatus = 0x001C

	// MADStatusCodeMask selects the 3-bit code.
	MADStatusCodeMask MADStatus = 0x001C
	// MADStatusClassMask selects the class-specific byte.
	MADStatusClassMask MADStatus = 0xFF00
)

// Subnet administration class-specific status values (IBTA Vol 1 §15.2.1.1).
const (
	SAStatusNoResources            MADStatus = 0x0100 // ERR_NO_RESOURCES
	SAStatusRequestInvalid         MADStatus = 0x0200 // ERR_REQ_INVALID
	SAStatusNoRecords              MADStatus = 0x0300 // ERR_NO_RECORDS
	SAStatusTooManyRecords         MADStatus = 0x0400 // ERR_TOO_MANY_RECORDS
	SAStatusInvalidGID             MADStatus = 0x0500 // ERR_REQ_INVALID_GID
	SAStatusInsufficientComponents MADStatus = 0x0600 // ERR_REQ_INSUFFICIENT_COMPONENTS
	SAStatusDenied                 MADStatus = 0x0700 // ERR_REQ_DENIED
)

// Code returns the 3-bit code (bits 2-4) as a number 0-7.
func (s MADStatus) Code() uint8 { return uint8(s&MADStatusCodeMask) >> 2 }

// ClassSpecific returns the class-specific byte (bits 8-15).
func (s MADStatus) ClassSpecific() uint8 { return uint8(s >> 8) }

// IsBusy reports whether the busy bit is set.
func (s MADStatus) IsBusy() bool { return s&MADStatusBusy != 0 }

// IsRedirect reports whether the redirect bit is set.
func (s MADStatus) IsRedirect() bool { return s&MADStatusRedirect != 0 }

var madStatusCodeNames = [8]string{
	1: "bad base or class version",
	2: "method not supported",
	3: "method/attribute not supported",
	4: "reserved code 4",
	5: "reserved code 5",
	6: "reserved code 6",
	7: "invalid field",
}

var saStatusNames = map[uint8]string{
	0x01: "no resources",
	0x02: "request invalid",
	0x03: "no records",
	0x04: "too many records",
	0x05: "invalid gid",
	0x06: "insufficient components",
	0x07: "denied",
}

// String describes the class-independent parts of s and shows the
// class-specific byte in hex; ClassString names it for a known class.
func (s MADStatus) String() string { return s.ClassString(0) }

// ClassString describes s as a status of class c, naming the SA
// class-specific codes when c is SubnAdm.
func (s MADStatus) ClassString(c MgmtClass) string {
	if s == MADStatusOK {
		return "success"
	}
	var parts []string
	if s.IsBusy() {
		parts = append(parts, "busy")
	}
	if s.IsRedirect() {
		parts = append(parts, "redirect")
	}
	if code := s.Code(); code != 0 {
		parts = append(parts, madStatusCodeNames[code])
	}
	if cs := s.ClassSpecific(); cs != 0 {
		if name, ok := saStatusNames[cs]; ok && c == MgmtClassSubnAdm {
			parts = append(parts, name)
		} else {
			parts = append(parts, fmt.Sprintf("class-specific 0x%02x", cs))
		}
	}
	if r := s & 0x00E0; r != 0 {
		parts = append(parts, fmt.Sprintf("reserved bits 0x%04x", uint16(r)))
	}
	return strings.Join(parts, ", ")
}

// Err returns nil for success, else a *MADStatusError for a reply of class
// c to attribute a with transaction ID tid.
func (s MADStatus) Err(c MgmtClass, a AttrID, tid uint64) error {
	if s == MADStatusOK {
		return nil
	}
	return &MADStatusError{Status: s, Class: c, AttrID: a, TID: tid}
}

// Sentinel errors a *MADStatusError matches with errors.Is.
var (
	ErrMADBusy                 = errors.New("wire: mad status: busy")
	ErrMADRedirect             = errors.New("wire: mad status: redirect")
	ErrUnsupportedClassVersion = errors.New("wire: mad status: unsupported base or class version")
	ErrUnsupportedMethod       = errors.New("wire: mad status: unsupported method")
	ErrUnsupportedAttr         = errors.New("wire: mad status: unsupported method/attribute combination")
	ErrInvalidField            = errors.New("wire: mad status: invalid field")

	// SA class-specific statuses; they match only for class SubnAdm.
	ErrSANoResources            = errors.New("wire: sa status: no resources")
	ErrSARequestInvalid         = errors.New("wire: sa status: request invalid")
	ErrNoRecords                = errors.New("wire: sa status: no records")
	ErrTooManyRecords           = errors.New("wire: sa status: too many records")
	ErrSAInvalidGID             = errors.New("wire: sa status: invalid gid")
	ErrSAInsufficientComponents = errors.New("wire: sa status: insufficient components")
	ErrSADenied                 = errors.New("wire: sa status: denied")
)

// MADStatusError is a non-success MAD status turned into a Go error at an
// API edge (style-anchors D). It matches the sentinels above with
// errors.Is: ErrMADBusy and ErrMADRedirect by their bits, the code-based
// sentinels by the 3-bit code, and the SA sentinels by the class-specific
// byte when Class is SubnAdm.
type MADStatusError struct {
	Status MADStatus
	Class  MgmtClass
	AttrID AttrID
	TID    uint64
}

// Error implements error.
func (e *MADStatusError) Error() string {
	return fmt.Sprintf("wire: %s %s tid 0x%016x: mad status 0x%04x (%s)",
		e.Class, AttrName(e.Class, e.AttrID), e.TID, uint16(e.Status), e.Status.ClassString(e.Class))
}

// Is reports whether target is a sentinel that describes e.Status.
func (e *MADStatusError) Is(target error) bool {
	s := e.Status
	switch target {
	case ErrMADBusy:
		return s.IsBusy()
	case ErrMADRedirect:
		return s.IsRedirect()
	case ErrUnsupportedClassVersion:
		return s.Code() == 1
	case ErrUnsupportedMethod:
		return s.Code() == 2
	case ErrUnsupportedAttr:
		return s.Code() == 3
	case ErrInvalidField:
		return s.Code() == 7
	}
	if e.Class != MgmtClassSubnAdm {
		return false
	}
	switch target {
	case ErrSANoResources:
		return s.ClassSpecific() == 0x01
	case ErrSARequestInvalid:
		return s.ClassSpecific() == 0x02
	case ErrNoRecords:
		return s.ClassSpecific() == 0x03
	case ErrTooManyRecords:
		return s.ClassSpecific() == 0x04
	case ErrSAInvalidGID:
		return s.ClassSpecific() == 0x05
	case ErrSAInsufficientComponents:
		return s.ClassSpecific() == 0x06
	case ErrSADenied:
		return s.ClassSpecific() == 0x07
	}
	return false
}
