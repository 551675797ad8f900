package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/rules"
)

// The fixture: three tenants' worth of mail in a real ledger on a temp
// SQLite file and a real directory store.
const (
	contosoID  = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	fabrikamID = "0f3a2b1c-aaaa-4bbb-8ccc-123456789abc"
	// northwindID is not in the registry until a test imports it.
	northwindID = "5b1a4c2e-1111-4222-8333-444455556666"

	testPassword = "correct horse battery staple"

	// xssSubject must show as text and run nothing.
	xssSubject = "<img src=x onerror=alert(1)>"
	// evilName is an attachment name that tries path traversal and markup.
	evilName = "../../evil<script>.html"
)

// testNow is the app's clock in tests: EX315207's deadline (31 March) is
// 6 days away, TM1112332's (28 February) has passed.
var testNow = time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC)

var testRules = rules.Config{
	PartnerDomains:     []string{"adatum-csp.com"},
	TrustedAuthservIDs: []string{"mx.adatum-csp.com"},
}

// testHash is made once: bcrypt is slow on purpose.
var testHash = sync.OnceValue(func() archive.PasswordHash {
	h, err := archive.HashPassword(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// fixtureMail is one message of the fixture.
type fixtureMail struct {
	name     string
	from     string
	subject  string
	body     string
	received time.Time
	judgment rules.Judgment
	attach   *fixtureAttachment
	// headers are extra header fields ("Auto-Submitted: auto-replied").
	headers []string
}

type fixtureAttachment struct {
	name, contentType string
	data              []byte
}

func (m fixtureMail) raw() []byte {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("Authentication-Results: mx.adatum-csp.com; dmarc=pass header.from=%s", m.from[strings.Index(m.from, "@")+1:])
	w("From: %s", m.from)
	w("To: claims@adatum-csp.com")
	w("Subject: %s", m.subject)
	w("Date: %s", m.received.Format(time.RFC1123Z))
	w("Message-ID: <%s@fixture.example>", m.name)
	for _, h := range m.headers {
		w("%s", h)
	}
	w("MIME-Version: 1.0")
	if m.attach == nil {
		w("Content-Type: text/plain; charset=utf-8")
		w("")
		w("%s", m.body)
		return []byte(b.String())
	}
	w("Content-Type: multipart/mixed; boundary=b1")
	w("")
	w("--b1")
	w("Content-Type: text/plain; charset=utf-8")
	w("")
	w("%s", m.body)
	w("--b1")
	w("Content-Type: %s; name=\"%s\"", m.attach.contentType, m.attach.name)
	w("Content-Disposition: attachment; filename=\"%s\"", m.attach.name)
	w("Content-Transfer-Encoding: base64")
	w("")
	w("%s", base64.StdEncoding.EncodeToString(m.attach.data))
	w("--b1--")
	return []byte(b.String())
}

func (m fixtureMail) facts() *evidence.Facts {
	f := &evidence.Facts{
		MessageID: m.name + "@fixture.example", From: m.from, Sender: m.from, To: []string{"claims@adatum-csp.com"},
		Date: m.received, Subject: m.subject, Text: m.body,
		AuthenticationResults: []string{"mx.adatum-csp.com; dmarc=pass"},
	}
	if a := m.attach; a != nil {
		sum := sha256.Sum256(a.data)
		f.Attachments = []evidence.Attachment{{Name: a.name, ContentType: a.contentType, Size: int64(len(a.data)), SHA256: hex.EncodeToString(sum[:])}}
	}
	return f
}

func accepted(tenant string, incidents ...string) rules.Judgment {
	return rules.Judgment{Verdict: rules.Accepted, TenantID: tenant, IncidentIDs: incidents, Authentication: rules.AuthPass}
}

var fixtureMails = []fixtureMail{
	{name: "xss", from: "jana.novak@contoso.com", subject: xssSubject,
		body: "Exchange was down all morning (EX315207). Please claim the credit.", received: time.Date(2026, 2, 16, 9, 30, 0, 0, time.UTC),
		judgment: accepted(contosoID, "EX315207"),
		attach:   &fixtureAttachment{name: evilName, contentType: "text/html", data: []byte("<script>alert(2)</script>")}},
	{name: "teams", from: "ops@fabrikam.com", subject: "Teams outage TM1112332",
		body: "Teams calls failed for 4 hours.", received: time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC),
		judgment: accepted(fabrikamID, "TM1112332")},
	{name: "sharepoint", from: "it@contoso.com", subject: "SharePoint SP1234567 unavailable",
		body: "Our intranet was down.", received: time.Date(2026, 3, 20, 14, 0, 0, 0, time.UTC),
		judgment: accepted(contosoID, "SP1234567")},
	{name: "gmail", from: "jana.novak@gmail.com", subject: "Outage EX315207 from home",
		body: "Writing from my own address.", received: time.Date(2026, 2, 17, 7, 0, 0, 0, time.UTC),
		judgment: rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonPersonalAddress, Authentication: rules.AuthPass, IncidentIDs: []string{"EX315207"}}},
	{name: "noid", from: "petr@contoso.com", subject: "Mail was down yesterday",
		body: "Mail was down for hours, we want a credit.", received: time.Date(2026, 2, 18, 10, 0, 0, 0, time.UTC),
		judgment: rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, TenantID: contosoID, Authentication: rules.AuthPass}},
	{name: "northwind", from: "jan@northwind-traders.com", subject: "EX315207 hit us too",
		body: "Exchange outage EX315207, all users affected.", received: time.Date(2026, 2, 16, 11, 0, 0, 0, time.UTC),
		judgment: rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonUnknownDomain, Authentication: rules.AuthPass, IncidentIDs: []string{"EX315207"}}},
}

