package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

func TestUpsertTenants(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	first := []rules.Tenant{
		{ID: strings.ToUpper(tenantA), Name: "Contoso", Domains: []string{"Contoso.com", "contoso.cz."}, CSP: true, Source: "tenants.yaml:3"},
		{ID: tenantB, Name: "Fabrikam", Domains: []string{"fabrikam.com"}},
	}
	if _, err := l.UpsertTenants(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The configuration changes: Contoso drops contoso.cz, Fabrikam (listed
	// first) takes it.
	second := []rules.Tenant{
		{ID: tenantB, Name: "Fabrikam", Domains: []string{"fabrikam.com", "contoso.cz"}, CSP: true},
		{ID: tenantA, Name: "Contoso Ltd", Domains: []string{"contoso.com"}, CSP: false},
	}
	warnings, err := l.UpsertTenants(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("UpsertTenants warnings = %v, want none (the domain was released in the same update)", warnings)
	}
	got, err := l.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]rules.Tenant{
		{ID: tenantB, Name: "Fabrikam", Domains: []string{"contoso.cz", "fabrikam.com"}, CSP: true},
		{ID: tenantA, Name: "Contoso Ltd", Domains: []string{"contoso.com"}, CSP: false},
	})
	if fmt.Sprint(got) != want {
		t.Errorf("Tenants() = %v, want %v", got, want)
	}
	// A domain the ledger has for another tenant moves, with a warning.
	warnings, err = l.UpsertTenants(ctx, []rules.Tenant{{ID: tenantA, Name: "Contoso Ltd", Domains: []string{"contoso.com", "fabrikam.com"}}})
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], `"fabrikam.com" moved from tenant `+tenantB) {
		t.Errorf("UpsertTenants(taking a domain) = %v, %v; want one warning naming the move", warnings, err)
	}
}

func TestUpsertTenantsErrors(t *testing.T) {
	tests := []struct {
		name    string
		tenants []rules.Tenant
		want    []string
	}{
		{"bad GUID", []rules.Tenant{{ID: "contoso", Source: "tenants.yaml:4"}}, []string{`tenants.yaml:4: tenant ID "contoso" is not a GUID`}},
		{"domain twice", []rules.Tenant{
			{ID: tenantA, Domains: []string{"contoso.com"}, DomainSources: []string{"tenants.yaml:5"}},
			{ID: tenantB, Domains: []string{"CONTOSO.com"}, DomainSources: []string{"tenants.yaml:14"}},
		}, []string{`tenants.yaml:14: domain "contoso.com" is listed for two tenants (also at tenants.yaml:5)`}},
		{"tenant twice", []rules.Tenant{{ID: tenantA, Source: "a:1"}, {ID: tenantA, Source: "a:9"}}, []string{"a:9: tenant " + tenantA + " is listed twice (also a:1)"}},
		{"bad domain", []rules.Tenant{{ID: tenantA, Domains: []string{"jane@contoso.com"}, Source: "t:2"}}, []string{`t:2: tenant ` + tenantA + `: domain "jane@contoso.com" is not a domain name`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLedger(t)
			_, err := l.UpsertTenants(context.Background(), tt.tenants)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("UpsertTenants(%s) = %v, want an error containing %q", tt.name, err, w)
				}
			}
			if got, _ := l.Tenants(context.Background()); len(got) != 0 {
				t.Errorf("UpsertTenants(%s) failed but stored %v", tt.name, got)
			}
		})
	}
}

const (
	guid1 = "11111111-1111-4111-8111-111111111111"
	guid2 = "22222222-2222-4222-8222-222222222222"
	guid3 = "33333333-3333-4333-8333-333333333333"
)

