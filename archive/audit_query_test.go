package archive

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestAuditSubjectExactAndPrefix checks that an exact subject is exact
// ("claim:3" is not "claim:31") and that a prefix is a prefix, for the
// subjects of messages (found through audit_messages) and the others
// (audit_subject) alike.
func TestAuditSubjectExactAndPrefix(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	hash := func(start string) string { return start + strings.Repeat("0", 64-len(start)) }
	h1, h2, h3 := hash("ab12ff1"), hash("ab13"), hash("ab10")
	var subjects []string
	for i, h := range []string{h1, h2, h3} {
		rec := testRecord(i)
		rec.SHA256 = h
		mustRecord(t, l, rec) // a message_received entry each
		subjects = append(subjects, "message:"+h)
	}
	for _, s := range append(subjects, "claim:3", "claim:31", "claim:4", "tenants") {
		if _, err := l.AppendAudit(ctx, "anna", ActionBundleDownloaded, s, nil); err != nil {
			t.Fatal(err)
		}
	}
	m1, m2, m3 := "message:"+h1, "message:"+h2, "message:"+h3
	for _, tt := range []struct {
		f    AuditFilter
		want []string
	}{
		{AuditFilter{Subject: "claim:3"}, []string{"claim:3"}},
		{AuditFilter{SubjectPrefix: "claim:3"}, []string{"claim:31", "claim:3"}},
		{AuditFilter{Subject: m1}, []string{m1, m1}},
		{AuditFilter{Subject: m1, Actor: "anna"}, []string{m1}},
		{AuditFilter{Subject: "message:" + hash("ab12")}, nil},
		{AuditFilter{SubjectPrefix: "message:ab12"}, []string{m1, m1}},
		{AuditFilter{SubjectPrefix: "message:ab1", Actions: []Action{ActionBundleDownloaded}}, []string{m3, m2, m1}},
		{AuditFilter{SubjectPrefix: "message:ab1", Limit: 4}, []string{m3, m2, m1, m3}},
		{AuditFilter{SubjectPrefix: "message:ab12ff0"}, nil},
		{AuditFilter{SubjectPrefix: "message:ab12", Subject: "claim:3"}, nil},
		{AuditFilter{Subject: "tenants"}, []string{"tenants"}},
		{AuditFilter{SubjectPrefix: "t"}, []string{"tenants"}},
	} {
		es, err := l.AuditEntries(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.Subject)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("AuditEntries(%+v) subjects = %v, want %v", tt.f, got, tt.want)
		}
	}
	// A prefix that takes in every message would read millions of entries.
	for _, p := range []string{"m", "message"} {
		if _, err := l.AuditEntries(ctx, AuditFilter{SubjectPrefix: p}); err == nil {
			t.Errorf("AuditEntries(prefix %q) succeeded, want an error asking for a hash", p)
		}
	}
}

