package attach

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/agent"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// errUndeliverable marks a client MAD the fabric cannot take (no route,
// port down, a path the attach port cannot start); the client gets it back
// with status 110.
var errUndeliverable = errors.New("attach: mad undeliverable")

// attachPoint is one port clients attach to: a CA port, whose MADs go
// through the HCA's host agent interface (hca.Device.RegisterAgent), or a
// switch's management port 0, whose host side the server provides itself
// (the switch model has no host interface). All its state is owned by the
// event loop.
type attachPoint struct {
	s    *Server
	n    *node
	port *emu.Port
	// clients are the clients attached here, in attach order.
	clients []*client
	// sm is the client that receives unsolicited SM and SA requests (the
	// first one that set IsSM), nil when none.
	sm *client
	// smAgents serve SM and SA requests for sm on a CA port.
	smAgents []*hca.Agent
	// vendorAgents serve, on a CA port, the vendor classes clients here
	// declared (client.vendor), by class.
	vendorAgents map[wire.MgmtClass]*hca.Agent

	// Switch port 0 only: TIDs of the traps made up for a local SM, and
	// the host-side PMA and vendor agents (see localGMP).
	trapTID uint64
	pma     *agent.PMA
	vendor  *agent.Vendor
	// rx and drCopy are intercept's scratch: the parsed frame, and the
	// copy of a directed-route SMP it routes (nothing keeps either once
	// intercept returns).
	rx     agent.Frame
	drCopy [wire.MADSize]byte
}

// Unsolicited requests an SM client may receive: libumad2sim crashes the
// process when a MAD arrives for a class it did not register (ibsim issue
// #38), and an SM registers exactly these classes with these methods.
var (
	smpMethods = []wire.Method{wire.MethodGet, wire.MethodSet, wire.MethodTrap}
	saMethods  = []wire.Method{wire.MethodGet, wire.MethodSet, wire.MethodGetTable, wire.MethodGetTraceTable,
		wire.MethodGetMulti, wire.MethodDelete}
)

// forSM reports whether m is an unsolicited request an SM client takes.
func forSM(m wire.MAD) bool {
	if m.IsResponse() {
		return false
	}
	switch m.MgmtClass() {
	case wire.MgmtClassSubnLID, wire.MgmtClassSubnDirected:
		return slices.Contains(smpMethods, m.Method())
	case wire.MgmtClassSubnAdm:
		return m.ClassVersion() == wire.SAClassVersion && slices.Contains(saMethods, m.Method())
	}
	return false
}

func (ap *attachPoint) isSwitch() bool { return ap.n.sw != nil }

// pa is the SMA state of the attach port.
func (ap *attachPoint) pa() *agent.PortAttrs { return ap.n.sma.Port(ap.port.Num()) }

// add attaches c; on a CA port, the vendor classes it declared are
// served from now on (see serveVendor).
func (ap *attachPoint) add(c *client) {
	ap.clients = append(ap.clients, c)
	classes := ap.s.vendorClasses(c)
	if ap.isSwitch() {
		ap.n.dev.host = ap
		ap.n.dev.hook()
		if len(classes) > 0 {
			ap.s.log.Warn("attach: vendor classes are served on a CA port only; not given to the client",
				"slot", c.slot, "node", ap.n.topo.ID, "classes", classes)
		}
		return
	}
	c.vendor = classes
	for _, class := range c.vendor {
		ap.serveVendor(class)
	}
	if len(c.vendor) > 0 {
		ap.s.log.Info("attach: client serves vendor classes", "slot", c.slot, "node", ap.n.topo.ID, "classes", c.vendor)
	}
}

