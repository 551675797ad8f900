package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/archive"
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
			want, got = "audit trail ok:", strings.Join(strings.Fields(got+" ? ? ?")[:3], " ")
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
		{[]string{"copy", "--from", "a.db", "--to", "sqlite:b.db"}, exitUsage, "name a ledger as sqlite:PATH"},
		{[]string{"copy", "--from", "mysql:x", "--to", "sqlite:b.db"}, exitUsage, `unknown engine "mysql"`},
		{[]string{"copy", "--from", "sqlite:a.db", "--to", "sqlite:a.db"}, exitUsage, "the same ledger"},
		{[]string{"copy", "--from", "sqlite:" + missing, "--to", "sqlite:" + filepath.Join(dir, "b.db")}, exitFail, "there is no ledger at"},
		{[]string{"copy", "--from", "sqlite:a.db", "--to", "sqlite:b.db", "extra"}, exitUsage, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		code, _, errOut := runCLI(t, append([]string{"ledger"}, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("ledger %q = %d %q; want %d and %q", tt.args, code, errOut, tt.code, tt.want)
		}
	}
}
