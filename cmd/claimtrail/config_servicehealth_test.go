package main

import (
	"strings"
	"testing"
	"time"
)

func TestConfigServiceHealth(t *testing.T) {
	files := fakeFS(map[string]string{"cfg/graph-secret": "s3cret-from-file\n"})
	tests := []struct {
		name    string
		section string
		env     map[string]string
		check   func(t *testing.T, s *ServiceHealthConfig)
		errs    []string // each must be in the error; none means success
	}{
		{name: "absent is off", check: func(t *testing.T, s *ServiceHealthConfig) {
			if s.On() || s.TenantOn(contosoID) {
				t.Errorf("service health is on without a section")
			}
		}},
		{name: "full section", section: "service_health:\n  client_id: 11111111-2222-3333-4444-555555555555\n  client_secret_file: graph-secret\n  refresh: 30m\n  skip_tenants: [" + fabrikamID + "]\n",
			check: func(t *testing.T, s *ServiceHealthConfig) {
				if !s.On() || !s.TenantOn(contosoID) || s.TenantOn(strings.ToUpper(fabrikamID)) {
					t.Errorf("On %v, contoso %v, fabrikam %v; want on, on, skipped", s.On(), s.TenantOn(contosoID), s.TenantOn(fabrikamID))
				}
				if s.ClientSecret.Reveal() != "s3cret-from-file" || s.RefreshEvery() != 30*time.Minute {
					t.Errorf("secret %q refresh %s", s.ClientSecret.Reveal(), s.RefreshEvery())
				}
				g := s.GraphConfig()
				if g.GraphURL != "" || g.ClientID != "11111111-2222-3333-4444-555555555555" {
					t.Errorf("GraphConfig = %+v", g)
				}
			}},
		{name: "only tenants and defaults", section: "service_health:\n  client_id: app\n  client_secret: x\n  only_tenants: [" + fabrikamID + "]\n",
			check: func(t *testing.T, s *ServiceHealthConfig) {
				if s.TenantOn(contosoID) || !s.TenantOn(fabrikamID) || s.RefreshEvery() != time.Hour {
					t.Errorf("only_tenants: contoso %v fabrikam %v refresh %s", s.TenantOn(contosoID), s.TenantOn(fabrikamID), s.RefreshEvery())
				}
			}},
		{name: "disabled needs no credentials", section: "service_health:\n  enabled: false\n", check: func(t *testing.T, s *ServiceHealthConfig) {
			if s.On() {
				t.Errorf("enabled: false is on")
			}
		}},
		{name: "from the environment alone", env: map[string]string{"CLAIMTRAIL_SERVICE_HEALTH_CLIENT_ID": "app", "CLAIMTRAIL_SERVICE_HEALTH_CLIENT_SECRET": "env-secret", "CLAIMTRAIL_SERVICE_HEALTH_REFRESH": "2h"},
			check: func(t *testing.T, s *ServiceHealthConfig) {
				if !s.On() || s.ClientSecret.Reveal() != "env-secret" || s.RefreshEvery() != 2*time.Hour {
					t.Errorf("env: on %v secret %q refresh %s", s.On(), s.ClientSecret.Reveal(), s.RefreshEvery())
				}
			}},
		{name: "empty section", section: "service_health:\n", errs: []string{"cfg/config.yaml:", "service_health.client_id: missing", "service_health.client_secret: missing; set client_secret_file"}},
		{name: "both secrets", section: "service_health:\n  client_id: app\n  client_secret: x\n  client_secret_file: graph-secret\n", errs: []string{"keep one of client_secret and client_secret_file"}},
		{name: "refresh too often", section: "service_health:\n  client_id: app\n  client_secret: x\n  refresh: 10s\n", errs: []string{"cfg/config.yaml:14: service_health.refresh: 10s is too often"}},
		{name: "refresh not a duration", section: "service_health:\n  refresh: hourly\n", errs: []string{"cfg/config.yaml:12:", "not a duration"}},
		{name: "bad url", section: "service_health:\n  client_id: app\n  client_secret: x\n  graph_url: graph.microsoft.com\n", errs: []string{"service_health.graph_url: \"graph.microsoft.com\" is not a root URL"}},
		{name: "bad tenant", section: "service_health:\n  client_id: app\n  client_secret: x\n  skip_tenants: [contoso]\n", errs: []string{"service_health.skip_tenants[0]: \"contoso\" is not a tenant ID"}},
		{name: "skip and only", section: "service_health:\n  client_id: app\n  client_secret: x\n  skip_tenants: [" + contosoID + "]\n  only_tenants: [" + fabrikamID + "]\n", errs: []string{"keep one"}},
		{name: "typo", section: "service_health:\n  clientid: app\n", errs: []string{`unknown key "clientid"`, `did you mean "client_id"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &loader{lookupEnv: fakeEnv(tt.env), readFile: files}
			c, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant+"  - name: Fabrikam\n    id: "+fabrikamID+"\n    domains: [fabrikam.com]\n"+tt.section), l)
			if len(tt.errs) > 0 {
				if err == nil {
					t.Fatalf("parseConfig succeeded, want an error with %q", tt.errs)
				}
				for _, want := range tt.errs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("parseConfig error =\n%v\nwant it to contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			tt.check(t, &c.ServiceHealth)
			if s := c.String(); strings.Contains(s, "s3cret") || strings.Contains(s, "env-secret") {
				t.Errorf("the config prints its secret:\n%s", s)
			}
		})
	}
}
