package archive

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

// bundled records message i, judged j and bundled as judgment 1, as the
// pipeline leaves it.
func bundled(t *testing.T, l *Ledger, i int, j rules.Judgment) (*Message, string) {
	t.Helper()
	ctx := context.Background()
	m := mustRecord(t, l, testRecord(i))
	if _, _, err := l.RecordJudgment(ctx, m.ID, j, "old"); err != nil {
		t.Fatal(err)
	}
	prefix := "bundles/" + m.SHA256 + "/"
	if err := l.SetBundle(ctx, m.ID, prefix+"1.zip", shaOf("bundle 1")); err != nil {
		t.Fatal(err)
	}
	return m, prefix
}

func TestRecordRejudgment(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	rejected := rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonUnknownDomain, IncidentIDs: []string{"EX315207"}}
	m, prefix := bundled(t, l, 1, rejected)
	audit0 := countRows(t, l, `SELECT COUNT(*) FROM audit`)

	r := Rejudgment{Judgment: accepted(tenantA, "EX315207"), RulesVersion: "new", BundleKey: prefix + "2.zip",
		BundleSHA256: shaOf("bundle 2"), Actor: "cli:alice"}
	atts, changed, err := l.RecordRejudgment(ctx, m.ID, r)
	if err != nil {
		t.Fatalf("RecordRejudgment(2.zip): %v", err)
	}
	if !changed || len(atts) != 1 || atts[0].IncidentID != "EX315207" || !atts[0].ClaimCreated {
		t.Errorf("RecordRejudgment(2.zip) = %v, changed %v; want the new EX315207 claim, changed", atts, changed)
	}
	got, err := l.Message(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.BundleKey != r.BundleKey || got.BundleSHA256 != r.BundleSHA256 || got.Judgment.Verdict != rules.Accepted || got.RulesVersion != "new" {
		t.Errorf("message after RecordRejudgment = key %s sha %s verdict %s rules %s; want %s, %s, accepted, new",
			got.BundleKey, got.BundleSHA256[:8], got.Judgment.Verdict, got.RulesVersion, r.BundleKey, r.BundleSHA256[:8])
	}
	c, err := l.ClaimFor(ctx, tenantA, "EX315207")
	if err != nil || len(c.Evidence) != 1 || c.Evidence[0].BundleKey != r.BundleKey {
		t.Errorf("claim after RecordRejudgment = %+v (%v), want the message as evidence with bundle 2", c, err)
	}
	for _, action := range []Action{ActionBundleStored, ActionReprocessed, ActionEvidenceAttached, ActionClaimCreated} {
		if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND actor = 'cli:alice'`, string(action)); n != 1 {
			t.Errorf("audit entries %s by cli:alice = %d, want 1", action, n)
		}
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND json_extract(details, '$.previous_key') = ?`,
		string(ActionBundleStored), prefix+"1.zip"); n != 1 {
		t.Errorf("bundle_stored entries naming the previous key = %d, want 1", n)
	}
	if rep, err := l.VerifyAudit(ctx, nil); err != nil || len(rep.Problems) != 0 {
		t.Errorf("VerifyAudit = %+v, %v; want no problems", rep, err)
	}

	// The same rejudgment again is a no-op: a retry after a lost reply.
	audit1 := countRows(t, l, `SELECT COUNT(*) FROM audit`)
	if audit1 <= audit0 {
		t.Fatalf("audit entries %d -> %d, want more", audit0, audit1)
	}
	atts, changed, err = l.RecordRejudgment(ctx, m.ID, r)
	if err != nil || changed || len(atts) != 1 {
		t.Errorf("RecordRejudgment again = %v, changed %v, %v; want the same attachment, unchanged", atts, changed, err)
	}
	// As read back from the bundle's manifest, empty lists are [] not nil.
	fromManifest := r
	fromManifest.Judgment.Warnings = []string{}
	if _, changed, err := l.RecordRejudgment(ctx, m.ID, fromManifest); err != nil || changed {
		t.Errorf("RecordRejudgment again with [] warnings = changed %v, %v; want unchanged", changed, err)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit`); n != audit1 {
		t.Errorf("audit entries after a repeated RecordRejudgment = %d, want %d", n, audit1)
	}

	// Write-once: bundle 1 can never come back through SetBundle.
	if err := l.SetBundle(ctx, m.ID, prefix+"1.zip", shaOf("bundle 1")); !errors.Is(err, ErrExists) {
		t.Errorf("SetBundle(1.zip) after judgment 2 = %v, want ErrExists", err)
	}

	unmatched := rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, TenantID: tenantA}
	tests := []struct {
		name    string
		r       Rejudgment
		wantErr error // errAny: some error that is not ErrExists
	}{
		{"same key, other bundle", Rejudgment{Judgment: r.Judgment, RulesVersion: "new", BundleKey: r.BundleKey, BundleSHA256: shaOf("other"), Actor: "anna"}, ErrExists},
		{"same key, other judgment", Rejudgment{Judgment: unmatched, RulesVersion: "new", BundleKey: r.BundleKey, BundleSHA256: r.BundleSHA256, Actor: "anna"}, ErrExists},
		{"an older number", Rejudgment{Judgment: unmatched, BundleKey: prefix + "1.zip", BundleSHA256: shaOf("x"), Actor: "anna"}, errAny},
		{"a gap", Rejudgment{Judgment: unmatched, BundleKey: prefix + "4.zip", BundleSHA256: shaOf("x"), Actor: "anna"}, errAny},
		{"another message's key", Rejudgment{Judgment: unmatched, BundleKey: "bundles/" + shaOf("x") + "/3.zip", BundleSHA256: shaOf("x"), Actor: "anna"}, errAny},
		{"leading zero", Rejudgment{Judgment: unmatched, BundleKey: prefix + "03.zip", BundleSHA256: shaOf("x"), Actor: "anna"}, errAny},
		{"no number", Rejudgment{Judgment: unmatched, BundleKey: prefix + "next.zip", BundleSHA256: shaOf("x"), Actor: "anna"}, errAny},
		{"no actor", Rejudgment{Judgment: unmatched, BundleKey: prefix + "3.zip", BundleSHA256: shaOf("x")}, errAny},
		{"no bundle SHA-256", Rejudgment{Judgment: unmatched, BundleKey: prefix + "3.zip", Actor: "anna"}, errAny},
		{"bad judgment", Rejudgment{Judgment: rules.Judgment{Verdict: "maybe"}, BundleKey: prefix + "3.zip", BundleSHA256: shaOf("x"), Actor: "anna"}, errAny},
	}
	for _, tc := range tests {
		_, _, err := l.RecordRejudgment(ctx, m.ID, tc.r)
		switch {
		case err == nil:
			t.Errorf("RecordRejudgment(%s) succeeded, want an error", tc.name)
		case tc.wantErr == errAny && errors.Is(err, ErrExists):
			t.Errorf("RecordRejudgment(%s) = %v, want an error that is not ErrExists", tc.name, err)
		case tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
			t.Errorf("RecordRejudgment(%s) = %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	if got, _ := l.Message(ctx, m.ID); got.BundleKey != r.BundleKey || got.Judgment.Verdict != rules.Accepted {
		t.Errorf("after refused rejudgments the message is at %s, %s; want %s, accepted", got.BundleKey, got.Judgment.Verdict, r.BundleKey)
	}

	// Judgment 3 follows 2; it takes the evidence off the open claim.
	atts, changed, err = l.RecordRejudgment(ctx, m.ID, Rejudgment{Judgment: unmatched, RulesVersion: "new", BundleKey: prefix + "3.zip",
		BundleSHA256: shaOf("bundle 3"), Actor: "anna", Note: "finishing an interrupted re-judgment"})
	if err != nil || !changed || len(atts) != 0 {
		t.Errorf("RecordRejudgment(3.zip) = %v, changed %v, %v; want no attachments, changed", atts, changed, err)
	}
	if c, _ := l.ClaimFor(ctx, tenantA, "EX315207"); len(c.Evidence) != 0 {
		t.Errorf("claim evidence after judgment 3 = %d, want 0", len(c.Evidence))
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND json_extract(details, '$.note') = ?`,
		string(ActionBundleStored), "finishing an interrupted re-judgment"); n != 1 {
		t.Errorf("bundle_stored entries with the note = %d, want 1", n)
	}
}

