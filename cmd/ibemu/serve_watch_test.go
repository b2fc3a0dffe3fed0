package main

import (
	"strings"
	"testing"
	"time"
)

// TestWatchShutdown: a shutdown that outlasts the watch gets every
// goroutine's stack printed, and the watch ends when the shutdown does.
func TestWatchShutdown(t *testing.T) {
	var out syncBuffer
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() { watchShutdown(&out, done, 10*time.Millisecond); close(ended) }()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "goroutine ") {
		if time.Now().After(deadline) {
			t.Fatalf("no stacks after the watch time:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "shutdown still running after 10ms") || !strings.Contains(out.String(), "watchShutdown") {
		t.Errorf("dump:\n%s", out.String())
	}
	close(done)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end with the shutdown")
	}
}
