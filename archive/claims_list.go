package archive

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

// The claims list pages in SQL: a page costs its rows, whatever the
// ledger holds. One query picks the page's claim IDs from an index
// (claimListOrders), then one query each loads their rows, their fields
// and their first stored evidence, and claims.Checklist fills each
// checklist.

// ErrBadCursor: a list's cursor is not one the ledger made, or was made
// for another sort. The caller should start again from the first page.
var ErrBadCursor = errors.New("the cursor is not one this list gave: copy the next cursor of the previous page, or start from the first page")

// ClaimSort orders a claim list.
type ClaimSort string

// The claim list's sorts; ties go by claim ID.
const (
	// SortDeadline is the soonest deadline first, claims without one last.
	SortDeadline ClaimSort = "deadline"
	// SortDeadlineDesc is SortDeadline reversed.
	SortDeadlineDesc ClaimSort = "-deadline"
	// SortUpdated is the last change first.
	SortUpdated ClaimSort = "updated"
	// SortIncident is by incident ID, then tenant name.
	SortIncident ClaimSort = "incident"
)

// DefaultClaimPage and MaxClaimPage bound a ClaimQuery's Limit.
const (
	DefaultClaimPage = 50
	MaxClaimPage     = 500
)

// ClaimFilter selects claims; the zero filter selects every claim.
type ClaimFilter struct {
	// Statuses keeps the claims with one of these statuses; none keeps all.
	Statuses []claims.Status
	// TenantID keeps one tenant's claims; "" keeps all.
	TenantID string
	// IncidentID keeps one incident's claims; "" keeps all.
	IncidentID string
	// Eligible keeps the claims whose stored eligibility (as of their
	// last refresh) is *Eligible; nil keeps both.
	Eligible *bool
	// Search keeps the claims a search selects (see SearchKind); nil
	// keeps all.
	Search *Search
}

// ClaimQuery asks for one page of a claim list.
type ClaimQuery struct {
	ClaimFilter
	Sort ClaimSort // "" is SortDeadline
	// Cursor is the Next of the previous page; "" asks for the first.
	Cursor string
	// Limit is the page's size: 0 is DefaultClaimPage, and more than
	// MaxClaimPage is MaxClaimPage.
	Limit int
	// NoTotal skips counting: the page's Total is then -1.
	NoTotal bool
}

// ClaimPage is one page of a claim list.
type ClaimPage struct {
	Claims []ClaimSummary
	// Next is the cursor of the following page; "" on the last page.
	Next string
	// Total is how many claims the filter selects in all, -1 when the
	// query said NoTotal.
	Total int
}

// ClaimTally counts the claims a filter selects: all of them, those whose
// deadline passed and those due soon (claims.Urgency: eligible and still
// fileable), and those Microsoft's record rules out.
type ClaimTally struct {
	Total, Overdue, Soon, Ineligible int
}

// noDeadline is the deadline sort key of a claim without a deadline: it
// sorts after every stored time. Keep it in step with 0009_claims_list.sql.
const noDeadline = "~"

// deadlineKey is the deadline sort key, as the indexes spell it.
const deadlineKey = `coalesce(c.deadline, '~')`

// tenantNameKey is the incident sort's second key.
const tenantNameKey = `COALESCE((SELECT t.name FROM tenants t WHERE t.id = c.tenant_id), '')`

// claimListOrder is how a sort walks the claims: its key columns, their
// direction, and how many keys (besides the ID) its cursor carries.
type claimListOrder struct {
	keys []string
	desc bool
}

var claimListOrders = map[ClaimSort]claimListOrder{
	SortDeadline:     {keys: []string{deadlineKey}},
	SortDeadlineDesc: {keys: []string{deadlineKey}, desc: true},
	SortUpdated:      {keys: []string{`c.updated_at`}, desc: true},
	SortIncident:     {keys: []string{`c.incident_id`, tenantNameKey}},
}

// listCursor is a cursor's content: the sort it was made for, the last
// row's keys and its ID.
type listCursor struct {
	Sort ClaimSort `json:"s"`
	Keys []string  `json:"k"`
	ID   int64     `json:"i"`
}

func (c listCursor) encode() string {
	b, _ := json.Marshal(c) // strings and a number: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseListCursor(s string, sort ClaimSort, nkeys int) (listCursor, error) {
	var c listCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Sort != sort || len(c.Keys) != nkeys || c.ID <= 0 {
		return listCursor{}, ErrBadCursor
	}
	return c, nil
}

