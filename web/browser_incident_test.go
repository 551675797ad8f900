package web

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAdvisory drives the list and the claim page in Chromium for a
// claim Microsoft classes an advisory: the list marks it not eligible and
// filters it, the claim page says why it earns no credit.
func TestBrowserAdvisory(t *testing.T) {
	f := newFixture(t)
	f.recordFacts(contosoID, advisory, true)
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	id := f.claimFor(contosoID, "SP1234567")

	b := newBrowser(t)
	b.login(ts.URL, "/claims", "anna")
	b.step("filter not eligible",
		chromedp.WaitVisible(chromedp.CSS(`select[name=eligible]`)),
		chromedp.SetValue(chromedp.CSS(`select[name=eligible]`), "no"),
		chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
		// The unfiltered page has the advisory's row too: wait for the
		// filtered one, which the server marks as selected.
		chromedp.WaitReady(chromedp.CSS(`select[name=eligible] option[value=no][selected]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.ineligible`)),
	)
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("table tbody tr").length`))
	if err != nil || rows != 1 {
		t.Errorf("?eligible=no shows %d rows (%v), want 1", rows, err)
	}
	mark, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("tr.ineligible .tag.ineligible").textContent`))
	if err != nil || mark != "advisory — not eligible" {
		t.Errorf("the row's mark = %q (%v), want advisory — not eligible", mark, err)
	}
	b.screenshot("claims-ineligible.png")

	b.step("open advisory",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/claims/%d"]`, id))),
		chromedp.WaitVisible(chromedp.CSS(`#ineligible`)),
		chromedp.WaitVisible(chromedp.CSS(`#record`)),
	)
	callout, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#ineligible").innerText`))
	if err != nil || !strings.Contains(callout, "Microsoft classifies SP1234567 as an advisory; advisories earn no credit") {
		t.Errorf("the callout says %q (%v)", callout, err)
	}
	from, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#deadline-from").innerText`))
	if err != nil || from != "counts from the incident start (Microsoft Service Health, graph)" {
		t.Errorf("the deadline %q (%v), want it counted from Microsoft's record", from, err)
	}
	b.screenshot("claim-advisory.png")
}

// TestBrowserIncident drives the incident pages in Chromium for an outage
// that hit twelve customers: the list leads to the incident, whose page
// lists every tenant's claim with what it lacks, what they lack together
// and the one request's text and package; its claims link to the claim
// page, which links back.
func TestBrowserIncident(t *testing.T) {
	f := newFixture(t)
	f.addOutage("EX400100", 12)
	ts := httptest.NewServer(f.srv)
	defer ts.Close()

	b := newBrowser(t)
	b.login(ts.URL, "/incidents", "anna")
	b.step("incident list",
		chromedp.WaitVisible(chromedp.CSS(`table#incidents a[href="/incidents/EX400100"]`)),
	)
	row, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('a[href="/incidents/EX400100"]').closest("tr").innerText`))
	if err != nil || !strings.Contains(row, "one request") || !strings.Contains(row, "12") || !strings.Contains(row, "0 ready, 12 not ready") {
		t.Errorf("EX400100's row says %q (%v), want 12 tenants, none ready, one request", row, err)
	}
	b.screenshot("incidents.png")

	b.step("open the incident",
		chromedp.Click(chromedp.CSS(`a[href="/incidents/EX400100"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#one-request`)),
		chromedp.WaitVisible(chromedp.CSS(`#lacking`)),
	)
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#incident-claims tbody tr").length`))
	if err != nil || rows != 12 {
		t.Errorf("the incident page lists %d claims (%v), want 12", rows, err)
	}
	lacking, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#lacking").innerText`))
	if err != nil || !strings.Contains(lacking, "12 claims lack Affected users") {
		t.Errorf("what the claims lack: %q (%v)", lacking, err)
	}
	details, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#details").innerText`))
	if err != nil || !strings.HasPrefix(details, "SLA credit request for incident EX400100 on behalf of 12 customer tenants") ||
		!strings.Contains(details, "12. Outage Customer 12") {
		t.Errorf("the one request's text: %.200q (%v)", details, err)
	}
	missing, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#incident-claims tbody tr td.missing").innerText`))
	if err != nil || !strings.Contains(missing, "Affected users") {
		t.Errorf("the first claim's missing items: %q (%v)", missing, err)
	}
	b.screenshot("incident.png")

	id := f.claimFor(outageTenantID(0), "EX400100")
	b.step("open a claim and come back",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#incident-claims a[href="/claims/%d"]`, id))),
		chromedp.WaitVisible(chromedp.CSS(`#incident-link`)),
		chromedp.Click(chromedp.CSS(`#incident-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#one-request`)),
	)
}
