package archive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit runs many concurrent writes, some failing after they
// wrote and some whose context ends in the middle of a long statement
// (SQLite then rolls the whole transaction back), and checks that each
// write's outcome is what the ledger holds: a write reported done is
// there, a failed one left nothing, and the audit chain is whole.
func TestGroupCommit(t *testing.T) {
	t.Run("failures", func(t *testing.T) { testGroupCommit(t, []string{"ok", "fail", "ok"}) })
	t.Run("interruptions", func(t *testing.T) { testGroupCommit(t, []string{"ok", "ok", "fail", "ok", "cancel"}) })
}

func testGroupCommit(t *testing.T, kinds []string) {
	ctx := context.Background()
	l := newTestLedger(t)
	errPlanned := errors.New("planned failure")
	const writers = 60
	type outcome struct {
		kind string
		err  error
	}
	results := make([]outcome, writers)
	var wg sync.WaitGroup
	for i := range writers {
		kind := kinds[i%len(kinds)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			err := l.write(wctx, fmt.Sprintf("write %d", i), func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(wctx, `INSERT INTO checkpoints (mailbox, folder, uidvalidity, last_uid, updated_at)
					VALUES ('group', ?, 1, 1, 'now')`, fmt.Sprint(i)); err != nil {
					return err
				}
				if _, err := l.appendAudit(wctx, tx, l.now(), ActorSystem, ActionMoved, fmt.Sprintf("write:%d", i), nil); err != nil {
					return err
				}
				// Hold the transaction a little, so that others queue.
				time.Sleep(2 * time.Millisecond)
				switch kind {
				case "fail":
					return errPlanned
				case "cancel":
					time.AfterFunc(5*time.Millisecond, cancel)
					// An endless INSERT: interrupted, it takes the
					// whole transaction with it.
					_, err := tx.ExecContext(wctx, `INSERT INTO checkpoints (mailbox, folder, uidvalidity, last_uid, updated_at)
						WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
						SELECT 'junk', x, 1, 1, 'now' FROM c`)
					return err
				}
				return nil
			})
			results[i] = outcome{kind, err}
		}()
	}
	wg.Wait()
	if l.group.shared.Load() == 0 {
		t.Fatal("no two writes shared a transaction; the test did not exercise the group commit")
	}
	done := 0
	for i, r := range results {
		there := countRows(t, l, `SELECT COUNT(*) FROM checkpoints WHERE mailbox = 'group' AND folder = ?`, fmt.Sprint(i)) == 1
		audited := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE subject = ?`, fmt.Sprintf("write:%d", i)) == 1
		switch {
		case r.err == nil && (!there || !audited):
			t.Errorf("write %d (%s) reported done, but its row is there: %v, audited: %v", i, r.kind, there, audited)
		case r.err != nil && (there || audited):
			t.Errorf("write %d (%s) failed (%v), but its row is there: %v, audited: %v", i, r.kind, r.err, there, audited)
		case r.kind == "ok" && r.err != nil && !errors.Is(r.err, ErrUnavailable):
			t.Errorf("write %d failed with %v; a write that shared a broken transaction must fail with ErrUnavailable", i, r.err)
		case r.kind == "fail" && !errors.Is(r.err, errPlanned):
			t.Errorf("write %d = %v, want its own error", i, r.err)
		case r.kind == "cancel" && r.err == nil:
			t.Errorf("write %d with its context cancelled succeeded", i)
		}
		if r.err == nil {
			done++
		}
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM checkpoints WHERE mailbox = 'junk'`); n != 0 {
		t.Errorf("%d rows of interrupted INSERTs were committed", n)
	}
	if done == 0 {
		t.Error("no write was done")
	}
	unavailable := 0
	for _, r := range results {
		if r.kind == "ok" && errors.Is(r.err, ErrUnavailable) {
			unavailable++
		}
	}
	t.Logf("%d of %d writes done, %d writes shared a transaction, %d lost theirs to another's interrupted INSERT",
		done, writers, l.group.shared.Load(), unavailable)
	if rep, err := l.VerifyAudit(ctx, nil); err != nil || len(rep.Problems) != 0 {
		t.Errorf("VerifyAudit = %+v, %v; want no problems", rep, err)
	}
}

// TestCommitDelay: with a commit delay, writes that come one after another
// within it share a transaction. The first, after a quiet spell, does not
// wait: had it waited, the others would have joined its transaction.
func TestCommitDelay(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	l.SetCommitDelay(time.Second)
	const writes = 6
	var wg sync.WaitGroup
	errs := make(chan error, writes)
	for i := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- l.SetCheckpoint(ctx, "delay", fmt.Sprint(i), 1, uint32(i+1))
		}()
		// Each write has begun, or queued behind a waiting one, before
		// the next comes; all come well within the delay.
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := l.group.shared.Load(); got != writes-1 {
		t.Errorf("%d writes shared a transaction, want %d: the first alone, then all the others", got, writes-1)
	}
	if got := countRows(t, l, `SELECT COUNT(*) FROM checkpoints WHERE mailbox = 'delay'`); got != writes {
		t.Errorf("%d checkpoints recorded, want %d", got, writes)
	}
}
