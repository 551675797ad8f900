package ingest

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitWaiters waits until b has n waiters queued.
func waitWaiters(t *testing.T, b *memBudget, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.waiters)
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMemBudget(t *testing.T) {
	ctx := context.Background()
	b := newMemBudget(100)
	a, _ := b.acquire(ctx, 60)
	if a != 60 || b.free != 40 {
		t.Fatalf("acquire(60) = %d, free %d; want 60, 40", a, b.free)
	}
	// A large request waits, and a small one that would fit waits behind it.
	big := make(chan int64)
	go func() { n, _ := b.acquire(ctx, 500); big <- n }() // more than the budget: takes all of it
	waitWaiters(t, b, 1)
	small := make(chan int64)
	go func() { n, _ := b.acquire(ctx, 10); small <- n }()
	waitWaiters(t, b, 2)

	// A cancelled waiter leaves the queue and takes nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancelled := make(chan error)
	go func() { _, err := b.acquire(cctx, 5); cancelled <- err }()
	waitWaiters(t, b, 3)
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled acquire = %v, want context.Canceled", err)
	}
	waitWaiters(t, b, 2)

	b.release(a)
	if n := <-big; n != 100 {
		t.Errorf("the large request took %d, want the whole budget, 100", n)
	}
	waitWaiters(t, b, 1) // the small one still waits for the large one's bytes
	b.release(100)
	if n := <-small; n != 10 {
		t.Errorf("the small request took %d, want 10", n)
	}
	b.release(10)
	if b.free != 100 || len(b.waiters) != 0 {
		t.Errorf("after all releases: free %d, %d waiters; want 100, 0", b.free, len(b.waiters))
	}
}
