package wire

import "fmt"

// RMPPHeader is the reliable multi-packet transaction protocol header
// (IBTA Vol 1 §13.6.2), bytes 24-35 of SA and vendor-range-2 MADs.
//
//	 0               1               2               3
//	+---------------+---------------+---------+-----+---------------+
//	|  RMPPVersion  |   RMPPType    |RRespTime|Flags|  RMPPStatus   |
//	+---------------+---------------+---------+-----+---------------+
//	|                 Data1: SegmentNumber (DATA, ACK)              |
//	+---------------------------------------------------------------+
//	|      Data2: PayloadLength (DATA) / NewWindowLast (ACK)        |
//	+---------------------------------------------------------------+
//
// RRespTime is the top 5 bits of byte 2, RMPPFlags the low 3 bits.
type RMPPHeader []byte

// RMPP sizes and constants (IBTA Vol 1 §13.6.2).
const (
	RMPPHeaderOffset = MADHeaderSize
	RMPPHeaderSize   = 12
	// RMPPVersion is the only RMPP version.
	RMPPVersion = 1
	// RMPPNoRespTime is the RRespTime value meaning "no time given".
	RMPPNoRespTime = 0x1F
)

const (
	rmppVersion  = 0
	rmppType     = 1
	rmppRespFlag = 2
	rmppStatus   = 3
	rmppData1    = 4
	rmppData2    = 8
)

// RMPPType is the RMPP packet type.
type RMPPType uint8

// RMPP packet types. 0 means the MAD is not an RMPP packet.
const (
	RMPPTypeNone  RMPPType = 0
	RMPPTypeData  RMPPType = 1
	RMPPTypeAck   RMPPType = 2
	RMPPTypeStop  RMPPType = 3
	RMPPTypeAbort RMPPType = 4
)

// String names the type.
func (t RMPPType) String() string {
	switch t {
	case RMPPTypeNone:
		return "none"
	case RMPPTypeData:
		return "DATA"
	case RMPPTypeAck:
		return "ACK"
	case RMPPTypeStop:
		return "STOP"
	case RMPPTypeAbort:
		return "ABORT"
	}
	return fmt.Sprintf("RMPPType(%d)", uint8(t))
}

// RMPPFlags is the 3-bit RMPP flags field.
type RMPPFlags uint8

// RMPP flags.
const (
	RMPPFlagActive RMPPFlags = 0x1
	RMPPFlagFirst  RMPPFlags = 0x2
	RMPPFlagLast   RMPPFlags = 0x4
)

// String lists the set flags, e.g. "Active|First|Last".
func (f RMPPFlags) String() string {
	s := ""
	for _, x := range []struct {
		f RMPPFlags
		n string
	}{{RMPPFlagActive, "Active"}, {RMPPFlagFirst, "First"}, {RMPPFlagLast, "Last"}} {
		if f&x.f != 0 {
			if s != "" {
				s += "|"
			}
			s += x.n
		}
	}
	if s == "" {
		return "0"
	}
	return s
}

// RMPPStatus is the RMPP status code carried in STOP and ABORT packets.
type RMPPStatus uint8

// RMPP status codes (IBTA Vol 1 §13.6.2).
const (
	RMPPStatusNormal                    RMPPStatus = 0
	RMPPStatusResourcesExhausted        RMPPStatus = 1
	RMPPStatusTotalTimeTooLong          RMPPStatus = 118
	RMPPStatusInconsistentLastAndLength RMPPStatus = 119
	RMPPStatusInconsistentFirstAndSeg   RMPPStatus = 120
	RMPPStatusBadType                   RMPPStatus = 121
	RMPPStatusNewWindowLastTooSmall     RMPPStatus = 122
	RMPPStatusSegmentNumberTooBig       RMPPStatus = 123
	RMPPStatusIllegalStatus             RMPPStatus = 124
	RMPPStatusUnsupportedVersion        RMPPStatus = 125
	RMPPStatusTooManyRetries            RMPPStatus = 126
	RMPPStatusUnspecified               RMPPStatus = 127
)

var rmppStatusNames = map[RMPPStatus]string{
	RMPPStatusNormal:                    "normal",
	RMPPStatusResourcesExhausted:        "resources exhausted",
	RMPPStatusTotalTimeTooLong:          "total time too long",
	RMPPStatusInconsistentLastAndLength: "inconsistent last and payload length",
	RMPPStatusInconsistentFirstAndSeg:   "inconsistent first and segment number",
	RMPPStatusBadType:                   "bad rmpp type",
	RMPPStatusNewWindowLastTooSmall:     "new window last too small",
	RMPPStatusSegmentNumberTooBig:       "segment number too big",
	RMPPStatusIllegalStatus:             "illegal status",
	RMPPStatusUnsupportedVersion:        "unsupported version",
	RMPPStatusTooManyRetries:            "too many retries",
	RMPPStatusUnspecified:               "unspecified",
}

// String names the status.
func (s RMPPStatus) String() string {
	if n, ok := rmppStatusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("RMPPStatus(%d)", uint8(s))
}

