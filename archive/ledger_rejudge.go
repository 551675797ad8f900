package archive

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/claimtrail/claimtrail/rules"
)

// Rejudgment is a new judgment of a stored message together with the
// evidence bundle that shows it: the message's next bundle, numbered one
// above the bundle the ledger has now.
type Rejudgment struct {
	Judgment     rules.Judgment
	RulesVersion string
	// BundleKey is the key of the new bundle: the current key with the
	// judgment number one higher ("bundles/<sha256>/1.zip" is followed by
	// "bundles/<sha256>/2.zip").
	BundleKey string
	// BundleSHA256 is the hex SHA-256 of the new bundle object.
	BundleSHA256 string
	// Actor is who judged again: a user name, "cli:<user>", or ActorSystem.
	Actor string
	// Note, when set, goes into the audit entry of the new bundle, e.g.
	// to say that an interrupted re-judgment was finished.
	Note string
	// ByAnalyst says the judgment is an analyst's manual attach: each
	// link it makes is their 'attached' decision (claim_evidence
	// attached_by names them), replacing a 'detached' one for that claim.
	ByAnalyst bool
	// Override says the analyst overrides the earlier decisions about the
	// message: they are deleted, and the audit entry of the judgment
	// carries the previous and the new judgment and the decisions
	// overridden.
	Override bool
}

// RecordRejudgment replaces the judgment of message id by r.Judgment and its
// bundle key by r.BundleKey, in one transaction with the audit entries
// (bundle_stored, then reprocessed under r.Actor) and the evidence links the
// new judgment implies, as reprocessMessage makes them. Bundles are
// write-once and numbered without gaps: r.BundleKey must be the key after
// the message's current one. The message must have been judged and bundled
// before.
//
// It is idempotent: recording the same rejudgment again (the same key,
// bundle SHA-256 and judgment) changes nothing and returns the message's
// attachments with changed false. A key whose number is already taken, by
// this or another re-judgment, gives an error wrapping ErrExists: someone
// judged the message meanwhile; read it again and decide anew. Safe for
// concurrent use.
//
// Analysts' decisions stand (see Decision): with neither r.ByAnalyst nor
// r.Override, a message with decisions is refused with an error wrapping
// ErrDecided that names them, and nothing is written.
func (l *Ledger) RecordRejudgment(ctx context.Context, id int64, r Rejudgment) (atts []Attachment, changed bool, err error) {
	op := fmt.Sprintf("record re-judgment of message %d", id)
	if err := checkJudgment(r.Judgment); err != nil {
		return nil, false, fmt.Errorf("archive: %s: %w", op, err)
	}
	if err := checkActor(r.Actor); err != nil {
		return nil, false, fmt.Errorf("archive: %s: %w", op, err)
	}
	if !validSHA256(r.BundleSHA256) {
		return nil, false, fmt.Errorf("archive: %s: the bundle SHA-256 must be 64 lower-case hex digits", op)
	}
	newPrefix, newN, ok := splitBundleKey(r.BundleKey)
	if !ok || newN < 2 {
		return nil, false, fmt.Errorf("archive: %s: bundle key %q: want <prefix>/<n>.zip with a judgment number from 2", op, r.BundleKey)
	}
	jb, err := comparableJudgment(r.Judgment)
	if err != nil {
		return nil, false, fmt.Errorf("archive: %s: %w", op, err)
	}
	err = l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		m, err := messageBy(ctx, tx, "m.id = ?", id)
		if err != nil {
			return err
		}
		if m.Judgment == nil || m.BundleKey == "" {
			return fmt.Errorf("archive: %s: the message is not judged and bundled yet (next step: %s); let the poller or the import finish it first", op, m.Next())
		}
		if m.BundleKey == r.BundleKey {
			// Already recorded, by this call's earlier attempt or by a
			// concurrent one that reached the same judgment.
			sb, err := comparableJudgment(*m.Judgment)
			if err != nil {
				return err
			}
			if m.BundleSHA256 != r.BundleSHA256 || !bytes.Equal(sb, jb) {
				return fmt.Errorf("archive: %s: %s is already recorded with another bundle or judgment: %w", op, r.BundleKey, ErrExists)
			}
			if atts, err = attachmentsOf(ctx, tx, id); err != nil {
				return err
			}
			if r.ByAnalyst {
				// A concurrent re-judgment found this analyst's bundle
				// stored and recorded it first, as if the rules had
				// judged so: its links are the analyst's all the same.
				return l.claimLinksForAnalyst(ctx, tx, m, atts, r.Actor)
			}
			return nil
		}
		curPrefix, curN, ok := splitBundleKey(m.BundleKey)
		if !ok {
			return fmt.Errorf("archive: %s: the current bundle key %q has no judgment number, so no next bundle can follow it", op, m.BundleKey)
		}
		switch {
		case curPrefix != newPrefix:
			return fmt.Errorf("archive: %s: bundle key %q is not a later judgment of %q", op, r.BundleKey, m.BundleKey)
		case newN <= curN:
			return fmt.Errorf("archive: %s: judgment %d is taken, the message is at %s: %w", op, newN, m.BundleKey, ErrExists)
		case newN > curN+1:
			return fmt.Errorf("archive: %s: bundle key %q would leave a gap after %q; want judgment %d", op, r.BundleKey, m.BundleKey, curN+1)
		}

		ds, err := decisionsOf(ctx, tx, id)
		if err != nil {
			return err
		}
		if len(ds) > 0 && !r.ByAnalyst && !r.Override {
			return fmt.Errorf("archive: %s: %w", op, DecisionsError(ds))
		}
		var an *analystJudging
		if r.ByAnalyst || r.Override {
			an = &analystJudging{byAnalyst: r.ByAnalyst, details: map[string]any{"previous_judgment": m.Judgment, "judgment": r.Judgment}}
			if r.ByAnalyst {
				an.details["by_analyst"] = true
			}
			if r.Override {
				an.details["override"] = true
				if len(ds) > 0 {
					an.details["decisions_overridden"] = ds
					if _, err := tx.ExecContext(ctx, `DELETE FROM evidence_decisions WHERE message_id = ?`, id); err != nil {
						return err
					}
				}
			}
		}

		changed = true
		now := l.now()
		details := map[string]any{"previous_key": m.BundleKey}
		if r.Note != "" {
			details["note"] = r.Note
		}
		if err := l.writeBundle(ctx, tx, now, r.Actor, id, m.SHA256, r.BundleKey, r.BundleSHA256, details); err != nil {
			return err
		}
		atts, err = l.judge(ctx, tx, m, r.Judgment, r.RulesVersion, r.Actor, ActionReprocessed, an)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return atts, changed, nil
}