// where returns the filter's SQL condition over claims c and its arguments.
func (f ClaimFilter) where() (string, []any, error) {
	conds := []string{"TRUE"}
	var args []any
	if len(f.Statuses) > 0 {
		for _, s := range f.Statuses {
			if _, err := claims.ParseStatus(string(s)); err != nil {
				return "", nil, err
			}
		}
		in, sargs := statusIn(f.Statuses)
		conds = append(conds, `c.status IN (`+in+`)`)
		args = append(args, sargs...)
	}
	if f.TenantID != "" {
		t, err := normTenantID(f.TenantID)
		if err != nil {
			return "", nil, err
		}
		conds = append(conds, `c.tenant_id = ?`)
		args = append(args, t)
	}
	if f.IncidentID != "" {
		inc, err := normIncidentID(f.IncidentID)
		if err != nil {
			return "", nil, err
		}
		conds = append(conds, `c.incident_id = ?`)
		args = append(args, inc)
	}
	if f.Eligible != nil {
		conds = append(conds, `c.eligible = ?`)
		args = append(args, *f.Eligible)
	}
	if f.Search != nil {
		cond, sargs := f.Search.claimCond()
		conds = append(conds, cond)
		args = append(args, sargs...)
	}
	return strings.Join(conds, " AND "), args, nil
}

