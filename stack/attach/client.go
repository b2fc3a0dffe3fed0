package attach

import (
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
)

// client is one attached process: its slot, its data socket, the queue of
// datagrams waiting to be written to it, and the host agents it uses on
// an HCA attach point.
//
// The data path is built like ibsim's poll loop, with the reads batched:
// the reader goroutine takes every datagram the socket holds in one call
// (recvmmsg on Linux) and runs the whole batch as one event of the event
// loop, on its own goroutine when the loop is idle (emu.Fabric.Enter).
// On Linux the first client's socket is taken out of the runtime's
// network poller (ownSocket, Server.takeBlockingReader) and its reader
// sleeps in recvmmsg itself, so a batch costs one system call to read and
// one to write the answers, and no thread of the runtime wakes for it but
// the reader's.
// The loop writes each answer to the socket itself, without waiting, the
// moment the fabric produces it, as ibsim's loop does: no
// goroutine is woken per answer, and the answer leaves at once (an SM
// with few MADs outstanding waits for each one). Only when the client's
// socket is full (or its writer still has datagrams queued, whose order
// must hold) do answers queue, and the writer goroutine writes everything
// queued in one call (sendmmsg) once the socket takes it: a slow client
// never blocks the event loop.
type client struct {
	s     *Server
	slot  int
	id    uint32 // pid (local mode) or UDP port of the data socket (remote)
	qp    uint32 // the QP of its connect request (ibsim's Attached shows it)
	from  string // address of its control socket
	point *attachPoint
	conn  net.Conn
	raw   syscall.RawConn // conn's descriptor, for batched reads and writes
	// sock, when not nil, is the data socket taken out of the network
	// poller (Linux: see ownSocket); conn and raw are nil then.
	sock *ownSocket
	out  *outQueue

	closed atomic.Bool
	sent   atomic.Uint64 // datagrams received from the client
	recvd  atomic.Uint64 // datagrams written to the client

	// issm is set while the client holds the SM role (SET_ISSM 1).
	// Loop-owned.
	issm bool
	// pending are the client's requests waiting for a response, by
	// txKey. Loop-owned.
	pending txSet
	// agents are the HCA host agents that carry the client's requests, by
	// QP and the client's own agent id (TID bits 32..47). Loop-owned.
	agents map[agentKey]*hca.Agent
	// sealed are the RMPP transfers the server sealed for the client as
	// its kernel would have (sealRMPP), whose ACK, STOP and ABORT that
	// kernel would have taken. Loop-owned.
	sealed sealedSet
	// vendor are the vendor classes the client declared it serves
	// (IBEMU_VENDOR_CLASSES in its environment, see vendorClasses): the
	// only classes of unsolicited requests, besides an SM's, it is given.
	// Set when it attaches.
	vendor []wire.MgmtClass
}

type agentKey struct {
	qp    uint32
	agent uint16
	// responder marks the agent that sends the client's responses and
	// TrapRepresses, whose TIDs are not the client's own.
	responder bool
}

// deliver queues for the client a datagram that hands it mad (256
// bytes), addressed from slid's QP sqp to the client's QP dqp at dlid. It
// never blocks and keeps nothing of mad: a slow client only grows its own
// queue and the event loop never waits for a process.
func (c *client) deliver(dlid, slid wire.LID, sqp, dqp uint32, mad []byte) {
	if c.closed.Load() {
		return
	}
	if m := wire.MAD(mad); rmppControl(m) && c.sealed.has(m.TID()) {
		return // the client's kernel would have consumed it
	}
	c.out.put(dlid, slid, sqp, dqp, 0, mad)
}

// bounce queues d, a datagram the client sent, back to it with status
// st.
func (c *client) bounce(d Datagram, st uint32) {
	if c.closed.Load() {
		return
	}
	c.out.put(d.DLID(), d.SLID(), d.SQP(), d.DQP(), st, d.MAD())
}

