//go:build linux

package attach

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// startServer starts a local-mode server for topo on a socket name of its
// own.
func startServer(t testing.TB, topo *topology.Topology, set func(*Config)) *Server {
	t.Helper()
	cfg := Config{Topology: topo, Logger: testLogger(t),
		SockName: fmt.Sprintf("ibemu-unit-%d-%d", os.Getpid(), sockSeq.Add(1))}
	if set != nil {
		set(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func dial(t *testing.T, srv *Server, host string, issm bool) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, &DialConfig{SockName: srv.cfg.SockName, Host: host, ISSM: issm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestDialAttachPoints: the control replies describe the attach port, for
// a CA, a CA by NodeDescription, a CA's other port, and the default (the
// first switch's port 0).
func TestDialAttachPoints(t *testing.T) {
	srv := startServer(t, parseTestNet(t), nil)
	for _, tc := range []struct {
		host, node string
		typ        wire.NodeType
		port       uint8
		guid       wire.GUID
	}{
		{"", "Switch1", wire.NodeTypeSwitch, 0, 0x200000},
		{"Hca1", "Hca1", wire.NodeTypeCA, 1, 0x100001},
		{"third host", "Hca3", wire.NodeTypeCA, 1, 0x100007},
		{"Hca2[2]", "Hca2[2]", wire.NodeTypeCA, 2, 0x100005},
		{"Switch2", "Switch2", wire.NodeTypeSwitch, 0, 0x200001},
	} {
		c := dial(t, srv, tc.host, false)
		ni, pi := c.NodeInfo(), c.PortInfo()
		if c.Node() != tc.node || ni.NodeType() != tc.typ || ni.LocalPortNum() != tc.port || ni.PortGUID() != tc.guid ||
			pi.LocalPortNum() != tc.port {
			t.Errorf("SIM_HOST %q: node %q type %v local port %d/%d guid %#x, want %q %v %d %#x", tc.host, c.Node(),
				ni.NodeType(), ni.LocalPortNum(), pi.LocalPortNum(), ni.PortGUID(), tc.node, tc.typ, tc.port, tc.guid)
		}
		if v := c.Vendor(); v.VendorID != ni.VendorID() || v.PartID != uint32(ni.DeviceID()) || v.FWVer == 0 {
			t.Errorf("SIM_HOST %q: vendor %+v does not match NodeInfo", tc.host, v)
		}
		if pk := c.PKeys(); len(pk) != MaxPKeys || pk[0] != wire.PKeyDefault {
			t.Errorf("SIM_HOST %q: P_Keys %v", tc.host, pk)
		}
	}
	_, err := Dial(context.Background(), &DialConfig{SockName: srv.cfg.SockName, Host: "NoSuchNode"})
	if !errors.Is(err, ErrRefused) {
		t.Errorf("SIM_HOST naming no node: %v, want ErrRefused", err)
	}
	if n := len(srv.Clients()); n != 5 {
		t.Errorf("%d clients attached, want 5", n)
	}
}

// TestDialSMPs: DR and LID-routed SMPs from a CA and from a switch's
// port 0 reach their nodes and the answers come back to the right client.
func TestDialSMPs(t *testing.T) {
	srv := startServer(t, parseTestNet(t), nil)
	ctx := context.Background()
	for _, host := range []string{"Hca1", "Switch1"} {
		c := dial(t, srv, host, false)
		a := newAgent(t, c, smiReg)
		path := mad.DRPath{3} // Switch1 -> Switch2
		if host == "Hca1" {
			path = mad.DRPath{1, 3}
		}
		d, err := a.SMPGet(ctx, path, wire.AttrNodeInfo, 0)
		if err != nil {
			t.Fatalf("%s: DR NodeInfo via %v: %v", host, path, err)
		}
		if g := wire.NodeInfo(d).NodeGUID(); g != 0x200001 {
			t.Errorf("%s: DR NodeInfo via %v: guid %#x, want Switch2's", host, path, g)
		}
		// Hop count 0: the attach node itself.
		d, err = a.SMPGet(ctx, mad.DRPath{}, wire.AttrNodeDescription, 0)
		if err != nil || !strings.HasPrefix(string(d), host) {
			t.Errorf("%s: own NodeDescription: %q, %v", host, d, err)
		}
		// A path out of a port with no link comes back at once.
		unlinked := mad.DRPath{7}
		if host == "Hca1" {
			unlinked = mad.DRPath{2}
		}
		if _, err := a.SMPGet(ctx, unlinked, wire.AttrNodeInfo, 0); !errors.Is(err, mad.ErrSendFailed) {
			t.Errorf("%s: DR out of an unlinked port: %v, want a send failure", host, err)
		}
	}
}

// TestSMClientRouting: unsolicited SA requests go to the SM client only,
// its answers come back to the requester by TID, and a client that is not
// an SM never gets a request.
func TestSMClientRouting(t *testing.T) {
	srv := startServer(t, parseTestNet(t), nil)
	ctx := context.Background()
	// LIDs, forwarding tables and Active links, as an SM would set them.
	srv.programLinear(t)
	for _, host := range []string{"Hca3", "Switch1"} {
		t.Run("sm at "+host, func(t *testing.T) {
			sm := dial(t, srv, host, false)
			saReg := mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2,
				Methods: []wire.Method{wire.MethodGet}}
			sa := newAgent(t, sm, saReg)
			var mu sync.Mutex
			var seen []wire.LID
			sa.Serve(func(r *mad.Received) {
				mu.Lock()
				seen = append(seen, r.Addr.LID)
				mu.Unlock()
				resp := append([]byte(nil), r.MAD...)
				m := wire.MAD(resp)
				m.SetResponse(wire.MADStatusOK)
				copy(m[64:], "answer from the SM")
				if err := r.Respond(resp); err != nil {
					t.Error(err)
				}
			})
			if err := srv.Fabric().Do(func() {
				if srv.points[defaultAttach(srv.byID[host])].sm == nil {
					t.Error("serving an SA class did not make the client the SM")
				}
			}); err != nil {
				t.Fatal(err)
			}
			other := dial(t, srv, host, false) // a diag on the same port
			far := dial(t, srv, "Hca4", false)
			smLID := srv.lidOfTest(t, host)
			for _, cl := range []*Client{other, far} {
				q := newAgent(t, cl, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2})
				req := make([]byte, wire.MADSize)
				wire.MAD(req).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: 2,
					Method: wire.MethodGet, AttrID: wire.AttrNodeRecord})
				resp, err := q.Call(ctx, mad.Addr{LID: smLID, QPN: 1}, req)
				if err != nil {
					t.Fatalf("SA Get from %s to lid %d: %v", cl.Node(), smLID, err)
				}
				if !bytes.HasPrefix(resp[64:], []byte("answer from the SM")) {
					t.Errorf("SA answer %q", resp[64:96])
				}
			}
			mu.Lock()
			if len(seen) != 2 {
				t.Errorf("the SM got %d requests, want 2", len(seen))
			}
			mu.Unlock()
		})
	}
}

