package main

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/claimtrail/claimtrail/archive"
)

func TestAuditCommand(t *testing.T) {
	f := newLedgerFixture(t)
	out := filepath.Join(t.TempDir(), "audit.csv")
	f.check(t, []cliCase{
		{"verify without anchors", []string{"audit", "--config", "CONFIG", "verify"}, exitOK,
			[]string{"audit trail ok: ", " entries, head seq ", "; no anchor yet, run claimtrail audit anchor\n"}, ""},
		{"anchor", []string{"audit", "--config", "CONFIG", "anchor"}, exitOK, []string{"anchored seq ", " at anchors/0000"}, ""},
		{"verify at the anchor", []string{"audit", "--config", "CONFIG", "verify"}, exitOK, []string{"; 1 anchor checked, the last at the head\n"}, ""},
		{"a change after the anchor", []string{"claims", "--config", "CONFIG", "set", "ID:contoso", "ticket", "CT-1"}, exitOK, nil, ""},
		{"verify after it", []string{"audit", "--config", "CONFIG", "verify"}, exitOK,
			[]string{"1 anchor checked, the last at seq ", " (1 entry since, protected by the chain alone)\n"}, ""},
		{"export csv to a file", []string{"audit", "--config", "CONFIG", "export", "--format", "csv", "-o", out}, exitOK, nil, "wrote the audit trail to " + out},
		{"no overwrite", []string{"audit", "--config", "CONFIG", "export", "-o", out}, exitFail, nil, "--force"},
		{"--force", []string{"audit", "--config", "CONFIG", "export", "--force", "--claim", "ID:contoso", "-o", out}, exitOK, nil, "the audit entries of claim"},
		{"bad format", []string{"audit", "--config", "CONFIG", "export", "--format", "xml"}, exitUsage, nil, "use jsonl or csv"},
		{"bad claim", []string{"audit", "--config", "CONFIG", "export", "--claim", "x"}, exitUsage, nil, "claim IDs are numbers"},
		{"unknown claim", []string{"audit", "--config", "CONFIG", "export", "--claim", "999"}, exitFail, nil, "not found"},
		{"argument", []string{"audit", "--config", "CONFIG", "verify", "now"}, exitUsage, nil, `unexpected argument "now"`},
		{"unknown command", []string{"audit", "--config", "CONFIG", "repair"}, exitUsage, nil, "use verify, export or anchor"},
	})

	// The --force export replaced the whole trail's CSV with the claim's
	// JSON lines: every line about the claim or its evidence.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		var e archive.AuditEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%s: %q: %v", out, line, err)
		}
		subjects[e.Subject] = true
	}
	want := fmt.Sprintf("map[claim:%d:true message:%s:true]", f.claims["contoso"], f.shas["contoso"])
	if fmt.Sprint(subjects) != want {
		t.Errorf("audit export --claim covers %v, want %s", subjects, want)
	}

	// The whole trail as CSV to standard output, a header and every entry.
	code, stdout, stderr := f.run("audit", "--config", "CONFIG", "export", "--format", "CSV")
	if code != exitOK {
		t.Fatalf("audit export --format CSV = %d: %s", code, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head := verifiedHead(t, f)
	if len(rows) != int(head)+1 || strings.Join(rows[0], ",") != "seq,time,actor,action,subject,details,prev_hash,hash" {
		t.Errorf("audit export --format csv = %d rows, header %q; want %d and the header", len(rows), rows[0], head+1)
	}
}

// verifiedHead returns the head seq the verify command reports.
func verifiedHead(t *testing.T, f *ledgerFixture) int64 {
	t.Helper()
	code, stdout, stderr := f.run("audit", "--config", "CONFIG", "verify")
	var head int64
	if _, err := fmt.Sscanf(stdout[strings.Index(stdout, "head seq "):], "head seq %d", &head); code != exitOK || err != nil {
		t.Fatalf("audit verify = %d, %q, %q", code, stdout, stderr)
	}
	return head
}

func TestAuditVerifyFindsTampering(t *testing.T) {
	f := newLedgerFixture(t)
	if code, _, stderr := f.run("audit", "--config", "CONFIG", "anchor"); code != exitOK {
		t.Fatalf("audit anchor = %d: %s", code, stderr)
	}
	// Someone with the database file edits an entry and hides a claim's
	// history; the triggers stop accidents, not them.
	db, err := sql.Open("sqlite", f.ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`DROP TRIGGER audit_no_update`, `DROP TRIGGER audit_no_delete`,
		`UPDATE audit SET actor = 'mallory' WHERE seq = 3`,
		`DELETE FROM audit WHERE seq = 5`,
	} {
		if _, err := db.ExecContext(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	code, stdout, stderr := f.run("audit", "--config", "CONFIG", "verify")
	if code != exitFail || stdout != "" {
		t.Errorf("audit verify of a tampered trail = %d, stdout %q; want 1 and nothing on stdout", code, stdout)
	}
	for _, want := range []string{"seq 3: rewritten:", "seq 5: deleted: entry 5 is missing", "FAILED: 2 problems in "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("audit verify stderr lacks %q:\n%s", want, stderr)
		}
	}
}
