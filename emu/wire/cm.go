package wire

import (
	"fmt"
	"time"
)

// Communication management (IBTA Vol 1 chapter 12): class 0x07, class
// version 2, on QP1. Every CM message travels with method Send in one
// 256-byte MAD; the message itself is the 232-byte payload after the
// common MAD header, and each view below is laid over that payload (MAD
// bytes 24-255). Offsets in the diagrams are payload offsets. A 24-bit
// field (QPN, EECN, PSN) takes the upper 24 bits of its 32-bit word.
//
// Private data areas have a fixed size per message (IBTA Vol 1 §12.6);
// Encode copies what fits and zeroes the rest.

// CM class facts.
const (
	// CMClassVersion is the class version of every CM MAD.
	CMClassVersion = 2
	// CMMessageSize is the size of every CM message: the MAD payload.
	CMMessageSize = MADPayloadSize
)

// CM attribute IDs (IBTA Vol 1 §12.6, Table 102).
const (
	AttrCMREQ     AttrID = 0x0010 // ConnectRequest
	AttrCMMRA     AttrID = 0x0011 // MsgRcptAck
	AttrCMREJ     AttrID = 0x0012 // ConnectReject
	AttrCMREP     AttrID = 0x0013 // ConnectReply
	AttrCMRTU     AttrID = 0x0014 // ReadyToUse
	AttrCMDREQ    AttrID = 0x0015 // DisconnectRequest
	AttrCMDREP    AttrID = 0x0016 // DisconnectReply
	AttrCMSIDRREQ AttrID = 0x0017 // ServiceIDResReq
	AttrCMSIDRREP AttrID = 0x0018 // ServiceIDResReqResp
	AttrCMLAP     AttrID = 0x0019 // LoadAlternatePath
	AttrCMAPR     AttrID = 0x001A // AlternatePathResponse
)

// Private data sizes of the CM messages (IBTA Vol 1 §12.6.5-§12.6.11,
// §12.8).
const (
	CMREQPrivateDataSize     = 92
	CMMRAPrivateDataSize     = 222
	CMREJPrivateDataSize     = 148
	CMREPPrivateDataSize     = 196
	CMRTUPrivateDataSize     = 224
	CMDREQPrivateDataSize    = 220
	CMDREPPrivateDataSize    = 224
	CMLAPPrivateDataSize     = 168
	CMAPRPrivateDataSize     = 148
	CMSIDRREQPrivateDataSize = 216
	CMSIDRREPPrivateDataSize = 136
	// CMREJARISize bounds the Additional Rejection Information of REJ.
	CMREJARISize = 72
	// CMAdditionalInfoSize bounds the additional information of APR and
	// SIDR_REP.
	CMAdditionalInfoSize = 72
)

var cmAttrNames = map[AttrID]string{
	AttrClassPortInfo: "ClassPortInfo",
	AttrCMREQ:         "REQ",
	AttrCMMRA:         "MRA",
	AttrCMREJ:         "REJ",
	AttrCMREP:         "REP",
	AttrCMRTU:         "RTU",
	AttrCMDREQ:        "DREQ",
	AttrCMDREP:        "DREP",
	AttrCMSIDRREQ:     "SIDR_REQ",
	AttrCMSIDRREP:     "SIDR_REP",
	AttrCMLAP:         "LAP",
	AttrCMAPR:         "APR",
}

// CMAttrName names a CM attribute ("REQ", "SIDR_REP", ...).
func CMAttrName(a AttrID) string {
	if s, ok := cmAttrNames[a]; ok {
		return s
	}
	return fmt.Sprintf("AttrID(0x%04x)", uint16(a))
}

// CMTimeout converts a 5-bit CM timeout code (Remote/Local CM Response
// Timeout, Service Timeout, Local ACK Timeout, Target ACK Delay,
// PacketLifeTime) to a duration: 4.096 µs × 2^v (IBTA Vol 1 §12.6.5).
// Codes above 31 are clamped to 31.
func CMTimeout(v uint8) time.Duration {
	v = min(v, 31)
	return time.Duration(4096<<v) * time.Nanosecond
}

// CMMsgResponse says which message an MRA acknowledges or a REJ rejects
// (IBTA Vol 1 §12.6.6, §12.6.7: the 2-bit "Message MRAed" and "Message
// REJected" fields).
type CMMsgResponse uint8

// Message codes.
const (
	CMMsgREQ   CMMsgResponse = 0
	CMMsgREP   CMMsgResponse = 1
	CMMsgOther CMMsgResponse = 2 // LAP for an MRA; any other message for a REJ
)

// String names the message.
func (m CMMsgResponse) String() string {
	switch m {
	case CMMsgREQ:
		return "REQ"
	case CMMsgREP:
		return "REP"
	case CMMsgOther:
		return "other"
	}
	return fmt.Sprintf("CMMsgResponse(%d)", uint8(m))
}

// CMTransportType is the 2-bit Transport Service Type of REQ (IBTA Vol 1
// §12.6.5).
type CMTransportType uint8

// Transport service types.
const (
	CMTransportRC CMTransportType = 0
	CMTransportUC CMTransportType = 1
	CMTransportRD CMTransportType = 2
	// CMTransportExtended says the Extended Transport Type field holds
	// the type (XRC is extended type 1).
	CMTransportExtended CMTransportType = 3
)

// String names the transport.
func (t CMTransportType) String() string {
	switch t {
	case CMTransportRC:
		return "RC"
	case CMTransportUC:
		return "UC"
	case CMTransportRD:
		return "RD"
	case CMTransportExtended:
		return "extended"
	}
	return fmt.Sprintf("CMTransportType(%d)", uint8(t))
}

// CMRejectReason is the Reason of a REJ (IBTA Vol 1 §12.6.7.2, Table
// 112).
type CMRejectReason uint16

// Reject reasons.
const (
	CMRejectNoQP                      CMRejectReason = 1
	CMRejectNoEEC                     CMRejectReason = 2
	CMRejectNoResources               CMRejectReason = 3
	CMRejectTimeout                   CMRejectReason = 4
	CMRejectUnsupported               CMRejectReason = 5
	CMRejectInvalidCommID             CMRejectReason = 6
	CMRejectInvalidCommInstance       CMRejectReason = 7
	CMRejectInvalidServiceID          CMRejectReason = 8
	CMRejectInvalidTransportType      CMRejectReason = 9
	CMRejectStaleConn                 CMRejectReason = 10
	CMRejectRDCNotExist               CMRejectReason = 11
	CMRejectInvalidGID                CMRejectReason = 12
	CMRejectInvalidLID                CMRejectReason = 13
	CMRejectInvalidSL                 CMRejectReason = 14
	CMRejectInvalidTrafficClass       CMRejectReason = 15
	CMRejectInvalidHopLimit           CMRejectReason = 16
	CMRejectInvalidPacketRate         CMRejectReason = 17
	CMRejectInvalidAltGID             CMRejectReason = 18
	CMRejectInvalidAltLID             CMRejectReason = 19
	CMRejectInvalidAltSL              CMRejectReason = 20
	CMRejectInvalidAltTrafficClass    CMRejectReason = 21
	CMRejectInvalidAltHopLimit        CMRejectReason = 22
	CMRejectInvalidAltPacketRate      CMRejectReason = 23
	CMRejectPortCMRedirect            CMRejectReason = 24
	CMRejectPortRedirect              CMRejectReason = 25
	CMRejectInvalidMTU                CMRejectReason = 26
	CMRejectInsufficientRespResources CMRejectReason = 27
	CMRejectConsumerDefined           CMRejectReason = 28
	CMRejectInvalidRNRRetry           CMRejectReason = 29
	CMRejectDuplicateLocalCommID      CMRejectReason = 30
	CMRejectInvalidClassVersion       CMRejectReason = 31
	CMRejectInvalidFlowLabel          CMRejectReason = 32
	CMRejectInvalidAltFlowLabel       CMRejectReason = 33
)

