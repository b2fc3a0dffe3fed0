package wire_test

import (
	"bytes"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/capture/capturetest"
	"github.com/ibemu/ibemu/emu/wire"
)

// cmAlt is the alternate path of cmREQFields.
var cmAlt = wire.CMPathFields{LocalLID: 0x21, RemoteLID: 0x22, LocalGID: wire.GID{0xfe, 0x80, 15: 3},
	RemoteGID: wire.GID{0xfe, 0x80, 15: 4}, FlowLabel: 0x54321, PacketRate: wire.Rate10Gbps, TrafficClass: 9,
	HopLimit: 2, SL: 5, SubnetLocal: true, LocalACKTimeout: 17}

// cmREQFields sets every REQ field to a distinct non-zero value.
var cmREQFields = wire.CMREQFields{LocalCommID: 0xdeadbeef, ServiceID: 0x1000000000000042, LocalCAGUID: 0x0002c90300001234,
	LocalQKey: 0x11223344, LocalQPN: 0x123456, ResponderResources: 4, LocalEECN: 0x000101, InitiatorDepth: 3,
	RemoteEECN: 0x000202, RemoteCMResponseTimeout: 20, TransportServiceType: wire.CMTransportUC, EndToEndFlowControl: true,
	StartingPSN: 0xabcdef, LocalCMResponseTimeout: 18, RetryCount: 6, PKey: 0xffff, PathMTU: wire.MTU2048, RDCExists: true,
	RNRRetryCount: 5, MaxCMRetries: 15, SRQ: true, ExtendedTransportType: 1,
	Primary: wire.CMPathFields{LocalLID: 3, RemoteLID: 5, LocalGID: wire.GID{0xfe, 0x80, 15: 1}, RemoteGID: wire.GID{0xfe, 0x80, 15: 2},
		FlowLabel: 0xabcde, PacketRate: wire.Rate40Gbps, TrafficClass: 0x20, HopLimit: 1, SL: 7, SubnetLocal: true, LocalACKTimeout: 19},
	Alternate: &cmAlt, SAPSupported: true, PrivateData: []byte("hello")}

// cmREQHex is cmREQFields encoded, laid out as the Linux CM's
// include/rdma/ibta_vol1_c12.h places each field (IBTA Vol 1 Table 106).
// tshark 4.0 decodes every field of it to the values above except the
// flow labels and packet rates, which its dissector reads at the wrong
// offset (it takes the first 3 bytes of the word for the label and the
// rate from the label's first byte).
const cmREQHex = "deadbeef 00000000 10000000 00000042 0002c903 00001234 00000000 11223344" +
	"12345604 00010103 000202a3 abcdef96 ffff4df9" +
	// primary path
	"00030005 fe800000 00000000 00000000 00000001 fe800000 00000000 00000000 00000002" +
	"abcde007 20017898" +
	// alternate path (SAP Supported is bit 2 of its last byte)
	"00210022 fe800000 00000000 00000000 00000003 fe800000 00000000 00000000 00000004" +
	"54321003 0902588c" +
	"68656c6c6f"

var cmREPFields = wire.CMREPFields{LocalCommID: 0x01020304, RemoteCommID: 0xdeadbeef, LocalQKey: 0x55667788, LocalQPN: 0x654321,
	LocalEECN: 0x000303, StartingPSN: 0x123abc, ResponderResources: 2, InitiatorDepth: 1, TargetACKDelay: 15,
	FailoverAccepted: 2, EndToEndFlowControl: true, RNRRetryCount: 6, SRQ: true, LocalCAGUID: 0x0002c90300005678,
	PrivateData: []byte("rep")}

const cmREPHex = "01020304 deadbeef 55667788 65432100 00030300 123abc00 02017dd0 0002c903 00005678 726570"

// normHex turns tshark's "0x0f" and our "0xf" into the same number.
func normHex(v string) string {
	if n, err := strconv.ParseUint(v, 0, 64); err == nil && strings.HasPrefix(v, "0x") {
		return "0x" + strconv.FormatUint(n, 16)
	}
	return v
}

