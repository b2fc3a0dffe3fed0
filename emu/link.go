package emu

import (
	"math/bits"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
)

// Link is a cable between two ports.
type Link struct {
	fabric *Fabric
	ends   [2]*Port
	cut    bool // fault injection: cable pulled

	width wire.LinkWidth // negotiated; valid while the link is up
	speed wire.LinkSpeed
	gbps  float64 // data rate at width and speed, in bits per ns (0: none)

	latency time.Duration
	busy    [2]int64 // virtual time each direction's serialiser is busy until

	dropRate    float64
	corruptRate float64
}

// Ends returns the two ports of the link.
func (l *Link) Ends() (*Port, *Port) { return l.ends[0], l.ends[1] }

// Width is the negotiated link width (0 when no common width exists).
func (l *Link) Width() wire.LinkWidth { return l.width }

// Speed is the negotiated link speed (0 when no common speed exists).
func (l *Link) Speed() wire.LinkSpeed { return l.speed }

// Up reports whether the link is physically up.
func (l *Link) Up() bool { return l.ends[0].IsUp() }

// Cut reports whether the link has been taken down by fault injection.
func (l *Link) Cut() bool { return l.cut }

// SetCut pulls (true) or re-plugs (false) the cable.
func (l *Link) SetCut(cut bool) {
	if l.cut == cut {
		return
	}
	l.cut = cut
	l.update()
}

// SetDropRate sets the probability that a frame is lost in either direction.
func (l *Link) SetDropRate(rate float64) {
	l.dropRate = clampRate(rate)
	l.ends[0].setLossy()
	l.ends[1].setLossy()
}

// SetCorruptRate sets the probability that a frame is corrupted in either direction.
func (l *Link) SetCorruptRate(rate float64) {
	l.corruptRate = clampRate(rate)
	l.ends[0].setLossy()
	l.ends[1].setLossy()
}

// SetLatency sets the one-way propagation latency the virtual clock models.
func (l *Link) SetLatency(d time.Duration) { l.latency = d }

func (l *Link) other(p *Port) *Port {
	if l.ends[0] == p {
		return l.ends[1]
	}
	return l.ends[0]
}

func (l *Link) dir(p *Port) int {
	if l.ends[0] == p {
		return 0
	}
	return 1
}

// negotiate picks the highest width and speed both ends enable.
func (l *Link) negotiate() {
	a, b := l.ends[0], l.ends[1]
	l.width = 0
	if w := a.widthEnabled & b.widthEnabled; w != 0 {
		// Prefer the widest: 12x > 8x > 4x > 2x > 1x.
		for _, c := range []wire.LinkWidth{wire.Width12X, wire.Width8X, wire.Width4X, wire.Width2X, wire.Width1X} {
			if w&uint8(c) != 0 {
				l.width = c
				break
			}
		}
	}
	l.speed = 0
	if s := a.speedEnabled & b.speedEnabled; s != 0 {
		l.speed = wire.LinkSpeed(1) << (bits.Len16(uint16(s)) - 1)
	}
	l.gbps = float64(l.width.Lanes()) * l.speed.LaneGbps()
}

// SerialisationTime is how long n bytes take to leave a port of the link
// at its negotiated width and speed (0 when the ends share none), the
// time the virtual clock's link model spends on each frame.
func (l *Link) SerialisationTime(n int) time.Duration {
	if l.gbps <= 0 {
		return 0
	}
	return time.Duration(float64(n*8) / l.gbps)
}

// trainable reports whether the link can come up now.
func (l *Link) trainable() bool {
	a, b := l.ends[0], l.ends[1]
	return !l.cut && a.enabled && b.enabled && !a.node.dead && !b.node.dead &&
		l.width != 0 && l.speed != 0
}

// update recomputes the physical state of both ends and tells the devices
// about any change. It also refreshes what each end caches for the
// packet path (Port.peer, Port.fabric, Port.offload, Port.lossy) and for
// PortInfo (Port.width, Port.speed): every change that
// can bring a port up runs it (Connect, enable, re-plug, node revival),
// so a port that is up always holds its current peer, and a killed
// node's ports are never up (trainable), which is what lets the path
// skip the Node of the port a frame arrives at.
func (l *Link) update() {
	l.negotiate()
	up := l.trainable()
	var changed []*Port
	for i, p := range l.ends {
		p.peer = l.ends[1-i]
		p.width, p.speed = l.width, l.speed
		p.fabric = p.node.fabric
		p.offload = p.node.offload
		p.setLossy()
		was := p.IsUp()
		if up {
			p.phys = wire.PhysStateLinkUp
			if !was {
				p.state = wire.PortStateInit
			}
		} else {
			p.phys = p.idlePhys()
			p.state = wire.PortStateDown
			if was {
				p.Counters.LinkDowned.Add(1)
			}
		}
		if was != p.IsUp() {
			changed = append(changed, p)
		}
	}
	if l.fabric.started {
		for _, p := range changed {
			if h, ok := p.node.dev.(PortStateHandler); ok && !p.node.dead {
				h.PortStateChanged(p)
			}
		}
	}
}

// renegotiate retrains an up link after an enable mask changed: the ports
// come back in Init at the new width and speed.
func (l *Link) renegotiate() {
	ow, os := l.width, l.speed
	l.update()
	if l.Up() && (ow != l.width || os != l.speed) {
		for _, p := range l.ends {
			p.state = wire.PortStateInit
			if h, ok := p.node.dev.(PortStateHandler); ok && l.fabric.started && !p.node.dead {
				h.PortStateChanged(p)
			}
		}
	}
}

// arrival is the loop time at which a frame of n bytes sent now from p
// reaches the other end. Under the wall clock frames move at once, in
// order: they arrive at the loop time of the event that sends them, which
// saves a clock read per hop (the loop runs whatever is due, so the frame
// is handed over as soon as the sending event returns). Under the virtual
// clock the link serialises them at its data rate and adds its latency.
func (l *Link) arrival(from *Port, n int) int64 {
	lp := l.fabric.loop
	if !lp.virtual {
		return lp.now.Load()
	}
	now := lp.nowNanos()
	d := l.dir(from)
	start := max(now, l.busy[d])
	l.busy[d] = start + int64(l.SerialisationTime(n))
	return l.busy[d] + int64(l.latency)
}

// Backlog is how far ahead of now the serialiser of the direction that
// leaves from is booked under the virtual clock: the time the frames
// already handed to the link from that port still need before a new one
// can start, the port's output queue measured in time. Under the wall
// clock frames move at once and nothing queues: Backlog is 0. Call it on
// the event loop.
func (l *Link) Backlog(from *Port) time.Duration {
	lp := l.fabric.loop
	if !lp.virtual {
		return 0
	}
	return time.Duration(max(l.busy[l.dir(from)]-lp.nowNanos(), 0))
}

// QueuedBytes is Backlog expressed in bytes at the link's data rate: how
// many bytes wait in from's output queue (IBTA Vol 1 Annex A10's
// congestion is an output queue past a threshold). It is 0 under the wall
// clock and on a link with no common width and speed. Call it on the
// event loop.
func (l *Link) QueuedBytes(from *Port) int {
	if l.gbps <= 0 {
		return 0
	}
	return int(float64(l.Backlog(from)) * l.gbps / 8)
}
