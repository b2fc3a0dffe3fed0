package attach

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// The console: ibsim's commands with ibsim's syntax (reference
// ibsim-protocol.md §8), plus fault injection ibsim lacks. Command words
// are case-insensitive, as in ibsim, which takes only whole words; here a
// word may also be shortened to any prefix, the first command in table
// order that it starts winning (D is Dump, R Route, L Link, U Unlink,
// rel ReLink). Node ids are written in double quotes (a bare word works
// too), a port as [n] right after the closing quote: Unlink "Switch1"[3].
// Where ibsim reads a malformed argument in a way that does something else
// quietly ("Switch1" [3] or "Switch1" 3 unlink every port of Switch1), the
// command fails instead and says why.

// consoleCmd is one console command.
type consoleCmd struct {
	name  string
	usage string
	run   func(s *Server, out io.Writer, args string) error
}

var consoleCmds []consoleCmd

func init() {
	consoleCmds = []consoleCmd{
		// ibsim's commands, in ibsim's order.
		{"Dump", `Dump ["nodeid"]: nodes, GUIDs, forwarding tables and port states`, cmdDump},
		{"Route", `Route <from-lid> <to-lid>: trace a route through the forwarding tables`, cmdRoute},
		{"Link", `Link "nodeid"[port] "remoteid"[port]: connect two free ports`, cmdLink},
		{"Unlink", `Unlink "nodeid"[port] | Unlink "nodeid": take the link(s) away, remembering the peer`, cmdUnlink},
		{"Clear", `Clear "nodeid"[port] | Clear "nodeid": unlink and reset LID, LMC and SM LID`, cmdClear},
		{"Guid", `Guid "nodeid" <guid>: change a node's GUID (CA port GUIDs follow as GUID+port); Guid "nodeid"[port] <guid>: change one CA port's GUID`, cmdGUID},
		{"Error", `Error "nodeid"[port] <rate%> [attrid]: lose frames arriving at the port (or only SMA/PMA requests for attrid)`, cmdError},
		{"Baselid", `Baselid "nodeid"[port] <lid> [lmc]: change a port's LID (a switch's is port 0's)`, cmdBaselid},
		{"Start", `Start: (the network always runs; accepted for ibsim scripts)`, cmdStart},
		{"Verbose", `Verbose [level]: show or set the log level (0 warnings, 1 info, 2 debug)`, cmdVerbose},
		{"Wait", `Wait <sec>: stop the whole fabric for sec seconds`, cmdWait},
		{"Attached", `Attached: list attached clients`, cmdAttached},
		{"X", `X <slot>: force-disconnect a client`, cmdX},
		{"Help", `Help | ?: this list`, cmdHelp},
		{"Quit", `Quit: stop the server`, cmdQuit},
		{"ReLink", `ReLink "nodeid"[port] | ReLink "nodeid": restore links taken by Unlink or Clear`, cmdReLink},
		{"PerformanceSet", `PerformanceSet "nodeid"[port] Attribute.Field=value: set a counter of PortCounters, PortCountersExtended, PortRcvErrorDetails, PortXmitDiscardDetails, PortOpRcvCounters, PortFlowCtlCounters, or (field <Attribute><vl>) PortVLOpPackets, PortVLOpData, PortVLXmitFlowCtlUpdateErrors, PortVLXmitWaitCounters`, cmdPerfSet},
		// Additions.
		{"Down", `Down "nodeid"[port] | Down "nodeid": disable port(s) (PortPhysicalState Disabled)`, cmdDown},
		{"Up", `Up "nodeid"[port] | Up "nodeid": enable port(s) again`, cmdUp},
		{"Kill", `Kill "nodeid": power a node off (it stops answering, its links go down)`, cmdKill},
		{"Revive", `Revive "nodeid": power a killed node back on`, cmdRevive},
		{"Speed", `Speed "nodeid"[port] SDR|DDR|QDR|FDR|EDR|HDR|NDR: retrain the link at that speed`, cmdSpeed},
		{"Width", `Width "nodeid"[port] 1x|2x|4x|8x|12x: retrain the link at that width`, cmdWidth},
		{"Flap", `Flap "nodeid"[port] <count> [interval]: pull and replug the cable count times (default every 200ms)`, cmdFlap},
		{"Drop", `Drop "nodeid"[port] <rate%>: lose frames the port transmits`, cmdDrop},
		{"Corrupt", `Corrupt "nodeid"[port] <rate%>: corrupt frames the port transmits (the receiver drops them on VCRC)`, cmdCorrupt},
	}
}

// Exec runs one console command and writes its output to out. A bad
// command returns an error wrapping ErrCommand (and changes nothing); the
// server keeps running either way. Lines starting with '#' are comments
// (echoed); "!FILE" runs the commands of FILE.
func (s *Server) Exec(line string, out io.Writer) error {
	line = strings.TrimSpace(line)
	switch {
	case line == "":
		return nil
	case line[0] == '#':
		fmt.Fprintln(out, line)
		return nil
	case line[0] == '!':
		return s.ExecFile(strings.TrimSpace(line[1:]), out)
	case line[0] == '?':
		return cmdHelp(s, out, "")
	}
	word, args, _ := strings.Cut(line, " ")
	if i := strings.IndexByte(word, '\t'); i >= 0 {
		word, args = word[:i], word[i+1:]+" "+args
	}
	args = strings.TrimSpace(args)
	for _, c := range consoleCmds {
		if len(word) <= len(c.name) && strings.EqualFold(c.name[:len(word)], word) {
			if err := c.run(s, out, args); err != nil {
				if errors.Is(err, ErrCommand) {
					return fmt.Errorf("%w (usage: %s)", err, c.usage)
				}
				return err
			}
			return nil
		}
	}
	return fmt.Errorf("attach: command %q unknown (Help lists the commands): %w", word, ErrCommand)
}

// ExecFile runs the commands of a file, one per line, reporting bad ones
// on out and going on; it returns an error if the file cannot be read or
// any command failed.
func (s *Server) ExecFile(name string, out io.Writer) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("attach: command file: %w", err)
	}
	defer f.Close()
	bad := 0
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		if err := s.Exec(sc.Text(), out); err != nil {
			fmt.Fprintf(out, "# %s:%d: %v\n", name, ln, err)
			bad++
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("attach: command file %s: %w", name, err)
	}
	if bad > 0 {
		return fmt.Errorf("attach: %s: %d command(s) failed: %w", name, bad, ErrCommand)
	}
	return nil
}

// RunConsole reads commands from r until it ends or ctx is done, printing
// a "sim> " prompt and each command's output or error to w. The end of r
// does not stop the server.
func (s *Server) RunConsole(ctx context.Context, r io.Reader, w io.Writer, prompt bool) {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			case <-s.done:
				return
			}
		}
	}()
	for {
		if prompt {
			fmt.Fprint(w, "sim> ")
		}
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case l, ok := <-lines:
			if !ok {
				return
			}
			if err := s.Exec(l, w); err != nil {
				fmt.Fprintf(w, "# %v\n", err)
			}
		}
	}
}

// nodeArg is a parsed "nodeid"[port] argument.
type nodeArg struct {
	n    *node
	port int // -1: none given
}

