package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// Paths relative to the repository root, where the inspect tests run
// (t.Chdir), so that the "file" fields read as a user would type them.
const (
	corpusDir = "testdata/mail"
	goldenDir = "cmd/claimtrail/testdata/golden"
)

// runCLI runs claimtrail with args and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), &env{stdout: &out, stderr: &errOut}, args)
	return code, out.String(), errOut.String()
}

func corpusFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 45 {
		t.Fatalf("%d messages in %s, want at least 45", len(files), corpusDir)
	}
	slices.Sort(files)
	return files
}

// inspectJSON runs inspect --json over files and returns the results by
// file, checking each line's shape on the way.
func inspectJSON(t *testing.T, config string, files []string) map[string]inspectResult {
	t.Helper()
	code, stdout, stderr := runCLI(t, append([]string{"inspect", "--config", config, "--json"}, files...)...)
	if code != exitOK {
		t.Fatalf("inspect exit code = %d, want %d; stderr:\n%s", code, exitOK, stderr)
	}
	got := map[string]inspectResult{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		checkJSONShape(t, line)
		var r inspectResult
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("inspect line %s: %v", line, err)
		}
		got[r.File] = r
	}
	if len(got) != len(files) {
		t.Fatalf("inspect printed %d results for %d files:\n%s", len(got), len(files), stdout)
	}
	return got
}

// checkJSONShape asserts that a line has exactly the documented fields and
// that the lists are arrays, never null.
func checkJSONShape(t *testing.T, line []byte) {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		t.Fatalf("inspect line is not a JSON object: %s: %v", line, err)
	}
	want := []string{"authentication", "file", "incident_ids", "message_id", "reason", "sender", "sender_domain", "tenant_id", "verdict", "warnings"}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, want) {
		t.Errorf("inspect line has fields %q, want exactly %q", keys, want)
	}
	for _, k := range []string{"incident_ids", "warnings"} {
		if !bytes.HasPrefix(fields[k], []byte("[")) {
			t.Errorf("inspect line: %s = %s, want an array: %s", k, fields[k], line)
		}
	}
	var r inspectResult
	if err := json.Unmarshal(line, &r); err == nil {
		if (r.Reason == "") != (r.Verdict == "accepted") {
			t.Errorf("inspect line: verdict %q with reason %q; the reason is empty exactly when accepted", r.Verdict, r.Reason)
		}
	}
}

// TestInspectGolden compares each message's JSON line with its golden
// file; go test ./cmd/claimtrail -update rewrites them. TestInspectExpected
// keeps the goldens honest.
func TestInspectGolden(t *testing.T) {
	t.Chdir("../..")
	files := corpusFiles(t)
	got := inspectJSON(t, "testdata/config.yaml", files)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".eml")
		golden := filepath.Join(goldenDir, name+".json")
		b, err := json.MarshalIndent(got[file], "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
		if *update {
			if err := os.WriteFile(golden, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Errorf("%s: %v (run go test ./cmd/claimtrail -update to create it)", name, err)
			continue
		}
		if !bytes.Equal(b, want) {
			t.Errorf("inspect %s =\n%s\nwant (%s)\n%s", file, b, golden, want)
		}
	}
	// A golden file whose message is gone would silently pass forever.
	goldens, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		eml := filepath.Join(corpusDir, strings.TrimSuffix(filepath.Base(g), ".json")+".eml")
		if _, ok := got[eml]; !ok {
			t.Errorf("%s has no message %s; delete it", g, eml)
		}
	}
}

// expectation is one row of testdata/mail/EXPECTED.tsv: the verdict a
// message was written to get, before any golden file existed.
type expectation struct {
	file, verdict, reason, tenant, auth, incidents, why string
	line                                                int
}

// readExpected reads dir/EXPECTED.tsv, keyed by file name.
func readExpected(t *testing.T, dir string) map[string]expectation {
	t.Helper()
	path := dir + "/EXPECTED.tsv"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]expectation{}
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			t.Fatalf("%s:%d: %d columns, want 7", path, i+1, len(f))
		}
		e := expectation{file: f[0], verdict: f[1], reason: f[2], tenant: f[3], auth: f[4], incidents: f[5], why: f[6], line: i + 1}
		if _, dup := out[e.file]; dup {
			t.Fatalf("%s:%d: %s is listed twice", path, i+1, e.file)
		}
		out[e.file] = e
	}
	return out
}

