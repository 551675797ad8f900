package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

const claimsUsage = `usage: claimtrail claims --config FILE COMMAND [flags] [args]

Works on the SLA-credit claims in the ledger the configuration names.

commands:
  list [--status S,...] [--tenant ID|NAME] [--limit N] [--json]
                             claims by deadline, soonest first, with the days
                             left, checklist readiness and evidence count
  due [--within 7d] [--limit N] [--json]
                             open and ready claims whose deadline is within
                             the window or has passed
  show ID [--json]           one claim: its checklist, evidence and the text
                             for Partner Center's Details box
  set ID FIELD VALUE         set a checklist field (see below)
  status ID STATUS [--note TEXT]
                             move a claim on: ready -> submitted (once it is
                             filed in Partner Center), submitted -> approved
                             or denied, open or ready -> expired
  package ID -o FILE.zip [--force]
                             write the claim's package for Partner Center:
                             claim.json, details.txt and every evidence bundle

Fields for set: incident_start and downtime_start (RFC 3339 times such as
2026-02-15T09:30:00Z), downtime_duration (4h30m), affected_users (a
number), locations, resolution and ticket (text), azure and csp (yes/no).
Setting incident_start makes the deadline final. Open and ready follow the
checklist by themselves; the status command makes the other changes.

Changes are recorded in the audit trail as cli:<your user name>.

Exit status: 0 ok, 1 when the ledger refuses or fails the work, 2 for bad
usage or configuration.

flags:
`

// cliNow is the clock days left are counted with; tests fix it.
var cliNow = time.Now

func runClaims(ctx context.Context, e *env, args []string) int {
	c, sub, rest, code := parseLedgerCommand(e, "claims", claimsUsage, args)
	if c == nil {
		return code
	}
	fs := c.subFlags(sub)
	var statusList, tenant, within, note, out *string
	var asJSON, force *bool
	var limit *int
	nargs := 0
	switch sub {
	case "list":
		statusList = fs.String("status", "", "only claims with one of these `statuses`, comma-separated")
		tenant = fs.String("tenant", "", "only the claims of this tenant: its `ID` or name")
		asJSON = fs.Bool("json", false, "print one JSON object per claim instead of a table")
		limit = fs.Int("limit", 0, "print at most `N` claims, the first in the list's order; 0 prints all")
	case "due":
		within = fs.String("within", "7d", "the `window`: days (7d) or a Go duration (36h)")
		asJSON = fs.Bool("json", false, "print one JSON object per claim instead of a table")
		limit = fs.Int("limit", 0, "print at most `N` claims, the soonest due; 0 prints all")
	case "show":
		asJSON = fs.Bool("json", false, "print the claim as JSON")
		nargs = 1
	case "set":
		nargs = 3 // ID FIELD VALUE...; a value may be several words
	case "status":
		note = fs.String("note", "", "why, for the audit trail (e.g. the Partner Center request number)")
		nargs = 2
	case "package":
		out = fs.String("o", "", "the ZIP `file` to write")
		force = fs.Bool("force", false, "replace the file if it exists")
		nargs = 1
	default:
		e.errorf("claims: unknown command %q; use list, due, show, set, status or package (see claimtrail claims -h)", sub)
		return exitUsage
	}
	pos, code := c.parseSub(fs, rest)
	if code >= 0 {
		return code
	}
	if n := len(pos); n < nargs || (n > nargs && sub != "set") {
		e.errorf("claims %s: want %d argument(s), got %d; see claimtrail claims -h", sub, nargs, n)
		return exitUsage
	}
	var id int64
	if nargs > 0 {
		if id, code = parseClaimID(e, sub, pos[0]); code >= 0 {
			return code
		}
	}

	// Check what can be checked before the ledger is opened.
	if limit != nil && *limit < 0 {
		e.errorf("claims %s: --limit %d: give a number of claims, or 0 for all", sub, *limit)
		return exitUsage
	}
	var statuses []claims.Status
	var window time.Duration
	var field claims.Field
	var to claims.Status
	switch sub {
	case "list":
		var err error
		if statuses, err = parseStatuses(*statusList); err != nil {
			e.errorf("claims list: --status: %v", err)
			return exitUsage
		}
	case "due":
		var err error
		if window, err = parseWindow(*within); err != nil {
			e.errorf("claims due: --within: %v", err)
			return exitUsage
		}
	case "set":
		if field, code = parseField(e, pos[1]); code >= 0 {
			return code
		}
	case "status":
		to = claims.Status(strings.ToLower(pos[1]))
		if !slices.Contains(claims.Statuses(), to) {
			e.errorf("claims status: %q is not a status; use submitted, approved, denied or expired", pos[1])
			return exitUsage
		}
	case "package":
		if *out == "" {
			e.errorf("claims package: -o FILE.zip is missing; name the file to write the package to")
			return exitUsage
		}
	}

	st, code := c.open(ctx, sub == "package")
	if st == nil {
		return code
	}
	defer st.close()
	switch sub {
	case "list":
		return c.list(ctx, st.ledger, statuses, *tenant, *limit, *asJSON)
	case "due":
		return c.due(ctx, st.ledger, window, *limit, *asJSON)
	case "show":
		return c.show(ctx, st.ledger, id, *asJSON)
	case "set":
		return c.set(ctx, st.ledger, id, field, strings.Join(pos[2:], " "))
	case "status":
		return c.setStatus(ctx, st.ledger, id, to, *note)
	default:
		return c.writePackage(ctx, st, id, *out, *force)
	}
}

