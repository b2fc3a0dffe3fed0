package topology

import (
	"fmt"
	"strconv"

	"github.com/ibemu/ibemu/emu/wire"
)

// Identities the generators give their nodes by default: Mellanox
// InfiniScale IV switches (36 ports, QDR) and ConnectX-2 QDR HCAs, the
// hardware of the WinOF 2.2 era.
const (
	MellanoxVendorID      uint32 = 0x0002c9
	DefaultSwitchDeviceID uint16 = 0xbd36 // InfiniScale IV, MT48438
	DefaultHCADeviceID    uint16 = 0x673c // ConnectX-2 QDR, MT26428
)

// Generated GUIDs: the Mellanox OUI in the top 24 bits, then 0x02 for
// switches (switch n, counting from 1, is genSwitchGUID+n) or 0x03 for HCAs
// (HCA n is genHCAGUID + n<<4, its port p that plus p).
const (
	genSwitchGUID wire.GUID = 0x0002c90200000000
	genHCAGUID    wire.GUID = 0x0002c90300000000
)

// GenOption configures a generator.
type GenOption func(*genConfig)

type genConfig struct {
	rate     Rate
	hcaPorts int
	swDev    uint16
	hcaDev   uint16
	lids     bool
}

// WithRate sets the rate every generated link trains to (default 4x QDR):
// the ports' enabled masks are set as ibsim sets them for that rate.
func WithRate(r Rate) GenOption { return func(c *genConfig) { c.rate = r } }

// WithHCAPorts gives every HCA n ports (1..15, default 1); port 1 is cabled,
// the others are left unconnected.
func WithHCAPorts(n int) GenOption { return func(c *genConfig) { c.hcaPorts = n } }

// WithDeviceIDs sets the NodeInfo.DeviceID of the switches and HCAs
// (default DefaultSwitchDeviceID and DefaultHCADeviceID; 0 means each device
// model's own default).
func WithDeviceIDs(switchID, hcaID uint16) GenOption {
	return func(c *genConfig) { c.swDev, c.hcaDev = switchID, hcaID }
}

// WithLIDs assigns LIDs from 1 upwards in node order (each switch one, each
// HCA port one), as if a subnet manager had swept; by default LIDs are 0 and
// the subnet manager assigns them.
func WithLIDs() GenOption { return func(c *genConfig) { c.lids = true } }

// builder creates generated nodes from preallocated slabs.
type builder struct {
	cfg    genConfig
	t      *Topology
	nodes  []Node
	ports  []Port
	ptrs   []*Port
	nsw    int
	nhca   int
	widthE uint8
	speedE wire.LinkSpeed
	fdr10E bool
}

