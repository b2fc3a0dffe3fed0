//go:build linux

package mad

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ibemu/ibemu/emu/wire"
)

// fakeKernel is ib_umad as Linux's drivers/infiniband/core/user_mad.c and
// the MAD layer behave towards one open file, checked byte by byte: it
// parses the ioctl arguments at the offsets the kernel header gives,
// keeps the header layout ENABLE_PKEY or REGISTER_AGENT2 selected, refuses
// what the kernel refuses (a second request with the same TID while the
// first is tracked, a buffer too small), rewrites the upper TID bits of
// requests with the agent's hi_tid, delivers only responses that match a
// tracked request, reports tracked requests that got no response with
// status ETIMEDOUT, and answers a too-small read of a reassembled RMPP
// message with ENOSPC, keeping the message queued.
type fakeKernel struct {
	t *testing.T

	// Set before use.
	refuseEnablePKey bool
	reg2Err          error
	// timeoutSlack delays ETIMEDOUT reports past timeout_ms, as the
	// kernel's delayed work does.
	timeoutSlack time.Duration
	// respond, when set, runs for every MAD written (as it leaves on the
	// wire, hi_tid in place) on its own goroutine.
	respond func(k *fakeKernel, h UmadHdrFields, m []byte)

	mu       sync.Mutex
	cond     *sync.Cond
	pkey     bool
	used     bool
	closed   bool
	readErr  error
	agents   map[uint32]*fakeAgent
	nextHi   uint32
	ioctls   []fakeIoctl
	writes   [][]byte
	tracked  map[fakeKey]*fakeSend
	recvq    [][]byte
	refused  int // writes refused as duplicates
	dropped  int // responses that matched no tracked request
	timeouts int
}

type fakeAgent struct {
	id, hiTID     uint32
	qpn           uint32
	class         wire.MgmtClass
	version       uint8
	mask          [2]uint64
	rmpp          uint8
	oui           uint32
	registeredVia uint32
}

type fakeIoctl struct {
	req uint32
	arg []byte
}

type fakeKey struct {
	agent uint32
	tid   uint64 // as the user wrote it
	class wire.MgmtClass
}

type fakeSend struct {
	hdr   []byte
	mad   []byte
	timer *time.Timer
}

func newFakeKernel(t *testing.T) *fakeKernel {
	k := &fakeKernel{t: t, agents: map[uint32]*fakeAgent{}, tracked: map[fakeKey]*fakeSend{}, nextHi: 0x00A00000}
	k.cond = sync.NewCond(&k.mu)
	return k
}

// hs is the header size in use; k.mu held.
func (k *fakeKernel) hs() int {
	if k.pkey {
		return UmadHdrSize
	}
	return UmadHdrOldSize
}

func (k *fakeKernel) Ioctl(req uint32, arg []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ioctls = append(k.ioctls, fakeIoctl{req, slices.Clone(arg)})
	ne := binary.NativeEndian
	switch req {
	case 0x00001B03: // IB_USER_MAD_ENABLE_PKEY
		if arg != nil {
			k.t.Errorf("ENABLE_PKEY with an argument")
		}
		if k.refuseEnablePKey {
			return syscall.ENOTTY
		}
		if k.used {
			return syscall.EINVAL
		}
		k.pkey = true
		return nil
	case 0xC0281B04: // IB_USER_MAD_REGISTER_AGENT2
		if k.reg2Err != nil {
			return k.reg2Err
		}
		if len(arg) != 40 {
			k.t.Errorf("REGISTER_AGENT2 argument of %d bytes", len(arg))
			return syscall.EFAULT
		}
		if ne.Uint32(arg[12:]) != 0 || ne.Uint32(arg[32:])&0xFF000000 != 0 {
			return syscall.EINVAL
		}
		a := &fakeAgent{qpn: ne.Uint32(arg[4:]), class: wire.MgmtClass(arg[8]), version: arg[9],
			mask: [2]uint64{ne.Uint64(arg[16:]), ne.Uint64(arg[24:])}, oui: ne.Uint32(arg[32:]), rmpp: arg[36], registeredVia: req}
		if err := k.addAgent(a, arg); err != nil {
			return err
		}
		if !k.used {
			k.pkey = true
		}
		k.used = true
		return nil
	case 0xC01C1B01: // IB_USER_MAD_REGISTER_AGENT
		if len(arg) != 28 {
			k.t.Errorf("REGISTER_AGENT argument of %d bytes", len(arg))
			return syscall.EFAULT
		}
		a := &fakeAgent{qpn: uint32(arg[20]), class: wire.MgmtClass(arg[21]), version: arg[22],
			mask: [2]uint64{ne.Uint64(arg[4:]), ne.Uint64(arg[12:])}, rmpp: arg[26], registeredVia: req,
			oui: uint32(arg[23])<<16 | uint32(arg[24])<<8 | uint32(arg[25])}
		if err := k.addAgent(a, arg); err != nil {
			return err
		}
		k.used = true
		return nil
	case 0x40041B02: // IB_USER_MAD_UNREGISTER_AGENT
		if len(arg) != 4 {
			k.t.Errorf("UNREGISTER_AGENT argument of %d bytes", len(arg))
			return syscall.EFAULT
		}
		id := ne.Uint32(arg)
		if k.agents[id] == nil {
			return syscall.EINVAL
		}
		delete(k.agents, id)
		return nil
	}
	k.t.Errorf("unknown ioctl %#08x", req)
	return syscall.ENOTTY
}

