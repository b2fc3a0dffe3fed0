package wire

import (
	"encoding/binary"
	"fmt"
)

// MAD is the common header of every management datagram (IBTA Vol 1
// §13.4.2), viewed over the whole datagram.
//
//	 0               1               2               3
//	+---------------+---------------+---------------+-+-------------+
//	|  BaseVersion  |   MgmtClass   | ClassVersion  |R|   Method    |
//	+---------------+---------------+---------------+-+-------------+
//	|            Status             |         ClassSpecific         |
//	+-------------------------------+-------------------------------+
//	|                  TransactionID (64 bits)                      |
//	+-------------------------------+-------------------------------+
//	|          AttributeID          |           reserved            |
//	+-------------------------------+-------------------------------+
//	|                     AttributeModifier                         |
//	+---------------------------------------------------------------+
//	|          class-specific payload (232 bytes on QP0/QP1)        |
//
// On QP0 and QP1 every MAD is exactly MADSize bytes. A MAD view only needs
// MADHeaderSize bytes for the header accessors; the class views (SMP,
// SAMAD, PerfMAD, VendorMAD) need the whole 256 bytes.
//
// For a directed-route SMP (MgmtClass 0x81) bit 15 of Status is the
// direction bit D and ClassSpecific holds HopPointer and HopCount (IBTA Vol
// 1 §14.2.1.2); Status and SetStatus of MAD skip the D bit for that class so
// generic code sees the 15-bit status. The SMP view has the DR accessors.
type MAD []byte

// MAD sizes and offsets (IBTA Vol 1 §13.4.2, §13.4.3).
const (
	// MADSize is the size of every MAD carried on QP0 and QP1.
	MADSize = 256
	// MADHeaderSize is the size of the common MAD header.
	MADHeaderSize = 24
	// MADPayloadSize is what follows the common header in a 256-byte MAD.
	MADPayloadSize = MADSize - MADHeaderSize
	// MADBaseVersion is the only BaseVersion IBTA Vol 1 defines for
	// InfiniBand MADs (OPA's 0x80 is not InfiniBand).
	MADBaseVersion = 1
	// MethodResponseBit is the R bit of the method byte.
	MethodResponseBit = 0x80
)

const (
	madBaseVersion  = 0
	madMgmtClass    = 1
	madClassVersion = 2
	madMethod       = 3
	madStatus       = 4
	madClassSpec    = 6
	madTID          = 8
	madAttrID       = 16
	madAttrMod      = 20

	madDirectionBit = 0x8000
)

// MADFields holds the common header for MAD.Encode. Method is the whole
// method byte, R bit included (GetResp is 0x81).
type MADFields struct {
	BaseVersion   uint8
	MgmtClass     MgmtClass
	ClassVersion  uint8
	Method        Method
	Status        MADStatus
	ClassSpecific uint16
	TID           uint64
	AttrID        AttrID
	AttrMod       uint32
}

// IsValid reports whether m is long enough for the common header. It is the
// gate before the unchecked accessors.
func (m MAD) IsValid() bool { return len(m) >= MADHeaderSize }

// BaseVersion returns the MAD base version (1 for InfiniBand).
func (m MAD) BaseVersion() uint8 { return m[madBaseVersion] }

// MgmtClass returns the management class.
func (m MAD) MgmtClass() MgmtClass { return MgmtClass(m[madMgmtClass]) }

// ClassVersion returns the class version.
func (m MAD) ClassVersion() uint8 { return m[madClassVersion] }

// Method returns the whole method byte, R bit included.
func (m MAD) Method() Method { return Method(m[madMethod]) }

// IsResponse reports whether the R bit is set.
func (m MAD) IsResponse() bool { return m[madMethod]&MethodResponseBit != 0 }

// RawStatus returns the 16-bit status field as it is on the wire (for a
// directed-route SMP this includes the D bit).
func (m MAD) RawStatus() uint16 { return binary.BigEndian.Uint16(m[madStatus:]) }

