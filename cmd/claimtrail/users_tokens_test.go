package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// Issue 20: tokens expire (web.token_ttl, or --ttl), may be read-only,
// show their scope, expiry and last use in users list, and go with a new
// password unless --keep-tokens.
func TestUsersTokens(t *testing.T) {
	dir := t.TempDir()
	config, db, _ := ledgerConfig(t, dir)
	f, err := os.OpenFile(config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("web:\n  token_ttl: 30d\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	users := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runUsersCLI(t, stdin, append([]string{"users", "--config", config}, args...)...)
	}
	for _, u := range [][]string{{"boss", "admin"}, {"anna", "analyst"}} {
		if code, _, errOut := users(cliPassword+"\n", "add", u[0], "--role", u[1]); code != exitOK {
			t.Fatalf("add %s: %s", u[0], errOut)
		}
	}
	before := time.Now().UTC()
	code, full, errOut := users("", "token", "anna", "--label", "nightly export")
	in30 := before.Add(30 * 24 * time.Hour).Format("2006-01-02")
	if code != exitOK || !strings.HasPrefix(full, "ctk_") || !strings.Contains(errOut, "with anna's role, expires "+in30) {
		t.Fatalf("token = %d %q %q, want a token expiring on %s (web.token_ttl)", code, full, errOut, in30)
	}
	code, ro, errOut := users("", "token", "anna", "--label", "dashboard", "--read-only", "--ttl", "7d")
	in7 := before.Add(7 * 24 * time.Hour).Format("2006-01-02")
	if code != exitOK || !strings.Contains(errOut, "read-only, expires "+in7) {
		t.Fatalf("token --read-only --ttl 7d = %d %q, want read-only expiring on %s", code, errOut, in7)
	}
	if code, _, errOut := users("", "token", "anna", "--ttl", "forever"); code != exitUsage || !strings.Contains(errOut, "--ttl") {
		t.Errorf("token --ttl forever = %d %q, want a usage error naming --ttl", code, errOut)
	}

	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, _, err := l.APITokenUser(context.Background(), strings.TrimSpace(full), time.Now()); err != nil {
		t.Fatal(err)
	}
	used := time.Now().UTC().Format("2006-01-02 15")

	code, out, _ := users("", "list")
	var rows []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "anna ") && (strings.Contains(line, "nightly") || strings.Contains(line, "dashboard")) {
			rows = append(rows, line)
		}
	}
	if code != exitOK || !strings.Contains(out, "SCOPE") || !strings.Contains(out, "EXPIRES") || !strings.Contains(out, "LAST USED") || len(rows) != 2 ||
		!strings.Contains(rows[0], "full") || !strings.Contains(rows[0], in30) || !strings.Contains(rows[0], used) ||
		!strings.Contains(rows[1], "read-only") || !strings.Contains(rows[1], in7) || !strings.HasSuffix(strings.TrimSpace(rows[1]), "never") {
		t.Errorf("users list = %d\n%s\nwant token 1 full, expiring %s, used %s; token 2 read-only, expiring %s, never used", code, out, in30, used, in7)
	}

	if code, out, errOut := users("another long passphrase\n", "passwd", "anna", "--keep-tokens"); code != exitOK ||
		!strings.Contains(out, "2 API tokens kept working (--keep-tokens)") {
		t.Errorf("passwd --keep-tokens = %d %q %q", code, out, errOut)
	}
	if _, _, err := l.APITokenUser(context.Background(), strings.TrimSpace(ro), time.Now()); err != nil {
		t.Errorf("a token after passwd --keep-tokens: %v", err)
	}
	if code, out, errOut := users("yet another passphrase\n", "passwd", "anna"); code != exitOK ||
		!strings.Contains(out, "2 API tokens revoked (IDs 1, 2)") || !strings.Contains(out, "--keep-tokens") {
		t.Errorf("passwd = %d %q %q, want both tokens revoked, saying so", code, out, errOut)
	}
	for _, token := range []string{full, ro} {
		if _, _, err := l.APITokenUser(context.Background(), strings.TrimSpace(token), time.Now()); err == nil {
			t.Errorf("a token still works after passwd")
		}
	}
	if _, out, _ := users("", "list"); strings.Contains(out, "nightly") {
		t.Errorf("users list after passwd still shows the tokens:\n%s", out)
	}
	if code, out, _ := users("a third passphrase!\n", "passwd", "anna"); code != exitOK || !strings.Contains(out, "no API tokens to revoke") {
		t.Errorf("passwd without tokens = %d %q", code, out)
	}
	var sb strings.Builder
	if err := l.ExportAudit(context.Background(), &sb, archive.AuditJSONL, 0); err != nil {
		t.Fatal(err)
	}
	audit := sb.String()
	if strings.Count(audit, `"action":"api_token_created"`) != 2 || strings.Count(audit, `"action":"api_token_revoked"`) != 2 ||
		!strings.Contains(audit, `"read_only":true`) || !strings.Contains(audit, `"reason":"password changed"`) {
		t.Errorf("audit trail lacks the tokens' creation (with scope) and revocation:\n%s", audit)
	}
}
