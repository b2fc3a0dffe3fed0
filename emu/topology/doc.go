// Package topology owns ibemu's fabric descriptions: the in-memory graph of
// nodes, ports and links ([Topology], [Node], [Port]), the reader for ibsim
// "net" files and real ibnetdiscover output ([Load], [LoadFS], [Parse]), the
// checks that a graph is consistent ([Topology.Validate]), the writer in
// ibnetdiscover's format ([Write]), graph comparison ([Compare], [Diff]),
// the subnet a walk from one port discovers ([Topology.Reachable]: what
// ibnetdiscover or a subnet manager bound to that port sees, one rail of a
// dual-rail fabric, say) and generators for fat trees and other regular
// shapes ([FatTree], [Line], [Ring], [Mesh], and n-dimensional tori and
// meshes: [Torus], [Grid]).
//
// # Place in the layering
//
// The package is data only: it imports the standard library and emu/wire,
// and knows nothing of devices, clocks or sockets. The engine (emu), the
// attach server, the device packages (hca, ibswitch) and the tools in cmd/
// import it to learn what to build; nothing here imports them.
//
// # The file format
//
// ibsim's net format is ibnetdiscover's output plus extensions, so one reader
// serves both, and a real cluster's ibnetdiscover output loads as is. A node
// record is a header line followed by port lines:
//
//	switchguid=0x2c90200001000(2c90200001000)
//	Switch	36 "S-0002c90200001000"		# "spine IS4 a" enhanced port 0 lid 10 lmc 0
//	[1]	"H-0002c90300002000"[1](2c90300002001) 		# "node1 HCA-1" lid 1 4xQDR
//	[3]	"S-0002c90200001001"[3]		# "leaf IS4 b" lid 2 12xEDR
//
//	Hca	2 "Hca1"
//	[1]	"Switch1"[1]	w=3 s=7
//
// Keywords are recognised at the start of a line only, as whole words: node
// headers (Switch, Hca or Ca, Rt), GUID bases (switchguid=, caguid=,
// hcaguids=, rtguid=, each
// absolute with = or relative to the last absolute value with +), per-node
// identity (vendid= for the next node only, devid= for all following nodes,
// sysimgguid= for the next node only), per-port defaults for later nodes
// (width=, speed=, extspeed=), module="name" (later node ids become
// name#id), include "file" (relative to the including file, at most
// [MaxIncludeDepth] files deep), do <console command> (kept in
// [Topology.Commands]) and pdebug= (accepted, ignored). Any other line is a
// comment, which is how ibnetdiscover's "DR path ..." progress lines, its
// -l/-p listings and its -g chassis headings are skipped. Port lines follow
// their header directly; a line starting with # is skipped inside a record
// and any other line ends it. A port line names its local port, the remote
// node id in double quotes and, right after the closing quote, the remote
// port (default 1); w=, s= and e= (blanks around the = allowed) set
// LinkWidthEnabled, LinkSpeedEnabled and LinkSpeedExtEnabled of the local
// port, in the comment too, as ibsim reads them there (ibnetdiscover -f
// writes "s=4 w=2 v=4"), and an ibnetdiscover comment tail ("lid 5 lmc 0
// ... lid 3 4xQDR") gives a CA or router port's own LID and LMC ("lid 5"
// alone sets the LID) and the link's active width and speed, which win
// over w=, s= and e=. The (guid) after a CA or router port's
// number sets its port GUID (on a switch port line it is ignored: switch
// ports share the switch's GUID); the (guid) after the remote port must be
// that port's GUID. A line starting with @ defines an alias for
// a local port ("@[3] "up"") that exactly one port elsewhere links to
// one-sidedly ("[1] "@up""); aliases are kept in [Topology.Aliases], so
// console commands can name ports by them.
//
// Both ends of every link must be declared and must agree. When the file
// gives no GUIDs, they are assigned as ibsim assigns them: switches count up
// from [DefaultSwitchGUID] one GUID each (every switch port reports the node
// GUID), CAs from [DefaultCAGUID] taking NumPorts+1 GUIDs each (port n is
// node GUID + n). ibnetdiscover output carries the real GUIDs, including the
// port GUIDs written as [1](guid).
//
// Where ibemu deliberately differs from ibsim 0.10-0.12 (each difference
// turns a silent surprise into an error, or fixes a value that cannot work):
//   - every problem in a file is reported, each as FILE:LINE: message, instead
//     of stopping at the first ([ErrorList]);
//   - numbers must be whole tokens (ibsim's strtoul takes any prefix); like
//     ibsim they are C-style: 0x hex, a leading 0 octal, else decimal;
//   - a space between the closing quote and the remote port ("id" [3]) is an
//     error, where ibsim silently links to port 1;
//   - a port line that a blank line separated from its record is an error,
//     where ibsim silently drops it;
//   - a record may list more port lines than the node has ports as long as
//     each names a distinct port in range (ibsim stops reading after NumPorts
//     lines);
//   - the router GUID base is [DefaultRouterGUID] (ibsim starts at 0, an
//     invalid GUID);
//   - include names are resolved relative to the including file (ibsim
//     opens them relative to its working directory, which is the same thing
//     when it runs in the top file's directory);
//   - unknown port options (width=4 on a port line, say) are errors, and so
//     are header lines with an unknown node type ("Router 2 ...");
//   - descriptions longer than [MaxDescLen] bytes, ids longer than
//     [MaxIDLen] bytes and lines longer than [MaxLineLen] bytes are errors
//     (ibsim truncates or splits them);
//   - a port count above [MaxPorts] is an error (ibsim 0.12 loads
//     "Switch 300" and its 8-bit NumPorts wraps);
//   - a CR before the line feed is part of the line ending (ibsim keeps it,
//     so a CRLF file gives descriptions ending in a CR);
//   - ibsim compares keywords as prefixes, so "Switches 4 "s"" makes a
//     switch and "switchguids=" sets the switch GUID base: a word that
//     starts with a keyword but is longer is an error here ("Cabling ..."
//     too, which ibsim fails on); words starting with "do" ("done") stay
//     comments, as ibsim's console skips them as unknown commands;
//   - hcaguid= is an error: ibsim skips it as a comment (its keywords are
//     caguid= and hcaguids=), which silently gives other GUIDs;
//   - "lid", "lmc" and "enhanced port 0" in a CA or router header are
//     errors (ibsim ignores them there; a CA's LID goes on its port line);
//   - a "(guid)" after the remote port must be that port's GUID (ibsim
//     ignores it);
//   - the rate in a router port's comment ("lid 3 4xQDR") sets the port's
//     width and speed as on CA and switch lines (ibsim reads it on CA and
//     switch lines only), and a CA or router port takes the GUID written
//     as [n](guid) (ibsim always uses node GUID + n), so a real fabric's
//     ibnetdiscover output keeps its rates and port GUIDs;
//   - aliases may be used before the record that defines them (ibsim
//     needs the definition first);
//   - a node description with a double quote in it is an error (ibsim
//     ends a quoted description at its second quote and keeps a quote in
//     an unquoted one, "# Hca 19" unit": ibnetdiscover then prints a
//     description that does not read back).
//
// # Writing
//
// [Write] prints ibnetdiscover's format: switches first, then CAs, then
// routers, each preceded by its vendid=/devid=/sysimgguid= and GUID lines,
// and only connected ports. Node ids are derived from GUIDs ("S-", "H-" or
// "R-" and 16 hex digits) as ibnetdiscover derives them, unless [KeepIDs] is
// given. Load → Write → Load gives the same graph ([Compare]).
//
// # Concurrency
//
// A Topology is a plain value. Reading it from several goroutines is safe,
// including the lookup methods (their index is guarded by a mutex); changing
// it while others read is not. After adding, removing or renaming nodes, or
// changing their GUIDs, call [Topology.Reindex].
package topology
