package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/claimtrail/claimtrail/archive"
)

// phoneWidth is a phone's viewport in CSS pixels (an iPhone 12 to 15).
const (
	phoneWidth  = 390
	phoneHeight = 844
)

// TestBrowserPhone opens every page at a phone's width: none scrolls
// sideways, the user name and the Log out button are on screen, and the
// audit page, with a busy trail of long entries, stays a sane height. It
// saves phone-*.png screenshots.
func TestBrowserPhone(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	ctx := context.Background()
	// A busy trail: what a day of ingest and re-judging writes, with long
	// details (reasons, hashes, subjects) that must not widen the page.
	for i := range 400 {
		details := map[string]any{
			"sha256":   f.sha["xss"],
			"reason":   "the sender's domain is not listed for any tenant in the registry; add it or attach the mail by hand",
			"subject":  fmt.Sprintf("RE: [EXTERNAL] Service incident EX31520%d — Exchange Online mail flow delayed for users in EMEA, ticket 2602150040001234", i%10),
			"verdict":  "rejected",
			"previous": map[string]any{"verdict": "unmatched", "rules_version": "2026.03.1", "incident_ids": []string{"EX315207", "TM1112332"}},
		}
		if _, err := f.ledger.AppendAudit(ctx, "system", archive.ActionReprocessed, "message:"+f.sha["xss"], details); err != nil {
			t.Fatal(err)
		}
	}
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)

	b := newBrowser(t)
	b.step("phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulatePortrait))

	eval := func(what, js string) float64 {
		t.Helper()
		v, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	// fits checks what every page must do at phone width.
	fits := func(name string, loggedIn bool) {
		t.Helper()
		if w := eval("scroll width", `document.documentElement.scrollWidth`); w > phoneWidth {
			wide, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(`[...document.querySelectorAll("main *, header *")].filter(e => e.getBoundingClientRect().right > %d.5).slice(0, 5).map(e => e.tagName + "." + e.className + " " + (e.textContent || "").slice(0, 40)).join("\n")`, phoneWidth)))
			t.Errorf("%s: the page is %v px wide at %d px, it scrolls sideways; too wide:\n%s", name, w, phoneWidth, wide)
		}
		if loggedIn {
			for _, sel := range []string{`header.top .who`, `header.top .logout button`} {
				js := fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
					return r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= %d && r.bottom <= %d ? 1 : 0 })()`, sel, phoneWidth, phoneHeight)
				if eval(sel, js) != 1 {
					t.Errorf("%s: %s is not inside the %dx%d viewport", name, sel, phoneWidth, phoneHeight)
				}
			}
		}
		b.screenshot("phone-" + name + ".png")
	}
	open := func(path, waitFor string) {
		t.Helper()
		b.step("open "+path, chromedp.Navigate(ts.URL+path), chromedp.WaitVisible(chromedp.CSS(waitFor)))
	}

	open("/claims", `input[name=user]`)
	fits("login", false)
	b.step("log in as adam",
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "adam"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`table tbody tr`)),
	)
	fits("claims", true)

	id := f.claimFor(contosoID, "EX315207")
	pages := []struct{ name, path, waitFor string }{
		{"claim", fmt.Sprintf("/claims/%d", id), `#checklist`},
		{"message", "/messages/" + f.sha["xss"], `main h1`},
		{"triage", "/triage", `.triage-item`},
		{"incidents", "/incidents", `table tbody tr`},
		{"incident", "/incidents/EX315207", `table tbody tr`},
		{"tenants", "/tenants", `table tbody tr`},
		{"audit", "/audit", `table tbody tr`},
		{"error", "/claims/999999", `main h1`},
	}
	for _, p := range pages {
		open(p.path, p.waitFor)
		fits(p.name, true)
	}

	// The audit page: a page of entries, each a few lines high at most.
	open("/audit", `table tbody tr`)
	height := eval("audit height", `document.documentElement.scrollHeight`)
	rows := eval("audit rows", `document.querySelectorAll("main table tbody tr").length`)
	t.Logf("audit page at %d px wide: %v px tall, %v entries", phoneWidth, height, rows)
	if rows != auditPageLimit {
		t.Errorf("audit page shows %v entries, want a page of %d", rows, auditPageLimit)
	}
	if perEntry := height / rows; perEntry > 200 {
		t.Errorf("audit page: %v px for %v entries, %v px an entry; want at most 200", height, rows, perEntry)
	}
	if eval("older link", `document.querySelectorAll('main a[href^="/audit?"][href*="cursor="]').length`) != 1 {
		t.Errorf("audit page: no link to the older entries")
	}
}
