package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
)

// apiClaimView is what the lifecycle tests read of GET /api/v1/claims/{id}.
type apiClaimView struct {
	Status   claims.Status `json:"status"`
	DaysLeft *int          `json:"days_left"`
	Next     []string      `json:"next_statuses"`
	Evidence []struct {
		SHA256 string `json:"sha256"`
		Late   bool   `json:"late"`
	} `json:"evidence"`
	Details string `json:"details"`
}

func (f *fixture) apiClaim(token string, id int64) apiClaimView {
	f.t.Helper()
	rec := f.apiCall("GET", fmt.Sprintf("/api/v1/claims/%d", id), token, "")
	var v apiClaimView
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &v) != nil {
		f.t.Fatalf("GET claim %d = %d %s", id, rec.Code, rec.Body)
	}
	return v
}

// apiClaimRow returns the claims list's row for claim id.
func (f *fixture) apiClaimRow(token string, id int64) claimRow {
	f.t.Helper()
	rec := f.apiCall("GET", "/api/v1/claims", token, "")
	var list struct{ Claims []claimRow }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		f.t.Fatalf("GET claims: %v %s", err, rec.Body)
	}
	for _, r := range list.Claims {
		if r.ID == id {
			return r
		}
	}
	f.t.Fatalf("claim %d is not in the list", id)
	return claimRow{}
}

// fillChecklist completes a claim's checklist through the API.
func (f *fixture) fillChecklist(token string, id int64) {
	f.t.Helper()
	body := `{"fields": {"downtime_start": "2026-03-20T08:00:00Z", "downtime_duration": "4h", "affected_users": "40",
		"locations": "Prague", "resolution": "waited", "ticket": "T-7"}}`
	if rec := f.apiCall("PATCH", fmt.Sprintf("/api/v1/claims/%d", id), token, body); rec.Code != http.StatusOK {
		f.t.Fatalf("PATCH claim %d = %d %s", id, rec.Code, rec.Body)
	}
}

func (f *fixture) setStatus(token string, id int64, status, note string, want int) string {
	f.t.Helper()
	body, _ := json.Marshal(map[string]string{"status": status, "note": note})
	rec := f.apiCall("POST", fmt.Sprintf("/api/v1/claims/%d/status", id), token, string(body))
	if rec.Code != want {
		f.t.Fatalf("claim %d -> %s (note %q) = %d %s, want %d", id, status, note, rec.Code, rec.Body, want)
	}
	return rec.Body.String()
}

// TestSubmittedClaimLifecycle: days left only while a claim can be filed;
// evidence arriving after submission is marked late in the claim and the
// claims list; a submitted claim is read-only until an analyst reopens it.
func TestSubmittedClaimLifecycle(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	anna := f.apiToken("anna")
	id := f.claimFor(contosoID, "SP1234567")
	if v := f.apiClaim(anna, id); v.DaysLeft == nil || *v.DaysLeft != 36 {
		t.Fatalf("open claim: days_left %v, want 36", v.DaysLeft)
	}
	f.fillChecklist(anna, id)
	f.setStatus(anna, id, "submitted", "PC request 1", http.StatusOK)

	v := f.apiClaim(anna, id)
	if v.Status != claims.StatusSubmitted || v.DaysLeft != nil {
		t.Errorf("submitted claim: status %s, days_left %v, want submitted and null", v.Status, v.DaysLeft)
	}
	if row := f.apiClaimRow(anna, id); row.DaysLeft != nil || row.Urgency != "" {
		t.Errorf("claims list row of a submitted claim: days_left %v urgency %q, want null and none", row.DaysLeft, row.Urgency)
	}
	annaCookie, _ := f.session("anna")
	page := f.get(fmt.Sprintf("/claims/%d", id), annaCookie).Body.String()
	if strings.Contains(page, "days left") || !strings.Contains(page, `id="read-only"`) || strings.Contains(page, `action="/claims/`+fmt.Sprint(id)+`/fields"`) {
		t.Errorf("submitted claim page shows days left or field forms, or no read-only note")
	}

	// New evidence for the submitted claim is late.
	late := fixtureMail{name: "late", from: "eva@contoso.com", subject: "SharePoint SP1234567 again",
		body: "Still down.", received: time.Date(2026, 3, 24, 9, 0, 0, 0, time.UTC), judgment: accepted(contosoID, "SP1234567")}
	f.record(context.Background(), late, 99)
	v = f.apiClaim(anna, id)
	var marked []bool
	for _, e := range v.Evidence {
		marked = append(marked, e.Late)
	}
	if fmt.Sprint(marked) != "[false true]" {
		t.Errorf("evidence late marks = %v, want [false true] (the new one late)", marked)
	}
	if !strings.Contains(v.Details, "(arrived after submission)") {
		t.Errorf("details do not mark the late evidence:\n%s", v.Details)
	}
	if row := f.apiClaimRow(anna, id); row.Late != 1 {
		t.Errorf("claims list late_evidence = %d, want 1", row.Late)
	}
	if list := f.get("/claims", annaCookie).Body.String(); !strings.Contains(list, "1 late") {
		t.Error("the claims page does not show the late evidence")
	}
	if page := f.get(fmt.Sprintf("/claims/%d", id), annaCookie).Body.String(); !strings.Contains(page, `class="tag late"`) {
		t.Error("the claim page does not mark the late evidence")
	}

	// No analyst attaches to it from triage either: reopen it first.
	rec0 := f.apiCall("POST", "/api/v1/triage/"+f.sha["noid"]+"/attach", anna, `{"incident_id": "SP1234567", "confirm": true}`)
	if rec0.Code != http.StatusConflict || !strings.Contains(rec0.Body.String(), "reopen it first") {
		t.Errorf("attach to a submitted claim = %d %s, want 409 saying to reopen it", rec0.Code, rec0.Body)
	}

	// Read-only until reopened.
	rec := f.apiCall("PATCH", fmt.Sprintf("/api/v1/claims/%d", id), anna, `{"fields": {"ticket": "T-8"}}`)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "reopen it first") {
		t.Errorf("PATCH a submitted claim = %d %s, want 409 saying to reopen it", rec.Code, rec.Body)
	}
	f.setStatus(anna, id, "open", "", http.StatusOK)
	if v := f.apiClaim(anna, id); v.Status != claims.StatusReady || v.DaysLeft == nil {
		t.Errorf("reopened claim: %s, days_left %v; want ready again (its checklist is complete) with days left", v.Status, v.DaysLeft)
	}
	if rec := f.apiCall("PATCH", fmt.Sprintf("/api/v1/claims/%d", id), anna, `{"fields": {"ticket": "T-8"}}`); rec.Code != http.StatusOK {
		t.Errorf("PATCH a reopened claim = %d %s", rec.Code, rec.Body)
	}
	// What was late for the first submission is part of the next.
	v = f.apiClaim(anna, id)
	for _, e := range v.Evidence {
		if e.Late {
			t.Errorf("evidence %s still late after reopening", e.SHA256)
		}
	}
	if !strings.Contains(strings.Join(f.auditActions(), "\n"), "anna claim_updated claim:") {
		t.Error("no audit entry for the reopening")
	}
}

