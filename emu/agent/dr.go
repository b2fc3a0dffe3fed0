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
	return routeDR(p.Node(), p.Num(), smp)
}

// RouteDRSend applies the directed-route rules to an SMP node n itself
// sends: a request its host SM originates, or the SMA's response (after
// MAD.SetResponse set D). It updates the hop pointer in place and returns
// the egress port; wire.DRDeliver means the SMP never leaves the node (a
// request with hop count 0 is for the node's own SMA, and the response to
// it for the node's own SM).
func RouteDRSend(n *emu.Node, smp wire.SMP) (DRRoute, error) {
	return routeDR(n, 0, smp)
}

func routeDR(n *emu.Node, in int, smp wire.SMP) (DRRoute, error) {
	if !smp.IsValid() || !smp.IsDirected() {
		return DRRoute{}, fmt.Errorf("agent: route dr smp: %w", wire.ErrDRNotDirected)
	}
	returning := smp.Direction() == wire.DRReturning
	act, out, err := wire.DRProcess(smp, in, n.Type() == wire.NodeTypeSwitch, n.NumPorts())
	if err != nil {
		return DRRoute{}, fmt.Errorf("agent: route dr smp at %s: %w", n, err)
	}
	r := DRRoute{Action: act, ToSM: returning && act == wire.DRDeliver}
	if act == wire.DRForwardPort {
		r.Out = n.Port(out)
		if r.Out == nil || !r.Out.IsUp() {
			return DRRoute{}, fmt.Errorf("agent: route dr smp at %s: out port %d: %w", n, out, ErrLinkDown)
		}
	}
	return r, nil
}
