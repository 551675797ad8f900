package main

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/ingest"
)

// level is a struct-kinded type that parses its own text, to show such a
// field is set whole rather than walked into.
type level struct{ n int }

func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		l.n = 1
	case "high":
		l.n = 2
	default:
		return fmt.Errorf("%q is not low or high", b)
	}
	return nil
}

// envTyped has a field of each kind the environment must parse by its
// text rather than by its kind.
type envTyped struct {
	Poll struct {
		Interval ingest.Duration `yaml:"interval"`
		Timeout  time.Duration   `yaml:"timeout"`
		Level    level           `yaml:"level"`
		Verify   *bool           `yaml:"verify"`
		Backoff  *time.Duration  `yaml:"backoff"`
		Tries    int             `yaml:"tries"`
	} `yaml:"poll"`
}

func TestEnvTextValues(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(c *envTyped) error
		wantErr string // substring; empty for success
	}{
		{name: "ingest.Duration by UnmarshalText", env: map[string]string{"CLAIMTRAIL_POLL_INTERVAL": "90s"},
			check: func(c *envTyped) error {
				if c.Poll.Interval.D() != 90*time.Second {
					return fmt.Errorf("poll.interval = %v, want 1m30s", c.Poll.Interval)
				}
				return nil
			}},
		{name: "time.Duration in Go syntax", env: map[string]string{"CLAIMTRAIL_POLL_TIMEOUT": " 1m30s "},
			check: func(c *envTyped) error {
				if c.Poll.Timeout != 90*time.Second {
					return fmt.Errorf("poll.timeout = %v, want 1m30s", c.Poll.Timeout)
				}
				return nil
			}},
		{name: "a struct that parses its text", env: map[string]string{"CLAIMTRAIL_POLL_LEVEL": "high"},
			check: func(c *envTyped) error {
				if c.Poll.Level.n != 2 {
					return fmt.Errorf("poll.level = %d, want 2 (high)", c.Poll.Level.n)
				}
				return nil
			}},
		{name: "optional bool", env: map[string]string{"CLAIMTRAIL_POLL_VERIFY": "false"},
			check: func(c *envTyped) error {
				if c.Poll.Verify == nil || *c.Poll.Verify {
					return fmt.Errorf("poll.verify = %v, want a pointer to false", c.Poll.Verify)
				}
				return nil
			}},
		{name: "optional duration", env: map[string]string{"CLAIMTRAIL_POLL_BACKOFF": "2s"},
			check: func(c *envTyped) error {
				if c.Poll.Backoff == nil || *c.Poll.Backoff != 2*time.Second {
					return fmt.Errorf("poll.backoff = %v, want a pointer to 2s", c.Poll.Backoff)
				}
				return nil
			}},
		{name: "unset optional stays nil", env: map[string]string{"CLAIMTRAIL_POLL_TRIES": "3"},
			check: func(c *envTyped) error {
				if c.Poll.Verify != nil || c.Poll.Backoff != nil || c.Poll.Tries != 3 {
					return fmt.Errorf("poll = %+v, want only tries set", c.Poll)
				}
				return nil
			}},
		{name: "an integer is no duration", env: map[string]string{"CLAIMTRAIL_POLL_TIMEOUT": "90"},
			wantErr: `$CLAIMTRAIL_POLL_TIMEOUT: "90" is not a duration`},
		{name: "the type's own error", env: map[string]string{"CLAIMTRAIL_POLL_INTERVAL": "soon"},
			wantErr: `$CLAIMTRAIL_POLL_INTERVAL: "soon" is not a duration`},
		{name: "the struct's own error", env: map[string]string{"CLAIMTRAIL_POLL_LEVEL": "medium"},
			wantErr: `$CLAIMTRAIL_POLL_LEVEL: "medium" is not low or high`},
		{name: "bad optional bool", env: map[string]string{"CLAIMTRAIL_POLL_VERIFY": "nope"},
			wantErr: `$CLAIMTRAIL_POLL_VERIFY: "nope" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c envTyped
			pos := newPositions()
			err := applyEnv(&c, pos, fakeEnv(tt.env), fakeFS(nil))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("applyEnv(%v) error = %v, want one containing %q", tt.env, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("applyEnv(%v): %v", tt.env, err)
			}
			if err := tt.check(&c); err != nil {
				t.Errorf("applyEnv(%v): %v", tt.env, err)
			}
			for name := range tt.env {
				path := strings.ToLower(strings.Replace(strings.TrimPrefix(name, envPrefix), "_", ".", 1))
				if got := pos.where(path); got != "$"+name {
					t.Errorf("where(%s) = %q, want $%s", path, got, name)
				}
			}
		})
	}
}

// TestEnvDKIMTimeout sets the real configuration's time.Duration from the
// environment, which was refused as "not a whole number".
func TestEnvDKIMTimeout(t *testing.T) {
	env := map[string]string{"CLAIMTRAIL_DKIM_TIMEOUT": "90s", "CLAIMTRAIL_DKIM_VERIFY": "false"}
	c, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant), &loader{lookupEnv: fakeEnv(env), readFile: fakeFS(nil)})
	if err != nil {
		t.Fatalf("parseConfig with %v: %v", env, err)
	}
	if c.DKIM.Timeout != 90*time.Second {
		t.Errorf("dkim.timeout = %v, want 1m30s from $CLAIMTRAIL_DKIM_TIMEOUT", c.DKIM.Timeout)
	}
	if c.DKIM.resolver() != nil {
		t.Errorf("dkim.verify: $CLAIMTRAIL_DKIM_VERIFY=false left DKIM verification on")
	}
	env["CLAIMTRAIL_DKIM_TIMEOUT"] = "-5s"
	_, err = parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant), &loader{lookupEnv: fakeEnv(env), readFile: fakeFS(nil)})
	if err == nil || !strings.Contains(err.Error(), "$CLAIMTRAIL_DKIM_TIMEOUT: dkim.timeout: -5s is negative") {
		t.Errorf("parseConfig with a negative timeout = %v, want the error placed at the variable", err)
	}
}

// FuzzEnvValue sets one environment override of the real configuration,
// and one of envTyped, to any text: the loader must answer with a value or
// an error that names where the bad value came from, never panic.
func FuzzEnvValue(f *testing.F) {
	// The variables of the configuration the targets load, its tenant
	// entry's included.
	c, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant), &loader{lookupEnv: fakeEnv(nil), readFile: fakeFS(nil)})
	if err != nil {
		f.Fatal(err)
	}
	var paths []string
	walkScalars(reflect.ValueOf(c).Elem(), "", "", func(_ reflect.Value, _, e string) { paths = append(paths, e) })
	if !slices.Contains(paths, "tenants.Contoso Ltd.domains") {
		f.Fatalf("the variables %q miss the tenant entry's", paths)
	}
	var typed []string
	var et envTyped
	walkScalars(reflect.ValueOf(&et).Elem(), "", "", func(_ reflect.Value, _, e string) { typed = append(typed, e) })
	for i, seed := range []string{"90s", "-5s", "1e9", "true", "a,b,,c", "", " 12 ", "9223372036854775807ns", "low", "\x00"} {
		f.Add(uint8(i), seed)
	}
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		name := envName(paths[int(which)%len(paths)])
		_, err := parseConfig("cfg/config.yaml", []byte(goodRules+goodTenant), &loader{
			lookupEnv: fakeEnv(map[string]string{name: value}), readFile: fakeFS(nil)})
		if err != nil && !strings.Contains(err.Error(), "$"+name) && !strings.Contains(err.Error(), "cfg/") {
			t.Errorf("$%s=%q: error %q says neither the variable nor the file", name, value, err)
		}
		name = envName(typed[int(which)%len(typed)])
		if err := applyEnv(&envTyped{}, newPositions(), fakeEnv(map[string]string{name: value}), fakeFS(nil)); err != nil &&
			!strings.HasPrefix(err.Error(), "$"+name+": ") {
			t.Errorf("$%s=%q: error %q does not start with the variable", name, value, err)
		}
	})
}

// The keys of a list entry with a name are overridden by that name: the
// password of the mailbox named "second-box" is
// CLAIMTRAIL_MAILBOXES_SECOND_BOX_PASSWORD. The name itself is not.
func TestEnvReachesNamedListEntries(t *testing.T) {
	const doc = goodRules + goodTenant + `mailboxes:
  - name: shared
    host: imap.example.com
    username: claims@adatum-csp.com
    password: in-the-file
  - name: second-box
    host: imap2.example.com
    username: more@adatum-csp.com
    password_file: secrets/imap2
`
	env := map[string]string{
		"CLAIMTRAIL_MAILBOXES_SHARED_PASSWORD":        "from-env",
		"CLAIMTRAIL_MAILBOXES_SECOND_BOX_HOST":        "imap3.example.com",
		"CLAIMTRAIL_MAILBOXES_SECOND_BOX_OAUTH_SCOPE": "https://outlook.office365.com/.default",
		"CLAIMTRAIL_MAILBOXES_SHARED_NAME":            "renamed",
		"CLAIMTRAIL_MAILBOXES_0_PASSWORD":             "ignored: entries are named, not numbered",
	}
	files := map[string]string{"cfg/secrets/imap2": "second-pa55\n"}
	cfg, err := parseConfig("cfg/config.yaml", []byte(doc), &loader{lookupEnv: fakeEnv(env), readFile: fakeFS(files)})
	if err != nil {
		t.Fatalf("parseConfig: %v", err)
	}
	first, second := cfg.Mailboxes[0], cfg.Mailboxes[1]
	if first.Name != "shared" || string(first.Password) != "from-env" {
		t.Errorf("mailboxes[0] = %q with password %q, want shared with the password from the environment", first.Name, first.Password)
	}
	if second.Host != "imap3.example.com" || string(second.Password) != "second-pa55" || second.OAuth.Scope != env["CLAIMTRAIL_MAILBOXES_SECOND_BOX_OAUTH_SCOPE"] {
		t.Errorf("mailboxes[1] = host %q, password %q, oauth.scope %q; want the host and scope from the environment, the password from its file",
			second.Host, second.Password, second.OAuth.Scope)
	}
	for key, want := range map[string]string{
		"mailboxes[0].password": "$CLAIMTRAIL_MAILBOXES_SHARED_PASSWORD",
		"mailboxes[1].host":     "$CLAIMTRAIL_MAILBOXES_SECOND_BOX_HOST",
	} {
		if got := cfg.where(key); got != want {
			t.Errorf("where(%q) = %q, want %q", key, got, want)
		}
	}
	if out := redactedYAML(cfg); strings.Contains(out, "from-env") || strings.Contains(out, "second-pa55") {
		t.Errorf("redactedYAML shows a mailbox password:\n%s", out)
	}
	// The _FILE variable of a secret in an entry.
	env = map[string]string{"CLAIMTRAIL_MAILBOXES_SHARED_PASSWORD_FILE": "/run/secrets/imap"}
	files["/run/secrets/imap"] = "pa55-from-file"
	cfg, err = parseConfig("cfg/config.yaml", []byte(doc), &loader{lookupEnv: fakeEnv(env), readFile: fakeFS(files)})
	if err != nil {
		t.Fatalf("parseConfig with a _FILE variable: %v", err)
	}
	if got := string(cfg.Mailboxes[0].Password); got != "pa55-from-file" {
		t.Errorf("mailboxes[0].password = %q, want the file's", got)
	}
}

func TestEnvName(t *testing.T) {
	for path, want := range map[string]string{
		"store.secret_key":              "CLAIMTRAIL_STORE_SECRET_KEY",
		"mailboxes.second-box.password": "CLAIMTRAIL_MAILBOXES_SECOND_BOX_PASSWORD",
		"tenants.Contoso Ltd..domains":  "CLAIMTRAIL_TENANTS_CONTOSO_LTD_DOMAINS",
		"mailboxes.-odd name-.oauth.x":  "CLAIMTRAIL_MAILBOXES_ODD_NAME_OAUTH_X",
		"mailboxes.ünïcode.password":    "CLAIMTRAIL_MAILBOXES_N_CODE_PASSWORD",
		"web.port":                      "CLAIMTRAIL_WEB_PORT",
	} {
		if got := envName(path); got != want {
			t.Errorf("envName(%q) = %q, want %q", path, got, want)
		}
	}
}
