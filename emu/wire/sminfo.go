package wire

import "fmt"

// SMInfo is the SMInfo attribute (IBTA Vol 1 §14.2.5.13), AttrID 0x0020,
// 21 bytes, exchanged between subnet managers.
//
//	 0               1               2               3
//	+---------------------------------------------------------------+
//	|                            GUID (64)                          |  0
//	+---------------------------------------------------------------+
//	|                           SM_Key (64)                         |  8
//	+---------------------------------------------------------------+
//	|                            ActCount                           |  16
//	+-------+-------+-----------------------------------------------+
//	|Priorit|SMState|                                                  20
//	+-------+-------+
type SMInfo []byte

// SMInfoSize is the size of the SMInfo attribute.
const SMInfoSize = 21

const (
	smiGUID      = 0
	smiSMKey     = 8
	smiActCount  = 16
	smiPrioState = 20
)

// SMState is SMInfo.SMState (IBTA Vol 1 §14.4.1).
type SMState uint8

// SM states.
const (
	SMStateNotActive   SMState = 0
	SMStateDiscovering SMState = 1
	SMStateStandby     SMState = 2
	SMStateMaster      SMState = 3
)

// String returns the state name as sminfo prints it (SMINFO_MASTER ...).
func (s SMState) String() string {
	switch s {
	case SMStateNotActive:
		return "SMINFO_NOTACT"
	case SMStateDiscovering:
		return "SMINFO_DISCOVER"
	case SMStateStandby:
		return "SMINFO_STANDBY"
	case SMStateMaster:
		return "SMINFO_MASTER"
	}
	return fmt.Sprintf("SMState(%d)", uint8(s))
}

// SMInfo AttributeModifier values for Set (IBTA Vol 1 §14.4.1).
const (
	SMInfoHandover    = 1
	SMInfoAcknowledge = 2
	SMInfoDisable     = 3
	SMInfoStandby     = 4
	SMInfoDiscover    = 5
)

// SMInfoFields holds every SMInfo field for Encode.
type SMInfoFields struct {
	GUID     GUID
	SMKey    uint64
	ActCount uint32
	Priority uint8 // 4 bits
	SMState  SMState
}

// IsValid reports whether s holds a whole SMInfo.
func (s SMInfo) IsValid() bool { return len(s) >= SMInfoSize }

// GUID returns the SM's port GUID.
func (s SMInfo) GUID() GUID { return GUID(mfU64(s, smiGUID)) }

// SMKey returns SM_Key.
func (s SMInfo) SMKey() uint64 { return mfU64(s, smiSMKey) }

// ActCount returns ActCount.
func (s SMInfo) ActCount() uint32 { return mfU32(s, smiActCount) }

// Priority returns the 4-bit priority.
func (s SMInfo) Priority() uint8 { return mfGet(s[smiPrioState], 4, 4) }

// SMState returns the SM state.
func (s SMInfo) SMState() SMState { return SMState(mfGet(s[smiPrioState], 0, 4)) }

// SetGUID sets the SM's port GUID.
func (s SMInfo) SetGUID(g GUID) { mfPut64(s, smiGUID, uint64(g)) }

// SetSMKey sets SM_Key.
func (s SMInfo) SetSMKey(k uint64) { mfPut64(s, smiSMKey, k) }

// SetActCount sets ActCount.
func (s SMInfo) SetActCount(v uint32) { mfPut32(s, smiActCount, v) }

// SetPriority sets the priority.
func (s SMInfo) SetPriority(v uint8) { mfSet(&s[smiPrioState], 4, 4, v) }

// SetSMState sets the SM state.
func (s SMInfo) SetSMState(v SMState) { mfSet(&s[smiPrioState], 0, 4, uint8(v)) }

// Encode writes every field of f into s.
func (s SMInfo) Encode(f *SMInfoFields) {
	s.SetGUID(f.GUID)
	s.SetSMKey(f.SMKey)
	s.SetActCount(f.ActCount)
	s.SetPriority(f.Priority)
	s.SetSMState(f.SMState)
}

// Fields decodes every field of s.
func (s SMInfo) Fields() SMInfoFields {
	return SMInfoFields{GUID: s.GUID(), SMKey: s.SMKey(), ActCount: s.ActCount(),
		Priority: s.Priority(), SMState: s.SMState()}
}

// ParseSMInfo returns the SMInfo view over the first SMInfoSize bytes of
// b.
func ParseSMInfo(b []byte) (SMInfo, error) {
	if err := mfCheckLen("sminfo", b, SMInfoSize); err != nil {
		return nil, err
	}
	return SMInfo(b[:SMInfoSize]), nil
}
