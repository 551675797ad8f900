package web

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestFormResultsSurviveReload: a form that worked redirects to its
// results, which a reload shows again without doing the work twice; they
// are the user's own, and go stale.
func TestFormResultsSurviveReload(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	cookie, csrf := f.session("anna")
	rec := f.postForm("/triage/rejudge", cookie, url.Values{"csrf": {csrf}})
	loc := rec.Header().Get("Location")
	first := f.follow(rec, cookie).Body.String()
	if !strings.Contains(first, "Judged again") {
		t.Fatalf("the results page does not show the results:\n%.600s", first)
	}
	actions := len(f.auditActions())
	if again := f.get(loc, cookie).Body.String(); !strings.Contains(again, "Judged again") {
		t.Errorf("reloading the results page lost them")
	}
	if n := len(f.auditActions()); n != actions {
		t.Errorf("reloading the results page did work: %d audit entries, was %d", n, actions)
	}
	other, _ := f.session("vera")
	if page := f.get(loc, other).Body.String(); strings.Contains(page, "Judged again") {
		t.Errorf("another user sees anna's results")
	}
	if page := f.get("/triage?shown=0123456789abcdef", cookie).Body.String(); strings.Contains(page, "Judged again") {
		t.Errorf("an unknown token shows results")
	}
	f.now = f.now.Add(flashFor + time.Minute)
	if page := f.get(loc, cookie).Body.String(); strings.Contains(page, "Judged again") {
		t.Errorf("results older than %s still show", flashFor)
	}
}

// TestFormResultsOnAnotherReplica: behind a load balancer the redirect
// after a form may reach another replica's web server; it shows the
// results, to their user only, until they go stale.
func TestFormResultsOnAnotherReplica(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	other := f.replica()
	cookie, csrf := f.session("anna")
	rec := f.postForm("/triage/rejudge", cookie, url.Values{"csrf": {csrf}})
	loc := rec.Header().Get("Location")
	if !strings.Contains(loc, "shown=") {
		t.Fatalf("the form redirects to %q, want a page naming its results", loc)
	}
	if page := other.get(loc, cookie).Body.String(); !strings.Contains(page, "Judged again") {
		t.Errorf("the other replica does not show the results:\n%.600s", page)
	}
	vera, _ := f.session("vera")
	if page := other.get(loc, vera).Body.String(); strings.Contains(page, "Judged again") {
		t.Errorf("the other replica shows anna's results to vera")
	}
	f.now = f.now.Add(flashFor)
	if page := other.get(loc, cookie).Body.String(); strings.Contains(page, "Judged again") {
		t.Errorf("the other replica shows results %s old", flashFor)
	}
}

// TestMessageNamesItsClaims: a message's page and API name the claims it
// is evidence for, and link them; rejected mail names none.
func TestMessageNamesItsClaims(t *testing.T) {
	f := newFixture(t)
	cookie, _ := f.session("vera")
	id := f.claimFor(contosoID, "SP1234567")
	page := f.get("/messages/"+f.sha["sharepoint"], cookie).Body.String()
	if want := fmt.Sprintf(`<a href="/claims/%d">SP1234567</a>`, id); !strings.Contains(page, want) {
		t.Errorf("the message page does not link its claim (%s)", want)
	}
	got := decode[struct {
		Claims []messageClaim `json:"claims"`
	}](t, f.apiCall("GET", "/api/v1/messages/"+f.sha["sharepoint"], f.apiToken("vera"), ""))
	if len(got.Claims) != 1 || got.Claims[0].ID != id || got.Claims[0].TenantID != contosoID {
		t.Errorf("GET /api/v1/messages/{sharepoint} claims = %+v, want claim %d", got.Claims, id)
	}
	if page := f.get("/messages/"+f.sha["gmail"], cookie).Body.String(); strings.Contains(page, `id="evidence-for"`) {
		t.Errorf("rejected mail's page names claims")
	}
}
