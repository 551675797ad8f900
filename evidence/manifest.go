package evidence

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// ManifestSchema names the version of the manifest format that this
// claimtrail writes. A reader refuses any value it does not know: a new
// field or meaning gets a new version, so that an older claimtrail says
// "use a newer claimtrail" instead of misreading it. v2 (rules 2026.12.1)
// adds the authors (and how many were dropped), From field count, automation facts, report type and
// too_complex flag; v1 bundles are read as they are.
const ManifestSchema = "claimtrail.bundle/v2"

// manifestSchemaV1 is the schema of the bundles written before v2.
const manifestSchemaV1 = "claimtrail.bundle/v1"

// knownSchema reports whether this claimtrail reads manifests of schema.
func knownSchema(schema string) bool {
	return schema == ManifestSchema || schema == manifestSchemaV1
}

// The names of the fixed files in a bundle. Customer originals are
// OriginalName(i).
const (
	ManifestName = "manifest.json"
	MessageName  = "message.eml"
	BodyName     = "body.txt"
)

// OriginalName returns the bundle file name of the i-th (1-based) customer
// original attached as message/rfc822.
func OriginalName(i int) string { return fmt.Sprintf("original-%d.eml", i) }

// Manifest describes one evidence bundle: what is in it, what the message
// says about itself, where it came from, and how it was judged. It is stored
// as manifest.json; its own SHA-256 is in the ZIP comment.
type Manifest struct {
	Schema       string `json:"schema"`
	RulesVersion string `json:"rules_version"`
	// Raw is the message exactly as fetched; it is stored as message.eml.
	Raw FileDigest `json:"raw"`
	// Files lists every file of the bundle but manifest.json, by name.
	Files          []FileDigest         `json:"files"`
	Message        MessageHeaders       `json:"message"`
	Provenance     Provenance           `json:"provenance"`
	Judgment       rules.Judgment       `json:"judgment"`
	Authentication SenderAuthentication `json:"authentication"`
	Attachments    []Attachment         `json:"attachments"`
	Originals      []OriginalSummary    `json:"originals"`
	// Warnings are what the parse and the bundling could not read or had
	// to adjust; the judgment's own warnings are in Judgment.Warnings.
	Warnings []string `json:"warnings"`
}

