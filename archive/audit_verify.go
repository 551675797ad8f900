package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
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
	// ProblemChanged: the entry of the checkpoint VerifyAuditFrom started
	// from has another hash now, or is gone: history verified before was
	// rewritten or removed since.
	ProblemChanged ProblemKind = "changed_since_verified"
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
	// From is the seq VerifyAuditFrom started after; 0 for the whole
	// chain.
	From     int64
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

// AuditCheckpoint is a point of the chain up to which it was verified: the
// entry Seq had the hash Hash. The zero value is the start of the chain,
// before its first entry.
type AuditCheckpoint struct {
	Seq  int64
	Hash string
}

// Checkpoint returns the point the report verified the chain up to, to
// continue from with VerifyAuditFrom.
func (r *AuditReport) Checkpoint() AuditCheckpoint {
	return AuditCheckpoint{Seq: r.HeadSeq, Hash: r.HeadHash}
}

// StoreAnchors is what an object store held under AnchorPrefix when
// ReadStoreAnchors read it: listing and reading every anchor costs a
// request each, so a server reads them once and verifies many times with
// the same reading. Anchors the ledger records later are fetched by key
// when a verification needs them, and kept. Safe for concurrent use.
type StoreAnchors struct {
	store AnchorStore

	mu       sync.Mutex
	anchors  map[int64]Anchor
	problems []AuditProblem
}

// ReadStoreAnchors lists and reads every anchor in store. Objects under
// AnchorPrefix that are not anchors become problems of the verifications
// that use the reading, not errors.
func ReadStoreAnchors(ctx context.Context, store AnchorStore) (*StoreAnchors, error) {
	as, problems, err := storeAnchors(ctx, store)
	if err != nil {
		return nil, err
	}
	sa := &StoreAnchors{store: store, anchors: make(map[int64]Anchor, len(as)), problems: problems}
	for _, a := range as {
		sa.anchors[a.Seq] = a
	}
	return sa, nil
}

// Len returns how many anchors the reading holds.
func (s *StoreAnchors) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.anchors)
}

// lookup returns the store's anchor for a seq the ledger recorded at key,
// reading it from the store when the reading lacks it (Anchor puts before
// it records: a listing taken just before the put misses it).
func (s *StoreAnchors) lookup(ctx context.Context, seq int64, key string) (Anchor, bool, error) {
	s.mu.Lock()
	a, ok := s.anchors[seq]
	s.mu.Unlock()
	if ok {
		return a, true, nil
	}
	a, ok, err := getAnchor(ctx, s.store, key)
	if err != nil || !ok {
		return a, ok, err
	}
	s.mu.Lock()
	s.anchors[a.Seq] = a
	s.mu.Unlock()
	return a, true, nil
}

func (s *StoreAnchors) snapshot() (map[int64]Anchor, []AuditProblem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.anchors), slices.Clone(s.problems)
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
	var anchors *StoreAnchors
	if store != nil {
		// The store is read before the database: every anchor it holds
		// then names an entry the database snapshot must contain.
		var err error
		if anchors, err = ReadStoreAnchors(ctx, store); err != nil {
			return nil, err
		}
	}
	return l.VerifyAuditFrom(ctx, anchors, AuditCheckpoint{})
}

