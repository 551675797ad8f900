package rules

import (
	"fmt"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"
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
//  2. From has no usable addr-spec (missing, no "@", an invalid domain),
//     or names more addresses than the parser records (AuthorsDropped):
//     rejected, no_sender. Only From counts as the author (RFC 5322
//     section 3.6.2); Sender and Reply-To never do. Every mailbox of every
//     From field (Message.Authors) is an author; one that is unusable
//     rejects the message no_sender too, and a warning names the addresses
//     (the first ten, and how many more).
//     More than one From field (RFC 5322 section 3.6 allows one) warns.
//  3. Partner staff (every author in a Config.PartnerDomains domain or
//     subdomain): a message that step 5 would reject is rejected
//     sender_not_authenticated (a forged partner message could carry any
//     "original"); one without originals (message/rfc822 attachments) is
//     rejected partner_sender, since an inline forward is not the
//     customer's email. Otherwise each original is judged by these same
//     steps and the best outcome wins: accepted, then unmatched, then
//     rejected; the first original on ties.
//     Original is its 1-based index and Sender, TenantID and the rest are
//     the original's. When that original names no incident ID but the
//     partner's own text does, those IDs are used and the original is
//     accepted, with a warning saying so: the customer's email is the
//     evidence, the partner's note only says which incident it is about.
//  4. The sender domain (the first author's): a tenant's domain or
//     subdomain sets TenantID. Several authors are judged only when each is
//     authenticated (step 5's rules; else rejected sender_not_authenticated
//     here, before their domains, since a forged extra From is the usual
//     cause) and all belong to that one tenant; otherwise rejected, with a
//     warning naming every address, as personal_address when one is
//     personal, else unknown_domain when one is in no tenant, else
//     partner_sender when one is partner staff, else tenant_mismatch (two
//     tenants). A single author that is a personal provider's
//     (IsPersonalDomain) is rejected personal_address; one in no tenant,
//     unknown_domain.
//  5. Authentication: rejected, sender_not_authenticated, on a fail, on a
//     pass for another domain, and, with several authors, when any author
//     is not covered by a pass (checked in step 4). Only the receiving
//     server's own Authentication-Results counts: the topmost header whose
//     authserv-id is in Config.TrustedAuthservIDs or, with
//     Config.ExchangeOnline, the topmost without an authserv-id. Headers
//     below it may be forged and never override it; untrusted headers
//     never decide (RFC 8601 section 5), and ARC-Authentication-Results
//     are not read (see authenticate).
//     In it, dmarc=fail or compauth=fail is fail. A dmarc=pass or
//     compauth=pass counts only for the domain the stamp names in
//     header.from, and covers the authors in that domain's organisational
//     domain (RFC 7489 relaxed alignment: a pass for contoso.com covers
//     it.contoso.com and the other way round); a pass without any
//     header.from is not counted (a warning says so), and a pass whose
//     header.from is outside every author's organisation rejects, with a
//     warning naming both domains. An author the stamp does not cover is
//     covered by a verified DKIM signature whose d= shares its
//     organisational domain. Authentication is pass when every author is
//     covered, fail on a fail, else none; none does not reject a single
//     author (many tenants publish no DMARC record). Failed DKIM signatures
//     only warn, since mailing lists break them.
//  6. The message says a machine sent it on its own (Automated: an
//     automatic reply, a bounce, a read receipt): rejected,
//     automated_message, with a warning naming the marker that decided.
//     It comes after the tenant is known so an analyst who finds a person
//     wrote it after all can attach it. Weaker signs (an "Automatic
//     reply:" subject alone, X-Auto-Response-Suppress) only warn.
//  7. A registered tenant's GUID other than the sender's tenant's in the
//     subject, text or links: rejected, tenant_mismatch. Unregistered GUIDs
//     are ignored.
//  8. No incident ID (IncidentIDs over subject, text, HTML text and links):
//     unmatched, no_incident_id.
//  9. Otherwise accepted.
//
// The facts are filled in as far as they were established, also for
// rejected mail: Sender, SenderDomain, TenantID, Authentication and
// IncidentIDs. Warnings tell an analyst what did not decide but matters:
// Reply-To in another organisation, a display name showing another address,
// DKIM failures, headers that may be forged, incident IDs written with a
// separator, IDs only in the partner's text, signs of automatic mail that
// did not decide. IncidentIDs and Warnings are never nil. RegistryVersion
// is the policy's (WithRegistryVersion).
//
// At most MaxWarnings warnings are kept (see CapWarnings): a message of
// 5,000 forged Authentication-Results headers would otherwise carry 5,000
// into its manifest.
func (p *Policy) Judge(m *Message) Judgment {
	j := p.judge(m, 0)
	j.Warnings = CapWarnings(j.Warnings, MaxWarnings)
	j.RegistryVersion = p.registry
	return j
}

// MaxWarnings is how many warnings a Judgment keeps.
const MaxWarnings = 50

// CapWarnings returns warnings cut to at most n entries, the last saying
// how many were dropped; warnings itself when it is short enough. An n
// below 1 counts as 1.
func CapWarnings(warnings []string, n int) []string {
	n = max(n, 1)
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
	first, problem := readAuthor(m.From)
	if problem != "" {
		j.Warnings = append(j.Warnings, problem)
		return reject(j, ReasonNoSender)
	}
	j.Sender, j.SenderDomain = first.addr, first.domain
	if m.AuthorsDropped > 0 {
		j.Warnings = append(j.Warnings, fmt.Sprintf("the From fields name %d more addresses than the parser records; every author must be judged, so this message cannot be", m.AuthorsDropped))
		return reject(j, ReasonNoSender)
	}
	authors, problems := readAuthors(m, first)
	if m.FromFields > 1 {
		j.Warnings = append(j.Warnings, fmt.Sprintf("the message has %d From fields (RFC 5322 section 3.6 allows one); every address in them was judged as an author: %s", m.FromFields, authorList(authors, problems)))
	} else if len(authors)+len(problems) > 1 {
		j.Warnings = append(j.Warnings, fmt.Sprintf("the From field names %d authors, each judged: %s", len(authors)+len(problems), authorList(authors, problems)))
	}
	if len(problems) > 0 {
		for _, pr := range problems {
			j.Warnings = append(j.Warnings, pr.warning)
		}
		return reject(j, ReasonNoSender)
	}
	d := first.domain
	j.Warnings = append(j.Warnings, headerWarnings(m, j.Sender, d)...)
	auth := p.authenticate(m, authors)
	j.Authentication = auth.auth
	j.Warnings = append(j.Warnings, auth.warn...)

	if p.allPartner(authors) {
		return p.judgeForward(m, j, auth.rejects(len(authors)), depth)
	}

	texts := messageTexts(m)
	j.IncidentIDs = nonNil(p.incidentIDsIn(texts))
	j.Warnings = append(j.Warnings, p.looseWarnings(texts, j.IncidentIDs)...)

	i := p.tenantIndex(d)
	if i >= 0 {
		j.TenantID = p.tenants[i].ID
	}
	if len(authors) > 1 {
		// Authentication first: an extra From is how a forger borrows a
		// tenant's name, and the reason should say the mail is not
		// authenticated rather than that a stranger co-signed it.
		r, w := p.severalAuthors(authors)
		if auth.rejects(len(authors)) {
			if len(auth.uncovered) > 0 && auth.auth != AuthFail {
				j.Warnings = append(j.Warnings, fmt.Sprintf("with several authors each must be authenticated (a trusted DMARC or compauth pass for its organisation, or an aligned DKIM signature); not authenticated: %s", strings.Join(auth.uncovered, ", ")))
			}
			if w != "" {
				j.Warnings = append(j.Warnings, w)
			}
			return reject(j, ReasonSenderNotAuthenticated)
		}
		if r != "" {
			j.Warnings = append(j.Warnings, w)
			return reject(j, r)
		}
	}
	switch {
	case i >= 0:
	case isPersonal(d):
		return reject(j, ReasonPersonalAddress)
	default:
		return reject(j, ReasonUnknownDomain)
	}
	if auth.rejects(len(authors)) {
		return reject(j, ReasonSenderNotAuthenticated)
	}
	if marker := Automated(m); marker != "" {
		j.Warnings = append(j.Warnings, "an automatic message, not the customer's own request: "+marker)
		return reject(j, ReasonAutomatedMessage)
	}
	j.Warnings = append(j.Warnings, automationHints(m)...)
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

// readAuthor reads one From addr-spec; problem, when not empty, is a
// warning saying why it is not usable.
func readAuthor(addr string) (a author, problem string) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return author{}, "the message has no From address"
	}
	local, domain, ok := splitAddress(addr)
	if !ok {
		return author{}, fmt.Sprintf("the From address %q has no domain", addr)
	}
	d, err := NormalizeDomain(domain)
	if err != nil {
		return author{}, fmt.Sprintf("the From address %q: %v", addr, err)
	}
	return author{addr: local + "@" + d, domain: d, org: OrganizationalDomain(d)}, ""
}

