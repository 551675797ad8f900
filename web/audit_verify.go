package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// The audit chain is verified in the background, never whole inside a
// request: a full verification when the server starts and then every
// fullVerifyEvery (so that a rewrite inside history already verified is
// still found by a running server), and, on each request that shows the
// verification, of the entries added since the last one, when they are
// few (maxRequestVerify). When more are new, the request answers with the
// last result and wakes the background to catch up.
const (
	fullVerifyEvery  = time.Hour
	maxRequestVerify = 5000
)

// newVerifyTicker makes the clock of the periodic full verification;
// tests replace it to run one when they say.
var newVerifyTicker = func(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// testHookAfterFull, when set, is called after each full verification.
var testHookAfterFull func()

// auditVerifier keeps what is known of the chain's verification: up to
// which entry it verified (a checkpoint to continue from), what it found,
// and the store's anchors as last read.
type auditVerifier struct {
	ledger Ledger
	store  archive.AnchorStore
	now    func() time.Time
	log    *slog.Logger
	// maxRequest is the most new entries a request verifies itself.
	maxRequest int64

	catchUp chan struct{}
	stop    chan struct{}
	// fullRuns counts the verifications from the start of the chain.
	fullRuns atomic.Int64

	run sync.Mutex // one verification after the checkpoint at a time
	mu  sync.Mutex
	st  verifyState
}

type verifyState struct {
	anchors  *archive.StoreAnchors // the store's anchors, as last read
	verified bool                  // cp was reached by a verification
	cp       archive.AuditCheckpoint
	entries  int64 // entries verified up to cp
	checked  int   // anchors checked against the chain
	last     int64 // the highest anchored seq
	problems []archive.AuditProblem
	err      error     // the last run's failure other than tampering
	at       time.Time // the last verification's end
	fullAt   time.Time // the last full verification's end
	fullBusy bool
}

func newAuditVerifier(l Ledger, store archive.AnchorStore, now func() time.Time, log *slog.Logger) *auditVerifier {
	return &auditVerifier{ledger: l, store: store, now: now, log: log, maxRequest: maxRequestVerify,
		catchUp: make(chan struct{}, 1), stop: make(chan struct{})}
}

// start runs the background verification until Close.
func (v *auditVerifier) start() {
	ticks, stopTicks := newVerifyTicker(fullVerifyEvery)
	go func() {
		defer stopTicks()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { <-v.stop; cancel() }()
		v.full(ctx)
		for {
			select {
			case <-v.stop:
				return
			case <-ticks:
				v.full(ctx)
			case <-v.catchUp:
				v.incremental(ctx, -1, true)
			}
		}
	}()
}

func (v *auditVerifier) close() {
	select {
	case <-v.stop:
	default:
		close(v.stop)
	}
}

// full reads the store's anchors again and verifies the whole chain.
func (v *auditVerifier) full(ctx context.Context) {
	defer func() {
		if testHookAfterFull != nil {
			testHookAfterFull()
		}
	}()
	v.mu.Lock()
	v.st.fullBusy = true
	v.mu.Unlock()
	anchors, err := archive.ReadStoreAnchors(ctx, v.store)
	var rep *archive.AuditReport
	if err == nil {
		v.fullRuns.Add(1)
		rep, err = v.ledger.VerifyAuditFrom(ctx, anchors, archive.AuditCheckpoint{})
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	st := &v.st
	st.fullBusy = false
	if rep == nil {
		st.err = err
		v.log.Error("audit verification", "err", err)
		return
	}
	st.anchors, st.at, st.fullAt = anchors, v.now(), v.now()
	st.err = nil
	if err != nil && !errors.Is(err, archive.ErrTampered) {
		st.err = err
	}
	// Problems found since, after this run's head, still stand.
	problems := rep.Problems
	for _, p := range st.problems {
		if p.Seq > rep.HeadSeq {
			problems = append(problems, p)
		}
	}
	if !st.verified || rep.HeadSeq >= st.cp.Seq {
		st.cp, st.entries = rep.Checkpoint(), rep.Entries
	} else {
		st.entries = rep.Entries + (st.cp.Seq - rep.HeadSeq)
	}
	st.verified, st.problems, st.checked, st.last = true, problems, rep.Anchors, rep.LastAnchor
	if len(rep.Problems) > 0 {
		v.log.Error("audit trail does not verify", "problems", len(rep.Problems), "err", err)
	}
}

// incremental verifies the entries after the checkpoint when there are at
// most limit of them (any number with limit < 0), and says whether the
// verification now reaches the head it read. A request passes wait false:
// while another verification runs it does not wait for it.
func (v *auditVerifier) incremental(ctx context.Context, limit int64, wait bool) (archive.AuditEntry, bool, error) {
	if wait {
		v.run.Lock()
	} else if !v.run.TryLock() {
		head, err := v.ledger.AuditHead(ctx)
		return head, false, err
	}
	defer v.run.Unlock()
	head, err := v.ledger.AuditHead(ctx)
	if err != nil {
		return head, false, err
	}
	v.mu.Lock()
	st := v.st
	v.mu.Unlock()
	if st.verified && st.cp.Seq == head.Seq && st.cp.Hash == head.Hash {
		return head, true, nil
	}
	if limit >= 0 && head.Seq-st.cp.Seq > limit {
		return head, false, nil
	}
	anchors := st.anchors
	if anchors == nil {
		// No full verification has read the store yet: a chain this
		// short has few anchors.
		if anchors, err = archive.ReadStoreAnchors(ctx, v.store); err != nil {
			return head, false, err
		}
	}
	if st.cp.Seq == 0 {
		v.fullRuns.Add(1)
	}
	rep, err := v.ledger.VerifyAuditFrom(ctx, anchors, st.cp)
	if rep == nil {
		return head, false, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	cur := &v.st
	if cur.cp != st.cp {
		return head, false, nil // a full verification moved it meanwhile
	}
	now := v.now()
	if cur.anchors == nil {
		cur.anchors = anchors
	}
	if rep.From == 0 {
		cur.fullAt, cur.problems, cur.entries, cur.checked = now, nil, 0, 0
	}
	for _, p := range rep.Problems {
		if p.Kind != archive.ProblemAnchorUnreadable || rep.From == 0 {
			cur.problems = append(cur.problems, p) // the reading's own problems are known
		}
	}
	cur.verified, cur.cp, cur.at = true, rep.Checkpoint(), now
	cur.entries += rep.Entries
	cur.checked += rep.Anchors
	cur.last = max(cur.last, rep.LastAnchor)
	cur.err = nil
	if err != nil && !errors.Is(err, archive.ErrTampered) {
		cur.err = err
	}
	return head, rep.HeadSeq >= head.Seq, nil
}

// kick wakes the background to verify the entries a request left.
func (v *auditVerifier) kick() {
	select {
	case v.catchUp <- struct{}{}:
	default:
	}
}

// verification is the audit chain's check, for the pages and the API.
// It says what was verified and when: the chain up to VerifiedSeq (also
// HeadSeq and HeadHash, the verified head), at VerifiedAt; the whole chain
// last at FullCheckAt. Checking says that newer entries (up to
// ChainHeadSeq) are still being verified.
type verification struct {
	OK         bool     `json:"ok"`
	Entries    int64    `json:"entries"`
	HeadSeq    int64    `json:"head_seq"`
	HeadHash   string   `json:"head_hash"`
	Anchors    int      `json:"anchors"`
	LastAnchor int64    `json:"last_anchor"`
	Problems   []string `json:"problems"`
	// Error is set when the check could not run at all.
	Error      string    `json:"error,omitempty"`
	VerifiedAt time.Time `json:"verified_at"`

	VerifiedSeq  int64 `json:"verified_seq"`
	ChainHeadSeq int64 `json:"chain_head_seq"`
	Checking     bool  `json:"checking"`
	// FullCheckAt is when the whole chain was last verified; absent
	// before the first full verification since the server started.
	FullCheckAt      *time.Time `json:"full_check_at,omitempty"`
	FullCheckRunning bool       `json:"full_check_running"`
}

// verifyAudit verifies the entries added since the last verification when
// they are few, and returns what is known.
func (s *Server) verifyAudit(ctx context.Context) verification {
	v := s.verifier
	head, done, err := v.incremental(ctx, v.maxRequest, false)
	if err != nil {
		return verification{Error: "could not read the audit trail: " + err.Error(), Problems: []string{}}
	}
	if !done {
		v.kick()
	}
	v.mu.Lock()
	st := v.st
	v.mu.Unlock()
	out := verification{Problems: []string{}, ChainHeadSeq: head.Seq, FullCheckRunning: st.fullBusy}
	if !st.verified {
		out.Checking = true
		out.Error = fmt.Sprintf("the audit trail (%d entries) has not been verified since the server started; the first verification is running: try again in a minute", head.Seq)
		if st.err != nil {
			out.Error = "could not verify the audit trail: " + st.err.Error()
		}
		return out
	}
	out.OK = len(st.problems) == 0 && st.err == nil
	out.Entries, out.HeadSeq, out.HeadHash, out.VerifiedSeq = st.entries, st.cp.Seq, st.cp.Hash, st.cp.Seq
	out.Anchors, out.LastAnchor, out.VerifiedAt = st.checked, st.last, st.at.UTC()
	out.Checking = st.cp.Seq != head.Seq
	if !st.fullAt.IsZero() {
		t := st.fullAt.UTC()
		out.FullCheckAt = &t
	}
	for _, p := range st.problems {
		out.Problems = append(out.Problems, p.String())
	}
	if st.err != nil {
		out.Error = st.err.Error()
	}
	return out
}
