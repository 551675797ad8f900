package archive

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
)

// TestRecordRejudgmentDecisions: an analyst's attach is their decision;
// a re-judgment that does not override it is refused and writes nothing;
// one that does is recorded with both judgments and the decision it
// replaced.
func TestRecordRejudgmentDecisions(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	unmatched := rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, TenantID: tenantA}
	m, prefix := bundled(t, l, 1, unmatched)

	attach := Rejudgment{Judgment: accepted(tenantA, "EX315207"), RulesVersion: "new", BundleKey: prefix + "2.zip",
		BundleSHA256: shaOf("bundle 2"), Actor: "anna", ByAnalyst: true}
	if _, changed, err := l.RecordRejudgment(ctx, m.ID, attach); err != nil || !changed {
		t.Fatalf("RecordRejudgment(by analyst) = changed %v, %v", changed, err)
	}
	c, err := l.ClaimFor(ctx, tenantA, "EX315207")
	if err != nil || len(c.Evidence) != 1 || c.Evidence[0].AttachedBy != "anna" {
		t.Fatalf("claim after the analyst's attach = %+v (%v), want the message attached by anna", c, err)
	}
	ds, err := l.Decisions(ctx, m.ID)
	if err != nil || len(ds) != 1 || ds[0].Decision != DecisionAttached || ds[0].Actor != "anna" || ds[0].ClaimID != c.ID || ds[0].IncidentID != "EX315207" {
		t.Fatalf("Decisions = %+v, %v; want anna's attach to claim %d", ds, err, c.ID)
	}

	// The rules' judgment (unmatched again) does not undo it.
	audit0 := countRows(t, l, `SELECT COUNT(*) FROM audit`)
	back := Rejudgment{Judgment: unmatched, RulesVersion: "new", BundleKey: prefix + "3.zip", BundleSHA256: shaOf("bundle 3"), Actor: "cli:bob"}
	_, changed, err := l.RecordRejudgment(ctx, m.ID, back)
	if !errors.Is(err, ErrDecided) || changed || !strings.Contains(err.Error(), "anna attached it to claim") || !strings.Contains(err.Error(), "override") {
		t.Fatalf("RecordRejudgment over a decision = changed %v, %v; want ErrDecided naming anna's attach and override", changed, err)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit`); n != audit0 {
		t.Errorf("a refused re-judgment appended %d audit entries", n-audit0)
	}
	if got, _ := l.Message(ctx, m.ID); got.BundleKey != prefix+"2.zip" || got.Judgment.Verdict != rules.Accepted {
		t.Errorf("message after a refused re-judgment = %s %s, want accepted at 2.zip", got.BundleKey, got.Judgment.Verdict)
	}
	if c, _ := l.ClaimFor(ctx, tenantA, "EX315207"); len(c.Evidence) != 1 {
		t.Errorf("claim after a refused re-judgment has %d evidence, want 1", len(c.Evidence))
	}

	// Overridden: recorded, the link and the decision gone, both
	// judgments and the decision in the audit entry.
	back.Override, back.Actor = true, "anna"
	if _, changed, err := l.RecordRejudgment(ctx, m.ID, back); err != nil || !changed {
		t.Fatalf("RecordRejudgment with override = changed %v, %v", changed, err)
	}
	if ds, err := l.Decisions(ctx, m.ID); err != nil || len(ds) != 0 {
		t.Errorf("Decisions after the override = %+v, %v; want none", ds, err)
	}
	if c, _ := l.ClaimFor(ctx, tenantA, "EX315207"); len(c.Evidence) != 0 {
		t.Errorf("claim after the override has %d evidence, want none", len(c.Evidence))
	}
	var details string
	if err := l.r.QueryRow(`SELECT details FROM audit WHERE action = ? AND actor = 'anna' ORDER BY seq DESC LIMIT 1`, string(ActionReprocessed)).Scan(&details); err != nil {
		t.Fatal(err)
	}
	var d struct {
		Override   bool             `json:"override"`
		Previous   *rules.Judgment  `json:"previous_judgment"`
		Judgment   *rules.Judgment  `json:"judgment"`
		Overridden []map[string]any `json:"decisions_overridden"`
	}
	if err := json.Unmarshal([]byte(details), &d); err != nil {
		t.Fatal(err)
	}
	if !d.Override || d.Previous == nil || d.Previous.Verdict != rules.Accepted || d.Judgment == nil || d.Judgment.Verdict != rules.Unmatched ||
		len(d.Overridden) != 1 || d.Overridden[0]["actor"] != "anna" {
		t.Errorf("audit of the override = %s; want both judgments and anna's decision", details)
	}
	if rep, err := l.VerifyAudit(ctx, nil); err != nil || len(rep.Problems) != 0 {
		t.Errorf("VerifyAudit = %+v, %v; want no problems", rep, err)
	}
}

// TestRecordRejudgmentKeepsAttached: an analyst's attach to one incident
// survives their later attach to another.
func TestRecordRejudgmentKeepsAttached(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	m, prefix := bundled(t, l, 1, rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, TenantID: tenantA})
	for i, inc := range []string{"EX315207", "SP1234567"} {
		key := prefix + []string{"2.zip", "3.zip"}[i]
		if _, _, err := l.RecordRejudgment(ctx, m.ID, Rejudgment{Judgment: accepted(tenantA, inc), BundleKey: key,
			BundleSHA256: shaOf(key), Actor: "anna", ByAnalyst: true}); err != nil {
			t.Fatalf("attach to %s: %v", inc, err)
		}
	}
	for _, inc := range []string{"EX315207", "SP1234567"} {
		if c, err := l.ClaimFor(ctx, tenantA, inc); err != nil || len(c.Evidence) != 1 {
			t.Errorf("claim %s after two attaches = %+v, %v; want the message", inc, c, err)
		}
	}
}

func TestDetachEvidence(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	m, prefix := bundled(t, l, 1, accepted(tenantA, "EX315207"))
	c, err := l.ClaimFor(ctx, tenantA, "EX315207")
	if err != nil || len(c.Evidence) != 1 {
		t.Fatalf("claim = %+v, %v", c, err)
	}

	if err := l.DetachEvidence(ctx, c.ID, m.SHA256, "anna", "  wrong customer "); err != nil {
		t.Fatalf("DetachEvidence: %v", err)
	}
	c, _ = l.Claim(ctx, c.ID)
	if len(c.Evidence) != 0 || c.FirstStored != nil || !c.Earliest.IsZero() {
		t.Errorf("claim after detaching = evidence %d, first stored %v, earliest %v; want none", len(c.Evidence), c.FirstStored, c.Earliest)
	}
	if got, _ := l.Message(ctx, m.ID); got.Judgment.Verdict != rules.Accepted {
		t.Errorf("message verdict after detaching = %s, want accepted as it was", got.Judgment.Verdict)
	}
	ds, err := l.Decisions(ctx, m.ID)
	if err != nil || len(ds) != 1 || ds[0].Decision != DecisionDetached || ds[0].Note != "wrong customer" {
		t.Errorf("Decisions after detaching = %+v, %v; want anna's detach with her note", ds, err)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND actor = 'anna' AND subject = ?
		AND CAST(json_extract(details, '$.no_evidence_left') AS TEXT) IN ('1', 'true') AND json_extract(details, '$.message') = ? AND json_extract(details, '$.note') = 'wrong customer'`,
		string(ActionEvidenceDetached), claimSubject(c.ID), m.SHA256); n != 1 {
		t.Errorf("evidence_detached entries = %d, want 1 saying no evidence is left", n)
	}

	// Not its evidence any more, or not a message at all.
	if err := l.DetachEvidence(ctx, c.ID, m.SHA256, "anna", ""); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "not its evidence") {
		t.Errorf("DetachEvidence again = %v, want ErrNotFound saying it is not the claim's evidence", err)
	}
	if err := l.DetachEvidence(ctx, c.ID, shaOf("nothing"), "anna", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("DetachEvidence of an unknown message = %v, want ErrNotFound", err)
	}

	// A re-judgment without override is refused; the rules' own
	// re-processing does not attach it again, but makes its other links.
	_, _, err = l.RecordRejudgment(ctx, m.ID, Rejudgment{Judgment: accepted(tenantA, "EX315207", "SP1234567"), BundleKey: prefix + "2.zip",
		BundleSHA256: shaOf("bundle 2"), Actor: "cli:bob"})
	if !errors.Is(err, ErrDecided) || !strings.Contains(err.Error(), "anna detached it from claim") {
		t.Errorf("RecordRejudgment of a detached message = %v, want ErrDecided naming anna's detach", err)
	}
	atts, err := l.reprocessMessage(ctx, m.ID, accepted(tenantA, "EX315207", "SP1234567"), "new", ActorSystem)
	if err != nil || len(atts) != 1 || atts[0].IncidentID != "SP1234567" {
		t.Errorf("reprocessMessage of a detached message = %+v, %v; want only the SP1234567 link", atts, err)
	}
	if c, _ := l.Claim(ctx, c.ID); len(c.Evidence) != 0 {
		t.Errorf("claim after re-processing has %d evidence, want none: the analyst detached it", len(c.Evidence))
	}

	// A claim that went to Microsoft keeps its evidence.
	m2, _ := bundled(t, l, 2, accepted(tenantA, "TM1112332"))
	c2, err := l.ClaimFor(ctx, tenantA, "TM1112332")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.w.Exec(`UPDATE claims SET status = ? WHERE id = ?`, string(claims.StatusSubmitted), c2.ID); err != nil {
		t.Fatal(err)
	}
	err = l.DetachEvidence(ctx, c2.ID, m2.SHA256, "anna", "")
	if !errors.Is(err, claims.ErrTransition) || !strings.Contains(err.Error(), "submitted") {
		t.Errorf("DetachEvidence from a submitted claim = %v, want the claim's edit error", err)
	}
	if c2, _ := l.Claim(ctx, c2.ID); len(c2.Evidence) != 1 {
		t.Errorf("submitted claim after a refused detach has %d evidence, want 1", len(c2.Evidence))
	}
	if rep, err := l.VerifyAudit(ctx, nil); err != nil || len(rep.Problems) != 0 {
		t.Errorf("VerifyAudit = %+v, %v; want no problems", rep, err)
	}
}

