package rules

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// idnaProfile maps a domain as a resolver would look it up (UTS #46,
// non-transitional, so "ß" stays distinct from "ss" as browsers do now) and
// also checks label and name lengths, which idna.Lookup leaves out.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.VerifyDNSLength(true),
	idna.Transitional(false),
)

// NormalizeDomain returns the canonical form of a mail domain: lower case,
// without a trailing dot, internationalised names in their ASCII (punycode)
// form, so "Bäckerei-München.DE." becomes "xn--bckerei-mnchen-5hb60b.de".
// It rejects what cannot be a mail domain: empty names, empty or overlong
// labels, characters outside letters, digits and hyphens, single-label names
// ("localhost"), numeric top-level labels (IPv4 addresses) and address
// literals ("[192.0.2.1]").
func NormalizeDomain(s string) (string, error) {
	d := strings.TrimSpace(s)
	d = strings.TrimSuffix(d, ".")
	if d == "" {
		return "", errors.New("empty domain name")
	}
	if strings.HasPrefix(d, "[") {
		return "", fmt.Errorf("%q is an address literal, not a domain name", s)
	}
	if !utf8.ValidString(d) {
		// idna would turn the bad bytes into U+FFFD and accept them.
		return "", fmt.Errorf("%q is not a valid domain name: invalid UTF-8", s)
	}
	a, err := idnaProfile.ToASCII(d)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid domain name: %w", s, err)
	}
	if strings.HasSuffix(a, ".") {
		return "", fmt.Errorf("%q is not a valid domain name: empty label", s)
	}
	a = strings.ToLower(a) // ToASCII lower-cases, but be explicit for ASCII input it passes through
	dot := strings.LastIndexByte(a, '.')
	if dot < 0 {
		return "", fmt.Errorf("%q is not a valid domain name: it needs at least two labels (e.g. contoso.com)", s)
	}
	if allDigits(a[dot+1:]) {
		return "", fmt.Errorf("%q is not a valid domain name: the top-level label is numeric", s)
	}
	return a, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hasDomainSuffix reports whether d is parent or one of its subdomains. Both
// must be normalised. The dot check keeps "evilcontoso.com" from matching
// "contoso.com".
func hasDomainSuffix(d, parent string) bool {
	if len(d) == len(parent) {
		return d == parent
	}
	return len(d) > len(parent) && d[len(d)-len(parent)-1] == '.' && strings.HasSuffix(d, parent)
}

// extraSuffixes are shared parent domains that the public suffix list does
// not name but whose subdomains belong to different organisations: every
// Microsoft 365 tenant has a <name>.onmicrosoft.com domain, and Exchange
// Online signs that tenant's mail with it. Without these, two unrelated
// tenants would be "aligned" for DMARC purposes.
var extraSuffixes = []string{
	"mail.onmicrosoft.com",
	"onmicrosoft.com",
	"onmicrosoft.us",
	"onmicrosoft.de",
	"partner.onmschina.cn",
}

// OrganizationalDomain returns the organisational domain of a normalised
// domain name (RFC 7489 section 3.2): the public suffix plus one label, so
// "it.contoso.co.uk" gives "contoso.co.uk". Tenant domains under
// onmicrosoft.com count as organisations of their own. A name that is itself
// a public suffix is returned unchanged.
func OrganizationalDomain(d string) string {
	for _, s := range extraSuffixes {
		if len(d) > len(s) && hasDomainSuffix(d, s) {
			rest := d[:len(d)-len(s)-1]
			return rest[strings.LastIndexByte(rest, '.')+1:] + "." + s
		}
	}
	o, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return o
}

// isPublicSuffix reports whether d is itself a public suffix ("co.uk",
// "github.io", "onmicrosoft.com"), which no single organisation owns.
func isPublicSuffix(d string) bool {
	for _, s := range extraSuffixes {
		if d == s {
			return true
		}
	}
	ps, _ := publicsuffix.PublicSuffix(d)
	return ps == d
}

// splitAddress splits an addr-spec into local part and domain at its last
// "@" outside a quoted string (RFC 5322 section 3.4.1: a quoted local part
// may hold "@", spaces and backslash-escaped quotes, as in
// `"jane@contoso.com"@gmail.com`). An address whose only "@" is quoted
// has no domain; so has one whose quote is never closed.
func splitAddress(addr string) (local, domain string, ok bool) {
	at, quoted := -1, false
	for i := 0; i < len(addr); i++ {
		switch c := addr[i]; {
		case quoted && c == '\\':
			i++ // quoted-pair: the next byte is literal
		case c == '"':
			quoted = !quoted
		case !quoted && c == '@':
			at = i
		}
	}
	if quoted || at <= 0 || at == len(addr)-1 {
		return "", "", false
	}
	return addr[:at], addr[at+1:], true
}