// ClaimList returns one page of the claims q selects, in q's order, each
// with its tenant's name, evidence counts and checklist (claims.Checklist)
// but without its evidence. Paging is by keyset: a cursor stays valid
// while claims are added and changed; a claim that changes its place in
// the order between two pages (a new deadline, a change under
// SortUpdated) may be missed or shown twice. A malformed cursor is an
// error wrapping ErrBadCursor; a bad status or tenant ID an error saying
// what is wrong.
func (l *Ledger) ClaimList(ctx context.Context, q ClaimQuery) (ClaimPage, error) {
	const op = "list claims"
	page := ClaimPage{Total: -1}
	if q.Sort == "" {
		q.Sort = SortDeadline
	}
	order, ok := claimListOrders[q.Sort]
	if !ok {
		return page, fmt.Errorf("archive: %s: sort %q is not deadline, -deadline, updated or incident", op, q.Sort)
	}
	limit := pageLimit(q.Limit, DefaultClaimPage, MaxClaimPage)
	where, args, err := q.where()
	if err != nil {
		return page, fmt.Errorf("archive: %s: %w", op, err)
	}
	if !q.NoTotal {
		if err := l.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM claims c WHERE `+where, args...).Scan(&page.Total); err != nil {
			return page, dbErr(op, err)
		}
	}

	cmpOp, dir := ">", ""
	if order.desc {
		cmpOp, dir = "<", " DESC"
	}
	if q.Cursor != "" {
		cur, err := parseListCursor(q.Cursor, q.Sort, len(order.keys))
		if err != nil {
			return page, fmt.Errorf("archive: %s: %w", op, err)
		}
		// The first key bounds the walk on its index; the rest decide
		// among the rows that tie on it.
		first := order.keys[0]
		rest := append(append([]string(nil), order.keys[1:]...), "c.id")
		restArgs := make([]any, 0, len(rest))
		for _, k := range cur.Keys[1:] {
			restArgs = append(restArgs, k)
		}
		restArgs = append(restArgs, cur.ID)
		where += fmt.Sprintf(` AND %s %s= ? AND (%s %s ? OR (%s) %s (%s))`, first, cmpOp, first, cmpOp,
			strings.Join(rest, ", "), cmpOp, "?"+strings.Repeat(", ?", len(rest)-1))
		args = append(args, cur.Keys[0], cur.Keys[0])
		args = append(args, restArgs...)
	}
	var orderBy []string
	for _, k := range order.keys {
		orderBy = append(orderBy, k+dir)
	}
	orderBy = append(orderBy, "c.id"+dir)
	rows, err := l.r.QueryContext(ctx, `SELECT c.id, `+strings.Join(order.keys, ", ")+` FROM claims c WHERE `+where+
		` ORDER BY `+strings.Join(orderBy, ", ")+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return page, dbErr(op, err)
	}
	var ids []int64
	var last listCursor
	for rows.Next() {
		c := listCursor{Sort: q.Sort, Keys: make([]string, len(order.keys))}
		dst := []any{&c.ID}
		for i := range c.Keys {
			dst = append(dst, &c.Keys[i])
		}
		if err := rows.Scan(dst...); err != nil {
			rows.Close()
			return page, dbErr(op, err)
		}
		if len(ids) == limit {
			page.Next = last.encode()
			break
		}
		ids, last = append(ids, c.ID), c
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return page, dbErr(op, err)
	}
	if page.Claims, err = loadClaimSummaries(ctx, l.r, ids); err != nil {
		return page, dbErr(op, err)
	}
	return page, nil
}

// AllClaims yields every claim q selects, in q's order from q.Cursor on,
// reading them a page at a time (q.Limit rows, MaxClaimPage when 0) without
// counting them: the cost of each row is the same however many there are.
// It stops at the first error, which it yields.
func (l *Ledger) AllClaims(ctx context.Context, q ClaimQuery) iter.Seq2[ClaimSummary, error] {
	return func(yield func(ClaimSummary, error) bool) {
		q.NoTotal = true
		if q.Limit <= 0 {
			q.Limit = MaxClaimPage
		}
		for {
			page, err := l.ClaimList(ctx, q)
			if err != nil {
				yield(ClaimSummary{}, err)
				return
			}
			for _, s := range page.Claims {
				if !yield(s, nil) {
					return
				}
			}
			if page.Next == "" {
				return
			}
			q.Cursor = page.Next
		}
	}
}

// ClaimTally counts the claims f selects, the overdue, soon and ineligible
// among them, at now: claims.UrgencyBounds gives the deadlines that make a
// claim overdue or soon.
func (l *Ledger) ClaimTally(ctx context.Context, f ClaimFilter, now time.Time) (ClaimTally, error) {
	const op = "count claims"
	where, args, err := f.where()
	if err != nil {
		return ClaimTally{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	overdue, soon := claims.UrgencyBounds(now)
	in, fargs := statusIn(claims.FileableStatuses())
	urgent := `c.status IN (` + in + `) AND c.eligible AND c.deadline IS NOT NULL`
	qargs := append(append(append(append([]any{}, fargs...), fmtTime(overdue)), fargs...), fmtTime(overdue), fmtTime(soon))
	var t ClaimTally
	err = l.r.QueryRowContext(ctx, `SELECT COUNT(*),
		COUNT(*) FILTER (WHERE `+urgent+` AND c.deadline <= ?),
		COUNT(*) FILTER (WHERE `+urgent+` AND c.deadline > ? AND c.deadline <= ?),
		COUNT(*) FILTER (WHERE NOT c.eligible)
		FROM claims c WHERE `+where, append(qargs, args...)...).Scan(&t.Total, &t.Overdue, &t.Soon, &t.Ineligible)
	if err != nil {
		return ClaimTally{}, dbErr(op, err)
	}
	return t, nil
}

// ClaimCounts counts the claims of each status; a status without claims is
// absent.
func (l *Ledger) ClaimCounts(ctx context.Context) (map[claims.Status]int, error) {
	const op = "count claims by status"
	rows, err := l.r.QueryContext(ctx, `SELECT status, COUNT(*) FROM claims GROUP BY status`)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	out := map[claims.Status]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, dbErr(op, err)
		}
		out[claims.Status(s)] = n
	}
	return out, dbErr(op, rows.Err())
}

// FileableIncidents returns, for each of the tenants tenantIDs, the
// incident IDs of its claims that can still be filed (claims.Fileable),
// soonest deadline first. Tenants without such claims are absent; IDs
// that are not tenant GUIDs are skipped.
func (l *Ledger) FileableIncidents(ctx context.Context, tenantIDs []string) (map[string][]string, error) {
	const op = "list fileable incidents"
	out := map[string][]string{}
	var tenants []any
	for _, id := range tenantIDs {
		if t, err := normTenantID(id); err == nil {
			tenants = append(tenants, t)
		}
	}
	if len(tenants) == 0 {
		return out, nil
	}
	in, sargs := statusIn(claims.FileableStatuses())
	rows, err := l.r.QueryContext(ctx, `SELECT c.tenant_id, c.incident_id FROM claims c
		WHERE c.tenant_id IN (?`+strings.Repeat(", ?", len(tenants)-1)+`) AND c.status IN (`+in+`)
		ORDER BY `+deadlineKey+`, c.id`, append(tenants, sargs...)...)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var t, inc string
		if err := rows.Scan(&t, &inc); err != nil {
			return nil, dbErr(op, err)
		}
		out[t] = append(out[t], inc)
	}
	return out, dbErr(op, rows.Err())
}

// ClaimsForIncident returns the claims on incident incidentID, one per
// tenant, by claim ID, as ClaimList shows them.
func (l *Ledger) ClaimsForIncident(ctx context.Context, incidentID string) ([]ClaimSummary, error) {
	op := "list claims of " + incidentID
	inc, err := normIncidentID(incidentID)
	if err != nil {
		return nil, fmt.Errorf("archive: %s: %w", op, err)
	}
	ids, err := queryIDs(ctx, l.r, `SELECT id FROM claims WHERE incident_id = ? ORDER BY id`, inc)
	if err != nil {
		return nil, dbErr(op, err)
	}
	out, err := loadClaimSummaries(ctx, l.r, ids)
	return out, dbErr(op, err)
}

// idsIn returns the placeholders and arguments of an SQL "IN (...)" over
// ids, which must not be empty.
func idsIn(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "?" + strings.Repeat(", ?", len(ids)-1), args
}

// loadClaimSummaries loads the claims ids, in that order, as list rows:
// three queries for all of them.
func loadClaimSummaries(ctx context.Context, q querier, ids []int64) ([]ClaimSummary, error) {
	if len(ids) == 0 {
		return []ClaimSummary{}, nil
	}
	in, args := idsIn(ids)
	rows, err := q.QueryContext(ctx, `SELECT `+claimColumns+`,
		(SELECT COUNT(*) FROM claim_evidence e WHERE e.claim_id = c.id),
		(SELECT COUNT(*) FROM claim_evidence e WHERE e.claim_id = c.id AND e.late)
		FROM claims c WHERE c.id IN (`+in+`)`, args...)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]*ClaimSummary, len(ids))
	tenants := map[int64]claims.Tenant{}
	firstStored := map[int64]int64{} // claim -> message
	for rows.Next() {
		var cr claimRowScan
		s := &ClaimSummary{}
		if err := rows.Scan(append(cr.dest(), &s.EvidenceCount, &s.LateEvidence)...); err != nil {
			rows.Close()
			return nil, err
		}
		if s.Claim, err = cr.claim(); err != nil {
			rows.Close()
			return nil, err
		}
		byID[s.ID], tenants[s.ID] = s, cr.tenant()
		if cr.firstStored.Valid {
			firstStored[s.ID] = cr.firstStored.Int64
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}

	rows, err = q.QueryContext(ctx, `SELECT claim_id, field, value, actor, updated_at FROM claim_fields
		WHERE claim_id IN (`+in+`)`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id int64
		var f string
		var v claims.FieldValue
		var at sql.NullString
		if err := rows.Scan(&id, &f, &v.Value, &v.Actor, &at); err != nil {
			rows.Close()
			return nil, err
		}
		if v.UpdatedAt, err = parseTime(at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim %d: %w", id, err)
		}
		if s := byID[id]; s != nil {
			s.Fields[claims.Field(f)] = v
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}

	if len(firstStored) > 0 {
		msgs := make([]int64, 0, len(firstStored))
		for _, m := range firstStored {
			msgs = append(msgs, m)
		}
		min, margs := idsIn(msgs)
		rows, err := q.QueryContext(ctx, `SELECT m.id, m.sha256, `+evidenceSender+`, `+evidenceDate+`
			FROM messages m WHERE m.id IN (`+min+`)`, margs...)
		if err != nil {
			return nil, err
		}
		evidence := map[int64]*claims.Evidence{}
		for rows.Next() {
			var e claims.Evidence
			var date sql.NullString
			if err := rows.Scan(&e.MessageID, &e.SHA256, &e.Sender, &date); err != nil {
				rows.Close()
				return nil, err
			}
			if e.Date, err = parseTime(date); err != nil {
				rows.Close()
				return nil, fmt.Errorf("evidence message %d: %w", e.MessageID, err)
			}
			evidence[e.MessageID] = &e
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, err
		}
		for id, m := range firstStored {
			e := evidence[m]
			if e == nil {
				return nil, fmt.Errorf("claim %d: evidence message %d: %w", id, m, ErrNotFound)
			}
			c := *e // each claim its own copy
			byID[id].FirstStored = &c
		}
	}

	out := make([]ClaimSummary, 0, len(ids))
	for _, id := range ids {
		s := byID[id]
		if s == nil {
			continue // gone since its ID was read
		}
		s.Checklist = claims.Checklist(s.Claim, tenants[id])
		out = append(out, *s)
	}
	return out, nil
}

// pageLimit is a list's page size for a requested limit: def when none
// (0 or less) is asked, and at most max.
func pageLimit(limit, def, max int) int {
	switch {
	case limit <= 0:
		return def
	case limit > max:
		return max
	}
	return limit
}
