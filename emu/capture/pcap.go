package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// The classic pcap container (the libpcap file format, as Wireshark's
// pcap-savefile documentation describes it): a 24-byte file header —
// magic, version 2.4, time zone offset and accuracy (both 0), snap length,
// link type — then one 16-byte header per record — seconds, fraction,
// captured length, original length — followed by the record's bytes. The
// magic tells the byte order and the unit of the fraction: 0xA1B2C3D4 for
// microseconds, 0xA1B23C4D for nanoseconds. Writers here use little-endian
// and nanoseconds; the reader takes all four variants.
const (
	pcapFileHeaderSize   = 24
	pcapRecordHeaderSize = 16
	pcapMagicMicros      = 0xA1B2C3D4
	pcapMagicNanos       = 0xA1B23C4D
	pcapVersionMajor     = 2
	pcapVersionMinor     = 4
)

// errPcapRecord reports a record header that cannot be right.
var errPcapRecord = errors.New("bad pcap record header")

// pcapFileHeader returns the file header of a little-endian nanosecond
// pcap stream.
func pcapFileHeader(snap uint32, linkType uint32) []byte {
	b := make([]byte, pcapFileHeaderSize)
	binary.LittleEndian.PutUint32(b[0:], pcapMagicNanos)
	binary.LittleEndian.PutUint16(b[4:], pcapVersionMajor)
	binary.LittleEndian.PutUint16(b[6:], pcapVersionMinor)
	binary.LittleEndian.PutUint32(b[16:], snap)
	binary.LittleEndian.PutUint32(b[20:], linkType)
	return b
}

// putPcapRecordHeader fills b with the header of an n-byte record captured
// whole at time at.
func putPcapRecordHeader(b []byte, at time.Time, n int) {
	binary.LittleEndian.PutUint32(b[0:], uint32(at.Unix()))
	binary.LittleEndian.PutUint32(b[4:], uint32(at.Nanosecond()))
	binary.LittleEndian.PutUint32(b[8:], uint32(n))
	binary.LittleEndian.PutUint32(b[12:], uint32(n))
}

// pcapReader reads the records of a pcap stream.
type pcapReader struct {
	r        io.Reader
	order    binary.ByteOrder
	nanos    bool
	snap     uint32
	linkType uint32
	hdr      [pcapRecordHeaderSize]byte
}

// newPcapReader reads and checks the file header of r.
func newPcapReader(r io.Reader) (*pcapReader, error) {
	var h [pcapFileHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("short file header: %w", err)
	}
	pr := &pcapReader{r: r}
	switch {
	case binary.LittleEndian.Uint32(h[0:]) == pcapMagicMicros:
		pr.order = binary.LittleEndian
	case binary.LittleEndian.Uint32(h[0:]) == pcapMagicNanos:
		pr.order, pr.nanos = binary.LittleEndian, true
	case binary.BigEndian.Uint32(h[0:]) == pcapMagicMicros:
		pr.order = binary.BigEndian
	case binary.BigEndian.Uint32(h[0:]) == pcapMagicNanos:
		pr.order, pr.nanos = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("magic %#08x is not a pcap file", binary.BigEndian.Uint32(h[0:]))
	}
	if major := pr.order.Uint16(h[4:]); major != pcapVersionMajor {
		return nil, fmt.Errorf("pcap version %d.%d is not 2.x", major, pr.order.Uint16(h[6:]))
	}
	pr.snap = pr.order.Uint32(h[16:])
	pr.linkType = pr.order.Uint32(h[20:]) & 0x0FFFFFFF // the top bits carry FCS flags
	return pr, nil
}

// next returns the bytes and timestamp of the next record, and io.EOF
// after the last one.
func (pr *pcapReader) next() ([]byte, time.Time, error) {
	if _, err := io.ReadFull(pr.r, pr.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, time.Time{}, io.EOF
		}
		return nil, time.Time{}, fmt.Errorf("short record header: %w", err)
	}
	sec := int64(pr.order.Uint32(pr.hdr[0:]))
	frac := int64(pr.order.Uint32(pr.hdr[4:]))
	incl := pr.order.Uint32(pr.hdr[8:])
	if !pr.nanos {
		frac *= 1000
	}
	if frac >= 1e9 {
		return nil, time.Time{}, fmt.Errorf("%w: fraction %d is a second or more", errPcapRecord, frac)
	}
	if limit := max(pr.snap, snapLen); incl > limit {
		return nil, time.Time{}, fmt.Errorf("%w: %d bytes exceed the snap length %d", errPcapRecord, incl, limit)
	}
	data := make([]byte, incl)
	if _, err := io.ReadFull(pr.r, data); err != nil {
		return nil, time.Time{}, fmt.Errorf("short record of %d bytes: %w", incl, err)
	}
	return data, time.Unix(sec, frac), nil
}
