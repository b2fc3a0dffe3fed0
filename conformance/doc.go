// Package conformance holds IBTA-style compliance checks of subnet
// management agents (SMA, IBTA Vol 1 chapter 14) and performance
// management agents (PMA, chapter 16) that run against any target: the
// in-process emulator, an attach server (ibemu serve or the real ibsim),
// or a real HCA through a Linux umad device. A vendor certifying a
// device, or a CI gate guarding the emulator, runs the same checks.
//
// The package owns the checks, the walk that finds the nodes to check
// (directed-route SMPs from the target's port, as a subnet manager's
// discovery does) and the report. It depends only on the wire codecs
// (emu/wire) and its own Target interface, so that nothing of the
// emulator sits between a check and the device it judges (emu's layering
// test holds it to that). The adapter from the host stack's MAD
// transports lives with the command (cmd/ibemu, ibemu conform). Nothing
// in the emulator or the stack imports this package: the command, tests
// and external programs do.
//
// Most checks need nothing but Target.Exchange. A few need more of the
// target, through optional interfaces, and skip without it: the timed
// ones wait on the device's clock (Sleeper), and the trap check takes the
// traps a port sends to the checking port's LID (TrapReceiver). With
// Options.Parallel the timed checks of many nodes wait at once.
package conformance
