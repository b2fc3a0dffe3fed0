package fabric_test

import (
	"runtime"
	"testing"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/fabric"
)

// isolated builds a topology of n unconnected nodes of one kind.
func isolated(typ wire.NodeType, n, ports int) *topology.Topology {
	t := &topology.Topology{}
	for i := 0; i < n; i++ {
		node := &topology.Node{Type: typ, ID: "n" + string(rune('a'+i%26)) + itoa(i), NumPorts: ports,
			NodeGUID: wire.GUID(0x0002c90000000000 + uint64(i)*256), VendorID: 0x2c9}
		node.Desc = node.ID
		node.SysImageGUID = node.NodeGUID
		node.Ports = make([]*topology.Port, ports+1)
		for p := 1; p <= ports; p++ {
			node.Ports[p] = &topology.Port{Node: node, Num: p, GUID: node.NodeGUID + wire.GUID(p)}
		}
		if typ == wire.NodeTypeSwitch {
			node.Ports[0] = &topology.Port{Node: node, Num: 0, GUID: node.NodeGUID}
		}
		t.Nodes = append(t.Nodes, node)
	}
	t.Reindex()
	return t
}

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
		if i == 0 {
			return string(b)
		}
	}
}

// heapOf is the live heap the fabric built from t holds.
func heapOf(b *testing.B, t *topology.Topology) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f, err := fabric.Build(t)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(f)
	return float64(after.HeapAlloc) - float64(before.HeapAlloc)
}

// BenchmarkMemoryPerPort reports the heap an emulated switch, an
// emulated HCA and each extra port cost (device state, SMA tables, engine
// port and counters; forwarding tables are sized by the LFT in use).
func BenchmarkMemoryPerPort(b *testing.B) {
	const n = 500
	var sw36, sw72, ca1, ca2 float64
	for i := 0; i < b.N; i++ {
		sw36 = heapOf(b, isolated(wire.NodeTypeSwitch, n, 36))
		sw72 = heapOf(b, isolated(wire.NodeTypeSwitch, n, 72))
		ca1 = heapOf(b, isolated(wire.NodeTypeCA, n, 1))
		ca2 = heapOf(b, isolated(wire.NodeTypeCA, n, 2))
	}
	b.ReportMetric(sw36/n, "B/switch36")
	b.ReportMetric((sw72-sw36)/(n*36), "B/switchport")
	b.ReportMetric(ca1/n, "B/hca1port")
	b.ReportMetric((ca2-ca1)/n, "B/hcaport")
}
