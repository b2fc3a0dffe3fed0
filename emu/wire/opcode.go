package wire

import (
	"fmt"
	"strings"
)

// OpCode is the BTH operation code (IBTA Vol 1 §9.2, Table 38). Bits 7-5
// name the transport service and bits 4-0 the operation; together they fix
// which extended transport headers follow the BTH and whether the packet
// carries a payload.
//
//	 7   6   5   4   3   2   1   0
//	+---+---+---+---+---+---+---+---+
//	| transport |    operation      |
//	+---+---+---+---+---+---+---+---+
type OpCode uint8

// Reliable Connection opcodes (transport 000).
const (
	OpRCSendFirst              OpCode = 0x00
	OpRCSendMiddle             OpCode = 0x01
	OpRCSendLast               OpCode = 0x02
	OpRCSendLastImm            OpCode = 0x03 // SEND Last with Immediate
	OpRCSendOnly               OpCode = 0x04
	OpRCSendOnlyImm            OpCode = 0x05 // SEND Only with Immediate
	OpRCRDMAWriteFirst         OpCode = 0x06
	OpRCRDMAWriteMiddle        OpCode = 0x07
	OpRCRDMAWriteLast          OpCode = 0x08
	OpRCRDMAWriteLastImm       OpCode = 0x09 // RDMA WRITE Last with Immediate
	OpRCRDMAWriteOnly          OpCode = 0x0A
	OpRCRDMAWriteOnlyImm       OpCode = 0x0B // RDMA WRITE Only with Immediate
	OpRCRDMAReadRequest        OpCode = 0x0C
	OpRCRDMAReadResponseFirst  OpCode = 0x0D
	OpRCRDMAReadResponseMiddle OpCode = 0x0E
	OpRCRDMAReadResponseLast   OpCode = 0x0F
	OpRCRDMAReadResponseOnly   OpCode = 0x10
	OpRCAcknowledge            OpCode = 0x11
	OpRCAtomicAcknowledge      OpCode = 0x12
	OpRCCompareSwap            OpCode = 0x13
	OpRCFetchAdd               OpCode = 0x14
	OpRCSendLastInv            OpCode = 0x16 // SEND Last with Invalidate
	OpRCSendOnlyInv            OpCode = 0x17 // SEND Only with Invalidate
)

// Unreliable Connection opcodes (transport 001).
const (
	OpUCSendFirst        OpCode = 0x20
	OpUCSendMiddle       OpCode = 0x21
	OpUCSendLast         OpCode = 0x22
	OpUCSendLastImm      OpCode = 0x23
	OpUCSendOnly         OpCode = 0x24
	OpUCSendOnlyImm      OpCode = 0x25
	OpUCRDMAWriteFirst   OpCode = 0x26
	OpUCRDMAWriteMiddle  OpCode = 0x27
	OpUCRDMAWriteLast    OpCode = 0x28
	OpUCRDMAWriteLastImm OpCode = 0x29
	OpUCRDMAWriteOnly    OpCode = 0x2A
	OpUCRDMAWriteOnlyImm OpCode = 0x2B
)

// Reliable Datagram opcodes (transport 010).
const (
	OpRDSendFirst              OpCode = 0x40
	OpRDSendMiddle             OpCode = 0x41
	OpRDSendLast               OpCode = 0x42
	OpRDSendLastImm            OpCode = 0x43
	OpRDSendOnly               OpCode = 0x44
	OpRDSendOnlyImm            OpCode = 0x45
	OpRDRDMAWriteFirst         OpCode = 0x46
	OpRDRDMAWriteMiddle        OpCode = 0x47
	OpRDRDMAWriteLast          OpCode = 0x48
	OpRDRDMAWriteLastImm       OpCode = 0x49
	OpRDRDMAWriteOnly          OpCode = 0x4A
	OpRDRDMAWriteOnlyImm       OpCode = 0x4B
	OpRDRDMAReadRequest        OpCode = 0x4C
	OpRDRDMAReadResponseFirst  OpCode = 0x4D
	OpRDRDMAReadResponseMiddle OpCode = 0x4E
	OpRDRDMAReadResponseLast   OpCode = 0x4F
	OpRDRDMAReadResponseOnly   OpCode = 0x50
	OpRDAcknowledge            OpCode = 0x51
	OpRDAtomicAcknowledge      OpCode = 0x52
	OpRDCompareSwap            OpCode = 0x53
	OpRDFetchAdd               OpCode = 0x54
	OpRDResync                 OpCode = 0x55
)

// Unreliable Datagram opcodes (transport 011). QP0 and QP1 (SMPs and GMPs)
// travel as UD SEND Only.
const (
	OpUDSendOnly    OpCode = 0x64
	OpUDSendOnlyImm OpCode = 0x65
)

// Congestion notification packets (transport 100).
const (
	// OpCNP is the native InfiniBand congestion notification packet
	// (IBTA Vol 1 Annex A10.3.2): a BTH with no extended headers.
	OpCNP OpCode = 0x80
	// OpRoCECNP is the RoCEv2 congestion notification packet (IBTA
	// Annex A17.9.2), which carries 16 reserved payload bytes.
	OpRoCECNP OpCode = 0x81
)