var cmRejectNames = [...]string{
	CMRejectNoQP: "no QP", CMRejectNoEEC: "no EEC", CMRejectNoResources: "no resources",
	CMRejectTimeout: "timeout", CMRejectUnsupported: "unsupported", CMRejectInvalidCommID: "invalid comm ID",
	CMRejectInvalidCommInstance: "invalid comm instance", CMRejectInvalidServiceID: "invalid service ID",
	CMRejectInvalidTransportType: "invalid transport type", CMRejectStaleConn: "stale conn",
	CMRejectRDCNotExist: "RDC not exist", CMRejectInvalidGID: "invalid GID", CMRejectInvalidLID: "invalid LID",
	CMRejectInvalidSL: "invalid SL", CMRejectInvalidTrafficClass: "invalid traffic class",
	CMRejectInvalidHopLimit: "invalid hop limit", CMRejectInvalidPacketRate: "invalid packet rate",
	CMRejectInvalidAltGID: "invalid alt GID", CMRejectInvalidAltLID: "invalid alt LID",
	CMRejectInvalidAltSL: "invalid alt SL", CMRejectInvalidAltTrafficClass: "invalid alt traffic class",
	CMRejectInvalidAltHopLimit: "invalid alt hop limit", CMRejectInvalidAltPacketRate: "invalid alt packet rate",
	CMRejectPortCMRedirect: "port CM redirect", CMRejectPortRedirect: "port redirect",
	CMRejectInvalidMTU: "invalid MTU", CMRejectInsufficientRespResources: "insufficient resp resources",
	CMRejectConsumerDefined: "consumer defined", CMRejectInvalidRNRRetry: "invalid RNR retry",
	CMRejectDuplicateLocalCommID: "duplicate local comm ID", CMRejectInvalidClassVersion: "invalid class version",
	CMRejectInvalidFlowLabel: "invalid flow label", CMRejectInvalidAltFlowLabel: "invalid alt flow label",
}

// String names the reason the way the Linux CM does ("invalid service ID").
func (r CMRejectReason) String() string {
	if int(r) < len(cmRejectNames) && cmRejectNames[r] != "" {
		return cmRejectNames[r]
	}
	return fmt.Sprintf("CMRejectReason(%d)", uint16(r))
}

// CMSIDRStatus is the Status of a SIDR_REP (IBTA Vol 1 §12.11.2, Table
// 120).
type CMSIDRStatus uint8

// SIDR_REP statuses.
const (
	CMSIDRSuccess            CMSIDRStatus = 0 // QPN and Q_Key are valid
	CMSIDRUnsupported        CMSIDRStatus = 1 // ServiceID not supported
	CMSIDRReject             CMSIDRStatus = 2 // rejected by the service provider
	CMSIDRNoQP               CMSIDRStatus = 3 // no QP available
	CMSIDRRedirect           CMSIDRStatus = 4 // ClassPortInfo in the additional information
	CMSIDRUnsupportedVersion CMSIDRStatus = 5 // additional information holds the highest version
)

var cmSIDRNames = [...]string{"success", "service ID not supported", "rejected", "no QP", "redirect", "unsupported version"}

// String names the status.
func (s CMSIDRStatus) String() string {
	if int(s) < len(cmSIDRNames) {
		return cmSIDRNames[s]
	}
	return fmt.Sprintf("CMSIDRStatus(%d)", uint8(s))
}

// CMAPRStatus is the AP Status of an APR (IBTA Vol 1 §12.8.2, Table 118).
type CMAPRStatus uint8

// APR statuses.
const (
	CMAPRSuccess          CMAPRStatus = 0
	CMAPRInvalidCommID    CMAPRStatus = 1
	CMAPRUnsupported      CMAPRStatus = 2
	CMAPRRejected         CMAPRStatus = 3
	CMAPRRedirect         CMAPRStatus = 4
	CMAPRIsCurrent        CMAPRStatus = 5
	CMAPRInvalidQPN       CMAPRStatus = 6
	CMAPRInvalidLID       CMAPRStatus = 7
	CMAPRInvalidGID       CMAPRStatus = 8
	CMAPRInvalidFlowLabel CMAPRStatus = 9
	CMAPRInvalidTClass    CMAPRStatus = 10
	CMAPRInvalidHopLimit  CMAPRStatus = 11
	CMAPRInvalidRate      CMAPRStatus = 12
	CMAPRInvalidSL        CMAPRStatus = 13
)

// CMMAD is a whole CM MAD: the common header and the 232-byte message.
type CMMAD []byte

// IsValid reports whether m holds a whole MAD.
func (m CMMAD) IsValid() bool { return len(m) >= MADSize }

// MAD returns the common-header view.
func (m CMMAD) MAD() MAD { return MAD(m) }

// Message returns the 232-byte message after the common header.
func (m CMMAD) Message() []byte { return m[MADHeaderSize:MADSize] }

// EncodeCMMAD writes the common header of a CM message with attribute a
// and transaction ID tid into m (MADSize bytes): BaseVersion 1, class CM,
// class version 2, method Send (IBTA Vol 1 §12.6: every CM message but
// ClassPortInfo uses Send). The message area is zeroed.
func EncodeCMMAD(m []byte, a AttrID, tid uint64) {
	clear(m[:MADSize])
	MAD(m).Encode(&MADFields{BaseVersion: MADBaseVersion, MgmtClass: MgmtClassCM, ClassVersion: CMClassVersion,
		Method: MethodSend, TID: tid, AttrID: a})
}

// ParseCMMAD validates b as a CM MAD: exactly MADSize bytes, BaseVersion
// 1, class CM and class version 2. A bad version comes back as a wrapped
// *MADStatusError with the view.
func ParseCMMAD(b []byte) (CMMAD, error) {
	if err := checkMAD256("cm mad", b, MgmtClassCM); err != nil {
		if len(b) == MADSize && MAD(b).BaseVersion() != MADBaseVersion {
			return CMMAD(b), err
		}
		return nil, err
	}
	if err := checkClassVersion("cm mad", MAD(b), CMClassVersion); err != nil {
		return CMMAD(b), err
	}
	return CMMAD(b), nil
}

// cmPutPrivate copies p into the private data area dst, zero-padded.
func cmPutPrivate(dst, p []byte) {
	n := copy(dst, p)
	clear(dst[n:])
}

// cmCopy returns a copy of b.
func cmCopy(b []byte) []byte { return append([]byte(nil), b...) }

// CMPath is the path part of a REQ (IBTA Vol 1 §12.6.5), 44 bytes: the
// primary path at REQ offset 52 and the alternate at 96.
//
//	+-------------------------------+-------------------------------+
//	|         Local Port LID        |        Remote Port LID        |  0
//	+-------------------------------+-------------------------------+
//	|                     Local Port GID (128)                      |  4
//	+---------------------------------------------------------------+
//	|                     Remote Port GID (128)                     |  20
//	+---------------------------------------+-------+---+-----------+
//	|             Flow Label (20)           |  rsv  |rsv|PacketRate |  36
//	+---------------+---------------+-------+-+-----+---+-------+---+
//	| Traffic Class |   Hop Limit   |   SL  |L| rsv | ACK Tmo |S|rsv|  40
//	+---------------+---------------+-------+-+-----+---------+-+---+
//
// L is Subnet Local; S (alternate path only) is the REQ's SAP Supported
// bit.
type CMPath []byte

// CMPathSize is the size of a REQ path.
const CMPathSize = 44

// CMPathFields holds the fields of a REQ path.
type CMPathFields struct {
	LocalLID        LID
	RemoteLID       LID
	LocalGID        GID
	RemoteGID       GID
	FlowLabel       uint32 // 20 bits
	PacketRate      Rate   // 6 bits
	TrafficClass    uint8
	HopLimit        uint8
	SL              uint8 // 4 bits
	SubnetLocal     bool
	LocalACKTimeout uint8 // 5 bits
}

// LocalLID returns the Local Port LID.
func (p CMPath) LocalLID() LID { return LID(mfU16(p, 0)) }

// RemoteLID returns the Remote Port LID.
func (p CMPath) RemoteLID() LID { return LID(mfU16(p, 2)) }

// LocalGID returns the Local Port GID.
func (p CMPath) LocalGID() GID { return mfGID(p, 4) }

// RemoteGID returns the Remote Port GID.
func (p CMPath) RemoteGID() GID { return mfGID(p, 20) }

// FlowLabel returns the 20-bit Flow Label.
func (p CMPath) FlowLabel() uint32 { return mfU32(p, 36) >> 12 }

// PacketRate returns the 6-bit Packet Rate.
func (p CMPath) PacketRate() Rate { return Rate(mfGet(p[39], 0, 6)) }

// TrafficClass returns the Traffic Class.
func (p CMPath) TrafficClass() uint8 { return p[40] }

