// Package conformance holds IBTA-style compliance checks that run against
// any target: the in-process emulator, an attach server (ibemu serve or
// ibsim), or a real Linux umad device. Checks depend only on the wire codecs
// (emu/wire) and this package's own Target interface, so the same checks can
// certify hardware. Nothing in the emulator imports this package.
package conformance
