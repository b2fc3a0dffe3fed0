// Package verbs is the verbs engine of an emulated HCA: protection
// domains, memory regions, completion queues, queue pairs (RC, UC, UD),
// shared receive queues and address handles, and the reliable and
// unreliable transports that carry their work on the wire (IBTA Vol 1
// chapters 9, 10 and 11).
//
// # What it owns
//
// An Engine attaches to one hca.Device as its hca.Transport: every frame
// for a QP other than 0 and 1 reaches Engine.HandleFrame, and every packet
// a QP sends is a complete, sealed InfiniBand frame (LRH, optional GRH,
// BTH, extended headers, payload, ICRC, VCRC) sent out of the HCA port, so
// switches route it by their forwarding tables, the PMA counts it and
// captures decode it.
//
//   - The RC requester (req.go) segments messages at the path MTU, numbers
//     packets with PSNs, requests acknowledgements sparingly (ACK
//     coalescing: AckReq on the last packet queued, every 32 packets and
//     whenever it must stop), keeps a local ACK timer (4.096 µs ×
//     2^timeout) with retry_cnt, honours RNR NAKs with rnr_retry and the
//     RNR timer, honours the responder's end-to-end credits (IBTA Vol 1
//     §9.7.7.2) and goes back N on a PSN sequence error NAK or an implied
//     NAK. Under the virtual clock it streams packets at the port's link
//     rate, building each one just before the transmitter is free, as an
//     adapter's send engine does. UC and UD messages complete once their
//     packets have left the port (after the port's serialisation time
//     under the virtual clock).
//   - The responder (resp.go) checks P_Key, PSN, opcode sequence, R_Key and
//     bounds, places SEND data in receive WQEs (or the SRQ), performs RDMA
//     WRITE, READ and atomics, answers duplicates (replaying READ
//     responses and saved atomic results) and NAKs what it must.
//   - The completer (comp.go) retires send WQEs in order, and on an error
//     moves the QP to the Error state and flushes the rest.
//   - Congestion control (cc.go, IBTA Vol 1 Annex A10), on the ports whose
//     CACongestionSetting enables it for the SL: a destination answers a
//     FECN-marked packet with BECN on the RC ACK or a congestion
//     notification packet (CNP), and a source raises the flow's CCTI on
//     each BECN (per QP or per SL, as Port_Control says), lowers it every
//     CCTI_Timer and spaces its packets by the CongestionControlTable
//     entry of its CCTI; the CA's CongestionLog records the threshold
//     events.
//
// Completion statuses, opcodes, QP states, attribute masks and access
// flags carry the numeric values of libibverbs (ibv_wc_status,
// ibv_qp_attr_mask, ...) so the host API in stack/verbs maps one to one.
//
// # Concurrency
//
// Control verbs (create, modify, query, destroy) and HandleFrame run on the
// fabric's event loop. Posting work requests (QP.PostSend, QP.PostRecv,
// SRQ.PostRecv) and polling a CQ (CQ.Poll, CQ.Wait) are safe from any
// goroutine: posting queues the request and rings a doorbell
// (emu.Fabric.Post) the way a host writes a WQE and rings a hardware
// doorbell; a CQ is a ring the event loop fills and pollers drain
// without a lock while it is empty.
//
// Under the wall clock a doorbell runs the fabric on the poster's
// goroutine (emu.Fabric.Enter), so the goroutines its completions are
// for (a receiver in CQ.Wait or polling with CQ.Awaiting, the reader of
// a completion channel) only become ready to run. When the process has
// one processor (GOMAXPROCS 1) the poster yields to them every few such
// doorbells, so that a poster that never waits does not keep them from
// the processor until the scheduler preempts it.
//
// # Data path
//
// The payload is copied once each way: gathered from the sender's memory
// region into the frame, scattered from the frame into the receiver's.
// Frames come from a process-wide pool of aligned slots (the payload
// starts on a 16-byte boundary, where copies run at full speed); frames
// the fabric discards come back to it (emu.FrameRecycler), and so do the
// slots an engine kept when it is dropped. Send WQEs and receive WQEs are
// recycled, and timers are emu.LoopTimers, so the engine allocates
// nothing per packet once it runs steadily.
//
// Packets are built with wire.AppendData (headers by value, the opcode
// choosing the extended headers) straight into a pool frame, unsealed:
// the fabric computes the CRCs when the frame is first observed. The
// route of a connected QP's packets (egress port, SL, VL, SLID, P_Key)
// is looked up in the port's SMA state once per burst the requester
// sends, not per packet; nothing can change that state in between.
//
// Host and engine share queues the way a host and an adapter share
// memory, without making either wait for the other: receive WQEs go into
// a ring the loop reads without a lock, fetching a burst at a time (rq.go);
// a CQ keeps what the loop writes, what pollers write and the flags both
// read on separate cache lines; retired send WQEs go back to the host's
// free list once per doorbell rather than under a lock each. A send WQE
// keeps the request the host writes and the transport state the loop
// writes on separate cache lines, and the loop clears its own part when
// it retires the WQE, so a WQE's lines cross from the posting core to
// the loop's once per message and never back. While the loop streams
// (emu.Fabric.Backlog), a CQ publishes its tail once per burst of events
// (emu.Fabric.AtBurstEnd) rather than per completion; a lone completion,
// and any on a CQ that is armed, holds the clock or has a waiter, is
// published at once. Every structure both sides touch is laid out so
// that a message moves as few cache lines between the cores as it can:
// in a stream of small messages those moves, not the work, were most of
// the loop's time.
//
// Under the virtual clock an RC requester builds its packets up to
// txAhead of serialisation before its port's transmitter needs them, so
// the loop wakes it once per burst rather than once per packet.
//
// # Who may import it
//
// The host verbs API (stack/verbs), other host stack packages, cmd and
// tests. It imports emu, emu/agent, emu/wire and hca.
package verbs
