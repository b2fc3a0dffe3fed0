package mad

// This file holds the portable half of the Linux umad transport: the byte
// layouts of the kernel's user MAD ABI (include/uapi/rdma/ib_user_mad.h,
// ABI version 5, Documentation/infiniband/user_mad.rst), the ioctl
// request numbers, and the sysfs lookup that maps a CA name and port, or a
// port GUID, to its /dev/infiniband/umadN device the way libibumad does.
// The transport itself is in umad_linux.go.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ibemu/ibemu/emu/wire"
)

// Sizes and limits of the user MAD ABI (include/uapi/rdma/ib_user_mad.h).
const (
	// UmadABIVersion is the ABI version this transport speaks;
	// /sys/class/infiniband_mad/abi_version must be at least this.
	UmadABIVersion = 5
	// UmadHdrSize is the size of struct ib_user_mad_hdr, the header in
	// front of every MAD read from or written to a umad device once
	// IB_USER_MAD_ENABLE_PKEY (or IB_USER_MAD_REGISTER_AGENT2) was used.
	UmadHdrSize = 64
	// UmadHdrOldSize is the size of struct ib_user_mad_hdr_old, the
	// header of a file that never enabled P_Key indexes: the same fields
	// without pkey_index and the reserved tail.
	UmadHdrOldSize = 56
	// UmadMaxAgents is the number of agents one open umad file can
	// register (IB_UMAD_MAX_AGENTS); agent IDs are 0..UmadMaxAgents-1.
	UmadMaxAgents = 32
	// UmadRegReqSize is the size of struct ib_user_mad_reg_req (27 bytes
	// of fields padded to the 4-byte alignment of its method mask).
	UmadRegReqSize = 28
	// UmadRegReq2Size is the size of struct ib_user_mad_reg_req2.
	UmadRegReq2Size = 40
	// UmadIoctlMagic is IB_IOCTL_MAGIC, the type byte of every umad ioctl.
	UmadIoctlMagic = 0x1b
)

// Linux ioctl request encoding (include/uapi/asm-generic/ioctl.h, used by
// x86, arm64, riscv and most other ports): 8 bits of number, 8 bits of
// type, 14 bits of argument size and 2 bits of direction, low to high.
const (
	iocNRShift   = 0
	iocTypeShift = 8
	iocSizeShift = 16
	iocDirShift  = 30
	iocNone      = 0
	iocWrite     = 1
	iocRead      = 2
	iocSizeMask  = 1<<14 - 1
)

func ioc(dir, typ, nr, size uint32) uint32 {
	return dir<<iocDirShift | (size&iocSizeMask)<<iocSizeShift | typ<<iocTypeShift | nr<<iocNRShift
}

// The umad ioctl requests, computed as the kernel header defines them.
var (
	// UmadIoctlRegisterAgent is IB_USER_MAD_REGISTER_AGENT,
	// _IOWR(0x1b, 1, struct ib_user_mad_reg_req).
	UmadIoctlRegisterAgent = ioc(iocRead|iocWrite, UmadIoctlMagic, 1, UmadRegReqSize)
	// UmadIoctlUnregisterAgent is IB_USER_MAD_UNREGISTER_AGENT,
	// _IOW(0x1b, 2, __u32).
	UmadIoctlUnregisterAgent = ioc(iocWrite, UmadIoctlMagic, 2, 4)
	// UmadIoctlEnablePKey is IB_USER_MAD_ENABLE_PKEY, _IO(0x1b, 3).
	UmadIoctlEnablePKey = ioc(iocNone, UmadIoctlMagic, 3, 0)
	// UmadIoctlRegisterAgent2 is IB_USER_MAD_REGISTER_AGENT2,
	// _IOWR(0x1b, 4, struct ib_user_mad_reg_req2).
	UmadIoctlRegisterAgent2 = ioc(iocRead|iocWrite, UmadIoctlMagic, 4, UmadRegReq2Size)
)

// hostOrder is the byte order of the ABI's host-endian (__u16, __u32,
// __u64) fields.
var hostOrder = binary.NativeEndian