// addAgent takes the lowest free agent ID and writes it into the
// request's id field; k.mu held.
func (k *fakeKernel) addAgent(a *fakeAgent, arg []byte) error {
	if a.qpn > 1 {
		return syscall.EINVAL
	}
	for id := range uint32(UmadMaxAgents) {
		if k.agents[id] == nil {
			a.id = id
			k.nextHi++
			a.hiTID = k.nextHi
			k.agents[id] = a
			binary.NativeEndian.PutUint32(arg, id)
			return nil
		}
	}
	return syscall.ENOMEM
}

func (k *fakeKernel) Write(p []byte) (int, error) {
	k.mu.Lock()
	hs := k.hs()
	if k.closed {
		k.mu.Unlock()
		return 0, os.ErrClosed
	}
	if len(p) < hs+36 {
		k.mu.Unlock()
		return 0, syscall.EINVAL
	}
	k.writes = append(k.writes, slices.Clone(p))
	h, _ := ParseUmadHdr(p, hs)
	a := k.agents[h.ID()]
	if a == nil {
		k.mu.Unlock()
		return 0, syscall.EINVAL
	}
	m := slices.Clone(p[hs:])
	mm := wire.MAD(m)
	key := fakeKey{agent: a.id, tid: mm.TID(), class: mm.MgmtClass()}
	if !mm.IsResponse() {
		if k.tracked[key] != nil {
			k.refused++
			k.mu.Unlock()
			return 0, syscall.EINVAL
		}
		mm.SetTID(uint64(a.hiTID)<<32 | mm.TID()&0xFFFFFFFF)
		if tmo := h.TimeoutMS(); tmo > 0 {
			s := &fakeSend{hdr: slices.Clone(p[:hs]), mad: slices.Clone(p[hs : hs+wire.MADHeaderSize])}
			k.tracked[key] = s
			s.timer = time.AfterFunc(time.Duration(tmo)*time.Millisecond+k.timeoutSlack, func() { k.expire(key, s) })
		}
	}
	respond := k.respond
	k.mu.Unlock()
	if respond != nil {
		go respond(k, h.Fields(), m)
	}
	return len(p), nil
}

// expire reports a tracked request that got no response: its header as
// written, status ETIMEDOUT, and the first 24 bytes of the MAD.
func (k *fakeKernel) expire(key fakeKey, s *fakeSend) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.tracked[key] != s || k.closed {
		return
	}
	delete(k.tracked, key)
	k.timeouts++
	rec := slices.Concat(s.hdr, s.mad)
	hostOrder.PutUint32(rec[umhStatus:], uint32(syscall.ETIMEDOUT))
	k.recvq = append(k.recvq, rec)
	k.cond.Broadcast()
}

// deliver queues a received MAD with the source address f: a response to
// the agent whose hi_tid it carries if it matches a tracked request, a
// request to the agent registered for its class, version and method.
func (k *fakeKernel) deliver(f UmadHdrFields, m []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	mm := wire.MAD(m)
	var a *fakeAgent
	if mm.IsResponse() {
		for _, x := range k.agents {
			if x.hiTID == uint32(mm.TID()>>32) {
				a = x
			}
		}
		if a == nil {
			k.dropped++
			return
		}
		var match fakeKey
		found := false
		for key := range k.tracked {
			if key.agent == a.id && uint32(key.tid) == uint32(mm.TID()) && key.class == mm.MgmtClass() {
				match, found = key, true
			}
		}
		if !found {
			k.dropped++
			return
		}
		k.tracked[match].timer.Stop()
		delete(k.tracked, match)
	} else {
		meth := mm.Method()
		for _, x := range k.agents {
			if x.class == mm.MgmtClass() && x.version == mm.ClassVersion() && meth < 128 && x.mask[meth/64]&(1<<(meth%64)) != 0 {
				a = x
			}
		}
		if a == nil {
			k.dropped++
			return
		}
	}
	hs := k.hs()
	f.ID, f.Status = a.id, 0
	f.Length = uint32(hs + len(m))
	rec := make([]byte, hs+len(m))
	UmadHdr(rec[:hs]).Encode(&f)
	copy(rec[hs:], m)
	k.recvq = append(k.recvq, rec)
	k.cond.Broadcast()
}

// inject queues a raw record as is.
func (k *fakeKernel) inject(rec []byte) {
	k.mu.Lock()
	k.recvq = append(k.recvq, rec)
	k.cond.Broadcast()
	k.mu.Unlock()
}

func (k *fakeKernel) failReads(err error) {
	k.mu.Lock()
	k.readErr = err
	k.cond.Broadcast()
	k.mu.Unlock()
}

func (k *fakeKernel) Read(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(p) < k.hs() {
		return 0, syscall.EINVAL
	}
	for len(k.recvq) == 0 && !k.closed && k.readErr == nil {
		k.cond.Wait()
	}
	if k.closed {
		return 0, os.ErrClosed
	}
	if k.readErr != nil {
		return 0, k.readErr
	}
	rec := k.recvq[0]
	hs := k.hs() // the layout when the record is copied out
	if len(rec) > len(p) {
		if len(rec) > hs+wire.MADSize && len(p) >= hs+wire.MADSize {
			// Multi-segment RMPP: the first segment and the header,
			// whose length says what is needed; the message stays.
			copy(p, rec[:hs+wire.MADSize])
			return 0, syscall.ENOSPC
		}
		return 0, syscall.EINVAL
	}
	k.recvq = k.recvq[1:]
	return copy(p, rec), nil
}

