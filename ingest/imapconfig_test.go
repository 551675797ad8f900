package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const exampleYAML = `
name: support
host: outlook.office365.com
username: claims@partner.example
auth: xoauth2
oauth:
  tenant: 4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47
  client_id: 0b1c2d3e-0000-4000-8000-000000000001
  client_secret: s3cret-value
folders: [INBOX, Claims]
move_to:
  accepted: Claims/Accepted
poll_interval: 90s
max_message_bytes: 1048576
`

func TestMailboxConfigFromYAML(t *testing.T) {
	var c MailboxConfig
	if err := yaml.Unmarshal([]byte(exampleYAML), &c); err != nil {
		t.Fatalf("yaml.Unmarshal: %v", err)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"security", c.Security, SecurityTLS},
		{"port", c.Port, 993},
		{"auth", c.Auth, AuthXOAuth2},
		{"oauth.token_url", c.OAuth.TokenURL, "https://login.microsoftonline.com/4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47/oauth2/v2.0/token"},
		{"oauth.scope", c.OAuth.Scope, DefaultOAuthScope},
		{"oauth.client_secret", c.OAuth.ClientSecret.Reveal(), "s3cret-value"},
		{"folders", strings.Join(c.Folders, ","), "INBOX,Claims"},
		{"move_to.accepted", c.MoveTo.Accepted, "Claims/Accepted"},
		{"move_to.rejected", c.MoveTo.Rejected, "Rejected"},
		{"move_to.unmatched", c.MoveTo.Unmatched, "Unmatched"},
		{"poll_interval", c.PollInterval.D(), 90 * time.Second},
		{"max_message_bytes", c.MaxMessageBytes, int64(1 << 20)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.key, ch.got, ch.want)
		}
	}
}

func TestMailboxConfigDefaults(t *testing.T) {
	tests := []struct {
		name     string
		in       MailboxConfig
		wantPort int
	}{
		{"tls", MailboxConfig{}, 993},
		{"starttls", MailboxConfig{Security: SecurityStartTLS}, 143},
		{"insecure", MailboxConfig{Security: SecurityInsecure}, 143},
		{"explicit port", MailboxConfig{Port: 1993}, 1993},
	}
	for _, tt := range tests {
		c := tt.in.WithDefaults()
		if c.Port != tt.wantPort {
			t.Errorf("%s: WithDefaults().Port = %d, want %d", tt.name, c.Port, tt.wantPort)
		}
		if !slices.Equal(c.Folders, []string{"INBOX"}) || c.MaxMessageBytes != DefaultMaxMessageBytes || c.PollInterval.D() != time.Minute || c.Auth != AuthPassword {
			t.Errorf("%s: WithDefaults() = %+v, want folders [INBOX], 50 MiB, 1m, password", tt.name, c)
		}
	}
	// WithDefaults must not share the caller's folder list.
	c := MailboxConfig{}.WithDefaults()
	c.Folders[0] = "changed"
	if DefaultFolders[0] != "INBOX" {
		t.Errorf("changing a defaulted config changed DefaultFolders to %v", DefaultFolders)
	}
}

func validConfig() MailboxConfig {
	return MailboxConfig{
		Name:     "support",
		Host:     "imap.partner.example",
		Username: "claims@partner.example",
		Password: "pw",
	}.WithDefaults()
}

