package web

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSearch drives the header's search box in Chromium: an
// incident ID leads to the search page with its sections and counts, a
// section's link to the filtered list, and a row to the message.
func TestBrowserSearch(t *testing.T) {
	f := newFixture(t)
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	b := newBrowser(t)
	b.login(ts.URL, "/claims", "vera")
	text := func(selector string) string {
		t.Helper()
		s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector)))
		if err != nil {
			t.Fatalf("read %s: %v", selector, err)
		}
		return s
	}
	b.step("search an incident from the header",
		chromedp.WaitVisible(chromedp.CSS(`header form[role=search] input[name=q]`)),
		chromedp.SendKeys(chromedp.CSS(`header form[role=search] input[name=q]`), "ex315207"),
		chromedp.Submit(chromedp.CSS(`header form[role=search] input[name=q]`)),
		chromedp.WaitVisible(chromedp.CSS(`#search-messages`)),
	)
	for sel, want := range map[string]string{
		`#search-claims .count`: "1", `#search-messages .count`: "3", `#search-tenants .count`: "1",
		`p.sub`: "“ex315207” is read as incident EX315207",
	} {
		if got := strings.TrimSpace(text(sel)); got != want {
			t.Errorf("%s = %q, want %q", sel, got, want)
		}
	}
	value, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("header form[role=search] input[name=q]").value`))
	if err != nil || value != "ex315207" {
		t.Errorf("the header's box holds %q (%v), want the search", value, err)
	}
	b.screenshot("search.png")

	b.step("open the messages it found as a list",
		chromedp.Click(chromedp.CSS(`#search-messages a[href^="/messages?q="]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.messages tbody tr`)),
	)
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("table.messages tbody tr").length`))
	if err != nil || rows != 3 {
		t.Errorf("the filtered messages list has %d rows (%v), want 3", rows, err)
	}
	b.step("open a message",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`table.messages a[href="/messages/%s"]`, f.sha["gmail"]))),
		chromedp.WaitVisible(chromedp.CSS(`main h1`)),
	)
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/messages/"+f.sha["gmail"]) {
		t.Errorf("at %q (%v), want the message's page", loc, err)
	}
}

// TestBrowserPaging drives the messages list and the tenants list in
// Chromium: one row a page, the sort kept in the next page's link, and
// the total on every page.
func TestBrowserPaging(t *testing.T) {
	f := newFixture(t)
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	b := newBrowser(t)
	b.login(ts.URL, "/messages?limit=2", "vera")
	b.step("sort oldest first",
		chromedp.WaitVisible(chromedp.CSS(`select[name=sort]`)),
		chromedp.SetValue(chromedp.CSS(`select[name=sort]`), "oldest"),
		chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
		chromedp.WaitReady(chromedp.CSS(`select[name=sort] option[value=oldest][selected]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.messages tbody tr`)),
	)
	// The filter form has no limit field: the sorted list pages by 100,
	// so one page holds every fixture message.
	firstSHA := func() string {
		t.Helper()
		s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("table.messages tbody a").getAttribute("href")`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if got, want := firstSHA(), "/messages/"+f.sha[fixtureMails[0].name]; got != want {
		t.Errorf("oldest first starts with %s, want %s", got, want)
	}
	b.step("page by one, oldest first", chromedp.Navigate(ts.URL+"/messages?sort=oldest&limit=1"))
	for i, m := range fixtureMails {
		// Each page is known by the one message it must show.
		b.step(fmt.Sprintf("page %d", i+1),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`table.messages a[href="/messages/%s"]`, f.sha[m.name]))))
		if total := strings.Fields(textOf(t, b, `p.sub span`)); len(total) == 0 || total[0] != fmt.Sprint(len(fixtureMails)) {
			t.Errorf("page %d shows total %q, want %d", i+1, total, len(fixtureMails))
		}
		next, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector("a[rel=next]") || {href: ""}).href`))
		if err != nil {
			t.Fatal(err)
		}
		if last := i == len(fixtureMails)-1; last != (next == "") {
			t.Fatalf("page %d of %d: next link %q", i+1, len(fixtureMails), next)
		}
		if next == "" {
			break
		}
		if !strings.Contains(next, "sort=oldest") {
			t.Errorf("the next page's link %s lost the sort", next)
		}
		b.step(fmt.Sprintf("to page %d", i+2), chromedp.Click(chromedp.CSS(`a[rel=next]`)))
	}
	b.screenshot("messages.png")

	b.step("tenants, name Z to A",
		chromedp.Navigate(ts.URL+"/tenants?sort=-name&limit=1"),
		chromedp.WaitVisible(chromedp.CSS(`table tbody tr`)),
	)
	if got := textOf(t, b, `table tbody td`); got != "Fabrikam, Inc." {
		t.Errorf("first tenant Z to A = %q, want Fabrikam, Inc.", got)
	}
	b.step("next tenant",
		chromedp.Click(chromedp.CSS(`a[rel=next]`)),
		chromedp.WaitVisible(chromedp.CSS(`table a[href="/claims?tenant=`+contosoID+`"]`)),
	)
	if got := textOf(t, b, `table tbody td`); got != "Contoso Ltd" {
		t.Errorf("second tenant Z to A = %q, want Contoso Ltd", got)
	}
	if sel, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("select[name=sort]").value`)); err != nil || sel != "-name" {
		t.Errorf("the second page's sort = %q (%v), want -name", sel, err)
	}
}

// textOf is the text of the first element selector matches, "" if none.
func textOf(t *testing.T, b *browserSession, selector string) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector)))
	if err != nil {
		t.Fatalf("read %s: %v", selector, err)
	}
	return s
}
