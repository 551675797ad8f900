package rules

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Policy is a validated, compiled Config and tenant registry. It is
// immutable after New and safe for concurrent use.
type Policy struct {
	tenants  []entry        // normalised copies, in registry order
	byID     map[string]int // canonical GUID -> index into tenants
	byDomain map[string]int // normalised domain -> index into tenants
	partners map[string]bool
	trusted  map[string]bool // lower-case authserv-ids
	exo      bool
	prefixes map[string]string // upper-case prefix -> service name
	known    [26 * 26]bool     // prefixes, indexed by prefixIndex, for the scanner
	// registry is the version of the tenant registry the tenants came
	// from; 0 when unknown.
	registry int64
}

// WithRegistryVersion returns a copy of p that records v, the version of
// the tenant registry p's tenants were read from, in every Judgment it
// makes. The copy shares p's compiled tables, which are immutable.
func (p *Policy) WithRegistryVersion(v int64) *Policy {
	c := *p
	c.registry = v
	return &c
}

// RegistryVersion returns the tenant registry's version p was built from
// (WithRegistryVersion); 0 when unknown.
func (p *Policy) RegistryVersion() int64 { return p.registry }

// New validates cfg and tenants and compiles them into a Policy. Domains are
// normalised (NormalizeDomain) and tenant IDs put in canonical lower-case
// GUID form. It reports every problem it finds, joined (errors.Join), each
// prefixed with where it was declared (Tenant.Source, DomainSources) or, when
// that is unknown, the config key or the tenant's position ("tenant 3"):
// bad or duplicate tenant IDs, tenants without domains, invalid domains,
// a domain listed for two tenants, public suffixes and major personal
// providers listed as tenant domains, tenant domains under a partner domain,
// and invalid partner domains, authserv-ids and incident prefixes.
func New(cfg Config, tenants []Tenant) (*Policy, error) {
	p := &Policy{
		byID:     make(map[string]int, len(tenants)),
		byDomain: make(map[string]int, 2*len(tenants)),
		partners: make(map[string]bool, len(cfg.PartnerDomains)),
		trusted:  make(map[string]bool, len(cfg.TrustedAuthservIDs)),
		exo:      cfg.ExchangeOnline,
		prefixes: DefaultIncidentPrefixes(),
	}
	var errs []error
	errs = append(errs, p.compileConfig(cfg)...)
	errs = append(errs, p.compileTenants(tenants)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Policy) compileConfig(cfg Config) []error {
	var errs []error
	for _, raw := range cfg.PartnerDomains {
		d, err := NormalizeDomain(raw)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("partner_domains: %w", err))
		case isPublicSuffix(d):
			errs = append(errs, fmt.Errorf("partner_domains: %q is a public suffix; list the partner's own domain", raw))
		case isPersonal(d):
			errs = append(errs, fmt.Errorf("partner_domains: %q is a personal mail provider; list only the partner's own domains", raw))
		default:
			p.partners[d] = true
		}
	}
	for _, raw := range cfg.TrustedAuthservIDs {
		id := strings.ToLower(strings.TrimSpace(raw))
		if id == "" || strings.ContainsAny(id, " \t\r\n;()\"") {
			errs = append(errs, fmt.Errorf("trusted_authserv_ids: %q is not an authserv-id; give the receiving server's name as it appears before the first \";\" of its Authentication-Results header", raw))
			continue
		}
		p.trusted[id] = true
	}
	for _, key := range slices.Sorted(maps.Keys(cfg.IncidentPrefixes)) {
		name := strings.TrimSpace(cfg.IncidentPrefixes[key])
		prefix := strings.ToUpper(strings.TrimSpace(key))
		switch {
		case prefixIndex(prefix) < 0:
			errs = append(errs, fmt.Errorf("incident_prefixes: %q is not an incident prefix; use two ASCII letters, as in EX1234567", key))
		case prefix == "MC":
			errs = append(errs, fmt.Errorf("incident_prefixes: %q is Message Center (change announcements), not an incident prefix", key))
		case name == "":
			errs = append(errs, fmt.Errorf("incident_prefixes: %q has no service name; give one, e.g. %s: \"Exchange Online\"", key, prefix))
		default:
			p.prefixes[prefix] = name
		}
	}
	for prefix := range p.prefixes {
		p.known[prefixIndex(prefix)] = true
	}
	return errs
}

