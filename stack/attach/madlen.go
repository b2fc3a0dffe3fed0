package attach

import "github.com/ibemu/ibemu/emu/wire"

// rmppDataSize is the RMPP data area of a MAD: everything after the MAD
// and RMPP headers (IBTA Vol 1 §13.6.2.1).
const rmppDataSize = wire.MADSize - wire.RMPPHeaderOffset - wire.RMPPHeaderSize

// umadLength is the MAD length a umad reader is given for a MAD that
// arrived from the fabric, as the Linux MAD layer computes it (the
// inverse of sealRMPP). A MAD on
// the wire is always 256 bytes, but a one-segment RMPP transfer (the SA's
// answers to saquery and OpenSM's SA clients) tells its receiver how much
// of it is data: the kernel reports 36 + PayloadLength bytes (the MAD and
// RMPP headers, then PayloadLength bytes of class header and data), and
// tools such as saquery count the records they print from that length.
// libumad2sim forwards the datagram's length field as the umad length, and
// ibsim passes the sender's length through; reporting 256 for every MAD
// makes saquery print the zero padding after the last record as records.
// Everything else, and a PayloadLength the kernel would reject as longer
// than the data area, is reported as 256 bytes.
func umadLength(m wire.MAD) uint64 {
	if len(m) < wire.MADSize || !classHasRMPP(m.MgmtClass()) {
		return wire.MADSize
	}
	r := wire.RMPPHeader(m[wire.RMPPHeaderOffset:])
	const single = wire.RMPPFlagActive | wire.RMPPFlagFirst | wire.RMPPFlagLast
	if r.Type() != wire.RMPPTypeData || r.Flags()&single != single {
		return wire.MADSize
	}
	n := r.PayloadLength()
	if n == 0 || n > rmppDataSize {
		return wire.MADSize
	}
	return uint64(wire.RMPPHeaderOffset+wire.RMPPHeaderSize) + uint64(n)
}

// classHasRMPP reports whether MADs of class c carry an RMPP header: the
// SA and the vendor classes of the second range (IBTA Vol 1 §13.6.2,
// §13.4.5).
func classHasRMPP(c wire.MgmtClass) bool {
	return c == wire.MgmtClassSubnAdm || (c >= 0x30 && c <= 0x4F)
}

// zeroPastLength clears the bytes of d's MAD past its Length field. The
// Linux MAD layer builds the 256-byte MAD of a umad send from the Length
// bytes the sender wrote, padding with zeros; libumad2sim sends whatever
// its buffer held after them. A Length shorter than the MAD header, which
// the kernel would refuse, is left alone: ibsim ignores the field.
func zeroPastLength(d Datagram) {
	if n := d.Length(); n >= wire.MADHeaderSize && n < wire.MADSize {
		clear(d[DatagramHeaderSize+int(n) : DatagramSize])
	}
}

// sealRMPP does for a client's RMPP send what the Linux MAD layer does
// for a umad write whose RMPP header has the Active flag (IBTA Vol 1
// §13.6.2; the kernel's RMPP sender): the sender only sets Active, and the
// MAD layer fills in the version, type DATA, the segment flags, the
// segment number and the PayloadLength before the MAD goes on the wire.
// libumad2sim has no RMPP layer and a datagram carries one segment of at
// most 256 bytes, so the transfer is a single segment: First and Last,
// segment 1, and PayloadLength the Length bytes after the MAD and RMPP
// headers. The receiving client's umadLength turns it back into the
// sender's length, as ibsim passes it through.
//
// A segment of a transfer the sender runs itself (an agent registered
// without the kernel's RMPP, such as our own stack over the attach
// protocol) already carries its segment number, which the kernel-offloaded
// senders never write (OpenSM leaves it 0, libibmad too): the kernel
// passes such a segment through untouched, and so does sealRMPP. Sealing
// it would turn every segment of a long transfer into a one-segment
// message and overwrite its PayloadLength with the datagram length.
// sealRMPP reports whether it sealed d.
func sealRMPP(d Datagram) bool {
	m := d.MAD()
	if !classHasRMPP(m.MgmtClass()) {
		return false
	}
	r := wire.RMPPHeader(m[wire.RMPPHeaderOffset:])
	if !r.IsActive() || (r.Type() != wire.RMPPTypeNone && r.Type() != wire.RMPPTypeData) {
		return false
	}
	if r.Type() == wire.RMPPTypeData && r.SegmentNumber() != 0 {
		return false
	}
	const hdr = wire.RMPPHeaderOffset + wire.RMPPHeaderSize
	n := d.Length()
	if n < hdr || n > wire.MADSize {
		return false
	}
	r.SetVersion(wire.RMPPVersion)
	r.SetType(wire.RMPPTypeData)
	r.SetFlags(wire.RMPPFlagActive | wire.RMPPFlagFirst | wire.RMPPFlagLast)
	r.SetData1(1)               // SegmentNumber
	r.SetData2(uint32(n - hdr)) // PayloadLength
	return true
}

// rmppControl reports whether m is an RMPP ACK, STOP or ABORT (IBTA Vol 1
// §13.6.2.1): the packets of the RMPP protocol itself, which the Linux MAD
// layer of an agent registered for RMPP consumes and never hands to the
// umad reader.
func rmppControl(m wire.MAD) bool {
	if len(m) < wire.MADSize || !classHasRMPP(m.MgmtClass()) {
		return false
	}
	r := wire.RMPPHeader(m[wire.RMPPHeaderOffset:])
	if !r.IsActive() {
		return false
	}
	t := r.Type()
	return t == wire.RMPPTypeAck || t == wire.RMPPTypeStop || t == wire.RMPPTypeAbort
}

// sealedKeep is how many of its latest sealed transfers a client's
// sealedSet remembers.
const sealedKeep = 256

// sealedSet remembers the transfers sealRMPP sealed for one client, by
// the low 48 bits of their TID (the server writes its slot into bits
// 48..63 of requests, and the peer's ACK of a request may carry another
// slot there). The kernel that ran such a transfer would take the peer's
// ACK, STOP or ABORT of it itself; libumad2sim has no such layer, and a
// client that registered for RMPP (osmtest, OpenSM) reads those as the
// answer to its request. The set holds the latest sealedKeep transfers:
// an ACK comes right after the segment it acknowledges.
type sealedSet struct {
	keys map[uint64]struct{}
	ring [sealedKeep]uint64
	next int
	full bool
}

const tidLow48 = 1<<48 - 1

// add remembers the transfer of tid, forgetting the oldest one when full.
func (s *sealedSet) add(tid uint64) {
	if s.keys == nil {
		s.keys = make(map[uint64]struct{}, sealedKeep)
	}
	k := tid & tidLow48
	if _, ok := s.keys[k]; ok {
		return
	}
	if s.full {
		delete(s.keys, s.ring[s.next])
	}
	s.ring[s.next] = k
	s.keys[k] = struct{}{}
	if s.next++; s.next == sealedKeep {
		s.next, s.full = 0, true
	}
}

// has reports whether the transfer of tid was sealed.
func (s *sealedSet) has(tid uint64) bool {
	_, ok := s.keys[tid&tidLow48]
	return ok
}
