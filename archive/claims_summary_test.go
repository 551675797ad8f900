package archive

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// checkEvidenceSummaries compares, for every claim, the evidence summary
// kept on the claim (what the work on each message reads) with the one
// computed from the claim's whole evidence list.
func checkEvidenceSummaries(t *testing.T, l *Ledger, when string) {
	t.Helper()
	ctx := context.Background()
	for s, err := range l.AllClaims(ctx, ClaimQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		kept, err := loadClaim(ctx, l.r, s.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		full, err := loadClaim(ctx, l.r, s.ID, true)
		if err != nil {
			t.Fatal(err)
		}
		if !kept.Earliest.Equal(full.Earliest) {
			t.Errorf("%s: claim %d: kept earliest evidence %v, from its evidence %v", when, s.ID, kept.Earliest, full.Earliest)
		}
		switch k, f := kept.FirstStored, full.FirstStored; {
		case (k == nil) != (f == nil):
			t.Errorf("%s: claim %d: kept first stored evidence %+v, from its evidence %+v", when, s.ID, k, f)
		case k != nil && (k.SHA256 != f.SHA256 || k.Sender != f.Sender || !k.Date.Equal(f.Date)):
			t.Errorf("%s: claim %d: kept first stored evidence %s %s %v, from its evidence %s %s %v",
				when, s.ID, k.SHA256[:8], k.Sender, k.Date, f.SHA256[:8], f.Sender, f.Date)
		}
	}
}

// TestEvidenceSummaryFollowsEvidence attaches, stores and re-judges mail in
// a random order and checks after each step that the summary kept on each
// claim is the one its evidence gives.
func TestEvidenceSummaryFollowsEvidence(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 4))
			l := newTestLedger(t)
			incidents := []string{"EX315207", "EX315208", "EX315209"}
			var msgs []*Message
			for i := range 30 {
				rec := testRecord(i)
				// Dates out of order, some equal, some only a sent date.
				rec.InternalDate = time.Date(2026, 2, 15, 9, rng.IntN(5), 0, 0, time.UTC)
				if rng.IntN(4) == 0 {
					rec.InternalDate = time.Time{}
				}
				m := mustRecord(t, l, rec)
				incs := []string{incidents[rng.IntN(3)]}
				if rng.IntN(3) == 0 {
					incs = append(incs, incidents[rng.IntN(3)])
				}
				if _, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, incs...), "1"); err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, m)
				checkEvidenceSummaries(t, l, fmt.Sprintf("after judging message %d", i))
			}
			for _, i := range rng.Perm(len(msgs)) {
				m := msgs[i]
				if err := l.SetBundle(ctx, m.ID, "bundles/"+m.SHA256+"/1.zip", shaOf("b")); err != nil {
					t.Fatal(err)
				}
				checkEvidenceSummaries(t, l, fmt.Sprintf("after storing message %d", i))
			}
			// Re-judging moves evidence between claims or drops it.
			for n, i := range rng.Perm(len(msgs))[:12] {
				j := rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonUnknownDomain}
				if n%2 == 0 {
					j = accepted(tenantA, incidents[rng.IntN(3)])
				}
				r := Rejudgment{Judgment: j, RulesVersion: "2", BundleKey: "bundles/" + msgs[i].SHA256 + "/2.zip",
					BundleSHA256: shaOf("b2"), Actor: "cli:alice"}
				if _, _, err := l.RecordRejudgment(ctx, msgs[i].ID, r); err != nil {
					t.Fatal(err)
				}
				checkEvidenceSummaries(t, l, fmt.Sprintf("after re-judging message %d", i))
			}
		})
	}
}

// TestMigrationFillsEvidenceSummary runs migration 0004 on claims made
// without it and checks the summaries it fills in.
func TestMigrationFillsEvidenceSummary(t *testing.T) {
	sqliteOnly(t, "upgrades a SQLite ledger from before migration 0004")
	l := newTestLedger(t)
	openClaimWith(t, l, tenantA, "EX315207", 3, true)
	openClaimWith(t, l, tenantA, "EX315208", 2, false)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var m0004 string
	for _, m := range ms {
		if m.version == 4 {
			m0004 = m.sql
		}
	}
	ctx := context.Background()
	if _, err := l.w.ExecContext(ctx, `ALTER TABLE claims DROP COLUMN evidence_earliest;
		ALTER TABLE claims DROP COLUMN first_stored_message`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.w.ExecContext(ctx, m0004); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM claims WHERE evidence_earliest IS NOT NULL`); n != 2 {
		t.Errorf("claims with their earliest evidence date filled in: %d, want 2", n)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM claims WHERE first_stored_message IS NOT NULL`); n != 1 {
		t.Errorf("claims with their first stored evidence filled in: %d, want 1 (the other has no bundle stored)", n)
	}
	checkEvidenceSummaries(t, l, "after migration 0004")
}

// TestMigration0005KeepsTriageAttaches runs migration 0005 on a ledger
// made before it: an attach an analyst made on the triage page, which
// then left only its judgment's warning, becomes a decision, so that no
// re-judgment after the upgrade undoes it. A message the rules accepted
// stays without one.
func TestMigration0005KeepsTriageAttaches(t *testing.T) {
	sqliteOnly(t, "upgrades a SQLite ledger from before migration 0005")
	ctx := context.Background()
	l := newTestLedger(t)
	byRules := openClaimWith(t, l, tenantA, "EX315207", 1, true)
	rec := testRecord(77)
	rec.SHA256 = shaOf("attached by hand")
	m := mustRecord(t, l, rec)
	j := accepted(tenantA, "EX315207")
	j.Warnings = []string{"Reply-To is in another organisation",
		"attached to incident EX315207 by anna on the triage page: the message names no incident ID itself"}
	if _, _, err := l.RecordJudgment(ctx, m.ID, j, rules.Version); err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var m0005 string
	for _, m := range ms {
		if m.version == 5 {
			m0005 = m.sql
		}
	}
	// The ledger as it was before 0005 (and the later indexes on its columns).
	if _, err := l.w.ExecContext(ctx, `DROP INDEX claim_evidence_late; DROP TABLE evidence_decisions; DROP TABLE registry;
		ALTER TABLE claim_evidence DROP COLUMN late; ALTER TABLE claim_evidence DROP COLUMN attached_by;
		ALTER TABLE claims DROP COLUMN reopened_at; ALTER TABLE messages DROP COLUMN evidence_date`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.w.ExecContext(ctx, m0005); err != nil {
		t.Fatal(err)
	}
	ds, err := l.Decisions(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Decision != DecisionAttached || ds[0].Actor != "anna" || ds[0].ClaimID != byRules {
		t.Fatalf("decisions after migration 0005 = %+v, want anna's attach to claim %d", ds, byRules)
	}
	c, err := l.Claim(ctx, byRules)
	if err != nil {
		t.Fatal(err)
	}
	var by []string
	for _, e := range c.Evidence {
		by = append(by, e.AttachedBy)
	}
	if fmt.Sprint(by) != "[ anna]" && fmt.Sprint(by) != "[anna ]" {
		t.Errorf("attached_by after migration 0005 = %q, want anna on the hand-attached message only", by)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM messages WHERE evidence_date IS NULL`); n != 0 {
		t.Errorf("%d messages without an evidence date after migration 0005", n)
	}
}