// tenantLoc says where tenant i was declared, for error messages.
func tenantLoc(t *Tenant, i int) string {
	if t.Source != "" {
		return t.Source
	}
	if t.Name != "" {
		return fmt.Sprintf("tenant %d (%s)", i+1, t.Name)
	}
	return fmt.Sprintf("tenant %d", i+1)
}

// domainLoc says where domain k of tenant i was declared.
func domainLoc(t *Tenant, i, k int) string {
	if k < len(t.DomainSources) && t.DomainSources[k] != "" {
		return t.DomainSources[k]
	}
	return tenantLoc(t, i)
}

// tenantLabel names a tenant for a human: its name, else its ID.
func tenantLabel(t *Tenant) string {
	if t.Name != "" {
		return t.Name
	}
	return t.ID
}

func (p *Policy) compileTenants(tenants []Tenant) []error {
	var errs []error
	for i := range tenants {
		in := &tenants[i]
		e := entry{Tenant: *in, where: tenantLoc(in, i)}
		e.ID, e.Domains, e.DomainSources = "", nil, nil

		if id, valid := ParseTenantID(in.ID); !valid {
			errs = append(errs, fmt.Errorf("%s: tenant %q: id %q is not a tenant GUID; copy the tenant ID (8-4-4-4-12 hex digits) from Partner Center or Entra ID", e.where, tenantLabel(in), in.ID))
		} else if j, dup := p.byID[id]; dup {
			other := &p.tenants[j]
			errs = append(errs, fmt.Errorf("%s: tenant id %s is listed for two tenants (%s at %s)", e.where, id, tenantLabel(&other.Tenant), other.where))
		} else {
			e.ID = id
		}
		if len(in.Domains) == 0 {
			errs = append(errs, fmt.Errorf("%s: tenant %q has no domains; list the domains its users send mail from", e.where, tenantLabel(in)))
		}
		for k, raw := range in.Domains {
			dloc := domainLoc(in, i, k)
			d, err := NormalizeDomain(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: tenant %q: %w", dloc, tenantLabel(in), err))
				continue
			}
			if slices.Contains(e.Domains, d) {
				continue // the same domain twice (perhaps as Unicode and as punycode) is harmless
			}
			if msg := p.badTenantDomain(d, raw); msg != "" {
				errs = append(errs, fmt.Errorf("%s: %s", dloc, msg))
				continue
			}
			if j, dup := p.byDomain[d]; dup {
				other := &p.tenants[j]
				errs = append(errs, fmt.Errorf("%s: domain %q is listed for two tenants (%s at %s)", dloc, raw, tenantLabel(&other.Tenant), other.domainWhere(d)))
				continue
			}
			e.Domains = append(e.Domains, d)
			e.DomainSources = append(e.DomainSources, dloc)
		}

		// Invalid tenants are registered too, so that later duplicates are
		// reported against them; New fails anyway.
		idx := len(p.tenants)
		p.tenants = append(p.tenants, e)
		if e.ID != "" {
			p.byID[e.ID] = idx
		}
		for _, d := range e.Domains {
			p.byDomain[d] = idx
		}
	}
	return errs
}

// badTenantDomain says why the normalised domain d cannot be a tenant's, or
// returns "".
func (p *Policy) badTenantDomain(d, raw string) string {
	switch {
	case isPublicSuffix(d):
		return fmt.Sprintf("domain %q is a public suffix, not an organisation's domain; list the tenant's own domain", raw)
	case p.isPartner(d):
		return fmt.Sprintf("domain %q is (under) a partner domain; partner staff mail is judged by the customer mail it carries, so it cannot also be a tenant's", raw)
	case isMajorPersonalProvider(d):
		return fmt.Sprintf("domain %q is a personal mail provider; list only domains verified in the tenant (Microsoft Graph /domains)", raw)
	}
	return ""
}