// rawClient speaks the protocol by hand, to send what libumad2sim never
// would.
type rawClient struct {
	t    testing.TB
	ctl  *net.UnixConn
	data *net.UnixConn
	base string
	slot uint32
}

var rawSeq sync.Mutex
var rawID uint32 = 3 << 22

func newRaw(t testing.TB, srv *Server) *rawClient {
	t.Helper()
	rawSeq.Lock()
	rawID++
	id := rawID + uint32(os.Getpid())
	rawSeq.Unlock()
	base := srv.cfg.SockName
	ctl, err := net.DialUnix("unixgram", abstract(fmt.Sprintf("%s:ctl%d", base, id)), abstract(base+":ctl"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := net.ListenUnixgram("unixgram", abstract(fmt.Sprintf("%s:in%d", base, id)))
	if err != nil {
		t.Fatal(err)
	}
	r := &rawClient{t: t, ctl: ctl, data: data, base: base}
	t.Cleanup(func() { _ = ctl.Close(); _ = data.Close() })
	req := NewCtl(CtlConnect, 0)
	(&ClientInfo{ID: id, NodeID: "Hca1"}).Encode(req.Data())
	rep := r.ctlRoundTrip(req)
	if rep == nil || rep.Type() != CtlConnect {
		t.Fatalf("raw connect: %v", rep)
	}
	ci, _ := DecodeClientInfo(rep.Data())
	r.slot = ci.ID
	return r
}

// ctlRoundTrip sends b and returns the reply, or nil if none came.
func (r *rawClient) ctlRoundTrip(b []byte) Ctl {
	r.t.Helper()
	if _, err := r.ctl.Write(b); err != nil {
		r.t.Fatal(err)
	}
	_ = r.ctl.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 256)
	n, err := r.ctl.Read(buf)
	if err != nil {
		return nil
	}
	c, err := ParseCtl(buf[:n])
	if err != nil {
		r.t.Fatalf("reply is not a control message: %v", err)
	}
	return c
}

func (r *rawClient) send(b []byte) {
	r.t.Helper()
	if _, err := r.data.WriteTo(b, abstract(fmt.Sprintf("%s:out%d", r.base, r.slot))); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawClient) recv(timeout time.Duration) Datagram {
	_ = r.data.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 512)
	n, _, err := r.data.ReadFrom(buf)
	if err != nil {
		return nil
	}
	d, err := ParseDatagram(buf[:n])
	if err != nil {
		r.t.Fatalf("server sent a bad datagram: %v", err)
	}
	return d
}

