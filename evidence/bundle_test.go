package evidence

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/bundle")

// bundleCase is one golden bundle: a message from testdata/bundle, the facts
// a parse of it gives, its judgment and provenance.
type bundleCase struct {
	name     string
	facts    func(t testing.TB, raw []byte) *Facts
	judgment rules.Judgment
	prov     Provenance
}

func mustDate(s string) time.Time {
	d, err := time.Parse(time.RFC1123Z, s)
	if err != nil {
		panic(err)
	}
	return d
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// between returns the bytes of raw after the first start and before the
// following end, failing when either is missing.
func between(t testing.TB, raw []byte, start, end string) []byte {
	t.Helper()
	i := bytes.Index(raw, []byte(start))
	if i < 0 {
		t.Fatalf("%q not in the message", start)
	}
	rest := raw[i+len(start):]
	j := bytes.Index(rest, []byte(end))
	if j < 0 {
		t.Fatalf("%q not in the message after %q", end, start)
	}
	return rest[:j]
}

// parsed returns the facts Parse gives raw, with DKIM results set by hand
// (VerifyDKIM's own tests cover how they are found).
func parsed(dkim []DKIMCheck) func(t testing.TB, raw []byte) *Facts {
	return func(t testing.TB, raw []byte) *Facts {
		t.Helper()
		f, err := ParseBytes(raw, nil)
		if err != nil {
			t.Fatalf("ParseBytes() error = %v", err)
		}
		f.DKIM = dkim
		return f
	}
}

// bundleCases are the golden bundles: the messages in testdata/bundle as
// Parse reads them, judged by hand.
var bundleCases = []bundleCase{
	{
		name: "plain",
		facts: parsed([]DKIMCheck{{Domain: "contoso.com", Selector: "sel1", Pass: true, Result: DKIMPass,
			TXT: []string{"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}}}),
		judgment: rules.Judgment{
			Verdict: rules.Accepted, Sender: "jane@contoso.com", SenderDomain: "contoso.com",
			TenantID: "6f1c2a9e-3b7d-4e2f-9a61-0c5d8e7f4b21", IncidentIDs: []string{"EX25194"},
			Authentication: rules.AuthPass,
		},
		prov: Provenance{
			Mailbox: "claims@partner.example", Folder: "INBOX", UIDValidity: 1740000000, UID: 42,
			InternalDate: mustDate("Mon, 17 Feb 2025 08:31:03 +0000"),
		},
	},
	{
		name:  "forwarded",
		facts: parsed(nil),
		judgment: rules.Judgment{
			Verdict: rules.Accepted, Sender: "piet@fabrikam.nl", SenderDomain: "fabrikam.nl",
			TenantID: "0b7e5c1d-8a2f-4c3e-b6d9-71e4f2a8c950", IncidentIDs: []string{"TM1112332"},
			Authentication: rules.AuthNone, Original: 1,
			Warnings: []string{"original 1: DKIM signature of fabrikam.nl not verifiable inside a forward"},
		},
		prov: Provenance{Mailbox: "claims@partner.example", Folder: "INBOX", UIDValidity: 1740000000, UID: 57},
	},
	{
		name:  "attachment",
		facts: parsed([]DKIMCheck{}),
		judgment: rules.Judgment{
			Verdict: rules.Accepted, Sender: "jiri@contoso.com", SenderDomain: "contoso.com",
			TenantID: "6f1c2a9e-3b7d-4e2f-9a61-0c5d8e7f4b21", IncidentIDs: []string{"SP512345"},
			Authentication: rules.AuthPass,
		},
		prov: Provenance{Path: "testdata/bundle/attachment.eml"},
	},
	{
		// A Postfix bounce (RFC 3464): its manifest records the facts that
		// made it automatic.
		name:  "automatic",
		facts: parsed([]DKIMCheck{}),
		judgment: rules.Judgment{
			Verdict: rules.Rejected, Reason: rules.ReasonAutomatedMessage, Sender: "MAILER-DAEMON@mail.contoso.com", SenderDomain: "mail.contoso.com",
			TenantID: "6f1c2a9e-3b7d-4e2f-9a61-0c5d8e7f4b21", IncidentIDs: []string{}, Authentication: rules.AuthNone,
			Warnings: []string{"an automatic message, not the customer's own request: Auto-Submitted: auto-replied (RFC 3834)"},
		},
		prov: Provenance{Mailbox: "claims@partner.example", Folder: "INBOX", UIDValidity: 1740000000, UID: 58},
	},
	{
		name:  "nodate",
		facts: parsed(nil),
		judgment: rules.Judgment{
			Verdict: rules.Rejected, Reason: rules.ReasonNoSender, Authentication: rules.AuthNone,
		},
	},
}

// buildCase builds the bundle of one case from its message file.
func buildCase(t testing.TB, c bundleCase) (raw, bundle []byte, m *Manifest) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "bundle", c.name+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m, err = WriteBundle(context.Background(), &buf, &BundleInput{
		Raw: bytes.NewReader(raw), RawSize: int64(len(raw)),
		Facts: c.facts(t, raw), Judgment: c.judgment, Provenance: c.prov,
	})
	if err != nil {
		t.Fatalf("WriteBundle(%s) error = %v", c.name, err)
	}
	return raw, buf.Bytes(), m
}

// zipEntries reads every file of a ZIP into a map, in order.
func zipEntries(t testing.TB, b []byte) (*zip.Reader, map[string][]byte) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("zip.NewReader: %v", err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var data bytes.Buffer
		if _, err := data.ReadFrom(rc); err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		rc.Close()
		files[f.Name] = data.Bytes()
	}
	return zr, files
}

// listing describes a ZIP's entries and comment, one line each, for goldens.
func listing(zr *zip.Reader) string {
	var b strings.Builder
	for _, f := range zr.File {
		fmt.Fprintf(&b, "%-16s method=%d modified=%s size=%d crc32=%08x\n",
			f.Name, f.Method, f.Modified.UTC().Format(time.RFC3339), f.UncompressedSize64, f.CRC32)
	}
	fmt.Fprintf(&b, "comment: %s\n", zr.Comment)
	return b.String()
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "bundle", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestBundleGolden(t *testing.T) {
	for _, c := range bundleCases {
		t.Run(c.name, func(t *testing.T) {
			raw, bundle, m := buildCase(t, c)
			zr, files := zipEntries(t, bundle)
			checkGolden(t, c.name+".manifest.json", files[ManifestName])
			checkGolden(t, c.name+".listing.txt", []byte(listing(zr)))

			if !bytes.Equal(files[MessageName], raw) {
				t.Errorf("%s differs from the raw message", MessageName)
			}
			f := c.facts(t, raw)
			for i, o := range f.Originals {
				if got := files[OriginalName(i+1)]; !bytes.Equal(got, o.Raw) {
					t.Errorf("%s = %q, want the original's bytes %q", OriginalName(i+1), got, o.Raw)
				}
			}
			wantBody := f.Text
			if wantBody == "" {
				wantBody = f.HTMLText
			}
			if got := string(files[BodyName]); got != wantBody {
				t.Errorf("%s = %q, want %q", BodyName, got, wantBody)
			}
			// The manifest returned is the one stored.
			stored, err := decodeManifest(files[ManifestName])
			if err != nil {
				t.Fatal(err)
			}
			if stored.Raw != m.Raw || len(stored.Files) != len(m.Files) {
				t.Errorf("WriteBundle() returned manifest %+v, stored %+v", m.Raw, stored.Raw)
			}
			if m.Raw.SHA256 != sha256Hex(raw) || m.Raw.Size != int64(len(raw)) {
				t.Errorf("manifest raw = %+v, want sha256 %s size %d", m.Raw, sha256Hex(raw), len(raw))
			}
			if len(bundle) > len(raw)*2+4096 {
				t.Errorf("bundle is %d bytes for a %d-byte message", len(bundle), len(raw))
			}
		})
	}
}

// TestBundleDeterministic builds each bundle three ways (twice from memory,
// once from a spool whose SHA-256 is passed in) and wants the same bytes.
func TestBundleDeterministic(t *testing.T) {
	for _, c := range bundleCases {
		t.Run(c.name, func(t *testing.T) {
			raw, first, _ := buildCase(t, c)
			_, second, _ := buildCase(t, c)
			if !bytes.Equal(first, second) {
				t.Fatalf("two builds differ: %d and %d bytes", len(first), len(second))
			}
			sf, err := Spool(context.Background(), bytes.NewReader(raw), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer sf.Close()
			bf, _, err := SpoolBundle(context.Background(), t.TempDir(), &BundleInput{
				Raw: sf, RawSize: sf.Size(), RawSHA256: sf.SHA256(),
				Facts: c.facts(t, raw), Judgment: c.judgment, Provenance: c.prov,
			})
			if err != nil {
				t.Fatalf("SpoolBundle() error = %v", err)
			}
			defer bf.Close()
			third, err := os.ReadFile(bf.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, third) {
				t.Errorf("bundle from a spool differs from the bundle from memory")
			}
			if bf.SHA256() != sha256Hex(third) || bf.Size() != int64(len(third)) {
				t.Errorf("SpoolBundle() = sha256 %s size %d, want %s %d", bf.SHA256(), bf.Size(), sha256Hex(third), len(third))
			}
		})
	}
}

func TestBundleDates(t *testing.T) {
	raw := []byte("Subject: x\r\n\r\nbody\r\n")
	tests := []struct {
		name string
		date time.Time
		want time.Time
	}{
		{"no date: fixed epoch", time.Time{}, bundleEpoch},
		{"before 1980", mustDate("Thu, 01 Jan 1970 00:00:00 +0000"), bundleEpoch},
		{"far future", mustDate("Sat, 01 Jan 2500 00:00:00 +0000"), bundleLatest},
		{"zone converted to UTC", mustDate("Mon, 17 Feb 2025 09:30:01 +0100"), time.Date(2025, 2, 17, 8, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := WriteBundle(context.Background(), &buf, &BundleInput{
				Raw: bytes.NewReader(raw), RawSize: int64(len(raw)), Facts: &Facts{Date: tt.date},
			})
			if err != nil {
				t.Fatal(err)
			}
			zr, _ := zipEntries(t, buf.Bytes())
			for _, f := range zr.File {
				if !f.Modified.Equal(tt.want) {
					t.Errorf("%s modified = %v, want %v", f.Name, f.Modified, tt.want)
				}
			}
			if err := VerifyBundle(bytes.NewReader(buf.Bytes()), int64(buf.Len()), ""); err != nil {
				t.Errorf("VerifyBundle() = %v", err)
			}
		})
	}
}

func TestWriteBundleErrors(t *testing.T) {
	raw := []byte("Subject: x\r\n\r\nbody\r\n")
	tests := []struct {
		name    string
		in      *BundleInput
		wantErr string
	}{
		{"nil input", nil, "no raw message"},
		{"negative size", &BundleInput{Raw: bytes.NewReader(raw), RawSize: -1}, "raw size"},
		{"raw shorter than said", &BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw)) + 5}, "ended after 20 of 25 bytes"},
		{"wrong SHA-256 given", &BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw)), RawSHA256: strings.Repeat("0", 64)}, "sha256 mismatch"},
		{"malformed SHA-256 given", &BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw)), RawSHA256: "ABC"}, "64 lowercase hex"},
		{"verified raw shorter than said", &BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw)) + 5, RawSHA256: sha256Hex(raw), RawVerified: true}, "ended after 20 of 25 bytes"},
		{"verified but malformed SHA-256", &BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw)), RawSHA256: "ABC", RawVerified: true}, "64 lowercase hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := WriteBundle(context.Background(), &buf, tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("WriteBundle() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := WriteBundle(ctx, &bytes.Buffer{}, &BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw))})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("WriteBundle(canceled) error = %v, want context.Canceled", err)
	}
}