// HopLimit returns the Hop Limit.
func (p CMPath) HopLimit() uint8 { return p[41] }

// SL returns the service level.
func (p CMPath) SL() uint8 { return mfGet(p[42], 4, 4) }

// SubnetLocal returns Subnet Local.
func (p CMPath) SubnetLocal() bool { return mfBit(p[42], 3) }

// LocalACKTimeout returns the 5-bit Local ACK Timeout.
func (p CMPath) LocalACKTimeout() uint8 { return mfGet(p[43], 3, 5) }

// SetLocalLID sets the Local Port LID.
func (p CMPath) SetLocalLID(l LID) { mfPut16(p, 0, uint16(l)) }

// SetRemoteLID sets the Remote Port LID.
func (p CMPath) SetRemoteLID(l LID) { mfPut16(p, 2, uint16(l)) }

// SetLocalGID sets the Local Port GID.
func (p CMPath) SetLocalGID(g GID) { copy(p[4:20], g[:]) }

// SetRemoteGID sets the Remote Port GID.
func (p CMPath) SetRemoteGID(g GID) { copy(p[20:36], g[:]) }

// SetFlowLabel sets the 20-bit Flow Label.
func (p CMPath) SetFlowLabel(v uint32) {
	mfPut32(p, 36, mfU32(p, 36)&0xFFF|(v&0xFFFFF)<<12)
}

// SetPacketRate sets the 6-bit Packet Rate.
func (p CMPath) SetPacketRate(r Rate) { mfSet(&p[39], 0, 6, uint8(r)) }

// SetTrafficClass sets the Traffic Class.
func (p CMPath) SetTrafficClass(v uint8) { p[40] = v }

// SetHopLimit sets the Hop Limit.
func (p CMPath) SetHopLimit(v uint8) { p[41] = v }

// SetSL sets the service level.
func (p CMPath) SetSL(v uint8) { mfSet(&p[42], 4, 4, v) }

// SetSubnetLocal sets Subnet Local.
func (p CMPath) SetSubnetLocal(v bool) { mfSetBit(&p[42], 3, v) }

// SetLocalACKTimeout sets the 5-bit Local ACK Timeout.
func (p CMPath) SetLocalACKTimeout(v uint8) { mfSet(&p[43], 3, 5, v) }

// Encode writes every field of f into p; bits outside the fields (the
// alternate path's SAP Supported bit included) are cleared.
func (p CMPath) Encode(f *CMPathFields) {
	clear(p[:CMPathSize])
	p.SetLocalLID(f.LocalLID)
	p.SetRemoteLID(f.RemoteLID)
	p.SetLocalGID(f.LocalGID)
	p.SetRemoteGID(f.RemoteGID)
	p.SetFlowLabel(f.FlowLabel)
	p.SetPacketRate(f.PacketRate)
	p.SetTrafficClass(f.TrafficClass)
	p.SetHopLimit(f.HopLimit)
	p.SetSL(f.SL)
	p.SetSubnetLocal(f.SubnetLocal)
	p.SetLocalACKTimeout(f.LocalACKTimeout)
}

// Fields decodes p.
func (p CMPath) Fields() CMPathFields {
	return CMPathFields{LocalLID: p.LocalLID(), RemoteLID: p.RemoteLID(), LocalGID: p.LocalGID(), RemoteGID: p.RemoteGID(),
		FlowLabel: p.FlowLabel(), PacketRate: p.PacketRate(), TrafficClass: p.TrafficClass(), HopLimit: p.HopLimit(),
		SL: p.SL(), SubnetLocal: p.SubnetLocal(), LocalACKTimeout: p.LocalACKTimeout()}
}

// IsZero reports whether every field of the path is zero: how a REQ
// without an alternate path leaves it (the Linux CM tests the alternate
// local LID).
func (p CMPath) IsZero() bool { return p.Fields() == CMPathFields{} }

// CMREQ is the ConnectRequest message (IBTA Vol 1 §12.6.5, Table 106).
//
//	+---------------------------------------------------------------+
//	|                      Local Communication ID                   |  0
//	+---------------------------------------------------------------+
//	|                            reserved                           |  4
//	+---------------------------------------------------------------+
//	|                          ServiceID (64)                       |  8
//	+---------------------------------------------------------------+
//	|                       Local CA GUID (64)                      |  16
//	+---------------------------------------------------------------+
//	|                            reserved                           |  24
//	+---------------------------------------------------------------+
//	|                           Local Q_Key                         |  28
//	+-----------------------------------------------+---------------+
//	|                  Local QPN (24)               | Responder Res |  32
//	+-----------------------------------------------+---------------+
//	|                  Local EECN (24)              | Initiator Dep |  36
//	+-----------------------------------------------+---------+---+-+
//	|                  Remote EECN (24)             |RemCMTmo |TST|E|  40
//	+-----------------------------------------------+---------+---+-+
//	|                  Starting PSN (24)            |LocCMTmo |Retry|  44
//	+-------------------------------+-------+-+-----+-------+-+-----+
//	|           P_Key               |  MTU  |R| RNR |MaxCMRt|S| ExT |  48
//	+-------------------------------+-------+-+-----+-------+-+-----+
//	|                primary path (44 bytes, CMPath)                |  52
//	+---------------------------------------------------------------+
//	|               alternate path (44 bytes, CMPath)               |  96
//	+---------------------------------------------------------------+
//	|                      private data (92 bytes)                  |  140
//	+---------------------------------------------------------------+
//
// TST is the Transport Service Type, E End-to-End Flow Control, R RDC
// Exists, S SRQ, ExT the Extended Transport Type.
type CMREQ []byte

// CMREQFields holds every REQ field for Encode.
type CMREQFields struct {
	LocalCommID             uint32
	ServiceID               uint64
	LocalCAGUID             GUID
	LocalQKey               uint32
	LocalQPN                uint32 // 24 bits
	ResponderResources      uint8
	LocalEECN               uint32 // 24 bits
	InitiatorDepth          uint8
	RemoteEECN              uint32 // 24 bits
	RemoteCMResponseTimeout uint8  // 5 bits
	TransportServiceType    CMTransportType
	EndToEndFlowControl     bool
	StartingPSN             uint32 // 24 bits
	LocalCMResponseTimeout  uint8  // 5 bits
	RetryCount              uint8  // 3 bits
	PKey                    PKey
	PathMTU                 MTU // 4 bits
	RDCExists               bool
	RNRRetryCount           uint8 // 3 bits
	MaxCMRetries            uint8 // 4 bits
	SRQ                     bool
	ExtendedTransportType   uint8 // 3 bits
	Primary                 CMPathFields
	// Alternate is the alternate path; nil leaves it zero (none).
	Alternate    *CMPathFields
	SAPSupported bool
	PrivateData  []byte // up to CMREQPrivateDataSize
}

const (
	reqPrimary   = 52
	reqAlternate = 96
	reqPrivate   = 140
)

// IsValid reports whether r holds a whole message.
func (r CMREQ) IsValid() bool { return len(r) >= CMMessageSize }

// LocalCommID returns the Local Communication ID.
func (r CMREQ) LocalCommID() uint32 { return mfU32(r, 0) }

// ServiceID returns the ServiceID.
func (r CMREQ) ServiceID() uint64 { return mfU64(r, 8) }

// LocalCAGUID returns the Local CA GUID.
func (r CMREQ) LocalCAGUID() GUID { return GUID(mfU64(r, 16)) }

// LocalQKey returns the Local Q_Key.
func (r CMREQ) LocalQKey() uint32 { return mfU32(r, 28) }

// LocalQPN returns the Local QPN.
func (r CMREQ) LocalQPN() uint32 { return mfU24(r, 32) }

// ResponderResources returns Responder Resources.
func (r CMREQ) ResponderResources() uint8 { return r[35] }

// LocalEECN returns the Local EECN.
func (r CMREQ) LocalEECN() uint32 { return mfU24(r, 36) }

// InitiatorDepth returns Initiator Depth.
func (r CMREQ) InitiatorDepth() uint8 { return r[39] }

// RemoteEECN returns the Remote EECN.
func (r CMREQ) RemoteEECN() uint32 { return mfU24(r, 40) }

// RemoteCMResponseTimeout returns the 5-bit Remote CM Response Timeout.
func (r CMREQ) RemoteCMResponseTimeout() uint8 { return mfGet(r[43], 3, 5) }

