package rules

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNewErrors(t *testing.T) {
	ok := func() Tenant {
		return Tenant{ID: contosoID, Name: "Contoso Ltd", Domains: []string{"contoso.com"}, Source: "tenants.yaml:3"}
	}
	tests := []struct {
		name    string
		cfg     Config
		tenants []Tenant
		want    []string // each must appear in the error text, in this order
	}{
		{
			name: "domain listed for two tenants",
			tenants: []Tenant{ok(), {ID: fabrikamID, Name: "Fabrikam", Domains: []string{"fabrikam.com", "Contoso.com"},
				Source: "tenants.yaml:9", DomainSources: []string{"tenants.yaml:13", "tenants.yaml:14"}}},
			want: []string{`tenants.yaml:14: domain "Contoso.com" is listed for two tenants (Contoso Ltd at tenants.yaml:3)`},
		},
		{
			name: "domain listed twice, once as IDN",
			tenants: []Tenant{{ID: contosoID, Name: "A", Domains: []string{"bäckerei-münchen.de"}, Source: "t:1"},
				{ID: fabrikamID, Name: "B", Domains: []string{"xn--bckerei-mnchen-5hb60b.de"}, Source: "t:5"}},
			want: []string{`t:5: domain "xn--bckerei-mnchen-5hb60b.de" is listed for two tenants (A at t:1)`},
		},
		{
			name:    "bad GUID",
			tenants: []Tenant{{ID: "72f988bf-86f1-41af-91ab", Name: "Contoso", Domains: []string{"contoso.com"}, Source: "tenants.yaml:3"}},
			want:    []string{`tenants.yaml:3: tenant "Contoso": id "72f988bf-86f1-41af-91ab" is not a tenant GUID`},
		},
		{
			name:    "nil GUID",
			tenants: []Tenant{{ID: "00000000-0000-0000-0000-000000000000", Name: "Contoso", Domains: []string{"contoso.com"}}},
			want:    []string{`tenant 1 (Contoso): tenant "Contoso": id "00000000-0000-0000-0000-000000000000" is not a tenant GUID`},
		},
		{
			name:    "duplicate tenant IDs, differently written",
			tenants: []Tenant{ok(), {ID: "{" + strings.ToUpper(contosoID) + "}", Name: "Contoso again", Domains: []string{"contoso.net"}, Source: "tenants.yaml:20"}},
			want:    []string{"tenants.yaml:20: tenant id " + contosoID + " is listed for two tenants (Contoso Ltd at tenants.yaml:3)"},
		},
		{
			name:    "no domains",
			tenants: []Tenant{{ID: contosoID, Name: "Contoso", Source: "tenants.yaml:3"}},
			want:    []string{`tenants.yaml:3: tenant "Contoso" has no domains`},
		},
		{
			name:    "empty and invalid domains",
			tenants: []Tenant{{ID: contosoID, Name: "Contoso", Domains: []string{"", "contoso..com", "con toso.com"}, Source: "tenants.yaml:3"}},
			want:    []string{`tenants.yaml:3: tenant "Contoso": empty domain name`, `"contoso..com" is not a valid domain name`, `"con toso.com" is not a valid domain name`},
		},
		{
			name:    "public suffix as tenant domain",
			tenants: []Tenant{{ID: contosoID, Name: "Contoso", Domains: []string{"co.uk"}, Source: "t:1"}},
			want:    []string{`t:1: domain "co.uk" is a public suffix`},
		},
		{
			name:    "onmicrosoft.com as tenant domain",
			tenants: []Tenant{{ID: contosoID, Name: "Contoso", Domains: []string{"onmicrosoft.com"}, Source: "t:1"}},
			want:    []string{`t:1: domain "onmicrosoft.com" is a public suffix`},
		},
		{
			name:    "major personal provider as tenant domain",
			tenants: []Tenant{{ID: contosoID, Name: "Contoso", Domains: []string{"gmail.com", "hotmail.co.uk"}, Source: "t:1"}},
			want:    []string{`t:1: domain "gmail.com" is a personal mail provider`, `t:1: domain "hotmail.co.uk" is a personal mail provider`},
		},
		{
			name:    "tenant domain under a partner domain",
			cfg:     Config{PartnerDomains: []string{"northwind-partners.com"}},
			tenants: []Tenant{{ID: contosoID, Name: "Contoso", Domains: []string{"clients.northwind-partners.com"}, Source: "t:1"}},
			want:    []string{`t:1: domain "clients.northwind-partners.com" is (under) a partner domain`},
		},
		{
			name: "bad config",
			cfg: Config{
				PartnerDomains:     []string{"gmail.com", "not a domain", "com"},
				TrustedAuthservIDs: []string{"", "mx.contoso.com; spf=pass"},
				IncidentPrefixes:   map[string]string{"MC": "Message Center", "E": "x", "E1": "y", "ÉX": "z", "QX": ""},
			},
			tenants: []Tenant{ok()},
			want: []string{
				`partner_domains: "gmail.com" is a personal mail provider`,
				`partner_domains: "not a domain" is not a valid domain name`,
				`partner_domains: "com" is not a valid domain name`,
				`trusted_authserv_ids: "" is not an authserv-id`,
				`trusted_authserv_ids: "mx.contoso.com; spf=pass" is not an authserv-id`,
				`incident_prefixes: "E" is not an incident prefix`,
				`incident_prefixes: "E1" is not an incident prefix`,
				`incident_prefixes: "MC" is Message Center`,
				`incident_prefixes: "QX" has no service name`,
				`incident_prefixes: "ÉX" is not an incident prefix`,
			},
		},
		{
			name: "every error reported, not just the first",
			tenants: []Tenant{
				{ID: "nope", Name: "A", Domains: []string{"a.com"}, Source: "t:1"},
				{ID: contosoID, Name: "B", Source: "t:2"},
				{ID: fabrikamID, Name: "C", Domains: []string{"a.com"}, Source: "t:3"},
			},
			want: []string{`t:1: tenant "A": id "nope"`, `t:2: tenant "B" has no domains`, `t:3: domain "a.com" is listed for two tenants (A at t:1)`},
		},
	}
	for _, tt := range tests {
		p, err := New(tt.cfg, tt.tenants)
		if err == nil {
			t.Errorf("%s: New succeeded (%v), want errors %q", tt.name, p, tt.want)
			continue
		}
		msg := err.Error()
		rest := msg
		for _, w := range tt.want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Errorf("%s: New error =\n%s\nwant it to contain (in order) %q", tt.name, msg, w)
				break
			}
			rest = rest[i+len(w):]
		}
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) && len(joined.Unwrap()) != len(tt.want) {
			t.Errorf("%s: New returned %d errors, want %d:\n%s", tt.name, len(joined.Unwrap()), len(tt.want), msg)
		}
	}
}