// TransportService is the transport named by bits 7-5 of an OpCode.
type TransportService uint8

// Transport services (IBTA Vol 1 Table 38).
const (
	TransportRC           TransportService = 0 // Reliable Connection
	TransportUC           TransportService = 1 // Unreliable Connection
	TransportRD           TransportService = 2 // Reliable Datagram
	TransportUD           TransportService = 3 // Unreliable Datagram
	TransportCNP          TransportService = 4 // congestion notification
	TransportXRC          TransportService = 5 // eXtended Reliable Connection (not decoded here)
	TransportReserved     TransportService = 6
	TransportManufacturer TransportService = 7 // manufacturer specific opcodes 0xE0-0xFF
)

var transportNames = [8]string{"RC", "UC", "RD", "UD", "CNP", "XRC", "Reserved", "Manufacturer"}

// String returns the short name (RC, UC, RD, UD, CNP, XRC, Reserved, Manufacturer).
func (t TransportService) String() string {
	if int(t) < len(transportNames) {
		return transportNames[t]
	}
	return fmt.Sprintf("TransportService(%d)", uint8(t))
}

// Transport returns the transport service of op.
func (op OpCode) Transport() TransportService { return TransportService(op >> 5) }

// ExtHeaders is a set of extended transport headers (IBTA Vol 1 §9.3). On
// the wire they follow the BTH in the order the constants are declared:
// RDETH, DETH, RETH, AtomicETH, AETH, AtomicAckETH, ImmDt, IETH.
type ExtHeaders uint8

// Extended transport headers.
const (
	ExtRDETH        ExtHeaders = 1 << iota // reliable datagram (4 bytes)
	ExtDETH                                // datagram (8 bytes)
	ExtRETH                                // RDMA (16 bytes)
	ExtAtomicETH                           // atomic request (28 bytes)
	ExtAETH                                // acknowledge (4 bytes)
	ExtAtomicAckETH                        // atomic acknowledge (8 bytes)
	ExtImmDt                               // immediate data (4 bytes)
	ExtIETH                                // invalidate (4 bytes)
)

// extOrder lists the extended headers in wire order with their sizes and names.
var extOrder = [...]struct {
	h    ExtHeaders
	size int
	name string
}{
	{ExtRDETH, RDETHSize, "RDETH"},
	{ExtDETH, DETHSize, "DETH"},
	{ExtRETH, RETHSize, "RETH"},
	{ExtAtomicETH, AtomicETHSize, "AtomicETH"},
	{ExtAETH, AETHSize, "AETH"},
	{ExtAtomicAckETH, AtomicAckETHSize, "AtomicAckETH"},
	{ExtImmDt, ImmDtSize, "ImmDt"},
	{ExtIETH, IETHSize, "IETH"},
}

// Has reports whether every header in x is in h.
func (h ExtHeaders) Has(x ExtHeaders) bool { return h&x == x }

// Size returns the total length in bytes of the headers in h.
func (h ExtHeaders) Size() int {
	n := 0
	for _, e := range extOrder {
		if h&e.h != 0 {
			n += e.size
		}
	}
	return n
}

// String lists the headers in wire order, joined by "+" ("RDETH+DETH+RETH");
// the empty set is "none".
func (h ExtHeaders) String() string {
	if h == 0 {
		return "none"
	}
	var parts []string
	for _, e := range extOrder {
		if h&e.h != 0 {
			parts = append(parts, e.name)
		}
	}
	return strings.Join(parts, "+")
}

// opInfo is what Table 38 says about one opcode.
type opInfo struct {
	name    string
	ext     ExtHeaders
	size    uint8 // ext.Size(), cached for the parser
	defined bool
	payload bool // the packet may carry a payload
}

// Operation codes (bits 4-0) shared by RC, UC, RD and UD.
const (
	opSendFirst = iota
	opSendMiddle
	opSendLast
	opSendLastImm
	opSendOnly
	opSendOnlyImm
	opWriteFirst
	opWriteMiddle
	opWriteLast
	opWriteLastImm
	opWriteOnly
	opWriteOnlyImm
	opReadRequest
	opReadResponseFirst
	opReadResponseMiddle
	opReadResponseLast
	opReadResponseOnly
	opAcknowledge
	opAtomicAcknowledge
	opCompareSwap
	opFetchAdd
	opResync
	opSendLastInv
	opSendOnlyInv
	numOps
)