// remove detaches c: its agents go, and if it was the SM the next client
// that set IsSM takes over (or IsSM is cleared).
func (ap *attachPoint) remove(c *client) {
	i := slices.Index(ap.clients, c)
	if i < 0 {
		return
	}
	ap.clients = slices.Delete(ap.clients, i, i+1)
	for _, a := range c.agents {
		a.Unregister()
	}
	c.agents = nil
	for _, class := range c.vendor {
		if a := ap.vendorAgents[class]; a != nil && ap.vendorHolder(class) == nil {
			a.Unregister()
			delete(ap.vendorAgents, class)
		}
	}
	for _, tr := range c.pending.appendTo(nil) {
		ap.s.txs.done(tr)
	}
	c.pending.reset()
	if ap.sm == c {
		ap.chooseSM(nil)
	}
	if len(ap.clients) == 0 && ap.isSwitch() && ap.n.dev.host == ap {
		ap.n.dev.host = nil
		ap.n.dev.hook()
	}
}

// smOnNode returns the SM client attached anywhere on ap's node, or nil.
func (ap *attachPoint) smOnNode() *client {
	for _, p := range ap.n.en.Ports() {
		if p == nil {
			continue
		}
		if o := ap.s.points[p]; o != nil && o.sm != nil {
			return o.sm
		}
	}
	return nil
}

// setISSM records whether c holds the SM role (SET_ISSM, or CONNECT with
// issm set), as opening /dev/infiniband/issmN does on Linux.
func (ap *attachPoint) setISSM(c *client, on bool) {
	c.issm = on
	switch {
	case on && ap.sm == nil:
		ap.chooseSM(c)
	case !on && ap.sm == c:
		ap.chooseSM(nil)
	}
}

// chooseSM makes c the SM client, or, for nil, the first other client
// with IsSM; with none left the port's IsSM capability is cleared.
func (ap *attachPoint) chooseSM(c *client) {
	if c == nil {
		for _, o := range ap.clients {
			if o.issm && o != ap.sm {
				c = o
				break
			}
		}
	}
	had := ap.sm != nil
	ap.sm = c
	switch {
	case c != nil && !had:
		ap.enableSM()
	case c == nil && had:
		ap.disableSM()
	}
}

// enableSM raises IsSM on the attach port (which sends trap 144 when the
// port can reach the master SM) and, on a CA, registers the agents that
// bring SM and SA requests to the SM client.
func (ap *attachPoint) enableSM() {
	if ap.isSwitch() {
		_, _ = ap.n.sma.ModifyCapabilityMask(0, wire.PortCapIsSM, 0)
		return
	}
	specs := []hca.AgentSpec{
		{QPN: agent.QP0, Class: wire.MgmtClassSubnLID, ClassVersion: wire.SMPClassVersion, Methods: smpMethods},
		{QPN: agent.QP0, Class: wire.MgmtClassSubnDirected, ClassVersion: wire.SMPClassVersion, Methods: smpMethods[:2]},
		{QPN: agent.QP1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion, Methods: saMethods},
	}
	for _, sp := range specs {
		sp.Port = ap.port.Num()
		qp := sp.QPN
		sp.Handler = func(r hca.ReceivedMAD) {
			if ap.sm != nil {
				ap.hand(ap.sm, r.Addr.LID, r.Addr.QPN, qp, r.MAD)
			}
		}
		a, err := ap.n.hca.RegisterAgent(sp)
		if err != nil {
			ap.s.log.Warn("attach: sm agent not registered", "node", ap.n.topo.ID, "class", sp.Class, "err", err)
			continue
		}
		ap.smAgents = append(ap.smAgents, a)
	}
}

// disableSM undoes enableSM.
func (ap *attachPoint) disableSM() {
	if ap.isSwitch() {
		_, _ = ap.n.sma.ModifyCapabilityMask(0, 0, wire.PortCapIsSM)
		return
	}
	for _, a := range ap.smAgents {
		a.Unregister()
	}
	ap.smAgents = nil
}