// ledgerCommand is what the commands over the ledger (claims, tenants,
// audit) share: the configuration flag and the way they open the ledger
// and report on it.
type ledgerCommand struct {
	e      *env
	name   string // "claims"
	usage  string
	config string
	cfg    *Config // set by open
}

// parseLedgerCommand parses "NAME [--config FILE] SUB [args]". It returns
// nil and the exit code when there is nothing more to do.
func parseLedgerCommand(e *env, name, usage string, args []string) (*ledgerCommand, string, []string, int) {
	c := &ledgerCommand{e: e, name: name, usage: usage}
	fs := c.flags(name)
	if code, done := parseFlags(fs, args); done {
		return nil, "", nil, code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return nil, "", nil, exitUsage
	}
	sub := fs.Arg(0)
	if sub == "help" {
		fs.Usage()
		return nil, "", nil, exitOK
	}
	return c, sub, fs.Args()[1:], -1
}

// flags returns a flag set with --config, which every level accepts:
// "claims --config F list" and "claims list --config F" alike.
func (c *ledgerCommand) flags(name string) *flag.FlagSet {
	fs := newFlags(c.e, name, c.usage)
	fs.StringVar(&c.config, "config", c.config, "the configuration `file`, whose ledger: and archive: sections are used")
	return fs
}

func (c *ledgerCommand) subFlags(sub string) *flag.FlagSet { return c.flags(c.name + " " + sub) }

// parseSub parses a subcommand's flags wherever they stand among its
// arguments. The code is -1 when parsing succeeded.
func (c *ledgerCommand) parseSub(fs *flag.FlagSet, args []string) ([]string, int) {
	pos, code, done := parseArgs(fs, args)
	if done {
		return nil, code
	}
	return pos, -1
}

// open loads the configuration and opens its ledger, bringing the tenant
// registry in line with it; with withStore, the object store too. It
// reports what went wrong and returns nil and the exit code when it cannot.
func (c *ledgerCommand) open(ctx context.Context, withStore bool) (*state, int) {
	if c.config == "" {
		c.e.errorf("%s: --config is missing; name the configuration file, e.g. claimtrail %s --config /etc/claimtrail/config.yaml ...", c.name, c.name)
		return nil, exitUsage
	}
	cfg, err := loadConfig(c.config)
	if err != nil {
		c.e.errorf("%v", err)
		return nil, exitUsage
	}
	if _, err := cfg.Policy(); err != nil {
		c.e.errorf("%v", err)
		return nil, exitUsage
	}
	c.cfg = cfg
	log := slog.New(slog.NewTextHandler(c.e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opener := openLedgerState
	if withStore {
		opener = openState
	}
	st, err := opener(ctx, cfg, log)
	if err != nil {
		c.e.errorf("%s: %v", c.name, err)
		return nil, exitFail
	}
	return st, -1
}

// fail reports err from the ledger: the exit code is 1 whatever it is,
// and the message says what to do about the usual ones.
func (c *ledgerCommand) fail(sub string, err error) int {
	switch {
	case errors.Is(err, archive.ErrNotFound):
		c.e.errorf("%s %s: %v; see claimtrail claims list", c.name, sub, err)
	case errors.Is(err, archive.ErrUnavailable):
		c.e.errorf("%s %s: %v; the ledger is busy or unreachable, try again", c.name, sub, err)
	default:
		c.e.errorf("%s %s: %v", c.name, sub, err)
	}
	return exitFail
}

func parseClaimID(e *env, sub, s string) (int64, int) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		e.errorf("claims %s: %q is not a claim ID; claim IDs are numbers, see claimtrail claims list", sub, s)
		return 0, exitUsage
	}
	return id, -1
}

