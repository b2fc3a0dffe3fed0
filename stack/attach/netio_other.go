//go:build !linux

package attach

import (
	"context"
	"fmt"
	"net"
)

// newLocalNetwork fails: ibsim's local mode uses abstract unix sockets,
// which only Linux has. Remote (UDP) mode works everywhere.
func newLocalNetwork(base string) (network, error) {
	return nil, fmt.Errorf("attach: local mode (abstract unix sockets @%s:ctl) needs Linux; use remote mode (--listen ADDR:PORT): %w",
		base, ErrUnsupported)
}

// dialLocal fails off Linux: libumad2sim's local mode uses abstract unix
// sockets.
func dialLocal(_ context.Context, base string, _ uint32) (net.Conn, net.PacketConn, func(uint32) net.Addr, error) {
	return nil, nil, nil, fmt.Errorf("attach: dial @%s:ctl: local mode needs Linux; set IBSIM_SERVER_NAME for remote mode: %w",
		base, ErrUnsupported)
}
