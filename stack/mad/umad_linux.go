//go:build linux

package mad

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// maxUmadRecord bounds the buffer grown for one reassembled RMPP message
// (a whole-subnet SA table of 49,151 records fits in a few MiB).
const maxUmadRecord = 64 << 20

// Umad is the Transport of one port of a real HCA, through the Linux
// kernel's user MAD interface /dev/infiniband/umadN (ib_umad; Linux
// Documentation/infiniband/user_mad.rst). Each Register is an agent
// registered with IB_USER_MAD_REGISTER_AGENT2 (IB_USER_MAD_REGISTER_AGENT
// on kernels without it); a reader goroutine reads whole records (header
// plus MAD, growing its buffer when the kernel reports ENOSPC for a
// reassembled RMPP message) and hands them, in order, to one delivery
// goroutine, which is the delivery context of the Transport rules. Its
// clock is the wall clock, with callbacks on the delivery goroutine.
//
// # Timeouts and retries
//
// The kernel delivers a response only to a request it is tracking, and it
// tracks a request only when it was written with a timeout_ms. So a
// request goes out with timeout_ms set to Outgoing.Timeout (the agent's
// timeout for it, rounded up to a millisecond) and retries 0: the kernel
// routes the response back and the agent does its own retransmission
// (IBTA Vol 1 §13.4.6.3), as libibmad does. When the kernel's wait ends without a response it reads
// back the request with status ETIMEDOUT; see UmadOptions.ReportTimeouts
// for what the transport does with it. While the kernel still tracks a
// request it refuses another with the same transaction ID (EINVAL), so a
// retransmission the agent's timer sends before the kernel's ETIMEDOUT
// arrives is held and written when it does (UmadStats.Deferred); it then
// leaves late by the kernel's lag (its timer runs from the end of the send,
// and reports through a work queue), so the last retransmission of a
// transaction may leave after the agent has given up on it.
// Responses, RMPP segments and ACKs go with timeout_ms 0.
//
// # Transaction IDs
//
// The kernel overwrites the upper 32 bits of a request's transaction ID
// with its agent's hi_tid and routes responses by it; agents match on the
// low 32 bits, so Endpoint.ID (the umad agent ID, 0-31) is only a local
// name.
type Umad struct {
	f    umadFile
	port UmadPort
	opts UmadOptions
	// pkeyTable reads the port's P_Key table; nil when unknown.
	pkeyTable func() ([]wire.PKey, error)

	hdrSize    atomic.Int32
	q          *umadQueue
	readerDone chan struct{}
	closeFile  sync.Once
	closing    atomic.Bool

	mu sync.Mutex
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	used bool // a registration happened: the header layout is fixed
	// +checklocks:mu
	eps [UmadMaxAgents]*umadEP
	// +checklocks:mu
	outstanding map[umadSendKey]*umadSend
	// +checklocks:mu
	pkeys []wire.PKey
	// +checklocks:mu
	stats UmadStats
}

var _ Transport = (*Umad)(nil)

// umadSendKey identifies a request the kernel is tracking: the kernel
// compares whole transaction IDs and classes, and responses come back
// with its own upper bits, so the low 32 bits and the class do.
type umadSendKey struct {
	agent uint32
	tid   uint32
	class wire.MgmtClass
}

// umadSend is a request written with a timeout, and the retransmission
// waiting for it to finish.
type umadSend struct {
	ep  *umadEP
	out Outgoing
	rec []byte
	// deferred is the next send of the same transaction, held until the
	// kernel is done with this one; it may hold another in turn.
	deferred *umadSend
}

// OpenUmad opens the umad device of port port of CA ca (see
// UmadSysfs.Lookup for how "" and 0 are resolved), enables P_Key indexes
// and starts reading. opts may be nil.
func OpenUmad(ca string, port int, opts *UmadOptions) (*Umad, error) {
	o := umadOpts(opts)
	s := UmadSysfs{Root: o.Root}
	p, err := s.Lookup(ca, port)
	if err != nil {
		return nil, err
	}
	return openUmadPort(s, p, o)
}

