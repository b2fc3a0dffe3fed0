package attach

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// Sizes and constants of the ibsim attach protocol (ibsim's include/ibsim.h,
// restated in reference/ibsim-protocol.md §3-§4).
const (
	// Magic opens every control message (0xDEADBEEF in host byte order).
	Magic uint32 = 0xDEADBEEF
	// CtlSize is the size of every control request and reply (sim_ctl).
	CtlSize = 80
	// CtlDataSize is the size of a control message's payload.
	CtlDataSize = 64
	// ClientInfoSize is the size of the CONNECT payload (sim_client_info).
	ClientInfoSize = 44
	// NodeIDSize is the size of the node id field of the CONNECT payload:
	// at most NodeIDSize-1 characters and a NUL.
	NodeIDSize = 32
	// VendorSize is the size of the GET_VENDOR reply (sim_vendor).
	VendorSize = 24
	// DatagramSize is the size of every data-channel datagram
	// (sim_request), in both directions.
	DatagramSize = 288
	// DatagramHeaderSize is where the MAD starts in a datagram.
	DatagramHeaderSize = 32
	// MaxPKeys is how many P_Keys a GET_PKEYS reply carries.
	MaxPKeys = 32
	// StatusTimeout is the datagram status of a MAD the fabric could not
	// deliver (Linux ETIMEDOUT): the client reports a send timeout.
	StatusTimeout uint32 = 110
	// DefaultSockName is the base name of the abstract sockets when
	// IBSIM_SOCKNAME is unset.
	DefaultSockName = "sim"
	// DefaultPort is the UDP control port of remote mode; slot i uses
	// DefaultPort+1+i.
	DefaultPort = 7070
)

// CtlType is the type of a control message.
type CtlType uint32

// Control message types. A reply carries the request's type, or CtlError
// on failure.
const (
	CtlError       CtlType = 0
	CtlConnect     CtlType = 1
	CtlDisconnect  CtlType = 2
	CtlGetPort     CtlType = 3
	CtlGetVendor   CtlType = 4
	CtlGetGID      CtlType = 5
	CtlGetGUID     CtlType = 6
	CtlGetNodeInfo CtlType = 7
	CtlGetPortInfo CtlType = 8
	CtlSetISSM     CtlType = 9
	CtlGetPKeys    CtlType = 10
)

var ctlNames = [...]string{"ERROR", "CONNECT", "DISCONNECT", "GET_PORT", "GET_VENDOR", "GET_GID", "GET_GUID",
	"GET_NODEINFO", "GET_PORTINFO", "SET_ISSM", "GET_PKEYS"}

