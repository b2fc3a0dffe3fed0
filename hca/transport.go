package hca

import (
	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// Transport is the seam between the HCA's packet demultiplexer and the
// verbs engine (queue pairs, completion queues, RC/UC/UD transport): it
// receives every frame addressed to a QP other than 0 and 1 (IBTA Vol 1
// §9, §10) once the DLID check passed. Until a Transport is attached such
// frames are dropped and counted in Stats.NoTransport.
type Transport interface {
	// HandleFrame is called on the event loop with an arriving frame for
	// QP pkt.BTH.DestQP() on port p. pkt's views alias the frame, which the
	// transport owns from now on; pkt itself is the Device's scratch Packet,
	// valid only during the call (the transport must not keep the pointer:
	// copy the Packet or its views to keep them). The transport does its
	// own P_Key and Q_Key checks (counting violations in p.Counters).
	HandleFrame(p *emu.Port, pkt *wire.Packet)
}

// SetTransport attaches the verbs engine (nil detaches it). Call it on the
// event loop or before the fabric starts.
func (d *Device) SetTransport(t Transport) { d.transport = t }