// vendorEnv names the variable by which a process declares the vendor
// classes it serves (IBTA Vol 1 §13.4.4: 0x09-0x0F, 0x30-0x4F), e.g.
// IBEMU_VENDOR_CLASSES=0x32 for `ibping -S`, 0x33 for `ibsysstat -S`:
// comma- or space-separated numbers (0x for hex).
//
// Nothing else can tell: libumad2sim registers umad agents in the process
// alone (REGISTER_AGENT only fills its own table; CONNECT's qp is always
// 0), and it hands a received MAD to the fd registered for its class,
// dereferencing a missing one (the process dies with SIGSEGV, ibsim issue
// #38). A class is therefore never delivered to a process that did not
// declare it; one that declares a class it did not register crashes.
const vendorEnv = "IBEMU_VENDOR_CLASSES"

// vendorMethods are the request methods a declared vendor class is served
// for (libibmad's mad_register_server_via, given no method mask,
// registers them all), and vendorClassVersion the class version libibmad
// sends and registers for vendor classes.
var vendorMethods = []wire.Method{wire.MethodGet, wire.MethodSet, wire.MethodSend, wire.MethodTrap, wire.MethodReport}

const vendorClassVersion = 1

// vendorClasses returns the vendor classes client c declared in its
// environment (vendorEnv), read from /proc/<pid>/environ. Only in local
// mode, where CONNECT's id is the client's pid (and its control socket is
// named <base>:ctl<pid>, which is checked); in remote mode, elsewhere than
// Linux, or when the environment cannot be read, none.
func (s *Server) vendorClasses(c *client) []wire.MgmtClass {
	if s.cfg.Listen != "" || runtime.GOOS != "linux" || c.id == 0 {
		return nil
	}
	if !strings.HasSuffix(strings.TrimRight(c.from, "\x00"), ":ctl"+strconv.FormatUint(uint64(c.id), 10)) {
		return nil
	}
	env, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(c.id), 10) + "/environ")
	if err != nil {
		s.log.Debug("attach: client environment not readable", "slot", c.slot, "pid", c.id, "err", err)
		return nil
	}
	for kv := range strings.SplitSeq(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, vendorEnv+"="); ok {
			classes, bad := parseVendorClasses(v)
			if len(bad) > 0 {
				s.log.Warn("attach: "+vendorEnv+": not vendor classes, ignored", "slot", c.slot, "pid", c.id, "values", bad)
			}
			return classes
		}
	}
	return nil
}

// parseVendorClasses parses a vendorEnv value: the vendor classes it
// names, once each, and the fields that are not vendor classes.
func parseVendorClasses(v string) (classes []wire.MgmtClass, bad []string) {
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		n, err := strconv.ParseUint(f, 0, 8)
		class := wire.MgmtClass(n)
		if err != nil || !(class.IsVendorRange1() || class.IsVendorRange2()) {
			bad = append(bad, f)
			continue
		}
		if !slices.Contains(classes, class) {
			classes = append(classes, class)
		}
	}
	return classes, bad
}

// vendorHolder returns the client that takes unsolicited requests of
// vendor class class here: the first attached one that declared it (as
// the Linux MAD layer lets one agent serve a class and method, and the
// next one register once it is gone), or nil.
func (ap *attachPoint) vendorHolder(class wire.MgmtClass) *client {
	for _, c := range ap.clients {
		if !c.closed.Load() && slices.Contains(c.vendor, class) {
			return c
		}
	}
	return nil
}

// serveVendor registers, once per class, the HCA agent that brings
// requests of vendor class class arriving at the attach port to its
// holder. Without it the HCA answers them as the Linux MAD layer answers
// a class nobody registered. Requests are handed over as they came (the
// requester's TID, source LID and QP), and the holder's response goes
// back like any client response (hcaSend).
func (ap *attachPoint) serveVendor(class wire.MgmtClass) {
	if ap.vendorAgents[class] != nil {
		return
	}
	a, err := ap.n.hca.RegisterAgent(hca.AgentSpec{Port: ap.port.Num(), QPN: agent.QP1, Class: class,
		ClassVersion: vendorClassVersion, Methods: vendorMethods,
		Handler: func(r hca.ReceivedMAD) {
			c := ap.vendorHolder(class)
			if c == nil {
				ap.s.log.Debug("attach: vendor request for no client", "node", ap.n.topo.ID, "class", class)
				return
			}
			ap.hand(c, r.Addr.LID, r.Addr.QPN, agent.QP1, r.MAD)
		}})
	if err != nil {
		ap.s.log.Warn("attach: vendor class agent not registered", "node", ap.n.topo.ID, "class", class, "err", err)
		return
	}
	if ap.vendorAgents == nil {
		ap.vendorAgents = map[wire.MgmtClass]*hca.Agent{}
	}
	ap.vendorAgents[class] = a
}