func (k *fakeKernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return os.ErrClosed
	}
	k.closed = true
	for _, s := range k.tracked {
		s.timer.Stop()
	}
	k.cond.Broadcast()
	return nil
}

func (k *fakeKernel) snapshot() (ioctls []fakeIoctl, writes [][]byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.ioctls), slices.Clone(k.writes)
}

func (k *fakeKernel) counts() (refused, dropped, timeouts int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refused, k.dropped, k.timeouts
}

// utPKeys is the P_Key table of the fake port.
var utPKeys = []wire.PKey{0xFFFF, 0x8001, 0x8002}

func startUmad(t *testing.T, k *fakeKernel, o UmadOptions) *Umad {
	t.Helper()
	u := newUmad(k, UmadPort{CA: "mlx4_0", Port: 1}, o, UmadABIVersion,
		func() ([]wire.PKey, error) { return slices.Clone(utPKeys), nil })
	t.Cleanup(func() { u.Close() })
	return u
}

func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

const utNodeGUID wire.GUID = 0x0002c90300abcdef

// answerNodeInfo is an SMA behind the fake kernel: it answers SubnGet
// NodeInfo to LID 7, from LID 7.
func answerNodeInfo(k *fakeKernel, h UmadHdrFields, m []byte) {
	mm := wire.MAD(m)
	if mm.IsResponse() || mm.MgmtClass() != wire.MgmtClassSubnLID || mm.AttrID() != wire.AttrNodeInfo || h.LID != 7 {
		return
	}
	resp := slices.Clone(m)
	wire.MAD(resp).SetResponse(0)
	wire.NodeInfo(wire.SMP(resp).Data()).Encode(&wire.NodeInfoFields{BaseVersion: 1, ClassVersion: 1,
		NodeType: wire.NodeTypeCA, NumPorts: 2, NodeGUID: utNodeGUID, PortGUID: utNodeGUID + 1, LocalPortNum: 1})
	k.deliver(UmadHdrFields{QPN: 0, LID: 7}, resp)
}

// wantRecord checks a written record's header field by field, from the
// raw bytes at the ABI's offsets.
func wantRecord(t *testing.T, rec []byte, hs int, f UmadHdrFields, madLen int) {
	t.Helper()
	if len(rec) != hs+madLen {
		t.Fatalf("record of %d bytes, want %d+%d", len(rec), hs, madLen)
	}
	ne, be := binary.NativeEndian, binary.BigEndian
	got := UmadHdrFields{ID: ne.Uint32(rec[0:]), Status: ne.Uint32(rec[4:]), TimeoutMS: ne.Uint32(rec[8:]),
		Retries: ne.Uint32(rec[12:]), Length: ne.Uint32(rec[16:]), QPN: be.Uint32(rec[20:]), QKey: be.Uint32(rec[24:]),
		LID: wire.LID(be.Uint16(rec[28:])), SL: rec[30], PathBits: rec[31], GRHPresent: rec[32] == 1, GIDIndex: rec[33],
		HopLimit: rec[34], TrafficClass: rec[35], GID: wire.GID(rec[36:52]), FlowLabel: be.Uint32(rec[52:])}
	if hs == UmadHdrSize {
		got.PKeyIndex = ne.Uint16(rec[56:])
		if !bytes.Equal(rec[58:64], make([]byte, 6)) {
			t.Errorf("reserved bytes %x", rec[58:64])
		}
	}
	if rec[32] > 1 {
		t.Errorf("grh_present %d", rec[32])
	}
	if got != f {
		t.Errorf("record header:\n got %+v\nwant %+v", got, f)
	}
}

