package sm

import (
	"context"
	"sort"

	"github.com/ibemu/ibemu/emu/wire"
)

// BroadcastMGID is the IPoIB broadcast group of the default partition
// (RFC 4391 §4: ff12:401b:ffff::ffff:ffff, link-local scope, P_Key 0xffff).
var BroadcastMGID = wire.GID{0xff, 0x12, 0x40, 0x1b, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}

// BroadcastQKey is the Q_Key of the IPoIB broadcast group OpenSM creates.
const BroadcastQKey = 0x00000B1B

// Group is a multicast group the SA keeps (IBTA Vol 1 §15.2.5.17).
type Group struct {
	MGID      wire.GID
	MLID      wire.LID
	QKey      uint32
	PKey      wire.PKey
	MTU       wire.MTU
	Rate      wire.Rate
	Lifetime  uint8
	SL        uint8
	FlowLabel uint32
	HopLimit  uint8
	TClass    uint8
	Scope     uint8
	// Predefined groups survive their last member leaving.
	Predefined bool
	// Members maps port GUIDs to their JoinState bits.
	Members map[wire.GUID]uint8
}

type mcastState struct {
	groups map[wire.GID]*Group
	byMLID map[wire.LID]*Group
	// dirty is set when membership changed since the MFTs were written.
	dirty bool
}

func newMcastState() *mcastState {
	ms := &mcastState{groups: map[wire.GID]*Group{}, byMLID: map[wire.LID]*Group{}}
	ms.add(&Group{MGID: BroadcastMGID, QKey: BroadcastQKey, PKey: wire.PKeyDefault, MTU: wire.MTU2048, Rate: 3,
		Lifetime: 0x12, Scope: 2, Predefined: true, Members: map[wire.GUID]uint8{}})
	return ms
}

// add gives g the lowest free MLID from 0xC000 and records it.
func (ms *mcastState) add(g *Group) bool {
	for l := wire.LIDMulticastBase; l < wire.LIDMulticastMax; l++ {
		if ms.byMLID[l] == nil {
			g.MLID = l
			ms.groups[g.MGID] = g
			ms.byMLID[l] = g
			ms.dirty = true
			return true
		}
	}
	return false
}

func (ms *mcastState) remove(g *Group) {
	delete(ms.groups, g.MGID)
	delete(ms.byMLID, g.MLID)
	ms.dirty = true
}

// Groups returns a snapshot of the multicast groups, by MLID.
func (m *SM) Groups() []Group {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Group, 0, len(m.mcast.groups))
	for _, g := range m.mcast.groups {
		c := *g
		c.Members = make(map[wire.GUID]uint8, len(g.Members))
		for k, v := range g.Members {
			c.Members[k] = v
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MLID < out[j].MLID })
	return out
}

func (m *SM) mcastTop() wire.LID {
	m.mu.Lock()
	defer m.mu.Unlock()
	top := wire.LID(0)
	for l := range m.mcast.byMLID {
		top = max(top, l)
	}
	return top
}

type mftKey struct {
	sw    wire.GUID
	block uint16
	pos   uint8
}

