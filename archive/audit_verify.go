package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// ErrTampered is returned by VerifyAudit when the audit trail does not
// verify; the report names each problem.
var ErrTampered = errors.New("audit trail does not verify")

// ProblemKind classifies what VerifyAudit found wrong.
type ProblemKind string

// The problems VerifyAudit detects.
const (
	// ProblemRewritten: an entry's contents do not hash to its hash.
	ProblemRewritten ProblemKind = "rewritten"
	// ProblemBrokenLink: an entry's prev_hash is not the previous entry's
	// hash (entries reordered, or prev_hash edited).
	ProblemBrokenLink ProblemKind = "broken_link"
	// ProblemDeleted: sequence numbers are missing inside the chain.
	ProblemDeleted ProblemKind = "deleted"
	// ProblemTruncated: the chain ends before an anchored entry.
	ProblemTruncated ProblemKind = "truncated"
	// ProblemAnchorMismatch: the chain's entry at an anchored seq has
	// another hash than the anchor: entries up to it were rewritten and
	// rehashed, or the ledger's anchor record was edited.
	ProblemAnchorMismatch ProblemKind = "anchor_mismatch"
	// ProblemAnchorMissing: the ledger recorded an anchor the store lacks.
	ProblemAnchorMissing ProblemKind = "anchor_missing"
	// ProblemAnchorUnreadable: an object under anchors/ is not a valid
	// anchor, or its bytes no longer match their SHA-256.
	ProblemAnchorUnreadable ProblemKind = "anchor_unreadable"
)

// AuditProblem is one finding of VerifyAudit.
type AuditProblem struct {
	Seq    int64 // the entry or anchor concerned
	Kind   ProblemKind
	Detail string
}