// ownLID is the attach port's LID (0 before the SM assigns one).
func (ap *attachPoint) ownLID() wire.LID { return ap.pa().LID }

// hand queues mad, which came from slid's QP sqp, for c's QP dqp.
func (ap *attachPoint) hand(c *client, slid wire.LID, sqp, dqp uint32, mad []byte) {
	c.deliver(ap.ownLID(), slid, sqp, dqp, mad)
}

// fromClient injects a datagram from c into the fabric as sent by the
// attach port's host. A request that expects a response is tracked as the
// Linux MAD layer tracks a umad send with a timeout: it is sent again
// after Config.MADTimeout without a response, up to Config.MADRetries
// times, and then handed back to the client with status 110 (ETIMEDOUT),
// which is how OpenSM's umad vendor layer learns that a transaction
// failed (libumad2sim passes neither timeout nor retries to the server).
// d is not kept: it is the reader's buffer.
func (ap *attachPoint) fromClient(c *client, d Datagram) {
	if c.closed.Load() {
		return
	}
	zeroPastLength(d)
	if sealRMPP(d) {
		c.sealed.add(d.MAD().TID())
	}
	m := d.MAD()
	var tr *transaction
	if m.BaseVersion() == wire.MADBaseVersion && expectsResponse(m) {
		key := txKey(m.TID())
		if old := c.pending.get(key); old != nil {
			c.pending.del(key)
			ap.s.txs.done(old)
		}
		tr = ap.s.txs.add(c, key, d)
		c.pending.put(tr)
	}
	if err := ap.forward(c, d); err != nil {
		ap.failed(c, d, tr, err)
	}
}

// forward hands a client MAD to the attach port's host interface. It does
// not change d.
func (ap *attachPoint) forward(c *client, d Datagram) error {
	m := d.MAD()
	switch {
	case m.BaseVersion() != wire.MADBaseVersion:
		return fmt.Errorf("base version %d: %w", m.BaseVersion(), errUndeliverable)
	case ap.isSwitch():
		return ap.swSend(c, d)
	default:
		return ap.hcaSend(c, d)
	}
}

// failed handles a client MAD the fabric could not take: a request comes
// back at once with status 110, as ibsim returns MADs it cannot route. tr
// is the request's transaction, if it has one; it ends here.
func (ap *attachPoint) failed(c *client, d Datagram, tr *transaction, err error) {
	m := d.MAD()
	ap.s.log.Debug("attach: client mad not delivered", "slot", c.slot, "class", m.MgmtClass(),
		"method", m.Method(), "attr", m.AttrID(), "dlid", d.DLID(), "err", err)
	if !m.IsResponse() && m.Method() != wire.MethodTrapRepress {
		ap.bounce(c, d)
	}
	if tr != nil && c.pending.get(tr.key) == tr {
		c.pending.del(tr.key)
		ap.s.txs.done(tr) // after the bounce: d may be tr's copy
	}
}

// transaction is a client request waiting for its response.
type transaction struct {
	c    *client
	key  uint64   // txKey of the request's TID
	d    Datagram // the request as the client sent it (the table's copy)
	left int      // retransmissions left
	sent uint64   // the table's sweep count when it was last sent
}

