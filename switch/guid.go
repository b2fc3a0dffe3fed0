package ibswitch

import "github.com/ibemu/ibemu/emu/wire"

// SetNodeGUID changes the switch's GUID while it runs (ibsim's console
// "Guid" command): NodeInfo's NodeGUID and PortGUID, port 0's GUID and a
// SystemImageGUID that equalled the old GUID all take the new value. Call
// it on the event loop.
func (s *Switch) SetNodeGUID(g wire.GUID) {
	s.sma.SetNodeGUID(g)
	s.guid = g
}
