package archive

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

func claimSubject(id int64) string { return "claim:" + strconv.FormatInt(id, 10) }

// normTenantID is rules.ParseTenantID with an error for the user.
func normTenantID(s string) (string, error) {
	t, ok := rules.ParseTenantID(s)
	if !ok {
		return "", fmt.Errorf("tenant ID %q is not a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47", s)
	}
	return t, nil
}

// normIncidentID is rules.ParseIncidentID.
func normIncidentID(s string) (string, error) { return rules.ParseIncidentID(s) }

// statusIn returns the placeholders and arguments of an SQL "IN (...)"
// over statuses, which must not be empty.
func statusIn(statuses []claims.Status) (string, []any) {
	args := make([]any, len(statuses))
	for i, s := range statuses {
		args[i] = string(s)
	}
	return "?" + strings.Repeat(", ?", len(statuses)-1), args
}

// openClaim returns the claim for (tenant, incident), creating it open.
// status is the claim's status, which says whether evidence attached now
// is late (claims.LateFor).
func (l *Ledger) openClaim(ctx context.Context, tx dbtx, now time.Time, actor, tenant, incident, cause string) (id int64, status claims.Status, created bool, err error) {
	// One statement finds the claim and, for a new one, whether the
	// catalog already holds facts of its incident: only catalog facts can
	// precede a claim (Graph and notifications are read for claims).
	var existing sql.NullInt64
	var st sql.NullString
	var catalog bool
	err = tx.QueryRowContext(ctx, `SELECT (SELECT id FROM claims WHERE tenant_id = ? AND incident_id = ?),
		(SELECT status FROM claims WHERE tenant_id = ? AND incident_id = ?),
		EXISTS (SELECT 1 FROM incident_facts WHERE incident_id = ? AND tenant_id = '')`,
		tenant, incident, tenant, incident, incident).Scan(&existing, &st, &catalog)
	if err != nil {
		return 0, "", false, err
	}
	if existing.Valid {
		return existing.Int64, claims.Status(st.String), false, nil
	}
	if err = tx.QueryRowContext(ctx, `INSERT INTO claims (tenant_id, incident_id, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, tenant, incident, string(claims.StatusOpen), fmtTime(now), fmtTime(now)).Scan(&id); err != nil {
		return 0, "", false, err
	}
	if catalog {
		if err := noteIncident(ctx, tx, id, tenant, incident); err != nil {
			return 0, "", false, err
		}
	}
	_, err = l.appendAudit(ctx, tx, now, actor, ActionClaimCreated, claimSubject(id), map[string]any{
		"tenant_id": tenant, "incident_id": incident, "status": claims.StatusOpen, "opened_by": cause,
	})
	return id, claims.StatusOpen, true, err
}

// Claim returns the claim with the given ID, with its evidence and
// checklist, or ErrNotFound.
func (l *Ledger) Claim(ctx context.Context, id int64) (*claims.Claim, error) {
	c, err := loadClaim(ctx, l.r, id, true)
	if err != nil {
		return nil, dbErr(fmt.Sprintf("claim %d", id), err)
	}
	return c, nil
}

// ClaimFor returns the claim for a tenant and an incident, or ErrNotFound.
func (l *Ledger) ClaimFor(ctx context.Context, tenantID, incidentID string) (*claims.Claim, error) {
	op := fmt.Sprintf("claim for %s %s", tenantID, incidentID)
	t, err := normTenantID(tenantID)
	if err != nil {
		return nil, fmt.Errorf("archive: %s: %w", op, err)
	}
	inc, err := normIncidentID(incidentID)
	if err != nil {
		return nil, fmt.Errorf("archive: %s: %w", op, err)
	}
	var id int64
	err = l.r.QueryRowContext(ctx, `SELECT id FROM claims WHERE tenant_id = ? AND incident_id = ?`, t, inc).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("archive: %s: %w", op, ErrNotFound)
	}
	if err != nil {
		return nil, dbErr(op, err)
	}
	return l.Claim(ctx, id)
}

// ClaimSummary is a row of a claim list (Ledger.ClaimList): the claim with
// its tenant's name, fields, incident facts, first stored evidence and
// checklist (claims.Checklist), without its evidence list (Evidence is
// nil), and the counts of its evidence.
type ClaimSummary struct {
	*claims.Claim
	EvidenceCount int
	// LateEvidence counts the evidence that arrived after the claim went
	// to Microsoft (claims.Evidence.Late).
	LateEvidence int
}

// SetClaimField sets one checklist field of a claim, recomputes the deadline
// and the open/ready status, and records the change in the audit trail.
// Setting the value a field already has is a no-op.
func (l *Ledger) SetClaimField(ctx context.Context, claimID int64, field claims.Field, value, actor string) error {
	op := fmt.Sprintf("claim %d: set %s", claimID, field)
	v, err := claims.NormField(field, value)
	if err != nil {
		return fmt.Errorf("archive: claim %d: %w", claimID, err)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	return l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		c, err := loadEditableClaim(ctx, tx, claimID)
		if err != nil {
			return err
		}
		old, had := c.Fields[field]
		if had && old.Value == v {
			return nil
		}
		now := l.now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO claim_fields (claim_id, field, value, actor, updated_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (claim_id, field) DO UPDATE SET
			value = excluded.value, actor = excluded.actor, updated_at = excluded.updated_at`,
			claimID, string(field), v, actor, fmtTime(now)); err != nil {
			return err
		}
		details := map[string]any{"field": field, "value": v}
		if had {
			details["previous"] = old.Value
		}
		if _, err := l.appendAudit(ctx, tx, now, actor, ActionClaimUpdated, claimSubject(claimID), details); err != nil {
			return err
		}
		return l.refreshClaim(ctx, tx, now, actor, claimID)
	})
}

