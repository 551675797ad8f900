package archive

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
)

// bigTables are the tables that grow with the years of mail: a query of a
// page or an API list must find its rows through an index, never by
// reading one of them whole.
var bigTables = []string{"messages", "audit", "claim_evidence", "evidence_decisions", "incident_facts"}

// planWatch records the SQL of every read the ledger runs.
type planWatch struct {
	mu      sync.Mutex
	queries []string
}

func watchQueries(l *Ledger) *planWatch {
	w := &planWatch{}
	observe := func(q string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !slices.Contains(w.queries, q) {
			w.queries = append(w.queries, q)
		}
	}
	l.r.observe, l.reads.observe = observe, observe
	return w
}

// aliasRE finds "messages m", "audit AS a" and such in a query, so that a
// plan's "SCAN m" is known to read messages.
var aliasRE = regexp.MustCompile(`(?i)\b(` + strings.Join(bigTables, "|") + `)\s+(?:AS\s+)?([a-z_][a-z0-9_]*)`)

var sqlWords = map[string]bool{"where": true, "join": true, "on": true, "order": true, "group": true, "limit": true,
	"left": true, "inner": true, "using": true, "set": true, "union": true, "natural": true, "cross": true, "as": true}

// scansOfBigTables explains q and returns the plan steps that read one of
// bigTables, or of extra, whole (SCAN, with or without a covering index).
func scansOfBigTables(t *testing.T, l *Ledger, q string, extra ...string) []string {
	t.Helper()
	tables := append(slices.Clone(bigTables), extra...)
	names := map[string]string{}
	for _, tb := range tables {
		names[tb] = tb
	}
	re := aliasRE
	if len(extra) > 0 {
		re = regexp.MustCompile(`(?i)\b(` + strings.Join(tables, "|") + `)\s+(?:AS\s+)?([a-z_][a-z0-9_]*)`)
	}
	for _, m := range re.FindAllStringSubmatch(q, -1) {
		if !sqlWords[strings.ToLower(m[2])] {
			names[m[2]] = m[1]
		}
	}
	if l.eng == postgresEngine {
		return postgresScans(t, l, q, names)
	}
	n := strings.Count(q, "?")
	rows, err := l.r.Query(`EXPLAIN QUERY PLAN `+q, make([]any, n)...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var bad []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(detail)
		if len(f) >= 2 && f[0] == "SCAN" {
			if tb, ok := names[f[1]]; ok {
				bad = append(bad, detail+" (table "+tb+")")
			}
		}
	}
	return bad
}

