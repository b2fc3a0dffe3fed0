package wire_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ibemu/ibemu/emu/wire"
)

// madSeeds are the captured MADs, for every fuzz target.
var madSeeds = []string{
	madNodeInfoDRReq, madNodeInfoDRResp, madNodeInfoDR3Req, madNodeInfoDR3Resp, madNodeInfoCA,
	madNodeDescSwitch, madPortInfoCA, madPortInfoSwitch0, madPortInfoSwitch3, madSwitchInfo, madGUIDInfo,
	madPKeyTable, madSLtoVL, madVLArbLow, madVLArbHigh, madLFT, madMFT, madSMInfo, madPerfClassPortInfo,
	madPortCounters, madPortCountersExt, madSAClassPortInfo, madSAPathRecord, madSANodeRecord,
	madSAMCMemberRecord, madSAPortInfoRecord,
}

// addSeeds adds every capture whole, at the offsets where attributes live
// (SMP/PMA data, SA records, vendor range-1 payload), plus empty,
// all-zero and all-ones buffers.
func addSeeds(f *testing.F, size int) {
	for _, s := range madSeeds {
		b := madHex(f, s)
		f.Add(b)
		for _, off := range []int{wire.MADHeaderSize, wire.SADataOffset, wire.SMPDataOffset} {
			f.Add(b[off:])
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, size))
	ones := bytes.Repeat([]byte{0xFF}, size)
	f.Add(ones)
	f.Add(ones[:size-1])
}

// fuzzView checks that parse never panics and that for every buffer it
// accepts, Fields -> Encode -> Fields is stable.
func fuzzView[V ~[]byte, F any](f *testing.F, size int, parse func([]byte) (V, error), fields func(V) F, encode func(V, *F)) {
	addSeeds(f, size)
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parse(b)
		if err != nil {
			return
		}
		f1 := fields(v)
		buf := make([]byte, len(v))
		encode(V(buf), &f1)
		f2 := fields(V(buf))
		if diff := cmp.Diff(f1, f2); diff != "" {
			t.Fatalf("Fields -> Encode -> Fields not stable (-first +second):\n%s", diff)
		}
	})
}

func FuzzParseMAD(f *testing.F) {
	addSeeds(f, wire.MADSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.ParseMAD(b)
		if m == nil {
			if err == nil {
				t.Fatal("nil view without error")
			}
			return
		}
		_ = m.Status().ClassString(m.MgmtClass()) + m.Method().String() + wire.AttrName(m.MgmtClass(), m.AttrID())
		_ = m.Err()
		f1 := m.Fields()
		buf := make([]byte, wire.MADHeaderSize)
		wire.MAD(buf).Encode(&f1)
		if diff := cmp.Diff(f1, wire.MAD(buf).Fields()); diff != "" {
			t.Fatalf("header round trip (-first +second):\n%s", diff)
		}
		c := bytes.Clone(b)
		wire.MAD(c).SetResponse(m.Status())
		if !wire.MAD(c).IsResponse() && wire.MAD(c).Method() != wire.MethodTrapRepress {
			t.Fatalf("SetResponse left method %v", wire.MAD(c).Method())
		}
	})
}

func FuzzParseSMP(f *testing.F) {
	fuzzView(f, wire.MADSize, wire.ParseSMP, wire.SMP.Fields, wire.SMP.Encode)
}

func FuzzDRProcess(f *testing.F) {
	for _, s := range madSeeds {
		f.Add(madHex(f, s), 0, false, uint8(2))
		f.Add(madHex(f, s), 3, true, uint8(8))
	}
	f.Fuzz(func(t *testing.T, b []byte, inPort int, isSwitch bool, ports uint8) {
		before := bytes.Clone(b)
		s := wire.SMP(b)
		hp := 0
		if s.IsValid() {
			hp = int(s.HopPointer())
		}
		action, out, err := wire.DRProcess(s, inPort, isSwitch, int(ports))
		switch action {
		case wire.DRDrop:
			if err == nil {
				t.Fatal("drop without a reason")
			}
			if !bytes.Equal(before, b) {
				t.Fatal("a dropped SMP was modified")
			}
			return
		case wire.DRForwardPort:
			if out < 1 || out > int(ports) {
				t.Fatalf("forward out port %d of %d", out, ports)
			}
		}
		if err != nil {
			t.Fatalf("%s with error %v", action, err)
		}
		if d := int(s.HopPointer()) - hp; d < -1 || d > 1 {
			t.Fatalf("hop pointer moved by %d", d)
		}
		// Only the hop pointer (byte 6) and the return path may change.
		if !bytes.Equal(before[:6], b[:6]) || !bytes.Equal(before[7:wire.SMPReturnPathOffset], b[7:wire.SMPReturnPathOffset]) {
			t.Fatal("DR processing touched more than the hop pointer and the return path")
		}
	})
}

