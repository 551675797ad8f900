package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
)

// recordFacts records what Microsoft Graph said of an incident for tenant.
func (f *fixture) recordFacts(tenant string, inc claims.Incident, listed bool) {
	f.t.Helper()
	if _, err := f.ledger.RecordIncidentFacts(context.Background(),
		archive.IncidentRecord{TenantID: tenant, Incident: inc, Listed: &listed}, "system"); err != nil {
		f.t.Fatal(err)
	}
}

// advisory is SP1234567 as Graph gives it for Contoso: an advisory whose
// start puts the deadline (31 March) 6 days from testNow.
var advisory = claims.Incident{ID: "SP1234567", Title: "Some users may see slow page loads",
	Classification: claims.ClassificationAdvisory, Service: "SharePoint Online", Feature: "Sites",
	Status: "serviceRestored", Start: time.Date(2026, 2, 10, 8, 0, 0, 0, time.UTC), End: time.Date(2026, 2, 10, 11, 0, 0, 0, time.UTC),
	Source: claims.SourceGraph, ReadAt: time.Date(2026, 3, 24, 10, 0, 0, 0, time.UTC)}

// claimRecord is what the claim API says of Microsoft's record.
type claimRecord struct {
	Eligible            bool             `json:"eligible"`
	IneligibleWhy       string           `json:"ineligible_why"`
	IneligibleText      string           `json:"ineligible_text"`
	Deadline            time.Time        `json:"deadline"`
	DeadlineProvisional bool             `json:"deadline_provisional"`
	DeadlineFrom        string           `json:"deadline_from"`
	DaysLeft            *int             `json:"days_left"`
	Urgency             string           `json:"urgency"`
	Incident            *claims.Incident `json:"incident"`
	IncidentListed      *bool            `json:"incident_listed"`
	IncidentHistory     []struct {
		TenantID string          `json:"tenant_id"`
		Incident claims.Incident `json:"incident"`
		Listed   *bool           `json:"listed"`
	} `json:"incident_history"`
	Missing []string `json:"missing"`
}

func (f *fixture) claimRecord(token string, id int64) claimRecord {
	f.t.Helper()
	rec := f.apiCall("GET", fmt.Sprintf("/api/v1/claims/%d", id), token, "")
	var v claimRecord
	if rec.Code != http.StatusOK {
		f.t.Fatalf("GET claim %d = %d %s", id, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		f.t.Fatalf("GET claim %d: %v %s", id, err, rec.Body)
	}
	return v
}

// TestAPIClaimAdvisory: a claim Microsoft classes an advisory says so, has
// no days left nor urgency, and cannot be submitted.
func TestAPIClaimAdvisory(t *testing.T) {
	f := newFixture(t)
	anna := f.apiToken("anna")
	id := f.claimFor(contosoID, "SP1234567")

	before := f.claimRecord(anna, id)
	if !before.Eligible || before.Incident != nil || before.IncidentListed != nil || len(before.IncidentHistory) != 0 {
		t.Errorf("before any facts: eligible %v, incident %v, listed %v, history %d; want eligible and no record",
			before.Eligible, before.Incident, before.IncidentListed, len(before.IncidentHistory))
	}
	if !before.DeadlineProvisional || before.DeadlineFrom != "earliest evidence (provisional)" {
		t.Errorf("before any facts: provisional %v, from %q; want the earliest evidence, provisional", before.DeadlineProvisional, before.DeadlineFrom)
	}

	f.recordFacts(contosoID, advisory, true)
	got := f.claimRecord(anna, id)
	const text = "Microsoft classifies SP1234567 as an advisory; advisories earn no credit"
	if got.Eligible || got.IneligibleWhy != claims.IneligibleAdvisory || got.IneligibleText != text {
		t.Errorf("advisory claim: eligible %v, why %q, text %q; want false, advisory, %q", got.Eligible, got.IneligibleWhy, got.IneligibleText, text)
	}
	if got.Incident == nil || got.Incident.Classification != claims.ClassificationAdvisory || got.Incident.Source != claims.SourceGraph ||
		!got.Incident.ReadAt.Equal(advisory.ReadAt) || got.IncidentListed == nil || !*got.IncidentListed {
		t.Errorf("advisory claim's incident = %+v, listed %v; want Graph's advisory read %s, listed", got.Incident, got.IncidentListed, advisory.ReadAt)
	}
	if len(got.IncidentHistory) != 1 || got.IncidentHistory[0].Incident.Source != claims.SourceGraph || got.IncidentHistory[0].TenantID != contosoID {
		t.Errorf("incident_history = %+v, want Graph's one reading for Contoso", got.IncidentHistory)
	}
	// Graph's start makes the deadline firm: 31 March, 6 days away, but an
	// advisory has no days left to count.
	if want := rules.Deadline(advisory.Start, false); !got.Deadline.Equal(want) || got.DeadlineProvisional ||
		!strings.Contains(got.DeadlineFrom, "Microsoft Service Health, graph") {
		t.Errorf("deadline %s, provisional %v, from %q; want %s, firm, from Microsoft Service Health", got.Deadline, got.DeadlineProvisional, got.DeadlineFrom, want)
	}
	if got.DaysLeft != nil || got.Urgency != "" {
		t.Errorf("advisory claim: days_left %v, urgency %q; want none", got.DaysLeft, got.Urgency)
	}

	f.fillChecklist(anna, id)
	rec := f.apiCall("POST", fmt.Sprintf("/api/v1/claims/%d/status", id), anna, `{"status": "submitted", "note": "PC 1"}`)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), text) {
		t.Errorf("submitting an advisory = %d %s, want 409 saying %q", rec.Code, rec.Body, text)
	}
	if c, err := f.ledger.Claim(context.Background(), id); err != nil || c.Status != claims.StatusOpen {
		t.Errorf("after the refused submission the claim is %v (%v), want open", c.Status, err)
	}
}