func TestNewNormalises(t *testing.T) {
	p := newTestPolicy(t)
	got, ok := p.Tenant(strings.ToUpper(fabrikamID))
	if !ok {
		t.Fatalf("Tenant(%s) not found", fabrikamID)
	}
	if got.ID != fabrikamID {
		t.Errorf("Tenant(...).ID = %q, want canonical %q", got.ID, fabrikamID)
	}
	want := []string{"fabrikam.co.uk", "xn--bckerei-mnchen-5hb60b.de", "facebook.com"}
	if !reflect.DeepEqual(got.Domains, want) {
		t.Errorf("Tenant(...).Domains = %q, want %q", got.Domains, want)
	}
	// The returned tenant is a copy.
	got.Domains[0] = "mutated.example"
	if again, _ := p.Tenant(fabrikamID); again.Domains[0] != "fabrikam.co.uk" {
		t.Errorf("mutating a returned Tenant changed the policy: Domains[0] = %q", again.Domains[0])
	}
	if n := len(p.Tenants()); n != 2 {
		t.Errorf("len(Tenants()) = %d, want 2", n)
	}
}

func TestNewEmpty(t *testing.T) {
	p, err := New(Config{}, nil)
	if err != nil {
		t.Fatalf("New(Config{}, nil) = %v, want a policy with no tenants", err)
	}
	if j := p.Judge(&Message{From: "jane@contoso.com", Subject: "EX1234567"}); j.Reason != ReasonUnknownDomain {
		t.Errorf("Judge with no tenants: reason %q, want %q", j.Reason, ReasonUnknownDomain)
	}
}

