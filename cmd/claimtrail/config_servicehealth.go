package main

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/rules"
)

// ServiceHealthConfig is the service_health section: how claimtrail reads
// Microsoft's Service Health record of the claims' incidents from
// Microsoft Graph in the customer tenants, with the partner's multi-tenant
// app (client credentials, ServiceHealth.Read.All through GDAP). Without
// the section claimtrail makes no Graph calls; offline catalogs and
// forwarded notification mails still count.
type ServiceHealthConfig struct {
	// Enabled defaults to true when the section is present; false keeps
	// the section but makes no Graph calls.
	Enabled *bool `yaml:"enabled"`
	// GraphURL and LoginURL default to the worldwide cloud's
	// (ingest.DefaultGraphURL, ingest.DefaultLoginURL).
	GraphURL string `yaml:"graph_url"`
	LoginURL string `yaml:"login_url"`
	// ClientID is the app's application (client) ID; ClientSecret a secret
	// of it, or client_secret_file, or $CLAIMTRAIL_SERVICE_HEALTH_CLIENT_SECRET.
	ClientID     string        `yaml:"client_id"`
	ClientSecret ingest.Secret `yaml:"client_secret"`
	// Refresh is how often `claimtrail run` reads the open claims'
	// incidents again; default 1h, at least 1m.
	Refresh time.Duration `yaml:"refresh"`
	// SkipTenants lists tenants (GUIDs) never asked, e.g. those that did
	// not consent to the app; OnlyTenants, instead, the only ones asked.
	// At most one of the two.
	SkipTenants []string `yaml:"skip_tenants"`
	OnlyTenants []string `yaml:"only_tenants"`

	present bool // the section is in the file or the environment
}

// Service Health refresh bounds.
const (
	defaultHealthRefresh = time.Hour
	minHealthRefresh     = time.Minute
)

// On reports whether claimtrail reads Service Health from Graph.
func (s *ServiceHealthConfig) On() bool {
	return s.present && (s.Enabled == nil || *s.Enabled)
}

// TenantOn reports whether Graph is asked about tenantID.
func (s *ServiceHealthConfig) TenantOn(tenantID string) bool {
	if !s.On() {
		return false
	}
	id, ok := rules.ParseTenantID(tenantID)
	if !ok {
		return false
	}
	has := func(list []string) bool {
		return slices.ContainsFunc(list, func(t string) bool {
			g, ok := rules.ParseTenantID(t)
			return ok && g == id
		})
	}
	if len(s.OnlyTenants) > 0 {
		return has(s.OnlyTenants)
	}
	return !has(s.SkipTenants)
}

// RefreshEvery is Refresh with its default.
func (s *ServiceHealthConfig) RefreshEvery() time.Duration {
	if s.Refresh == 0 {
		return defaultHealthRefresh
	}
	return s.Refresh
}

// GraphConfig is the Graph client's configuration.
func (s *ServiceHealthConfig) GraphConfig() ingest.GraphConfig {
	return ingest.GraphConfig{GraphURL: s.GraphURL, LoginURL: s.LoginURL, ClientID: strings.TrimSpace(s.ClientID), ClientSecret: s.ClientSecret}
}

// validate checks the section when it is on; bad reports one key.
func (s *ServiceHealthConfig) validate(bad func(key, format string, args ...any)) {
	if !s.present {
		return
	}
	if s.Refresh != 0 && s.Refresh < minHealthRefresh {
		bad("service_health.refresh", "%s is too often; Graph throttles: set at least 1m (default 1h)", s.Refresh)
	}
	for _, k := range []struct{ key, value, example string }{
		{"graph_url", s.GraphURL, ingest.DefaultGraphURL},
		{"login_url", s.LoginURL, ingest.DefaultLoginURL},
	} {
		if k.value == "" {
			continue
		}
		u, err := url.Parse(k.value)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			bad("service_health."+k.key, "%q is not a root URL like %s; leave it out for the worldwide cloud", k.value, k.example)
		}
	}
	if len(s.SkipTenants) > 0 && len(s.OnlyTenants) > 0 {
		bad("service_health.only_tenants", "set with skip_tenants; keep one: only_tenants lists the tenants asked, skip_tenants those never asked")
	}
	for _, list := range []struct {
		key string
		ids []string
	}{{"skip_tenants", s.SkipTenants}, {"only_tenants", s.OnlyTenants}} {
		for i, t := range list.ids {
			if _, ok := rules.ParseTenantID(t); !ok {
				bad(fmt.Sprintf("service_health.%s[%d]", list.key, i), "%q is not a tenant ID; copy the customer's Microsoft ID (tenant GUID) from Partner Center", t)
			}
		}
	}
	if !s.On() {
		return
	}
	if strings.TrimSpace(s.ClientID) == "" {
		bad("service_health.client_id", "missing; set the application (client) ID of the partner's multi-tenant app (Entra ID, App registrations), or enabled: false")
	}
	if s.ClientSecret == "" {
		bad("service_health.client_secret", "missing; set client_secret_file to a file holding a secret of the app (or client_secret, or $CLAIMTRAIL_SERVICE_HEALTH_CLIENT_SECRET)")
	}
}

// hasSection reports whether any key under section was set.
func (p *positions) hasSection(section string) bool {
	for path := range p.at {
		if path == section || strings.HasPrefix(path, section+".") {
			return true
		}
	}
	return false
}