// parseNodeArg reads a node argument from the front of args: a quoted id
// (or a bare word) with an optional [port] directly after it. It returns
// the rest of args.
func (s *Server) parseNodeArg(args string) (nodeArg, string, error) {
	args = strings.TrimLeft(args, " \t")
	var id, rest string
	if strings.HasPrefix(args, `"`) {
		end := strings.IndexByte(args[1:], '"')
		if end < 0 {
			return nodeArg{}, "", fmt.Errorf("attach: unterminated node id in %q: %w", args, ErrCommand)
		}
		id, rest = args[1:1+end], args[2+end:]
	} else {
		end := strings.IndexAny(args, " \t[")
		if end < 0 {
			end = len(args)
		}
		id, rest = args[:end], args[end:]
	}
	if id == "" {
		return nodeArg{}, "", fmt.Errorf("attach: missing node id: %w", ErrCommand)
	}
	a := nodeArg{port: -1}
	if strings.Contains(id, "@") {
		// A port alias of the topology file ("@up", or "m@up" under a
		// module): it names the node and the port, as in ibsim.
		tp := s.cfg.Topology.Aliases[id]
		if tp == nil {
			return nodeArg{}, "", fmt.Errorf("attach: alias %q not found: %w", id, ErrNoNode)
		}
		if strings.HasPrefix(rest, "[") {
			return nodeArg{}, "", fmt.Errorf("attach: alias %q names port %d already: %w", id, tp.Num, ErrCommand)
		}
		a.n, a.port = s.byID[tp.Node.ID], tp.Num
		if a.n == nil {
			return nodeArg{}, "", fmt.Errorf("attach: alias %q: node %q not found: %w", id, tp.Node.ID, ErrNoNode)
		}
		return a, strings.TrimSpace(rest), nil
	}
	if a.n = s.findNode(id); a.n == nil {
		return nodeArg{}, "", fmt.Errorf("attach: node %q not found: %w", id, ErrNoNode)
	}
	if t := strings.TrimLeft(rest, " \t"); t != rest && strings.HasPrefix(t, "[") {
		return nodeArg{}, "", fmt.Errorf("attach: the port must follow the closing quote directly, as \"%s\"%s (ibsim reads \"%s\" %s as the whole node): %w",
			id, strings.Fields(t)[0], id, strings.Fields(t)[0], ErrCommand)
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return nodeArg{}, "", fmt.Errorf("attach: missing ']' after %q: %w", id, ErrCommand)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(rest[1:end]), 0, 8)
		if err != nil {
			return nodeArg{}, "", fmt.Errorf("attach: bad port %q of %q: %w", rest[1:end], id, ErrCommand)
		}
		a.port, rest = int(v), rest[end+1:]
		if a.n.en.Port(a.port) == nil {
			return nodeArg{}, "", fmt.Errorf("attach: %s has no port %d (ports 1..%d): %w", a.n.topo, a.port,
				a.n.en.NumPorts(), ErrNoNode)
		}
	}
	return a, strings.TrimSpace(rest), nil
}

// ports returns the external ports the argument names: its port, or all
// of the node's ports when none was given.
func (a nodeArg) ports() ([]*emu.Port, error) {
	if a.port == 0 {
		return nil, fmt.Errorf("attach: port 0 of %s has no link: %w", a.n.topo, ErrCommand)
	}
	if a.port > 0 {
		return []*emu.Port{a.n.en.Port(a.port)}, nil
	}
	return a.n.en.Ports()[1:], nil
}

// needPort checks that a port was given.
func (a nodeArg) needPort() error {
	if a.port < 0 {
		return fmt.Errorf("attach: %s: a port is needed, as \"%s\"[n]: %w", a.n.topo, a.n.topo.ID, ErrCommand)
	}
	return nil
}

// do runs fn on the event loop.
func (s *Server) do(fn func() error) error {
	var err error
	if derr := s.fab.Do(func() { err = fn() }); derr != nil {
		return fmt.Errorf("attach: %w", derr)
	}
	return err
}

func noArgs(args string) error {
	if args != "" {
		return fmt.Errorf("attach: unexpected %q: %w", args, ErrCommand)
	}
	return nil
}

// parseRate reads a percentage 0..100 and returns it as a probability.
func parseRate(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || v < 0 || v > 100 || v != v {
		return 0, fmt.Errorf("attach: rate %q is not a percentage 0..100: %w", s, ErrCommand)
	}
	return v / 100, nil
}

// ibsim's names in Dump (sim_cmd.c): PortState 1..4, PortPhysicalState
// 1..6 (IBTA Vol 1 §14.2.5.6), "?" for anything else.
var (
	stateNames = [...]string{"-", "Down", "Init", "Armed", "Active"}
	physNames  = [...]string{"-", "Sleep", "Polling", "Disabled", "Training", "LinkUp", "ErrorRecovery"}
)

func stateName(st wire.PortState) string {
	if st >= 1 && int(st) < len(stateNames) {
		return stateNames[st]
	}
	return "?"
}

func physName(st wire.PhysPortState) string {
	if st >= 1 && int(st) < len(physNames) {
		return physNames[st]
	}
	return "?"
}

func cmdDump(s *Server, out io.Writer, args string) error {
	var only *node
	if args != "" {
		a, rest, err := s.parseNodeArg(args)
		if err != nil {
			return err
		}
		if err := noArgs(rest); err != nil {
			return err
		}
		only = a.n
	}
	return s.do(func() error {
		fmt.Fprintf(out, "# Net status - %s\n", time.Now().Format(time.ANSIC))
		count := 0
		for _, n := range s.nodes {
			if only != nil && n != only {
				continue
			}
			count++
			s.dumpNode(out, n)
		}
		fmt.Fprintf(out, "#  dumped %d nodes\n", count)
		return nil
	})
}

// nodeTypeName is ibsim's name of a node type in Dump.
func nodeTypeName(t wire.NodeType) string {
	switch t {
	case wire.NodeTypeSwitch:
		return "Switch"
	case wire.NodeTypeCA:
		return "Ca"
	case wire.NodeTypeRouter:
		return "Router"
	}
	return "Unknown"
}

