package web

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// Config is the web section of claimtrail's configuration file.
type Config struct {
	// Listen is the address the app listens on; DefaultListen when empty.
	// Keep it on loopback behind a TLS proxy unless the network is trusted.
	Listen string `yaml:"listen"`
	// BaseURL is the address analysts use, e.g. https://claims.adatum-csp.com;
	// an https URL turns secure cookies on. Optional.
	BaseURL string `yaml:"base_url"`
	// SecureCookies marks the session cookie Secure (sent over TLS only).
	// It is on anyway for requests that arrive over TLS and with an https
	// BaseURL; set it when a TLS proxy in front speaks plain HTTP to us.
	SecureCookies bool `yaml:"secure_cookies"`
	// SessionTTL is how long a login lasts, as a Go duration ("12h");
	// DefaultSessionTTL when empty.
	SessionTTL string `yaml:"session_ttl"`
	// TrustedProxies are the addresses (IPs or CIDR ranges) of the reverse
	// proxies in front of the app. A request from one of them is taken to
	// come from the last address in its X-Forwarded-For that is not a
	// trusted proxy; the login rate limit counts attempts per client by
	// it. Empty: the header is ignored, and behind a proxy every client
	// shares the proxy's address and so its login limit.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// TokenTTL is how long a new API token works, as days ("90d") or a
	// Go duration ("720h"); DefaultTokenTTL when empty. 'claimtrail users
	// token --ttl' overrides it for one token.
	TokenTTL string `yaml:"token_ttl"`
}

// Defaults of Config.
const (
	DefaultListen     = "127.0.0.1:8080"
	DefaultSessionTTL = 12 * time.Hour
	maxSessionTTL     = 30 * 24 * time.Hour
	DefaultTokenTTL   = archive.DefaultAPITokenTTL
	minTokenTTL       = time.Hour
	maxTokenTTL       = 730 * 24 * time.Hour
)

// WithDefaults returns c with empty fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.SessionTTL == "" {
		c.SessionTTL = DefaultSessionTTL.String()
	}
	if u, err := url.Parse(c.BaseURL); err == nil && u.Scheme == "https" {
		c.SecureCookies = true
	}
	return c
}

// Validate checks c with its defaults applied and names each bad key
// relative to the section ("listen: ..."), as the config loader expects.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port, e.g. %s", c.Listen, DefaultListen))
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("base_url: %q is not an http(s) URL like https://claims.example.com", c.BaseURL))
		}
	}
	if _, err := parseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("trusted_proxies: %w", err))
	}
	if c.TokenTTL != "" {
		if _, err := ParseTokenTTL(c.TokenTTL); err != nil {
			errs = append(errs, fmt.Errorf("token_ttl: %w", err))
		}
	}
	d, err := time.ParseDuration(strings.TrimSpace(c.SessionTTL))
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("session_ttl: %q is not a duration like 12h or 90m", c.SessionTTL))
	case d < time.Minute || d > maxSessionTTL:
		errs = append(errs, fmt.Errorf("session_ttl: %s is outside 1m to %s", d, maxSessionTTL))
	}
	return errors.Join(errs...)
}

// sessionTTL returns the session lifetime; c must have passed Validate.
func (c Config) sessionTTL() time.Duration {
	d, err := time.ParseDuration(strings.TrimSpace(c.WithDefaults().SessionTTL))
	if err != nil || d <= 0 {
		return DefaultSessionTTL
	}
	return d
}

// APITokenTTL returns how long a new API token works; c must have passed
// Validate.
func (c Config) APITokenTTL() time.Duration {
	if c.TokenTTL == "" {
		return DefaultTokenTTL
	}
	d, err := ParseTokenTTL(c.TokenTTL)
	if err != nil {
		return DefaultTokenTTL
	}
	return d
}

// ParseTokenTTL reads an API token's lifetime: a number of days ("90d")
// or a Go duration ("36h"), from an hour to two years.
func ParseTokenTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("%q is not a number of days like 90d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a lifetime like 90d or 36h", s)
		}
	}
	if d < minTokenTTL || d > maxTokenTTL {
		return 0, fmt.Errorf("%s is outside 1h to 730d; tokens that never expire are not offered", s)
	}
	return d, nil
}

// parseProxies reads trusted_proxies: IPs ("10.0.0.5") and CIDR ranges
// ("10.0.0.0/24").
func parseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is not an IP address or a CIDR range such as 10.0.0.0/24", s))
			continue
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, errors.Join(errs...)
}
