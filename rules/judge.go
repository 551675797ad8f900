package rules

import (
	"fmt"
	"mime"
	"slices"
	"strings"
)

// maxForwardDepth bounds nested partner forwards (a colleague's forward
// forwarded again); deeper nesting is judged partner_sender.
const maxForwardDepth = 3

// Judge decides whether m is usable evidence for a claim. It does no I/O,
// never panics, and is safe for concurrent use.
//
// The checks run in this order; the first that decides sets Verdict and
// Reason:
//
//  1. m is nil or Malformed: rejected, malformed. m.TooComplex: rejected,
//     too_complex (the parse ran out of its budget, so what was read may
//     be incomplete in any way).
//  2. From has no usable addr-spec (missing, no "@", an invalid domain):
//     rejected, no_sender. Only From counts as the author (RFC 5322
//     section 3.6.2); Sender and Reply-To never do.
//  3. Partner staff (a Config.PartnerDomains domain or subdomain): a message
//     that itself fails authentication is rejected sender_not_authenticated
//     (a forged partner message could carry any "original"); one without
//     originals (message/rfc822 attachments) is rejected partner_sender,
//     since an inline forward is not the customer's email. Otherwise each
//     original is judged by these same steps and the best outcome wins:
//     accepted, then unmatched, then rejected; the first original on ties.
//     Original is its 1-based index and Sender, TenantID and the rest are
//     the original's. When that original names no incident ID but the
//     partner's own text does, those IDs are used and the original is
//     accepted, with a warning saying so: the customer's email is the
//     evidence, the partner's note only says which incident it is about.
//  4. The sender domain: a tenant's domain or subdomain sets TenantID;
//     else a personal provider (IsPersonalDomain) is rejected
//     personal_address; else rejected unknown_domain.
//  5. Authentication fail: rejected, sender_not_authenticated. Only the
//     receiving server's own Authentication-Results counts: the topmost
//     header whose authserv-id is in Config.TrustedAuthservIDs or, with
//     Config.ExchangeOnline, the topmost without an authserv-id. Headers
//     below it may be forged and never override it; untrusted headers never
//     decide (RFC 8601 section 5). In it, dmarc=fail or compauth=fail is
//     fail; else dmarc=pass (for this From domain) or compauth=pass is pass.
//     Without either, a verified DKIM signature whose d= shares the From
//     domain's organisational domain is pass (RFC 7489 relaxed alignment);
//     else none, which does not reject. Failed DKIM signatures only warn,
//     since mailing lists break them.
//  6. A registered tenant's GUID other than the sender's tenant's in the
//     subject, text or links: rejected, tenant_mismatch. Unregistered GUIDs
//     are ignored.
//  7. No incident ID (IncidentIDs over subject, text, HTML text and links):
//     unmatched, no_incident_id.
//  8. Otherwise accepted.
//
// The facts are filled in as far as they were established, also for
// rejected mail: Sender, SenderDomain, TenantID, Authentication and
// IncidentIDs. Warnings tell an analyst what did not decide but matters:
// Reply-To in another organisation, a display name showing another address,
// DKIM failures, headers that may be forged, incident IDs written with a
// separator, IDs only in the partner's text. IncidentIDs and Warnings are
// never nil.
//
// At most MaxWarnings warnings are kept (see CapWarnings): a message of
// 5,000 forged Authentication-Results headers would otherwise carry 5,000
// into its manifest.
func (p *Policy) Judge(m *Message) Judgment {
	j := p.judge(m, 0)
	j.Warnings = CapWarnings(j.Warnings, MaxWarnings)
	return j
}

// MaxWarnings is how many warnings a Judgment keeps.
const MaxWarnings = 50

// CapWarnings returns warnings cut to at most n entries, the last saying
// how many were dropped; warnings itself when it is short enough. n must
// be at least 1.
func CapWarnings(warnings []string, n int) []string {
	if len(warnings) <= n {
		return warnings
	}
	kept := slices.Clone(warnings[:n-1])
	return append(kept, fmt.Sprintf("%d more warnings were dropped", len(warnings)-n+1))
}