// TestAPIClaimFirmDeadline: an incident's start from Graph makes the
// deadline firm, counted from Microsoft's record.
func TestAPIClaimFirmDeadline(t *testing.T) {
	f := newFixture(t)
	anna := f.apiToken("anna")
	id := f.claimFor(contosoID, "EX315207")
	f.recordFacts(contosoID, claims.Incident{ID: "EX315207", Classification: claims.ClassificationIncident,
		Start: time.Date(2026, 2, 15, 9, 0, 0, 0, time.UTC), Source: claims.SourceGraph, ReadAt: testNow.Add(-time.Hour)}, true)
	got := f.claimRecord(anna, id)
	if !got.Eligible || got.IneligibleText != "" {
		t.Errorf("incident claim: eligible %v, text %q; want eligible", got.Eligible, got.IneligibleText)
	}
	if got.DeadlineProvisional || got.DeadlineFrom != "incident start (Microsoft Service Health, graph)" {
		t.Errorf("deadline provisional %v, from %q; want firm, from Microsoft Service Health", got.DeadlineProvisional, got.DeadlineFrom)
	}
	if got.DaysLeft == nil || *got.DaysLeft != 6 || got.Urgency != "soon" {
		t.Errorf("days_left %v, urgency %q; want 6, soon", got.DaysLeft, got.Urgency)
	}
}

// TestClaimsEligibleFilter: the list marks claims Microsoft rules out, and
// ?eligible= picks them, on the API and the page.
func TestClaimsEligibleFilter(t *testing.T) {
	f := newFixture(t)
	anna := f.apiToken("anna")
	f.recordFacts(contosoID, advisory, true)
	sp := f.claimFor(contosoID, "SP1234567")
	list := func(query string) []claimRow {
		t.Helper()
		rec := f.apiCall("GET", "/api/v1/claims"+query, anna, "")
		var v struct{ Claims []claimRow }
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
			t.Fatalf("GET claims%s = %d %s", query, rec.Code, rec.Body)
		}
		return v.Claims
	}
	if rows := list("?eligible=no"); len(rows) != 1 || rows[0].ID != sp || rows[0].Eligible || rows[0].IneligibleWhy != claims.IneligibleAdvisory ||
		rows[0].DaysLeft != nil || rows[0].Urgency != "" {
		t.Errorf("?eligible=no = %+v, want only SP1234567, not eligible (advisory), without days left or urgency", rows)
	}
	yes := list("?eligible=yes")
	for _, r := range yes {
		if r.ID == sp || !r.Eligible {
			t.Errorf("?eligible=yes lists %s (eligible %v)", r.IncidentID, r.Eligible)
		}
	}
	if all := list(""); len(yes) != 2 || len(all) != 3 {
		t.Errorf("?eligible=yes lists %d, no filter %d; want 2 and 3", len(yes), len(all))
	}
	if rec := f.apiCall("GET", "/api/v1/claims?eligible=maybe", anna, ""); rec.Code != http.StatusBadRequest {
		t.Errorf("?eligible=maybe = %d, want 400", rec.Code)
	}

	cookie, _ := f.session("anna")
	page := f.get("/claims?eligible=no", cookie)
	body := page.Body.String()
	if page.Code != http.StatusOK || !strings.Contains(body, `<tr class="ineligible">`) || !strings.Contains(body, "advisory — not eligible") ||
		strings.Contains(body, "EX315207") || !strings.Contains(body, `<option value="no" selected>`) {
		t.Errorf("/claims?eligible=no = %d, want only SP1234567 marked not eligible, the filter selected:\n%s", page.Code, body)
	}
}
