//go:build !(linux && (amd64 || arm64))

package attach

import (
	"errors"
	"net"
	"syscall"
)

// blockingReads: off Linux (amd64, arm64) a client's reader waits in the
// runtime's network poller.
const blockingReads = false

// ownSocket is unused here (see the Linux version).
type ownSocket struct {
	fd      int
	onClose func()
}

func takeSocket(net.Conn) (*ownSocket, error) {
	return nil, errors.New("attach: blocking data sockets need Linux")
}

func (*ownSocket) acquire()  {}
func (*ownSocket) release()  {}
func (*ownSocket) shutdown() {}

func (*ioVec) recvBatchWait(uintptr, *rxBatch) (int, error) { return 0, syscall.EINVAL }

func (*ioVec) sendBatchWait(uintptr, []byte) (int, error) { return 0, syscall.EINVAL }