// String formats the problem as VerifyAudit's error lists it.
func (p AuditProblem) String() string {
	return fmt.Sprintf("seq %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// AuditReport is the outcome of VerifyAudit.
type AuditReport struct {
	Entries  int64  // entries read
	HeadSeq  int64  // seq of the last entry
	HeadHash string // its hash
	Anchors  int    // anchors checked against the chain
	// LastAnchor is the highest anchored seq. Entries after it are
	// protected by the chain alone: removing them is not detectable.
	LastAnchor int64
	Problems   []AuditProblem
	// Truncated is set when more problems were found than are listed.
	Truncated bool
}

// maxProblems bounds the report: a renumbered chain fails at every entry.
const maxProblems = 1000

func (r *AuditReport) add(p AuditProblem) {
	if len(r.Problems) >= maxProblems {
		r.Truncated = true
		return
	}
	r.Problems = append(r.Problems, p)
}

// VerifyAudit recomputes every hash of the audit trail, checks the links
// and the sequence, and checks the chain against each anchor in store (and
// each the ledger recorded). With a nil store only the ledger's own anchor
// records are used, which someone able to edit the database can edit too.
//
// The report lists every problem found; the error wraps ErrTampered when
// there is any, and is another error when the ledger or the store could not
// be read.
func (l *Ledger) VerifyAudit(ctx context.Context, store AnchorStore) (*AuditReport, error) {
	rep := &AuditReport{}
	// The store is listed before the database is read: every anchor it
	// holds then names an entry the database snapshot must contain.
	var stored map[int64]Anchor
	if store != nil {
		as, problems, err := storeAnchors(ctx, store)
		if err != nil {
			return nil, err
		}
		for _, p := range problems {
			rep.add(p)
		}
		stored = map[int64]Anchor{}
		for _, a := range as {
			stored[a.Seq] = a
		}
	}

	tx, err := l.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("verify audit", err)
	}
	defer tx.Rollback()

	recorded, err := ledgerAnchors(ctx, tx)
	if err != nil {
		return nil, err
	}
	var anchors map[int64]Anchor
	if store == nil {
		anchors = map[int64]Anchor{}
		for _, a := range recorded {
			anchors[a.Seq] = a
		}
	} else {
		anchors = stored
		for _, a := range recorded {
			s, ok := stored[a.Seq]
			if !ok {
				// Anchor puts before it records: a listing taken just
				// before the put can miss it. Ask for the key itself.
				s, ok, err = getAnchor(ctx, store, a.Key)
				if err != nil {
					return nil, err
				}
				if ok {
					anchors[s.Seq] = s
				}
			}
			switch {
			case !ok:
				rep.add(AuditProblem{Seq: a.Seq, Kind: ProblemAnchorMissing,
					Detail: fmt.Sprintf("the ledger recorded an anchor at %s that the store does not hold", a.Key)})
			case s.Hash != a.Hash:
				rep.add(AuditProblem{Seq: a.Seq, Kind: ProblemAnchorMismatch,
					Detail: fmt.Sprintf("the ledger's record of the anchor says %s, the store's anchor %s", a.Hash, s.Hash)})
			}
		}
	}
	hashAt := make(map[int64]string, len(anchors))

	rows, err := tx.QueryContext(ctx, auditSelect+` ORDER BY seq`)
	if err != nil {
		return nil, dbErr("verify audit", err)
	}
	defer rows.Close()
	expect, prev := int64(1), genesisHash
	for rows.Next() {
		var e AuditEntry
		if err := scanAudit(rows, &e); err != nil {
			return nil, dbErr("verify audit", err)
		}
		rep.Entries++
		gap := e.Seq != expect
		switch {
		case e.Seq > expect:
			what := fmt.Sprintf("entry %d is missing", expect)
			if e.Seq-expect > 1 {
				what = fmt.Sprintf("entries %d to %d are missing", expect, e.Seq-1)
			}
			rep.add(AuditProblem{Seq: expect, Kind: ProblemDeleted, Detail: what})
		case e.Seq < expect:
			rep.add(AuditProblem{Seq: e.Seq, Kind: ProblemBrokenLink, Detail: "sequence number out of order"})
		}
		// After a gap the link is broken by construction; the deletion
		// is the finding.
		if !gap && e.PrevHash != prev {
			rep.add(AuditProblem{Seq: e.Seq, Kind: ProblemBrokenLink,
				Detail: fmt.Sprintf("prev_hash %s is not the hash of entry %d (%s)", short(e.PrevHash), e.Seq-1, short(prev))})
		}
		if got := e.ComputeHash(); got != e.Hash {
			rep.add(AuditProblem{Seq: e.Seq, Kind: ProblemRewritten,
				Detail: fmt.Sprintf("the entry (%s %s) hashes to %s, not its recorded %s", e.Action, e.Subject, short(got), short(e.Hash))})
		}
		if _, ok := anchors[e.Seq]; ok {
			hashAt[e.Seq] = e.Hash
		}
		expect, prev = e.Seq+1, e.Hash
		rep.HeadSeq, rep.HeadHash = e.Seq, e.Hash
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("verify audit", err)
	}

	seqs := make([]int64, 0, len(anchors))
	for s := range anchors {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, s := range seqs {
		a := anchors[s]
		rep.Anchors++
		rep.LastAnchor = s
		h, ok := hashAt[s]
		switch {
		case s > rep.HeadSeq:
			rep.add(AuditProblem{Seq: s, Kind: ProblemTruncated,
				Detail: fmt.Sprintf("the chain ends at seq %d but %s anchors seq %d: entries %d to %d were removed",
					rep.HeadSeq, a.Key, s, rep.HeadSeq+1, s)})
		case !ok:
			// Inside the chain but absent: already reported as deleted.
		case h != a.Hash:
			rep.add(AuditProblem{Seq: s, Kind: ProblemAnchorMismatch,
				Detail: fmt.Sprintf("entry %d has hash %s but %s says %s: entries up to %d were rewritten",
					s, short(h), a.Key, short(a.Hash), s)})
		}
	}
	if len(rep.Problems) > 0 {
		var lines []string
		for i, p := range rep.Problems {
			if i == 3 {
				lines = append(lines, fmt.Sprintf("and %d more", len(rep.Problems)-3))
				break
			}
			lines = append(lines, p.String())
		}
		return rep, fmt.Errorf("archive: verify audit: %w: %s", ErrTampered, strings.Join(lines, "; "))
	}
	return rep, nil
}

func getAnchor(ctx context.Context, store AnchorStore, key string) (Anchor, bool, error) {
	rc, _, err := store.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return Anchor{}, false, nil
	}
	if err != nil {
		return Anchor{}, false, fmt.Errorf("archive: get anchor %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxAnchorSize+1))
	if err != nil {
		return Anchor{}, false, fmt.Errorf("archive: get anchor %s: %w", key, err)
	}
	a, err := decodeAnchor(key, b)
	if err != nil {
		return Anchor{}, false, nil
	}
	return a, true, nil
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
