package wire

// NodeInfo is the NodeInfo attribute (IBTA Vol 1 §14.2.5.3), AttrID
// 0x0011, 40 bytes.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+---------------+
//	|  BaseVersion  | ClassVersion  |   NodeType    |   NumPorts    |  0
//	+---------------+---------------+---------------+---------------+
//	|                     SystemImageGUID (64)                      |  4
//	+---------------------------------------------------------------+
//	|                         NodeGUID (64)                         |  12
//	+---------------------------------------------------------------+
//	|                         PortGUID (64)                         |  20
//	+-------------------------------+-------------------------------+
//	|         PartitionCap          |           DeviceID            |  28
//	+-------------------------------+-------------------------------+
//	|                           Revision                            |  32
//	+---------------+-----------------------------------------------+
//	| LocalPortNum  |                 VendorID (24)                 |  36
//	+---------------+-----------------------------------------------+
//
// LocalPortNum is the port the SMP arrived on; VendorID is the IEEE OUI
// (0x0002C9 for Mellanox).
type NodeInfo []byte

// NodeInfoSize is the size of the NodeInfo attribute.
const NodeInfoSize = 40

const (
	niBaseVersion  = 0
	niClassVersion = 1
	niNodeType     = 2
	niNumPorts     = 3
	niSysImageGUID = 4
	niNodeGUID     = 12
	niPortGUID     = 20
	niPartCap      = 28
	niDeviceID     = 30
	niRevision     = 32
	niLocalPort    = 36
	niVendorID     = 37
)

// NodeInfoFields holds every NodeInfo field for Encode.
type NodeInfoFields struct {
	BaseVersion     uint8
	ClassVersion    uint8
	NodeType        NodeType
	NumPorts        uint8
	SystemImageGUID GUID
	NodeGUID        GUID
	PortGUID        GUID
	PartitionCap    uint16
	DeviceID        uint16
	Revision        uint32
	LocalPortNum    uint8
	VendorID        uint32 // 24 bits
}

// IsValid reports whether n holds a whole NodeInfo.
func (n NodeInfo) IsValid() bool { return len(n) >= NodeInfoSize }

// BaseVersion returns the MAD base version the node supports.
func (n NodeInfo) BaseVersion() uint8 { return n[niBaseVersion] }

// ClassVersion returns the SM class version the node supports.
func (n NodeInfo) ClassVersion() uint8 { return n[niClassVersion] }

// NodeType returns the node type.
func (n NodeInfo) NodeType() NodeType { return NodeType(n[niNodeType]) }

// NumPorts returns the number of physical ports.
func (n NodeInfo) NumPorts() uint8 { return n[niNumPorts] }

// SystemImageGUID returns SystemImageGUID.
func (n NodeInfo) SystemImageGUID() GUID { return GUID(mfU64(n, niSysImageGUID)) }

// NodeGUID returns NodeGUID.
func (n NodeInfo) NodeGUID() GUID { return GUID(mfU64(n, niNodeGUID)) }

// PortGUID returns PortGUID.
func (n NodeInfo) PortGUID() GUID { return GUID(mfU64(n, niPortGUID)) }

// PartitionCap returns PartitionCap.
func (n NodeInfo) PartitionCap() uint16 { return mfU16(n, niPartCap) }

// DeviceID returns DeviceID.
func (n NodeInfo) DeviceID() uint16 { return mfU16(n, niDeviceID) }

// Revision returns Revision.
func (n NodeInfo) Revision() uint32 { return mfU32(n, niRevision) }

// LocalPortNum returns LocalPortNum.
func (n NodeInfo) LocalPortNum() uint8 { return n[niLocalPort] }

// VendorID returns the 24-bit VendorID.
func (n NodeInfo) VendorID() uint32 { return mfU24(n, niVendorID) }

// SetBaseVersion sets BaseVersion.
func (n NodeInfo) SetBaseVersion(v uint8) { n[niBaseVersion] = v }

// SetClassVersion sets ClassVersion.
func (n NodeInfo) SetClassVersion(v uint8) { n[niClassVersion] = v }

// SetNodeType sets NodeType.
func (n NodeInfo) SetNodeType(v NodeType) { n[niNodeType] = uint8(v) }

// SetNumPorts sets NumPorts.
func (n NodeInfo) SetNumPorts(v uint8) { n[niNumPorts] = v }

// SetSystemImageGUID sets SystemImageGUID.
func (n NodeInfo) SetSystemImageGUID(g GUID) { mfPut64(n, niSysImageGUID, uint64(g)) }

// SetNodeGUID sets NodeGUID.
func (n NodeInfo) SetNodeGUID(g GUID) { mfPut64(n, niNodeGUID, uint64(g)) }

// SetPortGUID sets PortGUID.
func (n NodeInfo) SetPortGUID(g GUID) { mfPut64(n, niPortGUID, uint64(g)) }

// SetPartitionCap sets PartitionCap.
func (n NodeInfo) SetPartitionCap(v uint16) { mfPut16(n, niPartCap, v) }

// SetDeviceID sets DeviceID.
func (n NodeInfo) SetDeviceID(v uint16) { mfPut16(n, niDeviceID, v) }

// SetRevision sets Revision.
func (n NodeInfo) SetRevision(v uint32) { mfPut32(n, niRevision, v) }

// SetLocalPortNum sets LocalPortNum (the SMA writes the arrival port).
func (n NodeInfo) SetLocalPortNum(v uint8) { n[niLocalPort] = v }

// SetVendorID sets the 24-bit VendorID.
func (n NodeInfo) SetVendorID(v uint32) { mfPut24(n, niVendorID, v) }

// Encode writes every field of f into n.
func (n NodeInfo) Encode(f *NodeInfoFields) {
	n.SetBaseVersion(f.BaseVersion)
	n.SetClassVersion(f.ClassVersion)
	n.SetNodeType(f.NodeType)
	n.SetNumPorts(f.NumPorts)
	n.SetSystemImageGUID(f.SystemImageGUID)
	n.SetNodeGUID(f.NodeGUID)
	n.SetPortGUID(f.PortGUID)
	n.SetPartitionCap(f.PartitionCap)
	n.SetDeviceID(f.DeviceID)
	n.SetRevision(f.Revision)
	n.SetLocalPortNum(f.LocalPortNum)
	n.SetVendorID(f.VendorID)
}

// Fields decodes every field of n.
func (n NodeInfo) Fields() NodeInfoFields {
	return NodeInfoFields{
		BaseVersion:     n.BaseVersion(),
		ClassVersion:    n.ClassVersion(),
		NodeType:        n.NodeType(),
		NumPorts:        n.NumPorts(),
		SystemImageGUID: n.SystemImageGUID(),
		NodeGUID:        n.NodeGUID(),
		PortGUID:        n.PortGUID(),
		PartitionCap:    n.PartitionCap(),
		DeviceID:        n.DeviceID(),
		Revision:        n.Revision(),
		LocalPortNum:    n.LocalPortNum(),
		VendorID:        n.VendorID(),
	}
}

// ParseNodeInfo returns the NodeInfo view over the first NodeInfoSize
// bytes of b.
func ParseNodeInfo(b []byte) (NodeInfo, error) {
	if err := mfCheckLen("nodeinfo", b, NodeInfoSize); err != nil {
		return nil, err
	}
	return NodeInfo(b[:NodeInfoSize]), nil
}
