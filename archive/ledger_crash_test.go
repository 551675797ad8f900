package archive

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// crashChildEnv names the ledger file a child process of
// TestKilledWriterResumes writes to until it is killed.
const crashChildEnv = "CLAIMTRAIL_LEDGER_CRASH_CHILD"

// TestKilledWriterResumes kills a process with SIGKILL while it works
// through messages, then reopens its ledger: the database opens, the audit
// chain verifies, no step is half done (every judged message has its
// evidence and audit entries), and the survivor finishes the work.
func TestKilledWriterResumes(t *testing.T) {
	sqliteOnly(t, "kills a writer of a SQLite file")
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "claimtrail.db")
	// Create the schema first so the parent can watch progress.
	l0, err := OpenLedger(ctx, LedgerConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	l0.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterResumes$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := openTestLedger(t, path)
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := countRows(t, l, `SELECT COUNT(*) FROM messages WHERE moved_at IS NOT NULL`)
		if n >= 50 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child finished only %d messages in 20 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	l.Close()

	l = openTestLedger(t, path)
	if _, err := l.VerifyAudit(ctx, nil); err != nil {
		t.Fatalf("VerifyAudit after SIGKILL: %v", err)
	}
	// Each step committed whole: a judged message has its evidence link
	// and one entry per step done.
	if n := countRows(t, l, `SELECT COUNT(*) FROM messages m WHERE m.judged_at IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM claim_evidence e WHERE e.message_id = m.id)`); n != 0 {
		t.Errorf("%d judged messages without evidence links", n)
	}
	for _, check := range []struct{ column, action string }{
		{"recorded_at", "message_received"}, {"judged_at", "judged"}, {"stored_at", "bundle_stored"}, {"moved_at", "moved"},
	} {
		rows := countRows(t, l, `SELECT COUNT(*) FROM messages WHERE `+check.column+` IS NOT NULL`)
		entries := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ?`, check.action)
		if rows != entries {
			t.Errorf("%d messages with %s but %d %s entries", rows, check.column, entries, check.action)
		}
	}
	total := countRows(t, l, `SELECT COUNT(*) FROM messages`)
	pending, err := l.UnfinishedMessages(ctx, "claims@partner.example", "INBOX", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range pending {
		for s := m.Next(); s != StepDone; {
			doStep(t, l, m.ID, s)
			got, _ := l.Message(ctx, m.ID)
			s = got.Next()
		}
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM messages WHERE moved_at IS NOT NULL`); n != total {
		t.Errorf("after resuming %d of %d messages are done", n, total)
	}
	t.Logf("killed after %d messages, %d unfinished, resumed", total, len(pending))
}

// crashChild works through messages until killed.
func crashChild(t *testing.T, path string) {
	l, err := OpenLedger(context.Background(), LedgerConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		m := mustRecord(t, l, testRecord(i))
		incident := "EX31" + strconv.Itoa(5200+i%7)
		if _, _, err := l.RecordJudgment(context.Background(), m.ID, accepted(tenantA, incident), rules.Version); err != nil {
			t.Fatal(err)
		}
		doStep(t, l, m.ID, StepStore)
		doStep(t, l, m.ID, StepMove)
	}
}
