// Package attach implements ibsim's attach protocol, both sides: the
// server behind `ibemu serve`, which lets unmodified OpenSM and
// infiniband-diags run with Debian's libumad2sim.so preloaded against an
// emulated fabric, and a client (Dial) that gives the host stack a
// mad.Transport on a fabric served by ibemu or simulated by the real ibsim.
// The protocol is restated byte by byte in reference/ibsim-protocol.md.
//
// # What it owns
//
//   - The codec (proto.go): control messages (sim_ctl, 80 bytes in host
//     byte order: CONNECT, DISCONNECT, GET_VENDOR, GET_NODEINFO,
//     GET_PORTINFO, GET_PKEYS, SET_ISSM, GET_PORT, GET_GID, GET_GUID) and
//     data datagrams (sim_request, 288 bytes: address, status and a 256-byte
//     MAD). The decoders never panic and are fuzzed.
//   - The server (server.go, point.go, swhost.go, client.go, netio*.go,
//     rawio*.go, sock*.go): the sockets (abstract unix datagram sockets
//     named from IBSIM_SOCKNAME on Linux, or UDP on loopback in remote
//     mode), any number of clients (slot i is "<base>:out<i>" or port
//     P+1+i), attach by node id,
//     NodeDescription or "id[port]", control replies built from the current
//     emulated state, and the data path. A client's MADs enter the fabric as
//     the attach port's host sends them: through the HCA's host agent
//     interface on a CA port (hca.Device.RegisterAgent), and through a host
//     side of the switch's management port 0 that the server provides on a
//     switch. Responses go back by TID (the client's slot in bits 48..63 and
//     its own agent id in bits 32..47, as libumad2sim and ibsim arrange);
//     unsolicited SM and SA requests and traps go to the client holding the
//     SM role (SET_ISSM) and never to a client that cannot have registered
//     their class (libumad2sim crashes the process then, ibsim issue #38).
//     Requests are tracked as the Linux MAD layer tracks umad sends:
//     retransmitted after a timeout and handed back with status 110 when no
//     answer comes, which OpenSM's umad layer relies on. Nothing blocks the
//     event loop on a client: slow clients only grow their own queues, so
//     OpenSM with hundreds of SMPs outstanding (--maxsmps 0) is served in
//     full. On Linux (GOMAXPROCS 2 or more) the first client's data
//     socket is out of the runtime's network poller: its reader sleeps in
//     recvmmsg and runs each batch inline on the event loop, and the
//     answers leave in one sendmmsg (Config.PollReads keeps every client
//     in the poller). Clients that vanish are detected and dropped; their
//     SM role and agents go with them.
//   - The console (console.go): ibsim's commands with ibsim's syntax (Dump,
//     Route, Link, Unlink, ReLink, Clear, Guid, Error, Baselid,
//     PerformanceSet, Verbose, Wait, Attached, X, Help, Quit, !file), plus
//     Down, Up, Kill, Revive, Speed, Width, Flap, Drop and Corrupt; run from
//     stdin, a command file and the topology's "do" lines.
//   - The client (dial.go): Dial, configured like libumad2sim from
//     IBSIM_SOCKNAME, SIM_HOST, IBSIM_SERVER_NAME, IBSIM_SERVER_PORT and
//     SIM_SET_ISSM; *Client implements mad.Transport.
//
// Vendor classes (IBTA Vol 1 §13.4.4: 0x09-0x0F, 0x30-0x4F) reach a
// client only if its process declared them: IBEMU_VENDOR_CLASSES=0x32 in
// the environment of `ibping -S`, 0x33 for `ibsysstat -S` (a list,
// separated by commas or spaces). The server cannot learn otherwise what a
// process registered: libumad2sim keeps umad_register to itself (CONNECT's
// qp is always 0, and no message carries a registration), and it hands
// each received request to the fd registered for its class, dereferencing
// a missing one, so a class the process did not register kills it
// (SIGSEGV, ibsim issue #38; SIM_SET_ISSM, ibsim's workaround, hands
// such a process OpenSM's SMInfo too). The server reads the declaration
// from /proc/<pid>/environ at CONNECT, in local mode only (the CONNECT id
// is the pid, checked against the control socket's name <base>:ctl<pid>);
// remote clients, and clients on a switch's port 0, serve none. On a CA
// port it then registers an HCA agent for each declared class, which
// hands Get, Set, Send, Trap and Report requests of class version 1 to
// the first attached client that declared the class; without one the
// HCA answers as the Linux MAD layer does for an unregistered class
// (status 0x000C). Sending a vendor-class request does not make a client
// a holder: on Linux a client agent receives only its responses. A
// declaration is a promise: a process must register the class right after
// attaching (ibping -S and ibsysstat -S do) and a request arriving before
// it has, or a class it never registers, crashes it.
//
// The server builds its fabric with stack/fabric and runs it on the wall
// clock; its own state lives on the fabric's event loop, like the devices'.
//
// # Who may import it
//
// Commands (ibemu serve, ibemu sm), scenarios and tests. It imports emu,
// emu/agent, emu/topology, emu/wire, hca, ibswitch, stack/fabric and
// stack/mad; nothing in emu, the device packages or the rest of the stack
// imports it.
package attach
