package web

import (
	"context"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

// TestTenantSourceForAdminsOnly: where a tenant was declared names a file
// on the server; only admins see it, on the page and in the API.
func TestTenantSourceForAdminsOnly(t *testing.T) {
	f := newFixture(t)
	const path = "/etc/claimtrail/secret-dir/tenants.yaml:7"
	if _, err := f.ledger.UpsertTenants(context.Background(), []rules.Tenant{
		{ID: northwindID, Name: "Northwind Traders", Domains: []string{"northwind.example"}, Source: path},
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user string
		sees bool
	}{{"vera", false}, {"anna", false}, {"adam", true}} {
		cookie, _ := f.session(c.user)
		page := f.get("/tenants", cookie)
		if !strings.Contains(page.Body.String(), "Northwind Traders") {
			t.Fatalf("%s: the tenants page does not list the tenant", c.user)
		}
		if got := strings.Contains(page.Body.String(), "secret-dir"); got != c.sees {
			t.Errorf("%s sees the source path on the page: %v, want %v", c.user, got, c.sees)
		}
		api := f.apiCall("GET", "/api/v1/tenants", f.apiToken(c.user), "")
		if got := strings.Contains(api.Body.String(), "secret-dir"); got != c.sees {
			t.Errorf("%s sees the source path in the API: %v, want %v", c.user, got, c.sees)
		}
	}
}
