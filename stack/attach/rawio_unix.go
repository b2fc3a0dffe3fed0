//go:build unix && !(linux && (amd64 || arm64))

package attach

import "syscall"

// batchedIO: the data sockets are read and written through their raw
// descriptors, all that is ready per wakeup.
const batchedIO = true

// ioVec is the scratch of one goroutine's batched reads and writes (none
// needed here: one system call per datagram).
type ioVec struct{}

// recvBatch reads, without waiting, as many datagrams as fd holds (at
// most rxMax) into b's slots, one read each. It returns how many it read,
// or syscall.EAGAIN when there were none.
func (*ioVec) recvBatch(fd uintptr, b *rxBatch) (int, error) {
	n := 0
	for n < rxMax {
		k, err := syscall.Read(int(fd), b.slot(n))
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		b.lens[n] = k
		n++
	}
	return n, nil
}

// sendBatch writes, without waiting, the first datagrams of batch (at
// most rxMax of DatagramSize bytes each) to fd. It returns how many went,
// or the error of the first (syscall.EAGAIN when the socket is full).
func (*ioVec) sendBatch(fd uintptr, batch []byte) (int, error) {
	if len(batch) < DatagramSize {
		return 0, syscall.EINVAL
	}
	n := 0
	for n < rxMax && (n+1)*DatagramSize <= len(batch) {
		if _, err := syscall.Write(int(fd), batch[n*DatagramSize:(n+1)*DatagramSize]); err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		n++
	}
	return n, nil
}

// rxHeaders is empty here: one read per datagram needs no headers.
type rxHeaders struct{}