// TransportServiceType returns the Transport Service Type.
func (r CMREQ) TransportServiceType() CMTransportType { return CMTransportType(mfGet(r[43], 1, 2)) }

// EndToEndFlowControl returns End-to-End Flow Control.
func (r CMREQ) EndToEndFlowControl() bool { return mfBit(r[43], 0) }

// StartingPSN returns the Starting PSN.
func (r CMREQ) StartingPSN() uint32 { return mfU24(r, 44) }

// LocalCMResponseTimeout returns the 5-bit Local CM Response Timeout.
func (r CMREQ) LocalCMResponseTimeout() uint8 { return mfGet(r[47], 3, 5) }

// RetryCount returns the 3-bit Retry Count.
func (r CMREQ) RetryCount() uint8 { return mfGet(r[47], 0, 3) }

// PKey returns the Partition Key.
func (r CMREQ) PKey() PKey { return PKey(mfU16(r, 48)) }

// PathMTU returns the 4-bit Path Packet Payload MTU.
func (r CMREQ) PathMTU() MTU { return MTU(mfGet(r[50], 4, 4)) }

// RDCExists returns RDC Exists.
func (r CMREQ) RDCExists() bool { return mfBit(r[50], 3) }

// RNRRetryCount returns the 3-bit RNR Retry Count.
func (r CMREQ) RNRRetryCount() uint8 { return mfGet(r[50], 0, 3) }

// MaxCMRetries returns the 4-bit Max CM Retries.
func (r CMREQ) MaxCMRetries() uint8 { return mfGet(r[51], 4, 4) }

// SRQ returns SRQ.
func (r CMREQ) SRQ() bool { return mfBit(r[51], 3) }

// ExtendedTransportType returns the 3-bit Extended Transport Type.
func (r CMREQ) ExtendedTransportType() uint8 { return mfGet(r[51], 0, 3) }

// Primary returns the primary path view.
func (r CMREQ) Primary() CMPath { return CMPath(r[reqPrimary : reqPrimary+CMPathSize]) }

// Alternate returns the alternate path view (all zero when absent).
func (r CMREQ) Alternate() CMPath { return CMPath(r[reqAlternate : reqAlternate+CMPathSize]) }

// SAPSupported returns SAP Supported (bit 2 of REQ byte 139).
func (r CMREQ) SAPSupported() bool { return mfBit(r[139], 2) }

// PrivateData returns the 92-byte private data area.
func (r CMREQ) PrivateData() []byte { return r[reqPrivate : reqPrivate+CMREQPrivateDataSize] }

// SetLocalCommID sets the Local Communication ID.
func (r CMREQ) SetLocalCommID(v uint32) { mfPut32(r, 0, v) }

// SetServiceID sets the ServiceID.
func (r CMREQ) SetServiceID(v uint64) { mfPut64(r, 8, v) }

// SetLocalCAGUID sets the Local CA GUID.
func (r CMREQ) SetLocalCAGUID(g GUID) { mfPut64(r, 16, uint64(g)) }

// SetLocalQKey sets the Local Q_Key.
func (r CMREQ) SetLocalQKey(v uint32) { mfPut32(r, 28, v) }

// SetLocalQPN sets the Local QPN.
func (r CMREQ) SetLocalQPN(v uint32) { mfPut24(r, 32, v) }

// SetResponderResources sets Responder Resources.
func (r CMREQ) SetResponderResources(v uint8) { r[35] = v }

// SetLocalEECN sets the Local EECN.
func (r CMREQ) SetLocalEECN(v uint32) { mfPut24(r, 36, v) }

// SetInitiatorDepth sets Initiator Depth.
func (r CMREQ) SetInitiatorDepth(v uint8) { r[39] = v }

// SetRemoteEECN sets the Remote EECN.
func (r CMREQ) SetRemoteEECN(v uint32) { mfPut24(r, 40, v) }

// SetRemoteCMResponseTimeout sets the Remote CM Response Timeout.
func (r CMREQ) SetRemoteCMResponseTimeout(v uint8) { mfSet(&r[43], 3, 5, v) }

// SetTransportServiceType sets the Transport Service Type.
func (r CMREQ) SetTransportServiceType(t CMTransportType) { mfSet(&r[43], 1, 2, uint8(t)) }

// SetEndToEndFlowControl sets End-to-End Flow Control.
func (r CMREQ) SetEndToEndFlowControl(v bool) { mfSetBit(&r[43], 0, v) }

// SetStartingPSN sets the Starting PSN.
func (r CMREQ) SetStartingPSN(v uint32) { mfPut24(r, 44, v) }

// SetLocalCMResponseTimeout sets the Local CM Response Timeout.
func (r CMREQ) SetLocalCMResponseTimeout(v uint8) { mfSet(&r[47], 3, 5, v) }

// SetRetryCount sets the Retry Count.
func (r CMREQ) SetRetryCount(v uint8) { mfSet(&r[47], 0, 3, v) }

// SetPKey sets the Partition Key.
func (r CMREQ) SetPKey(k PKey) { mfPut16(r, 48, uint16(k)) }

// SetPathMTU sets the Path Packet Payload MTU.
func (r CMREQ) SetPathMTU(m MTU) { mfSet(&r[50], 4, 4, uint8(m)) }

// SetRDCExists sets RDC Exists.
func (r CMREQ) SetRDCExists(v bool) { mfSetBit(&r[50], 3, v) }

// SetRNRRetryCount sets the RNR Retry Count.
func (r CMREQ) SetRNRRetryCount(v uint8) { mfSet(&r[50], 0, 3, v) }

// SetMaxCMRetries sets Max CM Retries.
func (r CMREQ) SetMaxCMRetries(v uint8) { mfSet(&r[51], 4, 4, v) }

// SetSRQ sets SRQ.
func (r CMREQ) SetSRQ(v bool) { mfSetBit(&r[51], 3, v) }

// SetExtendedTransportType sets the Extended Transport Type.
func (r CMREQ) SetExtendedTransportType(v uint8) { mfSet(&r[51], 0, 3, v) }

// SetSAPSupported sets SAP Supported.
func (r CMREQ) SetSAPSupported(v bool) { mfSetBit(&r[139], 2, v) }

// SetPrivateData copies p into the private data area, zero-padded.
func (r CMREQ) SetPrivateData(p []byte) { cmPutPrivate(r.PrivateData(), p) }

// Encode writes every field of f into r and zeroes the reserved bits.
func (r CMREQ) Encode(f *CMREQFields) {
	clear(r[:CMMessageSize])
	r.SetLocalCommID(f.LocalCommID)
	r.SetServiceID(f.ServiceID)
	r.SetLocalCAGUID(f.LocalCAGUID)
	r.SetLocalQKey(f.LocalQKey)
	r.SetLocalQPN(f.LocalQPN)
	r.SetResponderResources(f.ResponderResources)
	r.SetLocalEECN(f.LocalEECN)
	r.SetInitiatorDepth(f.InitiatorDepth)
	r.SetRemoteEECN(f.RemoteEECN)
	r.SetRemoteCMResponseTimeout(f.RemoteCMResponseTimeout)
	r.SetTransportServiceType(f.TransportServiceType)
	r.SetEndToEndFlowControl(f.EndToEndFlowControl)
	r.SetStartingPSN(f.StartingPSN)
	r.SetLocalCMResponseTimeout(f.LocalCMResponseTimeout)
	r.SetRetryCount(f.RetryCount)
	r.SetPKey(f.PKey)
	r.SetPathMTU(f.PathMTU)
	r.SetRDCExists(f.RDCExists)
	r.SetRNRRetryCount(f.RNRRetryCount)
	r.SetMaxCMRetries(f.MaxCMRetries)
	r.SetSRQ(f.SRQ)
	r.SetExtendedTransportType(f.ExtendedTransportType)
	r.Primary().Encode(&f.Primary)
	if f.Alternate != nil {
		r.Alternate().Encode(f.Alternate)
	}
	r.SetSAPSupported(f.SAPSupported)
	r.SetPrivateData(f.PrivateData)
}

