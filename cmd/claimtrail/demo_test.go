package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

// syncBuffer is a bytes.Buffer safe to read while the demo writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The demo, as a newcomer meets it: it prints an address and credentials,
// and logging in there shows the claims the poller made from the seeded
// mailbox.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &env{stdout: &out, stderr: &errOut}, []string{"demo", "--listen", "127.0.0.1:0"})
	}()

	addrRE := regexp.MustCompile(`web app   (http://\S+)`)
	credRE := regexp.MustCompile(`log in    user "([^"]+)", password "([^"]+)"`)
	deadline := time.Now().Add(30 * time.Second)
	for !credRE.MatchString(out.String()) {
		select {
		case code := <-done:
			t.Fatalf("demo exited %d before serving; stderr: %s", code, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo printed no credentials in 30s; stdout: %s stderr: %s", out.String(), errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	text := out.String()
	if !strings.Contains(text, "17 messages: 12 accepted, 4 rejected, 1 unmatched") {
		t.Errorf("demo summary = %q, want the 17 seeded messages judged", text)
	}
	// Service Health from the demo's fake Graph: each case it points at.
	showRE := regexp.MustCompile(`claimtrail claims --config (\S+) show (\d+)    # (\w+):`)
	shows := map[string][]string{}
	for _, m := range showRE.FindAllStringSubmatch(text, -1) {
		shows[m[3]] = m[1:3]
	}
	for id, want := range map[string]string{
		"EX1187453": "incident start (Microsoft Service Health, graph)",
		"TM1191027": "not eligible: Microsoft classifies TM1191027 as an advisory",
		"CP1203317": "Microsoft lists no CP1203317 for this tenant",
		"EX1195012": "postIncidentReviewPublished",
	} {
		c, ok := shows[id]
		if !ok {
			t.Errorf("the demo points at no claim on %s:\n%s", id, text)
			continue
		}
		if code, stdout, stderr := runCmd("claims", "--config", c[0], "show", c[1]); code != exitOK || !strings.Contains(stdout, want) {
			t.Errorf("demo: claims show %s (%s) = %d, want %q in\n%s%s", c[1], id, code, want, stdout, stderr)
		}
	}
	if c, ok := shows["EX1195012"]; ok {
		zipPath := filepath.Join(t.TempDir(), "EX1195012.zip")
		runCmd("claims", "--config", c[0], "package", c[1], "-o", zipPath, "--force")
		if zr, err := zip.OpenReader(zipPath); err != nil {
			t.Errorf("demo: claims package %s: %v", c[1], err)
		} else {
			var names []string
			for _, f := range zr.File {
				names = append(names, f.Name)
			}
			zr.Close()
			if !slices.Contains(names, "incident.json") || !slices.Contains(names, "incident-report.html") {
				t.Errorf("demo: the EX1195012 claim's package holds %v, want incident.json and incident-report.html", names)
			}
		}
	}

	base := addrRE.FindStringSubmatch(text)[1]
	cred := credRE.FindStringSubmatch(text)

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	page := get(t, client, base+"/login")
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if csrf == nil {
		t.Fatalf("no CSRF token in the login page")
	}
	resp, err := client.PostForm(base+"/login", url.Values{"csrf": {csrf[1]}, "user": {cred[1]}, "password": {cred[2]}, "next": {"/claims"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/claims" {
		t.Fatalf("login: %s at %s, want 200 at /claims", resp.Status, resp.Request.URL.Path)
	}
	var claims []map[string]any
	body := get(t, client, base+"/api/v1/claims")
	if err := json.Unmarshal([]byte(body), &claims); err != nil {
		var wrapped struct{ Claims []map[string]any }
		if err2 := json.Unmarshal([]byte(body), &wrapped); err2 != nil {
			t.Fatalf("/api/v1/claims: %v: %s", err, body)
		}
		claims = wrapped.Claims
	}
	t.Logf("demo: %d claims via the API", len(claims))
	if len(claims) < 5 {
		t.Errorf("/api/v1/claims lists %d claims, want the demo's (at least 5)", len(claims))
	}
	// Every state a claim can be in, as the pages show them on the demo's
	// clock: the statuses, and the urgency of those still to be filed.
	states := map[string]int{}
	for _, c := range claims {
		states[fmt.Sprint(c["status"])]++
		if u, ok := c["urgency"].(string); ok && u != "" {
			states[u]++
		}
	}
	for _, want := range []string{"overdue", "soon", "ready", "submitted", "approved", "denied", "expired"} {
		if states[want] == 0 {
			t.Errorf("the demo has no claim %s; it has %v", want, states)
		}
	}
	page = get(t, client, base+"/claims")
	for _, want := range []string{`class="overdue"`, `class="soon"`, `badge ready`, `badge submitted`, `badge approved`, `badge denied`, `badge expired`} {
		if !strings.Contains(page, want) {
			t.Errorf("the demo's claims page lacks %s", want)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("demo exited %d after Ctrl-C; stderr: %s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop within 20s of Ctrl-C")
	}
}

func get(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	return string(b)
}

// TestDemoClock: the demo runs at a moment in the last week of a month, the
// only time a deadline (the end of a month) can be within
// claims.SoonDays, and never moves to another month.
func TestDemoClock(t *testing.T) {
	tests := []struct{ now, want string }{
		{"2026-12-07T05:27:13Z", "2026-12-29T05:27:00Z"},
		{"2026-02-01T00:00:00Z", "2026-02-26T00:00:00Z"},
		{"2028-02-10T23:59:59Z", "2028-02-27T23:59:00Z"},
		{"2026-12-25T00:00:01Z", "2026-12-29T00:00:00Z"},
		{"2026-12-26T00:00:00Z", "2026-12-26T00:00:00Z"},
		{"2026-12-31T23:00:00Z", "2026-12-31T23:00:00Z"},
		{"2026-04-24T12:00:00Z", "2026-04-28T12:00:00Z"},
		{"2026-04-25T12:00:00Z", "2026-04-25T12:00:00Z"},
	}
	for _, tt := range tests {
		now, _ := time.Parse(time.RFC3339, tt.now)
		got := demoClock(now)
		if got.Format(time.RFC3339) != tt.want {
			t.Errorf("demoClock(%s) = %s, want %s", tt.now, got.Format(time.RFC3339), tt.want)
		}
		y, m, _ := got.Date()
		deadline := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond)
		if u := claims.Urgency(claims.StatusOpen, deadline, got); u != "soon" {
			t.Errorf("demoClock(%s): a deadline at the end of the month is %q, want soon", tt.now, u)
		}
	}
}