// postgresScans is scansOfBigTables on PostgreSQL: q's generic plan (the
// one for any arguments) with sequential scans priced out, so that a Seq
// Scan left means no index serves q, and an index walked whole (no Index
// Cond, nor a Limit above to stop it) is a scan too.
func postgresScans(t *testing.T, l *Ledger, q string, names map[string]string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := l.r.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range []string{`SET enable_seqscan = off`, `SET plan_cache_mode = force_generic_plan`, `PREPARE plancheck AS ` + q} {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	defer conn.ExecContext(ctx, `DEALLOCATE plancheck; RESET enable_seqscan; RESET plan_cache_mode`)
	nulls := strings.TrimSuffix(strings.Repeat("NULL, ", strings.Count(q, "?")), ", ")
	explain := `EXPLAIN EXECUTE plancheck`
	if nulls != "" {
		explain += `(` + nulls + `)`
	}
	rows, err := conn.QueryContext(ctx, explain)
	if err != nil {
		t.Fatalf("%s for %s: %v", explain, q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	scanRE := regexp.MustCompile(`(Seq Scan|Bitmap Heap Scan|Index Scan|Index Scan Backward|Index Only Scan|Index Only Scan Backward) (?:using \S+ )?on (\S+)(?: (\S+))?`)
	indentOf := func(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }
	var bad []string
	for i, line := range plan {
		m := scanRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		tb, big := names[m[2]]
		if m[3] != "" && !big {
			tb, big = names[m[3]]
		}
		if !big {
			continue
		}
		if m[1] == "Seq Scan" {
			bad = append(bad, strings.TrimSpace(line)+" (table "+tb+")")
			continue
		}
		// An index walk is bounded by a condition on the index, or by a
		// Limit above it when it returns every row it reads (no Filter).
		var sub []string
		for _, d := range plan[i+1:] {
			if indentOf(d) <= indentOf(line) {
				break
			}
			sub = append(sub, d)
		}
		detail := strings.Join(sub, "\n")
		bounded := strings.Contains(detail, "Index Cond")
		for j := i - 1; j >= 0 && !bounded && !strings.Contains(detail, "Filter:"); j-- {
			if strings.Contains(plan[j], "Limit") {
				bounded = true
			}
			if strings.Contains(plan[j], "Sort") || strings.Contains(plan[j], "Aggregate") || strings.Contains(plan[j], "Hash") {
				break
			}
		}
		if !bounded {
			bad = append(bad, strings.TrimSpace(line)+" (whole index of table "+tb+")")
		}
	}
	return bad
}

// TestHotQueryPlans runs the reads behind the pages and API lists on a
// ledger without statistics, as a partner's is, and checks that none of
// them reads a big table whole: their cost must follow what they return.
func TestHotQueryPlans(t *testing.T) {
	ctx := context.Background()
	l, ids := queryFixture(t)
	claimID := openClaimWith(t, l, tenantA, "EX315207", 2, true)
	openClaimWith(t, l, tenantB, "EX315208", 1, false)
	w := watchQueries(l)
	calls := []struct {
		name string
		fn   func() error
	}{
		{"triage list", func() error {
			_, err := l.Messages(ctx, MessageFilter{Verdicts: []rules.Verdict{rules.Rejected, rules.Unmatched}, Limit: 50})
			return err
		}},
		{"triage next page", func() error {
			_, err := l.Messages(ctx, MessageFilter{Verdicts: []rules.Verdict{rules.Rejected, rules.Unmatched}, Before: ids[5], Limit: 50})
			return err
		}},
		{"verdict with reasons", func() error {
			_, err := l.Messages(ctx, MessageFilter{Verdicts: []rules.Verdict{rules.Rejected},
				Reasons: []rules.Reason{rules.ReasonUnknownDomain}, Limit: 50})
			return err
		}},
		{"re-match offer", func() error {
			_, err := l.RematchCandidates(ctx, []string{"contoso.com", "fabrikam.com"}, 3)
			return err
		}},
		{"counts", func() error { _, err := l.MessageCounts(ctx); return err }},
		{"claim", func() error { _, err := l.Claim(ctx, claimID); return err }},
		{"claim's audit", func() error { _, err := l.AuditEntries(ctx, AuditFilter{Claim: claimID, Limit: 50}); return err }},
		{"audit by actor", func() error { _, err := l.AuditEntries(ctx, AuditFilter{Actor: "anna", Limit: 50}); return err }},
		{"audit by action", func() error {
			_, err := l.AuditEntries(ctx, AuditFilter{Actions: []Action{ActionUserAdded}, Limit: 50})
			return err
		}},
		{"audit by hash prefix", func() error {
			_, err := l.AuditEntries(ctx, AuditFilter{SubjectPrefix: "message:ab", Limit: 50})
			return err
		}},
		{"claim counts", func() error { _, err := l.ClaimCounts(ctx); return err }},
		{"claim tally", func() error { _, err := l.ClaimTally(ctx, ClaimFilter{}, time.Now()); return err }},
		{"fileable incidents", func() error { _, err := l.FileableIncidents(ctx, []string{tenantA, tenantB}); return err }},
		{"message", func() error { _, err := l.Message(ctx, ids[0]); return err }},
		{"incident", func() error { _, err := l.Incident(ctx, "EX315207", time.Now()); return err }},
		{"incident's claims", func() error {
			page, err := l.ClaimList(ctx, ClaimQuery{ClaimFilter: ClaimFilter{IncidentID: "EX315207"}, Limit: 1})
			if err == nil && page.Next != "" {
				_, err = l.ClaimList(ctx, ClaimQuery{ClaimFilter: ClaimFilter{IncidentID: "EX315207"}, Limit: 1, Cursor: page.Next})
			}
			return err
		}},
		{"incident's fileable claims", func() error {
			_, err := l.ClaimList(ctx, ClaimQuery{ClaimFilter: ClaimFilter{IncidentID: "EX315207", Statuses: claims.FileableStatuses()}})
			return err
		}},
		{"incident package", func() error {
			// Its bundles are not in this store: only its queries count.
			l.WriteIncidentPackage(ctx, io.Discard, "EX315207", newMemStore(), "anna", time.Now())
			return nil
		}},
		{"message by hash", func() error { _, err := l.MessageBySHA256(ctx, testRecord(0).SHA256); return err }},
		{"messages list", func() error { _, err := l.MessageList(ctx, MessageQuery{Limit: 2}); return err }},
		{"messages list, oldest first, next page", func() error {
			_, err := l.MessageList(ctx, MessageQuery{Sort: SortOldest, Limit: 2, Cursor: fmt.Sprintf("o%d", ids[1])})
			return err
		}},
		{"messages by verdict", func() error {
			_, err := l.MessageList(ctx, MessageQuery{Verdicts: []rules.Verdict{rules.Rejected, rules.Unmatched}, Limit: 2})
			return err
		}},
		{"search words in triage", func() error {
			_, err := l.MessageList(ctx, MessageQuery{Verdicts: []rules.Verdict{rules.Rejected, rules.Unmatched},
				Search: &Search{Kind: SearchWords, Term: "outage", Words: []string{"outage"}}, Limit: 2})
			return err
		}},
		{"search a sender domain", func() error {
			_, err := l.MessageList(ctx, MessageQuery{Search: &Search{Kind: SearchDomain, Term: "contoso.com"}, Limit: 2})
			return err
		}},
	}
	yes := true
	for _, sort := range []ClaimSort{SortDeadline, SortDeadlineDesc, SortUpdated, SortIncident} {
		for _, f := range []ClaimFilter{{}, {Statuses: []claims.Status{claims.StatusOpen}}, {TenantID: tenantA}, {Eligible: &yes}} {
			calls = append(calls, struct {
				name string
				fn   func() error
			}{fmt.Sprintf("claims by %s, %+v", sort, f), func() error {
				page, err := l.ClaimList(ctx, ClaimQuery{ClaimFilter: f, Sort: sort, Limit: 1})
				if err == nil && page.Next != "" {
					_, err = l.ClaimList(ctx, ClaimQuery{ClaimFilter: f, Sort: sort, Limit: 1, Cursor: page.Next})
				}
				return err
			}})
		}
	}
	for _, sort := range []IncidentSort{IncidentSortDeadline, IncidentSortNewest} {
		calls = append(calls, struct {
			name string
			fn   func() error
		}{fmt.Sprintf("incidents by %s", sort), func() error {
			page, err := l.IncidentList(ctx, IncidentQuery{Sort: sort, Limit: 1})
			if err == nil && page.Next != "" {
				_, err = l.IncidentList(ctx, IncidentQuery{Sort: sort, Limit: 1, Cursor: page.Next})
			}
			return err
		}})
	}
	for _, c := range calls {
		if err := c.fn(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	if len(w.queries) < len(calls) {
		t.Fatalf("watched %d queries for %d calls: the watch misses reads", len(w.queries), len(calls))
	}
	for _, q := range w.queries {
		if bad := scansOfBigTables(t, l, q); len(bad) > 0 {
			t.Errorf("query reads a big table whole: %s\n%s", strings.Join(bad, "; "), q)
		}
	}
}

// TestSearchQueryPlans runs every kind of search, and the messages list,
// on a ledger without statistics and checks that none reads messages,
// claims or another big table whole: each walks its index or the text
// index (migration 0014).
func TestSearchQueryPlans(t *testing.T) {
	ctx := context.Background()
	l, _, _ := searchFixture(t)
	w := watchQueries(l)
	triage := []rules.Verdict{rules.Rejected, rules.Unmatched}
	for _, q := range []string{"EX315207", tenantA, "jane@contoso.com", "contoso.com", "2602150040001234", "exchange outage", "Contoso"} {
		s, err := ParseSearch(q)
		if err != nil {
			t.Fatal(err)
		}
		for _, mq := range []MessageQuery{{Search: &s, Limit: 1}, {Search: &s, Verdicts: triage, Limit: 1},
			{Search: &s, Sort: SortOldest, Limit: 1, Cursor: "o1"}} {
			if _, err := l.MessageList(ctx, mq); err != nil {
				t.Fatalf("MessageList(%s): %v", q, err)
			}
		}
		for _, sort := range []ClaimSort{SortDeadline, SortUpdated, SortIncident} {
			if _, err := l.ClaimList(ctx, ClaimQuery{ClaimFilter: ClaimFilter{Search: &s}, Sort: sort, Limit: 1}); err != nil {
				t.Fatalf("ClaimList(%s): %v", q, err)
			}
		}
		if _, err := l.SearchTenants(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, mq := range []MessageQuery{{Limit: 1}, {Sort: SortOldest, Limit: 1}, {Verdicts: triage, Limit: 1, Cursor: "3"},
		{Verdicts: triage, Sort: SortOldest, Limit: 1}} {
		if _, err := l.MessageList(ctx, mq); err != nil {
			t.Fatalf("MessageList(%+v): %v", mq, err)
		}
	}
	for _, q := range w.queries {
		if !strings.Contains(q, "message_search") && !strings.Contains(q, "sender") && !strings.Contains(q, "tenant_id = ?") &&
			!strings.Contains(q, "ticket") && !strings.Contains(q, "LIKE") && !strings.Contains(q, "m.verdict") && !strings.Contains(q, "FROM messages m ORDER") {
			continue // the claims list's own reads, checked by TestHotQueryPlans
		}
		if bad := scansOfBigTables(t, l, q, "claims"); len(bad) > 0 {
			t.Errorf("query reads a big table whole: %s\n%s", strings.Join(bad, "; "), q)
		}
	}
}

// TestPlanCheckFindsScans keeps the check honest: a query that reads
// messages whole, under an alias or not, is caught.
func TestPlanCheckFindsScans(t *testing.T) {
	l := newTestLedger(t)
	for _, q := range []string{
		`SELECT COUNT(*) FROM messages WHERE subject = ?`,
		`SELECT m.id FROM messages m WHERE m.sender LIKE ?`,
		`SELECT a.seq FROM audit AS a WHERE instr(a.subject, ?) > 0 ORDER BY a.seq DESC LIMIT 10`,
	} {
		if bad := scansOfBigTables(t, l, q); len(bad) == 0 {
			t.Errorf("no scan found in the plan of %s", q)
		}
	}
}