// loadEditableClaim loads claim id for a change of its fields or evidence,
// which claims.EditError must allow.
func loadEditableClaim(ctx context.Context, q querier, id int64) (*claims.Claim, error) {
	c, err := loadClaim(ctx, q, id, false)
	if err != nil {
		return nil, err
	}
	if err := claims.EditError(c.Status); err != nil {
		return nil, fmt.Errorf("archive: claim %d: %w", id, err)
	}
	return c, nil
}

// SetClaimStatus moves a claim to status to, as claims.CheckTransition
// allows by: filing, Microsoft's answer, giving up, reopening. A refused
// change returns an error wrapping claims.ErrTransition or
// claims.ErrAdminOnly that says why. Setting the status the claim has is a
// no-op. A reopened claim is open, and ready again as soon as its checklist
// is complete.
func (l *Ledger) SetClaimStatus(ctx context.Context, claimID int64, to claims.Status, by claims.Actor, note string) error {
	op := fmt.Sprintf("claim %d: set status %s", claimID, to)
	if err := checkActor(by.Name); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	return l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		c, err := loadClaim(ctx, tx, claimID, false)
		if err != nil {
			return err
		}
		if c.Status == to {
			return nil
		}
		if err := claims.CheckTransition(c, to, by, note); err != nil {
			return fmt.Errorf("archive: claim %d: %w", claimID, err)
		}
		now := l.now()
		if err := l.setStatus(ctx, tx, now, by.Name, claimID, c.Status, to, note); err != nil {
			return err
		}
		if to == claims.StatusOpen {
			return l.refreshClaim(ctx, tx, now, by.Name, claimID)
		}
		return nil
	})
}

