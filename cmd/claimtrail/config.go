package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/remind"
	"github.com/claimtrail/claimtrail/rules"
	"github.com/claimtrail/claimtrail/web"
)

// Config is claimtrail's configuration file. Each top-level key is a
// section owned by the package that uses it. To add a section, add a field
// with its yaml tag here and a case to Validate; the loader, the
// environment overrides, *_file secrets and redaction find it by
// reflection.
type Config struct {
	Rules   rules.Config   `yaml:"rules"`
	Tenants []rules.Tenant `yaml:"tenants"`
	// TenantsFile names a tenant registry ("tenants:" followed by a list,
	// as in Tenants), relative to the config file. Its tenants are added to
	// Tenants.
	TenantsFile string `yaml:"tenants_file"`
	// Web is the web app's section (listen, base_url, secure_cookies,
	// session_ttl).
	Web web.Config `yaml:"web"`
	// Archive is where evidence bundles and audit anchors are stored: a
	// directory (the default, under ./data) or MinIO.
	Archive archive.StoreConfig `yaml:"archive"`
	// Ledger is the database of messages, claims and the audit trail:
	// a SQLite file (the default) or PostgreSQL (driver: postgres, dsn or
	// dsn_file).
	Ledger archive.LedgerConfig `yaml:"ledger"`
	// Mailboxes are the IMAP mailboxes that `claimtrail run` polls.
	Mailboxes []ingest.MailboxConfig `yaml:"mailboxes"`
	// DKIM says whether and how signatures are verified on arrival.
	DKIM DKIMConfig `yaml:"dkim"`
	// ServiceHealth reads the claims' incidents from Microsoft Graph;
	// absent, no Graph calls are made.
	ServiceHealth ServiceHealthConfig `yaml:"service_health"`
	// Reminders are the deadline reminders `claimtrail run` sends: the
	// thresholds and the channels (webhook, Teams, SMTP), each optional.
	Reminders remind.Config `yaml:"reminders"`
	// Replica splits the mailbox folders between the replicas of
	// `claimtrail run` sharing one ledger: its ID and the leases' timing.
	Replica ReplicaConfig `yaml:"replica"`

	file string     // the path it was loaded from, as given
	pos  *positions // where each key was set
	// tenantsPath is TenantsFile resolved against the config's directory,
	// and inlineTenants how many of Tenants the config lists itself (the
	// file's follow them): what a running poller reloads the file with.
	tenantsPath   string
	inlineTenants int
}

// maxConfigBytes caps the config and tenant files: a registry of tens of
// thousands of tenants fits, a mistaken path to a mailbox does not.
const maxConfigBytes = 16 << 20

// loadConfig reads, checks and validates the configuration file at path,
// applies CLAIMTRAIL_* environment overrides and reads secrets from *_file
// keys. Its errors say which file, line and key are wrong.
func loadConfig(path string) (*Config, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parseConfig(path, data, &loader{lookupEnv: os.LookupEnv, readFile: readLimited})
}

// loader holds what loading a config needs from the outside world, so that
// tests and the fuzzer can replace it.
type loader struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
}