// Status returns the MAD status. For a directed-route SMP the direction bit
// is masked off (IBTA Vol 1 §14.2.1.2).
func (m MAD) Status() MADStatus {
	s := m.RawStatus()
	if m.MgmtClass() == MgmtClassSubnDirected {
		s &^= madDirectionBit
	}
	return MADStatus(s)
}

// ClassSpecific returns the class-specific header word (HopPointer and
// HopCount for directed-route SMPs, 0 otherwise).
func (m MAD) ClassSpecific() uint16 { return binary.BigEndian.Uint16(m[madClassSpec:]) }

// TID returns the transaction ID.
func (m MAD) TID() uint64 { return binary.BigEndian.Uint64(m[madTID:]) }

// AttrID returns the attribute ID.
func (m MAD) AttrID() AttrID { return AttrID(binary.BigEndian.Uint16(m[madAttrID:])) }

// AttrMod returns the attribute modifier.
func (m MAD) AttrMod() uint32 { return binary.BigEndian.Uint32(m[madAttrMod:]) }

// Payload returns everything after the common header.
func (m MAD) Payload() []byte { return m[MADHeaderSize:] }

// SetBaseVersion sets the base version.
func (m MAD) SetBaseVersion(v uint8) { m[madBaseVersion] = v }

// SetMgmtClass sets the management class.
func (m MAD) SetMgmtClass(c MgmtClass) { m[madMgmtClass] = uint8(c) }

// SetClassVersion sets the class version.
func (m MAD) SetClassVersion(v uint8) { m[madClassVersion] = v }

// SetMethod sets the whole method byte, R bit included.
func (m MAD) SetMethod(x Method) { m[madMethod] = uint8(x) }

// SetStatus sets the status. For a directed-route SMP the D bit is kept.
func (m MAD) SetStatus(s MADStatus) {
	v := uint16(s)
	if m.MgmtClass() == MgmtClassSubnDirected {
		v = v&^madDirectionBit | m.RawStatus()&madDirectionBit
	}
	binary.BigEndian.PutUint16(m[madStatus:], v)
}

// SetRawStatus sets the 16-bit status field verbatim (D bit included).
func (m MAD) SetRawStatus(v uint16) { binary.BigEndian.PutUint16(m[madStatus:], v) }

// SetClassSpecific sets the class-specific header word.
func (m MAD) SetClassSpecific(v uint16) { binary.BigEndian.PutUint16(m[madClassSpec:], v) }

// SetTID sets the transaction ID.
func (m MAD) SetTID(tid uint64) { binary.BigEndian.PutUint64(m[madTID:], tid) }

// SetAttrID sets the attribute ID.
func (m MAD) SetAttrID(a AttrID) { binary.BigEndian.PutUint16(m[madAttrID:], uint16(a)) }

// SetAttrMod sets the attribute modifier.
func (m MAD) SetAttrMod(v uint32) { binary.BigEndian.PutUint32(m[madAttrMod:], v) }

// SetResponse turns a request into its response in place, the way an agent
// answers (IBTA Vol 1 §13.4.5, §13.5.3): Get and Set become GetResp, Trap
// becomes TrapRepress, GetTraceTable becomes GetTableResp and every other
// method gets the R bit. The status is written; for a directed-route SMP
// the direction bit D is also set (IBTA Vol 1 §14.2.2.1), since the reply
// travels the return path. TID, AttrID and AttrMod are left alone.
func (m MAD) SetResponse(status MADStatus) {
	m.SetMethod(m.Method().Response())
	if m.MgmtClass() == MgmtClassSubnDirected {
		m.SetRawStatus(uint16(status)&^madDirectionBit | madDirectionBit)
		return
	}
	m.SetStatus(status)
}

// Err returns a *MADStatusError when the status is not success, else nil.
// Use it where a reply crosses an API boundary (style-anchors D).
func (m MAD) Err() error {
	return m.Status().Err(m.MgmtClass(), m.AttrID(), m.TID())
}