// txTable tracks the transactions of every client without a timer per
// request: one sweep every quarter of Config.MADTimeout, armed while any
// transaction is open, resends or bounces those whose time is up, so a
// request is retransmitted between 1 and 1.25 MADTimeouts after it went.
// Transactions and their datagram copies are recycled. Loop-owned.
type txTable struct {
	s     *Server
	free  []*transaction
	open  int           // transactions in flight
	sweep uint64        // sweeps done
	every time.Duration // sweep period
	armed bool
	run   func() // t.expire, made once
	// scratch is expire's snapshot of a client's transactions.
	scratch []*transaction
}

// txTicks is the number of sweeps after which a transaction is due: with
// sweeps a quarter of the timeout apart, at least one full timeout.
const txTicks = 5

func (t *txTable) init(s *Server) {
	t.s = s
	t.every = max(s.cfg.MADTimeout/(txTicks-1), time.Microsecond)
	t.run = t.expire
}

// add opens a transaction for d (copied) of c.
func (t *txTable) add(c *client, key uint64, d Datagram) *transaction {
	var tr *transaction
	if n := len(t.free); n > 0 {
		tr = t.free[n-1]
		t.free[n-1] = nil
		t.free = t.free[:n-1]
	} else {
		tr = &transaction{d: make(Datagram, DatagramSize)}
	}
	copy(tr.d, d)
	tr.c, tr.key, tr.left, tr.sent = c, key, t.s.cfg.MADRetries, t.sweep
	t.open++
	if !t.armed {
		t.armed = true
		t.s.fab.Clock().AfterFunc(t.every, t.run)
	}
	return tr
}

// done closes tr, which its client no longer lists.
func (t *txTable) done(tr *transaction) {
	tr.c = nil
	t.open--
	if len(t.free) < 4096 {
		t.free = append(t.free, tr)
	}
}

// expire is the sweep: every transaction sent txTicks sweeps ago or
// earlier is sent again, or, with no retransmission left, handed back
// to its client with status 110.
func (t *txTable) expire() {
	t.sweep++
	for _, ap := range t.s.points {
		for _, c := range ap.clients {
			if c.closed.Load() {
				continue
			}
			// A snapshot: answering a resent request (a switch's own SMA
			// answers at once) or bouncing one closes transactions while
			// the sweep walks them. Each is checked again before it is
			// touched: still open, for this client, and due (a closed
			// transaction may be reused for a new request meanwhile,
			// which is never due).
			t.scratch = c.pending.appendTo(t.scratch[:0])
			for _, tr := range t.scratch {
				if tr.c != c || c.pending.get(tr.key) != tr || t.sweep-tr.sent < txTicks {
					continue
				}
				if tr.left <= 0 {
					c.pending.del(tr.key)
					t.s.stats.TimedOut.Add(1)
					ap.bounce(c, tr.d)
					t.done(tr)
					continue
				}
				tr.left--
				tr.sent = t.sweep
				t.s.stats.Retried.Add(1)
				if err := ap.forward(c, tr.d); err != nil {
					ap.failed(c, tr.d, tr, err)
				}
			}
			clear(t.scratch)
		}
	}
	if t.open > 0 {
		t.s.fab.Clock().AfterFunc(t.every, t.run)
	} else {
		t.armed = false
	}
}

// txKey is the part of a TID that identifies a client's transaction: the
// client's agent id (bits 32..47) and its own 32 bits; bits 48..63 carry
// the slot.
func txKey(tid uint64) uint64 { return tid & 0xFFFF_FFFF_FFFF }

// expectsResponse reports whether a request gets a response (IBTA Vol 1
// §13.4.5: Get, Set, Report and the SA's table methods do; Send, Trap and
// TrapRepress do not).
func expectsResponse(m wire.MAD) bool {
	if m.IsResponse() {
		return false
	}
	switch m.Method() {
	case wire.MethodGet, wire.MethodSet, wire.MethodReport, wire.MethodGetTable, wire.MethodGetTraceTable,
		wire.MethodGetMulti, wire.MethodDelete:
		return true
	}
	return false
}