// dumpNode prints one node as ibsim's Dump does: a header with the GUIDs,
// a switch's forwarding table, then one line per port with its peer (none
// when the port is Down), width, speed and states. What ibsim lacks (a
// killed node, the peer an unlinked port remembers, drop and corrupt
// rates) follows as "# ..." comments at the ends of the lines.
func (s *Server) dumpNode(out io.Writer, n *node) {
	ni := n.sma.Node()
	alive := ""
	if !n.en.Alive() {
		alive = "\t# killed"
	}
	fmt.Fprintf(out, "\n%s %d \"%s\"\tnodeguid %x\tsysimgguid %x%s\n", nodeTypeName(n.topo.Type), n.en.NumPorts(), n.topo.ID,
		uint64(ni.NodeGUID), uint64(ni.SystemImageGUID), alive)
	if n.sw != nil {
		si := n.sw.SwitchInfo()
		fmt.Fprintf(out, "#\tlinearcap %d FDBtop %d portchange %d\n", si.LinearFDBCap, si.LinearFDBTop, b2i(si.PortStateChange))
		fdbTop := int(si.LinearFDBTop)
		for i := 0; i < fdbTop; i += 16 {
			top := i + 16
			if top >= fdbTop {
				top = fdbTop + 1
			}
			fmt.Fprintf(out, "#\tForwarding table %d-%d:", i, top-1)
			for j := i; j < top; j++ {
				fmt.Fprintf(out, " [%d]%X", j, n.sw.Route(wire.LID(j)))
			}
			fmt.Fprintln(out)
		}
	}
	for _, p := range n.en.Ports() {
		if p == nil {
			continue
		}
		pa := n.sma.Port(p.Num())
		guid := pa.Config.GUID
		if n.sw != nil {
			guid = n.sw.GUID()
		}
		peer := "\t\t"
		var extra []string
		switch q := p.Peer(); {
		case p.Num() == 0:
			peer = "\t\"Sma Port\"[0]"
		case q != nil && p.State() != wire.PortStateDown:
			peer = fmt.Sprintf("\t\"%s\"[%d]", q.Node().Name(), q.Num())
		case q != nil:
			extra = append(extra, fmt.Sprintf("cabled to \"%s\"[%d]", q.Node().Name(), q.Num()))
		case n.removed[p.Num()] != nil:
			r := n.removed[p.Num()]
			extra = append(extra, fmt.Sprintf("unlinked from \"%s\"[%d]", r.Node().Name(), r.Num()))
		}
		if e, ok := n.dev.errAttr[p.Num()]; ok {
			// ibsim's dump_comment: err_attr only when one was given.
			extra = append(extra, fmt.Sprintf("err_rate %g", e.rate*100))
			if e.attr != 0 {
				extra = append(extra, fmt.Sprintf("err_attr %d", uint16(e.attr)))
			}
		}
		if q := p.Peer(); q != nil && q.DropRate() > 0 {
			extra = append(extra, fmt.Sprintf("err_rate %g", q.DropRate()*100))
		}
		if r := p.DropRate(); r > 0 {
			extra = append(extra, fmt.Sprintf("drop %g%%", r*100))
		}
		if r := p.CorruptRate(); r > 0 {
			extra = append(extra, fmt.Sprintf("corrupt %g%%", r*100))
		}
		comment := ""
		for _, e := range extra {
			comment += "\t# " + e
		}
		// The width and speed PortInfo reports, which for a port without
		// a link are its idle values (4x, 2.5G), as ibsim shows them.
		pi := wire.PortInfo(make([]byte, wire.PortInfoSize))
		width, speed := widthName(p.Width()), speedName(p.Speed())
		if n.sma.FillPortInfo(pi, p.Num(), p.Num(), false) {
			width, speed = widthName(pi.LinkWidthActive()), piSpeedName(pi)
		}
		link := fmt.Sprintf("%s %s %s/%s", width, speed, stateName(p.State()), physName(p.PhysState()))
		if n.sw != nil && p.Num() != 0 {
			fmt.Fprintf(out, "%x\t[%d]%s\t %s%s\n", uint64(guid), p.Num(), peer, link, comment)
			continue
		}
		fmt.Fprintf(out, "%x\t[%d]%s\t lid %d lmc %d smlid %d %s%s\n", uint64(guid), p.Num(), peer, pa.LID, pa.LMC,
			pa.MasterSMLID, link, comment)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// widthName is ibsim's three-column LinkWidthActive (" 4x", "12x"), "-"
// when the port has no link.
func widthName(w wire.LinkWidth) string {
	if w == 0 {
		return "-"
	}
	return fmt.Sprintf("%3s", fmt.Sprintf("%dx", w.Lanes()))
}

// speedName is ibsim's data rate per lane of an active speed (" 2.5G",
// "10.0G", " 14G" for FDR, " 25G" for EDR, "50G" for HDR; NDR, which ibsim
// does not name, is "100G"), "-" when the port has no link.
func speedName(sp wire.LinkSpeed) string {
	for _, e := range speedNames {
		if e.s == sp {
			return e.name
		}
	}
	return "-"
}

// piSpeedName is speedName of PortInfo's active speed: LinkSpeedExtActive
// when set (IBTA Vol 1 §14.2.5.6), else LinkSpeedActive.
func piSpeedName(pi wire.PortInfo) string {
	switch pi.LinkSpeedExtActive() {
	case 0:
		return speedName(pi.LinkSpeedActive())
	case 1:
		return speedName(wire.SpeedFDR)
	case 2:
		return speedName(wire.SpeedEDR)
	case 4:
		return speedName(wire.SpeedHDR)
	case 8:
		return speedName(wire.SpeedNDR)
	}
	return "?"
}

// rateName is a port's active width and speed as ibnetdiscover writes
// them ("4xQDR"), for the messages of Speed and Width.
func rateName(p *emu.Port) string {
	if p.Width() == 0 || p.Speed() == 0 {
		return "no link"
	}
	return fmt.Sprintf("%dx%s", p.Width().Lanes(), p.Speed())
}

var speedNames = []struct {
	name string
	s    wire.LinkSpeed
}{{" 2.5G", wire.SpeedSDR}, {" 5.0G", wire.SpeedDDR}, {"10.0G", wire.SpeedQDR}, {" 14G", wire.SpeedFDR},
	{" 25G", wire.SpeedEDR}, {"50G", wire.SpeedHDR}, {"100G", wire.SpeedNDR}}

// portByLID finds the port that owns lid: a CA port, or a switch's port 0.
func (s *Server) portByLID(lid wire.LID) (*node, *emu.Port) {
	for _, n := range s.nodes {
		for _, p := range n.en.Ports() {
			if p == nil || (n.sw != nil && p.Num() != 0) {
				continue
			}
			if n.sma.Port(p.Num()).OwnsLID(lid) {
				return n, p
			}
		}
	}
	return nil, nil
}

func cmdRoute(s *Server, out io.Writer, args string) error {
	f := strings.Fields(args)
	if len(f) != 2 {
		return fmt.Errorf("attach: route needs two LIDs: %w", ErrCommand)
	}
	var lids [2]wire.LID
	for i, a := range f {
		v, err := strconv.ParseUint(a, 0, 16)
		if err != nil || !wire.LID(v).IsUnicast() {
			return fmt.Errorf("attach: %q is not a unicast LID: %w", a, ErrCommand)
		}
		lids[i] = wire.LID(v)
	}
	return s.do(func() error {
		n, p := s.portByLID(lids[0])
		_, to := s.portByLID(lids[1])
		if p == nil || to == nil {
			return fmt.Errorf("attach: route %d to %d: lid %d is not assigned: %w", lids[0], lids[1],
				map[bool]wire.LID{true: lids[0], false: lids[1]}[p == nil], ErrCommand)
		}
		fmt.Fprintf(out, "From node %q port %d lid %d\n", n.topo.ID, p.Num(), lids[0])
		for hops := 0; hops < 64; hops++ {
			if p == to {
				fmt.Fprintf(out, "To node %q port %d lid %d\n", n.topo.ID, p.Num(), lids[1])
				return nil
			}
			if p.State() != wire.PortStateActive {
				return fmt.Errorf("attach: route: node %q port %d is %s, not Active: %w", n.topo.ID, p.Num(),
					stateName(p.State()), ErrCommand)
			}
			outp := p
			if n.sw != nil {
				si := n.sw.SwitchInfo()
				e := n.sw.Route(lids[1])
				if lids[1] > wire.LID(si.LinearFDBTop) || int(e) > n.en.NumPorts() {
					return fmt.Errorf("attach: route: node %q has no forwarding entry for lid %d (entry %d, top %d): %w",
						n.topo.ID, lids[1], e, si.LinearFDBTop, ErrCommand)
				}
				outp = n.en.Port(int(e))
				if e == 0 {
					return fmt.Errorf("attach: route: node %q forwards lid %d to its own port 0: %w", n.topo.ID, lids[1], ErrCommand)
				}
				if outp.State() != wire.PortStateActive {
					return fmt.Errorf("attach: route: node %q out port %d is %s: %w", n.topo.ID, e, stateName(outp.State()), ErrCommand)
				}
			}
			q := outp.Peer()
			if q == nil {
				return fmt.Errorf("attach: route: node %q port %d has no link: %w", n.topo.ID, outp.Num(), ErrCommand)
			}
			n, p = s.byID[q.Node().Name()], q
			fmt.Fprintf(out, "[%d] -> %q[%d]\n", outp.Num(), n.topo.ID, p.Num())
			if n.sw != nil && n.sma.Port(0).OwnsLID(lids[1]) && to.Node() == q.Node() {
				fmt.Fprintf(out, "To node %q port 0 lid %d\n", n.topo.ID, lids[1])
				return nil
			}
		}
		return fmt.Errorf("attach: route: no route found after 64 hops: %w", ErrCommand)
	})
}

func cmdLink(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	b, rest, err := s.parseNodeArg(rest)
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	if a.port < 1 || b.port < 1 {
		return fmt.Errorf("attach: link needs a port (1..n) on both ends: %w", ErrCommand)
	}
	return s.do(func() error {
		pa, pb := a.n.en.Port(a.port), b.n.en.Port(b.port)
		if _, err := s.fab.Connect(pa, pb); err != nil {
			return fmt.Errorf("attach: link: %w: %w", err, ErrCommand)
		}
		delete(a.n.removed, a.port)
		delete(b.n.removed, b.port)
		fmt.Fprintf(out, "# linked %q[%d] to %q[%d]\n", a.n.topo.ID, a.port, b.n.topo.ID, b.port)
		return nil
	})
}

// unlink removes the link of p, remembering both ends for ReLink.
func (s *Server) unlink(p *emu.Port) {
	q := p.Peer()
	if q == nil {
		return
	}
	s.byID[p.Node().Name()].removed[p.Num()] = q
	s.byID[q.Node().Name()].removed[q.Num()] = p
	s.fab.Disconnect(p)
}

func cmdUnlink(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	ports, err := a.ports()
	if err != nil {
		return err
	}
	return s.do(func() error {
		if a.port > 0 && ports[0].Link() == nil {
			return fmt.Errorf("attach: port %d of %s is not linked: %w", a.port, a.n.topo, ErrCommand)
		}
		k := 0
		for _, p := range ports {
			if p.Link() != nil {
				s.unlink(p)
				k++
			}
		}
		fmt.Fprintf(out, "# unlinked %d port(s) of %s\n", k, a.n.topo)
		return nil
	})
}

func cmdReLink(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	ports, err := a.ports()
	if err != nil {
		return err
	}
	return s.do(func() error {
		k := 0
		var errs []error
		for _, p := range ports {
			q := a.n.removed[p.Num()]
			if q == nil {
				continue
			}
			if _, err := s.fab.Connect(p, q); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(a.n.removed, p.Num())
			delete(s.byID[q.Node().Name()].removed, q.Num())
			k++
		}
		if a.port > 0 && k == 0 && len(errs) == 0 {
			return fmt.Errorf("attach: port %d of %s has no link to restore: %w", a.port, a.n.topo, ErrCommand)
		}
		fmt.Fprintf(out, "# relinked %d port(s) of %s\n", k, a.n.topo)
		if len(errs) > 0 {
			return fmt.Errorf("attach: relink: %w: %w", errors.Join(errs...), ErrCommand)
		}
		return nil
	})
}

func cmdClear(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	ports, err := a.ports()
	if err != nil {
		return err
	}
	return s.do(func() error {
		for _, p := range ports {
			s.unlink(p)
			if a.n.sw == nil {
				pa := a.n.sma.Port(p.Num())
				pa.LID, pa.LMC, pa.MasterSMLID = 0, 0, 0
			}
		}
		if a.n.sw != nil && a.port < 0 {
			pa := a.n.sma.Port(0)
			pa.LID, pa.LMC, pa.MasterSMLID = 0, 0, 0
		}
		fmt.Fprintf(out, "# cleared %d port(s) of %s\n", len(ports), a.n.topo)
		return nil
	})
}

func cmdGUID(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	g, err := strconv.ParseUint(rest, 0, 64)
	if err != nil || g == 0 {
		return fmt.Errorf("attach: guid %q is not a non-zero number: %w", rest, ErrCommand)
	}
	if a.port < 0 {
		// ibsim's form: the node GUID changes and the port GUIDs derived
		// from it (NodeGUID+port on a CA) follow.
		return s.do(func() error {
			if a.n.sw != nil {
				a.n.sw.SetNodeGUID(wire.GUID(g))
			} else {
				a.n.hca.SetNodeGUID(wire.GUID(g))
			}
			fmt.Fprintf(out, "# %s has node GUID 0x%016x\n", a.n.topo, g)
			return nil
		})
	}
	if a.n.sw != nil {
		return fmt.Errorf("attach: %s: switch ports all carry the switch's GUID; change it with \"%s\" <guid>: %w",
			a.n.topo, a.n.topo.ID, ErrCommand)
	}
	return s.do(func() error {
		pa := a.n.sma.Port(a.port)
		pa.Config.GUID = wire.GUID(g)
		pa.SetGUID(0, wire.GUID(g))
		fmt.Fprintf(out, "# port %d of %s has GUID 0x%016x\n", a.port, a.n.topo, g)
		return nil
	})
}

func cmdError(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return fmt.Errorf("attach: error needs a rate and an optional attribute id: %w", ErrCommand)
	}
	rate, err := parseRate(f[0])
	if err != nil {
		return err
	}
	var attr uint64
	if len(f) == 2 {
		if attr, err = strconv.ParseUint(f[1], 0, 16); err != nil {
			return fmt.Errorf("attach: attribute id %q: %w", f[1], ErrCommand)
		}
	}
	// A switch's port 0 (named, or as one of all its ports, as ibsim's
	// do_seterror counts it) loses the requests that end at the switch:
	// every attribute, or the one given (ibsim: errattr 0 is any).
	sma0 := a.n.sw != nil && a.port <= 0
	var ports []*emu.Port
	if a.port != 0 {
		if ports, err = a.ports(); err != nil {
			return err
		}
	} else if a.n.sw == nil {
		return fmt.Errorf("attach: %s has no port 0: %w", a.n.topo, ErrCommand)
	}
	return s.do(func() error {
		defer a.n.dev.hook()
		set := func(num int, attr wire.AttrID) {
			if rate == 0 {
				delete(a.n.dev.errAttr, num)
				return
			}
			if a.n.dev.errAttr == nil {
				a.n.dev.errAttr = map[int]attrError{}
			}
			a.n.dev.errAttr[num] = attrError{attr: attr, rate: rate}
		}
		if sma0 {
			set(0, wire.AttrID(attr))
		}
		for _, p := range ports {
			if len(f) == 2 {
				set(p.Num(), wire.AttrID(attr))
				continue
			}
			delete(a.n.dev.errAttr, p.Num())
			if q := p.Peer(); q != nil {
				q.SetDropRate(rate)
			} else if a.port > 0 {
				return fmt.Errorf("attach: port %d of %s is not linked: %w", a.port, a.n.topo, ErrCommand)
			}
		}
		what := "frames arriving at"
		if len(f) == 2 {
			what = fmt.Sprintf("attribute 0x%04x requests ending at", attr)
		}
		n := len(ports)
		if sma0 {
			n++
		}
		fmt.Fprintf(out, "# error rate %g%% for %s %d port(s) of %s\n", rate*100, what, n, a.n.topo)
		return nil
	})
}

func cmdBaselid(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	if err := a.needPort(); err != nil {
		return err
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return fmt.Errorf("attach: baselid needs a lid and an optional lmc: %w", ErrCommand)
	}
	lid, err := strconv.ParseUint(f[0], 0, 16)
	if err != nil || !wire.LID(lid).IsUnicast() {
		return fmt.Errorf("attach: %q is not a unicast LID: %w", f[0], ErrCommand)
	}
	lmc := -1
	if len(f) == 2 {
		v, err := strconv.ParseUint(f[1], 0, 8)
		if err != nil || v > 7 {
			return fmt.Errorf("attach: lmc %q is not 0..7: %w", f[1], ErrCommand)
		}
		lmc = int(v)
	}
	num := a.port
	if a.n.sw != nil {
		num = 0 // a switch's LID is its management port's
	} else if num == 0 {
		return fmt.Errorf("attach: %s has no port 0: %w", a.n.topo, ErrCommand)
	}
	return s.do(func() error {
		pa := a.n.sma.Port(num)
		pa.LID = wire.LID(lid)
		if lmc >= 0 {
			pa.LMC = uint8(lmc)
		}
		fmt.Fprintf(out, "# %s port %d: lid %d lmc %d\n", a.n.topo, num, pa.LID, pa.LMC)
		return nil
	})
}

func cmdStart(_ *Server, out io.Writer, _ string) error {
	fmt.Fprintln(out, "# the network is running")
	return nil
}

func cmdVerbose(s *Server, out io.Writer, args string) error {
	if args != "" {
		v, err := strconv.ParseUint(args, 0, 8)
		if err != nil {
			return fmt.Errorf("attach: verbose level %q: %w", args, ErrCommand)
		}
		s.setVerbose(int(v))
	}
	fmt.Fprintf(out, "simulator verbose level is %d\n", s.verbose.Load())
	return nil
}

// setVerbose maps ibsim's verbosity to a log level of Config.LogLevel.
func (s *Server) setVerbose(v int) {
	s.verbose.Store(int32(v))
	if s.cfg.LogLevel == nil {
		return
	}
	switch {
	case v <= 0:
		s.cfg.LogLevel.Set(slog.LevelWarn)
	case v == 1:
		s.cfg.LogLevel.Set(slog.LevelInfo)
	default:
		s.cfg.LogLevel.Set(slog.LevelDebug)
	}
}

func cmdWait(s *Server, out io.Writer, args string) error {
	v, err := strconv.ParseFloat(args, 64)
	if err != nil || v <= 0 || v > 3600 {
		return fmt.Errorf("attach: wait: %q is not a number of seconds in (0, 3600]: %w", args, ErrCommand)
	}
	d := time.Duration(v * float64(time.Second))
	fmt.Fprintf(out, "# fabric stopped for %v\n", d)
	return s.do(func() error {
		time.Sleep(d)
		return nil
	})
}

func cmdAttached(s *Server, out io.Writer, args string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	// ibsim's line (ibsim.c, list_connections): the port by its GUID, the
	// QP of the connect request (0 from libumad2sim) and "SM"; the port
	// number and the traffic follow as a comment, and a count closes the
	// list.
	cls := s.Clients()
	for _, c := range cls {
		sm := ""
		if c.SM {
			sm = "SM"
		}
		fmt.Fprintf(out, "Client %d: pid %d connected at \"%s\" port 0x%x, lid %d, qp %d %s\t# port %d, in %d, out %d, queued %d\n",
			c.Slot, c.ID, c.Node, uint64(c.GUID), c.LID, c.QP, sm, c.Port, c.Sent, c.Recvd, c.Queued)
	}
	fmt.Fprintf(out, "# %d client(s) attached\n", len(cls))
	return nil
}

func cmdX(s *Server, out io.Writer, args string) error {
	v, err := strconv.ParseUint(args, 0, 31)
	if err != nil {
		return fmt.Errorf("attach: client slot %q: %w", args, ErrCommand)
	}
	c := s.client(int(v))
	if c == nil {
		return fmt.Errorf("attach: no client in slot %d: %w", v, ErrCommand)
	}
	s.dropClient(c, "console X")
	fmt.Fprintf(out, "# client %d disconnected\n", v)
	return nil
}

func cmdHelp(_ *Server, out io.Writer, _ string) error {
	fmt.Fprintln(out, "sim> Commands:")
	fmt.Fprintln(out, "\t!<filename> - run commands from the file")
	for _, c := range consoleCmds {
		fmt.Fprintf(out, "\t%s\n", c.usage)
	}
	fmt.Fprintln(out, "\t#... : comment")
	return nil
}

func cmdQuit(s *Server, out io.Writer, _ string) error {
	fmt.Fprintln(out, "Exiting network simulator.")
	if s.cfg.OnQuit != nil {
		s.cfg.OnQuit()
	}
	return nil
}

// perfField is one counter PerformanceSet can set: the port counter, the
// field's width and its CounterSelect bit (16 stands for CounterSelect2
// bit 0, PortXmitWait; IBTA Vol 1 §16.1.3.5, §16.1.4.8).
type perfField struct {
	get  func(c *emu.Counters) *emu.Counter
	bits uint
	sel  int
}

// perfFields maps PerformanceSet attribute.field names (any case) to
// their counters.
var perfFields = map[string]perfField{
	"portcounters.symbolerrorcounter":            {func(c *emu.Counters) *emu.Counter { return &c.SymbolErrors }, 16, 0},
	"portcounters.linkerrorrecoverycounter":      {func(c *emu.Counters) *emu.Counter { return &c.LinkErrorRecovery }, 8, 1},
	"portcounters.linkdownedcounter":             {func(c *emu.Counters) *emu.Counter { return &c.LinkDowned }, 8, 2},
	"portcounters.portrcverrors":                 {func(c *emu.Counters) *emu.Counter { return &c.RcvErrors }, 16, 3},
	"portcounters.portrcvremotephysicalerrors":   {func(c *emu.Counters) *emu.Counter { return &c.RcvRemotePhysErrors }, 16, 4},
	"portcounters.portrcvswitchrelayerrors":      {func(c *emu.Counters) *emu.Counter { return &c.RcvSwitchRelayErrors }, 16, 5},
	"portcounters.portxmitdiscards":              {func(c *emu.Counters) *emu.Counter { return &c.XmitDiscards }, 16, 6},
	"portcounters.portxmitconstrainterrors":      {func(c *emu.Counters) *emu.Counter { return &c.XmitConstraintErrors }, 8, 7},
	"portcounters.portrcvconstrainterrors":       {func(c *emu.Counters) *emu.Counter { return &c.RcvConstraintErrors }, 8, 8},
	"portcounters.locallinkintegrityerrors":      {func(c *emu.Counters) *emu.Counter { return &c.LocalLinkIntegrity }, 4, 9},
	"portcounters.excessivebufferoverrunerrors":  {func(c *emu.Counters) *emu.Counter { return &c.ExcessiveBufOverrun }, 4, 10},
	"portcounters.vl15dropped":                   {func(c *emu.Counters) *emu.Counter { return &c.VL15Dropped }, 16, 11},
	"portcounters.portxmitdata":                  {func(c *emu.Counters) *emu.Counter { return &c.XmitData }, 32, 12},
	"portcounters.portrcvdata":                   {func(c *emu.Counters) *emu.Counter { return &c.RcvData }, 32, 13},
	"portcounters.portxmitpkts":                  {func(c *emu.Counters) *emu.Counter { return &c.XmitPkts }, 32, 14},
	"portcounters.portrcvpkts":                   {func(c *emu.Counters) *emu.Counter { return &c.RcvPkts }, 32, 15},
	"portcounters.portxmitwait":                  {func(c *emu.Counters) *emu.Counter { return &c.XmitWait }, 32, 16},
	"portcountersextended.portxmitdata":          {func(c *emu.Counters) *emu.Counter { return &c.XmitData }, 64, 0},
	"portcountersextended.portrcvdata":           {func(c *emu.Counters) *emu.Counter { return &c.RcvData }, 64, 1},
	"portcountersextended.portxmitpkts":          {func(c *emu.Counters) *emu.Counter { return &c.XmitPkts }, 64, 2},
	"portcountersextended.portrcvpkts":           {func(c *emu.Counters) *emu.Counter { return &c.RcvPkts }, 64, 3},
	"portcountersextended.portunicastxmitpkts":   {func(c *emu.Counters) *emu.Counter { return &c.UnicastXmit }, 64, 4},
	"portcountersextended.portunicastrcvpkts":    {func(c *emu.Counters) *emu.Counter { return &c.UnicastRcv }, 64, 5},
	"portcountersextended.portmulticastxmitpkts": {func(c *emu.Counters) *emu.Counter { return &c.McastXmit }, 64, 6},
	"portcountersextended.portmulticastrcvpkts":  {func(c *emu.Counters) *emu.Counter { return &c.McastRcv }, 64, 7},
}

func cmdPerfSet(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	if err := a.needPort(); err != nil {
		return err
	}
	name, val, ok := strings.Cut(rest, "=")
	attr, field, ok2 := strings.Cut(strings.TrimSpace(name), ".")
	if !ok || !ok2 {
		return fmt.Errorf("attach: %q is not Attribute.Field=value: %w", rest, ErrCommand)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(val), 0, 64)
	if err != nil {
		return fmt.Errorf("attach: value %q is not an unsigned integer: %w", strings.TrimSpace(val), ErrCommand)
	}
	if pa, ok := perfArrays[strings.ToLower(attr)]; ok {
		return s.perfSetArray(out, a, pa, attr, strings.TrimSpace(field), v)
	}
	f, known := perfFields[strings.ToLower(attr+"."+strings.TrimSpace(field))]
	if !known {
		switch strings.ToLower(attr) {
		case "portcounters", "portcountersextended":
			return fmt.Errorf("attach: %s has no field %s: %w", attr, field, ErrCommand)
		}
		return fmt.Errorf("attach: PerformanceSet does not take attribute %s (it takes PortCounters, PortCountersExtended, PortRcvErrorDetails, PortXmitDiscardDetails, PortOpRcvCounters, PortFlowCtlCounters, PortVLOpPackets, PortVLOpData, PortVLXmitFlowCtlUpdateErrors and PortVLXmitWaitCounters, as ibsim does): %w", attr, ErrCommand)
	}
	if f.bits < 64 {
		v = min(v, uint64(1)<<f.bits-1)
	}
	return s.do(func() error {
		if err := perfSetPort(a); err != nil {
			return err
		}
		p := a.n.en.Port(a.port)
		c := f.get(&p.Counters)
		if a.n.hca != nil {
			// Restart the HCA PMA's baseline of this counter, so the value
			// it shows is exactly v from now on.
			s.clearPMABaseline(a.n, p, attr, f.sel)
			c.Add(v)
		} else {
			c.Store(v)
		}
		fmt.Fprintf(out, "%s[%d] %s.%s has been set to %d\n", a.n.topo.ID, a.port, attr, strings.TrimSpace(field), v)
		return nil
	})
}

// perfArray is an optional PerfMgt counter attribute PerformanceSet
// takes, with ibsim's field names: fields names its counters in order, or
// prefix names per-VL counters as prefix+VL (0..15), as ibsim's
// PerformanceSet does ("PortVLOpPackets.PortVLOpPackets3=7").
type perfArray struct {
	id     wire.AttrID
	layout wire.PMACounterLayout
	fields []string
	prefix string
	get    func(d *emu.CounterDetails, i int) *emu.Counter
	opCode func(d *emu.CounterDetails) uint8 // nil: the layout has none
}

// perfArrays are the counter-array attributes PerformanceSet takes, by
// lower-case name: the ones ibsim's PerformanceSet takes besides
// PortCounters and PortCountersExtended (IBTA Vol 1 §16.1.4.3-8).
var perfArrays = map[string]*perfArray{
	"portrcverrordetails": {
		id: wire.AttrPortRcvErrorDetails, layout: wire.LayoutPortRcvErrorDetails,
		fields: []string{"PortLocalPhysicalErrors", "PortMalformedPacketErrors", "PortBufferOverrunErrors",
			"PortDLIDMappingErrors", "PortVLMappingErrors", "PortLoopingErrors"},
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.RcvErrorDetails[i] },
	},
	"portxmitdiscarddetails": {
		id: wire.AttrPortXmitDiscardDetails, layout: wire.LayoutPortXmitDiscardDetails,
		fields: []string{"PortInactiveDiscards", "PortNeighborMTUDiscards", "PortSwLifetimeLimitDiscards",
			"PortSwHOQLifetimeLimitDiscards"},
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.XmitDiscardDetails[i] },
	},
	"portoprcvcounters": {
		id: wire.AttrPortOpRcvCounters, layout: wire.LayoutPortOpRcvCounters,
		fields: []string{"PortOpRcvPkts", "PortOpRcvData"},
		get: func(d *emu.CounterDetails, i int) *emu.Counter {
			return [...]*emu.Counter{&d.Optional().OpRcvPkts, &d.Optional().OpRcvData}[i]
		},
		opCode: func(d *emu.CounterDetails) uint8 { return d.Optional().OpRcvOpCode },
	},
	"portflowctlcounters": {
		id: wire.AttrPortFlowCtlCounters, layout: wire.LayoutPortFlowCtlCounters,
		fields: []string{"PortXmitFlowPkts", "PortRcvFlowPkts"},
		get: func(d *emu.CounterDetails, i int) *emu.Counter {
			return [...]*emu.Counter{&d.Optional().XmitFlowPkts, &d.Optional().RcvFlowPkts}[i]
		},
	},
	"portvloppackets": {
		id: wire.AttrPortVLOpPackets, layout: wire.LayoutPortVLOpPackets, prefix: "PortVLOpPackets",
		get:    func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().VLOpPackets[i] },
		opCode: func(d *emu.CounterDetails) uint8 { return d.Optional().VLOpPacketsOpCode },
	},
	"portvlopdata": {
		id: wire.AttrPortVLOpData, layout: wire.LayoutPortVLOpData, prefix: "PortVLOpData",
		get:    func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().VLOpData[i] },
		opCode: func(d *emu.CounterDetails) uint8 { return d.Optional().VLOpDataOpCode },
	},
	"portvlxmitflowctlupdateerrors": {
		id: wire.AttrPortVLXmitFlowCtlUpdateErrors, layout: wire.LayoutPortVLXmitFlowCtlUpdateErrors,
		prefix: "PortVLXmitFlowCtlUpdateErrors",
		get:    func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().VLXmitFlowCtlUpdateErrors[i] },
	},
	"portvlxmitwaitcounters": {
		id: wire.AttrPortVLXmitWaitCounters, layout: wire.LayoutPortVLXmitWaitCounters, prefix: "PortVLXmitWaitCounters",
		get: func(d *emu.CounterDetails, i int) *emu.Counter { return &d.Optional().XmitWaitVL[i] },
	},
}

