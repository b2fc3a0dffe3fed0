// Package cm is ibemu's communication manager (IBTA Vol 1 chapter 12): the
// host agent of management class 0x07 (class version 2, QP1) that sets up,
// tears down and resolves connections between queue pairs, as the Linux
// kernel's ib_cm does for librdmacm, SRP, IPoIB connected mode and DAPL.
//
// # What it owns
//
// One CM per HCA port, over a stack/mad Transport (so the same code runs on
// the in-process emulator, the ibsim attach client or a umad device) and a
// stack/verbs Context for the queue pairs it drives:
//
//   - the passive side: Listen(serviceID, handler) receives REQs; the
//     handler accepts (REP), rejects (REJ with reason and private data) or
//     asks for more time (MRA); ListenSIDR answers SIDR_REQs (UD service
//     resolution) with a QPN and Q_Key;
//   - the active side: Connect sends a REQ for a path given by the caller
//     or read from the SA (PathRecord), takes the REP, answers it with RTU;
//     ResolveSIDR asks for a UD service's QPN and Q_Key;
//   - Disconnect (DREQ/DREP) and the TimeWait that follows;
//   - retransmission on the CM response timeouts carried in the REQ,
//     Max CM Retries times, MRA that stretch them (service timeout), and
//     TimeWait for the path's Local ACK Timeout, every wait converted as
//     ib_cm's cm_convert_to_ms does (2^(code-8) ms for 4.096 µs × 2^code);
//     duplicate messages as ib_cm's handlers treat them (a duplicate REQ is
//     answered with the MRA already sent and otherwise dropped, a duplicate
//     REP with the RTU, a duplicate DREQ in TimeWait or for a connection
//     long gone with a DREP); stale connections (a REQ or REP naming a QP
//     that a live connection holds: REJ reason 10 back, DREQ for the old
//     connection); REQs for a service nobody listens on (REJ 8) or a path
//     the port cannot take (REJ 12 with the port's GID). When the retries
//     run out the exchange ends without a message, as in ib_cm; a REJ
//     with reason timeout (4) and the CA GUID as ARI is sent when Connect
//     gives up early (its context ends);
//   - the queue pair transitions ib_cm_init_qp_attr gives a consumer: INIT
//     with port, P_Key index and access flags, RTR with the remote QPN,
//     PSN, path, MTU, responder resources and min RNR timer 0, RTS with
//     the send PSN, ACK timeout, retry count, the peer's RNR retry count
//     and the initiator depth; the passive side reaches RTS before it
//     sends REP (as rdma_accept does), the active side before it sends
//     RTU; both move the QP to the Error state on disconnect and on any
//     REJ received (as rdma_cm does).
//
// Private data goes in every message that carries it, up to the IBTA sizes
// (REQ 92, REP 196, RTU 224, REJ 148, DREQ 220, DREP 224, MRA 222, SIDR_REQ
// 216, SIDR_REP 136 bytes). Messages that do not parse, belong to no
// connection or arrive in the wrong state are counted in Stats and
// dropped, never fatal.
//
// # Time and concurrency
//
// Every timer runs on the transport's clock: under the emulator's virtual
// clock, timeouts of seconds take no wall time and runs repeat exactly.
// Received messages and timers are handled on the transport's delivery
// context; listener handlers run on their own goroutines and may block.
// While a handler decides (until it accepts, rejects, sends an MRA or
// returns, at most Options.HandlerHold of wall time), the CM holds the
// virtual clock still, so the peer's REQ timer cannot expire behind the
// handler's back. The methods of CM, Conn and the request types are safe
// for concurrent use.
//
// Alternate paths are carried in REQ and decoded, but not loaded into the
// QP: the verbs engine has no automatic path migration. A LAP for an
// established connection is taken in and never answered (under rdma_cm the
// Linux CM hands it to a consumer that ignores it, and the kernel has no
// APR sender any more); APR is dropped, since this CM sends no LAP.
//
// # Who may import it
//
// Host software above verbs (ULPs: SRP, IPoIB connected mode, DAPL, ND),
// scenarios and cmd. It imports emu, emu/wire, stack/mad and stack/verbs.
package cm
