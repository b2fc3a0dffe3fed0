package attach

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/ibemu/ibemu/emu/wire"
)

// The data-path protocol: ours, not ibsim's. A process attaches its own
// emulated HCA to one CA port of a fabric served by ibemu serve and
// exchanges complete InfiniBand frames (LRH through VCRC) with it over a
// stream socket. DATAPATH.md describes it byte by byte; this file is its
// codec. Every multi-byte field is big-endian (network order), unlike the
// ibsim protocol's host-order structures.

// DataPathMagic opens every HELLO and WELCOME.
const DataPathMagic = "IBEMU-DP"

// DataPathVersion is the protocol version this package speaks. A server
// refuses a HELLO of another version with DataPathRefuseVersion.
const DataPathVersion = 1

// DataPathHeaderSize is the size of the header in front of every message:
// type (1 byte), flags (1 byte, 0), payload length (2 bytes).
const DataPathHeaderSize = 4

// DataPathMaxPayload is the longest payload a message may carry. A longer
// length field means the stream lost its framing; the connection is
// closed.
const DataPathMaxPayload = 16384

// DataPathMaxNodeName is the longest node name a HELLO may carry.
const DataPathMaxNodeName = 255

// DataPathMsgType is the type byte of a data-path message.
type DataPathMsgType uint8

// Message types (DATAPATH.md §3).
const (
	// DataPathHello (client to server) names the node and port to attach.
	DataPathHello DataPathMsgType = 1
	// DataPathWelcome (server to client) accepts the attach and describes
	// the node.
	DataPathWelcome DataPathMsgType = 2
	// DataPathRefuse (server to client) refuses the attach; the server
	// closes the connection after it.
	DataPathRefuse DataPathMsgType = 3
	// DataPathFrame (both ways) carries one InfiniBand frame, LRH to VCRC.
	DataPathFrame DataPathMsgType = 4
	// DataPathLink (server to client) reports the physical link of the
	// attached port after it changed.
	DataPathLink DataPathMsgType = 5
	// DataPathBye (both ways) ends the session in order.
	DataPathBye DataPathMsgType = 6
)