func TestRecordRejudgmentNeedsAStoredBundle(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	r := Rejudgment{Judgment: accepted(tenantA, "EX315207"), BundleSHA256: shaOf("b"), Actor: "anna"}

	fresh := mustRecord(t, l, testRecord(1))
	r.BundleKey = "bundles/" + fresh.SHA256 + "/2.zip"
	if _, _, err := l.RecordRejudgment(ctx, fresh.ID, r); err == nil || !strings.Contains(err.Error(), "not judged and bundled yet") {
		t.Errorf("RecordRejudgment of an unjudged message = %v, want 'not judged and bundled yet'", err)
	}

	// A key of the old form has no number to follow.
	old := mustRecord(t, l, testRecord(2))
	if _, _, err := l.RecordJudgment(ctx, old.ID, accepted(tenantA, "EX315207"), "old"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetBundle(ctx, old.ID, "bundles/"+old.SHA256+".zip", ""); err != nil {
		t.Fatal(err)
	}
	r.BundleKey = "bundles/" + old.SHA256 + "/2.zip"
	if _, _, err := l.RecordRejudgment(ctx, old.ID, r); err == nil || !strings.Contains(err.Error(), "no judgment number") {
		t.Errorf("RecordRejudgment after an unnumbered key = %v, want 'no judgment number'", err)
	}
	if _, _, err := l.RecordRejudgment(ctx, 999, r); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordRejudgment(999) = %v, want ErrNotFound", err)
	}
}