// rxBatch is the datagrams of one read: their bytes, back to back in
// rxSlot-byte slots (one more than a datagram, to see oversized ones),
// and the views of the well-formed ones. The event loop processes a batch
// in one event and returns it to the pool.
type rxBatch struct {
	c    *client
	buf  []byte
	lens []int // bytes received per slot
	ds   []Datagram
	run  func() // b.process, made once so posting allocates nothing
	all  func() // b.inject, made once
	hdr  rxHeaders
	// state hands the batch back: batchInFlight while the event loop has
	// it; release turns that into batchDone, and the reader, finding the
	// batch done when Enter returns (always when it ran the batch itself),
	// reads into it again, so the batch, its recvmmsg headers and its
	// buffer stay with the reader and hot. A reader that moves on while
	// the loop still has the batch marks it batchAbandoned, and release
	// returns it to the pool instead.
	state atomic.Int32
}

// The states of an rxBatch (rxBatch.state).
const (
	batchReader    = iota // the reader's, to read into
	batchInFlight         // posted to the event loop
	batchDone             // processed: the reader takes it back
	batchAbandoned        // the reader moved on: release pools it
)

const (
	// rxMax is the most datagrams one read takes.
	rxMax = 64
	// rxSlot is the room for one datagram: one byte more than the
	// protocol's size, so a longer datagram shows as malformed.
	rxSlot = DatagramSize + 1
)

// rxPool recycles batches between the readers and the event loop.
var rxPool sync.Pool

func init() {
	rxPool.New = func() any {
		b := &rxBatch{buf: make([]byte, rxMax*rxSlot), lens: make([]int, rxMax), ds: make([]Datagram, 0, rxMax)}
		b.run = b.process
		b.all = b.inject
		return b
	}
}

// slot is the buffer of datagram i.
func (b *rxBatch) slot(i int) []byte { return b.buf[i*rxSlot : (i+1)*rxSlot] }

// process runs on the event loop: every datagram of the batch enters the
// fabric, in order, its management frames cutting through the fabric
// (emu.Fabric.CutThrough), so most answers are ready when the batch has
// gone in; the client's answers are held meanwhile and leave together in
// one write, like the batch came in one read.
func (b *rxBatch) process() {
	c := b.c
	st := &c.s.stats
	if n := int64(len(b.ds)); n > st.MaxBatch.Load() {
		st.MaxBatch.Store(n) // only the event loop writes it
	}
	if n := int64(c.pending.len() + len(b.ds)); n > st.MaxOutstanding.Load() {
		st.MaxOutstanding.Store(n) // at most: responses in the batch count too
	}
	c.out.hold()
	c.s.fab.CutThrough(b.all)
	c.out.flush()
	b.release()
}

// inject hands every datagram of the batch to the fabric.
func (b *rxBatch) inject() {
	c := b.c
	for _, d := range b.ds {
		c.point.fromClient(c, d)
	}
}

func (b *rxBatch) release() {
	clear(b.ds)
	b.ds = b.ds[:0]
	b.c = nil
	if !b.state.CompareAndSwap(batchInFlight, batchDone) {
		b.state.Store(batchReader)
		rxPool.Put(b)
	}
}