func TestUmadSMPGetNodeInfo(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	k.respond = answerNodeInfo
	u := startUmad(t, k, UmadOptions{})
	a, err := NewAgent(u, Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1}, Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	data, err := a.SMPGet(context.Background(), LIDRoute(7), wire.AttrNodeInfo, 0)
	if err != nil {
		t.Fatalf("SMPGet: %v", err)
	}
	if g := wire.NodeInfo(data).NodeGUID(); g != utNodeGUID {
		t.Errorf("NodeGUID %s, want %s", g, utNodeGUID)
	}

	ioctls, writes := k.snapshot()
	if len(ioctls) != 2 || ioctls[0].req != 0x1B03 || ioctls[1].req != 0xC0281B04 {
		t.Fatalf("ioctls %+v, want ENABLE_PKEY then REGISTER_AGENT2", ioctls)
	}
	// id (the kernel wrote 0), qpn 0, class 0x01 version 1, res, flags,
	// no methods, no oui, rmpp_version 0.
	if want := make([]byte, 40); !bytes.Equal(ioctls[1].arg, append(append(want[:8:8], 0x01, 1), want[10:]...)) {
		t.Errorf("REGISTER_AGENT2 argument %x", ioctls[1].arg)
	}
	if len(writes) != 1 {
		t.Fatalf("%d records written, want 1", len(writes))
	}
	wantRecord(t, writes[0], UmadHdrSize, UmadHdrFields{ID: 0, TimeoutMS: 500, LID: 7}, wire.MADSize)
	m := wire.MAD(writes[0][UmadHdrSize:])
	if m.MgmtClass() != wire.MgmtClassSubnLID || m.Method() != wire.MethodGet || m.AttrID() != wire.AttrNodeInfo {
		t.Errorf("mad sent: class %s method %s attr %#x", m.MgmtClass(), m.Method(), m.AttrID())
	}
	if s := u.Stats(); s.Writes != 1 || s.Reads != 1 || s.KernelTimeouts != 0 || s.Deferred != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestUmadServeUnsolicited(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	u := startUmad(t, k, UmadOptions{})
	reg := Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
		Methods: []wire.Method{wire.MethodGet, wire.MethodGetTable}}
	a, err := NewAgent(u, reg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	got := make(chan *Received, 1)
	a.Serve(func(r *Received) {
		got <- r
		resp := slices.Clone(r.MAD)
		wire.MAD(resp).SetResponse(0)
		if err := r.Respond(resp); err != nil {
			t.Errorf("Respond: %v", err)
		}
	})

	req := make([]byte, wire.MADSize)
	wire.MAD(req).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
		Method: wire.MethodGet, TID: 0x0000004200000017, AttrID: wire.AttrNodeRecord})
	src := UmadHdrFields{QPN: 1, LID: 9, SL: 3, PathBits: 1, PKeyIndex: 2, GRHPresent: true, GIDIndex: 1, HopLimit: 64,
		TrafficClass: 4, GID: utGID, FlowLabel: 0x12345}
	k.deliver(src, req)
	var r *Received
	select {
	case r = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no request served")
	}
	want := Addr{LID: 9, SL: 3, QPN: 1, QKey: GSIQKey, PKeyIndex: 2, PKey: 0x8002, PathBits: 1,
		GRH: &GRH{GID: utGID, SGIDIndex: 1, HopLimit: 64, TrafficClass: 4, FlowLabel: 0x12345}}
	if r.Addr.GRH == nil || *r.Addr.GRH != *want.GRH {
		t.Fatalf("received GRH %+v, want %+v", r.Addr.GRH, want.GRH)
	}
	ga, wa := r.Addr, want
	ga.GRH, wa.GRH = nil, nil
	if ga != wa {
		t.Errorf("received from %+v, want %+v", ga, wa)
	}
	if wire.MAD(r.MAD).TID() != 0x0000004200000017 {
		t.Errorf("request TID %#x", wire.MAD(r.MAD).TID())
	}

	ioctls, _ := k.snapshot()
	// Methods Get (1) and GetTable (0x12): bits 1 and 18 of the first
	// host u64 of the mask; qpn 1; class 0x03 version 2.
	want2 := make([]byte, 40)
	binary.NativeEndian.PutUint32(want2[4:], 1)
	want2[8], want2[9] = 0x03, 2
	binary.NativeEndian.PutUint64(want2[16:], 1<<1|1<<18)
	if len(ioctls) < 2 || !bytes.Equal(ioctls[1].arg, want2) {
		t.Errorf("REGISTER_AGENT2 argument %x, want %x", ioctls[1].arg, want2)
	}

	// The response goes back with the request's address, the GSI Q_Key,
	// no timeout, and the TID the kernel must not touch.
	deadline := time.Now().Add(5 * time.Second)
	var writes [][]byte
	for len(writes) == 0 && time.Now().Before(deadline) {
		_, writes = k.snapshot()
		time.Sleep(time.Millisecond)
	}
	if len(writes) != 1 {
		t.Fatalf("%d records written, want the response", len(writes))
	}
	wantRecord(t, writes[0], UmadHdrSize, UmadHdrFields{QPN: 1, QKey: GSIQKey, LID: 9, SL: 3, PathBits: 1, PKeyIndex: 2,
		GRHPresent: true, GIDIndex: 1, HopLimit: 64, TrafficClass: 4, GID: utGID, FlowLabel: 0x12345}, wire.MADSize)
	if m := wire.MAD(writes[0][UmadHdrSize:]); m.Method() != wire.MethodGetResp || m.TID() != 0x0000004200000017 {
		t.Errorf("response method %s tid %#x", m.Method(), m.TID())
	}
}

func TestUmadSendByPKey(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	u := startUmad(t, k, UmadOptions{})
	ep, err := u.Register(Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1}, func(Incoming) {})
	if err != nil {
		t.Fatal(err)
	}
	m := make([]byte, wire.MADSize)
	wire.MAD(m).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1, Method: wire.MethodGetResp})
	for _, c := range []struct {
		pkey uint16
		idx  uint16
	}{{0x8002, 2}, {0x0001, 1}, {0xFFFF, 0}} {
		if err := ep.Send(Outgoing{Addr: Addr{LID: 3, QPN: 1, QKey: GSIQKey, PKey: c.pkey}, MAD: slices.Clone(m)}); err != nil {
			t.Fatalf("send p_key %#x: %v", c.pkey, err)
		}
		_, writes := k.snapshot()
		if got := binary.NativeEndian.Uint16(writes[len(writes)-1][56:]); got != c.idx {
			t.Errorf("p_key %#x went with index %d, want %d", c.pkey, got, c.idx)
		}
	}
	if err := ep.Send(Outgoing{Addr: Addr{LID: 3, QPN: 1, PKey: 0x7777}, MAD: slices.Clone(m)}); err == nil {
		t.Errorf("p_key 0x7777, not in the table, accepted")
	}
	if err := ep.Send(Outgoing{Addr: Addr{LID: 3, QPN: 1}, MAD: make([]byte, 300)}); !errors.Is(err, ErrBadMAD) {
		t.Errorf("300-byte mad without kernel rmpp: %v", err)
	}
}

