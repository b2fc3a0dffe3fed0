package attach

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/topology"
	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// startRemoteServer starts a server of topo in remote mode (UDP) on a
// port picked at random on host ("" binds 127.0.0.1), trying again when
// the port is taken, and returns it with the port. The test's cleanup
// closes it.
func startRemoteServer(t *testing.T, topo *topology.Topology, host string) (*Server, int) {
	t.Helper()
	for try := 0; ; try++ {
		port := 20000 + int(time.Now().UnixNano()%20000)
		srv, err := New(Config{Topology: topo, Logger: testLogger(t), Listen: fmt.Sprintf("%s:%d", host, port)})
		if err != nil {
			t.Fatal(err)
		}
		if err = srv.Start(context.Background()); err == nil {
			t.Cleanup(func() { _ = srv.Close() })
			return srv, port
		}
		if try > 5 {
			t.Fatal(err)
		}
	}
}

// TestRemoteMode: the same protocol over UDP on loopback.
func TestRemoteMode(t *testing.T) {
	srv, port := startRemoteServer(t, parseTestNet(t), "")
	if !strings.Contains(srv.Addr(), "127.0.0.1") {
		t.Errorf("remote mode bound %s, want loopback only", srv.Addr())
	}
	c, err := Dial(context.Background(), &DialConfig{ServerName: "127.0.0.1", ServerPort: port, Host: "Hca2"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := newAgent(t, c, smiReg)
	d, err := a.SMPGet(context.Background(), mad.DRPath{1}, wire.AttrNodeInfo, 0)
	if err != nil {
		t.Fatalf("DR NodeInfo over UDP: %v", err)
	}
	if g := wire.NodeInfo(d).NodeGUID(); g != 0x200001 {
		t.Errorf("DR NodeInfo over UDP: guid %#x, want Switch2's", g)
	}
}
