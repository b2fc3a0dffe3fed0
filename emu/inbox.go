package emu

import (
	"context"
	"sync"
)

// Inbox carries items (received MADs, completions, timeouts) from the event
// loop to host software running on its own goroutine. Under the virtual
// clock every pushed item holds virtual time still until the consumer has
// reacted to it, that is until it calls Recv again, calls Done or closes
// the inbox; frames the consumer sends while reacting therefore leave at
// the instant the item arrived, which keeps a single host deterministic.
//
// One goroutine consumes an Inbox; Push is called on the event loop.
type Inbox[T any] struct {
	f *Fabric

	mu sync.Mutex
	// +checklocks:mu
	items []T
	// +checklocks:mu
	reacting bool // the consumer holds the last item it received
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	parked bool // the consumer found no item and waits on ready
	ready  chan struct{}
}

// NewInbox creates an inbox attached to f. It is closed when f stops.
func NewInbox[T any](f *Fabric) *Inbox[T] {
	b := &Inbox[T]{f: f, ready: make(chan struct{}, 1)}
	if !f.addInbox(b) {
		b.closed = true
	}
	return b
}

// Push queues v for the consumer. It reports false if the inbox is closed.
func (b *Inbox[T]) Push(v T) bool {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.items = append(b.items, v)
	b.f.loop.hold()
	// Only a parked consumer needs waking: a busy one takes this item
	// when it next looks, and skipping the channel spares the event loop
	// a send per item.
	wake := b.parked
	b.parked = false
	b.mu.Unlock()
	if wake {
		select {
		case b.ready <- struct{}{}:
		default:
		}
	}
	return true
}

// Recv returns the next item, waiting until one arrives, ctx is done or the
// inbox is closed (ErrStopped). Calling it means the consumer has finished
// reacting to the previous item.
func (b *Inbox[T]) Recv(ctx context.Context) (T, error) {
	var zero T
	b.Done()
	for {
		b.mu.Lock()
		if len(b.items) > 0 {
			v := b.items[0]
			var z T
			b.items[0] = z
			b.items = b.items[1:]
			b.reacting = true // the item's hold passes to the consumer
			b.mu.Unlock()
			return v, nil
		}
		closed := b.closed
		b.parked = !closed
		b.mu.Unlock()
		if closed {
			return zero, ErrStopped
		}
		select {
		case <-ctx.Done():
			b.mu.Lock()
			b.parked = false
			b.mu.Unlock()
			return zero, ctx.Err()
		case <-b.ready:
		}
	}
}

// TryRecv returns the next item without waiting.
func (b *Inbox[T]) TryRecv() (T, bool) {
	var zero T
	b.Done()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.items) == 0 {
		return zero, false
	}
	v := b.items[0]
	b.items[0] = zero
	b.items = b.items[1:]
	b.reacting = true
	return v, true
}

// Withdraw takes back the first queued item for which match reports true,
// as if it had never been pushed: it is dropped and its hold on virtual
// time released. The consumer calls it for an item it knows it will not
// receive (a completion-channel event whose completion it already
// polled). It reports whether an item was taken back.
func (b *Inbox[T]) Withdraw(match func(T) bool) bool {
	var zero T
	b.mu.Lock()
	for i, v := range b.items {
		if match(v) {
			copy(b.items[i:], b.items[i+1:])
			b.items[len(b.items)-1] = zero
			b.items = b.items[:len(b.items)-1]
			b.mu.Unlock()
			b.f.loop.release(1)
			return true
		}
	}
	b.mu.Unlock()
	return false
}

// Done tells the fabric the consumer has finished reacting to the last item
// it received, so virtual time may move on.
func (b *Inbox[T]) Done() {
	b.mu.Lock()
	r := b.reacting
	b.reacting = false
	b.mu.Unlock()
	if r {
		b.f.loop.release(1)
	}
}

// Close discards queued items, releases their holds and makes Recv return
// ErrStopped.
func (b *Inbox[T]) Close() {
	b.close()
	b.f.removeInbox(b)
}

func (b *Inbox[T]) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	n := len(b.items)
	if b.reacting {
		n++
	}
	b.items, b.reacting, b.closed = nil, false, true
	b.mu.Unlock()
	b.f.loop.release(n)
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// Hold keeps virtual time still until the returned function is called
// (once; further calls do nothing). Host software that goes on working
// after it received something through other means than an Inbox (a result
// handed from one goroutine to another, say) holds time this way so that
// what it sends next leaves at the instant it reacted to. Under the wall
// clock it does nothing.
func (f *Fabric) Hold() (release func()) {
	if !f.cfg.virtual {
		return func() {}
	}
	f.loop.hold()
	var once sync.Once
	return func() { once.Do(func() { f.loop.release(1) }) }
}
