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
//   - retransmission on the CM response timeouts carried in the REQ
//     (4.096 µs × 2^timeout), Max CM Retries, MRA that stretch them,
//     duplicate messages (a duplicate REQ is answered with the MRA or REP
//     already sent, a duplicate REP with the RTU, a duplicate DREQ with the
//     DREP), stale connections (REJ reason 10) and REJ timeout (reason 4)
//     when the retries run out;
//   - the queue pair transitions ib_cm_init_qp_attr gives a consumer: INIT
//     with port, P_Key index and access flags, RTR with the remote QPN,
//     PSN, path and MTU, RTS with the send PSN, ACK timeout and retry
//     counts; the passive side reaches RTS before it sends REP (as
//     rdma_accept does), the active side before it sends RTU; both move the
//     QP to the Error state on disconnect.
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
// QP: the verbs engine has no automatic path migration. LAP/APR messages
// are decoded by package wire and counted, not acted on.
//
// # Who may import it
//
// Host software above verbs (ULPs: SRP, IPoIB connected mode, DAPL, ND),
// scenarios and cmd. It imports emu, emu/wire, stack/mad and stack/verbs.
package cm
