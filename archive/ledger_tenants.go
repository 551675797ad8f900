package archive

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/claimtrail/claimtrail/rules"
)

// normDomain is rules.NormalizeDomain, the one grammar of a domain, with
// an error that shows what one looks like. (Its own looser check once
// took ".." for the domain ".", which no rule could match.)
func normDomain(s string) (string, error) {
	d, err := rules.NormalizeDomain(s)
	if err != nil || len(d) > 253 {
		return "", fmt.Errorf("%q is not a domain name like contoso.com", s)
	}
	return d, nil
}

func tenantSource(t rules.Tenant) string {
	if t.Source != "" {
		return t.Source + ": "
	}
	return ""
}

func domainSource(t rules.Tenant, i int) string {
	if i < len(t.DomainSources) && t.DomainSources[i] != "" {
		return t.DomainSources[i] + ": "
	}
	return tenantSource(t)
}

// UpsertTenants makes the ledger's tenant registry agree with tenants, the
// configuration: each tenant is inserted or updated (name, CSP flag, and its
// configured domains replaced by the configured ones; domains a CSV import
// added are kept). Tenants not in the list are left
// alone. A domain configured for two tenants is an error that names both
// places; a domain the ledger had for another tenant moves to the configured
// one, with a warning.
func (l *Ledger) UpsertTenants(ctx context.Context, tenants []rules.Tenant) (warnings []string, err error) {
	type entry struct {
		t       rules.Tenant
		id      string
		domains []string
	}
	var (
		entries []entry
		owner   = map[string]string{} // domain -> where it was first listed, with the tenant
		errs    []error
	)
	seen := map[string]string{}
	for _, t := range tenants {
		id, err := normTenantID(t.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%w", tenantSource(t), err))
			continue
		}
		if prev, dup := seen[id]; dup {
			errs = append(errs, fmt.Errorf("%stenant %s is listed twice (also %s)", tenantSource(t), id, prev))
			continue
		}
		seen[id] = strings.TrimSuffix(tenantSource(t), ": ")
		e := entry{t: t, id: id}
		for i, raw := range t.Domains {
			d, err := normDomain(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("%stenant %s: domain %w", domainSource(t, i), id, err))
				continue
			}
			where := strings.TrimSuffix(domainSource(t, i), ": ")
			if where == "" {
				where = "tenant " + id
			}
			if prev, dup := owner[d]; dup {
				errs = append(errs, fmt.Errorf("%sdomain %q is listed for two tenants (also at %s)", domainSource(t, i), d, prev))
				continue
			}
			owner[d] = where
			e.domains = append(e.domains, d)
		}
		entries = append(entries, e)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("archive: upsert tenants: %w", errors.Join(errs...))
	}
	err = l.write(ctx, "upsert tenants", func(tx *sql.Tx) error {
		at := l.now()
		now := fmtTime(at)
		var refresh []string
		_, err := l.changeRegistry(ctx, tx, at, "upsert tenants", func() error {
			// Claims take the CSP item from the registry: those of a tenant
			// that is new or whose flag changed are refreshed below. This runs
			// at every start, so the others are left alone.
			for _, e := range entries {
				var csp bool
				err := tx.QueryRowContext(ctx, `SELECT csp FROM tenants WHERE id = ?`, e.id).Scan(&csp)
				switch {
				case errors.Is(err, sql.ErrNoRows) || (err == nil && csp != e.t.CSP):
					refresh = append(refresh, e.id)
				case err != nil:
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, csp, source, updated_at) VALUES (?, ?, ?, ?, ?)
					ON CONFLICT (id) DO UPDATE SET name = excluded.name, csp = excluded.csp, source = excluded.source,
					updated_at = excluded.updated_at`, e.id, e.t.Name, e.t.CSP, e.t.Source, now); err != nil {
					return err
				}
				// Only the configuration's own domains: those a CSV import
				// added are not the configuration's to remove.
				if _, err := tx.ExecContext(ctx, `DELETE FROM tenant_domains WHERE tenant_id = ? AND origin = 'config'`, e.id); err != nil {
					return err
				}
			}
			// Domains go in after every configured tenant released its old
			// ones, so a domain passed between two of them is no "move".
			for _, e := range entries {
				for _, d := range e.domains {
					var prev string
					err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM tenant_domains WHERE domain = ?`, d).Scan(&prev)
					switch {
					case err == nil:
						if prev != e.id {
							warnings = append(warnings, fmt.Sprintf("domain %q moved from tenant %s to %s (%s)", d, prev, e.id, owner[d]))
						}
						// The configuration now owns it, wherever it came from.
						if _, err := tx.ExecContext(ctx, `UPDATE tenant_domains SET tenant_id = ?, origin = 'config' WHERE domain = ?`, e.id, d); err != nil {
							return err
						}
					case errors.Is(err, sql.ErrNoRows):
						if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_domains (domain, tenant_id) VALUES (?, ?)`, d, e.id); err != nil {
							return err
						}
					default:
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return l.refreshTenantClaims(ctx, tx, ActorSystem, refresh)
	})
	if err != nil {
		return nil, err
	}
	return warnings, nil
}

// Tenants returns the tenant registry, ordered by ID, domains sorted.
func (l *Ledger) Tenants(ctx context.Context) ([]rules.Tenant, error) {
	out, err := tenantsIn(ctx, l.r)
	if err != nil {
		return nil, dbErr("list tenants", err)
	}
	return out, nil
}

// tenantsIn reads the tenant registry through q, as Tenants returns it.
func tenantsIn(ctx context.Context, q querier) ([]rules.Tenant, error) {
	return tenantsWhere(ctx, q, "TRUE", nil)
}

// tenantsWhere reads the tenants of the registry that cond, over tenants
// t, selects, as Tenants returns them.
func tenantsWhere(ctx context.Context, q querier, cond string, args []any) ([]rules.Tenant, error) {
	rows, err := q.QueryContext(ctx, `SELECT t.id, t.name, t.csp, t.source, d.domain FROM tenants t
		LEFT JOIN tenant_domains d ON d.tenant_id = t.id WHERE `+cond+` ORDER BY t.id, d.domain`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rules.Tenant
	for rows.Next() {
		var t rules.Tenant
		var domain sql.NullString
		if err := rows.Scan(&t.ID, &t.Name, &t.CSP, &t.Source, &domain); err != nil {
			return nil, err
		}
		if n := len(out); n == 0 || out[n-1].ID != t.ID {
			out = append(out, t)
		}
		if domain.Valid {
			last := &out[len(out)-1]
			last.Domains = append(last.Domains, domain.String)
		}
	}
	return out, rows.Err()
}

// RowError is a problem with one row of an imported file.
type RowError struct {
	Name string // the file, as the caller named it
	Line int    // 1-based line where the row starts
	Err  error
}

// Error formats the problem as "name:line: problem".
func (e *RowError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }

// Unwrap returns the problem without its place.
func (e *RowError) Unwrap() error { return e.Err }

// Partner Center's customer export names its columns differently across
// versions and languages of the UI; these are the English spellings seen,
// compared after normaliseHeader, in order of preference.
var (
	csvIDColumns           = []string{"tenantid", "microsoftid", "customerid", "customertenantid", "directoryid"}
	csvNameColumns         = []string{"customername", "companyname", "name", "customer", "organization", "organisation"}
	csvDomainColumns       = []string{"primarydomainname", "primarydomain", "domainname", "domain", "defaultdomain"}
	csvRelationshipColumns = []string{"relationship", "relationshiptopartner"}
)

func normaliseHeader(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func findColumn(index map[string]int, names []string) int {
	for _, n := range names {
		if i, ok := index[n]; ok {
			return i
		}
	}
	return -1
}

// maxCSVRows bounds an import: a partner's customer list is thousands of
// rows, not millions.
const maxCSVRows = 200000

// ParsePartnerCenterCSV reads Partner Center's customer export ("Export
// customers": Microsoft ID, Company name, Primary domain name,
// Relationship, Tags). Columns are matched by header name, case- and
// punctuation-insensitively, in any order; a UTF-8 byte order mark and a
// semicolon separator (some locales' Excel) are accepted. name labels the
// per-row errors ("customers.csv:7: ...").
//
// A tenant's CSP flag comes from the Relationship column (a reseller
// relationship means the subscriptions are bought through CSP) and is true
// when the column is absent: the export lists the partner's CSP customers.
// Rows naming the same tenant are merged (dual partners see customers
// twice). Bad rows are reported and skipped; the error is for a file that
// cannot be read at all.
func ParsePartnerCenterCSV(r io.Reader, name string) ([]rules.Tenant, []*RowError, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("archive: read %s: %w", name, err)
	}
	switch {
	case bytes.HasPrefix(head, []byte("\xef\xbb\xbf")):
		br.Discard(3)
	case bytes.HasPrefix(head, []byte("\xff\xfe")), bytes.HasPrefix(head, []byte("\xfe\xff")):
		return nil, nil, fmt.Errorf("archive: read %s: the file is UTF-16; export or save it as CSV (UTF-8)", name)
	}
	// Sniff the separator from the header line.
	line, _ := br.Peek(4096)
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	cr := csv.NewReader(br)
	if bytes.Count(line, []byte(";")) > bytes.Count(line, []byte(",")) {
		cr.Comma = ';'
	}
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = false

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("archive: read %s: the file is empty; export the customer list from Partner Center (Customers, Export customers)", name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("archive: read %s: header: %w", name, err)
	}
	index := map[string]int{}
	for i, h := range header {
		if n := normaliseHeader(h); n != "" {
			if _, dup := index[n]; !dup {
				index[n] = i
			}
		}
	}
	idCol := findColumn(index, csvIDColumns)
	if idCol < 0 {
		return nil, nil, fmt.Errorf("archive: read %s: no tenant ID column (looked for \"Microsoft ID\", \"Customer ID\" or \"Tenant ID\" in the header %q)",
			name, strings.Join(header, ","))
	}
	nameCol := findColumn(index, csvNameColumns)
	domainCol := findColumn(index, csvDomainColumns)
	relCol := findColumn(index, csvRelationshipColumns)

	var (
		tenants   []rules.Tenant
		byID      = map[string]int{} // tenant ID -> index in tenants
		domainAt  = map[string]struct{ id, where string }{}
		rowErrors []*RowError
	)
	field := func(rec []string, i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	for rows := 0; ; rows++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rowErrors = append(rowErrors, &RowError{Name: name, Line: pe.StartLine, Err: pe.Err})
				continue
			}
			return nil, nil, fmt.Errorf("archive: read %s: %w", name, err)
		}
		if rows >= maxCSVRows {
			return nil, nil, fmt.Errorf("archive: read %s: more than %d rows; is this the customer list?", name, maxCSVRows)
		}
		lineNo, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line with only whitespace
		}
		rowErr := func(format string, args ...any) {
			rowErrors = append(rowErrors, &RowError{Name: name, Line: lineNo, Err: fmt.Errorf(format, args...)})
		}
		if idCol >= len(rec) {
			rowErr("%d fields, but the tenant ID is column %d (%q)", len(rec), idCol+1, header[idCol])
			continue
		}
		id, err := normTenantID(field(rec, idCol))
		if err != nil {
			rowErr("%v", err)
			continue
		}
		where := fmt.Sprintf("%s:%d", name, lineNo)
		var domain string
		if raw := field(rec, domainCol); raw != "" {
			if domain, err = normDomain(raw); err != nil {
				rowErr("primary domain %v", err)
				continue
			}
			if prev, ok := domainAt[domain]; ok && prev.id != id {
				rowErr("domain %q is listed for two tenants (also at %s)", domain, prev.where)
				continue
			} else if !ok {
				domainAt[domain] = struct{ id, where string }{id, where}
			}
		}
		csp := true
		if relCol >= 0 {
			rel := strings.ToLower(field(rec, relCol))
			csp = rel == "" || strings.Contains(rel, "reseller")
		}
		i, ok := byID[id]
		if !ok {
			byID[id] = len(tenants)
			tenants = append(tenants, rules.Tenant{ID: id, Name: field(rec, nameCol), CSP: csp, Source: where})
			i = len(tenants) - 1
		} else {
			t := &tenants[i]
			t.CSP = t.CSP || csp
			if t.Name == "" {
				t.Name = field(rec, nameCol)
			}
		}
		if domain != "" {
			t := &tenants[i]
			if !contains(t.Domains, domain) {
				t.Domains = append(t.Domains, domain)
				t.DomainSources = append(t.DomainSources, where)
			}
		}
	}
	return tenants, rowErrors, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// CSVImport is the outcome of ImportPartnerCenterCSV.
type CSVImport struct {
	Added   []string    // tenant IDs inserted
	Updated []string    // tenant IDs that were known, whose name or domains changed
	Errors  []*RowError // rows skipped
	// RegistryVersion is the tenant registry's version after the import:
	// one above the version before when the import changed anything.
	RegistryVersion int64
}

// ImportPartnerCenterCSV loads Partner Center's customer export (see
// ParsePartnerCenterCSV) into the tenant registry. New tenants are added
// with the CSP flag the file implies; known tenants get the file's name
// and primary domain added to their domains, but keep their CSP flag, which
// the configuration owns. A primary domain the ledger has for another
// tenant is a row error. The good rows are imported even when some are bad.
func (l *Ledger) ImportPartnerCenterCSV(ctx context.Context, r io.Reader, name string) (*CSVImport, error) {
	tenants, rowErrs, err := ParsePartnerCenterCSV(r, name)
	if err != nil {
		return nil, err
	}
	res := &CSVImport{Errors: rowErrs}
	err = l.write(ctx, "import "+name, func(tx *sql.Tx) error {
		res.Added, res.Updated = nil, nil
		res.Errors = append([]*RowError(nil), rowErrs...)
		at := l.now()
		now := fmtTime(at)
		var err error
		res.RegistryVersion, err = l.changeRegistry(ctx, tx, at, "import "+name, func() error {
			return l.importTenants(ctx, tx, now, name, tenants, res)
		})
		if err != nil {
			return err
		}
		return l.refreshTenantClaims(ctx, tx, ActorSystem, res.Added)
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(res.Errors, func(i, j int) bool { return res.Errors[i].Line < res.Errors[j].Line })
	return res, nil
}

// importTenants writes ImportPartnerCenterCSV's tenants inside tx, noting
// in res what it added and updated and the rows it refused.
func (l *Ledger) importTenants(ctx context.Context, tx *sql.Tx, now, name string, tenants []rules.Tenant, res *CSVImport) error {
	for _, t := range tenants {
		var oldName string
		err := tx.QueryRowContext(ctx, `SELECT name FROM tenants WHERE id = ?`, t.ID).Scan(&oldName)
		known := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		changed := false
		if !known {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, csp, source, updated_at) VALUES (?, ?, ?, ?, ?)`,
				t.ID, t.Name, t.CSP, t.Source, now); err != nil {
				return err
			}
			res.Added = append(res.Added, t.ID)
		} else if t.Name != "" && t.Name != oldName {
			if _, err := tx.ExecContext(ctx, `UPDATE tenants SET name = ?, updated_at = ? WHERE id = ?`, t.Name, now, t.ID); err != nil {
				return err
			}
			changed = true
		}
		for i, d := range t.Domains {
			var owner string
			err := tx.QueryRowContext(ctx, `SELECT tenant_id FROM tenant_domains WHERE domain = ?`, d).Scan(&owner)
			switch {
			case err == nil && owner == t.ID:
			case err == nil:
				line := 0
				fmt.Sscanf(strings.TrimPrefix(t.DomainSources[i], name+":"), "%d", &line)
				res.Errors = append(res.Errors, &RowError{Name: name, Line: line,
					Err: fmt.Errorf("domain %q belongs to tenant %s in the registry, not %s; fix the configuration or the file", d, owner, t.ID)})
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_domains (domain, tenant_id, origin) VALUES (?, ?, 'import')`, d, t.ID); err != nil {
					return err
				}
				changed = true
			default:
				return err
			}
		}
		if known && changed {
			res.Updated = append(res.Updated, t.ID)
		}
	}
	return nil
}