// take checks the n datagrams read into b and runs the well-formed ones
// on the event loop; it reports whether b is gone: the loop still has it
// (and returns it to the pool when done), so the reader needs another.
// Otherwise (no datagram went, or the loop is done with them, as when
// the reader ran them itself) b is the reader's again, empty.
func (c *client) take(b *rxBatch, n int) bool {
	for i := range n {
		d, err := ParseDatagram(b.slot(i)[:b.lens[i]])
		if err != nil {
			c.s.stats.Malformed.Add(1)
			c.s.log.Warn("attach: datagram dropped", "slot", c.slot, "err", err)
			continue
		}
		b.ds = append(b.ds, d)
	}
	if len(b.ds) == 0 {
		return false
	}
	c.sent.Add(uint64(len(b.ds)))
	c.s.stats.FromClients.Add(uint64(len(b.ds)))
	b.c = c
	// Enter runs the batch on this goroutine when nobody else runs the
	// event loop (most of the time): the datagrams cross the fabric and
	// the answers are written here, without waking the loop goroutine
	// and waiting for it. Otherwise the batch queues like a Post. The
	// reader holds only its socket's read side, which nothing on the
	// loop takes.
	b.state.Store(batchInFlight)
	c.s.fab.Enter(b.run)
	if b.state.CompareAndSwap(batchInFlight, batchAbandoned) {
		return true
	}
	b.state.Store(batchReader) // done
	return false
}

// readLoop receives the client's datagrams and hands them to the event
// loop in order, a batch of everything that has arrived per event.
func (c *client) readLoop() {
	defer c.s.wg.Done()
	if c.sock != nil {
		defer c.sock.release()
	}
	for {
		err := c.readBatches()
		if err == nil || c.closed.Load() || errors.Is(err, net.ErrClosed) {
			return
		}
		if gone(err) {
			c.s.dropClient(c, "data socket: "+err.Error())
			return
		}
		c.s.log.Warn("attach: client read", "slot", c.slot, "err", err)
		select {
		case <-c.s.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// readBatches reads until the socket fails or closes. On unix it reads
// through the raw descriptor, without waiting, everything the socket
// holds, and only then waits for more; elsewhere one blocking read per
// datagram.
func (c *client) readBatches() error {
	if c.sock != nil {
		return c.readBlocking()
	}
	if c.raw == nil || !batchedIO {
		return c.readEach()
	}
	var rerr error
	v := new(ioVec)
	b := rxPool.Get().(*rxBatch)
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			n, err := v.recvBatch(fd, b)
			switch {
			case err == syscall.EAGAIN || err == syscall.EINTR:
				c.s.stats.Wakeups.Add(1)
				return false
			case err != nil:
				rerr = err
				return true
			}
			c.s.stats.Reads.Add(1)
			if c.take(b, n) {
				b = rxPool.Get().(*rxBatch)
			}
			if n < rxMax {
				// The socket was empty when the read returned: wait for
				// the next arrival (the poller reports every one).
				return false
			}
		}
	})
	rxPool.Put(b)
	if err != nil {
		return err
	}
	return rerr
}

// readBlocking is readBatches on a socket out of the network poller
// (ownSocket): the reader sleeps in recvmmsg itself (MSG_WAITFORONE)
// rather than parked in the poller, so a batch costs one system call
// instead of an epoll_pwait and a recvmmsg, and no scheduler work
// (netpoll, findRunnable, parking and readying the goroutine) around it.
// It returns nil once the client is closed (removeClient shuts the socket
// down, which wakes it).
func (c *client) readBlocking() error {
	fd := uintptr(c.sock.fd)
	v := new(ioVec)
	b := rxPool.Get().(*rxBatch)
	defer func() { rxPool.Put(b) }()
	yielded := time.Now()
	reads := 0
	for {
		n, err := v.recvBatchWait(fd, b)
		if c.closed.Load() {
			return nil
		}
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			c.s.stats.Wakeups.Add(1)
			continue
		case err != nil:
			return err
		}
		c.s.stats.Reads.Add(1)
		if c.take(b, n) {
			b = rxPool.Get().(*rxBatch)
		}
		// The clock is read every yieldCheck batches only: read per
		// batch, it cost half a percent of the server's CPU at 648 HCAs,
		// and batches are microseconds apart while there is work.
		if reads++; reads%yieldCheck != 0 {
			continue
		}
		if now := time.Now(); now.Sub(yielded) >= yieldEvery {
			// A goroutine that never yields looks stuck to the runtime's
			// monitor, which then preempts it every 10ms, takes its
			// processor away in the middle of a system call, and polls
			// at its fastest for a while after each time.
			yielded = now
			runtime.Gosched()
		}
	}
}