func TestMailboxConfigValidateNamesTheKey(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	oauth := func(c *MailboxConfig) {
		c.Auth, c.Password = AuthXOAuth2, ""
		c.OAuth = OAuth{ClientID: "id", ClientSecret: "s", Tenant: "t"}
		*c = c.WithDefaults()
	}
	tests := []struct {
		name   string
		mutate func(*MailboxConfig)
		want   string // "" means valid
	}{
		{"valid", func(*MailboxConfig) {}, ""},
		{"valid xoauth2", oauth, ""},
		{"valid tls_ca_file", func(c *MailboxConfig) { c.TLSCAFile = ca }, ""},
		{"no name", func(c *MailboxConfig) { c.Name = " " }, "name: missing"},
		{"no host", func(c *MailboxConfig) { c.Host = "" }, "host: missing"},
		{"host with port", func(c *MailboxConfig) { c.Host = "imap.example:993" }, "host:"},
		{"port out of range", func(c *MailboxConfig) { c.Port = 70000 }, "port: 70000"},
		{"bad security", func(c *MailboxConfig) { c.Security = "ssl" }, `security: "ssl" is not one of tls, starttls, insecure`},
		{"ca file with insecure", func(c *MailboxConfig) { c.Security, c.TLSCAFile = SecurityInsecure, ca }, "tls_ca_file: set, but security is insecure"},
		{"missing ca file", func(c *MailboxConfig) { c.TLSCAFile = ca + ".missing" }, "tls_ca_file:"},
		{"no username", func(c *MailboxConfig) { c.Username = "" }, "username: missing"},
		{"no password", func(c *MailboxConfig) { c.Password = "" }, "password: missing"},
		{"bad auth", func(c *MailboxConfig) { c.Auth = "ntlm" }, `auth: "ntlm" is not one of password, xoauth2`},
		{"oauth without client_id", func(c *MailboxConfig) { oauth(c); c.OAuth.ClientID = "" }, "oauth.client_id: missing"},
		{"oauth without secret", func(c *MailboxConfig) { oauth(c); c.OAuth.ClientSecret = "" }, "oauth.client_secret: missing"},
		{"oauth without tenant", func(c *MailboxConfig) {
			c.Auth, c.Password, c.OAuth = AuthXOAuth2, "", OAuth{ClientID: "id", ClientSecret: "s"}
			*c = c.WithDefaults()
		}, "oauth.tenant: missing"},
		{"oauth http token url", func(c *MailboxConfig) { oauth(c); c.OAuth.TokenURL = "http://login.example/token" }, "oauth.token_url: \"http://login.example/token\" must use https"},
		{"oauth loopback http token url", func(c *MailboxConfig) { oauth(c); c.OAuth.TokenURL = "http://127.0.0.1:8080/token" }, ""},
		{"oauth relative token url", func(c *MailboxConfig) { oauth(c); c.OAuth.TokenURL = "/token" }, "oauth.token_url:"},
		{"empty folder", func(c *MailboxConfig) { c.Folders = []string{"INBOX", ""} }, "folders[1]: empty folder name"},
		{"wildcard folder", func(c *MailboxConfig) { c.Folders = []string{"Claims*"} }, "folders[0]:"},
		{"folder twice", func(c *MailboxConfig) { c.Folders = []string{"INBOX", "INBOX"} }, `folders[1]: "INBOX" is listed twice`},
		{"move into a polled folder", func(c *MailboxConfig) { c.MoveTo.Rejected = "INBOX" }, `move_to.rejected: "INBOX" is also polled`},
		{"newline in destination", func(c *MailboxConfig) { c.MoveTo.Accepted = "A\nB" }, "move_to.accepted:"},
		{"negative size", func(c *MailboxConfig) { c.MaxMessageBytes = -1 }, "max_message_bytes: -1 must be positive"},
		{"poll too often", func(c *MailboxConfig) { c.PollInterval = Duration(100 * time.Millisecond) }, "poll_interval: 100ms is shorter than 1s"},
	}
	for _, tt := range tests {
		c := validConfig()
		tt.mutate(&c)
		err := c.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tt.name, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s: Validate() = nil, want an error containing %q", tt.name, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s: Validate() = %q, want it to contain %q", tt.name, err, tt.want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c := validConfig()
	c.Password = "hunter2-password"
	c.OAuth.ClientSecret = "client-s3cret"
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "cfg", c, "pw", c.Password)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", c),
		"%+v":  fmt.Sprintf("%+v", c),
		"%#v":  fmt.Sprintf("%#v", c),
		"%s":   fmt.Sprintf("%s", c.Password),
		"slog": logBuf.String(),
		"json": string(js),
		"yaml": string(y),
	}
	for how, out := range outputs {
		if strings.Contains(out, "hunter2") || strings.Contains(out, "client-s3cret") {
			t.Errorf("%s shows a secret: %s", how, out)
		}
		if !strings.Contains(out, "redacted") { // JSON writes \u003credacted\u003e
			t.Errorf("%s does not say <redacted>: %s", how, out)
		}
	}
	if Secret("").String() != "" {
		t.Errorf(`Secret("").String() = %q, want ""`, Secret("").String())
	}
}

func TestDurationYAML(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"poll_interval: 90s", 90 * time.Second, false},
		{"poll_interval: 1m30s", 90 * time.Second, false},
		{"poll_interval: 60", 0, true}, // a bare number has no unit
		{"poll_interval: [1m]", 0, true},
		{"poll_interval: soon", 0, true},
	}
	for _, tt := range tests {
		var c MailboxConfig
		err := yaml.Unmarshal([]byte(tt.in), &c)
		if (err != nil) != tt.wantErr || c.PollInterval.D() != tt.want {
			t.Errorf("yaml %q: PollInterval = %v, err %v; want %v, error %v", tt.in, c.PollInterval, err, tt.want, tt.wantErr)
		}
	}
	out, err := yaml.Marshal(MailboxConfig{PollInterval: Duration(90 * time.Second)})
	if err != nil || !strings.Contains(string(out), "poll_interval: 1m30s") {
		t.Errorf("yaml.Marshal = %q, %v; want poll_interval: 1m30s", out, err)
	}
}

// FuzzMailboxConfig feeds arbitrary YAML through decoding, defaults and
// validation: no panic, and what Validate accepts is usable.
func FuzzMailboxConfig(f *testing.F) {
	f.Add(exampleYAML)
	f.Add("name: x\nhost: h\nusername: u\npassword: p\nsecurity: insecure\nport: 143\n")
	f.Add("name: x\nfolders: [INBOX, INBOX]\nmove_to: {accepted: INBOX}\n")
	f.Add("poll_interval: -5s\nmax_message_bytes: -1\n")
	f.Fuzz(func(t *testing.T, in string) {
		var c MailboxConfig
		if err := yaml.Unmarshal([]byte(in), &c); err != nil {
			return
		}
		c = c.WithDefaults()
		if err := c.Validate(); err != nil {
			if !strings.Contains(err.Error(), "mailbox") {
				t.Errorf("Validate error %q does not name the mailbox", err)
			}
			return
		}
		if c.Port < 1 || c.Port > 65535 || len(c.Folders) == 0 || c.MaxMessageBytes < 1 || c.PollInterval.D() < time.Second {
			t.Errorf("Validate accepted %+v", c)
		}
		for _, d := range []Destination{ToAccepted, ToRejected, ToUnmatched} {
			if slices.Contains(c.Folders, c.MoveTo.Folder(d)) {
				t.Errorf("Validate accepted moving %s into polled folder %q", d, c.MoveTo.Folder(d))
			}
		}
	})
}
