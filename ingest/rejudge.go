package ingest

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/rules"
)

// ErrNotBundled is matched (errors.Is) by Rejudge's error for a message the
// ledger has not judged and bundled yet: the poller or the import finishes
// it first, and it can be re-judged afterwards.
var ErrNotBundled = errors.New("not judged and bundled yet")

// RejudgeResult is what Rejudge did, or PreviewRejudge would do, with one
// stored message.
type RejudgeResult struct {
	// Message is the ledger row afterwards (as it was, for a preview).
	Message *archive.Message
	// Before is the ledger's judgment when the call started.
	Before rules.Judgment
	// After is the judgment the message has now: Before when nothing
	// changed, else the new one (which a preview would record).
	After rules.Judgment
	// Changed says that After differs from Before, so bundle n+1 was
	// stored and recorded (a preview: would be).
	Changed bool
	// BundleKey is the key of the bundle showing After: the new bundle's
	// (the one it would get, for a preview) when Changed.
	BundleKey string
	// Attachments are the message's claim links after a recorded change.
	Attachments []archive.Attachment
	// Decisions are the analysts' decisions that kept a change from being
	// recorded (the error wraps archive.ErrDecided).
	Decisions []archive.Decision
}

// RejudgeOptions say whose judgment Rejudge records and what it may
// replace. The zero value judges by the pipeline's policy and leaves
// analysts' decisions alone.
type RejudgeOptions struct {
	// Judgment, when not nil, is an analyst's judgment, taken instead of
	// the policy's.
	Judgment *rules.Judgment
	// ByAnalyst says Judgment is an analyst's manual attach: its links
	// become their decisions (archive.Rejudgment.ByAnalyst).
	ByAnalyst bool
	// Override replaces the analysts' earlier decisions about the message
	// (archive.Rejudgment.Override). Bulk re-judging never sets it.
	Override bool
}

// maxRejudgeAttempts bounds how many bundles stored by interrupted or
// concurrent re-judgments Rejudge records before giving up: each attempt
// finds the next number taken.
const maxRejudgeAttempts = 4

// dkimWarningPrefix starts the warning Handle records when the DKIM
// signatures could not be verified on arrival. A re-parse cannot know it,
// and a later bundle must not lose it.
const dkimWarningPrefix = "DKIM not verified: "

// WithPolicy returns a copy of p that judges with policy; p is unchanged,
// and the copy's policy is its own: SetPolicy on one does not change the
// other. Re-judging after a tenant import needs the registry as it is now:
// build a fresh policy from the ledger's tenants and re-judge with the copy.
func (p *Pipeline) WithPolicy(policy *rules.Policy) *Pipeline {
	c := *p
	c.policy = new(atomic.Pointer[rules.Policy])
	c.policy.Store(policy)
	return &c
}

// Rejudge judges the stored message with the given raw SHA-256 again, from
// the message.eml of its current bundle, and records the outcome when it
// differs from the ledger's judgment.
//
// The bundle is read from the store (its bytes checked against the store's
// and the ledger's SHA-256) and verified against its key; a bundle that
// does not verify is refused with an error naming the message and the key.
// The message is parsed again, but its DKIM results (with the TXT records
// they used) and its provenance come from the bundle's manifest: keys
// rotate, so DNS is asked once, on arrival. The message is judged with the
// pipeline's policy, or override, an analyst's judgment, is taken instead.
//
// When the judgment differs (verdict, reason, tenant, incidents,
// authentication or original), bundle n+1 is built exactly as Handle builds
// bundles, stored create-only next to bundle n, which stays untouched, and
// recorded in the ledger with the judgment, the claims it attaches to or
// detaches from and audit entries under actor (see
// archive.Ledger.RecordRejudgment). The same judgment writes nothing.
//
// Analysts' decisions stick: when the judgment would change a message an
// analyst attached or detached by hand, and opts neither overrides nor is
// an analyst's attach, nothing is stored; the result says what would
// change (Before, After, Changed, Decisions) and the error wraps
// archive.ErrDecided.
//
// Rejudge is idempotent and safe to repeat after a crash: bundle n+1 stored
// but not recorded is found again (the same bytes are a no-op Put; other
// bytes are that earlier re-judgment's evidence, which is recorded as it
// stands before judging on top of it), so numbers have no gaps and are
// never used twice. A message the ledger has not bundled yet gives an
// error wrapping ErrNotBundled. Safe for concurrent use.
func (p *Pipeline) Rejudge(ctx context.Context, sha, actor string, opts RejudgeOptions) (RejudgeResult, error) {
	return p.rejudge(ctx, sha, actor, opts, true)
}