// baseOps gives, per operation, its name and the headers it carries on a
// connected (RC/UC) service; RD and UD add their datagram headers.
var baseOps = [numOps]struct {
	name    string
	ext     ExtHeaders
	payload bool
}{
	opSendFirst:          {"SEND_FIRST", 0, true},
	opSendMiddle:         {"SEND_MIDDLE", 0, true},
	opSendLast:           {"SEND_LAST", 0, true},
	opSendLastImm:        {"SEND_LAST_WITH_IMMEDIATE", ExtImmDt, true},
	opSendOnly:           {"SEND_ONLY", 0, true},
	opSendOnlyImm:        {"SEND_ONLY_WITH_IMMEDIATE", ExtImmDt, true},
	opWriteFirst:         {"RDMA_WRITE_FIRST", ExtRETH, true},
	opWriteMiddle:        {"RDMA_WRITE_MIDDLE", 0, true},
	opWriteLast:          {"RDMA_WRITE_LAST", 0, true},
	opWriteLastImm:       {"RDMA_WRITE_LAST_WITH_IMMEDIATE", ExtImmDt, true},
	opWriteOnly:          {"RDMA_WRITE_ONLY", ExtRETH, true},
	opWriteOnlyImm:       {"RDMA_WRITE_ONLY_WITH_IMMEDIATE", ExtRETH | ExtImmDt, true},
	opReadRequest:        {"RDMA_READ_REQUEST", ExtRETH, false},
	opReadResponseFirst:  {"RDMA_READ_RESPONSE_FIRST", ExtAETH, true},
	opReadResponseMiddle: {"RDMA_READ_RESPONSE_MIDDLE", 0, true},
	opReadResponseLast:   {"RDMA_READ_RESPONSE_LAST", ExtAETH, true},
	opReadResponseOnly:   {"RDMA_READ_RESPONSE_ONLY", ExtAETH, true},
	opAcknowledge:        {"ACKNOWLEDGE", ExtAETH, false},
	opAtomicAcknowledge:  {"ATOMIC_ACKNOWLEDGE", ExtAETH | ExtAtomicAckETH, false},
	opCompareSwap:        {"COMPARE_SWAP", ExtAtomicETH, false},
	opFetchAdd:           {"FETCH_ADD", ExtAtomicETH, false},
	opResync:             {"RESYNC", 0, false},
	opSendLastInv:        {"SEND_LAST_WITH_INVALIDATE", ExtIETH, true},
	opSendOnlyInv:        {"SEND_ONLY_WITH_INVALIDATE", ExtIETH, true},
}

// isResponseOp reports whether an operation flows from responder to
// requester (RDMA READ responses and acknowledges).
func isResponseOp(o int) bool { return o >= opReadResponseFirst && o <= opAtomicAcknowledge }

// opTable is Table 38 expanded to all 256 opcodes.
var opTable = func() (t [256]opInfo) {
	set := func(op OpCode, i opInfo) {
		if op < OpCNP {
			i.name = op.Transport().String() + "_" + i.name
		}
		i.size = uint8(i.ext.Size())
		i.defined = true
		t[op] = i
	}
	for o := 0; o < numOps; o++ {
		b := baseOps[o]
		i := opInfo{name: b.name, ext: b.ext, payload: b.payload}
		// RC: everything but RESYNC.
		if o != opResync {
			set(OpCode(o), i)
		}
		// UC: SEND and RDMA WRITE only.
		if o <= opWriteOnlyImm {
			set(OpCode(0x20|o), i)
		}
		// RD: everything but the invalidate sends; every packet carries
		// an RDETH, and requests also a DETH (IBTA Vol 1 §9.3.1-9.3.2).
		if o <= opResync {
			rd := i
			rd.ext |= ExtRDETH
			if !isResponseOp(o) {
				rd.ext |= ExtDETH
			}
			set(OpCode(0x40|o), rd)
		}
		// UD: SEND Only (with or without immediate) plus a DETH.
		if o == opSendOnly || o == opSendOnlyImm {
			ud := i
			ud.ext |= ExtDETH
			set(OpCode(0x60|o), ud)
		}
	}
	set(OpCNP, opInfo{name: "CNP", payload: true})
	set(OpRoCECNP, opInfo{name: "ROCE_CNP", payload: true})
	return t
}()

// Defined reports whether op is an opcode of IBTA Vol 1 Table 38 that this
// package decodes (RC, UC, RD, UD and CNP). XRC, reserved and
// manufacturer-specific opcodes are not.
func (op OpCode) Defined() bool { return opTable[op].defined }

// ExtHeaders returns the extended transport headers that follow the BTH in
// a packet with opcode op (IBTA Vol 1 Table 38), and zero for an opcode
// that is not Defined.
func (op OpCode) ExtHeaders() ExtHeaders { return opTable[op].ext }

// HasPayload reports whether a packet with opcode op may carry a payload.
// RDMA READ requests, acknowledges, atomic requests and RESYNC carry none.
func (op OpCode) HasPayload() bool { return opTable[op].payload }

// IsResponse reports whether op flows from responder to requester: RDMA
// READ responses, ACKNOWLEDGE and ATOMIC ACKNOWLEDGE.
func (op OpCode) IsResponse() bool {
	t := op.Transport()
	return (t == TransportRC || t == TransportRD) && opTable[op].defined && isResponseOp(int(op&0x1F))
}

// String returns the IBTA name with an underscore style, such as
// "RC_SEND_ONLY" or "UD_SEND_ONLY_WITH_IMMEDIATE", or "OpCode(0xNN)".
func (op OpCode) String() string {
	if i := &opTable[op]; i.defined {
		return i.name
	}
	return fmt.Sprintf("OpCode(0x%02x)", uint8(op))
}