// drSMP builds a DR NodeInfo Get along path from a CA.
func drSMP(tid uint64, path ...uint8) Datagram {
	d := NewDatagram()
	d.SetDLID(wire.LIDPermissive)
	d.SetSLID(wire.LIDPermissive)
	s := wire.SMP(d.MAD())
	f := wire.SMPFields{Directed: true, Method: wire.MethodGet, TID: tid, AttrID: wire.AttrNodeInfo,
		HopCount: uint8(len(path) - 1), DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive}
	copy(f.InitialPath[:], path)
	s.Encode(&f)
	return d
}

// TestBadInput: malformed control messages and datagrams, unknown types,
// wrong magic and foreign slots are refused or dropped with a log line;
// the server and its other clients carry on.
func TestBadInput(t *testing.T) {
	srv := startServer(t, parseTestNet(t), nil)
	good := dial(t, srv, "Hca3", false)
	ga := newAgent(t, good, smiReg)
	r := newRaw(t, srv)

	if rep := r.ctlRoundTrip(make([]byte, 79)); rep != nil {
		t.Errorf("short control message answered: %v", rep)
	}
	bad := NewCtl(CtlGetVendor, r.slot)
	bad.SetMagic(0x12345678)
	if rep := r.ctlRoundTrip(bad); rep != nil {
		t.Errorf("wrong magic answered: %v", rep)
	}
	if rep := r.ctlRoundTrip(NewCtl(CtlType(77), r.slot)); rep == nil || rep.Type() != CtlError {
		t.Errorf("unknown control type: reply %v, want ERROR", rep)
	}
	if rep := r.ctlRoundTrip(NewCtl(CtlGetNodeInfo, 999)); rep == nil || rep.Type() != CtlError {
		t.Errorf("request for an unused slot: reply %v, want ERROR", rep)
	}
	if rep := r.ctlRoundTrip(NewCtl(CtlGetNodeInfo, uint32(good.Slot()))); rep == nil || rep.Type() != CtlError {
		t.Errorf("request for another client's slot: reply %v, want ERROR", rep)
	}
	if rep := r.ctlRoundTrip(NewCtl(CtlGetNodeInfo, r.slot)); rep == nil || rep.Type() != CtlGetNodeInfo ||
		wire.NodeInfo(rep.Data()).NodeGUID() != 0x100000 {
		t.Errorf("good request after bad ones: %v", rep)
	}
	before := srv.Stats().Malformed.Load()
	r.send(make([]byte, 100))             // short
	r.send(make([]byte, DatagramSize+10)) // long
	long := NewDatagram()
	long.SetLength(4096) // MAD length beyond 256
	r.send(long)
	zero := NewDatagram() // base version 0: returned undeliverable
	wire.MAD(zero.MAD()).SetMethod(wire.MethodGet)
	r.send(zero)
	if d := r.recv(time.Second); d == nil || d.Status() != StatusTimeout {
		t.Errorf("MAD with base version 0: got %v, want it back with status 110", d)
	}
	r.send(drSMP(0x42, 0, 1))
	d := r.recv(time.Second)
	if d == nil || d.Status() != 0 || !d.MAD().IsResponse() || d.MAD().TID()&0xFFFFFFFF != 0x42 ||
		wire.NodeInfo(wire.SMP(d.MAD()).Data()).NodeGUID() != 0x200000 {
		t.Errorf("good DR SMP after bad datagrams: %v", d)
	}
	if got := srv.Stats().Malformed.Load() - before; got != 3 {
		t.Errorf("%d malformed datagrams counted, want 3", got)
	}
	// The other client never noticed.
	if _, err := ga.SMPGet(context.Background(), mad.DRPath{1}, wire.AttrNodeInfo, 0); err != nil {
		t.Errorf("other client after bad input: %v", err)
	}
}

