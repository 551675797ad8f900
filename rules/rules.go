// Package rules is claimtrail's pure policy: the tenant registry, sender domains,
// personal mail providers, incident IDs, tenant GUIDs, sender authentication,
// claim deadlines, and the verdict on one customer email.
//
// It does no I/O and imports nothing of claimtrail's: callers parse mail into a
// Message and load configuration into Config and []Tenant.
package rules

// Verdict is the outcome of judging one email as claim evidence.
type Verdict string

// The verdicts. An unmatched message came from a good sender but names nothing
// to attach it to.
const (
	Accepted  Verdict = "accepted"
	Rejected  Verdict = "rejected"
	Unmatched Verdict = "unmatched"
)

// Reason says why a message was not accepted. It is empty for accepted mail.
type Reason string

// The reasons. Rejected mail carries any but ReasonNoIncidentID, which
// unmatched mail carries. ReasonTooComplex is for a message whose parse ran
// out of its budget: it is worth re-judging later, as its verdict is not
// about the message itself.
const (
	ReasonPersonalAddress        Reason = "personal_address"
	ReasonUnknownDomain          Reason = "unknown_domain"
	ReasonPartnerSender          Reason = "partner_sender"
	ReasonTenantMismatch         Reason = "tenant_mismatch"
	ReasonSenderNotAuthenticated Reason = "sender_not_authenticated"
	ReasonNoSender               Reason = "no_sender"
	ReasonMalformed              Reason = "malformed"
	// ReasonAutomatedMessage is an automatic reply, bounce or read receipt
	// (see Automated): not the customer's own request.
	ReasonAutomatedMessage Reason = "automated_message"
	ReasonNoIncidentID     Reason = "no_incident_id"
	ReasonTooComplex       Reason = "too_complex"
)

// Authentication summarises how the sender was authenticated.
type Authentication string

// The authentication outcomes: pass (a trusted DMARC/compauth pass or an
// aligned valid DKIM signature), fail (a trusted DMARC/compauth fail), none.
const (
	AuthPass Authentication = "pass"
	AuthFail Authentication = "fail"
	AuthNone Authentication = "none"
)

// Config is the rules section of claimtrail's configuration.
type Config struct {
	// PartnerDomains are the CSP partner's own domains. Mail from them is
	// judged by the customer originals it carries as message/rfc822 parts.
	PartnerDomains []string `yaml:"partner_domains"`
	// TrustedAuthservIDs name the receiving servers whose
	// Authentication-Results headers count (RFC 8601 authserv-id).
	TrustedAuthservIDs []string `yaml:"trusted_authserv_ids"`
	// ExchangeOnline trusts the topmost Authentication-Results header that
	// has no authserv-id, as Exchange Online writes it ("spf=pass ...").
	ExchangeOnline bool `yaml:"exchange_online"`
	// IncidentPrefixes adds service prefixes (e.g. "QX": "New service") to
	// the built-in table, or renames existing ones.
	IncidentPrefixes map[string]string `yaml:"incident_prefixes"`
}

// Tenant is one customer tenant of the partner.
type Tenant struct {
	ID      string   `yaml:"id"` // Microsoft Entra tenant GUID
	Name    string   `yaml:"name"`
	Domains []string `yaml:"domains"`
	CSP     bool     `yaml:"csp"` // subscriptions bought through CSP
	// Source says where the tenant was declared ("tenants.yaml:14"), for
	// error messages; empty when unknown.
	Source string `yaml:"-"`
	// DomainSources, when set, has one position per entry of Domains.
	DomainSources []string `yaml:"-"`
}

// Message is what the rules need to know of one email, already parsed.
type Message struct {
	// From is the addr-spec of the From header ("jane@contoso.com"); empty
	// when the header is missing or unparseable.
	From string
	// FromHeader is the From header as received, for warnings.
	FromHeader string
	// Authors are the addr-specs of every mailbox in every From field, in
	// order, From first. RFC 5322 section 3.6.2 allows a mailbox-list in
	// From (with a Sender field); each of them is an author, and Judge
	// judges them all. Nil means From alone.
	Authors []string
	// FromFields counts the From fields; RFC 5322 section 3.6 allows one.
	FromFields int
	// AuthorsDropped counts the From addresses the parser did not record
	// in Authors (it keeps the first 100): authors nobody judged.
	AuthorsDropped int
	// ReplyTo are the addr-specs of the Reply-To header, for warnings; they
	// never decide who the author is (RFC 5322 section 3.6.2).
	ReplyTo  []string
	Subject  string
	Text     string   // text/plain parts, decoded
	HTMLText string   // text/html parts rendered to text
	URLs     []string // link targets found in the HTML and text
	// AuthenticationResults are the raw values of the message's
	// Authentication-Results headers, topmost (newest) first.
	AuthenticationResults []string
	// DKIM are the results of verifying the message's DKIM signatures;
	// nil when they were not verified.
	DKIM []DKIMResult
	// Originals are the messages attached as message/rfc822, in order.
	Originals []Message
	// AutoFields holds the first value of each field named by
	// AutomationFields that the message has, under that name; a field
	// present with an empty value has an empty string. Automated reads it.
	AutoFields map[string]string
	// ReportType is the report-type parameter of a top-level
	// multipart/report (RFC 6522), e.g. "delivery-status"; empty when the
	// message is not a report.
	ReportType string
	// Malformed is set when the header block could not be parsed at all.
	Malformed bool
	// TooComplex is set when the parse ran out of its budget (time or
	// steps): the facts above may be missing anything.
	TooComplex bool
}

// DKIMResult is the outcome of verifying one DKIM-Signature.
type DKIMResult struct {
	Domain string // the signature's d= tag
	Pass   bool
	Error  string // why it failed, when it did
}

// Judgment is the verdict on one Message, with the facts behind it.
type Judgment struct {
	Verdict        Verdict        `json:"verdict"`
	Reason         Reason         `json:"reason"`
	Sender         string         `json:"sender"`
	SenderDomain   string         `json:"sender_domain"`
	TenantID       string         `json:"tenant_id"`
	IncidentIDs    []string       `json:"incident_ids"`
	Authentication Authentication `json:"authentication"`
	Warnings       []string       `json:"warnings"`
	// Original is the 1-based index of the attached customer original the
	// verdict stands on, for mail forwarded by partner staff; 0 otherwise.
	Original int `json:"original,omitempty"`
	// RegistryVersion is the version of the tenant registry the judgment
	// used (Policy.RegistryVersion); 0 when unknown. It is a fact about
	// the judging, not about the message: two judgments that differ only
	// in it are the same judgment.
	RegistryVersion int64 `json:"registry_version,omitempty"`
}

// Attachable reports whether an analyst may attach mail judged j to an
// incident of its tenant by hand: unmatched mail, which names no incident,
// and automated mail, which a person may have written after all. Both come
// from a tenant's domain and passed authentication; the other rejections
// fail what Microsoft requires of the customer's email (too_complex mail
// was never judged at all: re-judge it). A nil j is not attachable.
func (j *Judgment) Attachable() bool {
	if j == nil || j.TenantID == "" {
		return false
	}
	return j.Verdict == Unmatched || j.Verdict == Rejected && j.Reason == ReasonAutomatedMessage
}

// Version identifies this rule set; it is recorded in every evidence bundle
// so a later re-judgment can tell which rules decided. Bump it whenever a
// change can alter a verdict.
const Version = "2026.12.1"