// With the kernel's ETIMEDOUT arriving after the agent's own timer, every

// retryingAgent is a directed-route agent with a 30 ms timeout and two
// retransmissions over a fake kernel that reports each send done slack
// after its timeout.
func retryingAgent(t *testing.T, slack time.Duration) (*fakeKernel, *Umad, *Agent) {
	t.Helper()
	k := newFakeKernel(t)
	k.timeoutSlack = slack
	u := startUmad(t, k, UmadOptions{})
	a, err := NewAgent(u, Registration{QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: 1},
		Options{Timeout: 30 * time.Millisecond, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return k, u, a
}

// retransmission must wait for it: the kernel refuses a duplicate TID.
func TestUmadTimeoutRetransmits(t *testing.T) {
	noLeaks(t)
	k, u, a := retryingAgent(t, 25*time.Millisecond)
	start := time.Now()
	_, err := a.SMPGet(context.Background(), DRPath{1, 3}, wire.AttrNodeInfo, 0)
	if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrSendFailed) {
		t.Fatalf("SMPGet = %v, want ErrTimeout alone", err)
	}
	if el := time.Since(start); el < 90*time.Millisecond {
		t.Errorf("timed out after %v, before three 30 ms waits", el)
	}
	// The last retransmission leaves when the kernel reports the second
	// send timed out, which may be after the agent gave up.
	writes := waitWrites(t, k, 3)
	tid := wire.MAD(writes[0][UmadHdrSize:]).TID()
	for _, w := range writes {
		wantRecord(t, w, UmadHdrSize, UmadHdrFields{TimeoutMS: 30, LID: wire.LIDPermissive}, wire.MADSize)
		if got := wire.MAD(w[UmadHdrSize:]).TID(); got != tid {
			t.Errorf("retransmission tid %#x, want %#x", got, tid)
		}
	}
	if s := u.Stats(); s.Deferred < 1 || s.Writes != 3 {
		t.Errorf("stats %+v: want retransmissions deferred behind the kernel's timeout", s)
	}
}

// waitWrites waits up to 5 s for the fake kernel to have taken n records
// and requires exactly n, none refused as a duplicate.
func waitWrites(t *testing.T, k *fakeKernel, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	_, writes := k.snapshot()
	for len(writes) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		_, writes = k.snapshot()
	}
	refused, _, _ := k.counts()
	if len(writes) != n || refused != 0 {
		t.Fatalf("%d records written, %d refused as duplicates; want %d and 0", len(writes), refused, n)
	}
	return writes
}

// TestUmadRetransmissionsQueueBehindSlowKernel: when the kernel reports
// a send's timeout later than the agent's next two retransmissions, both
// wait, in turn, and every one of the agent's three sends is written
// (none is lost to the one after it), each after the kernel is done with
// the one before.
func TestUmadRetransmissionsQueueBehindSlowKernel(t *testing.T) {
	noLeaks(t)
	k, u, a := retryingAgent(t, 100*time.Millisecond) // the kernel reports after 130 ms
	if _, err := a.SMPGet(context.Background(), DRPath{1, 3}, wire.AttrNodeInfo, 0); !errors.Is(err, ErrTimeout) {
		t.Fatalf("SMPGet = %v, want ErrTimeout", err)
	}
	waitWrites(t, k, 3)
	if s := u.Stats(); s.Deferred != 2 || s.Writes != 3 {
		t.Errorf("stats %+v: want both retransmissions deferred and all three written", s)
	}
}

