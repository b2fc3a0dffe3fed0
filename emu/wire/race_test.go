//go:build race

package wire_test

// raceEnabled is set when the tests run under the race detector, whose
// instrumentation changes what escapes to the heap.
const raceEnabled = true
