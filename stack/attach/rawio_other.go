//go:build !unix

package attach

import "syscall"

// batchedIO: off unix the data sockets are read and written with the net
// package's blocking calls, one datagram each.
const batchedIO = false

// ioVec is unused off unix.
type ioVec struct{}

func (*ioVec) recvBatch(uintptr, *rxBatch) (int, error) { return 0, syscall.EINVAL }

func (*ioVec) sendBatch(uintptr, []byte) (int, error) { return 0, syscall.EINVAL }

// rxHeaders is unused off unix.
type rxHeaders struct{}
