package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/archive/archivetest"
)

func TestLedgerCopy(t *testing.T) {
	ctx := context.Background()
	f := newLedgerFixture(t)
	to := filepath.Join(t.TempDir(), "copy", "claimtrail.db")
	code, out, errOut := runCLI(t, "ledger", "copy", "--from", "sqlite:"+f.ledger, "--to", "sqlite:"+to)
	if code != exitOK {
		t.Fatalf("ledger copy = %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"copying sqlite:" + f.ledger, "messages", "claims", "audit", "verified on both sides"} {
		if !strings.Contains(out, want) {
			t.Errorf("ledger copy said %q, want %q in it", out, want)
		}
	}
	// The copy is a ledger the other commands read: the same claims, the
	// same trail.
	base, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	copyConfig := writeTemp(t, t.TempDir(), "config.yaml", bytes.Replace(base, []byte(f.ledger), []byte(to), 1))
	for _, args := range [][]string{{"claims", "list"}, {"audit", "verify"}} {
		code, want, errOut := runCLI(t, append(args, "--config", f.config)...)
		if code != exitOK {
			t.Fatalf("%s of the source = %d %s", args, code, errOut)
		}
		code, got, errOut := runCLI(t, append(args, "--config", copyConfig)...)
		if args[0] == "audit" {
			// The copy's trail holds one more entry: the copy.
			want, got = "audit trail ok:", strings.Join(strings.Fields(got + " ? ? ?")[:3], " ")
		}
		if code != exitOK || got != want {
			t.Errorf("%s of the copy = %d %q %s; want %q as of the source", args, code, got, errOut, want)
		}
	}
	l, err := archive.OpenLedger(ctx, archive.LedgerConfig{Path: to})
	if err != nil {
		t.Fatal(err)
	}
	head, err := l.AuditHead(ctx)
	l.Close()
	if err != nil || head.Action != archive.ActionLedgerCopied || head.Actor != "cli:tester" {
		t.Errorf("the copy's last audit entry = %+v, %v; want ledger_copied by cli:tester", head, err)
	}

	// Again into the same file: refused, and nothing written.
	code, out, errOut = runCLI(t, "ledger", "copy", "--from", "sqlite:"+f.ledger, "--to", "sqlite:"+to)
	if code != exitFail || !strings.Contains(errOut, "not empty") {
		t.Errorf("a second copy into the same file = %d %q %q; want exit 1, not empty", code, out, errOut)
	}
}

func TestLedgerCopyUsage(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.db")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "say what to do"},
		{[]string{"move"}, exitUsage, `unknown command "move"`},
		{[]string{"copy", "--from", "sqlite:a.db"}, exitUsage, "both --from and --to"},
		{[]string{"copy", "--from", "a.db", "--to", "sqlite:b.db"}, exitUsage, "name a ledger as sqlite:PATH or postgres:DSN"},
		{[]string{"copy", "--from", "mysql:x", "--to", "sqlite:b.db"}, exitUsage, `unknown engine "mysql"`},
		{[]string{"copy", "--from", "sqlite:", "--to", "sqlite:b.db"}, exitUsage, "sqlite: needs the file's path"},
		{[]string{"copy", "--from", "sqlite:a.db", "--to", "postgres:"}, exitUsage, "after the colon or in $CLAIMTRAIL_LEDGER_DSN"},
		{[]string{"copy", "--from", "sqlite:a.db", "--to", "postgres://u:hunter2@[::1/x"}, exitUsage, "ledger.dsn: not a PostgreSQL URL"},
		{[]string{"copy", "--from", "sqlite:a.db", "--to", "sqlite:a.db"}, exitUsage, "the same ledger"},
		{[]string{"copy", "--from", "sqlite:" + missing, "--to", "sqlite:" + filepath.Join(dir, "b.db")}, exitFail, "there is no ledger at"},
		{[]string{"copy", "--from", "sqlite:a.db", "--to", "sqlite:b.db", "extra"}, exitUsage, `unexpected argument "extra"`},
	}
	t.Setenv("CLAIMTRAIL_LEDGER_DSN", "")
	for _, tt := range tests {
		code, _, errOut := runCLI(t, append([]string{"ledger"}, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("ledger %q = %d %q; want %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
		if strings.Contains(errOut, "hunter2") {
			t.Errorf("ledger %q printed the DSN's password: %q", tt.args, errOut)
		}
	}
}

func TestParseLedgerSpec(t *testing.T) {
	env := map[string]string{"CLAIMTRAIL_LEDGER_DSN": "postgres://ct:s3cret@db:5432/claims"}
	tests := []struct {
		spec, name string
		want       archive.LedgerConfig
	}{
		{"sqlite:data/claimtrail.db", "sqlite:data/claimtrail.db", archive.LedgerConfig{Path: "data/claimtrail.db"}},
		{"postgres://ct:pw@db/claims", "postgres:postgres://ct:<redacted>@db/claims", archive.LedgerConfig{Driver: "postgres", DSN: "postgres://ct:pw@db/claims"}},
		{"postgresql://db/claims", "postgres:postgresql://db/claims", archive.LedgerConfig{Driver: "postgres", DSN: "postgresql://db/claims"}},
		{"postgres:host=db password=pw dbname=claims", "postgres:host=db password=<redacted> dbname=claims", archive.LedgerConfig{Driver: "postgres", DSN: "host=db password=pw dbname=claims"}},
		{"postgres:", "postgres:postgres://ct:<redacted>@db:5432/claims", archive.LedgerConfig{Driver: "postgres", DSN: env["CLAIMTRAIL_LEDGER_DSN"]}},
	}
	for _, tt := range tests {
		cfg, name, err := parseLedgerSpec(tt.spec, func(k string) string { return env[k] })
		if err != nil || name != tt.name || cfg.Driver != tt.want.Driver || cfg.DSN != tt.want.DSN || cfg.Path != tt.want.Path {
			t.Errorf("parseLedgerSpec(%q) = %v, %q, %v; want %v, %q", tt.spec, cfg, name, err, tt.want, tt.name)
		}
	}
}

// TestLedgerCopyToPostgres moves an install from its SQLite file to
// PostgreSQL, as README says, and runs the commands on the new ledger.
func TestLedgerCopyToPostgres(t *testing.T) {
	f := newLedgerFixture(t)
	dsn := archivetest.StartPostgres(t).NewDatabase(t)
	code, want, errOut := runCLI(t, "claims", "list", "--config", f.config)
	if code != exitOK {
		t.Fatalf("claims list on the source = %d %s", code, errOut)
	}
	t.Setenv("CLAIMTRAIL_LEDGER_DSN", dsn)
	code, out, errOut := runCLI(t, "ledger", "copy", "--from", "sqlite:"+f.ledger, "--to", "postgres:")
	if code != exitOK {
		t.Fatalf("ledger copy to postgres = %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, dsn) && strings.Contains(dsn, "@") {
		t.Errorf("ledger copy printed the DSN with its password: %q", out)
	}
	base, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	pgConfig := writeTemp(t, t.TempDir(), "config.yaml",
		bytes.Replace(base, []byte("path: "+f.ledger), []byte("driver: postgres"), 1))
	code, got, errOut := runCLI(t, "claims", "list", "--config", pgConfig)
	if code != exitOK || got != want {
		t.Errorf("claims list on the PostgreSQL copy = %d %q %s; want %q", code, got, errOut, want)
	}
	if code, out, errOut := runCLI(t, "audit", "verify", "--config", pgConfig); code != exitOK || !strings.HasPrefix(out, "audit trail ok") {
		t.Errorf("audit verify on the PostgreSQL copy = %d %q %s", code, out, errOut)
	}
}
