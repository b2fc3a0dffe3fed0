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
// Device.HandlePacket and transmit with Port.Send.
//
// # Concurrency
//
// Every device callback, every Clock timer and every frame delivery runs on
// the fabric's single event-loop goroutine, so device code needs no locks.
// Methods of Node, Port and Link that read or change state must be called on
// that goroutine: from device code, from a Clock callback, or inside
// Fabric.Do. The Fabric's own methods (Do, Post, SetPortEnabled, SetDropRate,
// ...) are safe from any goroutine. Port counters are atomic and may be read
// anywhere.
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
