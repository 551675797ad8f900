package archive

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestMigration0012LinksMessageEntries runs migration 0012 on a ledger
// made before it: every entry about a message is linked to the message's
// row, and a message's audit, a claim's audit and the other subjects read
// the same entries as before.
func TestMigration0012LinksMessageEntries(t *testing.T) {
	sqliteOnly(t, "upgrades a SQLite ledger from before migration 0012")
	ctx := context.Background()
	l := newTestLedger(t)
	a := openClaimWith(t, l, tenantA, "EX315207", 3, true)
	openClaimWith(t, l, tenantA, "EX315208", 2, false)
	ids, err := l.claimMessages(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.Message(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := l.MarkMoved(ctx, m.ID, "Processed"); err != nil {
		t.Fatal(err)
	}
	filters := []AuditFilter{{Subject: messageSubject(m.SHA256)}, {SubjectPrefix: messageSubject(m.SHA256[:6])},
		{Claim: a}, {Subject: claimSubject(a)}, {SubjectPrefix: "claim:"}}
	before := map[int][]int64{}
	for i, f := range filters {
		before[i] = auditSeqs(t, l, f)
		if len(before[i]) == 0 {
			t.Fatalf("the fixture has no entries for %+v", f)
		}
	}
	links := countRows(t, l, `SELECT COUNT(*) FROM audit_messages`)
	if want := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE subject LIKE 'message:%'`); links != want {
		t.Fatalf("audit_messages has %d links, want one per message entry, %d", links, want)
	}

	// The ledger as it was before 0012.
	if _, err := l.w.ExecContext(ctx, `DROP TABLE audit_messages; DROP INDEX audit_subject;
		CREATE INDEX audit_subject ON audit (subject)`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.w.ExecContext(ctx, migrationSQL(t, 12)); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit_messages`); n != links {
		t.Errorf("after migration 0012 audit_messages has %d links, want %d", n, links)
	}
	for i, f := range filters {
		if got := auditSeqs(t, l, f); !slices.Equal(got, before[i]) {
			t.Errorf("after migration 0012, AuditEntries(%+v) = %v, want %v", f, got, before[i])
		}
	}
	// New mail is linked as it comes.
	openClaimWith(t, l, tenantA, "EX315209", 1, true)
	if n, want := countRows(t, l, `SELECT COUNT(*) FROM audit_messages`),
		countRows(t, l, `SELECT COUNT(*) FROM audit WHERE subject LIKE 'message:%'`); n != want || n <= links {
		t.Errorf("after more mail audit_messages has %d links, want %d", n, want)
	}
	for _, stmt := range []string{`UPDATE audit_messages SET seq = 1`, `DELETE FROM audit_messages`} {
		if _, err := l.w.ExecContext(ctx, stmt); err == nil {
			t.Errorf("%s succeeded, want the append-only trigger to refuse", stmt)
		}
	}
}

func auditSeqs(t *testing.T, l *Ledger, f AuditFilter) []int64 {
	t.Helper()
	es, err := l.AuditEntries(context.Background(), f)
	if err != nil {
		t.Fatalf("AuditEntries(%+v): %v", f, err)
	}
	var seqs []int64
	for _, e := range es {
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

// migrationSQL returns the statements of migration version.
func migrationSQL(t *testing.T, version int) string {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version == version {
			return m.sql
		}
	}
	t.Fatalf("no migration %d", version)
	return ""
}

// TestOpenLedgerLogsUpgrade checks that opening a ledger of an older schema
// says it upgrades it, and when it is done; a new ledger says nothing.
func TestOpenLedgerLogsUpgrade(t *testing.T) {
	sqliteOnly(t, "upgrades a SQLite ledger file")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "claimtrail.db")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	l, err := OpenLedger(ctx, LedgerConfig{Path: path, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("creating a ledger logged %q, want nothing", logs.String())
	}
	l.Close()
	// A claimtrail with one migration more.
	loadMigrations = func() ([]migration, error) {
		ms, err := migrations()
		next := len(ms) + 1
		return append(ms, migration{version: next, name: fmt.Sprintf("%04d_test", next), sql: `CREATE TABLE upgraded (x)`}), err
	}
	t.Cleanup(func() { loadMigrations = migrations })
	if l, err = OpenLedger(ctx, LedgerConfig{Path: path, Log: log}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !strings.Contains(logs.String(), "upgrading the ledger") || !strings.Contains(logs.String(), "ledger schema upgraded") ||
		!strings.Contains(logs.String(), "_test") {
		t.Errorf("upgrading a ledger logged %q, want its start and end, naming the migration", logs.String())
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM upgraded`); n != 0 {
		t.Errorf("the upgrade's table has %d rows", n)
	}
}
