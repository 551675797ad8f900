package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPolicyErrorsNamePlaces(t *testing.T) {
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		{
			name: "rules keys get the line of the key",
			config: "rules:\n  partner_domains: [com]\n  trusted_authserv_ids: [mx.adatum-csp.com]\n  incident_prefixes:\n    MC: Message Center\n" +
				goodTenant,
			want: []string{
				"cfg/config.yaml:2: rules.partner_domains:",
				"cfg/config.yaml:4: rules.incident_prefixes:",
			},
		},
		{
			name: "tenants get their own lines",
			config: goodRules + goodTenant +
				"  - name: Contoso again\n    id: 4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47\n    domains:\n      - fabrikam.com\n      - contoso.com\n",
			want: []string{
				"cfg/config.yaml:8: tenant id 4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47 is listed for two tenants (Contoso Ltd at cfg/config.yaml:5)",
				`cfg/config.yaml:12: domain "contoso.com" is listed for two tenants (Contoso Ltd at cfg/config.yaml:7)`,
			},
		},
		{
			name:   "tenants from a tenants_file point into it",
			config: goodRules + "tenants_file: reg/tenants.yaml\n",
			want:   []string{`cfg/reg/tenants.yaml:3: tenant "Contoso Ltd": id "4f1c2a9e" is not a tenant GUID`},
		},
	}
	files := map[string]string{"cfg/reg/tenants.yaml": "# registry\ntenants:\n  - name: Contoso Ltd\n    id: 4f1c2a9e\n    domains: [contoso.com]\n"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig("cfg/config.yaml", []byte(tt.config), &loader{lookupEnv: fakeEnv(nil), readFile: fakeFS(files)})
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			_, err = cfg.Policy()
			if err == nil {
				t.Fatalf("Policy() succeeded, want an error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Policy() error =\n%v\nwant it to contain\n%s", err, want)
				}
			}
		})
	}
}

func TestPolicyTestdata(t *testing.T) {
	for _, path := range []string{testConfig, testConfigTenantsFile} {
		cfg, err := loadConfig(path)
		if err != nil {
			t.Fatalf("loadConfig(%s): %v", path, err)
		}
		p, err := cfg.Policy()
		if err != nil {
			t.Fatalf("%s: Policy(): %v", path, err)
		}
		if got := p.Service("PL1199321"); got != "Planner" {
			t.Errorf("%s: Service(PL1199321) = %q, want Planner from incident_prefixes", path, got)
		}
	}
}

func TestPlaceErrors(t *testing.T) {
	cfg, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant), &loader{lookupEnv: fakeEnv(nil), readFile: fakeFS(nil)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{name: "nil", err: nil, want: nil},
		{name: "a key of the section", err: errors.New("trusted_authserv_ids: bad"), want: []string{"cfg/config.yaml:3: rules.trusted_authserv_ids: bad"}},
		{name: "a key the file does not set", err: errors.New("exchange_online: wrong"), want: []string{"cfg/config.yaml:1: rules.exchange_online: wrong"}},
		{name: "no key", err: errors.New("something else"), want: []string{"cfg/config.yaml:1: rules: something else"}},
		{name: "placed by a tenant's source", err: errors.New("cfg/config.yaml:5: tenant broken"), want: []string{"cfg/config.yaml:5: tenant broken"}},
		{
			name: "joined",
			err:  errors.Join(errors.New("partner_domains: a"), errors.New("word: b")),
			want: []string{"cfg/config.yaml:2: rules.partner_domains: a", "cfg/config.yaml:1: rules: word: b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range cfg.placeErrors("rules", tt.err) {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("placeErrors(rules, %v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