// TestManyOutstanding: a client with 600 SMPs in flight at once gets
// every answer (ibsim livelocks with OpenSM --maxsmps 0).
func TestManyOutstanding(t *testing.T) {
	srv := startServer(t, parseTestNet(t), nil)
	r := newRaw(t, srv)
	const n = 600
	for i := range n {
		r.send(drSMP(uint64(i), 0, 1, 3, 1)) // Hca1 -> Switch1 -> Switch2 -> Hca2
	}
	got := map[uint64]bool{}
	for len(got) < n {
		d := r.recv(5 * time.Second)
		if d == nil {
			break
		}
		if d.Status() != 0 || wire.NodeInfo(wire.SMP(d.MAD()).Data()).NodeGUID() != 0x100003 {
			t.Fatalf("answer %#x: status %d guid %#x", d.MAD().TID(), d.Status(),
				wire.NodeInfo(wire.SMP(d.MAD()).Data()).NodeGUID())
		}
		got[d.MAD().TID()&0xFFFFFFFF] = true
	}
	if len(got) != n {
		t.Errorf("%d of %d answers arrived", len(got), n)
	}
	// The data path is batched: a burst is read and written many
	// datagrams per system call (recvmmsg/sendmmsg on Linux).
	st := srv.Stats()
	from, to, reads, writes := st.FromClients.Load(), st.ToClients.Load(), st.Reads.Load(), st.Writes.Load()
	t.Logf("%d datagrams in %d reads, %d out in %d writes", from, reads, to, writes)
	if reads == 0 || writes == 0 || reads >= from || writes >= to {
		t.Errorf("%d datagrams in %d reads, %d out in %d writes: not batched", from, reads, to, writes)
	}
}

