//go:build unix

package attach

import "syscall"

// writeNow writes b to rc's socket if it can do so without waiting.
func writeNow(rc syscall.RawConn, b []byte) bool {
	ok := false
	err := rc.Write(func(fd uintptr) bool {
		n, err := syscall.Write(int(fd), b)
		ok = err == nil && n == len(b)
		return true // never wait: the caller queues what could not go now
	})
	return err == nil && ok
}

// readNow reads one datagram from rc's socket into b if one is waiting.
func readNow(rc syscall.RawConn, b []byte) (int, bool) {
	if rc == nil {
		return 0, false
	}
	n, ok := 0, false
	err := rc.Read(func(fd uintptr) bool {
		k, err := syscall.Read(int(fd), b)
		n, ok = k, err == nil && k > 0
		return true
	})
	return n, err == nil && ok
}
