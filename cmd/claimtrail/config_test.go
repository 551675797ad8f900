package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

const (
	testConfig            = "../../testdata/config.yaml"
	testConfigTenantsFile = "../../testdata/config-tenants-file.yaml"
	testTenantsFile       = "../../testdata/tenants.yaml"
)

// lineOf returns the 1-based number of the first line of file that
// contains text outside a comment, so tests do not hard-code line numbers.
func lineOf(t *testing.T, file, text string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, text) && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			return i + 1
		}
	}
	t.Fatalf("%s has no line containing %q", file, text)
	return 0
}

// fakeFS serves files from a map, for parseConfig's loader.
func fakeFS(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := files[filepath.ToSlash(name)]; ok {
			return []byte(s), nil
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
}

func fakeEnv(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func TestLoadConfigTestdata(t *testing.T) {
	cfg, err := loadConfig(testConfig)
	if err != nil {
		t.Fatalf("loadConfig(%s): %v", testConfig, err)
	}
	if got, want := cfg.Rules.PartnerDomains, []string{"adatum-csp.com"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rules.partner_domains = %q, want %q", got, want)
	}
	if !cfg.Rules.ExchangeOnline {
		t.Errorf("rules.exchange_online = false, want true")
	}
	if got := cfg.Rules.IncidentPrefixes["PL"]; got != "Planner" {
		t.Errorf("rules.incident_prefixes[PL] = %q, want Planner", got)
	}
	if len(cfg.Tenants) < 5 {
		t.Fatalf("%d tenants, want at least 5", len(cfg.Tenants))
	}
	for _, tn := range cfg.Tenants {
		want := fmt.Sprintf("%s:%d", testConfig, lineOf(t, testConfig, "- name: "+yamlName(tn.Name)))
		if tn.Source != want {
			t.Errorf("tenant %q: Source = %q, want %q", tn.Name, tn.Source, want)
		}
		if len(tn.DomainSources) != len(tn.Domains) {
			t.Fatalf("tenant %q: %d DomainSources for %d domains", tn.Name, len(tn.DomainSources), len(tn.Domains))
		}
		for k, d := range tn.Domains {
			want := fmt.Sprintf("%s:%d", testConfig, lineOf(t, testConfig, d))
			if tn.DomainSources[k] != want {
				t.Errorf("tenant %q domain %s: source = %q, want %q", tn.Name, d, tn.DomainSources[k], want)
			}
		}
	}
}

// yamlName is how testdata writes a tenant's name.
func yamlName(name string) string {
	if strings.Contains(name, ",") {
		return `"` + name + `"`
	}
	return name
}

func TestTenantsFileMatchesInlineTenants(t *testing.T) {
	inline, err := loadConfig(testConfig)
	if err != nil {
		t.Fatal(err)
	}
	viaFile, err := loadConfig(testConfigTenantsFile)
	if err != nil {
		t.Fatalf("loadConfig(%s): %v", testConfigTenantsFile, err)
	}
	if !reflect.DeepEqual(inline.Rules, viaFile.Rules) {
		t.Errorf("rules differ:\n%s: %+v\n%s: %+v", testConfig, inline.Rules, testConfigTenantsFile, viaFile.Rules)
	}
	strip := func(ts []rules.Tenant) []rules.Tenant {
		out := make([]rules.Tenant, len(ts))
		for i, tn := range ts {
			tn.Source, tn.DomainSources = "", nil
			out[i] = tn
		}
		return out
	}
	if got, want := strip(viaFile.Tenants), strip(inline.Tenants); !reflect.DeepEqual(got, want) {
		t.Errorf("tenants from %s = %+v\nwant (as in %s) %+v", testTenantsFile, got, testConfig, want)
	}
	for _, tn := range viaFile.Tenants {
		want := fmt.Sprintf("%s:%d", filepath.Join("../../testdata", "tenants.yaml"), lineOf(t, testTenantsFile, "- name: "+yamlName(tn.Name)))
		if tn.Source != want {
			t.Errorf("tenant %q: Source = %q, want %q", tn.Name, tn.Source, want)
		}
	}
}

// goodRules is a valid rules section for the table tests.
const goodRules = `rules:
  partner_domains: [adatum-csp.com]
  trusted_authserv_ids: [mx.adatum-csp.com]
`

const goodTenant = `tenants:
  - name: Contoso Ltd
    id: 4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47
    domains: [contoso.com]
`

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		config string
		files  map[string]string // other files, by path
		env    map[string]string
		want   []string // each must appear in the error
	}{
		{
			name:   "unknown top-level key",
			config: goodRules + goodTenant + "rulez:\n  exchange_online: true\n",
			want:   []string{`cfg/config.yaml:8: unknown key "rulez"; did you mean "rules"?`},
		},
		{
			name:   "a duration that is not one",
			config: goodRules + goodTenant + "dkim:\n  timeout: soon\n",
			want:   []string{`cfg/config.yaml:9: dkim.timeout: "soon" is not a duration such as 5s, 90s or 2m`},
		},
		{
			name:   "unknown ledger driver",
			config: goodRules + goodTenant + "ledger:\n  driver: mysql\n",
			want:   []string{`cfg/config.yaml:9: ledger.driver: "mysql" is not a ledger driver; use "sqlite" (the default) or "postgres"`},
		},
		{
			name:   "postgres ledger without a dsn",
			config: goodRules + goodTenant + "ledger:\n  driver: postgres\n",
			want:   []string{`cfg/config.yaml:8: ledger.dsn: missing; driver postgres needs the database's URL`},
		},
		{
			name:   "postgres ledger with a path",
			config: goodRules + goodTenant + "ledger:\n  driver: postgres\n  dsn: postgres://ct:pw@db/ct\n  path: data/x.db\n",
			want:   []string{`cfg/config.yaml:11: ledger.path: is for driver sqlite`},
		},
		{
			name:   "sqlite ledger with a dsn",
			config: goodRules + goodTenant + "ledger:\n  dsn: postgres://ct:pw@db/ct\n",
			want:   []string{`cfg/config.yaml:9: ledger.dsn: is for driver postgres; set driver: postgres`},
		},
		{
			name:   "a dsn that is not one hides its password",
			config: goodRules + goodTenant + "ledger:\n  driver: postgres\n  dsn: postgres://ct:s3cret@db:port/ct\n",
			want:   []string{`cfg/config.yaml:10: ledger.dsn: not a PostgreSQL URL`},
		},
		{
			name:   "unknown key in a section",
			config: "rules:\n  partner_domain: [adatum-csp.com]\n  trusted_authserv_ids: [mx.adatum-csp.com]\n" + goodTenant,
			want:   []string{`cfg/config.yaml:2: unknown key "partner_domain" in rules; did you mean "partner_domains"?`},
		},
		{
			name:   "unknown key with no near match lists the keys",
			config: goodRules + "  colour: blue\n" + goodTenant,
			want:   []string{`cfg/config.yaml:4: unknown key "colour" in rules; the keys here are exchange_online, incident_prefixes, partner_domains, trusted_authserv_ids`},
		},
		{
			name:   "unknown key in a tenant",
			config: goodRules + "tenants:\n  - name: Contoso Ltd\n    id: 4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47\n    domian: [contoso.com]\n",
			want:   []string{`cfg/config.yaml:7: unknown key "domian" in tenants[0]; did you mean "domains"?`},
		},
		{
			name:   "Source and DomainSources are refused as keys",
			config: goodRules + goodTenant + "    source: here\n",
			want:   []string{`cfg/config.yaml:8: unknown key "source" in tenants[0]`},
		},
		{
			name:   "duplicate key",
			config: goodRules + "  exchange_online: true\n  exchange_online: false\n" + goodTenant,
			want:   []string{`cfg/config.yaml:5: duplicate key "exchange_online" in rules (first at line 4); keep one`},
		},
		{
			name:   "not a boolean",
			config: goodRules + "  exchange_online: maybe\n" + goodTenant,
			want:   []string{`cfg/config.yaml:4: rules.exchange_online: "maybe" is not true or false`},
		},
		{
			name:   "YAML 1.1 yes is not a boolean",
			config: goodRules + "  exchange_online: yes\n" + goodTenant,
			want:   []string{`cfg/config.yaml:4: rules.exchange_online: "yes" is not true or false`},
		},
		{
			name:   "a scalar where a list belongs",
			config: "rules:\n  partner_domains: adatum-csp.com\n  trusted_authserv_ids: [mx.adatum-csp.com]\n" + goodTenant,
			want:   []string{`cfg/config.yaml:2: rules.partner_domains: want a list ([a, b] or lines starting with "- "), found "adatum-csp.com"`},
		},
		{
			name:   "a list where a string belongs",
			config: goodRules + goodTenant + "tenants_file: [a.yaml, b.yaml]\n",
			want:   []string{`cfg/config.yaml:8: tenants_file: want a single value, found a list`},
		},
		{
			name:   "a section that is not a mapping",
			config: "rules: strict\n" + goodTenant,
			want:   []string{`cfg/config.yaml:1: rules: want a mapping ("key: value" lines), found "strict"`},
		},
		{
			name:   "several problems are all reported",
			config: "rules:\n  partner_domain: [x.com]\n  exchange_online: maybe\n" + goodTenant + "extra: 1\n",
			want: []string{
				`cfg/config.yaml:2: unknown key "partner_domain" in rules`,
				`cfg/config.yaml:3: rules.exchange_online: "maybe" is not true or false`,
				`cfg/config.yaml:8: unknown key "extra"`,
			},
		},
		{
			name:   "YAML syntax error",
			config: "rules:\n  partner_domains: [adatum-csp.com\n",
			want:   []string{`cfg/config.yaml:1: did not find expected ',' or ']'`}, // yaml names the line the flow sequence's context starts on
		},
		{
			name:   "empty file",
			config: "# nothing yet\n",
			want:   []string{`cfg/config.yaml: the file is empty`},
		},
		{
			name:   "a list at the top",
			config: "- rules\n- tenants\n",
			want:   []string{`cfg/config.yaml:1: the file must be a mapping of keys`},
		},
		{
			name:   "two documents",
			config: goodRules + goodTenant + "---\nrules: {}\n",
			want:   []string{`cfg/config.yaml:8: a second YAML document (after ---); put everything in one`},
		},
		{
			name:   "aliases",
			config: "rules:\n  partner_domains: &p [adatum-csp.com]\n  trusted_authserv_ids: *p\n" + goodTenant,
			want:   []string{`cfg/config.yaml:3: rules.trusted_authserv_ids: aliases (*p) are not supported`},
		},
		{
			name:   "missing partner domains",
			config: "rules:\n  trusted_authserv_ids: [mx.adatum-csp.com]\n" + goodTenant,
			want:   []string{`cfg/config.yaml:1: rules.partner_domains: missing; list your own (the CSP partner's) mail domains`},
		},
		{
			name:   "no trusted server and no Exchange Online",
			config: "rules:\n  partner_domains: [adatum-csp.com]\n" + goodTenant,
			want:   []string{`cfg/config.yaml:1: rules.trusted_authserv_ids: missing; name the server whose Authentication-Results count`},
		},
		{
			name:   "no rules section at all",
			config: goodTenant,
			want:   []string{`cfg/config.yaml: rules.partner_domains: missing`, `cfg/config.yaml: rules.trusted_authserv_ids: missing`},
		},
		{
			name:   "no tenants",
			config: goodRules,
			want:   []string{`cfg/config.yaml: tenants: none; list the customer tenants under tenants: or point tenants_file: at a registry`},
		},
		{
			name:   "tenant without a name",
			config: goodRules + "tenants:\n  - id: 4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47\n    domains: [contoso.com]\n",
			want:   []string{`cfg/config.yaml:5: tenant 4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47 has no name`},
		},
		{
			name:   "tenant without an id",
			config: goodRules + "tenants:\n  - name: Contoso Ltd\n    domains: [contoso.com]\n",
			want:   []string{`cfg/config.yaml:5: tenant "Contoso Ltd" has no id; copy its Microsoft ID`},
		},
		{
			name:   "tenants_file that does not exist",
			config: goodRules + "tenants_file: nope.yaml\n",
			want:   []string{`cfg/config.yaml:4: tenants_file: open cfg/nope.yaml: file does not exist`},
		},
		{
			name:   "tenants_file with an unknown key",
			config: goodRules + "tenants_file: tenants.yaml\n",
			files:  map[string]string{"cfg/tenants.yaml": "tenants:\n  - name: Contoso Ltd\n    id: 4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47\n    domian: [contoso.com]\n"},
			want:   []string{`cfg/config.yaml:4: tenants_file: cfg/tenants.yaml:4: unknown key "domian" in tenants[0]; did you mean "domains"?`},
		},
		{
			name:   "tenants_file without tenants",
			config: goodRules + "tenants_file: tenants.yaml\n",
			files:  map[string]string{"cfg/tenants.yaml": "tenants: []\n"},
			want:   []string{`tenants_file: cfg/tenants.yaml: no tenants; the file must hold "tenants:" followed by a list`},
		},
		{
			name:   "environment override that is not a boolean",
			config: goodRules + goodTenant,
			env:    map[string]string{"CLAIMTRAIL_RULES_EXCHANGE_ONLINE": "yes please"},
			want:   []string{`$CLAIMTRAIL_RULES_EXCHANGE_ONLINE: "yes please" is not true or false`},
		},
		{
			name:   "a *_file key for a key that is not a secret",
			config: goodRules + goodTenant + "tenants_file_file: x\n",
			want:   []string{`cfg/config.yaml:8: unknown key "tenants_file_file"; only secrets can be read from a file: write tenants_file itself`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig("cfg/config.yaml", []byte(tt.config), &loader{lookupEnv: fakeEnv(tt.env), readFile: fakeFS(tt.files)})
			if err == nil {
				t.Fatalf("parseConfig(%q) = %+v, nil; want an error", tt.config, cfg)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("parseConfig error =\n%v\nwant it to contain\n%s", err, want)
				}
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	env := map[string]string{
		"CLAIMTRAIL_RULES_PARTNER_DOMAINS":        "adatum.example, adatum-csp.com,",
		"CLAIMTRAIL_RULES_TRUSTED_AUTHSERV_IDS":   "mx1.adatum.example",
		"CLAIMTRAIL_RULES_EXCHANGE_ONLINE":        "true",
		"CLAIMTRAIL_TENANTS_FILE":                 "elsewhere/tenants.yaml",
		"CLAIMTRAIL_RULES_INCIDENT_PREFIXES":      "ignored: maps are not overridden",
		"CLAIMTRAIL_TENANTS":                      "ignored: lists of sections are not overridden",
		"CLAIMTRAIL_MINIO":                        "another part of claimtrail's environment",
		"CLAIMTRAIL_RULES_TRUSTED_AUTHSERV_IDS_X": "not a key",
	}
	files := map[string]string{"elsewhere/tenants.yaml": goodTenant}
	cfg, err := parseConfig("cfg/config.yaml", []byte(goodRules+"tenants_file: here.yaml\n"), &loader{lookupEnv: fakeEnv(env), readFile: fakeFS(files)})
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if got, want := cfg.Rules.PartnerDomains, []string{"adatum.example", "adatum-csp.com"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rules.partner_domains = %q, want %q", got, want)
	}
	if got, want := cfg.Rules.TrustedAuthservIDs, []string{"mx1.adatum.example"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rules.trusted_authserv_ids = %q, want %q", got, want)
	}
	if !cfg.Rules.ExchangeOnline {
		t.Errorf("rules.exchange_online = false, want true from the environment")
	}
	if len(cfg.Tenants) != 1 || cfg.Tenants[0].Source != "elsewhere/tenants.yaml:2" {
		t.Errorf("tenants = %+v, want the one in elsewhere/tenants.yaml (an environment path is not relative to the config)", cfg.Tenants)
	}
	for key, want := range map[string]string{
		"rules.partner_domains": "$CLAIMTRAIL_RULES_PARTNER_DOMAINS",
		"rules.exchange_online": "$CLAIMTRAIL_RULES_EXCHANGE_ONLINE",
		"rules":                 "cfg/config.yaml:1",
	} {
		if got := cfg.where(key); got != want {
			t.Errorf("where(%q) = %q, want %q", key, got, want)
		}
	}
}

// secretsConfig stands for the sections others will add (store, mailboxes),
// to test secrets without depending on them.
type secretsConfig struct {
	Store struct {
		Endpoint  string `yaml:"endpoint"`
		AccessKey string `yaml:"access_key"`
		SecretKey string `yaml:"secret_key"`
	} `yaml:"store"`
	Mailboxes []struct {
		User     string `yaml:"user"`
		Password string `yaml:"password"`
	} `yaml:"mailboxes"`
	Web struct {
		SessionToken string `yaml:"session_token"`
		Port         int    `yaml:"port"`
	} `yaml:"web"`
}

// loadSecrets runs parseConfig's steps on a secretsConfig.
func loadSecrets(doc string, files, env map[string]string) (*secretsConfig, *positions, error) {
	var c secretsConfig
	pos := newPositions()
	if err := decodeStrict("cfg/config.yaml", []byte(doc), "", &c, pos); err != nil {
		return nil, nil, err
	}
	if err := resolveSecretFiles(&c, pos, "cfg", fakeFS(files)); err != nil {
		return nil, nil, err
	}
	if err := applyEnv(&c, pos, fakeEnv(env), fakeFS(files)); err != nil {
		return nil, nil, err
	}
	return &c, pos, nil
}

func TestSecrets(t *testing.T) {
	const doc = `store:
  endpoint: 127.0.0.1:9000
  access_key: claimtrail
  secret_key_file: secrets/minio
mailboxes:
  - user: sla-credits@adatum-csp.com
    password_file: /run/secrets/imap
web:
  port: 8080
`
	files := map[string]string{
		"cfg/secrets/minio": "s3cr3t-minio\n",
		"/run/secrets/imap": "imap-pa55\r\n",
		"/run/secrets/web":  "tok-from-file",
	}
	tests := []struct {
		name    string
		doc     string
		env     map[string]string
		secret  string // want store.secret_key
		imap    string // want mailboxes[0].password
		token   string // want web.session_token
		where   string // want where("store.secret_key")
		wantErr string
	}{
		{name: "from files", doc: doc, secret: "s3cr3t-minio", imap: "imap-pa55", where: "cfg/config.yaml:4"},
		{
			name: "environment wins", doc: doc,
			env:    map[string]string{"CLAIMTRAIL_STORE_SECRET_KEY": "from-env", "CLAIMTRAIL_WEB_SESSION_TOKEN_FILE": "/run/secrets/web", "CLAIMTRAIL_WEB_PORT": "9090"},
			secret: "from-env", imap: "imap-pa55", token: "tok-from-file", where: "$CLAIMTRAIL_STORE_SECRET_KEY",
		},
		{
			name: "both the key and its file", doc: strings.Replace(doc, "  access_key: claimtrail\n", "  access_key: claimtrail\n  secret_key: inline\n", 1),
			wantErr: `cfg/config.yaml:5: store.secret_key_file: secret_key is set too (at cfg/config.yaml:4); keep one of secret_key and secret_key_file`,
		},
		{
			name: "both variables", doc: doc,
			env:     map[string]string{"CLAIMTRAIL_STORE_SECRET_KEY": "a", "CLAIMTRAIL_STORE_SECRET_KEY_FILE": "/run/secrets/web"},
			wantErr: `$CLAIMTRAIL_STORE_SECRET_KEY and $CLAIMTRAIL_STORE_SECRET_KEY_FILE are both set; unset one`,
		},
		{
			name: "missing secret file", doc: strings.Replace(doc, "secrets/minio", "secrets/nope", 1),
			wantErr: `cfg/config.yaml:4: store.secret_key_file: open cfg/secrets/nope: file does not exist`,
		},
		{
			name: "empty secret file", doc: doc,
			env:     map[string]string{"CLAIMTRAIL_WEB_SESSION_TOKEN_FILE": "empty"},
			wantErr: `$CLAIMTRAIL_WEB_SESSION_TOKEN_FILE: open empty: file does not exist`,
		},
		{
			name: "a file for a key that is not a secret", doc: strings.Replace(doc, "  access_key: claimtrail\n", "  access_key_file: x\n", 1),
			wantErr: `cfg/config.yaml:3: unknown key "access_key_file" in store; only secrets can be read from a file: write access_key itself`,
		},
		{
			name: "bad number from the environment", doc: doc,
			env:     map[string]string{"CLAIMTRAIL_WEB_PORT": "80a"},
			wantErr: `$CLAIMTRAIL_WEB_PORT: "80a" is not a whole number`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, pos, err := loadSecrets(tt.doc, files, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("load error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if c.Store.SecretKey != tt.secret {
				t.Errorf("store.secret_key = %q, want %q", c.Store.SecretKey, tt.secret)
			}
			if c.Mailboxes[0].Password != tt.imap {
				t.Errorf("mailboxes[0].password = %q, want %q", c.Mailboxes[0].Password, tt.imap)
			}
			if c.Web.SessionToken != tt.token {
				t.Errorf("web.session_token = %q, want %q", c.Web.SessionToken, tt.token)
			}
			if got := pos.where("store.secret_key"); got != tt.where {
				t.Errorf("where(store.secret_key) = %q, want %q", got, tt.where)
			}
			out := redactedYAML(c)
			for _, secret := range []string{c.Store.SecretKey, c.Mailboxes[0].Password, c.Web.SessionToken} {
				if secret != "" && strings.Contains(out, secret) {
					t.Errorf("redactedYAML shows the secret %q:\n%s", secret, out)
				}
			}
			if !strings.Contains(out, "secret_key: "+redacted) || !strings.Contains(out, "access_key: claimtrail") {
				t.Errorf("redactedYAML =\n%s\nwant secret_key redacted and access_key shown", out)
			}
		})
	}
}

// TestLedgerDSN checks the PostgreSQL ledger's DSN: from the file, a file
// named by dsn_file or $CLAIMTRAIL_LEDGER_DSN_FILE, or $CLAIMTRAIL_LEDGER_DSN,
// and printed with its password redacted but its host shown.
func TestLedgerDSN(t *testing.T) {
	const dsn = "postgres://claimtrail:s3cret-pw@db.example:5432/ledger"
	files := map[string]string{"cfg/secrets/dsn": dsn + "\n", "/run/secrets/dsn": dsn}
	for _, tt := range []struct {
		name   string
		ledger string
		env    map[string]string
	}{
		{"inline", "  dsn: " + dsn + "\n", nil},
		{"dsn_file", "  dsn_file: secrets/dsn\n", nil},
		{"environment file", "", map[string]string{"CLAIMTRAIL_LEDGER_DSN_FILE": "/run/secrets/dsn"}},
		{"environment", "", map[string]string{"CLAIMTRAIL_LEDGER_DSN": dsn}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := goodRules + goodTenant + "ledger:\n  driver: postgres\n" + tt.ledger
			cfg, err := parseConfig("cfg/config.yaml", []byte(doc), &loader{lookupEnv: fakeEnv(tt.env), readFile: fakeFS(files)})
			if err != nil {
				t.Fatalf("parseConfig: %v", err)
			}
			if cfg.Ledger.Driver != "postgres" || cfg.Ledger.DSN != dsn {
				t.Errorf("ledger = %s %q, want postgres %q", cfg.Ledger.Driver, cfg.Ledger.DSN, dsn)
			}
			out := cfg.String()
			if strings.Contains(out, "s3cret-pw") || !strings.Contains(out, "dsn: postgres://claimtrail:<redacted>@db.example:5432/ledger") {
				t.Errorf("printed config =\n%s\nwant the DSN with its password redacted", out)
			}
			if s := fmt.Sprint(cfg.Ledger); strings.Contains(s, "s3cret-pw") {
				t.Errorf("fmt.Sprint(ledger) = %s: the password shows", s)
			}
		})
	}
}

func TestConfigPrints(t *testing.T) {
	cfg, err := loadConfig(testConfig)
	if err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprint(cfg)
	for _, want := range []string{"partner_domains:", "adatum-csp.com", "Contoso Ltd"} {
		if !strings.Contains(s, want) {
			t.Errorf("fmt.Sprint(cfg) lacks %q:\n%s", want, s)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "config", cfg)
	if !strings.Contains(buf.String(), "adatum-csp.com") {
		t.Errorf("slog output lacks the config: %s", buf.String())
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"rules", "rules", 0}, {"rulez", "rules", 1},
		{"partner_domain", "partner_domains", 1}, {"domian", "domains", 2}, {"", "abc", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, name := range []string{testConfig, testConfigTenantsFile, testTenantsFile} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(goodRules + goodTenant))
	f.Add([]byte("rules:\n  partner_domains: &a [x]\n  trusted_authserv_ids: *a\n"))
	f.Add([]byte("rules: {exchange_online: yes, incident_prefixes: {PL: 1}}\ntenants: [{name: x, domains: [[a]]}]\n"))
	f.Add([]byte("store:\n  secret_key_file: x\n---\n"))
	f.Add([]byte(goodRules + goodTenant + "service_health:\n  client_id: app\n  client_secret_file: tenants.yaml\n  refresh: 1m\n  skip_tenants: [" + contosoID + "]\n"))
	f.Add([]byte(goodRules + goodTenant + "service_health: {enabled: false, only_tenants: [x]}\n"))
	f.Add([]byte(goodRules + goodTenant + "reminders:\n  days: [7, 2]\n  every: 15m\n  webhook_url: https://h.example/x?sig=1\n  teams_webhook_url_file: tenants.yaml\n"))
	f.Add([]byte(goodRules + goodTenant + "reminders:\n  smtp: {host: smtp.example.com, port: 465, security: tls, username: u, password: p, from: a@b.c, to: [d@e.f]}\n"))
	tenants, err := os.ReadFile(testTenantsFile)
	if err != nil {
		f.Fatal(err)
	}
	l := &loader{lookupEnv: fakeEnv(nil), readFile: fakeFS(map[string]string{"cfg/tenants.yaml": string(tenants)})}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig("cfg/config.yaml", data, l)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "cfg/") {
				t.Errorf("error %q does not say which file", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("parseConfig succeeded but Validate = %v", err)
		}
		for _, tn := range cfg.Tenants {
			if tn.Source == "" || len(tn.DomainSources) != len(tn.Domains) {
				t.Errorf("tenant %+v lacks its sources", tn)
			}
		}
		_ = cfg.String()
	})
}

func TestConfigDurations(t *testing.T) {
	l := &loader{lookupEnv: func(string) (string, bool) { return "", false }, readFile: os.ReadFile}
	c, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant+"dkim:\n  timeout: 2500ms\n"), l)
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	if c.DKIM.Timeout != 2500*time.Millisecond {
		t.Errorf("dkim.timeout = %s, want 2.5s", c.DKIM.Timeout)
	}
}
