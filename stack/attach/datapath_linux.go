package attach

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"unsafe"
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

// dpIOVMax is the most buffers one writev takes (the kernel's IOV_MAX).
const dpIOVMax = 1024

// dpRawWriter writes gathered buffers to a stream socket without waiting:
// one writev system call for many messages, from the event loop.
type dpRawWriter struct {
	raw syscall.RawConn
	iov [dpIOVMax]syscall.Iovec
}

// newDPRawWriter returns a writer for conn, or nil when conn has no
// descriptor (net.Pipe in tests): its writes then all go through the
// writer goroutine.
func newDPRawWriter(conn net.Conn) *dpRawWriter {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &dpRawWriter{raw: raw}
}

// tryWrite writes as much of bufs as the socket takes now, without
// waiting, with as few writev calls as the buffer count allows, and
// returns the bytes written. A full socket is not an error: it returns
// what went out (maybe 0). Only one goroutine may call it at a time.
func (w *dpRawWriter) tryWrite(bufs [][]byte) (int, error) {
	total := 0
	for len(bufs) > 0 {
		n, want := 0, 0
		for _, b := range bufs {
			if n == dpIOVMax {
				break
			}
			if len(b) == 0 {
				continue
			}
			w.iov[n] = syscall.Iovec{Base: &b[0]}
			w.iov[n].SetLen(len(b))
			n++
			want += len(b)
		}
		if n == 0 {
			return total, nil
		}
		var wrote int
		var errno syscall.Errno
		dpRaceWrote()
		err := w.raw.Write(func(fd uintptr) bool {
			for {
				r, _, e := syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(n))
				if e == syscall.EINTR {
					continue
				}
				wrote, errno = int(r), e
				return true // never wait for the socket: the caller hands the rest over
			}
		})
		clear(w.iov[:n])
		if err != nil {
			return total, err
		}
		if errno == syscall.EAGAIN {
			return total, nil
		}
		if errno != 0 {
			return total, errno
		}
		total += wrote
		if wrote < want {
			return total, nil
		}
		// Skip the buffers this call covered.
		for n > 0 && len(bufs) > 0 {
			if len(bufs[0]) > 0 {
				n--
			}
			bufs = bufs[1:]
		}
	}
	return total, nil
}
