package web

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the browser test's screenshots to testdata/screenshots")

// screenshotDir is where every run of the browser test saves its
// screenshots: $CLAIMTRAIL_SCREENSHOT_DIR, else claimtrail-screenshots in
// the temporary directory. The ones kept in the repository, in
// testdata/screenshots, are rewritten with -update-screenshots.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CLAIMTRAIL_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "claimtrail-screenshots")
	}
	if *updateScreenshots {
		dir = filepath.Join("testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromiumPath finds the browser: $CLAIMTRAIL_CHROMIUM, else Debian's.
// Without one the test skips, except in CI, where it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CLAIMTRAIL_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found at %s (set CLAIMTRAIL_CHROMIUM; scripts/test.sh installs it): %v", path, err)
		}
		t.Skipf("chromium not found at %s; set CLAIMTRAIL_CHROMIUM or run scripts/test.sh", path)
	}
	return path
}

// TestBrowser drives headless Chromium through the app as an analyst:
// log in, open a claim, fill a missing checklist item, download a bundle
// and compare its bytes, and check that a subject holding markup is shown
// as text and runs nothing.
func TestBrowser(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	ts := httptest.NewServer(f.srv)
	defer ts.Close()

	b := newBrowser(t)
	ctx, step, screenshot := b.ctx, b.step, b.screenshot

	// Log in.
	step("log in",
		chromedp.Navigate(ts.URL+"/claims"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "anna"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`table tbody tr`)),
	)
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("table tbody tr").length`))
	if err != nil || rows != 3 {
		t.Fatalf("claims table has %d rows (%v), want 3", rows, err)
	}
	overdue, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("tr.overdue a").textContent`))
	if err != nil || overdue != "TM1112332" {
		t.Errorf("overdue row = %q (%v), want TM1112332", overdue, err)
	}
	screenshot("claims.png")

	// Open the claim whose evidence has the hostile subject.
	id := f.claimFor(contosoID, "EX315207")
	step("open claim",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/claims/%d"]`, id))),
		chromedp.WaitVisible(chromedp.CSS(`#checklist`)),
	)
	subject, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('a[href^="/messages/"]').textContent`))
	if err != nil || subject != xssSubject {
		t.Errorf("evidence subject shows as %q (%v), want the text %q", subject, err, xssSubject)
	}
	imgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("img").length`))
	if err != nil || imgs != 0 {
		t.Errorf("the claim page has %d img elements (%v), want 0: the subject became markup", imgs, err)
	}

	// Fill a missing item: the support ticket.
	step("fill ticket",
		chromedp.SendKeys(chromedp.CSS(`#item-ticket input[name=value]`), "2602150040001234"),
		chromedp.Click(chromedp.CSS(`#item-ticket button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	c, err := f.ledger.Claim(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Fields[claims.FieldTicket]; got.Value != "2602150040001234" || got.Actor != "anna" {
		t.Errorf("ticket after the form = %+v, want 2602150040001234 set by anna", got)
	}
	ticketShown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#item-ticket .value").textContent`))
	if err != nil || ticketShown != "2602150040001234" {
		t.Errorf("ticket on the page = %q (%v)", ticketShown, err)
	}
	step("reload claim", chromedp.Navigate(fmt.Sprintf("%s/claims/%d", ts.URL, id)), chromedp.WaitVisible(chromedp.CSS(`#checklist`)))
	screenshot("claim.png")

	// Download the evidence bundle and compare its bytes.
	dir := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true)}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	step("click download", chromedp.Click(chromedp.CSS(`a[href$="/bundle"]`)))
	var guid string
	for ev, err := range progress {
		if err != nil {
			t.Fatalf("waiting for the download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			t.Fatalf("download canceled")
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			guid = ev.GUID
			break
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, guid))
	if err != nil {
		t.Fatal(err)
	}
	if want := f.bundle["xss"]; !bytes.Equal(got, want) {
		t.Errorf("downloaded bundle: %d bytes, want the stored %d bytes", len(got), len(want))
	}
	if audit := strings.Join(f.auditActions(), "\n"); !strings.Contains(audit, "anna bundle_downloaded message:"+f.sha["xss"]) {
		t.Errorf("the download is not in the audit trail as anna's:\n%s", audit)
	}

	// The hostile subject on the message and audit pages too.
	for _, path := range []string{"/messages/" + f.sha["xss"], "/audit?subject=" + f.sha["xss"]} {
		step("open "+path, chromedp.Navigate(ts.URL+path), chromedp.WaitVisible(chromedp.CSS(`main`)))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("img").length`))
		if err != nil || n != 0 {
			t.Errorf("%s has %d img elements (%v), want 0", path, n, err)
		}
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").textContent`))
		if err != nil || !strings.Contains(text, xssSubject) {
			t.Errorf("%s does not show the subject as text (%v)", path, err)
		}
	}
	step("open triage", chromedp.Navigate(ts.URL+"/triage"), chromedp.WaitVisible(chromedp.CSS(`.triage-item`)))
	screenshot("triage.png")
	// Give a late onerror handler the chance to fire before the check.
	step("settle", chromedp.Sleep(300*time.Millisecond))
}