// index returns the counter index field names in pa, as ibsim matches
// it: case-insensitively, per-VL fields as the prefix and a decimal VL.
func (pa *perfArray) index(field string) (int, bool) {
	if pa.prefix == "" {
		for i, f := range pa.fields {
			if strings.EqualFold(f, field) {
				return i, true
			}
		}
		return 0, false
	}
	if len(field) <= len(pa.prefix) || !strings.EqualFold(field[:len(pa.prefix)], pa.prefix) {
		return 0, false
	}
	vl, err := strconv.Atoi(field[len(pa.prefix):])
	if err != nil || vl < 0 || vl >= pa.layout.Count {
		return 0, false
	}
	return vl, true
}

// perfSetPort refuses a port PerformanceSet cannot set: port 0 of a CA,
// and the base port 0 of a switch, which has no PMA of its own (IBTA Vol
// 1 §16.1.1). Call it on the event loop.
func perfSetPort(a nodeArg) error {
	switch {
	case a.port != 0:
		return nil
	case a.n.sw == nil:
		return fmt.Errorf("attach: %s has no port 0: %w", a.n.topo, ErrCommand)
	case !a.n.sw.SwitchInfo().EnhancedPort0:
		return fmt.Errorf("attach: %s: a base switch port 0 has no performance counters: %w", a.n.topo, ErrCommand)
	}
	return nil
}

