package archive

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

const (
	tenantA = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tenantB = "0f3a2b1c-aaaa-4bbb-8ccc-123456789abc"
)

// testClock returns a clock that starts at start and advances by one
// millisecond on every call, so that every stored time differs.
func testClock(start time.Time) func() time.Time {
	var mu sync.Mutex
	t := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

var clockStart = time.Date(2026, 2, 16, 10, 0, 0, 0, time.UTC)

// TestLedgerEngine, from $CLAIMTRAIL_TEST_LEDGER, is the engine the
// tests' ledgers run on: "" or "sqlite", or "postgres" (a database of
// its own for each test, on the test binary's PostgreSQL cluster), so that
// the archive tests are the conformance suite of both engines.
var TestLedgerEngine = os.Getenv("CLAIMTRAIL_TEST_LEDGER")

// NewTestPostgresDSN returns the DSN of a new, empty PostgreSQL database
// for the test. An external test file sets it (archivetest imports archive).
var NewTestPostgresDSN func(testing.TB) string

// testDSNs maps a test's ledger paths to their databases, so that a test
// that reopens a path reopens its database.
var testDSNs sync.Map

// testLedgerConfig is the configuration of the test ledger at path.
func testLedgerConfig(t testing.TB, path string) LedgerConfig {
	t.Helper()
	if TestLedgerEngine != DriverPostgres {
		return LedgerConfig{Path: path}
	}
	dsn, ok := testDSNs.Load(path)
	if !ok {
		dsn, _ = testDSNs.LoadOrStore(path, NewTestPostgresDSN(t))
		t.Cleanup(func() { testDSNs.Delete(path) })
	}
	return LedgerConfig{Driver: DriverPostgres, DSN: dsn.(string)}
}

// sqliteOnly skips the test on another engine: why says what makes it
// SQLite's alone.
func sqliteOnly(t testing.TB, why string) {
	t.Helper()
	if TestLedgerEngine == DriverPostgres {
		t.Skipf("SQLite only: %s", why)
	}
}

func openTestLedger(t testing.TB, path string) *Ledger {
	t.Helper()
	l, err := OpenLedger(context.Background(), testLedgerConfig(t, path))
	if err != nil {
		t.Fatalf("OpenLedger(%s): %v", path, err)
	}
	l.now = testClock(clockStart)
	t.Cleanup(func() { l.Close() })
	return l
}

func newTestLedger(t testing.TB) *Ledger {
	t.Helper()
	return openTestLedger(t, filepath.Join(t.TempDir(), "claimtrail.db"))
}

func shaOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// testRecord returns a distinct message record for i.
func testRecord(i int) MessageRecord {
	return MessageRecord{
		SHA256: shaOf(fmt.Sprintf("raw message %d", i)), Size: int64(1000 + i),
		Mailbox: "claims@partner.example", Folder: "INBOX", UIDValidity: 7, UID: uint32(i + 1),
		InternalDate: time.Date(2026, 2, 15, 9, 0, i%60, 0, time.UTC),
		Date:         time.Date(2026, 2, 15, 8, 59, 0, 0, time.UTC),
		MessageID:    fmt.Sprintf("m%d@contoso.com", i), Sender: "jane@contoso.com",
		Subject: fmt.Sprintf("Outage EX315207 (%d)", i),
	}
}

func accepted(tenant string, incidents ...string) rules.Judgment {
	return rules.Judgment{Verdict: rules.Accepted, Sender: "jane@contoso.com", SenderDomain: "contoso.com",
		TenantID: tenant, IncidentIDs: incidents, Authentication: rules.AuthPass}
}

func mustRecord(t testing.TB, l *Ledger, rec MessageRecord) *Message {
	t.Helper()
	m, _, err := l.RecordMessage(context.Background(), rec)
	if err != nil {
		t.Fatalf("RecordMessage(%s): %v", rec.SHA256[:8], err)
	}
	return m
}

func countRows(t testing.TB, l *Ledger, query string, args ...any) int {
	t.Helper()
	var n int
	if err := l.r.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestOpenLedgerMigratesAndReopens(t *testing.T) {
	sqliteOnly(t, "checks SQLite's PRAGMAs and sqlite_master")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "claimtrail.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		l, err := OpenLedger(ctx, LedgerConfig{Path: path})
		if err != nil {
			t.Fatalf("round %d: OpenLedger: %v", round, err)
		}
		v, err := l.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != len(ms) {
			t.Errorf("round %d: SchemaVersion = %d, want %d", round, v, len(ms))
		}
		if n := countRows(t, l, `SELECT COUNT(*) FROM schema_version`); n != len(ms) {
			t.Errorf("round %d: schema_version has %d rows, want %d (a migration ran twice?)", round, n, len(ms))
		}
		for _, table := range []string{"tenants", "tenant_domains", "messages", "claims", "claim_fields",
			"claim_evidence", "checkpoints", "audit", "anchors"} {
			if n := countRows(t, l, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table); n != 1 {
				t.Errorf("round %d: table %s missing", round, table)
			}
		}
		var mode string
		var fk, timeout int
		if err := l.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := l.w.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := l.w.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout); err != nil {
			t.Fatal(err)
		}
		var ckpt, temp int
		if err := l.w.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&ckpt); err != nil {
			t.Fatal(err)
		}
		if err := l.w.QueryRow(`PRAGMA temp_store`).Scan(&temp); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || fk != 1 || timeout != int(busyTimeout.Milliseconds()) || ckpt != walAutocheckpointPages || temp != 2 {
			t.Errorf("round %d: journal_mode=%s foreign_keys=%d busy_timeout=%d wal_autocheckpoint=%d temp_store=%d, want wal 1 %d %d 2",
				round, mode, fk, timeout, ckpt, temp, busyTimeout.Milliseconds(), walAutocheckpointPages)
		}
		if round == 1 {
			mustRecord(t, l, testRecord(1))
		} else if n := countRows(t, l, `SELECT COUNT(*) FROM messages`); n != 1 {
			t.Errorf("after reopen: %d messages, want the 1 recorded before", n)
		}
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

func TestOpenLedgerRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "claimtrail.db")
	l := openTestLedger(t, path)
	if _, err := l.w.Exec(`INSERT INTO schema_version (version, name, applied_at) VALUES (999, '0999_future', 'x')`); err != nil {
		t.Fatal(err)
	}
	l.Close()
	_, err := OpenLedger(ctx, testLedgerConfig(t, path))
	if err == nil || !strings.Contains(err.Error(), "schema version 999") || !strings.Contains(err.Error(), "run the newer claimtrail") {
		t.Errorf("OpenLedger(newer schema) = %v, want an error naming version 999 and what to do", err)
	}
}

