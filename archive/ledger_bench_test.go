package archive

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
			if _, err := l.appendAudit(ctx, stx, l.now(), ActorSystem, ActionMoved, fmt.Sprintf("bench:%d", i),
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

// BenchmarkRecordStoredGroup is the ledger's share of `claimtrail run`:
// 16 workers record stored mail, with run's commit delay, so that writes
// share transactions (each in a savepoint). Its wall time is mostly the
// delay; it reports the process's CPU time per mail, the figure that
// counts on a machine the whole pipeline keeps busy.
func BenchmarkRecordStoredGroup(b *testing.B) { benchmarkRecordStoredGroup(b, newTestLedger(b)) }

// BenchmarkRecordStoredGroupInto is BenchmarkRecordStoredGroup into the
// ledger file CLAIMTRAIL_BENCH_LEDGER names, e.g. a copy of the 1M-message
// ledger of scripts/bench-ledger.sh, to see what a big ledger costs each
// mail. The file keeps the mail the benchmark adds: use a copy.
func BenchmarkRecordStoredGroupInto(b *testing.B) {
	path := os.Getenv("CLAIMTRAIL_BENCH_LEDGER")
	if path == "" {
		b.Skip("CLAIMTRAIL_BENCH_LEDGER names no ledger file")
	}
	benchmarkRecordStoredGroup(b, openTestLedger(b, path))
}

func benchmarkRecordStoredGroup(b *testing.B, l *Ledger) {
	ctx := context.Background()
	l.SetCommitDelay(40 * time.Millisecond)
	// Mail of an earlier run into the same file must not be a duplicate.
	run := time.Now().UnixNano()
	const workers = 16
	var next atomic.Int64
	cpu0 := processCPUTime(b)
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)); i <= b.N; i = int(next.Add(1)) {
				rec := testRecord(i)
				rec.SHA256 = shaOf(fmt.Sprintf("bench %d %d", run, i))
				rec.UIDValidity, rec.UID = uint32(run), uint32(i)
				// Mail from many people, as a partner's mailbox gets it.
				rec.Sender = fmt.Sprintf("user%d@customer%d.example", i%997, i%50)
				rec.Subject = fmt.Sprintf("RE: Outage EX%06d, users in building %d cannot send mail", 300000+i%50, i%97)
				inc := fmt.Sprintf("EX%06d", 300000+i%50)
				if _, _, err := l.RecordStoredMessage(ctx, rec, accepted(tenantA, inc), rules.Version,
					StoredBundle{Key: "bundles/" + rec.SHA256 + ".zip", SHA256: rec.SHA256}); err != nil {
					errs <- err
					return
				}
				mv := Move{SHA256: rec.SHA256, Mailbox: rec.Mailbox, Folder: rec.Folder, UID: rec.UID}
				if err := l.MarkMovedMany(ctx, []Move{mv}, "Processed"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64((processCPUTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(l.group.shared.Load())/float64(b.N), "shared/msg")
}

// processCPUTime is the user and system CPU time this process has used.
func processCPUTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