// TestWriteBundleRawVerified: a raw message the caller hashed in memory is
// copied without a second hash, into the same bundle, byte for byte.
func TestWriteBundleRawVerified(t *testing.T) {
	raw := []byte("From: a@contoso.com\r\nSubject: EX25194\r\n\r\nbody\r\n")
	bundle := func(verified bool) []byte {
		var buf bytes.Buffer
		in := &BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw)), RawSHA256: sha256Hex(raw), RawVerified: verified, Facts: &Facts{}}
		if _, err := WriteBundle(context.Background(), &buf, in); err != nil {
			t.Fatalf("WriteBundle(RawVerified: %v) = %v", verified, err)
		}
		return buf.Bytes()
	}
	if checked, trusted := bundle(false), bundle(true); !bytes.Equal(checked, trusted) {
		t.Errorf("bundle with RawVerified differs from the checked one (%d against %d bytes)", len(trusted), len(checked))
	}
}

func TestWriteBundleNilFacts(t *testing.T) {
	raw := []byte("garbage without a header")
	var buf bytes.Buffer
	m, err := WriteBundle(context.Background(), &buf, &BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw))})
	if err != nil {
		t.Fatalf("WriteBundle() error = %v", err)
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "no parsed facts") {
		t.Errorf("manifest warnings = %q, want one about the missing facts", m.Warnings)
	}
	if m.Authentication.DKIMVerified {
		t.Errorf("DKIMVerified = true for a message never verified")
	}
	if err := VerifyBundle(bytes.NewReader(buf.Bytes()), int64(buf.Len()), BundleKey(sha256Hex(raw), 1)); err != nil {
		t.Errorf("VerifyBundle() = %v", err)
	}
}

