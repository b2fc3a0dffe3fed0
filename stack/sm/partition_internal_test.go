package sm

import (
	"slices"
	"testing"

	"github.com/ibemu/ibemu/emu/wire"
)

// TestPartitionSelfAndFullWins: SELF names the SM's own port (OpenSM's
// partitions.conf), and a port that several members name is a full member
// when any of them makes it one; the default partition comes first.
func TestPartitionSelfAndFullWins(t *testing.T) {
	ps, err := ParsePartitions("p.conf", []byte(
		"Default=0x7fff, ipoib : ALL=limited, 0x11=full ;\n"+
			"storage=0x0002 : 0x12, SELF=full ;\n"+
			"backup=0x0003 : ALL_CAS=limited, 0x12=full ;\n"))
	if err != nil {
		t.Fatal(err)
	}
	ca := func(guid wire.GUID) *Port {
		n := &Node{Info: wire.NodeInfoFields{NodeType: wire.NodeTypeCA, NumPorts: 1, NodeGUID: guid, PartitionCap: 64}}
		p := &Port{Node: n, Num: 1, GUID: guid}
		n.Ports = []*Port{nil, p}
		return p
	}
	self, other, third := ca(0x11), ca(0x12), ca(0x13)
	for _, c := range []struct {
		port *Port
		want []wire.PKey
	}{
		{self, []wire.PKey{0xFFFF, 0x8002, 0x0003}},  // SELF full in storage
		{other, []wire.PKey{0x7FFF, 0x0002, 0x8003}}, // named limited, then full
		{third, []wire.PKey{0x7FFF, 0x0003}},
	} {
		got := ps.pkeysFor(c.port, self)
		if len(got) != wire.PKeyTableBlockEntries || !slices.Equal(got[:len(c.want)], c.want) || slices.ContainsFunc(got[len(c.want):], func(k wire.PKey) bool { return k != 0 }) {
			t.Errorf("port %#x: P_Keys %04x, want %04x then zeros", uint64(c.port.GUID), got, c.want)
		}
	}
}
