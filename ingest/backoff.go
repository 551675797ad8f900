package ingest

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes the delays between reconnection attempts: Min, then
// doubling up to Max, each shortened by a random fraction of up to Jitter so
// that many clients cut off together do not return together. The zero Min
// and Max mean 1s and 5m. A Backoff is not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	// Jitter is the largest fraction (0 to 1) taken off each delay; 0
	// means none.
	Jitter float64
	// Rand returns a number in [0, 1); nil means math/rand/v2.
	Rand func() float64

	attempt int
}

// NewBackoff returns a Backoff from min to max with a jitter of one half.
func NewBackoff(min, max time.Duration) *Backoff {
	return &Backoff{Min: min, Max: max, Jitter: 0.5}
}

// Next returns the delay before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 5 * time.Minute
	}
	if hi < lo {
		hi = lo
	}
	d := lo
	for i := 0; i < b.attempt && d < hi; i++ {
		d *= 2
	}
	if d > hi || d <= 0 {
		d = hi
	}
	b.attempt++
	j := min(max(b.Jitter, 0), 1)
	if j == 0 {
		return d
	}
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	return d - time.Duration(float64(d)*j*r())
}

// Reset starts over from Min, after an attempt succeeded.
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempts returns how many delays Next has handed out since the last Reset.
func (b *Backoff) Attempts() int { return b.attempt }

// Sleep waits for d or until ctx is done, and reports whether d passed
// (at once for d <= 0, unless ctx is done).
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