// TestAnalystsAttachRecordedFirstByAnother: a bulk re-judgment that finds
// the analyst's bundle n+1 stored records it before the analyst's own call
// does; that call then makes the links the analyst's, so the next rules'
// re-judgment cannot undo them.
func TestAnalystsAttachRecordedFirstByAnother(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	unmatched := rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, TenantID: tenantA}
	m, prefix := bundled(t, l, 1, unmatched)
	attach := Rejudgment{Judgment: accepted(tenantA, "EX315207"), RulesVersion: "new", BundleKey: prefix + "2.zip",
		BundleSHA256: shaOf("bundle 2"), Actor: "cli:bulk"}
	if _, changed, err := l.RecordRejudgment(ctx, m.ID, attach); err != nil || !changed {
		t.Fatalf("the bulk re-judgment's record = changed %v, %v", changed, err)
	}
	attach.Actor, attach.ByAnalyst = "anna", true
	if _, _, err := l.RecordRejudgment(ctx, m.ID, attach); err != nil {
		t.Fatalf("the analyst's own record = %v", err)
	}
	ds, err := l.Decisions(ctx, m.ID)
	if err != nil || len(ds) != 1 || ds[0].Actor != "anna" || ds[0].Decision != DecisionAttached {
		t.Fatalf("decisions = %+v, %v; want anna's attach", ds, err)
	}
	back := Rejudgment{Judgment: unmatched, RulesVersion: "new", BundleKey: prefix + "3.zip", BundleSHA256: shaOf("bundle 3"), Actor: "cli:bob"}
	if _, _, err := l.RecordRejudgment(ctx, m.ID, back); !errors.Is(err, ErrDecided) {
		t.Errorf("the rules' re-judgment after = %v, want ErrDecided", err)
	}
}

