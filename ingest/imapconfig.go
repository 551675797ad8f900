package ingest

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Security is how an IMAP connection is protected.
type Security string

// The security modes. Plaintext is only ever used when the configuration
// says SecurityInsecure.
const (
	SecurityTLS      Security = "tls"      // implicit TLS, usually port 993
	SecurityStartTLS Security = "starttls" // STARTTLS upgrade, usually port 143
	SecurityInsecure Security = "insecure" // no TLS at all: tests and loopback only
)

// AuthMethod is how claimtrail logs in to a mailbox.
type AuthMethod string

// The login methods.
const (
	AuthPassword AuthMethod = "password" // IMAP LOGIN
	AuthXOAuth2  AuthMethod = "xoauth2"  // AUTHENTICATE XOAUTH2 with an OAuth 2.0 token
)

// Defaults of MailboxConfig, applied by WithDefaults.
const (
	DefaultMaxMessageBytes = 50 << 20
	DefaultPollInterval    = time.Minute
	DefaultOAuthScope      = "https://outlook.office365.com/.default"
)

// DefaultFolders are the folders polled when none are configured.
var DefaultFolders = []string{"INBOX"}

// MailboxConfig describes one IMAP mailbox: where it is, how to log in, what
// to poll and where handled mail goes. Load it from YAML, then call
// WithDefaults and Validate.
type MailboxConfig struct {
	// Name identifies the mailbox in checkpoints, logs and evidence.
	Name     string   `yaml:"name"`
	Host     string   `yaml:"host"`
	Port     int      `yaml:"port"` // default 993 for tls, 143 otherwise
	Security Security `yaml:"security"`
	Username string   `yaml:"username"`
	// Password is used with auth: password. The config loader also takes
	// it from password_file (a list entry is out of reach of environment overrides).
	Password Secret     `yaml:"password"`
	Auth     AuthMethod `yaml:"auth"` // default password
	OAuth    OAuth      `yaml:"oauth"`
	// Folders are polled in order; default [INBOX].
	Folders []string `yaml:"folders"`
	MoveTo  MoveTo   `yaml:"move_to"`
	// MaxMessageBytes is the largest message fetched; larger ones are
	// reported as too large and left in place.
	MaxMessageBytes int64 `yaml:"max_message_bytes"`
	// PollInterval is how often a server without IDLE is asked for news,
	// and how often folders other than the first are polled.
	PollInterval Duration `yaml:"poll_interval"`
	// TLSCAFile, when set, is a PEM bundle that replaces the system roots
	// for verifying the server (a private CA, or a test server's).
	TLSCAFile string `yaml:"tls_ca_file"`
}

// OAuth holds the Microsoft Entra app registration used for Exchange Online
// app-only access (OAuth 2.0 client credentials).
type OAuth struct {
	// TokenURL defaults to the Microsoft identity platform v2.0 token
	// endpoint of Tenant.
	TokenURL string `yaml:"token_url"`
	ClientID string `yaml:"client_id"`
	// ClientSecret may come from client_secret_file, as Password does.
	ClientSecret Secret `yaml:"client_secret"`
	Scope        string `yaml:"scope"`  // default DefaultOAuthScope
	Tenant       string `yaml:"tenant"` // directory (tenant) ID or domain
}

// MoveTo names the folders handled mail is moved to. They are created when
// missing.
type MoveTo struct {
	Accepted  string `yaml:"accepted"`  // default "Accepted"
	Rejected  string `yaml:"rejected"`  // default "Rejected"
	Unmatched string `yaml:"unmatched"` // default "Unmatched"
}

// Folder returns the folder for d, or "" for LeaveInPlace and unknown
// destinations.
func (m MoveTo) Folder(d Destination) string {
	switch d {
	case ToAccepted:
		return m.Accepted
	case ToRejected:
		return m.Rejected
	case ToUnmatched:
		return m.Unmatched
	}
	return ""
}

// Secret is a configuration value that never prints: fmt, slog, JSON and
// YAML all show "<redacted>". Reveal returns the value.
type Secret string

const redacted = "<redacted>"

