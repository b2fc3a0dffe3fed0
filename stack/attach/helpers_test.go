package attach

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// testWriter sends log lines to t.Log until the test ends.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(b))
	}
	return len(b), nil
}

// testLogger logs warnings and errors to the test's log.
func testLogger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testNet is ibsim's net.2sw2path4hca example: two switches joined by two
// links, two CAs on each.
const testNet = `
Switch	8 "Switch1"
[1]	"Hca1"[1]
[2]	"Hca3"[1]
[3]	"Switch2"[3]
[5]	"Switch2"[5]

Switch 8 "Switch2"
[1]	"Hca2"[1]
[2]	"Hca4"[1]
[3]	"Switch1"[3]
[5]	"Switch1"[5]

Hca	2 "Hca1"
[1]	"Switch1"[1]

Hca	2 "Hca2"
[1]	"Switch2"[1]

Hca	2 "Hca3" # "third host"
[1]	"Switch1"[2]

Hca	2 "Hca4"
[1]	"Switch2"[2]
`

func parseTestNet(t testing.TB) *topology.Topology {
	t.Helper()
	topo, err := topology.Parse("testnet", strings.NewReader(testNet))
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

func newAgent(t *testing.T, c *Client, reg mad.Registration) *mad.Agent {
	t.Helper()
	a, err := mad.NewAgent(c, reg, mad.Options{Timeout: 500 * time.Millisecond, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

var smiReg = mad.Registration{QPN: 0, Class: wire.MgmtClassSubnDirected, ClassVersion: 1}

// lidOfTest returns the LID of a node's default attach port.
func (s *Server) lidOfTest(t *testing.T, id string) wire.LID {
	t.Helper()
	var lid wire.LID
	_ = s.Fabric().Do(func() {
		n := s.byID[id]
		lid = n.sma.Port(defaultAttach(n).Num()).LID
	})
	return lid
}

// programLinear does what an SM would for LID routing in testNet: LIDs
// for every port, forwarding tables, every link Active.
func (s *Server) programLinear(t *testing.T) {
	t.Helper()
	lids := map[string]wire.LID{"Switch1": 1, "Switch2": 2, "Hca1": 3, "Hca2": 4, "Hca3": 7, "Hca4": 6}
	err := s.Fabric().Do(func() {
		for id, lid := range lids {
			n := s.byID[id]
			pa := n.sma.Port(defaultAttach(n).Num())
			pa.LID = lid
		}
		for _, id := range []string{"Switch1", "Switch2"} {
			sw := s.byID[id].sw
			if err := sw.SetLinearFDBTop(16); err != nil {
				t.Error(err)
			}
			for tid, lid := range lids {
				var port uint8
				switch {
				case tid == id:
					port = 0
				case s.byID[tid].sw != nil:
					port = 3
				default:
					p := defaultAttach(s.byID[tid]).Peer()
					if p.Node().Name() == id {
						port = uint8(p.Num())
					} else {
						port = 3
					}
				}
				if err := sw.SetRoute(lid, port); err != nil {
					t.Error(err)
				}
			}
		}
		for _, l := range s.fab.Links() {
			a, b := l.Ends()
			for _, st := range []wire.PortState{wire.PortStateArmed, wire.PortStateActive} {
				_ = a.SetState(st)
				_ = b.SetState(st)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}
