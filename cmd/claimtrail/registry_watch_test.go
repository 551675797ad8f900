package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
	"github.com/claimtrail/claimtrail/rules"
)

// registryMail is an authenticated customer message from sender naming
// incident EX1187453, stamped by the corpus configuration's trusted server.
func registryMail(sender, subject string) []byte {
	domain := sender[strings.IndexByte(sender, '@')+1:]
	return []byte("Authentication-Results: mx.adatum-csp.com;\r\n" +
		"\tspf=pass smtp.mailfrom=" + sender + ";\r\n" +
		"\tdmarc=pass (policy=reject) header.from=" + domain + "\r\n" +
		"From: Ops <" + sender + ">\r\n" +
		"To: sla-credits@adatum-csp.com\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", "-") + "@" + domain + ">\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n" +
		"\r\n" +
		"Exchange was down all morning (EX1187453). Please request the credit.\r\n")
}

// TestRunPicksUpRegistryChanges: `claimtrail run` judges each message with
// the tenant registry as it is then. A tenant imported through the web
// app's API while run serves it, and one added to
// tenants_file are judged with without a restart, the judgments name the
// registry version, and the audit trail shows the changes. An invalid
// tenants_file changes nothing.
func TestRunPicksUpRegistryChanges(t *testing.T) {
	d := ingesttest.StartDovecot(t)
	user := ingesttest.DefaultUser
	dir := t.TempDir()
	base, err := os.ReadFile("../../testdata/config-tenants-file.yaml")
	if err != nil {
		t.Fatal(err)
	}
	registry, err := os.ReadFile("../../testdata/tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(tenantsFile, registry, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "claimtrail.yaml")
	if err := os.WriteFile(cfg, []byte(string(base)+fmt.Sprintf(`
archive:
  store: dir
  dir: %s
ledger:
  path: %s
dkim:
  verify: false
mailboxes:
  - name: shared
    host: %s
    port: %d
    security: insecure
    username: %s
    password: %q
`, filepath.Join(dir, "objects"), filepath.Join(dir, "ledger.db"), d.Host, d.Port, user, d.Password(user))), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The ledger, open beside the running poller as another process's
	// would be.
	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: filepath.Join(dir, "ledger.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// An admin to import tenants through the web app that run serves.
	hash, err := archive.HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddUser(ctx, "boss", archive.RoleAdmin, hash, "test"); err != nil {
		t.Fatal(err)
	}
	token, _, err := l.CreateAPIToken(ctx, "boss", "test", "test", archive.APITokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, &env{stdout: &stdout, stderr: &stderr}, []string{"run", "--config", cfg, "--listen", "127.0.0.1:0", "--registry-every", "100ms"})
	}()
	stopped := false
	stop := func() int {
		stopped = true
		cancel()
		select {
		case code := <-exited:
			return code
		case <-time.After(time.Minute):
			t.Fatalf("run did not stop within a minute of its context's end:\n%s", tail(stderr.String(), 30))
			return -1
		}
	}
	defer func() {
		if !stopped {
			stop()
		}
	}()

	// judged delivers a message and waits for its judgment.
	judge := func(sender, subject string) *rules.Judgment {
		t.Helper()
		d.Append(t, user, "INBOX", registryMail(sender, subject))
		var got *rules.Judgment
		err := waitFor(time.Minute, func() bool {
			ms, err := l.Messages(ctx, archive.MessageFilter{})
			if err != nil {
				t.Fatalf("Messages: %v", err)
			}
			for _, m := range ms {
				if m.Subject == subject && m.Judgment != nil {
					got = m.Judgment
					return true
				}
			}
			return false
		})
		if err != nil {
			t.Fatalf("%q from %s not judged within a minute:\n%s", subject, sender, tail(stderr.String(), 30))
		}
		return got
	}
	version := func() int64 {
		t.Helper()
		v, err := l.RegistryVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// pickedUp waits until the poller logs that it judges with version v.
	pickedUp := func(v int64) {
		t.Helper()
		want := fmt.Sprintf("new_version=%d", v)
		if err := waitFor(time.Minute, func() bool { return strings.Contains(stderr.String(), want) }); err != nil {
			t.Fatalf("run did not log a tenant registry change to version %d within a minute:\n%s", v, tail(stderr.String(), 30))
		}
	}

	j := judge("ops@tailspin.cz", "Outage one")
	started := version() // what run made of the configuration
	if j.Verdict != rules.Rejected || j.Reason != rules.ReasonUnknownDomain || j.RegistryVersion != started {
		t.Fatalf("before the import: %s (%s) registry %d, want rejected (unknown_domain) with registry %d", j.Verdict, j.Reason, j.RegistryVersion, started)
	}

	// 1. An import through the web app's API (the Tenants page's import).
	const tailspinID = "3e9d7c1b-4a2f-4b8e-9c6d-5f1a2b3c4d5e"
	var addr string
	if err := waitFor(time.Minute, func() bool {
		_, a, ok := strings.Cut(stderr.String(), "addr=http://")
		if ok {
			addr = strings.Fields(a)[0]
		}
		return ok
	}); err != nil {
		t.Fatalf("run logged no web address:\n%s", tail(stderr.String(), 30))
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/tenants/import?name=customers.csv",
		strings.NewReader("Microsoft ID,Company name,Primary domain name\n"+tailspinID+",Tailspin s.r.o.,tailspin.cz\n"))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || version() != started+1 {
		t.Fatalf("import through the API = %d %s; registry version %d, want %d", resp.StatusCode, body, version(), started+1)
	}
	pickedUp(started + 1)
	if j := judge("ops@tailspin.cz", "Outage two"); j.Verdict != rules.Accepted || j.TenantID != tailspinID || j.RegistryVersion != started+1 {
		t.Errorf("after the import: %s (%s) tenant %q registry %d, want accepted for Tailspin with registry %d", j.Verdict, j.Reason, j.TenantID, j.RegistryVersion, started+1)
	}

	// 2. An invalid tenants_file: logged, nothing changes.
	if err := os.WriteFile(tenantsFile, append(append([]byte(nil), registry...), "  - name: Twin\n    id: 11111111-2222-4333-8444-555555555555\n    domains: [fabrikam.com]\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := waitFor(time.Minute, func() bool { return strings.Contains(stderr.String(), "tenants_file not reloaded") }); err != nil {
		t.Fatalf("an invalid tenants_file was not reported within a minute:\n%s", tail(stderr.String(), 30))
	}
	if v := version(); v != started+1 {
		t.Errorf("registry version after an invalid tenants_file = %d, want %d (unchanged)", v, started+1)
	}

	// 3. A tenant added to tenants_file.
	const wingtipID = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	if err := os.WriteFile(tenantsFile, append(append([]byte(nil), registry...), "  - name: Wingtip a.s.\n    id: "+wingtipID+"\n    domains: [wingtip.cz]\n    csp: true\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	pickedUp(started + 2)
	if j := judge("ops@wingtip.cz", "Outage three"); j.Verdict != rules.Accepted || j.TenantID != wingtipID || j.RegistryVersion != started+2 {
		t.Errorf("after the tenants_file edit: %s (%s) tenant %q registry %d, want accepted for Wingtip with registry %d", j.Verdict, j.Reason, j.TenantID, j.RegistryVersion, started+2)
	}

	if code := stop(); code != exitOK {
		t.Errorf("run exit %d, want 0:\n%s", code, tail(stderr.String(), 30))
	}

	// The audit trail names both changes.
	es, err := l.AuditEntries(context.Background(), archive.AuditFilter{Actions: []archive.Action{archive.ActionRegistryChanged}})
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, e := range es {
		var det struct {
			Version int64    `json:"registry_version"`
			Change  string   `json:"change"`
			Tenants []string `json:"tenants"`
		}
		if err := json.Unmarshal(e.Details, &det); err != nil {
			t.Fatal(err)
		}
		if det.Version > started {
			changes = append(changes, fmt.Sprintf("%d %s %v", det.Version-started, det.Change, det.Tenants))
		}
	}
	want := []string{
		fmt.Sprintf("2 upsert tenants [%s]", wingtipID),
		fmt.Sprintf("1 import customers.csv [%s]", tailspinID),
	}
	if strings.Join(changes, "\n") != strings.Join(want, "\n") {
		t.Errorf("registry_changed entries after start (newest first):\n%s\nwant\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
}