// TestAnalystsAttachNeedsAnEditableClaim: an analyst's attach to a claim
// already submitted is refused; the claim is reopened first.
func TestAnalystsAttachNeedsAnEditableClaim(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	upsertTenantA(t, l, true)
	id := openClaimWith(t, l, tenantA, "EX315207", 1, true)
	fillFields(t, l, id)
	if err := l.SetClaimStatus(ctx, id, claims.StatusSubmitted, claims.Actor{Name: "anna"}, ""); err != nil {
		t.Fatal(err)
	}
	unmatched := rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, TenantID: tenantA}
	m, prefix := bundled(t, l, 1, unmatched)
	attach := Rejudgment{Judgment: accepted(tenantA, "EX315207"), RulesVersion: "new", BundleKey: prefix + "2.zip",
		BundleSHA256: shaOf("bundle 2"), Actor: "anna", ByAnalyst: true}
	_, changed, err := l.RecordRejudgment(ctx, m.ID, attach)
	if !errors.Is(err, claims.ErrTransition) || changed || !strings.Contains(err.Error(), "reopen it first") {
		t.Fatalf("attach to a submitted claim = changed %v, %v; want a refusal saying to reopen it", changed, err)
	}
	if c, _ := l.Claim(ctx, id); len(c.Evidence) != 1 {
		t.Errorf("the submitted claim has %d evidence after a refused attach, want 1", len(c.Evidence))
	}
}
