// Package emu is the fabric engine of ibemu: nodes with numbered ports,
// links with a width and a speed, physical and logical port state, one event
// loop that moves complete InfiniBand frames (LRH through VCRC) between
// ports, the clocks that drive it, fault injection, per-port traffic
// counters and the tap that captures frames.
//
// # Model
//
// A Fabric owns Nodes; each Node has a Device (the behaviour: an HCA, a
// switch, a router, a test double) and Ports numbered as on hardware (port 0
// is a switch's management port and never carries a link). Devices never see
// sockets, files or processes: they receive frames through
// Device.HandlePacket and transmit with Port.Send, which hands the frame
// over; a frame the fabric itself drops (injected loss, a link down, a
// bad CRC) is offered back to the registered FrameRecyclers, so devices
// that pool their buffers lose none.
//
// # Concurrency
//
// Every device callback, every Clock timer and every frame delivery runs on
// the fabric's event loop, one at a time, so device code needs no locks.
// Methods of Node, Port and Link that read or change state must be called on
// the event loop: from device code, from a Clock callback, or inside
// Fabric.Do. The Fabric's own methods (Do, Post, Enter, SetPortEnabled,
// SetDropRate, ...) are safe from any goroutine. Port counters belong to
// the event loop too (plain adds on the packet path); another goroutine
// reads them with Fabric.ReadCounters.
//
// The event loop is a token rather than a goroutine: whoever holds it runs
// the events. Under the virtual clock the loop goroutine holds it for good.
// Under the wall clock the loop goroutine lets go whenever nothing is due,
// and a goroutine that calls Fabric.Enter while nobody holds it takes the
// loop over inline: it runs its callback and every event due (the frames
// the callback sends cross the switches and reach the receiving devices, a
// completion lands in a host's queue) on its own goroutine, then lets go,
// sparing the two goroutine hand-overs of a doorbell. Fabric.Do runs its
// function inline the same way but leaves what follows to the loop
// goroutine, since its callers may hold locks that device code takes. While it
// runs, it is the event loop (Fabric.OnLoop is true there); work others
// queue meanwhile runs before it lets go (it looks at the queue again after
// letting go, so nothing queued in that instant is left behind); a timer
// it arms that falls due before the loop goroutine would wake up wakes it;
// after an inline budget of events the rest is handed to the loop
// goroutine; and Stop waits for it to finish. Nested calls never run
// inline: Enter from a callback (the caller already runs the loop) queues
// behind the current event at the same instant, and Do runs its function
// at once, as on the loop goroutine. At most one goroutine in the process
// runs a loop inline at a time (a callback of one fabric that enters
// another queues there), which lets OnLoop recognise it without the
// goroutine id that a cheap entry cannot afford. Post never runs inline:
// it is the doorbell for callers that hold locks the callback takes.
// Events keep their (time, sequence) order whoever runs them, and frames
// to one port arrive in the order sent.
//
// Under the wall clock a frame a device sends while it handles an
// arrival may cut through: it reaches the next device within the send,
// not through the loop's queue, when nothing could tell the difference
// (no taps, no frame queued ahead of it on the link, no injected
// corruption, bounded nesting). Management frames (VL15) do so from any
// device; data packets only when a relay hands them on with
// Port.RelayFrame (a switch forwarding a unicast packet), so a transport
// engine never sees an arrival nested in its own sends.
//
// A device that publishes to host goroutines what they poll (a
// completion queue's tail) may do so once per burst of events rather
// than per event: Fabric.AtBurstEnd queues a function that whoever runs
// the loop calls before it stops running events (nothing due, time held
// by a host, an inline run letting go, the loop exiting) and at the
// latest after 32 events while it stays busy; Fabric.Backlog, the number
// of frame deliveries queued, tells a stream (publish per burst) from a
// lone message (publish at once). Every publication to another core
// takes cache lines back from it, which in a stream of small messages
// costs the loop more than the event's own work.
//
// # Time
//
// A fabric runs on a virtual clock (deterministic: events run in
// (time, sequence) order, time jumps to the next event, fault injection draws
// from a seeded generator, so the same seed and the same inputs give the same
// packet order and outcome) or on the wall clock (for real processes
// attached from outside). Under the virtual clock, link latency and
// serialisation delay are modelled from the link's width and speed. Host
// software that reacts to frames from another goroutine receives them
// through an Inbox, which holds virtual time still until the consumer has
// reacted, so a single host stays deterministic too.
//
// # Layering
//
// emu imports emu/wire only. Device packages (hca, switch) import emu; emu
// never imports them.
package emu
