package archive

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

// tenantC is a tenant only the registry tests import.
const tenantC = "3e9d7c1b-4a2f-4b8e-9c6d-5f1a2b3c4d5e"

// registryEntries returns the details of the registry_changed entries,
// oldest first.
func registryEntries(t *testing.T, l *Ledger) []map[string]any {
	t.Helper()
	es, err := l.AuditEntries(context.Background(), AuditFilter{Actions: []Action{ActionRegistryChanged}})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Subject != "registry" || es[i].Actor != ActorSystem {
			t.Errorf("registry_changed entry %d: actor %q subject %q, want system, registry", es[i].Seq, es[i].Actor, es[i].Subject)
		}
		var d map[string]any
		if err := json.Unmarshal(es[i].Details, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// TestRegistryVersion: every write that changes the tenants or their
// domains bumps the registry's version by one and says so in the audit
// trail; a write that changes nothing leaves both alone.
func TestRegistryVersion(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	version := func() int64 {
		t.Helper()
		v, err := l.RegistryVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := version(); v != 1 {
		t.Fatalf("RegistryVersion of a new ledger = %d, want 1", v)
	}
	contoso := rules.Tenant{ID: tenantA, Name: "Contoso", Domains: []string{"contoso.com"}, CSP: true, Source: "tenants.yaml:3"}
	fabrikam := rules.Tenant{ID: tenantB, Name: "Fabrikam", Domains: []string{"fabrikam.com"}}
	steps := []struct {
		name    string
		write   func() error
		want    int64
		tenants []any // of the audit entry, when the version moved
	}{
		{"upsert two tenants", func() error { _, err := l.UpsertTenants(ctx, []rules.Tenant{contoso, fabrikam}); return err }, 2, []any{tenantB, tenantA}},
		{"the same upsert again (every start does it)", func() error {
			c := contoso
			c.Source = "elsewhere.yaml:9" // where it is declared is no change
			_, err := l.UpsertTenants(ctx, []rules.Tenant{c, fabrikam})
			return err
		}, 2, nil},
		{"a domain added", func() error {
			c := contoso
			c.Domains = []string{"contoso.com", "contoso.cz"}
			_, err := l.UpsertTenants(ctx, []rules.Tenant{c})
			return err
		}, 3, []any{tenantA}},
		{"the CSP flag", func() error {
			f := fabrikam
			f.CSP = true
			_, err := l.UpsertTenants(ctx, []rules.Tenant{f})
			return err
		}, 4, []any{tenantB}},
		{"an import adding a tenant and a known tenant's domain", func() error {
			_, err := l.ImportPartnerCenterCSV(ctx, strings.NewReader("Microsoft ID,Company name,Primary domain name\n"+
				tenantC+",Tailspin s.r.o.,tailspin.cz\n"+tenantB+",Fabrikam,fabrikam.cz\n"), "customers.csv")
			return err
		}, 5, []any{tenantB, tenantC}},
		{"the same import again", func() error {
			res, err := l.ImportPartnerCenterCSV(ctx, strings.NewReader("Microsoft ID,Company name,Primary domain name\n"+
				tenantC+",Tailspin s.r.o.,tailspin.cz\n"), "customers.csv")
			if err == nil && res.RegistryVersion != 5 {
				t.Errorf("no-op import: CSVImport.RegistryVersion = %d, want 5", res.RegistryVersion)
			}
			return err
		}, 5, nil},
	}
	entries := 0
	for _, s := range steps {
		if err := s.write(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if v := version(); v != s.want {
			t.Errorf("%s: RegistryVersion = %d, want %d", s.name, v, s.want)
		}
		got := registryEntries(t, l)
		if s.tenants == nil {
			if len(got) != entries {
				t.Errorf("%s: %d registry_changed entries, want %d (no change, no entry)", s.name, len(got), entries)
			}
			continue
		}
		entries++
		if len(got) != entries {
			t.Fatalf("%s: %d registry_changed entries, want %d", s.name, len(got), entries)
		}
		last := got[len(got)-1]
		if last["registry_version"] != float64(s.want) || last["previous_version"] != float64(s.want-1) || !reflect.DeepEqual(last["tenants"], s.tenants) {
			t.Errorf("%s: registry_changed details = %v, want version %d from %d, tenants %v", s.name, last, s.want, s.want-1, s.tenants)
		}
	}
	v, tenants, err := l.Registry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := l.Tenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != 5 || !reflect.DeepEqual(tenants, want) || len(tenants) != 3 {
		t.Errorf("Registry = %d, %+v; want 5 and the 3 tenants of Tenants, %+v", v, tenants, want)
	}
}

// TestRegistryConsistent: Registry's version is that of the tenants it
// returns, while writers change both.
func TestRegistryConsistent(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	done := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 30 && err == nil; i++ {
			name := "Contoso " + string(rune('A'+i))
			_, err = l.UpsertTenants(ctx, []rules.Tenant{{ID: tenantA, Name: name, Domains: []string{"contoso.com"}}})
		}
		done <- err
	}()
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		v, tenants, err := l.Registry(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Version 1 has no tenants, version n (from 2) names Contoso's
		// (n-2)th spelling.
		switch {
		case v == 1 && len(tenants) == 0:
		case v >= 2 && len(tenants) == 1 && tenants[0].Name == "Contoso "+string(rune('A'+v-2)):
		default:
			t.Fatalf("Registry = %d, %+v: the tenants are not those of the version", v, tenants)
		}
	}
}
