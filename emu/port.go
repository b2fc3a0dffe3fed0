package emu

import (
	"fmt"

	"github.com/ibemu/ibemu/emu/wire"
)

// Port is one numbered port of a node. Port 0 of a switch is its management
// port: it has no link and its state is whatever the switch sets.
//
// Methods that read or change state, and Counters, must be used on the
// event loop (see the package doc); Fabric.ReadCounters copies the
// counters from any goroutine.
type Port struct {
	// The fields a frame's hop reads and writes come first, packed into
	// the port's first cache line, with the traffic counters (the first
	// eight of Counters) in the second: at scale every port a hop
	// crosses is cold, and each line it touches is a miss. The cached
	// ones (peer, fabric, offload, lossy) save the dependent misses on
	// the Link and on the Nodes of both ends that a hop took before;
	// Link.update keeps them (see there). Port is padded to 320 bytes, a size class whose
	// objects all start on a cache line, so the two lines are the same
	// two for every port.

	node *Node
	// peer is the port at the other end of the link while the link is
	// up (Link.update sets it; stale but unused while the port is not
	// up). Use Peer elsewhere.
	peer *Port
	// fabric is node.fabric, copied when a link attaches (Link.update),
	// so a frame leaving an up port does not look at the Node.
	fabric *Fabric
	// offload is the node's device as an emu.CRCOffloader (nil when it
	// is not one), copied from the Node when a link attaches, so a frame
	// arriving here reaches the device without a look at the Node.
	offload CRCOffloader
	num     int

	// arriving counts the frames queued on the event loop to arrive at
	// this port (loop-owned); a frame may cut through (Fabric.cutThrough)
	// only when none is, so frames on one link direction stay in order.
	arriving int32

	enabled bool // administratively enabled; false shows as PhysState Disabled
	phys    wire.PhysPortState
	state   wire.PortState
	// lossy is set while the port or its link has a drop or corruption
	// rate above zero, so a frame leaving a clean port reads no rate.
	lossy bool

	// The enable masks, which PortInfo reads and a PortInfo Set checks
	// against the peer's (the rest of the line: Counters start on the
	// second).
	widthSupported uint8          // LinkWidthSupported mask
	widthEnabled   uint8          // LinkWidthEnabled mask
	speedSupported wire.LinkSpeed // LinkSpeedSupported | LinkSpeedExtSupported<<8
	speedEnabled   wire.LinkSpeed
	_              [2]byte

	// Counters are the port's traffic and error counters.
	Counters Counters

	link *Link
	// width and speed are the link's negotiated width and speed, copied
	// by Link.update, so PortInfo reads them beside link.
	width wire.LinkWidth
	speed wire.LinkSpeed

	dropRate    float64 // probability a transmitted frame is lost
	corruptRate float64 // probability a transmitted frame is corrupted

	_ [portPad]byte
}

// portPad pads Port to portSize (port_layout_internal_test.go checks
// the layout).
const portPad = 8

// portSize is Port's size: a size class of the Go allocator whose objects
// all start on a 64-byte boundary (320 = 5 lines).
const portSize = 320

// PortConfig is a port's link capabilities, set when the node is added.
type PortConfig struct {
	WidthSupported uint8          // mask of wire.LinkWidth bits; 0 means 1x|4x
	WidthEnabled   uint8          // 0 means WidthSupported
	SpeedSupported wire.LinkSpeed // mask; 0 means SDR
	SpeedEnabled   wire.LinkSpeed // 0 means SpeedSupported
}

func (c PortConfig) withDefaults() PortConfig {
	if c.WidthSupported == 0 {
		c.WidthSupported = uint8(wire.Width1X | wire.Width4X)
	}
	if c.WidthEnabled == 0 {
		c.WidthEnabled = c.WidthSupported
	}
	if c.SpeedSupported == 0 {
		c.SpeedSupported = wire.SpeedSDR
	}
	if c.SpeedEnabled == 0 {
		c.SpeedEnabled = c.SpeedSupported
	}
	return c
}

// Node is the node the port belongs to.
func (p *Port) Node() *Node { return p.node }

// Num is the port number.
func (p *Port) Num() int { return p.num }

// Link is the link attached to the port, or nil.
func (p *Port) Link() *Link { return p.link }

// Peer is the port at the other end of the link, or nil.
func (p *Port) Peer() *Port {
	if p.link == nil {
		return nil
	}
	return p.peer // Link.update set it when the link was connected
}

// PhysState is the physical port state (LinkUp when the link trained).
func (p *Port) PhysState() wire.PhysPortState { return p.phys }

// State is the logical port state.
func (p *Port) State() wire.PortState { return p.state }

// Enabled reports whether the port is administratively enabled.
func (p *Port) Enabled() bool { return p.enabled }

// IsUp reports whether the physical link is up (LinkUp).
func (p *Port) IsUp() bool { return p.phys == wire.PhysStateLinkUp }

