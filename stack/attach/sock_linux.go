//go:build linux && (amd64 || arm64)

package attach

import (
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// sockTimeout bounds one sleep of a client's reader or writer in its
// socket (SO_RCVTIMEO, SO_SNDTIMEO): each looks at the client's state at
// least this often, even were a wake-up lost.
const sockTimeout = time.Second

// ownSocket is a client's data socket taken out of the runtime's network
// poller: a blocking descriptor that the client's reader sleeps in
// (recvmmsg) and that the event loop writes without waiting
// (MSG_DONTWAIT). A socket the poller watches makes the poller's thread
// wake for every datagram that arrives, although nobody waits there; out
// of it, a batch costs the reader one system call and no scheduler work.
//
// The descriptor is closed when its last user lets go (release): the
// client (until removeClient), its reader and its writer goroutines. Its
// slot stays taken until then (onClose frees it), as the socket's name
// stays bound.
type ownSocket struct {
	fd   int
	refs atomic.Int32
	// onClose, when set, runs once the descriptor is closed.
	onClose func()
}

// takeSocket moves conn's socket out of the network poller: it
// duplicates the descriptor, closes conn (which removes it from the
// poller) and makes the duplicate blocking, with sockTimeout as the bound
// of each wait. The caller holds the one reference.
func takeSocket(conn net.Conn) (*ownSocket, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("attach: %T has no descriptor", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("attach: data socket: %w", err)
	}
	nfd, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		nfd = int(r)
	}); err != nil {
		return nil, fmt.Errorf("attach: data socket: %w", err)
	}
	if derr != nil {
		return nil, fmt.Errorf("attach: data socket: dup: %w", derr)
	}
	_ = conn.Close()
	tv := syscall.NsecToTimeval(sockTimeout.Nanoseconds())
	err = syscall.SetNonblock(nfd, false)
	if err == nil {
		err = syscall.SetsockoptTimeval(nfd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	}
	if err == nil {
		err = syscall.SetsockoptTimeval(nfd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	}
	if err != nil {
		_ = syscall.Close(nfd)
		return nil, fmt.Errorf("attach: data socket: %w", err)
	}
	s := &ownSocket{fd: nfd}
	s.refs.Store(1)
	return s, nil
}

// acquire adds a user of the descriptor.
func (s *ownSocket) acquire() { s.refs.Add(1) }

// release ends a use of the descriptor; the last one closes it.
func (s *ownSocket) release() {
	if s.refs.Add(-1) == 0 {
		_ = syscall.Close(s.fd)
		if s.onClose != nil {
			s.onClose()
		}
	}
}

// shutdown shuts the socket down both ways: a reader asleep in it wakes
// and every later read returns at once, so the users let go soon.
func (s *ownSocket) shutdown() { _ = syscall.Shutdown(s.fd, syscall.SHUT_RDWR) }