// perfSetArray sets counter field of a counter-array attribute to v,
// clamped to the field's width, the way cmdPerfSet sets a PortCounters
// field.
func (s *Server) perfSetArray(out io.Writer, a nodeArg, pa *perfArray, attr, field string, v uint64) error {
	i, ok := pa.index(field)
	if !ok {
		return fmt.Errorf("attach: %s has no field %s: %w", attr, field, ErrCommand)
	}
	v = min(v, pa.layout.Max())
	return s.do(func() error {
		if err := perfSetPort(a); err != nil {
			return err
		}
		p := a.n.en.Port(a.port)
		d := p.Counters.Details()
		c := pa.get(d, i)
		if a.n.hca != nil {
			s.clearPMAArray(a.n, p, pa, d, i)
			c.Add(v)
		} else {
			c.Store(v)
		}
		fmt.Fprintf(out, "%s[%d] %s.%s has been set to %d\n", a.n.topo.ID, a.port, attr, field, v)
		return nil
	})
}

// clearPMAArray makes the HCA's PMA clear its register view of counter i
// of pa on p (a Set with that CounterSelect bit, and the OpCode the port
// counts, which a Set of another OpCode would change), so a value added
// now reads back as is.
func (s *Server) clearPMAArray(n *node, p *emu.Port, pa *perfArray, d *emu.CounterDetails, i int) {
	m := wire.MAD(make([]byte, wire.MADSize))
	m.Encode(&wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassPerf,
		ClassVersion: wire.PMAClassVersion, Method: wire.MethodSet, AttrID: pa.id})
	ca, err := wire.ParsePMACounterArray(wire.PerfMAD(m).Data(), pa.layout)
	if err != nil {
		s.log.Warn("attach: performance set: bad layout", "attr", pa.id, "err", err)
		return
	}
	if pa.opCode != nil {
		ca.SetOpCode(pa.opCode(d))
	}
	ca.SetPortSelect(uint8(p.Num()))
	ca.SetCounterSelect(1 << i)
	if resp, ok := n.hca.PMA().Process(p, m); !ok || resp.Status() != wire.MADStatusOK {
		s.log.Warn("attach: performance set: the pma did not clear the counter", "node", n.topo.ID, "port", p.Num())
	}
}

