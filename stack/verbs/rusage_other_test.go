//go:build !linux

package verbs_test

import "time"

// cpuTime is unknown here; CPU-time metrics read 0.
func cpuTime() time.Duration { return 0 }
