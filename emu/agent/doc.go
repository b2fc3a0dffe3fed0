// Package agent holds the management agents every emulated InfiniBand node
// shares: what an HCA's firmware and a switch's management port both do
// with the MADs that reach them. HCAs (package hca) and switches (package
// ibswitch) import it; it imports only emu and emu/wire, and neither device
// package may import the other, so everything they have in common lives
// here.
//
// # What it owns
//
//   - MAD frames (frame.go): ParseFrame turns an arriving UD SEND-only frame
//     (LRH, optional GRH, BTH, DETH, 256-byte MAD, ICRC, VCRC) into an Addr
//     and a wire.MAD view; AppendFrame builds a sealed frame from an Addr
//     (VL15 for QP0, VL0 otherwise); Addr.Reply and AppendReply address the
//     answer to a request (addresses swapped, the Addr's P_Key: the
//     devices put there the table entry the request matched).
//   - Class support checks (support.go): ClassSupport.Check gives the IBTA
//     status a class agent answers a request with before it looks at the
//     attribute (0x0004 bad base/class version, 0x0008 unsupported method,
//     0x000C unsupported method/attribute); ErrorReply and UnmatchedReply
//     build the answers for refused requests and for classes the node has
//     no agent for (IBTA Vol 1 §13.4.7).
//   - The subnet management agent (sma.go, smaport.go, tables.go,
//     porttables.go, mkey.go):
//     node and per-port SMA state (NodeConfig, PortConfig, PortAttrs),
//     Get/Set of NodeInfo, NodeDescription, PortInfo, GUIDInfo,
//     P_KeyTable, SLtoVLMappingTable and VLArbitrationTable (IBTA Vol 1
//     §14.2.5), with PortInfo Set driving the emu.Port (state machine,
//     enable/disable, PortPhysicalState Polling on a trained link as a
//     link reset, link enables; changes that take the link down act
//     LinkChangeDelay after the reply left), M_Key protection levels and
//     lease (IBTA Vol 1 §14.2.4), and a hook (SMA.Handle) through which a
//     device adds attributes of its own (a switch adds SwitchInfo,
//     LinearForwardingTable, MulticastForwardingTable ...). A port's
//     GUIDInfo, P_KeyTable, SLtoVL and VLArbitration tables are read and
//     written through PortAttrs accessors and share their power-on
//     contents until a write changes them (copy on write), so a large
//     fabric keeps one default instead of a copy per port. SMA.Process
//     answers; SMA.Supports tells a device whether to offer an SMP to a
//     host SM agent first (SMInfo and Trap: every other Get and Set is the
//     SMA's, answered with 0x000C when the node lacks the attribute, as
//     device firmware does).
//   - Directed-route routing at a node (dr.go): RouteDR and RouteDRSend wrap
//     wire.DRProcessOutbound/DRProcessReturn (IBTA Vol 1 §14.2.2) with the
//     node's type and port table and check that the egress link is up;
//     RouteSwitchDR is both for a switch that holds its port table, so a
//     relay at every hop of a large fabric does not look into the Node.
//   - The performance management agent (pma.go, pmacounters.go, class
//     0x04, IBTA Vol 1 §16.1): ClassPortInfo, PortCounters and
//     PortCountersExtended Get/Set from the emu.Port counters, with the CA
//     and switch PortSelect rules and AllPortSelect; and (pmaoptional.go)
//     PortSamplesControl/PortSamplesResult (sampling timed on the fabric
//     clock), PortRcvErrorDetails, PortXmitDiscardDetails, PortXmitDataSL,
//     PortRcvDataSL, PortOpRcvCounters, PortFlowCtlCounters, the PortVL*
//     attributes, the congestion counters of Annex A10 (0x0030-0x0035) and
//     PortExtendedSpeedsCounters (ports with extended speeds). Flow-control,
//     XmitWait, congestion-time and lane counters stay 0 unless a console
//     PerformanceSet sets them: the links model none of those events.
//   - The Congestion Control agent (cc.go, class 0x21, IBTA Vol 1 Annex
//     A10): CongestionInfo, CongestionKeyInfo (CC_Key checks, violations,
//     lease, trap 0), CongestionLog (cleared on read), the switch and CA
//     settings, the CongestionControlTable and TimeStamp; the switch
//     (switch/cc.go) and the verbs engine (hca/verbs/cc.go) read the
//     settings and log their events here.
//   - The Mellanox vendor agent (vendor.go, class 0x0A): ClassPortInfo and
//     GeneralInfo from a Firmware description, in the layout vendstat -N
//     reads.
//   - Traps (trap.go): notice builders for traps 128, 144, 256, 257 and
//     258, and SMA.SendTrap, which addresses a trap to the port's
//     MasterSMLID, repeats it until the SM answers with TrapRepress and
//     reports repressions (SMAOptions.OnTrapRepressed). A port keeps one
//     trap 256 (Bad M_Key) waiting at a time (mkey.go), so that an SM
//     whose repress fails the M_Key check cannot start a storm.
//
// A device's receive path, in short: ParseFrame; for a directed-route SMP
// RouteDR (relay on wire.DRForwardPort, answer on wire.DRDeliver); SMPs
// for the node go to SMA.Process, PerfMgt to PMA.Process, class 0x0A to
// Vendor.Process, and requests nobody serves to UnmatchedReply; replies
// leave through RouteDRSend (directed route) or the arrival port, framed
// by AppendReply.
//
// # Concurrency and ownership
//
// Everything here runs on the fabric's event loop, like the devices that
// use it: SMA, PMA and Vendor keep no locks. Process methods never keep the
// arriving frame; the MADs they return are freshly allocated and owned by
// the caller. Timers (M_Key lease, trap retries) come from the fabric's
// emu.Clock.
//
// # Who may import it
//
// Device packages (hca, ibswitch) and the attach server. Host software in
// stack/ talks to devices through their host-agent interfaces, not to these
// agents directly.
package agent
