package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

// writeRunConfig writes a configuration for the corpus's tenants with a
// directory store and a ledger in dir, plus extra YAML, and returns its
// path. DKIM is off: the tests have no DNS.
func writeRunConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	base, err := os.ReadFile("../../testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(base) + fmt.Sprintf(`
archive:
  store: dir
  dir: %s
ledger:
  path: %s
dkim:
  verify: false
`, filepath.Join(dir, "objects"), filepath.Join(dir, "ledger.db")) + extra
	path := filepath.Join(dir, "claimtrail.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImport(t *testing.T) {
	dir := t.TempDir()
	cfg := writeRunConfig(t, dir, "")
	mail := "../../testdata/mail"
	code, out, errOut := runCLI(t, "import", "--config", cfg, mail)
	if code != exitOK {
		t.Fatalf("import: exit %d, stderr %s", code, errOut)
	}
	_, total, summary := corpusCounts(t, mail)
	want := "imported " + summary + "; skipped, not mail (.eml, mbox or Maildir): 1 file\n"
	if out != want {
		t.Errorf("import printed %q, want %q", out, want)
	}
	bundles, _ := filepath.Glob(filepath.Join(dir, "objects", "bundles", "*", "1.zip"))
	if len(bundles) != total {
		t.Errorf("%d bundles stored, want %d", len(bundles), total)
	}
	anchors, _ := filepath.Glob(filepath.Join(dir, "objects", "anchors", "*.json"))
	if len(anchors) != 1 {
		t.Errorf("%d audit anchors stored, want 1", len(anchors))
	}

	code, out, _ = runCLI(t, "import", "--config", cfg, mail)
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("%d of them were in the ledger already", total)) {
		t.Errorf("second import: exit %d, printed %q; want 0 and every message known", code, out)
	}

	code, _, errOut = runCLI(t, "import", "--config", cfg, filepath.Join(mail, "no-such.eml"))
	if code != exitFail || !strings.Contains(errOut, "no-such.eml") {
		t.Errorf("import of a missing file: exit %d, stderr %q; want 1 naming the file", code, errOut)
	}
	for _, args := range [][]string{{"import", mail}, {"import", "--config", cfg}} {
		if code, _, _ := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestRunOnce(t *testing.T) {
	d := ingesttest.StartDovecot(t)
	user := ingesttest.DefaultUser
	files := corpusFilesFrom(t, "../../testdata/mail")
	var msgs [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, raw)
	}
	d.Append(t, user, "INBOX", msgs...)

	dir := t.TempDir()
	mailbox := func(password string) string {
		return fmt.Sprintf(`mailboxes:
  - name: shared
    host: %s
    port: %d
    security: insecure
    username: %s
    password: %q
`, d.Host, d.Port, user, password)
	}
	cfg := writeRunConfig(t, dir, mailbox(d.Password(user)))
	code, out, errOut := runCLI(t, "run", "--config", cfg, "--once")
	if code != exitOK {
		t.Fatalf("run --once: exit %d, stderr %s", code, errOut)
	}
	counts, _, summary := corpusCounts(t, "../../testdata/mail")
	if out != summary+"\n" {
		t.Errorf("run --once printed %q, want %q", out, summary+"\n")
	}
	if left := d.UIDs(t, user, "INBOX"); len(left) != 0 {
		t.Errorf("INBOX still holds %d messages", len(left))
	}
	for folder, n := range map[string]int{"Accepted": counts["accepted"], "Rejected": counts["rejected"], "Unmatched": counts["unmatched"]} {
		if got := len(d.UIDs(t, user, folder)); got != n {
			t.Errorf("%s holds %d messages, want %d", folder, got, n)
		}
	}
	// Nothing new: nothing handled.
	if code, out, _ := runCLI(t, "run", "--config", cfg, "--once"); code != exitOK || out != "0 messages\n" {
		t.Errorf("second run --once: exit %d, printed %q; want 0 and nothing handled", code, out)
	}

	bad := writeRunConfig(t, t.TempDir(), mailbox("wrong"))
	code, _, errOut = runCLI(t, "run", "--config", bad, "--once")
	if code != exitFail || !strings.Contains(errOut, "password") {
		t.Errorf("run --once with a wrong password: exit %d, stderr %q; want 1 and a word about the password", code, errOut)
	}
}

func corpusFilesFrom(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	return files
}
