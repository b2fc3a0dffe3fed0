package emu

// DelayLine is a first-in, first-out queue of values a device holds back
// for a while on the event loop: the frames a switch's forwarding
// latency delays, the completions an adapter's completion latency delays.
// Values leave in the order they came (each line's delay is the same for
// all its values, so that is also the order they fall due). Its storage
// is reused: popping zeroes the slot, and the live values slide back to
// the start once they are no more than the popped ones, so a line that is
// never empty does not grow. The zero value is an empty line. Event loop
// only, like the device that owns it.
type DelayLine[T any] struct {
	q    []T
	head int
}

// Len returns how many values wait.
func (d *DelayLine[T]) Len() int { return len(d.q) - d.head }

// Push adds v at the back.
func (d *DelayLine[T]) Push(v T) { d.q = append(d.q, v) }

// Front returns the oldest value, nil when the line is empty. It stays
// valid until the next Push or Pop.
func (d *DelayLine[T]) Front() *T {
	if d.head == len(d.q) {
		return nil
	}
	return &d.q[d.head]
}

// Back returns the newest value, nil when the line is empty.
func (d *DelayLine[T]) Back() *T {
	if d.head == len(d.q) {
		return nil
	}
	return &d.q[len(d.q)-1]
}

// Pop removes and returns the oldest value; the line must not be empty.
func (d *DelayLine[T]) Pop() T {
	var zero T
	v := d.q[d.head]
	d.q[d.head] = zero
	d.head++
	switch rest := len(d.q) - d.head; {
	case rest == 0:
		d.q, d.head = d.q[:0], 0
	case d.head >= 64 && d.head >= rest:
		n := copy(d.q, d.q[d.head:])
		clear(d.q[n:])
		d.q, d.head = d.q[:n], 0
	}
	return v
}

// Reset drops every value and the storage.
func (d *DelayLine[T]) Reset() {
	clear(d.q)
	d.q, d.head = nil, 0
}