// corpusCounts counts the messages of the corpus in dir by intended
// verdict, from its EXPECTED.tsv, and gives the count line that import and
// run --once print for it: "81 messages: 36 accepted, 42 rejected, 3
// unmatched".
func corpusCounts(t *testing.T, dir string) (byVerdict map[string]int, total int, line string) {
	t.Helper()
	byVerdict = map[string]int{}
	for _, e := range readExpected(t, dir) {
		byVerdict[e.verdict]++
		total++
	}
	return byVerdict, total, fmt.Sprintf("%d messages: %d accepted, %d rejected, %d unmatched",
		total, byVerdict["accepted"], byVerdict["rejected"], byVerdict["unmatched"])
}

// TestInspectExpected asserts the hand-written intent in EXPECTED.tsv:
// verdict, reason, tenant, authentication and incident IDs ("*" skips a
// column, "-" means empty).
func TestInspectExpected(t *testing.T) {
	t.Chdir("../..")
	files := corpusFiles(t)
	expected := readExpected(t, corpusDir)
	cfg, err := loadConfig("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tenantIDs := map[string]string{}
	for _, tn := range cfg.Tenants {
		tenantIDs[tn.Name] = tn.ID
	}
	got := inspectJSON(t, "testdata/config.yaml", files)
	for _, file := range files {
		base := filepath.Base(file)
		e, ok := expected[base]
		if !ok {
			t.Errorf("%s is not in %s/EXPECTED.tsv; add its intended verdict", base, corpusDir)
			continue
		}
		delete(expected, base)
		r := got[file]
		check := func(column, want, got string) {
			if want == "*" {
				return
			}
			if want == "-" {
				want = ""
			}
			if got != want {
				t.Errorf("EXPECTED.tsv:%d: inspect %s: %s = %q, want %q (%s)", e.line, base, column, got, want, e.why)
			}
		}
		check("verdict", e.verdict, string(r.Verdict))
		check("reason", e.reason, string(r.Reason))
		tenant := e.tenant
		if tenant != "*" && tenant != "-" {
			id, ok := tenantIDs[tenant]
			if !ok {
				t.Errorf("EXPECTED.tsv:%d: tenant %q is not in testdata/config.yaml", e.line, tenant)
			}
			tenant = id
		}
		check("tenant_id", tenant, r.TenantID)
		check("authentication", e.auth, string(r.Authentication))
		check("incident_ids", e.incidents, strings.Join(r.IncidentIDs, ","))
	}
	for base, e := range expected {
		t.Errorf("EXPECTED.tsv:%d: %s has no message in %s", e.line, base, corpusDir)
	}
}

// TestInspectTenantsFile judges the corpus with the tenants read from
// tenants.yaml and wants the same verdicts.
func TestInspectTenantsFile(t *testing.T) {
	t.Chdir("../..")
	files := corpusFiles(t)
	inline := inspectJSON(t, "testdata/config.yaml", files)
	viaFile := inspectJSON(t, "testdata/config-tenants-file.yaml", files)
	for _, f := range files {
		if !reflect.DeepEqual(inline[f], viaFile[f]) {
			t.Errorf("inspect %s with tenants_file = %+v, want %+v as with inline tenants", f, viaFile[f], inline[f])
		}
	}
}

func TestInspectExitCodes(t *testing.T) {
	t.Chdir("../..")
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badConfig, []byte("rules:\n  partner_domains: [adatum-csp.com]\nrulez: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badRules := filepath.Join(dir, "badrules.yaml")
	if err := os.WriteFile(badRules, []byte("rules:\n  partner_domains: [adatum-csp.com]\n  trusted_authserv_ids: [mx.adatum-csp.com]\n  incident_prefixes: {MC: Message Center}\ntenants:\n  - name: Contoso\n    id: not-a-guid\n    domains: [contoso.com]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(corpusDir, "accepted-contoso-outlook-html.eml")
	good2 := filepath.Join(corpusDir, "rejected-personal-gmail.eml")
	missing := filepath.Join(dir, "no-such-message.eml")
	tests := []struct {
		name       string
		args       []string
		code       int
		stdoutRows int      // JSON lines expected on stdout (with --json), -1 to skip
		stderr     []string // each must appear on stderr
	}{
		{name: "every file judged", args: []string{"--config", "testdata/config.yaml", "--json", good, good2}, code: exitOK, stdoutRows: 2},
		{name: "flags after the files", args: []string{good, "--json", "--config", "testdata/config.yaml"}, code: exitOK, stdoutRows: 1},
		{name: "one file unreadable, the others still judged", args: []string{"--config", "testdata/config.yaml", "--json", good, missing, good2}, code: exitFail, stdoutRows: 2, stderr: []string{missing}},
		{name: "a directory", args: []string{"--config", "testdata/config.yaml", "--json", corpusDir}, code: exitFail, stdoutRows: 0, stderr: []string{corpusDir + " is not a file"}},
		{name: "no config flag", args: []string{good}, code: exitUsage, stdoutRows: 0, stderr: []string{"--config is missing"}},
		{name: "no messages", args: []string{"--config", "testdata/config.yaml"}, code: exitUsage, stdoutRows: 0, stderr: []string{"no messages"}},
		{name: "unknown flag", args: []string{"--config", "testdata/config.yaml", "--yaml", good}, code: exitUsage, stdoutRows: 0, stderr: []string{"flag provided but not defined: -yaml", "usage: claimtrail inspect"}},
		{name: "config file missing", args: []string{"--config", filepath.Join(dir, "nope.yaml"), good}, code: exitUsage, stdoutRows: 0, stderr: []string{"nope.yaml: no such file"}},
		{name: "unknown config key", args: []string{"--config", badConfig, good}, code: exitUsage, stdoutRows: 0, stderr: []string{badConfig + `:3: unknown key "rulez"; did you mean "rules"?`}},
		{name: "config the rules refuse", args: []string{"--config", badRules, good}, code: exitUsage, stdoutRows: 0, stderr: []string{badRules + ":4: rules.incident_prefixes:", badRules + ":6:"}},
		{name: "help", args: []string{"-h"}, code: exitOK, stdoutRows: 0, stderr: []string{"usage: claimtrail inspect"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"inspect"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("inspect %q exit code = %d, want %d; stderr:\n%s", tt.args, code, tt.code, stderr)
			}
			if tt.stdoutRows >= 0 {
				rows := strings.Count(stdout, "\n")
				if rows != tt.stdoutRows {
					t.Errorf("inspect %q printed %d lines, want %d:\n%s", tt.args, rows, tt.stdoutRows, stdout)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("inspect %q stderr =\n%s\nwant it to contain %q", tt.args, stderr, want)
				}
			}
		})
	}
}

// TestInspectTable checks the human output: aligned columns within 120
// runes, a row per message and the warnings beneath.
func TestInspectTable(t *testing.T) {
	t.Chdir("../..")
	files := corpusFiles(t)
	code, stdout, stderr := runCLI(t, append([]string{"inspect", "--config", "testdata/config.yaml"}, files...)...)
	if code != exitOK {
		t.Fatalf("inspect exit code = %d; stderr:\n%s", code, stderr)
	}
	lines := strings.Split(stdout, "\n")
	// All the files are in one directory: it is said once, above the table.
	if want := "in " + corpusDir + string(filepath.Separator) + ":"; lines[0] != want {
		t.Errorf("first line = %q, want %q", lines[0], want)
	}
	lines = lines[1:]
	header := lines[0]
	for _, title := range []string{"FILE", "VERDICT", "REASON", "SENDER", "TENANT", "INCIDENTS", "AUTH"} {
		if !strings.Contains(header, title) {
			t.Fatalf("header %q lacks %s", header, title)
		}
	}
	verdictCol := utf8.RuneCountInString(header[:strings.Index(header, "VERDICT")])
	authCol := utf8.RuneCountInString(header[:strings.Index(header, "AUTH")])
	rows := lines[1 : 1+len(files)]
	for i, row := range append([]string{header}, rows...) {
		if n := utf8.RuneCountInString(row); n > inspectWidth {
			t.Errorf("line %d is %d runes, want at most %d: %q", i+1, n, inspectWidth, row)
		}
	}
	results := inspectJSON(t, "testdata/config.yaml", files)
	warned := 0
	for i, row := range rows {
		r := []rune(row)
		verdict := results[files[i]].Verdict
		if len(r) < authCol || !strings.HasPrefix(string(r[verdictCol:]), string(verdict)+" ") {
			t.Errorf("row %d %q: want verdict %q at column %d", i+1, row, verdict, verdictCol)
			continue
		}
		if auth := string(results[files[i]].Authentication); string(r[authCol:]) != auth {
			t.Errorf("row %d %q: want authentication %q at column %d", i+1, row, auth, authCol)
		}
		if len(results[files[i]].Warnings) > 0 {
			warned++
			if !strings.Contains(stdout, "  "+files[i]+":\n    - "+results[files[i]].Warnings[0]+"\n") {
				t.Errorf("the warnings section lacks %s's warning %q", files[i], results[files[i]].Warnings[0])
			}
		}
	}
	if warned == 0 {
		t.Errorf("no message in the corpus has a warning; the warnings section is untested")
	}
	if !strings.Contains(stdout, "messages: ") {
		t.Errorf("no summary line in\n%s", stdout)
	}
}

func TestFit(t *testing.T) {
	tests := []struct {
		name string
		fit  func(string, int) string
		s    string
		n    int
		want string
	}{
		{"short", fitEnd, "short", 10, "short"},
		{"exact", fitEnd, "exactly10!", 10, "exactly10!"},
		{"cut the end", fitEnd, "Fabrikam, Inc.", 10, "Fabrikam,…"},
		{"runes, not bytes", fitEnd, "Bäckerei München GmbH", 8, "Bäckere…"},
		{"one rune", fitEnd, "abc", 1, "a"},
		{"file keeps its end", fitStart, "testdata/mail/a.eml", 10, "…ail/a.eml"},
		{"address keeps its domain", fitAddress, "carlos.mendes@fabrikam.com", 20, "carlos…@fabrikam.com"},
		{"address that fits", fitAddress, "k.huber@gmx.de", 20, "k.huber@gmx.de"},
		{"quoted local part holding an @ (RFC 5322 3.4.1)", fitAddress, `"jane@contoso.com"@gmail.com`, 20, `"jane@con…@gmail.com`},
		{"long domain is cut at the end", fitAddress, "billing@contoso.com.evil.example.net", 20, "billing@contoso.com…"},
		{"list shows the first item and a count", fitList, "CP1203317,EX1195012,TM1191027", 12, "CP1203317 +2"},
		{"list that fits", fitList, "EX315207,SP1176630", 20, "EX315207,SP1176630"},
	}
	for _, tt := range tests {
		if got := tt.fit(tt.s, tt.n); got != tt.want {
			t.Errorf("%s: fit(%q, %d) = %q, want %q", tt.name, tt.s, tt.n, got, tt.want)
		}
	}
}

func fitEnd(s string, n int) string   { return fit(s, n, false) }
func fitStart(s string, n int) string { return fit(s, n, true) }

// BenchmarkJudgeCorpus measures parsing and judging one message of the
// corpus, as inspect and the poller do for each.
func BenchmarkJudgeCorpus(b *testing.B) {
	cfg, err := loadConfig(testConfig)
	if err != nil {
		b.Fatal(err)
	}
	policy, err := cfg.Policy()
	if err != nil {
		b.Fatal(err)
	}
	files, err := filepath.Glob("../../testdata/mail/*.eml")
	if err != nil || len(files) == 0 {
		b.Fatalf("no corpus: %v", err)
	}
	raws := make([][]byte, len(files))
	var total int64
	for i, f := range files {
		if raws[i], err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
		total += int64(len(raws[i]))
	}
	b.SetBytes(total / int64(len(raws)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		raw := raws[i%len(raws)]
		if _, _, err := judgeMessage(policy, bytes.NewReader(raw), int64(len(raw)), nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestInspectWritesBundles(t *testing.T) {
	t.Chdir("../..")
	dir := t.TempDir()
	// Two files with one base name: the second bundle is numbered.
	other := filepath.Join(t.TempDir(), "accepted-contoso-outlook-html.eml")
	raw, err := os.ReadFile(filepath.Join(corpusDir, "rejected-personal-gmail.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(other, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "inspect", "--config", "testdata/config.yaml", "--bundle", dir,
		filepath.Join(corpusDir, "accepted-contoso-outlook-html.eml"), other)
	if code != exitOK {
		t.Fatalf("inspect --bundle: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "2 bundles written to "+dir) {
		t.Errorf("stderr = %q, want it to say where the bundles went", stderr)
	}
	for name, want := range map[string]rules.Verdict{
		"accepted-contoso-outlook-html.zip":     rules.Accepted,
		"accepted-contoso-outlook-html (2).zip": rules.Rejected,
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("bundle %s: %v", name, err)
		}
		if err := evidence.VerifyBundle(bytes.NewReader(b), int64(len(b)), ""); err != nil {
			t.Errorf("VerifyBundle(%s): %v", name, err)
		}
		m, err := evidence.ReadManifest(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if m.Judgment.Verdict != want {
			t.Errorf("%s: manifest verdict %s, want %s", name, m.Judgment.Verdict, want)
		}
	}
}

// TestInspectIncidents judges the incidents the messages name against an
// offline catalog at a fixed time: one eligible, one advisory, one whose
// Microsoft 365 window closed, one the catalog lacks.
func TestInspectIncidents(t *testing.T) {
	t.Chdir("../..")
	const catalog = "cmd/claimtrail/testdata/incidents-catalog.json"
	notification := filepath.Join(corpusDir, "accepted-contoso-forwarded-service-health-notification.eml")
	three := filepath.Join(corpusDir, "accepted-fabrikam-three-incidents.eml")
	none := filepath.Join(corpusDir, "unmatched-contoso-no-incident-id.eml")
	code, stdout, stderr := runCLI(t, "inspect", "--config", "testdata/config.yaml", "--json",
		"--incidents", catalog, "--now", "2025-12-01T00:00:00Z", notification, three, none)
	if code != exitOK {
		t.Fatalf("inspect --incidents exit code = %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "item 3 (MC123456)") {
		t.Errorf("stderr =\n%s\nwant a warning about the catalog's item 3 (MC123456)", stderr)
	}
	type verdict struct{ id, why string }
	want := map[string][]verdict{
		notification: {{"EX1321282", ""}},
		three:        {{"CP1203317", "window_closed"}, {"EX1195012", "advisory"}, {"TM1191027", "not_listed"}},
		none:         {},
	}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &fields); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(fields["incidents"], []byte("[")) {
			t.Errorf("incidents = %s, want an array: %s", fields["incidents"], sc.Bytes())
		}
		var r inspectResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		var got []verdict
		for _, inc := range *r.Incidents {
			got = append(got, verdict{inc.ID, inc.Why})
			if inc.Eligible != (inc.Why == "") {
				t.Errorf("%s %s: eligible %v with why %q", r.File, inc.ID, inc.Eligible, inc.Why)
			}
		}
		if !slices.Equal(got, want[r.File]) {
			t.Errorf("inspect --incidents %s = %v, want %v", r.File, got, want[r.File])
		}
		if r.File == notification {
			inc := (*r.Incidents)[0]
			if inc.Classification != "incident" || inc.Service != "Exchange Online" ||
				!inc.Deadline.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond)) {
				t.Errorf("EX1321282 = %+v, want an Exchange Online incident with deadline 31 December 2025", inc)
			}
		}
	}
	if n != 3 {
		t.Errorf("inspect printed %d lines, want 3:\n%s", n, stdout)
	}

	// Without --now the clock judges: long after 2025, every window closed.
	_, stdout, _ = runCLI(t, "inspect", "--config", "testdata/config.yaml", "--json", "--incidents", catalog, notification)
	if !strings.Contains(stdout, `"why":"window_closed"`) {
		t.Errorf("inspect --incidents without --now =\n%s\nwant the window closed by today's clock", stdout)
	}

	// The table gains an ELIGIBLE column only with --incidents.
	_, stdout, _ = runCLI(t, "inspect", "--config", "testdata/config.yaml", "--incidents", catalog, "--now", "2025-12-01T00:00:00Z", notification, three)
	if !strings.Contains(stdout, "ELIGIBLE") || !strings.Contains(stdout, "window_closed +2") && !strings.Contains(stdout, "window_closed,advisory,not_listed") {
		t.Errorf("inspect --incidents table =\n%s\nwant an ELIGIBLE column", stdout)
	}
	_, stdout, _ = runCLI(t, "inspect", "--config", "testdata/config.yaml", notification)
	if strings.Contains(stdout, "ELIGIBLE") {
		t.Errorf("inspect without --incidents has an ELIGIBLE column:\n%s", stdout)
	}

	for _, tt := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"bad time", []string{"--incidents", catalog, "--now", "yesterday"}, `--now "yesterday" is not a time`},
		{"now alone", []string{"--now", "2025-12-01T00:00:00Z"}, "--now without --incidents"},
		{"no catalog", []string{"--incidents", "nope.json"}, "nope.json"},
		{"not a catalog", []string{"--incidents", "testdata/config.yaml"}, "catalog: not JSON"},
	} {
		code, _, stderr := runCLI(t, append([]string{"inspect", "--config", "testdata/config.yaml", notification}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("inspect %s: exit %d, stderr %q; want %d and %q", tt.name, code, stderr, exitUsage, tt.stderr)
		}
	}
}