// clearPMABaseline makes the HCA's PMA clear its register view of one
// counter of attr on p (a PortCounters or PortCountersExtended Set with
// that counter's CounterSelect bit), so a value added now reads back as is.
func (s *Server) clearPMABaseline(n *node, p *emu.Port, attr string, sel int) {
	m := wire.MAD(make([]byte, wire.MADSize))
	id := wire.AttrPortCounters
	if strings.EqualFold(attr, "PortCountersExtended") {
		id = wire.AttrPortCountersExtended
	}
	m.Encode(&wire.MADFields{BaseVersion: wire.MADBaseVersion, MgmtClass: wire.MgmtClassPerf,
		ClassVersion: wire.PMAClassVersion, Method: wire.MethodSet, AttrID: id})
	d := wire.PerfMAD(m).Data()
	if id == wire.AttrPortCounters {
		pc := wire.PortCounters(d)
		pc.SetPortSelect(uint8(p.Num()))
		if sel == 16 {
			pc.SetCounterSelect2(1)
		} else {
			pc.SetCounterSelect(1 << sel)
		}
	} else {
		pc := wire.PortCountersExtended(d)
		pc.SetPortSelect(uint8(p.Num()))
		pc.SetCounterSelect(1 << sel)
	}
	if resp, ok := n.hca.PMA().Process(p, m); !ok || resp.Status() != wire.MADStatusOK {
		s.log.Warn("attach: performance set: the pma did not clear the counter", "node", n.topo.ID, "port", p.Num())
	}
}