// fixture is a web app on a seeded ledger and store.
type fixture struct {
	t      testing.TB
	ledger *archive.Ledger
	store  *archive.Dir
	srv    *Server
	now    time.Time
	// sha of each fixture mail by name, and its raw bytes.
	sha map[string]string
	raw map[string][]byte
	// bundle holds each stored bundle's bytes by mail name.
	bundle map[string][]byte
	// forwardedFor is the X-Forwarded-For header login sends, if set.
	forwardedFor string
	// ledgerPath is the ledger's database, which replica opens again.
	ledgerPath string
	opts       fixtureOptions
}

// fixtureOptions change the app a fixture builds.
type fixtureOptions struct {
	cfg Config
	// rejudge wires the shared re-judging path (ingest's pipeline) on the
	// fixture's ledger and store, as claimtrail serve and run do.
	rejudge bool
}

// pipelineRejudge is the RejudgeFunc of an ingest pipeline on ledger and
// store; the pipeline's own policy is unused: the app passes one built
// from the registry as it is.
func pipelineRejudge(t testing.TB, ledger *archive.Ledger, store ingest.BundleStore) RejudgeFunc {
	pipe := ingest.NewPipeline(nil, store, ledger, &ingest.PipelineOptions{SpoolDir: t.TempDir()})
	return func(ctx context.Context, policy *rules.Policy, sha, actor string, opts RejudgeOptions) (Rejudgment, error) {
		p := pipe
		if policy != nil {
			p = pipe.WithPolicy(policy)
		}
		r, err := p.Rejudge(ctx, sha, actor, ingest.RejudgeOptions{Judgment: opts.Judgment, ByAnalyst: opts.ByAnalyst, Override: opts.Override})
		return Rejudgment{Before: r.Before, After: r.After, Changed: r.Changed, BundleKey: r.BundleKey, Decisions: r.Decisions}, err
	}
}