// TestAuditClaimFilter checks AuditFilter.Claim against ExportAudit's
// claim export, newest first, and its paging.
func TestAuditClaimFilter(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	a := openClaimWith(t, l, tenantA, "EX315207", 3, true)
	openClaimWith(t, l, tenantB, "SP123456", 2, true)
	if err := l.SetClaimField(ctx, a, "ticket", "SR-1", "alice"); err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, e := range allAudit(t, l) {
		c, _ := l.Claim(ctx, a)
		ok := e.Subject == claimSubject(a)
		for _, ev := range c.Evidence {
			ok = ok || e.Subject == messageSubject(ev.SHA256)
		}
		if ok {
			want = append(want, e.Seq)
		}
	}
	slices.Reverse(want)
	if len(want) < 6 {
		t.Fatalf("the fixture gives claim %d only %d entries", a, len(want))
	}
	var got []int64
	before := int64(0)
	for page := 0; ; page++ {
		es, err := l.AuditEntries(ctx, AuditFilter{Claim: a, Before: before, Limit: 4})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got = append(got, e.Seq)
		}
		if len(es) < 4 {
			break
		}
		before = es[len(es)-1].Seq
		if page == 0 {
			// An entry appended between two pages does not shift the
			// next one.
			if _, err := l.AppendAudit(ctx, "anna", ActionBundleDownloaded, claimSubject(a), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("claim %d audit, in pages of 4 = %v, want %v", a, got, want)
	}
	if _, err := l.AuditEntries(ctx, AuditFilter{Claim: 999}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AuditEntries(missing claim) = %v, want not found", err)
	}
}

// TestAuditQueryPlans checks that no filter of AuditEntries, nor a claim's
// audit, reads the whole audit table (or messages): at millions of
// entries that takes seconds.
func TestAuditQueryPlans(t *testing.T) {
	sqliteOnly(t, "reads EXPLAIN QUERY PLAN")
	l := newTestLedger(t)
	a := openClaimWith(t, l, tenantA, "EX315207", 2, true)
	sha := strings.Repeat("ab", 32)
	// A subject is a message's (audit_messages) or another's (audit_subject).
	for _, subject := range []string{"claim:3", "message:" + sha} {
		checkAuditPlans(t, l, []AuditFilter{
			{Actions: []Action{ActionUserAdded}},
			{Actor: "admin"},
			{Subject: subject},
			{SubjectPrefix: "message:" + sha[:8]},
			{Claim: a},
		})
	}
	checkAuditPlans(t, l, []AuditFilter{{SubjectPrefix: "claim:1"}, {Actor: "admin"}})
	plan := queryPlan(t, l, claimMessagesQuery("+"), a, claimSubject(a), string(ActionEvidenceAttached), claimSubject(a), string(ActionClaimUpdated))
	if strings.Contains(plan, "SCAN audit") || strings.Contains(plan, "SCAN messages") || strings.Contains(plan, "SCAN e") || strings.Contains(plan, "SCAN m") {
		t.Errorf("a claim's messages: the plan scans a table:\n%s", plan)
	}
	// The action index holds every attach of every claim: walking it
	// reads the whole history of the ledger's claims.
	if strings.Contains(plan, "audit_action") || !strings.Contains(plan, "audit_subject") {
		t.Errorf("a claim's messages: the plan does not look the claim's entries up by subject:\n%s", plan)
	}
}

// checkAuditPlans explains AuditEntries' query for every combination of
// conds, with and without a page boundary.
func checkAuditPlans(t *testing.T, l *Ledger, conds []AuditFilter) {
	t.Helper()
	ctx := context.Background()
	for mask := 1; mask < 1<<len(conds); mask++ {
		for _, before := range []int64{0, 1000} {
			var f AuditFilter
			for i, c := range conds {
				if mask&(1<<i) == 0 {
					continue
				}
				f.Actions = append(f.Actions, c.Actions...)
				f.Actor += c.Actor
				f.Subject += c.Subject
				f.SubjectPrefix += c.SubjectPrefix
				f.Claim += c.Claim
			}
			f.Before, f.Limit = before, 201
			for _, desc := range []bool{true, false} {
				q, args, err := l.auditQuery(ctx, f, desc)
				if err != nil {
					t.Fatal(err)
				}
				plan := queryPlan(t, l, q, args...)
				if strings.Contains(plan, "SCAN audit") || strings.Contains(plan, "SCAN messages") ||
					strings.Contains(plan, "SCAN m ") || strings.Contains(plan, "SCAN am") {
					t.Errorf("AuditEntries(%+v), desc %v: the plan scans a table:\n%s\n%s", f, desc, q, plan)
				}
				// A subject selects few entries: its index, not the
				// actor's or the action's, must drive.
				bySubject := strings.Contains(plan, "INDEX audit_subject (subject") ||
					strings.Contains(plan, "USING PRIMARY KEY (message_id=?)")
				if (f.Subject != "" || f.SubjectPrefix != "" || f.Claim > 0) && !bySubject {
					t.Errorf("AuditEntries(%+v): the plan does not look subjects up in audit_subject or audit_messages:\n%s", f, plan)
				}
				// A filter without a range reads its page in index order,
				// without sorting every match.
				if f.SubjectPrefix == "" && f.Claim == 0 && len(f.Actions) <= 1 && strings.Contains(plan, "TEMP B-TREE") {
					t.Errorf("AuditEntries(%+v), desc %v: the plan sorts every match:\n%s", f, desc, plan)
				}
			}
		}
	}
}

func queryPlan(t *testing.T, l *Ledger, q string, args ...any) string {
	t.Helper()
	rows, err := l.r.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, detail)
	}
	return b.String()
}
