package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/rules"
)

const inspectUsage = `usage: claimtrail inspect --config FILE [--json] [--bundle DIR]
                         [--incidents CATALOG.json [--now TIME]] MSG.eml ...

Judges each message as the poller would and prints the verdicts: a table,
or with --json one JSON object per line. Nothing is stored; --bundle
writes each message's evidence bundle into a directory, to look at one.

--incidents reads an offline catalog of Service Health issues (a Graph list
response {"value": [...]} or a JSON array of issues) and says, for each
incident a message names, whether a claim on it can still earn credit:
why is "" (eligible), "advisory", "unknown_classification", "window_closed"
(the Microsoft 365 deadline has passed) or "not_listed" (not in the
catalog). --now stands in for the clock, in RFC 3339 (2026-03-01T00:00:00Z).

Exit status: 0 when every file was judged, 1 when a file could not be read
(the others are still judged), 2 for bad usage or configuration.

flags:
`

// inspectResult is one line of `inspect --json`. Its fields are a contract
// for scripts: add, never rename.
type inspectResult struct {
	File           string               `json:"file"` // as given on the command line
	MessageID      string               `json:"message_id"`
	Sender         string               `json:"sender"`
	SenderDomain   string               `json:"sender_domain"`
	Verdict        rules.Verdict        `json:"verdict"`
	Reason         rules.Reason         `json:"reason"` // empty when accepted
	TenantID       string               `json:"tenant_id"`
	IncidentIDs    []string             `json:"incident_ids"` // never null
	Authentication rules.Authentication `json:"authentication"`
	Warnings       []string             `json:"warnings"` // never null
	// Incidents is set only with --incidents: one per incident ID, in
	// the order of IncidentIDs.
	Incidents *[]inspectIncident `json:"incidents,omitempty"`
}

// inspectIncident is what an offline catalog says of one incident a
// message names. A contract for scripts like inspectResult.
type inspectIncident struct {
	ID             string                `json:"id"`
	Classification claims.Classification `json:"classification"`
	Service        string                `json:"service"`
	Start          time.Time             `json:"start,omitzero"`
	End            time.Time             `json:"end,omitzero"`
	Deadline       time.Time             `json:"deadline,omitzero"`
	Eligible       bool                  `json:"eligible"`
	Why            string                `json:"why"`
}

// judgeIncidents looks each ID up in catalog (by ID) and judges a claim on
// it at now, with the Microsoft 365 deadline: an ID the catalog lacks is
// not listed.
func judgeIncidents(ids []string, catalog map[string]*claims.Incident, now time.Time) []inspectIncident {
	out := make([]inspectIncident, 0, len(ids))
	for _, id := range ids {
		inc := catalog[id]
		r := inspectIncident{ID: id}
		r.Deadline, r.Eligible, r.Why = claims.Preview(inc, now)
		if inc != nil {
			r.Classification, r.Service, r.Start, r.End = inc.Classification, inc.Service, inc.Start, inc.End
		}
		out = append(out, r)
	}
	return out
}

