package archive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

// rejectedFrom is a rejection of mail from domain under registry version.
func rejectedFrom(reason rules.Reason, domain string, registry int64) rules.Judgment {
	return rules.Judgment{Verdict: rules.Rejected, Reason: reason, Sender: "jane@" + domain, SenderDomain: domain,
		RegistryVersion: registry}
}

func TestRematchCandidates(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	cases := []struct {
		j    rules.Judgment
		want bool
	}{
		{rejectedFrom(rules.ReasonUnknownDomain, "contoso.com", 1), true},
		{rejectedFrom(rules.ReasonUnknownDomain, "it.contoso.com", 0), true},
		{rejectedFrom(rules.ReasonUnknownDomain, "Mail.IT.Contoso.COM", 1), true},
		{rejectedFrom(rules.ReasonTenantMismatch, "contoso.com", 1), true},
		{rejectedFrom(rules.ReasonUnknownDomain, "evilcontoso.com", 1), false},
		{rejectedFrom(rules.ReasonUnknownDomain, "contoso.com.evil.net", 1), false},
		{rejectedFrom(rules.ReasonUnknownDomain, "com", 1), false},
		{rejectedFrom(rules.ReasonUnknownDomain, "fabrikam.com", 1), false},
		{rejectedFrom(rules.ReasonUnknownDomain, "contoso.com", 2), false}, // judged under the registry as it is
		{rejectedFrom(rules.ReasonPersonalAddress, "contoso.com", 1), false},
		{rejectedFrom(rules.ReasonUnknownDomain, "", 1), false},
		{unmatched(tenantA), false},
	}
	var want []int64
	ids := make([]int64, len(cases))
	for i, c := range cases {
		m := mustRecord(t, l, testRecord(i))
		ids[i] = m.ID
		if _, _, err := l.RecordJudgment(ctx, m.ID, c.j, rules.Version); err != nil {
			t.Fatalf("RecordJudgment(%d): %v", i, err)
		}
		if c.want {
			want = append(want, m.ID)
		}
	}
	slices.Reverse(want)
	got := func(domains ...string) []int64 {
		t.Helper()
		msgs, err := l.RematchCandidates(ctx, domains, 2)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, m := range msgs {
			out = append(out, m.ID)
		}
		return out
	}
	if g := got("contoso.com"); !slices.Equal(g, want) {
		t.Errorf("RematchCandidates(contoso.com) = %v, want %v", g, want)
	}
	// Overlapping registry domains find each message once.
	if g := got("contoso.com", "it.contoso.com", "fabrikam.com"); len(g) != len(want)+1 {
		t.Errorf("RematchCandidates(contoso.com, it.contoso.com, fabrikam.com) = %v, want %v and fabrikam's", g, want)
	}
	if g := got(); len(g) != 0 {
		t.Errorf("RematchCandidates() = %v, want none", g)
	}
	// Re-judged as accepted, a message is no candidate any more; rejected
	// again for another reason, neither.
	if _, err := l.reprocessMessage(ctx, ids[0], accepted(tenantA, "EX315207"), rules.Version, "anna"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.reprocessMessage(ctx, ids[1], rejectedFrom(rules.ReasonPersonalAddress, "it.contoso.com", 1), rules.Version, "anna"); err != nil {
		t.Fatal(err)
	}
	if g := got("contoso.com"); !slices.Equal(g, want[:len(want)-2]) {
		t.Errorf("after re-judging: RematchCandidates(contoso.com) = %v, want %v", g, want[:len(want)-2])
	}
}

// TestReverseDomainMatchesTrigger checks the Go reversal the query uses
// against the SQL one the triggers store.
func TestReverseDomainMatchesTrigger(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	domains := []string{"contoso.com", "a.b.c.d.e.example.org", "xn--bcher-kva.example", "localhost", "CONTOSO.COM"}
	for i, d := range domains {
		m := mustRecord(t, l, testRecord(i))
		if _, _, err := l.RecordJudgment(ctx, m.ID, rejectedFrom(rules.ReasonUnknownDomain, d, 0), rules.Version); err != nil {
			t.Fatal(err)
		}
		var stored string
		if err := l.r.QueryRowContext(ctx, `SELECT sender_domain_rev FROM messages WHERE id = ?`, m.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if want := reverseDomain(d); stored != want {
			t.Errorf("%s: trigger stored %q, reverseDomain gives %q", d, stored, want)
		}
	}
}

// TestMessageCountsFollowVerdicts checks the trigger-kept counts against
// counting the messages, through random recording and re-judging.
func TestMessageCountsFollowVerdicts(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	rng := rand.New(rand.NewPCG(19, 7))
	judgments := []rules.Judgment{accepted(tenantA, "EX315207"), rejected(rules.ReasonPersonalAddress),
		unmatched(tenantB), rejected(rules.ReasonUnknownDomain)}
	var ids []int64
	for i := range 60 {
		if len(ids) == 0 || rng.IntN(3) > 0 {
			m := mustRecord(t, l, testRecord(i))
			ids = append(ids, m.ID)
			if rng.IntN(4) == 0 {
				continue // recorded, not judged yet
			}
			if _, _, err := l.RecordJudgment(ctx, m.ID, judgments[rng.IntN(len(judgments))], rules.Version); err != nil {
				t.Fatal(err)
			}
			continue
		}
		id := ids[rng.IntN(len(ids))]
		if _, err := l.reprocessMessage(ctx, id, judgments[rng.IntN(len(judgments))], rules.Version, "anna"); err != nil {
			t.Fatalf("reprocess %d: %v", id, err)
		}
	}
	got, err := l.MessageCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[rules.Verdict]int{}
	rows, err := l.r.QueryContext(ctx, `SELECT verdict, COUNT(*) FROM messages WHERE verdict IS NOT NULL GROUP BY verdict`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		want[rules.Verdict(v)] = n
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(want) < 3 {
		t.Errorf("MessageCounts() = %v, counting gives %v", got, want)
	}
}
