package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/claimtrail/claimtrail/archive"
)

const tenantsUsage = `usage: claimtrail tenants --config FILE COMMAND [flags] [args]

Works on the tenant registry in the ledger the configuration names: the
customer tenants mail is judged against. The configuration's tenants are
brought into it first, as every command over the ledger does.

commands:
  import FILE.csv    load Partner Center's customer export (Customers,
                     Export customers): new tenants are added, known ones
                     get the file's name and primary domain
  list [--json]      list the registry: ID, name, CSP, domains, source

A tenant listed in the configuration keeps the name, CSP flag and domains
the configuration gives it: the next command over the ledger puts them
back. Edit the configuration for those.

Exit status: 0 ok, 1 when a row of the file or the ledger failed (the good
rows are still imported), 2 for bad usage or configuration.

flags:
`

func runTenants(ctx context.Context, e *env, args []string) int {
	c, sub, rest, code := parseLedgerCommand(e, "tenants", tenantsUsage, args)
	if c == nil {
		return code
	}
	fs := c.subFlags(sub)
	var asJSON *bool
	nargs := 0
	switch sub {
	case "import":
		nargs = 1
	case "list":
		asJSON = fs.Bool("json", false, "print one JSON object per tenant instead of a table")
	default:
		e.errorf("tenants: unknown command %q; use import or list (see claimtrail tenants -h)", sub)
		return exitUsage
	}
	pos, code := c.parseSub(fs, rest)
	if code >= 0 {
		return code
	}
	if len(pos) != nargs {
		e.errorf("tenants %s: want %d argument(s), got %d; see claimtrail tenants -h", sub, nargs, len(pos))
		return exitUsage
	}
	var file *os.File
	if sub == "import" {
		// Open the file first: a typo in its name should not cost a
		// ledger open, nor leave a half-done import behind.
		var err error
		if file, err = openRegular(pos[0]); err != nil {
			e.errorf("tenants import: %v", err)
			return exitFail
		}
		defer file.Close()
	}
	st, code := c.open(ctx, false)
	if st == nil {
		return code
	}
	defer st.close()
	if sub == "import" {
		return c.importTenants(ctx, st.ledger, file, pos[0])
	}
	return c.listTenants(ctx, st.ledger, *asJSON)
}

// openRegular opens a file that must be a regular file (not a directory or
// a device, which would block or fail oddly later).
func openRegular(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return f, nil
}

func (c *ledgerCommand) importTenants(ctx context.Context, ledger *archive.Ledger, f *os.File, name string) int {
	res, err := ledger.ImportPartnerCenterCSV(ctx, f, name)
	if err != nil {
		return c.fail("import", err)
	}
	// The web app records its imports the same way: who loaded what.
	if _, err := ledger.AppendAudit(ctx, cliActor(), archive.ActionTenantsImported, "tenants", map[string]any{
		"file": name, "added": nonNil(res.Added), "updated": nonNil(res.Updated), "row_errors": len(res.Errors),
		"registry_version": res.RegistryVersion,
	}); err != nil {
		return c.fail("import", err)
	}
	fmt.Fprintf(c.e.stdout, "%s: %d added, %d updated, %s skipped\n", name, len(res.Added), len(res.Updated), plural(len(res.Errors), "row"))
	for _, id := range res.Added {
		fmt.Fprintf(c.e.stdout, "  added   %s\n", id)
	}
	for _, id := range res.Updated {
		fmt.Fprintf(c.e.stdout, "  updated %s\n", id)
	}
	for _, re := range res.Errors {
		c.e.errorf("%s", termSafe(re.Error()))
	}
	if len(res.Errors) > 0 {
		c.e.errorf("tenants import: %s of %s failed and were skipped; fix them and import the file again (rows already in are unchanged)",
			plural(len(res.Errors), "row"), name)
		return exitFail
	}
	return exitOK
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// tenantJSON is one line of "tenants list --json". Its fields are a
// contract for scripts: add, never rename.
type tenantJSON struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	CSP     bool     `json:"csp"`
	Domains []string `json:"domains"` // never null
	Source  string   `json:"source"`
}

func (c *ledgerCommand) listTenants(ctx context.Context, ledger *archive.Ledger, asJSON bool) int {
	tenants, err := ledger.Tenants(ctx)
	if err != nil {
		return c.fail("list", err)
	}
	if asJSON {
		enc := json.NewEncoder(c.e.stdout)
		enc.SetEscapeHTML(false)
		for _, t := range tenants {
			if err := enc.Encode(tenantJSON{ID: t.ID, Name: t.Name, CSP: t.CSP, Domains: nonNil(t.Domains), Source: t.Source}); err != nil {
				c.e.errorf("tenants list: write: %v", err)
				return exitFail
			}
		}
		return exitOK
	}
	if len(tenants) == 0 {
		fmt.Fprintln(c.e.stdout, "no tenants; list them in the configuration or import Partner Center's customer export")
		return exitOK
	}
	tw := tabwriter.NewWriter(c.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCSP\tDOMAINS\tSOURCE")
	for _, t := range tenants {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, termSafe(t.Name), yesNo(t.CSP), termSafe(strings.Join(t.Domains, ", ")), termSafe(t.Source))
	}
	fmt.Fprintf(tw, "\n%s\n", plural(len(tenants), "tenant"))
	if err := tw.Flush(); err != nil {
		c.e.errorf("tenants list: write: %v", err)
		return exitFail
	}
	return exitOK
}
