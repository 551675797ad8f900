package archive

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

// The incident list pages like the claims list: one query picks the page's
// incidents from an index of incident_list (kept by 0013_incident_list.sql's
// triggers), then one query counts their claims from claims_incident and
// one reads Microsoft's facts of them: a page costs its incidents' claims,
// whatever the ledger holds.

// IncidentSort orders the incident list; ties go by incident ID.
type IncidentSort string

// The incident list's sorts.
const (
	// IncidentSortDeadline is the soonest deadline of a claim still to be
	// filed first; incidents without one last.
	IncidentSortDeadline IncidentSort = "deadline"
	// IncidentSortNewest is the incident whose first claim opened last
	// first.
	IncidentSortNewest IncidentSort = "newest"
)

// DefaultIncidentPage and MaxIncidentPage bound an IncidentQuery's Limit.
const (
	DefaultIncidentPage = 50
	MaxIncidentPage     = 200
)

// IncidentQuery asks for one page of the incident list.
type IncidentQuery struct {
	Sort IncidentSort // "" is IncidentSortDeadline
	// Cursor is the Next of the previous page; "" asks for the first.
	Cursor string
	// Limit is the page's size: 0 is DefaultIncidentPage, and more than
	// MaxIncidentPage is MaxIncidentPage.
	Limit int
	// Now is the time the Overdue and Soon counts are taken at
	// (claims.UrgencyBounds); zero means time.Now.
	Now time.Time
}

// IncidentSummary is one incident claims exist for: how many, how they
// stand, and what Microsoft's record says of it.
type IncidentSummary struct {
	ID string
	// Claims counts its claims, one per tenant.
	Claims int
	// ByStatus counts its claims by status; a status without claims is
	// absent.
	ByStatus map[claims.Status]int
	// Fileable counts the claims that can still be filed (claims.Fileable)
	// and Eligible among them those Microsoft's record does not rule out;
	// Overdue and Soon those of these whose deadline passed or is near
	// (claims.UrgencyBounds), as ClaimTally counts them.
	Fileable, Eligible, Overdue, Soon int
	// OpenDeadline is the soonest deadline of its eligible claims still to
	// be filed; zero when none has one.
	OpenDeadline time.Time
	// OpenedAt is when its first claim opened.
	OpenedAt time.Time
	// Incident is Microsoft's record of it: the best facts (claims.Best)
	// of the newest reading of each source, over every tenant; nil when
	// there is none.
	Incident *claims.Incident
}

// IncidentPage is one page of the incident list.
type IncidentPage struct {
	Incidents []IncidentSummary
	// Next is the cursor of the following page; "" on the last page.
	Next string
	// Total is how many incidents claims exist for.
	Total int
}

// incidentListOrders are the sorts' key expressions over incident_list i,
// as its indexes spell them.
var incidentListOrders = map[IncidentSort]struct {
	key  string
	desc bool
}{
	IncidentSortDeadline: {key: `coalesce(i.open_deadline, '~')`},
	IncidentSortNewest:   {key: `i.opened_at`, desc: true},
}

// incidentCursor is an incident list cursor's content: the sort it was made
// for, the last row's key and its incident ID.
type incidentCursor struct {
	Sort IncidentSort `json:"s"`
	Key  string       `json:"k"`
	ID   string       `json:"i"`
}

func (c incidentCursor) encode() string {
	b, _ := json.Marshal(c) // strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseIncidentCursor(s string, sort IncidentSort) (incidentCursor, error) {
	var c incidentCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Sort != sort || c.ID == "" {
		return incidentCursor{}, ErrBadCursor
	}
	return c, nil
}

// IncidentList returns one page of the incidents claims exist for, in q's
// order, each with its claims counted. Paging is by keyset, as ClaimList's:
// an incident whose soonest deadline changes between two pages may be
// missed or shown twice. A malformed cursor is an error wrapping
// ErrBadCursor.
func (l *Ledger) IncidentList(ctx context.Context, q IncidentQuery) (IncidentPage, error) {
	const op = "list incidents"
	page := IncidentPage{}
	if q.Sort == "" {
		q.Sort = IncidentSortDeadline
	}
	order, ok := incidentListOrders[q.Sort]
	if !ok {
		return page, fmt.Errorf("archive: %s: sort %q is not deadline or newest", op, q.Sort)
	}
	limit := pageLimit(q.Limit, DefaultIncidentPage, MaxIncidentPage)
	if err := l.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM incident_list`).Scan(&page.Total); err != nil {
		return page, dbErr(op, err)
	}
	cmpOp, dir := ">", ""
	if order.desc {
		cmpOp, dir = "<", " DESC"
	}
	where, args := "TRUE", []any{}
	if q.Cursor != "" {
		cur, err := parseIncidentCursor(q.Cursor, q.Sort)
		if err != nil {
			return page, fmt.Errorf("archive: %s: %w", op, err)
		}
		where = fmt.Sprintf(`%s %s= ? AND (%s %s ? OR i.incident_id %s ?)`, order.key, cmpOp, order.key, cmpOp, cmpOp)
		args = append(args, cur.Key, cur.Key, cur.ID)
	}
	rows, err := l.r.QueryContext(ctx, `SELECT i.incident_id, i.claims, i.open_deadline, i.opened_at, `+order.key+`
		FROM incident_list i WHERE `+where+` ORDER BY `+order.key+dir+`, i.incident_id`+dir+` LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return page, dbErr(op, err)
	}
	var last incidentCursor
	for rows.Next() {
		var s IncidentSummary
		var deadline, opened sql.NullString
		c := incidentCursor{Sort: q.Sort}
		if err := rows.Scan(&s.ID, &s.Claims, &deadline, &opened, &c.Key); err != nil {
			rows.Close()
			return page, dbErr(op, err)
		}
		if len(page.Incidents) == limit {
			page.Next = last.encode()
			break
		}
		if s.OpenDeadline, err = parseTime(deadline); err == nil {
			s.OpenedAt, err = parseTime(opened)
		}
		if err != nil {
			rows.Close()
			return page, fmt.Errorf("archive: %s: incident %s: %w", op, s.ID, err)
		}
		c.ID = s.ID
		page.Incidents, last = append(page.Incidents, s), c
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return page, dbErr(op, err)
	}
	if page.Incidents == nil {
		page.Incidents = []IncidentSummary{}
	}
	if err := fillIncidentSummaries(ctx, l.r, page.Incidents, q.Now); err != nil {
		return page, dbErr(op, err)
	}
	return page, nil
}