func (l *Ledger) setStatus(ctx context.Context, tx dbtx, now time.Time, actor string, id int64, from, to claims.Status, note string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE claims SET status = ?, updated_at = ? WHERE id = ?`, string(to), fmtTime(now), id); err != nil {
		return err
	}
	details := map[string]any{"from": from, "to": to}
	if claims.IsReopen(from, to) {
		details["reopened"] = true
		// What was late for the last submission is part of the next one.
		res, err := tx.ExecContext(ctx, `UPDATE claim_evidence SET late = FALSE WHERE claim_id = ? AND late`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			details["late_cleared"] = n
		}
		if _, err := tx.ExecContext(ctx, `UPDATE claims SET reopened_at = ? WHERE id = ?`, fmtTime(now), id); err != nil {
			return err
		}
	}
	if note != "" {
		details["note"] = note
	}
	_, err := l.appendAudit(ctx, tx, now, actor, ActionClaimUpdated, claimSubject(id), details)
	return err
}

// ExpireClaims moves every claim that expires at now (claims.Expires: still
// fileable, its deadline passed, not reopened by an admin after that) to
// expired and returns their IDs. The poller calls it on each round.
func (l *Ledger) ExpireClaims(ctx context.Context, now time.Time) ([]int64, error) {
	var ids []int64
	err := l.write(ctx, "expire claims", func(stx *sql.Tx) error {
		tx := l.cached(stx)
		in, args := statusIn(claims.FileableStatuses())
		rows, err := tx.QueryContext(ctx, `SELECT id, status, deadline, reopened_at FROM claims WHERE status IN (`+in+`)
			AND deadline IS NOT NULL AND deadline < ? ORDER BY id`, append(args, fmtTime(now))...)
		if err != nil {
			return err
		}
		type row struct {
			id     int64
			status claims.Status
		}
		var due []row
		for rows.Next() {
			var r row
			var s string
			var deadline, reopened sql.NullString
			if err := rows.Scan(&r.id, &s, &deadline, &reopened); err != nil {
				rows.Close()
				return err
			}
			r.status = claims.Status(s)
			d, err1 := parseTime(deadline)
			ro, err2 := parseTime(reopened)
			if err := errors.Join(err1, err2); err != nil {
				rows.Close()
				return fmt.Errorf("claim %d: %w", r.id, err)
			}
			if claims.Expires(r.status, d, ro, now) {
				due = append(due, r)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		stamp := l.now()
		for _, r := range due {
			if err := l.setStatus(ctx, tx, stamp, ActorSystem, r.id, r.status, claims.StatusExpired, "deadline passed"); err != nil {
				return err
			}
			ids = append(ids, r.id)
		}
		return nil
	})
	return ids, err
}

// refreshClaim recomputes a claim's eligibility, deadline, azure flag and
// open/ready status from its evidence, fields and incident facts, writing
// and auditing what changed.
func (l *Ledger) refreshClaim(ctx context.Context, tx dbtx, now time.Time, actor string, id int64) error {
	c, kept, err := loadClaimKept(ctx, tx, id, false)
	if err != nil {
		return err
	}
	if c.Eligible != kept.eligible || c.IneligibleWhy != kept.why {
		if _, err := tx.ExecContext(ctx, `UPDATE claims SET eligible = ?, ineligible_why = ?, updated_at = ? WHERE id = ?`,
			c.Eligible, nullString(c.IneligibleWhy), fmtTime(now), id); err != nil {
			return err
		}
		details := map[string]any{"eligible": c.Eligible, "ineligible_why": c.IneligibleWhy}
		if _, err := l.appendAudit(ctx, tx, now, actor, ActionClaimUpdated, claimSubject(id), details); err != nil {
			return err
		}
	}
	sched, err := claims.ScheduleOf(c)
	if err != nil {
		return fmt.Errorf("claim %d: %w", id, err)
	}
	deadline, provisional, azure := sched.Deadline, sched.Provisional, sched.Azure
	if !deadline.Equal(c.Deadline) || provisional != c.DeadlineProvisional || azure != c.Azure {
		if _, err := tx.ExecContext(ctx, `UPDATE claims SET deadline = ?, deadline_provisional = ?, azure = ?, updated_at = ? WHERE id = ?`,
			nullTime(deadline), provisional, azure, fmtTime(now), id); err != nil {
			return err
		}
		details := map[string]any{"deadline": nil, "deadline_provisional": provisional, "azure": azure}
		if !deadline.IsZero() {
			details["deadline"] = fmtTime(deadline)
		}
		if _, err := l.appendAudit(ctx, tx, now, actor, ActionClaimUpdated, claimSubject(id), details); err != nil {
			return err
		}
	}
	to := claims.Follow(c.Status, c.Ready())
	if to == c.Status {
		return nil
	}
	note := "checklist complete"
	if why := claims.IneligibleText(c); to == claims.StatusOpen && why != "" {
		note = why
	} else if to == claims.StatusOpen {
		note = "missing: " + strings.Join(c.Missing(), ", ")
	}
	return l.setStatus(ctx, tx, now, actor, id, c.Status, to, note)
}

// refreshTenantClaims refreshes the open and ready claims of the tenants
// tenantIDs, whose registry entries changed: a claim's checklist takes the
// CSP item from the registry, so its status may change with it.
func (l *Ledger) refreshTenantClaims(ctx context.Context, tx dbtx, actor string, tenantIDs []string) error {
	now := l.now()
	for _, t := range tenantIDs {
		in, args := statusIn(claims.FileableStatuses())
		ids, err := queryIDs(ctx, tx, `SELECT id FROM claims WHERE tenant_id = ? AND status IN (`+in+`) ORDER BY id`,
			append([]any{t}, args...)...)
		if err != nil {
			return err
		}
		if err := l.refreshClaims(ctx, tx, now, actor, ids); err != nil {
			return err
		}
	}
	return nil
}

// refreshClaims refreshes the claims ids (refreshClaim), in order.
func (l *Ledger) refreshClaims(ctx context.Context, tx dbtx, now time.Time, actor string, ids []int64) error {
	for _, id := range ids {
		if err := l.refreshClaim(ctx, tx, now, actor, id); err != nil {
			return err
		}
	}
	return nil
}

// loadClaim reads a claim with its tenant, fields, incident facts (the
// copy noteIncident keeps on its row), checklist and eligibility (claims.Checklist), and with
// its evidence list when withEvidence is set. The work on each message
// refreshes its claims, so that path reads only what the checklist needs:
// a claim can gather thousands of emails.
func loadClaim(ctx context.Context, q querier, id int64, withEvidence bool) (*claims.Claim, error) {
	c, _, err := loadClaimKept(ctx, q, id, withEvidence)
	return c, err
}

// keptEligibility is the eligibility stored on a claim's row, which
// refreshClaim compares with the one its facts give now.
type keptEligibility struct {
	eligible bool
	why      string
}

// loadClaimKept is loadClaim, also returning the stored eligibility.
func loadClaimKept(ctx context.Context, q querier, id int64, withEvidence bool) (*claims.Claim, keptEligibility, error) {
	var kept keptEligibility
	c, err := loadClaimWith(ctx, q, id, withEvidence, &kept)
	return c, kept, err
}

// claimColumns are the columns of a claim's row that claimRowScan reads,
// over claims c.
//
// Subqueries, not joins, here and in the other queries on the work on
// each message: SQLite re-plans a cached join statement at every run,
// which made each of these queries three to four times dearer.
const claimColumns = `c.id, c.tenant_id, c.incident_id, c.status, c.azure, c.deadline, c.deadline_provisional,
	c.created_at, c.updated_at, (SELECT t.name FROM tenants t WHERE t.id = c.tenant_id),
	(SELECT t.csp FROM tenants t WHERE t.id = c.tenant_id), c.evidence_earliest, c.first_stored_message,
	c.eligible, c.ineligible_why, c.incident, c.incident_listed`

// claimRowScan receives claimColumns.
type claimRowScan struct {
	c                                                          claims.Claim
	status                                                     string
	deadline, created, updated, tenantName, earliest, incident sql.NullString
	tenantCSP, listed                                          sql.NullBool
	firstStored                                                sql.NullInt64
	kept                                                       keptEligibility
	why                                                        sql.NullString
}

func (r *claimRowScan) dest() []any {
	c := &r.c
	return []any{&c.ID, &c.TenantID, &c.IncidentID, &r.status, &c.Azure, &r.deadline, &c.DeadlineProvisional,
		&r.created, &r.updated, &r.tenantName, &r.tenantCSP, &r.earliest, &r.firstStored,
		&r.kept.eligible, &r.why, &r.incident, &r.listed}
}

// claim returns the claim read, without fields, evidence and checklist.
func (r *claimRowScan) claim() (*claims.Claim, error) {
	c := new(claims.Claim)
	*c = r.c
	c.Fields = map[claims.Field]claims.FieldValue{}
	c.Status, c.TenantName, r.kept.why = claims.Status(r.status), r.tenantName.String, r.why.String
	if r.incident.Valid {
		c.Incident = new(claims.Incident)
		if err := json.Unmarshal([]byte(r.incident.String), c.Incident); err != nil {
			return nil, fmt.Errorf("claim %d: stored incident facts: %w", c.ID, err)
		}
	}
	if r.listed.Valid {
		listed := r.listed.Bool
		c.IncidentListed = &listed
	}
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&c.Deadline, r.deadline}, {&c.CreatedAt, r.created}, {&c.UpdatedAt, r.updated}, {&c.Earliest, r.earliest}} {
		var err error
		if *f.dst, err = parseTime(f.src); err != nil {
			return nil, fmt.Errorf("claim %d: %w", c.ID, err)
		}
	}
	return c, nil
}

// tenant is what the checklist needs of the claim's tenant.
func (r *claimRowScan) tenant() claims.Tenant {
	return claims.Tenant{Known: r.tenantName.Valid, CSP: r.tenantCSP.Bool}
}

func loadClaimWith(ctx context.Context, q querier, id int64, withEvidence bool, kept *keptEligibility) (*claims.Claim, error) {
	var cr claimRowScan
	err := q.QueryRowContext(ctx, `SELECT `+claimColumns+` FROM claims c WHERE c.id = ?`, id).Scan(cr.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("claim %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	c, err := cr.claim()
	if err != nil {
		return nil, err
	}
	*kept = cr.kept
	firstStored, tenant := cr.firstStored, cr.tenant()

	rows, err := q.QueryContext(ctx, `SELECT field, value, actor, updated_at FROM claim_fields WHERE claim_id = ?`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var f string
		var v claims.FieldValue
		var at sql.NullString
		if err := rows.Scan(&f, &v.Value, &v.Actor, &at); err != nil {
			rows.Close()
			return nil, err
		}
		if v.UpdatedAt, err = parseTime(at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim %d: %w", id, err)
		}
		c.Fields[claims.Field(f)] = v
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}

	if !withEvidence {
		if firstStored.Valid {
			if c.FirstStored, err = evidenceSummaryOf(ctx, q, firstStored.Int64); err != nil {
				return nil, fmt.Errorf("claim %d: %w", id, err)
			}
		}
		c.Checklist = claims.Checklist(c, tenant)
		return c, nil
	}
	rows, err = q.QueryContext(ctx, `SELECT m.id, m.sha256, m.message_id, `+evidenceSender+`, m.subject,
		m.evidence_date, m.bundle_key, m.bundle_sha256, e.attached_at, e.late, e.attached_by
		FROM claim_evidence e JOIN messages m ON m.id = e.message_id WHERE e.claim_id = ?`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var e claims.Evidence
		var date, key, bsha, attached, by sql.NullString
		if err := rows.Scan(&e.MessageID, &e.SHA256, &e.RFC822ID, &e.Sender, &e.Subject,
			&date, &key, &bsha, &attached, &e.Late, &by); err != nil {
			rows.Close()
			return nil, err
		}
		var errs [2]error
		e.Date, errs[0] = parseTime(date)
		e.AttachedAt, errs[1] = parseTime(attached)
		if err := errors.Join(errs[:]...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim %d: %w", id, err)
		}
		e.BundleKey, e.BundleSHA256, e.AttachedBy = key.String, bsha.String, by.String
		c.Evidence = append(c.Evidence, e)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	sort.Slice(c.Evidence, func(i, j int) bool {
		a, b := c.Evidence[i], c.Evidence[j]
		if !a.Date.Equal(b.Date) {
			return a.Date.Before(b.Date)
		}
		return a.SHA256 < b.SHA256
	})
	for i := range c.Evidence {
		if i == 0 {
			c.Earliest = c.Evidence[0].Date
		}
		if c.Evidence[i].BundleKey != "" {
			c.FirstStored = &c.Evidence[i]
			break
		}
	}
	c.Checklist = claims.Checklist(c, tenant)
	return c, nil
}

// evidenceSender is the customer who wrote the evidence: the judged sender,
// which for mail forwarded by partner staff is the attached original's
// author, else the From address.
const evidenceSender = `COALESCE(NULLIF(json_extract(m.judgment, '$.sender'), ''), m.sender)`

// evidenceDate is the message's claims.EvidenceDate, stored when it was
// recorded; stored times sort as text.
const evidenceDate = `m.evidence_date`

// evidenceSummaryOf reads what the checklist shows of one piece of
// evidence: the message's hash, its customer sender and its date.
func evidenceSummaryOf(ctx context.Context, q querier, messageID int64) (*claims.Evidence, error) {
	var e claims.Evidence
	var date sql.NullString
	err := q.QueryRowContext(ctx, `SELECT m.id, m.sha256, `+evidenceSender+`, `+evidenceDate+` FROM messages m WHERE m.id = ?`,
		messageID).Scan(&e.MessageID, &e.SHA256, &e.Sender, &date)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("evidence message %d: %w", messageID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if e.Date, err = parseTime(date); err != nil {
		return nil, fmt.Errorf("evidence message %d: %w", messageID, err)
	}
	return &e, nil
}

// noteEvidence brings claim id's evidence summary (evidence_earliest,
// first_stored_message) up to date after message messageID was attached
// to it or had its bundle stored, and says whether it changed. Adding
// evidence can only make either one older, so the message is compared with
// the summary alone; removing evidence needs recomputeEvidenceSummary.
func noteEvidence(ctx context.Context, tx dbtx, claimID, messageID int64) (changed bool, err error) {
	var (
		earliest, fdate, fsha sql.NullString
		first                 sql.NullInt64
	)
	// The summary's first stored message comes with the summary: a third
	// look-up took a tenth of recording a new mail.
	if err := tx.QueryRowContext(ctx, `SELECT c.evidence_earliest, c.first_stored_message,
		(SELECT f.evidence_date FROM messages f WHERE f.id = c.first_stored_message),
		(SELECT f.sha256 FROM messages f WHERE f.id = c.first_stored_message)
		FROM claims c WHERE c.id = ?`, claimID).Scan(&earliest, &first, &fdate, &fsha); err != nil {
		return false, fmt.Errorf("claim %d: %w", claimID, err)
	}
	if first.Valid && !fsha.Valid {
		return false, fmt.Errorf("claim %d: first stored evidence message %d: %w", claimID, first.Int64, sql.ErrNoRows)
	}
	var date, sha string
	var stored bool
	if err := tx.QueryRowContext(ctx, `SELECT `+evidenceDate+`, m.sha256, m.bundle_key IS NOT NULL FROM messages m WHERE m.id = ?`, messageID).
		Scan(&date, &sha, &stored); err != nil {
		return false, fmt.Errorf("claim %d: evidence message %d: %w", claimID, messageID, err)
	}
	newEarliest := earliest.String
	if !earliest.Valid || date < earliest.String { // stored times sort as text
		newEarliest = date
	}
	newFirst := first
	if stored && first.Int64 != messageID {
		if !first.Valid || date < fdate.String || (date == fdate.String && sha < fsha.String) {
			newFirst = sql.NullInt64{Int64: messageID, Valid: true}
		}
	}
	if newEarliest == earliest.String && newFirst == first {
		return false, nil
	}
	_, err = tx.ExecContext(ctx, `UPDATE claims SET evidence_earliest = ?, first_stored_message = ? WHERE id = ?`,
		newEarliest, newFirst, claimID)
	return err == nil, err
}

// recomputeEvidenceSummary sets claim id's evidence summary from all of its
// evidence, after evidence was removed.
func recomputeEvidenceSummary(ctx context.Context, tx dbtx, claimID int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE claims SET
		evidence_earliest = (SELECT MIN(`+evidenceDate+`) FROM messages m
			WHERE m.id IN (SELECT message_id FROM claim_evidence WHERE claim_id = claims.id)),
		first_stored_message = (SELECT m.id FROM messages m
			WHERE m.id IN (SELECT message_id FROM claim_evidence WHERE claim_id = claims.id) AND m.bundle_key IS NOT NULL
			ORDER BY `+evidenceDate+`, m.sha256 LIMIT 1)
		WHERE id = ?`, claimID)
	return err
}
