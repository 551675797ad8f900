package ingest_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/rules"
)

// gatedLedger holds the first RecordStoredMessage until a second one comes.
type gatedLedger struct {
	ingest.Ledger
	calls  atomic.Int32
	once   sync.Once
	second chan struct{}
}

func (g *gatedLedger) RecordStoredMessage(ctx context.Context, rec archive.MessageRecord, j rules.Judgment, version string, b archive.StoredBundle) (*archive.Message, bool, error) {
	if g.calls.Add(1) == 1 {
		select {
		case <-g.second:
		case <-time.After(5 * time.Second):
			return nil, false, errors.New("no second record came: the worker waited for the first one's commit")
		}
	} else {
		g.once.Do(func() { close(g.second) })
	}
	return g.Ledger.RecordStoredMessage(ctx, rec, j, version, b)
}

// A worker leaves a new message's record to a goroutine of its own and
// takes the next message meanwhile: one worker, and the first record
// waits for the second. The moves still wait for both.
func TestWorkerLeavesRecordToGoroutine(t *testing.T) {
	cfg, u := memServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, nil)
	for _, name := range []string{"rejected-personal-gmail.eml", "accepted-contoso-outlook-html.eml"} {
		raw, err := os.ReadFile("../testdata/mail/" + name)
		if err != nil {
			t.Fatal(err)
		}
		memAppend(t, u, "INBOX", raw)
	}
	e := newPipelineEnv(t)
	gated := &gatedLedger{Ledger: e.ledger, second: make(chan struct{})}
	pipe := ingest.NewPipeline(corpusPolicy(t), e.store, gated, &ingest.PipelineOptions{SpoolDir: t.TempDir(), Logger: quietLogger()})
	opts := testOptions(t)
	opts.Workers = 1
	src, err := ingest.NewIMAPSource(cfg, pipe, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.RunOnce(context.Background(), pipe); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	for folder, want := range map[string]uint32{"INBOX": 0, "Rejected": 1, "Accepted": 1} {
		st, err := u.Status(folder, &imap.StatusOptions{NumMessages: true})
		if err != nil {
			t.Fatalf("status %s: %v", folder, err)
		}
		if *st.NumMessages != want {
			t.Errorf("%s holds %d messages, want %d", folder, *st.NumMessages, want)
		}
	}
	if n := gated.calls.Load(); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}
