package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
)

// memCheckpoints is an in-memory ingest.CheckpointStore.
type memCheckpoints struct {
	mu    sync.Mutex
	cps   map[string]ingest.Checkpoint
	saves int
}

func newMemCheckpoints() *memCheckpoints {
	return &memCheckpoints{cps: map[string]ingest.Checkpoint{}}
}

func (m *memCheckpoints) LoadCheckpoint(_ context.Context, mailbox, folder string) (ingest.Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cps[mailbox+"/"+folder], nil
}

func (m *memCheckpoints) SaveCheckpoint(_ context.Context, mailbox, folder string, cp ingest.Checkpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cps[mailbox+"/"+folder] = cp
	m.saves++
	return nil
}

func (m *memCheckpoints) get(mailbox, folder string) ingest.Checkpoint {
	cp, _ := m.LoadCheckpoint(context.Background(), mailbox, folder)
	return cp
}

// fetched is what a test keeps of one handled message.
type fetched struct {
	uid     uint32
	subject string
	sha256  string
	skip    ingest.SkipReason
	size    int64
}

// collect returns a handler that records each message (reading its spool
// file) and sends it where route says.
func collect(t testing.TB, mu *sync.Mutex, out *[]fetched, route func(subject string) ingest.Destination) ingest.Handler {
	return func(_ context.Context, m *ingest.Message) (ingest.Destination, error) {
		f := fetched{uid: m.UID, sha256: m.SHA256, skip: m.Skip, size: m.Size}
		if m.Path != "" {
			b, err := os.ReadFile(m.Path)
			if err != nil {
				return "", fmt.Errorf("read spool: %w", err)
			}
			if int64(len(b)) != m.Size {
				t.Errorf("message %d: spool holds %d bytes, Size = %d", m.UID, len(b), m.Size)
			}
			f.subject = subjectOf(b)
		}
		mu.Lock()
		*out = append(*out, f)
		mu.Unlock()
		if route == nil {
			return ingest.LeaveInPlace, nil
		}
		return route(f.subject), nil
	}
}

func subjectOf(b []byte) string {
	var subject string
	for _, line := range splitLines(string(b)) {
		if line == "" {
			break
		}
		if n, err := fmt.Sscanf(line, "Subject: %s", &subject); n == 1 && err == nil {
			return subject
		}
	}
	return ""
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '\r' && s[i+1] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 2
		}
	}
	return lines
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testOptions are IMAPOptions for tests: quiet, spooling into a test
// directory, quick retries.
func testOptions(t testing.TB) *ingest.IMAPOptions {
	return &ingest.IMAPOptions{
		Logger:   quietLogger(),
		SpoolDir: t.TempDir(),
		Backoff:  &ingest.Backoff{Min: 50 * time.Millisecond, Max: 500 * time.Millisecond},
	}
}

// spoolFiles counts the files left in dir.
func spoolFiles(t testing.TB, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