// Encode writes the common header fields of f into m.
func (m MAD) Encode(f *MADFields) {
	m[madBaseVersion] = f.BaseVersion
	m[madMgmtClass] = uint8(f.MgmtClass)
	m[madClassVersion] = f.ClassVersion
	m[madMethod] = uint8(f.Method)
	binary.BigEndian.PutUint16(m[madStatus:], uint16(f.Status))
	binary.BigEndian.PutUint16(m[madClassSpec:], f.ClassSpecific)
	binary.BigEndian.PutUint64(m[madTID:], f.TID)
	binary.BigEndian.PutUint16(m[madAttrID:], uint16(f.AttrID))
	m[18], m[19] = 0, 0
	binary.BigEndian.PutUint32(m[madAttrMod:], f.AttrMod)
}

// Fields decodes the common header. Status is the raw 16-bit field (for a
// directed-route SMP it includes D; use SMP.Fields for the DR split).
func (m MAD) Fields() MADFields {
	return MADFields{
		BaseVersion:   m.BaseVersion(),
		MgmtClass:     m.MgmtClass(),
		ClassVersion:  m.ClassVersion(),
		Method:        m.Method(),
		Status:        MADStatus(m.RawStatus()),
		ClassSpecific: m.ClassSpecific(),
		TID:           m.TID(),
		AttrID:        m.AttrID(),
		AttrMod:       m.AttrMod(),
	}
}

// ParseMAD validates the common header of b and returns the view over all
// of b.
//
// b must hold at least MADHeaderSize bytes; ParseMAD accepts anything
// longer so that captures and truncated frames can be inspected. MADs on
// QP0 and QP1 are exactly MADSize bytes, and the class parsers (ParseSMP,
// ParseSAMAD, ParsePerfMAD, ParseVendorMAD) insist on that.
//
// A BaseVersion other than 1 is reported as a *MADStatusError with status
// MADStatusBadVersion, and the view is returned with it so that an agent can
// build the error reply (IBTA Vol 1 §13.4.7).
func ParseMAD(b []byte) (MAD, error) {
	if err := mfCheckLen("mad", b, MADHeaderSize); err != nil {
		return nil, err
	}
	m := MAD(b)
	if m.BaseVersion() != MADBaseVersion {
		return m, &MADStatusError{Status: MADStatusBadVersion, Class: m.MgmtClass(), AttrID: m.AttrID(), TID: m.TID()}
	}
	return m, nil
}

// checkMAD256 is the shared check of the class parsers: exactly MADSize
// bytes, BaseVersion 1 and one of the given classes.
func checkMAD256(name string, b []byte, classes ...MgmtClass) error {
	if len(b) < MADSize {
		return fmt.Errorf("wire: %s: %d bytes, need %d: %w", name, len(b), MADSize, ErrMADTooShort)
	}
	if len(b) != MADSize {
		return fmt.Errorf("wire: %s: %d bytes, a MAD on qp0/qp1 is exactly %d", name, len(b), MADSize)
	}
	if _, err := ParseMAD(b); err != nil {
		return fmt.Errorf("wire: %s: %w", name, err)
	}
	c := MAD(b).MgmtClass()
	for _, want := range classes {
		if c == want {
			return nil
		}
	}
	return fmt.Errorf("wire: %s: unexpected management class %s", name, c)
}

// checkClassVersion returns a *MADStatusError with MADStatusBadVersion when
// the class version of m is not want, so that an agent can reply with it.
func checkClassVersion(name string, m MAD, want uint8) error {
	if m.ClassVersion() == want {
		return nil
	}
	return fmt.Errorf("wire: %s: class version %d, want %d: %w", name, m.ClassVersion(), want,
		&MADStatusError{Status: MADStatusBadVersion, Class: m.MgmtClass(), AttrID: m.AttrID(), TID: m.TID()})
}

// MgmtClass is the MAD management class (IBTA Vol 1 §13.4.4).
type MgmtClass uint8