// OpenUmadGUID opens the umad device of the port whose port GUID is guid.
// opts may be nil.
func OpenUmadGUID(guid wire.GUID, opts *UmadOptions) (*Umad, error) {
	o := umadOpts(opts)
	s := UmadSysfs{Root: o.Root}
	p, err := s.LookupGUID(guid)
	if err != nil {
		return nil, err
	}
	return openUmadPort(s, p, o)
}

func umadOpts(opts *UmadOptions) UmadOptions {
	var o UmadOptions
	if opts != nil {
		o = *opts
	}
	if o.openDev == nil {
		o.openDev = openUmadFile
	}
	return o
}

func openUmadPort(s UmadSysfs, p UmadPort, o UmadOptions) (*Umad, error) {
	abi, err := s.ABIVersion()
	if err != nil {
		return nil, err
	}
	if abi < UmadABIVersion {
		return nil, fmt.Errorf("mad: umad abi version %d, need %d or later", abi, UmadABIVersion)
	}
	f, err := o.openDev(p.Path)
	if err != nil {
		return nil, fmt.Errorf("mad: open umad %s (%s port %d): %w", p.Path, p.CA, p.Port, err)
	}
	return newUmad(f, p, o, abi, func() ([]wire.PKey, error) { return s.PKeys(p) }), nil
}

// newUmad starts the transport on an open device file. It issues
// IB_USER_MAD_ENABLE_PKEY first, as the ABI requires, and falls back to
// the old header when the kernel refuses (ABI version 5 kernels without
// it; version 6 and later use the new header always).
func newUmad(f umadFile, p UmadPort, o UmadOptions, abi int, pkeys func() ([]wire.PKey, error)) *Umad {
	u := &Umad{f: f, port: p, opts: o, pkeyTable: pkeys, q: newUmadQueue(), readerDone: make(chan struct{}),
		outstanding: map[umadSendKey]*umadSend{}}
	if pkeys != nil {
		if tbl, err := pkeys(); err == nil {
			u.mu.Lock()
			u.pkeys = tbl
			u.mu.Unlock()
		}
	}
	if err := f.Ioctl(UmadIoctlEnablePKey, nil); err == nil || abi > UmadABIVersion {
		u.hdrSize.Store(UmadHdrSize)
	} else {
		u.hdrSize.Store(UmadHdrOldSize)
	}
	go u.q.run()
	go u.readLoop()
	return u
}

// openUmadFile opens a real device file. The file joins Go's poller, so
// Close wakes a blocked Read.
func openUmadFile(path string) (umadFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osUmadFile{f}, nil
}

// osUmadFile is an open /dev/infiniband/umadN.
type osUmadFile struct{ *os.File }

