package attach

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ibemu/ibemu/hca"
)

// client is one attached process: its slot, its data socket, the queue of
// datagrams waiting to be written to it, and the host agents it uses on
// an HCA attach point.
type client struct {
	s     *Server
	slot  int
	id    uint32 // pid (local mode) or UDP port of the data socket (remote)
	from  string // address of its control socket
	point *attachPoint
	conn  net.Conn
	raw   syscall.RawConn // conn's descriptor, for writes and reads that must not wait
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

// send hands a datagram to the client. It never blocks: when nothing is
// queued it tries to write at once without waiting (the common case, which
// saves a goroutine switch per MAD); otherwise, or when the socket is full,
// the datagram joins the queue the writer goroutine drains, so a slow
// client only grows its own queue and the event loop never waits for a
// process.
func (c *client) send(d Datagram) {
	if c.closed.Load() {
		return
	}
	if c.out.sendDirect(c.raw, d) {
		c.recvd.Add(1)
		c.s.stats.ToClients.Add(1)
	}
}

// readLoop receives the client's datagrams and hands them to the event
// loop in order, in batches of whatever has arrived.
func (c *client) readLoop() {
	defer c.s.wg.Done()
	var batch []Datagram
	for {
		buf := make([]byte, DatagramSize+1) // one more, to see oversized datagrams
		n, err := c.conn.Read(buf)
		if err != nil {
			if c.closed.Load() || errors.Is(err, net.ErrClosed) {
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
			continue
		}
		batch = c.take(batch[:0], buf[:n])
		// Whatever else has arrived goes to the loop in the same event.
		for len(batch) < 64 {
			buf = make([]byte, DatagramSize+1)
			n, ok := readNow(c.raw, buf)
			if !ok {
				break
			}
			batch = c.take(batch, buf[:n])
		}
		if len(batch) == 0 {
			continue
		}
		ds := append([]Datagram(nil), batch...)
		c.s.fab.Post(func() {
			for _, d := range ds {
				c.point.fromClient(c, d)
			}
		})
	}
}

// take checks one received datagram and appends it to batch.
func (c *client) take(batch []Datagram, b []byte) []Datagram {
	d, err := ParseDatagram(b)
	if err != nil {
		c.s.stats.Malformed.Add(1)
		c.s.log.Warn("attach: datagram dropped", "slot", c.slot, "err", err)
		return batch
	}
	c.sent.Add(1)
	c.s.stats.FromClients.Add(1)
	return append(batch, d)
}

// writeLoop writes the queued datagrams to the client. A write that fails
// because the client's socket is gone drops the client.
func (c *client) writeLoop() {
	defer c.s.wg.Done()
	for {
		batch, ok := c.out.wait()
		if !ok {
			return
		}
		for _, b := range batch {
			if _, err := c.conn.Write(b); err != nil {
				if !c.closed.Load() {
					c.s.dropClient(c, "data socket: "+err.Error())
				}
				return
			}
			c.recvd.Add(1)
			c.s.stats.ToClients.Add(1)
		}
		c.out.recycle(batch)
	}
}

// gone reports whether a socket error means the peer no longer exists.
func gone(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOTCONN) ||
		errors.Is(err, syscall.ECONNRESET)
}

// outQueue is an unbounded FIFO of datagrams between the event loop
// (producer) and a client's writer goroutine (consumer).
type outQueue struct {
	mu sync.Mutex
	// +checklocks:mu
	q [][]byte
	// +checklocks:mu
	spare [][]byte
	// +checklocks:mu
	closed bool
	// busy is set while the writer goroutine holds a batch.
	// +checklocks:mu
	busy  bool
	ready chan struct{}
}

func newOutQueue() *outQueue { return &outQueue{ready: make(chan struct{}, 1)} }

// sendDirect writes b at once through rc when nothing is queued or being
// written (so order is kept) and the socket takes it without waiting; it
// reports whether it did. Otherwise b is queued for the writer.
func (o *outQueue) sendDirect(rc syscall.RawConn, b []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false
	}
	if rc != nil && !o.busy && len(o.q) == 0 && writeNow(rc, b) {
		return true
	}
	o.q = append(o.q, b)
	if len(o.q) == 1 {
		select {
		case o.ready <- struct{}{}:
		default:
		}
	}
	return false
}

func (o *outQueue) push(b []byte) {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.q = append(o.q, b)
	first := len(o.q) == 1
	o.mu.Unlock()
	if first {
		select {
		case o.ready <- struct{}{}:
		default:
		}
	}
}

// wait returns everything queued, waiting for at least one item; ok is
// false once the queue is closed.
func (o *outQueue) wait() (batch [][]byte, ok bool) {
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
		o.mu.Unlock()
		<-o.ready
	}
}

// recycle gives a drained batch back for reuse; the writer is idle again.
func (o *outQueue) recycle(batch [][]byte) {
	clear(batch)
	o.mu.Lock()
	o.spare = batch[:0]
	o.busy = false
	o.mu.Unlock()
}

func (o *outQueue) close() {
	o.mu.Lock()
	o.closed = true
	o.q = nil
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

func (o *outQueue) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q)
}
