package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWaitCtx(t *testing.T) {
	t.Run("not made until waited on", func(t *testing.T) {
		w := lazyWait(context.Background(), nil, time.Second)
		if w.Err() != nil {
			t.Fatalf("Err = %v before anything ended", w.Err())
		}
		if w.ctx != nil {
			t.Fatal("Err made the context")
		}
		w.release()
	})
	t.Run("timeout", func(t *testing.T) {
		w := lazyWait(context.Background(), nil, 10*time.Millisecond)
		defer w.release()
		if _, ok := w.Deadline(); !ok {
			t.Fatal("no deadline")
		}
		select {
		case <-w.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("timeout never ended the context")
		}
		if !errors.Is(w.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err = %v, want deadline exceeded", w.Err())
		}
	})
	t.Run("the other context ends it", func(t *testing.T) {
		also, stop := context.WithCancel(context.Background())
		w := lazyWait(context.Background(), also, 0)
		defer w.release()
		done := w.Done()
		stop()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the other context's end did not end it")
		}
	})
	t.Run("ended before it is made", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		cancel()
		if w := lazyWait(parent, nil, 0); !errors.Is(w.Err(), context.Canceled) {
			t.Fatalf("Err = %v with the parent ended", w.Err())
		}
		also, stop := context.WithCancel(context.Background())
		stop()
		if w := lazyWait(context.Background(), also, 0); !errors.Is(w.Err(), context.Canceled) {
			t.Fatalf("Err = %v with the other context ended", w.Err())
		}
	})
	t.Run("release unhooks it from the other context", func(t *testing.T) {
		also, stop := context.WithCancel(context.Background())
		defer stop()
		w := lazyWait(context.Background(), also, 0)
		w.Done()
		w.release()
		if w.stop() {
			t.Fatal("the AfterFunc on the other context was still registered after release")
		}
		if !errors.Is(w.Err(), context.Canceled) {
			t.Fatalf("Err = %v after release", w.Err())
		}
	})
}