// toClient hands mad, from slid's QP sqp, to c's QP dqp. A response
// completes the client's transaction with its TID (an RMPP ACK of a
// transfer sealRMPP sealed for the client is the kernel's, not a
// response: see sealedSet); one that answers none
// (a late answer to a retransmitted request, or a stray) is dropped, as
// the MAD layer does.
func (ap *attachPoint) toClient(c *client, slid wire.LID, sqp, dqp uint32, mad []byte) {
	m := wire.MAD(mad)
	if rmppControl(m) && c.sealed.has(m.TID()) {
		// The ACK (or STOP, ABORT) of a transfer the client's kernel
		// would have run: the kernel takes it, and the request it
		// carried still waits for its response.
		return
	}
	if m.IsResponse() {
		key := txKey(m.TID())
		tr := c.pending.get(key)
		// The class must match too: libumad2sim crashes on a MAD of a class
		// the process did not register, and a client registered the class of
		// each request it sent.
		if tr == nil || tr.d.MAD().MgmtClass() != m.MgmtClass() {
			ap.s.log.Debug("attach: response matches no request", "slot", c.slot, "tid", fmt.Sprintf("%#x", m.TID()),
				"class", m.MgmtClass(), "attr", m.AttrID())
			return
		}
		c.pending.del(key)
		ap.s.txs.done(tr)
	}
	ap.hand(c, slid, sqp, dqp, mad)
}

// bounce returns a client's request with status 110, as ibsim does for
// MADs it cannot route: the client sees a send timeout.
func (ap *attachPoint) bounce(c *client, d Datagram) {
	ap.s.stats.Bounced.Add(1)
	c.bounce(d, StatusTimeout)
}

// hcaSend sends a client MAD from a CA port through an HCA host agent.
// Requests go through an agent of the client's own, one per client agent
// id (TID bits 32..47), whose responses the HCA routes back by the TID's
// upper half; the handler restores the client's TID bits before handing
// the response over.
func (ap *attachPoint) hcaSend(c *client, d Datagram) error {
	m := d.MAD()
	k := agentKey{qp: agent.QP1}
	if m.MgmtClass().IsSubn() {
		k.qp = agent.QP0
	}
	if m.IsResponse() || m.Method() == wire.MethodTrapRepress {
		k.responder = true
	} else {
		k.agent = uint16(m.TID() >> 32)
	}
	a, err := ap.agentFor(c, k)
	if err != nil {
		return err
	}
	if err := a.Send(hca.MADAddr{LID: d.DLID(), QPN: d.DQP()}, m); err != nil {
		return fmt.Errorf("%w: %w", errUndeliverable, err)
	}
	return nil
}

// agentFor returns c's agent for k, registering it on first use.
func (ap *attachPoint) agentFor(c *client, k agentKey) (*hca.Agent, error) {
	if a := c.agents[k]; a != nil {
		return a, nil
	}
	class := wire.MgmtClassPerf
	if k.qp == agent.QP0 {
		class = wire.MgmtClassSubnLID
	}
	a, err := ap.n.hca.RegisterAgent(hca.AgentSpec{Port: ap.port.Num(), QPN: k.qp, Class: class, ClassVersion: 1,
		Handler: func(r hca.ReceivedMAD) {
			m := wire.MAD(r.MAD)
			if m.IsResponse() {
				m.SetTID(uint64(c.slot)<<48 | uint64(k.agent)<<32 | m.TID()&0xFFFFFFFF)
			}
			ap.toClient(c, r.Addr.LID, r.Addr.QPN, k.qp, m)
		}})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUndeliverable, err)
	}
	if c.agents == nil {
		c.agents = map[agentKey]*hca.Agent{}
	}
	c.agents[k] = a
	return a, nil
}

