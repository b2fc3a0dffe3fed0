package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
	ibswitch "github.com/ibemu/ibemu/switch"
)

// -g: multicast. As in perftest each side that receives (the server; the
// client too in a latency test) has its QP join a group of its own (the
// server's MGID is -M or perftest's default, the client's one more in the
// last byte unless -M names it), and the side that sends to it joins it
// too, so that the group's tree reaches it, and sends its UD messages to
// it: DLID the group's MLID, a GRH to its MGID, remote QPN 0xFFFFFF. ibemu perf's in-process fabric has no SM, so the
// groups get MLIDs from the top of the multicast range down and every
// switch forwards each MLID toward its member, as an SM would program
// its multicast forwarding tables after the members joined. In two
// processes a subnet manager runs: each side joins its group through the
// SA (SubnAdmSet(MCMemberRecord), as perftest does), which gives the
// MLID and has the SM program the switches, tells the peer the group
// over the side channel, and leaves it at the end (SubnAdmDelete).

// perfMcastQPN is the destination QP of a multicast datagram.
const perfMcastQPN = 0xFFFFFF

// perfMLID is the first MLID the in-process groups take.
const perfMLID = wire.LID(0xC000)

// perfGroup is one side's multicast group.
type perfGroup struct {
	mgid wire.GID
	mlid wire.LID
}

// mcastReceives reports whether the server side (server) or the client
// receives multicast messages in this test.
func (c *perfConfig) mcastReceives(server bool) bool { return server || perfTests[c.test].lat }

