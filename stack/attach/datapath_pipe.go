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

// dpPipe is one data-path connection after the handshake, either side:
// a bounded queue of messages the event loop fills without ever waiting
// and a writer goroutine drains, and a reader that hands received frames
// to the event loop in batches, with at most dataPathInflight batches
// outstanding.
type dpPipe struct {
	conn  net.Conn
	r     *bufio.Reader
	w     *bufio.Writer
	stats *DataPathStats
	limit int

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
	err   error
	ready chan struct{}

	sem   chan struct{}
	done  chan struct{} // closed by close
	wdone chan struct{} // closed when the writer has returned
}

func newDPPipe(conn net.Conn, r *bufio.Reader, stats *DataPathStats, limit int) *dpPipe {
	if limit <= 0 {
		limit = DefaultDataPathQueue
	}
	return &dpPipe{conn: conn, r: r, w: bufio.NewWriterSize(conn, 64<<10), stats: stats, limit: limit,
		ready: make(chan struct{}, 1), sem: make(chan struct{}, dataPathInflight), done: make(chan struct{}),
		wdone: make(chan struct{})}
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
		p.pushLocked(dpOut{typ, b})
	}
	p.mu.Unlock()
}

// +checklocks:p.mu
func (p *dpPipe) pushLocked(m dpOut) {
	p.q = append(p.q, m)
	if len(p.q) == 1 {
		select {
		case p.ready <- struct{}{}:
		default:
		}
	}
}

// writeLoop writes the queue to the connection, flushing whenever it has
// written everything queued. It returns when the pipe closes or a write
// fails (which closes the pipe).
func (p *dpPipe) writeLoop() {
	defer close(p.wdone)
	var hdr [DataPathHeaderSize]byte
	for {
		p.mu.Lock()
		for len(p.q) == 0 && !p.closed {
			p.mu.Unlock()
			select {
			case <-p.ready:
			case <-p.done:
			}
			p.mu.Lock()
		}
		if len(p.q) == 0 {
			p.mu.Unlock()
			return
		}
		batch := p.q
		p.q, p.spare = p.spare[:0], nil
		p.frames = 0
		p.mu.Unlock()
		bye := false
		for i, m := range batch {
			hdr[0], hdr[1], hdr[2], hdr[3] = byte(m.typ), 0, byte(len(m.b)>>8), byte(len(m.b))
			_, err := p.w.Write(hdr[:])
			if err == nil {
				_, err = p.w.Write(m.b)
			}
			if err != nil {
				p.close(fmt.Errorf("attach: data path: write: %w", err))
				return
			}
			if m.typ == DataPathFrame {
				p.stats.FramesOut.Add(1)
				p.stats.BytesOut.Add(uint64(len(m.b)))
			}
			bye = bye || m.typ == DataPathBye
			batch[i] = dpOut{}
		}
		if err := p.w.Flush(); err != nil {
			p.close(fmt.Errorf("attach: data path: write: %w", err))
			return
		}
		if bye {
			return
		}
		p.mu.Lock()
		p.spare = batch[:0]
		p.mu.Unlock()
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
	// post runs fn on the event loop.
	post(fn func())
	// frames injects frames; it runs on the event loop.
	frames(batch [][]byte)
	// control handles a message other than FRAME and BYE; it runs on the
	// reader's goroutine. An error ends the session.
	control(typ DataPathMsgType, b []byte) error
}

// errBye marks an orderly end by the peer.
var errBye = errors.New("attach: data path: peer said bye")

// readLoop reads messages until the connection ends and returns why: nil
// after the peer's BYE or a local close, else the error. Frames are
// validated and handed to h.frames in batches of what has arrived.
func (p *dpPipe) readLoop(h dpHandler) error {
	batch := make([][]byte, 0, dataPathBatch)
	for {
		typ, b, err := readDataPathMsg(p.r)
		for err == nil {
			switch typ {
			case DataPathFrame:
				if ferr := CheckDataPathFrame(b); ferr != nil {
					p.stats.BadFrames.Add(1)
				} else {
					p.stats.FramesIn.Add(1)
					p.stats.BytesIn.Add(uint64(len(b)))
					batch = append(batch, b)
				}
			case DataPathBye:
				err = errBye
			default:
				err = h.control(typ, b)
			}
			if err != nil || len(batch) == dataPathBatch || !bufferedMsg(p.r) {
				break
			}
			typ, b, err = readDataPathMsg(p.r)
		}
		if len(batch) > 0 {
			select {
			case p.sem <- struct{}{}:
			case <-p.done:
				return nil
			}
			frames := batch
			h.post(func() {
				h.frames(frames)
				<-p.sem
			})
			batch = make([][]byte, 0, dataPathBatch)
		}
		if err != nil {
			select {
			case <-p.done:
				return nil
			default:
			}
			if errors.Is(err, errBye) || errors.Is(err, io.EOF) {
				if errors.Is(err, io.EOF) {
					return fmt.Errorf("attach: data path: peer closed the connection without bye: %w", err)
				}
				return nil
			}
			return err
		}
	}
}
