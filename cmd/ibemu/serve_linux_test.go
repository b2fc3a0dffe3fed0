//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ibemu/ibemu/emu/wire"
	"github.com/ibemu/ibemu/stack/attach"
)

const serveNet = `Switch 4 "sw1"
[1] "h1"[1]
[2] "h2"[1]

Hca 1 "h1"
[1] "sw1"[1]

Hca 1 "h2" # "second host"
[1] "sw1"[2]
`

// startServe runs `ibemu serve` in the background with stdin from in and
// returns its output and a channel that gets its exit code.
func startServe(t *testing.T, in io.Reader, extra ...string) (*syncBuffer, *syncBuffer, string, <-chan int) {
	t.Helper()
	dir := t.TempDir()
	topo := filepath.Join(dir, "net")
	cmds := filepath.Join(dir, "cmds")
	if err := os.WriteFile(topo, []byte(serveNet), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cmds, []byte("Unlink \"h2\"\nBogus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := fmt.Sprintf("ibemu-serve-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	old := serveStdin
	serveStdin = in
	t.Cleanup(func() { serveStdin = old })
	var o, e syncBuffer
	code := make(chan int, 1)
	args := append([]string{"serve", topo, "--sockname", sock, "--commands", cmds}, extra...)
	go func() { code <- run(&o, &e, args) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(o.String(), "clients attach at") {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s\n%s", o.String(), e.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return &o, &e, sock, code
}

func TestServeConsoleAndQuit(t *testing.T) {
	pr, pw := io.Pipe()
	// The console's reader blocks in Read until its input ends, as it
	// would on a terminal: end it when the test does.
	t.Cleanup(func() { pw.Close() })
	o, e, sock, code := startServe(t, pr)
	c, err := attach.Dial(context.Background(), &attach.DialConfig{SockName: sock, Host: "second host"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Node() != "h2" || c.NodeInfo().NodeType() != wire.NodeTypeCA {
		t.Errorf("attached at %q type %v", c.Node(), c.NodeInfo().NodeType())
	}
	// The --commands file ran: h2's link is gone, the bad line reported.
	if st := c.PortInfo().PortState(); st != wire.PortStateDown {
		t.Errorf("h2 port state %v after Unlink from --commands", st)
	}
	if !strings.Contains(o.String(), "unknown") {
		t.Errorf("bad command not reported:\n%s", o.String())
	}
	fmt.Fprintln(pw, "Attached")
	fmt.Fprintln(pw, "Frobnicate")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(o.String(), "1 client(s) attached") || !strings.Contains(o.String(), `"Frobnicate" unknown`) {
		if time.Now().After(deadline) {
			t.Fatalf("console output:\n%s", o.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = c.Close()
	fmt.Fprintln(pw, "Quit")
	select {
	case rc := <-code:
		if rc != 0 {
			t.Errorf("exit %d\n%s", rc, e.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Quit did not stop the server")
	}
}

func TestServeOutlivesStdin(t *testing.T) {
	o, e, sock, code := startServe(t, strings.NewReader(""))
	time.Sleep(100 * time.Millisecond) // the console has seen EOF
	c, err := attach.Dial(context.Background(), &attach.DialConfig{SockName: sock, Host: "h1"})
	if err != nil {
		t.Fatalf("server gone after EOF on stdin: %v\n%s\n%s", err, o.String(), e.String())
	}
	_ = c.Close()
	// SIGINT stops it (serve handles the signal while it runs).
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case rc := <-code:
		if rc != 0 {
			t.Errorf("exit %d after SIGINT\n%s", rc, e.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("SIGINT did not stop the server")
	}
}