func TestUmadReportTimeouts(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	u := startUmad(t, k, UmadOptions{ReportTimeouts: true})
	a, err := NewAgent(u, Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1},
		Options{Timeout: 20 * time.Millisecond, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = a.SMPGet(context.Background(), LIDRoute(5), wire.AttrPortInfo, 1)
	if !errors.Is(err, ErrSendFailed) || !errors.Is(err, ErrTimeout) || !errors.Is(err, syscall.ETIMEDOUT) {
		t.Fatalf("SMPGet = %v, want the kernel's ETIMEDOUT as a send failure", err)
	}
	// The first report ends the transaction; the agent's own timer,
	// running alongside the kernel's, may have resent once before the
	// report reached it (never a refused duplicate), never three times.
	_, writes := k.snapshot()
	if refused, _, _ := k.counts(); len(writes) > 2 || refused != 0 {
		t.Errorf("%d records written, %d refused: a reported timeout must end the transaction", len(writes), refused)
	}
	if s := u.Stats(); s.KernelTimeouts != 1 {
		t.Errorf("stats %+v", s)
	}
}

// A response the kernel did not match to a tracked request never arrives;
// one arriving in time does, with the kernel's hi_tid in its upper bits.
func TestUmadResponseNeedsTrackedRequest(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	k.respond = func(k *fakeKernel, h UmadHdrFields, m []byte) {
		if uint32(wire.MAD(m).TID()>>32) < 0x00A00000 {
			t.Errorf("request left with tid %#x: upper bits not the kernel's", wire.MAD(m).TID())
		}
		answerNodeInfo(k, h, m)
		answerNodeInfo(k, h, m) // a duplicate response: dropped
	}
	u := startUmad(t, k, UmadOptions{})
	a, err := NewAgent(u, Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1}, Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for range 3 {
		if _, err := a.SMPGet(context.Background(), LIDRoute(7), wire.AttrNodeInfo, 0); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, dropped, _ := k.counts(); dropped < 3 && time.Now().Before(deadline); _, dropped, _ = k.counts() {
		time.Sleep(time.Millisecond)
	}
	if _, dropped, _ := k.counts(); dropped != 3 {
		t.Errorf("kernel dropped %d responses, want the 3 duplicates", dropped)
	}
	if s := a.Stats(); s.Unmatched != 0 || s.Retries != 0 {
		t.Errorf("agent stats %+v", s)
	}
}

func TestUmadRegisterFallbacks(t *testing.T) {
	for _, c := range []struct {
		name      string
		refusePK  bool
		reg2Err   error
		wantHdr   int
		wantVia   uint32
		wantCalls []uint32
	}{
		{"reg2 unknown", false, syscall.ENOTTY, UmadHdrSize, 0xC01C1B01, []uint32{0x1B03, 0xC0281B04, 0xC01C1B01}},
		{"reg2 refused", false, syscall.EINVAL, UmadHdrSize, 0xC01C1B01, []uint32{0x1B03, 0xC0281B04, 0xC01C1B01}},
		{"no enable_pkey, reg2", true, nil, UmadHdrSize, 0xC0281B04, []uint32{0x1B03, 0xC0281B04}},
		{"old kernel", true, syscall.ENOTTY, UmadHdrOldSize, 0xC01C1B01, []uint32{0x1B03, 0xC0281B04, 0xC01C1B01}},
	} {
		t.Run(c.name, func(t *testing.T) {
			noLeaks(t)
			k := newFakeKernel(t)
			k.refuseEnablePKey, k.reg2Err = c.refusePK, c.reg2Err
			k.respond = func(k *fakeKernel, h UmadHdrFields, m []byte) {
				r := slices.Clone(m)
				wire.MAD(r).SetResponse(0)
				k.deliver(UmadHdrFields{QPN: 1, LID: h.LID}, r)
			}
			u := startUmad(t, k, UmadOptions{})
			// Let the reader block in a read before the registration
			// settles the header layout.
			time.Sleep(5 * time.Millisecond)
			a, err := NewAgent(u, Registration{QPN: 1, Class: 0x30, ClassVersion: 1, OUI: [3]byte{0x00, 0x14, 0x05},
				Methods: []wire.Method{wire.MethodGet}}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			ioctls, _ := k.snapshot()
			var reqs []uint32
			for _, x := range ioctls {
				reqs = append(reqs, x.req)
			}
			if !slices.Equal(reqs, c.wantCalls) {
				t.Fatalf("ioctls %#x, want %#x", reqs, c.wantCalls)
			}
			last := ioctls[len(ioctls)-1].arg
			if c.wantVia == 0xC01C1B01 {
				// qpn 1, class 0x30 version 1, oui 00 14 05, rmpp 0, Get
				// is bit 1 of the mask.
				want := make([]byte, 28)
				binary.NativeEndian.PutUint64(want[4:], 1<<1)
				copy(want[20:], []byte{1, 0x30, 1, 0x00, 0x14, 0x05, 0})
				if !bytes.Equal(last, want) {
					t.Errorf("REGISTER_AGENT argument %x, want %x", last, want)
				}
			} else if binary.NativeEndian.Uint32(last[32:]) != 0x001405 {
				t.Errorf("REGISTER_AGENT2 oui %x", last[32:36])
			}
			if u.HdrSize() != c.wantHdr {
				t.Fatalf("header size %d, want %d", u.HdrSize(), c.wantHdr)
			}
			m := make([]byte, wire.MADSize)
			wire.MAD(m).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: 0x30, ClassVersion: 1, Method: wire.MethodGet})
			if _, err := a.Call(context.Background(), Addr{LID: 4, QPN: 1}, m); err != nil {
				t.Fatalf("call: %v", err)
			}
			_, writes := k.snapshot()
			if len(writes) != 1 {
				t.Fatalf("%d writes", len(writes))
			}
			wantRecord(t, writes[0], c.wantHdr, UmadHdrFields{TimeoutMS: 1000, QPN: 1, QKey: GSIQKey, LID: 4}, wire.MADSize)
		})
	}
}

func TestUmadRegisterChecks(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	u := startUmad(t, k, UmadOptions{})
	nop := func(Incoming) {}
	for _, reg := range []Registration{
		{QPN: 2, Class: wire.MgmtClassPerf, ClassVersion: 1},
		{QPN: 0, Class: wire.MgmtClassPerf, ClassVersion: 1},
		{QPN: 1, Class: wire.MgmtClassSubnLID, ClassVersion: 1},
		{QPN: 1, Class: 0x31, ClassVersion: 1},
		{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1, RMPP: true},
		{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1, Methods: []wire.Method{0x80}},
	} {
		if _, err := u.Register(reg, nop); err == nil {
			t.Errorf("Register(%+v) succeeded", reg)
		}
	}
	var eps []Endpoint
	for i := range UmadMaxAgents {
		ep, err := u.Register(Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1}, nop)
		if err != nil {
			t.Fatalf("agent %d: %v", i, err)
		}
		if ep.ID() != uint32(i) {
			t.Errorf("agent %d has id %d", i, ep.ID())
		}
		eps = append(eps, ep)
	}
	if _, err := u.Register(Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1}, nop); !errors.Is(err, syscall.ENOMEM) {
		t.Errorf("33rd agent: %v, want ENOMEM", err)
	}
	if err := eps[5].Close(); err != nil {
		t.Fatal(err)
	}
	ioctls, _ := k.snapshot()
	last := ioctls[len(ioctls)-1]
	if last.req != 0x40041B02 || binary.NativeEndian.Uint32(last.arg) != 5 {
		t.Errorf("endpoint close: ioctl %#x %x, want UNREGISTER_AGENT 5", last.req, last.arg)
	}
	if ep, err := u.Register(Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1}, nop); err != nil || ep.ID() != 5 {
		t.Errorf("re-register: id %v, %v", ep, err)
	}
}

