package archive

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

// copyFixture is a ledger with a row in every table of record: tenants,
// messages in every step, claims with fields, a detached message, a status
// change, Microsoft's facts of an incident and a reminder sent, a user
// with a session and a token, a checkpoint and an anchor.
func copyFixture(t *testing.T) *Ledger {
	t.Helper()
	ctx := context.Background()
	l := newTestLedger(t)
	upsertTenantA(t, l, true)
	for i := range 3 {
		m := mustRecord(t, l, testRecord(i))
		for _, s := range []Step{StepJudge, StepStore, StepMove} {
			doStep(t, l, m.ID, s)
		}
	}
	a := openClaimWith(t, l, tenantA, "EX315207", 3, true)
	fillFields(t, l, a)
	b := openClaimWith(t, l, tenantA, "MO512345", 2, true)
	if err := l.SetClaimStatus(ctx, b, claims.StatusExpired, claims.Actor{Name: "anna"}, "found too late"); err != nil {
		t.Fatal(err)
	}
	yes := true
	record(t, l, factsRec(tenantA, claims.SourceGraph, claims.ClassificationIncident, &yes))
	due, err := l.DueReminders(ctx, "webhook", []int{30}, incStart.Add(20*24*time.Hour))
	if err != nil || len(due) == 0 {
		t.Fatalf("DueReminders = %v, %v; want the claim of EX315207", due, err)
	}
	if err := l.ReminderSent(ctx, due[0]); err != nil {
		t.Fatal(err)
	}
	c, err := l.Claim(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DetachEvidence(ctx, a, c.Evidence[0].SHA256, "anna", "forwarded twice"); err != nil {
		t.Fatal(err)
	}
	hash, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddUser(ctx, "anna", RoleAnalyst, hash, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.CreateSession(ctx, "anna", l.now(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.CreateAPIToken(ctx, "anna", "scripts", "admin", APITokenOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := l.SetCheckpoint(ctx, "claims", "INBOX", 7, 42); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Anchor(ctx, newMemStore()); err != nil {
		t.Fatal(err)
	}
	return l
}

// dumpTable is every row of table, in order, each value printed.
func dumpTable(t *testing.T, l *Ledger, table, order string) []string {
	t.Helper()
	rows, err := l.r.Query(`SELECT * FROM ` + table + ` ORDER BY ` + order)
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%s=%v ", cols[i], v)
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCopyLedger(t *testing.T) {
	ctx := context.Background()
	src := copyFixture(t)
	dst := newTestLedger(t)
	var heard []CopyProgress
	rep, err := CopyLedger(ctx, src, dst, "admin", "sqlite:src.db", func(p CopyProgress) { heard = append(heard, p) })
	if err != nil {
		t.Fatalf("CopyLedger: %v", err)
	}
	for _, tb := range copyTables {
		want, got := dumpTable(t, src, tb.name, tb.order), dumpTable(t, dst, tb.name, tb.order)
		if tb.name == "audit" {
			// The copy's trail goes on with the copy itself.
			if len(got) != len(want)+1 || !strings.Contains(got[len(got)-1], "action="+string(ActionLedgerCopied)) {
				t.Fatalf("copied audit has %d entries, last %q; want the source's %d and %s", len(got), got[len(got)-1], len(want), ActionLedgerCopied)
			}
			got = got[:len(want)]
		}
		if len(want) == 0 {
			t.Errorf("the fixture has no row in %s: the copy of that table is not tested", tb.name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s after the copy:\n got %q\nwant %q", tb.name, got, want)
		}
	}
	// The derived tables come back through the copy's triggers.
	for _, q := range []struct{ table, order string }{{"message_counts", "verdict"}, {"incident_list", "incident_id"}} {
		if want, got := dumpTable(t, src, q.table, q.order), dumpTable(t, dst, q.table, q.order); !slices.Equal(got, want) || len(want) == 0 {
			t.Errorf("derived %s after the copy:\n got %q\nwant %q", q.table, got, want)
		}
	}
	search := func(l *Ledger) []int64 {
		s, err := ParseSearch("EX315207")
		if err != nil {
			t.Fatal(err)
		}
		page, err := l.MessageList(ctx, MessageQuery{Search: &s})
		if err != nil {
			t.Fatalf("search after the copy: %v", err)
		}
		var ids []int64
		for _, m := range page.Messages {
			ids = append(ids, m.ID)
		}
		return ids
	}
	if want, got := search(src), search(dst); !slices.Equal(got, want) || len(want) == 0 {
		t.Errorf("search for EX315207 after the copy = %v, want %v", got, want)
	}

	head, err := src.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != head.Seq || rep.Head != head.Hash {
		t.Errorf("report says %d entries ending %s; the source has %d ending %s", rep.Entries, rep.Head, head.Seq, head.Hash)
	}
	if len(rep.Tables) != len(copyTables) {
		t.Errorf("report lists %d tables, want %d", len(rep.Tables), len(copyTables))
	}
	if last := heard[len(heard)-1]; !last.Done || last.Table != copyTables[len(copyTables)-1].name {
		t.Errorf("last progress = %+v, want the last table done", last)
	}
	if _, err := dst.VerifyAudit(ctx, nil); err != nil {
		t.Errorf("the copy's audit trail does not verify: %v", err)
	}
	e, err := dst.AuditHead(ctx)
	if err != nil || e.Action != ActionLedgerCopied || !strings.Contains(string(e.Details), `"from":"sqlite:src.db"`) || !strings.Contains(string(e.Details), head.Hash) {
		t.Errorf("the copy's last entry = %+v, %v; want %s naming the source and its head", e, err, ActionLedgerCopied)
	}

	// The copy works on: a new message gets the next ID.
	m := mustRecord(t, dst, testRecord(100))
	var maxID int64
	if err := src.r.QueryRow(`SELECT MAX(id) FROM messages`).Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	if m.ID != maxID+1 {
		t.Errorf("first message after the copy got ID %d, want %d", m.ID, maxID+1)
	}
}

func TestCopyLedgerRefuses(t *testing.T) {
	ctx := context.Background()
	t.Run("a destination with rows", func(t *testing.T) {
		src, dst := copyFixture(t), newTestLedger(t)
		upsertTenantA(t, dst, false)
		_, err := CopyLedger(ctx, src, dst, "admin", "src", nil)
		if err == nil || !strings.Contains(err.Error(), "not empty (table tenants holds rows)") {
			t.Fatalf("CopyLedger into a ledger with a tenant = %v; want a refusal naming the table", err)
		}
		if n := countRows(t, dst, `SELECT COUNT(*) FROM messages`); n != 0 {
			t.Errorf("the refused copy wrote %d messages", n)
		}
	})
	t.Run("a source whose trail does not verify", func(t *testing.T) {
		src, dst := copyFixture(t), newTestLedger(t)
		tamper(t, src, `UPDATE audit SET actor = 'mallory' WHERE seq = 3`)
		_, err := CopyLedger(ctx, src, dst, "admin", "src", nil)
		if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("CopyLedger of a tampered trail = %v; want ErrTampered, said so", err)
		}
		if n := countRows(t, dst, `SELECT COUNT(*) FROM audit`); n != 0 {
			t.Errorf("the refused copy wrote %d audit entries", n)
		}
	})
	t.Run("an older schema", func(t *testing.T) {
		src, dst := copyFixture(t), newTestLedger(t)
		if _, err := dst.w.Exec(`INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'future', 'now')`); err != nil {
			t.Fatal(err)
		}
		_, err := CopyLedger(ctx, src, dst, "admin", "src", nil)
		if err == nil || !strings.Contains(err.Error(), "schema version") {
			t.Fatalf("CopyLedger across schema versions = %v; want a refusal", err)
		}
	})
}

// TestCopyTablesCoverSchema pins copyTables and derivedTables to the
// schema: a table a migration adds must be copied or declared derived.
func TestCopyTablesCoverSchema(t *testing.T) {
	l := openTestLedger(t, filepath.Join(t.TempDir(), "ledger.db"))
	tables := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'message_search_%'`
	if l.eng == postgresEngine {
		tables = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := l.r.Query(tables)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	known := map[string]bool{}
	for _, tb := range copyTables {
		known[tb.name] = true
	}
	seen := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		seen[name] = true
		if !known[name] && !derivedTables[name] {
			t.Errorf("table %s is neither copied (copyTables) nor derived or bookkeeping (derivedTables): ledger copy would lose it", name)
		}
	}
	for name := range known {
		if !seen[name] {
			t.Errorf("copyTables names %s, which the schema does not have", name)
		}
	}
}

// TestCopyLedgerAcrossEngines moves the fixture from its engine to the
// other and back, as an install moving to PostgreSQL (and back) would:
// every row of record comes back as it was, flags and IDs included.
func TestCopyLedgerAcrossEngines(t *testing.T) {
	ctx := context.Background()
	src := copyFixture(t)
	other := LedgerConfig{Driver: DriverPostgres, DSN: NewTestPostgresDSN(t)}
	back := LedgerConfig{Path: filepath.Join(t.TempDir(), "back.db")}
	if src.eng == postgresEngine {
		other, back = back, LedgerConfig{Driver: DriverPostgres, DSN: NewTestPostgresDSN(t)}
	}
	open := func(cfg LedgerConfig) *Ledger {
		l, err := OpenLedger(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		l.now = src.now
		t.Cleanup(func() { l.Close() })
		return l
	}
	mid, end := open(other), open(back)
	if _, err := CopyLedger(ctx, src, mid, "admin", "there", nil); err != nil {
		t.Fatalf("CopyLedger from %s to %s: %v", src.eng.name, mid.eng.name, err)
	}
	if _, err := CopyLedger(ctx, mid, end, "admin", "and back", nil); err != nil {
		t.Fatalf("CopyLedger from %s to %s: %v", mid.eng.name, end.eng.name, err)
	}
	for _, tb := range copyTables {
		want, got := dumpTable(t, src, tb.name, tb.order), dumpTable(t, end, tb.name, tb.order)
		if tb.name == "audit" && len(got) == len(want)+2 {
			got = got[:len(want)] // and the two copies
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s after %s -> %s -> %s:\n got %q\nwant %q", tb.name, src.eng.name, mid.eng.name, end.eng.name, got, want)
		}
	}
	for _, l := range []*Ledger{mid, end} {
		if _, err := l.VerifyAudit(ctx, nil); err != nil {
			t.Errorf("the %s copy's trail does not verify: %v", l.eng.name, err)
		}
		// Each copy takes new mail under the next IDs.
		m := mustRecord(t, l, testRecord(200))
		if m.ID <= 1 {
			t.Errorf("first message recorded in the %s copy got ID %d", l.eng.name, m.ID)
		}
	}
}