// Offsets in struct ib_user_mad_hdr.
const (
	umhID           = 0  // __u32 agent ID
	umhStatus       = 4  // __u32 errno of a failed send (ETIMEDOUT)
	umhTimeoutMS    = 8  // __u32
	umhRetries      = 12 // __u32
	umhLength       = 16 // __u32 header plus MAD, on receive
	umhQPN          = 20 // __be32
	umhQKey         = 24 // __be32
	umhLID          = 28 // __be16
	umhSL           = 30
	umhPathBits     = 31
	umhGRHPresent   = 32
	umhGIDIndex     = 33
	umhHopLimit     = 34
	umhTrafficClass = 35
	umhGID          = 36 // 16 bytes, network order
	umhFlowLabel    = 52 // __be32
	umhPKeyIndex    = 56 // __u16, new layout only
)

// ErrUmadHdr reports bytes too short for a user MAD header.
var ErrUmadHdr = errors.New("mad: umad header too short")

// UmadHdr is a byte view of struct ib_user_mad_hdr (64 bytes) or, when
// the view is shorter than that, struct ib_user_mad_hdr_old (56 bytes),
// the header in front of every MAD on a umad device. The agent ID,
// status, timeout, retries, length and P_Key index are host-endian; the
// address fields (QPN, Q_Key, LID, flow label) are big-endian and the GID
// is in network order, as the kernel header declares them.
//
//	 0 id            4 status        8 timeout_ms   12 retries
//	16 length       20 qpn (be)     24 qkey (be)   28 lid (be) sl path_bits
//	32 grh_present gid_index hop_limit traffic_class
//	36 gid[16]      52 flow_label (be)
//	56 pkey_index   58 reserved[6]
//
// Use ParseUmadHdr to check the length first; the accessors assume a
// whole header.
type UmadHdr []byte

// UmadHdrFields holds every field of a UmadHdr for Encode.
type UmadHdrFields struct {
	// ID is the agent ID (from registration) the MAD is sent with or was
	// received for.
	ID uint32
	// Status is 0 for a received MAD, or the errno (ETIMEDOUT) of a send
	// the kernel gave up on; ignored on send.
	Status uint32
	// TimeoutMS is how long the kernel waits for a response to a request
	// (0: it tracks none); Retries is how many times it resends first.
	TimeoutMS uint32
	Retries   uint32
	// Length is the header plus the MAD on receive; on ENOSPC it is the
	// size of buffer needed. Ignored on send.
	Length uint32
	// QPN, QKey, LID, SL and PathBits address the remote end.
	QPN      uint32
	QKey     uint32
	LID      wire.LID
	SL       uint8
	PathBits uint8
	// GRHPresent says the GRH fields are valid.
	GRHPresent   bool
	GIDIndex     uint8
	HopLimit     uint8
	TrafficClass uint8
	GID          wire.GID
	FlowLabel    uint32
	// PKeyIndex indexes the local port's P_Key table (new layout only).
	PKeyIndex uint16
}

// ParseUmadHdr returns the header of a record read from a umad device
// whose header is size bytes (UmadHdrSize or UmadHdrOldSize).
func ParseUmadHdr(b []byte, size int) (UmadHdr, error) {
	if size != UmadHdrSize && size != UmadHdrOldSize {
		return nil, fmt.Errorf("mad: umad header size %d: want %d or %d", size, UmadHdrSize, UmadHdrOldSize)
	}
	if len(b) < size {
		return nil, fmt.Errorf("mad: %d bytes, need %d: %w", len(b), size, ErrUmadHdr)
	}
	return UmadHdr(b[:size:size]), nil
}

// Old reports whether h is the old layout, without pkey_index.
func (h UmadHdr) Old() bool { return len(h) < UmadHdrSize }

// ID returns the agent ID.
func (h UmadHdr) ID() uint32 { return hostOrder.Uint32(h[umhID:]) }

// SetID sets the agent ID.
func (h UmadHdr) SetID(v uint32) { hostOrder.PutUint32(h[umhID:], v) }

// Status returns the status: 0 or an errno such as ETIMEDOUT.
func (h UmadHdr) Status() uint32 { return hostOrder.Uint32(h[umhStatus:]) }

// TimeoutMS returns timeout_ms.
func (h UmadHdr) TimeoutMS() uint32 { return hostOrder.Uint32(h[umhTimeoutMS:]) }

