package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/rules"
)

const incidentsUsage = `usage: claimtrail incidents --config FILE COMMAND [args]

Works on Microsoft's Service Health record of the claims' incidents, kept
in the ledger with a snapshot of every reading in the archive.

commands:
  import FILE.json   record an offline catalog of Service Health issues (a
                     Graph list response {"value": [...]} or a JSON array),
                     for every tenant; items that do not read are skipped
  sync [ID]          read the open claims' incidents (or incident ID, for
                     every tenant with a claim on it) from Microsoft Graph
                     in each customer tenant; needs the service_health
                     section of the configuration
  list               list the claims' incidents: classification, source,
                     whether a claim can still earn credit
  show ID            every reading of incident ID, oldest first

Exit status: 0 ok, 1 when an item, a tenant or the ledger failed (the
others are still done), 2 for bad usage or configuration.

flags:
`

func runIncidents(ctx context.Context, e *env, args []string) int {
	c, sub, rest, code := parseLedgerCommand(e, "incidents", incidentsUsage, args)
	if c == nil {
		return code
	}
	fs := c.subFlags(sub)
	var minArgs, maxArgs int
	switch sub {
	case "import", "show":
		minArgs, maxArgs = 1, 1
	case "sync":
		minArgs, maxArgs = 0, 1
	case "list":
	default:
		e.errorf("incidents: unknown command %q; use import, sync, list or show (see claimtrail incidents -h)", sub)
		return exitUsage
	}
	pos, code := c.parseSub(fs, rest)
	if code >= 0 {
		return code
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		e.errorf("incidents %s: want %d to %d argument(s), got %d; see claimtrail incidents -h", sub, minArgs, maxArgs, len(pos))
		return exitUsage
	}
	var id string
	if (sub == "show" || sub == "sync") && len(pos) == 1 {
		var err error
		if id, err = rules.ParseIncidentID(pos[0]); err != nil {
			e.errorf("incidents %s: %v", sub, err)
			return exitUsage
		}
	}
	var catalog []claims.Incident
	if sub == "import" {
		// Read the file first: a typo should not cost a ledger open.
		data, err := readCatalogFile(pos[0])
		if err != nil {
			e.errorf("incidents import: %v", err)
			return exitFail
		}
		var problems []error
		if catalog, problems, err = claims.ParseCatalog(data); err != nil {
			e.errorf("incidents import: %s: %v", pos[0], err)
			return exitFail
		}
		for _, p := range problems {
			e.errorf("incidents import: %s: %s; skipped", pos[0], termSafe(p.Error()))
		}
		if len(problems) > 0 {
			code = exitFail
		}
	}
	st, openCode := c.open(ctx, sub == "import" || sub == "sync")
	if st == nil {
		return openCode
	}
	defer st.close()
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch sub {
	case "import":
		s := newSyncer(c.cfg, st, nil, log)
		changed, err := s.ImportCatalog(ctx, catalog)
		if err != nil {
			return c.fail("import", err)
		}
		fmt.Fprintf(e.stdout, "%s: %s read, %d new or changed\n", pos[0], plural(len(catalog), "incident"), changed)
		return max(code, exitOK)
	case "sync":
		return c.syncIncidents(ctx, st, id, log)
	case "list":
		return c.listIncidents(ctx, st)
	}
	return c.showIncident(ctx, st, id)
}

func readCatalogFile(path string) ([]byte, error) {
	return readFileUpTo(path, claims.MaxCatalogSize, "a catalog")
}

// newSyncer returns the Service Health syncer of cfg over st; graph is nil
// when Service Health is off, which leaves catalogs and notifications.
func newSyncer(cfg *Config, st *state, graph *ingest.GraphClient, log *slog.Logger) *ingest.Syncer {
	return &ingest.Syncer{
		Graph: graph, Ledger: st.ledger, Snapshots: ingest.ObjectSnapshots{Store: st.store},
		TenantOn: cfg.ServiceHealth.TenantOn, Log: log,
	}
}

// errHealthOff says how to turn Service Health on.
func errHealthOff(path string) error {
	return fmt.Errorf("Service Health is not configured: add a service_health section with client_id and client_secret_file (the partner's multi-tenant app, ServiceHealth.Read.All through GDAP) to %s; see testdata/config.yaml", path)
}

// graphClient builds the Graph client of cfg's service_health section.
func graphClient(cfg *Config) (*ingest.GraphClient, error) {
	if !cfg.ServiceHealth.On() {
		return nil, errHealthOff(cfg.file)
	}
	g, err := ingest.NewGraphClient(cfg.ServiceHealth.GraphConfig())
	if err != nil {
		return nil, fmt.Errorf("%s: service_health: %w", cfg.where("service_health"), err)
	}
	return g, nil
}