// Ioctl implements umadFile.Ioctl with the ioctl system call.
func (f osUmadFile) Ioctl(req uint32, arg []byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	cerr := rc.Control(func(fd uintptr) {
		if len(arg) == 0 {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(req), 0)
			return
		}
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(req), uintptr(unsafe.Pointer(&arg[0])))
	})
	runtime.KeepAlive(arg)
	if cerr != nil {
		return cerr
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// Port is the port the transport was opened on, as sysfs described it
// then.
func (u *Umad) Port() UmadPort { return u.port }

// HdrSize is the size of the record header in use: UmadHdrSize, or
// UmadHdrOldSize on a kernel that refused IB_USER_MAD_ENABLE_PKEY.
func (u *Umad) HdrSize() int { return int(u.hdrSize.Load()) }

// Stats returns a snapshot of the transport's counters.
func (u *Umad) Stats() UmadStats {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stats
}

// Clock implements Transport.Clock: the wall clock, with callbacks run on
// the delivery goroutine.
func (u *Umad) Clock() emu.Clock { return umadClock{u.q} }

// Register implements Transport.Register: one kernel agent for reg's QP,
// class, class version, methods and OUI, with kernel RMPP (rmpp_version 1)
// when reg.RMPP asks for it.
func (u *Umad) Register(reg Registration, deliver func(Incoming)) (Endpoint, error) {
	switch {
	case deliver == nil:
		return nil, errors.New("mad: umad register: no deliver function")
	case reg.QPN > 1:
		return nil, fmt.Errorf("mad: umad register: qp %d: umad agents live on qp0 and qp1 only", reg.QPN)
	case (reg.QPN == 0) != reg.Class.IsSubn():
		return nil, fmt.Errorf("mad: umad register: class %s does not travel on qp%d", reg.Class, reg.QPN)
	case reg.Class.IsVendorRange2() && reg.OUI == [3]byte{}:
		return nil, fmt.Errorf("mad: umad register: vendor class %s needs an oui", reg.Class)
	}
	req := UmadRegReq{QPN: uint8(reg.QPN), MgmtClass: reg.Class, ClassVersion: reg.ClassVersion,
		Methods: reg.Methods, OUI: reg.OUI}
	if reg.RMPP {
		if _, ok := RMPPDataOffset(reg.Class); !ok {
			return nil, fmt.Errorf("mad: umad register: class %s has no rmpp", reg.Class)
		}
		req.RMPPVersion = wire.RMPPVersion
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, fmt.Errorf("mad: umad register on %s port %d: %w", u.port.CA, u.port.Port, ErrClosed)
	}
	id, err := u.registerLocked(&req)
	if err != nil {
		return nil, fmt.Errorf("mad: umad register %s version %d on qp%d: %w", reg.Class, reg.ClassVersion, reg.QPN, err)
	}
	ep := &umadEP{u: u, id: id, reg: reg, deliver: deliver}
	ep.reg.Methods = slices.Clone(reg.Methods)
	u.eps[id] = ep
	return ep, nil
}

// registerLocked tries IB_USER_MAD_REGISTER_AGENT2 and, when the kernel
// does not know it (ENOTTY) or refuses its form (EINVAL), falls back to
// IB_USER_MAD_REGISTER_AGENT, as libibumad's umad_register2 does.
//
// +checklocks:u.mu
func (u *Umad) registerLocked(req *UmadRegReq) (uint32, error) {
	arg, err := EncodeUmadRegReq2(req)
	if err != nil {
		return 0, err
	}
	// REGISTER_AGENT2 as the first use of the file selects the new
	// header, like ENABLE_PKEY. Nothing can be read before the first
	// agent exists, so the reader sees the new size before any record.
	first, prev := !u.used, u.hdrSize.Load()
	if first {
		u.hdrSize.Store(UmadHdrSize)
	}
	err = u.f.Ioctl(UmadIoctlRegisterAgent2, arg)
	if err != nil && first {
		u.hdrSize.Store(prev)
	}
	if errors.Is(err, syscall.ENOTTY) || errors.Is(err, syscall.EINVAL) {
		if arg, err = EncodeUmadRegReq(req); err != nil {
			return 0, err
		}
		err = u.f.Ioctl(UmadIoctlRegisterAgent, arg)
	}
	if err != nil {
		return 0, err
	}
	u.used = true
	id, err := UmadRegReqID(arg)
	if err != nil {
		return 0, err
	}
	if id >= UmadMaxAgents || u.eps[id] != nil {
		return 0, fmt.Errorf("kernel returned agent id %d, which is out of range or in use", id)
	}
	return id, nil
}

// Close implements Transport.Close: it unregisters every agent, closes
// the device (which stops the reader), tells every endpoint, and stops
// the delivery goroutine once that is delivered.
func (u *Umad) Close() error {
	eps, ok := u.shut()
	if !ok {
		return nil
	}
	var errs []error
	for _, ep := range eps {
		if err := ep.unregister(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := u.closeDevice(); err != nil {
		errs = append(errs, fmt.Errorf("mad: umad close: %w", err))
	}
	<-u.readerDone
	u.finish(eps, fmt.Errorf("mad: umad %s port %d: %w", u.port.CA, u.port.Port, ErrClosed))
	return errors.Join(errs...)
}

func (u *Umad) closeDevice() error {
	var err error
	u.closeFile.Do(func() {
		u.closing.Store(true)
		err = u.f.Close()
	})
	return err
}

// finish gives each endpoint still open its last Incoming and stops the
// delivery goroutine after that.
func (u *Umad) finish(eps []*umadEP, cause error) {
	slices.SortFunc(eps, func(a, b *umadEP) int { return int(a.id) - int(b.id) })
	for _, ep := range eps {
		if ep.closed.CompareAndSwap(false, true) {
			u.q.push(func() { ep.deliver(Incoming{Err: cause}) })
		}
	}
	u.q.stop()
}

// fail ends the transport after the device failed (the HCA went away:
// reads return EIO).
func (u *Umad) fail(err error) {
	eps, ok := u.shut()
	if !ok {
		return
	}
	_ = u.closeDevice()
	u.finish(eps, fmt.Errorf("mad: umad %s port %d: %w", u.port.CA, u.port.Port, err))
}

// readLoop reads records until the device is closed or fails.
func (u *Umad) readLoop() {
	defer close(u.readerDone)
	// The buffer fits the larger header, so a read that started before
	// the first registration chose the layout is big enough either way.
	const base = UmadHdrSize + wire.MADSize
	var buf []byte
	for {
		if len(buf) != base {
			buf = make([]byte, base)
		}
		n, err := u.f.Read(buf)
		hs := u.HdrSize()
		for errors.Is(err, syscall.ENOSPC) {
			// A reassembled RMPP message: the kernel copied the header,
			// whose length is the buffer it needs, and kept the message
			// queued.
			need := int(UmadHdr(buf[:hs]).Length())
			if need <= len(buf) || need > maxUmadRecord {
				u.fail(fmt.Errorf("mad: umad read: kernel asks for a %d-byte buffer: %w", need, err))
				return
			}
			u.count(func(s *UmadStats) { s.Grown++ })
			buf = make([]byte, need)
			n, err = u.f.Read(buf)
		}
		if err != nil {
			if u.closing.Load() {
				return
			}
			if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN) {
				continue
			}
			u.fail(fmt.Errorf("mad: umad read: %w", err))
			return
		}
		rec := slices.Clone(buf[:n])
		u.handle(rec, hs)
	}
}

func (u *Umad) count(f func(*UmadStats)) {
	u.mu.Lock()
	f(&u.stats)
	u.mu.Unlock()
}

// handle dispatches one record read from the device: a received MAD to
// its agent, or a send the kernel gave up on.
func (u *Umad) handle(rec []byte, hs int) {
	h, err := ParseUmadHdr(rec, hs)
	if err != nil || len(rec) < hs+wire.MADHeaderSize {
		u.count(func(s *UmadStats) { s.Reads++; s.Dropped++ })
		return
	}
	m := rec[hs:]
	id := h.ID()
	key := umadSendKey{agent: id, tid: uint32(wire.MAD(m).TID()), class: wire.MAD(m).MgmtClass()}
	u.mu.Lock()
	u.stats.Reads++
	var ep *umadEP
	if id < UmadMaxAgents {
		ep = u.eps[id]
	}
	if ep == nil {
		u.stats.Dropped++
		u.mu.Unlock()
		return
	}
	if st := h.Status(); st != 0 {
		s := u.outstanding[key]
		delete(u.outstanding, key)
		if st == uint32(syscall.ETIMEDOUT) {
			u.stats.KernelTimeouts++
		}
		var redo *umadSend
		if s != nil && s.deferred != nil && !(st == uint32(syscall.ETIMEDOUT) && u.opts.ReportTimeouts) {
			redo = s.deferred
			u.outstanding[key] = redo
		}
		pkeys := u.pkeys
		u.mu.Unlock()
		if redo != nil {
			u.write(key, redo)
		}
		if st == uint32(syscall.ETIMEDOUT) && !u.opts.ReportTimeouts {
			// The agent's own timer retransmits or times out.
			return
		}
		in := Incoming{Addr: umadAddr(h, pkeys), MAD: m}
		if s != nil {
			in.Addr, in.MAD = s.out.Addr, s.out.MAD
		}
		errno := syscall.Errno(st)
		if errno == syscall.ETIMEDOUT {
			in.Err = fmt.Errorf("mad: umad: kernel reports no response to %s tid 0x%016x (%w): %w",
				wire.MAD(m).MgmtClass(), wire.MAD(m).TID(), errno, ErrTimeout)
		} else {
			in.Err = fmt.Errorf("mad: umad: send of %s tid 0x%016x failed: %w", wire.MAD(m).MgmtClass(), wire.MAD(m).TID(), errno)
		}
		u.q.push(func() {
			if !ep.closed.Load() {
				ep.deliver(in)
			}
		})
		return
	}
	if wire.MAD(m).IsResponse() {
		// The kernel completed the request this answers; a
		// retransmission held for it is moot.
		delete(u.outstanding, key)
	}
	pkeys := u.pkeys
	u.mu.Unlock()
	in := Incoming{Addr: umadAddr(h, pkeys), MAD: m}
	if in.Addr.PKeyIndex != 0 && int(in.Addr.PKeyIndex) >= len(pkeys) && u.pkeyTable != nil {
		if tbl, err := u.refreshPKeys(); err == nil && int(in.Addr.PKeyIndex) < len(tbl) {
			in.Addr.PKey = uint16(tbl[in.Addr.PKeyIndex])
		}
	}
	u.q.push(func() {
		if !ep.closed.Load() {
			ep.deliver(in)
		}
	})
}

// umadAddr is the source address of a received record.
func umadAddr(h UmadHdr, pkeys []wire.PKey) Addr {
	a := Addr{LID: h.LID(), SL: h.SL(), QPN: h.QPN(), QKey: h.QKey(), PKeyIndex: h.PKeyIndex(), PathBits: h.PathBits()}
	if a.QPN == 1 && a.QKey == 0 {
		a.QKey = GSIQKey // the kernel leaves qkey unset on receive
	}
	if int(a.PKeyIndex) < len(pkeys) {
		a.PKey = uint16(pkeys[a.PKeyIndex])
	}
	if h.GRHPresent() {
		a.GRH = &GRH{GID: h.GID(), SGIDIndex: h.GIDIndex(), HopLimit: h.HopLimit(), TrafficClass: h.TrafficClass(),
			FlowLabel: h.FlowLabel()}
	}
	return a
}

// refreshPKeys reads the P_Key table again.
func (u *Umad) refreshPKeys() ([]wire.PKey, error) {
	if u.pkeyTable == nil {
		return nil, errors.New("mad: umad: the port's p_key table is unknown")
	}
	tbl, err := u.pkeyTable()
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	u.pkeys = tbl
	u.mu.Unlock()
	return tbl, nil
}

// pkeyIndex is the P_Key index a send to a uses: a.PKeyIndex, or the
// index of a.PKey in the port's table when a P_Key is given (a full
// member entry first, then the same partition as a limited member).
func (u *Umad) pkeyIndex(a Addr) (uint16, error) {
	if a.PKey == 0 {
		return a.PKeyIndex, nil
	}
	u.mu.Lock()
	tbl := u.pkeys
	u.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if i, ok := findPKey(tbl, wire.PKey(a.PKey)); ok {
			return uint16(i), nil
		}
		if attempt > 0 {
			return 0, fmt.Errorf("mad: umad: p_key 0x%04x is not in the p_key table of %s port %d", a.PKey, u.port.CA, u.port.Port)
		}
		var err error
		if tbl, err = u.refreshPKeys(); err != nil {
			return 0, fmt.Errorf("mad: umad: p_key 0x%04x: %w", a.PKey, err)
		}
	}
}

func findPKey(tbl []wire.PKey, k wire.PKey) (int, bool) {
	if i := slices.Index(tbl, k); i >= 0 {
		return i, true
	}
	for i, x := range tbl {
		if x&0x7FFF == k&0x7FFF && x&0x7FFF != 0 {
			return i, true
		}
	}
	return 0, false
}

// write writes s's record; a failure goes to the agent as a send failure,
// since it already counted the MAD as sent.
func (u *Umad) write(key umadSendKey, s *umadSend) {
	if _, err := u.f.Write(s.rec); err != nil {
		u.mu.Lock()
		if u.outstanding[key] == s {
			delete(u.outstanding, key)
		}
		u.mu.Unlock()
		in := Incoming{Addr: s.out.Addr, MAD: s.out.MAD, Err: fmt.Errorf("mad: umad write: %w", err)}
		u.q.push(func() {
			if !s.ep.closed.Load() {
				s.ep.deliver(in)
			}
		})
		return
	}
	u.count(func(st *UmadStats) { st.Writes++ })
}

// umadEP is one kernel agent.
type umadEP struct {
	u       *Umad
	id      uint32
	reg     Registration
	deliver func(Incoming)
	closed  atomic.Bool
	unreg   sync.Once
}

// ID implements Endpoint.ID: the umad agent ID. The kernel replaces the
// upper 32 bits of the transaction IDs of requests with its own.
func (ep *umadEP) ID() uint32 { return ep.id }

// OffloadsRMPP implements RMPPOffloader: the kernel segments and
// reassembles when the agent registered with RMPP.
func (ep *umadEP) OffloadsRMPP() bool { return ep.reg.RMPP }

// Send implements Endpoint.Send: it writes one record, header and MAD.
func (ep *umadEP) Send(out Outgoing) error {
	u := ep.u
	if ep.closed.Load() {
		return fmt.Errorf("mad: umad agent %d send: %w", ep.id, ErrClosed)
	}
	m := out.MAD
	switch {
	case len(m) < wire.MADHeaderSize:
		return fmt.Errorf("mad: umad agent %d send: %d bytes: %w", ep.id, len(m), ErrBadMAD)
	case len(m) != wire.MADSize && !(ep.reg.RMPP && len(m) > wire.MADSize):
		return fmt.Errorf("mad: umad agent %d send: %d bytes: only an agent with kernel rmpp sends other than %d-byte mads: %w",
			ep.id, len(m), wire.MADSize, ErrBadMAD)
	}
	pki, err := u.pkeyIndex(out.Addr)
	if err != nil {
		return fmt.Errorf("mad: umad agent %d send to %s: %w", ep.id, out.Addr, err)
	}
	resp := wire.MAD(m).IsResponse()
	var tmo uint32
	if !resp && out.Timeout > 0 {
		tmo = uint32(min((out.Timeout+time.Millisecond-1)/time.Millisecond, 1<<32-1))
	}
	hs := u.HdrSize()
	rec := make([]byte, hs+len(m))
	f := UmadHdrFields{ID: ep.id, TimeoutMS: tmo, QPN: out.Addr.QPN, QKey: out.Addr.QKey, LID: out.Addr.LID,
		SL: out.Addr.SL, PathBits: out.Addr.PathBits, PKeyIndex: pki}
	if g := out.Addr.GRH; g != nil {
		f.GRHPresent, f.GIDIndex, f.HopLimit, f.TrafficClass, f.GID, f.FlowLabel =
			true, g.SGIDIndex, g.HopLimit, g.TrafficClass, g.GID, g.FlowLabel
	}
	UmadHdr(rec[:hs]).Encode(&f)
	copy(rec[hs:], m)
	s := &umadSend{ep: ep, out: out, rec: rec}
	key := umadSendKey{agent: ep.id, tid: uint32(wire.MAD(m).TID()), class: wire.MAD(m).MgmtClass()}
	if tmo > 0 {
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			return fmt.Errorf("mad: umad agent %d send: %w", ep.id, ErrClosed)
		}
		if prev := u.outstanding[key]; prev != nil {
			// The kernel still tracks the earlier send of this
			// transaction and would refuse this one as a duplicate.
			// Queue it behind every send already held: when the
			// kernel lags more than a retry interval the agent may
			// retransmit twice before the first send ends, and each
			// retransmission still goes out, in turn.
			for prev.deferred != nil {
				prev = prev.deferred
			}
			prev.deferred = s
			u.stats.Deferred++
			u.mu.Unlock()
			return nil
		}
		u.outstanding[key] = s
		u.mu.Unlock()
	}
	if _, err := u.f.Write(rec); err != nil {
		if tmo > 0 {
			u.mu.Lock()
			if u.outstanding[key] == s {
				delete(u.outstanding, key)
			}
			u.mu.Unlock()
		}
		return fmt.Errorf("mad: umad agent %d send to %s: %w", ep.id, out.Addr, err)
	}
	u.count(func(st *UmadStats) { st.Writes++ })
	return nil
}

