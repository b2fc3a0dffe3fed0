package hca

import "github.com/ibemu/ibemu/emu/wire"

// SetNodeGUID changes the HCA's node GUID while it runs (ibsim's console
// "Guid" command): the SMA answers NodeInfo with the new GUID and port
// GUIDs that followed the NodeGUID+port rule follow it (see
// agent.SMA.SetNodeGUID). Call it on the event loop.
func (d *Device) SetNodeGUID(g wire.GUID) {
	d.sma.SetNodeGUID(g)
	n := d.sma.Node()
	d.cfg.NodeGUID, d.cfg.SystemImageGUID = n.NodeGUID, n.SystemImageGUID
}
