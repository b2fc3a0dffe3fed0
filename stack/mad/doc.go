// Package mad is the host MAD layer of ibemu: management agents that send
// and receive management datagrams (IBTA Vol 1 §13.4) through one HCA port,
// the way the Linux kernel MAD layer and libibmad do for OpenSM and the
// infiniband-diags.
//
// # Layers
//
// A Transport is the host side of one port's QP0/QP1: it registers agents
// for a management class, class version and set of unsolicited methods,
// sends MADs to an address and hands received MADs back. Three
// implementations fit it: the in-process one over an emulated HCA
// (NewInProcess, in this package), the ibsim attach-protocol client
// (stack/attach.Dial) and the Linux umad device /dev/infiniband/umadN
// (OpenUmad and OpenUmadGUID, in this package; Linux only: each request is
// written with timeout_ms set and no kernel retries, so the kernel passes
// its response back and the agent does its own retransmission, as
// libibmad does). Their differences are kept out
// of the agents: the ibsim client and umad rewrite the upper bits of the
// transaction ID, so agents match responses on the low 32 bits; umad can
// segment RMPP in the kernel, which an endpoint announces through
// RMPPOffloader.
//
// An Agent, on top of a Transport, is what the stack uses:
//
//   - Call sends a request and waits for its response, allocating the
//     transaction ID (agent ID in the upper 32 bits), retransmitting on
//     timeout and turning a non-success MAD status into a
//     *wire.MADStatusError (style-anchors D: status is data until this
//     edge);
//   - Go, CallMany, Start (a Batch) and Stream (batches that leave as
//     one) run many requests at once through a bounded window of
//     outstanding transactions, as discovery and the subnet manager need;
//   - Serve answers unsolicited requests (the SA, the PMA of a host);
//   - RMPP (IBTA Vol 1 §13.6) segments and reassembles long messages of the
//     SA, device management and vendor range 2 classes in both directions,
//     with ACK windows, retransmission, STOP and ABORT;
//   - SMPGet and SMPSet read and write subnet management attributes LID
//     routed or along a directed route (IBTA Vol 1 §14.2.1).
//
// # Time and concurrency
//
// Every timeout and retransmission runs on an emu.Clock: the transport's
// clock unless Options.Clock says otherwise. An agent keeps one clock
// timer for all its transactions, armed at the earliest response
// deadline, and stops it when nothing waits. The in-process transport
// gives the fabric's clock, so virtual time governs timeouts, and its
// delivery context is the fabric's event loop itself: a response is
// handed to the agent in the event that delivered it, and what the agent
// sends in reaction (the next request of the window, a retransmission,
// a Serve answer) leaves at that virtual instant, without crossing
// goroutines, so a run is repeatable. A blocking caller (Call, CallMany,
// Batch.Wait) is handed its result while virtual time is held for it
// (see HandoffLimit), and a Stream holds virtual time while its producer
// is behind, so batches built while earlier ones are on the wire leave
// as one.
//
// Agent methods are safe for concurrent use. Completion callbacks (Go),
// Serve handlers and clock callbacks run on the transport's delivery
// context (for the in-process transport, the event loop); they may call
// Go, Start, Send and Respond but must not block (Call or Batch.Wait
// inside a callback would wait for a response that cannot be delivered).
//
// # Layering
//
// mad imports emu, emu/wire and hca (for the in-process transport). The rest
// of the host stack (stack/sm, stack/sa, stack/discover, the diagnostics)
// imports mad; scenarios and cmd may import it too.
package mad