// mcastGroups makes the receiving sides' groups, programs the switches
// to forward each group's MLID toward its members (the receiver and the
// side that sends to it) and aims each sender at its peer's group;
// attachMulticast then has each receiver's QP, once it has its port,
// join its group.
func (env *perfEnv) mcastGroups() error {
	c := env.c
	sides := []*perfSide{env.server, env.client}
	for i, s := range sides {
		if !c.mcastReceives(i == 0) {
			continue
		}
		s.group = perfGroup{mgid: c.sideGroupGID(i == 0), mlid: perfMLID + wire.LID(i)}
		if i == 1 && s.group.mgid == sides[0].group.mgid {
			s.group.mlid = perfMLID // -M: one group for both
		}
	}
	err := env.emu.Do(func() {
		for _, n := range env.emu.Nodes() {
			sw, ok := n.Device().(*ibswitch.Switch)
			if !ok {
				continue
			}
			for _, r := range sides {
				if r.group.mlid == 0 {
					continue
				}
				for _, m := range sides { // the members: receiver and sender
					if out := int(sw.Route(m.lid)); out != 0 {
						if err := sw.SetMulticastPort(r.group.mlid, out, true); err != nil {
							env.err = fmt.Errorf("perf: -g: %s: %w", n, err)
							return
						}
					}
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
		if g := s.group; g.mlid != 0 {
			peer := &sides[1-i].peer
			peer.lid, peer.gid, peer.qpns[0] = g.mlid, g.mgid, perfMcastQPN
		}
	}
	return nil
}

// attachMulticast has each side's QP join its group (ibv_attach_mcast).
func (env *perfEnv) attachMulticast() error {
	for _, s := range []*perfSide{env.server, env.client} {
		if s == nil || s.group.mlid == 0 {
			continue
		}
		if err := s.qps[0].AttachMcast(s.group.mgid, s.group.mlid); err != nil {
			return fmt.Errorf("perf: -g: attach qp %#x to %s: %w", s.qps[0].Num(), s.group.mgid, err)
		}
	}
	return nil
}

// perfSAWait bounds each SA request of a multicast join or leave.
const perfSAWait = 5 * time.Second

// sideGroupGID is the MGID of side s's group: -M, or perftest's default,
// one more in the last byte for the client unless -M names it.
func (c *perfConfig) sideGroupGID(server bool) wire.GID {
	g := c.mgid
	if !server && c.mgidStr == "" {
		g[15]++
	}
	return g
}

// saMembership sends SubnAdmSet (join) or SubnAdmDelete (leave) of an
// MCMemberRecord for s's port as a full member of group mgid, with the
// components OpenSM needs to create a group (Q_Key, P_Key, SL, FlowLabel,
// TClass), and returns the group's MLID.
func (env *perfEnv) saMembership(ctx context.Context, s *perfSide, mgid wire.GID, method wire.Method) (wire.LID, error) {
	c := env.c
	pa, err := s.ctx.QueryPort(s.port)
	if err != nil {
		return 0, err
	}
	if pa.SMLID == 0 {
		return 0, fmt.Errorf("perf: -g: port %d knows no subnet manager to join a multicast group through", s.port)
	}
	pkey, err := s.ctx.QueryPKey(s.port, c.pkeyIndex)
	if err != nil {
		return 0, fmt.Errorf("perf: -g: %w", err)
	}
	if s.sa == nil {
		tr := mad.NewInProcess(env.emu, s.dev, s.port)
		a, err := mad.NewAgent(tr, mad.Registration{QPN: 1, Class: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion},
			mad.Options{Timeout: time.Second, Retries: 3})
		if err != nil {
			tr.Close()
			return 0, fmt.Errorf("perf: -g: %w", err)
		}
		s.sa, s.saTr = a, tr
	}
	req := make([]byte, wire.MADSize)
	wire.SAMAD(req).Encode(&wire.SAMADFields{
		MAD: wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassSubnAdm, ClassVersion: wire.SAClassVersion,
			Method: method, AttrID: wire.AttrMCMemberRecord},
		SA: wire.SAHeaderFields{ComponentMask: wire.MCMemberRecordCompMGID | wire.MCMemberRecordCompPortGID |
			wire.MCMemberRecordCompQKey | wire.MCMemberRecordCompPKey | wire.MCMemberRecordCompSL | wire.MCMemberRecordCompFlowLabel |
			wire.MCMemberRecordCompTClass | wire.MCMemberRecordCompJoinState},
	})
	wire.MCMemberRecord(wire.SAMAD(req).Data()).Encode(&wire.MCMemberRecordFields{MGID: mgid, PortGID: s.gid, QKey: perfQKey,
		PKey: pkey, SL: uint8(c.sl), TClass: uint8(c.tclass), JoinState: wire.JoinFullMember})
	ctx, cancel := context.WithTimeout(ctx, perfSAWait)
	defer cancel()
	what := map[wire.Method]string{wire.MethodSet: "join", wire.MethodDelete: "leave"}[method]
	resp, err := s.sa.Call(ctx, mad.Addr{LID: pa.SMLID, SL: pa.SMSL, QPN: 1, PKey: uint16(pkey)}, req)
	if err != nil {
		return 0, fmt.Errorf("perf: -g: %s %s through the SA at lid %d: %w", what, mgid, pa.SMLID, err)
	}
	m, err := wire.ParseSAMAD(resp)
	if err != nil {
		return 0, fmt.Errorf("perf: -g: %s %s: %w", what, mgid, err)
	}
	return wire.MCMemberRecord(m.Data()).MLID(), nil
}

// leaveGroup leaves group mgid through the SA (the end of a test).
func (env *perfEnv) leaveGroup(s *perfSide, mgid wire.GID) {
	ctx, cancel := context.WithTimeout(context.Background(), perfSAWait)
	defer cancel()
	_, _ = env.saMembership(ctx, s, mgid, wire.MethodDelete)
}

// closeSA ends side s's SA agent.
func (s *perfSide) closeSA() {
	if s.sa != nil {
		_ = s.sa.Close()
		s.saTr.Close()
		s.sa, s.saTr = nil, nil
	}
}

// perfMFTWait bounds waitMFT.
const perfMFTWait = 2 * time.Second

// waitMFT waits until the switch next to s's port forwards mlid (its
// MulticastForwardingTable entry has a port set), read with
// directed-route SMPs: a sender that just joined a group starts sending
// only once the subnet manager has programmed the switches for it, which
// it does after answering the join. It gives up quietly after
// perfMFTWait, and does nothing when the neighbour is no switch.
func (env *perfEnv) waitMFT(ctx context.Context, s *perfSide, mlid wire.LID) error {
	block, idx, ok := wire.MFTBlock(mlid)
	if !ok {
		return nil
	}
	a, err := mad.NewAgent(s.saTr, mad.Registration{QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: 1},
		mad.Options{Timeout: 100 * time.Millisecond, Retries: 2})
	if err != nil {
		return fmt.Errorf("perf: -g: %w", err)
	}
	defer a.Close()
	get := func(attr wire.AttrID, mod uint32) (wire.SMP, error) {
		f := wire.SMPFields{Directed: true, Method: wire.MethodGet, AttrID: attr, AttrMod: mod, HopCount: 1,
			DrSLID: wire.LIDPermissive, DrDLID: wire.LIDPermissive}
		f.InitialPath[1] = uint8(s.port)
		req := make([]byte, wire.MADSize)
		wire.SMP(req).Encode(&f)
		resp, err := a.Call(ctx, mad.Addr{LID: wire.LIDPermissive}, req)
		return wire.SMP(resp), err
	}
	ni, err := get(wire.AttrNodeInfo, 0)
	if err != nil {
		return fmt.Errorf("perf: -g: the node next to port %d: %w", s.port, err)
	}
	if wire.NodeInfo(ni.Data()).NodeType() != wire.NodeTypeSwitch {
		return nil
	}
	deadline := time.Now().Add(perfMFTWait)
	for time.Now().Before(deadline) {
		m, err := get(wire.AttrMulticastForwardingTable, wire.MFTAttrMod(0, block))
		if err == nil && wire.MulticastForwardingTable(m.Data()).PortMask(idx) != 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("perf: -g: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}