func (t DataPathMsgType) String() string {
	switch t {
	case DataPathHello:
		return "HELLO"
	case DataPathWelcome:
		return "WELCOME"
	case DataPathRefuse:
		return "REFUSE"
	case DataPathFrame:
		return "FRAME"
	case DataPathLink:
		return "LINK"
	case DataPathBye:
		return "BYE"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// DataPathRefuseCode says why a server refused an attach.
type DataPathRefuseCode uint16

// Refusal codes (DATAPATH.md §3.3).
const (
	// DataPathRefuseBadHello: the first message was not a well-formed HELLO.
	DataPathRefuseBadHello DataPathRefuseCode = 1
	// DataPathRefuseVersion: the server does not speak the HELLO's version.
	DataPathRefuseVersion DataPathRefuseCode = 2
	// DataPathRefuseNoNode: the name or port matches no CA port.
	DataPathRefuseNoNode DataPathRefuseCode = 3
	// DataPathRefuseBusy: another data-path client holds the port.
	DataPathRefuseBusy DataPathRefuseCode = 4
	// DataPathRefuseInUse: ibsim-protocol clients are attached to the port.
	DataPathRefuseInUse DataPathRefuseCode = 5
	// DataPathRefuseClosing: the server is shutting down.
	DataPathRefuseClosing DataPathRefuseCode = 6
	// DataPathRefuseDevice: the node's device cannot be described (an
	// unknown HCA model, say).
	DataPathRefuseDevice DataPathRefuseCode = 7
)

func (c DataPathRefuseCode) String() string {
	switch c {
	case DataPathRefuseBadHello:
		return "bad hello"
	case DataPathRefuseVersion:
		return "version"
	case DataPathRefuseNoNode:
		return "no such node"
	case DataPathRefuseBusy:
		return "busy"
	case DataPathRefuseInUse:
		return "in use"
	case DataPathRefuseClosing:
		return "closing"
	case DataPathRefuseDevice:
		return "device"
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// Errors of the data path. Each error returned wraps one of them.
var (
	// ErrDataPathProtocol: a message broke the protocol (a bad header, a
	// length beyond DataPathMaxPayload, a malformed HELLO or WELCOME, a
	// message out of place).
	ErrDataPathProtocol = errors.New("attach: data path: protocol error")
	// ErrDataPathRefused: the server refused the attach; the error text
	// carries its code and reason.
	ErrDataPathRefused = errors.New("attach: data path: attach refused")
	// ErrBadFrame: a frame failed validation (length, LRH, CRCs).
	ErrBadFrame = errors.New("attach: data path: bad frame")
)

// AppendDataPathMsg appends one message (header and payload) to dst.
func AppendDataPathMsg(dst []byte, typ DataPathMsgType, payload []byte) ([]byte, error) {
	if len(payload) > DataPathMaxPayload {
		return dst, fmt.Errorf("%w: %s payload of %d bytes exceeds %d", ErrDataPathProtocol, typ, len(payload), DataPathMaxPayload)
	}
	dst = append(dst, byte(typ), 0, byte(len(payload)>>8), byte(len(payload)))
	return append(dst, payload...), nil
}

// parseDataPathHeader checks a message header and returns its type and
// payload length.
func parseDataPathHeader(h []byte) (DataPathMsgType, int, error) {
	if len(h) < DataPathHeaderSize {
		return 0, 0, fmt.Errorf("%w: header of %d bytes", ErrDataPathProtocol, len(h))
	}
	typ, n := DataPathMsgType(h[0]), int(binary.BigEndian.Uint16(h[2:]))
	switch {
	case typ == 0:
		return 0, 0, fmt.Errorf("%w: message type 0", ErrDataPathProtocol)
	case h[1] != 0:
		return 0, 0, fmt.Errorf("%w: %s with flags %#02x (reserved, must be 0)", ErrDataPathProtocol, typ, h[1])
	case n > DataPathMaxPayload:
		return 0, 0, fmt.Errorf("%w: %s payload of %d bytes exceeds %d", ErrDataPathProtocol, typ, n, DataPathMaxPayload)
	}
	return typ, n, nil
}

// readDataPathMsg reads one message from r. The payload is a new slice
// the caller owns.
func readDataPathMsg(r *bufio.Reader) (DataPathMsgType, []byte, error) {
	var h [DataPathHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	typ, n, err := parseDataPathHeader(h[:])
	if err != nil {
		return 0, nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return typ, b, nil
}

// bufferedMsg reports whether a whole message waits in r's buffer, so it
// can be read without blocking.
func bufferedMsg(r *bufio.Reader) bool {
	if r.Buffered() < DataPathHeaderSize {
		return false
	}
	h, err := r.Peek(DataPathHeaderSize)
	if err != nil {
		return false
	}
	n := int(binary.BigEndian.Uint16(h[2:]))
	return r.Buffered() >= DataPathHeaderSize+n
}

// CheckDataPathFrame validates a frame received over the data path before
// it enters a fabric: its length (at least an LRH and a VCRC, at most
// wire.MaxPacketSize, and what LRH.PktLen says), the LRH (link version 0,
// a next header that is not reserved) and its CRCs (VCRC, and the ICRC of
// a packet with a transport header), as a receiving port checks them (IBTA
// Vol 1 §7.7, §7.8).
func CheckDataPathFrame(frame []byte) error {
	if len(frame) < wire.LRHSize+wire.VCRCSize || len(frame) > wire.MaxPacketSize {
		return fmt.Errorf("%w: %d bytes (want %d..%d)", ErrBadFrame, len(frame), wire.LRHSize+wire.VCRCSize, wire.MaxPacketSize)
	}
	lrh := wire.LRH(frame)
	if lrh.LVer() != 0 {
		return fmt.Errorf("%w: lrh link version %d", ErrBadFrame, lrh.LVer())
	}
	if lrh.LNH() == 1 {
		return fmt.Errorf("%w: lrh next header 1 is reserved", ErrBadFrame)
	}
	if err := wire.CheckPacket(frame); err != nil {
		return fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return nil
}

// DataPathHelloMsg is the HELLO payload (DATAPATH.md §3.1).
type DataPathHelloMsg struct {
	// Version is the protocol version the client speaks.
	Version uint16
	// Port is the CA port to attach (0: the node's default port, as for
	// SIM_HOST).
	Port uint8
	// PID is the client's process id, for the server's log (0: unknown).
	PID uint32
	// Node names the node: its topology id, its NodeDescription, either
	// followed by "[port]", or its node or a port GUID as 0x and 16 hex
	// digits.
	Node string
}

const dpHelloFixed = 16

// Encode returns the HELLO payload.
func (h *DataPathHelloMsg) Encode() ([]byte, error) {
	if len(h.Node) == 0 || len(h.Node) > DataPathMaxNodeName || !utf8.ValidString(h.Node) {
		return nil, fmt.Errorf("%w: hello: node name %q (1..%d bytes of UTF-8)", ErrDataPathProtocol, h.Node, DataPathMaxNodeName)
	}
	b := make([]byte, dpHelloFixed, dpHelloFixed+len(h.Node))
	copy(b, DataPathMagic)
	binary.BigEndian.PutUint16(b[8:], h.Version)
	b[10] = h.Port
	binary.BigEndian.PutUint32(b[12:], h.PID)
	return append(b, h.Node...), nil
}

// ParseDataPathHello decodes a HELLO payload. A bad magic or a malformed
// name is an error; the version is returned as sent, for the server to
// judge.
func ParseDataPathHello(b []byte) (DataPathHelloMsg, error) {
	var h DataPathHelloMsg
	if len(b) < dpHelloFixed || string(b[:8]) != DataPathMagic {
		return h, fmt.Errorf("%w: hello: no %q magic", ErrDataPathProtocol, DataPathMagic)
	}
	h.Version = binary.BigEndian.Uint16(b[8:])
	h.Port = b[10]
	if b[11] != 0 {
		return h, fmt.Errorf("%w: hello: reserved byte 11 is %#02x", ErrDataPathProtocol, b[11])
	}
	h.PID = binary.BigEndian.Uint32(b[12:])
	name := b[dpHelloFixed:]
	if len(name) == 0 || len(name) > DataPathMaxNodeName || !utf8.Valid(name) {
		return h, fmt.Errorf("%w: hello: node name of %d bytes (1..%d bytes of UTF-8)", ErrDataPathProtocol, len(name), DataPathMaxNodeName)
	}
	h.Node = string(name)
	return h, nil
}

// DataPathLinkState is the physical link of the attached port: the LINK
// message, and the WELCOME's link record (DATAPATH.md §3.4).
type DataPathLinkState struct {
	// Up: the link is physically up (LinkUp).
	Up bool
	// WidthSupported and WidthEnabled are the port's LinkWidth masks;
	// Width is the active width (0 while down).
	WidthSupported, WidthEnabled uint8
	Width                        wire.LinkWidth
	// SpeedSupported and SpeedEnabled are the port's speed masks (the
	// extended speeds in the high byte); Speed is the active speed (0
	// while down).
	SpeedSupported, SpeedEnabled, Speed wire.LinkSpeed
}

// DataPathLinkSize is the size of an encoded DataPathLinkState.
const DataPathLinkSize = 10

// Encode returns the 10-byte encoding.
func (l *DataPathLinkState) Encode() []byte {
	b := make([]byte, DataPathLinkSize)
	if l.Up {
		b[0] = 1
	}
	b[1], b[2], b[3] = l.WidthSupported, l.WidthEnabled, uint8(l.Width)
	binary.BigEndian.PutUint16(b[4:], uint16(l.SpeedSupported))
	binary.BigEndian.PutUint16(b[6:], uint16(l.SpeedEnabled))
	binary.BigEndian.PutUint16(b[8:], uint16(l.Speed))
	return b
}

// ParseDataPathLink decodes a link state.
func ParseDataPathLink(b []byte) (DataPathLinkState, error) {
	var l DataPathLinkState
	if len(b) != DataPathLinkSize || b[0]&^1 != 0 {
		return l, fmt.Errorf("%w: link state of %d bytes", ErrDataPathProtocol, len(b))
	}
	l.Up = b[0] == 1
	l.WidthSupported, l.WidthEnabled, l.Width = b[1], b[2], wire.LinkWidth(b[3])
	l.SpeedSupported = wire.LinkSpeed(binary.BigEndian.Uint16(b[4:]))
	l.SpeedEnabled = wire.LinkSpeed(binary.BigEndian.Uint16(b[6:]))
	l.Speed = wire.LinkSpeed(binary.BigEndian.Uint16(b[8:]))
	return l, nil
}

// WELCOME record types (DATAPATH.md §3.2).
const (
	dpRecNodeID    = 1 // UTF-8 topology node id
	dpRecProfile   = 2 // UTF-8 HCA profile name
	dpRecNodeInfo  = 3 // NodeInfo, 40 bytes
	dpRecNodeDesc  = 4 // NodeDescription, 64 bytes
	dpRecPortInfo  = 5 // PortInfo of the attached port, 64 bytes
	dpRecPKeys     = 6 // block number (2) + P_KeyTable block (64)
	dpRecGUIDs     = 7 // block number (2) + GUIDInfo block (64)
	dpRecSLtoVL    = 8 // SLtoVLMappingTable, 8 bytes
	dpRecLink      = 9 // DataPathLinkState, 10 bytes
	dpRecPortGUIDs = 10
	dpRecHeader    = 4
	dpWelcomeFixed = 16
)

// DataPathWelcomeMsg is the WELCOME payload: what the client's HCA must
// be to take the server node's place on the port (DATAPATH.md §3.2). The
// SMP attributes are as the node's SMA answers them (IBTA Vol 1 §14.2.5).
type DataPathWelcomeMsg struct {
	// Version is the protocol version of the session.
	Version uint16
	// Port is the attached port; NumPorts the node's port count.
	Port, NumPorts uint8
	// NodeID is the node's id in the topology; Profile its HCA model.
	NodeID, Profile string
	// NodeInfo, NodeDescription and PortInfo are the SMP attributes of
	// the node and the attached port.
	NodeInfo, NodeDescription, PortInfo []byte
	// PortGUIDs are the GUIDs of ports 1..NumPorts.
	PortGUIDs []wire.GUID
	// PKeyBlocks and GUIDBlocks are the port's P_KeyTable and GUIDInfo,
	// 64-byte blocks from block 0.
	PKeyBlocks, GUIDBlocks [][]byte
	// SLtoVL is the port's SLtoVLMappingTable (8 bytes).
	SLtoVL []byte
	// Link is the port's physical link.
	Link DataPathLinkState
}

// Encode returns the WELCOME payload.
func (w *DataPathWelcomeMsg) Encode() ([]byte, error) {
	b := make([]byte, dpWelcomeFixed, 1024)
	copy(b, DataPathMagic)
	binary.BigEndian.PutUint16(b[8:], w.Version)
	b[10], b[11] = w.Port, w.NumPorts
	rec := func(typ uint8, parts ...[]byte) {
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		b = append(b, typ, 0, byte(n>>8), byte(n))
		for _, p := range parts {
			b = append(b, p...)
		}
	}
	block := func(i int) []byte { return []byte{byte(i >> 8), byte(i)} }
	rec(dpRecNodeID, []byte(w.NodeID))
	rec(dpRecProfile, []byte(w.Profile))
	rec(dpRecNodeInfo, w.NodeInfo)
	rec(dpRecNodeDesc, w.NodeDescription)
	rec(dpRecPortInfo, w.PortInfo)
	guids := make([]byte, 8*len(w.PortGUIDs))
	for i, g := range w.PortGUIDs {
		binary.BigEndian.PutUint64(guids[8*i:], uint64(g))
	}
	rec(dpRecPortGUIDs, guids)
	for i, p := range w.PKeyBlocks {
		rec(dpRecPKeys, block(i), p)
	}
	for i, g := range w.GUIDBlocks {
		rec(dpRecGUIDs, block(i), g)
	}
	rec(dpRecSLtoVL, w.SLtoVL)
	rec(dpRecLink, w.Link.Encode())
	if len(b) > DataPathMaxPayload {
		return nil, fmt.Errorf("%w: welcome of %d bytes exceeds %d", ErrDataPathProtocol, len(b), DataPathMaxPayload)
	}
	return b, nil
}

// ParseDataPathWelcome decodes a WELCOME payload. Records of unknown type
// are skipped (a later version may add some); the records every session
// needs (node id, profile, NodeInfo, NodeDescription, PortInfo, link) must
// be present and of the right size, and block records must come in order.
func ParseDataPathWelcome(b []byte) (DataPathWelcomeMsg, error) {
	var w DataPathWelcomeMsg
	bad := func(format string, a ...any) (DataPathWelcomeMsg, error) {
		return DataPathWelcomeMsg{}, fmt.Errorf("%w: welcome: %s", ErrDataPathProtocol, fmt.Sprintf(format, a...))
	}
	if len(b) < dpWelcomeFixed || string(b[:8]) != DataPathMagic {
		return bad("no %q magic", DataPathMagic)
	}
	w.Version = binary.BigEndian.Uint16(b[8:])
	w.Port, w.NumPorts = b[10], b[11]
	if w.Port == 0 || w.NumPorts == 0 || w.Port > w.NumPorts {
		return bad("port %d of %d", w.Port, w.NumPorts)
	}
	seen := map[uint8]bool{}
	for rest := b[dpWelcomeFixed:]; len(rest) > 0; {
		if len(rest) < dpRecHeader {
			return bad("%d trailing bytes", len(rest))
		}
		typ, n := rest[0], int(binary.BigEndian.Uint16(rest[2:]))
		if rest[1] != 0 {
			return bad("record %d with reserved byte %#02x", typ, rest[1])
		}
		if len(rest) < dpRecHeader+n {
			return bad("record %d of %d bytes, %d left", typ, n, len(rest)-dpRecHeader)
		}
		v := rest[dpRecHeader : dpRecHeader+n]
		rest = rest[dpRecHeader+n:]
		want := map[uint8]int{dpRecNodeInfo: wire.NodeInfoSize, dpRecNodeDesc: wire.NodeDescriptionSize,
			dpRecPortInfo: wire.PortInfoSize, dpRecPKeys: 2 + wire.PKeyTableSize, dpRecGUIDs: 2 + wire.GUIDInfoSize,
			dpRecSLtoVL: wire.SLtoVLMappingTableSize, dpRecLink: DataPathLinkSize}
		if sz, ok := want[typ]; ok && n != sz {
			return bad("record %d of %d bytes, want %d", typ, n, sz)
		}
		if seen[typ] && typ != dpRecPKeys && typ != dpRecGUIDs {
			return bad("record %d twice", typ)
		}
		seen[typ] = true
		switch typ {
		case dpRecNodeID, dpRecProfile:
			if n == 0 || n > DataPathMaxNodeName || !utf8.Valid(v) {
				return bad("record %d: %d bytes of text", typ, n)
			}
			if typ == dpRecNodeID {
				w.NodeID = string(v)
			} else {
				w.Profile = string(v)
			}
		case dpRecNodeInfo:
			w.NodeInfo = append([]byte(nil), v...)
		case dpRecNodeDesc:
			w.NodeDescription = append([]byte(nil), v...)
		case dpRecPortInfo:
			w.PortInfo = append([]byte(nil), v...)
		case dpRecPortGUIDs:
			if n != 8*int(w.NumPorts) {
				return bad("%d bytes of port guids for %d ports", n, w.NumPorts)
			}
			for i := 0; i < n; i += 8 {
				w.PortGUIDs = append(w.PortGUIDs, wire.GUID(binary.BigEndian.Uint64(v[i:])))
			}
		case dpRecPKeys, dpRecGUIDs:
			blocks := &w.PKeyBlocks
			if typ == dpRecGUIDs {
				blocks = &w.GUIDBlocks
			}
			if i := int(binary.BigEndian.Uint16(v)); i != len(*blocks) || i >= 2048 {
				return bad("record %d: block %d out of order", typ, i)
			}
			*blocks = append(*blocks, append([]byte(nil), v[2:]...))
		case dpRecSLtoVL:
			w.SLtoVL = append([]byte(nil), v...)
		case dpRecLink:
			l, err := ParseDataPathLink(v)
			if err != nil {
				return DataPathWelcomeMsg{}, err
			}
			w.Link = l
		}
	}
	for _, typ := range []uint8{dpRecNodeID, dpRecProfile, dpRecNodeInfo, dpRecNodeDesc, dpRecPortInfo, dpRecPortGUIDs, dpRecLink} {
		if !seen[typ] {
			return bad("record %d missing", typ)
		}
	}
	if wire.NodeInfo(w.NodeInfo).NodeType() != wire.NodeTypeCA || int(wire.NodeInfo(w.NodeInfo).NumPorts()) != int(w.NumPorts) {
		return bad("nodeinfo of a %s with %d ports", wire.NodeInfo(w.NodeInfo).NodeType(), wire.NodeInfo(w.NodeInfo).NumPorts())
	}
	return w, nil
}

// DataPathRefuseMsg is the REFUSE payload: a code and a reason.
type DataPathRefuseMsg struct {
	Code   DataPathRefuseCode
	Reason string
}

// Encode returns the REFUSE payload (the reason cut to 1024 bytes).
func (r *DataPathRefuseMsg) Encode() []byte {
	reason := r.Reason
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	b := []byte{byte(r.Code >> 8), byte(r.Code)}
	return append(b, reason...)
}

// ParseDataPathRefuse decodes a REFUSE payload.
func ParseDataPathRefuse(b []byte) (DataPathRefuseMsg, error) {
	if len(b) < 2 {
		return DataPathRefuseMsg{}, fmt.Errorf("%w: refuse of %d bytes", ErrDataPathProtocol, len(b))
	}
	return DataPathRefuseMsg{Code: DataPathRefuseCode(binary.BigEndian.Uint16(b)), Reason: string(b[2:])}, nil
}

// Error describes the refusal as an error wrapping ErrDataPathRefused.
func (r *DataPathRefuseMsg) Error() error {
	return fmt.Errorf("%w (%s): %s", ErrDataPathRefused, r.Code, r.Reason)
}
