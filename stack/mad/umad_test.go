package mad

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// The numbers below are what the kernel header's macros give on the
// asm-generic ioctl encoding: dir<<30 | size<<16 | type<<8 | nr.
func TestUmadIoctlNumbers(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint32
	}{
		{"IB_USER_MAD_REGISTER_AGENT", UmadIoctlRegisterAgent, 0xC01C1B01},
		{"IB_USER_MAD_UNREGISTER_AGENT", UmadIoctlUnregisterAgent, 0x40041B02},
		{"IB_USER_MAD_ENABLE_PKEY", UmadIoctlEnablePKey, 0x00001B03},
		{"IB_USER_MAD_REGISTER_AGENT2", UmadIoctlRegisterAgent2, 0xC0281B04},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#08x, want %#08x", c.name, c.got, c.want)
		}
	}
	if UmadRegReqSize != 28 || UmadRegReq2Size != 40 || UmadHdrSize != 64 || UmadHdrOldSize != 56 {
		t.Errorf("struct sizes %d %d %d %d, want 28 40 64 56", UmadRegReqSize, UmadRegReq2Size, UmadHdrSize, UmadHdrOldSize)
	}
}

// littleEndianHost reports the host byte order, which the ABI's __u16
// and __u32 fields follow.
func littleEndianHost() bool {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	return b[0] == 1
}

