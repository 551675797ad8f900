package ingest_test

import (
	"context"
	"io"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

// BenchmarkUIDFetch measures fetching 2,000 messages of 8 KB from a local
// Dovecot: "raw" is go-imap reading UID FETCH BODY.PEEK[] into nothing,
// "FetchNew" is the IMAP source, which also spools each message to a file
// and hashes it. One op fetches the whole folder.
func BenchmarkUIDFetch(b *testing.B) {
	const n, size = 2000, 8 << 10
	d := ingesttest.StartDovecot(b)
	msgs := make([][]byte, n)
	var total int64
	for i := range msgs {
		msgs[i] = ingesttest.NewMessage(i, "bench", size)
		total += int64(len(msgs[i]))
	}
	d.Append(b, user, "INBOX", msgs...)

	b.Run("raw", func(b *testing.B) {
		c := d.Dial(b, user)
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(total)
		for b.Loop() {
			cmd := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
				UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
			})
			got := 0
			for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
				for item := msg.Next(); item != nil; item = msg.Next() {
					if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
						io.Copy(io.Discard, body.Literal)
						got++
					}
				}
			}
			if err := cmd.Close(); err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("fetched %d bodies, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "mails/s")
	})

	b.Run("FetchNew", func(b *testing.B) {
		opts := testOptions(b)
		conn, err := ingest.DialIMAP(context.Background(), d.MailboxConfig(user), opts)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		b.SetBytes(total)
		for b.Loop() {
			got := 0
			err := conn.FetchNew(context.Background(), "INBOX", ingest.Checkpoint{}, func(m *ingest.Message) error {
				got++
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("FetchNew yielded %d messages, want %d", got, n)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "mails/s")
	})
}