// Retries returns retries.
func (h UmadHdr) Retries() uint32 { return hostOrder.Uint32(h[umhRetries:]) }

// Length returns length: the header plus the MAD of a received record.
func (h UmadHdr) Length() uint32 { return hostOrder.Uint32(h[umhLength:]) }

// QPN returns the remote QP number.
func (h UmadHdr) QPN() uint32 { return binary.BigEndian.Uint32(h[umhQPN:]) }

// QKey returns the remote Q_Key.
func (h UmadHdr) QKey() uint32 { return binary.BigEndian.Uint32(h[umhQKey:]) }

// LID returns the remote LID.
func (h UmadHdr) LID() wire.LID { return wire.LID(binary.BigEndian.Uint16(h[umhLID:])) }

// SL returns the service level.
func (h UmadHdr) SL() uint8 { return h[umhSL] }

// PathBits returns the local path bits.
func (h UmadHdr) PathBits() uint8 { return h[umhPathBits] }

// GRHPresent reports whether a GRH was received or is to be sent.
func (h UmadHdr) GRHPresent() bool { return h[umhGRHPresent] != 0 }

// GIDIndex returns the local GID index.
func (h UmadHdr) GIDIndex() uint8 { return h[umhGIDIndex] }

// HopLimit returns the GRH hop limit.
func (h UmadHdr) HopLimit() uint8 { return h[umhHopLimit] }

// TrafficClass returns the GRH traffic class.
func (h UmadHdr) TrafficClass() uint8 { return h[umhTrafficClass] }

// GID returns the remote GID.
func (h UmadHdr) GID() wire.GID { return wire.GID(h[umhGID : umhGID+16]) }

// FlowLabel returns the GRH flow label.
func (h UmadHdr) FlowLabel() uint32 { return binary.BigEndian.Uint32(h[umhFlowLabel:]) }

// PKeyIndex returns the P_Key index; 0 in the old layout.
func (h UmadHdr) PKeyIndex() uint16 {
	if h.Old() {
		return 0
	}
	return hostOrder.Uint16(h[umhPKeyIndex:])
}

// Fields returns every field of h.
func (h UmadHdr) Fields() UmadHdrFields {
	return UmadHdrFields{ID: h.ID(), Status: h.Status(), TimeoutMS: h.TimeoutMS(), Retries: h.Retries(),
		Length: h.Length(), QPN: h.QPN(), QKey: h.QKey(), LID: h.LID(), SL: h.SL(), PathBits: h.PathBits(),
		GRHPresent: h.GRHPresent(), GIDIndex: h.GIDIndex(), HopLimit: h.HopLimit(), TrafficClass: h.TrafficClass(),
		GID: h.GID(), FlowLabel: h.FlowLabel(), PKeyIndex: h.PKeyIndex()}
}

// Encode writes f into h, zeroing the reserved bytes. The old layout
// drops PKeyIndex.
func (h UmadHdr) Encode(f *UmadHdrFields) {
	clear(h)
	hostOrder.PutUint32(h[umhID:], f.ID)
	hostOrder.PutUint32(h[umhStatus:], f.Status)
	hostOrder.PutUint32(h[umhTimeoutMS:], f.TimeoutMS)
	hostOrder.PutUint32(h[umhRetries:], f.Retries)
	hostOrder.PutUint32(h[umhLength:], f.Length)
	binary.BigEndian.PutUint32(h[umhQPN:], f.QPN)
	binary.BigEndian.PutUint32(h[umhQKey:], f.QKey)
	binary.BigEndian.PutUint16(h[umhLID:], uint16(f.LID))
	h[umhSL] = f.SL
	h[umhPathBits] = f.PathBits
	if f.GRHPresent {
		h[umhGRHPresent] = 1
	}
	h[umhGIDIndex] = f.GIDIndex
	h[umhHopLimit] = f.HopLimit
	h[umhTrafficClass] = f.TrafficClass
	copy(h[umhGID:umhGID+16], f.GID[:])
	binary.BigEndian.PutUint32(h[umhFlowLabel:], f.FlowLabel)
	if !h.Old() {
		hostOrder.PutUint16(h[umhPKeyIndex:], f.PKeyIndex)
	}
}

