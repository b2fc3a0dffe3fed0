package topology

import (
	"fmt"
	"sort"
	"strconv"
)

// Compare reports whether a and b are the same graph: the same nodes, each
// of the same type and port count, and the same links between the same
// (node, port) pairs. It returns nil, or a *DiffError listing every
// difference (see Diff). GUIDs, LIDs, rates and ids are not compared, except
// as the key that matches the nodes of a to those of b.
//
// Nodes are matched by NodeDescription when every description is unique in
// a and in b; failing that, by node GUID when every GUID is unique (always
// so in a valid topology, and GUIDs survive Write and Load, while ids
// generally do not); failing that, by id.
func Compare(a, b *Topology) error {
	if d := Diff(a, b); len(d) > 0 {
		return &DiffError{Diffs: d}
	}
	return nil
}

// Diff lists the differences between the graphs of a and b, one readable
// line each, in a stable order; it is empty when Compare finds them the
// same. Nodes are named by the key they were matched by.
func Diff(a, b *Topology) []string {
	kind := matchKind(a, b)
	ka, kb := keyed(a, kind), keyed(b, kind)
	var diffs []string
	names := make([]string, 0, len(ka)+len(kb))
	for k := range ka {
		names = append(names, k)
	}
	for k := range kb {
		if _, ok := ka[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		na, nb := ka[k], kb[k]
		switch {
		case nb == nil:
			diffs = append(diffs, fmt.Sprintf("node %s is only in the first topology", label(kind, k)))
		case na == nil:
			diffs = append(diffs, fmt.Sprintf("node %s is only in the second topology", label(kind, k)))
		default:
			if na.Type != nb.Type {
				diffs = append(diffs, fmt.Sprintf("node %s: %s in the first topology, %s in the second", label(kind, k), na.Type, nb.Type))
			}
			if na.NumPorts != nb.NumPorts {
				diffs = append(diffs, fmt.Sprintf("node %s: %d ports in the first topology, %d in the second", label(kind, k), na.NumPorts, nb.NumPorts))
			}
		}
	}

	la, lb := linkSet(a, kind, kb), linkSet(b, kind, ka)
	var only []string
	for l := range la {
		if !lb[l] {
			only = append(only, "link "+l+" is only in the first topology")
		}
	}
	for l := range lb {
		if !la[l] {
			only = append(only, "link "+l+" is only in the second topology")
		}
	}
	sort.Strings(only)
	return append(diffs, only...)
}

type keyKind int

const (
	byDesc keyKind = iota
	byGUID
	byID
)

// matchKind picks the first key that is unique in both topologies.
func matchKind(a, b *Topology) keyKind {
	for _, k := range []keyKind{byDesc, byGUID} {
		if unique(a, k) && unique(b, k) {
			return k
		}
	}
	return byID
}

func unique(t *Topology, k keyKind) bool {
	seen := make(map[string]bool, len(t.Nodes))
	for _, n := range t.Nodes {
		key := nodeKey(n, k)
		if seen[key] {
			return false
		}
		seen[key] = true
	}
	return true
}

func nodeKey(n *Node, k keyKind) string {
	switch k {
	case byDesc:
		return n.Desc
	case byGUID:
		return n.NodeGUID.String()
	}
	return n.ID
}

// label names a node in a difference.
func label(k keyKind, key string) string {
	switch k {
	case byDesc:
		return strconv.Quote(key)
	case byGUID:
		return key
	}
	return "id " + strconv.Quote(key)
}

// keyed indexes t's nodes by key (the first node wins when keys repeat).
func keyed(t *Topology, k keyKind) map[string]*Node {
	m := make(map[string]*Node, len(t.Nodes))
	for _, n := range t.Nodes {
		key := nodeKey(n, k)
		if _, ok := m[key]; !ok {
			m[key] = n
		}
	}
	return m
}

// linkSet names t's links by their ends' keys, each once, skipping links to
// nodes the other topology lacks (their node difference says it all).
func linkSet(t *Topology, k keyKind, other map[string]*Node) map[string]bool {
	set := make(map[string]bool)
	for _, n := range t.Nodes {
		kn := nodeKey(n, k)
		if other[kn] == nil {
			continue
		}
		for _, p := range n.Ports {
			if p == nil || p.Remote == nil || p.Remote.Node == nil {
				continue
			}
			kr := nodeKey(p.Remote.Node, k)
			if other[kr] == nil {
				continue
			}
			a := label(k, kn) + "[" + strconv.Itoa(p.Num) + "]"
			b := label(k, kr) + "[" + strconv.Itoa(p.Remote.Num) + "]"
			if kn > kr || (kn == kr && p.Num > p.Remote.Num) {
				a, b = b, a
			}
			set[a+" - "+b] = true
		}
	}
	return set
}
