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

// runCLI runs claimtrail with args, stdin for the password, and returns
// the exit code and the outputs.
func runUsersCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	usersStdin = strings.NewReader(stdin)
	stdinTerminal = func() (int, bool) { return -1, false }
	t.Cleanup(func() { usersStdin = os.Stdin })
	var out, errOut bytes.Buffer
	code := run(context.Background(), &env{stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

const cliPassword = "correct horse battery staple"

func TestUsersCommand(t *testing.T) {
	config, db, _ := ledgerConfig(t, t.TempDir())
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(cliPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		stdin    string
		args     []string
		wantCode int
		wantOut  string // substring of stdout, or of stderr when the code is not 0
	}{
		{"add from stdin", cliPassword + "\n", []string{"users", "--config", config, "add", "Boss", "--role", "admin"}, exitOK, "boss added as admin"},
		{"add from a file", "", []string{"users", "--config", config, "add", "anna", "--role", "analyst", "--password-file", pwFile}, exitOK, "anna added as analyst"},
		{"add twice", cliPassword, []string{"users", "--config", config, "add", "anna", "--role", "viewer"}, exitFail, "already exists"},
		{"add without role", cliPassword, []string{"users", "--config", config, "add", "vera"}, exitUsage, "--role is missing"},
		{"bad role", cliPassword, []string{"users", "--config", config, "add", "vera", "--role", "root"}, exitUsage, "not one of viewer"},
		{"short password", "short\n", []string{"users", "--config", config, "add", "vera", "--role", "viewer"}, exitUsage, "at least 12"},
		{"empty password", "", []string{"users", "--config", config, "add", "vera", "--role", "viewer"}, exitUsage, "empty"},
		{"password flag refused", "", []string{"users", "--config", config, "add", "vera", "--role", "viewer", "--password", "x"}, exitUsage, "not defined"},
		{"passwd", "another long passphrase\n", []string{"users", "--config", config, "passwd", "anna"}, exitOK, "anna has a new password"},
		{"passwd unknown", cliPassword, []string{"users", "--config", config, "passwd", "nobody"}, exitFail, "users list"},
		{"role", "", []string{"users", "--config", config, "role", "anna", "viewer"}, exitOK, "anna is now viewer"},
		{"remove last admin", "", []string{"users", "--config", config, "remove", "boss"}, exitFail, "last admin"},
		{"token", "", []string{"users", "--config", config, "token", "anna", "--label", "nightly export"}, exitOK, "ctk_"},
		{"list", "", []string{"users", "--config", config, "list"}, exitOK, "nightly export"},
		{"revoke", "", []string{"users", "--config", config, "revoke", "1"}, exitOK, "API token 1 revoked"},
		{"revoke again", "", []string{"users", "--config", config, "revoke", "1"}, exitFail, "not found"},
		{"remove", "", []string{"users", "--config", config, "remove", "anna"}, exitOK, "anna removed"},
		{"unknown command", "", []string{"users", "--config", config, "promote", "anna"}, exitUsage, "unknown command"},
		{"--config after the command", "", []string{"users", "list", "--config", config}, exitOK, "boss"},
		{"no config", "", []string{"users", "list"}, exitUsage, "--config is missing"},
		{"config not there", "", []string{"users", "--config", config + ".nope", "list"}, exitUsage, "no such file"},
	}
	for _, s := range steps {
		code, out, errOut := runUsersCLI(t, s.stdin, s.args...)
		text := out
		if code != exitOK {
			text = errOut
		}
		if code != s.wantCode || !strings.Contains(text, s.wantOut) {
			t.Errorf("%s: claimtrail %s = %d\nstdout: %s\nstderr: %s\nwant %d and %q", s.name, strings.Join(s.args, " "), code, out, errOut, s.wantCode, s.wantOut)
		}
	}

	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Authenticate(context.Background(), "boss", cliPassword); err != nil {
		t.Errorf("boss cannot log in with the password from stdin: %v", err)
	}
	var sb strings.Builder
	if err := l.ExportAudit(context.Background(), &sb, archive.AuditJSONL, 0); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), `"actor":"cli`) || !strings.Contains(sb.String(), `"action":"user_removed"`) {
		t.Errorf("the CLI's changes are not in the audit trail with a cli actor:\n%s", sb.String())
	}
}
