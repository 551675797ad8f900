package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestAcquireLease(t *testing.T) {
	const ttl = 20 * time.Second
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// A step runs at t0 + at: an acquire, or a release when release is set.
	type step struct {
		at      time.Duration
		holder  string
		release bool
	}
	tests := []struct {
		name   string
		before []step
		// The acquire under test, by "b".
		at           time.Duration
		wantHeld     bool
		wantHolder   string
		wantAcquired time.Duration // of the lease after, from t0
		wantExpires  time.Duration
		wantTaken    string
		wantOverdue  time.Duration
	}{
		{name: "free", at: 0,
			wantHeld: true, wantHolder: "b", wantAcquired: 0, wantExpires: ttl},
		{name: "ours, renewed", before: []step{{0, "b", false}}, at: 5 * time.Second,
			wantHeld: true, wantHolder: "b", wantAcquired: 0, wantExpires: 5*time.Second + ttl},
		{name: "ours, expired, taken back", before: []step{{0, "b", false}}, at: 30 * time.Second,
			wantHeld: true, wantHolder: "b", wantAcquired: 0, wantExpires: 30*time.Second + ttl},
		{name: "someone else's, live", before: []step{{0, "a", false}}, at: 10 * time.Second,
			wantHeld: false, wantHolder: "a", wantAcquired: 0, wantExpires: ttl},
		{name: "someone else's, renewed, live", before: []step{{0, "a", false}, {15 * time.Second, "a", false}}, at: 25 * time.Second,
			wantHeld: false, wantHolder: "a", wantAcquired: 0, wantExpires: 15*time.Second + ttl},
		{name: "someone else's, a millisecond before expiry", before: []step{{0, "a", false}}, at: ttl - time.Millisecond,
			wantHeld: false, wantHolder: "a", wantAcquired: 0, wantExpires: ttl},
		{name: "someone else's, at expiry", before: []step{{0, "a", false}}, at: ttl,
			wantHeld: true, wantHolder: "b", wantAcquired: ttl, wantExpires: 2 * ttl, wantTaken: "a", wantOverdue: 0},
		{name: "someone else's, expired", before: []step{{0, "a", false}}, at: ttl + 7*time.Second,
			wantHeld: true, wantHolder: "b", wantAcquired: ttl + 7*time.Second, wantExpires: 2*ttl + 7*time.Second, wantTaken: "a", wantOverdue: 7 * time.Second},
		{name: "released", before: []step{{0, "a", false}, {time.Second, "a", true}}, at: 2 * time.Second,
			wantHeld: true, wantHolder: "b", wantAcquired: 2 * time.Second, wantExpires: 2*time.Second + ttl},
		{name: "released by someone who does not hold it", before: []step{{0, "a", false}, {time.Second, "b", true}}, at: 2 * time.Second,
			wantHeld: false, wantHolder: "a", wantAcquired: 0, wantExpires: ttl},
		{name: "taken from us", before: []step{{0, "b", false}, {ttl + time.Second, "a", false}}, at: ttl + 2*time.Second,
			wantHeld: false, wantHolder: "a", wantAcquired: ttl + time.Second, wantExpires: 2*ttl + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			l := newTestLedger(t)
			var now time.Time
			l.now = func() time.Time { return now }
			const name = "mailbox claims folder INBOX"
			for _, s := range tt.before {
				now = t0.Add(s.at)
				if s.release {
					if err := l.ReleaseLease(ctx, name, s.holder); err != nil {
						t.Fatalf("ReleaseLease(%s) at %s: %v", s.holder, s.at, err)
					}
				} else if _, err := l.AcquireLease(ctx, name, s.holder, ttl); err != nil {
					t.Fatalf("AcquireLease(%s) at %s: %v", s.holder, s.at, err)
				}
			}
			head := auditCount(t, l)
			now = t0.Add(tt.at)
			got, err := l.AcquireLease(ctx, name, "b", ttl)
			if err != nil {
				t.Fatalf("AcquireLease(b) at %s: %v", tt.at, err)
			}
			if got.Held != tt.wantHeld || got.Holder != tt.wantHolder || got.Name != name {
				t.Errorf("AcquireLease(b) at %s = held %v by %q (%q), want held %v by %q", tt.at, got.Held, got.Holder, got.Name, tt.wantHeld, tt.wantHolder)
			}
			if want := t0.Add(tt.wantAcquired); !got.Acquired.Equal(want) {
				t.Errorf("Acquired = %s, want %s", got.Acquired, want)
			}
			if want := t0.Add(tt.wantExpires); !got.Expires.Equal(want) {
				t.Errorf("Expires = %s, want %s", got.Expires, want)
			}
			if got.TakenFrom != tt.wantTaken || got.ExpiredFor != tt.wantOverdue {
				t.Errorf("taken from %q %s after expiry, want from %q %s after", got.TakenFrom, got.ExpiredFor, tt.wantTaken, tt.wantOverdue)
			}
			// What was written is what was returned.
			stored, err := l.Lease(ctx, name)
			if err != nil {
				t.Fatalf("Lease: %v", err)
			}
			if stored.Holder != got.Holder || !stored.Expires.Equal(got.Expires) || !stored.Acquired.Equal(got.Acquired) {
				t.Errorf("Lease = %+v, want holder %q until %s", stored, got.Holder, got.Expires)
			}

			// A takeover, and only a takeover, is in the audit trail.
			entries, err := l.AuditEntries(ctx, AuditFilter{Actions: []Action{ActionLeaseTakenOver}})
			if err != nil {
				t.Fatal(err)
			}
			added := auditCount(t, l) - head
			if tt.wantTaken == "" {
				if added != 0 {
					t.Errorf("the acquire added %d audit entries, want none", added)
				}
				return
			}
			if added != 1 || len(entries) == 0 {
				t.Fatalf("the acquire added %d audit entries (%d takeovers in all), want 1 takeover", added, len(entries))
			}
			e := entries[0]
			var d map[string]any
			if err := json.Unmarshal(e.Details, &d); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("map[expired_at:%s expired_for_ms:%d holder:b previous_holder:%s]",
				fmtTime(t0.Add(ttl)), tt.wantOverdue.Milliseconds(), tt.wantTaken)
			if e.Subject != "lease:"+name || e.Actor != ActorSystem || fmt.Sprint(d) != want {
				t.Errorf("takeover entry = %s %s %v, want lease:%s %s %s", e.Actor, e.Subject, d, name, ActorSystem, want)
			}
		})
	}
}

