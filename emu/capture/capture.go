// Package capture records the frames crossing an emulated fabric into pcap
// files that Wireshark and tshark decode: link type 197 (ERF) with ERF
// record type 21 (InfiniBand), the format Mellanox's ibdump writes. Each
// record is a 16-byte ERF header followed by the raw frame, LRH through
// VCRC.
//
// A Writer is an emu.PacketTap: add it to a fabric and every frame any port
// transmits onto a link is written, once per hop. The pcap container is
// written and read here (pcap.go: the classic libpcap format with
// nanosecond timestamps), so a binary that only may capture carries no
// packet-dissection tables. It may be imported by anything above emu.
package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ibemu/ibemu/emu"
)

// LinkTypeERF is the pcap link type of Endace ERF records.
const LinkTypeERF = 197

// ERF record constants (capture.md): type 21 is InfiniBand; flag 0x04 marks
// a variable-length record.
const (
	ERFHeaderSize     = 16
	ERFTypeInfiniBand = 21
	erfFlagVarLen     = 0x04
	snapLen           = 65535
)

// Writer writes frames to a pcap stream as ERF InfiniBand records. It is
// safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	hdr    [pcapRecordHeaderSize]byte
	c      io.Closer
	frames int
	err    error
	buf    []byte
}

var _ emu.PacketTap = (*Writer)(nil)

// NewWriter writes the pcap file header to w and returns a Writer.
func NewWriter(w io.Writer) (*Writer, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	if _, err := bw.Write(pcapFileHeader(snapLen, LinkTypeERF)); err != nil {
		return nil, fmt.Errorf("capture: write pcap header: %w", err)
	}
	return &Writer{bw: bw}, nil
}

// Create creates (or truncates) the file at path and returns a Writer that
// closes it on Close.
func Create(path string) (*Writer, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	w, err := NewWriter(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	w.c = f
	return w, nil
}

// TapPacket implements emu.PacketTap.TapPacket.
func (w *Writer) TapPacket(at time.Time, _ *emu.Port, frame []byte) {
	if err := w.WriteFrame(at, frame); err != nil {
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
	}
}

// WriteFrame writes one frame (LRH through VCRC) captured at time at.
func (w *Writer) WriteFrame(at time.Time, frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	n := ERFHeaderSize + len(frame)
	if n > snapLen {
		return fmt.Errorf("capture: frame of %d bytes exceeds the snap length", len(frame))
	}
	if cap(w.buf) < n {
		w.buf = make([]byte, n)
	}
	rec := w.buf[:n]
	binary.LittleEndian.PutUint64(rec[0:], erfTimestamp(at))
	rec[8] = ERFTypeInfiniBand
	rec[9] = erfFlagVarLen
	binary.BigEndian.PutUint16(rec[10:], uint16(n))
	binary.BigEndian.PutUint16(rec[12:], 0) // loss counter
	binary.BigEndian.PutUint16(rec[14:], uint16(len(frame)))
	copy(rec[ERFHeaderSize:], frame)
	putPcapRecordHeader(w.hdr[:], at, n)
	if _, err := w.bw.Write(w.hdr[:]); err != nil {
		return fmt.Errorf("capture: write frame: %w", err)
	}
	if _, err := w.bw.Write(rec); err != nil {
		return fmt.Errorf("capture: write frame: %w", err)
	}
	w.frames++
	return nil
}

// Frames is the number of frames written so far.
func (w *Writer) Frames() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frames
}

// Flush writes buffered records out and returns the first error met.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = fmt.Errorf("capture: flush: %w", err)
	}
	return w.err
}

// Close flushes and, for a Writer made by Create, closes the file.
func (w *Writer) Close() error {
	err := w.Flush()
	if w.c != nil {
		err = errors.Join(err, w.c.Close())
		w.c = nil
	}
	return err
}

// erfTimestamp is the ERF timestamp: seconds in the high 32 bits and a
// binary fraction of a second in the low 32, little-endian on disk.
func erfTimestamp(t time.Time) uint64 {
	sec := uint64(t.Unix())
	frac := (uint64(t.Nanosecond()) << 32) / 1e9
	return sec<<32 | frac
}

// Record is one frame read back from a capture.
type Record struct {
	Time  time.Time
	Frame []byte
}

// ReadAll reads every record of an ERF InfiniBand pcap stream.
func ReadAll(r io.Reader) ([]Record, error) {
	pr, err := newPcapReader(r)
	if err != nil {
		return nil, fmt.Errorf("capture: read pcap header: %w", err)
	}
	if pr.linkType != LinkTypeERF {
		return nil, fmt.Errorf("capture: link type %d, want %d (erf)", pr.linkType, LinkTypeERF)
	}
	var out []Record
	for i := 1; ; i++ {
		data, at, err := pr.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("capture: record %d: %w", i, err)
		}
		if len(data) < ERFHeaderSize || data[8]&0x7f != ERFTypeInfiniBand {
			return out, fmt.Errorf("capture: record %d: not an erf infiniband record", i)
		}
		wlen := int(binary.BigEndian.Uint16(data[14:]))
		if ERFHeaderSize+wlen > len(data) {
			return out, fmt.Errorf("capture: record %d: wlen %d exceeds the record", i, wlen)
		}
		out = append(out, Record{Time: at, Frame: append([]byte(nil), data[ERFHeaderSize:ERFHeaderSize+wlen]...)})
	}
}