func parseStatuses(s string) ([]claims.Status, error) {
	var out []claims.Status
	for item := range strings.SplitSeq(s, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		if item == "" {
			continue
		}
		st := claims.Status(item)
		if !slices.Contains(claims.Statuses(), st) {
			return nil, fmt.Errorf("%q is not a status; use %s", item, joinStatuses(claims.Statuses()))
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	return out, nil
}

func joinStatuses(ss []claims.Status) string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// parseWindow reads "7d" (days) or a Go duration ("36h").
func parseWindow(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 3650 {
			return 0, fmt.Errorf("%q is not a number of days like 7d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a window like 7d or 36h", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative; overdue claims are always listed", s)
	}
	return d, nil
}

// claimRow is one line of "claims list --json" and "claims due --json".
// Its fields are a contract for scripts: add, never rename.
type claimRow struct {
	ID                  int64         `json:"id"`
	TenantID            string        `json:"tenant_id"`
	TenantName          string        `json:"tenant_name"`
	IncidentID          string        `json:"incident_id"`
	Status              claims.Status `json:"status"`
	Deadline            *time.Time    `json:"deadline"` // null until the claim has evidence
	DeadlineProvisional bool          `json:"deadline_provisional"`
	// DaysLeft counts whole days to the deadline, negative once it passed;
	// null when there is no deadline or the claim is no longer open or ready.
	DaysLeft *int     `json:"days_left"`
	Overdue  bool     `json:"overdue"`
	Present  int      `json:"present"` // checklist items present
	Total    int      `json:"total"`   // checklist items
	Missing  []string `json:"missing"` // never null
	Evidence int      `json:"evidence"`
	// Eligible is claims.Eligibility; IneligibleWhy its reason code and
	// Ineligible its words (claims.IneligibleText), "" when eligible.
	Eligible      bool   `json:"eligible"`
	IneligibleWhy string `json:"ineligible_why,omitempty"`
	Ineligible    string `json:"ineligible,omitempty"`
}

// newClaimRow summarises a claim read with its checklist.
func newClaimRow(c *claims.Claim, evidence int, now time.Time) claimRow {
	r := claimRow{ID: c.ID, TenantID: c.TenantID, TenantName: c.TenantName, IncidentID: c.IncidentID, Status: c.Status,
		DeadlineProvisional: c.DeadlineProvisional, Present: c.Present(), Total: len(c.Checklist), Missing: c.Missing(), Evidence: evidence}
	if r.Missing == nil {
		r.Missing = []string{}
	}
	r.Eligible, r.IneligibleWhy = claims.Eligibility(c)
	r.Ineligible = claims.IneligibleText(c)
	if !c.Deadline.IsZero() {
		d := c.Deadline.UTC()
		r.Deadline = &d
		if n, ok, urgency := claims.Countdown(c.Status, r.Eligible, c.Deadline, now); ok {
			r.DaysLeft = &n
			r.Overdue = urgency == "overdue"
		}
	}
	return r
}

// deadlineText is the DEADLINE cell: the date, then how long is left.
func (r claimRow) deadlineText() string {
	if r.Deadline == nil {
		return "-"
	}
	s := r.Deadline.Format("2006-01-02")
	switch {
	case r.DaysLeft == nil:
	case r.Overdue:
		s += fmt.Sprintf("  OVERDUE by %s", plural(-*r.DaysLeft, "day"))
	case *r.DaysLeft == 0:
		s += "  last day"
	default:
		s += fmt.Sprintf("  %s left", plural(*r.DaysLeft, "day"))
	}
	if r.DeadlineProvisional {
		s += " (provisional)"
	}
	return s
}

// claimRows reads the claims q selects, in its order, a page at a time,
// keeping those keep says to (it may stop the list: more false), at most
// limit of them (0: all).
func claimRows(ctx context.Context, ledger *archive.Ledger, q archive.ClaimQuery, limit int,
	keep func(archive.ClaimSummary) (ok, more bool)) ([]claimRow, error) {
	now := cliNow()
	if limit > 0 {
		q.Limit = min(limit, archive.MaxClaimPage)
	}
	rows := []claimRow{}
	for s, err := range ledger.AllClaims(ctx, q) {
		if err != nil {
			return nil, err
		}
		ok, more := keep(s)
		if !more {
			break
		}
		if !ok {
			continue
		}
		rows = append(rows, newClaimRow(s.Claim, s.EvidenceCount, now))
		if len(rows) == limit {
			break
		}
	}
	return rows, nil
}

func (c *ledgerCommand) list(ctx context.Context, ledger *archive.Ledger, statuses []claims.Status, tenant string, limit int, asJSON bool) int {
	tenantID := ""
	if tenant != "" {
		tenants, err := ledger.Tenants(ctx)
		if err != nil {
			return c.fail("list", err)
		}
		if tenantID, err = findTenant(tenants, tenant); err != nil {
			c.e.errorf("claims list: --tenant: %v", err)
			return exitUsage
		}
	}
	q := archive.ClaimQuery{ClaimFilter: archive.ClaimFilter{Statuses: statuses, TenantID: tenantID}}
	rows, err := claimRows(ctx, ledger, q, limit, func(archive.ClaimSummary) (bool, bool) { return true, true })
	if err != nil {
		return c.fail("list", err)
	}
	if asJSON {
		return c.writeJSONLines("list", rows)
	}
	if len(rows) == 0 {
		what := "no claims"
		if len(statuses) > 0 {
			what += " with status " + joinStatuses(statuses)
		}
		if tenantID != "" {
			what += " for tenant " + tenant
		}
		fmt.Fprintln(c.e.stdout, what)
		return exitOK
	}
	return c.writeTable("list", rows)
}

func (c *ledgerCommand) due(ctx context.Context, ledger *archive.Ledger, window time.Duration, limit int, asJSON bool) int {
	// A claim Microsoft's record rules out earns nothing however soon it
	// is due: the due list is for claims worth filing.
	eligible := true
	q := archive.ClaimQuery{ClaimFilter: archive.ClaimFilter{Statuses: claims.FileableStatuses(), Eligible: &eligible},
		Sort: archive.SortDeadline}
	until := cliNow().Add(window)
	// Soonest deadline first, none last: the list stops at the first
	// claim due after the window.
	rows, err := claimRows(ctx, ledger, q, limit, func(s archive.ClaimSummary) (bool, bool) {
		due := !s.Deadline.IsZero() && !s.Deadline.After(until)
		return due && s.Eligible, due
	})
	if err != nil {
		return c.fail("due", err)
	}
	if asJSON {
		return c.writeJSONLines("due", rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(c.e.stdout, "no claims due within %s\n", windowText(window))
		return exitOK
	}
	return c.writeTable("due", rows)
}

// windowText says a window as it was most likely given.
func windowText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return plural(int(d/(24*time.Hour)), "day")
	}
	return d.String()
}

func (c *ledgerCommand) writeJSONLines(sub string, rows []claimRow) int {
	enc := json.NewEncoder(c.e.stdout)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			c.e.errorf("claims %s: write: %v", sub, err)
			return exitFail
		}
	}
	return exitOK
}

