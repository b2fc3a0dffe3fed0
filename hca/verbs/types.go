package verbs

import (
	"fmt"

	"github.com/ibemu/ibemu/emu/wire"
)

// QPType is the transport service of a queue pair (ibv_qp_type values).
type QPType uint8

// QP types (IBTA Vol 1 §9.8.1).
const (
	QPTypeRC QPType = 2 // reliable connection
	QPTypeUC QPType = 3 // unreliable connection
	QPTypeUD QPType = 4 // unreliable datagram
)

func (t QPType) String() string {
	switch t {
	case QPTypeRC:
		return "RC"
	case QPTypeUC:
		return "UC"
	case QPTypeUD:
		return "UD"
	}
	return fmt.Sprintf("QPType(%d)", uint8(t))
}

// QPState is a queue pair state (IBTA Vol 1 §10.3.1; ibv_qp_state values).
type QPState uint8

// QP states.
const (
	QPStateReset QPState = 0
	QPStateInit  QPState = 1
	QPStateRTR   QPState = 2 // ready to receive
	QPStateRTS   QPState = 3 // ready to send
	QPStateSQD   QPState = 4 // send queue drained
	QPStateSQE   QPState = 5 // send queue error
	QPStateError QPState = 6
)

var stateNames = [...]string{"RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR"}

func (s QPState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("QPState(%d)", uint8(s))
}

// Access is a set of memory region and QP access flags (ibv_access_flags).
type Access uint32

// Access flags (IBTA Vol 1 §10.6.3.1, §11.2.8).
const (
	AccessLocalWrite   Access = 1
	AccessRemoteWrite  Access = 2
	AccessRemoteRead   Access = 4
	AccessRemoteAtomic Access = 8
	AccessMWBind       Access = 16

	accessValid = AccessLocalWrite | AccessRemoteWrite | AccessRemoteRead | AccessRemoteAtomic | AccessMWBind
)

// WROpcode is the operation of a send work request (ibv_wr_opcode).
type WROpcode uint8

// Send work request opcodes (IBTA Vol 1 §11.4.1.1).
const (
	WRRDMAWrite         WROpcode = 0
	WRRDMAWriteImm      WROpcode = 1
	WRSend              WROpcode = 2
	WRSendImm           WROpcode = 3
	WRRDMARead          WROpcode = 4
	WRAtomicCmpAndSwp   WROpcode = 5
	WRAtomicFetchAndAdd WROpcode = 6
)

var wrNames = [...]string{"RDMA_WRITE", "RDMA_WRITE_WITH_IMM", "SEND", "SEND_WITH_IMM", "RDMA_READ", "ATOMIC_CMP_AND_SWP", "ATOMIC_FETCH_AND_ADD"}

func (o WROpcode) String() string {
	if int(o) < len(wrNames) {
		return wrNames[o]
	}
	return fmt.Sprintf("WROpcode(%d)", uint8(o))
}

func (o WROpcode) isAtomic() bool { return o == WRAtomicCmpAndSwp || o == WRAtomicFetchAndAdd }
func (o WROpcode) hasImm() bool   { return o == WRRDMAWriteImm || o == WRSendImm }
func (o WROpcode) isSend() bool   { return o == WRSend || o == WRSendImm }
func (o WROpcode) isWrite() bool  { return o == WRRDMAWrite || o == WRRDMAWriteImm }

// SendFlags modify a send work request (ibv_send_flags).
type SendFlags uint32

// Send flags.
const (
	SendFence     SendFlags = 1
	SendSignaled  SendFlags = 2
	SendSolicited SendFlags = 4
	SendInline    SendFlags = 8
)

// WCStatus is a work completion status (ibv_wc_status; IBTA Vol 1
// §11.4.2.1).
type WCStatus uint8