// PreviewRejudge reads, verifies and judges the stored message as Rejudge
// does, and writes nothing: Changed says whether Rejudge would store and
// record bundle n+1, and BundleKey which one; a change analysts' decisions
// keep Rejudge from making is refused as Rejudge refuses it.
func (p *Pipeline) PreviewRejudge(ctx context.Context, sha string, opts RejudgeOptions) (RejudgeResult, error) {
	return p.rejudge(ctx, sha, "", opts, false)
}

func (p *Pipeline) rejudge(ctx context.Context, sha, actor string, opts RejudgeOptions, write bool) (RejudgeResult, error) {
	override := opts.Judgment
	sha = strings.ToLower(sha)
	op := "ingest: re-judge message " + sha
	policy := p.Policy() // one policy for the whole re-judgment
	switch {
	case write && strings.TrimSpace(actor) == "":
		return RejudgeResult{}, fmt.Errorf("%s: no actor to record it under", op)
	case override == nil && policy == nil:
		return RejudgeResult{}, fmt.Errorf("%s: the pipeline has no policy to judge with; use WithPolicy", op)
	}
	m, err := p.ledger.MessageBySHA256(ctx, sha)
	if err != nil {
		return RejudgeResult{}, fmt.Errorf("%s: %w", op, err)
	}
	if m.Judgment == nil || m.BundleKey == "" {
		return RejudgeResult{}, fmt.Errorf("%s: %w (next step: %s); re-judge it once the poller or the import has finished it", op, ErrNotBundled, m.Next())
	}
	_, n, err := evidence.ParseBundleKey(m.BundleKey)
	if err != nil {
		return RejudgeResult{}, fmt.Errorf("%s: the ledger's bundle key: %w", op, err)
	}

	bundle, man, err := p.fetchBundle(ctx, m.BundleKey, m.BundleSHA256)
	if err != nil {
		return RejudgeResult{}, fmt.Errorf("%s: %w", op, err)
	}
	defer bundle.Close()
	raw, facts, err := p.refacts(ctx, sha, bundle, man)
	if err != nil {
		return RejudgeResult{}, fmt.Errorf("%s: bundle %s: %w", op, m.BundleKey, err)
	}
	defer raw.Close()

	var j rules.Judgment
	if override != nil {
		j = *override
	} else {
		j = policy.Judge(facts.RulesMessage())
	}
	res := RejudgeResult{Message: m, Before: *m.Judgment, After: *m.Judgment, BundleKey: m.BundleKey}
	if sameJudgment(*m.Judgment, j) {
		return res, nil
	}
	res.After, res.Changed, res.BundleKey = j, true, evidence.BundleKey(sha, n+1)
	if !opts.Override && !opts.ByAnalyst {
		// Asked only when the judgment changes: re-judging unchanged
		// mail, the common case of a bulk run, costs nothing more.
		ds, err := p.ledger.Decisions(ctx, m.ID)
		if err != nil {
			return res, fmt.Errorf("%s: %w", op, err)
		}
		if len(ds) > 0 {
			res.Decisions = ds
			return res, fmt.Errorf("%s: %w", op, archive.DecisionsError(ds))
		}
	}
	if !write {
		return res, nil
	}

	in := &evidence.BundleInput{Raw: raw, RawSize: raw.Size(), RawSHA256: sha, Facts: facts, Judgment: j, Provenance: man.Provenance}
	for attempt := 1; ; attempt++ {
		n++
		key := evidence.BundleKey(sha, n)
		sum, err := p.putBundle(ctx, key, in)
		if errors.Is(err, archive.ErrExists) && attempt < maxRejudgeAttempts {
			// Bundle n is stored with other bytes: a re-judgment that
			// stopped before the ledger heard of it, or one running now.
			// It is evidence either way, so it is recorded as it stands,
			// and this judgment, if still different, becomes n+1.
			stored, err := p.recordStored(ctx, m.ID, key, actor, opts.Override)
			if err != nil {
				return res, fmt.Errorf("%s: %w", op, err)
			}
			if sameJudgment(stored, j) {
				res.After, res.BundleKey = stored, key
				break
			}
			continue
		}
		if err != nil {
			return res, fmt.Errorf("%s: store %s: %w", op, key, err)
		}
		atts, _, err := p.ledger.RecordRejudgment(ctx, m.ID, archive.Rejudgment{
			Judgment: j, RulesVersion: rules.Version, BundleKey: key, BundleSHA256: sum, Actor: actor,
			ByAnalyst: opts.ByAnalyst, Override: opts.Override,
		})
		if err != nil {
			if errors.Is(err, archive.ErrExists) {
				return res, fmt.Errorf("%s: judged again by someone else meanwhile (%w); re-judge it again to decide on the newest judgment", op, err)
			}
			return res, fmt.Errorf("%s: %w", op, err)
		}
		res.BundleKey, res.Attachments = key, atts
		break
	}
	if res.Message, err = p.ledger.MessageBySHA256(ctx, sha); err != nil {
		return res, fmt.Errorf("%s: %w", op, err)
	}
	p.log.Info("message re-judged", "sha256", shortSHA(sha), "before", res.Before.Verdict, "after", res.After.Verdict,
		"reason", res.After.Reason, "bundle", res.BundleKey, "actor", actor)
	return res, nil
}

