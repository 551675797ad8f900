package archive

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// AuditFormat is an export format of the audit trail.
type AuditFormat string

// The export formats: one JSON object per line (fields as in AuditEntry),
// or CSV with a header row.
const (
	AuditJSONL AuditFormat = "jsonl"
	AuditCSV   AuditFormat = "csv"
)

// ExportAudit writes the audit trail to w in seq order. With claimID > 0 it
// writes only the entries about that claim and about the messages that are
// or were its evidence; the hashes still let a reader check each entry,
// though the links skip the entries left out.
func (l *Ledger) ExportAudit(ctx context.Context, w io.Writer, format AuditFormat, claimID int64) error {
	op := "export audit"
	if format != AuditJSONL && format != AuditCSV {
		return fmt.Errorf("archive: %s: unknown format %q; use jsonl or csv", op, format)
	}
	q, args := auditSelect+` ORDER BY seq`, []any(nil)
	if claimID > 0 {
		// The claim's subjects through audit_subject: a look-up each,
		// not a pass over the whole trail.
		op = fmt.Sprintf("export audit of claim %d", claimID)
		var err error
		if q, args, err = l.auditQuery(ctx, AuditFilter{Claim: claimID}, false); err != nil {
			return dbErr(op, err)
		}
	}
	tx, err := l.r.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(op, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return dbErr(op, err)
	}
	defer rows.Close()

	bw := bufio.NewWriter(w)
	var cw *csv.Writer
	if format == AuditCSV {
		cw = csv.NewWriter(bw)
		if err := cw.Write([]string{"seq", "time", "actor", "action", "subject", "details", "prev_hash", "hash"}); err != nil {
			return fmt.Errorf("archive: %s: %w", op, err)
		}
	}
	for rows.Next() {
		var e AuditEntry
		if err := scanAudit(rows, &e); err != nil {
			return dbErr(op, err)
		}
		if format == AuditCSV {
			err = cw.Write([]string{strconv.FormatInt(e.Seq, 10), e.Time, e.Actor, string(e.Action), e.Subject,
				string(e.Details), e.PrevHash, e.Hash})
		} else {
			if !json.Valid(e.Details) {
				// Export what is there, even when it was tampered with:
				// VerifyAudit names it; an export that fails hides it.
				e.Details, _ = json.Marshal(string(e.Details))
			}
			var b []byte
			if b, err = json.Marshal(e); err == nil {
				b = append(b, '\n')
				_, err = bw.Write(b)
			}
		}
		if err != nil {
			return fmt.Errorf("archive: %s: %w", op, err)
		}
	}
	if err := rows.Err(); err != nil {
		return dbErr(op, err)
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return fmt.Errorf("archive: %s: %w", op, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	return nil
}

// otherSubjects is the WHERE clause of audit_subject (migration 0012),
// which holds every entry but those about a message. SQLite uses a partial
// index only for a query that repeats its clause word for word.
const otherSubjects = `substr(subject, 1, 8) <> 'message:'`

// messageSeqs selects the seq of each audit entry about the messages m
// (of the table messages) a WHERE clause appended to it keeps.
const messageSeqs = `SELECT am.seq FROM messages m JOIN audit_messages am ON am.message_id = m.id`

// claimMessagesQuery reads the row IDs of the messages that are or were a
// claim's evidence: attached now, attached once (evidence_attached), or
// taken off (claim_updated's evidence_removed). Each part is a look-up of
// an index: the claim's, or its subject's (+action keeps SQLite off the
// action index, which holds every attach of every claim; noIndex is the
// engine's "+").
func claimMessagesQuery(noIndex string) string {
	return `SELECT e.message_id FROM claim_evidence e WHERE e.claim_id = ?
		UNION SELECT m.id FROM messages m WHERE m.sha256 IN (
			SELECT CASE WHEN json_valid(details) THEN json_extract(details, '$.message') END
			FROM audit WHERE subject = ? AND ` + otherSubjects + ` AND ` + noIndex + `action = ?
			UNION SELECT CASE WHEN json_valid(details) THEN json_extract(details, '$.evidence_removed') END
			FROM audit WHERE subject = ? AND ` + otherSubjects + ` AND ` + noIndex + `action = ?)
		ORDER BY 1`
}

// claimMessages returns the row IDs of the messages that concern a claim:
// every message attached to it now or in the past. A missing claim is an
// error wrapping ErrNotFound.
func (l *Ledger) claimMessages(ctx context.Context, claimID int64) ([]int64, error) {
	if _, err := loadClaim(ctx, l.r, claimID, false); err != nil {
		return nil, err
	}
	subject := claimSubject(claimID)
	rows, err := l.r.QueryContext(ctx, claimMessagesQuery(l.eng.noIndex),
		claimID, subject, string(ActionEvidenceAttached), subject, string(ActionClaimUpdated))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