func TestTenantByDomain(t *testing.T) {
	p := newTestPolicy(t)
	p2, err := New(Config{}, append(testTenants(), Tenant{ID: strangerID, Name: "Contoso EMEA", Domains: []string{"emea.contoso.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		p      *Policy
		domain string
		want   string // tenant ID, "" for none
	}{
		{"registered domain", p, "contoso.com", contosoID},
		{"subdomain", p, "it.contoso.com", contosoID},
		{"deep subdomain", p, "a.b.it.contoso.com", contosoID},
		{"upper case, trailing dot", p, "IT.Contoso.COM.", contosoID},
		{"initial domain", p, "contoso.onmicrosoft.com", contosoID},
		{"IDN domain as Unicode", p, "Bäckerei-München.de", fabrikamID},
		{"IDN domain as punycode", p, "xn--bckerei-mnchen-5hb60b.de", fabrikamID},
		{"corporate domain on the free-mail list", p, "facebook.com", fabrikamID},
		{"suffix look-alike", p, "contoso.com.evil.net", ""},
		{"prefix look-alike", p, "evilcontoso.com", ""},
		{"homoglyph", p, "c0ntoso.com", ""},
		{"another tenant's onmicrosoft.com", p, "fabrikam.onmicrosoft.com", ""},
		{"parent of a tenant domain", p, "co.uk", ""},
		{"garbage", p, "contoso..com", ""},
		{"nearest parent wins", p2, "x.emea.contoso.com", strangerID},
		{"sibling of the nested domain", p2, "apac.contoso.com", contosoID},
	}
	for _, tt := range tests {
		got, ok := tt.p.TenantByDomain(tt.domain)
		if ok != (tt.want != "") || got.ID != tt.want {
			t.Errorf("%s: TenantByDomain(%q) = %q, %v; want %q", tt.name, tt.domain, got.ID, ok, tt.want)
		}
	}
}

func TestIsPartnerDomain(t *testing.T) {
	p := newTestPolicy(t)
	tests := []struct {
		domain string
		want   bool
	}{
		{"northwind-partners.com", true},
		{"mail.northwind-partners.com", true},
		{"NORTHWIND-PARTNERS.COM.", true},
		{"northwind-partners.com.evil.net", false},
		{"evilnorthwind-partners.com", false},
		{"contoso.com", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := p.IsPartnerDomain(tt.domain); got != tt.want {
			t.Errorf("IsPartnerDomain(%q) = %v, want %v", tt.domain, got, tt.want)
		}
	}
}

func TestParseTenantID(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"canonical", contosoID, contosoID, true},
		{"upper case", strings.ToUpper(contosoID), contosoID, true},
		{"braces", "{" + contosoID + "}", contosoID, true},
		{"spaces", " " + contosoID + " ", contosoID, true},
		{"nil GUID", "00000000-0000-0000-0000-000000000000", "", false},
		{"no dashes", strings.ReplaceAll(contosoID, "-", ""), "", false},
		{"dash misplaced", "72f988b-f86f1-41af-91ab-2d7cd011db47", "", false},
		{"non-hex", "72f988bf-86f1-41af-91ab-2d7cd011db4g", "", false},
		{"one brace", "{" + contosoID, "", false},
		{"too long", contosoID + "0", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseTenantID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: ParseTenantID(%q) = %q, %v; want %q, %v", tt.name, tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestTenantIDs(t *testing.T) {
	tests := []struct {
		name  string
		texts []string
		want  []string
	}{
		{"plain", []string{"tenant " + contosoID}, []string{contosoID}},
		{"upper case in braces", []string{"{" + strings.ToUpper(fabrikamID) + "}"}, []string{fabrikamID}},
		{"URL query", []string{"https://portal.azure.com/?tenantId=" + contosoID + "&x=1"}, []string{contosoID}},
		{"percent-encoded braces", []string{"id=%7B" + contosoID + "%7D"}, []string{contosoID}},
		{"several, sorted and unique", []string{contosoID + " " + fabrikamID, contosoID}, []string{fabrikamID, contosoID}},
		{"letter before joins the token", []string{"x" + contosoID}, nil},
		{"letter after joins the token", []string{contosoID + "y"}, nil},
		{"hex digit before: a 9-digit first group", []string{"a" + contosoID}, nil},
		{"Cyrillic letter before", []string{"Ж" + contosoID}, nil},
		{"Greek letter after", []string{contosoID + "α"}, nil},
		{"Korean around", []string{"테넌트" + contosoID + "입니다"}, []string{contosoID}},
		{"underscore and dot around", []string{"export_" + contosoID + ".csv"}, []string{contosoID}},
		{"percent-encoded after a letter-like escape", []string{"tenant%3D" + contosoID + "%26x"}, []string{contosoID}},
		{"dashes everywhere", []string{"--------" + contosoID + "--------"}, []string{contosoID}},
		{"short", []string{"72f988bf-86f1-41af-91ab-2d7cd011db4"}, nil},
		{"between Japanese text", []string{"テナント" + contosoID + "です"}, []string{contosoID}},
		{"Latin label run into it", []string{"テナントID" + contosoID}, nil},
		{"full-width", []string{"７２ｆ９８８ｂｆ－８６ｆ１－４１ａｆ－９１ａｂ－２ｄ７ｃｄ０１１ｄｂ４７"}, []string{contosoID}},
		{"zero-width spaces where it wraps", []string{"72f988bf-\u200b86f1-41af-\u00ad91ab-2d7cd011db47"}, []string{contosoID}},
		{"none", []string{"no ids here - really"}, nil},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		if got := TenantIDs(tt.texts...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: TenantIDs(%q) = %q, want %q", tt.name, tt.texts, got, tt.want)
		}
	}
}
