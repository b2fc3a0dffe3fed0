//go:build linux && (amd64 || arm64)

package attach

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/mad"
	"go.uber.org/goleak"
)

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestBlockingReaderEnds: a client's reader sleeps in its socket (out of
// the network poller); a DISCONNECT and the server's Close each wake it at
// once (not after the socket's timeout), and its descriptor is closed
// once reader and writer have let go; no goroutine outlives the server.
func TestBlockingReaderEnds(t *testing.T) {
	cases := []struct {
		name         string
		poll, remote bool
	}{{"local", false, false}, {"local-poll", true, false}, {"remote", false, true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opt := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, opt) })
			var srv *Server
			var port int
			if tc.remote {
				srv, port = startRemoteServer(t, parseTestNet(t), "")
			} else {
				srv = startServer(t, parseTestNet(t), func(c *Config) { c.PollReads = tc.poll })
			}
			srv.programLinear(t)
			attach := func(host string) *Client {
				if !tc.remote {
					return dial(t, srv, host, false)
				}
				c, err := Dial(context.Background(), &DialConfig{ServerName: "127.0.0.1", ServerPort: port, Host: host})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close() })
				return c
			}
			before := openFDs(t)
			c := attach("Hca1")
			a := newAgent(t, c, smiReg)
			if _, err := a.SMPGet(context.Background(), mad.DRPath{1, 3, 2}, wire.AttrNodeInfo, 0); err != nil {
				t.Fatal(err)
			}
			srv.mu.Lock()
			cl := srv.clients[c.Slot()]
			srv.mu.Unlock()
			if cl == nil {
				t.Fatal("no client in the slot")
			}
			if got, want := cl.sock != nil, blockingReads && !tc.poll && runtime.GOMAXPROCS(0) >= 2; got != want {
				t.Fatalf("client socket out of the poller: %v, want %v", got, want)
			}
			// One blocking reader at a time: a second client waits in the
			// poller.
			c2 := attach("Hca2")
			if cl2 := srv.client(c2.Slot()); cl2 == nil || cl2.sock != nil {
				t.Fatalf("second client: %+v, want one in the poller", cl2)
			}
			if err := c2.Close(); err != nil {
				t.Fatal(err)
			}
			// DISCONNECT: the slot's reader and writer end and the
			// descriptors of both ends go.
			start := time.Now()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			for srv.client(c.Slot()) != nil || openFDs(t) > before {
				if time.Since(start) > sockTimeout/2 {
					t.Fatalf("after DISCONNECT: slot still used: %v, %d descriptors open, %d before",
						srv.client(c.Slot()) != nil, openFDs(t), before)
				}
				time.Sleep(5 * time.Millisecond)
			}
			// The blocking reader went with its client: the next client
			// has it. Close with it idle returns at once.
			c3 := attach("Hca2")
			if cl3 := srv.client(c3.Slot()); cl3 == nil || (cl3.sock != nil) != (cl.sock != nil) {
				t.Fatalf("client after the first left: %+v, blocking reader %v, want %v", cl3, cl3 != nil && cl3.sock != nil, cl.sock != nil)
			}
			time.Sleep(20 * time.Millisecond) // the reader is asleep by now
			start = time.Now()
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > sockTimeout/2 {
				t.Errorf("Close took %v with an idle client attached", d)
			}
		})
	}
}
