// Package hca emulates Mellanox host channel adapters: the InfiniHost III
// Ex (MT25208 in mem-free "Arbel" mode), ConnectX-2 (MT26428), ConnectX-3
// and 3 Pro (FDR, FDR10) and ConnectX-4, 5 and 6 (EDR, HDR) families,
// with one or two ports. The same device also models a router end node
// (Profile.AsRouter, NodeType 3, IBTA Vol 1 §14.2.5.3): its own SMA and
// PMA on every port, no verbs engine, and no forwarding between its ports
// (routing between subnets is out of scope).
//
// # What it owns
//
//   - Profiles (profile.go): the data tables of each adapter model (PCI
//     device ID, part number, ports, widths and speeds, MTU, VLs, P_Key and
//     GID table sizes, capability mask, firmware, PSID), kept in an
//     explicit Registry; StandardProfiles returns a fresh one holding the
//     built-in models.
//   - The device (device.go): Device implements emu.Device. It checks each
//     arriving frame's DLID against the port's LIDs, hands QP0 frames to
//     directed-route processing and the subnet management agent (or the
//     host's SM), QP1 frames to the performance management agent, the
//     Mellanox vendor agent or the host's agents after the P_Key and Q_Key
//     checks (an answer carries the P_Key table entry the request
//     matched), and frames for other QPs to the verbs Transport. On the
//     models that support it (ConnectX-3 and later), QP1 frames of the
//     Congestion Control class (0x21) go to the CC agent, kept per port.
//   - Host agents (agents.go): the MAD interface host software (subnet
//     manager, SA clients, diagnostics) uses, modelled on the Linux MAD
//     layer and umad: RegisterAgent, Agent.Send, Agent.Unregister, response
//     routing by the upper 32 bits of the TID, and the IsSM capability bit
//     raised while an SM agent is registered.
//
// The firmware agents themselves (SMA, PMA, vendor, CC, traps) are shared with
// switches and live in emu/agent.
//
// # Concurrency
//
// Everything runs on the fabric's event loop: HandlePacket, agent
// handlers, Agent.Send and RegisterAgent. Host software on other
// goroutines reaches a Device through emu.Fabric.Do and receives through
// an emu.Inbox its handlers push to.
//
// # Who may import it
//
// The host stack (stack/...), scenarios, cmd and tests. It imports emu,
// emu/agent and emu/wire, and never the switch package.
package hca