// Reveal returns the secret's value, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// String returns "<redacted>", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes "<redacted>".
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML writes "<redacted>".
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// WithDefaults returns a copy of c with every unset field given its default.
func (c MailboxConfig) WithDefaults() MailboxConfig {
	if c.Security == "" {
		c.Security = SecurityTLS
	}
	if c.Port == 0 {
		c.Port = 143
		if c.Security == SecurityTLS {
			c.Port = 993
		}
	}
	if c.Auth == "" {
		c.Auth = AuthPassword
	}
	if len(c.Folders) == 0 {
		c.Folders = append([]string(nil), DefaultFolders...)
	}
	if c.MoveTo.Accepted == "" {
		c.MoveTo.Accepted = "Accepted"
	}
	if c.MoveTo.Rejected == "" {
		c.MoveTo.Rejected = "Rejected"
	}
	if c.MoveTo.Unmatched == "" {
		c.MoveTo.Unmatched = "Unmatched"
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.PollInterval == 0 {
		c.PollInterval = Duration(DefaultPollInterval)
	}
	if c.Auth == AuthXOAuth2 {
		if c.OAuth.Scope == "" {
			c.OAuth.Scope = DefaultOAuthScope
		}
		if c.OAuth.TokenURL == "" && c.OAuth.Tenant != "" {
			c.OAuth.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(c.OAuth.Tenant) + "/oauth2/v2.0/token"
		}
	}
	return c
}

// Validate checks a configuration that WithDefaults has completed. Its
// error names the offending key and says what to write instead.
func (c MailboxConfig) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("mailbox %q: %s: %s", c.Name, key, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(c.Name) == "" {
		return fmt.Errorf("mailbox: name: missing; give each mailbox a short unique name")
	}
	if c.Host == "" {
		return bad("host", "missing; set the IMAP server's host name")
	}
	if strings.ContainsAny(c.Host, " /:") && net.ParseIP(c.Host) == nil {
		return bad("host", "%q is not a host name; put the port in port:", c.Host)
	}
	if c.Port < 1 || c.Port > 65535 {
		return bad("port", "%d is out of range 1-65535", c.Port)
	}
	switch c.Security {
	case SecurityTLS, SecurityStartTLS, SecurityInsecure:
	default:
		return bad("security", "%q is not one of tls, starttls, insecure", c.Security)
	}
	if c.TLSCAFile != "" {
		if c.Security == SecurityInsecure {
			return bad("tls_ca_file", "set, but security is insecure; use tls or starttls")
		}
		if _, err := os.Stat(c.TLSCAFile); err != nil {
			return bad("tls_ca_file", "%v", err)
		}
	}
	if c.Username == "" {
		return bad("username", "missing; for Exchange Online it is the mailbox's address")
	}
	switch c.Auth {
	case AuthPassword:
		if c.Password == "" {
			return bad("password", "missing; set password_file (or password)")
		}
	case AuthXOAuth2:
		if err := c.OAuth.validate(); err != nil {
			return bad("oauth."+err.key, "%s", err.msg)
		}
	default:
		return bad("auth", "%q is not one of password, xoauth2", c.Auth)
	}
	if len(c.Folders) == 0 {
		return bad("folders", "empty; list at least INBOX")
	}
	seen := map[string]bool{}
	for i, f := range c.Folders {
		if err := checkFolderName(f); err != nil {
			return bad(fmt.Sprintf("folders[%d]", i), "%v", err)
		}
		if seen[f] {
			return bad(fmt.Sprintf("folders[%d]", i), "%q is listed twice", f)
		}
		seen[f] = true
	}
	for _, d := range []struct{ key, folder string }{
		{"move_to.accepted", c.MoveTo.Accepted},
		{"move_to.rejected", c.MoveTo.Rejected},
		{"move_to.unmatched", c.MoveTo.Unmatched},
	} {
		if err := checkFolderName(d.folder); err != nil {
			return bad(d.key, "%v", err)
		}
		// Moving into a polled folder would fetch the same mail forever.
		if seen[d.folder] {
			return bad(d.key, "%q is also polled (folders); pick another folder", d.folder)
		}
	}
	if c.MaxMessageBytes < 1 {
		return bad("max_message_bytes", "%d must be positive", c.MaxMessageBytes)
	}
	if c.PollInterval.D() < time.Second {
		return bad("poll_interval", "%s is shorter than 1s; servers throttle clients that poll that often", c.PollInterval)
	}
	return nil
}

type keyError struct{ key, msg string }

func (o OAuth) validate() *keyError {
	if o.ClientID == "" {
		return &keyError{"client_id", "missing; the application (client) ID of the app registration"}
	}
	if o.ClientSecret == "" {
		return &keyError{"client_secret", "missing; set client_secret_file (or client_secret)"}
	}
	if o.TokenURL == "" {
		return &keyError{"tenant", "missing; set the directory (tenant) ID, or token_url"}
	}
	u, err := url.Parse(o.TokenURL)
	if err != nil || u.Host == "" {
		return &keyError{"token_url", fmt.Sprintf("%q is not an absolute URL", o.TokenURL)}
	}
	// The client secret travels in the request body: only loopback test
	// servers may be plain HTTP.
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return &keyError{"token_url", fmt.Sprintf("%q must use https", o.TokenURL)}
	}
	if o.Scope == "" {
		return &keyError{"scope", "missing"}
	}
	return nil
}

func checkFolderName(f string) error {
	if strings.TrimSpace(f) == "" {
		return fmt.Errorf("empty folder name")
	}
	if strings.ContainsAny(f, "\r\n\x00*%") {
		return fmt.Errorf("%q contains a character IMAP folder names cannot hold", f)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Duration is a time.Duration written as Go writes durations ("90s",
// "1m30s") in YAML and in the environment.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalText parses "90s", "1m30s" and the like.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 90s or 5m", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d as UnmarshalText reads it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalYAML reads a scalar duration; claimtrail's config loader leaves
// types with this method to check themselves.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 90s or 5m", n.Line)
	}
	if err := d.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}