// Fields decodes r. Alternate is nil when the alternate path is all zero.
func (r CMREQ) Fields() CMREQFields {
	f := CMREQFields{
		LocalCommID: r.LocalCommID(), ServiceID: r.ServiceID(), LocalCAGUID: r.LocalCAGUID(), LocalQKey: r.LocalQKey(),
		LocalQPN: r.LocalQPN(), ResponderResources: r.ResponderResources(), LocalEECN: r.LocalEECN(),
		InitiatorDepth: r.InitiatorDepth(), RemoteEECN: r.RemoteEECN(), RemoteCMResponseTimeout: r.RemoteCMResponseTimeout(),
		TransportServiceType: r.TransportServiceType(), EndToEndFlowControl: r.EndToEndFlowControl(),
		StartingPSN: r.StartingPSN(), LocalCMResponseTimeout: r.LocalCMResponseTimeout(), RetryCount: r.RetryCount(),
		PKey: r.PKey(), PathMTU: r.PathMTU(), RDCExists: r.RDCExists(), RNRRetryCount: r.RNRRetryCount(),
		MaxCMRetries: r.MaxCMRetries(), SRQ: r.SRQ(), ExtendedTransportType: r.ExtendedTransportType(),
		Primary: r.Primary().Fields(), SAPSupported: r.SAPSupported(), PrivateData: cmCopy(r.PrivateData()),
	}
	if alt := r.Alternate(); !alt.IsZero() {
		a := alt.Fields()
		f.Alternate = &a
	}
	return f
}

