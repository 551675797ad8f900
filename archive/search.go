package archive

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/claimtrail/claimtrail/rules"
)

// SearchKind says what the text of a search box names. ParseSearch decides
// it from the text's grammar alone, and each kind is looked up in its own
// index (migration 0014).
type SearchKind string

// The kinds of search.
const (
	// SearchIncident is an incident ID (rules.ParseIncidentID): the claims
	// on it, the tenants with such a claim, the messages that name it.
	SearchIncident SearchKind = "incident"
	// SearchTenant is a tenant ID (rules.ParseTenantID): the tenant, its
	// claims and its mail.
	SearchTenant SearchKind = "tenant"
	// SearchSender is a mail address: the mail it sent, and the tenants
	// whose domains hold it with their claims.
	SearchSender SearchKind = "sender"
	// SearchDomain is a mail domain (rules.NormalizeDomain): the mail sent
	// from an address at it, the tenants holding it and their claims.
	SearchDomain SearchKind = "domain"
	// SearchTicket is a support ticket number (digits only): the claims
	// that carry it, their tenants, the messages whose subject names it.
	SearchTicket SearchKind = "ticket"
	// SearchWords is anything else: the tenants whose names hold every
	// word, their claims, and the messages whose subject holds every word.
	SearchWords SearchKind = "words"
)

// Search is a search box's text, parsed by ParseSearch.
type Search struct {
	Kind SearchKind
	// Term is what the text names, in canonical form: an incident ID in
	// upper case, a tenant ID, an address or a domain in lower case, a
	// ticket's digits, or (SearchWords) the words joined by spaces.
	Term string
	// Words are the words of a SearchWords, in lower case.
	Words []string
}

// Bounds of a search's text: a search box is not a document.
const (
	MaxSearchLen   = 200
	MaxSearchWords = 8
	// Ticket numbers are all digits; Microsoft's are 16 long. Shorter
	// runs of digits are words of subjects (years, counts).
	minTicketDigits = 6
	maxTicketDigits = 30
)

// ErrEmptySearch: the text of a search names nothing to look for.
var ErrEmptySearch = errors.New("nothing to search for: type an incident ID (EX315207), a tenant name or ID, a sender address or domain, words of a subject, or a ticket number")

// ParseSearch classifies the text q of a search box: an incident ID, a
// tenant ID, a sender address, a sender domain, a ticket number or else
// words, in that order, each by the grammar the rules package owns. Text
// without any letter or digit is an error wrapping ErrEmptySearch; text
// longer than MaxSearchLen bytes, or of more than MaxSearchWords words,
// is an error saying so. It is pure: it reads nothing.
func ParseSearch(q string) (Search, error) {
	q = strings.TrimSpace(q)
	if len(q) > MaxSearchLen {
		return Search{}, fmt.Errorf("the search is longer than %d bytes", MaxSearchLen)
	}
	if id, err := rules.ParseIncidentID(q); err == nil {
		return Search{Kind: SearchIncident, Term: id}, nil
	}
	if id, ok := rules.ParseTenantID(q); ok {
		return Search{Kind: SearchTenant, Term: id}, nil
	}
	if !strings.ContainsFunc(q, unicode.IsSpace) {
		if at := strings.LastIndexByte(q, '@'); at > 0 {
			if d, err := rules.NormalizeDomain(q[at+1:]); err == nil && validLocalPart(q[:at]) {
				return Search{Kind: SearchSender, Term: strings.ToLower(q[:at]) + "@" + d}, nil
			}
		} else if at < 0 && strings.Contains(q, ".") {
			if d, err := rules.NormalizeDomain(q); err == nil {
				return Search{Kind: SearchDomain, Term: d}, nil
			}
		}
	}
	if n := len(q); n >= minTicketDigits && n <= maxTicketDigits && !strings.ContainsFunc(q, func(r rune) bool { return r < '0' || r > '9' }) {
		return Search{Kind: SearchTicket, Term: q}, nil
	}
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r)
	})
	var uniq []string
	for _, w := range words {
		if !containsString(uniq, w) {
			uniq = append(uniq, w)
		}
	}
	switch {
	case len(uniq) == 0:
		return Search{}, ErrEmptySearch
	case len(uniq) > MaxSearchWords:
		return Search{}, fmt.Errorf("the search has %d words; at most %d are looked for", len(uniq), MaxSearchWords)
	}
	return Search{Kind: SearchWords, Term: strings.Join(uniq, " "), Words: uniq}, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validLocalPart says whether s can be the part of a mail address before
