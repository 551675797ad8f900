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