// FileDigest is the name, size and SHA-256 (lowercase hex) of one file.
type FileDigest struct {
	Name   string `json:"name,omitempty"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// MessageHeaders are the identifying headers of the message, decoded.
type MessageHeaders struct {
	MessageID string `json:"message_id"`
	From      string `json:"from"`
	Sender    string `json:"sender"`
	// Authors are the addresses of every From field (Facts.Authors);
	// absent from manifests written before rules 2026.12.1.
	Authors []string `json:"authors,omitempty"`
	// FromFields counts the From fields; absent when there was none and
	// from manifests written before rules 2026.12.1.
	FromFields int `json:"from_fields,omitempty"`
	// AuthorsDropped counts the From addresses Authors leaves out.
	AuthorsDropped int       `json:"authors_dropped,omitempty"`
	ReplyTo        []string  `json:"reply_to"`
	To             []string  `json:"to"`
	Date           time.Time `json:"date,omitzero"`
	Subject        string    `json:"subject"`
	// Automation and ReportType are the facts the rules read to tell
	// automatic mail (see Facts); omitted when empty, so manifests
	// written before they existed read the same.
	Automation map[string]string `json:"automation,omitempty"`
	ReportType string            `json:"report_type,omitempty"`
	Malformed  bool              `json:"malformed,omitempty"`
	Truncated  bool              `json:"truncated,omitempty"`
	// TooComplex: the parse ran out of its budget (Facts.TooComplex).
	TooComplex bool `json:"too_complex,omitempty"`
}

// Provenance says where a message was fetched from. Fields that do not apply
// (IMAP fields for a file, Path for a mailbox) stay zero and are omitted.
type Provenance struct {
	Mailbox      string    `json:"mailbox,omitempty"` // the account, e.g. "claims@partner.example"
	Folder       string    `json:"folder,omitempty"`
	UIDValidity  uint32    `json:"uidvalidity,omitempty"`
	UID          uint32    `json:"uid,omitempty"`
	InternalDate time.Time `json:"internaldate,omitzero"`
	Path         string    `json:"path,omitempty"` // a file read from disk
}

// SenderAuthentication is the record of how the sender was authenticated:
// the receiving servers' Authentication-Results headers, topmost first, and
// claimtrail's own DKIM verification with the DNS records it used.
type SenderAuthentication struct {
	AuthenticationResults []string    `json:"authentication_results"`
	DKIM                  []DKIMCheck `json:"dkim"`
	// DKIMVerified is false when the signatures were not verified at all
	// (DKIM is then empty whatever the message carries).
	DKIMVerified bool `json:"dkim_verified"`
}

// OriginalSummary identifies one customer original stored in the bundle.
type OriginalSummary struct {
	File      string    `json:"file"`
	MessageID string    `json:"message_id"`
	From      string    `json:"from"`
	Sender    string    `json:"sender"`
	Date      time.Time `json:"date,omitzero"`
	Subject   string    `json:"subject"`
	// Automation and ReportType are as in MessageHeaders.
	Automation map[string]string `json:"automation,omitempty"`
	ReportType string            `json:"report_type,omitempty"`
}

// maxManifestSize bounds what ReadManifest reads: a manifest of a message
// with thousands of attachments is a few MB.
const maxManifestSize = 32 << 20

// commentSuffix follows the schema at the start of the ZIP comment, which
// carries the manifest's SHA-256: "claimtrail.bundle/v2 manifest-sha256=<hex>".
const commentSuffix = " manifest-sha256="

// ReadManifest reads and decodes manifest.json from a bundle without
// checking any digest; use VerifyBundle to check the bundle.
func ReadManifest(bundle io.ReaderAt, size int64) (*Manifest, error) {
	zr, err := zip.NewReader(bundle, size)
	if err != nil {
		return nil, fmt.Errorf("evidence: read manifest: not a bundle (ZIP): %w", err)
	}
	b, err := readManifestBytes(zr)
	if err != nil {
		return nil, fmt.Errorf("evidence: read manifest: %w", err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("evidence: read manifest: %w", err)
	}
	return m, nil
}

// readManifestBytes returns the bytes of the bundle's one manifest.json.
func readManifestBytes(zr *zip.Reader) ([]byte, error) {
	var mf *zip.File
	for _, f := range zr.File {
		if f.Name == ManifestName {
			if mf != nil {
				return nil, fmt.Errorf("%s appears twice in the bundle", ManifestName)
			}
			mf = f
		}
	}
	if mf == nil {
		return nil, fmt.Errorf("%s missing from the bundle", ManifestName)
	}
	rc, err := mf.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if errors.Is(err, zip.ErrChecksum) {
		return nil, &MismatchError{File: ManifestName, What: "ZIP CRC-32", Want: fmt.Sprintf("%08x", mf.CRC32), Got: "a different checksum (the stored bytes are damaged)"}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", ManifestName, maxManifestSize)
	}
	return b, nil
}

func decodeManifest(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	// A v1 reader knows every v1 field; anything else is damage or a newer
	// schema, and either way this reader cannot vouch for it.
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: data after the JSON object", ManifestName)
	}
	if !knownSchema(m.Schema) {
		return nil, fmt.Errorf("%s: schema %q, this claimtrail reads %q and %q: use a newer claimtrail", ManifestName, m.Schema, manifestSchemaV1, ManifestSchema)
	}
	if m.Schema == manifestSchemaV1 && m.hasV2Fields() {
		// A v1 writer knew no such field: the manifest was altered.
		return nil, fmt.Errorf("%s: schema %q with fields of %q: the manifest is damaged", ManifestName, m.Schema, ManifestSchema)
	}
	return &m, nil
}

// encodeManifest gives the canonical bytes of m: indented for people who open
// the ZIP, HTML characters left alone, and a final newline.
func encodeManifest(m *Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("evidence: encode manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// hasV2Fields reports whether m sets a field that schema v1 did not have.
func (m *Manifest) hasV2Fields() bool {
	h := &m.Message
	if len(h.Authors) > 0 || h.FromFields != 0 || h.AuthorsDropped != 0 || len(h.Automation) > 0 || h.ReportType != "" || h.TooComplex {
		return true
	}
	for _, o := range m.Originals {
		if len(o.Automation) > 0 || o.ReportType != "" {
			return true
		}
	}
	return false
}

// manifestComment is the ZIP comment of a bundle of schema whose manifest
// is manifest.
func manifestComment(schema string, manifest []byte) string {
	sum := sha256.Sum256(manifest)
	return schema + commentSuffix + hex.EncodeToString(sum[:])
}

// commentDigest extracts the schema and the manifest digest from a bundle's
// ZIP comment.
func commentDigest(comment string) (schema, digest string, ok bool) {
	schema, digest, ok = strings.Cut(comment, commentSuffix)
	if !ok || !knownSchema(schema) || !isSHA256Hex(digest) {
		return "", "", false
	}
	return schema, digest, true
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
