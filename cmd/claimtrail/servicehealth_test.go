package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/ingest/ingesttest"
	"github.com/claimtrail/claimtrail/rules"
)

// threeIncidents is the corpus mail in which Fabrikam names EX1195012,
// TM1191027 and CP1203317: one claim each.
var threeIncidents = filepath.Join("..", "..", "testdata", "mail", "accepted-fabrikam-three-incidents.eml")

// graphIssueJSON is a serviceHealthIssue as Graph sends it (enums in
// Graph's case, an unknown field, fractional seconds).
func graphIssueJSON(id, classification, status string, start, end time.Time) []byte {
	endText := ""
	if !end.IsZero() {
		endText = end.UTC().Format("2006-01-02T15:04:05.0000000Z")
	}
	b, err := json.Marshal(map[string]any{
		"id": id, "title": "Users may be unable to use " + id, "classification": classification, "status": status,
		"service": "Exchange Online", "feature": "E-Mail and calendar access", "origin": "microsoft",
		"startDateTime": start.UTC().Format("2006-01-02T15:04:05.0000000Z"), "endDateTime": endText,
		"isResolved": !end.IsZero(), "lastModifiedDateTime": end.UTC().Format(time.RFC3339), "posts": []any{},
		"someFieldAddedLater": true,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// serviceHealthSection points a configuration's service_health section at
// fake Graph g.
func serviceHealthSection(g *ingesttest.FakeGraph) string {
	return fmt.Sprintf("service_health:\n  graph_url: %s\n  login_url: %s\n  client_id: %s\n  client_secret: %s\n",
		g.URL, g.URL, ingesttest.FakeClientID, ingesttest.FakeClientSecret)
}

// claimIDs maps each claim's incident ID to its claim ID.
func claimIDs(t *testing.T, config string) map[string]string {
	t.Helper()
	code, stdout, stderr := runCLI(t, "claims", "--config", config, "list", "--json")
	if code != exitOK {
		t.Fatalf("claims list = %d: %s", code, stderr)
	}
	ids := map[string]string{}
	for line := range strings.Lines(stdout) {
		var r claimRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("claims list --json: %v in %q", err, line)
		}
		ids[r.IncidentID] = fmt.Sprint(r.ID)
	}
	return ids
}

// TestIncidentsSyncEndToEnd imports a customer's mail naming three
// incidents and syncs them from a fake Graph into a real ledger and
// directory store: an incident with a published review, an advisory and
// one Graph does not list for the tenant.
func TestIncidentsSyncEndToEnd(t *testing.T) {
	g := ingesttest.NewFakeGraph()
	defer g.Close()
	dir := t.TempDir()
	config := writeRunConfig(t, dir, serviceHealthSection(g))

	if code, _, stderr := runCLI(t, "import", "--config", config, threeIncidents); code != exitOK {
		t.Fatalf("import = %d: %s", code, stderr)
	}
	ids := claimIDs(t, config)
	if len(ids) != 3 {
		t.Fatalf("claims after import: %v, want EX1195012, TM1191027 and CP1203317", ids)
	}

	// Recent dates, so the claims are open whatever day the test runs.
	start := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute)
	end := start.Add(5*time.Hour + 30*time.Minute)
	g.AddIssue(fabrikamID, graphIssueJSON("EX1195012", "Incident", "PostIncidentReviewPublished", start, end))
	g.AddIssue(fabrikamID, graphIssueJSON("TM1191027", "advisory", "serviceRestored", start, end))
	report := []byte("%PDF-1.4\n% post-incident review of EX1195012\n")
	g.AddReport(fabrikamID, "EX1195012", report)

	code, stdout, stderr := runCLI(t, "incidents", "--config", config, "sync")
	if code != exitOK || !strings.HasPrefix(stdout, "3 read, 3 changed, 0 skipped") {
		t.Fatalf("incidents sync = %d\nstdout:\n%s\nstderr:\n%s\nwant 0 and 3 read, 3 changed", code, stdout, stderr)
	}

	// The incident: a firm deadline from Graph's start, Microsoft's record.
	deadline := rules.Deadline(start, false).Format("2006-01-02 15:04 MST")
	code, stdout, _ = runCLI(t, "claims", "--config", config, "show", ids["EX1195012"])
	wantInOrder(t, "claims show EX1195012", code, stdout, "Deadline:", deadline,
		"Counts from:", "incident start (Microsoft Service Health, graph)", "Eligible:", "yes",
		"Classification:", "incident", "Status:", "postIncidentReviewPublished", "Start:", start.Format("2006-01-02 15:04 MST"),
		"Downtime:", "5h30m0s", "Source:", "Microsoft Service Health (graph, read", "Listed:", "yes",
		"[x]  incident_listed")
	if strings.Contains(stdout, "provisional") {
		t.Errorf("claims show EX1195012: the deadline is still provisional:\n%s", stdout)
	}

	// The advisory: not eligible, so not due.
	code, stdout, _ = runCLI(t, "claims", "--config", config, "show", ids["TM1191027"])
	wantInOrder(t, "claims show TM1191027", code, stdout,
		"Eligible:", "not eligible: Microsoft classifies TM1191027 as an advisory; advisories earn no credit", "Classification:", "advisory")
	code, stdout, _ = runCLI(t, "claims", "--config", config, "due", "--within", "120d")
	if code != exitOK || !strings.Contains(stdout, "EX1195012") || strings.Contains(stdout, "TM1191027") {
		t.Errorf("claims due = %d, want EX1195012 and not the advisory TM1191027:\n%s", code, stdout)
	}

	// Not listed for the tenant: the checklist item is missing.
	code, stdout, _ = runCLI(t, "claims", "--config", config, "show", ids["CP1203317"])
	wantInOrder(t, "claims show CP1203317", code, stdout, "Listed:", "NO: Graph does not list it for this tenant",
		"[ ]  incident_listed", "MISSING", "Microsoft lists no CP1203317 for this tenant")

	// The package holds Microsoft's record and the review, as read.
	zipPath := filepath.Join(dir, "claim.zip")
	if code, _, stderr := runCLI(t, "claims", "--config", config, "package", ids["EX1195012"], "-o", zipPath); code != exitOK {
		t.Fatalf("claims package = %d: %s", code, stderr)
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		files[f.Name] = b.Bytes()
	}
	var inc bytes.Buffer
	if err := json.Compact(&inc, files["incident.json"]); err != nil {
		t.Fatalf("the package's incident.json: %v", err)
	}
	if inc := inc.Bytes(); !bytes.Contains(inc, []byte(`"classification":"incident"`)) || !bytes.Contains(inc, []byte("someFieldAddedLater")) {
		t.Errorf("the package's incident.json does not hold Graph's reading as read:\n%s", inc)
	}
	if got := files["incident-report.pdf"]; !bytes.Equal(got, report) {
		t.Errorf("the package's incident-report.pdf = %q, want the report Graph gave %q (files: %v)", got, report, keys(files))
	}

	// Syncing again changes nothing; the report is not fetched twice.
	reports := g.Requests("report")
	if code, stdout, _ := runCLI(t, "incidents", "--config", config, "sync"); code != exitOK || !strings.HasPrefix(stdout, "3 read, 0 changed") {
		t.Errorf("incidents sync again = %d: %s, want 3 read, 0 changed", code, stdout)
	}
	if g.Requests("report") > reports+1 {
		t.Errorf("the second sync asked for the report %d more times", g.Requests("report")-reports)
	}
}

// wantInOrder fails the test unless code is 0 and stdout holds wants in
// this order.
func wantInOrder(t *testing.T, what string, code int, stdout string, wants ...string) {
	t.Helper()
	rest := stdout
	for _, w := range wants {
		i := strings.Index(rest, w)
		if code != exitOK || i < 0 {
			t.Errorf("%s = %d, want %q (in order of %q) in\n%s", what, code, w, wants, stdout)
			return
		}
		rest = rest[i+len(w):]
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRunRefreshesServiceHealth: run, with a service_health section, reads
// the claims' incidents from Graph by itself, and again every refresh: an
// issue Microsoft reclassifies as an advisory makes its claim ineligible.
func TestRunRefreshesServiceHealth(t *testing.T) {
	g := ingesttest.NewFakeGraph()
	defer g.Close()
	start := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Minute)
	g.AddIssue(fabrikamID, graphIssueJSON("EX1195012", "incident", "serviceRestored", start, start.Add(time.Hour)))
	g.AddIssue(fabrikamID, graphIssueJSON("TM1191027", "incident", "serviceRestored", start, start.Add(time.Hour)))

	password := randomSecret()
	imapAddr, stopIMAP, err := startDemoIMAP(password, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer stopIMAP()
	host, port, _ := strings.Cut(imapAddr, ":")
	dir := t.TempDir()
	config := writeRunConfig(t, dir, serviceHealthSection(g)+fmt.Sprintf(`mailboxes:
  - name: shared
    host: %s
    port: %s
    security: insecure
    username: %s
    password: %q
`, host, port, demoMailbox, password))

	old := healthRefreshEvery
	healthRefreshEvery = func(*ServiceHealthConfig) time.Duration { return 50 * time.Millisecond }
	defer func() { healthRefreshEvery = old }()

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &env{stdout: &stdout, stderr: &stderr}, []string{"run", "--config", config, "--no-web"})
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("run = %d\nstderr:\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("run did not stop within 30s of its context's end")
		}
	}()

	// waitFor polls claims show until it holds want, or gives up.
	waitFor := func(incident, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var last string
		for time.Now().Before(deadline) {
			select {
			case code := <-done:
				t.Fatalf("run exited early with %d\nstderr:\n%s", code, stderr.String())
			default:
			}
			ids := map[string]string{}
			if code, out, _ := runCmd("claims", "--config", config, "list", "--json"); code == exitOK {
				for line := range strings.Lines(out) {
					var r claimRow
					if json.Unmarshal([]byte(line), &r) == nil && r.TenantID == fabrikamID {
						ids[r.IncidentID] = fmt.Sprint(r.ID)
					}
				}
			}
			if id, ok := ids[incident]; ok {
				if _, out, _ := runCmd("claims", "--config", config, "show", id); strings.Contains(out, want) {
					return
				} else {
					last = out
				}
			}
			time.Sleep(50 * time.Millisecond) // polling, not an assertion
		}
		t.Fatalf("after 30s, claims show %s has no %q:\n%s\nrun's stderr:\n%s", incident, want, last, stderr.String())
	}
	waitFor("EX1195012", "incident start (Microsoft Service Health, graph)")
	waitFor("TM1191027", "Microsoft Service Health (graph, read")

	// Microsoft reclassifies TM1191027; the next refresh sees it.
	g.AddIssue(fabrikamID, graphIssueJSON("TM1191027", "advisory", "serviceRestored", start, start.Add(time.Hour)))
	waitFor("TM1191027", "not eligible: Microsoft classifies TM1191027 as an advisory")
}