// mcastTree returns, for every switch, the port mask of group g: a tree
// spanning the switches of the members (shortest paths from the first
// member's switch) plus the ports of full and non-members. Send-only
// members receive nothing but still reach the tree through their switch.
func mcastTree(sn *Subnet, g *graph, members map[wire.GUID]uint8) map[int32][]uint16 {
	masks := map[int32][]uint16{}
	setBit := func(s int32, port int) {
		mk := masks[s]
		if mk == nil {
			mk = make([]uint16, (len(sn.Switches[s].Ports)+15)/16)
			masks[s] = mk
		}
		mk[port/16] |= 1 << (port % 16)
	}
	var memberSw []int32
	seen := map[int32]bool{}
	guids := make([]wire.GUID, 0, len(members))
	for gu := range members {
		guids = append(guids, gu)
	}
	sort.Slice(guids, func(i, j int) bool { return guids[i] < guids[j] })
	for _, gu := range guids {
		js := members[gu]
		p := sn.PortByGUID[gu]
		if p == nil {
			continue
		}
		var s int32
		if p.Node.IsSwitch() {
			s = int32(p.Node.swIdx)
			if js&(wire.JoinFullMember|wire.JoinNonMember) != 0 {
				setBit(s, 0)
			}
		} else if sp := p.switchPort(); sp != nil {
			s = int32(sp.Node.swIdx)
			if js&(wire.JoinFullMember|wire.JoinNonMember) != 0 {
				setBit(s, sp.Num)
			}
		} else {
			continue
		}
		if !seen[s] {
			seen[s] = true
			memberSw = append(memberSw, s)
		}
	}
	if len(memberSw) < 2 {
		return masks
	}
	// BFS tree from the first member switch.
	root := memberSw[0]
	parent := make([]int32, len(g.sw))
	parentPort := make([]uint8, len(g.sw))
	for i := range parent {
		parent[i] = -2
	}
	parent[root] = -1
	q := []int32{root}
	for len(q) > 0 {
		u := q[0]
		q = q[1:]
		for _, e := range g.adj[u] {
			if parent[e.to] == -2 {
				parent[e.to] = u
				parentPort[e.to] = e.port
				q = append(q, e.to)
			}
		}
	}
	inTree := map[int32]bool{root: true}
	for _, s := range memberSw[1:] {
		for v := s; !inTree[v] && parent[v] >= 0; v = parent[v] {
			inTree[v] = true
			u := parent[v]
			setBit(u, int(parentPort[v]))
			if rp := sn.Switches[u].Ports[parentPort[v]].Remote; rp != nil {
				setBit(v, rp.Num)
			}
		}
	}
	return masks
}

// programMulticast writes the MFT blocks (IBTA Vol 1 §14.2.5.12) of every
// group whose port masks changed since they were last written.
func (m *SM) programMulticast(ctx context.Context, sn *Subnet) {
	m.mu.Lock()
	type gcopy struct {
		mlid    wire.LID
		members map[wire.GUID]uint8
	}
	var gs []gcopy
	for _, g := range m.mcast.groups {
		mem := make(map[wire.GUID]uint8, len(g.Members))
		for k, v := range g.Members {
			mem[k] = v
		}
		gs = append(gs, gcopy{g.MLID, mem})
	}
	m.mcast.dirty = false
	m.mu.Unlock()
	gr := buildGraph(sn)
	// want[key][index in block] = mask
	want := map[mftKey][]uint16{}
	for _, g := range gs {
		block, idx, ok := wire.MFTBlock(g.mlid)
		if !ok {
			continue
		}
		for s, mk := range mcastTree(sn, gr, g.members) {
			for pos, bitsv := range mk {
				k := mftKey{sn.Switches[s].GUID(), block, uint8(pos)}
				if want[k] == nil {
					want[k] = make([]uint16, wire.MulticastForwardingTableSize/2)
				}
				want[k][idx] = bitsv
			}
		}
	}
	// Blocks written before and now empty are cleared.
	for k := range m.mftDone {
		if want[k] == nil && sn.ByGUID[k.sw] != nil {
			want[k] = make([]uint16, wire.MulticastForwardingTableSize/2)
		}
	}
	keys := make([]mftKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.sw != b.sw {
			return a.sw < b.sw
		}
		if a.block != b.block {
			return a.block < b.block
		}
		return a.pos < b.pos
	})
	var qs []smpQuery
	for _, k := range keys {
		w := want[k]
		if prev := m.mftDone[k]; prev != nil && equalU16(prev, w) {
			continue
		}
		n := sn.ByGUID[k.sw]
		if n == nil || n.Switch.MulticastFDBCap == 0 {
			continue
		}
		data := make([]byte, wire.SMPDataSize)
		t := wire.MulticastForwardingTable(data)
		for i, v := range w {
			t.SetPortMask(i, v)
		}
		qs = append(qs, smpQuery{path: n.Path, method: wire.MethodSet, attr: wire.AttrMulticastForwardingTable,
			mod: wire.MFTAttrMod(k.pos, k.block), data: data, done: func(d []byte, err error) {
				if err != nil {
					m.problem(sn, err)
					delete(m.mftDone, k)
					return
				}
				if isZero(w) {
					delete(m.mftDone, k)
				} else {
					m.mftDone[k] = w
				}
			}})
	}
	m.progress("mft", 0, len(qs))
	m.batch(ctx, qs)
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func isZero(a []uint16) bool {
	for _, v := range a {
		if v != 0 {
			return false
		}
	}
	return true
}