func FuzzParseSAMAD(f *testing.F) {
	fuzzView(f, wire.MADSize, wire.ParseSAMAD, wire.SAMAD.Fields, wire.SAMAD.Encode)
}

func FuzzSAMADRecord(f *testing.F) {
	addSeeds(f, wire.MADSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.ParseSAMAD(b)
		if err != nil || m == nil {
			return
		}
		for _, size := range []int{0, 1, 52, 64, 108, 176, 300} {
			for i := -1; i < 5; i++ {
				if r := m.Record(i, size); r != nil && len(r) != size {
					t.Fatalf("Record(%d, %d) has %d bytes", i, size, len(r))
				}
			}
		}
	})
}

func FuzzParsePerfMAD(f *testing.F) {
	addSeeds(f, wire.MADSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := wire.ParsePerfMAD(b); err == nil && len(m.Data()) != wire.PMADataSize {
			t.Fatalf("Data() has %d bytes", len(m.Data()))
		}
	})
}

func FuzzParseVendorMAD(f *testing.F) {
	addSeeds(f, wire.MADSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := wire.ParseVendorMAD(b)
		if err != nil {
			return
		}
		_ = m.OUI()
		_ = m.ClassPortInfo().Fields()
		if n := len(m.Data()); n != 232 && n != 216 {
			t.Fatalf("Data() has %d bytes", n)
		}
	})
}

func FuzzParseRMPPHeader(f *testing.F) {
	fuzzView(f, wire.RMPPHeaderSize, wire.ParseRMPPHeader, wire.RMPPHeader.Fields, wire.RMPPHeader.Encode)
}

func FuzzParseSAHeader(f *testing.F) {
	fuzzView(f, wire.SAHeaderSize, wire.ParseSAHeader, wire.SAHeader.Fields, wire.SAHeader.Encode)
}

func FuzzParseNodeInfo(f *testing.F) {
	fuzzView(f, wire.NodeInfoSize, wire.ParseNodeInfo, wire.NodeInfo.Fields, wire.NodeInfo.Encode)
}

func FuzzParseNodeDescription(f *testing.F) {
	fuzzView(f, wire.NodeDescriptionSize, wire.ParseNodeDescription, wire.NodeDescription.Fields, wire.NodeDescription.Encode)
}

func FuzzParsePortInfo(f *testing.F) {
	fuzzView(f, wire.PortInfoSize, wire.ParsePortInfo, wire.PortInfo.Fields, wire.PortInfo.Encode)
}

func FuzzParseSwitchInfo(f *testing.F) {
	fuzzView(f, wire.SwitchInfoSize, wire.ParseSwitchInfo, wire.SwitchInfo.Fields, wire.SwitchInfo.Encode)
}

func FuzzParseGUIDInfo(f *testing.F) {
	fuzzView(f, wire.GUIDInfoSize, wire.ParseGUIDInfo, wire.GUIDInfo.Fields, wire.GUIDInfo.Encode)
}

func FuzzParsePKeyTable(f *testing.F) {
	fuzzView(f, wire.PKeyTableSize, wire.ParsePKeyTable, wire.PKeyTable.Fields, wire.PKeyTable.Encode)
}

func FuzzParseSLtoVLMappingTable(f *testing.F) {
	fuzzView(f, wire.SLtoVLMappingTableSize, wire.ParseSLtoVLMappingTable, wire.SLtoVLMappingTable.Fields, wire.SLtoVLMappingTable.Encode)
}

