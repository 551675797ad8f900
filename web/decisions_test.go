package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
)

// claimJSON is what the tests read of the claim API's answer.
type claimJSON struct {
	Status   claims.Status     `json:"status"`
	Service  string            `json:"service"`
	Evidence []claims.Evidence `json:"evidence"`
}

func evidenceSHAs(c claimJSON) []string {
	var out []string
	for _, e := range c.Evidence {
		out = append(out, e.SHA256)
	}
	return out
}

// An analyst's attach is their decision: a later re-judge of the message
// shows what would change and does nothing without override; re-judge all
// leaves it alone; with override it is recorded and audited.
func TestRejudgeKeepsAnalystsAttach(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{rejudge: true})
	token := f.apiToken("anna")
	sha := f.sha["noid"]
	if rec := f.apiCall("POST", "/api/v1/triage/"+sha+"/attach", token, `{"incident_id": "EX315207"}`); rec.Code != http.StatusOK {
		t.Fatalf("attach to an existing claim = %d %s, want 200 without confirming", rec.Code, rec.Body.String())
	}
	id := f.claimFor(contosoID, "EX315207")
	claimPath := fmt.Sprintf("/api/v1/claims/%d", id)
	c := decode[claimJSON](t, f.apiCall("GET", claimPath, token, ""))
	attachedBy := ""
	for _, e := range c.Evidence {
		if e.SHA256 == sha {
			attachedBy = e.AttachedBy
		}
	}
	if attachedBy != "anna" {
		t.Errorf("claim evidence after attaching = %+v, want the message attached by anna", c.Evidence)
	}
	cookie, csrf := f.session("anna")
	if page := f.get(fmt.Sprintf("/claims/%d", id), cookie).Body.String(); !strings.Contains(page, "attached by anna") {
		t.Error("claim page does not say the message was attached by anna")
	}
	if ds, err := f.ledger.Decisions(ctx, f.message(sha).ID); err != nil || len(ds) != 1 || ds[0].Decision != archive.DecisionAttached {
		t.Errorf("decisions after attaching = %+v, %v; want anna's attach", ds, err)
	}

	// Re-judge all leaves it alone (it left triage).
	if rec := f.apiCall("POST", "/api/v1/triage/rejudge", token, ""); rec.Code != http.StatusOK {
		t.Errorf("re-judge all = %d %s", rec.Code, rec.Body.String())
	}
	// A single re-judge would make it unmatched again: refused, saying
	// what would change and who decided.
	rec := f.apiCall("POST", "/api/v1/triage/"+sha+"/rejudge", token, "")
	var refused struct {
		Error     string             `json:"error"`
		Before    rules.Judgment     `json:"before"`
		After     rules.Judgment     `json:"after"`
		Changed   bool               `json:"changed"`
		Decisions []archive.Decision `json:"decisions"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &refused); err != nil || rec.Code != http.StatusConflict {
		t.Fatalf("re-judge of an attached message = %d %s (%v), want 409", rec.Code, rec.Body.String(), err)
	}
	if refused.Before.Verdict != rules.Accepted || refused.After.Verdict != rules.Unmatched || !refused.Changed ||
		len(refused.Decisions) != 1 || refused.Decisions[0].Actor != "anna" || !strings.Contains(refused.Error, "anna attached it to claim") ||
		!strings.Contains(refused.Error, "override") {
		t.Errorf("re-judge of an attached message answered %+v; want accepted -> unmatched, changed, anna's decision, override", refused)
	}
	if m := f.message(sha); m.Judgment.Verdict != rules.Accepted {
		t.Errorf("message after a refused re-judge is %s, want accepted", m.Judgment.Verdict)
	}
	f.checkBundles(sha, "noid", 2)
	if c := decode[claimJSON](t, f.apiCall("GET", claimPath, token, "")); !strings.Contains(strings.Join(evidenceSHAs(c), " "), sha) {
		t.Errorf("claim after a refused re-judge lacks the message: %v", evidenceSHAs(c))
	}
	// The page says the same and offers to override.
	rec = f.postForm("/triage/"+sha+"/rejudge", cookie, url.Values{"csrf": {csrf}})
	if page := rec.Body.String(); rec.Code != http.StatusConflict || !strings.Contains(page, "Override my earlier decision") ||
		!strings.Contains(page, `name="override"`) || !strings.Contains(page, "anna attached it") {
		t.Errorf("re-judge form of an attached message = %d, want 409 with an override form:\n%s", rec.Code, page)
	}
	if rec := f.apiCall("POST", "/api/v1/triage/"+sha+"/rejudge", token, `{"overide": true}`); rec.Code != http.StatusBadRequest {
		t.Errorf("re-judge with a misspelt flag = %d, want 400", rec.Code)
	}
	f.checkBundles(sha, "noid", 2)

	// Overridden: recorded, audited with both judgments.
	rec = f.apiCall("POST", "/api/v1/triage/"+sha+"/rejudge", token, `{"override": true}`)
	if r := decode[rejudged](t, rec); rec.Code != http.StatusOK || r.After != rules.Unmatched || !r.Changed {
		t.Errorf("re-judge with override = %d %+v, want unmatched, changed", rec.Code, r)
	}
	f.checkBundles(sha, "noid", 3)
	if c := decode[claimJSON](t, f.apiCall("GET", claimPath, token, "")); strings.Contains(strings.Join(evidenceSHAs(c), " "), sha) {
		t.Errorf("claim after the override still has the message")
	}
	if ds, err := f.ledger.Decisions(ctx, f.message(sha).ID); err != nil || len(ds) != 0 {
		t.Errorf("decisions after the override = %+v, %v; want none", ds, err)
	}
	entries, err := f.ledger.AuditEntries(ctx, archive.AuditFilter{Actor: "anna", Subject: "message:" + sha, Actions: []archive.Action{archive.ActionReprocessed}})
	if err != nil || len(entries) != 2 {
		t.Fatalf("anna's reprocessed entries = %d (%v), want the attach and the override", len(entries), err)
	}
	var d struct {
		Override   bool               `json:"override"`
		Previous   rules.Judgment     `json:"previous_judgment"`
		Judgment   rules.Judgment     `json:"judgment"`
		Overridden []archive.Decision `json:"decisions_overridden"`
	}
	last := entries[0]
	if strings.Contains(string(entries[1].Details), `"override"`) {
		last = entries[1]
	}
	if err := json.Unmarshal(last.Details, &d); err != nil || !d.Override || d.Previous.Verdict != rules.Accepted ||
		d.Judgment.Verdict != rules.Unmatched || len(d.Overridden) != 1 || d.Overridden[0].Actor != "anna" {
		t.Errorf("audit of the override = %s (%v); want both judgments and anna's decision", last.Details, err)
	}
}

// Attaching checks the incident: its grammar (400), then, unless
// confirmed, a known prefix and an existing claim (409).
func TestAttachConfirm(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, incident string
		want           int
		wantMsg        string
		confirm        bool // whether confirming attaches it
	}{
		{"existing claim", "EX315207", http.StatusOK, "", false},
		{"too short", "EX12", http.StatusBadRequest, "is not an incident ID", false},
		{"message center", "MC123456", http.StatusBadRequest, "Message Center", false},
		{"unknown prefix", "ZZ9999999", http.StatusConflict, "ZZ is not a known incident prefix (known: CP Microsoft Copilot, ", true},
		{"new claim", "EX1234567", http.StatusConflict, "no claim for Contoso Ltd and EX1234567 yet; attaching opens one", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{rejudge: true})
			token := f.apiToken("anna")
			path := "/api/v1/triage/" + f.sha["noid"] + "/attach"
			rec := f.apiCall("POST", path, token, fmt.Sprintf(`{"incident_id": %q}`, tc.incident))
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.wantMsg) {
				t.Fatalf("attach %s = %d %s, want %d %q", tc.incident, rec.Code, rec.Body.String(), tc.want, tc.wantMsg)
			}
			if tc.want == http.StatusOK {
				return
			}
			// Refused: nothing written.
			f.checkBundles(f.sha["noid"], "noid", 1)
			if _, err := f.ledger.ClaimFor(ctx, contosoID, tc.incident); !errors.Is(err, archive.ErrNotFound) && tc.want == http.StatusConflict {
				t.Errorf("claim %s after a refused attach: %v, want none", tc.incident, err)
			}
			if !tc.confirm {
				return
			}
			// The page asks to confirm, with a form that does.
			cookie, csrf := f.session("anna")
			rec = f.postForm("/triage/"+f.sha["noid"]+"/attach", cookie, url.Values{"csrf": {csrf}, "incident": {tc.incident}})
			page := rec.Body.String()
			if rec.Code != http.StatusConflict || !strings.Contains(page, "Attach anyway") || !strings.Contains(page, `name="confirm"`) ||
				!strings.Contains(page, `value="`+tc.incident+`"`) || !strings.Contains(page, tc.wantMsg) {
				t.Errorf("attach form %s = %d, want 409 with a confirm form:\n%s", tc.incident, rec.Code, page)
			}
			rec = f.apiCall("POST", path, token, fmt.Sprintf(`{"incident_id": %q, "confirm": true}`, tc.incident))
			if rec.Code != http.StatusOK {
				t.Fatalf("attach %s confirmed = %d %s, want 200", tc.incident, rec.Code, rec.Body.String())
			}
			c := decode[claimJSON](t, f.apiCall("GET", fmt.Sprintf("/api/v1/claims/%d", f.claimFor(contosoID, tc.incident)), token, ""))
			if len(c.Evidence) != 1 || c.Evidence[0].AttachedBy != "anna" {
				t.Errorf("claim %s after a confirmed attach = %+v, want the message attached by anna", tc.incident, c)
			}
			if tc.incident == "ZZ9999999" && c.Service != "" {
				t.Errorf("claim ZZ9999999 service = %q, want none", c.Service)
			}
		})
	}
}

// Detaching takes a message off a claim, audited; a claim left with none
// says so, nothing attaches it again, and a submitted claim refuses it.
func TestDetachEvidence(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{rejudge: true})
	token := f.apiToken("anna")
	sha := f.sha["sharepoint"]
	id := f.claimFor(contosoID, "SP1234567")
	path := fmt.Sprintf("/api/v1/claims/%d/evidence/%s/detach", id, sha)

	if rec := f.apiCall("POST", path, f.apiToken("vera"), ""); rec.Code != http.StatusForbidden {
		t.Errorf("detach by a viewer = %d, want 403", rec.Code)
	}
	cookie, csrf := f.session("anna")
	vcookie, _ := f.session("vera")
	if page := f.get(fmt.Sprintf("/claims/%d", id), cookie).Body.String(); !strings.Contains(page, `/evidence/`+sha+`/detach"`) {
		t.Error("claim page offers an analyst no Detach")
	}
	if page := f.get(fmt.Sprintf("/claims/%d", id), vcookie).Body.String(); strings.Contains(page, `/detach"`) {
		t.Error("claim page offers a viewer Detach")
	}

	rec := f.apiCall("POST", path, token, `{"note": "not about SharePoint"}`)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"evidence": []`) {
		t.Fatalf("detach = %d %s, want 200 with evidence []", rec.Code, rec.Body.String())
	}
	entries, err := f.ledger.AuditEntries(ctx, archive.AuditFilter{Actor: "anna", Subject: fmt.Sprintf("claim:%d", id),
		Actions: []archive.Action{archive.ActionEvidenceDetached}})
	if err != nil || len(entries) != 1 || !strings.Contains(string(entries[0].Details), `"no_evidence_left":true`) ||
		!strings.Contains(string(entries[0].Details), "not about SharePoint") {
		t.Errorf("evidence_detached entries = %+v (%v), want one with the note, saying no evidence is left", entries, err)
	}
	if page := f.get(fmt.Sprintf("/claims/%d", id), cookie).Body.String(); !strings.Contains(page, `id="no-evidence"`) {
		t.Error("claim page without evidence does not say so")
	}
	if rec := f.apiCall("POST", path, token, ""); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "not its evidence") {
		t.Errorf("detach again = %d %s, want 404 saying it is not the claim's evidence", rec.Code, rec.Body.String())
	}

	// Re-judging does not attach it again.
	f.apiCall("POST", "/api/v1/triage/rejudge", token, "")
	f.apiCall("POST", "/api/v1/triage/"+sha+"/rejudge", token, "")
	if c := decode[claimJSON](t, f.apiCall("GET", fmt.Sprintf("/api/v1/claims/%d", id), token, "")); len(c.Evidence) != 0 {
		t.Errorf("claim after re-judging = %v, want no evidence: the analyst detached it", evidenceSHAs(c))
	}

	// The page form, then a submitted claim.
	eid := f.claimFor(contosoID, "EX315207")
	rec = f.postForm(fmt.Sprintf("/claims/%d/evidence/%s/detach", eid, f.sha["xss"]), cookie, url.Values{"csrf": {csrf}, "note": {"duplicate"}})
	if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "done=detached") {
		t.Errorf("detach form = %d %s, want 303 to done=detached", rec.Code, rec.Header().Get("Location"))
	}
	tid := f.claimFor(fabrikamID, "TM1112332")
	rec = f.apiCall("PATCH", fmt.Sprintf("/api/v1/claims/%d", tid), token, `{"fields": {"downtime_start": "2026-01-10T08:00:00Z", "downtime_duration": "4h",
		"affected_users": "120", "locations": "Prague", "resolution": "Waited for Microsoft's fix", "ticket": "2601100040001234"}}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("complete TM1112332's checklist = %d %s", rec.Code, rec.Body.String())
	}
	if err := f.ledger.SetClaimStatus(ctx, tid, claims.StatusSubmitted, claims.Actor{Name: "anna"}, "Partner Center request 1"); err != nil {
		t.Fatal(err)
	}
	rec = f.apiCall("POST", fmt.Sprintf("/api/v1/claims/%d/evidence/%s/detach", tid, f.sha["teams"]), token, "")
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "the claim is submitted, so it cannot change") {
		t.Errorf("detach from a submitted claim = %d %s, want 409 with the claim's edit error", rec.Code, rec.Body.String())
	}
	if page := f.get(fmt.Sprintf("/claims/%d", tid), cookie).Body.String(); strings.Contains(page, `/detach"`) {
		t.Error("a submitted claim's page offers Detach")
	}
}

// message is the ledger's row of the message sha.
func (f *fixture) message(sha string) *archive.Message {
	f.t.Helper()
	m, err := f.ledger.MessageBySHA256(context.Background(), sha)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}
