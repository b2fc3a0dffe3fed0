package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/capture/capturetest"
	"github.com/ibemu/ibemu/emu/wire"
	hv "github.com/ibemu/ibemu/hca/verbs"
)

// cmMessages reads the CM messages of a capture, each once (a frame is
// captured at every port it leaves), by attribute.
func cmMessages(t *testing.T, path string) map[wire.AttrID][][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := capture.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	out := map[wire.AttrID][][]byte{}
	for _, r := range recs {
		p, err := wire.ParsePacket(r.Frame)
		if err != nil || p.BTH == nil || p.BTH.DestQP() != 1 || len(p.Payload) < wire.MADSize {
			continue
		}
		m := wire.CMMAD(p.Payload[:wire.MADSize])
		if m.MAD().MgmtClass() != wire.MgmtClassCM || seen[string(m)] {
			continue
		}
		seen[string(m)] = true
		out[m.MAD().AttrID()] = append(out[m.MAD().AttrID()], append([]byte(nil), m.Message()...))
	}
	return out
}

// TestPerfRDMACM runs the tests with -R: the QPs connect through the CMs
// of the two ports, and the capture shows it. RC: one REQ, REP and RTU per
// QP, for perftest's service (rdma_cm's TCP port space, port 18515) with
// rdma_cm's IP CM header, and a DREQ and DREP per QP at the end; UD: one
// SIDR_REQ and SIDR_REP per QP. Each side's view of the other's QPs
// (number, starting PSN, rkey, address) is what the other side has, the
// PSNs are the CM's and not the fixed one of the exchange without -R,
// and --retry_count and -S reach the REQ and the QPs.
func TestPerfRDMACM(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range []struct {
		args  []string
		qps   int
		retry uint8
		sl    uint8
	}{
		{[]string{"write_bw", "-n", "20", "-q", "3", "-s", "2048"}, 3, 7, 0},
		{[]string{"read_bw", "-n", "20", "-o", "4", "-s", "2048"}, 1, 7, 0},
		{[]string{"send_bw", "-b", "-n", "20", "-s", "2048"}, 1, 7, 0},
		{[]string{"write_lat", "-n", "20", "-x", "0", "-S", "2", "--retry_count", "3"}, 1, 3, 2},
		{[]string{"send_lat", "-n", "20", "-c", "UD"}, 1, 0, 0},
		{[]string{"send_bw", "-n", "20", "-c", "UD", "-q", "2", "-s", "1024"}, 2, 0, 0},
	} {
		ud := tc.retry == 0
		capFile := filepath.Join(dir, strconv.Itoa(i)+".pcap")
		args := append(append([]string{}, tc.args...), "-R", "--capture", capFile)
		out := perfObserved(t, func(e *perfEnv) {
			cl, sv := e.client, e.server
			for q := range tc.qps {
				if cl.peer.qpns[q] != sv.qps[q].Num() || sv.peer.qpns[q] != cl.qps[q].Num() {
					t.Errorf("%v qp %d: client sees qpn %#x (server has %#x), server sees %#x (client has %#x)",
						tc.args, q, cl.peer.qpns[q], sv.qps[q].Num(), sv.peer.qpns[q], cl.qps[q].Num())
				}
				if cl.peer.rkeys[q] != sv.mrs[q].RKey() || cl.peer.addrs[q] != sv.mrs[q].Addr() {
					t.Errorf("%v qp %d: client sees rkey %#x addr %#x, server has %#x %#x", tc.args, q, cl.peer.rkeys[q], cl.peer.addrs[q], sv.mrs[q].RKey(), sv.mrs[q].Addr())
				}
				if ud {
					continue
				}
				if cl.peer.psns[q] != sv.qpPSN(q) || sv.peer.psns[q] != cl.qpPSN(q) || cl.qpPSN(q) == perfPSN {
					t.Errorf("%v qp %d: psns: client sends %#x (server expects %#x), server sends %#x (client expects %#x)",
						tc.args, q, cl.qpPSN(q), sv.peer.psns[q], sv.qpPSN(q), cl.peer.psns[q])
				}
				a, err := cl.qps[q].Query()
				if err != nil || a.QPState != hv.QPStateRTS || a.RetryCnt != tc.retry || a.AHAttr.SL != tc.sl {
					t.Errorf("%v qp %d: client qp %+v, %v; want RTS, retry_cnt %d, SL %d", tc.args, q, a, err, tc.retry, tc.sl)
				}
			}
		}, args...)
		if !strings.Contains(out, " rdma_cm QPs\t : ON") || !strings.Contains(out, " Data ex. method : rdma_cm") {
			t.Errorf("%v: header:\n%s", args, out)
		}
		msgs := cmMessages(t, capFile)
		count := func(a wire.AttrID) int { return len(msgs[a]) }
		if ud {
			if count(wire.AttrCMSIDRREQ) != tc.qps || count(wire.AttrCMSIDRREP) != tc.qps || count(wire.AttrCMREQ) != 0 {
				t.Errorf("%v: %d SIDR_REQ, %d SIDR_REP, %d REQ; want %d, %d, 0", args, count(wire.AttrCMSIDRREQ), count(wire.AttrCMSIDRREP), count(wire.AttrCMREQ), tc.qps, tc.qps)
			}
			for _, m := range msgs[wire.AttrCMSIDRREQ] {
				if sid := wire.CMSIDRREQ(m).ServiceID(); sid != 0x0000000001114853 {
					t.Errorf("%v: SIDR_REQ service id %#x, want rdma_cm's UDP port 18515", args, sid)
				}
			}
		} else {
			for _, a := range []wire.AttrID{wire.AttrCMREQ, wire.AttrCMREP, wire.AttrCMRTU, wire.AttrCMDREQ, wire.AttrCMDREP} {
				if count(a) != tc.qps {
					t.Errorf("%v: %d messages of CM attribute %#x, want %d", args, count(a), a, tc.qps)
				}
			}
			for _, m := range msgs[wire.AttrCMREQ] {
				req := wire.CMREQ(m)
				if sid := req.ServiceID(); sid != 0x0000000001064853 {
					t.Errorf("%v: REQ service id %#x, want rdma_cm's TCP port 18515", args, sid)
				}
				if pd := req.PrivateData(); pd[0] != 0 || pd[1] != 0x60 || !bytes.Equal(pd[4:6], []byte{0xfe, 0x80}) {
					t.Errorf("%v: REQ private data % x, want rdma_cm's IP CM header (IPv6 link-local)", args, pd[:8])
				}
				if req.RetryCount() != tc.retry || req.Primary().SL() != tc.sl {
					t.Errorf("%v: REQ retry count %d, SL %d; want %d, %d", args, req.RetryCount(), req.Primary().SL(), tc.retry, tc.sl)
				}
			}
		}
		capturetest.Check(t, capFile)
	}
	// An empty P_Key entry names no partition to connect in.
	if _, errOut, code := runCmd(t, "perf", "write_bw", "-R", "--pkey_index", "1", "-n", "10"); code != 1 || !strings.Contains(errOut, "P_Key table is empty") {
		t.Errorf("-R --pkey_index 1 (empty): exit %d, %q", code, errOut)
	}
}

