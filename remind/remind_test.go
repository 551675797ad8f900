package remind

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/remind/remindtest"
)

var (
	testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day     = 24 * time.Hour
)

const testTenant = "4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47"

// testClaims are the claims of reminderLedger, by incident.
var testClaims = []struct {
	incident, status string
	eligible         bool
	deadline         time.Duration // from testNow
}{
	{"EX100001", "open", true, 5 * day},         // a week's reminder
	{"EX100002", "ready", true, 36 * time.Hour}, // the two days' one only
	{"EX100003", "submitted", true, day},        // filed: none
	{"EX100004", "open", false, day},            // an advisory: none
	{"EX100005", "open", true, 10 * day},        // not yet
	{"EX100006", "expired", true, 3 * day},      // expired: none
	{"EX100007", "open", true, -2 * time.Hour},  // overdue: none
}

// reminderLedger is a ledger at path holding testClaims, written with
// SQL beside the ledger (the public API builds claims from mail).
func reminderLedger(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	l, err := archive.OpenLedger(ctx, archive.LedgerConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stamp := testNow.Add(-30 * day).Format(time.RFC3339Nano)
	if _, err := db.Exec(`INSERT INTO tenants (id, name, updated_at) VALUES (?, ?, ?)`, testTenant, "Bäckerei München GmbH", stamp); err != nil {
		t.Fatal(err)
	}
	for _, c := range testClaims {
		if _, err := db.Exec(`INSERT INTO claims (tenant_id, incident_id, status, deadline, created_at, updated_at, eligible)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, testTenant, c.incident, c.status,
			testNow.Add(c.deadline).UTC().Format("2006-01-02T15:04:05.000000000Z07:00"), stamp, stamp, c.eligible); err != nil {
			t.Fatal(err)
		}
	}
}

// receiver is an HTTP endpoint that keeps what it is sent.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	keys   []string
	fail   int // answer 503 to the first fail requests
	tries  int
	before func() // runs before each answer
	srv    *httptest.Server
}

func newReceiver(t *testing.T, fail int) *receiver {
	rc := &receiver{fail: fail}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if rc.before != nil {
			rc.before()
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.tries++
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if rc.fail > 0 {
			rc.fail--
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		rc.bodies = append(rc.bodies, b)
		rc.keys = append(rc.keys, r.Header.Get("Idempotency-Key"))
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) received() ([][]byte, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.bodies), slices.Clone(rc.keys)
}

// counter is an Observer.
type counter struct {
	mu           sync.Mutex
	sent, failed map[string]int
}

func (c *counter) ReminderSent(ch string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent == nil {
		c.sent = map[string]int{}
	}
	c.sent[ch]++
}

func (c *counter) ReminderFailed(ch string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed == nil {
		c.failed = map[string]int{}
	}
	c.failed[ch]++
}

// fixture is the three channels on local receivers.
type fixture struct {
	path          string
	webhook, team *receiver
	smtp          *remindtest.SMTPServer
	channels      []Channel
}

func newFixture(t *testing.T, webhookFail int, smtpOpts remindtest.SMTPOptions) *fixture {
	f := &fixture{path: filepath.Join(t.TempDir(), "claimtrail.db")}
	reminderLedger(t, f.path)
	f.webhook, f.team = newReceiver(t, webhookFail), newReceiver(t, 0)
	f.smtp = remindtest.NewSMTPServer(t, smtpOpts)
	cfg := Config{
		WebhookURL:      ingest.Secret(f.webhook.srv.URL + "/hook?sig=secret"),
		TeamsWebhookURL: ingest.Secret(f.team.srv.URL + "/teams"),
		SMTP: SMTPConfig{Host: f.smtp.Host, Port: f.smtp.Port, Security: SecuritySTARTTLS,
			Username: "reminders", Password: "s3cret", From: "Claimtrail <claimtrail@adatum-csp.com>",
			To: []string{"claims-team@adatum-csp.com", "Lead <lead@adatum-csp.com>"}},
	}.WithDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	f.channels = Channels(cfg)
	f.channels[2].(*SMTP).tls = f.smtp.ClientTLS
	return f
}

// round opens the ledger, runs one round at now and closes it again, as
// a run of claimtrail would.
func (f *fixture) round(t *testing.T, now time.Time, obs Observer) RoundStats {
	t.Helper()
	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: f.path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	loop := New(l, Options{Days: []int{7, 2}, Channels: f.channels, Observer: obs, BaseURL: "https://claimtrail.example/",
		Backoff: time.Millisecond, Now: func() time.Time { return now }})
	return loop.Round(context.Background())
}

func (f *fixture) audit(t *testing.T, action archive.Action) []archive.AuditEntry {
	t.Helper()
	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: f.path})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	es, err := l.AuditEntries(context.Background(), archive.AuditFilter{Actions: []archive.Action{action}})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// incidents returns the incident and threshold of each webhook payload.
func incidents(t *testing.T, bodies [][]byte) []string {
	t.Helper()
	var out []string
	for _, b := range bodies {
		var p WebhookPayload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("webhook body %s: %v", b, err)
		}
		out = append(out, fmt.Sprintf("%s/%d", p.IncidentID, p.ThresholdDays))
	}
	return out
}

// teamsIncidents returns the incident of each Teams card.
func teamsIncidents(t *testing.T, bodies [][]byte) []string {
	t.Helper()
	var out []string
	for _, b := range bodies {
		var m struct {
			Type        string
			Attachments []struct {
				ContentType string
				Content     struct {
					Type, Version string
					Body          []struct {
						Type, Text string
						Facts      []struct{ Title, Value string }
					}
					Actions []struct{ Type, URL string }
				}
			}
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("teams body %s: %v", b, err)
		}
		if m.Type != "message" || len(m.Attachments) != 1 || m.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" ||
			m.Attachments[0].Content.Type != "AdaptiveCard" || len(m.Attachments[0].Content.Actions) != 1 {
			t.Fatalf("teams body is not a message with one Adaptive Card and its link: %s", b)
		}
		for _, fact := range m.Attachments[0].Content.Body[1].Facts {
			if fact.Title == "Incident" {
				out = append(out, fact.Value)
			}
		}
	}
	return out
}

func mailSubjects(msgs []remindtest.Message) []string {
	var out []string
	for _, m := range msgs {
		for _, line := range strings.Split(m.Data, "\r\n") {
			if s, ok := strings.CutPrefix(line, "Subject: "); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

// TestRemindersOnceAcrossRestart: each channel gets each reminder once,
// across restarts; submitted, expired, overdue and advisory claims get
// none; a claim within two days gets the two days' reminder only.
func TestRemindersOnceAcrossRestart(t *testing.T) {
	f := newFixture(t, 0, remindtest.SMTPOptions{STARTTLS: true, Username: "reminders", Password: "s3cret"})
	obs := &counter{}
	if s := f.round(t, testNow, obs); s != (RoundStats{Sent: 6}) {
		t.Fatalf("first round = %+v, want 6 sent (2 claims x 3 channels)", s)
	}
	for i := range 2 { // a restart, and one later the same day
		if s := f.round(t, testNow.Add(time.Duration(i)*time.Hour), obs); s != (RoundStats{}) {
			t.Errorf("round after restart %d = %+v, want nothing sent", i, s)
		}
	}
	bodies, keys := f.webhook.received()
	if got, want := incidents(t, bodies), []string{"EX100002/2", "EX100001/7"}; !slices.Equal(got, want) {
		t.Errorf("webhook got %v, want %v", got, want)
	}
	if keys[0] == "" || keys[0] == keys[1] {
		t.Errorf("Idempotency-Key headers %q, want one per reminder", keys)
	}
	tb, _ := f.team.received()
	if got, want := teamsIncidents(t, tb), []string{"EX100002", "EX100001"}; !slices.Equal(got, want) {
		t.Errorf("teams got %v, want %v", got, want)
	}
	mails := f.smtp.Messages()
	if len(mails) != 2 {
		t.Fatalf("smtp got %d mails, want 2", len(mails))
	}
	for _, m := range mails {
		if !m.TLS || m.User != "reminders" || m.From != "claimtrail@adatum-csp.com" || len(m.To) != 2 {
			t.Errorf("mail from %s to %v (tls %v, user %q), want from claimtrail@ to both, over TLS, logged in", m.From, m.To, m.TLS, m.User)
		}
		if !strings.Contains(m.Data, "https://claimtrail.example/claims/") {
			t.Errorf("mail does not link the claim:\n%s", m.Data)
		}
	}
	if subj := mailSubjects(mails); len(subj) != 2 || !strings.Contains(subj[0], "=?utf-8?q?") {
		t.Errorf("subjects %q, want the tenant's name encoded (RFC 2047)", subj)
	}

	// Three days on, the week's claim is within two days, the next one
	// within a week.
	if s := f.round(t, testNow.Add(3*day+time.Hour), obs); s != (RoundStats{Sent: 6}) {
		t.Errorf("round 3 days on = %+v, want 6 sent", s)
	}
	bodies, _ = f.webhook.received()
	if got, want := incidents(t, bodies[2:]), []string{"EX100001/2", "EX100005/7"}; !slices.Equal(got, want) {
		t.Errorf("webhook got %v 3 days on, want %v", got, want)
	}
	if n := len(f.audit(t, archive.ActionReminderSent)); n != 12 {
		t.Errorf("audit has %d reminder_sent entries, want 12", n)
	}
	if obs.sent["webhook"] != 4 || obs.sent["teams"] != 4 || obs.sent["smtp"] != 4 {
		t.Errorf("observer counted %v sent, want 4 per channel", obs.sent)
	}
}

// TestFailingChannelRetried: a webhook that answers 503 is retried in the
// round, counted and audited once, does not hold up Teams or email, and
// sends in a later round.
func TestFailingChannelRetried(t *testing.T) {
	f := newFixture(t, 3, remindtest.SMTPOptions{STARTTLS: true, Username: "reminders", Password: "s3cret", FailMail: 1})
	teamsGot := make(chan struct{})
	var once sync.Once
	f.team.before = func() { once.Do(func() { close(teamsGot) }) }
	f.webhook.before = func() {
		select { // the webhook answers only once Teams has been sent to
		case <-teamsGot:
		case <-time.After(10 * time.Second):
		}
	}
	obs := &counter{}
	s := f.round(t, testNow, obs)
	// webhook: 3 tries of the first reminder fail, the second waits for
	// the next round; smtp: the first MAIL gets 451, the retry goes through.
	if s != (RoundStats{Sent: 4, Failed: 1}) {
		t.Errorf("first round = %+v, want 4 sent, 1 failed", s)
	}
	if f.webhook.tries != 3 || obs.failed["webhook"] != 1 || obs.sent["teams"] != 2 || obs.sent["smtp"] != 2 {
		t.Errorf("webhook tried %d times, observer %v failed, %v sent; want 3 tries, 1 webhook failure, 2 teams and smtp sent",
			f.webhook.tries, obs.failed, obs.sent)
	}
	if f.smtp.MailCommands() != 3 {
		t.Errorf("smtp saw %d MAIL commands, want 3 (one 451, retried)", f.smtp.MailCommands())
	}
	failed := f.audit(t, archive.ActionReminderFailed)
	if len(failed) != 1 || failed[0].Subject == "" || strings.Contains(string(failed[0].Details), "sig=secret") ||
		!strings.Contains(string(failed[0].Details), "503") {
		t.Errorf("reminder_failed entries %+v, want one saying 503, without the URL", failed)
	}
	if s := f.round(t, testNow.Add(time.Minute), obs); s != (RoundStats{Sent: 2}) {
		t.Errorf("second round = %+v, want the webhook's 2 sent", s)
	}
	bodies, _ := f.webhook.received()
	if got, want := incidents(t, bodies), []string{"EX100002/2", "EX100001/7"}; !slices.Equal(got, want) {
		t.Errorf("webhook got %v, want %v", got, want)
	}
	sent := f.audit(t, archive.ActionReminderSent)
	afterFailure := 0
	for _, e := range sent {
		if strings.Contains(string(e.Details), `"channel":"webhook"`) && strings.Contains(string(e.Details), `"failures":1`) {
			afterFailure++
		}
	}
	if afterFailure != 1 {
		t.Errorf("%d webhook reminder_sent entries say failures 1, want the one that failed", afterFailure)
	}
	if len(sent) != 6 {
		t.Errorf("%d reminder_sent entries, want 6", len(sent))
	}
	if len(f.audit(t, archive.ActionReminderFailed)) != 1 {
		t.Error("the later round wrote another reminder_failed entry")
	}
}

// TestSMTPRefusedLogin: a refused login is permanent: tried once per
// reminder, counted, and the other reminders still tried.
func TestSMTPRefusedLogin(t *testing.T) {
	f := newFixture(t, 0, remindtest.SMTPOptions{STARTTLS: true, Username: "reminders", Password: "other"})
	obs := &counter{}
	if s := f.round(t, testNow, obs); s != (RoundStats{Sent: 4, Failed: 2}) {
		t.Errorf("round = %+v, want 4 sent, 2 failed", s)
	}
	failed := f.audit(t, archive.ActionReminderFailed)
	if len(failed) != 2 || !strings.Contains(string(failed[0].Details), "535") || strings.Contains(string(failed[0].Details), "s3cret") {
		t.Errorf("reminder_failed entries %+v, want 2 saying 535, without the password", failed)
	}
}

// TestSMTPWithoutSTARTTLS: a server that offers no STARTTLS is refused
// rather than sent the password in clear.
func TestSMTPWithoutSTARTTLS(t *testing.T) {
	srv := remindtest.NewSMTPServer(t, remindtest.SMTPOptions{})
	ch := NewSMTP(SMTPConfig{Host: srv.Host, Port: srv.Port, Security: SecuritySTARTTLS, Username: "u", Password: "p",
		From: "a@adatum-csp.com", To: []string{"b@adatum-csp.com"}})
	err := ch.Send(context.Background(), Message{Reminder: archive.Reminder{ClaimID: 1, IncidentID: "EX1", Days: 2, Deadline: testNow.Add(day)}, Now: testNow})
	if !errors.Is(err, ErrPermanent) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("Send = %v, want a permanent error naming STARTTLS", err)
	}
}

// TestSMTPImplicitTLSAndPlain: security tls and none deliver too.
func TestSMTPImplicitTLSAndPlain(t *testing.T) {
	for _, tc := range []struct {
		security string
		opts     remindtest.SMTPOptions
	}{
		{SecurityTLS, remindtest.SMTPOptions{ImplicitTLS: true, Username: "u", Password: "p"}},
		{SecurityNone, remindtest.SMTPOptions{}},
	} {
		srv := remindtest.NewSMTPServer(t, tc.opts)
		cfg := SMTPConfig{Host: srv.Host, Port: srv.Port, Security: tc.security, Username: tc.opts.Username,
			Password: ingest.Secret(tc.opts.Password), From: "a@adatum-csp.com", To: []string{"b@adatum-csp.com"}}
		ch := NewSMTP(cfg)
		ch.tls = srv.ClientTLS
		m := Message{Reminder: archive.Reminder{ClaimID: 1, IncidentID: "EX1", Days: 2, Deadline: testNow.Add(day)}, Now: testNow}
		if err := ch.Send(context.Background(), m); err != nil || len(srv.Messages()) != 1 {
			t.Errorf("security %s: Send = %v, %d received; want 1", tc.security, err, len(srv.Messages()))
		}
	}
}