// loadCatalog reads an offline catalog for inspect --incidents, reporting
// its skipped items as warnings on stderr.
func loadCatalog(e *env, path string) (map[string]*claims.Incident, error) {
	data, err := readCatalogFile(path)
	if err != nil {
		return nil, err
	}
	incidents, problems, err := claims.ParseCatalog(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, p := range problems {
		fmt.Fprintf(e.stderr, "claimtrail: warning: %s: %v\n", path, p)
	}
	byID := make(map[string]*claims.Incident, len(incidents))
	for i := range incidents {
		byID[incidents[i].ID] = &incidents[i]
	}
	return byID, nil
}

func runInspect(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "inspect", inspectUsage)
	configPath := fs.String("config", "", "the configuration `file` (see testdata/config.yaml)")
	asJSON := fs.Bool("json", false, "print one JSON object per message instead of a table")
	bundleDir := fs.String("bundle", "", "also write each message's evidence bundle into `dir`, named after the file")
	catalogPath := fs.String("incidents", "", "judge the messages' incidents against this offline Service Health catalog `file`")
	nowFlag := fs.String("now", "", "the `time` (RFC 3339) to judge deadlines at, instead of the clock; with --incidents")
	files, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	if *configPath == "" {
		e.errorf("inspect: --config is missing; name the configuration file, e.g. --config testdata/config.yaml")
		return exitUsage
	}
	if len(files) == 0 {
		e.errorf("inspect: no messages; name one or more .eml files")
		return exitUsage
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	policy, err := cfg.Policy()
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}

	now := time.Now()
	if *nowFlag != "" {
		if *catalogPath == "" {
			e.errorf("inspect: --now without --incidents; it sets the time the incidents' deadlines are judged at")
			return exitUsage
		}
		if now, err = time.Parse(time.RFC3339, *nowFlag); err != nil {
			e.errorf("inspect: --now %q is not a time like 2026-03-01T00:00:00Z", *nowFlag)
			return exitUsage
		}
	}
	var catalog map[string]*claims.Incident
	if *catalogPath != "" {
		if catalog, err = loadCatalog(e, *catalogPath); err != nil {
			e.errorf("inspect: --incidents: %v", err)
			return exitUsage
		}
	}

	var bundles *bundleWriter
	if *bundleDir != "" {
		if bundles, err = newBundleWriter(*bundleDir); err != nil {
			e.errorf("inspect: --bundle: %v", err)
			return exitUsage
		}
	}

	code = exitOK
	var results []inspectResult
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false) // warnings quote addresses in <...>
	for _, file := range files {
		if err := ctx.Err(); err != nil {
			e.errorf("inspect: stopped before %s: %v", file, err)
			return exitFail
		}
		r, err := inspectFile(ctx, policy, file, bundles, e.parse)
		if err != nil {
			e.errorf("inspect: %v", err)
			code = exitFail
			continue
		}
		if catalog != nil {
			incs := judgeIncidents(r.IncidentIDs, catalog, now)
			r.Incidents = &incs
		}
		if *asJSON {
			if err := enc.Encode(r); err != nil {
				e.errorf("inspect: write: %v", err)
				return exitFail
			}
			continue
		}
		results = append(results, r)
	}
	if !*asJSON {
		names := make(map[string]string, len(cfg.Tenants))
		for _, t := range cfg.Tenants {
			if id, ok := rules.ParseTenantID(t.ID); ok {
				names[id] = t.Name
			}
		}
		if err := writeInspectTable(e.stdout, results, names, inspectWidth); err != nil {
			e.errorf("inspect: write: %v", err)
			return exitFail
		}
	}
	if bundles != nil && bundles.n > 0 {
		fmt.Fprintf(e.stderr, "%s written to %s\n", plural(bundles.n, "bundle"), *bundleDir)
	}
	return code
}

// bundleWriter writes the bundles of `inspect --bundle` into a directory,
// each named after its message's file (a.eml -> a.zip), numbered when two
// files share a name.
type bundleWriter struct {
	dir  string
	used map[string]int
	n    int
}

func newBundleWriter(dir string) (*bundleWriter, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return &bundleWriter{dir: dir, used: map[string]int{}}, nil
}

// write builds the bundle of the message in raw and writes it, replacing a
// bundle an earlier inspect wrote under the same name.
func (b *bundleWriter) write(ctx context.Context, file string, raw io.ReaderAt, size int64, facts *evidence.Facts, j rules.Judgment) error {
	name := evidence.SafeName(strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))+".zip", b.used)
	tmp, err := os.CreateTemp(b.dir, ".inspect-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = evidence.WriteBundle(ctx, tmp, &evidence.BundleInput{
		Raw: raw, RawSize: size, Facts: facts, Judgment: j,
		Provenance: evidence.Provenance{Path: file},
	})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(b.dir, name)); err != nil {
		return err
	}
	b.n++
	return nil
}

