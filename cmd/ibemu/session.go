package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/ibemu/ibemu/emu/capture"
	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/stack/fabric"
)

// session is an in-process fabric built from a topology and started, with
// the HCA port host software runs on and an optional capture.
type session struct {
	fab  *fabric.Fabric
	from *fabric.HCA
	port int
	cw   *capture.Writer
}

// openSession builds t, picks the HCA named from (default: the first HCA)
// and its port (0: its first cabled port), starts the fabric and, when
// capPath is set, captures every frame into it. what names the host
// software for error messages. Close the session with close.
func openSession(ctx context.Context, t *topology.Topology, from string, port int, capPath, what string) (*session, error) {
	fab, err := fabric.Build(t)
	if err != nil {
		return nil, err
	}
	h := fab.FirstHCA()
	if from != "" {
		if h = fab.HCA(from); h == nil {
			return nil, fmt.Errorf("--from %q: no HCA has that id or description", from)
		}
	}
	if h == nil {
		return nil, errors.New("the topology has no HCA to run " + what + " on")
	}
	if port == 0 {
		port = 1
		for i := 1; i <= h.Topo.NumPorts; i++ {
			if h.Topo.Ports[i].Connected() {
				port = i
				break
			}
		}
	}
	if port < 1 || port > h.Topo.NumPorts {
		return nil, fmt.Errorf("--port %d: %s has ports 1..%d", port, h.Topo, h.Topo.NumPorts)
	}
	s := &session{fab: fab, from: h, port: port}
	if capPath != "" {
		if s.cw, err = capture.Create(capPath); err != nil {
			return nil, err
		}
		fab.Emu.AddTap(s.cw)
	}
	if err := fab.Start(ctx); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// close stops the fabric, then closes the capture (so no frame is written
// after the file closes) and returns how many frames it holds. It is
// idempotent.
func (s *session) close() (frames int, err error) {
	s.fab.Stop()
	if s.cw == nil {
		return 0, nil
	}
	frames = s.cw.Frames()
	err = s.cw.Close()
	s.cw = nil
	return frames, err
}
