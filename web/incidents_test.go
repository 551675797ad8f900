package web

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
)

// outageTenantID is the GUID of the outage's tenant i.
func outageTenantID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xa000+i, i+1) }

// addOutage registers n more tenants and records one accepted mail of
// each on incident: a big outage.
func (f *fixture) addOutage(incident string, n int) []string {
	f.t.Helper()
	ctx := context.Background()
	var tenants []rules.Tenant
	for i := range n {
		tenants = append(tenants, rules.Tenant{ID: outageTenantID(i), Name: fmt.Sprintf("Outage Customer %02d", i+1),
			Domains: []string{fmt.Sprintf("customer%d.example", i+1)}, CSP: true})
	}
	if _, err := f.ledger.UpsertTenants(ctx, tenants); err != nil {
		f.t.Fatal(err)
	}
	var ids []string
	for i, tn := range tenants {
		f.record(ctx, fixtureMail{name: fmt.Sprintf("outage%d", i), from: fmt.Sprintf("ops@customer%d.example", i+1),
			subject: "Exchange down " + incident, body: "All mail is down (" + incident + ").",
			received: time.Date(2026, 3, 2, 9, i, 0, 0, time.UTC), judgment: accepted(tn.ID, incident)}, uint32(100+i))
		ids = append(ids, tn.ID)
	}
	return ids
}

func TestIncidentsAPI(t *testing.T) {
	f := newFixture(t)
	token := f.apiToken("anna")
	type list struct {
		Incidents []incidentRow
		More      bool
		Next      string
		Total     int
	}
	got := decode[list](t, f.apiCall("GET", "/api/v1/incidents", token, ""))
	var ids []string
	for _, r := range got.Incidents {
		ids = append(ids, r.ID+"/"+r.Urgency)
	}
	// Soonest open deadline first, urgency marked as the claims list does.
	if want := []string{"TM1112332/overdue", "EX315207/soon", "SP1234567/"}; !slices.Equal(ids, want) || got.Total != 3 || got.More {
		t.Errorf("GET /api/v1/incidents = %v (total %d, more %v), want %v of 3", ids, got.Total, got.More, want)
	}
	ex := got.Incidents[1]
	if ex.Service != "Exchange Online" || ex.Claims != 1 || ex.Fileable != 1 || ex.NotReady != 1 || ex.ByStatus[claims.StatusOpen] != 1 || ex.OneRequest {
		t.Errorf("EX315207's row = %+v", ex)
	}

	// Paged by the contract of paging.go.
	first := decode[list](t, f.apiCall("GET", "/api/v1/incidents?limit=2&sort=newest", token, ""))
	if len(first.Incidents) != 2 || !first.More || first.Next == "" || first.Total != 3 {
		t.Fatalf("limit=2: %d incidents, more %v, next %q, total %d", len(first.Incidents), first.More, first.Next, first.Total)
	}
	second := decode[list](t, f.apiCall("GET", "/api/v1/incidents?limit=2&sort=newest&cursor="+first.Next, token, ""))
	if len(second.Incidents) != 1 || second.More || slices.ContainsFunc(first.Incidents, func(r incidentRow) bool { return r.ID == second.Incidents[0].ID }) {
		t.Errorf("the second page = %+v, want the one incident the first did not show", second.Incidents)
	}

	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/v1/incidents?limit=0", http.StatusBadRequest},
		{"/api/v1/incidents?limit=201", http.StatusBadRequest},
		{"/api/v1/incidents?sort=tenant", http.StatusBadRequest},
		{"/api/v1/incidents?cursor=bogus", http.StatusBadRequest},
		{"/api/v1/incidents?sort=newest&cursor=" + f.apiCursorOf("/api/v1/incidents?limit=1"), http.StatusBadRequest},
		{"/api/v1/incidents/MC123456", http.StatusBadRequest},
		{"/api/v1/incidents/EX12", http.StatusBadRequest},
		{"/api/v1/incidents/EX999999", http.StatusNotFound},
		{"/api/v1/incidents/EX999999/package", http.StatusNotFound},
		{"/api/v1/incidents/MC123456/details", http.StatusBadRequest},
		{"/incidents/MC123456", http.StatusBadRequest},
		{"/incidents/EX999999", http.StatusNotFound},
		{"/api/v1/incidents/ex315207", http.StatusOK},
		{"/api/v1/incidents/EX315207?limit=abc", http.StatusBadRequest},
		{"/api/v1/incidents/EX315207/details", http.StatusOK},
	} {
		if rec := f.apiCall("GET", tc.path, token, ""); rec.Code != tc.want {
			t.Errorf("GET %s = %d, want %d: %.200s", tc.path, rec.Code, tc.want, rec.Body.String())
		}
	}

	type incident struct {
		Incident incidentRow
		Claims   []incidentClaimRow
		Lacking  []claims.Lack
		Total    int
		More     bool
		// RequestDetails is there only when the claims go as one request.
		RequestDetails string `json:"request_details"`
	}
	one := decode[incident](t, f.apiCall("GET", "/api/v1/incidents/EX315207", token, ""))
	if len(one.Claims) != 1 || one.Claims[0].TenantID != contosoID || one.Claims[0].Urgency != "soon" || one.Claims[0].Evidence != 1 ||
		!slices.Contains(one.Claims[0].Missing, claims.ItemAffectedUsers) || one.RequestDetails != "" || one.Total != 1 {
		t.Errorf("GET /api/v1/incidents/EX315207 = %+v", one)
	}
	if !slices.ContainsFunc(one.Lacking, func(l claims.Lack) bool { return l.Item == claims.ItemAffectedUsers && l.Claims == 1 }) {
		t.Errorf("EX315207 lacks %+v, want affected users on 1 claim", one.Lacking)
	}
}