// inspectFile judges the message in file, parsed with opts, and, when
// bundles is not nil, writes its evidence bundle. Its error names the file.
func inspectFile(ctx context.Context, p *rules.Policy, file string, bundles *bundleWriter, opts *evidence.ParseOptions) (inspectResult, error) {
	f, err := os.Open(file)
	if err != nil {
		return inspectResult{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return inspectResult{}, err
	}
	if !st.Mode().IsRegular() {
		return inspectResult{}, fmt.Errorf("%s is not a file", file)
	}
	facts, j, err := judgeMessage(p, f, st.Size(), opts)
	if err != nil {
		return inspectResult{}, fmt.Errorf("read %s: %w", file, err)
	}
	if bundles != nil {
		if err := bundles.write(ctx, file, f, st.Size(), facts, j); err != nil {
			return inspectResult{}, fmt.Errorf("bundle %s: %w", file, err)
		}
	}
	return inspectResult{
		File:           file,
		MessageID:      facts.MessageID,
		Sender:         j.Sender,
		SenderDomain:   j.SenderDomain,
		Verdict:        j.Verdict,
		Reason:         j.Reason,
		TenantID:       j.TenantID,
		IncidentIDs:    append([]string{}, j.IncidentIDs...),
		Authentication: j.Authentication,
		// The parse's warnings (a bad charset, broken base64) matter to
		// an analyst as much as the rules' own.
		Warnings: appendUnique(append([]string{}, j.Warnings...), facts.Warnings...),
	}, nil
}

// judgeMessage parses one raw message with opts (nil: the defaults) and
// judges it, as the poller will for each message it fetches. DKIM is not
// verified here: that needs DNS.
func judgeMessage(p *rules.Policy, raw io.ReaderAt, size int64, opts *evidence.ParseOptions) (*evidence.Facts, rules.Judgment, error) {
	facts, err := evidence.Parse(raw, size, opts)
	if err != nil {
		return nil, rules.Judgment{}, err
	}
	return facts, p.Judge(facts.RulesMessage()), nil
}

func appendUnique(list []string, more ...string) []string {
	for _, s := range more {
		if !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	return list
}

// inspectWidth is the terminal width the table is made to fit.
const inspectWidth = 120

// column is one column of the inspect table.
type column struct {
	title     string
	min       int  // it is not shrunk below this
	keepRight bool // truncate on the left, keeping the end (file names)
}

// The columns. VERDICT, REASON and AUTH are never cut.
var inspectColumns = []column{
	{title: "FILE", min: 24, keepRight: true},
	{title: "VERDICT", min: 9},
	{title: "REASON", min: 24},
	{title: "SENDER", min: 20},
	{title: "TENANT", min: 12},
	{title: "INCIDENTS", min: 12},
	{title: "AUTH", min: 4},
}

const colSender, colIncidents = 3, 5

// eligibleColumn is added after the others with inspect --incidents: per
// incident, "yes" or why not, in the order of INCIDENTS.
var eligibleColumn = column{title: "ELIGIBLE", min: 16} // "window_closed +2"

const colEligible = 7

// writeInspectTable prints results as aligned columns no wider than width
// (where the minimum widths allow), a count of the verdicts, then the
// warnings grouped by file.
func writeInspectTable(w io.Writer, results []inspectResult, tenantNames map[string]string, width int) error {
	// When every file is in one directory, the table shows base names and
	// says the directory once: the names are what tells messages apart.
	dir, sameDir := "", len(results) > 0
	for i, r := range results {
		d := filepath.Dir(r.File)
		if i == 0 {
			dir = d
		}
		sameDir = sameDir && d == dir
	}
	cols := inspectColumns
	withIncidents := slices.ContainsFunc(results, func(r inspectResult) bool { return r.Incidents != nil })
	if withIncidents {
		cols = append(slices.Clip(cols), eligibleColumn)
	}
	rows := make([][]string, len(results))
	for i, r := range results {
		file := r.File
		if sameDir {
			file = filepath.Base(file)
		}
		tenant := tenantNames[r.TenantID]
		if tenant == "" {
			tenant = r.TenantID
		}
		rows[i] = []string{file, string(r.Verdict), string(r.Reason), r.Sender, tenant, strings.Join(r.IncidentIDs, ","), string(r.Authentication)}
		if withIncidents {
			rows[i] = append(rows[i], eligibleCell(r.Incidents))
		}
		for k, cell := range rows[i] {
			if cell == "" {
				rows[i][k] = "-"
			}
		}
	}
	widths := make([]int, len(cols))
	for k, c := range cols {
		widths[k] = utf8.RuneCountInString(c.title)
		for _, row := range rows {
			widths[k] = max(widths[k], utf8.RuneCountInString(row[k]))
		}
	}
	const gap = 2
	total := gap * (len(widths) - 1)
	for _, n := range widths {
		total += n
	}
	for total > width {
		// Shrink whichever column is furthest above its minimum.
		widest, excess := -1, 0
		for k, c := range cols {
			if e := widths[k] - max(c.min, utf8.RuneCountInString(c.title)); e > excess {
				widest, excess = k, e
			}
		}
		if widest < 0 {
			break // every column is at its minimum
		}
		widths[widest]--
		total--
	}

	var b strings.Builder
	if sameDir && dir != "." {
		fmt.Fprintf(&b, "in %s%c:\n", dir, filepath.Separator)
	}
	line := func(cells []string) {
		for k, cell := range cells {
			switch k {
			case colSender:
				cell = fitAddress(cell, widths[k])
			case colIncidents, colEligible:
				cell = fitList(cell, widths[k])
			}
			cell = fit(cell, widths[k], cols[k].keepRight)
			b.WriteString(cell)
			if k < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[k]-utf8.RuneCountInString(cell)+gap))
			}
		}
		b.WriteByte('\n')
	}
	titles := make([]string, len(cols))
	for k, c := range cols {
		titles[k] = c.title
	}
	line(titles)
	for _, row := range rows {
		line(row)
	}
	counts := map[rules.Verdict]int{}
	for _, r := range results {
		counts[r.Verdict]++
	}
	fmt.Fprintf(&b, "\n%d messages: %d accepted, %d unmatched, %d rejected\n",
		len(results), counts[rules.Accepted], counts[rules.Unmatched], counts[rules.Rejected])
	header := false
	for _, r := range results {
		if len(r.Warnings) == 0 {
			continue
		}
		if !header {
			b.WriteString("\nwarnings:\n")
			header = true
		}
		fmt.Fprintf(&b, "  %s:\n", r.File)
		for _, msg := range r.Warnings {
			fmt.Fprintf(&b, "    - %s\n", msg)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// eligibleCell is the ELIGIBLE cell of a message: "yes" or the reason
// for each incident, comma-separated.
func eligibleCell(incs *[]inspectIncident) string {
	if incs == nil {
		return ""
	}
	cells := make([]string, len(*incs))
	for i, inc := range *incs {
		cells[i] = "yes"
		if !inc.Eligible {
			cells[i] = inc.Why
		}
	}
	return strings.Join(cells, ",")
}

// fitAddress cuts the local part of an address that does not fit in n
// runes, keeping the domain, which is what the verdict turns on. The domain
// follows the last "@": a quoted local part may hold another
// ("\"jane@contoso.com\"@gmail.com" must not show as "...@contoso.com...").
func fitAddress(s string, n int) string {
	at := strings.LastIndexByte(s, '@')
	local, domain, ok := s, "", at >= 0
	if ok {
		local, domain = s[:at], s[at+1:]
	}
	room := n - utf8.RuneCountInString(domain) - 2 // "…@"
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if !ok || room < 1 {
		return fit(s, n, false)
	}
	return string([]rune(local)[:room]) + "…@" + domain
}

// fitList shortens a comma-separated list that does not fit in n runes to
// its first item and a count of the rest ("EX1195012 +2"), which says more
// than a cut.
func fitList(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	items := strings.Split(s, ",")
	if len(items) < 2 {
		return s
	}
	return fmt.Sprintf("%s +%d", items[0], len(items)-1)
}

// fit cuts s to n runes, marking the cut with "…".
func fit(s string, n int, keepRight bool) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n <= 1 {
		return string(r[:n])
	}
	if keepRight {
		return "…" + string(r[len(r)-(n-1):])
	}
	return string(r[:n-1]) + "…"
}