func padMsg(t testing.TB, h string) []byte {
	t.Helper()
	b := unhex(t, h)
	return append(b, make([]byte, wire.CMMessageSize-len(b))...)
}

// pd returns p padded to a private data area of n bytes.
func pd(p string, n int) []byte { return append([]byte(p), make([]byte, n-len(p))...) }

func TestCMREQLayout(t *testing.T) {
	b := make([]byte, wire.CMMessageSize)
	wire.CMREQ(b).Encode(&cmREQFields)
	if want := padMsg(t, cmREQHex); !bytes.Equal(b, want) {
		t.Fatalf("REQ bytes\n got %x\nwant %x", b, want)
	}
	r, err := wire.ParseCMREQ(b)
	if err != nil {
		t.Fatal(err)
	}
	want := cmREQFields
	want.PrivateData = pd("hello", wire.CMREQPrivateDataSize)
	if diff := cmp.Diff(want, r.Fields()); diff != "" {
		t.Fatalf("REQ fields (-want +got):\n%s", diff)
	}
	// Without an alternate path the 44 bytes stay zero and decode as nil.
	f := cmREQFields
	f.Alternate, f.SAPSupported = nil, false
	wire.CMREQ(b).Encode(&f)
	if !wire.CMREQ(b).Alternate().IsZero() || wire.CMREQ(b).Fields().Alternate != nil {
		t.Fatalf("absent alternate path decodes as %+v", wire.CMREQ(b).Fields().Alternate)
	}
}

func TestCMREPLayout(t *testing.T) {
	b := make([]byte, wire.CMMessageSize)
	wire.CMREP(b).Encode(&cmREPFields)
	if want := padMsg(t, cmREPHex); !bytes.Equal(b, want) {
		t.Fatalf("REP bytes\n got %x\nwant %x", b, want)
	}
	want := cmREPFields
	want.PrivateData = pd("rep", wire.CMREPPrivateDataSize)
	if diff := cmp.Diff(want, wire.CMREP(b).Fields()); diff != "" {
		t.Fatalf("REP fields (-want +got):\n%s", diff)
	}
}

