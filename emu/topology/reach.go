package topology

// Reachable is the part of t that a directed-route walk from port from
// discovers, as ibnetdiscover run on that port and a subnet manager bound
// to it see the fabric: from's node, every node reached through switches
// (a walk enters a CA or router but never leaves it by another port),
// each with all its ports, and the links of from itself and of the
// switches reached. A CA's other ports stay unconnected unless they lead to
// a switch reached another way: the second rail of a dual-rail HCA, or the
// second cable of two CAs wired back to back, is a subnet of its own and
// not part of the result. from must be a port of a node of t (a switch's
// port 0 for a switch). The result is a new Topology sharing nothing with
// t; node and port fields are copied, Remote rewired within the copy, and
// nodes keep t's order. Commands and Aliases are not copied.
func (t *Topology) Reachable(from *Port) *Topology {
	in := make(map[*Node]bool)
	if from == nil || from.Node == nil {
		return &Topology{}
	}
	start := from.Node
	in[start] = true
	var queue []*Node
	visit := func(p *Port) {
		if p == nil || p.Remote == nil {
			return
		}
		n := p.Remote.Node
		if !in[n] {
			in[n] = true
			if n.IsSwitch() {
				queue = append(queue, n)
			}
		}
	}
	if start.IsSwitch() {
		queue = append(queue, start)
	} else {
		visit(from)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, p := range n.Ports[1:] {
			visit(p)
		}
	}
	// walked reports whether the walk crosses the link at p: from's own
	// link, or any link with a switch end inside the result.
	walked := func(p *Port) bool {
		if p == nil || p.Remote == nil || !in[p.Remote.Node] {
			return false
		}
		if p == from || p.Remote == from {
			return true
		}
		return p.Node.IsSwitch() && in[p.Node] || p.Remote.Node.IsSwitch() && in[p.Remote.Node]
	}
	out := &Topology{}
	copies := make(map[*Port]*Port)
	for _, n := range t.Nodes {
		if !in[n] {
			continue
		}
		c := *n
		c.Ports = make([]*Port, len(n.Ports))
		for i, p := range n.Ports {
			if p == nil {
				continue
			}
			cp := *p
			cp.Node, cp.Remote = &c, nil
			c.Ports[i] = &cp
			copies[p] = &cp
		}
		out.Nodes = append(out.Nodes, &c)
	}
	for p, cp := range copies {
		if walked(p) {
			cp.Remote = copies[p.Remote]
		}
	}
	return out
}