// Completion statuses.
const (
	WCSuccess        WCStatus = 0
	WCLocLenErr      WCStatus = 1
	WCLocQPOpErr     WCStatus = 2
	WCLocEECOpErr    WCStatus = 3
	WCLocProtErr     WCStatus = 4
	WCWRFlushErr     WCStatus = 5
	WCMWBindErr      WCStatus = 6
	WCBadRespErr     WCStatus = 7
	WCLocAccessErr   WCStatus = 8
	WCRemInvReqErr   WCStatus = 9
	WCRemAccessErr   WCStatus = 10
	WCRemOpErr       WCStatus = 11
	WCRetryExcErr    WCStatus = 12
	WCRNRRetryExcErr WCStatus = 13
	WCLocRDDViolErr  WCStatus = 14
	WCRemInvRDReqErr WCStatus = 15
	WCRemAbortErr    WCStatus = 16
	WCInvEECNErr     WCStatus = 17
	WCInvEECStateErr WCStatus = 18
	WCFatalErr       WCStatus = 19
	WCRespTimeoutErr WCStatus = 20
	WCGeneralErr     WCStatus = 21
)

// wcNames are ibv_wc_status_str's strings.
var wcNames = [...]string{
	"success", "local length error", "local QP operation error", "local EE context operation error",
	"local protection error", "Work Request Flushed Error", "memory management operation error",
	"bad response error", "local access error", "remote invalid request error", "remote access error",
	"remote operation error", "transport retry counter exceeded", "RNR retry counter exceeded",
	"local RDD violation error", "remote invalid RD request", "aborted error", "invalid EE context number",
	"invalid EE context state", "fatal error", "response timeout error", "general error",
}

func (s WCStatus) String() string {
	if int(s) < len(wcNames) {
		return wcNames[s]
	}
	return fmt.Sprintf("WCStatus(%d)", uint8(s))
}

// WCOpcode is the operation a work completion reports (ibv_wc_opcode).
type WCOpcode uint8

// Completion opcodes.
const (
	WCSend        WCOpcode = 0
	WCRDMAWrite   WCOpcode = 1
	WCRDMARead    WCOpcode = 2
	WCCompSwap    WCOpcode = 3
	WCFetchAdd    WCOpcode = 4
	WCBindMW      WCOpcode = 5
	WCRecv        WCOpcode = 128
	WCRecvRDMAImm WCOpcode = 129
)

// WCFlags are work completion flags (ibv_wc_flags).
type WCFlags uint8

// Completion flags.
const (
	WCFlagGRH     WCFlags = 1 // the first 40 bytes of the buffer hold a GRH
	WCFlagWithImm WCFlags = 2 // Imm is valid
)

// AttrMask selects QP attributes in Modify and Query (ibv_qp_attr_mask).
type AttrMask uint32

// QP attribute mask bits (IBTA Vol 1 §11.2.5.2).
const (
	AttrState            AttrMask = 1 << 0
	AttrCurState         AttrMask = 1 << 1
	AttrEnSQDAsyncNotify AttrMask = 1 << 2
	AttrAccessFlags      AttrMask = 1 << 3
	AttrPKeyIndex        AttrMask = 1 << 4
	AttrPort             AttrMask = 1 << 5
	AttrQKey             AttrMask = 1 << 6
	AttrAV               AttrMask = 1 << 7
	AttrPathMTU          AttrMask = 1 << 8
	AttrTimeout          AttrMask = 1 << 9
	AttrRetryCnt         AttrMask = 1 << 10
	AttrRNRRetry         AttrMask = 1 << 11
	AttrRQPSN            AttrMask = 1 << 12
	AttrMaxQPRdAtomic    AttrMask = 1 << 13
	AttrAltPath          AttrMask = 1 << 14
	AttrMinRNRTimer      AttrMask = 1 << 15
	AttrSQPSN            AttrMask = 1 << 16
	AttrMaxDestRdAtomic  AttrMask = 1 << 17
	AttrPathMigState     AttrMask = 1 << 18
	AttrCap              AttrMask = 1 << 19
	AttrDestQPN          AttrMask = 1 << 20
)