// badAuthor is an author address that readAuthor could not use.
type badAuthor struct {
	addr, warning string
}

// readAuthors returns the authors of m, first (From) first, without
// repeats, and those it could not read.
func readAuthors(m *Message, first author) ([]author, []badAuthor) {
	authors := []author{first}
	seen := map[string]bool{first.addr: true}
	var bad []badAuthor
	for _, raw := range m.Authors {
		a, problem := readAuthor(raw)
		switch {
		case problem != "":
			bad = append(bad, badAuthor{addr: strings.TrimSpace(raw), warning: problem})
		case !seen[a.addr]:
			seen[a.addr] = true
			authors = append(authors, a)
		}
	}
	return authors, bad
}

// maxListedAuthors bounds the addresses one warning names.
const maxListedAuthors = 10

// authorList names the author addresses for a warning, the first
// maxListedAuthors of them and how many more.
func authorList(authors []author, bad []badAuthor) string {
	names := make([]string, 0, min(len(authors)+len(bad), maxListedAuthors))
	for _, a := range authors {
		names = append(names, a.addr)
	}
	for _, b := range bad {
		names = append(names, fmt.Sprintf("%q", clipText(b.addr, 200)))
	}
	if more := len(names) - maxListedAuthors; more > 0 {
		return strings.Join(names[:maxListedAuthors], ", ") + fmt.Sprintf(" and %d more", more)
	}
	return strings.Join(names, ", ")
}

