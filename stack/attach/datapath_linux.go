package attach

import (
	"context"
	"fmt"
	"net"
)

// listenDataPathLocal opens the data-path endpoint of local mode: the
// abstract unix stream socket "@<base>:data" (no trailing NUL: no ibsim
// program opens it).
func listenDataPathLocal(base string) (net.Listener, error) {
	ln, err := net.Listen("unix", "@"+base+":data")
	if err != nil {
		return nil, fmt.Errorf("socket @%s:data (is another server using IBSIM_SOCKNAME=%s?): %w", base, base, err)
	}
	return ln, nil
}

// dialDataPathLocal connects to the local-mode endpoint "@<base>:data".
func dialDataPathLocal(ctx context.Context, base string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", "@"+base+":data")
}