// An SA GetTable answered with a message the kernel reassembled: the
// reader grows its buffer on ENOSPC and the agent gets it whole.
func TestUmadKernelRMPP(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	table := make([]byte, 40*64)
	for i := range table {
		table[i] = byte(i * 13)
	}
	k.respond = func(k *fakeKernel, h UmadHdrFields, m []byte) {
		resp := make([]byte, wire.SADataOffset+len(table))
		copy(resp, m[:wire.SADataOffset])
		wire.MAD(resp).SetResponse(0)
		rh := wire.MAD(resp).RMPPHeader()
		rh.Encode(&wire.RMPPHeaderFields{Version: 1, Type: wire.RMPPTypeData,
			Flags: wire.RMPPFlagActive | wire.RMPPFlagFirst | wire.RMPPFlagLast, Data1: 1, Data2: uint32(len(resp) - wire.RMPPHeaderOffset)})
		copy(resp[wire.SADataOffset:], table)
		k.deliver(UmadHdrFields{QPN: 1, LID: 1}, resp)
	}
	u := startUmad(t, k, UmadOptions{})
	a, err := NewAgent(u, Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion, RMPP: true},
		Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ioctls, _ := k.snapshot()
	if arg := ioctls[len(ioctls)-1].arg; arg[36] != 1 {
		t.Errorf("rmpp_version %d, want 1", arg[36])
	}
	req := make([]byte, wire.MADSize)
	wire.MAD(req).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
		Method: wire.MethodGetTable, AttrID: wire.AttrNodeRecord})
	resp, err := a.Call(context.Background(), Addr{LID: 1, QPN: 1}, req)
	if err != nil {
		t.Fatalf("GetTable: %v", err)
	}
	if len(resp) != wire.SADataOffset+len(table) || !bytes.Equal(resp[wire.SADataOffset:], table) {
		t.Fatalf("response of %d bytes, want %d with the table", len(resp), wire.SADataOffset+len(table))
	}
	if s := u.Stats(); s.Grown != 1 {
		t.Errorf("stats %+v, want one grown read", s)
	}
	// A whole long message goes out in one write with kernel RMPP.
	long := make([]byte, 1000)
	wire.MAD(long).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
		Method: wire.MethodGetTableResp, AttrID: wire.AttrNodeRecord})
	if err := a.Send(Addr{LID: 1, QPN: 1}, long); err != nil {
		t.Fatal(err)
	}
	_, writes := k.snapshot()
	w := writes[len(writes)-1]
	if len(w) != UmadHdrSize+1000 || !wire.MAD(w[UmadHdrSize:]).RMPPHeader().IsActive() {
		t.Errorf("long send: %d bytes, rmpp active %v", len(w), wire.MAD(w[UmadHdrSize:]).RMPPHeader().IsActive())
	}
}

