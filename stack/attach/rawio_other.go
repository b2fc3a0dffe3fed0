//go:build !unix

package attach

import "syscall"

// writeNow never writes without the writer goroutine off unix: every
// datagram goes through the queue.
func writeNow(syscall.RawConn, []byte) bool { return false }

// readNow reads nothing beyond what the blocking read returned off unix.
func readNow(syscall.RawConn, []byte) (int, bool) { return 0, false }