// TestRetransmitAndTimeout: a request whose answer is lost is sent again
// after each MADTimeout (the sweep sends it between one and 1.25
// timeouts after the last send), MADRetries times, and then comes back
// to the client with status 110; the transaction and its copy are
// released, and the next request is answered.
func TestRetransmitAndTimeout(t *testing.T) {
	const timeout, retries = 40 * time.Millisecond, 2
	srv := startServer(t, parseTestNet(t), func(c *Config) { c.MADTimeout = timeout; c.MADRetries = retries })
	r := newRaw(t, srv)
	if err := srv.Exec(`Drop "Hca2"[1] 100`, io.Discard); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.send(drSMP(7, 0, 1, 3, 1)) // Hca1 -> Switch1 -> Switch2 -> Hca2, whose answers are lost
	d := r.recv(5 * time.Second)
	took := time.Since(start)
	if d == nil || d.Status() != StatusTimeout || d.MAD().TID()&0xFFFFFFFF != 7 {
		t.Fatalf("lost request: got %v, want it back with status %d", d, StatusTimeout)
	}
	st := srv.Stats()
	if st.Retried.Load() != retries || st.TimedOut.Load() != 1 {
		t.Errorf("retried %d, timed out %d; want %d and 1", st.Retried.Load(), st.TimedOut.Load(), retries)
	}
	minWait := (retries + 1) * timeout
	if maxWait := (retries+1)*timeout*5/4 + 2*time.Second; took < minWait || took > maxWait {
		t.Errorf("bounced after %v, want %v..%v", took, minWait, maxWait)
	}
	if err := srv.Exec(`Drop "Hca2"[1] 0`, io.Discard); err != nil {
		t.Fatal(err)
	}
	r.send(drSMP(8, 0, 1, 3, 1))
	if d := r.recv(5 * time.Second); d == nil || d.Status() != 0 || d.MAD().TID()&0xFFFFFFFF != 8 {
		t.Fatalf("request after the drop ended: got %v", d)
	}
	var open int
	if err := srv.Fabric().Do(func() { open = srv.txs.open }); err != nil {
		t.Fatal(err)
	}
	if open != 0 {
		t.Errorf("%d transactions still open after every request was answered or bounced", open)
	}
}

// sealCheck is a tap that verifies every frame it sees is sealed: the
// server's devices pass frames unsealed (CRC offload), and the engine
// must compute their CRCs before anyone can observe them.
type sealCheck struct {
	mu       sync.Mutex
	n, bad   int
	firstBad error
}

func (c *sealCheck) TapPacket(_ time.Time, from *emu.Port, frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if err := wire.CheckPacket(frame); err != nil {
		c.bad++
		if c.firstBad == nil {
			c.firstBad = fmt.Errorf("frame from %s: %w", from, err)
		}
	}
}

