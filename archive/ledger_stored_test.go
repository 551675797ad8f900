package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// RecordStoredMessage leaves the ledger as RecordMessageJudgment then
// SetBundle do, in one transaction.
func TestRecordStoredMessageMatchesTwoSteps(t *testing.T) {
	ctx := context.Background()
	twoSteps, oneStep := newTestLedger(t), newTestLedger(t)
	judgments := []rules.Judgment{
		accepted(tenantA, "EX315207"),
		accepted(tenantA, "EX315207", "MO123456"), // a second claim
		{Verdict: rules.Rejected, Reason: rules.ReasonPersonalAddress},
		accepted(tenantA, "EX315207"),
	}
	for i, j := range judgments {
		rec := testRecord(i)
		rec.InternalDate = rec.InternalDate.Add(-time.Duration(i) * time.Hour) // each the claim's earliest evidence
		switch i {
		case 1: // the returned rows must show times as stored
			rec.InternalDate = rec.InternalDate.Add(123456789 * time.Nanosecond).In(time.FixedZone("", 2*3600))
			rec.Date = rec.InternalDate.Add(-time.Minute).In(time.FixedZone("", -5*3600))
		case 2:
			rec.Date = time.Time{}
		}
		b := StoredBundle{Key: "bundles/" + rec.SHA256 + "/1.zip", SHA256: shaOf("bundle " + rec.SHA256)}

		m, _, err := twoSteps.RecordMessageJudgment(ctx, rec, j, rules.Version)
		if err != nil {
			t.Fatal(err)
		}
		checkReturnedRow(t, twoSteps, fmt.Sprintf("message %d: RecordMessageJudgment", i), m)
		if err := twoSteps.SetBundle(ctx, m.ID, b.Key, b.SHA256); err != nil {
			t.Fatal(err)
		}

		got, created, err := oneStep.RecordStoredMessage(ctx, rec, j, rules.Version, b)
		if err != nil || !created {
			t.Fatalf("message %d: RecordStoredMessage = %v, created %v; want a new row", i, err, created)
		}
		if got.BundleKey != b.Key || got.BundleSHA256 != b.SHA256 || got.StoredAt.IsZero() || got.Judgment == nil || got.Judgment.Verdict != j.Verdict {
			t.Errorf("message %d: returned row has bundle %q (%q, stored %v), judgment %+v; want %+v and %s",
				i, got.BundleKey, got.BundleSHA256, got.StoredAt, got.Judgment, b, j.Verdict)
		}
		checkReturnedRow(t, oneStep, fmt.Sprintf("message %d: RecordStoredMessage", i), got)
		wantActions := []Action{ActionMessageReceived, ActionBundleStored, ActionJudged}
		if acts := auditActions(t, oneStep, messageSubject(rec.SHA256)); !slices.Equal(acts, wantActions) {
			t.Errorf("message %d: audit actions %v, want %v", i, acts, wantActions)
		}
	}

	a, b := claimStates(t, twoSteps), claimStates(t, oneStep)
	if len(a) != 2 {
		t.Fatalf("two steps made %d claims, want 2", len(a))
	}
	if !slices.Equal(a, b) {
		t.Errorf("claims differ:\ntwo steps: %s\none step:  %s", a, b)
	}
	// The claims' trails tell the same story.
	for id := int64(1); id <= 2; id++ {
		if x, y := auditActions(t, twoSteps, claimSubject(id)), auditActions(t, oneStep, claimSubject(id)); !slices.Equal(x, y) {
			t.Errorf("claim %d's audit actions: two steps %v, one step %v", id, x, y)
		}
	}
	for _, l := range []*Ledger{twoSteps, oneStep} {
		if _, err := l.VerifyAudit(ctx, nil); err != nil {
			t.Errorf("audit trail: %v", err)
		}
	}
}

