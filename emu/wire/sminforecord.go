package wire

// SMInfoRecord is the SA SMInfoRecord (IBTA Vol 1 §15.2.5.10), AttrID
// 0x0018: the SMInfo of a subnet manager keyed by the LID of its port.
// 25 bytes, stride 32.
//
//	+-------------------------------+-------------------------------+
//	|              LID              |           reserved            |  0
//	+-------------------------------+-------------------------------+
//	|                       SMInfo (21 bytes)                       |  4
//	+---------------------------------------------------------------+
type SMInfoRecord []byte

// SMInfoRecordSize is the size of an SMInfoRecord without padding.
const SMInfoRecordSize = 4 + SMInfoSize

// SMInfoRecord ComponentMask bits (IBTA Vol 1 §15.2.5.10; OpenSM
// IB_SMIR_COMPMASK_*).
const (
	SMInfoRecordCompLID      ComponentMask = 1 << 0
	SMInfoRecordCompGUID     ComponentMask = 1 << 2
	SMInfoRecordCompSMKey    ComponentMask = 1 << 3
	SMInfoRecordCompActCount ComponentMask = 1 << 4
	SMInfoRecordCompPriority ComponentMask = 1 << 5
	SMInfoRecordCompSMState  ComponentMask = 1 << 6
)

// SMInfoRecordFields holds an SMInfoRecord for Encode.
type SMInfoRecordFields struct {
	LID    LID
	SMInfo SMInfoFields
}

// IsValid reports whether r holds a whole record.
func (r SMInfoRecord) IsValid() bool { return len(r) >= SMInfoRecordSize }

// LID returns the LID of the SM's port.
func (r SMInfoRecord) LID() LID { return LID(mfU16(r, 0)) }

// SetLID sets the LID.
func (r SMInfoRecord) SetLID(l LID) { mfPut16(r, 0, uint16(l)) }

// SMInfo returns the embedded SMInfo view.
func (r SMInfoRecord) SMInfo() SMInfo { return SMInfo(r[4 : 4+SMInfoSize]) }

// Encode writes every field of f into r and zeroes the reserved bytes.
func (r SMInfoRecord) Encode(f *SMInfoRecordFields) {
	clear(r[:SMInfoRecordSize])
	r.SetLID(f.LID)
	r.SMInfo().Encode(&f.SMInfo)
}

// Fields decodes every field of r.
func (r SMInfoRecord) Fields() SMInfoRecordFields {
	return SMInfoRecordFields{LID: r.LID(), SMInfo: r.SMInfo().Fields()}
}

// ParseSMInfoRecord returns the view over the first SMInfoRecordSize
// bytes of b.
func ParseSMInfoRecord(b []byte) (SMInfoRecord, error) {
	if err := mfCheckLen("sminforecord", b, SMInfoRecordSize); err != nil {
		return nil, err
	}
	return SMInfoRecord(b[:SMInfoRecordSize]), nil
}