// writeTable prints rows as aligned columns and a count of the overdue.
func (c *ledgerCommand) writeTable(sub string, rows []claimRow) int {
	tw := tabwriter.NewWriter(c.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tINCIDENT\tSTATUS\tDEADLINE\tREADY\tEVIDENCE")
	overdue, ineligible := 0, 0
	for _, r := range rows {
		tenant := r.TenantName
		if tenant == "" {
			tenant = r.TenantID
		}
		if r.Overdue {
			overdue++
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d/%d\t%d", r.ID, termSafe(tenant), r.IncidentID, r.Status,
			r.deadlineText(), r.Present, r.Total, r.Evidence)
		if r.Ineligible != "" {
			// Trailing text, so the columns keep their widths.
			fmt.Fprintf(tw, "\tnot eligible: %s", r.Ineligible)
			ineligible++
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "\n%s", plural(len(rows), "claim"))
	if overdue > 0 {
		fmt.Fprintf(tw, ", %d overdue", overdue)
	}
	if ineligible > 0 {
		fmt.Fprintf(tw, ", %d not eligible", ineligible)
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		c.e.errorf("claims %s: write: %v", sub, err)
		return exitFail
	}
	return exitOK
}

// findTenant resolves --tenant: a tenant ID, a name, or a part of one name
// (case aside).
func findTenant(tenants []rules.Tenant, arg string) (string, error) {
	if id, ok := rules.ParseTenantID(arg); ok {
		return id, nil // claims can name a tenant the registry has lost
	}
	want := strings.ToLower(strings.TrimSpace(arg))
	var partial []rules.Tenant
	for _, t := range tenants {
		name := strings.ToLower(t.Name)
		if name == want {
			return t.ID, nil
		}
		if want != "" && strings.Contains(name, want) {
			partial = append(partial, t)
		}
	}
	switch len(partial) {
	case 1:
		return partial[0].ID, nil
	case 0:
		return "", fmt.Errorf("no tenant is called %q or has that ID; see claimtrail tenants list", arg)
	}
	var names []string
	for _, t := range partial {
		names = append(names, fmt.Sprintf("%s (%s)", t.Name, t.ID))
	}
	return "", fmt.Errorf("%q matches %d tenants: %s; give more of the name, or the ID", arg, len(partial), strings.Join(names, ", "))
}

// termSafe makes text from mail (a subject, a sender) safe to print on a
// terminal: control characters, which could move the cursor or recolour
// the screen, and bidirectional overrides, which could make text read
// backwards, are shown as U+FFFD.
func termSafe(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return unicode.ReplacementChar
		}
		return r
	}, s)
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// termSafeText is termSafe for multi-line text: line ends stay.
func termSafeText(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = termSafe(l)
	}
	return strings.Join(lines, "\n")
}