// its '@' as a search names it: printable ASCII, no '@' or quotes.
func validLocalPart(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '@' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// senderDomainKey is the domain of messages m's sender as the
// messages_sender_domain index of migration 0014 spells it: keep the two in
// step, or the search scans the mail.
const senderDomainKey = `substr(m.sender, instr(m.sender, '@') + 1)`

// textWords are the words the text index must hold, all of them, for s.
func (s Search) textWords() []string {
	if s.Kind != SearchWords {
		return []string{strings.ToLower(s.Term)}
	}
	return s.Words
}

// ftsQuery is the FTS5 query for words: each one a quoted string, all of
// them required.
func ftsQuery(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = `"` + strings.ReplaceAll(w, `"`, `""`) + `"`
	}
	return strings.Join(quoted, " ")
}

// usesText says whether s finds messages through message_search (their
// subject and incident IDs) rather than through an index of messages.
func (s Search) usesText() bool {
	switch s.Kind {
	case SearchIncident, SearchTicket, SearchWords:
		return true
	}
	return false
}

// messageCond is the condition over messages m that s selects, for the
// kinds that do not use message_search.
func (s Search) messageCond() (string, []any) {
	switch s.Kind {
	case SearchTenant:
		return `m.tenant_id = ?`, []any{s.Term}
	case SearchSender:
		return `m.sender = ? COLLATE NOCASE`, []any{s.Term}
	case SearchDomain:
		return senderDomainKey + ` = ? COLLATE NOCASE`, []any{s.Term}
	}
	return `FALSE`, nil
}

// domainAndParents returns d and every parent domain of it with at least
// two labels: "it.contoso.com", "contoso.com".
func domainAndParents(d string) []any {
	var out []any
	for {
		out = append(out, d)
		i := strings.IndexByte(d, '.')
		if i < 0 || !strings.Contains(d[i+1:], ".") {
			return out
		}
		d = d[i+1:]
	}
}

// tenantCond is the condition over tenants t that s selects.
func (s Search) tenantCond() (string, []any) {
	switch s.Kind {
	case SearchIncident:
		return `t.id IN (SELECT tenant_id FROM claims WHERE incident_id = ?)`, []any{s.Term}
	case SearchTenant:
		return `t.id = ?`, []any{s.Term}
	case SearchSender, SearchDomain:
		d := s.Term
		if s.Kind == SearchSender {
			d = d[strings.LastIndexByte(d, '@')+1:]
		}
		parents := domainAndParents(d)
		return `t.id IN (SELECT tenant_id FROM tenant_domains WHERE domain IN (?` + strings.Repeat(", ?", len(parents)-1) + `))`, parents
	case SearchTicket:
		return `t.id IN (SELECT c.tenant_id FROM claim_fields f JOIN claims c ON c.id = f.claim_id
			WHERE f.field = 'ticket' AND f.value = ?)`, []any{s.Term}
	}
	// Words are letters, digits and marks only: nothing LIKE treats
	// specially. The registry is small; its names are read whole.
	conds := make([]string, len(s.Words))
	args := make([]any, len(s.Words))
	for i, w := range s.Words {
		conds[i], args[i] = `lower(t.name) LIKE ?`, "%"+strings.ToLower(w)+"%"
	}
	return strings.Join(conds, " AND "), args
}

// claimCond is the condition over claims c that s selects.
func (s Search) claimCond() (string, []any) {
	switch s.Kind {
	case SearchIncident:
		return `c.incident_id = ?`, []any{s.Term}
	case SearchTenant:
		return `c.tenant_id = ?`, []any{s.Term}
	case SearchTicket:
		return `c.id IN (SELECT claim_id FROM claim_fields WHERE field = 'ticket' AND value = ?)`, []any{s.Term}
	}
	cond, args := s.tenantCond()
	return `c.tenant_id IN (SELECT t.id FROM tenants t WHERE ` + cond + `)`, args
}
