package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
	"github.com/claimtrail/claimtrail/remind/remindtest"
)

func TestConfigReminders(t *testing.T) {
	const doc = goodRules + goodTenant + `reminders:
  days: [10, 3, 1]
  every: 5m
  webhook_url_file: secrets/webhook
  smtp:
    host: smtp.office365.com
    username: claimtrail@adatum-csp.com
    from: Claimtrail <claimtrail@adatum-csp.com>
    to: [claims-team@adatum-csp.com]
`
	env := map[string]string{
		"CLAIMTRAIL_REMINDERS_TEAMS_WEBHOOK_URL": "https://adatum.webhook.office.com/webhookb2/x?sig=teams-secret",
		"CLAIMTRAIL_REMINDERS_SMTP_PASSWORD":     "smtp-secret",
	}
	files := map[string]string{"cfg/secrets/webhook": "https://hooks.example/claims?sig=hook-secret\n"}
	cfg, err := parseConfig("cfg/config.yaml", []byte(doc), &loader{lookupEnv: fakeEnv(env), readFile: fakeFS(files)})
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	rc := cfg.Reminders.WithDefaults()
	if !slices.Equal(rc.Days, []int{10, 3, 1}) || rc.Every != 5*time.Minute || rc.SMTP.Port != 587 || rc.SMTP.Security != "starttls" ||
		rc.WebhookURL.Reveal() != "https://hooks.example/claims?sig=hook-secret" || rc.TeamsWebhookURL.Reveal() != env["CLAIMTRAIL_REMINDERS_TEAMS_WEBHOOK_URL"] ||
		rc.SMTP.Password.Reveal() != "smtp-secret" {
		t.Errorf("reminders = %#v, want the file's keys, the webhook from its file, Teams and the password from the environment", rc)
	}
	out := cfg.String()
	for _, secret := range []string{"hook-secret", "teams-secret", "smtp-secret"} {
		if strings.Contains(out, secret) {
			t.Errorf("the printed config shows %s:\n%s", secret, out)
		}
	}

	for _, tc := range []struct{ yaml, want string }{
		{"reminders:\n  days: [7, 0]\n", "cfg/config.yaml:9: reminders.days: 0 days"},
		{"reminders:\n  webhook_url: not a url\n", "reminders.webhook_url: is not an http(s) URL"},
		{"reminders:\n  smtp:\n    host: smtp.example.com\n    to: [a@adatum-csp.com]\n", "cfg/config.yaml:9: reminders.smtp.from"},
		{"reminders:\n  every: 10s\n", "reminders.every: 10s is too often"},
		{"reminders:\n  webhook: https://x\n", `unknown key "webhook" in reminders`},
	} {
		_, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant+tc.yaml), &loader{lookupEnv: fakeEnv(nil), readFile: fakeFS(nil)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q) = %v, want an error with %q", tc.yaml, err, tc.want)
		}
	}
}

// hookReceiver keeps the JSON bodies posted to it.
type hookReceiver struct {
	mu     sync.Mutex
	bodies []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, string(b))
	h.mu.Unlock()
}

func (h *hookReceiver) count(substr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, b := range h.bodies {
		if strings.Contains(b, substr) {
			n++
		}
	}
	return n
}

