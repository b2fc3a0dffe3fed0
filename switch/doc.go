// Package ibswitch emulates InfiniBand switches (Mellanox InfiniScale III
// and IV, SwitchX-2, Switch-IB, Switch-IB 2 and Quantum: SDR to HDR and
// Mellanox FDR10): a device for the emu fabric engine that relays
// complete frames between its external ports and runs the switch's
// management port 0. The directory is switch/; the package is named
// ibswitch because switch is a Go keyword.
//
// # What it owns
//
//   - Profiles (profile.go): the fixed data of each switch model (NodeInfo
//     identity, SwitchInfo capabilities, port capabilities, the Mellanox
//     GeneralInfo firmware description) in an explicit registry, looked up
//     by name or NodeInfo.DeviceID.
//   - Forwarding (forward.go, tables.go): LID routing by the
//     LinearForwardingTable (IBTA Vol 1 §14.2.5.10), multicast replication
//     by the MulticastForwardingTable (§14.2.5.12), the port-state rules
//     of §7.2 (VL15 SMPs cross Init, Armed and Active ports; data packets
//     need Active on both sides), SL-to-VL remapping per (in, out) port pair
//     (§7.6, §14.2.5.8), P_Key enforcement (§10.9.4: the partition, in
//     either membership; end ports apply the full/limited rule) and
//     raw-packet filtering on external ports, and the error counters each
//     drop feeds.
//   - Management port 0 (switch.go, sma.go, dr.go): the SMI's
//     directed-route processing (IBTA Vol 1 §14.2.2) for transit, delivery
//     and the LID-routed lead-in and tail; the SMA with the switch-only
//     attributes SwitchInfo, LinearForwardingTable and
//     MulticastForwardingTable (§14.2.5.4, §14.2.5.10, §14.2.5.12) on top of
//     the shared agent in emu/agent, which serves NodeInfo, PortInfo,
//     P_KeyTable, SLtoVL, VLArbitration, the PMA (with AllPortSelect),
//     the Mellanox vendor class and, on SwitchX-2 and later models, the
//     Congestion Control class (0x21, IBTA Vol 1 Annex A10); and Trap 128
//     on physical link changes.
//   - Congestion marking (cc.go): under the virtual clock, a data packet
//     leaving a port whose output queue (the link's serialiser backlog)
//     is past the configured threshold gets BTH FECN at Marking_Rate, the
//     switch's CongestionLog records it and the port's congested time is
//     counted (PortXmitTimeCong, PortVLXmitTimeCong, SwPortVLCongestion).
//
// Frames are relayed as the same byte slice, without copying; only
// multicast replication copies. A frame whose VL changes on egress is
// resealed (VCRC only); a directed-route SMP whose hop pointer or return
// path changes is resealed whole (ICRC and VCRC).
//
// # Concurrency
//
// Like every emu device a Switch runs on the fabric's event loop: every
// method that reads or changes state must be called there (from device
// code, a Clock callback or inside emu.Fabric.Do), or before the fabric
// starts. Counters live in the emu.Port and belong to the event loop
// (emu.Fabric.ReadCounters copies them from elsewhere); the Stats
// counters are atomic.
//
// # Who may import it
//
// It imports emu, emu/wire and emu/agent only. The host stack, the attach
// server, the topology loader, scenarios and commands import it; hca never
// does, and it never imports hca.
package ibswitch