func ptr[T any](v T) *T { return &v }

// browserSession is a headless Chromium bound to a test: step runs actions
// and fails the test with the page's text when one fails; screenshot saves
// the page. Any JavaScript dialog fails the test.
type browserSession struct {
	ctx        context.Context
	step       func(name string, steps ...chromedp.Action[chromedp.Void])
	screenshot func(name string)
}

// newBrowser starts Chromium for t; opts add to the command line (a
// locale: chromedp.Flag("lang", "en-US")).
func newBrowser(t *testing.T, opts ...chromedp.ExecAllocatorOption) *browserSession {
	exe := chromiumPath(t)
	// One bound for everything the browser does.
	parent, cancelAll := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancelAll)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}, opts...)...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)

	// Any JavaScript dialog fails the test: the page must run nothing of
	// the mail's.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var dialogMu sync.Mutex
	var dialogs []string
	dialogEvents := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogEvents {
			if err != nil {
				return
			}
			dialogMu.Lock()
			dialogs = append(dialogs, fmt.Sprintf("%s: %q", ev.Type, ev.Message))
			dialogMu.Unlock()
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	t.Cleanup(func() {
		dialogMu.Lock()
		defer dialogMu.Unlock()
		if len(dialogs) > 0 {
			t.Errorf("the page opened JavaScript dialogs: %s", strings.Join(dialogs, "; "))
		}
	})

	step := func(name string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			where, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 500)`))
			t.Fatalf("%s: %v; the page at %s", name, err, where)
		}
	}
	shots := screenshotDir(t)
	screenshot := func(name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name)
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot saved: %s", path)
	}

	return &browserSession{ctx: ctx, step: step, screenshot: screenshot}
}

// login logs user in through the login form, starting at path.
func (b *browserSession) login(base, path, user string) {
	b.step("log in as "+user,
		chromedp.Navigate(base+path),
		chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`main`)),
	)
}

// TestBrowserDecisions drives an analyst's decisions through Chromium:
// attach triage mail to a mistyped incident, which asks to confirm, then
// detach it from the claim that opened, which is left without evidence.
func TestBrowserDecisions(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	b := newBrowser(t)
	ctx, step := b.ctx, b.step
	text := func(selector string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector)))
		if err != nil {
			t.Fatalf("read %s: %v", selector, err)
		}
		return s
	}
	sha := f.sha["noid"]
	attachForm := fmt.Sprintf(`form[action="/triage/%s/attach"]`, sha)
	step("log in",
		chromedp.Navigate(ts.URL+"/triage"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "anna"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(attachForm)),
	)

	// A typo: the page asks to confirm, saying why, and attaches nothing.
	step("attach to a typo",
		chromedp.SendKeys(chromedp.CSS(attachForm+` input[name=incident]`), "ZZ9999999"),
		chromedp.Click(chromedp.CSS(attachForm+` button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#confirm button`)),
	)
	if msg := text("p.error"); !strings.Contains(msg, "ZZ is not a known incident prefix") || !strings.Contains(msg, "attaching opens one") {
		t.Errorf("error after attaching to ZZ9999999 = %q, want the unknown prefix and the new claim named", msg)
	}
	if button := text("#confirm button"); button != "Attach anyway" {
		t.Errorf("confirm button = %q, want Attach anyway", button)
	}
	if _, err := f.ledger.ClaimFor(context.Background(), contosoID, "ZZ9999999"); err == nil {
		t.Error("an unconfirmed attach opened the ZZ9999999 claim")
	}
	step("attach anyway",
		chromedp.Click(chromedp.CSS(`#confirm button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	id := f.claimFor(contosoID, "ZZ9999999")

	// Detach it again, with a note: the claim has no evidence left.
	step("open the claim",
		chromedp.Navigate(fmt.Sprintf("%s/claims/%d", ts.URL, id)),
		chromedp.WaitVisible(chromedp.CSS(`form.detach`)),
	)
	if by := text(".attached-by"); by != "attached by anna" {
		t.Errorf("evidence says %q, want attached by anna", by)
	}
	step("detach",
		chromedp.SendKeys(chromedp.CSS(`form.detach input[name=note]`), "typo in the incident ID"),
		chromedp.Click(chromedp.CSS(`form.detach button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#no-evidence`)),
	)
	if notice := text("p.notice"); !strings.Contains(notice, "Detached") {
		t.Errorf("notice after detaching = %q", notice)
	}
	c, err := f.ledger.Claim(context.Background(), id)
	if err != nil || len(c.Evidence) != 0 {
		t.Errorf("claim after detaching = %+v (%v), want no evidence", c, err)
	}
	if audit := strings.Join(f.auditActions(), "\n"); !strings.Contains(audit, fmt.Sprintf("anna evidence_detached claim:%d", id)) {
		t.Errorf("the detach is not in the audit trail as anna's:\n%s", audit)
	}
}
