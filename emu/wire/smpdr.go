package wire

import (
	"errors"
	"fmt"
)

// Directed-route SMP processing (IBTA Vol 1 §14.2.2).
//
// A directed-route SMP may have up to three parts:
//
//	requester --LID-routed lead-in--> start node --directed part--> end node --LID-routed tail--> responder
//
// DrSLID is the permissive LID 0xFFFF when there is no lead-in (the
// directed part starts at the requester) and the requester's LID
// otherwise; DrDLID is 0xFFFF when there is no tail (the directed part
// ends at the responder) and the responder's LID otherwise. Only
// switches relay SMPs between ports and only switches turn the directed
// part into a LID-routed one.
//
// Nodes are numbered by the hop that reaches them: node 0 starts the
// directed part, node i is reached through InitialPath[i] of node i-1, and
// node N = HopCount ends it. Outbound (D=0), node i records the port the
// SMP came in on in ReturnPath[i] and leaves the hop pointer at i+1; the
// end node makes it N+1, which is also what the responder behind a tail
// sees. Returning (D=1), node i receives it with hop pointer i+1, sends it
// out ReturnPath[i] and leaves the hop pointer at i; node 0 makes it 0.
//
// Every node's SMI, the requester's and responder's included, calls
// DRProcessOutbound or DRProcessReturn once per SMP: with inPort 0 for an
// SMP the node itself produced (the SM's request, the SMA's response) and
// with the arrival port otherwise. An attach server that injects SMPs from
// umad2sim clients (which never touch the hop pointer; see
// ibsim-protocol.md §6.2) plays the client's SMI: it calls
// DRProcessOutbound with inPort 0 at the client's node.

// DRAction is what a node's SMI does with a directed-route SMP (IBTA Vol 1
// §14.2.2.2 and §14.2.2.4).
type DRAction uint8

// DR actions.
const (
	// DRDrop discards the SMP; the returned error says why.
	DRDrop DRAction = iota
	// DRDeliver hands the SMP to the local SMA (outbound) or to the local
	// SM that sent the request (returning).
	DRDeliver
	// DRForwardPort sends the SMP out the returned port, directed.
	DRForwardPort
	// DRForwardLID sends the SMP LID-routed. Outbound at the end of the
	// directed part it goes to DrDLID; returning at node 0 it goes to
	// DrSLID. From the requester itself (a lead-in) it goes to the LRH
	// DLID the requester chose, the start node's LID; from the responder
	// behind a tail it goes to the request's LRH SLID, the end node's LID,
	// like any LID-routed reply.
	DRForwardLID
)

// String names the action.
func (a DRAction) String() string {
	switch a {
	case DRDrop:
		return "drop"
	case DRDeliver:
		return "deliver"
	case DRForwardPort:
		return "forward-port"
	case DRForwardLID:
		return "forward-lid"
	}
	return fmt.Sprintf("DRAction(%d)", uint8(a))
}

// Reasons for DRDrop. They are wrapped with context, so test with
// errors.Is. ErrDRHopCount (smp.go) is one of them.
var (
	// ErrDRNotDirected: the SMP is not class 0x81, or its D bit does not
	// match the function called.
	ErrDRNotDirected = errors.New("wire: dr smp: not a directed-route smp in this direction")
	// ErrDRHopPointer: the hop pointer is not one the rules allow here
	// (IBTA Vol 1 §14.2.2.2 C14-9 item 5, §14.2.2.4 C14-13 item 5).
	ErrDRHopPointer = errors.New("wire: dr smp: unreasonable hop pointer")
	// ErrDRNotSwitch: only a switch may relay an SMP or LID-route its
	// lead-in, tail or return tail.
	ErrDRNotSwitch = errors.New("wire: dr smp: only a switch may relay this smp")
	// ErrDRBadPort: the path entry (or the arrival port) names no port of
	// this node.
	ErrDRBadPort = errors.New("wire: dr smp: path names no port of this node")
)

