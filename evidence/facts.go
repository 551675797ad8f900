// Package evidence turns one raw email into facts (headers, text, attachments,
// customer originals, sender authentication) and into a tamper-evident
// evidence bundle: the raw bytes plus a manifest, as one deterministic ZIP.
package evidence

import "time"

// Facts is what a parse of one raw message yields. Fields a message lacks
// are empty; what could not be read is described in Warnings.
type Facts struct {
	MessageID string // without angle brackets
	From      string // the From header, RFC 2047-decoded
	// Sender is the From addr-spec, e.g. "jane@contoso.com", its domain
	// lower-cased and in ASCII (IDNA A-labels); empty if none. Of several
	// From addresses it is the first.
	Sender string
	// Authors are the addresses of every From field, every mailbox in
	// each (RFC 5322 section 3.6.2), in order, normalised as Sender is;
	// an address that could not be read is kept as written. Sender, when
	// set, is the first.
	Authors []string
	// FromFields counts the From fields (RFC 5322 section 3.6 allows one).
	FromFields int
	// AuthorsDropped counts the From addresses past the first 100, which
	// Authors leaves out; the rules cannot judge such a message.
	AuthorsDropped int
	// ReplyTo are the addr-specs of the Reply-To field, normalised as
	// Sender is.
	ReplyTo []string
	To      []string  // To addresses as written, decoded
	Date    time.Time // zero when missing or unparseable
	Subject string    // RFC 2047-decoded
	// Text is the text/plain body parts (not those sent as attachments),
	// decoded to UTF-8 and joined by blank lines; of a
	// multipart/alternative only the first plain rendition counts.
	Text     string
	HTMLText string   // text/html body parts rendered to text, likewise
	URLs     []string // href targets from the HTML and http(s) URLs in the text
	// AuthenticationResults are the raw Authentication-Results header
	// values, topmost (newest) first.
	AuthenticationResults []string
	// Automation holds the first value of each header field named by
	// rules.AutomationFields that the message has (Auto-Submitted,
	// Precedence, X-Autoreply, ...), as written, unfolded; nil when it has
	// none. The rules decide whether they make it automatic mail.
	Automation map[string]string
	// ReportType is the report-type parameter of a top-level
	// multipart/report (RFC 6522), lower-cased: "delivery-status" for a
	// bounce, "disposition-notification" for a read receipt; "unknown"
	// when the parameter is missing; empty when the message is no report.
	ReportType string
	// Attachments are the parts that are not body text: files, inline
	// images, and message/rfc822 parts (which are in Originals too).
	Attachments []Attachment
	// Originals are the message/rfc822 parts (forwards as attachment), in
	// order, each with its own facts and exact bytes.
	Originals []Original
	// DKIM holds one entry per DKIM-Signature header, topmost first; nil
	// until the signatures have been verified (see VerifyDKIM).
	DKIM []DKIMCheck
	// Malformed is set when not even a header block could be read.
	Malformed bool
	// Truncated is set when the message was not parsed in full (larger
	// than ParseOptions.MaxBytes, or with a MIME structure too big or too
	// broken to parse in memory): only its header, first text part and
	// attachment digests were read. Warnings say why.
	Truncated bool
	// TooComplex is set when the parse ran out of its budget
	// (ParseOptions.Budget) and stopped early: any fact may be missing.
	// The rules reject such a message as too_complex; a later re-judgment
	// parses it afresh and may succeed.
	TooComplex bool
	Warnings   []string
}

// Attachment describes one attached file, decoded.
type Attachment struct {
	Name        string `json:"name"` // as the sender named it (unsafe; see SafeName)
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	// SHA256 is hex, of the bytes after transfer decoding (base64,
	// quoted-printable) and before any charset conversion: the file as
	// the sender attached it. Size counts the same bytes.
	SHA256 string `json:"sha256"`
}

// Original is a customer message carried inside another as message/rfc822.
type Original struct {
	// Raw is the part's body after transfer decoding: for the usual
	// 7bit/8bit forward, its bytes exactly as they stand in the message.
	// It is nil when the original was larger than ParseOptions.MaxBytes
	// and was only streamed (its Facts are then Truncated).
	Raw   []byte
	Facts *Facts
}

// DKIMCheck is the outcome of verifying one DKIM-Signature header.
type DKIMCheck struct {
	Domain   string `json:"domain"`   // d= tag
	Selector string `json:"selector"` // s= tag
	Pass     bool   `json:"pass"`
	// Result names the outcome as RFC 8601 does: DKIMPass, DKIMFail,
	// DKIMPermError or DKIMTempError (a DNS failure worth retrying).
	Result string   `json:"result"`
	Error  string   `json:"error,omitempty"`
	TXT    []string `json:"txt,omitempty"` // the DNS TXT records used to verify it
}