func (p *Policy) judge(m *Message, depth int) Judgment {
	j := Judgment{Authentication: AuthNone, IncidentIDs: []string{}, Warnings: []string{}}
	if m == nil || m.Malformed {
		return reject(j, ReasonMalformed)
	}
	if m.TooComplex {
		j.Warnings = append(j.Warnings, "the message could not be read within the parse budget; re-judge it later, or read the bundle by hand")
		return reject(j, ReasonTooComplex)
	}
	addr := strings.TrimSpace(m.From)
	if addr == "" {
		j.Warnings = append(j.Warnings, "the message has no From address")
		return reject(j, ReasonNoSender)
	}
	local, domain, ok := splitAddress(addr)
	if !ok {
		j.Warnings = append(j.Warnings, fmt.Sprintf("the From address %q has no domain", addr))
		return reject(j, ReasonNoSender)
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		j.Warnings = append(j.Warnings, fmt.Sprintf("the From address %q: %v", addr, err))
		return reject(j, ReasonNoSender)
	}
	j.Sender, j.SenderDomain = local+"@"+d, d
	j.Warnings = append(j.Warnings, headerWarnings(m, j.Sender, d)...)
	auth, authWarnings := p.authenticate(m, d)
	j.Authentication = auth
	j.Warnings = append(j.Warnings, authWarnings...)

	if p.isPartner(d) {
		return p.judgeForward(m, j, depth)
	}

	texts := messageTexts(m)
	j.IncidentIDs = nonNil(p.IncidentIDs(texts...))
	j.Warnings = append(j.Warnings, p.looseWarnings(texts, j.IncidentIDs)...)

	if i := p.tenantIndex(d); i >= 0 {
		j.TenantID = p.tenants[i].ID
	} else if isPersonal(d) {
		return reject(j, ReasonPersonalAddress)
	} else {
		return reject(j, ReasonUnknownDomain)
	}
	if j.Authentication == AuthFail {
		return reject(j, ReasonSenderNotAuthenticated)
	}
	if other := p.otherTenants(texts, j.TenantID); len(other) > 0 {
		j.Warnings = append(j.Warnings, other...)
		return reject(j, ReasonTenantMismatch)
	}
	if len(j.IncidentIDs) == 0 {
		j.Verdict, j.Reason = Unmatched, ReasonNoIncidentID
		return j
	}
	j.Verdict = Accepted
	return j
}

