package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TakeRateToken takes a token from the bucket called name, which holds up
// to burst tokens and regains one every interval, at now. When it has none
// it reports false and how long until it has one. Replicas sharing the
// ledger share its buckets: the web app's login limits hold for all of
// them together. Buckets full by now are deleted. Safe for concurrent
// use, by several processes too: the decision is one INSERT ... ON
// CONFLICT ... DO UPDATE ... WHERE, which PostgreSQL takes as SQLite does.
func (l *Ledger) TakeRateToken(ctx context.Context, name string, burst int, every time.Duration, now time.Time) (bool, time.Duration, error) {
	op := "take rate token " + name
	if burst < 1 || every < time.Millisecond {
		return false, 0, fmt.Errorf("archive: %s: burst %d and interval %s must be positive", op, burst, every)
	}
	nowMS, everyMS := now.UnixMilli(), every.Milliseconds()
	var ok bool
	var fullAt int64
	err := l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		if _, err := tx.ExecContext(ctx, `DELETE FROM rate_limits WHERE full_at <= ?`, nowMS); err != nil {
			return err
		}
		// A token is there when the bucket, one more taken, is full no
		// later than burst intervals from now.
		err := tx.QueryRowContext(ctx, `INSERT INTO rate_limits (bucket, full_at) VALUES (?, ?)
			ON CONFLICT (bucket) DO UPDATE SET full_at = rate_limits.full_at + ?
			WHERE rate_limits.full_at + ? <= ?
			RETURNING full_at`,
			name, nowMS+everyMS, everyMS, everyMS, nowMS+int64(burst)*everyMS).Scan(&fullAt)
		if errors.Is(err, sql.ErrNoRows) {
			return tx.QueryRowContext(ctx, `SELECT full_at FROM rate_limits WHERE bucket = ?`, name).Scan(&fullAt)
		}
		ok = err == nil
		return err
	})
	if err != nil {
		return false, 0, err
	}
	if ok {
		return true, 0, nil
	}
	return false, time.Duration(fullAt-nowMS-int64(burst-1)*everyMS) * time.Millisecond, nil
}

// RateTokensUsed reports how many tokens the bucket called name lacks at
// now (TakeRateToken): 0 for a bucket never used or full again.
func (l *Ledger) RateTokensUsed(ctx context.Context, name string, every time.Duration, now time.Time) (float64, error) {
	if every < time.Millisecond {
		return 0, fmt.Errorf("archive: rate tokens used %s: interval %s must be positive", name, every)
	}
	var fullAt int64
	err := l.r.QueryRowContext(ctx, `SELECT full_at FROM rate_limits WHERE bucket = ?`, name).Scan(&fullAt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbErr("rate tokens used "+name, err)
	}
	return max(0, float64(fullAt-now.UnixMilli())/float64(every.Milliseconds())), nil
}