// TestPerfCMPrivateData round-trips the private data and refuses what is
// not ibemu perf's.
func TestPerfCMPrivateData(t *testing.T) {
	p := perfCMPrivate{index: 3, outs: 16, qpn: 0x123456, psn: 0xabcdef, rkey: 0xdeadbeef, addr: 0x1122334455667788}
	var src, dst wire.GID
	src[0], src[1], src[8], src[15] = 0xfe, 0x80, 0x00, 0x11
	dst[0], dst[1], dst[8], dst[15] = 0xfe, 0x80, 0x00, 0x21
	req := append(cmaHeader(perfCMSourcePort(3), src, dst), p.encode()...)
	got, err := parseRequestPrivate(req)
	if err != nil || got != p {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, p)
	}
	if req[4+8] != 0x02 || req[20+8] != 0x02 {
		t.Errorf("IP CM addresses % x: want the GUIDs with the universal/local bit flipped", req[4:36])
	}
	for name, b := range map[string][]byte{
		"empty":         nil,
		"no header":     p.encode(),
		"short":         req[:len(req)-1],
		"other magic":   append(cmaHeader(1, src, dst), append([]byte("XBPF"), p.encode()[4:]...)...),
		"other version": append(cmaHeader(1, src, dst), append(append([]byte{}, p.encode()[:4]...), append([]byte{2}, p.encode()[5:]...)...)...),
	} {
		if _, err := parseRequestPrivate(b); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// FuzzPerfCMPrivate: the private data decoders never panic, and what they
// accept encodes back to the same bytes.
func FuzzPerfCMPrivate(f *testing.F) {
	var g wire.GID
	f.Add(append(cmaHeader(49152, g, g), perfCMPrivate{index: 1, outs: 4, qpn: 0x49}.encode()...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseRequestPrivate(b)
		if err != nil {
			return
		}
		if enc := p.encode(); !bytes.Equal(enc, b[perfCMAHeaderSize:perfCMAHeaderSize+perfCMPrivateSize]) {
			t.Fatalf("% x decodes to %+v, which encodes to % x", b, p, enc)
		}
	})
}

// TestPerfMulticast runs -g: each side's SENDs go to the other side's
// group (DLID its MLID, a GRH to its MGID, destination QP 0xFFFFFF), the
// switch forwards them by its multicast table, and the receiving QP,
// attached to the group, takes them. -M names the group.
func TestPerfMulticast(t *testing.T) {
	dir := t.TempDir()
	for i, tc := range []struct {
		args  []string
		mlids []wire.LID // the groups the data frames go to
		mgid  wire.GID   // the first group's MGID
	}{
		{[]string{"send_bw", "-g", "-n", "50", "-s", "1024"}, []wire.LID{0xC000}, perfMCGGID},
		{[]string{"send_lat", "-g", "-n", "20"}, []wire.LID{0xC000, 0xC001}, perfMCGGID},
		{[]string{"send_lat", "-g", "-n", "20", "-M", "255:2:0:0:0:0:0:0:0:0:0:0:0:0:0:9"}, []wire.LID{0xC000}, wire.GID{255, 2, 15: 9}},
	} {
		capFile := filepath.Join(dir, strconv.Itoa(i)+".pcap")
		out, errOut, code := runCmd(t, append(append([]string{"perf"}, tc.args...), "--capture", capFile)...)
		if code != 0 || !strings.Contains(out, " MultiCast runs on UD!") || !strings.Contains(out, "Multicast Test") {
			t.Fatalf("%v: exit %d: %s\n%s", tc.args, code, errOut, out)
		}
		f, err := os.Open(capFile)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := capture.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[wire.LID]int{}
		for _, r := range recs {
			p, err := wire.ParsePacket(r.Frame)
			if err != nil || p.BTH == nil || p.BTH.OpCode() != wire.OpUDSendOnly && p.BTH.OpCode() != wire.OpUDSendOnlyImm {
				continue
			}
			if p.BTH.DestQP() == 1 {
				continue
			}
			dlid := p.LRH.DLID()
			if !dlid.IsMulticast() || p.GRH == nil || p.BTH.DestQP() != perfMcastQPN {
				t.Fatalf("%v: a SEND to lid %#x qp %#x (grh %t), want a multicast group", tc.args, uint16(dlid), p.BTH.DestQP(), p.GRH != nil)
			}
			want := tc.mgid
			if dlid == 0xC001 {
				want[15]++
			}
			if p.GRH.DGID() != want {
				t.Errorf("%v: a SEND to mlid %#x with DGID %s, want %s", tc.args, uint16(dlid), p.GRH.DGID(), want)
			}
			seen[dlid]++
		}
		if len(seen) != len(tc.mlids) {
			t.Errorf("%v: SENDs went to groups %v, want %v", tc.args, seen, tc.mlids)
		}
		for _, l := range tc.mlids {
			if seen[l] == 0 {
				t.Errorf("%v: no SEND to mlid %#x (%v)", tc.args, uint16(l), seen)
			}
		}
		capturetest.Check(t, capFile)
	}
	for _, args := range [][]string{
		{"perf", "send_bw", "-g", "-b"},
		{"perf", "send_bw", "-g", "-q", "2"},
		{"perf", "send_bw", "-g", "-R"},
		{"perf", "send_bw", "-M", "255:1:0:0:0:0:0:0:0:0:0:0:0:0:0:1"},
		{"perf", "send_bw", "-g", "-M", "1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16"},
		{"perf", "send_bw", "-g", "-M", "255:1:2"},
	} {
		if _, errOut, code := runCmd(t, args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}