// Management classes.
const (
	MgmtClassSubnLID      MgmtClass = 0x01 // subnet management, LID-routed (QP0)
	MgmtClassSubnDirected MgmtClass = 0x81 // subnet management, directed route (QP0)
	MgmtClassSubnAdm      MgmtClass = 0x03 // subnet administration (QP1)
	MgmtClassPerf         MgmtClass = 0x04 // performance management
	MgmtClassBM           MgmtClass = 0x05 // baseboard management
	MgmtClassDevMgt       MgmtClass = 0x06 // device management
	MgmtClassCM           MgmtClass = 0x07 // communication management
	MgmtClassSNMP         MgmtClass = 0x08 // SNMP tunneling
	MgmtClassCC           MgmtClass = 0x21 // congestion control (IBTA Vol 1 Annex A10)

	// MgmtClassVendorRange1Min and Max bound vendor range 1: no RMPP, payload at 24.
	MgmtClassVendorRange1Min MgmtClass = 0x09
	MgmtClassVendorRange1Max MgmtClass = 0x0F
	// MgmtClassVendorRange2Min and Max bound vendor range 2: RMPP header, OUI at 36.
	MgmtClassVendorRange2Min MgmtClass = 0x30
	MgmtClassVendorRange2Max MgmtClass = 0x4F

	// MgmtClassMellanox is the Mellanox vendor class used by vendstat
	// (vendor range 1; protocols.md §7.3).
	MgmtClassMellanox MgmtClass = 0x0A
	// MgmtClassOpenIBPing is the OpenIB ping/sysstat class (range 2, OUI 00-14-05).
	MgmtClassOpenIBPing MgmtClass = 0x32
)

// IsVendorRange1 reports whether c is in vendor range 1 (0x09-0x0F).
func (c MgmtClass) IsVendorRange1() bool {
	return c >= MgmtClassVendorRange1Min && c <= MgmtClassVendorRange1Max
}

// IsVendorRange2 reports whether c is in vendor range 2 (0x30-0x4F).
func (c MgmtClass) IsVendorRange2() bool {
	return c >= MgmtClassVendorRange2Min && c <= MgmtClassVendorRange2Max
}

// IsSubn reports whether c is one of the two subnet management classes
// (both travel on QP0).
func (c MgmtClass) IsSubn() bool { return c == MgmtClassSubnLID || c == MgmtClassSubnDirected }

// String returns the IBTA short name of the class.
func (c MgmtClass) String() string {
	switch c {
	case MgmtClassSubnLID:
		return "SubnLID"
	case MgmtClassSubnDirected:
		return "SubnDirected"
	case MgmtClassSubnAdm:
		return "SubnAdm"
	case MgmtClassPerf:
		return "Perf"
	case MgmtClassBM:
		return "BM"
	case MgmtClassDevMgt:
		return "DevMgt"
	case MgmtClassCM:
		return "CM"
	case MgmtClassSNMP:
		return "SNMP"
	case MgmtClassCC:
		return "CC"
	}
	switch {
	case c.IsVendorRange1():
		return fmt.Sprintf("VendorRange1(0x%02x)", uint8(c))
	case c.IsVendorRange2():
		return fmt.Sprintf("VendorRange2(0x%02x)", uint8(c))
	}
	return fmt.Sprintf("MgmtClass(0x%02x)", uint8(c))
}

// Method is the MAD method byte, R bit included (IBTA Vol 1 §13.4.5; SA
// methods §15.2.2).
type Method uint8

// Methods.
const (
	MethodGet           Method = 0x01
	MethodSet           Method = 0x02
	MethodSend          Method = 0x03
	MethodTrap          Method = 0x05
	MethodReport        Method = 0x06
	MethodTrapRepress   Method = 0x07
	MethodGetTable      Method = 0x12 // SA
	MethodGetTraceTable Method = 0x13 // SA
	MethodGetMulti      Method = 0x14 // SA
	MethodDelete        Method = 0x15 // SA
	MethodGetResp       Method = 0x81
	MethodReportResp    Method = 0x86
	MethodGetTableResp  Method = 0x92 // SA
	MethodGetMultiResp  Method = 0x94 // SA
	MethodDeleteResp    Method = 0x95 // SA
)

