package wire

// NodeRecord is the SA NodeRecord (IBTA Vol 1 §15.2.5.2), AttrID 0x0011:
// a node's LID with its NodeInfo and NodeDescription. 108 bytes, stride
// 112.
//
//	+-------------------------------+-------------------------------+
//	|              LID              |           reserved            |  0
//	+-------------------------------+-------------------------------+
//	|                      NodeInfo (40 bytes)                      |  4
//	+---------------------------------------------------------------+
//	|                  NodeDescription (64 bytes)                   |  44
//	+---------------------------------------------------------------+
type NodeRecord []byte

// NodeRecordSize is the size of a NodeRecord without padding.
const NodeRecordSize = 108

const (
	nrLID      = 0
	nrNodeInfo = 4
	nrNodeDesc = 44
)

// NodeRecord ComponentMask bits (IBTA Vol 1 §15.2.5.2; OpenSM
// IB_NR_COMPMASK_*).
const (
	NodeRecordCompLID             ComponentMask = 1 << 0
	NodeRecordCompBaseVersion     ComponentMask = 1 << 2
	NodeRecordCompClassVersion    ComponentMask = 1 << 3
	NodeRecordCompNodeType        ComponentMask = 1 << 4
	NodeRecordCompNumPorts        ComponentMask = 1 << 5
	NodeRecordCompSystemImageGUID ComponentMask = 1 << 6
	NodeRecordCompNodeGUID        ComponentMask = 1 << 7
	NodeRecordCompPortGUID        ComponentMask = 1 << 8
	NodeRecordCompPartitionCap    ComponentMask = 1 << 9
	NodeRecordCompDeviceID        ComponentMask = 1 << 10
	NodeRecordCompRevision        ComponentMask = 1 << 11
	NodeRecordCompLocalPortNum    ComponentMask = 1 << 12
	NodeRecordCompVendorID        ComponentMask = 1 << 13
	NodeRecordCompNodeDescription ComponentMask = 1 << 14
)

// NodeRecordFields holds a NodeRecord for Encode.
type NodeRecordFields struct {
	LID             LID
	NodeInfo        NodeInfoFields
	NodeDescription string
}

// IsValid reports whether r holds a whole NodeRecord.
func (r NodeRecord) IsValid() bool { return len(r) >= NodeRecordSize }

// LID returns the node's LID (the base LID of the port NodeInfo describes).
func (r NodeRecord) LID() LID { return LID(mfU16(r, nrLID)) }

// SetLID sets the LID.
func (r NodeRecord) SetLID(l LID) { mfPut16(r, nrLID, uint16(l)) }

// NodeInfo returns the embedded NodeInfo view.
func (r NodeRecord) NodeInfo() NodeInfo { return NodeInfo(r[nrNodeInfo : nrNodeInfo+NodeInfoSize]) }

// NodeDescription returns the embedded NodeDescription view.
func (r NodeRecord) NodeDescription() NodeDescription {
	return NodeDescription(r[nrNodeDesc : nrNodeDesc+NodeDescriptionSize])
}

// Encode writes every field of f into r and zeroes the reserved bytes.
func (r NodeRecord) Encode(f *NodeRecordFields) {
	clear(r[:NodeRecordSize])
	r.SetLID(f.LID)
	r.NodeInfo().Encode(&f.NodeInfo)
	r.NodeDescription().SetString(f.NodeDescription)
}

// Fields decodes every field of r.
func (r NodeRecord) Fields() NodeRecordFields {
	return NodeRecordFields{LID: r.LID(), NodeInfo: r.NodeInfo().Fields(), NodeDescription: r.NodeDescription().String()}
}

// ParseNodeRecord returns the NodeRecord view over the first
// NodeRecordSize bytes of b.
func ParseNodeRecord(b []byte) (NodeRecord, error) {
	if err := mfCheckLen("noderecord", b, NodeRecordSize); err != nil {
		return nil, err
	}
	return NodeRecord(b[:NodeRecordSize]), nil
}

