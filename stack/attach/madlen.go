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
func sealRMPP(d Datagram) {
	m := d.MAD()
	if !classHasRMPP(m.MgmtClass()) {
		return
	}
	r := wire.RMPPHeader(m[wire.RMPPHeaderOffset:])
	if !r.IsActive() || (r.Type() != wire.RMPPTypeNone && r.Type() != wire.RMPPTypeData) {
		return
	}
	const hdr = wire.RMPPHeaderOffset + wire.RMPPHeaderSize
	n := d.Length()
	if n < hdr || n > wire.MADSize {
		return
	}
	r.SetVersion(wire.RMPPVersion)
	r.SetType(wire.RMPPTypeData)
	r.SetFlags(wire.RMPPFlagActive | wire.RMPPFlagFirst | wire.RMPPFlagLast)
	r.SetData1(1)               // SegmentNumber
	r.SetData2(uint32(n - hdr)) // PayloadLength
}