// ParseCMREQ returns the REQ view over the first CMMessageSize bytes of b
// (the MAD payload).
func ParseCMREQ(b []byte) (CMREQ, error) {
	if err := mfCheckLen("cm req", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMREQ(b[:CMMessageSize]), nil
}

// CMMRA is the MsgRcptAck message (IBTA Vol 1 §12.6.6, Table 107).
//
//	+---------------------------------------------------------------+
//	|                      Local Communication ID                   |  0
//	+---------------------------------------------------------------+
//	|                     Remote Communication ID                   |  4
//	+---+-----------+---------+-----+-------------------------------+
//	|Msg|  reserved | SvcTmo  | rsv |     private data (222) ...    |  8
//	+---+-----------+---------+-----+-------------------------------+
type CMMRA []byte

// CMMRAFields holds every MRA field.
type CMMRAFields struct {
	LocalCommID    uint32
	RemoteCommID   uint32
	MessageMRAed   CMMsgResponse
	ServiceTimeout uint8 // 5 bits
	PrivateData    []byte
}

const mraPrivate = 10

// IsValid reports whether m holds a whole message.
func (m CMMRA) IsValid() bool { return len(m) >= CMMessageSize }

// LocalCommID returns the Local Communication ID.
func (m CMMRA) LocalCommID() uint32 { return mfU32(m, 0) }

// RemoteCommID returns the Remote Communication ID.
func (m CMMRA) RemoteCommID() uint32 { return mfU32(m, 4) }

// MessageMRAed returns which message is acknowledged.
func (m CMMRA) MessageMRAed() CMMsgResponse { return CMMsgResponse(mfGet(m[8], 6, 2)) }

// ServiceTimeout returns the 5-bit Service Timeout.
func (m CMMRA) ServiceTimeout() uint8 { return mfGet(m[9], 3, 5) }

// PrivateData returns the 222-byte private data area.
func (m CMMRA) PrivateData() []byte { return m[mraPrivate : mraPrivate+CMMRAPrivateDataSize] }

// Encode writes every field of f into m.
func (m CMMRA) Encode(f *CMMRAFields) {
	clear(m[:CMMessageSize])
	mfPut32(m, 0, f.LocalCommID)
	mfPut32(m, 4, f.RemoteCommID)
	mfSet(&m[8], 6, 2, uint8(f.MessageMRAed))
	mfSet(&m[9], 3, 5, f.ServiceTimeout)
	cmPutPrivate(m.PrivateData(), f.PrivateData)
}

// Fields decodes m.
func (m CMMRA) Fields() CMMRAFields {
	return CMMRAFields{LocalCommID: m.LocalCommID(), RemoteCommID: m.RemoteCommID(), MessageMRAed: m.MessageMRAed(),
		ServiceTimeout: m.ServiceTimeout(), PrivateData: cmCopy(m.PrivateData())}
}

// ParseCMMRA returns the MRA view over b.
func ParseCMMRA(b []byte) (CMMRA, error) {
	if err := mfCheckLen("cm mra", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMMRA(b[:CMMessageSize]), nil
}

// CMREJ is the ConnectReject message (IBTA Vol 1 §12.6.7, Table 108).
//
//	+---------------------------------------------------------------+
//	|                      Local Communication ID                   |  0
//	+---------------------------------------------------------------+
//	|                     Remote Communication ID                   |  4
//	+---+-----------+-------------+-+-------------------------------+
//	|Msg|  reserved | RejInfoLen  |r|            Reason             |  8
//	+---+-----------+-------------+-+-------------------------------+
//	|          Additional Rejection Information (72 bytes)          |  12
//	+---------------------------------------------------------------+
//	|                     private data (148 bytes)                  |  84
//	+---------------------------------------------------------------+
type CMREJ []byte

// CMREJFields holds every REJ field. Encode sets Reject Info Length to
// len(ARI).
type CMREJFields struct {
	LocalCommID     uint32
	RemoteCommID    uint32
	MessageRejected CMMsgResponse
	Reason          CMRejectReason
	ARI             []byte // up to CMREJARISize
	PrivateData     []byte
}

const (
	rejARI     = 12
	rejPrivate = 84
)

// IsValid reports whether r holds a whole message.
func (r CMREJ) IsValid() bool { return len(r) >= CMMessageSize }

// LocalCommID returns the Local Communication ID.
func (r CMREJ) LocalCommID() uint32 { return mfU32(r, 0) }

// RemoteCommID returns the Remote Communication ID.
func (r CMREJ) RemoteCommID() uint32 { return mfU32(r, 4) }

// MessageRejected returns which message is rejected.
func (r CMREJ) MessageRejected() CMMsgResponse { return CMMsgResponse(mfGet(r[8], 6, 2)) }

// RejectInfoLength returns the 7-bit Reject Info Length.
func (r CMREJ) RejectInfoLength() uint8 { return mfGet(r[9], 1, 7) }

// Reason returns the reject reason.
func (r CMREJ) Reason() CMRejectReason { return CMRejectReason(mfU16(r, 10)) }

// ARI returns the Additional Rejection Information, cut to Reject Info
// Length (at most 72 bytes).
func (r CMREJ) ARI() []byte {
	n := min(int(r.RejectInfoLength()), CMREJARISize)
	return r[rejARI : rejARI+n]
}

// PrivateData returns the 148-byte private data area.
func (r CMREJ) PrivateData() []byte { return r[rejPrivate : rejPrivate+CMREJPrivateDataSize] }

// Encode writes every field of f into r.
func (r CMREJ) Encode(f *CMREJFields) {
	clear(r[:CMMessageSize])
	mfPut32(r, 0, f.LocalCommID)
	mfPut32(r, 4, f.RemoteCommID)
	mfSet(&r[8], 6, 2, uint8(f.MessageRejected))
	n := copy(r[rejARI:rejARI+CMREJARISize], f.ARI)
	mfSet(&r[9], 1, 7, uint8(n))
	mfPut16(r, 10, uint16(f.Reason))
	cmPutPrivate(r.PrivateData(), f.PrivateData)
}

// Fields decodes r.
func (r CMREJ) Fields() CMREJFields {
	return CMREJFields{LocalCommID: r.LocalCommID(), RemoteCommID: r.RemoteCommID(), MessageRejected: r.MessageRejected(),
		Reason: r.Reason(), ARI: cmCopy(r.ARI()), PrivateData: cmCopy(r.PrivateData())}
}

// ParseCMREJ returns the REJ view over b.
func ParseCMREJ(b []byte) (CMREJ, error) {
	if err := mfCheckLen("cm rej", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMREJ(b[:CMMessageSize]), nil
}

// CMREP is the ConnectReply message (IBTA Vol 1 §12.6.8, Table 110).
//
//	+---------------------------------------------------------------+
//	|                      Local Communication ID                   |  0
//	+---------------------------------------------------------------+
//	|                     Remote Communication ID                   |  4
//	+---------------------------------------------------------------+
//	|                           Local Q_Key                         |  8
//	+-----------------------------------------------+---------------+
//	|                  Local QPN (24)               |   reserved    |  12
//	+-----------------------------------------------+---------------+
//	|                  Local EECN (24)              |   reserved    |  16
//	+-----------------------------------------------+---------------+
//	|                  Starting PSN (24)            |   reserved    |  20
//	+---------------+---------------+---------+---+-+-----+-+-------+
//	| Responder Res | Initiator Dep |TgtAckDly|FoA|E| RNR |S|  rsv  |  24
//	+---------------+---------------+---------+---+-+-----+-+-------+
//	|                       Local CA GUID (64)                      |  28
//	+---------------------------------------------------------------+
//	|                     private data (196 bytes)                  |  36
//	+---------------------------------------------------------------+
type CMREP []byte

// CMREPFields holds every REP field.
type CMREPFields struct {
	LocalCommID         uint32
	RemoteCommID        uint32
	LocalQKey           uint32
	LocalQPN            uint32 // 24 bits
	LocalEECN           uint32 // 24 bits
	StartingPSN         uint32 // 24 bits
	ResponderResources  uint8
	InitiatorDepth      uint8
	TargetACKDelay      uint8 // 5 bits
	FailoverAccepted    uint8 // 2 bits
	EndToEndFlowControl bool
	RNRRetryCount       uint8 // 3 bits
	SRQ                 bool
	LocalCAGUID         GUID
	PrivateData         []byte
}

const repPrivate = 36

// IsValid reports whether r holds a whole message.
func (r CMREP) IsValid() bool { return len(r) >= CMMessageSize }

// LocalCommID returns the Local Communication ID.
func (r CMREP) LocalCommID() uint32 { return mfU32(r, 0) }

// RemoteCommID returns the Remote Communication ID.
func (r CMREP) RemoteCommID() uint32 { return mfU32(r, 4) }

// LocalQKey returns the Local Q_Key.
func (r CMREP) LocalQKey() uint32 { return mfU32(r, 8) }

// LocalQPN returns the Local QPN.
func (r CMREP) LocalQPN() uint32 { return mfU24(r, 12) }

// LocalEECN returns the Local EE Context Number.
func (r CMREP) LocalEECN() uint32 { return mfU24(r, 16) }

// StartingPSN returns the Starting PSN.
func (r CMREP) StartingPSN() uint32 { return mfU24(r, 20) }

// ResponderResources returns Responder Resources.
func (r CMREP) ResponderResources() uint8 { return r[24] }

// InitiatorDepth returns Initiator Depth.
func (r CMREP) InitiatorDepth() uint8 { return r[25] }

// TargetACKDelay returns the 5-bit Target ACK Delay.
func (r CMREP) TargetACKDelay() uint8 { return mfGet(r[26], 3, 5) }

// FailoverAccepted returns the 2-bit Failover Accepted.
func (r CMREP) FailoverAccepted() uint8 { return mfGet(r[26], 1, 2) }

// EndToEndFlowControl returns End-to-End Flow Control.
func (r CMREP) EndToEndFlowControl() bool { return mfBit(r[26], 0) }

// RNRRetryCount returns the 3-bit RNR Retry Count.
func (r CMREP) RNRRetryCount() uint8 { return mfGet(r[27], 5, 3) }

// SRQ returns SRQ.
func (r CMREP) SRQ() bool { return mfBit(r[27], 4) }

// LocalCAGUID returns the Local CA GUID.
func (r CMREP) LocalCAGUID() GUID { return GUID(mfU64(r, 28)) }

// PrivateData returns the 196-byte private data area.
func (r CMREP) PrivateData() []byte { return r[repPrivate : repPrivate+CMREPPrivateDataSize] }

// Encode writes every field of f into r.
func (r CMREP) Encode(f *CMREPFields) {
	clear(r[:CMMessageSize])
	mfPut32(r, 0, f.LocalCommID)
	mfPut32(r, 4, f.RemoteCommID)
	mfPut32(r, 8, f.LocalQKey)
	mfPut24(r, 12, f.LocalQPN)
	mfPut24(r, 16, f.LocalEECN)
	mfPut24(r, 20, f.StartingPSN)
	r[24] = f.ResponderResources
	r[25] = f.InitiatorDepth
	mfSet(&r[26], 3, 5, f.TargetACKDelay)
	mfSet(&r[26], 1, 2, f.FailoverAccepted)
	mfSetBit(&r[26], 0, f.EndToEndFlowControl)
	mfSet(&r[27], 5, 3, f.RNRRetryCount)
	mfSetBit(&r[27], 4, f.SRQ)
	mfPut64(r, 28, uint64(f.LocalCAGUID))
	cmPutPrivate(r.PrivateData(), f.PrivateData)
}

// Fields decodes r.
func (r CMREP) Fields() CMREPFields {
	return CMREPFields{LocalCommID: r.LocalCommID(), RemoteCommID: r.RemoteCommID(), LocalQKey: r.LocalQKey(),
		LocalQPN: r.LocalQPN(), LocalEECN: r.LocalEECN(), StartingPSN: r.StartingPSN(),
		ResponderResources: r.ResponderResources(), InitiatorDepth: r.InitiatorDepth(), TargetACKDelay: r.TargetACKDelay(),
		FailoverAccepted: r.FailoverAccepted(), EndToEndFlowControl: r.EndToEndFlowControl(),
		RNRRetryCount: r.RNRRetryCount(), SRQ: r.SRQ(), LocalCAGUID: r.LocalCAGUID(), PrivateData: cmCopy(r.PrivateData())}
}

// ParseCMREP returns the REP view over b.
func ParseCMREP(b []byte) (CMREP, error) {
	if err := mfCheckLen("cm rep", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMREP(b[:CMMessageSize]), nil
}

// CMCommIDs is the common head of RTU, DREP and (with the remote QPN)
// DREQ: Local and Remote Communication ID (IBTA Vol 1 §12.6.9-§12.6.11).
type CMCommIDs struct {
	LocalCommID  uint32
	RemoteCommID uint32
}

// CMRTU is the ReadyToUse message (IBTA Vol 1 §12.6.9, Table 111): Local
// Communication ID at 0, Remote at 4, 224 bytes of private data at 8.
type CMRTU []byte

// CMRTUFields holds every RTU field.
type CMRTUFields struct {
	CMCommIDs
	PrivateData []byte
}

// IsValid reports whether r holds a whole message.
func (r CMRTU) IsValid() bool { return len(r) >= CMMessageSize }

// LocalCommID returns the Local Communication ID.
func (r CMRTU) LocalCommID() uint32 { return mfU32(r, 0) }

// RemoteCommID returns the Remote Communication ID.
func (r CMRTU) RemoteCommID() uint32 { return mfU32(r, 4) }

// PrivateData returns the 224-byte private data area.
func (r CMRTU) PrivateData() []byte { return r[8 : 8+CMRTUPrivateDataSize] }

// Encode writes every field of f into r.
func (r CMRTU) Encode(f *CMRTUFields) {
	clear(r[:CMMessageSize])
	mfPut32(r, 0, f.LocalCommID)
	mfPut32(r, 4, f.RemoteCommID)
	cmPutPrivate(r.PrivateData(), f.PrivateData)
}

// Fields decodes r.
func (r CMRTU) Fields() CMRTUFields {
	return CMRTUFields{CMCommIDs{r.LocalCommID(), r.RemoteCommID()}, cmCopy(r.PrivateData())}
}

// ParseCMRTU returns the RTU view over b.
func ParseCMRTU(b []byte) (CMRTU, error) {
	if err := mfCheckLen("cm rtu", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMRTU(b[:CMMessageSize]), nil
}

// CMDREQ is the DisconnectRequest message (IBTA Vol 1 §12.6.10, Table
// 112): Local Communication ID at 0, Remote at 4, Remote QPN/EECN (24
// bits) at 8, 220 bytes of private data at 12.
type CMDREQ []byte

// CMDREQFields holds every DREQ field.
type CMDREQFields struct {
	CMCommIDs
	RemoteQPN   uint32 // 24 bits: the QPN (or EECN) of the receiver
	PrivateData []byte
}

// IsValid reports whether d holds a whole message.
func (d CMDREQ) IsValid() bool { return len(d) >= CMMessageSize }

// LocalCommID returns the Local Communication ID.
func (d CMDREQ) LocalCommID() uint32 { return mfU32(d, 0) }

// RemoteCommID returns the Remote Communication ID.
func (d CMDREQ) RemoteCommID() uint32 { return mfU32(d, 4) }

// RemoteQPN returns the Remote QPN/EECN.
func (d CMDREQ) RemoteQPN() uint32 { return mfU24(d, 8) }

// PrivateData returns the 220-byte private data area.
func (d CMDREQ) PrivateData() []byte { return d[12 : 12+CMDREQPrivateDataSize] }

// Encode writes every field of f into d.
func (d CMDREQ) Encode(f *CMDREQFields) {
	clear(d[:CMMessageSize])
	mfPut32(d, 0, f.LocalCommID)
	mfPut32(d, 4, f.RemoteCommID)
	mfPut24(d, 8, f.RemoteQPN)
	cmPutPrivate(d.PrivateData(), f.PrivateData)
}

// Fields decodes d.
func (d CMDREQ) Fields() CMDREQFields {
	return CMDREQFields{CMCommIDs{d.LocalCommID(), d.RemoteCommID()}, d.RemoteQPN(), cmCopy(d.PrivateData())}
}

// ParseCMDREQ returns the DREQ view over b.
func ParseCMDREQ(b []byte) (CMDREQ, error) {
	if err := mfCheckLen("cm dreq", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMDREQ(b[:CMMessageSize]), nil
}

// CMDREP is the DisconnectReply message (IBTA Vol 1 §12.6.11, Table
// 113): Local Communication ID at 0, Remote at 4, 224 bytes of private
// data at 8.
type CMDREP []byte

// CMDREPFields holds every DREP field.
type CMDREPFields struct {
	CMCommIDs
	PrivateData []byte
}

// IsValid reports whether d holds a whole message.
func (d CMDREP) IsValid() bool { return len(d) >= CMMessageSize }

// LocalCommID returns the Local Communication ID.
func (d CMDREP) LocalCommID() uint32 { return mfU32(d, 0) }

// RemoteCommID returns the Remote Communication ID.
func (d CMDREP) RemoteCommID() uint32 { return mfU32(d, 4) }

// PrivateData returns the 224-byte private data area.
func (d CMDREP) PrivateData() []byte { return d[8 : 8+CMDREPPrivateDataSize] }

// Encode writes every field of f into d.
func (d CMDREP) Encode(f *CMDREPFields) {
	clear(d[:CMMessageSize])
	mfPut32(d, 0, f.LocalCommID)
	mfPut32(d, 4, f.RemoteCommID)
	cmPutPrivate(d.PrivateData(), f.PrivateData)
}

// Fields decodes d.
func (d CMDREP) Fields() CMDREPFields {
	return CMDREPFields{CMCommIDs{d.LocalCommID(), d.RemoteCommID()}, cmCopy(d.PrivateData())}
}

// ParseCMDREP returns the DREP view over b.
func ParseCMDREP(b []byte) (CMDREP, error) {
	if err := mfCheckLen("cm drep", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMDREP(b[:CMMessageSize]), nil
}

// CMSIDRREQ is the ServiceIDResReq message (IBTA Vol 1 §12.11.1, Table
// 119).
//
//	+---------------------------------------------------------------+
//	|                            Request ID                         |  0
//	+-------------------------------+-------------------------------+
//	|             P_Key             |            reserved           |  4
//	+-------------------------------+-------------------------------+
//	|                          ServiceID (64)                       |  8
//	+---------------------------------------------------------------+
//	|                     private data (216 bytes)                  |  16
//	+---------------------------------------------------------------+
type CMSIDRREQ []byte

// CMSIDRREQFields holds every SIDR_REQ field.
type CMSIDRREQFields struct {
	RequestID   uint32
	PKey        PKey
	ServiceID   uint64
	PrivateData []byte
}

// IsValid reports whether s holds a whole message.
func (s CMSIDRREQ) IsValid() bool { return len(s) >= CMMessageSize }

// RequestID returns the Request ID.
func (s CMSIDRREQ) RequestID() uint32 { return mfU32(s, 0) }

// PKey returns the Partition Key.
func (s CMSIDRREQ) PKey() PKey { return PKey(mfU16(s, 4)) }

// ServiceID returns the ServiceID.
func (s CMSIDRREQ) ServiceID() uint64 { return mfU64(s, 8) }

// PrivateData returns the 216-byte private data area.
func (s CMSIDRREQ) PrivateData() []byte { return s[16 : 16+CMSIDRREQPrivateDataSize] }

// Encode writes every field of f into s.
func (s CMSIDRREQ) Encode(f *CMSIDRREQFields) {
	clear(s[:CMMessageSize])
	mfPut32(s, 0, f.RequestID)
	mfPut16(s, 4, uint16(f.PKey))
	mfPut64(s, 8, f.ServiceID)
	cmPutPrivate(s.PrivateData(), f.PrivateData)
}

// Fields decodes s.
func (s CMSIDRREQ) Fields() CMSIDRREQFields {
	return CMSIDRREQFields{RequestID: s.RequestID(), PKey: s.PKey(), ServiceID: s.ServiceID(), PrivateData: cmCopy(s.PrivateData())}
}

// ParseCMSIDRREQ returns the SIDR_REQ view over b.
func ParseCMSIDRREQ(b []byte) (CMSIDRREQ, error) {
	if err := mfCheckLen("cm sidr_req", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMSIDRREQ(b[:CMMessageSize]), nil
}

// CMSIDRREP is the ServiceIDResReqResp message (IBTA Vol 1 §12.11.2,
// Table 120).
//
//	+---------------------------------------------------------------+
//	|                            Request ID                         |  0
//	+---------------+---------------+-------------------------------+
//	|     Status    | AddInfoLength |            reserved           |  4
//	+---------------+---------------+---------------+---------------+
//	|                     QPN (24)                  |   reserved    |  8
//	+-----------------------------------------------+---------------+
//	|                          ServiceID (64)                       |  12
//	+---------------------------------------------------------------+
//	|                              Q_Key                            |  20
//	+---------------------------------------------------------------+
//	|     ClassPortInfo / additional information (72 bytes)         |  24
//	+---------------------------------------------------------------+
//	|                     private data (136 bytes)                  |  96
//	+---------------------------------------------------------------+
type CMSIDRREP []byte

// CMSIDRREPFields holds every SIDR_REP field. Encode sets Additional
// Information Length to len(AdditionalInfo).
type CMSIDRREPFields struct {
	RequestID      uint32
	Status         CMSIDRStatus
	QPN            uint32 // 24 bits
	ServiceID      uint64
	QKey           uint32
	AdditionalInfo []byte // up to CMAdditionalInfoSize
	PrivateData    []byte
}

// IsValid reports whether s holds a whole message.
func (s CMSIDRREP) IsValid() bool { return len(s) >= CMMessageSize }

// RequestID returns the Request ID.
func (s CMSIDRREP) RequestID() uint32 { return mfU32(s, 0) }

// Status returns the Status.
func (s CMSIDRREP) Status() CMSIDRStatus { return CMSIDRStatus(s[4]) }

// AdditionalInfoLength returns the Additional Information Length.
func (s CMSIDRREP) AdditionalInfoLength() uint8 { return s[5] }

// QPN returns the QPN.
func (s CMSIDRREP) QPN() uint32 { return mfU24(s, 8) }

// ServiceID returns the ServiceID.
func (s CMSIDRREP) ServiceID() uint64 { return mfU64(s, 12) }

// QKey returns the Q_Key.
func (s CMSIDRREP) QKey() uint32 { return mfU32(s, 20) }

// AdditionalInfo returns the additional information, cut to its length
// (at most 72 bytes).
func (s CMSIDRREP) AdditionalInfo() []byte {
	return s[24 : 24+min(int(s.AdditionalInfoLength()), CMAdditionalInfoSize)]
}

// PrivateData returns the 136-byte private data area.
func (s CMSIDRREP) PrivateData() []byte { return s[96 : 96+CMSIDRREPPrivateDataSize] }

// Encode writes every field of f into s.
func (s CMSIDRREP) Encode(f *CMSIDRREPFields) {
	clear(s[:CMMessageSize])
	mfPut32(s, 0, f.RequestID)
	s[4] = uint8(f.Status)
	s[5] = uint8(copy(s[24:24+CMAdditionalInfoSize], f.AdditionalInfo))
	mfPut24(s, 8, f.QPN)
	mfPut64(s, 12, f.ServiceID)
	mfPut32(s, 20, f.QKey)
	cmPutPrivate(s.PrivateData(), f.PrivateData)
}

// Fields decodes s.
func (s CMSIDRREP) Fields() CMSIDRREPFields {
	return CMSIDRREPFields{RequestID: s.RequestID(), Status: s.Status(), QPN: s.QPN(), ServiceID: s.ServiceID(),
		QKey: s.QKey(), AdditionalInfo: cmCopy(s.AdditionalInfo()), PrivateData: cmCopy(s.PrivateData())}
}

// ParseCMSIDRREP returns the SIDR_REP view over b.
func ParseCMSIDRREP(b []byte) (CMSIDRREP, error) {
	if err := mfCheckLen("cm sidr_rep", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMSIDRREP(b[:CMMessageSize]), nil
}

// CMLAP is the LoadAlternatePath message (IBTA Vol 1 §12.8.1, Table 115).
//
//	+---------------------------------------------------------------+
//	|                      Local Communication ID                   |  0
//	+---------------------------------------------------------------+
//	|                     Remote Communication ID                   |  4
//	+---------------------------------------------------------------+
//	|                            reserved                           |  8
//	+-----------------------------------------------+---------+-----+
//	|              Remote QPN/EECN (24)             |RemCMTmo | rsv |  12
//	+-----------------------------------------------+---------+-----+
//	|                            reserved                           |  16
//	+-------------------------------+-------------------------------+
//	|     Alternate Local Port LID  |    Alternate Remote Port LID  |  20
//	+-------------------------------+-------------------------------+
//	|                 Alternate Local Port GID (128)                |  24
//	+---------------------------------------------------------------+
//	|                Alternate Remote Port GID (128)                |  40
//	+---------------------------------------+-------+---------------+
//	|         Alternate Flow Label (20)     |  rsv  | Traffic Class |  56
//	+---------------+---+-----------+-------+-+-----+---------+-----+
//	|   Hop Limit   |rsv|PacketRate |  SL   |L| rsv | ACK Tmo | rsv |  60
//	+---------------+---+-----------+-------+-+-----+---------+-----+
//	|                     private data (168 bytes)                  |  64
//	+---------------------------------------------------------------+
type CMLAP []byte

// CMLAPFields holds every LAP field. The alternate path uses the REQ
// path's field set.
type CMLAPFields struct {
	CMCommIDs
	RemoteQPN               uint32 // 24 bits
	RemoteCMResponseTimeout uint8  // 5 bits
	Alternate               CMPathFields
	PrivateData             []byte
}

// IsValid reports whether l holds a whole message.
func (l CMLAP) IsValid() bool { return len(l) >= CMMessageSize }

// LocalCommID returns the Local Communication ID.
func (l CMLAP) LocalCommID() uint32 { return mfU32(l, 0) }

// RemoteCommID returns the Remote Communication ID.
func (l CMLAP) RemoteCommID() uint32 { return mfU32(l, 4) }

// RemoteQPN returns the Remote QPN/EECN.
func (l CMLAP) RemoteQPN() uint32 { return mfU24(l, 12) }

// RemoteCMResponseTimeout returns the 5-bit Remote CM Response Timeout.
func (l CMLAP) RemoteCMResponseTimeout() uint8 { return mfGet(l[15], 3, 5) }

// Alternate decodes the alternate path.
func (l CMLAP) Alternate() CMPathFields {
	return CMPathFields{LocalLID: LID(mfU16(l, 20)), RemoteLID: LID(mfU16(l, 22)), LocalGID: mfGID(l, 24),
		RemoteGID: mfGID(l, 40), FlowLabel: mfU32(l, 56) >> 12, TrafficClass: l[59], HopLimit: l[60],
		PacketRate: Rate(mfGet(l[61], 0, 6)), SL: mfGet(l[62], 4, 4), SubnetLocal: mfBit(l[62], 3),
		LocalACKTimeout: mfGet(l[63], 3, 5)}
}

// PrivateData returns the 168-byte private data area.
func (l CMLAP) PrivateData() []byte { return l[64 : 64+CMLAPPrivateDataSize] }

// Encode writes every field of f into l.
func (l CMLAP) Encode(f *CMLAPFields) {
	clear(l[:CMMessageSize])
	mfPut32(l, 0, f.LocalCommID)
	mfPut32(l, 4, f.RemoteCommID)
	mfPut24(l, 12, f.RemoteQPN)
	mfSet(&l[15], 3, 5, f.RemoteCMResponseTimeout)
	a := &f.Alternate
	mfPut16(l, 20, uint16(a.LocalLID))
	mfPut16(l, 22, uint16(a.RemoteLID))
	copy(l[24:40], a.LocalGID[:])
	copy(l[40:56], a.RemoteGID[:])
	mfPut32(l, 56, (a.FlowLabel&0xFFFFF)<<12)
	l[59] = a.TrafficClass
	l[60] = a.HopLimit
	mfSet(&l[61], 0, 6, uint8(a.PacketRate))
	mfSet(&l[62], 4, 4, a.SL)
	mfSetBit(&l[62], 3, a.SubnetLocal)
	mfSet(&l[63], 3, 5, a.LocalACKTimeout)
	cmPutPrivate(l.PrivateData(), f.PrivateData)
}

// Fields decodes l.
func (l CMLAP) Fields() CMLAPFields {
	return CMLAPFields{CMCommIDs: CMCommIDs{l.LocalCommID(), l.RemoteCommID()}, RemoteQPN: l.RemoteQPN(),
		RemoteCMResponseTimeout: l.RemoteCMResponseTimeout(), Alternate: l.Alternate(), PrivateData: cmCopy(l.PrivateData())}
}

// ParseCMLAP returns the LAP view over b.
func ParseCMLAP(b []byte) (CMLAP, error) {
	if err := mfCheckLen("cm lap", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMLAP(b[:CMMessageSize]), nil
}

// CMAPR is the AlternatePathResponse message (IBTA Vol 1 §12.8.2, Table
// 116): Local Communication ID at 0, Remote at 4, Additional Info Length
// at 8, AP Status at 9, additional information (72 bytes) at 12, private
// data (148 bytes) at 84.
type CMAPR []byte

// CMAPRFields holds every APR field. Encode sets Additional Info Length
// to len(AdditionalInfo).
type CMAPRFields struct {
	CMCommIDs
	Status         CMAPRStatus
	AdditionalInfo []byte
	PrivateData    []byte
}

// IsValid reports whether a holds a whole message.
func (a CMAPR) IsValid() bool { return len(a) >= CMMessageSize }

// LocalCommID returns the Local Communication ID.
func (a CMAPR) LocalCommID() uint32 { return mfU32(a, 0) }

// RemoteCommID returns the Remote Communication ID.
func (a CMAPR) RemoteCommID() uint32 { return mfU32(a, 4) }

// AdditionalInfoLength returns the Additional Info Length.
func (a CMAPR) AdditionalInfoLength() uint8 { return a[8] }

// Status returns the AP Status.
func (a CMAPR) Status() CMAPRStatus { return CMAPRStatus(a[9]) }

// AdditionalInfo returns the additional information, cut to its length.
func (a CMAPR) AdditionalInfo() []byte {
	return a[12 : 12+min(int(a.AdditionalInfoLength()), CMAdditionalInfoSize)]
}

// PrivateData returns the 148-byte private data area.
func (a CMAPR) PrivateData() []byte { return a[84 : 84+CMAPRPrivateDataSize] }

// Encode writes every field of f into a.
func (a CMAPR) Encode(f *CMAPRFields) {
	clear(a[:CMMessageSize])
	mfPut32(a, 0, f.LocalCommID)
	mfPut32(a, 4, f.RemoteCommID)
	a[8] = uint8(copy(a[12:12+CMAdditionalInfoSize], f.AdditionalInfo))
	a[9] = uint8(f.Status)
	cmPutPrivate(a.PrivateData(), f.PrivateData)
}

// Fields decodes a.
func (a CMAPR) Fields() CMAPRFields {
	return CMAPRFields{CMCommIDs: CMCommIDs{a.LocalCommID(), a.RemoteCommID()}, Status: a.Status(),
		AdditionalInfo: cmCopy(a.AdditionalInfo()), PrivateData: cmCopy(a.PrivateData())}
}

// ParseCMAPR returns the APR view over b.
func ParseCMAPR(b []byte) (CMAPR, error) {
	if err := mfCheckLen("cm apr", b, CMMessageSize); err != nil {
		return nil, err
	}
	return CMAPR(b[:CMMessageSize]), nil
}
