package rules

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

const mx = "mx.northwind-partners.com"

// stamp is the trusted receiving server's Authentication-Results for a
// message from domain with the given DMARC result.
func stamp(dmarc, domain string) string {
	return fmt.Sprintf("%s;\r\n\tspf=%s smtp.mailfrom=someone@%s;\r\n\tdmarc=%s (p=REJECT) header.from=%s", mx, dmarc, domain, dmarc, domain)
}

// exoStamp is Exchange Online's Authentication-Results, which has no
// authserv-id.
func exoStamp(dmarc, compauth, domain string) string {
	return fmt.Sprintf("spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=%s; dkim=none (message not signed)\r\n header.d=none;dmarc=%s action=none header.from=%s;compauth=%s reason=100", domain, dmarc, domain, compauth)
}

// customer is an authenticated Contoso message naming one incident.
func customer() Message {
	return Message{
		From:                  "jane.doe@contoso.com",
		FromHeader:            "Jane Doe <jane.doe@contoso.com>",
		Subject:               "SLA credit request for EX1187453",
		Text:                  "Hello, our mailboxes were down for four hours during EX1187453. Please request a credit.",
		AuthenticationResults: []string{stamp("pass", "contoso.com")},
	}
}

// with returns customer() changed by f.
func with(f func(m *Message)) *Message {
	m := customer()
	f(&m)
	return &m
}

// forward is partner staff forwarding originals as attachments.
func forward(text string, originals ...Message) *Message {
	return &Message{
		From:                  "olivia.chen@northwind-partners.com",
		FromHeader:            "Olivia Chen <olivia.chen@northwind-partners.com>",
		Subject:               "FW: customer request",
		Text:                  text,
		AuthenticationResults: []string{stamp("pass", "northwind-partners.com")},
		Originals:             originals,
	}
}