// UmadRegReq is the content of a registration request, which
// EncodeUmadRegReq and EncodeUmadRegReq2 lay out for the kernel.
type UmadRegReq struct {
	// QPN is 0 (SMI) or 1 (GSI).
	QPN uint8
	// MgmtClass and ClassVersion select the unsolicited MADs; a zero
	// class registers a send-only agent.
	MgmtClass    wire.MgmtClass
	ClassVersion uint8
	// Methods are the unsolicited methods delivered (bits of the 128-bit
	// method mask).
	Methods []wire.Method
	// OUI is the organisation of a vendor range 2 class.
	OUI [3]byte
	// RMPPVersion 1 has the kernel segment and reassemble RMPP.
	RMPPVersion uint8
}

func (r *UmadRegReq) methodMask() ([2]uint64, error) {
	var m [2]uint64
	for _, x := range r.Methods {
		if x >= 128 {
			return m, fmt.Errorf("mad: umad register: method 0x%02x is outside the 128-bit method mask", uint8(x))
		}
		m[x/64] |= 1 << (x % 64)
	}
	return m, nil
}

// EncodeUmadRegReq returns struct ib_user_mad_reg_req for r
// (IB_USER_MAD_REGISTER_AGENT): id (filled by the kernel), a 128-bit
// method mask made of host longs (two 64-bit words on a 64-bit host, four
// 32-bit words on a 32-bit one: the same bits either way), qpn,
// mgmt_class, mgmt_class_version, oui[3] and rmpp_version.
func EncodeUmadRegReq(r *UmadRegReq) ([]byte, error) {
	mask, err := r.methodMask()
	if err != nil {
		return nil, err
	}
	b := make([]byte, UmadRegReqSize)
	if strconv.IntSize == 64 {
		hostOrder.PutUint64(b[4:], mask[0])
		hostOrder.PutUint64(b[12:], mask[1])
	} else {
		for i := range 4 {
			hostOrder.PutUint32(b[4+4*i:], uint32(mask[i/2]>>(32*(i%2))))
		}
	}
	b[20] = r.QPN
	b[21] = uint8(r.MgmtClass)
	b[22] = r.ClassVersion
	copy(b[23:26], r.OUI[:])
	b[26] = r.RMPPVersion
	return b, nil
}

// EncodeUmadRegReq2 returns struct ib_user_mad_reg_req2 for r
// (IB_USER_MAD_REGISTER_AGENT2): id (filled by the kernel), qpn as a u32,
// mgmt_class, mgmt_class_version, res, flags (0), two host u64 method
// mask words, the OUI as a host u32 (oui[0] in bits 16..23) and
// rmpp_version.
func EncodeUmadRegReq2(r *UmadRegReq) ([]byte, error) {
	mask, err := r.methodMask()
	if err != nil {
		return nil, err
	}
	b := make([]byte, UmadRegReq2Size)
	hostOrder.PutUint32(b[4:], uint32(r.QPN))
	b[8] = uint8(r.MgmtClass)
	b[9] = r.ClassVersion
	hostOrder.PutUint64(b[16:], mask[0])
	hostOrder.PutUint64(b[24:], mask[1])
	hostOrder.PutUint32(b[32:], uint32(r.OUI[0])<<16|uint32(r.OUI[1])<<8|uint32(r.OUI[2]))
	b[36] = r.RMPPVersion
	return b, nil
}

// UmadRegReqID returns the agent ID the kernel wrote into a registration
// request (the first host u32 of both layouts).
func UmadRegReqID(b []byte) (uint32, error) {
	if len(b) < 4 {
		return 0, fmt.Errorf("mad: umad registration request of %d bytes has no id", len(b))
	}
	return hostOrder.Uint32(b), nil
}

