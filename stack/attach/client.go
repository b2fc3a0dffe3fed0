package attach

import (
	"encoding/binary"
	"errors"
	"net"
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
// The data path is built like ibsim's poll loop, with the fabric work
// batched: the reader goroutine takes every datagram the socket holds in
// one call (recvmmsg on Linux) and hands the whole batch to the event
// loop in one event; the loop queues the answers without a system call;
// the writer goroutine writes everything queued in one call (sendmmsg)
// once the loop has nothing left to do. With the server on one processor
// (ibemu serve) the writer runs exactly when the loop goes idle, so a
// client with several MADs outstanding gets all their answers in one
// write, and a lone MAD still gets its answer as soon as the fabric has
// produced it.
type client struct {
	s     *Server
	slot  int
	id    uint32 // pid (local mode) or UDP port of the data socket (remote)
	from  string // address of its control socket
	point *attachPoint
	conn  net.Conn
	raw   syscall.RawConn // conn's descriptor, for batched reads and writes
	out   *outQueue

	closed atomic.Bool
	sent   atomic.Uint64 // datagrams received from the client
	recvd  atomic.Uint64 // datagrams written to the client

	// issm is set while the client holds the SM role (SET_ISSM 1).
	// Loop-owned.
	issm bool
	// pending are the client's requests waiting for a response, by
	// txKey. Loop-owned.
	pending map[uint64]*transaction
	// agents are the HCA host agents that carry the client's requests, by
	// QP and the client's own agent id (TID bits 32..47). Loop-owned.
	agents map[agentKey]*hca.Agent
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
}

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
		return b
	}
}

// slot is the buffer of datagram i.
func (b *rxBatch) slot(i int) []byte { return b.buf[i*rxSlot : (i+1)*rxSlot] }

// process runs on the event loop: every datagram of the batch enters the
// fabric, in order.
func (b *rxBatch) process() {
	c := b.c
	for _, d := range b.ds {
		c.point.fromClient(c, d)
	}
	b.release()
}

func (b *rxBatch) release() {
	clear(b.ds)
	b.ds = b.ds[:0]
	b.c = nil
	rxPool.Put(b)
}

// take checks the n datagrams read into b and hands the well-formed ones
// to the event loop; it reports whether any went.
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
	c.s.fab.Post(b.run)
	return true
}

// readLoop receives the client's datagrams and hands them to the event
// loop in order, a batch of everything that has arrived per event.
func (c *client) readLoop() {
	defer c.s.wg.Done()
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

// gone reports whether a socket error means the peer no longer exists.
func gone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOTCONN) ||
		errors.Is(err, syscall.ECONNRESET)
}

// outQueue is an unbounded FIFO of datagrams between the event loop
// (producer) and a client's writer goroutine (consumer). The datagrams lie
// back to back in one buffer, which the writer takes whole; two buffers
// alternate, so queueing allocates nothing once they have grown.
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
	busy  bool
	ready chan struct{}
}

func newOutQueue() *outQueue { return &outQueue{ready: make(chan struct{}, 1)} }

// put appends the datagram (dlid, slid, dqp, sqp, status, mad) and wakes
// the writer when it was idle with nothing queued.
func (o *outQueue) put(dlid, slid wire.LID, sqp, dqp, status uint32, mad []byte) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	off := len(o.q)
	o.q = append(o.q, make([]byte, DatagramSize)...)
	d := Datagram(o.q[off:])
	binary.BigEndian.PutUint16(d[0:], uint16(dlid))
	binary.BigEndian.PutUint16(d[4:], uint16(slid))
	binary.BigEndian.PutUint32(d[8:], dqp)
	binary.BigEndian.PutUint32(d[12:], sqp)
	binary.BigEndian.PutUint32(d[16:], status)
	binary.BigEndian.PutUint64(d[24:], wire.MADSize)
	copy(d[DatagramHeaderSize:], mad)
	wake := off == 0 && !o.busy
	o.mu.Unlock()
	if wake {
		select {
		case o.ready <- struct{}{}:
		default:
		}
	}
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