func TestJudge(t *testing.T) {
	p := newTestPolicy(t)
	gmail := Message{From: "jane.doe.1984@gmail.com", Subject: "EX1187453", AuthenticationResults: []string{stamp("pass", "gmail.com")}}
	noID := customer()
	noID.Subject, noID.Text = "Credit request", "Please request a credit for last week's outage."

	tests := []struct {
		name     string
		m        *Message
		verdict  Verdict
		reason   Reason
		tenant   string
		auth     Authentication
		ids      []string
		original int
		warn     []string // each must appear in some warning
		noWarn   bool     // no warnings at all
	}{
		{name: "accepted: the common case", m: with(func(*Message) {}),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},

		// 1. malformed
		{name: "nil message", m: nil, verdict: Rejected, reason: ReasonMalformed, auth: AuthNone, ids: []string{}},
		{name: "malformed header block", m: with(func(m *Message) { m.Malformed = true }),
			verdict: Rejected, reason: ReasonMalformed, auth: AuthNone, ids: []string{}},

		{name: "too complex: the parse ran out of its budget", m: with(func(m *Message) { m.TooComplex = true }),
			verdict: Rejected, reason: ReasonTooComplex, auth: AuthNone, ids: []string{}, warn: []string{"parse budget"}},
		{name: "malformed outranks too complex", m: with(func(m *Message) { m.TooComplex, m.Malformed = true, true }),
			verdict: Rejected, reason: ReasonMalformed, auth: AuthNone, ids: []string{}},
		{name: "too complex original of a partner forward", m: forward("FW", *with(func(m *Message) { m.TooComplex = true })),
			verdict: Rejected, reason: ReasonTooComplex, auth: AuthNone, ids: []string{}, original: 1},

		// 2. no sender (RFC 5322 3.6.2: From is the author)
		{name: "no From", m: with(func(m *Message) { m.From = "" }),
			verdict: Rejected, reason: ReasonNoSender, auth: AuthNone, ids: []string{}, warn: []string{"no From address"}},
		{name: "From without a domain", m: with(func(m *Message) { m.From = "jane.doe" }),
			verdict: Rejected, reason: ReasonNoSender, auth: AuthNone, ids: []string{}, warn: []string{"has no domain"}},
		{name: "From with an address literal (RFC 5321 4.1.3)", m: with(func(m *Message) { m.From = "jane@[192.0.2.1]" }),
			verdict: Rejected, reason: ReasonNoSender, auth: AuthNone, ids: []string{}, warn: []string{"address literal"}},
		{name: "From with a garbage domain", m: with(func(m *Message) { m.From = "jane@contoso..com" }),
			verdict: Rejected, reason: ReasonNoSender, auth: AuthNone, ids: []string{}},

		// 4. tenant, personal, unknown
		{name: "subdomain of a tenant domain", m: with(func(m *Message) {
			m.From = "mark.ellis@it.contoso.com"
			m.AuthenticationResults = []string{stamp("pass", "it.contoso.com")}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "upper-case domain", m: with(func(m *Message) {
			m.From = "Jane.Doe@CONTOSO.COM"
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "IDN sender as UTF-8 (RFC 6532)", m: with(func(m *Message) {
			m.From = "hans@bäckerei-münchen.de"
			m.AuthenticationResults = []string{stamp("pass", "bäckerei-münchen.de")}
		}), verdict: Accepted, tenant: fabrikamID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "tenant domain that is on the free-mail list", m: with(func(m *Message) {
			m.From = "zuck@facebook.com"
			m.AuthenticationResults = []string{stamp("pass", "facebook.com")}
		}), verdict: Accepted, tenant: fabrikamID, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "personal: gmail even with DMARC pass", m: &gmail,
			verdict: Rejected, reason: ReasonPersonalAddress, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "personal: country variant", m: with(func(m *Message) { m.From = "dave@hotmail.co.uk"; m.AuthenticationResults = nil }),
			verdict: Rejected, reason: ReasonPersonalAddress, auth: AuthNone, ids: []string{"EX1187453"}},
		{name: "personal: subdomain of a provider", m: with(func(m *Message) { m.From = "taro@mail.yahoo.co.jp"; m.AuthenticationResults = nil }),
			verdict: Rejected, reason: ReasonPersonalAddress, auth: AuthNone, ids: []string{"EX1187453"}},
		{name: "personal: display name holds a tenant address", m: with(func(m *Message) {
			m.From = "contoso.ceo.office@gmail.com"
			m.FromHeader = `"ceo@contoso.com" <contoso.ceo.office@gmail.com>`
			m.AuthenticationResults = []string{stamp("pass", "gmail.com")}
		}), verdict: Rejected, reason: ReasonPersonalAddress, auth: AuthPass, ids: []string{"EX1187453"},
			warn: []string{`display name shows the address "ceo@contoso.com"`}},
		{name: "personal: quoted local part holding a tenant address (RFC 5322 3.4.1)", m: with(func(m *Message) {
			m.From = `"jane@contoso.com"@gmail.com`
			m.AuthenticationResults = []string{stamp("pass", "gmail.com")}
		}), verdict: Rejected, reason: ReasonPersonalAddress, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "From whose only @ is quoted", m: with(func(m *Message) { m.From = `"jane@contoso.com"` }),
			verdict: Rejected, reason: ReasonNoSender, auth: AuthNone, ids: []string{}, warn: []string{"has no domain"}},
		{name: "personal: Reply-To in the tenant does not make the author (RFC 5322 3.6.2)", m: with(func(m *Message) {
			m.From = "jane.doe.1984@gmail.com"
			m.ReplyTo = []string{"jane.doe@contoso.com"}
			m.AuthenticationResults = nil
		}), verdict: Rejected, reason: ReasonPersonalAddress, auth: AuthNone, ids: []string{"EX1187453"}, warn: []string{"Reply-To"}},
		{name: "unknown: prefix look-alike", m: with(func(m *Message) {
			m.From = "it@evilcontoso.com"
			m.AuthenticationResults = []string{stamp("pass", "evilcontoso.com")}
		}),
			verdict: Rejected, reason: ReasonUnknownDomain, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "unknown: suffix look-alike", m: with(func(m *Message) { m.From = "billing@contoso.com.evil.net"; m.AuthenticationResults = nil }),
			verdict: Rejected, reason: ReasonUnknownDomain, auth: AuthNone, ids: []string{"EX1187453"}},
		{name: "unknown: homoglyph", m: with(func(m *Message) { m.From = "jane@c0ntoso.com"; m.AuthenticationResults = nil }),
			verdict: Rejected, reason: ReasonUnknownDomain, auth: AuthNone, ids: []string{"EX1187453"}},
		{name: "unknown: Service Health notice sent directly", m: with(func(m *Message) {
			m.From = "o365mc@microsoft.com"
			m.Subject = "EX1321282: Exchange Online Service Health Incident (Service Restored)"
			m.AuthenticationResults = []string{stamp("pass", "microsoft.com")}
		}), verdict: Rejected, reason: ReasonUnknownDomain, auth: AuthPass, ids: []string{"EX1187453", "EX1321282"}},
		{name: "unknown before authentication: spoofed unknown domain", m: with(func(m *Message) {
			m.From = "x@evilcontoso.com"
			m.AuthenticationResults = []string{stamp("fail", "evilcontoso.com")}
		}), verdict: Rejected, reason: ReasonUnknownDomain, auth: AuthFail, ids: []string{"EX1187453"}},

		// 5. authentication (RFC 8601 section 5: only the receiving server's own header counts)
		{name: "trusted dmarc=fail", m: with(func(m *Message) { m.AuthenticationResults = []string{stamp("fail", "contoso.com")} }),
			verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthFail, ids: []string{"EX1187453"}},
		{name: "Exchange Online compauth=fail with dmarc=none", m: with(func(m *Message) {
			m.AuthenticationResults = []string{exoStamp("none", "fail", "contoso.com")}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthFail, ids: []string{"EX1187453"}},
		{name: "Exchange Online pass", m: with(func(m *Message) {
			m.AuthenticationResults = []string{exoStamp("pass", "pass", "contoso.com")}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "Exchange Online softpass is not pass", m: with(func(m *Message) {
			m.AuthenticationResults = []string{exoStamp("none", "softpass", "contoso.com")}
		}), verdict: Accepted, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"}},
		{name: "forged trusted pass below the real fail", m: with(func(m *Message) {
			m.AuthenticationResults = []string{stamp("fail", "contoso.com"), stamp("pass", "contoso.com")}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthFail, ids: []string{"EX1187453"},
			warn: []string{"may be forged"}},
		{name: "forged Exchange-style pass below the real trusted fail", m: with(func(m *Message) {
			m.AuthenticationResults = []string{stamp("fail", "contoso.com"), exoStamp("pass", "pass", "contoso.com")}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthFail, ids: []string{"EX1187453"}},
		{name: "untrusted fail below the trusted pass", m: with(func(m *Message) {
			m.AuthenticationResults = []string{stamp("pass", "contoso.com"), "relay.contoso.com; dmarc=fail header.from=contoso.com"}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "untrusted fail above the trusted pass", m: with(func(m *Message) {
			m.AuthenticationResults = []string{"filter.internal; dmarc=fail header.from=contoso.com", stamp("pass", "contoso.com")}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "only an untrusted pass", m: with(func(m *Message) {
			m.AuthenticationResults = []string{"mx.google.com; dmarc=pass header.from=contoso.com"}
		}), verdict: Accepted, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"}, warn: []string{"no Authentication-Results header from the receiving server"}},
		{name: "trusted authserv-id in another case", m: with(func(m *Message) {
			m.AuthenticationResults = []string{strings.Replace(stamp("fail", "contoso.com"), mx, strings.ToUpper(mx), 1)}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthFail, ids: []string{"EX1187453"}},
		{name: "DMARC pass for another From domain rejects (RFC 7489 11.2 header.from)", m: with(func(m *Message) {
			m.AuthenticationResults = []string{stamp("pass", "evil.example")}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"},
			warn: []string{"pass is for header.from evil.example, but the author is at contoso.com"}},
		{name: "aligned DKIM pass, relaxed (RFC 7489 3.1.1)", m: with(func(m *Message) {
			m.AuthenticationResults = nil
			m.DKIM = []DKIMResult{{Domain: "mail.contoso.com", Pass: true}}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "unaligned DKIM pass", m: with(func(m *Message) {
			m.AuthenticationResults = nil
			m.DKIM = []DKIMResult{{Domain: "sendgrid.net", Pass: true}}
		}), verdict: Accepted, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"}},
		{name: "another tenant's onmicrosoft.com signature is not aligned", m: with(func(m *Message) {
			m.From = "admin@contoso.onmicrosoft.com"
			m.AuthenticationResults = nil
			m.DKIM = []DKIMResult{{Domain: "fabrikam.onmicrosoft.com", Pass: true}}
		}), verdict: Accepted, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"}},
		{name: "failed DKIM alone is a warning", m: with(func(m *Message) {
			m.AuthenticationResults = nil
			m.DKIM = []DKIMResult{{Domain: "contoso.com", Error: "body hash did not verify"}}
		}), verdict: Accepted, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"}, warn: []string{"DKIM signature of contoso.com did not verify: body hash did not verify"}},
		{name: "trusted fail beats an aligned DKIM pass", m: with(func(m *Message) {
			m.AuthenticationResults = []string{stamp("fail", "contoso.com")}
			m.DKIM = []DKIMResult{{Domain: "contoso.com", Pass: true}}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthFail, ids: []string{"EX1187453"}},
		{name: "unreadable header ignored, the stamp below it decides", m: with(func(m *Message) {
			m.AuthenticationResults = []string{"", "(((", stamp("pass", "contoso.com")}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}},

		// several authors (RFC 5322 3.6.2 mailbox-list, or two From fields against 3.6)
		{name: "two authors of one tenant, both covered by the stamp's organisation", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "mark.ellis@it.contoso.com"}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"},
			warn: []string{"names 2 authors, each judged: jane.doe@contoso.com, mark.ellis@it.contoso.com"}},
		{name: "two authors of one tenant, the second covered by aligned DKIM (RFC 7489 3.1.1)", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "ops@contoso.onmicrosoft.com"}
			m.DKIM = []DKIMResult{{Domain: "contoso.onmicrosoft.com", Pass: true}}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "two authors of one tenant, the second only under a DKIM d= of another organisation", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "ops@contoso.onmicrosoft.com"}
			m.DKIM = []DKIMResult{{Domain: "sendgrid.net", Pass: true}}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"},
			warn: []string{"not authenticated: ops@contoso.onmicrosoft.com"}},
		{name: "two authors, no stamp at all: a single author would pass with none, several do not", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "mark.ellis@it.contoso.com"}
			m.AuthenticationResults = nil
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"},
			warn: []string{"not authenticated: jane.doe@contoso.com, mark.ellis@it.contoso.com"}},
		{name: "two authors of two tenants, both covered", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "hans@fabrikam.co.uk"}
			m.AuthenticationResults = []string{mx + "; dmarc=pass header.from=contoso.com; dmarc=pass header.from=fabrikam.co.uk"}
		}), verdict: Rejected, reason: ReasonTenantMismatch, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"},
			warn: []string{"jane.doe@contoso.com (tenant Contoso Ltd), hans@fabrikam.co.uk (tenant Fabrikam)"}},
		{name: "a personal co-author, covered", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "jane.doe.1984@gmail.com"}
			m.AuthenticationResults = []string{mx + "; dmarc=pass header.from=contoso.com; dmarc=pass header.from=gmail.com"}
		}), verdict: Rejected, reason: ReasonPersonalAddress, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"},
			warn: []string{"jane.doe.1984@gmail.com (personal address)"}},
		{name: "a personal co-author the stamp does not cover", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "jane.doe.1984@gmail.com"}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"},
			warn: []string{"not authenticated: jane.doe.1984@gmail.com", "jane.doe.1984@gmail.com (personal address)"}},
		{name: "a partner co-author", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "olivia.chen@northwind-partners.com"}
			m.AuthenticationResults = []string{mx + "; dmarc=pass header.from=contoso.com; dmarc=pass header.from=northwind-partners.com"}
		}), verdict: Rejected, reason: ReasonPartnerSender, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"},
			warn: []string{"olivia.chen@northwind-partners.com (partner staff)"}},
		{name: "partner staff first, a customer second, is not a partner forward", m: func() *Message {
			f := forward("", customer())
			f.Authors = []string{"olivia.chen@northwind-partners.com", "jane.doe@contoso.com"}
			f.AuthenticationResults = []string{mx + "; dmarc=pass header.from=contoso.com; dmarc=pass header.from=northwind-partners.com"}
			return f
		}(), verdict: Rejected, reason: ReasonPartnerSender, auth: AuthPass, ids: []string{}},
		{name: "an unknown co-author", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "it@evilcontoso.com"}
			m.AuthenticationResults = []string{mx + "; dmarc=pass header.from=contoso.com; dmarc=pass header.from=evilcontoso.com"}
		}), verdict: Rejected, reason: ReasonUnknownDomain, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "an unreadable co-author", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "undisclosed-recipients"}
		}), verdict: Rejected, reason: ReasonNoSender, auth: AuthNone, ids: []string{},
			warn: []string{`each judged: jane.doe@contoso.com, "undisclosed-recipients"`, "has no domain"}},
		{name: "authors past the parser's bound are not judged", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "mark.ellis@it.contoso.com"}
			m.AuthorsDropped = 4900
		}), verdict: Rejected, reason: ReasonNoSender, auth: AuthNone, ids: []string{},
			warn: []string{"4900 more addresses than the parser records"}},
		{name: "a warning names the first ten authors and how many more", m: with(func(m *Message) {
			for i := range 25 {
				m.Authors = append(m.Authors, fmt.Sprintf("user%d@contoso.com", i))
			}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"},
			warn: []string{"user8@contoso.com and 16 more"}},
		{name: "the same author twice is one author", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "jane.doe@CONTOSO.com"}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "two From fields, the stamp for the second's domain (the issue's shape)", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "billing@other-domain.example"}
			m.FromFields = 2
			m.AuthenticationResults = []string{exoStamp("pass", "pass", "other-domain.example")}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthNone, ids: []string{"EX1187453"},
			warn: []string{"2 From fields (RFC 5322 section 3.6 allows one)", "not authenticated: jane.doe@contoso.com", "billing@other-domain.example (unknown domain)"}},
		{name: "two From fields of one tenant, both covered, still warn", m: with(func(m *Message) {
			m.Authors = []string{"jane.doe@contoso.com", "mark.ellis@it.contoso.com"}
			m.FromFields = 2
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"},
			warn: []string{"2 From fields"}},
		{name: "two partner authors forwarding an original", m: func() *Message {
			f := forward("", customer())
			f.Authors = []string{"olivia.chen@northwind-partners.com", "desk@support.northwind-partners.com"}
			return f
		}(), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, original: 1},
		{name: "two partner authors, the stamp for another domain", m: func() *Message {
			f := forward("", customer())
			f.Authors = []string{"olivia.chen@northwind-partners.com", "desk@support.northwind-partners.com"}
			f.AuthenticationResults = []string{stamp("pass", "other-domain.example")}
			return f
		}(), verdict: Rejected, reason: ReasonSenderNotAuthenticated, auth: AuthNone, ids: []string{}, warn: []string{"cannot be trusted"}},

		// 6. automatic mail (RFC 3834, RFC 3464, RFC 8098)
		{name: "Exchange Online automatic reply quoting the partner's subject", m: with(func(m *Message) {
			m.Subject, m.Text = "Automatic reply: SLA credit for EX1187453", "I am out of the office until Monday."
			m.AutoFields = map[string]string{"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
		}), verdict: Rejected, reason: ReasonAutomatedMessage, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"},
			warn: []string{"not the customer's own request: Auto-Submitted: auto-generated (RFC 3834)"}},
		{name: "bounce naming no incident is rejected, not unmatched", m: with(func(m *Message) {
			m.Subject, m.Text, m.ReportType = "Undelivered Mail Returned to Sender", "This is the mail system at host mail.contoso.com.", "delivery-status"
		}), verdict: Rejected, reason: ReasonAutomatedMessage, tenant: contosoID, auth: AuthPass, ids: []string{}, warn: []string{"RFC 3464"}},
		{name: "read receipt", m: with(func(m *Message) { m.Subject, m.ReportType = "Read: EX1187453", "disposition-notification" }),
			verdict: Rejected, reason: ReasonAutomatedMessage, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, warn: []string{"RFC 8098"}},
		{name: "automatic and failing authentication: authentication decides first", m: with(func(m *Message) {
			m.AuthenticationResults = []string{stamp("fail", "contoso.com")}
			m.AutoFields = map[string]string{"Auto-Submitted": "auto-replied"}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthFail, ids: []string{"EX1187453"}},
		{name: "automatic from a personal address: the address decides first", m: func() *Message {
			m := gmail
			m.AutoFields = map[string]string{"Auto-Submitted": "auto-replied"}
			return &m
		}(), verdict: Rejected, reason: ReasonPersonalAddress, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "automatic and naming another tenant: automatic decides first", m: with(func(m *Message) {
			m.Text += " " + fabrikamID
			m.AutoFields = map[string]string{"Precedence": "bulk"}
		}), verdict: Rejected, reason: ReasonAutomatedMessage, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, warn: []string{"Precedence: bulk"}},
		{name: "RFC 3834 Auto-Submitted: no is a person", m: with(func(m *Message) { m.AutoFields = map[string]string{"Auto-Submitted": "no"} }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "mailing list (Precedence: list) carries a person's mail", m: with(func(m *Message) { m.AutoFields = map[string]string{"Precedence": "list"} }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "an OOF subject alone only warns", m: with(func(m *Message) { m.Subject = "Out of Office: EX1187453" }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, warn: []string{`starts "Out of Office:"`}},
		{name: "a person answering an automatic reply", m: with(func(m *Message) { m.Subject = "RE: Automatic reply: SLA credit for EX1187453" }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "partner forward of an automatic reply", m: forward("Customer replied, see attached.", *with(func(m *Message) {
			m.AutoFields = map[string]string{"Auto-Submitted": "auto-replied"}
		})), verdict: Rejected, reason: ReasonAutomatedMessage, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, original: 1, warn: []string{"auto-replied"}},
		{name: "partner forward: the person's original beats the automatic one", m: forward("", *with(func(m *Message) {
			m.AutoFields = map[string]string{"X-Autoreply": "yes"}
		}), customer()), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, original: 2,
			warn: []string{`attached original 1 from "jane.doe@contoso.com": rejected automated_message`}},

		// 7. tenant GUIDs
		{name: "names another registered tenant", m: with(func(m *Message) { m.Text += " Our tenant is " + fabrikamID + "." }),
			verdict: Rejected, reason: ReasonTenantMismatch, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, warn: []string{"names tenant " + fabrikamID + " (Fabrikam)"}},
		{name: "names another tenant, braced upper case, in HTML", m: with(func(m *Message) { m.HTMLText = "Tenant: {" + strings.ToUpper(fabrikamID) + "}" }),
			verdict: Rejected, reason: ReasonTenantMismatch, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "names another tenant in a link", m: with(func(m *Message) { m.URLs = []string{"https://portal.azure.com/#@" + fabrikamID + "/resource"} }),
			verdict: Rejected, reason: ReasonTenantMismatch, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}},
		{name: "names its own tenant", m: with(func(m *Message) { m.Text += " Tenant ID " + strings.ToUpper(contosoID) }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "unregistered GUID ignored", m: with(func(m *Message) { m.Text += " Correlation ID " + strangerID }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "authentication decides before the GUID", m: with(func(m *Message) {
			m.Text += " " + fabrikamID
			m.AuthenticationResults = []string{stamp("fail", "contoso.com")}
		}), verdict: Rejected, reason: ReasonSenderNotAuthenticated, tenant: contosoID, auth: AuthFail, ids: []string{"EX1187453"}},
		{name: "mismatch decides before the incident ID", m: with(func(m *Message) {
			m.Subject, m.Text = "Credit", fabrikamID
		}), verdict: Rejected, reason: ReasonTenantMismatch, tenant: contosoID, auth: AuthPass, ids: []string{}},

		// 8. incident IDs
		{name: "no incident ID", m: &noID, verdict: Unmatched, reason: ReasonNoIncidentID, tenant: contosoID, auth: AuthPass, ids: []string{}},
		{name: "only a Message Center ID", m: with(func(m *Message) { m.Subject, m.Text = "About MC1187220", "See MC1187220." }),
			verdict: Unmatched, reason: ReasonNoIncidentID, tenant: contosoID, auth: AuthPass, ids: []string{}},
		{name: "ID written with a space is not counted, but named", m: with(func(m *Message) { m.Subject, m.Text = "Credit", "Outage EX 1187453 yesterday" }),
			verdict: Unmatched, reason: ReasonNoIncidentID, tenant: contosoID, auth: AuthPass, ids: []string{},
			warn: []string{`"EX 1187453" looks like incident ID EX1187453`}},
		{name: "ID only in a link", m: with(func(m *Message) {
			m.Subject, m.Text = "Credit", "See the link."
			m.URLs = []string{"https://admin.microsoft.com/Adminportal/Home#/servicehealth/:/alerts/TM1191027"}
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"TM1191027"}},
		{name: "IDs from every text, sorted", m: with(func(m *Message) {
			m.Subject, m.Text, m.HTMLText = "tm1191027", "EX1195012 and again EX1195012", "CP1203317"
		}), verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"CP1203317", "EX1195012", "TM1191027"}},

		// warnings that decide nothing
		{name: "Reply-To in another organisation", m: with(func(m *Message) { m.ReplyTo = []string{"jane.private@gmail.com"} }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, warn: []string{`Reply-To "jane.private@gmail.com" is outside`}},
		{name: "Reply-To in a sibling subdomain is fine", m: with(func(m *Message) { m.ReplyTo = []string{"helpdesk@it.contoso.com"} }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "display name repeating the sender is fine", m: with(func(m *Message) { m.FromHeader = "jane.doe@contoso.com <jane.doe@contoso.com>" }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, noWarn: true},
		{name: "RFC 2047 display name hiding an address", m: with(func(m *Message) { m.FromHeader = "=?utf-8?q?boss=40fabrikam.co.uk?= <jane.doe@contoso.com>" }),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, warn: []string{`"boss@fabrikam.co.uk"`}},

		// 3. partner staff
		{name: "partner inline forward", m: forward("---------- Forwarded message ---------\nFrom: jane.doe@contoso.com\nEX1187453"),
			verdict: Rejected, reason: ReasonPartnerSender, auth: AuthPass, ids: []string{}, warn: []string{"forward as attachment"}},
		{name: "partner forward as attachment", m: forward("Please see below.", customer()),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, original: 1, warn: []string{"partner staff olivia.chen@northwind-partners.com"}},
		{name: "partner forward, best of two originals", m: forward("Two mails.", gmail, customer()),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, original: 2, warn: []string{`attached original 1 from "jane.doe.1984@gmail.com": rejected personal_address`}},
		{name: "partner forward, unmatched beats rejected", m: forward("", gmail, noID),
			verdict: Unmatched, reason: ReasonNoIncidentID, tenant: contosoID, auth: AuthPass, ids: []string{}, original: 2},
		{name: "partner forward, first of equals wins", m: forward("", customer(), customer()),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, original: 1},
		{name: "partner forward, only a personal original", m: forward("FYI EX1187453", gmail),
			verdict: Rejected, reason: ReasonPersonalAddress, auth: AuthPass, ids: []string{"EX1187453"}, original: 1},
		{name: "partner forward, ID only in the partner's text", m: forward("Customer asks for credit on EX1187453.", noID),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, original: 1, warn: []string{"named only in the partner's forwarding text"}},
		{name: "partner forward, an original with its own ID beats one using the partner's", m: forward("EX1111111", noID, *with(func(m *Message) { m.Subject, m.Text = "TM1191027", "" })),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"TM1191027"}, original: 2, warn: []string{"also names EX1111111"}},
		{name: "partner forward whose own authentication fails", m: func() *Message {
			f := forward("", customer())
			f.AuthenticationResults = []string{stamp("fail", "northwind-partners.com")}
			return f
		}(), verdict: Rejected, reason: ReasonSenderNotAuthenticated, auth: AuthFail, ids: []string{}, warn: []string{"cannot be trusted"}},
		{name: "partner forward, original from another partner address", m: forward("", *forward("")),
			verdict: Rejected, reason: ReasonPartnerSender, auth: AuthPass, ids: []string{}, original: 1},
		{name: "partner forward of a partner forward", m: forward("", *forward("", customer())),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, original: 1, warn: []string{"original 1 inside attached original 1"}},
		{name: "partner forwards nested too deep", m: forward("", *forward("", *forward("", *forward("", customer())))),
			verdict: Rejected, reason: ReasonPartnerSender, auth: AuthPass, ids: []string{}, original: 1, warn: []string{"nested more than 3 deep"}},
		{name: "partner note naming another tenant warns", m: forward("Fabrikam tenant "+fabrikamID, customer()),
			verdict: Accepted, tenant: contosoID, auth: AuthPass, ids: []string{"EX1187453"}, original: 1, warn: []string{"names tenant " + fabrikamID}},
		{name: "partner forward, malformed original", m: forward("", Message{Malformed: true}),
			verdict: Rejected, reason: ReasonMalformed, auth: AuthNone, ids: []string{}, original: 1},
	}
	for _, tt := range tests {
		got := p.Judge(tt.m)
		if got.Verdict != tt.verdict || got.Reason != tt.reason || got.TenantID != tt.tenant ||
			got.Authentication != tt.auth || !reflect.DeepEqual(got.IncidentIDs, tt.ids) || got.Original != tt.original {
			t.Errorf("%s: Judge = %s/%s tenant %q auth %s ids %q original %d; want %s/%s tenant %q auth %s ids %q original %d\nwarnings: %q",
				tt.name, got.Verdict, got.Reason, got.TenantID, got.Authentication, got.IncidentIDs, got.Original,
				tt.verdict, tt.reason, tt.tenant, tt.auth, tt.ids, tt.original, got.Warnings)
		}
		if got.Warnings == nil || got.IncidentIDs == nil {
			t.Errorf("%s: Judge returned nil Warnings or IncidentIDs, want empty slices", tt.name)
		}
		for _, w := range tt.warn {
			if !containsPart(got.Warnings, w) {
				t.Errorf("%s: Judge warnings = %q, want one containing %q", tt.name, got.Warnings, w)
			}
		}
		if tt.noWarn && len(got.Warnings) > 0 {
			t.Errorf("%s: Judge warnings = %q, want none", tt.name, got.Warnings)
		}
	}
}

func containsPart(list []string, part string) bool {
	for _, s := range list {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}

// TestJudgeFacts pins every field of one judgment, so none is forgotten.
func TestJudgeFacts(t *testing.T) {
	p := newTestPolicy(t)
	m := with(func(m *Message) { m.From = "Jane.Doe@IT.Contoso.com" })
	got := p.Judge(m)
	want := Judgment{
		Verdict:        Accepted,
		Sender:         "Jane.Doe@it.contoso.com",
		SenderDomain:   "it.contoso.com",
		TenantID:       contosoID,
		IncidentIDs:    []string{"EX1187453"},
		Authentication: AuthPass, // the stamp's pass for contoso.com covers its organisation
		Warnings:       []string{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Judge(%q) =\n%+v\nwant\n%+v", m.From, got, want)
	}
}

// TestJudgeRegistryVersion: a judgment records the registry version of
// the policy that made it, also when it stands on a forwarded original,
// and WithRegistryVersion leaves the policy it copies alone.
func TestJudgeRegistryVersion(t *testing.T) {
	p := newTestPolicy(t)
	v7 := p.WithRegistryVersion(7)
	for _, tt := range []struct {
		name string
		m    *Message
	}{
		{"customer", with(func(*Message) {})},
		{"forwarded original", forward("please file this", customer())},
		{"rejected", with(func(m *Message) { m.From = "someone@unknown.example" })},
	} {
		if got := v7.Judge(tt.m).RegistryVersion; got != 7 {
			t.Errorf("Judge(%s) with registry 7: RegistryVersion = %d, want 7", tt.name, got)
		}
		if got := p.Judge(tt.m).RegistryVersion; got != 0 {
			t.Errorf("Judge(%s) with the original policy: RegistryVersion = %d, want 0", tt.name, got)
		}
	}
	if p.RegistryVersion() != 0 || v7.RegistryVersion() != 7 {
		t.Errorf("RegistryVersion() = %d and %d, want 0 and 7", p.RegistryVersion(), v7.RegistryVersion())
	}
	j := v7.Judge(with(func(*Message) {}))
	j.RegistryVersion = 0
	if want := p.Judge(with(func(*Message) {})); !reflect.DeepEqual(j, want) {
		t.Errorf("Judge with registry 7, version cleared = %+v, want %+v", j, want)
	}
}

// TestJudgeExchangeOnlineOff: without Config.ExchangeOnline a header with
// no authserv-id is anyone's.
func TestJudgeExchangeOnlineOff(t *testing.T) {
	cfg := testConfig()
	cfg.ExchangeOnline = false
	p, err := New(cfg, testTenants())
	if err != nil {
		t.Fatal(err)
	}
	for _, dmarc := range []string{"pass", "fail"} {
		m := with(func(m *Message) { m.AuthenticationResults = []string{exoStamp(dmarc, dmarc, "contoso.com")} })
		if got := p.Judge(m); got.Authentication != AuthNone || got.Verdict != Accepted {
			t.Errorf("Judge(Exchange-style dmarc=%s, exchange_online off) = %s/%s auth %s; want accepted, auth none", dmarc, got.Verdict, got.Reason, got.Authentication)
		}
	}
}

// TestJudgeDoesNotModify: Judge reads its message and nothing else.
func TestJudgeDoesNotModify(t *testing.T) {
	p := newTestPolicy(t)
	m := forward("EX1111111", customer(), customer())
	before := fmt.Sprintf("%#v", m)
	p.Judge(m)
	if after := fmt.Sprintf("%#v", m); after != before {
		t.Errorf("Judge modified its message:\nbefore %s\nafter  %s", before, after)
	}
}

// TestJudgeConcurrent: a Policy is shared by the poller's workers; run with
// -race.
func TestJudgeConcurrent(t *testing.T) {
	p := newTestPolicy(t)
	msgs := []*Message{with(func(*Message) {}), forward("EX1111111", customer()), with(func(m *Message) { m.From = "x@gmail.com" })}
	want := make([]Judgment, len(msgs))
	for i, m := range msgs {
		want[i] = p.Judge(m)
	}
	done := make(chan error, 4)
	for range 4 {
		go func() {
			for range 50 {
				for i, m := range msgs {
					if got := p.Judge(m); !reflect.DeepEqual(got, want[i]) {
						done <- fmt.Errorf("Judge(message %d) = %+v concurrently, want %+v", i, got, want[i])
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestCapWarnings(t *testing.T) {
	list := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("w%d", i)
		}
		return out
	}
	tests := []struct {
		name     string
		in       []string
		max      int
		wantLen  int
		wantLast string
	}{
		{"short list kept", list(3), 5, 3, "w2"},
		{"exactly max kept", list(5), 5, 5, "w4"},
		{"one over: two dropped for the note", list(6), 5, 5, "2 more warnings were dropped"},
		{"5,000 cut to 50", list(5000), 50, 50, "4951 more warnings were dropped"},
		{"nil stays nil", nil, 5, 0, ""},
		{"a cap of 0 counts as 1", list(3), 0, 1, "3 more warnings were dropped"},
	}
	for _, tt := range tests {
		got := CapWarnings(tt.in, tt.max)
		if len(got) != tt.wantLen {
			t.Errorf("%s: CapWarnings = %d entries, want %d", tt.name, len(got), tt.wantLen)
			continue
		}
		if len(got) > 0 && got[len(got)-1] != tt.wantLast {
			t.Errorf("%s: last warning %q, want %q", tt.name, got[len(got)-1], tt.wantLast)
		}
	}
}

// TestJudgeForgedStampsCapped: each lower Authentication-Results header
// claiming the trusted authserv-id with another result is a warning
// (RFC 8601 section 5); 5,000 of them must not make 5,000.
func TestJudgeForgedStampsCapped(t *testing.T) {
	p := newTestPolicy(t)
	m := with(func(m *Message) {
		for range 5000 {
			m.AuthenticationResults = append(m.AuthenticationResults, stamp("fail", "contoso.com"))
		}
	})
	got := p.Judge(m)
	if got.Verdict != Accepted || len(got.Warnings) != MaxWarnings {
		t.Fatalf("Judge = %s with %d warnings, want accepted with %d", got.Verdict, len(got.Warnings), MaxWarnings)
	}
	if last := got.Warnings[MaxWarnings-1]; !strings.Contains(last, "were dropped") {
		t.Errorf("last warning %q, want the count of dropped ones", last)
	}
}

// TestAttachable: an analyst may attach unmatched and automated mail of a
// tenant by hand, nothing else.
func TestAttachable(t *testing.T) {
	tests := []struct {
		name string
		j    *Judgment
		want bool
	}{
		{"nil", nil, false},
		{"unmatched of a tenant", &Judgment{Verdict: Unmatched, Reason: ReasonNoIncidentID, TenantID: contosoID}, true},
		{"automated of a tenant", &Judgment{Verdict: Rejected, Reason: ReasonAutomatedMessage, TenantID: contosoID}, true},
		{"automated without a tenant", &Judgment{Verdict: Rejected, Reason: ReasonAutomatedMessage}, false},
		{"accepted", &Judgment{Verdict: Accepted, TenantID: contosoID}, false},
		{"too complex", &Judgment{Verdict: Rejected, Reason: ReasonTooComplex}, false},
		{"personal address", &Judgment{Verdict: Rejected, Reason: ReasonPersonalAddress}, false},
		{"not authenticated", &Judgment{Verdict: Rejected, Reason: ReasonSenderNotAuthenticated, TenantID: contosoID}, false},
		{"tenant mismatch", &Judgment{Verdict: Rejected, Reason: ReasonTenantMismatch, TenantID: contosoID}, false},
	}
	for _, tt := range tests {
		if got := tt.j.Attachable(); got != tt.want {
			t.Errorf("%s: Attachable() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
