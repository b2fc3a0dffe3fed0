package mad

import (
	"fmt"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// GSIQKey is the well-known Q_Key of QP1, the general services interface
// (IBTA Vol 1 §13.4.6.2 / C9-49).
const GSIQKey uint32 = 0x80010000

// Transport is the host side of one HCA port's management QPs (QP0 and
// QP1). An Agent registers on it, sends through the Endpoint it gets back
// and receives through the deliver function it registered.
//
// Implementations: NewInProcess (an emulated HCA in the same process), the
// ibsim attach-protocol client and the Linux umad device. Every
// implementation must keep these rules:
//
//   - deliver is never called concurrently with itself or with a callback
//     of Clock for the same Transport (they run on one delivery context);
//   - Endpoint.Send never calls deliver before it returns;
//   - a MAD handed to deliver belongs to the receiver;
//   - when the transport closes, or the fabric or device behind it goes
//     away, deliver is called once more with an Incoming whose MAD is nil
//     and whose Err says why; nothing is delivered after that.
type Transport interface {
	// Register opens an agent on the port. Responses whose transaction ID
	// carries the endpoint's ID, unsolicited MADs of reg's class, class
	// version and methods, and send failures are passed to deliver.
	Register(reg Registration, deliver func(Incoming)) (Endpoint, error)
	// Clock is the time source for the timeouts of agents on this
	// transport. Its callbacks run on the delivery context.
	Clock() emu.Clock
	// Close unregisters every endpoint and stops delivery. It is
	// idempotent.
	Close() error
}

// TimeHolder is implemented by transports whose clock is virtual (the
// in-process emulator): HoldTime keeps the transport's time still until
// release is called. The agent uses it to hand a blocking caller the
// instant its result arrived, so what the caller sends next leaves at that
// instant and runs replay exactly.
type TimeHolder interface {
	HoldTime() (release func())
}

// Registration says which unsolicited MADs an agent wants, as the umad
// IB_USER_MAD_REGISTER_AGENT request does (IBTA Vol 1 §13.4.3: one class
// agent per class and version on a port).
type Registration struct {
	// QPN is 0 for subnet management (classes 0x01/0x81) and 1 for the
	// general services classes.
	QPN uint32
	// Class and ClassVersion select the unsolicited requests delivered.
	Class        wire.MgmtClass
	ClassVersion uint8
	// Methods lists the unsolicited methods (requests, without the R bit)
	// the agent serves. An agent that only sends requests leaves it empty:
	// responses reach it through the transaction ID regardless.
	Methods []wire.Method
	// OUI is the organisation of a vendor range 2 class (IBTA Vol 1
	// §13.4.4.1, MAD bytes 37-39); umad registers it.
	OUI [3]byte
	// RMPP asks a transport that can segment in its own layer (umad's
	// rmpp_version 1) to do so; see RMPPOffloader.
	RMPP bool
}

// Endpoint is one registered agent on a Transport.
type Endpoint interface {
	// ID is the value the transport expects in the upper 32 bits of the
	// transaction ID of requests the agent sends (umad's hi_tid); responses
	// carrying it come back to this endpoint.
	ID() uint32
	// Send transmits out.MAD to out.Addr. The endpoint takes ownership of
	// out.MAD. A nil error means the MAD was queued; a later failure comes
	// back through deliver as an Incoming with Err set.
	Send(out Outgoing) error
	// Close unregisters the agent. It is idempotent.
	Close() error
}

// RMPPOffloader is implemented by endpoints whose transport segments and
// reassembles RMPP itself (umad registered with rmpp_version 1). The agent
// then sends whole messages longer than a MAD and receives reassembled
// ones, and leaves the RMPP protocol to the transport.
type RMPPOffloader interface {
	OffloadsRMPP() bool
}

// borrower is implemented by endpoints that copy a sent MAD into their
// own frame before the transaction it belongs to can complete (the
// in-process transport does so on the event loop, before any answer or
// timeout): the agent then hands them the request itself instead of a
// copy.
type borrower interface {
	borrowsMAD() bool
}

// Addr is the remote end of a MAD: the destination of a send or the source
// of a received MAD. It carries the fields of the ib_user_mad header's
// address that a MAD needs (IBTA Vol 1 §13.5.1: MADs travel as UD
// datagrams).
type Addr struct {
	// LID is the remote LID: DLID of a send, SLID of a received MAD. A
	// directed-route SMP from a CA goes to the permissive LID 0xFFFF.
	LID wire.LID
	// SL is the service level.
	SL uint8
	// QPN is the remote QP: 0 for SMPs, 1 for the GSI, another QP after a
	// ClassPortInfo redirect.
	QPN uint32
	// QKey is the remote Q_Key; 0 means GSIQKey for QP1 (QP0 has none).
	QKey uint32
	// PKeyIndex indexes the local port's P_Key table (umad's pkey_index);
	// PKey is the P_Key itself, for transports that address by value. A
	// zero PKey means the default partition 0xFFFF.
	PKeyIndex uint16
	PKey      uint16
	// PathBits are the low bits of the source LID (LMC > 0).
	PathBits uint8
	// GRH, when not nil, adds a global route header.
	GRH *GRH
}

// GRH is the global-route part of an Addr (IBTA Vol 1 §8.3).
type GRH struct {
	// GID is the remote port's GID (DGID of a send, SGID of a receive).
	GID wire.GID
	// SGIDIndex selects the local port's source GID in its GID table.
	SGIDIndex uint8
	// HopLimit, TrafficClass and FlowLabel are the GRH fields of the same
	// names (FlowLabel 20 bits).
	HopLimit     uint8
	TrafficClass uint8
	FlowLabel    uint32
}

// String formats the address for messages: "lid 5 qp 1".
func (a Addr) String() string {
	if a.GRH != nil {
		return fmt.Sprintf("lid %d qp %d gid %s", a.LID, a.QPN, a.GRH.GID)
	}
	return fmt.Sprintf("lid %d qp %d", a.LID, a.QPN)
}

// ReplyAddr is the address a response to a MAD received from a goes to:
// the same LID, QP, service level, partition and path bits, GSIQKey on
// QP1, and the GRH reversed when the request had one.
func (a Addr) ReplyAddr() Addr {
	r := a
	if r.QPN == 1 {
		r.QKey = GSIQKey
	}
	if a.GRH != nil {
		g := *a.GRH
		r.GRH = &g
	}
	return r
}

// Outgoing is one MAD to send.
type Outgoing struct {
	Addr Addr
	// MAD is the datagram: MADSize bytes, or a whole RMPP message when the
	// endpoint offloads RMPP.
	MAD []byte
	// Timeout is how long the agent will wait for a response (0 when none
	// is expected: responses, RMPP ACKs). Transports that match responses
	// themselves (umad's timeout_ms) use it; the agent runs its own timers
	// either way.
	Timeout time.Duration
}

// Incoming is one MAD received, or the failure of an earlier send.
type Incoming struct {
	// Addr is where the MAD came from (for a send failure, where it went).
	Addr Addr
	// MAD is the datagram received; for a send failure, the MAD sent.
	MAD []byte
	// Err, when not nil, reports that the send of MAD failed (umad's send
	// completion status, ibsim's status 110). The agent fails the
	// transaction at once instead of waiting for its timeout. With a nil
	// MAD it says the transport has closed.
	Err error
}
