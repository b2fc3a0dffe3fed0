package agent

import (
	"fmt"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// DRRoute is what a node does with a directed-route SMP (IBTA Vol 1
// §14.2.2): the wire.DRAction, the egress port for wire.DRForwardPort,
// and for wire.DRDeliver whether the SMP is a returning response for the
// SM that sent it (ToSM) or an outbound request for the local SMA.
type DRRoute struct {
	Action wire.DRAction
	Out    *emu.Port
	ToSM   bool
}

// RouteDR applies the directed-route rules to smp, which arrived on p,
// updating its hop pointer and return path in place (wire.DRProcess with
// the node's type and port count). A CA is only ever an end of the
// directed part: the rules drop an SMP that would need it to relay. A
// forward out a port whose link is not up is dropped with ErrLinkDown (DR
// SMPs only need LinkUp, not Active, IBTA Vol 1 §14.2.2).
func RouteDR(p *emu.Port, smp wire.SMP) (DRRoute, error) {
	n := p.Node()
	return routeDR(n.Ports(), n.Type() == wire.NodeTypeSwitch, p.Num(), smp)
}

// RouteSwitchDR is RouteDR (in > 0: the arrival port's number) or
// RouteDRSend (in == 0) at a switch whose port table (emu.Node.Ports of
// its node) the caller holds: a switch relaying SMPs at every hop of a
// large fabric keeps its ports at hand and spares each hop the look into
// its Node. ports must be the switch node's own table.
func RouteSwitchDR(ports []*emu.Port, in int, smp wire.SMP) (DRRoute, error) {
	return routeDR(ports, true, in, smp)
}

// RouteDRSend applies the directed-route rules to an SMP node n itself
// sends: a request its host SM originates, or the SMA's response (after
// MAD.SetResponse set D). It updates the hop pointer in place and returns
// the egress port; wire.DRDeliver means the SMP never leaves the node (a
// request with hop count 0 is for the node's own SMA, and the response to
// it for the node's own SM).
func RouteDRSend(n *emu.Node, smp wire.SMP) (DRRoute, error) {
	return routeDR(n.Ports(), n.Type() == wire.NodeTypeSwitch, 0, smp)
}

// routeDR routes smp at the node whose port table is ports (index = port
// number, ports[0] nil on a CA), arrived on port in (0: sent by the node).
func routeDR(ports []*emu.Port, isSwitch bool, in int, smp wire.SMP) (DRRoute, error) {
	if !smp.IsValid() || !smp.IsDirected() {
		return DRRoute{}, fmt.Errorf("agent: route dr smp: %w", wire.ErrDRNotDirected)
	}
	returning := smp.Direction() == wire.DRReturning
	act, out, err := wire.DRProcess(smp, in, isSwitch, len(ports)-1)
	if err != nil {
		return DRRoute{}, fmt.Errorf("agent: route dr smp at %s: %w", portsNode(ports), err)
	}
	r := DRRoute{Action: act, ToSM: returning && act == wire.DRDeliver}
	if act == wire.DRForwardPort {
		if out >= 0 && out < len(ports) {
			r.Out = ports[out]
		}
		if r.Out == nil || !r.Out.IsUp() {
			return DRRoute{}, fmt.Errorf("agent: route dr smp at %s: out port %d: %w", portsNode(ports), out, ErrLinkDown)
		}
	}
	return r, nil
}

// portsNode is the node a port table belongs to, for error messages.
func portsNode(ports []*emu.Port) *emu.Node {
	for _, p := range ports {
		if p != nil {
			return p.Node()
		}
	}
	return nil
}