// UmadPort is one port's umad device as sysfs describes it
// (/sys/class/infiniband_mad/umadN and /sys/class/infiniband/CA/ports/N).
type UmadPort struct {
	// Device is the umad device name ("umad0") and Path its device file
	// ("/dev/infiniband/umad0", under the lookup's root).
	Device string
	Path   string
	// CA is the device name ("mlx4_0") and Port the port number.
	CA   string
	Port int
	// NodeGUID is the CA's node GUID; GIDPrefix and PortGUID are the two
	// halves of the port's GID 0.
	NodeGUID  wire.GUID
	GIDPrefix uint64
	PortGUID  wire.GUID
	// LID, LMC, SMLID and SMSL are the port's addressing as the SM set it.
	LID   wire.LID
	LMC   uint8
	SMLID wire.LID
	SMSL  uint8
	// State is the PortState (4 Active) and PhysState the
	// PortPhysicalState (5 LinkUp, 3 Disabled), IBTA Vol 1 §14.2.5.6.
	State     uint8
	PhysState uint8
	// CapMask is PortInfo:CapabilityMask.
	CapMask uint32
	// LinkLayer is "InfiniBand" (or "Ethernet" for RoCE, which has no
	// SMI).
	LinkLayer string

	sysDir string
}

// Port states of sysfs "state" and "phys_state" used to pick a port.
const (
	umadPortActive   = 4
	umadPhysLinkUp   = 5
	umadPhysDisabled = 3
)

// IsInfiniBand reports whether the port's link layer is InfiniBand.
func (p UmadPort) IsInfiniBand() bool {
	return p.LinkLayer == "" || p.LinkLayer == "InfiniBand" || p.LinkLayer == "IB"
}

// UmadSysfs finds umad devices through sysfs under Root ("" or "/" on a
// real system; a directory holding sys/ and dev/ in tests).
type UmadSysfs struct {
	Root string
}

func (s UmadSysfs) path(elem ...string) string {
	root := s.Root
	if root == "" {
		root = "/"
	}
	return filepath.Join(append([]string{root}, elem...)...)
}

// ErrNoUmadPort: no umad device matches a lookup.
var ErrNoUmadPort = errors.New("mad: no matching umad port")

// ABIVersion reads /sys/class/infiniband_mad/abi_version.
func (s UmadSysfs) ABIVersion() (int, error) {
	v, err := readSysUint(s.path("sys/class/infiniband_mad/abi_version"))
	if err != nil {
		return 0, fmt.Errorf("mad: umad abi version (is ib_umad loaded?): %w", err)
	}
	return int(v), nil
}

// Ports lists every umad device with its port's attributes, in device
// number order.
func (s UmadSysfs) Ports() ([]UmadPort, error) {
	dir := s.path("sys/class/infiniband_mad")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mad: umad ports: %w", err)
	}
	type numbered struct {
		n int
		p UmadPort
	}
	var out []numbered
	for _, e := range ents {
		name := e.Name()
		num, ok := strings.CutPrefix(name, "umad")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 {
			continue
		}
		p, err := s.port(name)
		if err != nil {
			return nil, err
		}
		out = append(out, numbered{n, p})
	}
	slices.SortFunc(out, func(a, b numbered) int { return a.n - b.n })
	ports := make([]UmadPort, len(out))
	for i, x := range out {
		ports[i] = x.p
	}
	return ports, nil
}