// Close implements Endpoint.Close: IB_USER_MAD_UNREGISTER_AGENT.
func (ep *umadEP) Close() error {
	ep.closed.Store(true)
	u := ep.u
	u.mu.Lock()
	if u.eps[ep.id] == ep {
		u.eps[ep.id] = nil
	}
	for k := range u.outstanding {
		if k.agent == ep.id {
			delete(u.outstanding, k)
		}
	}
	closed := u.closed
	u.mu.Unlock()
	if closed {
		return nil // Close of the transport unregisters
	}
	return ep.unregister()
}

func (ep *umadEP) unregister() error {
	var err error
	ep.unreg.Do(func() {
		arg := make([]byte, 4)
		hostOrder.PutUint32(arg, ep.id)
		if e := ep.u.f.Ioctl(UmadIoctlUnregisterAgent, arg); e != nil {
			err = fmt.Errorf("mad: umad unregister agent %d: %w", ep.id, e)
		}
	})
	return err
}

// umadQueue runs functions one at a time, in order, on one goroutine: the
// transport's delivery context. stop ends it after what is queued.
type umadQueue struct {
	mu sync.Mutex
	// +checklocks:mu
	fns []func()
	// +checklocks:mu
	stopped bool
	ready   chan struct{}
}

func newUmadQueue() *umadQueue { return &umadQueue{ready: make(chan struct{}, 1)} }

