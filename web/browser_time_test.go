package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/claimtrail/claimtrail/claims"
)

// TestBrowserTimePicker: in a browser whose locale writes 12-hour times
// (en-US), the claim page's downtime start still shows and takes 17:05,
// in UTC, and the checklist shows the time as every page does.
func TestBrowserTimePicker(t *testing.T) {
	f := newFixture(t)
	id := f.claimFor(contosoID, "EX315207")
	if err := f.ledger.SetClaimField(context.Background(), id, claims.FieldDowntimeStart, "2026-02-15T17:05:00Z", "anna"); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	b := newBrowser(t, chromedp.Flag("lang", "en-US"), chromedp.Env("LANG=en_US.UTF-8", "LANGUAGE=en_US"))
	b.login(ts.URL, fmt.Sprintf("/claims/%d", id), "anna")
	b.step("open the claim", chromedp.WaitVisible(chromedp.CSS(`#checklist`)))
	str := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	if lang := str(`navigator.language`); lang != "en-US" {
		t.Fatalf("navigator.language = %q, want en-US: the test needs a 12-hour locale", lang)
	}
	// The locale's own rendering of 17:05 is 12-hour: what a locale-bound
	// picker (datetime-local) would show.
	if us := str(`new Date(Date.UTC(2026, 1, 15, 17, 5)).toLocaleTimeString([], {timeZone: "UTC", hour: "numeric", minute: "2-digit"})`); !strings.Contains(us, "PM") {
		t.Fatalf("the browser's locale shows 17:05 as %q, want a 12-hour time", us)
	}
	input := `#item-downtime_start input[name=value]`
	if typ := str(fmt.Sprintf(`document.querySelector(%q).type`, input)); typ != "text" {
		t.Errorf("the downtime start input is type %q, want text: a date or time input follows the browser's locale", typ)
	}
	if n := str(`String(document.querySelectorAll('input[type="datetime-local"], input[type="time"]').length)`); n != "0" {
		t.Errorf("the claim page has %s locale-bound time inputs, want none", n)
	}
	if v := str(fmt.Sprintf(`document.querySelector(%q).value`, input)); v != "2026-02-15 17:05" {
		t.Errorf("downtime start input shows %q, want 2026-02-15 17:05", v)
	}
	if v := str(`document.querySelector("#item-downtime_start .value").textContent`); v != "2026-02-15 17:05 UTC" {
		t.Errorf("downtime start shows %q, want 2026-02-15 17:05 UTC", v)
	}

	// Change it through the form, as an analyst types it.
	b.step("open the downtime start form", chromedp.Click(chromedp.CSS(`#item-downtime_start summary`)), chromedp.WaitVisible(chromedp.CSS(input)))
	str(fmt.Sprintf(`document.querySelector(%q).value = ""`, input))
	b.step("set the downtime start",
		chromedp.SendKeys(chromedp.CSS(input), "2026-02-16 21:45"),
		chromedp.Click(chromedp.CSS(`#item-downtime_start button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	if v := str(`document.querySelector("#item-downtime_start .value").textContent`); v != "2026-02-16 21:45 UTC" {
		t.Errorf("after the form, downtime start shows %q, want 2026-02-16 21:45 UTC", v)
	}
	c, err := f.ledger.Claim(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Fields[claims.FieldDowntimeStart].Value; got != "2026-02-16T21:45:00Z" {
		t.Errorf("downtime start stored as %q, want 2026-02-16T21:45:00Z", got)
	}
}