// port reads one umad device's ibdev and port, then the port's
// attributes from the CA's sysfs directory.
func (s UmadSysfs) port(name string) (UmadPort, error) {
	mad := s.path("sys/class/infiniband_mad", name)
	ca, err := readSysString(filepath.Join(mad, "ibdev"))
	if err != nil {
		return UmadPort{}, fmt.Errorf("mad: umad %s: %w", name, err)
	}
	pn, err := readSysUint(filepath.Join(mad, "port"))
	if err != nil {
		return UmadPort{}, fmt.Errorf("mad: umad %s: %w", name, err)
	}
	p := UmadPort{Device: name, Path: s.path("dev/infiniband", name), CA: ca, Port: int(pn)}
	p.sysDir = s.path("sys/class/infiniband", ca, "ports", strconv.Itoa(p.Port))
	if g, err := readSysString(s.path("sys/class/infiniband", ca, "node_guid")); err == nil {
		if v, err := wire.ParseGUID(g); err == nil {
			p.NodeGUID = v
		}
	}
	var lid, smlid, state, phys uint64
	for _, f := range []struct {
		name string
		v    *uint64
	}{{"lid", &lid}, {"sm_lid", &smlid}, {"state", &state}, {"phys_state", &phys}} {
		if *f.v, err = readSysUint(filepath.Join(p.sysDir, f.name)); err != nil {
			return UmadPort{}, fmt.Errorf("mad: umad %s (%s port %d): %w", name, ca, p.Port, err)
		}
	}
	p.LID, p.SMLID, p.State, p.PhysState = wire.LID(lid), wire.LID(smlid), uint8(state), uint8(phys)
	// Optional attributes: older kernels and RoCE ports lack some.
	if v, err := readSysUint(filepath.Join(p.sysDir, "lid_mask_count")); err == nil {
		p.LMC = uint8(v)
	}
	if v, err := readSysUint(filepath.Join(p.sysDir, "sm_sl")); err == nil {
		p.SMSL = uint8(v)
	}
	if v, err := readSysUint(filepath.Join(p.sysDir, "cap_mask")); err == nil {
		p.CapMask = uint32(v)
	}
	if v, err := readSysString(filepath.Join(p.sysDir, "link_layer")); err == nil {
		p.LinkLayer = v
	} else {
		p.LinkLayer = "InfiniBand"
	}
	gid, err := readSysString(filepath.Join(p.sysDir, "gids", "0"))
	if err != nil {
		return UmadPort{}, fmt.Errorf("mad: umad %s (%s port %d): %w", name, ca, p.Port, err)
	}
	g, err := parseSysGID(gid)
	if err != nil {
		return UmadPort{}, fmt.Errorf("mad: umad %s (%s port %d): %w", name, ca, p.Port, err)
	}
	p.GIDPrefix = binary.BigEndian.Uint64(g[:8])
	p.PortGUID = wire.GUID(binary.BigEndian.Uint64(g[8:]))
	return p, nil
}

// Lookup finds the umad device of a port as libibumad's umad_open_port
// resolves it: ca "" means any CA, port 0 any port of it; among the
// candidates an Active port wins, then one whose link is up, then the
// first that is not disabled. A CA and port given explicitly must exist
// and be InfiniBand.
func (s UmadSysfs) Lookup(ca string, port int) (UmadPort, error) {
	if port < 0 {
		return UmadPort{}, fmt.Errorf("mad: umad lookup: port %d: %w", port, ErrNoUmadPort)
	}
	ports, err := s.Ports()
	if err != nil {
		return UmadPort{}, err
	}
	var cands []UmadPort
	for _, p := range ports {
		if (ca == "" || p.CA == ca) && (port == 0 || p.Port == port) {
			cands = append(cands, p)
		}
	}
	if ca != "" && port != 0 {
		if len(cands) == 0 {
			return UmadPort{}, fmt.Errorf("mad: umad lookup %s port %d: %w", ca, port, ErrNoUmadPort)
		}
		if !cands[0].IsInfiniBand() {
			return UmadPort{}, fmt.Errorf("mad: umad lookup %s port %d: link layer %s has no management datagrams: %w",
				ca, port, cands[0].LinkLayer, ErrNoUmadPort)
		}
		return cands[0], nil
	}
	// Stable order: by CA name, then port, as libibumad scans them.
	slices.SortStableFunc(cands, func(a, b UmadPort) int {
		if c := strings.Compare(a.CA, b.CA); c != 0 {
			return c
		}
		return a.Port - b.Port
	})
	for _, pick := range []func(UmadPort) bool{
		func(p UmadPort) bool { return p.State == umadPortActive },
		func(p UmadPort) bool { return p.PhysState == umadPhysLinkUp },
		func(p UmadPort) bool { return p.PhysState != umadPhysDisabled },
	} {
		for _, p := range cands {
			if p.IsInfiniBand() && pick(p) {
				return p, nil
			}
		}
	}
	return UmadPort{}, fmt.Errorf("mad: umad lookup ca %q port %d: %w", ca, port, ErrNoUmadPort)
}

// LookupGUID finds the umad device of the port whose GUID is guid.
func (s UmadSysfs) LookupGUID(guid wire.GUID) (UmadPort, error) {
	ports, err := s.Ports()
	if err != nil {
		return UmadPort{}, err
	}
	for _, p := range ports {
		if p.PortGUID == guid {
			return p, nil
		}
	}
	return UmadPort{}, fmt.Errorf("mad: umad lookup port guid %s: %w", guid, ErrNoUmadPort)
}