// RMPPHeaderFields holds the RMPP header for Encode.
type RMPPHeaderFields struct {
	Version  uint8
	Type     RMPPType
	RespTime uint8 // 5 bits
	Flags    RMPPFlags
	Status   RMPPStatus
	Data1    uint32 // SegmentNumber for DATA and ACK
	Data2    uint32 // PayloadLength for DATA, NewWindowLast for ACK
}

// IsValid reports whether r holds a whole RMPP header.
func (r RMPPHeader) IsValid() bool { return len(r) >= RMPPHeaderSize }

// Version returns RMPPVersion.
func (r RMPPHeader) Version() uint8 { return r[rmppVersion] }

// Type returns RMPPType.
func (r RMPPHeader) Type() RMPPType { return RMPPType(r[rmppType]) }

// RespTime returns RRespTime (5 bits).
func (r RMPPHeader) RespTime() uint8 { return mfGet(r[rmppRespFlag], 3, 5) }

// Flags returns RMPPFlags (3 bits).
func (r RMPPHeader) Flags() RMPPFlags { return RMPPFlags(mfGet(r[rmppRespFlag], 0, 3)) }

// Status returns RMPPStatus.
func (r RMPPHeader) Status() RMPPStatus { return RMPPStatus(r[rmppStatus]) }

// Data1 returns the first data word.
func (r RMPPHeader) Data1() uint32 { return mfU32(r, rmppData1) }

// Data2 returns the second data word.
func (r RMPPHeader) Data2() uint32 { return mfU32(r, rmppData2) }

// SegmentNumber returns Data1 (DATA and ACK packets).
func (r RMPPHeader) SegmentNumber() uint32 { return r.Data1() }

// PayloadLength returns Data2 (DATA packets).
func (r RMPPHeader) PayloadLength() uint32 { return r.Data2() }

// NewWindowLast returns Data2 (ACK packets).
func (r RMPPHeader) NewWindowLast() uint32 { return r.Data2() }

// IsActive reports whether the Active flag is set.
func (r RMPPHeader) IsActive() bool { return r.Flags()&RMPPFlagActive != 0 }

// SetVersion sets RMPPVersion.
func (r RMPPHeader) SetVersion(v uint8) { r[rmppVersion] = v }

// SetType sets RMPPType.
func (r RMPPHeader) SetType(t RMPPType) { r[rmppType] = uint8(t) }

// SetRespTime sets RRespTime.
func (r RMPPHeader) SetRespTime(v uint8) { mfSet(&r[rmppRespFlag], 3, 5, v) }

// SetFlags sets RMPPFlags.
func (r RMPPHeader) SetFlags(f RMPPFlags) { mfSet(&r[rmppRespFlag], 0, 3, uint8(f)) }

// SetStatus sets RMPPStatus.
func (r RMPPHeader) SetStatus(s RMPPStatus) { r[rmppStatus] = uint8(s) }

// SetData1 sets the first data word (SegmentNumber).
func (r RMPPHeader) SetData1(v uint32) { mfPut32(r, rmppData1, v) }

// SetData2 sets the second data word (PayloadLength or NewWindowLast).
func (r RMPPHeader) SetData2(v uint32) { mfPut32(r, rmppData2, v) }

// Encode writes every field of f into r.
func (r RMPPHeader) Encode(f *RMPPHeaderFields) {
	r[rmppVersion] = f.Version
	r[rmppType] = uint8(f.Type)
	r[rmppRespFlag] = 0
	r.SetRespTime(f.RespTime)
	r.SetFlags(f.Flags)
	r[rmppStatus] = uint8(f.Status)
	r.SetData1(f.Data1)
	r.SetData2(f.Data2)
}

// Fields decodes r.
func (r RMPPHeader) Fields() RMPPHeaderFields {
	return RMPPHeaderFields{
		Version:  r.Version(),
		Type:     r.Type(),
		RespTime: r.RespTime(),
		Flags:    r.Flags(),
		Status:   r.Status(),
		Data1:    r.Data1(),
		Data2:    r.Data2(),
	}
}

// ParseRMPPHeader returns the RMPP header view over the first
// RMPPHeaderSize bytes of b (b starts at MAD byte 24). It checks only the
// length: judging RMPPVersion and RMPPType is the RMPP engine's job (it
// answers with ABORT and RMPPStatusUnsupportedVersion or
// RMPPStatusBadType), and real peers send odd headers; OpenSM behind
// umad2sim, with no kernel RMPP layer, answers GetTable with the Active
// flag set and RMPPVersion 0.
func ParseRMPPHeader(b []byte) (RMPPHeader, error) {
	if err := mfCheckLen("rmpp header", b, RMPPHeaderSize); err != nil {
		return nil, err
	}
	return RMPPHeader(b[:RMPPHeaderSize]), nil
}

// RMPPHeader returns the RMPP header view of m (bytes 24-35); m must hold
// at least 36 bytes.
func (m MAD) RMPPHeader() RMPPHeader {
	return RMPPHeader(m[RMPPHeaderOffset : RMPPHeaderOffset+RMPPHeaderSize])
}