// TestCaptureSeesSealedFrames: client MADs cross the server's nodes with
// their CRCs still to compute, and a tap (a capture) sees every frame
// with correct ICRC and VCRC, through switches, the host side of a
// switch's port 0 and HCAs alike.
func TestCaptureSeesSealedFrames(t *testing.T) {
	srv := startServer(t, parseTestNet(t), nil)
	tap := &sealCheck{}
	if err := srv.Fabric().Do(func() { srv.Fabric().AddTap(tap) }); err != nil {
		t.Fatal(err)
	}
	ca := newRaw(t, srv)
	sw := dial(t, srv, "Switch2", false)
	a := newAgent(t, sw, smiReg)
	for i := range 20 {
		ca.send(drSMP(uint64(100+i), 0, 1, 3, 1))
		if d := ca.recv(5 * time.Second); d == nil || d.Status() != 0 {
			t.Fatalf("answer %d from the CA: %v", i, d)
		}
		// Switch2 -> Switch1 -> Hca3.
		if _, err := a.SMPGet(context.Background(), mad.DRPath{3, 2}, wire.AttrNodeInfo, 0); err != nil {
			t.Fatalf("SMP from the switch host: %v", err)
		}
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if tap.n < 20*6 || tap.bad != 0 {
		t.Errorf("tap saw %d frames, %d not sealed (first: %v)", tap.n, tap.bad, tap.firstBad)
	}
}

// plainDev is a device that does not take unsealed frames: it records
// what it receives.
type plainDev struct{ got [][]byte }

func (d *plainDev) HandlePacket(_ *emu.Port, frame []byte) { d.got = append(d.got, frame) }

// TestNodeDevSealsForPlainDevices: the server's node wrapper passes a
// frame on unsealed only to a device that takes it so; any other device
// gets it sealed.
func TestNodeDevSealsForPlainDevices(t *testing.T) {
	srv := startServer(t, parseTestNet(t), nil)
	inner := &plainDev{}
	nd := &nodeDev{n: srv.byID["Hca1"], inner: inner}
	a := agent.Addr{DLID: 3, SLID: 1, DestQP: agent.QP1, SrcQP: agent.QP1, QKey: agent.GSIQKey, PKey: 0xFFFF}
	frame, err := agent.AppendUnsealedFrame(nil, &a, make([]byte, wire.MADSize))
	if err != nil {
		t.Fatal(err)
	}
	if wire.CheckPacket(frame) == nil {
		t.Fatal("an unsealed frame passes the CRC check")
	}
	p := srv.byID["Hca1"].en.Port(1)
	if err := srv.Fabric().Do(func() { nd.HandleFrame(p, frame, false) }); err != nil {
		t.Fatal(err)
	}
	if len(inner.got) != 1 || wire.CheckPacket(inner.got[0]) != nil {
		t.Fatalf("plain device got %d frames, first sealed: %v", len(inner.got), len(inner.got) > 0 && wire.CheckPacket(inner.got[0]) == nil)
	}
}

// TestClientVanishes: a client that dies mid-transaction, without
// DISCONNECT, is dropped; requests to it time out for their senders; the
// fabric and the other clients are unaffected.
func TestClientVanishes(t *testing.T) {
	srv := startServer(t, parseTestNet(t), func(c *Config) { c.MADTimeout = 50 * time.Millisecond; c.MADRetries = 1 })
	srv.programLinear(t)
	sm := dial(t, srv, "Hca3", true)
	var got sync.WaitGroup
	got.Add(1)
	saReg := mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2, Methods: []wire.Method{wire.MethodGet}}
	sa := newAgent(t, sm, saReg)
	sa.Serve(func(r *mad.Received) {
		// Die with the request in hand: close the sockets, no DISCONNECT.
		sm.closeSockets()
		got.Done()
	})
	q := newAgent(t, dial(t, srv, "Hca4", false), mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: 2})
	req := make([]byte, wire.MADSize)
	wire.MAD(req).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: 2,
		Method: wire.MethodGet, AttrID: wire.AttrNodeRecord})
	_, err := q.Call(context.Background(), mad.Addr{LID: 7, QPN: 1}, req)
	got.Wait()
	if err == nil {
		t.Error("request to a dead SM was answered")
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		cls := srv.Clients()
		gone := true
		for _, c := range cls {
			if c.Slot == sm.Slot() {
				gone = false
			}
		}
		if gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead client still attached: %+v", cls)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := srv.Fabric().Do(func() {
		if srv.byID["Hca3"].sma.Port(1).CapabilityMask.Has(wire.PortCapIsSM) {
			t.Error("IsSM still set after the SM client died")
		}
	}); err != nil {
		t.Fatal(err)
	}
	other := newAgent(t, dial(t, srv, "Hca1", false), smiReg)
	if _, err := other.SMPGet(context.Background(), mad.DRPath{1, 3, 2}, wire.AttrNodeInfo, 0); err != nil {
		t.Errorf("fabric after the client died: %v", err)
	}
}

// BenchmarkDataPath is the attach data path under OpenSM's default load:
// one client keeps 4 directed-route SMPs outstanding (OpenSM's
// max_wire_smps), each crossing two switches to an HCA and back, through
// the sockets, the server and the fabric. It reports the system calls per
// datagram the server made (reads plus writes, both directions).
func BenchmarkDataPath(b *testing.B) {
	srv := startServer(b, parseTestNet(b), nil)
	r := newRaw(b, srv)
	const window = 4
	for i := range window {
		r.send(drSMP(uint64(i), 0, 1, 3, 1))
	}
	b.ResetTimer()
	sent := window
	for range b.N {
		d := r.recv(5 * time.Second)
		if d == nil || d.Status() != 0 {
			b.Fatalf("answer: %v", d)
		}
		r.send(drSMP(uint64(sent), 0, 1, 3, 1))
		sent++
	}
	b.StopTimer()
	for range window {
		if r.recv(5*time.Second) == nil {
			b.Fatal("an answer of the last window is missing")
		}
	}
	st := srv.Stats()
	b.ReportMetric(float64(st.Reads.Load()+st.Writes.Load())/float64(st.FromClients.Load()+st.ToClients.Load()), "syscalls/datagram")
}