func TestBundleKey(t *testing.T) {
	sha := sha256Hex([]byte("x"))
	if got, want := BundleKey(sha, 3), "bundles/"+sha+"/3.zip"; got != want {
		t.Errorf("BundleKey() = %s, want %s", got, want)
	}
	for _, n := range []int{1, 2, 10, 12345} {
		gotSHA, gotN, err := ParseBundleKey(BundleKey(sha, n))
		if err != nil || gotSHA != sha || gotN != n {
			t.Errorf("ParseBundleKey(BundleKey(%s, %d)) = %s, %d, %v", sha, n, gotSHA, gotN, err)
		}
	}
	bad := []struct{ name, key string }{
		{"empty", ""},
		{"no prefix", sha + "/1.zip"},
		{"uppercase hex", "bundles/" + strings.ToUpper(sha) + "/1.zip"},
		{"short hash", "bundles/" + sha[:63] + "/1.zip"},
		{"zero", "bundles/" + sha + "/0.zip"},
		{"negative", "bundles/" + sha + "/-1.zip"},
		{"leading zero", "bundles/" + sha + "/01.zip"},
		{"plus sign", "bundles/" + sha + "/+1.zip"},
		{"no extension", "bundles/" + sha + "/1"},
		{"extra element", "bundles/" + sha + "/1/2.zip"},
		{"traversal", "bundles/" + sha + "/../1.zip"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ParseBundleKey(tt.key); err == nil {
				t.Errorf("ParseBundleKey(%q) error = nil, want an error", tt.key)
			}
		})
	}
}

