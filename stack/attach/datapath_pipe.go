package attach

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultDataPathQueue is the default bound of a data-path send queue, in
// frames: 2048 frames of a 4 KiB MTU are 8.5 MiB, sixteen RC send windows.
const DefaultDataPathQueue = 2048

// dataPathInflight bounds the batches a reader has handed to its event
// loop and the loop has not run yet; a reader with that many waits, so a
// peer that sends faster than the fabric takes frames is slowed by the
// socket (TCP or unix stream flow control) instead of growing memory.
const dataPathInflight = 8

// dataPathBatch is the most frames a reader hands to the loop at once.
const dataPathBatch = 64

// dpReadSlab is the size of the buffers a reader reads the stream into.
// Frames are handed to the fabric as slices of the buffer, without a
// copy; a buffer is never written again once a frame of it was handed
// out (a new one takes over), so the collector frees it with its last
// frame.
const dpReadSlab = 256 << 10

// dpCopyBelow is the size below which a frame is copied out of the read
// buffer rather than handed out in place: a small frame (a MAD, an ACK)
// costs little to copy, and one that a consumer keeps for long (a MAD
// waiting in a slow client's queue) must not keep a whole buffer alive.
const dpCopyBelow = 512

// dpReadMin is the least room a read is given: below it the reader
// moves on to a new buffer rather than make a small read.
const dpReadMin = 8 << 10

// dpSocketBuffer is the send and receive buffer asked of the kernel for
// a data-path socket: with room for several RC windows of 4 KiB frames,
// a burst goes out in one write and the writer rarely finds the socket
// full. (Linux caps it at net.core.wmem_max and rmem_max.)
const dpSocketBuffer = 4 << 20

// DataPathStats counts one side's data-path traffic. Every field is safe
// to read from any goroutine.
type DataPathStats struct {
	// FramesIn and FramesOut count frames received from the peer (and
	// accepted) and frames written to it; BytesIn and BytesOut their bytes.
	FramesIn, FramesOut, BytesIn, BytesOut atomic.Uint64
	// BadFrames counts received frames dropped by CheckDataPathFrame.
	BadFrames atomic.Uint64
	// QueueDrops counts frames dropped because the send queue held its
	// bound already (a peer that does not read fast enough).
	QueueDrops atomic.Uint64
	// Attached counts sessions accepted, Refused attaches refused, Ended
	// sessions ended (in order or not); server side only.
	Attached, Refused, Ended atomic.Uint64
}

// dpOut is one message waiting to be written.
type dpOut struct {
	typ DataPathMsgType
	b   []byte
}

// dpPipe is one data-path connection after the handshake, either side.
//
// Sending: the event loop queues messages in a bounded queue without
// ever waiting. The first message queued while the socket is idle queues
// a flush on the event loop (kick), behind the events already due, so
// that the frames a burst of events sends go out together: the flush
// writes the whole queue with one writev and no other goroutine is woken
// when the socket takes it all, which is the common case. When the
// socket is full, or the pipe has no descriptor or no loop to flush on,
// the writer goroutine takes over and writes with blocking writes until
// the queue is empty again; meanwhile the loop only queues.
//
// Receiving: the reader reads the stream into large buffers, takes the
// frames out of them without a copy, and runs each batch of frames into
// its fabric with Enter (on its own goroutine when the loop is idle,
// which spares waking the loop goroutine), with at most dataPathInflight
// batches outstanding.
type dpPipe struct {
	conn  net.Conn
	rd    dpReader
	stats *DataPathStats
	limit int
	// raw writes from the event loop without waiting (nil: all writes go
	// through the writer goroutine).
	raw *dpRawWriter
	// kick queues a flush on the event loop; nil: no flushes on the loop.
	// Set before the pipe is used.
	kick    func(func())
	flushFn func() // p.flush, made once
	// recycle, when set, takes back a frame a flush has written, on the
	// event loop (the frame's buffer may be reused at once).
	recycle func(frame []byte)

	mu sync.Mutex
	// +checklocks:mu
	q []dpOut
	// +checklocks:mu
	spare []dpOut
	// +checklocks:mu
	frames int // FRAME messages in q
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	err error
	// writing is set while a flush or the writer goroutine owns the
	// socket's write side (and the scratch below).
	// +checklocks:mu
	writing bool
	// flushQueued is set while a flush waits on the event loop.
	// +checklocks:mu
	flushQueued bool
	// byeQueued is set once BYE is queued: from then on the writer goroutine
	// writes, and returns after BYE.
	// +checklocks:mu
	byeQueued bool
	// carry is what a flush left for the writer goroutine: the rest of
	// the gathered buffers, and the batch they belong to.
	// +checklocks:mu
	carry [][]byte
	// +checklocks:mu
	carryBatch []dpOut
	ready      chan struct{}

	// Scratch of whoever holds writing: message headers and the list of
	// buffers to gather.
	hdrs []byte
	bufs [][]byte

	sem   chan struct{}
	done  chan struct{} // closed by close
	wdone chan struct{} // closed when the writer has returned
}