// TestReopenNeedsAnAdmin: an expired or denied claim is reopened only by an
// admin, only with a note; the trail says so.
func TestReopenNeedsAnAdmin(t *testing.T) {
	f := newFixture(t)
	anna, adam := f.apiToken("anna"), f.apiToken("adam")
	expired := f.claimFor(contosoID, "SP1234567")
	denied := f.claimFor(fabrikamID, "TM1112332")
	f.setStatus(anna, expired, "expired", "by mistake", http.StatusOK)
	f.fillChecklist(anna, denied)
	f.setStatus(anna, denied, "submitted", "", http.StatusOK)
	f.setStatus(anna, denied, "denied", "outside the SLA", http.StatusOK)

	for _, id := range []int64{expired, denied} {
		v := f.apiClaim(anna, id)
		if v.DaysLeft != nil || len(v.Next) != 0 {
			t.Errorf("claim %d (%s) for an analyst: days_left %v, next %v; want null and nothing", id, v.Status, v.DaysLeft, v.Next)
		}
		if out := f.setStatus(anna, id, "open", "please", http.StatusForbidden); !strings.Contains(out, "admin") {
			t.Errorf("analyst reopening claim %d: %s, want it to say an admin can", id, out)
		}
		if v := f.apiClaim(adam, id); fmt.Sprint(v.Next) != "[open]" {
			t.Errorf("claim %d for an admin offers %v, want [open]", id, v.Next)
		}
		if out := f.setStatus(adam, id, "open", "  ", http.StatusConflict); !strings.Contains(out, "needs a note") {
			t.Errorf("admin reopening claim %d without a note: %s", id, out)
		}
		f.setStatus(adam, id, "open", "expired by a mis-click", http.StatusOK)
		// The poller's next round does not expire it again: the admin
		// reopened it after its deadline (the ledger's clock is today's).
		if ids, err := f.ledger.ExpireClaims(context.Background(), time.Now().Add(time.Hour)); err != nil || slices.Contains(ids, id) {
			t.Errorf("ExpireClaims after the reopening = %v, %v; want claim %d left open", ids, err, id)
		}
		if v := f.apiClaim(adam, id); !claims.Fileable(v.Status) || v.DaysLeft == nil {
			t.Errorf("claim %d after reopening: %s, days_left %v; want fileable with days left", id, v.Status, v.DaysLeft)
		}
	}
	var reopened int
	rows, err := f.ledger.AuditEntries(context.Background(), archive.AuditFilter{Actor: "adam", SubjectPrefix: "claim:"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rows {
		var d struct {
			Reopened bool
			Note     string
		}
		if json.Unmarshal(e.Details, &d) == nil && d.Reopened && d.Note == "expired by a mis-click" {
			reopened++
		}
	}
	if reopened != 2 {
		t.Errorf("%d audit entries of adam reopening with the note, want 2", reopened)
	}
}
