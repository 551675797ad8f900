package web

import (
	"sync"
	"time"
)

// maxLimiterKeys bounds a limiter's memory: past it, keys whose bucket has
// refilled are forgotten, and if none has, the oldest entries go.
const maxLimiterKeys = 10000

// limiter is a set of token buckets, one per key (a user name, an
// address): each holds up to burst tokens and regains one per every.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

func newLimiter(burst int, every time.Duration, now func() time.Time) *limiter {
	return &limiter{burst: float64(burst), every: every, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket. When there is none it reports
// false and how long until there is one.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxLimiterKeys {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.every))
	return false, wait
}

// used reports how many tokens key's bucket lacks now: 0 for a key never
// seen or fully refilled. It takes nothing and stores nothing.
func (l *limiter) used(key string) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return 0
	}
	l.refill(b, l.now())
	return l.burst - b.tokens
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.at = now
	}
}

func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < maxLimiterKeys {
		return
	}
	// Under a flood of distinct keys none may be full: drop half, at
	// random (map order), rather than grow without bound.
	for k := range l.buckets {
		if len(l.buckets) < maxLimiterKeys/2 {
			break
		}
		delete(l.buckets, k)
	}
}
