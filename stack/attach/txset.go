package attach

// txSet is a client's open transactions by txKey (client.pending). A
// client has few open at once (OpenSM keeps 4 SMPs outstanding by
// default), so they live in a short slice that is searched in full, with
// no hashing; past txSetSmall the set moves to a map (OpenSM with
// --maxsmps 0 keeps hundreds open), and back to the slice once it is
// empty. The zero value is an empty set. Loop-owned, like the client's
// other transaction state.
type txSet struct {
	list []*transaction
	m    map[uint64]*transaction // when not nil, the set (list is empty)
}

// txSetSmall is the most transactions the slice holds.
const txSetSmall = 16

// len is the number of open transactions.
func (s *txSet) len() int {
	if s.m != nil {
		return len(s.m)
	}
	return len(s.list)
}

// get returns the transaction open under key, or nil.
func (s *txSet) get(key uint64) *transaction {
	if s.m != nil {
		return s.m[key]
	}
	for _, tr := range s.list {
		if tr.key == key {
			return tr
		}
	}
	return nil
}

// put adds tr under tr.key, which no transaction of the set has.
func (s *txSet) put(tr *transaction) {
	if s.m == nil {
		if len(s.list) < txSetSmall {
			s.list = append(s.list, tr)
			return
		}
		s.m = make(map[uint64]*transaction, 4*txSetSmall)
		for _, o := range s.list {
			s.m[o.key] = o
		}
		clear(s.list)
		s.list = s.list[:0]
	}
	s.m[tr.key] = tr
}

// del removes the transaction open under key, if any.
func (s *txSet) del(key uint64) {
	if s.m != nil {
		delete(s.m, key)
		if len(s.m) == 0 {
			s.m = nil
		}
		return
	}
	for i, tr := range s.list {
		if tr.key == key {
			last := len(s.list) - 1
			s.list[i] = s.list[last]
			s.list[last] = nil
			s.list = s.list[:last]
			return
		}
	}
}

// appendTo appends the open transactions to dst, in no particular order,
// and returns the extended slice: a snapshot the caller may walk while
// the set changes.
func (s *txSet) appendTo(dst []*transaction) []*transaction {
	if s.m != nil {
		for _, tr := range s.m {
			dst = append(dst, tr)
		}
		return dst
	}
	return append(dst, s.list...)
}

// reset empties the set.
func (s *txSet) reset() {
	clear(s.list)
	s.list = s.list[:0]
	s.m = nil
}
