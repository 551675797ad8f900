package archive

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

func rejected(reason rules.Reason) rules.Judgment {
	return rules.Judgment{Verdict: rules.Rejected, Reason: reason, Sender: "jane@gmail.com", SenderDomain: "gmail.com"}
}

func unmatched(tenant string) rules.Judgment {
	return rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, Sender: "jane@contoso.com",
		SenderDomain: "contoso.com", TenantID: tenant}
}

// queryFixture records messages 0..7 and judges them: 0, 1 accepted; 2, 5
// rejected; 3, 6 unmatched; 4 rejected then reprocessed as accepted; 7 not
// judged. It returns the ledger and the message IDs by index.
func queryFixture(t testing.TB) (*Ledger, []int64) {
	t.Helper()
	ctx := context.Background()
	l := newTestLedger(t)
	judgments := []*rules.Judgment{
		ptr(accepted(tenantA, "EX315207")), ptr(accepted(tenantB, "EX315208")),
		ptr(rejected(rules.ReasonPersonalAddress)), ptr(unmatched(tenantA)),
		ptr(rejected(rules.ReasonUnknownDomain)), ptr(rejected(rules.ReasonPersonalAddress)),
		ptr(unmatched(tenantB)), nil,
	}
	var ids []int64
	for i, j := range judgments {
		m := mustRecord(t, l, testRecord(i))
		ids = append(ids, m.ID)
		if j == nil {
			continue
		}
		if _, _, err := l.RecordJudgment(ctx, m.ID, *j, rules.Version); err != nil {
			t.Fatalf("RecordJudgment(%d): %v", i, err)
		}
	}
	if _, err := l.reprocessMessage(ctx, ids[4], accepted(tenantA, "EX315207"), rules.Version, "anna"); err != nil {
		t.Fatalf("reprocessMessage: %v", err)
	}
	if _, err := l.AppendAudit(ctx, "Anna", ActionBundleDownloaded, messageSubject(testRecord(1).SHA256), nil); err != nil {
		t.Fatal(err)
	}
	return l, ids
}

func ptr[T any](v T) *T { return &v }