func auditCount(t *testing.T, l *Ledger) int {
	t.Helper()
	return countRows(t, l, `SELECT COUNT(*) FROM audit`)
}

func TestAcquireLeaseBadInput(t *testing.T) {
	l := newTestLedger(t)
	tests := []struct {
		name, lease, holder string
		ttl                 time.Duration
	}{
		{"no name", "", "b", time.Second},
		{"no holder", "x", "", time.Second},
		{"no ttl", "x", "b", 0},
		{"negative ttl", "x", "b", -time.Second},
	}
	for _, tt := range tests {
		if _, err := l.AcquireLease(context.Background(), tt.lease, tt.holder, tt.ttl); err == nil {
			t.Errorf("%s: AcquireLease(%q, %q, %s) succeeded, want an error", tt.name, tt.lease, tt.holder, tt.ttl)
		}
	}
	if _, err := l.Lease(context.Background(), "nobody's"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lease(nobody's) error = %v, want ErrNotFound", err)
	}
}

// TestAcquireLeaseConcurrent races holders for one free lease from two
// ledgers on one file, as two replicas on one machine do: exactly one wins,
// and every loser is told who.
func TestAcquireLeaseConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "claimtrail.db")
	ledgers := []*Ledger{openTestLedger(t, path), openTestLedger(t, path)}
	for round := range 5 {
		name := fmt.Sprintf("folder %d", round)
		const perLedger = 8
		got := make([]Lease, 2*perLedger)
		errs := make([]error, len(got))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = ledgers[i%2].AcquireLease(context.Background(), name, fmt.Sprintf("replica-%d", i), time.Minute)
			}()
		}
		close(start)
		wg.Wait()
		winners := 0
		var winner string
		for i, g := range got {
			if errs[i] != nil {
				t.Fatalf("round %d: AcquireLease(replica-%d): %v", round, i, errs[i])
			}
			if g.Held {
				winners++
				winner = g.Holder
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d holders won the lease, want exactly 1", round, winners)
		}
		for i, g := range got {
			if g.Holder != winner {
				t.Errorf("round %d: replica-%d was told %q holds the lease, want %q", round, i, g.Holder, winner)
			}
		}
	}
}