// TestRunReminders: claimtrail run --once sends each reminder once on
// every channel, and a second run (a restart) sends none again; claims
// that are submitted or advisories get none.
func TestRunReminders(t *testing.T) {
	d := ingesttest.StartDovecot(t)
	user := ingesttest.DefaultUser
	hook, teams := &hookReceiver{}, &hookReceiver{}
	hookSrv, teamsSrv := httptest.NewServer(hook), httptest.NewServer(teams)
	t.Cleanup(hookSrv.Close)
	t.Cleanup(teamsSrv.Close)
	mailSrv := remindtest.NewSMTPServer(t, remindtest.SMTPOptions{})

	dir := t.TempDir()
	secret := filepath.Join(dir, "webhook-url")
	if err := os.WriteFile(secret, []byte(hookSrv.URL+"/hook?sig=hook-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CLAIMTRAIL_REMINDERS_TEAMS_WEBHOOK_URL", teamsSrv.URL+"/teams?sig=teams-secret")
	cfg := writeRunConfig(t, dir, fmt.Sprintf(`mailboxes:
  - name: shared
    host: %s
    port: %d
    security: insecure
    username: %s
    password: %q
web:
  base_url: https://claims.adatum-csp.com
reminders:
  webhook_url_file: %s
  smtp:
    host: %s
    port: %d
    security: none
    from: claimtrail@adatum-csp.com
    to: [claims-team@adatum-csp.com]
`, d.Host, d.Port, user, d.Password(user), secret, mailSrv.Host, mailSrv.Port))

	// The claims, written beside a ledger claimtrail made, of a tenant
	// the configuration does not list: its registry's refresh would
	// recompute their deadlines from evidence they lack.
	ledgerPath := filepath.Join(dir, "ledger.db")
	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: ledgerPath})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	db, err := sql.Open("sqlite", ledgerPath)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, c := range []struct {
		incident, status string
		eligible         bool
		left             time.Duration
	}{
		{"EX200001", "open", true, 5 * 24 * time.Hour},
		{"EX200002", "ready", true, 30 * time.Hour},
		{"EX200003", "submitted", true, 30 * time.Hour},
		{"EX200004", "open", false, 30 * time.Hour},
	} {
		if _, err := db.Exec(`INSERT INTO claims (tenant_id, incident_id, status, deadline, created_at, updated_at, eligible)
			VALUES ('0d7f3c2a-5b1e-4f6a-8c9d-2e4b6a8c0f13', ?, ?, ?, ?, ?, ?)`, c.incident, c.status,
			now.Add(c.left).Format("2006-01-02T15:04:05.000000000Z07:00"), now.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano), c.eligible); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	for run := range 2 {
		code, _, errOut := runCLI(t, "run", "--config", cfg, "--once")
		if code != exitOK {
			t.Fatalf("run --once #%d: exit %d, stderr %s", run+1, code, errOut)
		}
		for _, s := range []string{"hook-secret", "teams-secret"} {
			if strings.Contains(errOut, s) {
				t.Errorf("run --once #%d logged a webhook URL: %s", run+1, errOut)
			}
		}
	}
	for _, inc := range []string{"EX200001", "EX200002"} {
		if n, m := hook.count(`"incident_id":"`+inc+`"`), teams.count(`"value":"`+inc+`"`); n != 1 || m != 1 {
			t.Errorf("%s: webhook got %d reminders, teams %d; want 1 each", inc, n, m)
		}
	}
	if n, m := hook.count("EX200003")+hook.count("EX200004"), teams.count("EX200003")+teams.count("EX200004"); n+m != 0 {
		t.Errorf("the submitted and advisory claims got %d webhook and %d teams reminders, want none", n, m)
	}
	if hook.count("https://claims.adatum-csp.com/claims/") != 2 {
		t.Errorf("the webhook's reminders do not link the claims: %v", hook.bodies)
	}
	if got := len(mailSrv.Messages()); got != 2 {
		t.Errorf("smtp got %d mails, want 2", got)
	}
}

// TestREADMERemindersExampleLoads: the reminders example in README.md
// loads, with its secrets from files.
func TestREADMERemindersExampleLoads(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(reminders:\n.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no reminders example")
	}
	files := map[string]string{
		"cfg/reminder-webhook": "https://hooks.adatum-csp.com/claims?sig=x", "cfg/teams-webhook": "https://adatum.webhook.office.com/x",
		"cfg/smtp": "pa55",
	}
	text := strings.ReplaceAll(string(m[1]), "/run/secrets/", "")
	cfg, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant+text), &loader{lookupEnv: fakeEnv(nil), readFile: fakeFS(files)})
	if err != nil {
		t.Fatalf("README.md's reminders example does not load:\n%v\n---\n%s", err, text)
	}
	if rc := cfg.Reminders.WithDefaults(); !rc.On() || rc.SMTP.Password.Reveal() != "pa55" {
		t.Errorf("README.md's reminders example gives %#v", rc)
	}
}
