package emu

// AtBurstEnd queues fn to run on the event loop when the current burst
// of events ends: before whoever runs the loop stops running events
// (nothing more is due, a host holds virtual time, an inline run lets
// go, the loop exits), and at the latest once burstEvents more events
// have run while the loop stays busy. Each call runs fn once, in the
// order queued.
//
// It lets a device publish what hosts read from other goroutines (a
// completion queue's tail) once per burst rather than once per event:
// every publication to another core takes its cache lines back, which
// costs more than the event's own work when a stream of small messages
// keeps the loop busy. A device that does so must publish at once what a
// host may be waiting on with nothing else to come (see Backlog). Call it
// on the event loop.
func (f *Fabric) AtBurstEnd(fn func()) { f.loop.burst = append(f.loop.burst, fn) }

// Backlog is the number of frame deliveries queued on the event loop: a
// device that defers work to the end of the burst (AtBurstEnd) does so
// only while the loop has this much more to do, so that a lone message
// (a ping-pong's) is published at once. Call it on the event loop.
func (f *Fabric) Backlog() int { return f.loop.inflight }
