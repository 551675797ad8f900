package rules

import (
	"fmt"
	"slices"
	"strings"
)

// author is one From address being judged: the addr-spec with its domain
// normalised, the domain, and the domain's organisational domain.
type author struct {
	addr, domain, org string
}

// authOutcome is how the authors of one message were authenticated.
type authOutcome struct {
	// auth is pass when every author is covered, fail on the receiving
	// server's dmarc or compauth fail, none otherwise.
	auth Authentication
	// mismatch is set when the receiving server's pass names a header.from
	// outside every author's organisation: it authenticated another From
	// than the one judged.
	mismatch bool
	// uncovered are the authors no counted pass covers.
	uncovered []string
	warn      []string
}

// rejects reports whether the outcome rejects the message
// (sender_not_authenticated): a fail, a pass for another domain, or, with
// several authors, any author left uncovered.
func (o authOutcome) rejects(authors int) bool {
	return o.auth == AuthFail || o.mismatch || (authors > 1 && len(o.uncovered) > 0)
}

// authenticate decides how the authors of m (normalised, at least one) were
// authenticated, with warnings for the analyst.
//
// Only the receiving server's own stamp counts: the topmost
// Authentication-Results header whose authserv-id is trusted or, with
// Config.ExchangeOnline, the topmost one without an authserv-id. A sender
// can write any header below it, so lower trusted-looking headers never
// override it (RFC 8601 section 5), and untrusted headers never decide.
//
// In the stamp, a dmarc or compauth fail means fail. A pass counts only for
// the domain the stamp names in header.from (RFC 7489 section 11.2): a
// dmarc pass for its own header.from, a compauth pass (Exchange Online
// writes no header.from on it) for the header.from of the stamp's other
// results. A pass with no header.from cannot be tied to an author and is
// not counted. A counted pass covers every author in the header.from
// domain's organisation (the organisational-domain match of RFC 7489
// section 3.1.1 relaxed alignment, the rule DKIM below follows too: whoever
// passes DMARC for contoso.com controls it.contoso.com as well). A pass for
// a domain outside every author's organisation means the server judged
// another From than this one (two From fields, a changed header): a
// mismatch. An author not covered by the stamp is covered by a verified
// DKIM signature whose d= shares its organisational domain; failed
// signatures alone do not reject, since mailing lists break them.
//
// ARC-Authentication-Results (RFC 8617) are not read, which treats them as
// untrusted stamps: an ARC set is worth what its seals are, and claimtrail
// verifies no ARC-Seal chain, so anyone upstream can write one naming the
// partner's authserv-id. Nor are they needed: a trusted hop's own
// Authentication-Results stay in the message when a forwarder passes it on
// (the forwarder adds its headers above), and a trusted server that does
// validate ARC writes its conclusion ("arc=pass") into its own stamp, read
// here.
func (p *Policy) authenticate(m *Message, authors []author) authOutcome {
	var out authOutcome
	stampAt := -1
	var passed []string // normalised header.from domains the stamp passes
	var named []string  // every header.from the stamp names, whatever its result
	for i, raw := range m.AuthenticationResults {
		ar, err := ParseAuthenticationResults(raw)
		if !p.trustedStamp(ar) {
			continue
		}
		if stampAt < 0 {
			stampAt = i
			if err != nil {
				out.warn = append(out.warn, fmt.Sprintf("the receiving server's Authentication-Results header is partly unreadable: %v", err))
			}
			var fail bool
			fail, passed, named = stampResults(ar, &out.warn)
			if fail {
				out.auth = AuthFail
			}
			continue
		}
		lowerFail, lowerPassed, _ := stampResults(ar, nil)
		if lowerFail != (out.auth == AuthFail) || !slices.Equal(lowerPassed, passed) {
			out.warn = append(out.warn, fmt.Sprintf("a lower Authentication-Results header (%d) claiming to be from %s says %s, the receiving server's says %s; the lower one may be forged and was ignored",
				i+1, serverName(ar), describeStamp(lowerFail, lowerPassed), describeStamp(out.auth == AuthFail, passed)))
		}
	}
	if stampAt < 0 && (len(p.trusted) > 0 || p.exo) {
		out.warn = append(out.warn, "no Authentication-Results header from the receiving server; the sender's DMARC result is unknown")
	}

	covered := make([]bool, len(authors))
	for _, d := range passed {
		org := OrganizationalDomain(d)
		hit := false
		for k, a := range authors {
			if a.org == org {
				covered[k], hit = true, true
			}
		}
		if !hit {
			out.mismatch = true
			out.warn = append(out.warn, fmt.Sprintf("the receiving server's pass is for header.from %s, but the author is at %s; it authenticated another From than the one judged", d, authorDomains(authors)))
		}
	}
	// Whatever its result, a header.from outside every author's
	// organisation means the receiving server read another From than the
	// one judged here (a From it parsed otherwise, or a second one): the
	// author was never checked. (A fail rejects already.)
	for _, d := range named {
		if out.auth == AuthFail || slices.Contains(passed, d) || slices.ContainsFunc(authors, func(a author) bool { return a.org == OrganizationalDomain(d) }) {
			continue
		}
		out.mismatch = true
		out.warn = append(out.warn, fmt.Sprintf("the receiving server checked header.from %s, but the author is at %s; it read another From than the one judged", d, authorDomains(authors)))
	}

	var failed []string
	for _, r := range m.DKIM {
		d, err := NormalizeDomain(r.Domain)
		if err != nil {
			d = r.Domain
		}
		if !r.Pass {
			msg := "DKIM signature of " + d + " did not verify"
			if r.Error != "" {
				msg += ": " + r.Error
			}
			failed = append(failed, msg)
			continue
		}
		if err != nil {
			continue
		}
		for k, a := range authors {
			if OrganizationalDomain(d) == a.org {
				covered[k] = true
			}
		}
	}
	for k, a := range authors {
		if !covered[k] {
			out.uncovered = append(out.uncovered, a.addr)
		}
	}

	switch {
	case out.auth == AuthFail:
		return out
	case !out.mismatch && len(out.uncovered) == 0:
		out.auth = AuthPass
		return out
	}
	// Failed signatures matter only when nothing else decided.
	out.auth = AuthNone
	out.warn = append(out.warn, failed...)
	return out
}

