package web

import (
	"context"
	"log/slog"
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

// sharedLimiter is a limiter that holds for all the replicas sharing the
// ledger together, so that N replicas behind a load balancer do not give
// a client N times its attempts. Its local limiter, of the same size,
// decides first: a flood is refused without ledger work, and a ledger that
// fails leaves the local limit in force. Only what the local one lets
// through costs a ledger write, less than the bcrypt a login attempt costs
// anyway.
type sharedLimiter struct {
	local  *limiter
	ledger Ledger
	name   string // of the ledger's buckets: name + ":" + key
	burst  int
	every  time.Duration
	log    *slog.Logger
}

func newSharedLimiter(ledger Ledger, name string, burst int, every time.Duration, now func() time.Time, log *slog.Logger) *sharedLimiter {
	return &sharedLimiter{local: newLimiter(burst, every, now), ledger: ledger, name: name, burst: burst, every: every, log: log}
}

// allow takes a token from key's bucket, here and in the ledger. When
// there is none it reports false and how long until there is one.
func (l *sharedLimiter) allow(ctx context.Context, key string) (bool, time.Duration) {
	if ok, wait := l.local.allow(key); !ok {
		return false, wait
	}
	ok, wait, err := l.ledger.TakeRateToken(ctx, l.name+":"+key, l.burst, l.every, l.local.now())
	if err != nil {
		l.log.Warn("web: the limit shared with other replicas could not be read; this replica's own holds", "limit", l.name, "err", err)
		return true, 0
	}
	return ok, wait
}

// used reports how many tokens key's bucket lacks now, here or in the
// ledger, whichever lacks more.
func (l *sharedLimiter) used(ctx context.Context, key string) float64 {
	u := l.local.used(key)
	shared, err := l.ledger.RateTokensUsed(ctx, l.name+":"+key, l.every, l.local.now())
	if err != nil {
		l.log.Warn("web: the limit shared with other replicas could not be read; this replica's own holds", "limit", l.name, "err", err)
		return u
	}
	return max(u, shared)
}