// A message the ledger holds already keeps its row and judgment, and the
// bundle offered is not recorded: the caller finishes the row.
func TestRecordStoredMessageKnownMessage(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	b := StoredBundle{Key: "bundles/x/1.zip", SHA256: shaOf("bundle")}

	// Recorded by an interrupted older step, not judged: judged now.
	plain := mustRecord(t, l, testRecord(1))
	checkReturnedRow(t, l, "RecordMessage", plain)
	m, created, err := l.RecordStoredMessage(ctx, testRecord(1), accepted(tenantA, "EX315207"), rules.Version, b)
	if err != nil || created || m.ID != plain.ID {
		t.Fatalf("RecordStoredMessage of a recorded message = id %d, created %v, %v; want id %d, not created", m.ID, created, err, plain.ID)
	}
	if m.Judgment == nil || m.Judgment.Verdict != rules.Accepted || m.BundleKey != "" {
		t.Errorf("row afterwards: judgment %+v, bundle %q; want accepted, no bundle", m.Judgment, m.BundleKey)
	}

	// Judged before: the first judgment stands.
	again, created, err := l.RecordStoredMessage(ctx, testRecord(1), rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID}, "later", b)
	if err != nil || created || again.Judgment.Verdict != rules.Accepted || again.RulesVersion != rules.Version || again.BundleKey != "" {
		t.Errorf("second call = %+v, created %v, %v; want the accepted judgment, no bundle", again, created, err)
	}

	// Bad input records nothing.
	before := countRows(t, l, `SELECT COUNT(*) FROM audit`)
	for name, bad := range map[string]StoredBundle{
		"no key":         {SHA256: b.SHA256},
		"no SHA-256":     {Key: b.Key},
		"upper case":     {Key: b.Key, SHA256: "AB" + b.SHA256[2:]},
		"short":          {Key: b.Key, SHA256: b.SHA256[:10]},
		"not hex at all": {Key: b.Key, SHA256: "z" + b.SHA256[1:]},
	} {
		if _, _, err := l.RecordStoredMessage(ctx, testRecord(2), accepted(tenantA, "EX315207"), rules.Version, bad); err == nil {
			t.Errorf("%s: recorded", name)
		}
	}
	if _, _, err := l.RecordStoredMessage(ctx, testRecord(2), accepted("contoso", "EX315207"), rules.Version, b); err == nil {
		t.Error("an accepted judgment without a tenant GUID was recorded")
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM messages`); n != 1 {
		t.Errorf("messages = %d after refused calls, want 1", n)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit`); n != before {
		t.Errorf("audit entries = %d after refused calls, want %d", n, before)
	}
}

// checkReturnedRow checks that got, a row a record call returned without
// reading it back, is the row l holds.
func checkReturnedRow(t *testing.T, l *Ledger, what string, got *Message) {
	t.Helper()
	want, err := l.Message(context.Background(), got.ID)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s returned\n%+v\nthe ledger holds\n%+v", what, got, want)
	}
}

func auditActions(t *testing.T, l *Ledger, subject string) []Action {
	t.Helper()
	rows, err := l.r.Query(`SELECT action FROM audit WHERE subject = ? ORDER BY seq`, subject)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var acts []Action
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		acts = append(acts, Action(a))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return acts
}

// claimStates returns each claim as JSON, without the times the ledger's
// clock sets (the two ways of recording read it a different number of
// times).
func claimStates(t *testing.T, l *Ledger) []string {
	t.Helper()
	ctx := context.Background()
	sums, err := collectClaims(ctx, l, ClaimQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range sums {
		c, err := l.Claim(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{}
		for i := range c.Evidence {
			c.Evidence[i].AttachedAt = time.Time{}
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		// And what the claim's row keeps of its evidence.
		var earliest, deadline string
		var firstStored int64
		if err := l.r.QueryRow(`SELECT COALESCE(evidence_earliest, ''), COALESCE(first_stored_message, 0), COALESCE(deadline, '')
			FROM claims WHERE id = ?`, s.ID).Scan(&earliest, &firstStored, &deadline); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s earliest=%s first_stored=%d deadline=%s", b, earliest, firstStored, deadline))
	}
	return out
}
