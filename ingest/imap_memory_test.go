package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

// With MemoryBytes, mail up to that size reaches the handler in Data and
// larger mail in a spool file; either way with its size and SHA-256, and
// nothing is left in the spool directory.
func TestFetchHoldsSmallMailInMemory(t *testing.T) {
	const memory = 4 << 10
	sizes := []int{600, memory, memory + 1, 20 << 10}
	for _, limit := range []int64{0, memory} {
		t.Run(fmt.Sprintf("MemoryBytes=%d", limit), func(t *testing.T) {
			cfg, u := memServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, nil)
			want := map[uint32]string{}
			for i, size := range sizes {
				msg := ingesttest.NewMessage(i, fmt.Sprintf("m%d", i), size)
				memAppend(t, u, "INBOX", msg)
				sum := sha256.Sum256(msg)
				want[uint32(i+1)] = hex.EncodeToString(sum[:])
			}
			opts := testOptions(t)
			opts.MemoryBytes = limit
			conn := dial(t, cfg, opts)
			var mu sync.Mutex
			err := conn.FetchNew(context.Background(), "INBOX", ingest.Checkpoint{}, func(m *ingest.Message) error {
				mu.Lock()
				defer mu.Unlock()
				inMemory := m.Size <= limit
				var body []byte
				switch {
				case inMemory && (m.Data == nil || m.Path != ""):
					t.Errorf("UID %d (%d bytes): Path %q, Data %d bytes; want it in Data", m.UID, m.Size, m.Path, len(m.Data))
				case !inMemory && (m.Data != nil || m.Path == ""):
					t.Errorf("UID %d (%d bytes): Path %q, Data %d bytes; want it in a spool file", m.UID, m.Size, m.Path, len(m.Data))
				case inMemory:
					body = m.Data
				default:
					var err error
					if body, err = os.ReadFile(m.Path); err != nil {
						t.Fatal(err)
					}
				}
				sum := sha256.Sum256(body)
				if got := hex.EncodeToString(sum[:]); got != want[m.UID] || m.SHA256 != want[m.UID] || int64(len(body)) != m.Size {
					t.Errorf("UID %d: %d bytes hashing to %s, SHA256 %s, Size %d; want %s", m.UID, len(body), got, m.SHA256, m.Size, want[m.UID])
				}
				delete(want, m.UID)
				return nil
			})
			if err != nil {
				t.Fatalf("FetchNew: %v", err)
			}
			if len(want) != 0 {
				t.Errorf("messages not handed on: %v", want)
			}
			if n := spoolFiles(t, opts.SpoolDir); n != 0 {
				t.Errorf("%d files left in the spool directory", n)
			}
		})
	}
}