// VerifyAuditFrom verifies the chain after from, a checkpoint an earlier
// verification reached (AuditReport.Checkpoint): it checks that the entry
// from.Seq still has from.Hash, then recomputes the hash of every later
// entry and checks its link and sequence, starting from from.Hash, and
// checks every anchor above from.Seq against the chain. The zero
// checkpoint verifies the whole chain, as VerifyAudit does.
//
// The entries up to from.Seq, and the anchors at or below it, are not
// read again: a rewrite among them that keeps from's entry is found by the
// next verification of the whole chain, not by this one. That bounds the
// work to the entries added since, so a server can verify on every
// request and the whole chain in the background.
//
// anchors is a reading of the store's anchors (ReadStoreAnchors); nil uses
// only the ledger's anchor records. The report counts, in Entries and
// Anchors, what this call checked; its From is from.Seq.
func (l *Ledger) VerifyAuditFrom(ctx context.Context, anchors *StoreAnchors, from AuditCheckpoint) (*AuditReport, error) {
	rep := &AuditReport{From: from.Seq, HeadSeq: from.Seq, HeadHash: from.Hash}
	if from.Seq <= 0 {
		rep.From, rep.HeadSeq, rep.HeadHash = 0, 0, ""
		from = AuditCheckpoint{Hash: genesisHash}
	}
	var stored map[int64]Anchor
	if anchors != nil {
		var problems []AuditProblem
		stored, problems = anchors.snapshot()
		for _, p := range problems {
			rep.add(p)
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
	all := map[int64]Anchor{}
	if anchors == nil {
		for _, a := range recorded {
			all[a.Seq] = a
		}
	} else {
		all = stored
		for _, a := range recorded {
			if a.Seq <= from.Seq {
				continue // checked when the chain was verified up to from
			}
			s, ok, err := anchors.lookup(ctx, a.Seq, a.Key)
			if err != nil {
				return nil, err
			}
			if ok {
				all[s.Seq] = s
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
	// The anchors to check against the chain: those above from, in order.
	var seqs []int64
	for s := range all {
		rep.LastAnchor = max(rep.LastAnchor, s)
		if s > from.Seq {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)

	if from.Seq > 0 {
		var h string
		err := tx.QueryRowContext(ctx, `SELECT hash FROM audit WHERE seq = ?`, from.Seq).Scan(&h)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			rep.add(AuditProblem{Seq: from.Seq, Kind: ProblemChanged,
				Detail: fmt.Sprintf("entry %d, verified before, is gone: entries were removed since", from.Seq)})
		case err != nil:
			return nil, dbErr("verify audit", err)
		case h != from.Hash:
			rep.add(AuditProblem{Seq: from.Seq, Kind: ProblemChanged,
				Detail: fmt.Sprintf("entry %d has hash %s but had %s when verified before: the trail was rewritten since", from.Seq, short(h), short(from.Hash))})
		}
	}

	hashAt, last, err := l.checkChain(ctx, tx, rep, from, seqs)
	if err != nil {
		return nil, dbErr("verify audit", err)
	}
	if rep.Entries > 0 {
		rep.HeadHash = last
	}

	for _, s := range seqs {
		a := all[s]
		rep.Anchors++
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

// chainCheck checks the entries of one run of the chain as scanChain
// yields them, in order, into a report.
type chainCheck struct {
	rep    *AuditReport
	seqs   []int64 // the anchored seqs, ascending
	next   int     // seqs[next] is the next anchor the scan can meet
	hashAt map[int64]string
}

func (c *chainCheck) entry(e *chainEntry) {
	rep := c.rep
	rep.Entries++
	switch {
	case e.seqGap > 0:
		what := fmt.Sprintf("entry %d is missing", e.seq-e.seqGap)
		if e.seqGap > 1 {
			what = fmt.Sprintf("entries %d to %d are missing", e.seq-e.seqGap, e.seq-1)
		}
		rep.add(AuditProblem{Seq: e.seq - e.seqGap, Kind: ProblemDeleted, Detail: what})
	case e.seqGap < 0:
		rep.add(AuditProblem{Seq: e.seq, Kind: ProblemBrokenLink, Detail: "sequence number out of order"})
	}
	// After a gap the link is broken by construction; the deletion is the
	// finding.
	if e.seqGap == 0 && !e.linked {
		rep.add(AuditProblem{Seq: e.seq, Kind: ProblemBrokenLink,
			Detail: fmt.Sprintf("prev_hash %s is not the hash of entry %d (%s)", short(e.prevHash()), e.seq-1, short(e.expectPrev))})
	}
	if !e.hashOK {
		rep.add(AuditProblem{Seq: e.seq, Kind: ProblemRewritten,
			Detail: fmt.Sprintf("the entry (%s %s) hashes to %s, not its recorded %s", e.field(fAction), e.field(fSubject), short(e.computed()), short(e.hash()))})
	}
	for c.next < len(c.seqs) && c.seqs[c.next] < e.seq {
		c.next++
	}
	if c.next < len(c.seqs) && c.seqs[c.next] == e.seq {
		c.hashAt[e.seq] = e.hash()
	}
	rep.HeadSeq = e.seq
}

// splitChainAt is the length of chain, in entries, from which a
// verification reads it in two halves at once, one per core. Each half is
// itself a reading goroutine and a hashing one: the reading is the slower,
// so two of them keep both cores busy (1.6 times the entries per second).
var splitChainAt int64 = 200_000 // a variable for the tests

// checkChain checks the entries after from (the whole rest of the chain)
// into rep, and returns the hashes of the entries anchored at seqs and the
// last entry's hash.
//
// A long chain is read in two halves at once, the second on a read
// transaction of its own. The second half's links start from the stored
// hash of the first half's last entry, which the first half checks (its
// fields hash to it), so the two checks together leave no link unchecked.
func (l *Ledger) checkChain(ctx context.Context, tx *sql.Tx, rep *AuditReport, from AuditCheckpoint, seqs []int64) (map[int64]string, string, error) {
	first := &chainCheck{rep: rep, seqs: seqs, hashAt: map[int64]string{}}
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit`).Scan(&head); err != nil {
		return nil, "", err
	}
	mid := from.Seq + (head-from.Seq)/2
	var midHash string
	if head-from.Seq >= splitChainAt {
		err := tx.QueryRowContext(ctx, `SELECT hash FROM audit WHERE seq = ?`, mid).Scan(&midHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, "", err
		}
	}
	if midHash == "" {
		// Short, or the middle entry is gone (the scan reports it): one
		// run.
		last, err := scanChain(ctx, l.eng, tx, from, 0, first.entry)
		return first.hashAt, last, err
	}

	tx2, err := l.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, "", err
	}
	defer tx2.Rollback()
	second := &chainCheck{rep: &AuditReport{}, seqs: seqs, hashAt: map[int64]string{}}
	var last2 string
	done := make(chan error, 1)
	go func() {
		var err error
		last2, err = scanChain(ctx, l.eng, tx2, AuditCheckpoint{Seq: mid, Hash: midHash}, 0, second.entry)
		done <- err
	}()
	last, err := scanChain(ctx, l.eng, tx, from, mid, first.entry)
	if err2 := <-done; err == nil {
		err = err2
	}
	if err != nil {
		return nil, "", err
	}
	for _, p := range second.rep.Problems {
		rep.add(p)
	}
	rep.Truncated = rep.Truncated || second.rep.Truncated
	rep.Entries += second.rep.Entries
	maps.Copy(first.hashAt, second.hashAt)
	if second.rep.Entries > 0 {
		rep.HeadSeq, last = second.rep.HeadSeq, last2
	}
	return first.hashAt, last, nil
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