// splitBundleKey splits "<prefix>/<n>.zip" into its prefix (with the slash)
// and its judgment number n >= 1, written without leading zeros, so that
// one judgment has one key.
func splitBundleKey(key string) (prefix string, n int, ok bool) {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return "", 0, false
	}
	num, ok := strings.CutSuffix(key[i+1:], ".zip")
	if !ok {
		return "", 0, false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || strconv.Itoa(n) != num {
		return "", 0, false
	}
	return key[:i+1], n, true
}

// comparableJudgment encodes j for comparison: a judgment read back from a
// bundle's manifest lists no incidents or warnings as [] where the one
// first recorded may have had nil; the registry version that judged is
// not part of what a judgment says.
func comparableJudgment(j rules.Judgment) ([]byte, error) {
	j.RegistryVersion = 0
	if j.IncidentIDs == nil {
		j.IncidentIDs = []string{}
	}
	if j.Warnings == nil {
		j.Warnings = []string{}
	}
	return json.Marshal(j)
}

// claimLinksForAnalyst records the links atts of message m that carry no
// decision yet as actor's attaches, with attached_by and an audit entry.
func (l *Ledger) claimLinksForAnalyst(ctx context.Context, tx dbtx, m *Message, atts []Attachment, actor string) error {
	ds, err := decisionsOf(ctx, tx, m.ID)
	if err != nil {
		return err
	}
	decided := map[int64]bool{}
	for _, d := range ds {
		decided[d.ClaimID] = true
	}
	now := l.now()
	for _, a := range atts {
		if decided[a.ClaimID] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE claim_evidence SET attached_by = ? WHERE claim_id = ? AND message_id = ?`,
			actor, a.ClaimID, m.ID); err != nil {
			return err
		}
		if err := decide(ctx, tx, now, m.ID, a.ClaimID, DecisionAttached, actor, ""); err != nil {
			return err
		}
		if _, err := l.appendAudit(ctx, tx, now, actor, ActionClaimUpdated, claimSubject(a.ClaimID), map[string]any{
			"message": m.SHA256, "attached_by": actor,
			"why": "the analyst's attach, recorded first by a concurrent re-judgment that found its bundle",
		}); err != nil {
			return err
		}
	}
	return nil
}