func drCheck(s SMP, want DRDirection, inPort, numPorts int) error {
	if !s.IsValid() || !s.IsDirected() || s.Direction() != want {
		return fmt.Errorf("wire: dr smp %s: %w", want, ErrDRNotDirected)
	}
	if n := s.HopCount(); n > SMPMaxHopCount {
		return fmt.Errorf("wire: dr smp: hop count %d: %w", n, ErrDRHopCount)
	}
	if inPort < 0 || inPort > numPorts || numPorts > 255 {
		return fmt.Errorf("wire: dr smp: arrival port %d of %d: %w", inPort, numPorts, ErrDRBadPort)
	}
	return nil
}

func drOutPort(which string, i int, port uint8, numPorts int) (int, error) {
	if port < 1 || int(port) > numPorts {
		return 0, fmt.Errorf("wire: dr smp: %s[%d] = %d, node has ports 1..%d: %w", which, i, port, numPorts, ErrDRBadPort)
	}
	return int(port), nil
}

// DRProcessOutbound applies the outbound (D=0) rules of IBTA Vol 1
// §14.2.2.2 (C14-9) at one node and updates s in place: the hop pointer
// and, on relay or at the end of the directed part, ReturnPath at the
// hop pointer. inPort is the port the SMP arrived on, or 0 when the node
// itself sends it (requester); isSwitch and numPorts describe the node
// (numPorts external ports, numbered from 1).
//
// With N = HopCount and h = HopPointer:
//   - h = 0, N > 0, requester with a non-permissive DrSLID: DRForwardLID
//     (the lead-in; h stays 0).
//   - h = 0, N > 0 otherwise (the requester, or a switch at the end of the
//     lead-in): h = 1, DRForwardPort out InitialPath[1]. An SMP with h = 0
//     and a permissive DrSLID arriving from a port is dropped: its sender
//     should have advanced the hop pointer.
//   - 0 < h < N (switches only): ReturnPath[h] = inPort, h = h+1,
//     DRForwardPort out InitialPath[h].
//   - h = N (end of the directed part): ReturnPath[N] = inPort when N > 0,
//     h = N+1, then DRDeliver if DrDLID is permissive, DRForwardLID to
//     DrDLID on a switch, else drop.
//   - h = N+1 (the responder behind the LID-routed tail): DRDeliver.
//   - anything else: drop.
//
// On DRDrop err says why and s is unchanged. outPort is set only for
// DRForwardPort.
//
// Compare: the Linux kernel's smi_handle_dr_smp_recv followed by
// smi_handle_dr_smp_send, which implement the same rules but leave a
// lead-in arriving with hop pointer 0 to switch firmware.
func DRProcessOutbound(s SMP, inPort int, isSwitch bool, numPorts int) (action DRAction, outPort int, err error) {
	if err := drCheck(s, DROutbound, inPort, numPorts); err != nil {
		return DRDrop, 0, err
	}
	n, h := int(s.HopCount()), int(s.HopPointer())
	switch {
	case h == 0 && n > 0:
		if inPort == 0 && s.DrSLID() != LIDPermissive {
			return DRForwardLID, 0, nil
		}
		if inPort != 0 && s.DrSLID() == LIDPermissive {
			return DRDrop, 0, fmt.Errorf("wire: dr smp: hop pointer 0 from port %d with permissive drslid: %w", inPort, ErrDRHopPointer)
		}
		if inPort != 0 && !isSwitch {
			return DRDrop, 0, fmt.Errorf("wire: dr smp: start of directed part after lid-routed lead-in: %w", ErrDRNotSwitch)
		}
		out, err := drOutPort("initial path", 1, s.InitialPathAt(1), numPorts)
		if err != nil {
			return DRDrop, 0, err
		}
		s.SetHopPointer(1)
		return DRForwardPort, out, nil
	case h > 0 && h < n:
		if !isSwitch {
			return DRDrop, 0, fmt.Errorf("wire: dr smp: relay at hop %d of %d: %w", h, n, ErrDRNotSwitch)
		}
		out, err := drOutPort("initial path", h+1, s.InitialPathAt(h+1), numPorts)
		if err != nil {
			return DRDrop, 0, err
		}
		s.SetReturnPathAt(h, uint8(inPort))
		s.SetHopPointer(uint8(h + 1))
		return DRForwardPort, out, nil
	case h == n:
		action := DRDeliver
		if s.DrDLID() != LIDPermissive {
			if !isSwitch {
				return DRDrop, 0, fmt.Errorf("wire: dr smp: lid-routed tail to drdlid %d: %w", s.DrDLID(), ErrDRNotSwitch)
			}
			action = DRForwardLID
		}
		if n > 0 {
			s.SetReturnPathAt(n, uint8(inPort))
		}
		s.SetHopPointer(uint8(n + 1))
		return action, 0, nil
	case h == n+1:
		return DRDeliver, 0, nil
	}
	return DRDrop, 0, fmt.Errorf("wire: dr smp: outbound hop pointer %d with hop count %d: %w", h, n, ErrDRHopPointer)
}