// majorProviders are the organisation labels of the big consumer mail
// services. The personal list also names corporate domains (facebook.com),
// so it cannot veto tenant domains by itself; a tenant that lists
// gmail.com would make every Gmail user that tenant's customer.
var majorProviders = map[string]bool{
	"aol": true, "gmail": true, "gmx": true, "googlemail": true, "hotmail": true,
	"icloud": true, "live": true, "mac": true, "me": true, "msn": true,
	"outlook": true, "proton": true, "protonmail": true, "yahoo": true,
	"yandex": true, "ymail": true,
}

func isMajorPersonalProvider(d string) bool {
	org := OrganizationalDomain(d)
	label, _, _ := strings.Cut(org, ".")
	return majorProviders[label] && isPersonal(d)
}

// entry is a registered tenant and where it was declared.
type entry struct {
	Tenant
	where string
}

// domainWhere says where the tenant declared domain d.
func (e *entry) domainWhere(d string) string {
	if i := slices.Index(e.Domains, d); i >= 0 && e.DomainSources[i] != "" {
		return e.DomainSources[i]
	}
	return e.where
}

// ParseTenantID returns s in canonical tenant-ID form (lower-case GUID
// without braces) and whether s is one. Braces and upper case are accepted;
// the nil GUID is not.
func ParseTenantID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	if len(s) != 36 {
		return "", false
	}
	var b [36]byte
	zero := true
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			switch {
			case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
			case 'A' <= c && c <= 'F':
				c += 'a' - 'A'
			default:
				return "", false
			}
			if c != '0' {
				zero = false
			}
		}
		b[i] = c
	}
	if zero {
		return "", false
	}
	return string(b[:]), true
}

// Tenants returns the registered tenants in registry order, with IDs and
// domains normalised.
func (p *Policy) Tenants() []Tenant {
	out := make([]Tenant, len(p.tenants))
	for i := range p.tenants {
		out[i] = p.tenants[i].copy()
	}
	return out
}

func (e *entry) copy() Tenant {
	t := e.Tenant
	t.Domains = slices.Clone(t.Domains)
	t.DomainSources = slices.Clone(t.DomainSources)
	return t
}

// Tenant returns the tenant with the given ID (any case, braces allowed).
func (p *Policy) Tenant(id string) (Tenant, bool) {
	id, ok := ParseTenantID(id)
	if !ok {
		return Tenant{}, false
	}
	i, ok := p.byID[id]
	if !ok {
		return Tenant{}, false
	}
	return p.tenants[i].copy(), true
}

// TenantByDomain returns the tenant that a sender domain belongs to: the
// tenant with that domain or, failing that, with the nearest parent domain
// ("it.contoso.com" belongs to the tenant of "contoso.com"). Look-alikes
// ("evilcontoso.com", "contoso.com.evil.net") belong to no tenant.
func (p *Policy) TenantByDomain(domain string) (Tenant, bool) {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return Tenant{}, false
	}
	i := p.tenantIndex(d)
	if i < 0 {
		return Tenant{}, false
	}
	return p.tenants[i].copy(), true
}

// tenantIndex is TenantByDomain for a normalised domain; -1 when none.
func (p *Policy) tenantIndex(d string) int {
	for {
		if i, ok := p.byDomain[d]; ok {
			return i
		}
		dot := strings.IndexByte(d, '.')
		if dot < 0 {
			return -1
		}
		d = d[dot+1:]
	}
}

// IsPartnerDomain reports whether domain is one of Config.PartnerDomains or
// a subdomain of one.
func (p *Policy) IsPartnerDomain(domain string) bool {
	d, err := NormalizeDomain(domain)
	return err == nil && p.isPartner(d)
}

func (p *Policy) isPartner(d string) bool {
	for {
		if p.partners[d] {
			return true
		}
		dot := strings.IndexByte(d, '.')
		if dot < 0 {
			return false
		}
		d = d[dot+1:]
	}
}