// hostBytes writes v as n host-endian bytes, by hand.
func hostBytes(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := range n {
		b[i] = byte(v >> (8 * i))
	}
	if !littleEndianHost() {
		for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var utGID = wire.GID{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x00, 0x02, 0xc9, 0x03, 0x00, 0x00, 0x12, 0x34}

// utHdrBytes is struct ib_user_mad_hdr for utHdrFields, field by field.
func utHdrBytes() []byte {
	return cat(
		hostBytes(7, 4),          // id
		hostBytes(110, 4),        // status
		hostBytes(1000, 4),       // timeout_ms
		hostBytes(2, 4),          // retries
		hostBytes(64+256, 4),     // length
		[]byte{0, 0, 0, 1},       // qpn, big-endian
		[]byte{0x80, 1, 0, 0},    // qkey
		[]byte{0x12, 0x34},       // lid
		[]byte{5, 3, 1, 2, 9, 7}, // sl path_bits grh_present gid_index hop_limit traffic_class
		utGID[:],
		[]byte{0x00, 0x0a, 0xbc, 0xde}, // flow_label
		hostBytes(3, 2),                // pkey_index
		make([]byte, 6),                // reserved
	)
}

var utHdrFields = UmadHdrFields{ID: 7, Status: 110, TimeoutMS: 1000, Retries: 2, Length: 64 + 256, QPN: 1,
	QKey: GSIQKey, LID: 0x1234, SL: 5, PathBits: 3, GRHPresent: true, GIDIndex: 2, HopLimit: 9, TrafficClass: 7,
	GID: utGID, FlowLabel: 0xabcde, PKeyIndex: 3}

func TestUmadHdrLayout(t *testing.T) {
	want := utHdrBytes()
	if len(want) != UmadHdrSize {
		t.Fatalf("reference header is %d bytes", len(want))
	}
	h := UmadHdr(bytes.Repeat([]byte{0xEE}, UmadHdrSize))
	h.Encode(&utHdrFields)
	if !bytes.Equal(h, want) {
		t.Fatalf("Encode:\n got %x\nwant %x", []byte(h), want)
	}
	p, err := ParseUmadHdr(append(want, make([]byte, 256)...), UmadHdrSize)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Fields(); got != utHdrFields {
		t.Fatalf("Fields = %+v, want %+v", got, utHdrFields)
	}

	// The old layout is the same 56 bytes without pkey_index.
	old := UmadHdr(make([]byte, UmadHdrOldSize))
	old.Encode(&utHdrFields)
	if !bytes.Equal(old, want[:UmadHdrOldSize]) || !old.Old() {
		t.Fatalf("old Encode:\n got %x\nwant %x", []byte(old), want[:UmadHdrOldSize])
	}
	f := utHdrFields
	f.PKeyIndex = 0
	if p, err := ParseUmadHdr(want, UmadHdrOldSize); err != nil || p.Fields() != f {
		t.Fatalf("old Fields = %+v, %v", p.Fields(), err)
	}

	if _, err := ParseUmadHdr(want[:63], UmadHdrSize); !errors.Is(err, ErrUmadHdr) {
		t.Errorf("short header: %v", err)
	}
	if _, err := ParseUmadHdr(want, 60); err == nil {
		t.Errorf("header size 60 accepted")
	}
}

func TestUmadRegReqLayout(t *testing.T) {
	r := UmadRegReq{QPN: 1, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: 2,
		Methods: []wire.Method{wire.MethodGet, wire.MethodSet, wire.MethodGetTable, 0x7F},
		OUI:     [3]byte{0x00, 0x14, 0x05}, RMPPVersion: 1}
	// Bits 1, 2, 18 and 127 of a 128-bit host bitmap.
	lo, hi := uint64(1<<1|1<<2|1<<18), uint64(1<<63)
	v1, err := EncodeUmadRegReq(&r)
	if err != nil {
		t.Fatal(err)
	}
	var mask1 []byte
	if strconv.IntSize == 64 {
		mask1 = cat(hostBytes(lo, 8), hostBytes(hi, 8))
	} else {
		mask1 = cat(hostBytes(lo&0xFFFFFFFF, 4), hostBytes(lo>>32, 4), hostBytes(hi&0xFFFFFFFF, 4), hostBytes(hi>>32, 4))
	}
	want1 := cat(make([]byte, 4), mask1, []byte{1, 0x03, 2, 0x00, 0x14, 0x05, 1, 0})
	if !bytes.Equal(v1, want1) {
		t.Errorf("reg_req:\n got %x\nwant %x", v1, want1)
	}
	v2, err := EncodeUmadRegReq2(&r)
	if err != nil {
		t.Fatal(err)
	}
	want2 := cat(make([]byte, 4), hostBytes(1, 4), []byte{0x03, 2, 0, 0}, make([]byte, 4),
		hostBytes(lo, 8), hostBytes(hi, 8), hostBytes(0x001405, 4), []byte{1, 0, 0, 0})
	if !bytes.Equal(v2, want2) {
		t.Errorf("reg_req2:\n got %x\nwant %x", v2, want2)
	}
	copy(v2, hostBytes(17, 4))
	if id, err := UmadRegReqID(v2); err != nil || id != 17 {
		t.Errorf("UmadRegReqID = %d, %v", id, err)
	}
	r.Methods = []wire.Method{0x81}
	if _, err := EncodeUmadRegReq2(&r); err == nil {
		t.Errorf("method 0x81 accepted")
	}
}

// utPort describes one port of a fake sysfs tree.
type utPort struct {
	umad      int
	ca        string
	port      int
	lid       string
	state     string
	phys      string
	gid       string
	linkLayer string
	pkeys     []string
}

// writeSysfs builds a fake sysfs tree (and /dev/infiniband) under root.
func writeSysfs(t *testing.T, root, abi string, ports ...utPort) {
	t.Helper()
	put := func(path, content string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("sys/class/infiniband_mad/abi_version", abi)
	for _, p := range ports {
		mad := filepath.Join("sys/class/infiniband_mad", "umad"+strconv.Itoa(p.umad))
		put(filepath.Join(mad, "ibdev"), p.ca)
		put(filepath.Join(mad, "port"), strconv.Itoa(p.port))
		put(filepath.Join("dev/infiniband", "umad"+strconv.Itoa(p.umad)), "")
		ca := filepath.Join("sys/class/infiniband", p.ca)
		put(filepath.Join(ca, "node_guid"), "0002:c903:0000:1230")
		put(filepath.Join(ca, "node_type"), "1: CA")
		dir := filepath.Join(ca, "ports", strconv.Itoa(p.port))
		put(filepath.Join(dir, "lid"), p.lid)
		put(filepath.Join(dir, "sm_lid"), "0x1")
		put(filepath.Join(dir, "sm_sl"), "0")
		put(filepath.Join(dir, "lid_mask_count"), "0")
		put(filepath.Join(dir, "state"), p.state)
		put(filepath.Join(dir, "phys_state"), p.phys)
		put(filepath.Join(dir, "cap_mask"), "0x02510868")
		put(filepath.Join(dir, "rate"), "40 Gb/sec (4X QDR)")
		if p.linkLayer != "" {
			put(filepath.Join(dir, "link_layer"), p.linkLayer)
		}
		put(filepath.Join(dir, "gids", "0"), p.gid)
		for i, k := range p.pkeys {
			put(filepath.Join(dir, "pkeys", strconv.Itoa(i)), k)
		}
	}
}

// utFabric is two CAs: mlx4_0 with port 1 down and port 2 active, and
// mlx4_1 with port 1 active; a RoCE device roce0 comes first by name.
func utFabric(t *testing.T, abi string) string {
	root := t.TempDir()
	writeSysfs(t, root, abi,
		utPort{umad: 0, ca: "mlx4_0", port: 1, lid: "0x0", state: "1: DOWN", phys: "2: Polling",
			gid: "fe80:0000:0000:0000:0002:c903:0000:1231", linkLayer: "InfiniBand", pkeys: []string{"0xffff"}},
		utPort{umad: 1, ca: "mlx4_0", port: 2, lid: "0x1b", state: "4: ACTIVE", phys: "5: LinkUp",
			gid: "fe80:0000:0000:0000:0002:c903:0000:1232", pkeys: []string{"0xffff", "0x8001", "0x0002"}},
		utPort{umad: 2, ca: "mlx4_1", port: 1, lid: "0x2c", state: "4: ACTIVE", phys: "5: LinkUp",
			gid: "fe80:0000:0000:0000:0002:c903:0000:2221", linkLayer: "InfiniBand", pkeys: []string{"0xffff"}},
		utPort{umad: 10, ca: "roce0", port: 1, lid: "0x0", state: "4: ACTIVE", phys: "5: LinkUp",
			gid: "fe80:0000:0000:0000:0202:c9ff:fe00:0001", linkLayer: "Ethernet", pkeys: []string{"0xffff"}},
	)
	return root
}

func TestUmadSysfsLookup(t *testing.T) {
	s := UmadSysfs{Root: utFabric(t, "5")}
	if v, err := s.ABIVersion(); err != nil || v != 5 {
		t.Fatalf("ABIVersion = %d, %v", v, err)
	}
	ports, err := s.Ports()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ports {
		names = append(names, p.Device)
	}
	if got := filepath.Join(names...); got != filepath.Join("umad0", "umad1", "umad2", "umad10") {
		t.Errorf("Ports order %v", names)
	}
	p := ports[1]
	want := UmadPort{Device: "umad1", Path: filepath.Join(s.Root, "dev/infiniband/umad1"), CA: "mlx4_0", Port: 2,
		NodeGUID: 0x0002c90300001230, GIDPrefix: 0xfe80000000000000, PortGUID: 0x0002c90300001232, LID: 0x1b,
		SMLID: 1, State: 4, PhysState: 5, CapMask: 0x02510868, LinkLayer: "InfiniBand", sysDir: p.sysDir}
	if p != want {
		t.Errorf("port:\n got %+v\nwant %+v", p, want)
	}

	for _, c := range []struct {
		ca   string
		port int
		want string
	}{
		{"mlx4_0", 1, "umad0"}, // given explicitly: even when down
		{"mlx4_0", 0, "umad1"}, // the active port of the CA
		{"", 0, "umad1"},       // the first CA with an active port
		{"mlx4_1", 0, "umad2"},
		{"", 1, "umad2"}, // port 1 of any CA: mlx4_1's is active
	} {
		got, err := s.Lookup(c.ca, c.port)
		if err != nil || got.Device != c.want {
			t.Errorf("Lookup(%q, %d) = %s, %v; want %s", c.ca, c.port, got.Device, err, c.want)
		}
	}
	for _, c := range []struct {
		ca   string
		port int
	}{{"mlx4_0", 3}, {"mlx5_0", 0}, {"roce0", 1}, {"mlx4_0", -1}} {
		if _, err := s.Lookup(c.ca, c.port); !errors.Is(err, ErrNoUmadPort) {
			t.Errorf("Lookup(%q, %d) = %v, want ErrNoUmadPort", c.ca, c.port, err)
		}
	}
	if got, err := s.LookupGUID(0x0002c90300002221); err != nil || got.Device != "umad2" {
		t.Errorf("LookupGUID = %s, %v", got.Device, err)
	}
	if _, err := s.LookupGUID(0x1); !errors.Is(err, ErrNoUmadPort) {
		t.Errorf("LookupGUID(1) = %v", err)
	}
	tbl, err := s.PKeys(p)
	if err != nil || len(tbl) != 3 || tbl[0] != 0xffff || tbl[1] != 0x8001 || tbl[2] != 0x0002 {
		t.Errorf("PKeys = %v, %v", tbl, err)
	}

	if _, err := (UmadSysfs{Root: t.TempDir()}).ABIVersion(); err == nil {
		t.Errorf("ABIVersion without ib_umad succeeded")
	}
}

func TestUmadSysfsBadAttributes(t *testing.T) {
	root := t.TempDir()
	writeSysfs(t, root, "5", utPort{umad: 0, ca: "mlx4_0", port: 1, lid: "lots", state: "4: ACTIVE", phys: "5: LinkUp",
		gid: "fe80:0000:0000:0000:0002:c903:0000:1231", pkeys: []string{"0xffff"}})
	if _, err := (UmadSysfs{Root: root}).Ports(); err == nil {
		t.Errorf("lid %q accepted", "lots")
	}
	root = t.TempDir()
	writeSysfs(t, root, "5", utPort{umad: 0, ca: "mlx4_0", port: 1, lid: "1", state: "4: ACTIVE", phys: "5: LinkUp",
		gid: "fe80::1", pkeys: []string{"0xffff"}})
	if _, err := (UmadSysfs{Root: root}).Ports(); err == nil {
		t.Errorf("gid %q accepted", "fe80::1")
	}
}

// FuzzUmadHdr parses arbitrary bytes as a user MAD header of either
// layout: ParseUmadHdr must never panic, and what it accepts must
// re-encode to the same bytes (reserved bytes aside, grh_present
// normalised to 0 or 1).
func FuzzUmadHdr(f *testing.F) {
	f.Add(utHdrBytes(), true)
	f.Add(utHdrBytes()[:UmadHdrOldSize], false)
	f.Add(make([]byte, 10), true)
	f.Add(bytes.Repeat([]byte{0xFF}, 80), false)
	f.Fuzz(func(t *testing.T, b []byte, newLayout bool) {
		size := UmadHdrOldSize
		if newLayout {
			size = UmadHdrSize
		}
		h, err := ParseUmadHdr(b, size)
		if err != nil {
			if len(b) >= size {
				t.Fatalf("%d bytes refused: %v", len(b), err)
			}
			return
		}
		fl := h.Fields()
		out := UmadHdr(make([]byte, size))
		out.Encode(&fl)
		want := bytes.Clone(b[:size])
		if want[umhGRHPresent] != 0 {
			want[umhGRHPresent] = 1
		}
		if size == UmadHdrSize {
			clear(want[umhPKeyIndex+2:])
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("re-encoded:\n got %x\nwant %x", []byte(out), want)
		}
		if out.Fields() != fl {
			t.Fatalf("fields changed: %+v != %+v", out.Fields(), fl)
		}
	})
}
