package rules

import (
	"fmt"
	"strings"
)

// authenticate decides how the author domain fromDomain (normalised) of m
// was authenticated, with warnings for the analyst.
//
// Only the receiving server's own stamp counts: the topmost
// Authentication-Results header whose authserv-id is trusted or, with
// Config.ExchangeOnline, the topmost one without an authserv-id. A sender
// can write any header below it, so lower trusted-looking headers never
// override it (RFC 8601 section 5), and untrusted headers never decide.
// In the stamp, a dmarc or compauth fail means fail, else a pass means pass
// (a DMARC pass only for this From domain). Otherwise a DKIM signature that
// verified with a d= in the From domain's organisation (relaxed alignment,
// RFC 7489 section 3.1.1) means pass; failed signatures alone do not reject,
// since mailing lists break them.
func (p *Policy) authenticate(m *Message, fromDomain string) (Authentication, []string) {
	var warn []string
	auth := AuthNone
	stampAt := -1
	for i, raw := range m.AuthenticationResults {
		ar, err := ParseAuthenticationResults(raw)
		if !p.trustedStamp(ar) {
			continue
		}
		if stampAt < 0 {
			stampAt = i
			if err != nil {
				warn = append(warn, fmt.Sprintf("the receiving server's Authentication-Results header is partly unreadable: %v", err))
			}
			auth = p.stampVerdict(ar, fromDomain, &warn)
			continue
		}
		if lower := p.stampVerdict(ar, fromDomain, nil); lower != auth {
			warn = append(warn, fmt.Sprintf("a lower Authentication-Results header (%d) claiming to be from %s says %s, the receiving server's says %s; the lower one may be forged and was ignored",
				i+1, serverName(ar), lower, auth))
		}
	}
	if stampAt < 0 && (len(p.trusted) > 0 || p.exo) {
		warn = append(warn, "no Authentication-Results header from the receiving server; the sender's DMARC result is unknown")
	}
	if auth != AuthNone {
		return auth, warn
	}

	org := OrganizationalDomain(fromDomain)
	var failed []string
	for _, r := range m.DKIM {
		d, err := NormalizeDomain(r.Domain)
		if err != nil {
			d = r.Domain
		}
		if r.Pass && err == nil && OrganizationalDomain(d) == org {
			return AuthPass, warn
		}
		if !r.Pass {
			msg := "DKIM signature of " + d + " did not verify"
			if r.Error != "" {
				msg += ": " + r.Error
			}
			failed = append(failed, msg)
		}
	}
	return AuthNone, append(warn, failed...)
}

// trustedStamp reports whether ar is a header the receiving server wrote,
// judging by its authserv-id alone.
func (p *Policy) trustedStamp(ar AuthResults) bool {
	if ar.AuthservID == "" {
		return p.exo && len(ar.Results) > 0
	}
	return p.trusted[strings.ToLower(ar.AuthservID)]
}

func serverName(ar AuthResults) string {
	if ar.AuthservID == "" {
		return "Exchange Online"
	}
	return ar.AuthservID
}

// stampVerdict reads a trusted header's dmarc and compauth results. A DMARC
// pass for another domain than the From header's (two From headers, or a
// changed one) does not count; warn, when not nil, collects why.
func (p *Policy) stampVerdict(ar AuthResults, fromDomain string, warn *[]string) Authentication {
	pass, fail := false, false
	for _, r := range ar.Results {
		switch r.Method {
		case "dmarc":
			switch r.Result {
			case "fail":
				fail = true
			case "pass":
				if hf := r.Props["header.from"]; hf != "" {
					if d, err := NormalizeDomain(hf); err != nil || d != fromDomain {
						if warn != nil {
							*warn = append(*warn, fmt.Sprintf("the receiving server's DMARC pass is for %q, not the From domain %s; not counted", hf, fromDomain))
						}
						continue
					}
				}
				pass = true
			}
		case "compauth":
			switch r.Result {
			case "fail":
				fail = true
			case "pass":
				pass = true
			}
		}
	}
	switch {
	case fail:
		return AuthFail
	case pass:
		return AuthPass
	}
	return AuthNone
}
