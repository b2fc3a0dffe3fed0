//go:build linux && (amd64 || arm64)

package attach

import (
	"syscall"
	"unsafe"
)

// batchedIO: the data sockets are read and written through their raw
// descriptors, many datagrams per system call.
const batchedIO = true

// mmsghdr is the kernel's struct mmsghdr: a msghdr and the byte count of
// its message.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
}

// ioVec is the scratch of one goroutine's sendmmsg calls.
type ioVec struct {
	hdrs [rxMax]mmsghdr
	iovs [rxMax]syscall.Iovec
}

// rxHeaders are a batch's recvmmsg headers, one per slot, each pointing
// at its slot of the batch's buffer. They are built on the batch's first
// read and kept with it (batches are recycled), so a read sets up nothing:
// the kernel writes only the byte count and the flags of each message it
// fills.
type rxHeaders struct {
	hdrs  [rxMax]mmsghdr
	iovs  [rxMax]syscall.Iovec
	ready bool
}

// recvBatch reads, without waiting, as many datagrams as fd holds (at most
// rxMax) into b's slots with one recvmmsg, and records their sizes. It
// returns how many it read, or syscall.EAGAIN when there were none.
func (*ioVec) recvBatch(fd uintptr, b *rxBatch) (int, error) {
	h := b.headers()
	r, _, e := syscall.RawSyscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&h.hdrs[0])), rxMax,
		syscall.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return b.received(int(r)), nil
}

// blockingReads: a client's reader may sleep in recvmmsg itself (see
// client.readBlocking).
const blockingReads = true

// msgWaitForOne is recvmmsg's MSG_WAITFORONE: block for the first
// datagram only, then take what is there without waiting.
const msgWaitForOne = 0x10000

// recvBatchWait is recvBatch that sleeps in the kernel until at least one
// datagram is there (fd must be blocking: see ownSocket). It is a system
// call the runtime knows of (entersyscall): while the reader sleeps, the
// runtime may hand its processor to other goroutines (after a while; see
// Server.takeBlockingReader). It returns how many datagrams it
// read, or syscall.EAGAIN when the receive timeout passed with none.
// Once the socket's receive side is shut down it returns at once.
func (*ioVec) recvBatchWait(fd uintptr, b *rxBatch) (int, error) {
	h := b.headers()
	r, _, e := syscall.Syscall6(syscall.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&h.hdrs[0])), rxMax,
		msgWaitForOne, 0, 0)
	if e != 0 {
		return 0, e
	}
	return b.received(int(r)), nil
}

// headers returns b's recvmmsg headers, built on first use.
func (b *rxBatch) headers() *rxHeaders {
	h := &b.hdr
	if !h.ready {
		for i := range rxMax {
			s := b.slot(i)
			h.iovs[i] = syscall.Iovec{Base: &s[0], Len: uint64(len(s))}
			h.hdrs[i] = mmsghdr{hdr: syscall.Msghdr{Iov: &h.iovs[i], Iovlen: 1}}
		}
		h.ready = true
	}
	return h
}

// received records the sizes of the n datagrams a recvmmsg read into b
// and returns n.
func (b *rxBatch) received(n int) int {
	h := &b.hdr
	for i := range n {
		b.lens[i] = int(h.hdrs[i].n)
		if h.hdrs[i].hdr.Flags&syscall.MSG_TRUNC != 0 {
			b.lens[i] = rxSlot // longer than a slot: malformed
		}
	}
	return n
}

// sendBatch writes, without waiting, the first datagrams of batch (at most
// rxMax of DatagramSize bytes each) to fd with one sendmmsg. It returns
// how many went, or the error of the first (syscall.EAGAIN when the
// socket is full).
func (v *ioVec) sendBatch(fd uintptr, batch []byte) (int, error) {
	return v.sendmmsg(fd, batch, syscall.MSG_DONTWAIT, true)
}

// sendBatchWait is sendBatch on a blocking socket (ownSocket) that sleeps
// in the kernel while the client's socket is full, at most the socket's
// send timeout (then syscall.EAGAIN). Like recvBatchWait, the runtime
// knows it may block.
func (v *ioVec) sendBatchWait(fd uintptr, batch []byte) (int, error) {
	return v.sendmmsg(fd, batch, 0, false)
}

// sendmmsg writes the first datagrams of batch to fd with flags, as a raw
// system call (one that cannot block) or one the runtime knows may block.
func (v *ioVec) sendmmsg(fd uintptr, batch []byte, flags uintptr, raw bool) (int, error) {
	n := min(len(batch)/DatagramSize, rxMax)
	if n == 0 {
		return 0, syscall.EINVAL
	}
	for i := range n {
		v.iovs[i] = syscall.Iovec{Base: &batch[i*DatagramSize], Len: DatagramSize}
		v.hdrs[i] = mmsghdr{hdr: syscall.Msghdr{Iov: &v.iovs[i], Iovlen: 1}}
	}
	var r uintptr
	var e syscall.Errno
	if raw {
		r, _, e = syscall.RawSyscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(&v.hdrs[0])), uintptr(n), flags, 0, 0)
	} else {
		r, _, e = syscall.Syscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(&v.hdrs[0])), uintptr(n), flags, 0, 0)
	}
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
