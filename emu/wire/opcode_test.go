package wire_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ibemu/ibemu/emu/wire"
)

type opRow struct {
	Op        wire.OpCode
	Name      string
	Transport wire.TransportService
	Ext       string // ExtHeaders().String()
	Payload   bool
	Response  bool
}

// opcodeTable is IBTA Vol 1 Table 38 written out by hand: every defined
// opcode with the extended headers that follow its BTH, in wire order.
var opcodeTable = []opRow{
	{wire.OpRCSendFirst, "RC_SEND_FIRST", wire.TransportRC, "none", true, false},
	{wire.OpRCSendMiddle, "RC_SEND_MIDDLE", wire.TransportRC, "none", true, false},
	{wire.OpRCSendLast, "RC_SEND_LAST", wire.TransportRC, "none", true, false},
	{wire.OpRCSendLastImm, "RC_SEND_LAST_WITH_IMMEDIATE", wire.TransportRC, "ImmDt", true, false},
	{wire.OpRCSendOnly, "RC_SEND_ONLY", wire.TransportRC, "none", true, false},
	{wire.OpRCSendOnlyImm, "RC_SEND_ONLY_WITH_IMMEDIATE", wire.TransportRC, "ImmDt", true, false},
	{wire.OpRCRDMAWriteFirst, "RC_RDMA_WRITE_FIRST", wire.TransportRC, "RETH", true, false},
	{wire.OpRCRDMAWriteMiddle, "RC_RDMA_WRITE_MIDDLE", wire.TransportRC, "none", true, false},
	{wire.OpRCRDMAWriteLast, "RC_RDMA_WRITE_LAST", wire.TransportRC, "none", true, false},
	{wire.OpRCRDMAWriteLastImm, "RC_RDMA_WRITE_LAST_WITH_IMMEDIATE", wire.TransportRC, "ImmDt", true, false},
	{wire.OpRCRDMAWriteOnly, "RC_RDMA_WRITE_ONLY", wire.TransportRC, "RETH", true, false},
	{wire.OpRCRDMAWriteOnlyImm, "RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE", wire.TransportRC, "RETH+ImmDt", true, false},
	{wire.OpRCRDMAReadRequest, "RC_RDMA_READ_REQUEST", wire.TransportRC, "RETH", false, false},
	{wire.OpRCRDMAReadResponseFirst, "RC_RDMA_READ_RESPONSE_FIRST", wire.TransportRC, "AETH", true, true},
	{wire.OpRCRDMAReadResponseMiddle, "RC_RDMA_READ_RESPONSE_MIDDLE", wire.TransportRC, "none", true, true},
	{wire.OpRCRDMAReadResponseLast, "RC_RDMA_READ_RESPONSE_LAST", wire.TransportRC, "AETH", true, true},
	{wire.OpRCRDMAReadResponseOnly, "RC_RDMA_READ_RESPONSE_ONLY", wire.TransportRC, "AETH", true, true},
	{wire.OpRCAcknowledge, "RC_ACKNOWLEDGE", wire.TransportRC, "AETH", false, true},
	{wire.OpRCAtomicAcknowledge, "RC_ATOMIC_ACKNOWLEDGE", wire.TransportRC, "AETH+AtomicAckETH", false, true},
	{wire.OpRCCompareSwap, "RC_COMPARE_SWAP", wire.TransportRC, "AtomicETH", false, false},
	{wire.OpRCFetchAdd, "RC_FETCH_ADD", wire.TransportRC, "AtomicETH", false, false},
	{wire.OpRCSendLastInv, "RC_SEND_LAST_WITH_INVALIDATE", wire.TransportRC, "IETH", true, false},
	{wire.OpRCSendOnlyInv, "RC_SEND_ONLY_WITH_INVALIDATE", wire.TransportRC, "IETH", true, false},

	{wire.OpUCSendFirst, "UC_SEND_FIRST", wire.TransportUC, "none", true, false},
	{wire.OpUCSendMiddle, "UC_SEND_MIDDLE", wire.TransportUC, "none", true, false},
	{wire.OpUCSendLast, "UC_SEND_LAST", wire.TransportUC, "none", true, false},
	{wire.OpUCSendLastImm, "UC_SEND_LAST_WITH_IMMEDIATE", wire.TransportUC, "ImmDt", true, false},
	{wire.OpUCSendOnly, "UC_SEND_ONLY", wire.TransportUC, "none", true, false},
	{wire.OpUCSendOnlyImm, "UC_SEND_ONLY_WITH_IMMEDIATE", wire.TransportUC, "ImmDt", true, false},
	{wire.OpUCRDMAWriteFirst, "UC_RDMA_WRITE_FIRST", wire.TransportUC, "RETH", true, false},
	{wire.OpUCRDMAWriteMiddle, "UC_RDMA_WRITE_MIDDLE", wire.TransportUC, "none", true, false},
	{wire.OpUCRDMAWriteLast, "UC_RDMA_WRITE_LAST", wire.TransportUC, "none", true, false},
	{wire.OpUCRDMAWriteLastImm, "UC_RDMA_WRITE_LAST_WITH_IMMEDIATE", wire.TransportUC, "ImmDt", true, false},
	{wire.OpUCRDMAWriteOnly, "UC_RDMA_WRITE_ONLY", wire.TransportUC, "RETH", true, false},
	{wire.OpUCRDMAWriteOnlyImm, "UC_RDMA_WRITE_ONLY_WITH_IMMEDIATE", wire.TransportUC, "RETH+ImmDt", true, false},

	{wire.OpRDSendFirst, "RD_SEND_FIRST", wire.TransportRD, "RDETH+DETH", true, false},
	{wire.OpRDSendMiddle, "RD_SEND_MIDDLE", wire.TransportRD, "RDETH+DETH", true, false},
	{wire.OpRDSendLast, "RD_SEND_LAST", wire.TransportRD, "RDETH+DETH", true, false},
	{wire.OpRDSendLastImm, "RD_SEND_LAST_WITH_IMMEDIATE", wire.TransportRD, "RDETH+DETH+ImmDt", true, false},
	{wire.OpRDSendOnly, "RD_SEND_ONLY", wire.TransportRD, "RDETH+DETH", true, false},
	{wire.OpRDSendOnlyImm, "RD_SEND_ONLY_WITH_IMMEDIATE", wire.TransportRD, "RDETH+DETH+ImmDt", true, false},
	{wire.OpRDRDMAWriteFirst, "RD_RDMA_WRITE_FIRST", wire.TransportRD, "RDETH+DETH+RETH", true, false},
	{wire.OpRDRDMAWriteMiddle, "RD_RDMA_WRITE_MIDDLE", wire.TransportRD, "RDETH+DETH", true, false},
	{wire.OpRDRDMAWriteLast, "RD_RDMA_WRITE_LAST", wire.TransportRD, "RDETH+DETH", true, false},
	{wire.OpRDRDMAWriteLastImm, "RD_RDMA_WRITE_LAST_WITH_IMMEDIATE", wire.TransportRD, "RDETH+DETH+ImmDt", true, false},
	{wire.OpRDRDMAWriteOnly, "RD_RDMA_WRITE_ONLY", wire.TransportRD, "RDETH+DETH+RETH", true, false},
	{wire.OpRDRDMAWriteOnlyImm, "RD_RDMA_WRITE_ONLY_WITH_IMMEDIATE", wire.TransportRD, "RDETH+DETH+RETH+ImmDt", true, false},
	{wire.OpRDRDMAReadRequest, "RD_RDMA_READ_REQUEST", wire.TransportRD, "RDETH+DETH+RETH", false, false},
	{wire.OpRDRDMAReadResponseFirst, "RD_RDMA_READ_RESPONSE_FIRST", wire.TransportRD, "RDETH+AETH", true, true},
	{wire.OpRDRDMAReadResponseMiddle, "RD_RDMA_READ_RESPONSE_MIDDLE", wire.TransportRD, "RDETH", true, true},
	{wire.OpRDRDMAReadResponseLast, "RD_RDMA_READ_RESPONSE_LAST", wire.TransportRD, "RDETH+AETH", true, true},
	{wire.OpRDRDMAReadResponseOnly, "RD_RDMA_READ_RESPONSE_ONLY", wire.TransportRD, "RDETH+AETH", true, true},
	{wire.OpRDAcknowledge, "RD_ACKNOWLEDGE", wire.TransportRD, "RDETH+AETH", false, true},
	{wire.OpRDAtomicAcknowledge, "RD_ATOMIC_ACKNOWLEDGE", wire.TransportRD, "RDETH+AETH+AtomicAckETH", false, true},
	{wire.OpRDCompareSwap, "RD_COMPARE_SWAP", wire.TransportRD, "RDETH+DETH+AtomicETH", false, false},
	{wire.OpRDFetchAdd, "RD_FETCH_ADD", wire.TransportRD, "RDETH+DETH+AtomicETH", false, false},
	{wire.OpRDResync, "RD_RESYNC", wire.TransportRD, "RDETH+DETH", false, false},

	{wire.OpUDSendOnly, "UD_SEND_ONLY", wire.TransportUD, "DETH", true, false},
	{wire.OpUDSendOnlyImm, "UD_SEND_ONLY_WITH_IMMEDIATE", wire.TransportUD, "DETH+ImmDt", true, false},

	{wire.OpCNP, "CNP", wire.TransportCNP, "none", true, false},
	{wire.OpRoCECNP, "ROCE_CNP", wire.TransportCNP, "none", true, false},
}

