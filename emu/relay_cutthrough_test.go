package emu_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
)

// relayDev passes every frame arriving on port 1 out of port 2 with
// Port.RelayFrame, as a switch forwarding a unicast packet does, after
// first sending the frames of extra; it logs before and after the relay.
type relayDev struct {
	log   *[]string
	extra [][]byte
}

func (r *relayDev) HandlePacket(p *emu.Port, frame []byte) {
	if p.Num() != 1 {
		return
	}
	out := p.Node().Port(2)
	for _, x := range r.extra {
		out.Send(x)
	}
	*r.log = append(*r.log, fmt.Sprintf("relaying %d", binary.BigEndian.Uint32(frame[wire.LRHSize:])))
	out.RelayFrame(frame, true)
	*r.log = append(*r.log, "relayed")
}

// relayNet builds a -> b (relayDev) -> c (sink), on the wall clock unless
// opts say otherwise, and starts it.
func relayNet(t *testing.T, extra bool, opts ...emu.Option) (*emu.Fabric, *emu.Port, *[]string) {
	t.Helper()
	log := new([]string)
	rd := &relayDev{log: log}
	if extra {
		rd.extra = [][]byte{vlFrame(0, 7)}
	}
	f, a := threeNodes(t, rd, log, opts...)
	return f, a, log
}

// TestRelayFrameCutsThrough: under the wall clock a data packet a relay
// hands on with RelayFrame reaches the next device before RelayFrame
// returns (where Send would queue it, TestCutThroughVL15); under the
// virtual clock it takes the link's time; and a frame queued before it
// on the link keeps it waiting, so the link's order holds.
func TestRelayFrameCutsThrough(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []emu.Option
		extra bool
		want  []string
	}{
		{"wall", nil, false, []string{"relaying 1", "got 1", "relayed"}},
		{"virtual", []emu.Option{emu.WithVirtualClock()}, false, []string{"relaying 1", "relayed", "got 1"}},
		{"queued ahead", nil, true, []string{"relaying 1", "relayed", "got 7", "got 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, a, log := relayNet(t, tc.extra, tc.opts...)
			if err := f.Do(func() { a.Send(vlFrame(0, 1)) }); err != nil {
				t.Fatal(err)
			}
			if got := waitLog(t, f, log, len(tc.want)); !slices.Equal(got, tc.want) {
				t.Errorf("log %q, want %q", got, tc.want)
			}
		})
	}
}
