// Package wire holds the byte-exact InfiniBand wire formats: the local and
// global route headers, the base and extended transport headers, the
// invariant and variant CRCs, the MAD common header, subnet management
// packets (LID-routed and directed-route), the SA and RMPP headers, and the
// management attributes the emulator, the host stack and the conformance
// checks exchange.
//
// Every header is a byte-slice view in the style of gVisor's header package:
// a named []byte type with accessors, setters and an Encode(*XxxFields)
// method. Accessors do no bounds checks; call IsValid (or the matching
// Parse function, which never panics) before using a view on untrusted
// bytes. All multi-byte fields are big-endian, as on the wire.
//
// Whole packets: AppendPacket builds any frame, LRH to VCRC, from a
// PacketFields (a nil header pointer means the header is absent);
// AppendData builds the same frames from a DataFields, whose headers are
// held by value and chosen by the opcode (IBTA Vol 1 Table 38), so a
// verbs engine's data path fills in a few fields and writes each header
// with a handful of stores. ParsePacket decodes a frame into views;
// Packet.Decode does the same into a Packet the caller keeps, so a
// device's receive path copies no Packet per frame.
//
// Layering: wire imports only the standard library. Everything else in the
// module may import it; it imports nothing of ours.
package wire