// apiCursorOf returns the next cursor of the API list at path.
func (f *fixture) apiCursorOf(path string) string {
	f.t.Helper()
	rec := f.apiCall("GET", path, f.apiToken("vera"), "")
	var page struct{ Next string }
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil || page.Next == "" {
		f.t.Fatalf("GET %s: no next cursor (%v): %s", path, err, rec.Body.String())
	}
	return page.Next
}

func TestIncidentOneRequest(t *testing.T) {
	f := newFixture(t)
	tenants := f.addOutage("EX400100", 12)
	token := f.apiToken("anna")

	type incident struct {
		Incident       incidentRow
		Claims         []incidentClaimRow
		Lacking        []claims.Lack
		Total          int
		More           bool
		Next           string
		RequestDetails string `json:"request_details"`
	}
	got := decode[incident](t, f.apiCall("GET", "/api/v1/incidents/EX400100?limit=5", token, ""))
	if !got.Incident.OneRequest || got.Incident.Claims != 12 || got.Total != 12 || len(got.Claims) != 5 || !got.More ||
		got.RequestDetails != "/api/v1/incidents/EX400100/details" {
		t.Fatalf("GET /api/v1/incidents/EX400100?limit=5 = one request %v, %d claims, total %d, %d shown, more %v, details %q",
			got.Incident.OneRequest, got.Incident.Claims, got.Total, len(got.Claims), got.More, got.RequestDetails)
	}
	seen := map[int64]bool{}
	for path := "/api/v1/incidents/EX400100?limit=5"; ; {
		page := decode[incident](t, f.apiCall("GET", path, token, ""))
		for _, c := range page.Claims {
			seen[c.ID] = true
		}
		if page.Next == "" {
			break
		}
		path = "/api/v1/incidents/EX400100?limit=5&cursor=" + page.Next
	}
	if len(seen) != 12 {
		t.Errorf("the pages of EX400100's claims show %d claims, want 12", len(seen))
	}
	if !slices.ContainsFunc(got.Lacking, func(l claims.Lack) bool { return l.Item == claims.ItemAffectedUsers && l.Claims == 12 }) {
		t.Errorf("EX400100 lacks %+v, want affected users on 12 claims", got.Lacking)
	}

	details := f.apiCall("GET", "/api/v1/incidents/EX400100/details", token, "")
	text := details.Body.String()
	if details.Code != http.StatusOK || !strings.HasPrefix(text, "SLA credit request for incident EX400100 on behalf of 12 customer tenants") ||
		!strings.Contains(text, "NOT READY: 0 of 12 claims are ready; ") || !strings.Contains(text, "; 12 claims lack Affected users;") {
		t.Errorf("GET details = %d:\n%s", details.Code, text)
	}
	for _, id := range tenants {
		if !strings.Contains(text, "Customer tenant ID: "+id) {
			t.Errorf("the request does not list tenant %s", id)
		}
	}

	// The page offers the same text and the package.
	cookie, _ := f.session("vera")
	page := f.get("/incidents/EX400100", cookie)
	body := page.Body.String()
	if page.Code != http.StatusOK || !strings.Contains(body, `id="one-request"`) || !strings.Contains(body, `href="/incidents/EX400100/package"`) ||
		!strings.Contains(body, "on behalf of 12 customer tenants") || !strings.Contains(body, "12 claims lack Affected users") {
		t.Errorf("GET /incidents/EX400100 = %d: %.2000s", page.Code, body)
	}
	if small := f.get("/incidents/EX315207", cookie).Body.String(); strings.Contains(small, `id="one-request"`) {
		t.Error("the page of an incident of one tenant offers one request for many")
	}

	// One package for all twelve, streamed, audited.
	rec := f.apiCall("GET", "/api/v1/incidents/EX400100/package", token, "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/zip" ||
		!strings.Contains(rec.Header().Get("Content-Disposition"), "incident-EX400100-request.zip") {
		t.Fatalf("GET package = %d %q %q: %.300s", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"), rec.Body.String())
	}
	zr, err := zip.NewReader(bytes.NewReader(rec.Body.Bytes()), int64(rec.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	folders := map[string]bool{}
	var request string
	for _, e := range zr.File {
		if dir, _, ok := strings.Cut(e.Name, "/"); ok {
			folders[dir] = true
		}
		if e.Name == "request.txt" {
			rc, _ := e.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			request = string(b)
		}
	}
	// request.txt is the details text, each tenant's block naming its folder.
	for dir := range folders {
		if !strings.Contains(request, "(in "+dir+"/evidence)") {
			t.Errorf("request.txt does not name the folder %s", dir)
		}
	}
	if len(folders) != 12 || !strings.HasPrefix(request, text[:strings.Index(text, "\n1. ")]) {
		t.Errorf("the package has %d claim folders and request.txt:\n%s\nwant 12 and the details text", len(folders), request)
	}
	if acts := f.auditActions(); acts[len(acts)-1] != "anna package_exported incident:EX400100" {
		t.Errorf("the last audit entry is %q, want anna's export of the incident's package", acts[len(acts)-1])
	}

	// Nothing left to file: no request, no package.
	if err := f.ledger.SetClaimStatus(context.Background(), f.claimFor(fabrikamID, "TM1112332"), claims.StatusExpired, claims.Actor{Name: "anna"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/v1/incidents/TM1112332/package", "/api/v1/incidents/TM1112332/details"} {
		if rec := f.apiCall("GET", p, token, ""); rec.Code != http.StatusConflict {
			t.Errorf("GET %s of an expired claim's incident = %d, want 409: %s", p, rec.Code, rec.Body.String())
		}
	}
	expired := decode[incident](t, f.apiCall("GET", "/api/v1/incidents/TM1112332", token, ""))
	if expired.Incident.Fileable != 0 || expired.Incident.ByStatus[claims.StatusExpired] != 1 || expired.Incident.Urgency != "" {
		t.Errorf("TM1112332 after expiry = %+v", expired.Incident)
	}
}

func TestIncidentLinks(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.session("vera")
	id := f.claimFor(contosoID, "EX315207")
	for _, tc := range []struct{ path, want string }{
		{"/claims", `href="/incidents/EX315207"`},
		{fmt.Sprintf("/claims/%d", id), `href="/incidents/EX315207"`},
		{"/triage", `href="/incidents/EX315207"`}, // the personal-address mail names it
		{"/incidents", `href="/incidents/EX315207"`},
		{"/incidents", `aria-current="page">Incidents</a>`},
		{"/incidents/EX315207", fmt.Sprintf(`href="/claims/%d"`, id)},
		{"/incidents/EX315207", `href="/triage"`},
	} {
		rec := f.get(tc.path, cookie)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("GET %s = %d, want a page with %s", tc.path, rec.Code, tc.want)
		}
	}
	if got := subjectURL("incident:EX315207"); got != "/incidents/EX315207" {
		t.Errorf("subjectURL(incident:EX315207) = %q", got)
	}
	if got := subjectURL("incident:<b>"); got != "" {
		t.Errorf("subjectURL(incident:<b>) = %q, want none", got)
	}
}
