package cm

import (
	"context"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// stillClock is a clock whose timers never fire: the fuzz target looks at
// one message at a time.
type stillClock struct{}

func (stillClock) Now() time.Time                            { return emu.Epoch }
func (stillClock) AfterFunc(time.Duration, func()) emu.Timer { return stillTimer{} }

type stillTimer struct{}

func (stillTimer) Stop() bool { return true }

// fuzzCM is a CM without a transport: what it sends is counted and
// dropped. A listener on service 1 rejects whatever it is handed.
func fuzzCM() *CM {
	c := &CM{clock: stillClock{}, opts: Options{}.withDefaults(), caGUID: 0x0002c90300000001, agentID: 1,
		conns: map[uint32]*Conn{}, byRemote: map[remoteKey]*Conn{}, listeners: map[uint64]*Listener{},
		sidrListeners: map[uint64]*Listener{}, sidrPending: map[uint32]*sidrCall{}, sidrServing: map[sidrKey]bool{}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.send = func(mad.Addr, []byte) error { return nil }
	c.listeners[1] = &Listener{c: c, serviceID: 1, conn: func(*ConnRequest) {}}
	c.sidrListeners[1] = &Listener{c: c, serviceID: 1, sidr: true, sidrH: func(*SIDRRequest) {}}
	return c
}

// FuzzDispatch feeds arbitrary MADs, one after another, to the CM's
// receive path: it must never panic, and every message is counted.
func FuzzDispatch(f *testing.F) {
	for _, a := range []wire.AttrID{wire.AttrCMREQ, wire.AttrCMMRA, wire.AttrCMREJ, wire.AttrCMREP, wire.AttrCMRTU,
		wire.AttrCMDREQ, wire.AttrCMDREP, wire.AttrCMSIDRREQ, wire.AttrCMSIDRREP, wire.AttrCMLAP, wire.AttrCMAPR, 0x30} {
		m := make([]byte, wire.MADSize)
		wire.EncodeCMMAD(m, a, 1)
		f.Add(m)
	}
	req := make([]byte, wire.MADSize)
	wire.EncodeCMMAD(req, wire.AttrCMREQ, 1)
	wire.CMREQ(req[wire.MADHeaderSize:]).Encode(&wire.CMREQFields{LocalCommID: 5, ServiceID: 1, LocalQPN: 9, MaxCMRetries: 3})
	f.Add(append(req, req...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := fuzzCM()
		defer func() { c.cancel(); c.wg.Wait() }()
		for len(b) > 0 {
			n := min(len(b), wire.MADSize)
			before := c.Stats()
			c.dispatch(mad.Addr{LID: 7, QPN: 1}, b[:n])
			after := c.Stats()
			var rx uint64
			for i := range after.RxMsgs {
				rx += after.RxMsgs[i] - before.RxMsgs[i]
			}
			if rx+after.Malformed-before.Malformed != 1 {
				t.Fatalf("message of %d bytes counted %d times", n, rx+after.Malformed-before.Malformed)
			}
			b = b[n:]
		}
	})
}
