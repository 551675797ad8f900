package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// Status is where a claim stands.
type Status string

// The statuses. Open and Ready follow the checklist (see Claim.Checklist);
// the others are set by an analyst, except Expired, which ExpireClaims sets
// when the deadline passes before submission.
const (
	StatusOpen      Status = "open"
	StatusReady     Status = "ready"
	StatusSubmitted Status = "submitted"
	StatusApproved  Status = "approved"
	StatusDenied    Status = "denied"
	StatusExpired   Status = "expired"
)

// transitions lists the statuses an analyst may move a claim to from each
// status. Open <-> ready is automatic and not listed.
var transitions = map[Status][]Status{
	StatusOpen:      {StatusExpired},
	StatusReady:     {StatusSubmitted, StatusExpired},
	StatusSubmitted: {StatusApproved, StatusDenied},
}

// ErrTransition is returned for a status change the claim lifecycle does not
// allow; test with errors.Is.
var ErrTransition = errors.New("status change not allowed")

// Field names one checklist item an analyst can set with SetClaimField.
type Field string

// The fields. Values are validated and stored normalised:
//
//	incident_start     RFC 3339 time; makes the deadline final
//	azure              yes/no: the service is Azure (deadline rule)
//	csp                yes/no: bought through CSP; overrides the tenant's flag
//	downtime_start     RFC 3339 time
//	downtime_duration  a Go duration, e.g. "4h30m"
//	affected_users     a positive whole number
//	locations          free text, e.g. "Prague, Brno"
//	resolution         free text: what was done to resolve it at the time
//	ticket             the support ticket number
const (
	FieldIncidentStart    Field = "incident_start"
	FieldAzure            Field = "azure"
	FieldCSP              Field = "csp"
	FieldDowntimeStart    Field = "downtime_start"
	FieldDowntimeDuration Field = "downtime_duration"
	FieldAffectedUsers    Field = "affected_users"
	FieldLocations        Field = "locations"
	FieldResolution       Field = "resolution"
	FieldTicket           Field = "ticket"
)

// maxFieldLen bounds free-text fields: Partner Center's Details box is not
// a document store.
const maxFieldLen = 4000

// normField validates value for field and returns it normalised.
func normField(field Field, value string) (string, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return "", fmt.Errorf("%s: empty value", field)
	}
	switch field {
	case FieldIncidentStart, FieldDowntimeStart:
		t, err := time.Parse(time.RFC3339, value)
		if err != nil {
			return "", fmt.Errorf("%s: %q is not an RFC 3339 time like 2026-02-15T09:30:00Z", field, value)
		}
		return t.UTC().Format(time.RFC3339), nil
	case FieldAzure, FieldCSP:
		switch strings.ToLower(value) {
		case "yes", "y", "true", "1":
			return "yes", nil
		case "no", "n", "false", "0":
			return "no", nil
		}
		return "", fmt.Errorf("%s: %q is not yes or no", field, value)
	case FieldDowntimeDuration:
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return "", fmt.Errorf("%s: %q is not a positive duration like 4h30m", field, value)
		}
		return fmtDuration(d), nil
	case FieldAffectedUsers:
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil || n == 0 {
			return "", fmt.Errorf("%s: %q is not a positive whole number", field, value)
		}
		return strconv.FormatUint(n, 10), nil
	case FieldLocations, FieldResolution, FieldTicket:
		if len(value) > maxFieldLen {
			return "", fmt.Errorf("%s: longer than %d bytes", field, maxFieldLen)
		}
		return value, nil
	}
	return "", fmt.Errorf("unknown field %q; known: %s", field, strings.Join(fieldNames(), ", "))
}

// fmtDuration writes d as time.Duration does, without zero trailing units:
// "4h30m", not "4h30m0s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func fieldNames() []string {
	return []string{string(FieldIncidentStart), string(FieldAzure), string(FieldCSP), string(FieldDowntimeStart),
		string(FieldDowntimeDuration), string(FieldAffectedUsers), string(FieldLocations), string(FieldResolution), string(FieldTicket)}
}

