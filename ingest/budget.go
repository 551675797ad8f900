package ingest

import (
	"context"
	"slices"
	"sync"
)

// memBudget bounds the bytes of the messages the pipeline works on at once:
// a message parsed in full takes about four times its size in memory, and
// with many workers a run of large messages would otherwise take them all
// at the same time. Waiters are served in order, so a large message is not
// overtaken for good by small ones.
type memBudget struct {
	mu      sync.Mutex
	size    int64
	free    int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when n is granted
}

func newMemBudget(size int64) *memBudget { return &memBudget{size: size, free: size} }

// acquire takes n bytes of the budget (all of it when n is larger), waiting
// for them, and returns what it took, for release.
func (b *memBudget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 0), b.size)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return n, nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return n, nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			b.free += n
			b.grant()
		default:
			if i := slices.Index(b.waiters, w); i >= 0 {
				b.waiters = slices.Delete(b.waiters, i, i+1)
			}
			b.grant() // the next one may fit now
		}
		return 0, ctx.Err()
	}
}

// release gives back n bytes that acquire took.
func (b *memBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free += n
	b.grant()
}

// grant serves the waiters in order while the first one fits.
func (b *memBudget) grant() {
	for len(b.waiters) > 0 && b.free >= b.waiters[0].n {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.free -= w.n
		close(w.ready)
	}
}
