package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

// The audit actions of deadline reminders. Their subject is "claim:<id>".
const (
	// ActionReminderSent records a reminder sent (ReminderSent); its
	// details are the "channel", "threshold_days", the "deadline" it
	// named, whether that was "deadline_provisional", and the "failures"
	// before it went through.
	ActionReminderSent Action = "reminder_sent"
	// ActionReminderFailed records the first failed round of a reminder
	// (ReminderFailed), with the "channel", "threshold_days", "deadline"
	// and "error"; later rounds count in the row and in /metrics only,
	// so that a channel down for a day does not flood the trail.
	ActionReminderFailed Action = "reminder_failed"
)

// Reminder is a reminder the ledger owes on one channel: claim ClaimID is
// fileable, eligible, and due within Days days (claims.ReminderThreshold),
// and the channel has not reminded of this deadline at Days or nearer.
type Reminder struct {
	ClaimID     int64
	TenantID    string
	TenantName  string // "" when the tenant is not in the registry
	IncidentID  string
	Status      claims.Status
	Deadline    time.Time
	Provisional bool // the deadline is provisional (claims.Schedule)
	Days        int  // the threshold: days before the deadline
	Channel     string
}

// Subject is the reminder's audit subject, "claim:<id>".
func (r Reminder) Subject() string { return claimSubject(r.ClaimID) }

// DueReminders returns the reminders owed on channel at now for the
// thresholds days (claims.CheckReminderDays), soonest deadline first. It
// reads the fileable, eligible claims whose deadline is within the largest
// threshold (claims.ReminderWindow) from the index on (status, eligible,
// deadline), and each one's reminders by key: its cost is the claims in
// that window, not the ledger.
func (l *Ledger) DueReminders(ctx context.Context, channel string, days []int, now time.Time) ([]Reminder, error) {
	op := "due reminders on " + channel
	if err := claims.CheckReminderDays(days); err != nil {
		return nil, fmt.Errorf("archive: %s: %w", op, err)
	}
	after, until := claims.ReminderWindow(now, days)
	in, args := statusIn(claims.FileableStatuses())
	args = append([]any{channel}, args...)
	rows, err := l.r.QueryContext(ctx, `SELECT c.id, c.tenant_id, `+tenantNameKey+`, c.incident_id, c.status, c.deadline,
		c.deadline_provisional, c.eligible,
		COALESCE((SELECT min(r.threshold_days) FROM reminders r
			WHERE r.claim_id = c.id AND r.channel = ? AND r.deadline = c.deadline AND r.sent_at IS NOT NULL), 0)
		FROM claims c
		WHERE c.status IN (`+in+`) AND c.eligible = TRUE AND c.deadline > ? AND c.deadline <= ?
		ORDER BY c.deadline, c.id`, append(args, fmtTime(after), fmtTime(until))...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []Reminder
	for rows.Next() {
		r := Reminder{Channel: channel}
		var status string
		var deadline sql.NullString
		var eligible bool
		var reminded int
		if err := rows.Scan(&r.ClaimID, &r.TenantID, &r.TenantName, &r.IncidentID, &status, &deadline,
			&r.Provisional, &eligible, &reminded); err != nil {
			return nil, dbErr(op, err)
		}
		r.Status = claims.Status(status)
		if r.Deadline, err = parseTime(deadline); err != nil {
			return nil, fmt.Errorf("archive: %s: claim %d: %w", op, r.ClaimID, err)
		}
		d, ok := claims.ReminderThreshold(r.Status, eligible, r.Deadline, now, days)
		if !ok || !claims.ReminderOwed(d, reminded) {
			continue
		}
		r.Days = d
		out = append(out, r)
	}
	return out, dbErr(op, rows.Err())
}

// ReminderSent records that r went out, with its audit entry, in one
// transaction. Recording it again is harmless: the row keeps its first
// sending time and no second entry is written.
func (l *Ledger) ReminderSent(ctx context.Context, r Reminder) error {
	op := fmt.Sprintf("record reminder of claim %d on %s", r.ClaimID, r.Channel)
	return l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		now := l.now()
		var failures int
		var sentAt sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT failures, sent_at FROM reminders
			WHERE claim_id = ? AND channel = ? AND deadline = ? AND threshold_days = ?`,
			r.ClaimID, r.Channel, fmtTime(r.Deadline), r.Days).Scan(&failures, &sentAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case sentAt.Valid:
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reminders (claim_id, channel, deadline, threshold_days, sent_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (claim_id, channel, deadline, threshold_days) DO UPDATE SET sent_at = excluded.sent_at, updated_at = excluded.updated_at`,
			r.ClaimID, r.Channel, fmtTime(r.Deadline), r.Days, fmtTime(now), fmtTime(now)); err != nil {
			return err
		}
		_, err = l.appendAudit(ctx, tx, now, ActorSystem, ActionReminderSent, r.Subject(), map[string]any{
			"channel": r.Channel, "threshold_days": r.Days, "deadline": fmtTime(r.Deadline),
			"deadline_provisional": r.Provisional, "failures": failures,
		})
		return err
	})
}

// ReminderFailed records a failed round of r, saying why (cause must not
// hold a URL or a credential), and returns how many rounds have failed.
// The first failure is audited; the later ones only counted.
func (l *Ledger) ReminderFailed(ctx context.Context, r Reminder, cause string) (failures int, err error) {
	op := fmt.Sprintf("record failed reminder of claim %d on %s", r.ClaimID, r.Channel)
	err = l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		now := l.now()
		err := tx.QueryRowContext(ctx, `INSERT INTO reminders (claim_id, channel, deadline, threshold_days, failures, last_error, updated_at)
			VALUES (?, ?, ?, ?, 1, ?, ?)
			ON CONFLICT (claim_id, channel, deadline, threshold_days) DO UPDATE SET failures = reminders.failures + 1, last_error = excluded.last_error, updated_at = excluded.updated_at
			RETURNING failures`,
			r.ClaimID, r.Channel, fmtTime(r.Deadline), r.Days, cause, fmtTime(now)).Scan(&failures)
		if err != nil || failures > 1 {
			return err
		}
		_, err = l.appendAudit(ctx, tx, now, ActorSystem, ActionReminderFailed, r.Subject(), map[string]any{
			"channel": r.Channel, "threshold_days": r.Days, "deadline": fmtTime(r.Deadline), "error": cause,
		})
		return err
	})
	return failures, err
}