// PKeys reads the port's P_Key table (sysfs ports/N/pkeys/0..n-1), in
// index order.
func (s UmadSysfs) PKeys(p UmadPort) ([]wire.PKey, error) {
	dir := p.sysDir
	if dir == "" {
		dir = s.path("sys/class/infiniband", p.CA, "ports", strconv.Itoa(p.Port))
	}
	ents, err := os.ReadDir(filepath.Join(dir, "pkeys"))
	if err != nil {
		return nil, fmt.Errorf("mad: umad %s port %d p_keys: %w", p.CA, p.Port, err)
	}
	var tbl []wire.PKey
	for _, e := range ents {
		i, err := strconv.Atoi(e.Name())
		if err != nil || i < 0 || i > 0xFFFF {
			continue
		}
		v, err := readSysUint(filepath.Join(dir, "pkeys", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("mad: umad %s port %d p_key %d: %w", p.CA, p.Port, i, err)
		}
		if i >= len(tbl) {
			tbl = append(tbl, make([]wire.PKey, i+1-len(tbl))...)
		}
		tbl[i] = wire.PKey(v)
	}
	return tbl, nil
}

// readSysString reads a sysfs attribute without its trailing newline.
func readSysString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// readSysUint reads a number the way libibumad's sys_read_uint does
// (strtoul base 0): "0x1b", "4: ACTIVE" and "40 Gb/sec" give 0x1b, 4 and
// 40.
func readSysUint(path string) (uint64, error) {
	s, err := readSysString(path)
	if err != nil {
		return 0, err
	}
	tok := strings.TrimSpace(s)
	if i := strings.IndexAny(tok, ": \t"); i >= 0 {
		tok = tok[:i]
	}
	v, err := strconv.ParseUint(tok, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("mad: %s: %q is not a number", path, s)
	}
	return v, nil
}

// parseSysGID parses a GID as sysfs prints it: eight groups of four hex
// digits separated by colons.
func parseSysGID(s string) (wire.GID, error) {
	var g wire.GID
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) != 8 {
		return g, fmt.Errorf("mad: gid %q: want 8 colon-separated groups", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 16, 16)
		if err != nil {
			return g, fmt.Errorf("mad: gid %q: %w", s, err)
		}
		binary.BigEndian.PutUint16(g[2*i:], uint16(v))
	}
	return g, nil
}

// UmadOptions configures OpenUmad.
type UmadOptions struct {
	// Root is where sysfs and /dev are found ("" is the real root); tests
	// point it at a fake tree.
	Root string
	// ReportTimeouts changes what happens when the kernel reports that a
	// request got no response within its timeout_ms (a record with status
	// ETIMEDOUT). By default the report is consumed: the agent's own timer,
	// of the same length, retransmits or fails the transaction with
	// ErrTimeout, so Options.Retries holds. With ReportTimeouts the report
	// reaches the agent as a send failure whose error matches both
	// ErrSendFailed and ErrTimeout, failing the transaction at once without
	// retries (libibmad's behaviour with retries 0).
	ReportTimeouts bool

	// openDev opens the device file; tests replace it with a fake kernel.
	openDev func(path string) (umadFile, error)
}

// UmadStats counts what a umad transport did.
type UmadStats struct {
	// Reads and Writes count records read and written; Grown counts the
	// reads retried with a larger buffer after ENOSPC (RMPP messages the
	// kernel reassembled).
	Reads, Writes, Grown uint64
	// KernelTimeouts counts records with status ETIMEDOUT; Deferred the
	// retransmissions held until the kernel reported the earlier send of
	// the same transaction finished (it refuses duplicates meanwhile).
	KernelTimeouts, Deferred uint64
	// Dropped counts records for no registered agent or too short to
	// hold a header.
	Dropped uint64
}

// umadFile is what the transport needs of an open umad device file: the
// real one is an *os.File plus the ioctl system call; tests give a fake
// kernel.
type umadFile interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	// Ioctl issues request req with arg as the argument buffer (nil for
	// none); the kernel may write into arg.
	Ioctl(req uint32, arg []byte) error
	Close() error
}