// yieldEvery is how often a blocking reader yields its processor while
// it has datagrams to take (see readBlocking).
const yieldEvery = 2 * time.Millisecond

// yieldCheck is how many batches a blocking reader takes between looks
// at the clock for yieldEvery.
const yieldCheck = 16

// readEach is readBatches with one blocking read per datagram.
func (c *client) readEach() error {
	for {
		b := rxPool.Get().(*rxBatch)
		n, err := c.conn.Read(b.slot(0))
		if err != nil {
			rxPool.Put(b)
			return err
		}
		b.lens[0] = n
		c.s.stats.Reads.Add(1)
		if !c.take(b, 1) {
			rxPool.Put(b)
		}
	}
}

// writeLoop writes the queued datagrams to the client, everything queued
// at once. A write that fails because the client's socket is gone drops
// the client.
func (c *client) writeLoop() {
	defer c.s.wg.Done()
	if c.sock != nil {
		defer c.sock.release()
	}
	w := &writer{c: c}
	w.fn = w.write
	for {
		batch, ok := c.out.wait()
		if !ok {
			return
		}
		if err := w.writeAll(batch); err != nil {
			if !c.closed.Load() {
				c.s.dropClient(c, "data socket: "+err.Error())
			}
			return
		}
		n := uint64(len(batch) / DatagramSize)
		c.recvd.Add(n)
		c.s.stats.ToClients.Add(n)
		c.out.recycle(batch)
	}
}

// writer is a client's writer goroutine's state: the batch being written
// and the function the raw descriptor calls, made once.
type writer struct {
	c     *client
	v     ioVec
	batch []byte
	err   error
	fn    func(fd uintptr) bool
}

// writeAll writes the datagrams of batch (DatagramSize bytes each) in
// order.
func (w *writer) writeAll(batch []byte) error {
	c := w.c
	if c.sock != nil {
		return w.writeBlocking(batch)
	}
	if c.raw == nil || !batchedIO {
		for off := 0; off < len(batch); off += DatagramSize {
			if _, err := c.conn.Write(batch[off : off+DatagramSize]); err != nil {
				return err
			}
			c.s.stats.Writes.Add(1)
		}
		return nil
	}
	w.batch, w.err = batch, nil
	err := c.raw.Write(w.fn)
	w.batch = nil
	if err != nil {
		return err
	}
	return w.err
}

// writeBlocking is writeAll on a socket out of the network poller
// (ownSocket): the writer sleeps in sendmmsg while the client's socket is
// full. It gives up, with nil, once the client is closed.
func (w *writer) writeBlocking(batch []byte) error {
	c := w.c
	for len(batch) > 0 {
		n, err := w.v.sendBatchWait(uintptr(c.sock.fd), batch)
		if c.closed.Load() {
			return nil
		}
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			continue
		case err != nil:
			return err
		}
		c.s.stats.Writes.Add(1)
		batch = batch[n*DatagramSize:]
	}
	return nil
}

// write is what the raw descriptor runs: it writes w.batch without
// waiting, and asks to wait (false) while the socket is full.
func (w *writer) write(fd uintptr) bool {
	for len(w.batch) > 0 {
		n, err := w.v.sendBatch(fd, w.batch)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			return false // the socket is full: wait until it drains
		case err != nil:
			w.err = err
			return true
		}
		w.c.s.stats.Writes.Add(1)
		w.batch = w.batch[n*DatagramSize:]
	}
	return true
}

// directSender writes single datagrams to a client's socket from the
// event loop (outQueue.send), without waiting. Its state is guarded by the
// client's outQueue lock.
type directSender struct {
	c      *client
	v      ioVec
	d      []byte
	n      int
	err    error
	fn     func(fd uintptr) bool
	fnMany func(fd uintptr) bool
}