// Width is the active link width (0 when the link is down).
func (p *Port) Width() wire.LinkWidth {
	if !p.IsUp() || p.link == nil {
		return 0
	}
	return p.width
}

// Speed is the active link speed (0 when the link is down).
func (p *Port) Speed() wire.LinkSpeed {
	if !p.IsUp() || p.link == nil {
		return 0
	}
	return p.speed
}

// WidthSupported is the LinkWidthSupported mask.
func (p *Port) WidthSupported() uint8 { return p.widthSupported }

// WidthEnabled is the LinkWidthEnabled mask.
func (p *Port) WidthEnabled() uint8 { return p.widthEnabled }

// SpeedSupported is the supported speed mask (extended speeds in the high byte).
func (p *Port) SpeedSupported() wire.LinkSpeed { return p.speedSupported }

// SpeedEnabled is the enabled speed mask.
func (p *Port) SpeedEnabled() wire.LinkSpeed { return p.speedEnabled }

// SetState sets the logical port state. The device's SMA validates the
// transition; the engine only refuses to leave Down while the physical link
// is not up, and to go Down while it is (a Set of Down re-trains the link
// to Init, as IBTA Vol 1 §14.2.5.6 describes). Port 0 takes any state.
func (p *Port) SetState(s wire.PortState) error {
	if p.num == 0 {
		p.state = s
		return nil
	}
	if s < wire.PortStateDown || s > wire.PortStateActive {
		return fmt.Errorf("emu: port %d of %s: invalid port state %d", p.num, p.node.name, s)
	}
	if !p.IsUp() {
		if s != wire.PortStateDown {
			return fmt.Errorf("emu: port %d of %s: link is %s, cannot go %s", p.num, p.node.name, p.phys, s)
		}
		return nil
	}
	if s == wire.PortStateDown {
		// The link re-trains: both ends come back in Init.
		p.state = wire.PortStateInit
		if q := p.Peer(); q != nil {
			q.state = wire.PortStateInit
		}
		return nil
	}
	p.state = s
	return nil
}

// SetEnabled enables or disables the port (PortInfo PortPhysicalState
// Disabled, or `ibportstate ... disable`). The link retrains when both ends
// are enabled again.
func (p *Port) SetEnabled(on bool) {
	if p.enabled == on {
		return
	}
	p.enabled = on
	if p.link != nil {
		p.link.update()
	} else if p.num != 0 {
		p.phys = p.idlePhys()
	}
}

// SetLinkEnables changes the enabled width and speed masks (0 leaves a mask
// as it is) and retrains the link, which then runs at the highest width
// and speed both ends enable.
//
// Masks that stay as they were change nothing (the link already runs at
// what they give), so the link is not looked at: an SM writes the enables
// of every port it activates, most often unchanged.
func (p *Port) SetLinkEnables(width uint8, speed wire.LinkSpeed) {
	ow, os := p.widthEnabled, p.speedEnabled
	if width != 0 {
		p.widthEnabled = width & p.widthSupported
	}
	if speed != 0 {
		p.speedEnabled = speed & p.speedSupported
	}
	if p.link != nil && (p.widthEnabled != ow || p.speedEnabled != os) {
		p.link.renegotiate()
	}
}

// StoreLinkEnables changes the enabled width and speed masks (0 leaves a
// mask as it is) without retraining: a trained link keeps its width and
// speed until it next trains (the port is reset, disabled and enabled,
// or the link goes down and comes back), as on hardware, where an SM's
// or ibportstate's new LinkWidthEnabled/LinkSpeedEnabled take effect at
// the next link training and iblinkinfo meanwhile reports what the link
// "could be".
func (p *Port) StoreLinkEnables(width uint8, speed wire.LinkSpeed) {
	if width != 0 {
		p.widthEnabled = width & p.widthSupported
	}
	if speed != 0 {
		p.speedEnabled = speed & p.speedSupported
	}
	if p.link != nil && !p.link.Up() {
		// A port polling for a peer it shares no width or speed with
		// trains as soon as its enables allow it.
		p.link.update()
	}
}

// SetDropRate sets the probability that a frame this port transmits is lost.
func (p *Port) SetDropRate(rate float64) {
	p.dropRate = clampRate(rate)
	p.setLossy()
}

// SetCorruptRate sets the probability that a frame this port transmits is
// corrupted on the wire (the receiver then fails its VCRC and drops it).
func (p *Port) SetCorruptRate(rate float64) {
	p.corruptRate = clampRate(rate)
	p.setLossy()
}

// setLossy recomputes lossy from the port's and its link's rates.
func (p *Port) setLossy() {
	p.lossy = p.dropRate > 0 || p.corruptRate > 0
	if l := p.link; l != nil {
		p.lossy = p.lossy || l.dropRate > 0 || l.corruptRate > 0
	}
}