// smaGet reads attribute attr (modifier mod) from the node's SMA as the
// local host does, through port p.
func (ap *attachPoint) smaGet(p *emu.Port, attr wire.AttrID, mod uint32) ([]byte, error) {
	mp := ap.n.sma.Port(p.Num())
	if ap.isSwitch() {
		mp = ap.n.sma.Port(0)
	}
	smp := wire.SMP(make([]byte, wire.MADSize))
	smp.Encode(&wire.SMPFields{Method: wire.MethodGet, AttrID: attr, AttrMod: mod, MKey: mp.MKey})
	var out []byte
	var st wire.MADStatus
	answered := false
	ap.n.sma.Process(p, &agent.Frame{MAD: wire.MAD(smp)}, func(resp wire.MAD) {
		answered = true
		st = resp.Status()
		out = append([]byte(nil), wire.SMP(resp).Data()...)
	})
	switch {
	case !answered:
		return nil, fmt.Errorf("attach: %s of %s: no answer from the sma", attr, ap.n.topo)
	case st != wire.MADStatusOK:
		return nil, fmt.Errorf("attach: %s of %s: %w", attr, ap.n.topo, st.Err(wire.MgmtClassSubnLID, attr, 0))
	}
	return out, nil
}

// fwVer is the firmware version in the layout of the Mellanox drivers'
// fw_ver (major<<32 | minor<<16 | subminor), which libumad2sim prints in
// hex as the sysfs fw_ver.
func (ap *attachPoint) fwVer() uint64 {
	var fw agent.Firmware
	if ap.isSwitch() {
		fw = ap.n.sw.Profile().Firmware
	} else {
		fw = ap.n.hca.Vendor().Firmware()
	}
	return uint64(fw.Major)<<32 | uint64(fw.Minor)<<16 | uint64(fw.SubMinor)
}

// ctlQuery fills the reply payload of a GET_* control request from the
// current emulated state.
func (ap *attachPoint) ctlQuery(typ CtlType, data []byte) error {
	switch typ {
	case CtlGetVendor, CtlGetNodeInfo:
		ni, err := ap.smaGet(ap.port, wire.AttrNodeInfo, 0)
		if err != nil {
			return err
		}
		clear(data)
		if typ == CtlGetNodeInfo {
			copy(data, ni)
			return nil
		}
		n := wire.NodeInfo(ni)
		v := VendorInfo{VendorID: n.VendorID(), PartID: uint32(n.DeviceID()), HWVer: n.Revision(), FWVer: ap.fwVer()}
		v.Encode(data)
	case CtlGetPortInfo:
		p, mod := ap.port, uint32(ap.port.Num())
		if num := int(data[0]); num != 0 {
			if p = ap.n.en.Port(num); p == nil {
				return fmt.Errorf("attach: GET_PORTINFO: %s has no port %d: %w", ap.n.topo, num, ErrNoNode)
			}
			mod = uint32(num)
		}
		if ap.isSwitch() {
			p = ap.port
		}
		pi, err := ap.smaGet(p, wire.AttrPortInfo, mod)
		if err != nil {
			return err
		}
		clear(data)
		copy(data, pi)
	case CtlGetPKeys:
		pk, err := ap.smaGet(ap.port, wire.AttrPKeyTable, 0)
		if err != nil {
			return err
		}
		clear(data)
		copy(data, pk)
	case CtlGetPort:
		clear(data)
		hostOrder.PutUint16(data[0:], uint16(ap.ownLID()))
		data[2] = uint8(ap.port.State())
	case CtlGetGID:
		clear(data)
		pa := ap.pa()
		guid := pa.Config.GUID
		if ap.isSwitch() {
			guid = ap.n.sw.GUID()
		}
		for i := range 8 {
			data[i] = byte(pa.GIDPrefix >> (56 - 8*i))
			data[8+i] = byte(uint64(guid) >> (56 - 8*i))
		}
	case CtlGetGUID:
		clear(data)
		hostOrder.PutUint64(data, uint64(ap.n.sma.Node().NodeGUID))
	default:
		return fmt.Errorf("attach: %s is not a query: %w", typ, ErrRefused)
	}
	return nil
}