// setDirect gives c's outQueue its direct send functions, when c's socket
// is written through its raw descriptor.
func (c *client) setDirect() {
	if c.sock == nil && (c.raw == nil || !batchedIO) {
		return
	}
	ds := &directSender{c: c}
	ds.fn = ds.write
	ds.fnMany = ds.writeMany
	c.out.send = ds.send
	c.out.sendMany = ds.sendMany
}

// sendMany writes the datagrams of batch now, as many as the socket takes
// (sendmmsg on Linux), and returns how many went.
func (ds *directSender) sendMany(batch []byte) int {
	sent := 0
	for len(batch) > 0 {
		ds.d, ds.err, ds.n = batch, nil, 0
		err := ds.do(ds.fnMany)
		if err != nil || ds.n == 0 {
			break
		}
		sent += ds.n
		batch = batch[ds.n*DatagramSize:]
		ds.c.recvd.Add(uint64(ds.n))
		ds.c.s.stats.ToClients.Add(uint64(ds.n))
		ds.c.s.stats.Writes.Add(1)
	}
	return sent
}

// do runs fn, one try of a write of ds.d, on the socket's descriptor and
// returns its error.
func (ds *directSender) do(fn func(fd uintptr) bool) error {
	var err error
	if s := ds.c.sock; s != nil {
		fn(uintptr(s.fd))
	} else {
		err = ds.c.raw.Write(fn)
	}
	ds.d = nil
	if err == nil {
		err = ds.err
	}
	return err
}

// writeMany is what the raw descriptor runs for sendMany: one try.
func (ds *directSender) writeMany(fd uintptr) bool {
	ds.n, ds.err = ds.v.sendBatch(fd, ds.d)
	return true
}

// send writes d now, or fails (syscall.EAGAIN when the socket is full).
func (ds *directSender) send(d Datagram) error {
	ds.d, ds.err = d, nil
	if err := ds.do(ds.fn); err != nil {
		return err
	}
	ds.c.recvd.Add(1)
	ds.c.s.stats.ToClients.Add(1)
	ds.c.s.stats.Writes.Add(1)
	return nil
}

// write is what the raw descriptor runs: one try, never a wait.
func (ds *directSender) write(fd uintptr) bool {
	_, ds.err = ds.v.sendBatch(fd, ds.d)
	return true
}

// gone reports whether a socket error means the peer no longer exists.
func gone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOTCONN) ||
		errors.Is(err, syscall.ECONNRESET)
}

// outQueue is an unbounded FIFO of datagrams between the event loop
// (producer) and a client's socket. The loop writes a datagram itself
// when nothing is queued before it (send), or a held batch at once
// (flush, sendMany); whatever the socket does not take waits here for the
// client's writer goroutine (consumer). The datagrams lie back to back in
// one buffer, which the writer takes whole; two buffers alternate, so
// queueing allocates nothing once they have grown.
type outQueue struct {
	mu sync.Mutex
	// +checklocks:mu
	q []byte
	// +checklocks:mu
	spare []byte
	// +checklocks:mu
	closed bool
	// busy is set while the writer goroutine holds a batch.
	// +checklocks:mu
	busy bool
	// held is set while the event loop collects answers to write together
	// (hold, flush).
	// +checklocks:mu
	held  bool
	ready chan struct{}
	// send, when set, writes one datagram to the client without waiting
	// (syscall.EAGAIN when its socket is full); put uses it while nothing
	// is queued, so an answer leaves without waking the writer. one is its
	// datagram's buffer.
	send func(d Datagram) error
	// sendMany, when set, writes datagrams of a batch (DatagramSize bytes
	// each) without waiting and returns how many went.
	sendMany func(batch []byte) int
	// +checklocks:mu
	one [DatagramSize]byte
}

func newOutQueue() *outQueue { return &outQueue{ready: make(chan struct{}, 1)} }