func TestOpenLedgerBadPath(t *testing.T) {
	for _, p := range []string{":memory:", "data/x.db?mode=ro", "a#b.db"} {
		if _, err := OpenLedger(context.Background(), LedgerConfig{Path: p}); err == nil || !strings.Contains(err.Error(), "plain file name") {
			t.Errorf("OpenLedger(%q) = %v, want a plain-file-name error", p, err)
		}
	}
}

func TestMigrationsNumbered(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init" {
		t.Fatalf("migrations() = %v, want 0001_init first", ms)
	}
}

func TestRecordMessageIsIdempotent(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	rec := testRecord(1)
	m1, created1, err := l.RecordMessage(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	// The same bytes seen again, in another folder under another UID.
	again := rec
	again.Folder, again.UID = "Claims", 99
	m2, created2, err := l.RecordMessage(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if !created1 || created2 {
		t.Errorf("RecordMessage created = %v then %v, want true then false", created1, created2)
	}
	if m1.ID != m2.ID || m2.Folder != "INBOX" || m2.UID != rec.UID {
		t.Errorf("second RecordMessage = id %d %s/%d, want id %d at the first location INBOX/%d", m2.ID, m2.Folder, m2.UID, m1.ID, rec.UID)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM messages`); n != 1 {
		t.Errorf("messages = %d rows, want 1", n)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ?`, string(ActionMessageReceived)); n != 1 {
		t.Errorf("message_received entries = %d, want 1", n)
	}
	got, err := l.MessageBySHA256(ctx, strings.ToUpper(rec.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	if !got.InternalDate.Equal(rec.InternalDate) || !got.Date.Equal(rec.Date) || got.Subject != rec.Subject || got.Next() != StepJudge {
		t.Errorf("MessageBySHA256 = %+v, want the record as stored, next step judge", got)
	}
	if _, err := l.Message(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Errorf("Message(12345) = %v, want ErrNotFound", err)
	}
}

func TestRecordMessageRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		edit func(*MessageRecord)
	}{
		{"short sha", func(r *MessageRecord) { r.SHA256 = "abc" }},
		{"upper-case sha", func(r *MessageRecord) { r.SHA256 = strings.ToUpper(r.SHA256) }},
		{"not hex", func(r *MessageRecord) { r.SHA256 = strings.Repeat("g", 64) }},
		{"no mailbox", func(r *MessageRecord) { r.Mailbox = "" }},
		{"no folder", func(r *MessageRecord) { r.Folder = "" }},
		{"negative size", func(r *MessageRecord) { r.Size = -1 }},
	}
	l := newTestLedger(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := testRecord(1)
			tt.edit(&rec)
			if _, _, err := l.RecordMessage(context.Background(), rec); err == nil {
				t.Errorf("RecordMessage(%s) succeeded, want an error", tt.name)
			}
		})
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM messages`); n != 0 {
		t.Errorf("messages = %d, want 0 after bad input", n)
	}
}

// TestResumeAfterCrash stops the work on messages after each step, closes
// the ledger as a killed poller would leave it, reopens it and finishes
// from what UnfinishedMessages says: each step happens exactly once.
func TestResumeAfterCrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "claimtrail.db")
	steps := []Step{StepJudge, StepStore, StepMove, StepDone}
	l := openTestLedger(t, path)
	for i, stopBefore := range steps {
		m := mustRecord(t, l, testRecord(i))
		for _, s := range steps {
			if s == stopBefore {
				break
			}
			doStep(t, l, m.ID, s)
		}
	}
	l.Close()

	l = openTestLedger(t, path)
	// A restarted poller records the mailbox's messages again before it
	// asks what is unfinished; nothing is duplicated.
	for i := range steps {
		if _, created, err := l.RecordMessage(ctx, testRecord(i)); err != nil || created {
			t.Fatalf("RecordMessage(%d) after restart = created %v, %v; want an existing row", i, created, err)
		}
	}
	pending, err := l.UnfinishedMessages(ctx, "claims@partner.example", "INBOX", 0)
	if err != nil {
		t.Fatal(err)
	}
	var next []Step
	for _, m := range pending {
		next = append(next, m.Next())
	}
	if want := []Step{StepJudge, StepStore, StepMove}; fmt.Sprint(next) != fmt.Sprint(want) {
		t.Fatalf("UnfinishedMessages next steps = %v, want %v", next, want)
	}
	for _, m := range pending {
		for s := m.Next(); s != StepDone; {
			doStep(t, l, m.ID, s)
			// A crash right after a step commits means the step is
			// repeated on restart: it must change nothing.
			doStep(t, l, m.ID, s)
			got, err := l.Message(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			s = got.Next()
		}
	}
	if pending, _ := l.UnfinishedMessages(ctx, "claims@partner.example", "INBOX", 0); len(pending) != 0 {
		t.Errorf("UnfinishedMessages after resume = %d messages, want 0", len(pending))
	}
	for action, want := range map[Action]int{
		ActionMessageReceived: 4, ActionJudged: 4, ActionBundleStored: 4, ActionMoved: 4,
		ActionEvidenceAttached: 4, ActionClaimCreated: 1,
	} {
		if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ?`, string(action)); n != want {
			t.Errorf("audit %s entries = %d, want %d", action, n, want)
		}
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM claim_evidence`); n != 4 {
		t.Errorf("claim_evidence rows = %d, want 4", n)
	}
	if _, err := l.VerifyAudit(ctx, nil); err != nil {
		t.Errorf("VerifyAudit after resume: %v", err)
	}
}

func doStep(t testing.TB, l *Ledger, id int64, s Step) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch s {
	case StepJudge:
		_, _, err = l.RecordJudgment(ctx, id, accepted(tenantA, "EX315207"), rules.Version)
	case StepStore:
		err = l.SetBundle(ctx, id, fmt.Sprintf("bundles/%d.zip", id), "")
	case StepMove:
		err = l.MarkMoved(ctx, id, "Processed")
	}
	if err != nil {
		t.Fatalf("step %s of message %d: %v", s, id, err)
	}
}

// TestJudgmentIsAtomic makes the last statement of a judgment fail and
// checks that nothing of it stays: no verdict, no claim, no audit entry.
func TestJudgmentIsAtomic(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	m := mustRecord(t, l, testRecord(1))
	inject, remove := `CREATE TRIGGER fail_attach BEFORE INSERT ON claim_evidence
		WHEN (SELECT COUNT(*) FROM claim_evidence) >= 1 BEGIN SELECT RAISE(ABORT, 'injected failure'); END`, `DROP TRIGGER fail_attach`
	if TestLedgerEngine == DriverPostgres {
		inject = `CREATE FUNCTION fail_attach() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF (SELECT COUNT(*) FROM claim_evidence) >= 1 THEN RAISE EXCEPTION 'injected failure'; END IF;
				RETURN NEW;
			END $$;
			CREATE TRIGGER fail_attach BEFORE INSERT ON claim_evidence FOR EACH ROW EXECUTE FUNCTION fail_attach()`
		remove = `DROP TRIGGER fail_attach ON claim_evidence`
	}
	if _, err := l.w.Exec(inject); err != nil {
		t.Fatal(err)
	}
	before := countRows(t, l, `SELECT COUNT(*) FROM audit`)
	// Two incidents: the second attachment fails.
	if _, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, "EX315207", "SP123456"), rules.Version); err == nil {
		t.Fatal("RecordJudgment succeeded despite the injected failure")
	}
	got, _ := l.Message(ctx, m.ID)
	if got.Judgment != nil {
		t.Errorf("after a failed judgment the message is judged: %+v", got.Judgment)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM claims`); n != 0 {
		t.Errorf("claims = %d after a failed judgment, want 0", n)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit`); n != before {
		t.Errorf("audit entries = %d after a failed judgment, want %d", n, before)
	}
	if _, err := l.w.Exec(remove); err != nil {
		t.Fatal(err)
	}
	atts, changed, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, "EX315207", "SP123456"), rules.Version)
	if err != nil || !changed || len(atts) != 2 {
		t.Errorf("RecordJudgment retry = %v, %v, %v; want two attachments", atts, changed, err)
	}
}

func TestRecordJudgment(t *testing.T) {
	tests := []struct {
		name       string
		judgment   rules.Judgment
		wantClaims []string // "tenant/incident"
		wantErr    bool
	}{
		{"accepted one incident", accepted(tenantA, "EX315207"), []string{tenantA + "/EX315207"}, false},
		{"accepted two incidents", accepted(tenantA, "EX315207", "tm1112332"), []string{tenantA + "/EX315207", tenantA + "/TM1112332"}, false},
		{"duplicate incident once", accepted(tenantA, "EX315207", "EX315207"), []string{tenantA + "/EX315207"}, false},
		{"upper-case tenant normalised", accepted(strings.ToUpper(tenantA), "EX315207"), []string{tenantA + "/EX315207"}, false},
		{"rejected attaches nothing", rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonPersonalAddress, IncidentIDs: []string{"EX315207"}}, nil, false},
		{"unmatched attaches nothing", rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, TenantID: tenantA}, nil, false},
		{"accepted without incident", accepted(tenantA), nil, true},
		{"accepted with bad tenant", accepted("contoso", "EX315207"), nil, true},
		{"accepted with bad incident", accepted(tenantA, "EX-1"), nil, true},
		{"unknown verdict", rules.Judgment{Verdict: "maybe"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			l := newTestLedger(t)
			m := mustRecord(t, l, testRecord(1))
			atts, changed, err := l.RecordJudgment(ctx, m.ID, tt.judgment, rules.Version)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RecordJudgment(%s) error = %v, want error %v", tt.name, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var got []string
			for _, a := range atts {
				got = append(got, a.TenantID+"/"+a.IncidentID)
				if !a.ClaimCreated {
					t.Errorf("attachment %v: ClaimCreated = false for a new claim", a)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantClaims) || !changed {
				t.Errorf("RecordJudgment(%s) = %v changed %v, want %v changed true", tt.name, got, changed, tt.wantClaims)
			}
			if n := countRows(t, l, `SELECT COUNT(*) FROM claims`); n != len(tt.wantClaims) {
				t.Errorf("claims = %d, want %d", n, len(tt.wantClaims))
			}
			stored, _ := l.Message(ctx, m.ID)
			if stored.Judgment == nil || stored.Judgment.Verdict != tt.judgment.Verdict || stored.RulesVersion != rules.Version {
				t.Errorf("stored judgment = %+v (rules %s), want verdict %s", stored.Judgment, stored.RulesVersion, tt.judgment.Verdict)
			}
			if len(tt.wantClaims) > 0 {
				if n := countRows(t, l, `SELECT COUNT(*) FROM messages m JOIN claims c ON c.tenant_id = m.tenant_id`); n != len(tt.wantClaims) {
					t.Errorf("the message's tenant_id joins %d claims, want %d", n, len(tt.wantClaims))
				}
			}
			// The first judgment stands.
			atts2, changed2, err := l.RecordJudgment(ctx, m.ID, rules.Judgment{Verdict: rules.Rejected}, rules.Version)
			if err != nil || changed2 || len(atts2) != len(atts) {
				t.Errorf("second RecordJudgment = %v, %v, %v; want the first judgment's %d attachments, unchanged", atts2, changed2, err, len(atts))
			}
		})
	}
}

func TestRecordJudgmentSharedClaim(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	var ids []int64
	for i := range 3 {
		m := mustRecord(t, l, testRecord(i))
		atts, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, "EX315207"), rules.Version)
		if err != nil {
			t.Fatal(err)
		}
		if atts[0].ClaimCreated != (i == 0) {
			t.Errorf("message %d: ClaimCreated = %v, want %v (the first accepted email opens the claim)", i, atts[0].ClaimCreated, i == 0)
		}
		ids = append(ids, atts[0].ClaimID)
	}
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("claim IDs = %v, want one claim", ids)
	}
	c, err := l.Claim(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Evidence) != 3 {
		t.Errorf("claim evidence = %d, want 3", len(c.Evidence))
	}
}

func TestReprocessMessage(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	m := mustRecord(t, l, testRecord(1))
	if _, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, "EX315207"), "old"); err != nil {
		t.Fatal(err)
	}
	atts, err := l.reprocessMessage(ctx, m.ID, accepted(tenantA, "SP123456"), "new", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 1 || atts[0].IncidentID != "SP123456" {
		t.Errorf("reprocessMessage attachments = %v, want SP123456 only", atts)
	}
	old, err := l.ClaimFor(ctx, tenantA, "EX315207")
	if err != nil {
		t.Fatalf("the old claim must stay: %v", err)
	}
	if len(old.Evidence) != 0 {
		t.Errorf("old claim evidence = %d, want 0 after the new judgment dropped it", len(old.Evidence))
	}
	got, _ := l.Message(ctx, m.ID)
	if got.RulesVersion != "new" || got.Judgment.IncidentIDs[0] != "SP123456" {
		t.Errorf("message after reprocess = rules %s, %v; want rules new, SP123456", got.RulesVersion, got.Judgment.IncidentIDs)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND actor = 'alice'`, string(ActionReprocessed)); n != 1 {
		t.Errorf("reprocessed entries by alice = %d, want 1", n)
	}
	if _, err := l.reprocessMessage(ctx, m.ID, accepted(tenantA, "SP123456"), "new", ""); err == nil {
		t.Error("reprocessMessage without an actor succeeded, want an error")
	}

	// Evidence of a submitted claim stays: it is what was sent.
	sp, _ := l.ClaimFor(ctx, tenantA, "SP123456")
	if _, err := l.w.Exec(`UPDATE claims SET status = 'submitted' WHERE id = ?`, sp.ID); err != nil {
		t.Fatal(err)
	}
	atts, err = l.reprocessMessage(ctx, m.ID, rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonUnknownDomain}, "newer", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if sp, _ = l.Claim(ctx, sp.ID); len(sp.Evidence) != 1 || len(atts) != 1 || atts[0].ClaimID != sp.ID {
		t.Errorf("submitted claim evidence after reprocessing = %d (attachments %v), want the 1 it was submitted with", len(sp.Evidence), atts)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE subject = ? AND json_extract(details, '$.evidence_kept') = ?`,
		claimSubject(sp.ID), testRecord(1).SHA256); n != 1 {
		t.Errorf("evidence_kept entries = %d, want 1", n)
	}
}

func TestSetBundleAndMarkMoved(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	m := mustRecord(t, l, testRecord(1))
	sum := shaOf("bundle")
	tests := []struct {
		name    string
		do      func() error
		wantErr error // nil: success; errAny: some error
	}{
		{"set bundle", func() error { return l.SetBundle(ctx, m.ID, "bundles/a.zip", sum) }, nil},
		{"same bundle again", func() error { return l.SetBundle(ctx, m.ID, "bundles/a.zip", sum) }, nil},
		{"same key, hash not given", func() error { return l.SetBundle(ctx, m.ID, "bundles/a.zip", "") }, nil},
		{"other key", func() error { return l.SetBundle(ctx, m.ID, "bundles/b.zip", sum) }, ErrExists},
		{"same key, other hash", func() error { return l.SetBundle(ctx, m.ID, "bundles/a.zip", shaOf("other")) }, ErrExists},
		{"empty key", func() error { return l.SetBundle(ctx, m.ID, "", "") }, errAny},
		{"bad hash", func() error { return l.SetBundle(ctx, m.ID, "bundles/a.zip", "xyz") }, errAny},
		{"missing message", func() error { return l.SetBundle(ctx, 999, "bundles/a.zip", "") }, ErrNotFound},
		{"move", func() error { return l.MarkMoved(ctx, m.ID, "Processed") }, nil},
		{"move again", func() error { return l.MarkMoved(ctx, m.ID, "Processed") }, nil},
		{"move elsewhere", func() error { return l.MarkMoved(ctx, m.ID, "Rejected") }, errAny},
		{"move to nowhere", func() error { return l.MarkMoved(ctx, m.ID, "") }, errAny},
		{"move missing message", func() error { return l.MarkMoved(ctx, 999, "Processed") }, ErrNotFound},
	}
	for _, tt := range tests {
		err := tt.do()
		switch {
		case tt.wantErr == nil && err != nil:
			t.Errorf("%s: %v, want success", tt.name, err)
		case tt.wantErr == errAny && err == nil:
			t.Errorf("%s succeeded, want an error", tt.name)
		case tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
			t.Errorf("%s = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	for action, want := range map[Action]int{ActionBundleStored: 1, ActionMoved: 1} {
		if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ?`, string(action)); n != want {
			t.Errorf("audit %s entries = %d, want %d", action, n, want)
		}
	}
}

