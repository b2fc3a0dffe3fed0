package wire_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ibemu/ibemu/emu/wire"
)

// madHex decodes a hex dump as libibmad prints it (groups of 4 hex digits,
// any whitespace) and zero-pads it to a whole MAD.
func madHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad fixture hex: %v", err)
	}
	if len(b) > wire.MADSize {
		t.Fatalf("fixture has %d bytes, more than a MAD", len(b))
	}
	return append(b, make([]byte, wire.MADSize-len(b))...)
}

func TestMADFieldsFromCaptures(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		want    wire.MADFields
	}{
		{
			name:    "smpquery nodeinfo 2 (LID-routed GetResp)",
			fixture: madNodeInfoCA,
			want: wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnLID, ClassVersion: 1,
				Method: wire.MethodGetResp, TID: 0x00010000718658ee, AttrID: wire.AttrNodeInfo},
		},
		{
			name:    "smpquery -D nodeinfo 0,1,3 request",
			fixture: madNodeInfoDRReq,
			want: wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnDirected, ClassVersion: 1,
				Method: wire.MethodGet, ClassSpecific: 0x0002, TID: 0x00000000715860a8, AttrID: wire.AttrNodeInfo},
		},
		{
			name:    "smpquery -D nodeinfo 0,1,3 reply: raw status keeps D",
			fixture: madNodeInfoDRResp,
			want: wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnDirected, ClassVersion: 1,
				Method: wire.MethodGetResp, Status: 0x8000, ClassSpecific: 0x0002, TID: 0x00010001715860a8,
				AttrID: wire.AttrNodeInfo},
		},
		{
			name:    "perfquery 2 1 PortCounters",
			fixture: madPortCounters,
			want: wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1,
				Method: wire.MethodGetResp, TID: 0x0001000207782a0f, AttrID: wire.AttrPortCounters},
		},
		{
			name:    "saquery --src-to-dst 2:4 PathRecord GetTableResp",
			fixture: madSAPathRecord,
			want: wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: 2,
				Method: wire.MethodGetTableResp, TID: 0x0001000030fa42bb, AttrID: wire.AttrPathRecord},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := wire.ParseMAD(madHex(t, tc.fixture))
			if err != nil {
				t.Fatalf("ParseMAD: %v", err)
			}
			got := m.Fields()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Fields() mismatch (-want +got):\n%s", diff)
			}
			if !m.IsResponse() && tc.want.Method.IsResponse() {
				t.Errorf("IsResponse() = false for %s", tc.want.Method)
			}
			buf := make([]byte, wire.MADHeaderSize)
			wire.MAD(buf).Encode(&got)
			if diff := cmp.Diff([]byte(m[:wire.MADHeaderSize]), buf); diff != "" {
				t.Errorf("Encode(Fields()) bytes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMADStatusMasksDirectionBit(t *testing.T) {
	m := wire.MAD(madHex(t, madNodeInfoDRResp))
	if got := m.Status(); got != wire.MADStatusOK {
		t.Errorf("DR Status() = %#x, want 0 (D bit masked)", uint16(got))
	}
	m.SetStatus(wire.MADStatusInvalidField)
	if got, want := m.RawStatus(), uint16(0x801C); got != want {
		t.Errorf("after SetStatus RawStatus() = %#04x, want %#04x", got, want)
	}
	l := wire.MAD(madHex(t, madNodeInfoCA))
	l.SetStatus(0x8000 | wire.MADStatusBusy)
	if got := l.Status(); got != 0x8001 {
		t.Errorf("LID-routed Status() = %#x, want 0x8001", uint16(got))
	}
}

func TestSetResponse(t *testing.T) {
	tests := []struct {
		name       string
		class      wire.MgmtClass
		method     wire.Method
		status     wire.MADStatus
		wantMethod wire.Method
		wantRaw    uint16
	}{
		{"Get", wire.MgmtClassSubnLID, wire.MethodGet, 0, wire.MethodGetResp, 0},
		{"Set", wire.MgmtClassPerf, wire.MethodSet, wire.MADStatusInvalidField, wire.MethodGetResp, 0x001C},
		{"DR Get sets D", wire.MgmtClassSubnDirected, wire.MethodGet, 0, wire.MethodGetResp, 0x8000},
		{"DR Set bad attr", wire.MgmtClassSubnDirected, wire.MethodSet, wire.MADStatusUnsupportedMethodAttr, wire.MethodGetResp, 0x800C},
		{"Trap", wire.MgmtClassSubnLID, wire.MethodTrap, 0, wire.MethodTrapRepress, 0},
		{"Report", wire.MgmtClassSubnAdm, wire.MethodReport, 0, wire.MethodReportResp, 0},
		{"GetTable", wire.MgmtClassSubnAdm, wire.MethodGetTable, wire.SAStatusNoRecords, wire.MethodGetTableResp, 0x0300},
		{"GetTraceTable", wire.MgmtClassSubnAdm, wire.MethodGetTraceTable, 0, wire.MethodGetTableResp, 0},
		{"GetMulti", wire.MgmtClassSubnAdm, wire.MethodGetMulti, 0, wire.MethodGetMultiResp, 0},
		{"Delete", wire.MgmtClassSubnAdm, wire.MethodDelete, 0, wire.MethodDeleteResp, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := wire.MAD(make([]byte, wire.MADSize))
			m.Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: tc.class, ClassVersion: 1, Method: tc.method,
				TID: 0x1234, AttrID: wire.AttrPortInfo, AttrMod: 7})
			m.SetResponse(tc.status)
			want := wire.MADFields{BaseVersion: 1, MgmtClass: tc.class, ClassVersion: 1, Method: tc.wantMethod,
				Status: wire.MADStatus(tc.wantRaw), TID: 0x1234, AttrID: wire.AttrPortInfo, AttrMod: 7}
			if diff := cmp.Diff(want, m.Fields()); diff != "" {
				t.Errorf("after SetResponse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMADErrors(t *testing.T) {
	if _, err := wire.ParseMAD(make([]byte, 23)); !errors.Is(err, wire.ErrMADTooShort) {
		t.Errorf("ParseMAD(23 bytes) error = %v, want ErrMADTooShort", err)
	}
	b := madHex(t, madNodeInfoCA)
	b[0] = 2
	m, err := wire.ParseMAD(b)
	var se *wire.MADStatusError
	if !errors.As(err, &se) {
		t.Fatalf("ParseMAD(BaseVersion 2) error = %v, want *MADStatusError", err)
	}
	want := &wire.MADStatusError{Status: wire.MADStatusBadVersion, Class: wire.MgmtClassSubnLID,
		AttrID: wire.AttrNodeInfo, TID: 0x00010000718658ee}
	if diff := cmp.Diff(want, se); diff != "" {
		t.Errorf("status error (-want +got):\n%s", diff)
	}
	if !errors.Is(err, wire.ErrUnsupportedClassVersion) {
		t.Errorf("errors.Is(%v, ErrUnsupportedClassVersion) = false", err)
	}
	if m == nil {
		t.Errorf("ParseMAD returned no view with the version error; the agent needs it to reply")
	}
	// Header-only MADs parse; the class parsers want all 256 bytes.
	if _, err := wire.ParseMAD(madHex(t, madNodeInfoCA)[:24]); err != nil {
		t.Errorf("ParseMAD(24 bytes) = %v", err)
	}
	if _, err := wire.ParseSMP(madHex(t, madNodeInfoCA)[:255]); !errors.Is(err, wire.ErrMADTooShort) {
		t.Errorf("ParseSMP(255 bytes) = %v, want ErrMADTooShort", err)
	}
	if _, err := wire.ParseSMP(append(madHex(t, madNodeInfoCA), 0)); err == nil {
		t.Errorf("ParseSMP(257 bytes) = nil error")
	}
	if _, err := wire.ParseSMP(madHex(t, madPortCounters)); err == nil {
		t.Errorf("ParseSMP(PerfMgt MAD) = nil error")
	}
	if _, err := wire.ParseSAMAD(madHex(t, madNodeInfoCA)); err == nil {
		t.Errorf("ParseSAMAD(SMP) = nil error")
	}
	sa := madHex(t, madSAPathRecord)
	sa[2] = 1
	if _, err := wire.ParseSAMAD(sa); !errors.Is(err, wire.ErrUnsupportedClassVersion) {
		t.Errorf("ParseSAMAD(class version 1) = %v, want ErrUnsupportedClassVersion", err)
	}
}

func TestMADStatusError(t *testing.T) {
	tests := []struct {
		name    string
		err     *wire.MADStatusError
		is      []error
		isNot   []error
		wantMsg string
	}{
		{
			name:    "SA no records",
			err:     &wire.MADStatusError{Status: wire.SAStatusNoRecords, Class: wire.MgmtClassSubnAdm, AttrID: wire.AttrPathRecord, TID: 0x42},
			is:      []error{wire.ErrNoRecords},
			isNot:   []error{wire.ErrTooManyRecords, wire.ErrInvalidField, wire.ErrMADBusy},
			wantMsg: "wire: SubnAdm PathRecord tid 0x0000000000000042: mad status 0x0300 (no records)",
		},
		{
			name:    "class-specific byte of another class is not an SA error",
			err:     &wire.MADStatusError{Status: 0x0300, Class: wire.MgmtClassCM, AttrID: 0x10},
			isNot:   []error{wire.ErrNoRecords},
			wantMsg: "wire: CM AttrID(0x0010) tid 0x0000000000000000: mad status 0x0300 (class-specific 0x03)",
		},
		{
			name:    "busy plus invalid field",
			err:     &wire.MADStatusError{Status: wire.MADStatusBusy | wire.MADStatusInvalidField, Class: wire.MgmtClassSubnLID, AttrID: wire.AttrPortInfo},
			is:      []error{wire.ErrMADBusy, wire.ErrInvalidField},
			isNot:   []error{wire.ErrUnsupportedAttr, wire.ErrMADRedirect},
			wantMsg: "wire: SubnLID PortInfo tid 0x0000000000000000: mad status 0x001d (busy, invalid field)",
		},
		{
			name:    "method/attribute unsupported",
			err:     &wire.MADStatusError{Status: wire.MADStatusUnsupportedMethodAttr, Class: wire.MgmtClassSubnLID, AttrID: wire.AttrSMInfo},
			is:      []error{wire.ErrUnsupportedAttr},
			isNot:   []error{wire.ErrUnsupportedMethod, wire.ErrInvalidField},
			wantMsg: "wire: SubnLID SMInfo tid 0x0000000000000000: mad status 0x000c (method/attribute not supported)",
		},
		{
			name:    "method unsupported",
			err:     &wire.MADStatusError{Status: wire.MADStatusUnsupportedMethod, Class: wire.MgmtClassSubnAdm, AttrID: wire.AttrNodeRecord},
			is:      []error{wire.ErrUnsupportedMethod},
			isNot:   []error{wire.ErrUnsupportedAttr},
			wantMsg: "wire: SubnAdm NodeRecord tid 0x0000000000000000: mad status 0x0008 (method not supported)",
		},
		{
			name:    "redirect",
			err:     &wire.MADStatusError{Status: wire.MADStatusRedirect, Class: wire.MgmtClassPerf, AttrID: wire.AttrPortCounters},
			is:      []error{wire.ErrMADRedirect},
			wantMsg: "wire: Perf PortCounters tid 0x0000000000000000: mad status 0x0002 (redirect)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error = tc.err
			for _, s := range tc.is {
				if !errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = false", err, s)
				}
			}
			for _, s := range tc.isNot {
				if errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = true", err, s)
				}
			}
			if got := err.Error(); got != tc.wantMsg {
				t.Errorf("Error() = %q, want %q", got, tc.wantMsg)
			}
		})
	}
	m := wire.MAD(madHex(t, madNodeInfoCA))
	if err := m.Err(); err != nil {
		t.Errorf("Err() on a success reply = %v", err)
	}
	m.SetStatus(wire.MADStatusInvalidField)
	if err := m.Err(); !errors.Is(err, wire.ErrInvalidField) {
		t.Errorf("Err() = %v, want ErrInvalidField", err)
	}
}

func TestMADEnumStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{wire.MgmtClassSubnLID.String(), "SubnLID"},
		{wire.MgmtClassSubnDirected.String(), "SubnDirected"},
		{wire.MgmtClassSubnAdm.String(), "SubnAdm"},
		{wire.MgmtClassCC.String(), "CC"},
		{wire.MgmtClassMellanox.String(), "VendorRange1(0x0a)"},
		{wire.MgmtClassOpenIBPing.String(), "VendorRange2(0x32)"},
		{wire.MgmtClass(0x22).String(), "MgmtClass(0x22)"},
		{wire.MethodGetResp.String(), "GetResp"},
		{wire.MethodTrapRepress.String(), "TrapRepress"},
		{wire.Method(0x7f).String(), "Method(0x7f)"},
		{wire.AttrPKeyTable.String(), "P_KeyTable"},
		{wire.AttrID(0x0011).String(), "NodeInfo"},
		{wire.AttrName(wire.MgmtClassSubnAdm, 0x0011), "NodeRecord"},
		{wire.AttrName(wire.MgmtClassPerf, 0x0011), "PortSamplesResult"},
		{wire.AttrName(wire.MgmtClassMellanox, 0x0017), "GeneralInfo"},
		{wire.AttrName(wire.MgmtClassSubnAdm, wire.AttrInformInfoRecord), "InformInfoRecord"},
		{wire.AttrName(wire.MgmtClassCM, wire.AttrClassPortInfo), "ClassPortInfo"},
		{wire.MADStatusOK.String(), "success"},
		{wire.SAStatusTooManyRecords.ClassString(wire.MgmtClassSubnAdm), "too many records"},
		{wire.MADStatus(0x00E0).String(), "reserved bits 0x00e0"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	for c := 0; c < 256; c++ {
		mc := wire.MgmtClass(c)
		if got, want := mc.IsVendorRange1(), c >= 0x09 && c <= 0x0F; got != want {
			t.Errorf("%#x IsVendorRange1() = %v", c, got)
		}
		if got, want := mc.IsVendorRange2(), c >= 0x30 && c <= 0x4F; got != want {
			t.Errorf("%#x IsVendorRange2() = %v", c, got)
		}
	}
}