// TestBundleHostileFacts gives WriteBundle what a parse of hostile mail can
// yield: invalid UTF-8 and controls in headers, traversal in names, 10,000
// attachments, an original without bytes. The bundle still verifies, the
// manifest still decodes, and the problems are warned about, not hidden.
func TestBundleHostileFacts(t *testing.T) {
	raw := []byte("Subject: \xff\xfe\r\n\r\nx\r\n")
	f := &Facts{
		Subject: "bad \xff utf-8 \x00 and \u202e controls",
		From:    "\"../../etc\" <a@b>",
		Originals: []Original{
			{Raw: []byte("From: c@d\r\n\r\ninner\r\n"), Facts: &Facts{Subject: "inner \xc3"}},
			{Raw: nil, Facts: &Facts{}},
		},
	}
	for i := range 10_000 {
		f.Attachments = append(f.Attachments, Attachment{Name: fmt.Sprintf("../%d/\x00.pdf", i), ContentType: "application/pdf", Size: 1, SHA256: strings.Repeat("0", 64)})
	}
	var buf bytes.Buffer
	m, err := WriteBundle(context.Background(), &buf, &BundleInput{Raw: bytes.NewReader(raw), RawSize: int64(len(raw)), Facts: f})
	if err != nil {
		t.Fatalf("WriteBundle() error = %v", err)
	}
	if err := verifyBytes(buf.Bytes(), ""); err != nil {
		t.Fatalf("VerifyBundle() = %v", err)
	}
	got, err := ReadManifest(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("ReadManifest() error = %v", err)
	}
	if len(got.Attachments) != 10_000 || len(got.Originals) != 1 {
		t.Errorf("manifest has %d attachments, %d originals; want 10000 and 1", len(got.Attachments), len(got.Originals))
	}
	if len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "original 2 has no bytes") {
		t.Errorf("manifest warnings = %q, want one about original 2", m.Warnings)
	}
	_, files := zipEntries(t, buf.Bytes())
	for name := range files {
		if !filepath.IsLocal(name) || strings.ContainsAny(name, `\/`) {
			t.Errorf("bundle holds %q, want only flat local names", name)
		}
	}
}

// TestDecodeManifestWithoutAuthors: manifests written before rules
// 2026.12.1 have no authors or from_fields and must still decode.
func TestDecodeManifestWithoutAuthors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "bundle", "plain.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	msg := doc["message"].(map[string]any)
	if _, ok := msg["authors"]; !ok {
		t.Fatal("the golden manifest has no message.authors; this test would prove nothing")
	}
	delete(msg, "authors")
	delete(msg, "from_fields")
	old, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeManifest(old)
	if err != nil {
		t.Fatalf("decodeManifest(manifest without authors) = %v", err)
	}
	if m.Message.Authors != nil || m.Message.FromFields != 0 || m.Message.Sender != "jane@contoso.com" {
		t.Errorf("decodeManifest(manifest without authors).Message = %+v", m.Message)
	}
}