// IsResponse reports whether the R bit is set.
func (x Method) IsResponse() bool { return x&MethodResponseBit != 0 }

// Response returns the method an agent answers x with: GetResp for Get and
// Set, TrapRepress for Trap (IBTA Vol 1 §13.4.5), GetTableResp for GetTable
// and GetTraceTable (IBTA Vol 1 §15.2.2), and x with the R bit otherwise.
func (x Method) Response() Method {
	switch x {
	case MethodGet, MethodSet:
		return MethodGetResp
	case MethodTrap:
		return MethodTrapRepress
	case MethodGetTraceTable:
		return MethodGetTableResp
	}
	return x | MethodResponseBit
}

// String returns the IBTA method name.
func (x Method) String() string {
	switch x {
	case MethodGet:
		return "Get"
	case MethodSet:
		return "Set"
	case MethodSend:
		return "Send"
	case MethodTrap:
		return "Trap"
	case MethodReport:
		return "Report"
	case MethodTrapRepress:
		return "TrapRepress"
	case MethodGetTable:
		return "GetTable"
	case MethodGetTraceTable:
		return "GetTraceTable"
	case MethodGetMulti:
		return "GetMulti"
	case MethodDelete:
		return "Delete"
	case MethodGetResp:
		return "GetResp"
	case MethodReportResp:
		return "ReportResp"
	case MethodGetTableResp:
		return "GetTableResp"
	case MethodGetMultiResp:
		return "GetMultiResp"
	case MethodDeleteResp:
		return "DeleteResp"
	}
	return fmt.Sprintf("Method(0x%02x)", uint8(x))
}

// AttrID is a MAD attribute ID. The same number means different attributes
// in different classes (0x0011 is NodeInfo for SM, NodeRecord for SA and
// PortSamplesResult for PerfMgt); String names the subnet management
// attribute, AttrName takes the class into account.
type AttrID uint16

// Attributes common to all classes (IBTA Vol 1 §13.4.8).
const (
	AttrClassPortInfo AttrID = 0x0001
	AttrNotice        AttrID = 0x0002
	AttrInformInfo    AttrID = 0x0003
)

// Subnet management attributes (IBTA Vol 1 §14.2.5).
const (
	AttrNodeDescription          AttrID = 0x0010
	AttrNodeInfo                 AttrID = 0x0011
	AttrSwitchInfo               AttrID = 0x0012
	AttrGUIDInfo                 AttrID = 0x0014
	AttrPortInfo                 AttrID = 0x0015
	AttrPKeyTable                AttrID = 0x0016 // P_KeyTable
	AttrSLtoVLMappingTable       AttrID = 0x0017
	AttrVLArbitrationTable       AttrID = 0x0018
	AttrLinearForwardingTable    AttrID = 0x0019
	AttrRandomForwardingTable    AttrID = 0x001A
	AttrMulticastForwardingTable AttrID = 0x001B
	AttrLinkSpeedWidthPairsTable AttrID = 0x001C
	AttrVendorSpecificMADsTable  AttrID = 0x001D
	AttrSMInfo                   AttrID = 0x0020
	AttrVendorDiag               AttrID = 0x0030
	AttrLedInfo                  AttrID = 0x0031
	AttrPortInfoExtended         AttrID = 0x0033
	// AttrMlnxExtPortInfo is Mellanox's vendor-specific SM attribute
	// (FDR10 speeds; smpquery mepi).
	AttrMlnxExtPortInfo AttrID = 0xFF90
)

