package archive

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

// collectClaims reads every claim q selects through AllClaims.
func collectClaims(ctx context.Context, l *Ledger, q ClaimQuery) ([]ClaimSummary, error) {
	var out []ClaimSummary
	for s, err := range l.AllClaims(ctx, q) {
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// listClaim is a claim written straight into the claims table, with what
// the list orders and filters by.
type listClaim struct {
	id               int64
	tenant, incident string
	status           claims.Status
	deadline         string // stored time, "" for none
	updated          string
	eligible         bool
	tenantName       string
}

// listLedger is a ledger of n claims over two named tenants and one
// unknown one, with ties in every sort key and claims without deadlines.
func listLedger(t *testing.T, n int) (*Ledger, []listClaim) {
	t.Helper()
	ctx := context.Background()
	l := newTestLedger(t)
	tenants := []struct{ id, name string }{
		{"11111111-0000-4000-8000-000000000001", "Zeta s.r.o."},
		{"11111111-0000-4000-8000-000000000002", "Alpha a.s."},
		{"11111111-0000-4000-8000-000000000003", ""}, // not in the registry
	}
	for _, tn := range tenants[:2] {
		if _, err := l.w.ExecContext(ctx, `INSERT INTO tenants (id, name, updated_at) VALUES (?, ?, ?)`,
			tn.id, tn.name, fmtTime(time.Now())); err != nil {
			t.Fatal(err)
		}
	}
	statuses := claims.Statuses()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var out []listClaim
	for i := range n {
		c := listClaim{
			tenant:   tenants[i%3].id,
			incident: fmt.Sprintf("EX%06d", 100000+i/3), // three tenants share an incident
			status:   statuses[i%len(statuses)],
			updated:  fmtTime(base.Add(time.Duration(i%4) * time.Hour)),
			eligible: i%5 != 0,
		}
		if i%4 != 0 {
			c.deadline = fmtTime(base.Add(time.Duration(i%6) * 24 * time.Hour))
		}
		c.tenantName = tenants[i%3].name
		if err := l.w.QueryRowContext(ctx, `INSERT INTO claims (tenant_id, incident_id, status, deadline, created_at, updated_at, eligible)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, c.tenant, c.incident, string(c.status), nullString(c.deadline), c.updated, c.updated, c.eligible).Scan(&c.id); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return l, out
}

// wantOrder is the order a sort gives, written out in Go.
func wantOrder(sort ClaimSort, cs []listClaim) []int64 {
	cs = slices.Clone(cs)
	dl := func(c listClaim) (bool, string) { return c.deadline == "", c.deadline }
	slices.SortFunc(cs, func(a, b listClaim) int {
		switch sort {
		case SortDeadline, SortDeadlineDesc:
			an, ad := dl(a)
			bn, bd := dl(b)
			r := cmp.Or(boolCmp(an, bn), cmp.Compare(ad, bd), cmp.Compare(a.id, b.id))
			if sort == SortDeadlineDesc {
				r = -r
			}
			return r
		case SortUpdated:
			return cmp.Or(cmp.Compare(b.updated, a.updated), cmp.Compare(b.id, a.id))
		default:
			return cmp.Or(cmp.Compare(a.incident, b.incident), cmp.Compare(a.tenantName, b.tenantName), cmp.Compare(a.id, b.id))
		}
	})
	var ids []int64
	for _, c := range cs {
		ids = append(ids, c.id)
	}
	return ids
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// pageAll reads q's list page by page, checking each page's size, total
// and cursor.
func pageAll(t *testing.T, l *Ledger, q ClaimQuery, wantTotal int) []int64 {
	t.Helper()
	var ids []int64
	for pages := 0; ; pages++ {
		if pages > wantTotal+1 {
			t.Fatalf("%+v: more pages than claims", q)
		}
		p, err := l.ClaimList(context.Background(), q)
		if err != nil {
			t.Fatalf("ClaimList(%+v): %v", q, err)
		}
		if p.Total != wantTotal {
			t.Errorf("ClaimList(%+v).Total = %d, want %d", q, p.Total, wantTotal)
		}
		if len(p.Claims) > q.Limit || (p.Next != "" && len(p.Claims) != q.Limit) {
			t.Errorf("ClaimList(%+v) = %d claims, next %q; want %d when there is a next page", q, len(p.Claims), p.Next, q.Limit)
		}
		for _, c := range p.Claims {
			ids = append(ids, c.ID)
		}
		if p.Next == "" {
			return ids
		}
		q.Cursor = p.Next
	}
}

// TestClaimListPages pages through every sort under every filter, in pages
// of several sizes, and compares with the order written out in Go.
func TestClaimListPages(t *testing.T) {
	l, all := listLedger(t, 61)
	yes, no := true, false
	filters := []struct {
		name string
		f    ClaimFilter
		keep func(listClaim) bool
	}{
		{"all", ClaimFilter{}, func(listClaim) bool { return true }},
		{"open", ClaimFilter{Statuses: []claims.Status{claims.StatusOpen}}, func(c listClaim) bool { return c.status == claims.StatusOpen }},
		{"fileable", ClaimFilter{Statuses: claims.FileableStatuses()}, func(c listClaim) bool { return claims.Fileable(c.status) }},
		{"tenant", ClaimFilter{TenantID: strings.ToUpper(all[1].tenant)}, func(c listClaim) bool { return c.tenant == all[1].tenant }},
		{"eligible", ClaimFilter{Eligible: &yes}, func(c listClaim) bool { return c.eligible }},
		{"ineligible open", ClaimFilter{Eligible: &no, Statuses: []claims.Status{claims.StatusOpen}},
			func(c listClaim) bool { return !c.eligible && c.status == claims.StatusOpen }},
		{"none", ClaimFilter{TenantID: tenantB}, func(listClaim) bool { return false }},
	}
	for _, f := range filters {
		var kept []listClaim
		for _, c := range all {
			if f.keep(c) {
				kept = append(kept, c)
			}
		}
		for _, sort := range []ClaimSort{SortDeadline, SortDeadlineDesc, SortUpdated, SortIncident} {
			want := wantOrder(sort, kept)
			for _, limit := range []int{1, 4, 7, 100} {
				t.Run(fmt.Sprintf("%s/%s/%d", f.name, sort, limit), func(t *testing.T) {
					got := pageAll(t, l, ClaimQuery{ClaimFilter: f.f, Sort: sort, Limit: limit}, len(want))
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("pages = %v\nwant    %v", got, want)
					}
				})
			}
		}
	}
}

// TestClaimListNewClaims adds claims between two pages: the pages go on
// where they were, showing none twice; a claim added behind the cursor is
// not shown, one ahead of it is.
func TestClaimListNewClaims(t *testing.T) {
	ctx := context.Background()
	l, all := listLedger(t, 20)
	q := ClaimQuery{Limit: 6}
	first, err := l.ClaimList(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	add := func(incident, deadline string) int64 {
		var id int64
		if err := l.w.QueryRowContext(ctx, `INSERT INTO claims (tenant_id, incident_id, status, deadline, created_at, updated_at)
			VALUES (?, ?, 'open', ?, ?, ?) RETURNING id`, tenantA, incident, deadline, deadline, deadline).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	behind := add("EX900001", "2020-01-01T00:00:00.000000000Z")
	ahead := add("EX900002", "2030-01-01T00:00:00.000000000Z")
	q.Cursor = first.Next
	rest := pageAll(t, l, q, len(all)+2)
	seen := map[int64]bool{}
	for _, c := range first.Claims {
		seen[c.ID] = true
	}
	for _, id := range rest {
		if seen[id] {
			t.Errorf("claim %d shown twice", id)
		}
		seen[id] = true
	}
	for _, c := range all {
		if !seen[c.id] {
			t.Errorf("claim %d not shown", c.id)
		}
	}
	if seen[behind] || !seen[ahead] {
		t.Errorf("new claims shown: behind the cursor %v (want false), ahead of it %v (want true)", seen[behind], seen[ahead])
	}
}

func TestClaimListBadCursor(t *testing.T) {
	ctx := context.Background()
	l, _ := listLedger(t, 5)
	p, err := l.ClaimList(ctx, ClaimQuery{Limit: 2, Sort: SortUpdated})
	if err != nil || p.Next == "" {
		t.Fatalf("ClaimList = %+v, %v; want a next page", p, err)
	}
	for name, cursor := range map[string]string{
		"not base64":   "%%%",
		"not JSON":     base64.RawURLEncoding.EncodeToString([]byte("nope")),
		"no keys":      base64.RawURLEncoding.EncodeToString([]byte(`{"s":"updated","i":3}`)),
		"another sort": p.Next + "", // used with SortDeadline below
	} {
		sort := SortUpdated
		if name == "another sort" {
			sort = SortDeadline
		}
		_, err := l.ClaimList(ctx, ClaimQuery{Sort: sort, Cursor: cursor})
		if !errors.Is(err, ErrBadCursor) {
			t.Errorf("%s: ClaimList = %v, want ErrBadCursor", name, err)
		}
	}
	if _, err := l.ClaimList(ctx, ClaimQuery{Sort: "soonest"}); err == nil || !strings.Contains(err.Error(), "deadline, -deadline") {
		t.Errorf("ClaimList(sort soonest) = %v, want an error naming the sorts", err)
	}
	if _, err := l.ClaimList(ctx, ClaimQuery{ClaimFilter: ClaimFilter{TenantID: "contoso"}}); err == nil {
		t.Error("ClaimList(tenant contoso) = nil error, want one asking for a GUID")
	}
}

// TestClaimTally counts as claims.Urgency decides, claim by claim.
func TestClaimTally(t *testing.T) {
	ctx := context.Background()
	l, all := listLedger(t, 61)
	for _, now := range []time.Time{
		time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC), // every deadline soon or later
		time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC),  // on a deadline: overdue
		time.Date(2026, 3, 3, 0, 0, 1, 0, time.UTC),
		time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
	} {
		for _, tenant := range []string{"", all[0].tenant} {
			var want ClaimTally
			for _, c := range all {
				if tenant != "" && c.tenant != tenant {
					continue
				}
				want.Total++
				if !c.eligible {
					want.Ineligible++
				}
				var d time.Time
				if c.deadline != "" {
					d, _ = time.Parse(time.RFC3339Nano, c.deadline)
				}
				_, _, urgency := claims.Countdown(c.status, c.eligible, d, now)
				switch urgency {
				case "overdue":
					want.Overdue++
				case "soon":
					want.Soon++
				}
			}
			got, err := l.ClaimTally(ctx, ClaimFilter{TenantID: tenant}, now)
			if err != nil || got != want {
				t.Errorf("ClaimTally(tenant %q, %v) = %+v, %v; want %+v", tenant, now, got, err, want)
			}
		}
	}
	counts, err := l.ClaimCounts(ctx)
	want := map[claims.Status]int{}
	for _, c := range all {
		want[c.status]++
	}
	if err != nil || fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("ClaimCounts = %v, %v; want %v", counts, err, want)
	}
}

func TestFileableIncidents(t *testing.T) {
	l, all := listLedger(t, 30)
	want := map[string][]string{}
	for _, id := range wantOrder(SortDeadline, all) {
		c := all[slices.IndexFunc(all, func(c listClaim) bool { return c.id == id })]
		if claims.Fileable(c.status) && c.tenant != all[2].tenant {
			want[c.tenant] = append(want[c.tenant], c.incident)
		}
	}
	got, err := l.FileableIncidents(context.Background(), []string{all[0].tenant, strings.ToUpper(all[1].tenant), "", "not a tenant"})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FileableIncidents = %v, %v; want %v", got, err, want)
	}
}

// TestClaimListRows compares each row with the claim Ledger.Claim loads:
// the page's batched loading gives the same checklist, eligibility and
// evidence counts as the claim's own.
func TestClaimListRows(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	a := openClaimWith(t, l, tenantA, "EX315207", 3, true)
	b := openClaimWith(t, l, tenantB, "EX315208", 2, false)
	fillFields(t, l, a)
	p, err := l.ClaimList(ctx, ClaimQuery{})
	if err != nil || len(p.Claims) != 2 || p.Total != 2 {
		t.Fatalf("ClaimList = %+v, %v; want 2 claims", p, err)
	}
	for _, s := range p.Claims {
		c := mustClaim(t, l, s.ID)
		if s.EvidenceCount != len(c.Evidence) || s.LateEvidence != c.LateEvidence() {
			t.Errorf("claim %d: evidence %d, late %d; want %d, %d", s.ID, s.EvidenceCount, s.LateEvidence, len(c.Evidence), c.LateEvidence())
		}
		if s.Evidence != nil {
			t.Errorf("claim %d: the list row carries its evidence", s.ID)
		}
		// What the checklist reads of it (loadClaim without evidence).
		summary := func(e *claims.Evidence) string {
			if e == nil {
				return "none"
			}
			return fmt.Sprint(e.MessageID, e.SHA256, e.Sender, e.Date)
		}
		if g, w := summary(s.FirstStored), summary(c.FirstStored); g != w {
			t.Errorf("claim %d: first stored evidence %s, want %s", s.ID, g, w)
		}
		c.Evidence, c.FirstStored, s.FirstStored = nil, nil, nil
		if g, w := fmt.Sprintf("%+v", *s.Claim), fmt.Sprintf("%+v", *c); g != w {
			t.Errorf("claim %d: list row\n%s\nwant\n%s", s.ID, g, w)
		}
	}
	if got := ids(p.Claims); fmt.Sprint(got) != fmt.Sprint([]int64{a, b}) && fmt.Sprint(got) != fmt.Sprint([]int64{b, a}) {
		t.Errorf("ClaimList IDs = %v, want %d and %d", got, a, b)
	}
}

func ids(cs []ClaimSummary) []int64 {
	var out []int64
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}