// SGE is a scatter/gather element: Length bytes at virtual address Addr of
// the memory region with local key LKey (ibv_sge).
type SGE struct {
	Addr   uint64
	Length uint32
	LKey   uint32
}

// SendWR is a send work request (ibv_send_wr).
type SendWR struct {
	WRID   uint64
	SGL    []SGE
	Opcode WROpcode
	Flags  SendFlags
	// Imm is the immediate data of SEND and RDMA WRITE with immediate, in
	// network byte order as it goes on the wire.
	Imm uint32
	// RemoteAddr and RKey address the remote buffer of RDMA and atomic
	// operations.
	RemoteAddr uint64
	RKey       uint32
	// CompareAdd is the compare value of CMP_AND_SWP or the addend of
	// FETCH_AND_ADD; Swap is the swap value of CMP_AND_SWP.
	CompareAdd uint64
	Swap       uint64
	// AH, RemoteQPN and RemoteQKey address a UD destination. A RemoteQKey
	// with the high bit set means "use the QP's own Q_Key" (IBTA Vol 1
	// §10.2.5).
	AH         *AH
	RemoteQPN  uint32
	RemoteQKey uint32
}

// RecvWR is a receive work request (ibv_recv_wr).
type RecvWR struct {
	WRID uint64
	SGL  []SGE
}

// WC is a work completion (ibv_wc).
type WC struct {
	WRID         uint64
	Status       WCStatus
	Opcode       WCOpcode
	VendorErr    uint32
	ByteLen      uint32
	Imm          uint32 // valid when Flags has WCFlagWithImm
	QPNum        uint32
	SrcQP        uint32
	Flags        WCFlags
	PKeyIndex    uint16
	SLID         wire.LID
	SL           uint8
	DLIDPathBits uint8
}

// GlobalRoute is the GRH part of an address vector (ibv_global_route).
type GlobalRoute struct {
	DGID         wire.GID
	FlowLabel    uint32
	SGIDIndex    uint8
	HopLimit     uint8
	TrafficClass uint8
}

// AHAttr is an address vector (ibv_ah_attr; IBTA Vol 1 §11.2.2.1).
type AHAttr struct {
	GRH         GlobalRoute
	DLID        wire.LID
	SL          uint8
	SrcPathBits uint8
	StaticRate  uint8
	IsGlobal    bool
	PortNum     uint8
}

// QPCap are a QP's queue sizes (ibv_qp_cap).
type QPCap struct {
	MaxSendWR     uint32
	MaxRecvWR     uint32
	MaxSendSGE    uint32
	MaxRecvSGE    uint32
	MaxInlineData uint32
}

// QPInitAttr are the attributes a QP is created with (ibv_qp_init_attr).
type QPInitAttr struct {
	SendCQ   *CQ
	RecvCQ   *CQ
	SRQ      *SRQ
	Cap      QPCap
	QPType   QPType
	SQSigAll bool
}

// QPAttr are a QP's modifiable attributes (ibv_qp_attr).
type QPAttr struct {
	QPState          QPState
	CurQPState       QPState
	PathMTU          wire.MTU
	PathMigState     uint8
	QKey             uint32
	RQPSN            uint32
	SQPSN            uint32
	DestQPNum        uint32
	QPAccessFlags    Access
	Cap              QPCap
	AHAttr           AHAttr
	AltAHAttr        AHAttr
	PKeyIndex        uint16
	AltPKeyIndex     uint16
	EnSQDAsyncNotify bool
	SQDraining       bool
	MaxRdAtomic      uint8
	MaxDestRdAtomic  uint8
	MinRNRTimer      uint8
	PortNum          uint8
	Timeout          uint8
	RetryCnt         uint8
	RNRRetry         uint8
	AltPortNum       uint8
	AltTimeout       uint8
}

// SRQAttr are a shared receive queue's attributes (ibv_srq_attr).
type SRQAttr struct {
	MaxWR    uint32
	MaxSGE   uint32
	SRQLimit uint32
}

