package emu

import (
	"fmt"

	"github.com/ibemu/ibemu/emu/wire"
)

// Device is the behaviour of a node: what it does with the frames that
// arrive on its ports. HCAs, switches and test doubles implement it.
type Device interface {
	// HandlePacket is called on the event loop for every frame that arrives
	// intact (VCRC good) on port p. The device takes ownership of frame: it
	// may keep it, rewrite it and send it on.
	HandlePacket(p *Port, frame []byte)
}

// CRCOffloader is implemented by devices that accept frames whose ICRC
// and VCRC have not been computed yet (see WithCRCCheck). The fabric calls
// HandleFrame instead of HandlePacket for such a device; sealed reports
// whether the frame's CRCs are already in place. A device that changes a
// sealed frame and sends it on reseals it (wire.ResealVCRC after a
// variant field, wire.SealPacket after any other) and sends it with
// Port.Send; an unsealed frame it changes it sends on with
// Port.SendUnsealed, and the fabric computes the CRCs if and when the
// bytes become observable.
type CRCOffloader interface {
	HandleFrame(p *Port, frame []byte, sealed bool)
}

// PortStateHandler is implemented by devices that react when a port's
// physical link comes up or goes down (to send Trap 128, say). It is called
// on the event loop after the state has changed.
type PortStateHandler interface {
	PortStateChanged(p *Port)
}

// Starter is implemented by devices that need to run something when the
// fabric starts (arm timers, say). Start is called on the event loop.
type Starter interface {
	Start(n *Node)
}

// Node is one device in the fabric with its numbered ports.
type Node struct {
	// What a frame's hop reads comes first, in one cache line: the
	// device's routing (Port, NumPorts, Type) and the sending side of
	// Port.SendFrame (fabric, dead).
	ports  []*Port // index = port number; [0] is nil on a CA
	fabric *Fabric
	typ    wire.NodeType
	dead   bool

	name string
	dev  Device
	// offload is dev as a CRCOffloader, nil when it is not one.
	offload CRCOffloader
	index   int
}

// Name is the node's identifier in the topology (the quoted id of a net file).
func (n *Node) Name() string { return n.name }

// Type is the node type (CA, switch or router).
func (n *Node) Type() wire.NodeType { return n.typ }

// Device is the node's behaviour.
func (n *Node) Device() Device { return n.dev }

// Fabric is the fabric the node belongs to.
func (n *Node) Fabric() *Fabric { return n.fabric }

// Index is the node's position in Fabric.Nodes.
func (n *Node) Index() int { return n.index }

// NumPorts is the number of external ports (port 0 not counted).
func (n *Node) NumPorts() int { return len(n.ports) - 1 }

// Port returns port num, or nil when there is no such port (port 0 of a CA).
func (n *Node) Port(num int) *Port {
	if num < 0 || num >= len(n.ports) {
		return nil
	}
	return n.ports[num]
}

// Ports returns the node's ports indexed by number (entry 0 may be nil).
func (n *Node) Ports() []*Port { return n.ports }

// SetFrameHandler makes h take the frames that arrive at the node's ports
// in place of the Device's own CRCOffloader side; nil gives them back to
// the Device (its HandleFrame when it is a CRCOffloader, else its
// HandlePacket). A wrapper Device that only sometimes has work of its own
// to do on a frame (a server's hooks in front of a device model) installs
// itself while it has, and the wrapped model otherwise: each hop then
// reaches the model at once (Port caches the handler, so a frame's arrival
// reads no Node). The Device stays the node's for everything else
// (Starter, PortStateHandler, Node.Device). Call it on the event loop, or
// before the fabric starts.
func (n *Node) SetFrameHandler(h CRCOffloader) {
	if h == nil {
		h, _ = n.dev.(CRCOffloader)
	}
	n.offload = h
	for _, p := range n.ports {
		if p != nil && p.link != nil {
			p.offload = h
		}
	}
}

// Alive reports whether the node is running (not killed by fault injection).
func (n *Node) Alive() bool { return !n.dead }

func (n *Node) String() string { return fmt.Sprintf("%s %q", n.typ, n.name) }
