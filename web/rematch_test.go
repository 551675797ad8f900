package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

const tailspinID = "3e9d7c1b-4a2f-4b8e-9c6d-5f1a2b3c4d5e"

// TestMayMatchFor: which rejected messages a registry change may have made
// acceptable.
func TestMayMatchFor(t *testing.T) {
	p, err := rules.New(testRules, []rules.Tenant{
		{ID: contosoID, Name: "Contoso Ltd", Domains: []string{"contoso.com"}},
		{ID: tailspinID, Name: "Tailspin s.r.o.", Domains: []string{"tailspin.cz"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p = p.WithRegistryVersion(5)
	rejected := func(r rules.Reason, domain, tenant string, version int64) *rules.Judgment {
		return &rules.Judgment{Verdict: rules.Rejected, Reason: r, SenderDomain: domain, TenantID: tenant, RegistryVersion: version}
	}
	for _, tt := range []struct {
		name string
		j    *rules.Judgment
		want string // tenant ID offered, "" for none
	}{
		{"unknown domain, now a tenant's", rejected(rules.ReasonUnknownDomain, "tailspin.cz", "", 4), tailspinID},
		{"judged before versions were recorded", rejected(rules.ReasonUnknownDomain, "tailspin.cz", "", 0), tailspinID},
		{"judged with this registry", rejected(rules.ReasonUnknownDomain, "tailspin.cz", "", 5), ""},
		{"still unknown", rejected(rules.ReasonUnknownDomain, "wingtip.cz", "", 4), ""},
		{"tenant mismatch, the domain moved", rejected(rules.ReasonTenantMismatch, "tailspin.cz", contosoID, 4), tailspinID},
		{"tenant mismatch, the same tenant", rejected(rules.ReasonTenantMismatch, "tailspin.cz", tailspinID, 4), ""},
		{"another reason", rejected(rules.ReasonPersonalAddress, "tailspin.cz", "", 4), ""},
		// The sender's tenant was known; another author's domain was not.
		{"unknown co-author, sender's tenant known", rejected(rules.ReasonUnknownDomain, "contoso.com", contosoID, 4), ""},
		{"unmatched", &rules.Judgment{Verdict: rules.Unmatched, Reason: rules.ReasonNoIncidentID, SenderDomain: "tailspin.cz", TenantID: tailspinID, RegistryVersion: 4}, ""},
		{"not judged", nil, ""},
	} {
		got, ok := mayMatchFor(p, tt.j)
		if ok != (tt.want != "") || got.ID != tt.want {
			t.Errorf("mayMatchFor(%s) = %q, %v; want %q", tt.name, got.ID, ok, tt.want)
		}
	}
}

// TestTriageMayMatch: after a tenant import, triage offers the mail the
// new tenant may now match, and re-judges it only when an analyst says so.
func TestTriageMayMatch(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	ctx := context.Background()
	before, err := f.ledger.RegistryVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.record(ctx, fixtureMail{name: "tailspin", from: "ops@tailspin.cz", subject: "Exchange down (EX315207)",
		body: "Exchange was down all morning (EX315207).", received: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
		judgment: rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonUnknownDomain, Sender: "ops@tailspin.cz", SenderDomain: "tailspin.cz",
			Authentication: rules.AuthPass, IncidentIDs: []string{"EX315207"}, RegistryVersion: before}}, 100)
	sha := f.sha["tailspin"]
	token := f.apiToken("anna")
	offers := func() []mayMatch {
		t.Helper()
		rec := f.apiCall("GET", "/api/v1/triage", token, "")
		if raw := decode[map[string]json.RawMessage](t, rec)["may_match"]; !bytes.HasPrefix(raw, []byte("[")) {
			t.Errorf("GET /api/v1/triage: may_match = %s, want a list", raw)
		}
		return decode[struct {
			MayMatch []mayMatch `json:"may_match"`
		}](t, rec).MayMatch
	}
	if got := offers(); len(got) != 0 {
		t.Errorf("may_match before the import = %+v, want none", got)
	}

	csv := "Microsoft ID,Company name,Primary domain name\n" + tailspinID + ",Tailspin s.r.o.,tailspin.cz\n"
	if rec := f.apiCall("POST", "/api/v1/tenants/import?name=customers.csv", f.apiToken("adam"), csv); rec.Code != http.StatusOK {
		t.Fatalf("import = %d %s", rec.Code, rec.Body.String())
	}
	want := []mayMatch{{TenantID: tailspinID, TenantName: "Tailspin s.r.o.", Count: 1, Messages: []string{sha}}}
	if got := offers(); !reflect.DeepEqual(got, want) {
		t.Errorf("may_match after the import = %+v, want %+v", got, want)
	}
	// Offered, not re-judged.
	if m, err := f.ledger.MessageBySHA256(ctx, sha); err != nil || m.Judgment.Verdict != rules.Rejected {
		t.Fatalf("the offered message = %+v, %v; want still rejected until an analyst re-judges it", m, err)
	}

	cookie, csrf := f.session("anna")
	page := f.get("/triage", cookie).Body.String()
	for _, s := range []string{"1 message may now match Tailspin s.r.o.", `action="/triage/rematch"`, `value="` + tailspinID + `"`, "Re-judge it"} {
		if !strings.Contains(page, s) {
			t.Errorf("triage page lacks %q", s)
		}
	}
	viewer, _ := f.session("vera")
	if page := f.get("/triage", viewer).Body.String(); !strings.Contains(page, "may now match Tailspin") || strings.Contains(page, `action="/triage/rematch"`) {
		t.Errorf("a viewer's triage page: want the offer without the re-judge button")
	}
	if rec := f.apiCall("POST", "/api/v1/triage/rematch", f.apiToken("vera"), `{"tenant_id": "`+tailspinID+`"}`); rec.Code != http.StatusForbidden {
		t.Errorf("rematch as a viewer = %d, want 403", rec.Code)
	}
	if rec := f.apiCall("POST", "/api/v1/triage/rematch", token, `{"tenant_id": "tailspin"}`); rec.Code != http.StatusBadRequest {
		t.Errorf("rematch with a bad tenant ID = %d, want 400", rec.Code)
	}
	if rec := f.postForm("/triage/rematch", cookie, url.Values{"tenant_id": {tailspinID}}); rec.Code != http.StatusForbidden {
		t.Errorf("rematch form without the CSRF token = %d, want 403", rec.Code)
	}

	rec := f.follow(f.postForm("/triage/rematch", cookie, url.Values{"csrf": {csrf}, "tenant_id": {tailspinID}}), cookie)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Judged again") || !strings.Contains(rec.Body.String(), "changed") {
		t.Fatalf("rematch form = %d: %s", rec.Code, rec.Body.String())
	}
	after, err := f.ledger.RegistryVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.ledger.MessageBySHA256(ctx, sha)
	if err != nil || m.Judgment.Verdict != rules.Accepted || m.Judgment.TenantID != tailspinID || m.Judgment.RegistryVersion != after || after <= before {
		t.Errorf("after rematch: %+v, %v; want accepted for Tailspin with registry %d (was %d)", m.Judgment, err, after, before)
	}
	if man := f.checkBundles(sha, "tailspin", 2); man.Judgment.RegistryVersion != after {
		t.Errorf("bundle 2 judgment registry version = %d, want %d", man.Judgment.RegistryVersion, after)
	}
	if _, err := f.ledger.ClaimFor(ctx, tailspinID, "EX315207"); err != nil {
		t.Errorf("Tailspin's claim after rematch: %v", err)
	}
	if got := offers(); len(got) != 0 {
		t.Errorf("may_match after rematch = %+v, want none", got)
	}
	// Again: nothing left to re-judge.
	rec = f.apiCall("POST", "/api/v1/triage/rematch", token, `{"tenant_id": "`+tailspinID+`"}`)
	if got := decode[struct{ Results []rejudged }](t, rec); rec.Code != http.StatusOK || got.Results == nil || len(got.Results) != 0 {
		t.Errorf("second rematch = %d %s, want 200 and no results", rec.Code, rec.Body.String())
	}
}
