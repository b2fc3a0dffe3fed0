package verbs

import (
	"sync"
	"sync/atomic"
)

// recvRing is a QP's receive queue as an adapter keeps it: a ring of
// WQEs the host appends to and the adapter takes from (IBTA Vol 1
// §10.8.2: receive WQEs complete in the order they were posted).
// Posting goroutines append under mu and publish the new tail; the
// event loop takes from the head without a lock, so a host posting
// receives never makes the loop wait for it, and the loop takes no lock
// per arriving SEND.
//
// Positions are counted from the QP's creation; slot i holds position i
// modulo the ring's size. The ring grows (doubling, so to at most twice
// max_recv_wr) by copying the live entries into a new slot array the
// loop picks up with the tail that follows it; the old array is left as
// it was for a loop still reading it.
//
// The loop takes WQEs from the ring recvBatch at a time into a cache of
// its own, as an adapter fetches a burst of WQEs by DMA: one sequential
// read of lines the posting core wrote instead of one cache miss per
// message, and one store of head per burst. Entries in the cache are
// still posted (they count in len) until a message takes them: taken
// counts those, head only what left the ring.
type recvRing struct {
	mu    sync.Mutex                // serialises posters
	slots atomic.Pointer[[]recvWQE] // length a power of two
	tail  atomic.Uint64             // WQEs posted (posters, under mu)
	// seenHead and seenTaken are the last values of head and taken a
	// poster read (under mu): the ring has room while tail-seenHead is
	// below its size, the queue while tail-seenTaken is below
	// max_recv_wr, and only a poster that finds either full reads the
	// loop's counter again, so posting does not pull the loop's cache
	// line per WQE.
	seenHead, seenTaken uint64
	_                   cacheLinePad

	// head and taken are written by the loop and read by posters that
	// find the ring or the queue full (which a host keeping its receive
	// queue topped up does on every post): on lines of their own, away
	// from the loop's private fields below, so that those reads cost the
	// loop one line to take back rather than the line it works on per
	// message.
	head  atomic.Uint64 // positions moved out of the ring (event loop)
	taken atomic.Uint64 // WQEs taken by messages (event loop)
	_     cacheLinePad

	// back holds WQEs put back at the front (UC drops the message in
	// progress, IBTA Vol 1 §9.8.2), the last one first; cache[ci:] the
	// burst fetched from the ring. Event loop only.
	back  []recvWQE
	cache []recvWQE
	ci    int
}

// recvBatch is how many receive WQEs the loop fetches from the ring at
// a time.
const recvBatch = 32

// len is the number of WQEs posted and not taken. Safe from any
// goroutine.
func (r *recvRing) len() int {
	t := r.tail.Load()
	return int(t - r.taken.Load())
}

// bound is at least len: the count posters see from the count taken
// they last read, exact once refresh is called. The caller holds r.mu.
func (r *recvRing) bound() int { return int(r.tail.Load() - r.seenTaken) }

// refresh reads the loop's count of WQEs taken again. The caller holds
// r.mu.
func (r *recvRing) refresh() { r.seenTaken = r.taken.Load() }

// pushAll appends a WQE for each of wrs and publishes them together;
// the caller holds r.mu and has checked that they fit in the queue and
// that their scatter lists are valid, so the ring never grows past twice
// max_recv_wr.
func (r *recvRing) pushAll(wrs []RecvWR) {
	s, t := r.room(len(wrs))
	m := uint64(len(s) - 1)
	for i := range wrs {
		s[(t+uint64(i))&m] = newRecvWQE(&wrs[i])
	}
	r.tail.Store(t + uint64(len(wrs)))
}

// room returns the slot array, grown if need be so that k more WQEs fit
// after the tail, and the tail. The caller holds r.mu.
func (r *recvRing) room(k int) ([]recvWQE, uint64) {
	t := r.tail.Load()
	var s []recvWQE
	if p := r.slots.Load(); p != nil {
		s = *p
	}
	if t+uint64(k)-r.seenHead > uint64(len(s)) {
		r.seenHead = r.head.Load()
	}
	if h := r.seenHead; t+uint64(k)-h > uint64(len(s)) {
		// Full: move the live entries to an array large enough, doubling.
		n := max(16, 2*len(s))
		for uint64(n) < t+uint64(k)-h {
			n *= 2
		}
		ns := make([]recvWQE, n)
		for i := h; i < t; i++ {
			ns[i&uint64(n-1)] = s[i&uint64(len(s)-1)]
		}
		s = ns
		r.slots.Store(&ns)
	}
	return s, t
}

// pop takes the oldest WQE. Event loop only.
func (r *recvRing) pop() (recvWQE, bool) {
	if n := len(r.back); n > 0 {
		w := r.back[n-1]
		r.back[n-1] = recvWQE{}
		r.back = r.back[:n-1]
		r.taken.Add(1)
		return w, true
	}
	if r.ci == len(r.cache) && !r.fetch() {
		return recvWQE{}, false
	}
	w := r.cache[r.ci]
	r.cache[r.ci] = recvWQE{}
	r.ci++
	r.taken.Add(1)
	return w, true
}

// fetch moves up to recvBatch WQEs from the ring into the empty cache;
// it reports false when the ring is empty. Event loop only.
func (r *recvRing) fetch() bool {
	h, t := r.head.Load(), r.tail.Load()
	if h == t {
		return false
	}
	k := min(t-h, recvBatch)
	if r.cache == nil {
		r.cache = make([]recvWQE, 0, recvBatch)
	}
	s := *r.slots.Load()
	m := uint64(len(s) - 1)
	r.cache = r.cache[:k]
	for i := range r.cache {
		r.cache[i] = s[(h+uint64(i))&m]
	}
	r.ci = 0
	r.head.Store(h + k)
	return true
}

// unshift puts w back at the front. Event loop only.
func (r *recvRing) unshift(w recvWQE) {
	r.back = append(r.back, w)
	r.taken.Add(^uint64(0))
}

// takeAll empties the queue and returns its entries in order. Event
// loop only; a WQE posted meanwhile stays for the next call.
func (r *recvRing) takeAll() []recvWQE {
	var all []recvWQE
	for i := len(r.back) - 1; i >= 0; i-- {
		all = append(all, r.back[i])
	}
	all = append(all, r.cache[r.ci:]...)
	r.back, r.cache, r.ci = nil, r.cache[:0], 0
	h, t := r.head.Load(), r.tail.Load()
	if h != t {
		s := *r.slots.Load()
		for i := h; i < t; i++ {
			all = append(all, s[i&uint64(len(s)-1)])
		}
		r.head.Store(t)
	}
	r.taken.Store(t)
	return all
}

// clear drops every WQE (the Reset state). Event loop only.
func (r *recvRing) clear() {
	r.mu.Lock()
	r.back, r.cache, r.ci = nil, nil, 0
	t := r.tail.Load()
	r.head.Store(t)
	r.taken.Store(t)
	r.seenHead, r.seenTaken = t, t
	r.slots.Store(nil)
	r.mu.Unlock()
}
