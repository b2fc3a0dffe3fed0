package agent

import (
	"encoding/binary"
	"fmt"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// Trap is a trap the SMA sent: the port it was issued from, its
// transaction ID and its Notice (IBTA Vol 1 §14.2.5.1).
type Trap struct {
	Port   int
	TID    uint64
	Notice wire.NoticeFields
}

type pendingTrap struct {
	trap  Trap
	frame []byte
	left  int
	timer emu.Timer
}

type trapState struct {
	tid     uint64
	pending map[uint64]*pendingTrap
	sent    uint64
}

// BadMKeyNotice returns the notice of trap 256 (bad M_Key, IBTA Vol 1
// §14.2.5.1) for smp, which arrived from requester (its LRH SLID) at a
// port whose LID is issuer: the requester's LID, the method, attribute,
// modifier and M_Key of the SMP and, for a directed-route SMP, DrSLID,
// the hop count and the return path's used entries ReturnPath[1..HopCount]
// (at most 30; DRPathTruncated marks a longer path).
func BadMKeyNotice(producer wire.NodeType, issuer, requester wire.LID, smp wire.SMP) wire.NoticeFields {
	f := wire.GenericNotice(wire.TrapBadMKey, uint32(producer), issuer)
	m := smp.MAD()
	d := wire.BadMKeyDetails{LID: requester, Method: m.Method(), AttrID: m.AttrID(), AttrMod: m.AttrMod(), MKey: smp.MKey()}
	if smp.IsDirected() {
		hops := int(smp.HopCount())
		d.DrSLID, d.DRNotice, d.HopCount = smp.DrSLID(), true, uint8(hops)
		d.ReturnPath = smp.ReturnPath()[1 : 1+min(hops, wire.BadMKeyPathSize)]
	}
	d.Encode(f.DataDetails[:])
	return f
}

// BadPKeyNotice returns the notice of trap 257 (bad P_Key, IBTA Vol 1
// §14.2.5.1) for a packet from (SLID, SrcQP, SGID) to (DLID, DestQP,
// DGID) with P_Key key on SL sl that a port with LID issuer refused.
func BadPKeyNotice(producer wire.NodeType, issuer wire.LID, a *Addr) wire.NoticeFields {
	d := wire.KeyViolationDetails{
		LID1: a.SLID, LID2: a.DLID, Key: uint32(a.PKey), SL: a.SL & 0x0F,
		QP1: a.SrcQP & wire.QPNMask, QP2: a.DestQP & wire.QPNMask,
	}
	if a.GRH != nil {
		d.GID1, d.GID2 = a.GRH.SGID, a.GRH.DGID
	}
	return wire.KeyViolationNotice(wire.TrapBadPKey, producer, issuer, d)
}

// BadQKeyNotice returns the notice of trap 258 (bad Q_Key), laid out as
// trap 257 with the Q_Key in the key field.
func BadQKeyNotice(producer wire.NodeType, issuer wire.LID, a *Addr) wire.NoticeFields {
	f := BadPKeyNotice(producer, issuer, a)
	f.TrapNumber = wire.TrapBadQKey
	binary.BigEndian.PutUint32(f.DataDetails[6:], a.QKey)
	return f
}

// LinkStateChangeNotice returns the notice of trap 128 (a switch port's
// link state changed), issued by the switch with LID switchLID.
func LinkStateChangeNotice(switchLID wire.LID) wire.NoticeFields {
	return wire.Trap128Notice(switchLID)
}

// CapabilityMaskChangeNotice returns the notice of trap 144 for a port
// whose CapabilityMask (or another local attribute, per flags) changed.
func CapabilityMaskChangeNotice(producer wire.NodeType, lid wire.LID, mask wire.PortCapabilityMask, mask2, flags uint16) wire.NoticeFields {
	return wire.Trap144Notice(producer, wire.Trap144Details{
		LID: lid, CapabilityMask: mask, CapabilityMask2: mask2, ChangeFlags: flags,
		OtherLocalChanges: flags != 0,
	})
}

// TrapPath reports whether port num can send a trap now: it has a LID, it
// knows the master SM's LID and its link is up and out of Down (port 0
// of a switch is always up).
func (s *SMA) TrapPath(num int) error {
	pa, ep := s.Port(num), s.emuPort(num)
	switch {
	case pa == nil || ep == nil:
		return fmt.Errorf("agent: trap from port %d: %w", num, ErrNoPort)
	case pa.LID == wire.LIDUnassigned || pa.MasterSMLID == wire.LIDUnassigned:
		return fmt.Errorf("agent: trap from port %d: lid %d, sm lid %d: %w", num, pa.LID, pa.MasterSMLID, ErrNoTrapPath)
	case !ep.IsUp() || ep.State() < wire.PortStateInit:
		return fmt.Errorf("agent: trap from port %d: port is %s/%s: %w", num, ep.PhysState(), ep.State(), ErrNoTrapPath)
	}
	return nil
}

// SendTrap sends a Trap(Notice) SMP (class 0x01, method 0x05, IBTA Vol 1
// §14.2.5.1) from port num to the port's MasterSMLID on its MasterSMSL,
// over QP0/VL15 with M_Key 0. A zero IssuerLID in n becomes the port's
// LID. The trap is sent again every SMAOptions.TrapRetry, at most
// TrapRetries times, until the SM answers with TrapRepress. It returns
// the trap's TID; ErrNoTrapPath when the port cannot reach the SM yet.
func (s *SMA) SendTrap(num int, n wire.NoticeFields) (uint64, error) {
	if s.n == nil {
		return 0, fmt.Errorf("agent: send trap %d: %w", n.TrapNumber, ErrNotBound)
	}
	if err := s.TrapPath(num); err != nil {
		return 0, err
	}
	pa, ep := s.Port(num), s.emuPort(num)
	if n.IssuerLID == wire.LIDUnassigned {
		n.IssuerLID = pa.LID
	}
	s.traps.tid++
	tid := s.traps.tid
	smp := wire.SMP(make([]byte, wire.MADSize))
	smp.Encode(&wire.SMPFields{Method: wire.MethodTrap, TID: tid, AttrID: wire.AttrNotice})
	wire.Notice(smp.Data()).Encode(&n)
	a := Addr{DLID: pa.MasterSMLID, SLID: pa.LID, SL: pa.MasterSMSL, DestQP: QP0, SrcQP: QP0, PKey: uint16(wire.PKeyDefault)}
	frame, err := AppendFrame(nil, &a, smp)
	if err != nil {
		return 0, err
	}
	pt := &pendingTrap{trap: Trap{Port: num, TID: tid, Notice: n}, frame: frame, left: s.opts.TrapRetries}
	if s.traps.pending == nil {
		s.traps.pending = map[uint64]*pendingTrap{}
	}
	if pt.left > 0 {
		s.traps.pending[tid] = pt
		s.armTrap(pt)
	}
	s.transmit(ep, append([]byte(nil), frame...))
	return tid, nil
}

func (s *SMA) armTrap(pt *pendingTrap) {
	pt.timer = s.n.Fabric().Clock().AfterFunc(s.opts.TrapRetry, func() {
		if s.traps.pending[pt.trap.TID] != pt {
			return
		}
		pt.left--
		if pt.left <= 0 {
			delete(s.traps.pending, pt.trap.TID)
		} else {
			s.armTrap(pt)
		}
		if s.TrapPath(pt.trap.Port) == nil {
			s.transmit(s.emuPort(pt.trap.Port), append([]byte(nil), pt.frame...))
		}
	})
}

func (s *SMA) transmit(p *emu.Port, frame []byte) {
	s.traps.sent++
	if s.opts.Transmit != nil {
		s.opts.Transmit(p, frame)
		return
	}
	p.Send(frame)
}

// TrapsSent counts the trap frames the SMA transmitted, repeats included.
func (s *SMA) TrapsSent() uint64 { return s.traps.sent }

// PendingTraps returns the traps sent but not yet repressed (or given up).
func (s *SMA) PendingTraps() []Trap {
	out := make([]Trap, 0, len(s.traps.pending))
	for _, pt := range s.traps.pending {
		out = append(out, pt.trap)
	}
	return out
}

// trapWaiting reports whether a generic trap numbered num from port
// port waits for its TrapRepress.
func (s *SMA) trapWaiting(port int, num uint16) bool {
	for _, pt := range s.traps.pending {
		if pt.trap.Port == port && pt.trap.Notice.IsGeneric && pt.trap.Notice.TrapNumber == num {
			return true
		}
	}
	return false
}

// trapRepressed handles a TrapRepress (IBTA Vol 1 §14.2.5.1): the SM
// acknowledges the trap with the same TID; repeats stop.
func (s *SMA) trapRepressed(p *emu.Port, smp wire.SMP) {
	tid := smp.MAD().TID()
	pt, ok := s.traps.pending[tid]
	if !ok {
		return
	}
	if num := wire.Notice(smp.Data()).TrapNumber(); num != 0 && num != pt.trap.Notice.TrapNumber {
		return
	}
	delete(s.traps.pending, tid)
	if pt.timer != nil {
		pt.timer.Stop()
	}
	if s.opts.OnTrapRepressed != nil {
		s.opts.OnTrapRepressed(p, pt.trap)
	}
}

// ModifyCapabilityMask sets and clears bits of port num's CapabilityMask,
// as the host does locally (the Linux SET_ISSM / ib_modify_port path that
// raises IsSM while an SM holds /dev/infiniband/issmN), and reports the
// change to the SM with trap 144 when the port can reach it and supports
// IsCapabilityMaskNotice. It returns the new mask.
func (s *SMA) ModifyCapabilityMask(num int, set, clr wire.PortCapabilityMask) (wire.PortCapabilityMask, error) {
	pa := s.Port(num)
	if pa == nil {
		return 0, fmt.Errorf("agent: modify capability mask of port %d: %w", num, ErrNoPort)
	}
	old := pa.CapabilityMask
	pa.CapabilityMask = old&^clr | set
	if pa.CapabilityMask != old && pa.CapabilityMask.Has(wire.PortCapIsCapabilityMaskNoticeSupported) &&
		s.n != nil && s.TrapPath(num) == nil {
		_, _ = s.SendTrap(num, CapabilityMaskChangeNotice(s.node.Type, pa.LID, pa.CapabilityMask, pa.Config.CapabilityMask2, 0))
	}
	return pa.CapabilityMask, nil
}