// newBuilder checks the options and reserves room for switches switches of
// swPorts ports each and hcas HCAs.
func newBuilder(what string, opts []GenOption, switches, swPorts, hcas int) (*builder, error) {
	cfg := genConfig{
		rate:     Rate{Width: wire.Width4X, Speed: wire.SpeedQDR},
		hcaPorts: 1,
		swDev:    DefaultSwitchDeviceID,
		hcaDev:   DefaultHCADeviceID,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.hcaPorts < 1 || cfg.hcaPorts > 15 {
		return nil, fmt.Errorf("topology: %s: %d HCA ports, want 1..15", what, cfg.hcaPorts)
	}
	w, s, fdr10 := enabledFor(cfg.rate)
	if w == 0 || s == 0 || (cfg.rate.FDR10 && cfg.rate.Speed != wire.SpeedQDR) {
		return nil, fmt.Errorf("topology: %s: bad link rate %s", what, cfg.rate)
	}
	if swPorts > MaxPorts {
		return nil, fmt.Errorf("topology: %s: switches would need %d ports, more than %d", what, swPorts, MaxPorts)
	}
	if lids := switches + hcas*cfg.hcaPorts; lids > int(wire.LIDUnicastMax) {
		return nil, fmt.Errorf("topology: %s: %d switches and %d HCA ports need %d LIDs, more than the %d unicast LIDs of a subnet",
			what, switches, hcas*cfg.hcaPorts, lids, wire.LIDUnicastMax)
	}
	nports := switches*(swPorts+1) + hcas*(cfg.hcaPorts+1)
	b := &builder{
		cfg:    cfg,
		t:      &Topology{Nodes: make([]*Node, 0, switches+hcas)},
		nodes:  make([]Node, switches+hcas),
		ports:  make([]Port, nports),
		ptrs:   make([]*Port, nports),
		widthE: w,
		speedE: s,
		fdr10E: fdr10,
	}
	return b, nil
}

func (b *builder) node(typ wire.NodeType, desc string, nports int, guid wire.GUID) *Node {
	n := &b.nodes[0]
	b.nodes = b.nodes[1:]
	*n = Node{
		Type:         typ,
		Desc:         desc,
		NumPorts:     nports,
		NodeGUID:     guid,
		SysImageGUID: guid,
		VendorID:     MellanoxVendorID,
	}
	n.ID = GUIDID(typ, guid)
	n.Ports, b.ptrs = b.ptrs[:nports+1:nports+1], b.ptrs[nports+1:]
	ports := b.ports[:nports+1]
	b.ports = b.ports[nports+1:]
	for i := range ports {
		if i == 0 && typ != wire.NodeTypeSwitch {
			continue
		}
		p := &ports[i]
		p.Node, p.Num = n, i
		p.WidthEnabled, p.SpeedEnabled, p.FDR10Enabled = b.widthE, b.speedE, b.fdr10E
		if typ == wire.NodeTypeSwitch {
			p.GUID = guid
		} else {
			p.GUID = guid + wire.GUID(i)
		}
		n.Ports[i] = p
	}
	b.t.Nodes = append(b.t.Nodes, n)
	return n
}

func (b *builder) newSwitch(desc string, nports int) *Node {
	b.nsw++
	n := b.node(wire.NodeTypeSwitch, desc, nports, genSwitchGUID+wire.GUID(b.nsw))
	n.DeviceID = b.cfg.swDev
	return n
}

// newHCAs creates count HCAs described "node<k> HCA-1", k counting from 1.
func (b *builder) newHCAs(count int) []*Node {
	hcas := make([]*Node, count)
	for i := range hcas {
		b.nhca++
		n := b.node(wire.NodeTypeCA, "node"+strconv.Itoa(b.nhca)+" HCA-1", b.cfg.hcaPorts, genHCAGUID+wire.GUID(b.nhca)<<4)
		n.DeviceID = b.cfg.hcaDev
		hcas[i] = n
	}
	return hcas
}

func cable(a *Node, ap int, c *Node, cp int) {
	pa, pc := a.Ports[ap], c.Ports[cp]
	pa.Remote, pc.Remote = pc, pa
}

func (b *builder) done() *Topology {
	if b.cfg.lids {
		lid := wire.LID(1)
		for _, n := range b.t.Nodes {
			if n.IsSwitch() {
				n.LID = lid
				lid++
				continue
			}
			for _, p := range n.Ports[1:] {
				p.LID = lid
				lid++
			}
		}
	}
	return b.t
}

// FatTree builds a folded-Clos fat tree of switches with radix ports each
// (radix even, 2..MaxPorts), with one HCA on every leaf down port.
//
// levels 2: radix leaf switches and radix/2 spines. Leaf i ("leaf<i>") has
// HCAs on ports 1..radix/2 and spine j on port radix/2+j; spine j
// ("spine<j>") has leaf i on port i. radix²/2 HCAs: 648 for radix 36 (36
// leaves, 18 spines, 18 HCAs per leaf).
//
// levels 3: radix pods of radix/2 leaves and radix/2 spines, under
// (radix/2)² cores. In each pod, leaf l has HCAs on ports 1..radix/2 and the
// pod's spine s on port radix/2+s; spine s has the pod's leaf l on port l and
// core (s-1)·radix/2+u on port radix/2+u; core c has pod p's spine on port p.
// radix³/4 HCAs and 5·radix²/4 switches: 11,664 HCAs and 1,620 switches for
// radix 36, 3,456 HCAs and 720 switches for radix 24. Leaves are described
// "leaf<n> pod<p>", spines "spine<n> pod<p>", cores "core<n>".
//
// All numbering counts from 1; leaves and spines are numbered across pods.
// HCAs are "node<k> HCA-1", k counting along the leaves. Nodes are ordered
// HCAs first (so the default attach port of ibsim, the first port of the
// first node, is an HCA's), then leaves, spines and cores. GUIDs are
// deterministic and carry the Mellanox OUI: switch n is 0x0002c902_00000000+n,
// HCA n is 0x0002c903_00000000+n·16 with port p at +p. Ids are
// ibnetdiscover's ("S-0002c90200000001").
func FatTree(levels, radix int, opts ...GenOption) (*Topology, error) {
	what := "fat tree"
	if levels != 2 && levels != 3 {
		return nil, fmt.Errorf("topology: %s: %d levels, want 2 or 3", what, levels)
	}
	if radix < 2 || radix%2 != 0 || radix > MaxPorts {
		return nil, fmt.Errorf("topology: %s: radix %d, want an even number in 2..%d", what, radix, MaxPorts)
	}
	h := radix / 2
	if levels == 2 {
		b, err := newBuilder(what, opts, radix+h, radix, radix*h)
		if err != nil {
			return nil, err
		}
		hcas := b.newHCAs(radix * h)
		leaves := make([]*Node, radix)
		for i := range leaves {
			leaves[i] = b.newSwitch("leaf"+strconv.Itoa(i+1), radix)
		}
		spines := make([]*Node, h)
		for j := range spines {
			spines[j] = b.newSwitch("spine"+strconv.Itoa(j+1), radix)
		}
		for i, leaf := range leaves {
			for p := 1; p <= h; p++ {
				cable(leaf, p, hcas[i*h+p-1], 1)
			}
			for j, spine := range spines {
				cable(leaf, h+1+j, spine, i+1)
			}
		}
		return b.done(), nil
	}

	pods := radix
	b, err := newBuilder(what, opts, pods*radix+h*h, radix, pods*h*h)
	if err != nil {
		return nil, err
	}
	hcas := b.newHCAs(pods * h * h)
	leaves := make([]*Node, pods*h)
	for i := range leaves {
		leaves[i] = b.newSwitch("leaf"+strconv.Itoa(i+1)+" pod"+strconv.Itoa(i/h+1), radix)
	}
	spines := make([]*Node, pods*h)
	for i := range spines {
		spines[i] = b.newSwitch("spine"+strconv.Itoa(i+1)+" pod"+strconv.Itoa(i/h+1), radix)
	}
	cores := make([]*Node, h*h)
	for c := range cores {
		cores[c] = b.newSwitch("core"+strconv.Itoa(c+1), radix)
	}
	for p := 0; p < pods; p++ {
		for l := 0; l < h; l++ {
			leaf := leaves[p*h+l]
			for q := 1; q <= h; q++ {
				cable(leaf, q, hcas[(p*h+l)*h+q-1], 1)
			}
			for s := 0; s < h; s++ {
				cable(leaf, h+1+s, spines[p*h+s], l+1)
			}
		}
		for s := 0; s < h; s++ {
			spine := spines[p*h+s]
			for u := 0; u < h; u++ {
				cable(spine, h+1+u, cores[s*h+u], p+1)
			}
		}
	}
	return b.done(), nil
}

// Line builds a chain of switches ("switch<n>"), each with hcasPerSwitch
// HCAs on ports 1..hcasPerSwitch, its left neighbour on the next port and its
// right neighbour on the one after. Node order, GUIDs and ids follow FatTree.
func Line(switches, hcasPerSwitch int, opts ...GenOption) (*Topology, error) {
	return chain("line", false, switches, hcasPerSwitch, opts)
}

// Ring is Line with the last switch's right port cabled to the first
// switch's left port; it needs at least 3 switches.
func Ring(switches, hcasPerSwitch int, opts ...GenOption) (*Topology, error) {
	return chain("ring", true, switches, hcasPerSwitch, opts)
}

func chain(what string, ring bool, switches, hcasPerSwitch int, opts []GenOption) (*Topology, error) {
	min := 1
	if ring {
		min = 3
	}
	if switches < min {
		return nil, fmt.Errorf("topology: %s: %d switches, want at least %d", what, switches, min)
	}
	if hcasPerSwitch < 0 {
		return nil, fmt.Errorf("topology: %s: %d HCAs per switch", what, hcasPerSwitch)
	}
	h := hcasPerSwitch
	b, err := newBuilder(what, opts, switches, h+2, switches*h)
	if err != nil {
		return nil, err
	}
	hcas := b.newHCAs(switches * h)
	sws := make([]*Node, switches)
	for i := range sws {
		sws[i] = b.newSwitch("switch"+strconv.Itoa(i+1), h+2)
		for q := 1; q <= h; q++ {
			cable(sws[i], q, hcas[i*h+q-1], 1)
		}
		if i > 0 {
			cable(sws[i-1], h+2, sws[i], h+1)
		}
	}
	if ring {
		cable(sws[switches-1], h+2, sws[0], h+1)
	}
	return b.done(), nil
}

// Mesh builds a rows×cols grid of switches ("switch r<row>c<col>"), each
// with hcasPerSwitch HCAs on ports 1..hcasPerSwitch and its north, east,
// south and west neighbours on the four ports after them (edge ports stay
// unconnected). Node order, GUIDs and ids follow FatTree.
func Mesh(rows, cols, hcasPerSwitch int, opts ...GenOption) (*Topology, error) {
	what := "mesh"
	if rows < 1 || cols < 1 {
		return nil, fmt.Errorf("topology: %s: %dx%d switches", what, rows, cols)
	}
	if hcasPerSwitch < 0 {
		return nil, fmt.Errorf("topology: %s: %d HCAs per switch", what, hcasPerSwitch)
	}
	h := hcasPerSwitch
	n := rows * cols
	b, err := newBuilder(what, opts, n, h+4, n*h)
	if err != nil {
		return nil, err
	}
	hcas := b.newHCAs(n * h)
	sws := make([]*Node, n)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			i := r*cols + c
			sws[i] = b.newSwitch("switch r"+strconv.Itoa(r+1)+"c"+strconv.Itoa(c+1), h+4)
			for q := 1; q <= h; q++ {
				cable(sws[i], q, hcas[i*h+q-1], 1)
			}
			if r > 0 {
				cable(sws[i], h+1, sws[i-cols], h+3) // north to the row above's south
			}
			if c > 0 {
				cable(sws[i], h+4, sws[i-1], h+2) // west to the left neighbour's east
			}
		}
	}
	return b.done(), nil
}

