package archive

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A flash is read back by its user only, until it lapses, and by another
// ledger on the same database (another replica's web server).
func TestFlash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, other := openTestLedger(t, path), openTestLedger(t, path)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const ttl = 10 * time.Minute
	token, err := l.PutFlash(ctx, "anna", []byte(`{"added":["x"]}`), t0, ttl, 10)
	if err != nil {
		t.Fatalf("PutFlash: %v", err)
	}
	for _, tt := range []struct {
		name, user, token string
		at                time.Duration
		want              string // "" for ErrNotFound
	}{
		{"hers, at once", "anna", token, 0, `{"added":["x"]}`},
		{"hers, a millisecond before it lapses", "anna", token, ttl - time.Millisecond, `{"added":["x"]}`},
		{"hers, lapsed", "anna", token, ttl, ""},
		{"another user's", "vera", token, 0, ""},
		{"unknown token", "anna", "0123456789abcdef", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := other.Flash(ctx, tt.user, tt.token, t0.Add(tt.at))
			switch {
			case tt.want == "" && !errors.Is(err, ErrNotFound):
				t.Errorf("Flash = %q, %v; want ErrNotFound", got, err)
			case tt.want != "" && (err != nil || string(got) != tt.want):
				t.Errorf("Flash = %q, %v; want %s", got, err, tt.want)
			}
		})
	}
	if _, err := l.PutFlash(ctx, "anna", []byte(`not json`), t0, ttl, 10); err == nil {
		t.Errorf("PutFlash(not JSON) = nil, want an error")
	}
}

// PutFlash keeps the newest flashes only, and deletes the lapsed ones.
func TestFlashBound(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const ttl, keep = time.Hour, 3
	var tokens []string
	for i := range 5 {
		token, err := l.PutFlash(ctx, "anna", []byte(fmt.Sprint(i)), t0.Add(time.Duration(i)*time.Second), ttl, keep)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, token)
	}
	now := t0.Add(time.Minute)
	for i, token := range tokens {
		_, err := l.Flash(ctx, "anna", token, now)
		if kept := i >= len(tokens)-keep; kept != (err == nil) {
			t.Errorf("flash %d of %d: Flash = %v, want kept %v (the newest %d)", i, len(tokens), err, kept, keep)
		}
	}
	// A put after the others lapsed leaves it alone.
	if _, err := l.PutFlash(ctx, "vera", []byte(`1`), t0.Add(2*ttl), ttl, keep); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := l.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM flashes`).Scan(&n); err != nil || n != 1 {
		t.Errorf("after a put with the rest lapsed the ledger keeps %d flashes (%v), want 1", n, err)
	}
}