// parseConfig is loadConfig on data already read from the file name.
func parseConfig(name string, data []byte, l *loader) (*Config, error) {
	c := &Config{file: name, pos: newPositions()}
	if err := decodeStrict(name, data, "", c, c.pos); err != nil {
		return nil, err
	}
	dir := filepath.Dir(name)
	if err := resolveSecretFiles(c, c.pos, dir, l.readFile); err != nil {
		return nil, err
	}
	if err := applyEnv(c, c.pos, l.lookupEnv, l.readFile); err != nil {
		return nil, err
	}
	c.ServiceHealth.present = c.pos.hasSection("service_health")
	for i := range c.Tenants {
		c.pos.setTenantSources(&c.Tenants[i], fmt.Sprintf("tenants[%d]", i))
	}
	if c.TenantsFile != "" {
		path := c.TenantsFile
		if !c.pos.fromEnv("tenants_file") && !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		ts, err := loadTenantsFile(path, l.readFile)
		if err != nil {
			return nil, fmt.Errorf("%s: tenants_file: %w", c.pos.where("tenants_file"), err)
		}
		c.tenantsPath, c.inlineTenants = path, len(c.Tenants)
		c.Tenants = append(c.Tenants, ts...)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// tenantsDoc is the layout of a tenants_file.
type tenantsDoc struct {
	Tenants []rules.Tenant `yaml:"tenants"`
}

// loadTenantsFile reads a tenant registry; each tenant's Source and
// DomainSources point into it.
func loadTenantsFile(path string, readFile func(string) ([]byte, error)) ([]rules.Tenant, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var doc tenantsDoc
	pos := newPositions()
	if err := decodeStrict(path, data, "", &doc, pos); err != nil {
		return nil, err
	}
	if len(doc.Tenants) == 0 {
		return nil, fmt.Errorf("%s: no tenants; the file must hold \"tenants:\" followed by a list", path)
	}
	for i := range doc.Tenants {
		pos.setTenantSources(&doc.Tenants[i], fmt.Sprintf("tenants[%d]", i))
	}
	return doc.Tenants, nil
}

// Validate checks what the sections' own types cannot, naming the
// offending key and where it was set. rules.New checks the rules and the
// tenants in depth when the policy is built (Policy). A section whose type
// has its own Validate method is one more line:
//
//	errs = append(errs, c.placeErrors("store", c.Store.Validate())...)
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s: %s", c.pos.where(key), key, fmt.Sprintf(format, args...)))
	}
	// rules
	if len(c.Rules.PartnerDomains) == 0 {
		bad("rules.partner_domains", "missing; list your own (the CSP partner's) mail domains, e.g. [adatum-csp.com]")
	}
	if len(c.Rules.TrustedAuthservIDs) == 0 && !c.Rules.ExchangeOnline {
		bad("rules.trusted_authserv_ids", "missing; name the server whose Authentication-Results count (e.g. [mx.adatum-csp.com]) or set exchange_online: true")
	}
	// tenants and tenants_file
	if len(c.Tenants) == 0 {
		bad("tenants", "none; list the customer tenants under tenants: or point tenants_file: at a registry")
	}
	for i, t := range c.Tenants {
		if strings.TrimSpace(t.ID) == "" {
			errs = append(errs, fmt.Errorf("%s: tenant %q has no id; copy its Microsoft ID (tenant GUID) from Partner Center", t.Source, tenantName(t, i)))
		}
		if strings.TrimSpace(t.Name) == "" {
			errs = append(errs, fmt.Errorf("%s: tenant %s has no name; give the customer's name, it is shown in every verdict", t.Source, t.ID))
		}
	}
	errs = append(errs, c.placeErrors("web", c.Web.Validate())...)
	errs = append(errs, c.placeErrors("archive", c.Archive.WithDefaults().Validate())...)
	errs = append(errs, c.placeErrors("ledger", c.Ledger.Validate())...)
	names := map[string]bool{}
	for i, m := range c.Mailboxes {
		key := fmt.Sprintf("mailboxes[%d]", i)
		if err := m.WithDefaults().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", c.where(key), key, err))
		}
		if names[m.Name] {
			bad(key+".name", "%q names two mailboxes; names key the checkpoints, so each must be unique", m.Name)
		}
		names[m.Name] = true
	}
	if c.DKIM.Timeout < 0 {
		bad("dkim.timeout", "%s is negative", c.DKIM.Timeout)
	}
	c.ServiceHealth.validate(bad)
	c.Replica.validate(bad)
	errs = append(errs, c.reminderErrors()...)
	return errors.Join(errs...)
}

func tenantName(t rules.Tenant, i int) string {
	if t.Name != "" {
		return t.Name
	}
	return fmt.Sprintf("#%d", i+1)
}

// where says where key ("rules.partner_domains", "tenants[2].id") was set:
// "config.yaml:7", "$CLAIMTRAIL_RULES_EXCHANGE_ONLINE", or the file name
// when the key is absent.
func (c *Config) where(key string) string { return c.pos.where(key) }

// String renders c as YAML with every secret replaced by <redacted>, for
// printing and logging.
func (c *Config) String() string { return redactedYAML(c) }

// LogValue keeps slog from printing secrets.
func (c *Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func readLimited(path string) ([]byte, error) {
	return readFileUpTo(path, maxConfigBytes, "a configuration file")
}

// readFileUpTo reads the file path, refusing a directory or one larger
// than limit bytes with an error naming what it should be ("a catalog").
func readFileUpTo(path string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", path)
	}
	tooBig := func(n int64) error {
		return fmt.Errorf("%s is %d bytes, more than the %d %s may have", path, n, limit, what)
	}
	if st.Size() > limit {
		return nil, tooBig(st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1)) // a pipe's size is unknown
	if err == nil && int64(len(data)) > limit {
		return nil, tooBig(int64(len(data)))
	}
	return data, err
}

// yamlMarshal exists so the redaction code has one place to marshal.
func yamlMarshal(v any) ([]byte, error) { return yaml.Marshal(v) }