// FieldValue is a field's value and who set it.
type FieldValue struct {
	Value     string    `json:"value"`
	Actor     string    `json:"actor"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Evidence is one message attached to a claim.
type Evidence struct {
	MessageID    int64     `json:"-"`
	SHA256       string    `json:"sha256"`
	RFC822ID     string    `json:"message_id"`
	Sender       string    `json:"sender"`
	Subject      string    `json:"subject"`
	Date         time.Time `json:"date"` // Message.EvidenceDate
	BundleKey    string    `json:"bundle_key"`
	BundleSHA256 string    `json:"bundle_sha256,omitempty"`
	AttachedAt   time.Time `json:"attached_at"`
}

// Claim is one SLA-credit claim: a tenant and an incident, the evidence for
// it and the checklist Partner Center asks for.
type Claim struct {
	ID         int64  `json:"id"`
	TenantID   string `json:"tenant_id"`
	TenantName string `json:"tenant_name"`
	IncidentID string `json:"incident_id"`
	Status     Status `json:"status"`
	Azure      bool   `json:"azure"`
	// Deadline is when Microsoft must have received the claim;
	// DeadlineProvisional is set while it counts from the earliest evidence
	// rather than the incident start.
	Deadline            time.Time            `json:"deadline"`
	DeadlineProvisional bool                 `json:"deadline_provisional"`
	CreatedAt           time.Time            `json:"created_at"`
	UpdatedAt           time.Time            `json:"updated_at"`
	Fields              map[Field]FieldValue `json:"fields"`
	Evidence            []Evidence           `json:"evidence"` // oldest first
	Checklist           []ChecklistItem      `json:"checklist"`

	// earliest is the earliest evidence date; firstStored the oldest
	// evidence whose bundle is stored. Both are known even when Evidence
	// was not loaded.
	earliest    time.Time
	firstStored *Evidence
}

// ChecklistItem is one thing a claim must carry and whether it does.
type ChecklistItem struct {
	Item    string `json:"item"` // see the Item* constants
	Present bool   `json:"present"`
	Value   string `json:"value,omitempty"`
	// Source says where the value came from: "evidence", "tenant registry"
	// or "analyst <name>".
	Source string `json:"source,omitempty"`
}

// The checklist items, from Partner Center's requirements (docs/DOMAIN.md).
const (
	ItemTenantID         = "tenant_id"
	ItemIncidentID       = "incident_id"
	ItemCustomerEmail    = "customer_email"
	ItemCSP              = "csp"
	ItemDowntimeStart    = "downtime_start"
	ItemDowntimeDuration = "downtime_duration"
	ItemAffectedUsers    = "affected_users"
	ItemLocations        = "locations"
	ItemResolution       = "resolution"
	ItemTicket           = "ticket"
)

// Ready reports whether every checklist item is present.
func (c *Claim) Ready() bool {
	for _, it := range c.Checklist {
		if !it.Present {
			return false
		}
	}
	return len(c.Checklist) > 0
}

// Missing returns the checklist items not present.
func (c *Claim) Missing() []string {
	var out []string
	for _, it := range c.Checklist {
		if !it.Present {
			out = append(out, it.Item)
		}
	}
	return out
}

func claimSubject(id int64) string { return "claim:" + strconv.FormatInt(id, 10) }

var (
	tenantIDPattern   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	incidentIDPattern = regexp.MustCompile(`^[A-Z]{2,4}[0-9]{3,10}$`)
)

func normTenantID(s string) (string, error) {
	t := strings.ToLower(strings.Trim(strings.TrimSpace(s), "{}"))
	if !tenantIDPattern.MatchString(t) {
		return "", fmt.Errorf("tenant ID %q is not a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47", s)
	}
	return t, nil
}

func normIncidentID(s string) (string, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if !incidentIDPattern.MatchString(t) {
		return "", fmt.Errorf("incident ID %q is not like EX315207", s)
	}
	return t, nil
}

// openClaim returns the claim for (tenant, incident), creating it open.
func (l *Ledger) openClaim(ctx context.Context, tx dbtx, now time.Time, actor, tenant, incident, cause string) (id int64, created bool, err error) {
	err = tx.QueryRowContext(ctx, `SELECT id FROM claims WHERE tenant_id = ? AND incident_id = ?`, tenant, incident).Scan(&id)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO claims (tenant_id, incident_id, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)`, tenant, incident, string(StatusOpen), fmtTime(now), fmtTime(now))
	if err != nil {
		return 0, false, err
	}
	if id, err = res.LastInsertId(); err != nil {
		return 0, false, err
	}
	_, err = l.appendAudit(ctx, tx, now, actor, ActionClaimCreated, claimSubject(id), map[string]any{
		"tenant_id": tenant, "incident_id": incident, "status": StatusOpen, "opened_by": cause,
	})
	return id, true, err
}

