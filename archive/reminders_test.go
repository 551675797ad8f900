package archive

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// addReminderClaim adds claim number i of a tenant with the given status,
// eligibility and deadline, and returns its ID.
func addReminderClaim(t *testing.T, l *Ledger, i int, status string, eligible bool, deadline time.Time) int64 {
	t.Helper()
	var id int64
	if err := l.w.QueryRowContext(context.Background(), `INSERT INTO claims (tenant_id, incident_id, status, deadline, created_at, updated_at, eligible)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, "11111111-0000-4000-8000-000000000001", "EX"+strings.Repeat("1", 5)+string(rune('0'+i)),
		status, fmtTime(deadline), fmtTime(clockStart), fmtTime(clockStart), eligible).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func reminderIDs(rs []Reminder) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.ClaimID*100+int64(r.Days))
	}
	return out
}

func TestDueReminders(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "claimtrail.db")
	l := openTestLedger(t, path)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	days := []int{7, 2}
	week := addReminderClaim(t, l, 1, "open", true, now.Add(5*day))
	near := addReminderClaim(t, l, 2, "ready", true, now.Add(36*time.Hour))
	next := addReminderClaim(t, l, 3, "open", true, now.Add(10*day)) // not yet
	addReminderClaim(t, l, 4, "submitted", true, now.Add(day))       // filed
	addReminderClaim(t, l, 5, "open", false, now.Add(day))           // advisory
	addReminderClaim(t, l, 6, "open", true, now.Add(-time.Hour))     // overdue
	addReminderClaim(t, l, 7, "expired", true, now.Add(3*day))       // expired

	due, err := l.DueReminders(ctx, "webhook", days, now)
	if want := []int64{near*100 + 2, week*100 + 7}; err != nil || !slices.Equal(reminderIDs(due), want) {
		t.Fatalf("DueReminders = %v, %v; want %v", reminderIDs(due), err, want)
	}
	// A failure keeps it due and is audited once.
	for want := 1; want <= 2; want++ {
		if n, err := l.ReminderFailed(ctx, due[0], "the receiver answered 503"); err != nil || n != want {
			t.Fatalf("ReminderFailed = %d, %v; want %d", n, err, want)
		}
	}
	for _, r := range due {
		if err := l.ReminderSent(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.ReminderSent(ctx, due[0]); err != nil { // again: no second entry
		t.Fatal(err)
	}
	// Another channel is still owed both.
	if other, err := l.DueReminders(ctx, "teams", days, now); err != nil || len(other) != 2 {
		t.Errorf("DueReminders(teams) = %v, %v; want both claims", reminderIDs(other), err)
	}
	l.Close()

	// After a restart, nothing is owed on webhook until the week-out claim
	// comes within two days.
	l = openTestLedger(t, path)
	if again, err := l.DueReminders(ctx, "webhook", days, now.Add(time.Hour)); err != nil || len(again) != 0 {
		t.Errorf("DueReminders after restart = %v, %v; want none", reminderIDs(again), err)
	}
	later := now.Add(3*day + time.Hour)
	if got, err := l.DueReminders(ctx, "webhook", days, later); err != nil || !slices.Equal(reminderIDs(got), []int64{week*100 + 2, next*100 + 7}) {
		t.Errorf("DueReminders(3 days on) = %v, %v; want claim %d at 2 days, %d at 7", reminderIDs(got), err, week, next)
	}
	// The deadline moves (provisional to firm): reminded again of the new one.
	if _, err := l.w.ExecContext(ctx, `UPDATE claims SET deadline = ? WHERE id = ?`, fmtTime(now.Add(30*time.Hour)), near); err != nil {
		t.Fatal(err)
	}
	if got, err := l.DueReminders(ctx, "webhook", days, now.Add(time.Hour)); err != nil || !slices.Equal(reminderIDs(got), []int64{near*100 + 2}) {
		t.Errorf("DueReminders(moved deadline) = %v, %v; want claim %d again", reminderIDs(got), err, near)
	}

	var sent, failed int
	if err := l.r.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE action = 'reminder_sent'), count(*) FILTER (WHERE action = 'reminder_failed') FROM audit`).Scan(&sent, &failed); err != nil {
		t.Fatal(err)
	}
	if sent != 2 || failed != 1 {
		t.Errorf("audit has %d reminder_sent and %d reminder_failed, want 2 and 1", sent, failed)
	}
	if _, err := l.DueReminders(ctx, "webhook", nil, now); err == nil {
		t.Error("DueReminders(no thresholds) succeeded")
	}
}

// TestDueRemindersPlan: the query reads the claims of the window from an
// index and each one's reminders by key, never a table whole.
func TestDueRemindersPlan(t *testing.T) {
	l := newTestLedger(t)
	w := watchQueries(l)
	if _, err := l.DueReminders(context.Background(), "webhook", []int{7, 2}, clockStart); err != nil {
		t.Fatal(err)
	}
	if len(w.queries) == 0 {
		t.Fatal("no query observed")
	}
	if TestLedgerEngine == DriverPostgres {
		for _, q := range w.queries {
			if bad := scansOfBigTables(t, l, q, "claims", "reminders"); len(bad) > 0 {
				t.Errorf("DueReminders plan scans: %s\nquery: %s", strings.Join(bad, "; "), q)
			}
		}
		return
	}
	for _, q := range w.queries {
		rows, err := l.r.Query(`EXPLAIN QUERY PLAN `+q, make([]any, strings.Count(q, "?"))...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN") {
				t.Errorf("DueReminders plan scans: %s\nquery: %s\nplan: %s", step, q, strings.Join(plan, "; "))
			}
		}
		t.Logf("plan: %s", strings.Join(plan, "; "))
	}
}