func FuzzParseVLArbitrationTable(f *testing.F) {
	fuzzView(f, wire.VLArbitrationTableSize, wire.ParseVLArbitrationTable, wire.VLArbitrationTable.Fields, wire.VLArbitrationTable.Encode)
}

func FuzzParseLinearForwardingTable(f *testing.F) {
	fuzzView(f, wire.LinearForwardingTableSize, wire.ParseLinearForwardingTable, wire.LinearForwardingTable.Fields, wire.LinearForwardingTable.Encode)
}

func FuzzParseMulticastForwardingTable(f *testing.F) {
	fuzzView(f, wire.MulticastForwardingTableSize, wire.ParseMulticastForwardingTable, wire.MulticastForwardingTable.Fields, wire.MulticastForwardingTable.Encode)
}

func FuzzParseSMInfo(f *testing.F) {
	fuzzView(f, wire.SMInfoSize, wire.ParseSMInfo, wire.SMInfo.Fields, wire.SMInfo.Encode)
}

func FuzzParseNotice(f *testing.F) {
	fuzzView(f, wire.NoticeSize, wire.ParseNotice, wire.Notice.Fields, wire.Notice.Encode)
}

func FuzzParseSMPNotice(f *testing.F) {
	fuzzView(f, wire.SMPDataSize, wire.ParseSMPNotice, wire.Notice.Fields, wire.Notice.Encode)
}

func FuzzParseClassPortInfo(f *testing.F) {
	fuzzView(f, wire.ClassPortInfoSize, wire.ParseClassPortInfo, wire.ClassPortInfo.Fields, wire.ClassPortInfo.Encode)
}

func FuzzParseInformInfo(f *testing.F) {
	fuzzView(f, wire.InformInfoSize, wire.ParseInformInfo, wire.InformInfo.Fields, wire.InformInfo.Encode)
}

func FuzzParseInformInfoRecord(f *testing.F) {
	fuzzView(f, wire.InformInfoRecordSize, wire.ParseInformInfoRecord, wire.InformInfoRecord.Fields, wire.InformInfoRecord.Encode)
}

func FuzzParsePathRecord(f *testing.F) {
	fuzzView(f, wire.PathRecordSize, wire.ParsePathRecord, wire.PathRecord.Fields, wire.PathRecord.Encode)
}

func FuzzParseNodeRecord(f *testing.F) {
	fuzzView(f, wire.NodeRecordSize, wire.ParseNodeRecord, wire.NodeRecord.Fields, wire.NodeRecord.Encode)
}

func FuzzParsePortInfoRecord(f *testing.F) {
	fuzzView(f, wire.PortInfoRecordSize, wire.ParsePortInfoRecord, wire.PortInfoRecord.Fields, wire.PortInfoRecord.Encode)
}

func FuzzParseMCMemberRecord(f *testing.F) {
	fuzzView(f, wire.MCMemberRecordSize, wire.ParseMCMemberRecord, wire.MCMemberRecord.Fields, wire.MCMemberRecord.Encode)
}

func FuzzParseServiceRecord(f *testing.F) {
	fuzzView(f, wire.ServiceRecordSize, wire.ParseServiceRecord, wire.ServiceRecord.Fields, wire.ServiceRecord.Encode)
}

func FuzzParsePortCounters(f *testing.F) {
	fuzzView(f, wire.PortCountersSize, wire.ParsePortCounters, wire.PortCounters.Fields, wire.PortCounters.Encode)
}

func FuzzParsePortCountersExtended(f *testing.F) {
	fuzzView(f, wire.PortCountersExtendedSize, wire.ParsePortCountersExtended, wire.PortCountersExtended.Fields, wire.PortCountersExtended.Encode)
}

func FuzzParseMellanoxGeneralInfo(f *testing.F) {
	fuzzView(f, wire.MellanoxGeneralInfoSize, wire.ParseMellanoxGeneralInfo, wire.MellanoxGeneralInfo.Fields, wire.MellanoxGeneralInfo.Encode)
}