// setPorts runs fn for the ports a node argument names.
func (s *Server) setPorts(args string, fn func(a nodeArg, p *emu.Port) error) (nodeArg, int, error) {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return a, 0, err
	}
	if err := noArgs(rest); err != nil {
		return a, 0, err
	}
	ports, err := a.ports()
	if err != nil {
		return a, 0, err
	}
	err = s.do(func() error {
		for _, p := range ports {
			if err := fn(a, p); err != nil {
				return err
			}
		}
		return nil
	})
	return a, len(ports), err
}

func cmdDown(s *Server, out io.Writer, args string) error {
	a, k, err := s.setPorts(args, func(_ nodeArg, p *emu.Port) error { p.SetEnabled(false); return nil })
	if err == nil {
		fmt.Fprintf(out, "# disabled %d port(s) of %s\n", k, a.n.topo)
	}
	return err
}

func cmdUp(s *Server, out io.Writer, args string) error {
	a, k, err := s.setPorts(args, func(_ nodeArg, p *emu.Port) error { p.SetEnabled(true); return nil })
	if err == nil {
		fmt.Fprintf(out, "# enabled %d port(s) of %s\n", k, a.n.topo)
	}
	return err
}

func cmdKill(s *Server, out io.Writer, args string) error {
	return setNodePower(s, out, args, "kill", "off", s.fab.KillNode)
}