// Subnet administration attributes (IBTA Vol 1 §15.2.5).
const (
	AttrNodeRecord                     AttrID = 0x0011
	AttrPortInfoRecord                 AttrID = 0x0012
	AttrSLtoVLMappingTableRecord       AttrID = 0x0013
	AttrSwitchInfoRecord               AttrID = 0x0014
	AttrLinearForwardingTableRecord    AttrID = 0x0015
	AttrRandomForwardingTableRecord    AttrID = 0x0016
	AttrMulticastForwardingTableRecord AttrID = 0x0017
	AttrSMInfoRecord                   AttrID = 0x0018
	AttrLinkRecord                     AttrID = 0x0020
	AttrGUIDInfoRecord                 AttrID = 0x0030
	AttrServiceRecord                  AttrID = 0x0031
	AttrPKeyTableRecord                AttrID = 0x0033 // P_KeyTableRecord
	AttrPathRecord                     AttrID = 0x0035
	AttrVLArbitrationTableRecord       AttrID = 0x0036
	AttrMCMemberRecord                 AttrID = 0x0038
	AttrTraceRecord                    AttrID = 0x0039
	AttrMultiPathRecord                AttrID = 0x003A
	AttrServiceAssociationRecord       AttrID = 0x003B
	AttrInformInfoRecord               AttrID = 0x00F3
)

// Performance management attributes (IBTA Vol 1 §16.1.3 and
// §16.1.4).
const (
	AttrPortSamplesControl            AttrID = 0x0010
	AttrPortSamplesResult             AttrID = 0x0011
	AttrPortCounters                  AttrID = 0x0012
	AttrPortRcvErrorDetails           AttrID = 0x0015
	AttrPortXmitDiscardDetails        AttrID = 0x0016
	AttrPortOpRcvCounters             AttrID = 0x0017
	AttrPortFlowCtlCounters           AttrID = 0x0018
	AttrPortVLOpPackets               AttrID = 0x0019
	AttrPortVLOpData                  AttrID = 0x001A
	AttrPortVLXmitFlowCtlUpdateErrors AttrID = 0x001B
	AttrPortVLXmitWaitCounters        AttrID = 0x001C
	AttrPortCountersExtended          AttrID = 0x001D
	AttrPortSamplesResultExtended     AttrID = 0x001E
	AttrPortExtendedSpeedsCounters    AttrID = 0x001F
	AttrPortXmitDataSL                AttrID = 0x0036
	AttrPortRcvDataSL                 AttrID = 0x0037
)

// Mellanox vendor class 0x0A attributes (protocols.md §7.3; vendstat).
const (
	AttrVendorGeneralInfo        AttrID = 0x0017
	AttrVendorConfigSpaceAccess  AttrID = 0x0050
	AttrVendorCounterGroupInfo   AttrID = 0x0090
	AttrVendorConfigCounterGroup AttrID = 0x0091
)

var smAttrNames = map[AttrID]string{
	AttrClassPortInfo:            "ClassPortInfo",
	AttrNotice:                   "Notice",
	AttrInformInfo:               "InformInfo",
	AttrNodeDescription:          "NodeDescription",
	AttrNodeInfo:                 "NodeInfo",
	AttrSwitchInfo:               "SwitchInfo",
	AttrGUIDInfo:                 "GUIDInfo",
	AttrPortInfo:                 "PortInfo",
	AttrPKeyTable:                "P_KeyTable",
	AttrSLtoVLMappingTable:       "SLtoVLMappingTable",
	AttrVLArbitrationTable:       "VLArbitrationTable",
	AttrLinearForwardingTable:    "LinearForwardingTable",
	AttrRandomForwardingTable:    "RandomForwardingTable",
	AttrMulticastForwardingTable: "MulticastForwardingTable",
	AttrLinkSpeedWidthPairsTable: "LinkSpeedWidthPairsTable",
	AttrVendorSpecificMADsTable:  "VendorSpecificMADsTable",
	AttrSMInfo:                   "SMInfo",
	AttrVendorDiag:               "VendorDiag",
	AttrLedInfo:                  "LedInfo",
	AttrPortInfoExtended:         "PortInfoExtended",
	AttrMlnxExtPortInfo:          "MlnxExtPortInfo",
}

