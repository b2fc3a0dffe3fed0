//go:build !amd64

package wire

// Without the amd64 assembly, ComputeVCRC uses the tables only.
const (
	useCLMUL    = false
	vcrcMinFold = 0
)

// vcrcFold is never called when useCLMUL is false.
func vcrcFold(c uint16, b []byte) (block [16]byte, rest []byte) { return block, b }