// newDPPipe makes the pipe of conn after the handshake; r is the reader
// the handshake used (what it buffered beyond the handshake is the start
// of the stream).
func newDPPipe(conn net.Conn, r *bufio.Reader, stats *DataPathStats, limit int) *dpPipe {
	if limit <= 0 {
		limit = DefaultDataPathQueue
	}
	if b, ok := conn.(interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
	}); ok {
		_ = b.SetReadBuffer(dpSocketBuffer)
		_ = b.SetWriteBuffer(dpSocketBuffer)
	}
	p := &dpPipe{conn: conn, stats: stats, limit: limit, raw: newDPRawWriter(conn),
		ready: make(chan struct{}, 1), sem: make(chan struct{}, dataPathInflight), done: make(chan struct{}),
		wdone: make(chan struct{})}
	p.flushFn = p.flush
	p.rd.conn = conn
	if r != nil && r.Buffered() > 0 {
		pre, _ := r.Peek(r.Buffered())
		p.rd.buf = make([]byte, max(dpReadSlab, 2*len(pre)))
		p.rd.w = copy(p.rd.buf, pre)
	}
	return p
}

// hold keeps the queue from being written until release: the server
// installs the session, so frames may be queued from then on, before it
// writes the welcome, which must be the first message the client reads.
func (p *dpPipe) hold() {
	p.mu.Lock()
	p.writing = true
	p.mu.Unlock()
}

// release ends hold: what was queued meanwhile is written.
func (p *dpPipe) release() {
	p.mu.Lock()
	p.writing = false
	p.wakeLocked()
	p.mu.Unlock()
}

// sendFrame queues a frame for the peer. It never blocks: beyond the
// queue's bound the frame is dropped and counted, as a link whose
// receiver has no room loses it; RC recovers by retransmission.
func (p *dpPipe) sendFrame(frame []byte) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.frames >= p.limit {
		p.mu.Unlock()
		p.stats.QueueDrops.Add(1)
		return
	}
	p.frames++
	p.pushLocked(dpOut{DataPathFrame, frame})
	p.mu.Unlock()
}

// sendCtl queues a control message; control messages are never dropped.
func (p *dpPipe) sendCtl(typ DataPathMsgType, b []byte) {
	p.mu.Lock()
	if !p.closed {
		p.byeQueued = p.byeQueued || typ == DataPathBye
		p.pushLocked(dpOut{typ, b})
	}
	p.mu.Unlock()
}

// +checklocks:p.mu
func (p *dpPipe) pushLocked(m dpOut) {
	p.q = append(p.q, m)
	p.wakeLocked()
}

// wakeLocked gets the queue written: by a flush on the loop, or by the
// writer goroutine. Nothing to do while either is at it.
//
// +checklocks:p.mu
func (p *dpPipe) wakeLocked() {
	if p.writing || len(p.q) == 0 {
		return
	}
	if p.raw != nil && p.kick != nil && !p.byeQueued {
		if !p.flushQueued {
			p.flushQueued = true
			p.kick(p.flushFn)
		}
		return
	}
	p.writing = true
	p.signal()
}

func (p *dpPipe) signal() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// takeLocked takes the queue for writing.
//
// +checklocks:p.mu
func (p *dpPipe) takeLocked() []dpOut {
	batch := p.q
	p.q, p.spare = p.spare[:0], nil
	p.frames = 0
	return batch
}

// gather lists the buffers of batch, headers and payloads, in p.bufs.
// The caller holds writing.
func (p *dpPipe) gather(batch []dpOut) [][]byte {
	if need := DataPathHeaderSize * len(batch); cap(p.hdrs) < need {
		p.hdrs = make([]byte, need, 2*need)
	}
	bufs := p.bufs[:0]
	for i, m := range batch {
		h := p.hdrs[i*DataPathHeaderSize : (i+1)*DataPathHeaderSize : (i+1)*DataPathHeaderSize]
		h[0], h[1], h[2], h[3] = byte(m.typ), 0, byte(len(m.b)>>8), byte(len(m.b))
		bufs = append(bufs, h, m.b)
	}
	p.bufs = bufs
	return bufs
}