func (q *umadQueue) push(fn func()) {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.fns = append(q.fns, fn)
	q.mu.Unlock()
	q.wake()
}

func (q *umadQueue) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *umadQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
	q.wake()
}

func (q *umadQueue) run() {
	for {
		q.mu.Lock()
		batch, stopped := q.fns, q.stopped
		q.fns = nil
		q.mu.Unlock()
		for _, fn := range batch {
			fn()
		}
		if len(batch) == 0 {
			if stopped {
				return
			}
			<-q.ready
		}
	}
}

// umadClock is the wall clock with callbacks moved to the delivery
// goroutine.
type umadClock struct{ q *umadQueue }

// Now implements emu.Clock.Now.
func (c umadClock) Now() time.Time { return time.Now() }

// AfterFunc implements emu.Clock.AfterFunc.
func (c umadClock) AfterFunc(d time.Duration, fn func()) emu.Timer {
	t := &umadTimer{}
	t.inner = time.AfterFunc(d, func() {
		c.q.push(func() {
			if t.state.CompareAndSwap(timerPending, timerFired) {
				fn()
			}
		})
	})
	return t
}

// umadTimer is a pending umadClock callback; Stop also cancels one
// already queued for the delivery goroutine.
type umadTimer struct {
	inner *time.Timer
	state atomic.Int32
}

// Stop implements emu.Timer.Stop.
func (t *umadTimer) Stop() bool {
	if t.state.CompareAndSwap(timerPending, timerStopped) {
		t.inner.Stop()
		return true
	}
	return false
}

// shut marks the transport closed and takes its endpoints and outstanding
// sends away, once: ok is false when it was already closed.
func (u *Umad) shut() (eps []*umadEP, ok bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, false
	}
	u.closed = true
	for i, ep := range u.eps {
		if ep != nil {
			eps = append(eps, ep)
			u.eps[i] = nil
		}
	}
	clear(u.outstanding)
	return eps, true
}