// Claim returns the claim with the given ID, with its evidence and
// checklist, or ErrNotFound.
func (l *Ledger) Claim(ctx context.Context, id int64) (*Claim, error) {
	c, err := loadClaim(ctx, l.r, id, true)
	if err != nil {
		return nil, dbErr(fmt.Sprintf("claim %d", id), err)
	}
	return c, nil
}

// ClaimFor returns the claim for a tenant and an incident, or ErrNotFound.
func (l *Ledger) ClaimFor(ctx context.Context, tenantID, incidentID string) (*Claim, error) {
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

// ClaimSummary is a claim's row without its evidence and checklist.
type ClaimSummary struct {
	ID                  int64
	TenantID            string
	IncidentID          string
	Status              Status
	Deadline            time.Time
	DeadlineProvisional bool
	EvidenceCount       int
	UpdatedAt           time.Time
}

// Claims lists claims, soonest deadline first, optionally only those with
// one of the given statuses.
func (l *Ledger) Claims(ctx context.Context, statuses ...Status) ([]ClaimSummary, error) {
	q := `SELECT c.id, c.tenant_id, c.incident_id, c.status, c.deadline, c.deadline_provisional, c.updated_at,
		(SELECT COUNT(*) FROM claim_evidence e WHERE e.claim_id = c.id) FROM claims c`
	var args []any
	if len(statuses) > 0 {
		q += ` WHERE c.status IN (?` + strings.Repeat(", ?", len(statuses)-1) + `)`
		for _, s := range statuses {
			args = append(args, string(s))
		}
	}
	q += ` ORDER BY c.deadline IS NULL, c.deadline, c.id`
	rows, err := l.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, dbErr("list claims", err)
	}
	defer rows.Close()
	var out []ClaimSummary
	for rows.Next() {
		var s ClaimSummary
		var status string
		var deadline, updated sql.NullString
		if err := rows.Scan(&s.ID, &s.TenantID, &s.IncidentID, &status, &deadline, &s.DeadlineProvisional, &updated, &s.EvidenceCount); err != nil {
			return nil, dbErr("list claims", err)
		}
		s.Status = Status(status)
		if s.Deadline, err = parseTime(deadline); err != nil {
			return nil, dbErr("list claims", err)
		}
		if s.UpdatedAt, err = parseTime(updated); err != nil {
			return nil, dbErr("list claims", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("list claims", err)
	}
	return out, nil
}

// SetClaimField sets one checklist field of a claim, recomputes the deadline
// and the open/ready status, and records the change in the audit trail.
// Setting the value a field already has is a no-op.
func (l *Ledger) SetClaimField(ctx context.Context, claimID int64, field Field, value, actor string) error {
	op := fmt.Sprintf("claim %d: set %s", claimID, field)
	v, err := normField(field, value)
	if err != nil {
		return fmt.Errorf("archive: claim %d: %w", claimID, err)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	return l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		c, err := loadClaim(ctx, tx, claimID, false)
		if err != nil {
			return err
		}
		if terminal(c.Status) {
			return fmt.Errorf("archive: %s: the claim is %s; its fields are final", op, c.Status)
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

// SetClaimStatus moves a claim to status to: ready -> submitted,
// submitted -> approved or denied, open or ready -> expired. Open and ready
// follow the checklist and cannot be set. A disallowed change returns an
// error wrapping ErrTransition that names both statuses. Setting the status
// the claim has is a no-op.
func (l *Ledger) SetClaimStatus(ctx context.Context, claimID int64, to Status, actor, note string) error {
	op := fmt.Sprintf("claim %d: set status %s", claimID, to)
	if err := checkActor(actor); err != nil {
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
		if !allowed(c.Status, to) {
			return transitionError(claimID, c, to)
		}
		return l.setStatus(ctx, tx, l.now(), actor, claimID, c.Status, to, note)
	})
}

func allowed(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

func terminal(s Status) bool {
	return s == StatusApproved || s == StatusDenied || s == StatusExpired
}

func transitionError(id int64, c *Claim, to Status) error {
	msg := fmt.Sprintf("archive: claim %d: cannot move from %s to %s", id, c.Status, to)
	switch {
	case to == StatusReady || to == StatusOpen:
		msg += "; open and ready follow the checklist"
		if m := c.Missing(); len(m) > 0 {
			msg += " (missing: " + strings.Join(m, ", ") + ")"
		}
	case c.Status == StatusOpen && to == StatusSubmitted:
		msg += "; complete the checklist first (missing: " + strings.Join(c.Missing(), ", ") + ")"
	case len(transitions[c.Status]) == 0:
		msg += fmt.Sprintf("; %s is final", c.Status)
	default:
		var next []string
		for _, s := range transitions[c.Status] {
			next = append(next, string(s))
		}
		msg += "; allowed: " + strings.Join(next, ", ")
	}
	return fmt.Errorf("%s: %w", msg, ErrTransition)
}

func (l *Ledger) setStatus(ctx context.Context, tx dbtx, now time.Time, actor string, id int64, from, to Status, note string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE claims SET status = ?, updated_at = ? WHERE id = ?`, string(to), fmtTime(now), id); err != nil {
		return err
	}
	details := map[string]any{"from": from, "to": to}
	if note != "" {
		details["note"] = note
	}
	_, err := l.appendAudit(ctx, tx, now, actor, ActionClaimUpdated, claimSubject(id), details)
	return err
}

// ExpireClaims moves every open or ready claim whose deadline is before now
// to expired and returns their IDs. The poller calls it on each round.
func (l *Ledger) ExpireClaims(ctx context.Context, now time.Time) ([]int64, error) {
	var ids []int64
	err := l.write(ctx, "expire claims", func(stx *sql.Tx) error {
		tx := l.cached(stx)
		rows, err := tx.QueryContext(ctx, `SELECT id, status FROM claims WHERE status IN (?, ?)
			AND deadline IS NOT NULL AND deadline < ? ORDER BY id`, string(StatusOpen), string(StatusReady), fmtTime(now))
		if err != nil {
			return err
		}
		type row struct {
			id     int64
			status Status
		}
		var due []row
		for rows.Next() {
			var r row
			var s string
			if err := rows.Scan(&r.id, &s); err != nil {
				rows.Close()
				return err
			}
			r.status = Status(s)
			due = append(due, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		stamp := l.now()
		for _, r := range due {
			if err := l.setStatus(ctx, tx, stamp, ActorSystem, r.id, r.status, StatusExpired, "deadline passed"); err != nil {
				return err
			}
			ids = append(ids, r.id)
		}
		return nil
	})
	return ids, err
}

// refreshClaim recomputes a claim's deadline, azure flag and open/ready
// status from its evidence and fields, writing and auditing what changed.
func (l *Ledger) refreshClaim(ctx context.Context, tx dbtx, now time.Time, actor string, id int64) error {
	c, err := loadClaim(ctx, tx, id, false)
	if err != nil {
		return err
	}
	azure := c.Fields[FieldAzure].Value == "yes"
	var deadline time.Time
	provisional := true
	if f, ok := c.Fields[FieldIncidentStart]; ok {
		start, err := time.Parse(time.RFC3339, f.Value)
		if err != nil {
			return fmt.Errorf("claim %d: stored incident_start: %w", id, err)
		}
		deadline, provisional = rules.Deadline(start, azure), false
	} else if !c.earliest.IsZero() {
		deadline = rules.Deadline(c.earliest, azure)
	}
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
	var to Status
	switch {
	case c.Status == StatusOpen && c.Ready():
		to = StatusReady
	case c.Status == StatusReady && !c.Ready():
		to = StatusOpen
	default:
		return nil
	}
	note := "checklist complete"
	if to == StatusOpen {
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
		ids, err := queryIDs(ctx, tx, `SELECT id FROM claims WHERE tenant_id = ? AND status IN (?, ?) ORDER BY id`,
			t, string(StatusOpen), string(StatusReady))
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := l.refreshClaim(ctx, tx, now, actor, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadClaim reads a claim with its tenant, fields and checklist, and with
// its evidence list when withEvidence is set. The work on each message
// refreshes its claims, so that path reads only what the checklist needs:
// a claim can gather thousands of emails.
func loadClaim(ctx context.Context, q querier, id int64, withEvidence bool) (*Claim, error) {
	c := &Claim{ID: id, Fields: map[Field]FieldValue{}}
	var status string
	var deadline, created, updated, tenantName, earliest sql.NullString
	var tenantCSP sql.NullBool
	var firstStored sql.NullInt64
	// Subqueries, not joins, here and in the other queries on the work
	// on each message: SQLite re-plans a cached join statement at every
	// run, which made each of these queries three to four times dearer.
	err := q.QueryRowContext(ctx, `SELECT c.tenant_id, c.incident_id, c.status, c.azure, c.deadline, c.deadline_provisional,
		c.created_at, c.updated_at, (SELECT t.name FROM tenants t WHERE t.id = c.tenant_id),
		(SELECT t.csp FROM tenants t WHERE t.id = c.tenant_id), c.evidence_earliest, c.first_stored_message
		FROM claims c WHERE c.id = ?`, id).
		Scan(&c.TenantID, &c.IncidentID, &status, &c.Azure, &deadline, &c.DeadlineProvisional, &created, &updated,
			&tenantName, &tenantCSP, &earliest, &firstStored)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("claim %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	c.Status, c.TenantName = Status(status), tenantName.String
	for _, f := range []struct {
		dst *time.Time
		src sql.NullString
	}{{&c.Deadline, deadline}, {&c.CreatedAt, created}, {&c.UpdatedAt, updated}, {&c.earliest, earliest}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return nil, fmt.Errorf("claim %d: %w", id, err)
		}
	}

	rows, err := q.QueryContext(ctx, `SELECT field, value, actor, updated_at FROM claim_fields WHERE claim_id = ?`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var f string
		var v FieldValue
		var at sql.NullString
		if err := rows.Scan(&f, &v.Value, &v.Actor, &at); err != nil {
			rows.Close()
			return nil, err
		}
		if v.UpdatedAt, err = parseTime(at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim %d: %w", id, err)
		}
		c.Fields[Field(f)] = v
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}

	if !withEvidence {
		if firstStored.Valid {
			if c.firstStored, err = evidenceSummaryOf(ctx, q, firstStored.Int64); err != nil {
				return nil, fmt.Errorf("claim %d: %w", id, err)
			}
		}
		c.Checklist = checklist(c, tenantName.Valid, tenantCSP.Bool)
		return c, nil
	}
	rows, err = q.QueryContext(ctx, `SELECT m.id, m.sha256, m.message_id, `+evidenceSender+`, m.subject,
		m.internal_date, m.sent_date, m.recorded_at, m.bundle_key, m.bundle_sha256, e.attached_at
		FROM claim_evidence e JOIN messages m ON m.id = e.message_id WHERE e.claim_id = ?`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var e Evidence
		var internal, sent, recorded, key, bsha, attached sql.NullString
		if err := rows.Scan(&e.MessageID, &e.SHA256, &e.RFC822ID, &e.Sender, &e.Subject,
			&internal, &sent, &recorded, &key, &bsha, &attached); err != nil {
			rows.Close()
			return nil, err
		}
		var m Message
		var errs [4]error
		m.InternalDate, errs[0] = parseTime(internal)
		m.Date, errs[1] = parseTime(sent)
		m.RecordedAt, errs[2] = parseTime(recorded)
		e.AttachedAt, errs[3] = parseTime(attached)
		if err := errors.Join(errs[:]...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim %d: %w", id, err)
		}
		e.Date, e.BundleKey, e.BundleSHA256 = m.EvidenceDate(), key.String, bsha.String
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
			c.earliest = c.Evidence[0].Date
		}
		if c.Evidence[i].BundleKey != "" {
			c.firstStored = &c.Evidence[i]
			break
		}
	}
	c.Checklist = checklist(c, tenantName.Valid, tenantCSP.Bool)
	return c, nil
}

// evidenceSender is the customer who wrote the evidence: the judged sender,
// which for mail forwarded by partner staff is the attached original's
// author, else the From address.
const evidenceSender = `COALESCE(NULLIF(json_extract(m.judgment, '$.sender'), ''), m.sender)`

// evidenceDate is Message.EvidenceDate in SQL; stored times sort as text.
const evidenceDate = `COALESCE(m.internal_date, m.sent_date, m.recorded_at)`

// evidenceSummaryOf reads what the checklist shows of one piece of
// evidence: the message's hash, its customer sender and its date.
func evidenceSummaryOf(ctx context.Context, q querier, messageID int64) (*Evidence, error) {
	var e Evidence
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
		(SELECT COALESCE(f.internal_date, f.sent_date, f.recorded_at) FROM messages f WHERE f.id = c.first_stored_message),
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

// checklist fills Partner Center's list from what the ledger knows: tenant
// and incident from the claim, the customer email from accepted evidence
// whose bundle is stored, CSP from the analyst or the tenant registry, the
// rest from the analyst.
func checklist(c *Claim, tenantKnown, tenantCSP bool) []ChecklistItem {
	items := []ChecklistItem{
		{Item: ItemTenantID, Present: true, Value: c.TenantID, Source: "evidence"},
		{Item: ItemIncidentID, Present: true, Value: c.IncidentID, Source: "evidence"},
	}
	email := ChecklistItem{Item: ItemCustomerEmail}
	if e := c.firstStored; e != nil {
		email.Present, email.Source = true, "evidence"
		email.Value = fmt.Sprintf("%s, %s", e.Sender, e.Date.UTC().Format(time.RFC3339))
	}
	items = append(items, email)
	csp := ChecklistItem{Item: ItemCSP}
	if f, ok := c.Fields[FieldCSP]; ok {
		csp = ChecklistItem{Item: ItemCSP, Present: true, Value: f.Value, Source: "analyst " + f.Actor}
	} else if tenantKnown {
		csp = ChecklistItem{Item: ItemCSP, Present: true, Value: yesNo(tenantCSP), Source: "tenant registry"}
	}
	items = append(items, csp)
	for _, it := range []struct {
		item  string
		field Field
	}{
		{ItemDowntimeStart, FieldDowntimeStart}, {ItemDowntimeDuration, FieldDowntimeDuration},
		{ItemAffectedUsers, FieldAffectedUsers}, {ItemLocations, FieldLocations},
		{ItemResolution, FieldResolution}, {ItemTicket, FieldTicket},
	} {
		ci := ChecklistItem{Item: it.item}
		if f, ok := c.Fields[it.field]; ok {
			ci.Present, ci.Value, ci.Source = true, f.Value, "analyst "+f.Actor
		}
		items = append(items, ci)
	}
	return items
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