// TestCMSmallMessages checks the layout of the other messages byte by
// byte against IBTA Vol 1 chapter 12 (and the Linux CM's field table).
func TestCMSmallMessages(t *testing.T) {
	cases := []struct {
		name   string
		encode func(b []byte)
		hex    string
		check  func(b []byte) bool
	}{
		{"MRA", func(b []byte) {
			wire.CMMRA(b).Encode(&wire.CMMRAFields{LocalCommID: 1, RemoteCommID: 2, MessageMRAed: wire.CMMsgREP, ServiceTimeout: 21, PrivateData: []byte("wait")})
		}, "00000001 00000002 40a8 77616974", func(b []byte) bool {
			m := wire.CMMRA(b)
			return m.MessageMRAed() == wire.CMMsgREP && m.ServiceTimeout() == 21 && string(m.PrivateData()[:4]) == "wait" &&
				len(m.PrivateData()) == wire.CMMRAPrivateDataSize
		}},
		{"REJ", func(b []byte) {
			wire.CMREJ(b).Encode(&wire.CMREJFields{RemoteCommID: 0xdeadbeef, MessageRejected: wire.CMMsgREP,
				Reason: wire.CMRejectConsumerDefined, ARI: []byte{1, 2, 3}, PrivateData: []byte("no")})
		}, "00000000 deadbeef 4006001c 010203" + strings.Repeat("00", 69) + "6e6f", func(b []byte) bool {
			r := wire.CMREJ(b)
			return r.Reason() == wire.CMRejectConsumerDefined && bytes.Equal(r.ARI(), []byte{1, 2, 3}) && r.RejectInfoLength() == 3 &&
				len(r.PrivateData()) == wire.CMREJPrivateDataSize && r.MessageRejected() == wire.CMMsgREP
		}},
		{"RTU", func(b []byte) {
			wire.CMRTU(b).Encode(&wire.CMRTUFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 0xdeadbeef, RemoteCommID: 0x01020304}, PrivateData: []byte("rtu")})
		}, "deadbeef 01020304 727475", func(b []byte) bool {
			return len(wire.CMRTU(b).PrivateData()) == wire.CMRTUPrivateDataSize
		}},
		{"DREQ", func(b []byte) {
			wire.CMDREQ(b).Encode(&wire.CMDREQFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 0xdeadbeef, RemoteCommID: 0x01020304},
				RemoteQPN: 0x654321, PrivateData: []byte("bye")})
		}, "deadbeef 01020304 65432100 627965", func(b []byte) bool {
			return wire.CMDREQ(b).RemoteQPN() == 0x654321 && len(wire.CMDREQ(b).PrivateData()) == wire.CMDREQPrivateDataSize
		}},
		{"DREP", func(b []byte) {
			wire.CMDREP(b).Encode(&wire.CMDREPFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 0x01020304, RemoteCommID: 0xdeadbeef}, PrivateData: []byte("ok")})
		}, "01020304 deadbeef 6f6b", func(b []byte) bool { return len(wire.CMDREP(b).PrivateData()) == wire.CMDREPPrivateDataSize }},
		{"SIDR_REQ", func(b []byte) {
			wire.CMSIDRREQ(b).Encode(&wire.CMSIDRREQFields{RequestID: 9, PKey: 0xffff, ServiceID: 0x1000000000000042, PrivateData: []byte("sidr")})
		}, "00000009 ffff0000 10000000 00000042 73696472", func(b []byte) bool {
			s := wire.CMSIDRREQ(b)
			return s.PKey() == 0xffff && s.ServiceID() == 0x1000000000000042 && len(s.PrivateData()) == wire.CMSIDRREQPrivateDataSize
		}},
		{"SIDR_REP", func(b []byte) {
			wire.CMSIDRREP(b).Encode(&wire.CMSIDRREPFields{RequestID: 9, Status: wire.CMSIDRRedirect, QPN: 0x4242, ServiceID: 0x1000000000000042,
				QKey: 0x1234, AdditionalInfo: []byte{7, 7}, PrivateData: []byte("r")})
		}, "00000009 04020000 00424200 10000000 00000042 00001234 0707" + strings.Repeat("00", 70) + "72", func(b []byte) bool {
			s := wire.CMSIDRREP(b)
			return s.Status() == wire.CMSIDRRedirect && s.QPN() == 0x4242 && s.QKey() == 0x1234 && len(s.AdditionalInfo()) == 2 &&
				len(s.PrivateData()) == wire.CMSIDRREPPrivateDataSize
		}},
		{"LAP", func(b []byte) {
			wire.CMLAP(b).Encode(&wire.CMLAPFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 1, RemoteCommID: 2}, RemoteQPN: 0xabcdef,
				RemoteCMResponseTimeout: 31, Alternate: cmAlt, PrivateData: []byte("lap")})
		}, "00000001 00000002 00000000 abcdeff8 00000000 00210022" +
			"fe800000 00000000 00000000 00000003 fe800000 00000000 00000000 00000004" +
			"54321009 02035888 6c6170", func(b []byte) bool {
			l := wire.CMLAP(b)
			return l.Alternate() == cmAlt && l.RemoteCMResponseTimeout() == 31 && len(l.PrivateData()) == wire.CMLAPPrivateDataSize
		}},
		{"APR", func(b []byte) {
			wire.CMAPR(b).Encode(&wire.CMAPRFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 1, RemoteCommID: 2}, Status: wire.CMAPRRejected,
				AdditionalInfo: []byte{5}, PrivateData: []byte("apr")})
		}, "00000001 00000002 01030000 05" + strings.Repeat("00", 71) + "617072", func(b []byte) bool {
			a := wire.CMAPR(b)
			return a.Status() == wire.CMAPRRejected && bytes.Equal(a.AdditionalInfo(), []byte{5}) && len(a.PrivateData()) == wire.CMAPRPrivateDataSize
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bytes.Repeat([]byte{0xEE}, wire.CMMessageSize) // Encode must clear what it does not set
			c.encode(b)
			if want := padMsg(t, c.hex); !bytes.Equal(b, want) {
				t.Fatalf("bytes\n got %x\nwant %x", b, want)
			}
			if !c.check(b) {
				t.Fatalf("accessors disagree with the encoded fields")
			}
		})
	}
}

