package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
)

// TestBrowserReopen drives the claim page in Chromium: a submitted claim
// shows read-only fields and is reopened by an analyst from the status
// form; an expired one offers an analyst nothing and an admin a reopening
// that needs a note.
func TestBrowserReopen(t *testing.T) {
	f := newFixture(t)
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	ctx := context.Background()
	id := f.claimFor(contosoID, "SP1234567")
	for field, v := range map[claims.Field]string{claims.FieldDowntimeStart: "2026-03-20T08:00:00Z", claims.FieldDowntimeDuration: "4h",
		claims.FieldAffectedUsers: "40", claims.FieldLocations: "Prague", claims.FieldResolution: "waited", claims.FieldTicket: "T-7"} {
		if err := f.ledger.SetClaimField(ctx, id, field, v, "anna"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.ledger.SetClaimStatus(ctx, id, claims.StatusSubmitted, claims.Actor{Name: "anna"}, "PC 1"); err != nil {
		t.Fatal(err)
	}
	claimURL := fmt.Sprintf("%s/claims/%d", ts.URL, id)

	b := newBrowser(t)
	b.login(ts.URL, fmt.Sprintf("/claims/%d", id), "anna")
	text := func() string {
		s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	count := func(css string) int {
		n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, css)))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	b.step("submitted claim", chromedp.WaitVisible(chromedp.CSS(`#read-only`)))
	if n := count(`form[action$="/fields"]`); n != 0 || strings.Contains(text(), "days left") {
		t.Errorf("a submitted claim shows %d field forms or days left", n)
	}
	b.screenshot("claim-submitted.png")
	b.step("reopen",
		chromedp.SetValue(chromedp.CSS(`#status`), "open"),
		chromedp.Click(chromedp.CSS(`form[action$="/status"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	if c, _ := f.ledger.Claim(ctx, id); c.Status != claims.StatusReady {
		t.Errorf("after reopening in the browser the claim is %s, want ready (its checklist is complete)", c.Status)
	}
	if n := count(`form[action$="/fields"]`); n == 0 || count(`#read-only`) != 0 || !strings.Contains(text(), "days left") {
		t.Errorf("the reopened claim page shows %d field forms, a read-only note or no days left", n)
	}

	// Expired: an analyst is offered nothing; an admin reopens with a note.
	if err := f.ledger.SetClaimStatus(ctx, id, claims.StatusExpired, claims.Actor{Name: "anna"}, "given up"); err != nil {
		t.Fatal(err)
	}
	b.step("expired claim as analyst", chromedp.Navigate(claimURL), chromedp.WaitVisible(chromedp.CSS(`#read-only`)))
	if n := count(`form[action$="/status"]`); n != 0 || !strings.Contains(text(), "An admin can reopen it with a note") {
		t.Errorf("an analyst sees %d status forms on an expired claim, or no word of who can reopen it", n)
	}
	b.step("log out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)))
	b.login(ts.URL, fmt.Sprintf("/claims/%d", id), "adam")
	b.step("expired claim as admin", chromedp.WaitVisible(chromedp.CSS(`#status`)))
	b.step("reopen without a note",
		chromedp.SetValue(chromedp.CSS(`#status`), "open"),
		chromedp.Click(chromedp.CSS(`form[action$="/status"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.error, p.error, [role=alert]`)),
	)
	if !strings.Contains(text(), "needs a note") {
		t.Errorf("reopening without a note: the page does not ask for one:\n%.600s", text())
	}
	b.step("reopen with a note",
		chromedp.SetValue(chromedp.CSS(`#status`), "open"),
		chromedp.SendKeys(chromedp.CSS(`input[name=note]`), "expired by a mis-click"),
		chromedp.Click(chromedp.CSS(`form[action$="/status"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	if c, _ := f.ledger.Claim(ctx, id); !claims.Fileable(c.Status) {
		t.Errorf("after an admin reopened it the claim is %s", c.Status)
	}
	b.screenshot("claim-reopened.png")
}

// TestBrowserConfirmStatus: a status change its user cannot take back
// (an analyst marking a claim expired: only an admin reopens it) asks
// first, in Chromium; nothing changes until the user confirms.
func TestBrowserConfirmStatus(t *testing.T) {
	f := newFixture(t)
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	ctx := context.Background()
	id := f.claimFor(contosoID, "SP1234567")
	b := newBrowser(t)
	b.login(ts.URL, fmt.Sprintf("/claims/%d", id), "anna")
	b.step("mark expired",
		chromedp.WaitVisible(chromedp.CSS(`#status`)),
		chromedp.SetValue(chromedp.CSS(`#status`), "expired"),
		chromedp.SendKeys(chromedp.CSS(`input[name=note]`), "customer gave up"),
		chromedp.Click(chromedp.CSS(`.actions form[action$="/status"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-status`)),
	)
	if c, _ := f.ledger.Claim(ctx, id); c.Status == claims.StatusExpired {
		t.Fatalf("the claim expired before the analyst confirmed")
	}
	msg, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#confirm-status").innerText`))
	if err != nil || !strings.Contains(msg, "Only an admin can reopen") {
		t.Errorf("the confirmation says %q (%v), want why it cannot be undone", msg, err)
	}
	b.screenshot("claim-confirm-status.png")
	b.step("confirm",
		chromedp.Click(chromedp.CSS(`#confirm-status button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	c, err := f.ledger.Claim(ctx, id)
	if err != nil || c.Status != claims.StatusExpired {
		t.Fatalf("after confirming the claim is %v (%v), want expired", c.Status, err)
	}
	entries, err := f.ledger.AuditEntries(ctx, archive.AuditFilter{Subject: fmt.Sprintf("claim:%d", id), Limit: 1})
	if err != nil || len(entries) != 1 || !strings.Contains(string(entries[0].Details), "customer gave up") {
		t.Errorf("the status change's audit entry = %v (%v), want the note kept through the confirmation", entries, err)
	}
}