func newFixture(t testing.TB, opts ...fixtureOptions) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	l, err := archive.OpenLedger(ctx, archive.LedgerConfig{Path: filepath.Join(dir, "claimtrail.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	st, err := archive.OpenDir(filepath.Join(dir, "objects"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, ledger: l, store: st, now: testNow, sha: map[string]string{}, raw: map[string][]byte{}, bundle: map[string][]byte{},
		ledgerPath: filepath.Join(dir, "claimtrail.db")}

	if _, err := l.UpsertTenants(ctx, []rules.Tenant{
		{ID: contosoID, Name: "Contoso Ltd", Domains: []string{"contoso.com"}, CSP: true},
		{ID: fabrikamID, Name: "Fabrikam, Inc.", Domains: []string{"fabrikam.com"}, CSP: true},
	}); err != nil {
		t.Fatal(err)
	}
	for name, role := range map[string]archive.Role{"vera": archive.RoleViewer, "anna": archive.RoleAnalyst, "adam": archive.RoleAdmin} {
		if _, err := l.AddUser(ctx, name, role, testHash(), "test"); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range fixtureMails {
		f.record(ctx, m, uint32(i+1))
	}

	var o fixtureOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	f.opts = o
	f.srv = f.newServer(l)
	return f
}

// newServer is a web server on ledger, of the fixture's options and clock.
func (f *fixture) newServer(l *archive.Ledger) *Server {
	var rejudge RejudgeFunc
	if f.opts.rejudge {
		rejudge = pipelineRejudge(f.t, l, f.store)
	}
	srv, err := New(Options{Ledger: l, Store: f.store, Rules: testRules, Rejudge: rejudge, Now: func() time.Time { return f.now }, Config: f.opts.cfg})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(srv.Close)
	return srv
}

// replica is another replica's web server on the fixture's database, as
// a load balancer may send the next request to: its own ledger (its own
// connections) and its own memory. Its requests go through do, get and
// postForm of the fixture returned, on the same clock as f's.
func (f *fixture) replica() *fixture {
	l, err := archive.OpenLedger(context.Background(), archive.LedgerConfig{Path: f.ledgerPath})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { l.Close() })
	g := &fixture{t: f.t, ledger: l, store: f.store, sha: f.sha, raw: f.raw, bundle: f.bundle, forwardedFor: f.forwardedFor, ledgerPath: f.ledgerPath, opts: f.opts}
	g.srv = f.newServer(l)
	return g
}

// record runs a fixture mail through the ledger steps the poller makes.
func (f *fixture) record(ctx context.Context, m fixtureMail, uid uint32) {
	t := f.t
	raw := m.raw()
	sum := sha256.Sum256(raw)
	sha := hex.EncodeToString(sum[:])
	f.sha[m.name], f.raw[m.name] = sha, raw
	msg, _, err := f.ledger.RecordMessage(ctx, archive.MessageRecord{SHA256: sha, Size: int64(len(raw)),
		Mailbox: "claims@adatum-csp.com", Folder: "INBOX", UIDValidity: 1, UID: uid,
		InternalDate: m.received, Date: m.received, MessageID: m.name + "@fixture.example", Sender: m.from, Subject: m.subject})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.ledger.RecordJudgment(ctx, msg.ID, m.judgment, rules.Version); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := evidence.WriteBundle(ctx, &buf, &evidence.BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw)),
		RawSHA256: sha, Facts: m.facts(), Judgment: m.judgment, Provenance: evidence.Provenance{Mailbox: "claims@adatum-csp.com", Folder: "INBOX", UID: uid}}); err != nil {
		t.Fatal(err)
	}
	bsum := sha256.Sum256(buf.Bytes())
	key := evidence.BundleKey(sha, 1)
	if _, err := f.store.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()),
		archive.PutOptions{SHA256: hex.EncodeToString(bsum[:]), ContentType: "application/zip"}); err != nil {
		t.Fatal(err)
	}
	if err := f.ledger.SetBundle(ctx, msg.ID, key, hex.EncodeToString(bsum[:])); err != nil {
		t.Fatal(err)
	}
	f.bundle[m.name] = buf.Bytes()
}

// claimFor returns the ID of the fixture's claim for a tenant and incident.
func (f *fixture) claimFor(tenant, incident string) int64 {
	f.t.Helper()
	c, err := f.ledger.ClaimFor(context.Background(), tenant, incident)
	if err != nil {
		f.t.Fatal(err)
	}
	return c.ID
}

// session logs a user in directly and returns the cookie and CSRF token.
func (f *fixture) session(user string) (*http.Cookie, string) {
	f.t.Helper()
	token, _, err := f.ledger.CreateSession(context.Background(), user, f.now, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	return &http.Cookie{Name: sessionCookie, Value: token}, csrfFor(token)
}

// apiToken makes a bearer token for user.
func (f *fixture) apiToken(user string) string {
	f.t.Helper()
	token, _ := f.apiTokenWith(user, archive.APITokenOptions{})
	return token
}

// apiTokenWith makes a bearer token for user with opts.
func (f *fixture) apiTokenWith(user string, opts archive.APITokenOptions) (string, archive.APIToken) {
	f.t.Helper()
	token, info, err := f.ledger.CreateAPIToken(context.Background(), user, "test", "test", opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return token, info
}

// do serves one request and returns the recorded response.
func (f *fixture) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

// get makes a GET as the holder of cookie (nil for anonymous).
func (f *fixture) get(path string, cookie *http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	return f.do(req)
}

// postForm posts a form as the holder of cookie.
func (f *fixture) postForm(path string, cookie *http.Cookie, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != nil {
		req.AddCookie(cookie)
	}
	return f.do(req)
}

// apiCall makes an API request with a bearer token and a JSON body.
func (f *fixture) apiCall(method, path, token, body string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return f.do(req)
}

// auditActions returns "actor action subject" for each audit entry.
func (f *fixture) auditActions() []string {
	f.t.Helper()
	entries, err := f.ledger.AuditEntries(context.Background(), archive.AuditFilter{})
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range slices.Backward(entries) { // oldest first
		out = append(out, e.Actor+" "+string(e.Action)+" "+e.Subject)
	}
	return out
}

// follow checks that rec redirects to a page of results (a form that
// worked: see flash.go) and returns that page as the user of cookie gets
// it.
func (f *fixture) follow(rec *httptest.ResponseRecorder, cookie *http.Cookie) *httptest.ResponseRecorder {
	f.t.Helper()
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusSeeOther || !strings.Contains(loc, "?shown=") {
		f.t.Fatalf("the form answered %d (Location %q), want a redirect to its results: %.400s", rec.Code, loc, rec.Body.String())
	}
	return f.get(loc, cookie)
}
