package main

import (
	"fmt"

	"github.com/ibemu/ibemu/emu/wire"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// -g: multicast. As in perftest each side's QP joins a group of its own
// (the server's MGID is -M or perftest's default, the client's one more
// in the last byte unless -M names it) and the other side sends its UD
// messages to that group: DLID the group's MLID, a GRH to its MGID,
// remote QPN 0xFFFFFF. ibemu perf's in-process fabric has no SM, so the
// groups get MLIDs from the top of the multicast range down and every
// switch forwards each MLID toward its member, as an SM would program
// its multicast forwarding tables after the members joined.

// perfMcastQPN is the destination QP of a multicast datagram.
const perfMcastQPN = 0xFFFFFF

// perfMLID is the first MLID the in-process groups take.
const perfMLID = wire.LID(0xC000)

// perfGroup is one side's multicast group.
type perfGroup struct {
	mgid wire.GID
	mlid wire.LID
}

// mcastGroups makes the two sides' groups, programs the switches and
// aims each side at the other's group; attachMulticast then has each
// side's QP, once it has its port, join its own.
func (env *perfEnv) mcastGroups() error {
	c := env.c
	sides := []*perfSide{env.server, env.client}
	groups := make([]perfGroup, 2)
	for i := range sides {
		groups[i] = perfGroup{mgid: c.mgid, mlid: perfMLID}
		if i == 1 && c.mgidStr == "" {
			groups[i].mgid[15]++
			groups[i].mlid++
		}
	}
	err := env.emu.Do(func() {
		for _, n := range env.emu.Nodes() {
			sw, ok := n.Device().(*ibswitch.Switch)
			if !ok {
				continue
			}
			for i, s := range sides {
				out := int(sw.Route(s.lid))
				if out == 0 {
					continue
				}
				if err := sw.SetMulticastPort(groups[i].mlid, out, true); err != nil {
					env.err = fmt.Errorf("perf: -g: %s: %w", n, err)
					return
				}
			}
		}
	})
	if err == nil {
		err = env.err
	}
	if err != nil {
		return err
	}
	for i, s := range sides {
		s.group = groups[i]
		peer := &sides[1-i].peer
		peer.lid, peer.gid, peer.qpns[0] = groups[i].mlid, groups[i].mgid, perfMcastQPN
	}
	return nil
}

// attachMulticast has each side's QP join its group (ibv_attach_mcast).
func (env *perfEnv) attachMulticast() error {
	for _, s := range []*perfSide{env.server, env.client} {
		if err := s.qps[0].AttachMcast(s.group.mgid, s.group.mlid); err != nil {
			return fmt.Errorf("perf: -g: attach qp %#x to %s: %w", s.qps[0].Num(), s.group.mgid, err)
		}
	}
	return nil
}
