package ibswitch

import "github.com/ibemu/ibemu/emu/wire"

// Forwarding table geometry (IBTA Vol 1 §14.2.5.10, §14.2.5.12).
const (
	// LFTBlockSize is the number of LinearForwardingTable entries one SMP
	// carries.
	LFTBlockSize = 64
	// MFTBlockSize is the number of MLIDs one MulticastForwardingTable
	// block covers.
	MFTBlockSize = 32
	// MFTPortsPerPosition is the number of ports one 16-bit port mask
	// covers; the attribute modifier's position selects the group.
	MFTPortsPerPosition = 16
	// DropPort is the LinearForwardingTable entry that means "no route".
	DropPort uint8 = 0xFF
)

// lft is a LinearForwardingTable (IBTA Vol 1 §14.2.5.10): one egress port
// per unicast LID. Storage grows by blocks as the SM writes them, so a
// switch in a small subnet does not pay for 48K entries; entries never
// written read as DropPort.
type lft struct {
	cap int     // LinearFDBCap: entries 0..cap-1 exist
	e   []uint8 // len is a multiple of LFTBlockSize
}

func newLFT(capacity uint16) lft { return lft{cap: int(capacity)} }

// blocks is the number of 64-entry blocks the table has (the last may be
// partly beyond LinearFDBCap when the cap is not a multiple of 64).
func (t *lft) blocks() int { return (t.cap + LFTBlockSize - 1) / LFTBlockSize }

// lookup returns the egress port of lid, DropPort when none was set.
func (t *lft) lookup(lid wire.LID) uint8 {
	if int(lid) < len(t.e) {
		return t.e[lid]
	}
	return DropPort
}

// set writes one entry, growing the table by whole blocks.
func (t *lft) set(lid wire.LID, port uint8) bool {
	if int(lid) >= t.cap {
		return false
	}
	t.grow(int(lid)/LFTBlockSize + 1)
	t.e[lid] = port
	return true
}

// reserve makes room for blocks blocks without changing the table's
// contents, so growing to them later copies nothing. It never reserves
// past LinearFDBCap.
func (t *lft) reserve(blocks int) {
	n := min(blocks*LFTBlockSize, (t.cap+LFTBlockSize-1)/LFTBlockSize*LFTBlockSize)
	if n <= cap(t.e) {
		return
	}
	e := make([]uint8, len(t.e), n)
	copy(e, t.e)
	t.e = e
}

func (t *lft) grow(blocks int) {
	n := blocks * LFTBlockSize
	if n <= len(t.e) {
		return
	}
	old := len(t.e)
	if n <= cap(t.e) {
		t.e = t.e[:n]
	} else {
		e := make([]uint8, n, max(n, 2*cap(t.e)))
		copy(e, t.e)
		t.e = e
	}
	for i := old; i < n; i++ {
		t.e[i] = DropPort
	}
}

// getBlock copies block b into dst (64 bytes). Entries at or beyond
// LinearFDBCap read as DropPort.
func (t *lft) getBlock(b int, dst []byte) {
	base := b * LFTBlockSize
	dst = dst[:LFTBlockSize]
	n := 0
	if base < min(len(t.e), t.cap) {
		n = copy(dst, t.e[base:min(len(t.e), t.cap)])
	}
	for i := n; i < len(dst); i++ {
		dst[i] = DropPort
	}
}

// setBlock writes block b from src (64 bytes); entries at or beyond
// LinearFDBCap are ignored.
func (t *lft) setBlock(b int, src []byte) {
	base := b * LFTBlockSize
	t.grow(b + 1)
	if n := min(LFTBlockSize, t.cap-base); n > 0 {
		copy(t.e[base:base+n], src[:n])
	}
}

// mft is a MulticastForwardingTable (IBTA Vol 1 §14.2.5.12): per MLID a
// port mask of NumPorts+1 bits (bit 0 is port 0), kept as 16-bit words per
// position like the attribute. Storage grows by 32-MLID blocks.
type mft struct {
	cap       int // MulticastFDBCap: MLIDs 0xC000..0xC000+cap-1 exist
	positions int // 16-bit words per mask: ceil((NumPorts+1)/16)
	m         []uint16
}

func newMFT(capacity uint16, nports int) mft {
	return mft{cap: int(capacity), positions: (nports + MFTPortsPerPosition) / MFTPortsPerPosition}
}

// blocks is the number of 32-MLID blocks the table has.
func (t *mft) blocks() int { return (t.cap + MFTBlockSize - 1) / MFTBlockSize }

// index is the table row of mlid, or -1 when mlid is outside the table.
func (t *mft) index(mlid wire.LID) int {
	if !mlid.IsMulticast() {
		return -1
	}
	i := int(mlid - wire.LIDMulticastBase)
	if i >= t.cap {
		return -1
	}
	return i
}

// mask returns the port mask words of MLID row i (nil when never written).
func (t *mft) mask(i int) []uint16 {
	off := i * t.positions
	if i < 0 || off+t.positions > len(t.m) {
		return nil
	}
	return t.m[off : off+t.positions]
}

func (t *mft) grow(blocks int) {
	n := blocks * MFTBlockSize * t.positions
	if n <= len(t.m) {
		return
	}
	if n <= cap(t.m) {
		t.m = t.m[:n]
		return
	}
	m := make([]uint16, n, max(n, 2*cap(t.m)))
	copy(m, t.m)
	t.m = m
}

// getBlock copies the 32 masks of block b at position pos into dst
// (32 big-endian 16-bit words). Rows beyond MulticastFDBCap read as 0.
func (t *mft) getBlock(b, pos int, dst []byte) {
	for i := range MFTBlockSize {
		row := b*MFTBlockSize + i
		var v uint16
		if m := t.mask(row); m != nil && row < t.cap {
			v = m[pos]
		}
		dst[2*i] = byte(v >> 8)
		dst[2*i+1] = byte(v)
	}
}

// setBlock writes the 32 masks of block b at position pos from src. Rows
// beyond MulticastFDBCap are ignored; bits naming ports the switch does
// not have are cleared.
func (t *mft) setBlock(b, pos int, src []byte, nports int) {
	t.grow(b + 1)
	valid := uint16(0xFFFF)
	switch hi := nports - pos*MFTPortsPerPosition; {
	case hi < 0:
		valid = 0
	case hi < MFTPortsPerPosition-1:
		valid = uint16(1)<<(hi+1) - 1
	}
	for i := range MFTBlockSize {
		row := b*MFTBlockSize + i
		if row >= t.cap {
			break
		}
		t.mask(row)[pos] = (uint16(src[2*i])<<8 | uint16(src[2*i+1])) & valid
	}
}

// setPort adds (on) or removes port from the mask of mlid.
func (t *mft) setPort(mlid wire.LID, port int, on bool) bool {
	i := t.index(mlid)
	if i < 0 || port < 0 || port >= t.positions*MFTPortsPerPosition {
		return false
	}
	t.grow(i/MFTBlockSize + 1)
	w := &t.mask(i)[port/MFTPortsPerPosition]
	bit := uint16(1) << (port % MFTPortsPerPosition)
	if on {
		*w |= bit
	} else {
		*w &^= bit
	}
	return true
}

// empty reports whether a mask has no port set.
func maskEmpty(m []uint16) bool {
	for _, w := range m {
		if w != 0 {
			return false
		}
	}
	return true
}