func TestCMParseShort(t *testing.T) {
	parsers := map[string]func([]byte) error{
		"REQ":      func(b []byte) error { _, err := wire.ParseCMREQ(b); return err },
		"MRA":      func(b []byte) error { _, err := wire.ParseCMMRA(b); return err },
		"REJ":      func(b []byte) error { _, err := wire.ParseCMREJ(b); return err },
		"REP":      func(b []byte) error { _, err := wire.ParseCMREP(b); return err },
		"RTU":      func(b []byte) error { _, err := wire.ParseCMRTU(b); return err },
		"DREQ":     func(b []byte) error { _, err := wire.ParseCMDREQ(b); return err },
		"DREP":     func(b []byte) error { _, err := wire.ParseCMDREP(b); return err },
		"SIDR_REQ": func(b []byte) error { _, err := wire.ParseCMSIDRREQ(b); return err },
		"SIDR_REP": func(b []byte) error { _, err := wire.ParseCMSIDRREP(b); return err },
		"LAP":      func(b []byte) error { _, err := wire.ParseCMLAP(b); return err },
		"APR":      func(b []byte) error { _, err := wire.ParseCMAPR(b); return err },
		"MAD":      func(b []byte) error { _, err := wire.ParseCMMAD(b); return err },
	}
	for name, p := range parsers {
		if err := p(make([]byte, wire.CMMessageSize-1)); !errors.Is(err, wire.ErrMADTooShort) {
			t.Errorf("%s: short buffer: %v", name, err)
		}
		if name != "MAD" {
			if err := p(make([]byte, wire.CMMessageSize)); err != nil {
				t.Errorf("%s: whole message: %v", name, err)
			}
		}
	}
	m := make([]byte, wire.MADSize)
	wire.EncodeCMMAD(m, wire.AttrCMREQ, 7)
	if _, err := wire.ParseCMMAD(m); err != nil {
		t.Fatal(err)
	}
	m[2] = 1
	var se *wire.MADStatusError
	if v, err := wire.ParseCMMAD(m); !errors.As(err, &se) || se.Status != wire.MADStatusBadVersion || v == nil {
		t.Fatalf("class version 1: %v", err)
	}
	m[2], m[1] = 2, 3
	if _, err := wire.ParseCMMAD(m); err == nil {
		t.Fatal("SA class accepted as CM")
	}
}

func TestCMNamesAndTimeouts(t *testing.T) {
	if got := wire.CMRejectInvalidServiceID.String(); got != "invalid service ID" {
		t.Errorf("reason 8: %q", got)
	}
	if got := wire.CMRejectReason(99).String(); got != "CMRejectReason(99)" {
		t.Errorf("reason 99: %q", got)
	}
	if got := wire.CMAttrName(wire.AttrCMSIDRREP); got != "SIDR_REP" {
		t.Errorf("0x0018: %q", got)
	}
	if got := wire.CMTimeout(0); got != 4096*time.Nanosecond {
		t.Errorf("timeout 0: %v", got)
	}
	// 4.096 µs × 2^20 ≈ 4.29 s (rdma_cm's CMA_CM_RESPONSE_TIMEOUT).
	if got := wire.CMTimeout(20); got != 4294967296*time.Nanosecond {
		t.Errorf("timeout 20: %v", got)
	}
	if wire.CMTimeout(40) != wire.CMTimeout(31) {
		t.Error("timeout above 31 is not clamped")
	}
}

