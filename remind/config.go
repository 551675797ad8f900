package remind

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/ingest"
)

// Config is the reminders section of claimtrail's configuration. Each
// channel is optional; with none configured no reminders are sent.
type Config struct {
	// Days are the thresholds, in days before the deadline; default
	// claims.DefaultReminderDays (7 and 2).
	Days []int `yaml:"days"`
	// Every is how often the loop looks for reminders due; default 15m,
	// at least 1m.
	Every time.Duration `yaml:"every"`
	// WebhookURL receives a JSON POST per reminder (Webhook). A secret:
	// it may come from webhook_url_file or $CLAIMTRAIL_REMINDERS_WEBHOOK_URL.
	WebhookURL ingest.Secret `yaml:"webhook_url"`
	// TeamsWebhookURL is a Microsoft Teams incoming webhook (a channel's
	// Workflows "post to a channel when a webhook request is received", or
	// a legacy connector): each reminder is posted as an Adaptive Card. A
	// secret, like WebhookURL.
	TeamsWebhookURL ingest.Secret `yaml:"teams_webhook_url"`
	// SMTP sends each reminder as an email; absent (no host), none is.
	SMTP SMTPConfig `yaml:"smtp"`
}

// SMTPConfig is how reminders are mailed.
type SMTPConfig struct {
	Host string `yaml:"host"`
	// Port defaults to 587 for starttls, 465 for tls, 25 for none.
	Port int `yaml:"port"`
	// Security is starttls (the default), tls (implicit TLS, port 465) or
	// none (only for a relay on the same host).
	Security string `yaml:"security"`
	// Username and Password log in (AUTH PLAIN, only over TLS); without a
	// username the relay is used without login. Password may come from
	// password_file or $CLAIMTRAIL_REMINDERS_SMTP_PASSWORD.
	Username string        `yaml:"username"`
	Password ingest.Secret `yaml:"password"`
	From     string        `yaml:"from"`
	To       []string      `yaml:"to"`
}

// The SMTP security modes.
const (
	SecuritySTARTTLS = "starttls"
	SecurityTLS      = "tls"
	SecurityNone     = "none"
)

// Loop bounds.
const (
	DefaultEvery = 15 * time.Minute
	MinEvery     = time.Minute
)

// On reports whether the SMTP channel is configured.
func (s SMTPConfig) On() bool { return s.Host != "" }

// On reports whether any channel is configured.
func (c Config) On() bool { return c.WebhookURL != "" || c.TeamsWebhookURL != "" || c.SMTP.On() }

// WithDefaults returns a copy of c with every unset field given its
// default.
func (c Config) WithDefaults() Config {
	if len(c.Days) == 0 {
		c.Days = append([]int(nil), claims.DefaultReminderDays...)
	}
	if c.Every == 0 {
		c.Every = DefaultEvery
	}
	if c.SMTP.Security == "" {
		c.SMTP.Security = SecuritySTARTTLS
	}
	if c.SMTP.Port == 0 {
		switch c.SMTP.Security {
		case SecurityTLS:
			c.SMTP.Port = 465
		case SecurityNone:
			c.SMTP.Port = 25
		default:
			c.SMTP.Port = 587
		}
	}
	return c
}

// KeyError is a configuration error about one key of the section
// ("smtp.from"), saying what to do.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// Validate checks c (after WithDefaults), returning KeyErrors joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &KeyError{Key: key, Err: fmt.Errorf(format, args...)})
	}
	if err := claims.CheckReminderDays(c.Days); err != nil {
		bad("days", "%v", err)
	}
	if c.Every < MinEvery {
		bad("every", "%s is too often; set at least 1m (default 15m)", c.Every)
	}
	for _, k := range []struct {
		key string
		url ingest.Secret
	}{{"webhook_url", c.WebhookURL}, {"teams_webhook_url", c.TeamsWebhookURL}} {
		if k.url == "" {
			continue
		}
		// The URL is a secret: the error must not repeat it.
		u, err := url.Parse(k.url.Reveal())
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad(k.key, "is not an http(s) URL; copy the webhook's whole URL, starting https://")
		}
	}
	s := c.SMTP
	if !s.On() {
		if s.From != "" || len(s.To) > 0 || s.Username != "" {
			bad("smtp.host", "missing; name the mail server (e.g. smtp.office365.com), or remove the smtp section")
		}
		return errors.Join(errs...)
	}
	switch s.Security {
	case SecuritySTARTTLS, SecurityTLS:
	case SecurityNone:
		if s.Username != "" && !isLocal(s.Host) {
			bad("smtp.security", "none with a username would send the password in clear; use starttls or tls")
		}
	default:
		bad("smtp.security", "%q is not starttls, tls or none", s.Security)
	}
	if s.Port < 1 || s.Port > 65535 {
		bad("smtp.port", "%d is not a port; 587 for starttls, 465 for tls", s.Port)
	}
	if s.Username == "" && s.Password != "" {
		bad("smtp.username", "missing while a password is set; give the login name")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		bad("smtp.from", "%q is not an email address; give the sender, e.g. claimtrail@adatum-csp.com", s.From)
	}
	if len(s.To) == 0 {
		bad("smtp.to", "missing; list who gets the reminders, e.g. [claims-team@adatum-csp.com]")
	}
	for i, to := range s.To {
		if _, err := mail.ParseAddress(to); err != nil {
			bad(fmt.Sprintf("smtp.to[%d]", i), "%q is not an email address", to)
		}
	}
	return errors.Join(errs...)
}

func isLocal(host string) bool {
	host = strings.ToLower(host)
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