func TestParsePartnerCenterCSV(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		want    string   // tenants as "id|name|domains|csp;..."
		wantErr []string // row errors, "line: substring"
		fatal   string
	}{
		{
			name: "partner center export",
			csv: "Microsoft ID,Company name,Primary domain name,Relationship,Tags\n" +
				guid1 + ",Contoso,contoso.com,Cloud Reseller,\n" +
				guid2 + ",Fabrikam,fabrikam.onmicrosoft.com,Advisor,vip\n",
			want: guid1 + "|Contoso|[contoso.com]|true;" + guid2 + "|Fabrikam|[fabrikam.onmicrosoft.com]|false",
		},
		{
			name: "BOM, CRLF, reordered columns, quoted fields",
			csv: "\ufeff\"Primary Domain Name\",\"Customer Name\",\"Customer ID\"\r\n" +
				"contoso.com,\"Contoso, s.r.o.\",\"" + strings.ToUpper(guid1) + "\"\r\n" +
				"\"fabrikam.com\",\"Fabrikam \"\"Retail\"\"\"," + guid2 + "\r\n",
			want: guid1 + "|Contoso, s.r.o.|[contoso.com]|true;" + guid2 + `|Fabrikam "Retail"|[fabrikam.com]|true`,
		},
		{
			name: "semicolons and a tenant ID header",
			csv:  "Tenant ID;Name;Domain\n" + guid1 + ";Contoso;contoso.com\n",
			want: guid1 + "|Contoso|[contoso.com]|true",
		},
		{
			name: "dual partner sees a customer twice",
			csv: "Microsoft ID,Company name,Primary domain name,Relationship\n" +
				guid1 + ",Contoso,contoso.com,Advisor\n" +
				guid1 + ",Contoso,contoso.com,Indirect reseller\n",
			want: guid1 + "|Contoso|[contoso.com]|true",
		},
		{
			name: "bad rows are reported with their lines",
			csv: "Microsoft ID,Company name,Primary domain name\n" + // 1
				guid1 + ",Contoso,contoso.com\n" + // 2
				"not-a-guid,Bad,bad.com\n" + // 3
				guid2 + ",Fabrikam,contoso.com\n" + // 4: domain taken
				guid3 + ",\"Multi\nline\",multi.com\n" + // 5-6: fine
				guid3 + ",Broken \"quote,x.com\n" + // 7
				guid2 + ",Fabrikam,not a domain\n" + // 8
				"\n" + // blank
				",Nameless,nameless.com\n", // 10
			want: guid1 + "|Contoso|[contoso.com]|true;" + guid3 + "|Multi\nline|[multi.com]|true",
			wantErr: []string{"3: tenant ID \"not-a-guid\"", "4: domain \"contoso.com\" is listed for two tenants (also at t.csv:2)",
				"7: bare \"", "8: primary domain", "10: tenant ID \"\""},
		},
		{name: "no ID column", csv: "Company name,Primary domain name\nContoso,contoso.com\n", fatal: "no tenant ID column"},
		{name: "empty", csv: "", fatal: "the file is empty"},
		{name: "UTF-16", csv: "\xff\xfeM\x00i\x00", fatal: "UTF-16"},
		{name: "header only", csv: "Microsoft ID\n", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenants, rowErrs, err := ParsePartnerCenterCSV(strings.NewReader(tt.csv), "t.csv")
			if tt.fatal != "" {
				if err == nil || !strings.Contains(err.Error(), tt.fatal) {
					t.Errorf("ParsePartnerCenterCSV(%s) error = %v, want %q", tt.name, err, tt.fatal)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePartnerCenterCSV(%s) = %v", tt.name, err)
			}
			var got []string
			for _, tn := range tenants {
				got = append(got, fmt.Sprintf("%s|%s|%v|%v", tn.ID, tn.Name, tn.Domains, tn.CSP))
			}
			if strings.Join(got, ";") != tt.want {
				t.Errorf("ParsePartnerCenterCSV(%s) tenants =\n%s\nwant\n%s", tt.name, strings.Join(got, ";"), tt.want)
			}
			var gotErrs []string
			for _, e := range rowErrs {
				gotErrs = append(gotErrs, e.Error())
			}
			if len(rowErrs) != len(tt.wantErr) {
				t.Errorf("row errors = %q, want %d: %q", gotErrs, len(tt.wantErr), tt.wantErr)
			}
			for i, w := range tt.wantErr {
				if i < len(gotErrs) && !strings.HasPrefix(gotErrs[i], "t.csv:") || i < len(gotErrs) && !strings.Contains(gotErrs[i], w) {
					t.Errorf("row error %d = %q, want t.csv:%s", i, gotErrs[i], w)
				}
			}
		})
	}
}