// TestCMDecodesInTshark wraps REQ, REP, RTU, REJ, DREQ and DREP (the CM
// messages tshark 4.0 dissects) in UD frames to QP1 and checks that
// tshark reads every field the way we wrote it. MRA, SIDR and LAP/APR
// frames must decode as InfiniBand CM too (tshark has no field dissector
// for them: "Dissector Not Implemented").
func TestCMDecodesInTshark(t *testing.T) {
	path := capturetest.Path(t, "cm.pcap")
	w, err := capture.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	frame := func(a wire.AttrID, fill func([]byte)) {
		m := make([]byte, wire.MADSize)
		wire.EncodeCMMAD(m, a, 0x0000000112345678)
		fill(wire.CMMAD(m).Message())
		fr, err := wire.EncodePacket(&wire.PacketFields{LRH: wire.LRHFields{DLID: 5, SLID: 3},
			BTH:  wire.BTHFields{OpCode: wire.OpUDSendOnly, PKey: 0xFFFF, DestQP: 1, PSN: 7},
			DETH: &wire.DETHFields{QKey: 0x80010000, SrcQP: 1}, Payload: m})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteFrame(time.Unix(0, 0), fr); err != nil {
			t.Fatal(err)
		}
	}
	frame(wire.AttrCMREQ, func(b []byte) { wire.CMREQ(b).Encode(&cmREQFields) })
	frame(wire.AttrCMREP, func(b []byte) { wire.CMREP(b).Encode(&cmREPFields) })
	frame(wire.AttrCMRTU, func(b []byte) {
		wire.CMRTU(b).Encode(&wire.CMRTUFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 0xdeadbeef, RemoteCommID: 0x01020304}, PrivateData: []byte("rtu")})
	})
	frame(wire.AttrCMREJ, func(b []byte) {
		wire.CMREJ(b).Encode(&wire.CMREJFields{RemoteCommID: 0xdeadbeef, MessageRejected: wire.CMMsgREP,
			Reason: wire.CMRejectConsumerDefined, ARI: []byte{1, 2, 3}, PrivateData: []byte("no")})
	})
	frame(wire.AttrCMDREQ, func(b []byte) {
		wire.CMDREQ(b).Encode(&wire.CMDREQFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 0xdeadbeef, RemoteCommID: 0x01020304}, RemoteQPN: 0x654321})
	})
	frame(wire.AttrCMDREP, func(b []byte) {
		wire.CMDREP(b).Encode(&wire.CMDREPFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 0x01020304, RemoteCommID: 0xdeadbeef}})
	})
	// The messages tshark 4.0 has no field dissector for: they must still
	// decode as CM MADs with no malformed or expert error.
	frame(wire.AttrCMMRA, func(b []byte) {
		wire.CMMRA(b).Encode(&wire.CMMRAFields{LocalCommID: 1, RemoteCommID: 2, MessageMRAed: wire.CMMsgREP, ServiceTimeout: 20, PrivateData: []byte("mra")})
	})
	frame(wire.AttrCMSIDRREQ, func(b []byte) {
		wire.CMSIDRREQ(b).Encode(&wire.CMSIDRREQFields{RequestID: 3, PKey: 0xffff, ServiceID: 0x1000000000000042, PrivateData: []byte("sidr")})
	})
	frame(wire.AttrCMSIDRREP, func(b []byte) {
		wire.CMSIDRREP(b).Encode(&wire.CMSIDRREPFields{RequestID: 3, Status: wire.CMSIDRSuccess, QPN: 0x123456, ServiceID: 0x1000000000000042,
			QKey: 0x80010000, AdditionalInfo: []byte{1}, PrivateData: []byte("rep")})
	})
	frame(wire.AttrCMLAP, func(b []byte) {
		wire.CMLAP(b).Encode(&wire.CMLAPFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 1, RemoteCommID: 2}, RemoteQPN: 0x123456,
			RemoteCMResponseTimeout: 20, Alternate: cmAlt})
	})
	frame(wire.AttrCMAPR, func(b []byte) {
		wire.CMAPR(b).Encode(&wire.CMAPRFields{CMCommIDs: wire.CMCommIDs{LocalCommID: 2, RemoteCommID: 1}, Status: wire.CMAPRRejected})
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Log(strings.TrimSpace(capturetest.Check(t, path)))

	fields := []string{
		// REQ
		"infiniband.cm.req", "infiniband.cm.req.serviceid", "infiniband.cm.req.localcaguid", "infiniband.cm.req.localqkey",
		"infiniband.cm.req.localqpn", "infiniband.cm.req.responderres", "infiniband.cm.req.localeecn", "infiniband.cm.req.initdepth",
		"infiniband.cm.req.remoteeecn", "infiniband.cm.req.remoteresptout", "infiniband.cm.req.transpsvctype",
		"infiniband.cm.req.e2eflowctrl", "infiniband.cm.req.startpsn", "infiniband.cm.req.localresptout",
		"infiniband.cm.req.retrcount", "infiniband.cm.req.pkey", "infiniband.cm.req.pppmtu", "infiniband.cm.req.rdcexist",
		"infiniband.cm.req.rnrretrcount", "infiniband.cm.req.maxcmretr", "infiniband.cm.req.srq", "infiniband.cm.req.ext_transport",
		"infiniband.cm.req.prim_locallid", "infiniband.cm.req.prim_remotelid", "infiniband.cm.req.prim_localgid",
		"infiniband.cm.req.prim_remotegid", "infiniband.cm.req.prim_tfcclass", "infiniband.cm.req.prim_hoplim",
		"infiniband.cm.req.prim_sl", "infiniband.cm.req.prim_subnetlocal", "infiniband.cm.req.prim_localacktout",
		"infiniband.cm.req.alt_locallid", "infiniband.cm.req.alt_remotelid", "infiniband.cm.req.alt_tfcclass",
		"infiniband.cm.req.alt_hoplim", "infiniband.cm.req.alt_sl", "infiniband.cm.req.alt_subnetlocal",
		"infiniband.cm.req.alt_localacktout",
		// REP
		"infiniband.cm.rep", "infiniband.cm.rep.remotecommid", "infiniband.cm.rep.localqkey", "infiniband.cm.rep.localqpn",
		"infiniband.cm.rep.localeecn", "infiniband.cm.rep.startpsn", "infiniband.cm.rep.respres", "infiniband.cm.rep.initdepth",
		"infiniband.cm.rep.tgtackdelay", "infiniband.cm.rep.failoveracc", "infiniband.cm.rep.e2eflowctrl",
		"infiniband.cm.rep.rnrretrcount", "infiniband.cm.rep.srq", "infiniband.cm.rep.localcaguid",
		// RTU, REJ, DREQ, DREP
		"infiniband.cm.rtu.localcommid", "infiniband.cm.rtu.remotecommid", "infiniband.cm.rej.localcommid",
		"infiniband.cm.rej.remotecommid", "infiniband.cm.rej.msgrej", "infiniband.cm.rej.reason", "infiniband.cm.rej.rejinfolen",
		"infiniband.cm.rej.ari", "infiniband.cm.rej.private",
		"infiniband.cm.dreq.localcommid", "infiniband.cm.dreq.remotecommid", "infiniband.cm.req.remoteqpneecn",
		"infiniband.cm.drsp.localcommid", "infiniband.cm.drsp.remotecommid",
	}
	args := []string{"-n", "-r", path, "-T", "fields", "-E", "separator=|", "-E", "aggregator=,"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		for i, v := range strings.Split(line, "|") {
			if v != "" {
				got[fields[i]] = normHex(v)
			}
		}
	}
	want := map[string]string{
		"infiniband.cm.req": "0xdeadbeef", "infiniband.cm.req.serviceid": "0x1000000000000042",
		"infiniband.cm.req.localcaguid": "0x0002c90300001234", "infiniband.cm.req.localqkey": "0x11223344",
		"infiniband.cm.req.localqpn": "0x123456", "infiniband.cm.req.responderres": "0x04", "infiniband.cm.req.localeecn": "0x000101",
		"infiniband.cm.req.initdepth": "0x03", "infiniband.cm.req.remoteeecn": "0x000202", "infiniband.cm.req.remoteresptout": "0x14",
		"infiniband.cm.req.transpsvctype": "0x1", "infiniband.cm.req.e2eflowctrl": "0x1", "infiniband.cm.req.startpsn": "0xabcdef",
		"infiniband.cm.req.localresptout": "0x12", "infiniband.cm.req.retrcount": "0x6", "infiniband.cm.req.pkey": "0xffff",
		"infiniband.cm.req.pppmtu": "0x4", "infiniband.cm.req.rdcexist": "0x1", "infiniband.cm.req.rnrretrcount": "0x5",
		"infiniband.cm.req.maxcmretr": "0xf", "infiniband.cm.req.srq": "0x1", "infiniband.cm.req.ext_transport": "0x1",
		"infiniband.cm.req.prim_locallid": "3", "infiniband.cm.req.prim_remotelid": "5", "infiniband.cm.req.prim_localgid": "fe80::1",
		"infiniband.cm.req.prim_remotegid": "fe80::2", "infiniband.cm.req.prim_tfcclass": "0x20", "infiniband.cm.req.prim_hoplim": "0x01",
		"infiniband.cm.req.prim_sl": "0x7", "infiniband.cm.req.prim_subnetlocal": "0x1", "infiniband.cm.req.prim_localacktout": "0x13",
		"infiniband.cm.req.alt_locallid": "33", "infiniband.cm.req.alt_remotelid": "34", "infiniband.cm.req.alt_tfcclass": "0x09",
		"infiniband.cm.req.alt_hoplim": "0x02", "infiniband.cm.req.alt_sl": "0x5", "infiniband.cm.req.alt_subnetlocal": "0x1",
		"infiniband.cm.req.alt_localacktout": "0x11",
		"infiniband.cm.rep":                  "0x01020304", "infiniband.cm.rep.remotecommid": "0xdeadbeef", "infiniband.cm.rep.localqkey": "0x55667788",
		"infiniband.cm.rep.localqpn": "0x654321", "infiniband.cm.rep.localeecn": "0x000303", "infiniband.cm.rep.startpsn": "0x123abc",
		"infiniband.cm.rep.respres": "0x02", "infiniband.cm.rep.initdepth": "0x01", "infiniband.cm.rep.tgtackdelay": "0x0f",
		"infiniband.cm.rep.failoveracc": "0x2", "infiniband.cm.rep.e2eflowctrl": "0x1", "infiniband.cm.rep.rnrretrcount": "0x6",
		"infiniband.cm.rep.srq": "0x1", "infiniband.cm.rep.localcaguid": "0x0002c90300005678",
		"infiniband.cm.rtu.localcommid": "0xdeadbeef", "infiniband.cm.rtu.remotecommid": "0x01020304",
		"infiniband.cm.rej.localcommid": "0x00000000", "infiniband.cm.rej.remotecommid": "0xdeadbeef", "infiniband.cm.rej.msgrej": "0x1",
		"infiniband.cm.rej.reason": "0x001c", "infiniband.cm.rej.rejinfolen": "0x03",
		"infiniband.cm.rej.ari":          "010203" + strings.Repeat("00", wire.CMREJARISize-3),
		"infiniband.cm.rej.private":      "6e6f" + strings.Repeat("00", wire.CMREJPrivateDataSize-2),
		"infiniband.cm.dreq.localcommid": "0xdeadbeef", "infiniband.cm.dreq.remotecommid": "0x01020304",
		"infiniband.cm.req.remoteqpneecn": "0x654321",
		"infiniband.cm.drsp.localcommid":  "0x01020304", "infiniband.cm.drsp.remotecommid": "0xdeadbeef",
	}
	for k, v := range want {
		want[k] = normHex(v)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tshark fields (-want +got):\n%s", diff)
	}
}
