//go:build !linux

package attach

import (
	"context"
	"fmt"
	"net"
)

// listenDataPathLocal fails off Linux: local mode uses abstract unix
// sockets, which only Linux has. Remote mode (TCP) works everywhere.
func listenDataPathLocal(base string) (net.Listener, error) {
	return nil, fmt.Errorf("socket @%s:data: local mode needs Linux; use remote mode (--listen ADDR:PORT): %w", base, ErrUnsupported)
}

// dialDataPathLocal fails off Linux (see listenDataPathLocal).
func dialDataPathLocal(_ context.Context, base string) (net.Conn, error) {
	return nil, fmt.Errorf("socket @%s:data: local mode needs Linux; name the server's TCP address: %w", base, ErrUnsupported)
}

// dpRawWriter would write from the event loop without waiting; off Linux
// every write goes through the writer goroutine instead.
type dpRawWriter struct{}

// newDPRawWriter returns nil off Linux: no writes from the event loop.
func newDPRawWriter(net.Conn) *dpRawWriter { return nil }

// tryWrite is never called off Linux (newDPRawWriter returns nil).
func (*dpRawWriter) tryWrite([][]byte) (int, error) { return 0, nil }