func reject(j Judgment, r Reason) Judgment {
	j.Verdict, j.Reason = Rejected, r
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// messageTexts are the parts of m searched for incident IDs and GUIDs.
func messageTexts(m *Message) []string {
	return append([]string{m.Subject, m.Text, m.HTMLText}, m.URLs...)
}

// judgeForward judges mail from partner staff (j holds the wrapper's
// facts) by the customer originals it carries.
func (p *Policy) judgeForward(m *Message, j Judgment, depth int) Judgment {
	if j.Authentication == AuthFail {
		j.Warnings = append(j.Warnings, "the partner staff message itself failed authentication, so the originals it carries cannot be trusted")
		return reject(j, ReasonSenderNotAuthenticated)
	}
	if len(m.Originals) == 0 {
		j.Warnings = append(j.Warnings, "mail from partner staff counts only with the customer's email attached as a message (forward as attachment); an inline forward is not the customer's email")
		return reject(j, ReasonPartnerSender)
	}
	if depth >= maxForwardDepth {
		j.Warnings = append(j.Warnings, fmt.Sprintf("partner forwards are nested more than %d deep; forward the customer's email itself as an attachment", maxForwardDepth))
		return reject(j, ReasonPartnerSender)
	}

	wrapperTexts := messageTexts(m)
	wrapperIDs := p.IncidentIDs(wrapperTexts...)
	results := make([]Judgment, len(m.Originals))
	best, bestRank := 0, -1
	for i := range m.Originals {
		oj := p.judge(&m.Originals[i], depth+1)
		rank := 0
		switch {
		case oj.Verdict == Accepted:
			rank = 3
		case oj.Verdict == Unmatched && oj.Reason == ReasonNoIncidentID && len(wrapperIDs) > 0:
			oj.Verdict, oj.Reason, oj.IncidentIDs = Accepted, "", slices.Clone(wrapperIDs)
			oj.Warnings = append(oj.Warnings, fmt.Sprintf("incident ID(s) %s are named only in the partner's forwarding text, not in the customer's email", strings.Join(wrapperIDs, ", ")))
			rank = 2
		case oj.Verdict == Unmatched:
			rank = 1
		}
		if oj.Original > 0 {
			oj.Warnings = append(oj.Warnings, fmt.Sprintf("the verdict stands on original %d inside attached original %d", oj.Original, i+1))
		}
		results[i] = oj
		if rank > bestRank {
			best, bestRank = i, rank
		}
	}

	out := results[best]
	out.Original = best + 1
	warn := []string{fmt.Sprintf("forwarded as an attachment by partner staff %s; the verdict stands on attached original %d of %d", j.Sender, best+1, len(results))}
	if j.Authentication != AuthPass {
		warn = append(warn, "the partner staff message itself was not authenticated (no trusted DMARC or DKIM pass)")
	}
	for i, r := range results {
		if i != best {
			warn = append(warn, fmt.Sprintf("attached original %d from %q: %s %s", i+1, r.Sender, r.Verdict, r.Reason))
		}
	}
	if extra := subtract(wrapperIDs, out.IncidentIDs); len(extra) > 0 {
		warn = append(warn, fmt.Sprintf("the partner's forwarding text also names %s, which the customer's email does not", strings.Join(extra, ", ")))
	}
	if out.TenantID != "" {
		// The partner's note is commentary: a GUID of another tenant in it
		// is worth a look, not a rejection of the customer's email.
		warn = append(warn, p.otherTenants(wrapperTexts, out.TenantID)...)
	}
	out.Warnings = append(warn, out.Warnings...)
	return out
}

// subtract returns the elements of a not in b.
func subtract(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// otherTenants describes each registered tenant other than tenantID whose
// GUID texts name.
func (p *Policy) otherTenants(texts []string, tenantID string) []string {
	var out []string
	for _, g := range TenantIDs(texts...) {
		if i, ok := p.byID[g]; ok && g != tenantID {
			out = append(out, fmt.Sprintf("the message names tenant %s (%s), not the sender's tenant %s", g, tenantLabel(&p.tenants[i].Tenant), tenantID))
		}
	}
	return out
}

// looseWarnings tells about incident IDs written with a separator that
// IncidentIDs did not count.
func (p *Policy) looseWarnings(texts, ids []string) []string {
	var out, seen []string
	for _, l := range p.looseIncidentIDs(texts...) {
		if slices.Contains(ids, l.ID) || slices.Contains(seen, l.ID) {
			continue
		}
		seen = append(seen, l.ID)
		out = append(out, fmt.Sprintf("%q looks like incident ID %s written with a separator; it was not counted (it must be written %s)", l.Written, l.ID, l.ID))
		if len(seen) == 5 {
			break
		}
	}
	return out
}

// headerWarnings flags From and Reply-To headers built to mislead a reader:
// a display name showing another address, replies going to another
// organisation.
func headerWarnings(m *Message, sender, domain string) []string {
	var out []string
	if display := displayName(m.FromHeader); display != "" {
		for _, a := range addressesIn(display) {
			if !strings.EqualFold(a, sender) && !strings.EqualFold(a, m.From) {
				out = append(out, fmt.Sprintf("the From display name shows the address %q, but the mail is from %s", a, sender))
				break
			}
		}
	}
	org := OrganizationalDomain(domain)
	for _, rt := range m.ReplyTo {
		_, rd, ok := splitAddress(strings.TrimSpace(rt))
		if !ok {
			continue
		}
		d, err := NormalizeDomain(rd)
		if err != nil || OrganizationalDomain(d) != org {
			out = append(out, fmt.Sprintf("Reply-To %q is outside the sender's domain %s", rt, domain))
		}
	}
	return out
}

// displayName returns the display-name part of a From header ("Jane
// <jane@contoso.com>" -> "Jane"), RFC 2047-decoded where the charset is
// known; "" when there is none.
func displayName(from string) string {
	lt := strings.LastIndexByte(from, '<')
	if lt <= 0 {
		return ""
	}
	name := strings.TrimSpace(from[:lt])
	if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
		name = dec
	}
	return name
}

// addressesIn finds things shaped like addr-specs in s, such as
// "ceo@contoso.com" in a display name.
func addressesIn(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		l := i
		for l > 0 && isAddrByte(s[l-1], true) {
			l--
		}
		r := i + 1
		for r < len(s) && isAddrByte(s[r], false) {
			r++
		}
		local, dom := s[l:i], strings.TrimRight(s[i+1:r], ".-")
		if local != "" && strings.Contains(dom, ".") {
			out = append(out, local+"@"+dom)
		}
	}
	return out
}

func isAddrByte(c byte, local bool) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '-':
		return true
	case local:
		return strings.IndexByte("_+%!#$&'*/=?^`{|}~", c) >= 0
	}
	return false
}