// fetchBundle copies the bundle under key to a spool file and checks it on
// the way: against the SHA-256 the store recorded (Get's reader), the one
// the ledger recorded (wantSHA, when known), and its own manifest and key
// (VerifyBundle). The caller closes the spool file.
func (p *Pipeline) fetchBundle(ctx context.Context, key, wantSHA string) (*evidence.SpoolFile, *evidence.Manifest, error) {
	refuse := func(err error) error {
		if !errors.Is(err, archive.ErrCorrupt) {
			err = fmt.Errorf("%w: %w", archive.ErrCorrupt, err)
		}
		return fmt.Errorf("bundle %s does not match its record, so it is not re-judged (compare it with a copy kept elsewhere; claimtrail bundle verify checks it): %w", key, err)
	}
	rc, _, err := p.store.Get(ctx, key)
	if err != nil {
		return nil, nil, fmt.Errorf("get bundle %s: %w", key, err)
	}
	sf, err := evidence.Spool(ctx, rc, p.spoolDir)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		if errors.Is(err, archive.ErrCorrupt) {
			return nil, nil, refuse(err)
		}
		return nil, nil, fmt.Errorf("get bundle %s: %w", key, err)
	}
	if wantSHA != "" && sf.SHA256() != wantSHA {
		sf.Close()
		return nil, nil, refuse(fmt.Errorf("%w: its SHA-256 is %s, the ledger recorded %s", archive.ErrCorrupt, sf.SHA256(), wantSHA))
	}
	if err := evidence.VerifyBundle(sf, sf.Size(), key); err != nil {
		sf.Close()
		return nil, nil, refuse(err)
	}
	man, err := evidence.ReadManifest(sf, sf.Size())
	if err != nil {
		sf.Close()
		return nil, nil, fmt.Errorf("bundle %s: %w", key, err)
	}
	return sf, man, nil
}