func TestOpCodeTable(t *testing.T) {
	defined := map[wire.OpCode]bool{}
	for _, want := range opcodeTable {
		defined[want.Op] = true
		op := want.Op
		got := opRow{op, op.String(), op.Transport(), op.ExtHeaders().String(), op.HasPayload(), op.IsResponse()}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("opcode %#02x (-want +got):\n%s", uint8(op), diff)
		}
		if !op.Defined() {
			t.Errorf("%v: Defined() = false", op)
		}
	}
	for i := 0; i < 256; i++ {
		op := wire.OpCode(i)
		if defined[op] {
			continue
		}
		if op.Defined() || op.ExtHeaders() != 0 || op.HasPayload() || op.IsResponse() {
			t.Errorf("%#02x: reserved opcode reads as defined", i)
		}
		if want := fmt.Sprintf("OpCode(0x%02x)", i); op.String() != want {
			t.Errorf("%#02x: String() = %q, want %q", i, op.String(), want)
		}
	}
}

func TestExtHeaders(t *testing.T) {
	tests := []struct {
		h    wire.ExtHeaders
		size int
		str  string
	}{
		{0, 0, "none"},
		{wire.ExtRDETH, 4, "RDETH"},
		{wire.ExtDETH, 8, "DETH"},
		{wire.ExtRETH, 16, "RETH"},
		{wire.ExtAtomicETH, 28, "AtomicETH"},
		{wire.ExtAETH, 4, "AETH"},
		{wire.ExtAtomicAckETH, 8, "AtomicAckETH"},
		{wire.ExtImmDt, 4, "ImmDt"},
		{wire.ExtIETH, 4, "IETH"},
		{wire.ExtIETH | wire.ExtRDETH | wire.ExtRETH, 24, "RDETH+RETH+IETH"},
		{0xFF, 76, "RDETH+DETH+RETH+AtomicETH+AETH+AtomicAckETH+ImmDt+IETH"},
	}
	for _, tc := range tests {
		if got := tc.h.Size(); got != tc.size {
			t.Errorf("%v.Size() = %d, want %d", tc.h, got, tc.size)
		}
		if got := tc.h.String(); got != tc.str {
			t.Errorf("String() = %q, want %q", got, tc.str)
		}
	}
	h := wire.ExtRDETH | wire.ExtDETH
	if !h.Has(wire.ExtDETH) || !h.Has(h) || h.Has(wire.ExtRETH) || h.Has(wire.ExtDETH|wire.ExtRETH) {
		t.Errorf("Has is wrong for %v", h)
	}
}

func TestTransportServiceString(t *testing.T) {
	got := []string{}
	for i := 0; i < 9; i++ {
		got = append(got, wire.TransportService(i).String())
	}
	want := []string{"RC", "UC", "RD", "UD", "CNP", "XRC", "Reserved", "Manufacturer", "TransportService(8)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if wire.OpCode(0xA0).Transport() != wire.TransportXRC || wire.OpCode(0xE5).Transport() != wire.TransportManufacturer {
		t.Errorf("Transport of XRC or manufacturer opcode is wrong")
	}
}