func TestSplitBundleKey(t *testing.T) {
	tests := []struct {
		key    string
		prefix string
		n      int
		ok     bool
	}{
		{"bundles/ab/1.zip", "bundles/ab/", 1, true},
		{"bundles/ab/12.zip", "bundles/ab/", 12, true},
		{"bundles/ab/0.zip", "", 0, false},
		{"bundles/ab/01.zip", "", 0, false},
		{"bundles/ab/-1.zip", "", 0, false},
		{"bundles/ab/+1.zip", "", 0, false},
		{"bundles/ab/1.ZIP", "", 0, false},
		{"bundles/ab.zip", "", 0, false},
		{"1.zip", "", 0, false},
		{"", "", 0, false},
	}
	for _, tc := range tests {
		prefix, n, ok := splitBundleKey(tc.key)
		if prefix != tc.prefix || n != tc.n || ok != tc.ok {
			t.Errorf("splitBundleKey(%q) = %q, %d, %v; want %q, %d, %v", tc.key, prefix, n, ok, tc.prefix, tc.n, tc.ok)
		}
	}
}

// FuzzSplitBundleKey: whatever the key, a split that succeeds gives the
// key back exactly, so one judgment has one key.
func FuzzSplitBundleKey(f *testing.F) {
	for _, s := range []string{"bundles/ab/1.zip", "bundles/ab/01.zip", "bundles/ab/99999999999999999999.zip", "/1.zip", "a/b/c/7.zip", "x/-0.zip"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		prefix, n, ok := splitBundleKey(key)
		if !ok {
			return
		}
		if n < 1 || !strings.HasSuffix(prefix, "/") || prefix+strconv.Itoa(n)+".zip" != key {
			t.Errorf("splitBundleKey(%q) = %q, %d: does not give the key back", key, prefix, n)
		}
	})
}