// PortInfoRecord is the SA PortInfoRecord (IBTA Vol 1 §15.2.5.3), AttrID
// 0x0012: a port's PortInfo keyed by end-port LID and port number. 68
// bytes, stride 72.
//
//	+-------------------------------+---------------+---------------+
//	|          EndportLID           |    PortNum    |    Options    |  0
//	+-------------------------------+---------------+---------------+
//	|                      PortInfo (64 bytes)                      |  4
//	+---------------------------------------------------------------+
//
// Options is reserved before IBTA 1.3. A GetTable with AttributeModifier
// bit 31 set asks for records whose CapabilityMask contains all the bits
// of the query's (protocols.md §4.4).
type PortInfoRecord []byte

// PortInfoRecordSize is the size of a PortInfoRecord without padding.
const PortInfoRecordSize = 68

// PortInfoRecordCapMaskMatch is the AttributeModifier bit asking for a
// CapabilityMask "contains" match (SA CapabilityMask bit 13).
const PortInfoRecordCapMaskMatch = 1 << 31

// PortInfoRecord ComponentMask bits for the record's own fields and the
// most used PortInfo ones (IBTA Vol 1 §15.2.5.3; OpenSM IB_PIR_COMPMASK_*;
// the PortInfo field n of the table is bit n+3).
const (
	PortInfoRecordCompLID            ComponentMask = 1 << 0
	PortInfoRecordCompPortNum        ComponentMask = 1 << 1
	PortInfoRecordCompOptions        ComponentMask = 1 << 2
	PortInfoRecordCompMKey           ComponentMask = 1 << 3
	PortInfoRecordCompGIDPrefix      ComponentMask = 1 << 4
	PortInfoRecordCompBaseLID        ComponentMask = 1 << 5
	PortInfoRecordCompMasterSMLID    ComponentMask = 1 << 6
	PortInfoRecordCompCapabilityMask ComponentMask = 1 << 7
	PortInfoRecordCompPortState      ComponentMask = 1 << 15
	PortInfoRecordCompLMC            ComponentMask = 1 << 20
)

// PortInfoRecordFields holds a PortInfoRecord for Encode.
type PortInfoRecordFields struct {
	EndportLID LID
	PortNum    uint8
	Options    uint8
	PortInfo   PortInfoFields
}

// IsValid reports whether r holds a whole PortInfoRecord.
func (r PortInfoRecord) IsValid() bool { return len(r) >= PortInfoRecordSize }

// EndportLID returns EndportLID.
func (r PortInfoRecord) EndportLID() LID { return LID(mfU16(r, 0)) }

// PortNum returns PortNum.
func (r PortInfoRecord) PortNum() uint8 { return r[2] }

// Options returns Options.
func (r PortInfoRecord) Options() uint8 { return r[3] }

// PortInfo returns the embedded PortInfo view.
func (r PortInfoRecord) PortInfo() PortInfo { return PortInfo(r[4 : 4+PortInfoSize]) }

// SetEndportLID sets EndportLID.
func (r PortInfoRecord) SetEndportLID(l LID) { mfPut16(r, 0, uint16(l)) }

// SetPortNum sets PortNum.
func (r PortInfoRecord) SetPortNum(v uint8) { r[2] = v }

// SetOptions sets Options.
func (r PortInfoRecord) SetOptions(v uint8) { r[3] = v }

// Encode writes every field of f into r.
func (r PortInfoRecord) Encode(f *PortInfoRecordFields) {
	r.SetEndportLID(f.EndportLID)
	r.SetPortNum(f.PortNum)
	r.SetOptions(f.Options)
	r.PortInfo().Encode(&f.PortInfo)
}

// Fields decodes every field of r.
func (r PortInfoRecord) Fields() PortInfoRecordFields {
	return PortInfoRecordFields{EndportLID: r.EndportLID(), PortNum: r.PortNum(), Options: r.Options(), PortInfo: r.PortInfo().Fields()}
}

// ParsePortInfoRecord returns the PortInfoRecord view over the first
// PortInfoRecordSize bytes of b.
func ParsePortInfoRecord(b []byte) (PortInfoRecord, error) {
	if err := mfCheckLen("portinforecord", b, PortInfoRecordSize); err != nil {
		return nil, err
	}
	return PortInfoRecord(b[:PortInfoRecordSize]), nil
}