var errAny = errors.New("any error")

func TestMarkMovedMany(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	a, b, c := mustRecord(t, l, testRecord(1)), mustRecord(t, l, testRecord(2)), mustRecord(t, l, testRecord(3))
	move := func(m *Message) Move { return Move{SHA256: m.SHA256, Mailbox: m.Mailbox, Folder: m.Folder, UID: m.UID} }
	copyOfB := move(b)
	copyOfB.UID = 99 // the same bytes again under another UID
	if err := l.MarkMovedMany(ctx, []Move{move(a), copyOfB, move(c)}, "Accepted"); err != nil {
		t.Fatalf("MarkMovedMany: %v", err)
	}
	for _, tt := range []struct {
		m    *Message
		want string
	}{{a, "Accepted"}, {b, ""}, {c, "Accepted"}} {
		got, err := l.Message(ctx, tt.m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.MovedTo != tt.want {
			t.Errorf("message %d moved to %q, want %q", tt.m.ID, got.MovedTo, tt.want)
		}
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ?`, string(ActionMoved)); n != 2 {
		t.Errorf("moved entries = %d, want 2", n)
	}
	// Again: a no-op. Elsewhere: refused, and nothing of the batch is kept.
	if err := l.MarkMovedMany(ctx, []Move{move(a), move(c)}, "Accepted"); err != nil {
		t.Errorf("MarkMovedMany again: %v", err)
	}
	if err := l.MarkMovedMany(ctx, []Move{move(b), move(a)}, "Rejected"); err == nil {
		t.Error("MarkMovedMany to another folder succeeded, want an error")
	}
	if got, _ := l.Message(ctx, b.ID); got.MovedTo != "" {
		t.Errorf("message %d moved to %q by a refused batch", b.ID, got.MovedTo)
	}
	if err := l.MarkMovedMany(ctx, []Move{{SHA256: shaOf("never seen")}}, "Accepted"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MarkMovedMany of an unknown message = %v, want ErrNotFound", err)
	}
	if rep, err := l.VerifyAudit(ctx, nil); err != nil || len(rep.Problems) != 0 {
		t.Errorf("VerifyAudit = %+v, %v; want no problems", rep, err)
	}
}

func TestCheckpoint(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	const mb, folder = "claims@partner.example", "INBOX"
	tests := []struct {
		name         string
		uidValidity  uint32
		lastUID      uint32
		want         Checkpoint
		afterSameUV  uint32
		afterOtherUV uint32
	}{
		{"first", 7, 10, Checkpoint{UIDValidity: 7, LastUID: 10}, 10, 0},
		{"forward", 7, 25, Checkpoint{UIDValidity: 7, LastUID: 25}, 25, 0},
		{"never backwards", 7, 12, Checkpoint{UIDValidity: 7, LastUID: 25}, 25, 0},
		{"uidvalidity changed resets", 8, 3, Checkpoint{UIDValidity: 8, LastUID: 3}, 3, 0},
		{"new uidvalidity forward", 8, 4, Checkpoint{UIDValidity: 8, LastUID: 4}, 4, 0},
	}
	cp, err := l.Checkpoint(ctx, mb, folder)
	if err != nil || cp.LastUID != 0 || cp.UIDValidity != 0 || !cp.UpdatedAt.IsZero() {
		t.Fatalf("Checkpoint before any = %+v, %v; want zero", cp, err)
	}
	for _, tt := range tests {
		if err := l.SetCheckpoint(ctx, mb, folder, tt.uidValidity, tt.lastUID); err != nil {
			t.Fatalf("%s: SetCheckpoint: %v", tt.name, err)
		}
		cp, err := l.Checkpoint(ctx, mb, folder)
		if err != nil {
			t.Fatal(err)
		}
		if cp.UIDValidity != tt.want.UIDValidity || cp.LastUID != tt.want.LastUID || cp.UpdatedAt.IsZero() {
			t.Errorf("%s: Checkpoint = %+v, want %d/%d", tt.name, cp, tt.want.UIDValidity, tt.want.LastUID)
		}
		if got := cp.After(tt.want.UIDValidity); got != tt.afterSameUV {
			t.Errorf("%s: After(same) = %d, want %d", tt.name, got, tt.afterSameUV)
		}
		if got := cp.After(tt.want.UIDValidity + 100); got != tt.afterOtherUV {
			t.Errorf("%s: After(other) = %d, want %d", tt.name, got, tt.afterOtherUV)
		}
	}
	other, _ := l.Checkpoint(ctx, mb, "Other")
	if other.LastUID != 0 {
		t.Errorf("Checkpoint of another folder = %+v, want zero", other)
	}
	if err := l.SetCheckpoint(ctx, "", folder, 1, 1); err == nil {
		t.Error("SetCheckpoint without a mailbox succeeded")
	}
}

// TestConcurrentWriters runs two goroutines on one Ledger and two Ledgers
// on one file, all recording and judging messages for the same claims at
// once. WAL and the busy timeout must serialise them without a lost
// message, a duplicate claim or a fork in the audit chain.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "claimtrail.db")
	l1 := openTestLedger(t, path)
	l2 := openTestLedger(t, path)
	const perWriter = 40
	writers := []*Ledger{l1, l1, l2, l2}
	var wg sync.WaitGroup
	errs := make(chan error, len(writers))
	for w, l := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				// Writers overlap: every message is recorded by two of them.
				n := (w/2)*1000 + i
				m, _, err := l.RecordMessage(ctx, testRecord(n))
				if err != nil {
					errs <- err
					return
				}
				inc := []string{"EX315207", "SP123456"}[i%2]
				if _, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, inc), rules.Version); err != nil {
					errs <- err
					return
				}
				if err := l.SetBundle(ctx, m.ID, fmt.Sprintf("bundles/%d.zip", n), ""); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("writer: %v", err)
	}
	if n := countRows(t, l1, `SELECT COUNT(*) FROM messages`); n != 2*perWriter {
		t.Errorf("messages = %d, want %d", n, 2*perWriter)
	}
	if n := countRows(t, l1, `SELECT COUNT(*) FROM claims`); n != 2 {
		t.Errorf("claims = %d, want 2", n)
	}
	if n := countRows(t, l1, `SELECT COUNT(*) FROM claim_evidence`); n != 2*perWriter {
		t.Errorf("claim_evidence = %d, want %d", n, 2*perWriter)
	}
	for action, want := range map[Action]int{ActionMessageReceived: 2 * perWriter, ActionJudged: 2 * perWriter,
		ActionBundleStored: 2 * perWriter, ActionClaimCreated: 2} {
		if n := countRows(t, l1, `SELECT COUNT(*) FROM audit WHERE action = ?`, string(action)); n != want {
			t.Errorf("audit %s = %d, want %d", action, n, want)
		}
	}
	rep, err := l2.VerifyAudit(ctx, nil)
	if err != nil {
		t.Errorf("VerifyAudit after concurrent writers: %v", err)
	}
	if rep != nil && rep.Entries != int64(countRows(t, l1, `SELECT COUNT(*) FROM audit`)) {
		t.Errorf("VerifyAudit read %d entries, want all", rep.Entries)
	}
}

func TestUnfinishedMessagesLimit(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	for i := range 5 {
		mustRecord(t, l, testRecord(i))
	}
	rec := testRecord(9)
	rec.Folder = "Other"
	mustRecord(t, l, rec)
	got, err := l.UnfinishedMessages(ctx, "claims@partner.example", "INBOX", 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].UID != 1 || got[2].UID != 3 {
		t.Errorf("UnfinishedMessages(limit 3) = %d messages, want UIDs 1..3 oldest first", len(got))
	}
	all, _ := l.UnfinishedMessages(ctx, "claims@partner.example", "INBOX", 0)
	if len(all) != 5 {
		t.Errorf("UnfinishedMessages(INBOX) = %d, want 5 (not the other folder's)", len(all))
	}
}

func TestDBErrMarksUnavailable(t *testing.T) {
	sqliteOnly(t, "holds SQLite's file write lock from another connection")
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "claimtrail.db")
	l := openTestLedger(t, path)
	// Hold the write lock from another connection for longer than a
	// short-deadline caller is willing to wait.
	other, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, _, err = l.RecordMessage(short, testRecord(1))
	if err == nil {
		t.Fatal("RecordMessage succeeded while another process held the write lock")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RecordMessage under a held lock = %v, want the caller's deadline", err)
	}
	// A second connection that may not wait gets SQLITE_BUSY, which the
	// ledger reports as ErrUnavailable: the poller retries later.
	conn2, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	_, busy := conn2.ExecContext(ctx, `BEGIN IMMEDIATE`)
	if busy == nil {
		t.Fatal("BEGIN IMMEDIATE succeeded beside a held write lock")
	}
	if err := dbErr("op", busy); !errors.Is(err, ErrUnavailable) || !strings.HasPrefix(err.Error(), "archive: op: ") {
		t.Errorf("dbErr(%v) = %v, want archive: op: ... wrapping ErrUnavailable", busy, err)
	}
	if err := dbErr("op", errors.New("constraint failed")); errors.Is(err, ErrUnavailable) {
		t.Errorf("dbErr(constraint) = %v, must not be ErrUnavailable", err)
	}
}

func TestSync(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	mustRecord(t, l, testRecord(1))
	if err := l.Sync(ctx); err != nil {
		t.Errorf("Sync after a commit = %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Sync(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Sync(canceled) = %v, want context.Canceled", err)
	}
}

func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	mustRecord(t, l, testRecord(1))
	l.stmts.mu.Lock()
	n := len(l.stmts.stmts)
	l.stmts.mu.Unlock()
	if n == 0 {
		t.Fatal("no statements cached after a write")
	}
	// The cached statements give the same results as the first run.
	m := mustRecord(t, l, testRecord(2))
	if _, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenantA, "EX315207"), rules.Version); err != nil {
		t.Fatal(err)
	}
	got, err := l.Message(ctx, m.ID)
	if err != nil || got.Judgment == nil || got.UID != 3 {
		t.Errorf("Message after cached writes = %+v, %v", got, err)
	}
	// The cache is bounded whatever SQL passes through it.
	var c stmtCache
	for i := range 2 * maxCachedStmts {
		c.get(fmt.Sprintf("SELECT %d", i))
	}
	if len(c.wanted) > maxCachedStmts {
		t.Errorf("stmtCache wants %d statements, more than %d", len(c.wanted), maxCachedStmts)
	}
}

func TestRecordMessageJudgment(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	rec := testRecord(1)
	m, created, err := l.RecordMessageJudgment(ctx, rec, accepted(tenantA, "EX315207"), rules.Version)
	if err != nil || !created {
		t.Fatalf("RecordMessageJudgment = %v, created %v; want a new row", err, created)
	}
	if m.Judgment == nil || m.Judgment.Verdict != rules.Accepted || m.RulesVersion != rules.Version || m.JudgedAt.IsZero() {
		t.Fatalf("returned message has judgment %+v (rules %q, judged %v), want the accepted one", m.Judgment, m.RulesVersion, m.JudgedAt)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM claim_evidence`); n != 1 {
		t.Errorf("evidence links = %d, want 1", n)
	}
	// Again, with another judgment: the row and the first judgment stand.
	again, created, err := l.RecordMessageJudgment(ctx, rec, rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonPersonalAddress}, "later")
	if err != nil || created || again.ID != m.ID {
		t.Fatalf("second call = id %d, created %v, %v; want id %d, not created", again.ID, created, err, m.ID)
	}
	if again.Judgment.Verdict != rules.Accepted || again.RulesVersion != rules.Version {
		t.Errorf("second call returned judgment %s (rules %q), want the first, accepted", again.Judgment.Verdict, again.RulesVersion)
	}
	// A message recorded by RecordMessage alone (an interrupted older
	// step) is judged now.
	plain := mustRecord(t, l, testRecord(2))
	judged, created, err := l.RecordMessageJudgment(ctx, testRecord(2), rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID}, rules.Version)
	if err != nil || created || judged.ID != plain.ID || judged.Judgment == nil || judged.Judgment.Verdict != rules.Unmatched {
		t.Errorf("judging a recorded message = %+v, created %v, %v", judged, created, err)
	}
	// A bad judgment records nothing: no half-done message.
	before := countRows(t, l, `SELECT COUNT(*) FROM audit`)
	if _, _, err := l.RecordMessageJudgment(ctx, testRecord(3), accepted("contoso", "EX315207"), rules.Version); err == nil {
		t.Error("an accepted judgment without a tenant GUID was recorded")
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM messages`); n != 2 {
		t.Errorf("messages = %d after a refused judgment, want 2", n)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit`); n != before {
		t.Errorf("audit entries = %d after a refused judgment, want %d", n, before)
	}
	if _, err := l.VerifyAudit(ctx, nil); err != nil {
		t.Errorf("audit trail: %v", err)
	}
}

// Three processes opening one new ledger file at the same moment (replicas
// started together) all get it: the one losing the race to set the file
// up tries again rather than failing with SQLITE_BUSY.
func TestOpenLedgerConcurrently(t *testing.T) {
	sqliteOnly(t, "the race is SQLite's, over turning a new file into a WAL database")
	for range 40 {
		path := filepath.Join(t.TempDir(), "claimtrail.db")
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				l, err := OpenLedger(context.Background(), LedgerConfig{Path: path})
				if err != nil {
					t.Errorf("OpenLedger of a new file, three at once: %v", err)
					return
				}
				l.Close()
			})
		}
		wg.Wait()
	}
}