// authorDomains lists the authors' domains for a warning, without repeats.
func authorDomains(authors []author) string {
	var ds []string
	for _, a := range authors {
		if !slices.Contains(ds, a.domain) {
			ds = append(ds, a.domain)
		}
	}
	return strings.Join(ds, ", ")
}

// describeStamp says what a stamp's results amount to, for a warning.
func describeStamp(fail bool, passed []string) string {
	switch {
	case fail:
		return string(AuthFail)
	case len(passed) > 0:
		return "pass for " + strings.Join(passed, ", ")
	}
	return string(AuthNone)
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

// stampResults reads a trusted header's dmarc and compauth results: fail
// when either failed, and the normalised header.from domains (sorted, no
// repeats) that a pass counts for. A dmarc pass counts for its own
// header.from; a compauth pass for every header.from in the stamp, since
// Exchange Online writes none on the compauth result itself and evaluates
// the From of its dmarc result. bestguesspass (Exchange Online: no DMARC
// record, it would have passed) and softpass are not passes. warn, when not
// nil, collects passes that could not be counted. named are every readable
// header.from of the stamp, whatever the result.
func stampResults(ar AuthResults, warn *[]string) (fail bool, passed, named []string) {
	var froms []string // every readable header.from of the stamp
	for _, r := range ar.Results {
		hf, ok := r.Props["header.from"]
		if !ok {
			continue
		}
		if d, err := NormalizeDomain(headerFromDomain(hf)); err == nil {
			froms = appendSorted(froms, d)
		} else if warn != nil && (r.Result == "pass" || r.Result == "fail") {
			*warn = append(*warn, fmt.Sprintf("the receiving server's %s result names header.from %q, which is not a domain: %v", r.Method, hf, err))
		}
	}
	for _, r := range ar.Results {
		switch r.Method {
		case "dmarc", "compauth":
		default:
			continue
		}
		switch r.Result {
		case "fail":
			fail = true
		case "pass":
			if r.Method == "dmarc" {
				hf := r.Props["header.from"]
				if d, err := NormalizeDomain(headerFromDomain(hf)); err == nil {
					passed = appendSorted(passed, d)
				} else if hf == "" && warn != nil {
					*warn = append(*warn, "the receiving server's dmarc=pass names no header.from, so it cannot be tied to the author; not counted")
				}
				continue
			}
			if len(froms) == 0 && warn != nil {
				*warn = append(*warn, "the receiving server's compauth=pass comes with no header.from, so it cannot be tied to the author; not counted")
			}
			for _, d := range froms {
				passed = appendSorted(passed, d)
			}
		}
	}
	return fail, passed, froms
}

// headerFromDomain is the domain of a header.from value. RFC 8601 section
// 2.3 writes it as a domain; some servers write the whole address.
func headerFromDomain(v string) string {
	if at := strings.LastIndexByte(v, '@'); at >= 0 {
		return v[at+1:]
	}
	return v
}

// appendSorted inserts s into the sorted list if it is not there yet.
func appendSorted(list []string, s string) []string {
	i, found := slices.BinarySearch(list, s)
	if found {
		return list
	}
	return slices.Insert(list, i, s)
}
