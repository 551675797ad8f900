// Package evidence turns one raw email into facts (headers, text, attachments,
// customer originals, sender authentication) and into a tamper-evident
// evidence bundle: the raw bytes plus a manifest, as one deterministic ZIP.
package evidence

import "time"

// Facts is what a parse of one raw message yields. Fields a message lacks
// are empty; what could not be read is described in Warnings.
type Facts struct {
	MessageID string    // without angle brackets
	From      string    // the From header, RFC 2047-decoded
	Sender    string    // the From addr-spec, e.g. "jane@contoso.com"; empty if none
	To        []string  // To addresses as written, decoded
	Date      time.Time // zero when missing or unparseable
	Subject   string    // RFC 2047-decoded
	Text      string    // text/plain parts, decoded to UTF-8
	HTMLText  string    // text/html parts rendered to text
	URLs      []string  // link targets from the HTML and the text
	// AuthenticationResults are the raw Authentication-Results header
	// values, topmost (newest) first.
	AuthenticationResults []string
	Attachments           []Attachment
	// Originals are the message/rfc822 parts (forwards as attachment), in
	// order, each with its own facts and exact bytes.
	Originals []Original
	// DKIM holds one entry per DKIM-Signature header, topmost first; nil
	// until the signatures have been verified (see VerifyDKIM).
	DKIM []DKIMCheck
	// Malformed is set when not even a header block could be read.
	Malformed bool
	// Truncated is set when the message was larger than the parse limit and
	// only its headers and first part were read.
	Truncated bool
	Warnings  []string
}

// Attachment describes one attached file, decoded.
type Attachment struct {
	Name        string `json:"name"` // as the sender named it (unsafe; see SafeName)
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"` // hex, of the decoded bytes
}

// Original is a customer message carried inside another as message/rfc822.
type Original struct {
	Raw   []byte // the part's bytes exactly as they stand in the message
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