func (t CtlType) String() string {
	if int(t) < len(ctlNames) {
		return ctlNames[t]
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// Errors of the decoders. Each error returned wraps one of them.
var (
	// ErrSize: a control message or datagram is not of its fixed size.
	ErrSize = errors.New("attach: wrong message size")
	// ErrMagic: a control message does not start with Magic.
	ErrMagic = errors.New("attach: wrong magic")
	// ErrLength: a datagram's length field exceeds the 256 bytes of its
	// MAD area.
	ErrLength = errors.New("attach: bad mad length")
)

// hostOrder is the byte order of the control channel: the host's, as ibsim
// and libumad2sim copy C structs verbatim.
var hostOrder = binary.NativeEndian

// Ctl is a view of one 80-byte control message (sim_ctl): magic, client
// id (the slot), type, payload length (echoed, not interpreted), and 64
// bytes of payload, all in host byte order.
type Ctl []byte

// ParseCtl checks that b is a control message: exactly CtlSize bytes that
// start with Magic. It never panics; the view aliases b.
func ParseCtl(b []byte) (Ctl, error) {
	if len(b) != CtlSize {
		return nil, fmt.Errorf("attach: control message of %d bytes, want %d: %w", len(b), CtlSize, ErrSize)
	}
	c := Ctl(b)
	if c.Magic() != Magic {
		return nil, fmt.Errorf("attach: control message magic 0x%08x, want 0x%08x: %w", c.Magic(), Magic, ErrMagic)
	}
	return c, nil
}

// NewCtl returns a zeroed control message with Magic set.
func NewCtl(typ CtlType, clientID uint32) Ctl {
	c := Ctl(make([]byte, CtlSize))
	c.SetMagic(Magic)
	c.SetType(typ)
	c.SetClientID(clientID)
	return c
}

// Magic is the magic word.
func (c Ctl) Magic() uint32 { return hostOrder.Uint32(c[0:]) }

// ClientID is the slot the client was given at CONNECT (0 in CONNECT).
func (c Ctl) ClientID() uint32 { return hostOrder.Uint32(c[4:]) }

// Type is the message type.
func (c Ctl) Type() CtlType { return CtlType(hostOrder.Uint32(c[8:])) }

// Len is the payload length the client uses.
func (c Ctl) Len() uint32 { return hostOrder.Uint32(c[12:]) }

// Data is the 64-byte payload.
func (c Ctl) Data() []byte { return c[16:CtlSize] }

// SetMagic sets the magic word.
func (c Ctl) SetMagic(v uint32) { hostOrder.PutUint32(c[0:], v) }

// SetClientID sets the client id.
func (c Ctl) SetClientID(v uint32) { hostOrder.PutUint32(c[4:], v) }

// SetType sets the message type.
func (c Ctl) SetType(t CtlType) { hostOrder.PutUint32(c[8:], uint32(t)) }

// SetLen sets the payload length.
func (c Ctl) SetLen(v uint32) { hostOrder.PutUint32(c[12:], v) }

// ClientInfo is the CONNECT payload (sim_client_info).
type ClientInfo struct {
	// ID is, in a request, the client's pid (local mode) or the UDP port of
	// its data socket (remote mode); in the reply, the slot assigned.
	ID uint32
	// QP is the QP the client serves (libumad2sim always sends 0).
	QP uint32
	// ISSM is 1 when the client attaches as a subnet manager.
	ISSM uint32
	// NodeID is the attach point asked for (SIM_HOST), or in the reply the
	// node id actually used.
	NodeID string
}

// DecodeClientInfo reads a ClientInfo from a control payload. The node id
// ends at the first NUL, or after NodeIDSize-1 bytes.
func DecodeClientInfo(data []byte) (ClientInfo, error) {
	if len(data) < ClientInfoSize {
		return ClientInfo{}, fmt.Errorf("attach: client info of %d bytes, want %d: %w", len(data), ClientInfoSize, ErrSize)
	}
	id := data[12 : 12+NodeIDSize-1]
	if i := strings.IndexByte(string(id), 0); i >= 0 {
		id = id[:i]
	}
	return ClientInfo{
		ID: hostOrder.Uint32(data[0:]), QP: hostOrder.Uint32(data[4:]), ISSM: hostOrder.Uint32(data[8:]),
		NodeID: string(id),
	}, nil
}

// Encode writes ci into a control payload (at least ClientInfoSize bytes).
// A node id longer than NodeIDSize-1 bytes is cut.
func (ci *ClientInfo) Encode(data []byte) {
	hostOrder.PutUint32(data[0:], ci.ID)
	hostOrder.PutUint32(data[4:], ci.QP)
	hostOrder.PutUint32(data[8:], ci.ISSM)
	f := data[12 : 12+NodeIDSize]
	clear(f)
	copy(f[:NodeIDSize-1], ci.NodeID)
}

// VendorInfo is the GET_VENDOR reply (sim_vendor). libumad2sim shows
// HWVer as the sysfs hw_rev and FWVer, printed in hex, as fw_ver.
type VendorInfo struct {
	VendorID uint32 // NodeInfo.VendorID
	PartID   uint32 // NodeInfo.DeviceID
	HWVer    uint32 // NodeInfo.Revision
	FWVer    uint64
}

// Encode writes v into a control payload (at least VendorSize bytes).
func (v *VendorInfo) Encode(data []byte) {
	hostOrder.PutUint32(data[0:], v.VendorID)
	hostOrder.PutUint32(data[4:], v.PartID)
	hostOrder.PutUint32(data[8:], v.HWVer)
	hostOrder.PutUint32(data[12:], 0)
	hostOrder.PutUint64(data[16:], v.FWVer)
}

// DecodeVendorInfo reads a VendorInfo from a control payload.
func DecodeVendorInfo(data []byte) (VendorInfo, error) {
	if len(data) < VendorSize {
		return VendorInfo{}, fmt.Errorf("attach: vendor info of %d bytes, want %d: %w", len(data), VendorSize, ErrSize)
	}
	return VendorInfo{VendorID: hostOrder.Uint32(data[0:]), PartID: hostOrder.Uint32(data[4:]),
		HWVer: hostOrder.Uint32(data[8:]), FWVer: hostOrder.Uint64(data[16:])}, nil
}

// Datagram is a view of one 288-byte data-channel message (sim_request):
// the address of a MAD and the MAD itself. Unlike the control channel its
// fields are in network byte order: the LIDs are big-endian in the first
// two bytes of their 4-byte fields, QPs and the status are big-endian
// 32-bit values, the length a big-endian 64-bit value.
type Datagram []byte

// ParseDatagram checks that b is a datagram: exactly DatagramSize bytes
// with a MAD length of at most 256. It never panics; the view aliases b.
func ParseDatagram(b []byte) (Datagram, error) {
	if len(b) != DatagramSize {
		return nil, fmt.Errorf("attach: datagram of %d bytes, want %d: %w", len(b), DatagramSize, ErrSize)
	}
	d := Datagram(b)
	if n := d.Length(); n > wire.MADSize {
		return nil, fmt.Errorf("attach: datagram mad length %d exceeds %d: %w", n, wire.MADSize, ErrLength)
	}
	return d, nil
}

// NewDatagram returns a zeroed datagram with Length 256.
func NewDatagram() Datagram {
	d := Datagram(make([]byte, DatagramSize))
	d.SetLength(wire.MADSize)
	return d
}

// DLID is the destination LID (0xFFFF: a directed-route SMP).
func (d Datagram) DLID() wire.LID { return wire.LID(binary.BigEndian.Uint16(d[0:])) }

// SLID is the source LID; a client sends 0 to let the server fill it in.
func (d Datagram) SLID() wire.LID { return wire.LID(binary.BigEndian.Uint16(d[4:])) }

// DQP is the destination QP (0 SMI, 1 GSI).
func (d Datagram) DQP() uint32 { return binary.BigEndian.Uint32(d[8:]) }

// SQP is the source QP.
func (d Datagram) SQP() uint32 { return binary.BigEndian.Uint32(d[12:]) }

// Status is 0, or StatusTimeout for a MAD that could not be delivered.
func (d Datagram) Status() uint32 { return binary.BigEndian.Uint32(d[16:]) }

// Length is the number of MAD bytes used.
func (d Datagram) Length() uint64 { return binary.BigEndian.Uint64(d[24:]) }

// MAD is the 256-byte MAD area.
func (d Datagram) MAD() wire.MAD { return wire.MAD(d[DatagramHeaderSize:DatagramSize]) }

// SetDLID sets the destination LID.
func (d Datagram) SetDLID(l wire.LID) {
	binary.BigEndian.PutUint16(d[0:], uint16(l))
	d[2], d[3] = 0, 0
}

// SetSLID sets the source LID.
func (d Datagram) SetSLID(l wire.LID) {
	binary.BigEndian.PutUint16(d[4:], uint16(l))
	d[6], d[7] = 0, 0
}

// SetDQP sets the destination QP.
func (d Datagram) SetDQP(v uint32) { binary.BigEndian.PutUint32(d[8:], v) }

// SetSQP sets the source QP.
func (d Datagram) SetSQP(v uint32) { binary.BigEndian.PutUint32(d[12:], v) }

// SetStatus sets the status.
func (d Datagram) SetStatus(v uint32) {
	binary.BigEndian.PutUint32(d[16:], v)
	clear(d[20:24])
}

// SetLength sets the MAD length.
func (d Datagram) SetLength(n uint64) { binary.BigEndian.PutUint64(d[24:], n) }