func TestMessages(t *testing.T) {
	ctx := context.Background()
	l, ids := queryFixture(t)
	// pick returns the IDs of the fixture messages at the given indexes,
	// newest first, as Messages orders them.
	pick := func(idx ...int) []int64 {
		var out []int64
		for _, i := range idx {
			out = append(out, ids[i])
		}
		slices.Sort(out)
		slices.Reverse(out)
		return out
	}
	tests := []struct {
		name    string
		f       MessageFilter
		want    []int64
		wantErr string
	}{
		{"all, judged or not", MessageFilter{}, pick(0, 1, 2, 3, 4, 5, 6, 7), ""},
		{"triage: rejected and unmatched", MessageFilter{Verdicts: []rules.Verdict{rules.Rejected, rules.Unmatched}}, pick(2, 3, 5, 6), ""},
		{"current verdict after reprocessing", MessageFilter{Verdicts: []rules.Verdict{rules.Accepted}}, pick(0, 1, 4), ""},
		{"limit", MessageFilter{Verdicts: []rules.Verdict{rules.Rejected, rules.Unmatched}, Limit: 2}, pick(5, 6), ""},
		{"before", MessageFilter{Verdicts: []rules.Verdict{rules.Rejected, rules.Unmatched}, Before: ids[5]}, pick(2, 3), ""},
		{"before the first", MessageFilter{Before: ids[0]}, nil, ""},
		{"unknown verdict", MessageFilter{Verdicts: []rules.Verdict{"maybe"}}, nil, `unknown verdict "maybe"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Messages(ctx, tt.f)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Messages(%+v) error = %v, want one containing %q", tt.f, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Messages(%+v): %v", tt.f, err)
			}
			var gotIDs []int64
			for _, m := range got {
				gotIDs = append(gotIDs, m.ID)
			}
			if !slices.Equal(gotIDs, tt.want) {
				t.Errorf("Messages(%+v) = %v, want %v", tt.f, gotIDs, tt.want)
			}
			for _, m := range got {
				if len(tt.f.Verdicts) > 0 && (m.Judgment == nil || !slices.Contains(tt.f.Verdicts, m.Judgment.Verdict)) {
					t.Errorf("Messages(%+v) returned message %d with judgment %+v", tt.f, m.ID, m.Judgment)
				}
			}
		})
	}

	// Paging with Before walks the same list as one call.
	f := MessageFilter{Verdicts: []rules.Verdict{rules.Rejected, rules.Unmatched}, Limit: 3}
	var paged []int64
	for {
		page, err := l.Messages(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			paged = append(paged, m.ID)
		}
		if len(page) < f.Limit {
			break
		}
		f.Before = page[len(page)-1].ID
	}
	if want := pick(2, 3, 5, 6); !slices.Equal(paged, want) {
		t.Errorf("paged Messages = %v, want %v", paged, want)
	}
}

func TestMessageCounts(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	got, err := l.MessageCounts(ctx)
	if err != nil || len(got) != 0 {
		t.Errorf("MessageCounts(empty ledger) = %v, %v; want an empty map", got, err)
	}
	l, _ = queryFixture(t)
	got, err = l.MessageCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Count what Messages says each message's verdict is now.
	all, err := l.Messages(ctx, MessageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[rules.Verdict]int{}
	for _, m := range all {
		if m.Judgment != nil {
			want[m.Judgment.Verdict]++
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("MessageCounts() = %v, want %v", got, want)
	}
	if got[rules.Accepted] != 3 || got[rules.Rejected] != 2 || got[rules.Unmatched] != 2 {
		t.Errorf("MessageCounts() = %v, want 3 accepted (one of them reprocessed), 2 rejected, 2 unmatched", got)
	}
}

// allAudit reads the whole trail through ExportAudit, oldest first.
func allAudit(t *testing.T, l *Ledger) []AuditEntry {
	t.Helper()
	var sb strings.Builder
	if err := l.ExportAudit(context.Background(), &sb, AuditJSONL, 0); err != nil {
		t.Fatal(err)
	}
	var out []AuditEntry
	sc := bufio.NewScanner(strings.NewReader(sb.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// filterAudit is AuditEntries written plainly over the exported trail,
// the oracle the query is checked against.
func filterAudit(all []AuditEntry, f AuditFilter) []int64 {
	var out []int64
	for _, e := range slices.Backward(all) {
		if (len(f.Actions) == 0 || slices.Contains(f.Actions, e.Action)) &&
			(f.Actor == "" || strings.EqualFold(e.Actor, f.Actor)) &&
			(f.Subject == "" || e.Subject == f.Subject) &&
			(f.SubjectPrefix == "" || strings.HasPrefix(e.Subject, f.SubjectPrefix)) &&
			(f.Before == 0 || e.Seq < f.Before) &&
			(f.Limit <= 0 || len(out) < f.Limit) {
			out = append(out, e.Seq)
		}
	}
	return out
}

func TestAuditEntries(t *testing.T) {
	ctx := context.Background()
	l, _ := queryFixture(t)
	all := allAudit(t, l)
	head := all[len(all)-1].Seq
	sha1 := testRecord(1).SHA256
	tests := []struct {
		name    string
		f       AuditFilter
		atLeast int // the oracle must find this many, so the case tests something
	}{
		{"everything", AuditFilter{}, 20},
		{"one action", AuditFilter{Actions: []Action{ActionClaimCreated}}, 2},
		{"two actions", AuditFilter{Actions: []Action{ActionJudged, ActionReprocessed}}, 8},
		{"an action nobody took", AuditFilter{Actions: []Action{"frobnicated"}}, 0},
		{"actor in another case", AuditFilter{Actor: "ANNA"}, 2},
		{"system", AuditFilter{Actor: ActorSystem, Limit: 5}, 5},
		{"exact subject", AuditFilter{Subject: messageSubject(sha1)}, 3},
		{"exact subject is not a prefix", AuditFilter{Subject: "message:" + sha1[:12]}, 0},
		{"subject prefix of a hash", AuditFilter{SubjectPrefix: "message:" + sha1[:12]}, 3},
		{"subject prefix is case-sensitive", AuditFilter{SubjectPrefix: "CLAIM:"}, 0},
		{"subject prefix is not a substring", AuditFilter{SubjectPrefix: sha1[:12]}, 0},
		{"every claim", AuditFilter{SubjectPrefix: "claim:"}, 4},
		{"before", AuditFilter{Before: head - 3}, 10},
		{"page", AuditFilter{Before: head - 3, Limit: 4}, 4},
		{"all together", AuditFilter{Actions: []Action{ActionJudged}, Actor: "system", SubjectPrefix: "message:", Before: head, Limit: 3}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.AuditEntries(ctx, tt.f)
			if err != nil {
				t.Fatalf("AuditEntries(%+v): %v", tt.f, err)
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
				if e.Hash != e.ComputeHash() {
					t.Errorf("AuditEntries(%+v): entry %d comes back with other fields than were hashed", tt.f, e.Seq)
				}
			}
			want := filterAudit(all, tt.f)
			if len(want) < tt.atLeast || (tt.atLeast == 0 && len(want) != 0) {
				t.Fatalf("the fixture gives %d entries for %+v, want at least %d: fix the fixture", len(want), tt.f, tt.atLeast)
			}
			if !slices.Equal(seqs, want) {
				t.Errorf("AuditEntries(%+v) = seqs %v, want %v", tt.f, seqs, want)
			}
		})
	}
}

// benchLedger fills a ledger with n messages, a tenth of them rejected or
// unmatched, as in a mailbox where most mail counts.
func benchLedger(b *testing.B, n int) *Ledger {
	b.Helper()
	ctx := context.Background()
	l := newTestLedger(b)
	for i := range n {
		rec := testRecord(i)
		rec.SHA256 = shaOf(fmt.Sprintf("query bench %d", i))
		m, _, err := l.RecordMessage(ctx, rec)
		if err != nil {
			b.Fatal(err)
		}
		j := accepted(tenantA, fmt.Sprintf("EX%06d", 300000+i%50))
		switch i % 20 {
		case 0:
			j = rejected(rules.ReasonPersonalAddress)
		case 1:
			j = unmatched(tenantA)
		}
		if _, _, err := l.RecordJudgment(ctx, m.ID, j, rules.Version); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// BenchmarkQueries times the queries the web app runs per page or scrape
// on a ledger of 5,000 messages (about 16,000 audit entries).
func BenchmarkQueries(b *testing.B) {
	ctx := context.Background()
	l := benchLedger(b, 5000)
	triage := []rules.Verdict{rules.Rejected, rules.Unmatched}
	b.Run("Messages/triage-page", func(b *testing.B) {
		for b.Loop() {
			if ms, err := l.Messages(ctx, MessageFilter{Verdicts: triage, Limit: 501}); err != nil || len(ms) != 500 {
				b.Fatalf("Messages = %d, %v", len(ms), err)
			}
		}
	})
	b.Run("MessageCounts", func(b *testing.B) {
		for b.Loop() {
			if c, err := l.MessageCounts(ctx); err != nil || c[rules.Accepted] != 4500 {
				b.Fatalf("MessageCounts = %v, %v", c, err)
			}
		}
	})
	b.Run("AuditEntries/newest-200", func(b *testing.B) {
		for b.Loop() {
			if es, err := l.AuditEntries(ctx, AuditFilter{Limit: 201}); err != nil || len(es) != 201 {
				b.Fatalf("AuditEntries = %d, %v", len(es), err)
			}
		}
	})
	b.Run("AuditEntries/rare-action", func(b *testing.B) {
		for b.Loop() {
			if _, err := l.AuditEntries(ctx, AuditFilter{Actions: []Action{ActionReprocessed}, Limit: 201}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestActions checks the list the audit page's filter offers: each action
// once, each accepted by AppendAudit, and a copy the caller may change.
func TestActions(t *testing.T) {
	l := newTestLedger(t)
	seen := map[Action]bool{}
	for _, a := range Actions() {
		if seen[a] {
			t.Errorf("Actions() lists %q twice", a)
		}
		seen[a] = true
		if _, err := l.AppendAudit(context.Background(), "anna", a, "test", nil); err != nil {
			t.Errorf("AppendAudit(%q): %v", a, err)
		}
	}
	for _, a := range []Action{ActionUserAdded, ActionTokenRevoked, ActionTenantsImported, ActionReprocessed} {
		if !seen[a] {
			t.Errorf("Actions() lacks %q", a)
		}
	}
	Actions()[0] = "changed"
	if Actions()[0] == "changed" {
		t.Errorf("Actions() returns the package's own slice")
	}
}