func TestImportPartnerCenterCSV(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	// The configuration knows Contoso, not through CSP, under two domains.
	if _, err := l.UpsertTenants(ctx, []rules.Tenant{{ID: guid1, Name: "Contoso", Domains: []string{"contoso.com"}, CSP: false}}); err != nil {
		t.Fatal(err)
	}
	csv := "Microsoft ID,Company name,Primary domain name,Relationship\n" +
		guid1 + ",Contoso s.r.o.,contoso.onmicrosoft.com,Cloud Reseller\n" +
		guid2 + ",Fabrikam,fabrikam.com,Cloud Reseller\n" +
		guid3 + ",Squatter,contoso.com,Cloud Reseller\n"
	res, err := l.ImportPartnerCenterCSV(ctx, strings.NewReader(csv), "customers.csv")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Added) != fmt.Sprint([]string{guid2, guid3}) || fmt.Sprint(res.Updated) != fmt.Sprint([]string{guid1}) {
		t.Errorf("import added %v updated %v, want [%s %s] and [%s]", res.Added, res.Updated, guid2, guid3, guid1)
	}
	if len(res.Errors) != 1 || res.Errors[0].Line != 4 || !strings.Contains(res.Errors[0].Error(), `customers.csv:4: domain "contoso.com" belongs to tenant `+guid1) {
		t.Errorf("import errors = %v, want line 4's contoso.com conflict", res.Errors)
	}
	tenants, _ := l.Tenants(ctx)
	want := fmt.Sprint([]rules.Tenant{
		{ID: guid1, Name: "Contoso s.r.o.", Domains: []string{"contoso.com", "contoso.onmicrosoft.com"}, CSP: false},
		{ID: guid2, Name: "Fabrikam", Domains: []string{"fabrikam.com"}, CSP: true, Source: "customers.csv:3"},
		{ID: guid3, Name: "Squatter", CSP: true, Source: "customers.csv:4"},
	})
	if fmt.Sprint(tenants) != want {
		t.Errorf("Tenants() after import =\n%v\nwant\n%v", tenants, want)
	}
	// Importing the same file again changes nothing.
	res, err = l.ImportPartnerCenterCSV(ctx, strings.NewReader(csv), "customers.csv")
	if err != nil || len(res.Added)+len(res.Updated) != 0 {
		t.Errorf("second import = %+v, %v; want no changes", res, err)
	}

	// The next start syncs the configuration again: the imported domain
	// stays, the configured ones follow the configuration.
	if _, err := l.UpsertTenants(ctx, []rules.Tenant{{ID: guid1, Name: "Contoso", Domains: []string{"contoso.eu"}, CSP: false}}); err != nil {
		t.Fatal(err)
	}
	tenants, _ = l.Tenants(ctx)
	if got := fmt.Sprint(tenants[0].Domains); got != "[contoso.eu contoso.onmicrosoft.com]" {
		t.Errorf("Contoso's domains after the configuration changed = %s, want [contoso.eu contoso.onmicrosoft.com]", got)
	}
	// A domain the configuration takes over from an import is then its own.
	if _, err := l.UpsertTenants(ctx, []rules.Tenant{{ID: guid1, Name: "Contoso", Domains: []string{"contoso.onmicrosoft.com"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.UpsertTenants(ctx, []rules.Tenant{{ID: guid1, Name: "Contoso", Domains: []string{"contoso.eu"}}}); err != nil {
		t.Fatal(err)
	}
	tenants, _ = l.Tenants(ctx)
	if got := fmt.Sprint(tenants[0].Domains); got != "[contoso.eu]" {
		t.Errorf("Contoso's domains after the configuration dropped a domain it took over = %s, want [contoso.eu]", got)
	}
}

func FuzzParsePartnerCenterCSV(f *testing.F) {
	f.Add("Microsoft ID,Company name,Primary domain name,Relationship,Tags\n" + guid1 + ",Contoso,contoso.com,Cloud Reseller,\n")
	f.Add("\ufeffTenant ID;Name;Domain\r\n" + guid1 + ";\"A;B\";a.com\r\n")
	f.Add("Customer ID,Domain\n" + guid1 + ",\"x\"\"y\n")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, in string) {
		tenants, rowErrs, err := ParsePartnerCenterCSV(strings.NewReader(in), "f.csv")
		if err != nil {
			if tenants != nil || rowErrs != nil {
				t.Errorf("ParsePartnerCenterCSV returned results with a fatal error %v", err)
			}
			return
		}
		for _, tn := range tenants {
			if _, err := normTenantID(tn.ID); err != nil || tn.ID != strings.ToLower(tn.ID) {
				t.Errorf("tenant ID %q is not a normalised GUID", tn.ID)
			}
			for _, d := range tn.Domains {
				if _, err := normDomain(d); err != nil {
					t.Errorf("domain %q: %v", d, err)
				}
			}
		}
		for _, e := range rowErrs {
			if e.Line < 1 {
				t.Errorf("row error %v has line %d", e, e.Line)
			}
		}
	})
}

// TestImportSampleExport loads the shared sample of Partner Center's
// export: BOM, CRLF, quoted fields, tags with semicolons, non-ASCII names,
// a customer without a reseller relationship.
func TestImportSampleExport(t *testing.T) {
	ctx := context.Background()
	f, err := os.Open(filepath.Join("..", "testdata", "partner-center-customers.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := newTestLedger(t)
	res, err := l.ImportPartnerCenterCSV(ctx, f, "partner-center-customers.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) != 0 || len(res.Added) != 7 {
		t.Fatalf("import = %d added, errors %v; want 7 and none", len(res.Added), res.Errors)
	}
	tenants, _ := l.Tenants(ctx)
	byName := map[string]rules.Tenant{}
	for _, tn := range tenants {
		byName[tn.Name] = tn
	}
	for _, tt := range []struct {
		name, id, domain string
		csp              bool
	}{
		{"Fabrikam, Inc.", "9b2e6d14-3a7f-4e51-b8c2-0f4a7d9e1c63", "fabrikam.com", true},
		{"Bäckerei München GmbH", "2d7a5c3e-8f19-4b6a-a4d0-5e3c9b7f1a28", "baeckereimuenchen.onmicrosoft.com", true},
		{"Northwind Traders", "5c8b2e7f-1a4d-4e96-a3f0-7d2c9b6e4a81", "northwindtraders.onmicrosoft.com", false},
	} {
		got, ok := byName[tt.name]
		if !ok || got.ID != tt.id || fmt.Sprint(got.Domains) != "["+tt.domain+"]" || got.CSP != tt.csp {
			t.Errorf("tenant %q = %+v, want %s %s csp %v", tt.name, got, tt.id, tt.domain, tt.csp)
		}
	}
}