// clipText cuts s to at most n bytes, on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// allPartner reports whether every author is partner staff.
func (p *Policy) allPartner(authors []author) bool {
	for _, a := range authors {
		if !p.isPartner(a.domain) {
			return false
		}
	}
	return true
}

// severalAuthors checks that several authors all belong to one registered
// tenant. When they do not, it returns the reason to reject and a warning
// naming every address with what it belongs to. The reason names the worst
// kind of address found, in the order of step 4: a personal address, then
// an unknown domain, then partner staff, else (registered tenants only)
// tenant_mismatch.
func (p *Policy) severalAuthors(authors []author) (Reason, string) {
	tenant := p.tenantIndex(authors[0].domain)
	one := tenant >= 0
	var personal, unknown, partner bool
	labels := make([]string, len(authors))
	for k, a := range authors {
		i := p.tenantIndex(a.domain)
		switch {
		case i >= 0:
			labels[k] = fmt.Sprintf("%s (tenant %s)", a.addr, tenantLabel(&p.tenants[i].Tenant))
		case p.isPartner(a.domain):
			labels[k], partner = a.addr+" (partner staff)", true
		case isPersonal(a.domain):
			labels[k], personal = a.addr+" (personal address)", true
		default:
			labels[k], unknown = a.addr+" (unknown domain)", true
		}
		if i != tenant {
			one = false
		}
	}
	if one {
		return "", ""
	}
	w := fmt.Sprintf("the authors do not all belong to one tenant: %s; a message with several authors is judged only when they do", strings.Join(labels, ", "))
	switch {
	case personal:
		return ReasonPersonalAddress, w
	case unknown:
		return ReasonUnknownDomain, w
	case partner:
		return ReasonPartnerSender, w
	}
	return ReasonTenantMismatch, w
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

// messageTexts are the parts of m searched for incident IDs and GUIDs,
// folded for matching once for all the searches.
func messageTexts(m *Message) readTexts {
	return readAll(append([]string{m.Subject, m.Text, m.HTMLText}, m.URLs...))
}

// judgeForward judges mail from partner staff (j holds the wrapper's
// facts) by the customer originals it carries; notAuthenticated says the
// wrapper's own authentication rejects it.
func (p *Policy) judgeForward(m *Message, j Judgment, notAuthenticated bool, depth int) Judgment {
	if notAuthenticated {
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
	wrapperIDs := p.incidentIDsIn(wrapperTexts)
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
func (p *Policy) otherTenants(texts readTexts, tenantID string) []string {
	var out []string
	for _, g := range tenantIDsIn(texts) {
		if i, ok := p.byID[g]; ok && g != tenantID {
			out = append(out, fmt.Sprintf("the message names tenant %s (%s), not the sender's tenant %s", g, tenantLabel(&p.tenants[i].Tenant), tenantID))
		}
	}
	return out
}

// looseWarnings tells about incident IDs written with a separator that
// IncidentIDs did not count.
func (p *Policy) looseWarnings(texts readTexts, ids []string) []string {
	var out, seen []string
	for _, l := range p.looseIncidentIDsIn(texts) {
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