func cmdRevive(s *Server, out io.Writer, args string) error {
	return setNodePower(s, out, args, "revive", "on", s.fab.ReviveNode)
}

// setNodePower runs a node power command (kill or revive) on the node
// args names.
func setNodePower(s *Server, out io.Writer, args, cmd, state string, power func(*emu.Node)) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	if err := noArgs(rest); err != nil {
		return err
	}
	if a.port >= 0 {
		return fmt.Errorf("attach: %s takes a node, not a port: %w", cmd, ErrCommand)
	}
	return s.do(func() error {
		power(a.n.en)
		fmt.Fprintf(out, "# %s is %s\n", a.n.topo, state)
		return nil
	})
}

// retrain sets the enabled width or speed of both ends of p's link to
// exactly one value, so the link retrains at it.
func retrain(a nodeArg, p *emu.Port, width uint8, speed wire.LinkSpeed) error {
	q := p.Peer()
	if q == nil {
		return fmt.Errorf("attach: port %d of %s is not linked: %w", p.Num(), a.n.topo, ErrCommand)
	}
	for _, e := range []*emu.Port{p, q} {
		if width&e.WidthSupported() != width || uint16(speed)&uint16(e.SpeedSupported()) != uint16(speed) {
			return fmt.Errorf("attach: %s does not support that width or speed (supported widths 0x%x, speeds 0x%x): %w",
				e, e.WidthSupported(), uint16(e.SpeedSupported()), ErrCommand)
		}
	}
	p.SetLinkEnables(width, speed)
	q.SetLinkEnables(width, speed)
	return nil
}

func cmdSpeed(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	if err := a.needPort(); err != nil {
		return err
	}
	sp, err := wire.ParseLinkSpeed(rest)
	if err != nil {
		return fmt.Errorf("attach: speed %q: want SDR, DDR, QDR, FDR, EDR, HDR or NDR: %w", rest, ErrCommand)
	}
	if a.port == 0 {
		return fmt.Errorf("attach: port 0 has no link: %w", ErrCommand)
	}
	return s.do(func() error {
		p := a.n.en.Port(a.port)
		if err := retrain(a, p, 0, sp); err != nil {
			return err
		}
		fmt.Fprintf(out, "# %s port %d: %s\n", a.n.topo, a.port, rateName(p))
		return nil
	})
}

func cmdWidth(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	if err := a.needPort(); err != nil {
		return err
	}
	lanes, err := strconv.Atoi(strings.TrimSuffix(strings.ToLower(rest), "x"))
	w := wire.WidthFromLanes(lanes)
	if err != nil || w == 0 {
		return fmt.Errorf("attach: width %q: want 1x, 2x, 4x, 8x or 12x: %w", rest, ErrCommand)
	}
	if a.port == 0 {
		return fmt.Errorf("attach: port 0 has no link: %w", ErrCommand)
	}
	return s.do(func() error {
		p := a.n.en.Port(a.port)
		if err := retrain(a, p, uint8(w), 0); err != nil {
			return err
		}
		fmt.Fprintf(out, "# %s port %d: %s\n", a.n.topo, a.port, rateName(p))
		return nil
	})
}

func cmdFlap(s *Server, out io.Writer, args string) error {
	a, rest, err := s.parseNodeArg(args)
	if err != nil {
		return err
	}
	if err := a.needPort(); err != nil {
		return err
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return fmt.Errorf("attach: flap needs a count and an optional interval: %w", ErrCommand)
	}
	count, err := strconv.Atoi(f[0])
	if err != nil || count < 1 || count > 100000 {
		return fmt.Errorf("attach: flap count %q is not 1..100000: %w", f[0], ErrCommand)
	}
	every := 200 * time.Millisecond
	if len(f) == 2 {
		if every, err = time.ParseDuration(f[1]); err != nil || every < time.Millisecond {
			return fmt.Errorf("attach: flap interval %q is not a duration of at least 1ms: %w", f[1], ErrCommand)
		}
	}
	return s.do(func() error {
		l := a.n.en.Port(a.port).Link()
		if l == nil {
			return fmt.Errorf("attach: port %d of %s is not linked: %w", a.port, a.n.topo, ErrCommand)
		}
		p := a.n.en.Port(a.port)
		var step func(i int)
		step = func(i int) {
			if p.Link() != l {
				return // unlinked (or relinked elsewhere) meanwhile: stop
			}
			l.SetCut(i%2 == 0)
			if i+1 < 2*count {
				s.fab.Clock().AfterFunc(every/2, func() { step(i + 1) })
			}
		}
		step(0)
		fmt.Fprintf(out, "# flapping %s port %d %d times, every %v\n", a.n.topo, a.port, count, every)
		return nil
	})
}

func rateCmd(s *Server, out io.Writer, args, what string, set func(p *emu.Port, r float64)) error {
	i := strings.LastIndexAny(args, " \t")
	if i < 0 {
		return fmt.Errorf("attach: %s needs a port and a rate: %w", what, ErrCommand)
	}
	rate, err := parseRate(strings.TrimSpace(args[i+1:]))
	if err != nil {
		return err
	}
	a, k, err := s.setPorts(args[:i], func(_ nodeArg, p *emu.Port) error { set(p, rate); return nil })
	if err == nil {
		fmt.Fprintf(out, "# %s rate %g%% on %d port(s) of %s\n", what, rate*100, k, a.n.topo)
	}
	return err
}

func cmdDrop(s *Server, out io.Writer, args string) error {
	return rateCmd(s, out, args, "drop", func(p *emu.Port, r float64) { p.SetDropRate(r) })
}

func cmdCorrupt(s *Server, out io.Writer, args string) error {
	return rateCmd(s, out, args, "corrupt", func(p *emu.Port, r float64) { p.SetCorruptRate(r) })
}