// written counts a batch that went out, clears it and keeps it as the
// next queue's backing array. It reports whether the batch held BYE.
func (p *dpPipe) written(batch []dpOut) bool {
	var frames, bytes uint64
	bye := false
	for _, m := range batch {
		switch m.typ {
		case DataPathFrame:
			frames++
			bytes += uint64(len(m.b))
		case DataPathBye:
			bye = true
		}
	}
	if frames > 0 {
		p.stats.FramesOut.Add(frames)
		p.stats.BytesOut.Add(bytes)
	}
	clear(batch)
	clear(p.bufs)
	p.mu.Lock()
	if p.spare == nil {
		p.spare = batch[:0]
	}
	p.mu.Unlock()
	return bye
}

// recycleLater hands the frames of a batch the writer goroutine wrote
// back through recycle, on the event loop.
func (p *dpPipe) recycleLater(batch []dpOut) {
	if p.recycle == nil || p.kick == nil {
		return
	}
	var done [][]byte
	for _, m := range batch {
		if m.typ == DataPathFrame {
			done = append(done, m.b)
		}
	}
	if len(done) == 0 {
		return
	}
	p.kick(func() {
		for _, f := range done {
			p.recycle(f)
		}
	})
}

// flush runs on the event loop (queued by wakeLocked): it writes the
// queue with one writev when the socket takes it, and hands what it
// does not take to the writer goroutine.
func (p *dpPipe) flush() {
	p.mu.Lock()
	p.flushQueued = false
	if p.writing || p.closed || len(p.q) == 0 {
		p.mu.Unlock()
		return
	}
	p.writing = true
	if p.byeQueued {
		p.signal()
		p.mu.Unlock()
		return
	}
	batch := p.takeLocked()
	p.mu.Unlock()
	bufs := p.gather(batch)
	n, err := p.raw.tryWrite(bufs)
	if err != nil {
		p.close(fmt.Errorf("attach: data path: write: %w", err))
		return
	}
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) == 0 {
		if p.recycle != nil {
			for _, m := range batch {
				if m.typ == DataPathFrame {
					p.recycle(m.b)
				}
			}
		}
		p.written(batch)
		p.mu.Lock()
		p.writing = false
		p.wakeLocked()
		p.mu.Unlock()
		return
	}
	// The socket is full: the writer goroutine writes the rest, waiting
	// for room, and whatever is queued meanwhile.
	bufs[0] = bufs[0][n:]
	p.mu.Lock()
	p.carry, p.carryBatch = bufs, batch
	p.signal()
	p.mu.Unlock()
}

// writeLoop is the writer goroutine: when woken it writes, waiting for
// the socket as needed, until the queue is empty. It returns when the
// pipe closes, a write fails (which closes the pipe) or it wrote BYE.
func (p *dpPipe) writeLoop() {
	defer close(p.wdone)
	for {
		select {
		case <-p.ready:
		case <-p.done:
			return
		}
		for {
			p.mu.Lock()
			if p.closed {
				p.mu.Unlock()
				return
			}
			var bufs [][]byte
			var batch []dpOut
			switch {
			case p.carry != nil:
				bufs, batch = p.carry, p.carryBatch
				p.carry, p.carryBatch = nil, nil
			case len(p.q) > 0:
				batch = p.takeLocked()
			default:
				p.writing = false
				p.wakeLocked() // a BYE-less queue may go back to flushes
				p.mu.Unlock()
			}
			if batch == nil {
				break
			}
			p.mu.Unlock()
			if bufs == nil {
				bufs = p.gather(batch)
			}
			nb := net.Buffers(bufs)
			if _, err := nb.WriteTo(p.conn); err != nil {
				p.close(fmt.Errorf("attach: data path: write: %w", err))
				return
			}
			p.recycleLater(batch)
			if p.written(batch) {
				return
			}
		}
	}
}

// close ends the pipe with err (nil: in order) and closes the connection.
// The first error is kept.
func (p *dpPipe) close(err error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.err = err
	p.q = nil
	p.mu.Unlock()
	close(p.done)
	_ = p.conn.Close()
}

// bye sends BYE, waits (up to wait) for the writer to have written it,
// and closes the pipe.
func (p *dpPipe) bye(wait time.Duration) {
	p.sendCtl(DataPathBye, nil)
	select {
	case <-p.wdone:
	case <-time.After(wait):
	}
	p.close(nil)
}

// Err is the error the pipe ended with (nil while open or after an
// orderly end).
func (p *dpPipe) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// dpHandler receives what a reader reads.
type dpHandler interface {
	// enter runs fn on the event loop, on the caller's goroutine when the
	// loop is idle (emu.Fabric.Enter).
	enter(fn func())
	// frames injects frames; it runs on the event loop.
	frames(batch [][]byte)
	// control handles a message other than FRAME and BYE; it runs on the
	// reader's goroutine. An error ends the session.
	control(typ DataPathMsgType, b []byte) error
}

