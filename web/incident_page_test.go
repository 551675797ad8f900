package web

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/claims"
)

// TestClaimPageRecord: the claim page shows Microsoft's record, what the
// deadline counts from, and callouts for an advisory and for an incident
// Graph does not list for the tenant.
func TestClaimPageRecord(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.session("anna")
	page := func(id int64) string {
		t.Helper()
		rec := f.get(fmt.Sprintf("/claims/%d", id), cookie)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /claims/%d = %d %s", id, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	sp := f.claimFor(contosoID, "SP1234567")
	body := page(sp)
	for _, want := range []string{`id="no-record"`, "No record yet: the deadline counts from the earliest evidence (provisional)",
		`<span id="deadline-from">counts from the earliest evidence (provisional)</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("claim page without a record lacks %q", want)
		}
	}
	if strings.Contains(body, `id="ineligible"`) || strings.Contains(body, `id="not-listed"`) {
		t.Error("claim page without a record shows a callout")
	}

	f.recordFacts(contosoID, advisory, true)
	body = page(sp)
	for _, want := range []string{
		`<p class="callout bad" id="ineligible"><strong>Not eligible.</strong> Microsoft classifies SP1234567 as an advisory; advisories earn no credit.`,
		`<span class="badge advisory" id="classification">advisory</span>`, "Some users may see slow page loads", "SharePoint Online · Sites",
		"serviceRestored", "2026-02-10 08:00 UTC", "2026-02-10 11:00 UTC",
		`<dd class="small" id="record-source">Microsoft Service Health (graph, read 2026-03-24 10:00 UTC)</dd>`,
		"counts from the incident start (Microsoft Service Health, graph)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("advisory claim page lacks %q", want)
		}
	}
	if strings.Contains(body, "days left") {
		t.Error("advisory claim page shows days left")
	}

	// Graph says Fabrikam has no TM1112332.
	tm := f.claimFor(fabrikamID, "TM1112332")
	f.recordFacts(fabrikamID, claims.Incident{ID: "TM1112332", Source: claims.SourceGraph, ReadAt: testNow}, false)
	body = page(tm)
	hint := "Microsoft lists no TM1112332 for this tenant: check the tenant ID, or ask the customer for a screenshot of the incident in their admin center"
	for _, want := range []string{`<p class="callout bad" id="not-listed"><strong>Not listed for this tenant.</strong> ` + hint,
		`<li class="missing" id="item-incident_listed">`} {
		if !strings.Contains(body, want) {
			t.Errorf("not-listed claim page lacks %q", want)
		}
	}
	if got := f.claimRecord(f.apiToken("anna"), tm); got.IncidentListed == nil || *got.IncidentListed || !slices.Contains(got.Missing, claims.ItemIncidentListed) {
		t.Errorf("not-listed claim: incident_listed %v, missing %v; want false and incident_listed missing", got.IncidentListed, got.Missing)
	}
}
