package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The decisions an analyst makes about a message and a claim by hand.
const (
	DecisionAttached = "attached"
	DecisionDetached = "detached"
)

// Decision is an analyst's decision about a message: it was attached to,
// or detached from, a tenant's claim for an incident by hand. No automatic
// or bulk re-judgment reverses it; a single re-judgment with
// Rejudgment.Override replaces it.
type Decision struct {
	ClaimID    int64     `json:"claim_id"`
	TenantID   string    `json:"tenant_id"`
	IncidentID string    `json:"incident_id"`
	Decision   string    `json:"decision"` // DecisionAttached or DecisionDetached
	Actor      string    `json:"actor"`
	Note       string    `json:"note,omitempty"`
	DecidedAt  time.Time `json:"decided_at"`
}

// String reads "anna attached it to claim 3 (EX315207) on 2026-03-25".
func (d Decision) String() string {
	prep := "from"
	if d.Decision == DecisionAttached {
		prep = "to"
	}
	return fmt.Sprintf("%s %s it %s claim %d (%s) on %s", d.Actor, d.Decision, prep, d.ClaimID, d.IncidentID, d.DecidedAt.Format(time.DateOnly))
}

// DecisionsError is the error wrapping ErrDecided for a re-judgment that
// would replace the decisions ds without saying to override them: it names
// who decided what and what to do.
func DecisionsError(ds []Decision) error {
	var parts []string
	for _, d := range ds {
		parts = append(parts, d.String())
	}
	return fmt.Errorf("%s; re-judge it with override to replace an analyst's decision: %w", strings.Join(parts, "; "), ErrDecided)
}

// Decisions returns the analysts' decisions about message id, by claim.
func (l *Ledger) Decisions(ctx context.Context, messageID int64) ([]Decision, error) {
	ds, err := decisionsOf(ctx, l.r, messageID)
	if err != nil {
		return nil, dbErr(fmt.Sprintf("decisions about message %d", messageID), err)
	}
	return ds, nil
}

func decisionsOf(ctx context.Context, q querier, messageID int64) ([]Decision, error) {
	rows, err := q.QueryContext(ctx, `SELECT d.claim_id, c.tenant_id, c.incident_id, d.decision, d.actor, d.note, d.decided_at
		FROM evidence_decisions d JOIN claims c ON c.id = d.claim_id WHERE d.message_id = ? ORDER BY d.claim_id`, messageID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		var d Decision
		var at sql.NullString
		if err := rows.Scan(&d.ClaimID, &d.TenantID, &d.IncidentID, &d.Decision, &d.Actor, &d.Note, &at); err != nil {
			return nil, err
		}
		if d.DecidedAt, err = parseTime(at); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// decide records (or replaces) an analyst's decision about message and
// claim.
func decide(ctx context.Context, tx dbtx, now time.Time, messageID, claimID int64, decision, actor, note string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO evidence_decisions (message_id, claim_id, decision, actor, note, decided_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, claim_id) DO UPDATE SET
		decision = excluded.decision, actor = excluded.actor, note = excluded.note, decided_at = excluded.decided_at`,
		messageID, claimID, decision, actor, note, fmtTime(now))
	return err
}

// DetachEvidence takes the message with raw SHA-256 sha off claim claimID,
// as analyst actor decided (note says why, and may be empty): the link is
// deleted, the claim's deadline and checklist follow, and a 'detached'
// decision keeps any later automatic or bulk re-judgment from attaching it
// again. The message's judgment stays as it is. The claim must be editable
// (claims.EditError says why not); a message that is not the claim's
// evidence gives an error wrapping ErrNotFound. Detaching is audited as
// evidence_detached, saying whether the claim is left without evidence.
func (l *Ledger) DetachEvidence(ctx context.Context, claimID int64, sha, actor, note string) error {
	op := fmt.Sprintf("claim %d: detach message %s", claimID, sha)
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	note = strings.TrimSpace(note)
	return l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		c, err := loadEditableClaim(ctx, tx, claimID)
		if err != nil {
			return err
		}
		var messageID int64
		err = tx.QueryRowContext(ctx, `SELECT id FROM messages WHERE sha256 = ?`, strings.ToLower(sha)).Scan(&messageID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("message %s: %w", sha, ErrNotFound)
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM claim_evidence WHERE claim_id = ? AND message_id = ?`, claimID, messageID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("archive: claim %d: message %s is not its evidence, so it cannot be detached: %w", claimID, sha, ErrNotFound)
		}
		if err := recomputeEvidenceSummary(ctx, tx, claimID); err != nil {
			return err
		}
		now := l.now()
		if err := decide(ctx, tx, now, messageID, claimID, DecisionDetached, actor, note); err != nil {
			return err
		}
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM claim_evidence WHERE claim_id = ?`, claimID).Scan(&left); err != nil {
			return err
		}
		details := map[string]any{"message": strings.ToLower(sha), "tenant_id": c.TenantID, "incident_id": c.IncidentID,
			"note": note, "no_evidence_left": left == 0}
		if _, err := l.appendAudit(ctx, tx, now, actor, ActionEvidenceDetached, claimSubject(claimID), details); err != nil {
			return err
		}
		return l.refreshClaim(ctx, tx, now, actor, claimID)
	})
}