// DRProcessReturn applies the returning (D=1) rules of IBTA Vol 1
// §14.2.2.4 (C14-13) at one node and updates the hop pointer of s in
// place. inPort is the port the SMP arrived on, or 0 when the node itself
// sends it (the responder, after MAD.SetResponse set D); isSwitch and
// numPorts describe the node.
//
// With N = HopCount and h = HopPointer:
//   - responder (inPort 0), h = N+1, non-permissive DrDLID: DRForwardLID
//     back through the tail to the end node (h unchanged).
//   - h = N+1, N > 0: h = N, DRForwardPort out ReturnPath[N].
//   - 2 <= h <= N (switches only): h = h-1, DRForwardPort out
//     ReturnPath[h].
//   - h = 1 (node 0): h = 0, then DRDeliver if DrSLID is permissive,
//     DRForwardLID to DrSLID on a switch, else drop.
//   - h = 0 (the requester behind a lead-in; also every reply from ibsim,
//     which never moves the hop pointer): DRDeliver.
//   - anything else: drop.
//
// On DRDrop err says why and s is unchanged. outPort is set only for
// DRForwardPort.
func DRProcessReturn(s SMP, inPort int, isSwitch bool, numPorts int) (action DRAction, outPort int, err error) {
	if err := drCheck(s, DRReturning, inPort, numPorts); err != nil {
		return DRDrop, 0, err
	}
	n, h := int(s.HopCount()), int(s.HopPointer())
	switch {
	case inPort == 0 && h == n+1 && s.DrDLID() != LIDPermissive:
		return DRForwardLID, 0, nil
	case n > 0 && h == n+1:
		out, err := drOutPort("return path", n, s.ReturnPathAt(n), numPorts)
		if err != nil {
			return DRDrop, 0, err
		}
		s.SetHopPointer(uint8(n))
		return DRForwardPort, out, nil
	case h >= 2 && h <= n:
		if !isSwitch {
			return DRDrop, 0, fmt.Errorf("wire: dr smp: relay at return hop %d of %d: %w", h, n, ErrDRNotSwitch)
		}
		out, err := drOutPort("return path", h-1, s.ReturnPathAt(h-1), numPorts)
		if err != nil {
			return DRDrop, 0, err
		}
		s.SetHopPointer(uint8(h - 1))
		return DRForwardPort, out, nil
	case h == 1:
		action := DRDeliver
		if s.DrSLID() != LIDPermissive {
			if !isSwitch {
				return DRDrop, 0, fmt.Errorf("wire: dr smp: lid-routed return to drslid %d: %w", s.DrSLID(), ErrDRNotSwitch)
			}
			action = DRForwardLID
		}
		s.SetHopPointer(0)
		return action, 0, nil
	case h == 0:
		return DRDeliver, 0, nil
	}
	return DRDrop, 0, fmt.Errorf("wire: dr smp: returning hop pointer %d with hop count %d: %w", h, n, ErrDRHopPointer)
}

// DRProcess dispatches on the D bit of s to DRProcessOutbound or
// DRProcessReturn.
func DRProcess(s SMP, inPort int, isSwitch bool, numPorts int) (DRAction, int, error) {
	if s.IsValid() && s.Direction() == DRReturning {
		return DRProcessReturn(s, inPort, isSwitch, numPorts)
	}
	return DRProcessOutbound(s, inPort, isSwitch, numPorts)
}
