package attach

import (
	"bytes"
	"syscall"
	"testing"
)

// fakeSocket stands for a client's socket under an outQueue: it takes at
// most room datagrams and records every write.
type fakeSocket struct {
	room   int
	writes [][]byte // one entry per system call
}

func (s *fakeSocket) send(d Datagram) error {
	if s.room == 0 {
		return syscall.EAGAIN
	}
	s.room--
	s.writes = append(s.writes, bytes.Clone(d))
	return nil
}

func (s *fakeSocket) sendMany(batch []byte) int {
	n := min(s.room, len(batch)/DatagramSize)
	if n == 0 {
		return 0
	}
	s.room -= n
	s.writes = append(s.writes, bytes.Clone(batch[:n*DatagramSize]))
	return n
}

func newFakeQueue(room int) (*outQueue, *fakeSocket) {
	s := &fakeSocket{room: room}
	o := newOutQueue()
	o.send, o.sendMany = s.send, s.sendMany
	return o, s
}

func madOf(b byte) []byte {
	m := make([]byte, 256)
	m[0] = 1
	m[255] = b
	return m
}

// TestOutQueueDirect: with nothing queued an answer is written at once,
// in its own system call, and nothing waits for the writer goroutine.
func TestOutQueueDirect(t *testing.T) {
	o, s := newFakeQueue(10)
	o.put(1, 2, 0, 0, 0, madOf(1))
	o.put(1, 2, 0, 0, 0, madOf(2))
	if len(s.writes) != 2 || o.len() != 0 {
		t.Fatalf("%d writes, %d queued; want 2 writes, 0 queued", len(s.writes), o.len())
	}
	if d := Datagram(s.writes[1]); d.MAD()[255] != 2 || d.DLID() != 1 || d.SLID() != 2 {
		t.Errorf("second write: dlid %d slid %d mad[255] %d", d.DLID(), d.SLID(), d.MAD()[255])
	}
}

// TestOutQueueHoldFlush: answers produced while the queue is held leave
// together in one write at flush, in order.
func TestOutQueueHoldFlush(t *testing.T) {
	o, s := newFakeQueue(10)
	o.hold()
	for i := range 3 {
		o.put(1, 2, 0, 0, 0, madOf(byte(i)))
	}
	if len(s.writes) != 0 || o.len() != 3 {
		t.Fatalf("while held: %d writes, %d queued; want 0, 3", len(s.writes), o.len())
	}
	o.flush()
	if len(s.writes) != 1 || len(s.writes[0]) != 3*DatagramSize || o.len() != 0 {
		t.Fatalf("after flush: %d writes, %d queued; want one write of 3", len(s.writes), o.len())
	}
	for i := range 3 {
		if got := Datagram(s.writes[0][i*DatagramSize:]).MAD()[255]; got != byte(i) {
			t.Errorf("datagram %d carries %d", i, got)
		}
	}
}

// TestOutQueueFullSocket: what the socket does not take stays queued, in
// order, for the writer goroutine (which is woken), and later answers
// queue behind it instead of overtaking it.
func TestOutQueueFullSocket(t *testing.T) {
	o, s := newFakeQueue(1)
	o.hold()
	for i := range 3 {
		o.put(1, 2, 0, 0, 0, madOf(byte(i)))
	}
	o.flush()
	if len(s.writes) != 1 || o.len() != 2 {
		t.Fatalf("after flush into a full socket: %d writes, %d queued; want 1, 2", len(s.writes), o.len())
	}
	select {
	case <-o.ready:
	default:
		t.Error("the writer was not woken for the rest")
	}
	s.room = 10
	o.put(1, 2, 0, 0, 0, madOf(3))
	if len(s.writes) != 1 || o.len() != 3 {
		t.Fatalf("an answer overtook the queue: %d writes, %d queued", len(s.writes), o.len())
	}
	batch, ok := o.wait()
	if !ok || len(batch) != 3*DatagramSize {
		t.Fatalf("writer got %d bytes", len(batch))
	}
	for i, want := range []byte{1, 2, 3} {
		if got := Datagram(batch[i*DatagramSize:]).MAD()[255]; got != want {
			t.Errorf("queued datagram %d carries %d, want %d", i, got, want)
		}
	}
}