var saAttrNames = map[AttrID]string{
	AttrClassPortInfo:                  "ClassPortInfo",
	AttrNotice:                         "Notice",
	AttrInformInfo:                     "InformInfo",
	AttrNodeRecord:                     "NodeRecord",
	AttrPortInfoRecord:                 "PortInfoRecord",
	AttrSLtoVLMappingTableRecord:       "SLtoVLMappingTableRecord",
	AttrSwitchInfoRecord:               "SwitchInfoRecord",
	AttrLinearForwardingTableRecord:    "LinearForwardingTableRecord",
	AttrRandomForwardingTableRecord:    "RandomForwardingTableRecord",
	AttrMulticastForwardingTableRecord: "MulticastForwardingTableRecord",
	AttrSMInfoRecord:                   "SMInfoRecord",
	AttrLinkRecord:                     "LinkRecord",
	AttrGUIDInfoRecord:                 "GUIDInfoRecord",
	AttrServiceRecord:                  "ServiceRecord",
	AttrPKeyTableRecord:                "P_KeyTableRecord",
	AttrPathRecord:                     "PathRecord",
	AttrVLArbitrationTableRecord:       "VLArbitrationTableRecord",
	AttrMCMemberRecord:                 "MCMemberRecord",
	AttrTraceRecord:                    "TraceRecord",
	AttrMultiPathRecord:                "MultiPathRecord",
	AttrServiceAssociationRecord:       "ServiceAssociationRecord",
	AttrInformInfoRecord:               "InformInfoRecord",
}

var perfAttrNames = map[AttrID]string{
	AttrClassPortInfo:                 "ClassPortInfo",
	AttrPortSamplesControl:            "PortSamplesControl",
	AttrPortSamplesResult:             "PortSamplesResult",
	AttrPortCounters:                  "PortCounters",
	AttrPortRcvErrorDetails:           "PortRcvErrorDetails",
	AttrPortXmitDiscardDetails:        "PortXmitDiscardDetails",
	AttrPortOpRcvCounters:             "PortOpRcvCounters",
	AttrPortFlowCtlCounters:           "PortFlowCtlCounters",
	AttrPortVLOpPackets:               "PortVLOpPackets",
	AttrPortVLOpData:                  "PortVLOpData",
	AttrPortVLXmitFlowCtlUpdateErrors: "PortVLXmitFlowCtlUpdateErrors",
	AttrPortVLXmitWaitCounters:        "PortVLXmitWaitCounters",
	AttrPortCountersExtended:          "PortCountersExtended",
	AttrPortSamplesResultExtended:     "PortSamplesResultExtended",
	AttrPortExtendedSpeedsCounters:    "PortExtendedSpeedsCounters",
	AttrPortXmitDataSL:                "PortXmitDataSL",
	AttrPortRcvDataSL:                 "PortRcvDataSL",
}

var mellanoxAttrNames = map[AttrID]string{
	AttrClassPortInfo:            "ClassPortInfo",
	AttrVendorGeneralInfo:        "GeneralInfo",
	AttrVendorConfigSpaceAccess:  "ConfigSpaceAccess",
	AttrVendorCounterGroupInfo:   "CounterGroupInfo",
	AttrVendorConfigCounterGroup: "ConfigCounterGroup",
}

// String names a in the subnet management namespace (and the three
// attributes common to every class).
func (a AttrID) String() string {
	if s, ok := smAttrNames[a]; ok {
		return s
	}
	return fmt.Sprintf("AttrID(0x%04x)", uint16(a))
}

// AttrName names attribute a of class c: SM, SA, PerfMgt and the Mellanox
// vendor class have their own namespaces.
func AttrName(c MgmtClass, a AttrID) string {
	var names map[AttrID]string
	switch c {
	case MgmtClassSubnLID, MgmtClassSubnDirected:
		names = smAttrNames
	case MgmtClassSubnAdm:
		names = saAttrNames
	case MgmtClassPerf:
		names = perfAttrNames
	case MgmtClassMellanox:
		names = mellanoxAttrNames
	default:
		if a == AttrClassPortInfo || a == AttrNotice || a == AttrInformInfo {
			return smAttrNames[a]
		}
	}
	if s, ok := names[a]; ok {
		return s
	}
	return fmt.Sprintf("AttrID(0x%04x)", uint16(a))
}