// refacts takes the raw message out of a verified bundle and parses it
// again, with the DKIM results and warnings the manifest recorded on
// arrival. The caller closes the returned spool file.
func (p *Pipeline) refacts(ctx context.Context, sha string, bundle *evidence.SpoolFile, man *evidence.Manifest) (*evidence.SpoolFile, *evidence.Facts, error) {
	zr, err := zip.NewReader(bundle, bundle.Size())
	if err != nil {
		return nil, nil, err
	}
	f, err := zr.Open(evidence.MessageName)
	if err != nil {
		return nil, nil, err
	}
	raw, err := evidence.Spool(ctx, f, p.spoolDir)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", evidence.MessageName, err)
	}
	if raw.SHA256() != sha {
		raw.Close()
		return nil, nil, &evidence.MismatchError{File: evidence.MessageName, What: "sha256", Want: sha, Got: raw.SHA256()}
	}
	facts, err := evidence.Parse(raw, raw.Size(), p.parse)
	if err != nil {
		raw.Close()
		return nil, nil, fmt.Errorf("parse %s: %w", evidence.MessageName, err)
	}
	facts.DKIM = nil
	if man.Authentication.DKIMVerified {
		// Non-nil even when empty: "verified, no signatures".
		facts.DKIM = make([]evidence.DKIMCheck, len(man.Authentication.DKIM))
		copy(facts.DKIM, man.Authentication.DKIM)
	}
	for _, w := range man.Warnings {
		if strings.HasPrefix(w, dkimWarningPrefix) && !slices.Contains(facts.Warnings, w) {
			facts.Warnings = append(facts.Warnings, w)
		}
	}
	return raw, facts, nil
}

// putBundle spools the bundle of in and puts it under key create-only,
// returning its SHA-256. Different bytes already under key give
// archive.ErrExists: unlike a first bundle, a later one cannot adopt them,
// since they may show another judgment.
func (p *Pipeline) putBundle(ctx context.Context, key string, in *evidence.BundleInput) (string, error) {
	spool, _, err := evidence.SpoolBundle(ctx, p.spoolDir, in)
	if err != nil {
		return "", err
	}
	defer spool.Close()
	if _, err := p.store.Put(ctx, key, spool.Reader(), spool.Size(), archive.PutOptions{
		SHA256:      spool.SHA256(),
		ContentType: "application/zip",
	}); err != nil {
		return "", err
	}
	return spool.SHA256(), nil
}

// recordStored records the bundle under key, stored by a re-judgment that
// did not record it, with the judgment its manifest shows, and returns that
// judgment. override is the current re-judgment's Override: the stored
// bundle's judgment is not an analyst's attach, whoever asks now.
func (p *Pipeline) recordStored(ctx context.Context, id int64, key, actor string, override bool) (rules.Judgment, error) {
	sf, man, err := p.fetchBundle(ctx, key, "")
	if err != nil {
		return rules.Judgment{}, err
	}
	defer sf.Close()
	_, changed, err := p.ledger.RecordRejudgment(ctx, id, archive.Rejudgment{
		Judgment: man.Judgment, RulesVersion: man.RulesVersion, BundleKey: key, BundleSHA256: sf.SHA256(), Actor: actor,
		Note:     "found stored by an earlier re-judgment that was not recorded; recorded as it stands",
		Override: override,
	})
	if err != nil {
		return rules.Judgment{}, fmt.Errorf("record %s, stored by an earlier re-judgment: %w", key, err)
	}
	if changed {
		p.log.Warn("evidence bundle stored by an interrupted re-judgment recorded as it stands", "key", key, "verdict", man.Judgment.Verdict)
	}
	return man.Judgment, nil
}

// sameJudgment reports whether two judgments say the same about a message;
// warnings, the sender's spelling and the registry version that judged
// may differ.
func sameJudgment(a, b rules.Judgment) bool {
	return a.Verdict == b.Verdict && a.Reason == b.Reason && a.TenantID == b.TenantID &&
		slices.Equal(a.IncidentIDs, b.IncidentIDs) && a.Authentication == b.Authentication && a.Original == b.Original
}