// Torus builds a torus of switches with one dimension per entry of dims
// (each at least 1): the switch at coordinates (c1, ..., cn), described
// "switch c1,c2,...,cn" counting from 1, has hcasPerSwitch HCAs on ports
// 1..hcasPerSwitch, then for dimension d (counting from 0) its lower
// neighbour on port hcasPerSwitch+2d+1 and its upper neighbour on port
// hcasPerSwitch+2d+2. Each dimension wraps around: the last switch's upper
// port is cabled to the first switch's lower port, so a dimension of size 2
// has two parallel links and one of size 1 none. Node order, GUIDs and ids
// follow FatTree; switches are ordered with the first coordinate varying
// slowest.
func Torus(dims []int, hcasPerSwitch int, opts ...GenOption) (*Topology, error) {
	return grid("torus", true, dims, hcasPerSwitch, opts)
}

// Grid is Torus without the wrap-around links: an n-dimensional mesh whose
// edge switches leave their outer ports unconnected. Grid([]int{r, c}, h)
// is the graph of Mesh(r, c, h) with other port numbers and descriptions.
func Grid(dims []int, hcasPerSwitch int, opts ...GenOption) (*Topology, error) {
	return grid("grid", false, dims, hcasPerSwitch, opts)
}

func grid(what string, wrap bool, dims []int, hcasPerSwitch int, opts []GenOption) (*Topology, error) {
	if len(dims) == 0 {
		return nil, fmt.Errorf("topology: %s: no dimensions", what)
	}
	if hcasPerSwitch < 0 {
		return nil, fmt.Errorf("topology: %s: %d HCAs per switch", what, hcasPerSwitch)
	}
	n := 1
	for _, d := range dims {
		if d < 1 {
			return nil, fmt.Errorf("topology: %s: dimension of size %d, want at least 1", what, d)
		}
		if n > int(wire.LIDUnicastMax)/d {
			return nil, fmt.Errorf("topology: %s: more than %d switches", what, wire.LIDUnicastMax)
		}
		n *= d
	}
	h := hcasPerSwitch
	if h > int(wire.LIDUnicastMax)/n {
		return nil, fmt.Errorf("topology: %s: %d switches with %d HCAs each need more than %d LIDs", what, n, h, wire.LIDUnicastMax)
	}
	nports := h + 2*len(dims)
	b, err := newBuilder(what, opts, n, nports, n*h)
	if err != nil {
		return nil, err
	}
	hcas := b.newHCAs(n * h)
	// stride[d] is how far apart in switch order neighbours along d are.
	stride := make([]int, len(dims))
	s := 1
	for d := len(dims) - 1; d >= 0; d-- {
		stride[d] = s
		s *= dims[d]
	}
	sws := make([]*Node, n)
	coord := make([]byte, 0, 8*len(dims))
	for i := range sws {
		coord = append(coord[:0], "switch "...)
		for d := range dims {
			if d > 0 {
				coord = append(coord, ',')
			}
			coord = strconv.AppendInt(coord, int64(i/stride[d]%dims[d]+1), 10)
		}
		sws[i] = b.newSwitch(string(coord), nports)
		for q := 1; q <= h; q++ {
			cable(sws[i], q, hcas[i*h+q-1], 1)
		}
	}
	for i, sw := range sws {
		for d, size := range dims {
			c := i / stride[d] % size
			switch {
			case c+1 < size:
				cable(sw, h+2*d+2, sws[i+stride[d]], h+2*d+1)
			case wrap && size > 1:
				cable(sw, h+2*d+2, sws[i-c*stride[d]], h+2*d+1)
			}
		}
	}
	return b.done(), nil
}
