// Package sm is ibemu's subnet manager and subnet administrator: host
// software that brings an InfiniBand subnet up the way OpenSM does and then
// answers the subnet administration class (IBTA Vol 1 chapter 14 and
// chapter 15).
//
// # What the SM does
//
// A heavy sweep (IBTA Vol 1 §14.4.2, OpenSM's osm_state_mgr) walks the fabric
// with directed-route SMPs through a bounded window of outstanding
// transactions, reading NodeInfo, NodeDescription, SwitchInfo and PortInfo of
// every node, and builds a Subnet. It then
//
//   - assigns LIDs (§14.4.3) with the configured LMC, keeping the LIDs a
//     GUID-to-LID file or the ports themselves already carry (OpenSM's
//     osm_lid_mgr and its guid2lid file);
//   - computes linear forwarding tables with one of three routing engines,
//     min-hop, up/down or fat-tree, and checks the result for credit loops
//     (cycles in the channel dependency graph), telling a loop of the
//     CA-to-CA routes from one that only the routes towards switch LIDs
//     close (min-hop on a three-level fat tree: a spine reaches a sibling
//     spine down through a leaf and up again); min-hop's loops are logged
//     and kept as problems, up/down and fat-tree fail the sweep on one;
//   - writes PortInfo (LID, LMC, MasterSMLID, M_Key and protection, neighbour
//     MTU, operational VLs, and the link parameters of OpenSM's link
//     manager with its default options: head-of-queue lifetime and VL
//     stall count on switch ports, error thresholds, LinkSpeedEnabled 15,
//     LinkSpeedExtEnabled 31 between two ports with extended speeds
//     (written with SMSupportsExtendedSpeeds, bit 31 of the modifier) and
//     LinkWidthEnabled 255 on 2X-capable ports when a port enables fewer
//     than it supports), FDR10 through the Mellanox MlnxExtPortInfo
//     attribute on the devices that have it (OpenSM's "fdr10 1"), and
//     P_Key tables from the partition configuration while the routes are
//     computed; the new enables take effect when a link next trains;
//     then the LFT blocks
//     that changed, the QoS tables when Config.QoS asks for them (OpenSM's
//     default QoS tables on CA and switch ports; off by default, as in
//     OpenSM, which leaves the ports' own SL-to-VL and VL arbitration
//     tables alone) and the multicast forwarding tables;
//   - moves every port INIT → ARMED → ACTIVE (§7.2.2), switches and CAs
//     alike, in OpenSM's order;
//   - with Config.CongestionControl, then writes the congestion control
//     settings (IBTA Vol 1 Annex A10: SwitchCongestionSetting,
//     CACongestionSetting, the CongestionControlTable) to the ports that
//     have congestion control, as OpenSM's congestion control manager
//     does (cc.go).
//
// Config.ApplyOpenSMOptions reads OpenSM's options file (opensm.conf) for
// the options the SM models (osmconf.go).
//
// SMInfo (§14.4.1) runs the election between SMs: priority, then the lower
// port GUID wins; an SM with a non-zero SM_Key ignores SMs that answer
// with another key, as OpenSM does (whose default key, 1, `ibemu sm`
// takes too). A standby polls the master and takes over when it stops
// answering; a master that finds a better standby hands over. Light sweeps
// poll SwitchInfo.PortStateChange; a Trap 128 or a change found by a light
// sweep starts a heavy sweep. The IPoIB broadcast group of the default
// partition (ff12:401b:ffff::ffff:ffff, Q_Key 0x0B1B, MTU 2048) exists from
// the start.
//
// Every SMP is directed-route, as OpenSM's (osm_req_get and osm_req_set
// always address by DR path with permissive LIDs). A phase's SMPs go
// through the agent's window as one mad.Stream: the next SMPs are built
// while earlier ones are on the wire, and they leave at the instants one
// batch of all of them would, so runs replay exactly.
//
// Every timer runs on the clock of the MAD agents (the fabric's virtual clock
// in-process, the wall clock over the attach protocol).
//
// # Subnet administration
//
// Path and group rates are OpenSM's (osm_sa_path_record.c,
// ib_port_info_compute_rate): each port's active width and speed, the
// extended speed where the port has them (FDR 56 Gb/s at 4X, EDR 100,
// HDR 200, 2X HDR 100; FDR10 shows QDR, 40), switch port 0's own rate at
// a path's switch end, and the slowest in OpenSM's order of data rates,
// which the rate selectors step through too (rate.go).
//
// The SA (sa*.go) answers PathRecord, NodeRecord, PortInfoRecord,
// LinkRecord, SwitchInfoRecord, LinearForwardingTableRecord,
// MCMemberRecord (join, leave), ServiceRecord (set, get, delete, lease),
// InformInfo subscriptions and ClassPortInfo, with component masks, GetTable
// over RMPP and the SA status codes of IBTA Vol 1 §15.2.1.
//
// # Layering
//
// sm imports emu (only for emu.Clock), emu/wire and stack/mad. It talks to
// the fabric only through a mad.Transport, so the same code runs over the
// in-process emulator, the ibsim attach protocol or a umad device. Commands
// (ibemu sm, ibemu up), stack/ibtest and scenarios import it.
package sm