// errBye marks an orderly end by the peer.
var errBye = errors.New("attach: data path: peer said bye")

// dpReader takes messages out of a stream read into large buffers
// (dpReadSlab): buf[r:w] is read and not yet taken. A payload it returns
// is a slice of buf, capped at its end, which the reader never writes
// again, or a copy when it is short (dpCopyBelow).
type dpReader struct {
	conn net.Conn
	buf  []byte
	r, w int
	// lent is set once a payload of buf was handed out in place: from
	// then on the reader writes only past w, and moves on to a new buffer
	// when that is short. Until then it reuses buf from its start.
	lent bool
}

// next returns the next message wholly in the buffer; ok is false when
// none is (fill reads more). A header that breaks the framing is an
// error.
func (d *dpReader) next() (typ DataPathMsgType, payload []byte, ok bool, err error) {
	avail := d.buf[d.r:d.w]
	if len(avail) < DataPathHeaderSize {
		return 0, nil, false, nil
	}
	typ, n, err := parseDataPathHeader(avail)
	if err != nil {
		return 0, nil, false, err
	}
	end := DataPathHeaderSize + n
	if len(avail) < end {
		return 0, nil, false, nil
	}
	d.r += end
	if n < dpCopyBelow {
		b := make([]byte, n)
		copy(b, avail[DataPathHeaderSize:end])
		return typ, b, true, nil
	}
	d.lent = true
	return typ, avail[DataPathHeaderSize:end:end], true, nil
}

// need is how many more bytes the message at the read position needs
// (at least 1).
func (d *dpReader) need() int {
	avail := d.buf[d.r:d.w]
	if len(avail) < DataPathHeaderSize {
		return DataPathHeaderSize - len(avail)
	}
	_, n, err := parseDataPathHeader(avail)
	if err != nil {
		return 1
	}
	return max(1, DataPathHeaderSize+n-len(avail))
}

// fill reads from the connection (waiting for data) into the free end of
// the buffer, or into a new buffer, where the partial message moves,
// when the free end is short. It returns io.EOF at a clean end and
// io.ErrUnexpectedEOF in the middle of a message.
func (d *dpReader) fill() error {
	if room := len(d.buf) - d.w; room < max(d.need(), dpReadMin) || (!d.lent && d.r > 0) {
		part := d.buf[d.r:d.w]
		if want := len(part) + d.need(); d.lent || len(d.buf) < max(want, dpReadMin) {
			nb := make([]byte, max(dpReadSlab, 2*want))
			d.w = copy(nb, part)
			d.buf, d.r, d.lent = nb, 0, false
		} else {
			// Nothing of buf is out: the unread part moves to its start.
			d.w = copy(d.buf, part)
			d.r = 0
		}
	}
	n, err := d.conn.Read(d.buf[d.w:])
	dpRaceRead()
	d.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) && d.r != d.w {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLoop reads messages until the connection ends and returns why: nil
// after the peer's BYE or a local close, else the error. Frames are
// validated and handed to h.frames in batches of what has arrived.
func (p *dpPipe) readLoop(h dpHandler) error {
	batch := make([][]byte, 0, dataPathBatch)
	var nin, bin uint64
	hand := func() bool {
		if nin > 0 {
			p.stats.FramesIn.Add(nin)
			p.stats.BytesIn.Add(bin)
			nin, bin = 0, 0
		}
		if len(batch) == 0 {
			return true
		}
		select {
		case p.sem <- struct{}{}:
		case <-p.done:
			return false
		}
		frames := batch
		h.enter(func() {
			h.frames(frames)
			<-p.sem
		})
		batch = make([][]byte, 0, dataPathBatch)
		return true
	}
	for {
		typ, b, ok, err := p.rd.next()
		if err == nil && !ok {
			// Everything buffered is taken: hand it over before waiting
			// for more.
			if !hand() {
				return nil
			}
			err = p.rd.fill()
			if err == nil {
				continue
			}
		}
		if err == nil {
			switch typ {
			case DataPathFrame:
				if ferr := CheckDataPathFrame(b); ferr != nil {
					p.stats.BadFrames.Add(1)
				} else {
					nin++
					bin += uint64(len(b))
					batch = append(batch, b)
				}
			case DataPathBye:
				err = errBye
			default:
				err = h.control(typ, b)
			}
			if err == nil {
				if len(batch) == dataPathBatch && !hand() {
					return nil
				}
				continue
			}
		}
		if !hand() {
			return nil
		}
		select {
		case <-p.done:
			return nil
		default:
		}
		if errors.Is(err, errBye) {
			return nil
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("attach: data path: peer closed the connection without bye: %w", err)
		}
		return err
	}
}
