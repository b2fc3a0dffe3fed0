package attach

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
)

// TestRemoteMode: the same protocol over UDP on loopback.
func TestRemoteMode(t *testing.T) {
	var srv *Server
	var port int
	for try := 0; ; try++ {
		port = 20000 + int(time.Now().UnixNano()%20000)
		cfg := Config{Topology: parseTestNet(t), Logger: testLogger(t), Listen: fmt.Sprintf(":%d", port)}
		var err error
		if srv, err = New(cfg); err != nil {
			t.Fatal(err)
		}
		if err = srv.Start(context.Background()); err == nil {
			break
		}
		if try > 5 {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = srv.Close() })
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