// SRQAttrMask selects SRQ attributes in SRQ.Modify (ibv_srq_attr_mask).
type SRQAttrMask uint32

// SRQ attribute mask bits.
const (
	SRQMaxWR SRQAttrMask = 1
	SRQLimit SRQAttrMask = 2
)

// EventType is an asynchronous event (ibv_event_type).
type EventType uint8

// Asynchronous events (IBTA Vol 1 §11.6.3).
const (
	EventCQErr            EventType = 0
	EventQPFatal          EventType = 1
	EventQPReqErr         EventType = 2
	EventQPAccessErr      EventType = 3
	EventCommEst          EventType = 4
	EventSQDrained        EventType = 5
	EventPathMig          EventType = 6
	EventPathMigErr       EventType = 7
	EventDeviceFatal      EventType = 8
	EventPortActive       EventType = 9
	EventPortErr          EventType = 10
	EventLIDChange        EventType = 11
	EventPKeyChange       EventType = 12
	EventSMChange         EventType = 13
	EventSRQErr           EventType = 14
	EventSRQLimitReached  EventType = 15
	EventQPLastWQEReached EventType = 16
	EventClientReregister EventType = 17
	EventGIDChange        EventType = 18
)

var eventNames = [...]string{
	"CQ error", "local work queue catastrophic error", "invalid request local work queue error",
	"local access violation work queue error", "communication established", "send queue drained",
	"path migrated", "path migration request error", "local catastrophic error", "port active",
	"port error", "LID change", "P_Key change", "SM change", "SRQ catastrophic error",
	"SRQ limit reached", "last WQE reached", "client reregistration", "GID table change",
}

func (e EventType) String() string {
	if int(e) < len(eventNames) {
		return eventNames[e]
	}
	return fmt.Sprintf("EventType(%d)", uint8(e))
}

// AsyncEvent is an asynchronous event with the object it concerns
// (ibv_async_event): exactly one of QP, CQ, SRQ is set, or Port for port
// events.
type AsyncEvent struct {
	Type EventType
	QP   *QP
	CQ   *CQ
	SRQ  *SRQ
	Port int
}

// DeviceAttr are the engine's limits (ibv_device_attr).
type DeviceAttr struct {
	MaxQP            int
	MaxQPWR          int
	MaxSGE           int
	MaxCQ            int
	MaxCQE           int
	MaxMR            int
	MaxMRSize        uint64
	MaxPD            int
	MaxQPRdAtom      int
	MaxQPInitRdAtom  int
	MaxSRQ           int
	MaxSRQWR         int
	MaxSRQSGE        int
	MaxAH            int
	MaxMcastGrp      int
	MaxMcastQPAttach int
	MaxInlineData    int
	AtomicCap        int // 1: IBV_ATOMIC_HCA
}

// DefaultDeviceAttr are the limits an Engine starts with (a ConnectX-class
// adapter).
var DefaultDeviceAttr = DeviceAttr{
	MaxQP: 1 << 16, MaxQPWR: 16384, MaxSGE: 32, MaxCQ: 1 << 16, MaxCQE: 1<<22 - 1,
	MaxMR: 1 << 20, MaxMRSize: 1 << 40, MaxPD: 1 << 15, MaxQPRdAtom: 16, MaxQPInitRdAtom: 16,
	MaxSRQ: 1 << 14, MaxSRQWR: 16384, MaxSRQSGE: 32, MaxAH: 1 << 20, MaxMcastGrp: 1 << 13,
	MaxMcastQPAttach: 256, MaxInlineData: 512, AtomicCap: 1,
}

// MulticastQPN is the destination QP of multicast packets (IBTA Vol 1 §10.5.2.1).
const MulticastQPN = 0xFFFFFF

// GRHBytes is what a UD receive buffer reserves for the GRH (IBTA Vol 1 §11.4.1.2).
const GRHBytes = 40
