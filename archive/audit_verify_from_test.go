package archive

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestVerifyAuditFrom checks the incremental verification: it reads only
// the entries after the checkpoint, catches tampering among them and a
// change of the checkpoint's entry, and leaves a rewrite deeper in
// history to the next full verification.
func TestVerifyAuditFrom(t *testing.T) {
	ctx := context.Background()
	l := auditFixture(t)
	store := newMemStore()
	if _, err := l.Anchor(ctx, store); err != nil {
		t.Fatal(err)
	}
	anchors, err := ReadStoreAnchors(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	full, err := l.VerifyAuditFrom(ctx, anchors, AuditCheckpoint{})
	if err != nil || full.Entries == 0 || full.Anchors != 1 {
		t.Fatalf("full VerifyAuditFrom = %+v, %v", full, err)
	}
	cp := full.Checkpoint()
	for range 3 {
		if _, err := l.AppendAudit(ctx, "anna", ActionBundleDownloaded, "claim:1", nil); err != nil {
			t.Fatal(err)
		}
	}
	inc, err := l.VerifyAuditFrom(ctx, anchors, cp)
	if err != nil || inc.Entries != 3 || inc.From != cp.Seq || inc.HeadSeq != cp.Seq+3 || inc.LastAnchor != cp.Seq {
		t.Fatalf("VerifyAuditFrom(%d) = %+v, %v; want the 3 new entries", cp.Seq, inc, err)
	}
	// Nothing new: nothing read, the same head.
	if again, err := l.VerifyAuditFrom(ctx, anchors, inc.Checkpoint()); err != nil || again.Entries != 0 || again.Checkpoint() != inc.Checkpoint() {
		t.Errorf("VerifyAuditFrom(head) = %+v, %v", again, err)
	}

	// A rewrite inside verified history, away from the checkpoint: the
	// incremental check does not read it, the full one finds it.
	tamper(t, l, `UPDATE audit SET actor = 'mallory' WHERE seq = 3`)
	if rep, err := l.VerifyAuditFrom(ctx, anchors, inc.Checkpoint()); err != nil {
		t.Errorf("VerifyAuditFrom(head) after a rewrite of entry 3 = %+v, %v; want no finding (not read)", rep, err)
	}
	if rep, err := l.VerifyAuditFrom(ctx, anchors, AuditCheckpoint{}); !errors.Is(err, ErrTampered) || rep.Problems[0].Seq != 3 {
		t.Errorf("full VerifyAuditFrom after a rewrite of entry 3 = %+v, %v; want it found", rep, err)
	}

	// A rewrite of a new entry is found by the incremental check.
	tamper(t, l, `UPDATE audit SET details = '{"x":1}' WHERE seq = `+itoa(cp.Seq+2))
	rep, err := l.VerifyAuditFrom(ctx, anchors, cp)
	if !errors.Is(err, ErrTampered) || len(rep.Problems) != 1 || rep.Problems[0].Seq != cp.Seq+2 || rep.Problems[0].Kind != ProblemRewritten {
		t.Errorf("VerifyAuditFrom after a rewrite of a new entry = %+v, %v", rep, err)
	}

	// The checkpoint's own entry changed, or gone.
	tamper(t, l, `UPDATE audit SET hash = '`+shaOf("z")+`' WHERE seq = `+itoa(cp.Seq))
	rep, err = l.VerifyAuditFrom(ctx, anchors, cp)
	if !errors.Is(err, ErrTampered) || rep.Problems[0].Kind != ProblemChanged {
		t.Errorf("VerifyAuditFrom after the checkpoint's entry changed = %+v, %v", rep, err)
	}
	tamper(t, l, `DELETE FROM audit WHERE seq >= `+itoa(cp.Seq))
	rep, err = l.VerifyAuditFrom(ctx, anchors, cp)
	if !errors.Is(err, ErrTampered) || rep.Problems[0].Kind != ProblemChanged || !strings.Contains(rep.Problems[0].Detail, "gone") {
		t.Errorf("VerifyAuditFrom after the tail was cut = %+v, %v", rep, err)
	}
}

// TestVerifyAuditLongFields checks entries whose field lengths need the
// longer encodings of the verification's packed rows, the UTF-16
// surrogates' range included.
func TestVerifyAuditLongFields(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	for _, n := range []int{0, 127, 128, 2047, 2048, 55300, 70000} {
		if _, err := l.AppendAudit(ctx, "anna", ActionBundleDownloaded, "claim:1", map[string]any{"x": strings.Repeat("é", n/2)}); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := l.VerifyAudit(ctx, nil); err != nil || rep.Entries != 7 {
		t.Errorf("VerifyAudit = %+v, %v", rep, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestVerifyAuditInHalves runs the verification tests with the chain read
// in two halves at once, as a long chain is: every kind of tampering is
// found wherever it falls, in either half or at the seam.
func TestVerifyAuditInHalves(t *testing.T) {
	old := splitChainAt
	splitChainAt = 2
	t.Cleanup(func() { splitChainAt = old })
	t.Run("tampering", TestVerifyAuditDetectsTampering)
	t.Run("intact", TestVerifyAuditIntact)
	t.Run("anchors", TestVerifyAuditAnchorProblems)
	t.Run("from", TestVerifyAuditFrom)
	t.Run("long fields", TestVerifyAuditLongFields)
}