// Incident returns the summary of incident incidentID as IncidentList
// gives it, its counts taken at now (zero: time.Now). An ID that is not an
// incident ID (rules.ParseIncidentID) is an error saying so; an incident no
// claim exists for is ErrNotFound.
func (l *Ledger) Incident(ctx context.Context, incidentID string, now time.Time) (IncidentSummary, error) {
	op := "incident " + incidentID
	inc, err := normIncidentID(incidentID)
	if err != nil {
		return IncidentSummary{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	s := []IncidentSummary{{ID: inc}}
	var deadline, opened sql.NullString
	err = l.r.QueryRowContext(ctx, `SELECT i.claims, i.open_deadline, i.opened_at FROM incident_list i WHERE i.incident_id = ?`, inc).
		Scan(&s[0].Claims, &deadline, &opened)
	if errors.Is(err, sql.ErrNoRows) {
		return IncidentSummary{}, fmt.Errorf("archive: %s: no claim exists for it: %w", op, ErrNotFound)
	}
	if err != nil {
		return IncidentSummary{}, dbErr(op, err)
	}
	if s[0].OpenDeadline, err = parseTime(deadline); err == nil {
		s[0].OpenedAt, err = parseTime(opened)
	}
	if err != nil {
		return IncidentSummary{}, fmt.Errorf("archive: %s: %w", op, err)
	}
	if err := fillIncidentSummaries(ctx, l.r, s, now); err != nil {
		return IncidentSummary{}, dbErr(op, err)
	}
	return s[0], nil
}

// fillIncidentSummaries counts the claims of the incidents s and reads
// their facts: two queries for all of them.
func fillIncidentSummaries(ctx context.Context, q querier, s []IncidentSummary, now time.Time) error {
	if len(s) == 0 {
		return nil
	}
	if now.IsZero() {
		now = time.Now()
	}
	byID := make(map[string]*IncidentSummary, len(s))
	ids := make([]any, len(s))
	for i := range s {
		s[i].ByStatus = map[claims.Status]int{}
		byID[s[i].ID], ids[i] = &s[i], s[i].ID
	}
	in := "?" + strings.Repeat(", ?", len(ids)-1)
	overdue, soon := claims.UrgencyBounds(now)
	rows, err := q.QueryContext(ctx, `SELECT c.incident_id, c.status, c.eligible, COUNT(*),
		COUNT(*) FILTER (WHERE c.deadline IS NOT NULL AND c.deadline <= ?),
		COUNT(*) FILTER (WHERE c.deadline IS NOT NULL AND c.deadline > ? AND c.deadline <= ?)
		FROM claims c WHERE c.incident_id IN (`+in+`) GROUP BY c.incident_id, c.status, c.eligible`,
		append([]any{fmtTime(overdue), fmtTime(overdue), fmtTime(soon)}, ids...)...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id, status string
		var eligible bool
		var n, od, sn int
		if err := rows.Scan(&id, &status, &eligible, &n, &od, &sn); err != nil {
			rows.Close()
			return err
		}
		sum := byID[id]
		if sum == nil {
			continue
		}
		st := claims.Status(status)
		sum.ByStatus[st] += n
		if claims.Fileable(st) {
			sum.Fileable += n
			if eligible {
				sum.Eligible += n
				sum.Overdue += od
				sum.Soon += sn
			}
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}

	// The newest reading of each source with facts (not Graph's "not
	// listed"), over every tenant.
	rows, err = q.QueryContext(ctx, `SELECT f.incident_id, f.id, f.read_at, f.facts FROM incident_facts f
		WHERE f.id IN (SELECT MAX(g.id) FROM incident_facts g
			WHERE g.incident_id IN (`+in+`) AND (g.listed IS NULL OR g.listed)
			GROUP BY g.incident_id, g.source)`, ids...)
	if err != nil {
		return err
	}
	facts := map[string][]claims.Incident{}
	for rows.Next() {
		var id, data string
		var maxID int64
		var readAt sql.NullString
		if err := rows.Scan(&id, &maxID, &readAt, &data); err != nil {
			rows.Close()
			return err
		}
		f, err := decodeFacts(data, readAt)
		if err != nil {
			rows.Close()
			return fmt.Errorf("incident %s: %w", id, err)
		}
		f.Raw, f.Posts = nil, nil // a summary: the claim page shows them
		facts[id] = append(facts[id], f)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for id, fs := range facts {
		best := claims.Best(fs...)
		byID[id].Incident = &best
	}
	return nil
}