func (c *ledgerCommand) syncIncidents(ctx context.Context, st *state, id string, log *slog.Logger) int {
	g, err := graphClient(c.cfg)
	if err != nil {
		c.e.errorf("incidents sync: %v", err)
		return exitUsage
	}
	s := newSyncer(c.cfg, st, g, log)
	var stats ingest.SyncStats
	if id == "" {
		stats, err = s.SyncAll(ctx)
	} else {
		sums, lerr := st.ledger.ClaimsForIncident(ctx, id)
		if lerr != nil {
			return c.fail("sync", lerr)
		}
		var keys []archive.IncidentKey
		for _, cs := range sums {
			keys = append(keys, archive.IncidentKey{TenantID: cs.TenantID, IncidentID: cs.IncidentID})
		}
		if len(keys) == 0 {
			c.e.errorf("incidents sync: no claim names %s; Graph is asked per claiming tenant (see claimtrail claims list)", id)
			return exitFail
		}
		stats, err = s.SyncKeys(ctx, keys)
	}
	fmt.Fprintf(c.e.stdout, "%d read, %d changed, %d skipped (tenants turned off), %d failed\n", stats.Synced, stats.Changed, stats.Skipped, stats.Failed)
	if err != nil {
		for _, e := range unjoin(err) {
			c.e.errorf("incidents sync: %s", termSafe(e.Error()))
		}
		return exitFail
	}
	return exitOK
}

// unjoin splits an errors.Join.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (c *ledgerCommand) listIncidents(ctx context.Context, st *state) int {
	tw := tabwriter.NewWriter(c.e.stdout, 0, 4, 2, ' ', 0)
	n := 0
	for cs, err := range st.ledger.AllClaims(ctx, archive.ClaimQuery{}) {
		if err != nil {
			return c.fail("list", err)
		}
		if n++; n == 1 {
			fmt.Fprintln(tw, "INCIDENT\tCLAIM\tTENANT\tCLASSIFICATION\tSOURCE\tREAD\tELIGIBLE")
		}
		cl := cs.Claim
		class, source, read, eligible := "-", "-", "-", "yes"
		if inc := cl.Incident; inc != nil {
			class, source = orDash(string(inc.Classification)), string(inc.Source)
			if !inc.ReadAt.IsZero() {
				read = claims.FormatTime(inc.ReadAt)
			}
		}
		if !cl.Eligible {
			eligible = orDash(cl.IneligibleWhy)
		}
		fmt.Fprintf(tw, "%s\t#%d\t%s\t%s\t%s\t%s\t%s\n", cs.IncidentID, cs.ID, cs.TenantID, termSafe(class), source, read, termSafe(eligible))
	}
	if n == 0 {
		fmt.Fprintln(c.e.stdout, "no claims, so no incidents; see claimtrail claims list")
		return exitOK
	}
	if err := tw.Flush(); err != nil {
		c.e.errorf("incidents list: write: %v", err)
		return exitFail
	}
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *ledgerCommand) showIncident(ctx context.Context, st *state, id string) int {
	sums, err := st.ledger.ClaimsForIncident(ctx, id)
	if err != nil {
		return c.fail("show", err)
	}
	tenants := []string{}
	for _, cs := range sums {
		tenants = append(tenants, cs.TenantID)
	}
	if len(tenants) == 0 {
		tenants = append(tenants, "") // the catalog's alone
	}
	w := c.e.stdout
	shown := 0
	for _, tenant := range tenants {
		hist, err := st.ledger.IncidentHistory(ctx, tenant, id)
		if err != nil {
			return c.fail("show", err)
		}
		if tenant != "" {
			fmt.Fprintf(w, "%s for tenant %s:\n", id, tenant)
		} else {
			fmt.Fprintf(w, "%s:\n", id)
		}
		if len(hist) == 0 {
			fmt.Fprintln(w, "  no readings; import a catalog or run claimtrail incidents sync")
		}
		for _, r := range hist {
			shown++
			writeIncidentRecord(w, r)
		}
	}
	if shown == 0 {
		return exitFail
	}
	return exitOK
}

func writeIncidentRecord(w io.Writer, r archive.IncidentRecord) {
	inc := r.Incident
	whose := "every tenant"
	if r.TenantID != "" {
		whose = "tenant " + r.TenantID
	}
	fmt.Fprintf(w, "  - %s, read %s, for %s\n", inc.Source, claims.FormatTime(inc.ReadAt), whose)
	if r.Listed != nil && !*r.Listed {
		fmt.Fprintln(w, "    not listed: Graph shows no such issue for the tenant")
		return
	}
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "    %-15s %s\n", k+":", termSafe(v))
		}
	}
	line("title", inc.Title)
	line("classification", string(inc.Classification))
	line("service", inc.Service)
	line("status", inc.Status)
	if !inc.Start.IsZero() {
		line("start", claims.FormatTime(inc.Start))
		line("deadline", claims.FormatTime(inc.Deadline(false)))
	}
	if !inc.End.IsZero() {
		line("end", claims.FormatTime(inc.End))
	}
	line("snapshot", r.SnapshotKey)
	if r.ReportKey != "" {
		line("report", r.ReportKey+" ("+r.ReportType+")")
	}
}
