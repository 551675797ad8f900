package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

const (
	tenantA = "0f0e0d0c-0b0a-4909-8807-060504030201"
	tenantB = "a1b2c3d4-e5f6-4789-9abc-def012345678"
)

func newGraph(t *testing.T, mod func(*ingest.GraphConfig)) (*ingesttest.FakeGraph, *ingest.GraphClient) {
	t.Helper()
	fake := ingesttest.NewFakeGraph()
	t.Cleanup(fake.Close)
	cfg := ingest.GraphConfig{
		LoginURL: fake.URL, GraphURL: fake.URL,
		ClientID: ingesttest.FakeClientID, ClientSecret: ingest.Secret(ingesttest.FakeClientSecret),
		MaxWait: 3 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := ingest.NewGraphClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func issueJSON(id, classification string, extra string) []byte {
	return fmt.Appendf(nil, `{"id":%q,"title":"Users can't reach %s","classification":%q,"status":"serviceRestored",
		"service":"Exchange Online","startDateTime":"2026-02-15T09:00:00Z","endDateTime":"2026-02-15T13:30:00Z",
		"lastModifiedDateTime":"2026-02-16T10:00:00.0000000Z","isResolved":true%s}`, id, id, classification, extra)
}

func TestGraphIssue(t *testing.T) {
	fake, c := newGraph(t, nil)
	fake.AddIssue(tenantA, issueJSON("EX1321282", "Incident", `,"origin":"microsoft","futureField":{"x":1}`))
	fake.AddIssue(tenantA, issueJSON("TM1330001", "advisory", ""))
	fake.AddIssue(tenantA, issueJSON("SP1340002", "unknownFutureValue", ""))
	tests := []struct {
		id       string
		class    claims.Classification
		eligible bool
	}{
		{"EX1321282", claims.ClassificationIncident, true},
		{"tm1330001", claims.ClassificationAdvisory, false},
		{"SP1340002", "unknownfuturevalue", true}, // only an advisory is ineligible
	}
	for _, tt := range tests {
		inc, err := c.Issue(context.Background(), tenantA, tt.id)
		if err != nil {
			t.Fatalf("Issue(%s): %v", tt.id, err)
		}
		if inc.ID != strings.ToUpper(tt.id) || inc.Classification != tt.class || inc.Source != claims.SourceGraph || inc.ReadAt.IsZero() {
			t.Errorf("Issue(%s) = %s %q %q read %v, want %s %q graph, read now", tt.id, inc.ID, inc.Classification, inc.Source, inc.ReadAt, strings.ToUpper(tt.id), tt.class)
		}
		if ok, _ := inc.Eligible(); ok != tt.eligible {
			t.Errorf("Issue(%s).Eligible() = %v, want %v", tt.id, ok, tt.eligible)
		}
	}
	inc, err := c.Issue(context.Background(), tenantA, "EX1321282")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(inc.Raw, &raw); err != nil || raw["origin"] != "microsoft" || raw["futureField"] == nil {
		t.Errorf("Raw = %s, %v; want origin and futureField kept", inc.Raw, err)
	}
	if got := fake.Requests("token"); got != 1 {
		t.Errorf("token requests = %d, want 1 (cached per tenant)", got)
	}
}

func TestGraphIssueNotListed(t *testing.T) {
	fake, c := newGraph(t, nil)
	fake.AddIssue(tenantB, issueJSON("EX1321282", "incident", ""))
	_, err := c.Issue(context.Background(), tenantA, "EX1321282")
	if !errors.Is(err, ingest.ErrNotListed) || !ingest.IsPermanent(err) {
		t.Fatalf("Issue in a tenant it did not hit: %v, want ErrNotListed, permanent", err)
	}
	if !strings.Contains(err.Error(), "EX1321282") || !strings.Contains(err.Error(), tenantA) {
		t.Errorf("error %q does not name the issue and the tenant", err)
	}
	if _, err := c.Issue(context.Background(), tenantB, "EX1321282"); err != nil {
		t.Errorf("Issue in the tenant it hit: %v", err)
	}
	if got := fake.Requests("token"); got != 2 {
		t.Errorf("token requests = %d, want 2: one per tenant", got)
	}
}

func TestGraphBadArguments(t *testing.T) {
	fake, c := newGraph(t, nil)
	for _, tt := range []struct{ tenant, id string }{
		{"contoso", "EX1321282"}, {tenantA + "x", "EX1321282"}, {tenantA, "MC1234567"}, {tenantA, "../../me"},
	} {
		if _, err := c.Issue(context.Background(), tt.tenant, tt.id); err == nil || !ingest.IsPermanent(err) {
			t.Errorf("Issue(%q, %q) = %v, want a permanent error", tt.tenant, tt.id, err)
		}
	}
	if n := fake.Requests(""); n != 0 {
		t.Errorf("%d requests for bad arguments, want none", n)
	}
}

func TestGraphIssuesPaging(t *testing.T) {
	fake, c := newGraph(t, nil)
	for n := range 7 {
		fake.AddIssue(tenantA, issueJSON(fmt.Sprintf("EX13%05d", n), "incident", ""))
	}
	fake.AddIssue(tenantA, []byte(`{"id":"MC1234567","classification":"advisory"}`)) // not an incident: skipped
	fake.AddIssue(tenantB, issueJSON("TM1330001", "advisory", ""))
	fake.SetPageSize(3)
	incs, problems, err := c.Issues(context.Background(), tenantA)
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 7 || len(problems) != 1 {
		t.Fatalf("Issues = %d incidents, problems %v; want 7 and one problem", len(incs), problems)
	}
	if !strings.Contains(problems[0].Error(), "MC1234567") {
		t.Errorf("problem %q does not name the item", problems[0])
	}
	if got := fake.Requests("list"); got != 3 {
		t.Errorf("list requests = %d, want 3 pages", got)
	}

	_, c2 := newGraph(t, func(cfg *ingest.GraphConfig) { cfg.LoginURL, cfg.GraphURL = fake.URL, fake.URL; cfg.MaxPages = 2 })
	if _, _, err := c2.Issues(context.Background(), tenantA); err == nil || !strings.Contains(err.Error(), "MaxPages") {
		t.Errorf("Issues beyond MaxPages = %v, want an error naming MaxPages", err)
	}
}

func TestGraphThrottled(t *testing.T) {
	fake, c := newGraph(t, nil)
	fake.AddIssue(tenantA, issueJSON("EX1321282", "incident", ""))

	fake.Throttle(2, 429, "0")
	if _, err := c.Issue(context.Background(), tenantA, "EX1321282"); err != nil {
		t.Fatalf("Issue after two 429s: %v", err)
	}
	if got := fake.Requests("issue"); got != 3 {
		t.Errorf("issue requests = %d, want 3 (two throttled, one served)", got)
	}

	fake.Throttle(1, 503, "1") // a real wait, within MaxWait
	if _, err := c.Issue(context.Background(), tenantA, "EX1321282"); err != nil {
		t.Fatalf("Issue after a 503: %v", err)
	}
	if got := fake.Requests("issue"); got != 5 {
		t.Errorf("issue requests = %d, want 5", got)
	}

	fake.Throttle(1, 429, "3600") // longer than MaxWait: give up at once
	_, err := c.Issue(context.Background(), tenantA, "EX1321282")
	if !errors.Is(err, ingest.ErrThrottled) || ingest.IsPermanent(err) {
		t.Errorf("Issue asked to wait an hour: %v, want ErrThrottled, temporary", err)
	}
	if got := fake.Requests("issue"); got != 6 {
		t.Errorf("issue requests = %d, want 6 (no retry of an hour's wait)", got)
	}

	fake.Throttle(100, 429, "0") // beyond MaxRetries (4)
	_, err = c.Issue(context.Background(), tenantA, "EX1321282")
	if !errors.Is(err, ingest.ErrThrottled) || !strings.Contains(err.Error(), "throttling") {
		t.Errorf("Issue throttled throughout: %v, want ErrThrottled", err)
	}
	if got := fake.Requests("issue"); got != 6+5 {
		t.Errorf("issue requests = %d, want %d (1 + MaxRetries)", got, 6+5)
	}

	fake.Throttle(0, 0, "")
	fake.Throttle(1, 429, time.Now().Add(-time.Minute).UTC().Format(timeFormatHTTP)) // an HTTP date, passed
	if _, err := c.Issue(context.Background(), tenantA, "EX1321282"); err != nil {
		t.Errorf("Issue after a Retry-After date: %v", err)
	}
}

const timeFormatHTTP = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestGraphThrottledContextEnds(t *testing.T) {
	fake, c := newGraph(t, func(cfg *ingest.GraphConfig) { cfg.MaxWait = time.Hour })
	fake.AddIssue(tenantA, issueJSON("EX1321282", "incident", ""))
	fake.Throttle(1, 429, "3600")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Issue(ctx, tenantA, "EX1321282"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Issue waiting past its context: %v, want DeadlineExceeded", err)
	}
}

func TestGraphTokenExpired(t *testing.T) {
	fake, c := newGraph(t, nil)
	fake.AddIssue(tenantA, issueJSON("EX1321282", "incident", ""))
	if _, err := c.Issue(context.Background(), tenantA, "EX1321282"); err != nil {
		t.Fatal(err)
	}
	fake.ExpireTokens()
	if _, err := c.Issue(context.Background(), tenantA, "EX1321282"); err != nil {
		t.Fatalf("Issue after the token expired: %v", err)
	}
	if got := fake.Requests("token"); got != 2 {
		t.Errorf("token requests = %d, want 2 (one re-auth)", got)
	}
	if got := fake.Requests("issue"); got != 3 {
		t.Errorf("issue requests = %d, want 3 (one refused, retried once)", got)
	}
}

func TestGraphWrongSecret(t *testing.T) {
	fake, c := newGraph(t, func(cfg *ingest.GraphConfig) { cfg.ClientSecret = "not-the-secret" })
	fake.AddIssue(tenantA, issueJSON("EX1321282", "incident", ""))
	_, err := c.Issue(context.Background(), tenantA, "EX1321282")
	if !errors.Is(err, ingest.ErrBadCredentials) || !ingest.IsPermanent(err) {
		t.Fatalf("Issue with a wrong secret: %v, want ErrBadCredentials", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "ClientSecret") || !strings.Contains(msg, "AADSTS7000215") {
		t.Errorf("error %q should say to check the secret and keep Entra's code", msg)
	}
	if strings.Contains(msg, "not-the-secret") || strings.Contains(fmt.Sprintf("%+v", err), "not-the-secret") {
		t.Errorf("error %q shows the secret", msg)
	}
	if fake.Requests("issue") != 0 {
		t.Errorf("Graph asked without a token")
	}
}

func TestGraphForbidden(t *testing.T) {
	fake, c := newGraph(t, nil)
	fake.AddIssue(tenantA, issueJSON("EX1321282", "incident", ""))
	fake.Forbid(tenantA)
	_, err := c.Issue(context.Background(), tenantA, "EX1321282")
	if !ingest.IsPermanent(err) || !strings.Contains(err.Error(), "ServiceHealth.Read.All") || !strings.Contains(err.Error(), "GDAP") {
		t.Errorf("Issue in a tenant that forbids it: %v, want a permanent error saying to grant ServiceHealth.Read.All through GDAP", err)
	}
}

func TestGraphIncidentReport(t *testing.T) {
	fake, c := newGraph(t, nil)
	pdf := []byte("%PDF-1.7\nPost-incident report for EX1321282\n")
	fake.AddIssue(tenantA, issueJSON("EX1321282", "incident", ""))
	fake.AddReport(tenantA, "EX1321282", pdf)
	got, ctype, err := c.IncidentReport(context.Background(), tenantA, "ex1321282")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pdf) || ctype != "application/pdf" {
		t.Errorf("IncidentReport = %q %q, want the PDF", got, ctype)
	}
	_, _, err = c.IncidentReport(context.Background(), tenantB, "EX1321282")
	if !errors.Is(err, ingest.ErrNoReport) {
		t.Errorf("IncidentReport of an issue without one: %v, want ErrNoReport", err)
	}
}

func TestNewGraphClientChecks(t *testing.T) {
	good := ingest.GraphConfig{ClientID: "id", ClientSecret: "s"}
	if _, err := ingest.NewGraphClient(good); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for name, mod := range map[string]func(*ingest.GraphConfig){
		"GraphURL":     func(c *ingest.GraphConfig) { c.GraphURL = "graph.microsoft.com" },
		"LoginURL":     func(c *ingest.GraphConfig) { c.LoginURL = "ftp://login" },
		"ClientID":     func(c *ingest.GraphConfig) { c.ClientID = "" },
		"ClientSecret": func(c *ingest.GraphConfig) { c.ClientSecret = "" },
	} {
		cfg := good
		mod(&cfg)
		if _, err := ingest.NewGraphClient(cfg); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("NewGraphClient with a bad %s: %v, want an error naming it", name, err)
		}
	}
}
