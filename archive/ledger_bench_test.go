package archive

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

// benchmarkIngest runs the ledger's share of ingesting one mail per
// iteration: RecordMessage and RecordJudgment (which attaches it to its
// claim), or when full is set the pipeline's steps, RecordStoredMessage
// and MarkMoved, from workers goroutines. (The pipeline records
// a chunk's moves at once with MarkMovedMany; one MarkMoved a mail is the
// dearer case.) Mail is spread over claims claims. It reports msgs/s.
func benchmarkIngest(b *testing.B, workers, claims int, full bool) {
	ctx := context.Background()
	l := newTestLedger(b)
	var next atomic.Int64
	b.ResetTimer()
	done := make(chan error, workers)
	per := b.N / workers
	for w := range workers {
		n := per
		if w == 0 {
			n += b.N % workers
		}
		go func() {
			for range n {
				i := int(next.Add(1))
				rec := testRecord(i)
				rec.SHA256 = shaOf(fmt.Sprintf("bench %d", i))
				inc := fmt.Sprintf("EX%06d", 300000+i%claims)
				var m *Message
				var err error
				if full {
					m, _, err = l.RecordStoredMessage(ctx, rec, accepted(tenantA, inc), rules.Version,
						StoredBundle{Key: "bundles/" + rec.SHA256 + ".zip", SHA256: rec.SHA256})
				} else if m, _, err = l.RecordMessage(ctx, rec); err == nil {
					_, _, err = l.RecordJudgment(ctx, m.ID, accepted(tenantA, inc), rules.Version)
				}
				if err != nil {
					done <- err
					return
				}
				if full {
					if err := l.MarkMoved(ctx, m.ID, "Processed"); err != nil {
						done <- err
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range workers {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkRecordJudge(b *testing.B)           { benchmarkIngest(b, 1, 50, false) }
func BenchmarkRecordJudgeStoreMove(b *testing.B)  { benchmarkIngest(b, 1, 50, true) }
func BenchmarkRecordJudgeStoreMove4(b *testing.B) { benchmarkIngest(b, 4, 50, true) }
func BenchmarkRecordJudgeOneClaim(b *testing.B)   { benchmarkIngest(b, 1, 1, false) }

// BenchmarkVerifyAudit verifies a trail of 20,000 entries per iteration and
// reports entries/s.
func BenchmarkVerifyAudit(b *testing.B) {
	ctx := context.Background()
	l := newTestLedger(b)
	const entries = 20000
	err := l.write(ctx, "fill", func(stx *sql.Tx) error {
		for i := range entries {
			if _, err := l.appendAudit(ctx, stx, l.now(), ActorSystem, ActionMoved, fmt.Sprintf("message:%d", i),
				map[string]any{"to": "Processed", "uid": i}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		rep, err := l.VerifyAudit(ctx, nil)
		if err != nil || rep.Entries != entries {
			b.Fatalf("VerifyAudit = %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
