package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

// countingFetch counts the message bodies the client asks for.
type countingFetch struct {
	imapserver.Session
	bodies *atomic.Int64
}

func (s countingFetch) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if len(options.BodySection) > 0 {
		if set, ok := numSet.(imap.UIDSet); ok {
			if uids, ok := set.Nums(); ok {
				s.bodies.Add(int64(len(uids)))
			}
		}
	}
	return s.Session.Fetch(w, numSet, options)
}

// While the processor fails (the store is down) and the server is fine,
// Run retries on ProcessBackoff, not on the server's Backoff, and each
// retry fetches one message, not the batch again.
func TestRunRetriesProcessorFailuresCheaply(t *testing.T) {
	const total, failures = 20, 3
	var bodies atomic.Int64
	cfg, u := memServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}},
		func(s imapserver.Session) imapserver.Session { return countingFetch{s, &bodies} })
	for i := range total {
		memAppend(t, u, "INBOX", ingesttest.NewMessage(i, fmt.Sprintf("m%d", i), 800))
	}
	opts := testOptions(t)
	// A server failure would wait an hour: the test would time out.
	opts.Backoff = &ingest.Backoff{Min: time.Hour, Max: time.Hour}
	opts.ProcessBackoff = &ingest.Backoff{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}
	src, err := ingest.NewIMAPSource(cfg, newMemCheckpoints(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	calls, handled := 0, map[uint32]bool{}
	errStoreDown := errors.New("archive: put: MinIO unavailable")
	err = src.Run(ctx, ingest.Handler(func(_ context.Context, m *ingest.Message) (ingest.Destination, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= failures {
			return "", errStoreDown
		}
		handled[m.UID] = true
		if len(handled) == total {
			cancel()
		}
		return ingest.ToAccepted, nil
	}))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(handled) != total {
		t.Fatalf("handled %d of %d messages in 30 s; the retries after %d processor failures did not come", len(handled), total, failures)
	}
	// The first attempt fetches the batch; each retry one message, and the
	// one that works goes on with the rest.
	if got, limit := bodies.Load(), int64(2*total+failures); got > limit {
		t.Errorf("fetched %d bodies for %d messages and %d failures, want at most %d", got, total, failures, limit)
	}
}

// Chunks overlap (the next is fetched while the workers finish one), but a
// failure still stops the pass at the first failed message: the mail
// before it is moved and checkpointed, the failed message and everything
// after it stays in the folder, even what the workers already handled of
// the next chunk.
func TestOverlappingChunksStopAtFailure(t *testing.T) {
	const total, failUID = 20, 11
	cfg, u := memServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}}, nil)
	for i := range total {
		memAppend(t, u, "INBOX", ingesttest.NewMessage(i, fmt.Sprintf("m%d", i), 800))
	}
	opts := testOptions(t)
	opts.Workers = 2
	opts.ChunkSize = 4 // chunk 3 holds UIDs 9-12
	opts.BatchSize = 2
	cps := newMemCheckpoints()
	src, err := ingest.NewIMAPSource(cfg, cps, opts)
	if err != nil {
		t.Fatal(err)
	}
	errBroken := errors.New("store broken")
	var mu sync.Mutex
	handled := map[uint32]bool{}
	err = src.RunOnce(context.Background(), ingest.Handler(func(_ context.Context, m *ingest.Message) (ingest.Destination, error) {
		if m.UID == failUID {
			return "", errBroken
		}
		mu.Lock()
		handled[m.UID] = true
		mu.Unlock()
		return ingest.ToAccepted, nil
	}))
	if !errors.Is(err, errBroken) {
		t.Fatalf("RunOnce = %v, want the processor's failure", err)
	}
	for uid := uint32(1); uid < failUID; uid++ {
		if !handled[uid] {
			t.Errorf("UID %d, before the failure, was not handled", uid)
		}
	}
	if cp := cps.get(cfg.Name, "INBOX"); cp.UID != failUID-1 {
		t.Errorf("checkpoint at UID %d, want %d (the last message before the failure)", cp.UID, failUID-1)
	}
	conn := dial(t, cfg, opts)
	left := uidsOf(fetchAll(t, conn, "INBOX", ingest.Checkpoint{}))
	want := []uint32{}
	for uid := uint32(failUID); uid <= total; uid++ {
		want = append(want, uid)
	}
	if fmt.Sprint(left) != fmt.Sprint(want) {
		t.Errorf("INBOX holds UIDs %v, want %v", left, want)
	}
	st, err := conn.Select(context.Background(), "Accepted")
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != failUID-1 {
		t.Errorf("Accepted holds %d messages, want %d", st.Messages, failUID-1)
	}
}
