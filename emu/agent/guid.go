package agent

import "github.com/ibemu/ibemu/emu/wire"

// SetNodeGUID changes the node's GUID while it runs, as a firmware burn
// with a new GUID followed by a reset would: NodeInfo reports the new
// NodeGUID at once, and every GUID derived from the old one follows it —
// a CA port whose GUID was NodeGUID+port becomes new+port (and so does
// entry 0 of its GUIDInfo table, the port's GID), a switch's port 0 GUID
// becomes the new GUID, and a SystemImageGUID equal to the old NodeGUID
// becomes the new one. GUIDs given explicitly (a port GUID that did not
// follow the rule) stay as they are. Call it on the event loop.
func (s *SMA) SetNodeGUID(g wire.GUID) {
	old := s.node.NodeGUID
	if g == old {
		return
	}
	s.node.NodeGUID = g
	if s.node.SystemImageGUID == old {
		s.node.SystemImageGUID = g
	}
	for num, pa := range s.ports {
		if pa == nil {
			continue
		}
		oldPort, newPort := old, g
		if s.node.Type != wire.NodeTypeSwitch {
			oldPort, newPort = old+wire.GUID(num), g+wire.GUID(num)
		}
		if pa.Config.GUID != oldPort {
			continue
		}
		pa.Config.GUID = newPort
		if pa.GUID(0) == oldPort {
			pa.SetGUID(0, newPort)
		}
	}
}