func TestUmadCloseUnregisters(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	u := newUmad(k, UmadPort{CA: "mlx4_0", Port: 1}, UmadOptions{}, UmadABIVersion, nil)
	a1, err := NewAgent(u, Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1}, Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := NewAgent(u, Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() {
		_, err := a1.SMPGet(context.Background(), LIDRoute(9), wire.AttrNodeInfo, 0)
		res <- err
	}()
	for {
		if _, w := k.snapshot(); len(w) == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, ErrClosed) {
		t.Errorf("outstanding call: %v, want ErrClosed", err)
	}
	ioctls, _ := k.snapshot()
	var unreg []uint32
	for _, x := range ioctls {
		if x.req == 0x40041B02 {
			unreg = append(unreg, binary.NativeEndian.Uint32(x.arg))
		}
	}
	if !slices.Equal(unreg, []uint32{0, 1}) {
		t.Errorf("unregistered %v, want [0 1]", unreg)
	}
	if _, err := a2.SMPGet(context.Background(), LIDRoute(9), wire.AttrNodeInfo, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("call after close: %v", err)
	}
	if _, err := u.Register(Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1}, func(Incoming) {}); !errors.Is(err, ErrClosed) {
		t.Errorf("register after close: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	a1.Close()
	a2.Close()
}

func TestUmadDeviceGone(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	u := startUmad(t, k, UmadOptions{})
	a, err := NewAgent(u, Registration{QPN: 0, Class: wire.MgmtClassSubnLID, ClassVersion: 1}, Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	res := make(chan error, 1)
	go func() {
		_, err := a.SMPGet(context.Background(), LIDRoute(9), wire.AttrNodeInfo, 0)
		res <- err
	}()
	for {
		if _, w := k.snapshot(); len(w) == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	k.failReads(syscall.EIO)
	select {
	case err := <-res:
		if !errors.Is(err, ErrClosed) || !errors.Is(err, syscall.EIO) {
			t.Errorf("call: %v, want ErrClosed with EIO", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the agent was not told the device went away")
	}
}

func TestUmadDropsStrays(t *testing.T) {
	noLeaks(t)
	k := newFakeKernel(t)
	u := startUmad(t, k, UmadOptions{})
	if _, err := u.Register(Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1}, func(in Incoming) {
		if in.MAD != nil {
			t.Errorf("stray delivered: %x", in.MAD)
		}
	}); err != nil {
		t.Fatal(err)
	}
	stray := make([]byte, UmadHdrSize+wire.MADSize)
	UmadHdr(stray[:UmadHdrSize]).Encode(&UmadHdrFields{ID: 9, QPN: 1, LID: 2})
	k.inject(stray)                     // agent 9 is not registered
	k.inject(make([]byte, UmadHdrSize)) // no MAD header
	deadline := time.Now().Add(5 * time.Second)
	for u.Stats().Dropped < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s := u.Stats(); s.Dropped != 2 || s.Reads != 2 {
		t.Errorf("stats %+v, want 2 reads dropped", s)
	}
}

func TestOpenUmadFromSysfs(t *testing.T) {
	noLeaks(t)
	root := utFabric(t, "5")
	var opened []string
	var k *fakeKernel
	o := &UmadOptions{Root: root, openDev: func(path string) (umadFile, error) {
		opened = append(opened, path)
		k = newFakeKernel(t)
		return k, nil
	}}
	u, err := OpenUmad("mlx4_0", 0, o)
	if err != nil {
		t.Fatal(err)
	}
	if p := u.Port(); p.Device != "umad1" || p.Port != 2 || p.LID != 0x1b || p.PortGUID != 0x0002c90300001232 {
		t.Errorf("port %+v", p)
	}
	if !slices.Equal(opened, []string{filepath.Join(root, "dev/infiniband/umad1")}) {
		t.Errorf("opened %v", opened)
	}
	// The P_Key table came from sysfs: a request on index 1 is from
	// partition 0x8001.
	got := make(chan Incoming, 1)
	if _, err := u.Register(Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1,
		Methods: []wire.Method{wire.MethodGet}}, func(in Incoming) { got <- in }); err != nil {
		t.Fatal(err)
	}
	m := make([]byte, wire.MADSize)
	wire.MAD(m).Encode(&wire.MADFields{BaseVersion: 1, MgmtClass: wire.MgmtClassPerf, ClassVersion: 1, Method: wire.MethodGet})
	k.deliver(UmadHdrFields{QPN: 1, LID: 3, PKeyIndex: 1}, m)
	select {
	case in := <-got:
		if in.Addr.PKey != 0x8001 || in.Addr.PKeyIndex != 1 || in.Addr.QKey != GSIQKey {
			t.Errorf("received from %+v", in.Addr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received")
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}

	u, err = OpenUmadGUID(0x0002c90300002221, o)
	if err != nil {
		t.Fatal(err)
	}
	if p := u.Port(); p.Device != "umad2" || p.CA != "mlx4_1" {
		t.Errorf("port %+v", p)
	}
	u.Close()

	if _, err := OpenUmad("mlx9_9", 1, o); !errors.Is(err, ErrNoUmadPort) {
		t.Errorf("unknown CA: %v", err)
	}
	if _, err := OpenUmad("", 0, &UmadOptions{Root: utFabric(t, "4"), openDev: o.openDev}); err == nil {
		t.Errorf("abi version 4 accepted")
	}
	failOpen := &UmadOptions{Root: root, openDev: func(string) (umadFile, error) { return nil, os.ErrPermission }}
	if _, err := OpenUmad("", 0, failOpen); !errors.Is(err, os.ErrPermission) {
		t.Errorf("open failure: %v", err)
	}
	// The real opener, on a FIFO standing in for the device: open and
	// poll work, every umad ioctl fails with ENOTTY, so the header falls
	// back to the old layout, registration fails cleanly, and Close wakes
	// the reader blocked in the poller.
	dev := filepath.Join(root, "dev/infiniband/umad2")
	if err := os.Remove(dev); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(dev, 0o600); err != nil {
		t.Fatal(err)
	}
	u, err = OpenUmad("mlx4_1", 1, &UmadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if u.HdrSize() != UmadHdrOldSize {
		t.Errorf("header %d on a file without ioctls", u.HdrSize())
	}
	if _, err := u.Register(Registration{QPN: 1, Class: wire.MgmtClassPerf, ClassVersion: 1}, func(Incoming) {}); !errors.Is(err, syscall.ENOTTY) {
		t.Errorf("register on a fifo: %v, want ENOTTY", err)
	}
	if err := u.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}
