package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestTenantsCommand(t *testing.T) {
	f := newLedgerFixture(t)
	const tailspinID = "0b6f3c2d-9e8a-4f71-b5d4-2c1e7a9f3b80"
	csv := writeTemp(t, f.dir, "customers.csv", []byte("Microsoft ID,Company name,Primary domain name\n"+
		tailspinID+",Tailspin Toys,tailspintoys.com\n"+
		fabrikamID+",\"Fabrikam, Inc.\",fabrikam.onmicrosoft.com\n"+
		"not-a-guid,Broken Row Ltd,broken.example\n"+
		northwindID+",Northwind Traders,contoso.com\n"))
	sample := filepath.Join("..", "..", "testdata", "partner-center-customers.csv")
	f.check(t, []cliCase{
		{"empty registry is impossible: the configuration fills it", []string{"tenants", "--config", "CONFIG", "list"}, exitOK,
			[]string{"ID", "NAME", "CSP", "DOMAINS", "SOURCE\n", "Contoso Ltd", "yes", "contoso.co.uk, contoso.com, contoso.onmicrosoft.com", "config.yaml:"}, ""},
		{"rows with errors fail the import", []string{"tenants", "--config", "CONFIG", "import", csv}, exitFail,
			[]string{csv + ": 1 added, 1 updated, 2 rows skipped\n", "added   " + tailspinID, "updated " + fabrikamID},
			csv + `:5: domain "contoso.com" belongs to tenant ` + contosoID},
		// Fabrikam is in the configuration; the domains the first import
		// added survive the ledger's sync with it, so nothing changes.
		{"the row errors are named by line", []string{"tenants", "--config", "CONFIG", "import", csv}, exitFail,
			[]string{csv + ": 0 added, 0 updated, 2 rows skipped\n"}, csv + ":4: tenant ID \"not-a-guid\" is not a GUID"},
		{"imported tenants are listed", []string{"tenants", "--config", "CONFIG", "list"}, exitOK,
			[]string{"Tailspin Toys", "yes", "tailspintoys.com", "customers.csv:2"}, ""},
		{"Partner Center's sample export", []string{"tenants", "--config", "CONFIG", "import", sample}, exitOK,
			[]string{sample + ": 0 added, "}, ""},
		{"no such file", []string{"tenants", "--config", "CONFIG", "import", filepath.Join(f.dir, "nope.csv")}, exitFail, nil, "no such file"},
		{"a directory", []string{"tenants", "--config", "CONFIG", "import", f.dir}, exitFail, nil, "is not a regular file"},
		{"no file", []string{"tenants", "--config", "CONFIG", "import"}, exitUsage, nil, "want 1 argument(s), got 0"},
		{"unknown command", []string{"tenants", "--config", "CONFIG", "remove", tailspinID}, exitUsage, nil, "use import or list"},
	})

	code, stdout, stderr := f.run("tenants", "--config", "CONFIG", "list", "--json")
	if code != exitOK {
		t.Fatalf("tenants list --json = %d: %s", code, stderr)
	}
	byID := map[string]tenantJSON{}
	for line := range strings.Lines(stdout) {
		var tj tenantJSON
		if err := json.Unmarshal([]byte(line), &tj); err != nil {
			t.Fatalf("tenants list --json line %q: %v", line, err)
		}
		byID[tj.ID] = tj
	}
	if got := byID[tailspinID]; got.Name != "Tailspin Toys" || !got.CSP || strings.Join(got.Domains, ",") != "tailspintoys.com" {
		t.Errorf("tenants list --json: Tailspin = %+v", got)
	}
	if got := byID[northwindID]; got.CSP || strings.Join(got.Domains, ",") != "northwindtraders.com,northwindtraders.onmicrosoft.com" {
		t.Errorf("tenants list --json: Northwind = %+v, want the configuration's CSP flag kept and the export's domain added", got)
	}

	// The import is in the audit trail, with who did it.
	code, stdout, _ = f.run("audit", "--config", "CONFIG", "export")
	if code != exitOK || !strings.Contains(stdout, `"actor":"cli:tester","action":"tenants_imported","subject":"tenants","details":{"added":["`+tailspinID+`"]`) {
		t.Errorf("audit export after the import = %d, lacks the import by cli:tester:\n%s", code, stdout)
	}
}