// DropRate is the port's transmit loss probability.
func (p *Port) DropRate() float64 { return p.dropRate }

// CorruptRate is the port's transmit corruption probability.
func (p *Port) CorruptRate() float64 { return p.corruptRate }

func clampRate(r float64) float64 {
	if r < 0 || r != r {
		return 0
	}
	if r > 1 {
		return 1
	}
	return r
}

func (p *Port) idlePhys() wire.PhysPortState {
	if !p.enabled {
		return wire.PhysStateDisabled
	}
	return wire.PhysStatePolling
}

// Send transmits frame (LRH through VCRC, CRCs already sealed) out of the
// port. It takes ownership of frame. A port whose link is not up discards
// the frame and counts it in XmitDiscards. The frame arrives through the
// event loop, except a management frame that cuts through under the wall
// clock (Fabric.CutThrough): that one has arrived when Send returns, so a
// device must not count on running its code after Send before the answer
// comes back to it.
func (p *Port) Send(frame []byte) { p.SendFrame(frame, true) }

// SendUnsealed is Send for a frame whose ICRC and VCRC are not computed
// yet (built with wire.AppendPacketUnsealed, or changed after it was
// sealed): the fabric computes them when the bytes become observable (see
// WithCRCCheck), which yields the bytes sealing here would.
func (p *Port) SendUnsealed(frame []byte) { p.SendFrame(frame, false) }

// SendFrame is Send when sealed is true and SendUnsealed otherwise, for a
// device relaying a frame as it arrived (see CRCOffloader).
func (p *Port) SendFrame(frame []byte, sealed bool) { p.send(frame, sealed, false) }

// RelayFrame is SendFrame for a relay (a switch) passing on a frame it is
// handling, as the last thing it does with that frame and with nothing of
// its own left half-changed: under the wall clock the frame may then cut
// through to the next device, a data packet as well as a management one
// (see Fabric.cutThrough), sparing the event loop a queued hop. A device
// that transmits frames of its own (an HCA's transport) uses SendFrame,
// so that it never sees an arrival nested in its own sends.
func (p *Port) RelayFrame(frame []byte, sealed bool) { p.send(frame, sealed, true) }

func (p *Port) send(frame []byte, sealed, relay bool) {
	// peer and fabric are set whenever the port is up (Link.update), and
	// only a linked port of a live node comes up (port 0, always up, has
	// no peer): a frame that leaves reads the port, not its Node.
	peer := p.peer
	if p.phys != wire.PhysStateLinkUp || peer == nil {
		n := p.node
		if !n.dead {
			p.Counters.CountXmitDiscard(XmitInactiveDiscard)
		}
		n.fabric.discard(frame)
		return
	}
	f := p.fabric
	if !sealed && (peer.offload == nil || f.cfg.verifyCRC || len(f.taps) > 0) {
		if !p.seal(frame) {
			return
		}
		sealed = true
	}
	p.Counters.XmitPkts.Add(1)
	words := uint64(len(frame) / 4)
	p.Counters.XmitData.Add(words)
	if len(frame) >= wire.LRHSize {
		p.Counters.CountXmitDataSL(wire.LRH(frame).SL(), words)
		if wire.LRH(frame).DLID().IsMulticast() {
			p.Counters.McastXmit.Add(1)
		} else {
			p.Counters.UnicastXmit.Add(1)
		}
	} else {
		p.Counters.UnicastXmit.Add(1)
	}
	for _, t := range f.taps {
		t.TapPacket(f.clock.Now(), p, frame)
	}
	corrupted := false
	if p.lossy {
		l := p.link
		if r := max(p.dropRate, l.dropRate); r > 0 && f.rng.Float64() < r {
			f.dropped.Add(1)
			f.discard(frame)
			return
		}
		if r := max(p.corruptRate, l.corruptRate); r > 0 && f.rng.Float64() < r {
			if !sealed {
				if !p.seal(frame) {
					return
				}
				sealed = true
			}
			bit := f.rng.IntN(len(frame) * 8)
			frame[bit/8] ^= 1 << (bit % 8)
			corrupted = true
		}
	}
	if f.cutThrough(peer, frame, corrupted, relay) {
		f.receive(peer, frame, false, sealed)
		return
	}
	at := p.link.arrival(p, len(frame))
	peer.arriving++
	f.loop.scheduleDelivery(at, peer, frame, corrupted, sealed)
}

// seal computes the CRCs of an unsealed frame about to leave the port; a
// frame too short to seal is discarded and counted in XmitDiscards.
func (p *Port) seal(frame []byte) bool {
	if wire.SealPacket(frame) != nil {
		p.Counters.XmitDiscards.Add(1)
		p.node.fabric.discard(frame)
		return false
	}
	return true
}

func (p *Port) String() string { return fmt.Sprintf("%s port %d", p.node, p.num) }
