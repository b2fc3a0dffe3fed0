// Package scenarios holds the ginkgo v2 suites that drive ibemu end to
// end: install, uninstall, failure and fabric scenarios, each spec on a
// fabric and a host root of its own. Suites live in subpackages by area
// (scenarios/install, scenarios/uninstall, scenarios/failure,
// scenarios/fabric); this package holds what they share.
//
// # Conventions
//
//   - Every spec (or Ordered container) builds its own in-process fabric
//     (StartFabric) and host root (NewHost, FabricHost), so specs run in
//     parallel (ginkgo -p) and in random order (--randomize-all).
//   - The fabric's fault-injection seed is Seed(): the suite's random seed
//     (ginkgo prints it as "Random Seed"; --seed=N replays a run) mixed
//     with the spec's full text, so a spec replays exactly whether it runs
//     alone or among others. Each spec records its seed as a report entry.
//   - On failure the fabric's capture (an ERF pcap Wireshark opens) is
//     kept in ArtifactDir() and a fabric dump (topology and port states)
//     and a host summary are attached to the report (AddReportEntry).
//   - CheckGoroutines snapshots the goroutines and checks with gleak, at
//     cleanup, that none leaked.
//   - Labels: kind:install|uninstall|failure|fabric, env:emu (portable,
//     in-process), env:root and env:hw (excluded from `make scenarios`),
//     layer:sm, fault:linkflap|madloss|nodekill|smkill|installstep,
//     speed:slow. Select with --label-filter, e.g.
//     '!(env: containsAny {root, hw})'.
//
// It sits at the top of the import graph and may import anything.
package scenarios
