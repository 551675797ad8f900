package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The configuration example in README.md must load: a reader copies it.
func TestREADMEConfigExampleLoads(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no yaml example")
	}
	// The example is indented inside a list item; its secrets live in
	// /run/secrets, here in a temporary directory.
	dir := t.TempDir()
	var lines []string
	for _, l := range strings.Split(string(m[1]), "\n") {
		lines = append(lines, strings.TrimPrefix(l, "   "))
	}
	text := strings.ReplaceAll(strings.Join(lines, "\n"), "/run/secrets/", dir+"/")
	for _, name := range []string{"imap", "minio"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("s3cret-"+name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tenants, err := os.ReadFile("../../testdata/tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tenants.yaml"), tenants, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "claimtrail.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatalf("README.md's example does not load:\n%v\n---\n%s", err, text)
	}
	if got := cfg.Mailboxes[0].Password.Reveal(); got != "s3cret-imap" {
		t.Errorf("mailbox password from password_file = %q, want s3cret-imap", got)
	}
	if got := cfg.Archive.SecretKey; got != "s3cret-minio" {
		t.Errorf("archive secret_key from secret_key_file = %q, want s3cret-minio", got)
	}
	if _, err := cfg.Policy(); err != nil {
		t.Errorf("README.md's example policy: %v", err)
	}
}