// put sends the datagram (dlid, slid, dqp, sqp, status, mad): at once
// through send when nothing is queued before it and the socket takes it,
// else appended to the queue, waking the writer when it was idle with
// nothing queued.
func (o *outQueue) put(dlid, slid wire.LID, sqp, dqp, status uint32, mad []byte) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	off := len(o.q)
	if off == 0 && !o.busy && !o.held && o.send != nil {
		d := Datagram(o.one[:])
		encodeDatagram(d, dlid, slid, sqp, dqp, status, mad)
		if o.send(d) == nil {
			o.mu.Unlock()
			return
		}
		// The socket is full (or failing): the writer waits for room, or
		// meets the error and drops the client.
	}
	o.q = append(o.q, make([]byte, DatagramSize)...)
	encodeDatagram(Datagram(o.q[off:]), dlid, slid, sqp, dqp, status, mad)
	wake := off == 0 && !o.busy && !o.held
	o.mu.Unlock()
	if wake {
		o.wake()
	}
}

func (o *outQueue) wake() {
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// hold makes put queue without writing until flush.
func (o *outQueue) hold() {
	o.mu.Lock()
	o.held = true
	o.mu.Unlock()
}

// flush ends hold: what was queued meanwhile is written at once when the
// writer is idle and the socket takes it (sendMany), else the writer is
// woken for the rest.
func (o *outQueue) flush() {
	o.mu.Lock()
	o.held = false
	if len(o.q) == 0 || o.busy {
		o.mu.Unlock()
		return
	}
	if o.sendMany != nil {
		n := o.sendMany(o.q)
		rest := copy(o.q, o.q[n*DatagramSize:])
		o.q = o.q[:rest]
		if rest == 0 {
			o.mu.Unlock()
			return
		}
	}
	o.mu.Unlock()
	o.wake()
}

// encodeDatagram fills d (DatagramSize bytes) with the datagram (dlid,
// slid, dqp, sqp, status, mad).
func encodeDatagram(d Datagram, dlid, slid wire.LID, sqp, dqp, status uint32, mad []byte) {
	clear(d[:DatagramHeaderSize])
	binary.BigEndian.PutUint16(d[0:], uint16(dlid))
	binary.BigEndian.PutUint16(d[4:], uint16(slid))
	binary.BigEndian.PutUint32(d[8:], dqp)
	binary.BigEndian.PutUint32(d[12:], sqp)
	binary.BigEndian.PutUint32(d[16:], status)
	binary.BigEndian.PutUint64(d[24:], umadLength(mad))
	n := copy(d[DatagramHeaderSize:], mad)
	clear(d[DatagramHeaderSize+n:])
}

// wait returns everything queued, waiting for at least one datagram; ok
// is false once the queue is closed.
func (o *outQueue) wait() (batch []byte, ok bool) {
	for {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return nil, false
		}
		if len(o.q) > 0 {
			batch = o.q
			o.q = o.spare[:0]
			o.spare = nil
			o.busy = true
			o.mu.Unlock()
			return batch, true
		}
		o.busy = false
		o.mu.Unlock()
		<-o.ready
	}
}

// recycle gives a written batch back for reuse. The writer stays busy
// until its next wait finds the queue empty, so the producer does not
// wake it for what it will see anyway.
func (o *outQueue) recycle(batch []byte) {
	o.mu.Lock()
	if cap(batch) <= maxSpare {
		o.spare = batch[:0]
	}
	o.mu.Unlock()
}

// maxSpare bounds the buffer a queue keeps for reuse (a client that once
// fell far behind does not pin its backlog's memory).
const maxSpare = 256 * DatagramSize

func (o *outQueue) close() {
	o.mu.Lock()
	o.closed = true
	o.q = nil
	o.spare = nil
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

// len is the number of datagrams queued.
func (o *outQueue) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q) / DatagramSize
}
