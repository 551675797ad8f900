package archive

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// A bucket of 3 tokens regaining one a minute, taken from by two ledgers
// on one database (two replicas): they share it.
func TestTakeRateToken(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	ledgers := []*Ledger{openTestLedger(t, path), openTestLedger(t, path)}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const burst, every = 3, time.Minute
	for i, step := range []struct {
		at       time.Duration
		bucket   string
		wantOK   bool
		wantWait time.Duration
		wantUsed float64 // after
	}{
		{0, "a", true, 0, 1},
		{0, "a", true, 0, 2},
		{time.Second, "a", true, 0, 3 - 1.0/60},
		{2 * time.Second, "a", false, 58 * time.Second, 3 - 2.0/60},
		{2 * time.Second, "b", true, 0, 1}, // another bucket
		{time.Minute, "a", true, 0, 3},
		{time.Minute, "a", false, time.Minute, 3},
		{4 * time.Minute, "a", true, 0, 1}, // full again
		{time.Hour, "a", true, 0, 1},
	} {
		now := t0.Add(step.at)
		l := ledgers[i%2]
		ok, wait, err := l.TakeRateToken(ctx, step.bucket, burst, every, now)
		if err != nil || ok != step.wantOK || wait != step.wantWait {
			t.Errorf("step %d: TakeRateToken(%s) at +%s = %v, %s, %v; want %v, %s", i, step.bucket, step.at, ok, wait, err, step.wantOK, step.wantWait)
		}
		used, err := ledgers[(i+1)%2].RateTokensUsed(ctx, step.bucket, every, now)
		if err != nil || used < step.wantUsed-1e-9 || used > step.wantUsed+1e-9 {
			t.Errorf("step %d: RateTokensUsed(%s) at +%s = %v, %v; want %v", i, step.bucket, step.at, used, err, step.wantUsed)
		}
	}
	// Full buckets are deleted: by +1h "b" is, and "a" is the one row.
	var n int
	if err := ledgers[0].r.QueryRowContext(ctx, `SELECT COUNT(*) FROM rate_limits`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the ledger keeps %d buckets (%v), want 1", n, err)
	}
	if _, _, err := ledgers[0].TakeRateToken(ctx, "a", 0, every, t0); err == nil {
		t.Errorf("TakeRateToken with burst 0 = nil error, want one")
	}
}
