package verbs

import (
	"fmt"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/hca"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// ConfigureStatic brings a fabric up without a subnet manager, the way
// OpenSM would leave it for unicast traffic: every HCA port without a LID
// gets the next free one, every switch gets min-hop linear forwarding
// entries toward every HCA LID (breadth first from each HCA port), and
// every link end goes Init → Armed → Active (IBTA Vol 1 §7.2.2). It is a
// stand-in for stack/sm in tools and tests that only need paths (ibemu
// perf, verbs tests). Call it before the fabric starts or inside
// emu.Fabric.Do.
func ConfigureStatic(f *emu.Fabric) error {
	used := map[wire.LID]bool{}
	type hport struct {
		p   *emu.Port
		lid wire.LID
	}
	var hports []hport
	for _, n := range f.Nodes() {
		switch d := n.Device().(type) {
		case *hca.Device:
			for i := 1; i <= n.NumPorts(); i++ {
				if pa := d.SMA().Port(i); pa != nil && pa.LID != 0 {
					used[pa.LID] = true
				}
			}
		case *ibswitch.Switch:
			if l := d.LID(); l != 0 {
				used[l] = true
			}
		}
	}
	next := wire.LID(1)
	alloc := func() wire.LID {
		for used[next] {
			next++
		}
		used[next] = true
		return next
	}
	for _, n := range f.Nodes() {
		switch d := n.Device().(type) {
		case *hca.Device:
			for i := 1; i <= n.NumPorts(); i++ {
				pa := d.SMA().Port(i)
				if pa == nil || n.Port(i).Link() == nil {
					continue
				}
				if pa.LID == 0 {
					pa.LID = alloc()
				}
				hports = append(hports, hport{n.Port(i), pa.LID})
			}
		case *ibswitch.Switch:
			if d.LID() == 0 {
				if err := d.SetLID(alloc(), 0); err != nil {
					return fmt.Errorf("verbs: configure static: %w", err)
				}
			}
		}
	}
	top := wire.LID(0)
	for l := range used {
		top = max(top, l)
	}
	for _, n := range f.Nodes() {
		if s, ok := n.Device().(*ibswitch.Switch); ok {
			if err := s.SetLinearFDBTop(top); err != nil {
				return fmt.Errorf("verbs: configure static: %w", err)
			}
		}
	}
	// Min-hop routes: breadth first from each HCA port over switches; a
	// switch reached through port p sends that LID out of p.
	for _, h := range hports {
		seen := map[*emu.Node]bool{h.p.Node(): true}
		queue := []*emu.Port{h.p.Peer()}
		for len(queue) > 0 {
			in := queue[0]
			queue = queue[1:]
			if in == nil || seen[in.Node()] {
				continue
			}
			seen[in.Node()] = true
			s, ok := in.Node().Device().(*ibswitch.Switch)
			if !ok {
				continue
			}
			if err := s.SetRoute(h.lid, uint8(in.Num())); err != nil {
				return fmt.Errorf("verbs: configure static: %w", err)
			}
			for _, p := range in.Node().Ports() {
				if p != nil && p != in && p.Link() != nil {
					queue = append(queue, p.Peer())
				}
			}
		}
	}
	for _, l := range f.Links() {
		if !l.Up() {
			continue
		}
		a, b := l.Ends()
		for _, p := range []*emu.Port{a, b} {
			if p.State() == wire.PortStateActive {
				continue
			}
			if err := p.SetState(wire.PortStateArmed); err != nil {
				return fmt.Errorf("verbs: configure static: %w", err)
			}
			if err := p.SetState(wire.PortStateActive); err != nil {
				return fmt.Errorf("verbs: configure static: %w", err)
			}
		}
	}
	return nil
}
