package evidence

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// bundleOf builds a bundle around a raw message with empty facts.
func bundleOf(t testing.TB, raw string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := WriteBundle(context.Background(), &buf, &BundleInput{
		Raw: strings.NewReader(raw), RawSize: int64(len(raw)), Facts: &Facts{},
	}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mixed builds a multipart/mixed message from parts, each a header block
// (without the blank line) and a body.
func mixed(parts ...[2]string) string {
	var b strings.Builder
	b.WriteString("From: jane@contoso.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n")
	for _, p := range parts {
		b.WriteString("--XX\r\n" + p[0] + "\r\n\r\n" + p[1] + "\r\n")
	}
	b.WriteString("--XX--\r\n")
	return b.String()
}

func attachmentPart(disposition, body string) [2]string {
	return [2]string{"Content-Type: application/octet-stream\r\nContent-Disposition: " + disposition + "\r\nContent-Transfer-Encoding: base64", base64.StdEncoding.EncodeToString([]byte(body))}
}

// readTree returns every file under dir by slash path, failing on anything
// that is not a regular file directly in dir.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		if !d.Type().IsRegular() || filepath.Dir(path) != dir {
			t.Errorf("Extract created %s (%v), want only files directly in %s", path, d.Type(), dir)
			return nil
		}
		b, err := os.ReadFile(path)
		got[d.Name()] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestExtract(t *testing.T) {
	pdf := "%PDF-1.4 not really\n"
	tests := []struct {
		name      string
		raw       string
		want      map[string]string // file name -> content
		wantErr   string            // "" for none
		wantLimit bool              // errors.Is(err, ErrExtractLimit)
	}{
		{
			name: "golden attachment with traversal name",
			raw:  mustRead(t, "testdata/bundle/attachment.eml"),
			want: map[string]string{"report.pdf": "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"},
		},
		{
			name: "forwarded original kept as .eml",
			raw:  mustRead(t, "testdata/bundle/forwarded.eml"),
			want: map[string]string{"Teams down again.eml": string(between(t, []byte(mustRead(t, "testdata/bundle/forwarded.eml")), "again.eml\"\r\n\r\n", "\r\n--b1--"))},
		},
		{
			name: "plain text message has no attachments",
			raw:  mustRead(t, "testdata/bundle/plain.eml"),
			want: map[string]string{},
		},
		{
			name: "hostile names",
			raw: mixed(
				attachmentPart(`attachment; filename="../../../../tmp/evil.sh"`, "1"),
				attachmentPart(`attachment; filename="/etc/passwd"`, "2"),
				attachmentPart(`attachment; filename="C:\\Windows\\system32\\x.dll"`, "3"),
				attachmentPart(`attachment; filename="CON"`, "4"),
				attachmentPart(`attachment; filename=".."`, "5"),
				attachmentPart(`attachment; filename="a.txt"`, "6"),
				attachmentPart(`attachment; filename="A.TXT"`, "7"),
				attachmentPart(`attachment; filename="=?utf-8?q?=2E=2E=2Fenc.txt?="`, "8"),
			),
			want: map[string]string{"evil.sh": "1", "passwd": "2", "x.dll": "3", "_CON": "4", "attachment-5.bin": "5", "a.txt": "6", "A (2).TXT": "7", "enc.txt": "8"},
		},
		{
			name: "unnamed parts get typed names",
			raw: mixed(
				[2]string{"Content-Type: text/plain", "the body, not an attachment"},
				[2]string{"Content-Type: image/png\r\nContent-Transfer-Encoding: base64", base64.StdEncoding.EncodeToString([]byte("PNG"))},
				[2]string{"Content-Type: text/plain\r\nContent-Disposition: attachment", "a text attachment"},
			),
			want: map[string]string{"attachment-2.png": "PNG", "attachment-3.txt": "a text attachment"},
		},
		{
			name: "invalid base64 skipped, others written",
			raw: mixed(
				[2]string{"Content-Type: application/pdf; name=bad.pdf\r\nContent-Transfer-Encoding: base64", "!!!! not base64 ####"},
				attachmentPart(`attachment; filename="good.pdf"`, pdf),
			),
			want:    map[string]string{"good.pdf": pdf},
			wantErr: `"bad.pdf" not written`,
		},
		{
			name: "unknown transfer encoding skipped",
			raw: mixed(
				[2]string{"Content-Type: application/pdf; name=odd.pdf\r\nContent-Transfer-Encoding: x-rot13", "data"},
				attachmentPart(`attachment; filename="good.pdf"`, pdf),
			),
			want:    map[string]string{"good.pdf": pdf},
			wantErr: `"odd.pdf"`,
		},
		{
			// The bytes are the sender's, not converted: a charset we do
			// not know is no obstacle.
			name: "unknown charset kept as is",
			raw: mixed(
				[2]string{"Content-Type: text/plain; charset=x-klingon; name=notes.txt\r\nContent-Disposition: attachment", "nuqneH \xff\xfe"},
				[2]string{"Content-Type: text/plain; charset=iso-8859-2; name=cz.txt\r\nContent-Disposition: attachment", "V\xfdpadek"},
			),
			want: map[string]string{"notes.txt": "nuqneH \xff\xfe", "cz.txt": "V\xfdpadek"},
		},
		{
			name: "1 MB header lines",
			raw: "X-Long: " + strings.Repeat("h", 1<<20) + "\r\n" + mixed(
				[2]string{"Content-Type: application/pdf; name=a.pdf\r\nX-Part-Long: " + strings.Repeat("p", 1<<20), "x"},
			),
			want: map[string]string{"a.pdf": "x"},
		},
		{
			name:    "header block over the limit",
			raw:     strings.Repeat("X-Long: "+strings.Repeat("h", 1<<20)+"\r\n", 5) + "\r\nbody",
			want:    map[string]string{},
			wantErr: "header block larger",
		},
		{
			name:      "one part more than the parse reads",
			raw:       manyParts(DefaultMaxParts + 1),
			want:      nil, // checked below: the first maxExtractParts
			wantLimit: true,
		},
		{
			// RFC 5322 section 2.2 field names are printable ASCII; the
			// parse reads past one that is not, and so must Extract.
			name: "field names with a space and a non-ASCII letter",
			raw: "Received: from mx.contoso.com\r\nX Mailer Name: Outlook\r\n  continued\r\n\xc3\x9cbersetzt: ja\r\n" + mixed(
				[2]string{"Content-Type: application/pdf; name=a.pdf", "x"},
			),
			want: map[string]string{"a.pdf": "x"},
		},
		{
			name: "indented line before the first field (RFC 5322 section 2.2.3 has nothing to continue)",
			raw:  "  stray\r\n" + mixed([2]string{"Content-Type: application/pdf; name=a.pdf", "x"}),
			want: map[string]string{"a.pdf": "x"},
		},
		{
			// Classic Mac OS mail: the parse reads it with CRLF line
			// breaks (lineBreaksForParsing), and so must Extract.
			name: "bare CR line breaks",
			raw:  strings.ReplaceAll(mixed([2]string{"Content-Type: application/pdf; name=a.pdf", "x"}), "\r\n", "\r"),
			want: map[string]string{"a.pdf": "x"},
		},
		{
			name: "LF CR line breaks (a CRLF conversion applied backwards)",
			raw:  strings.ReplaceAll(mixed([2]string{"Content-Type: application/pdf; name=a.pdf", "x"}), "\r\n", "\n\r"),
			want: map[string]string{"a.pdf": "x"},
		},
		{
			// Over the parse's MaxBytes the parse declares it malformed
			// and reads nothing: Extract says so rather than write nothing
			// in silence.
			name:    "bare CR line breaks over the parse's limit",
			raw:     strings.ReplaceAll(mixed([2]string{"Content-Type: application/pdf; name=a.pdf", strings.Repeat("x", DefaultMaxBytes)}), "\r\n", "\r"),
			want:    map[string]string{},
			wantErr: "malformed",
		},
		{
			// RFC 5322 section 2.2.3 folds start with whitespace; this one
			// lost it. The parse reads it as a fold (scanHeaderBlock), and
			// so must Extract.
			name: "header line that lost its indentation",
			raw:  strings.Replace(mixed([2]string{"Content-Type: application/pdf; name=a.pdf", "x"}), "Subject: parts\r\n", "Subject: parts\r\nof the mailbox\r\n", 1),
			want: map[string]string{"a.pdf": "x"},
		},
		{
			// RFC 5322 section 2.1: the blank line is missing, so the body
			// starts at the first line that is no field, as the parse reads it.
			name: "no blank line after the header",
			raw:  "From: jane@contoso.com\r\nContent-Type: application/pdf; name=a.pdf\r\n%PDF-1.4 body\r\n",
			want: map[string]string{"a.pdf": "%PDF-1.4 body\r\n"},
		},
		{
			name: "mbox From line before the header",
			raw:  "From jane@contoso.com Mon Dec  7 09:00:00 2026\r\n" + mixed([2]string{"Content-Type: application/pdf; name=a.pdf", "x"}),
			want: map[string]string{"a.pdf": "x"},
		},
		{
			name: "message/rfc822 nested 20 deep",
			raw:  nestedRFC822(20),
			want: map[string]string{"attachment-1.eml": nestedRFC822(19)},
		},
		{
			name:      "multipart nested 100 deep",
			raw:       nestedMultipart(100),
			want:      map[string]string{},
			wantLimit: true,
		},
		{
			name: "multipart nested 20 deep",
			raw:  nestedMultipart(20),
			want: map[string]string{"deep.bin": "deep"},
		},
		{
			name:    "missing boundary",
			raw:     "Content-Type: multipart/mixed\r\n\r\n--XX\r\nContent-Type: application/pdf\r\n\r\nx\r\n--XX--\r\n",
			want:    map[string]string{},
			wantErr: "boundary is empty",
		},
		{
			// The parse reads a first line that is no field as the start
			// of the body (scanHeaderBlock): a header-less text, nothing
			// attached.
			name: "first line no field, the rest a multipart",
			raw:  "X Mailer Name: Outlook\r\n" + mixed([2]string{"Content-Type: application/pdf; name=a.pdf", "x"}),
			want: map[string]string{},
		},
		{
			// The parse finds no header and no attachment in it: nothing
			// to write, and nothing wrong with writing nothing.
			name: "not MIME at all",
			raw:  "just some bytes\x00\x01 without a header",
			want: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bundleOf(t, tt.raw)
			dir := t.TempDir()
			names, err := Extract(bytes.NewReader(b), int64(len(b)), dir)
			switch {
			case tt.wantLimit:
				if !errors.Is(err, ErrExtractLimit) {
					t.Errorf("Extract() error = %v, want ErrExtractLimit", err)
				}
			case tt.wantErr == "":
				if err != nil {
					t.Errorf("Extract() error = %v", err)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Extract() error = %v, want one containing %q", err, tt.wantErr)
				}
			}
			got := readTree(t, dir)
			gotNames := slices.Sorted(func(yield func(string) bool) {
				for n := range got {
					if !yield(n) {
						return
					}
				}
			})
			if !slices.Equal(slices.Sorted(slices.Values(names)), gotNames) {
				t.Errorf("Extract() = %q, but the directory holds %q", names, gotNames)
			}
			if tt.want == nil {
				if len(got) != maxExtractParts {
					t.Errorf("Extract() wrote %d files, want the first %d", len(got), maxExtractParts)
				}
				return
			}
			for name, content := range tt.want {
				if g, ok := got[name]; !ok || g != content {
					t.Errorf("file %q = %q (present %v), want %q", name, truncate(g, 80), ok, truncate(content, 80))
				}
			}
			for name := range got {
				if _, ok := tt.want[name]; !ok {
					t.Errorf("Extract() wrote %q, want only %q", name, slices.Collect(func(yield func(string) bool) {
						for n := range tt.want {
							yield(n)
						}
					}))
				}
			}
		})
	}
}

func TestExtractKeepsExistingFiles(t *testing.T) {
	b := bundleOf(t, mustRead(t, "testdata/bundle/attachment.eml"))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Report.pdf"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for round, want := range []string{"report (2).pdf", "report (3).pdf"} {
		names, err := Extract(bytes.NewReader(b), int64(len(b)), dir)
		if err != nil || len(names) != 1 || names[0] != want {
			t.Errorf("Extract() round %d = %q, %v; want [%q]", round+1, names, err, want)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "Report.pdf")); string(got) != "mine" {
		t.Errorf("existing Report.pdf = %q, want it untouched", got)
	}
}

func TestExtractErrors(t *testing.T) {
	good := bundleOf(t, mustRead(t, "testdata/bundle/attachment.eml"))
	noMessage := rezip(t, good, func(n string, d []byte) (string, []byte, bool) { return n, d, n != MessageName }, nil)
	tests := []struct {
		name    string
		bundle  []byte
		dir     string
		wantErr string
	}{
		{"not a zip", []byte("PK nonsense"), t.TempDir(), "not a bundle"},
		{"no message.eml", noMessage, t.TempDir(), "message.eml missing"},
		{"directory missing", good, filepath.Join(t.TempDir(), "nope"), "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract(bytes.NewReader(tt.bundle), int64(len(tt.bundle)), tt.dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Extract() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestExtractSymlinkInDir checks that a symbolic link planted in the target
// directory under an attachment's name is not followed out of it.
func TestExtractSymlinkInDir(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(outside, "report.pdf"), filepath.Join(dir, "report.pdf")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	b := bundleOf(t, mustRead(t, "testdata/bundle/attachment.eml"))
	names, err := Extract(bytes.NewReader(b), int64(len(b)), dir)
	if err != nil || !slices.Equal(names, []string{"report (2).pdf"}) {
		t.Errorf("Extract() = %q, %v; want [report (2).pdf]", names, err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("Extract() wrote %v outside its directory", entries)
	}
}

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func manyParts(n int) string {
	parts := make([][2]string, n)
	for i := range parts {
		parts[i] = [2]string{fmt.Sprintf("Content-Type: application/octet-stream; name=p%d.bin", i), "x"}
	}
	return mixed(parts...)
}

// nestedRFC822 is a message forwarded as attachment depth times.
func nestedRFC822(depth int) string {
	msg := "From: jane@contoso.com\r\nSubject: level 0\r\n\r\ninnermost\r\n"
	for i := 1; i <= depth; i++ {
		msg = mixed([2]string{"Content-Type: message/rfc822", msg})
		msg = strings.Replace(msg, "Subject: parts", fmt.Sprintf("Subject: level %d", i), 1)
		msg = strings.ReplaceAll(msg, "XX", fmt.Sprintf("B%d", i))
	}
	return msg
}

// nestedMultipart nests multipart/mixed depth deep around one attachment.
func nestedMultipart(depth int) string {
	body := "Content-Type: application/octet-stream; name=deep.bin\r\n\r\ndeep"
	for i := depth; i >= 1; i-- {
		b := fmt.Sprintf("b%d", i)
		body = "Content-Type: multipart/mixed; boundary=" + b + "\r\n\r\n--" + b + "\r\n" + body + "\r\n--" + b + "--"
	}
	return "From: jane@contoso.com\r\n" + body + "\r\n"
}

// checkExtracted fails unless dir holds exactly names, as regular files
// directly inside it.
func checkExtracted(t *testing.T, dir string, names []string) {
	t.Helper()
	got := readTree(t, dir)
	if len(got) != len(names) {
		t.Fatalf("Extract() returned %d names, directory holds %d files", len(names), len(got))
	}
	for _, n := range names {
		if _, ok := got[n]; !ok || !filepath.IsLocal(n) || n != SafeName(n, map[string]int{}) {
			t.Fatalf("Extract() returned %q: not a safe file in the directory", n)
		}
	}
}

// FuzzExtract wraps arbitrary message bytes, seeded with the golden
// messages and the hostile shapes above, in a bundle and extracts it.
func FuzzExtract(f *testing.F) {
	for _, c := range bundleCases {
		f.Add([]byte(mustRead(f, filepath.Join("testdata", "bundle", c.name+".eml"))))
	}
	for _, raw := range corpus(f) {
		f.Add(raw)
	}
	f.Add([]byte(nestedRFC822(3)))
	f.Add([]byte(nestedMultipart(5)))
	f.Add([]byte(manyParts(3)))
	f.Add([]byte(strings.ReplaceAll(mixed(attachmentPart(`attachment; filename="cr.txt"`, "1")), "\r\n", "\r")))
	f.Add([]byte("From: a@contoso.com\r\nSubject: x\r\nof the mailbox\r\nContent-Type: application/pdf\r\n%PDF no blank line\r\n"))
	f.Add([]byte(mixed(attachmentPart(`attachment; filename="../x"`, "1"), [2]string{"Content-Type: application/pdf; name=b.pdf\r\nContent-Transfer-Encoding: quoted-printable", "=ZZ=\r\n"})))
	f.Fuzz(func(t *testing.T, raw []byte) {
		b := bundleOf(t, string(raw))
		dir := t.TempDir()
		names, _ := Extract(bytes.NewReader(b), int64(len(b)), dir)
		checkExtracted(t, dir, names)
	})
}

// corpus returns the shared .eml corpus (testdata/mail at the module root).
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "mail", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Skip("no .eml corpus in ../testdata/mail")
	}
	msgs := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		msgs[filepath.Base(p)] = b
	}
	return msgs
}

// TestCorpusBundles bundles, verifies and extracts every message of the
// shared corpus: whatever the mail, the bundle verifies and holds it byte
// for byte, and extraction stays in its directory.
func TestCorpusBundles(t *testing.T) {
	for name, raw := range corpus(t) {
		t.Run(name, func(t *testing.T) {
			b := bundleOf(t, string(raw))
			if err := verifyBytes(b, BundleKey(sha256Hex(raw), 1)); err != nil {
				t.Fatalf("VerifyBundle() = %v", err)
			}
			if again := bundleOf(t, string(raw)); !bytes.Equal(again, b) {
				t.Errorf("two builds differ")
			}
			_, files := zipEntries(t, b)
			if !bytes.Equal(files[MessageName], raw) {
				t.Errorf("%s differs from the message", MessageName)
			}
			dir := t.TempDir()
			names, err := Extract(bytes.NewReader(b), int64(len(b)), dir)
			f, _ := ParseBytes(raw, nil)
			if err != nil && !strings.HasPrefix(name, "rejected-malformed-") && !sameLimit(err, f) {
				t.Errorf("Extract() error = %v", err)
			}
			checkExtracted(t, dir, names)
		})
	}
}

// TestExtractMatchesParse checks that Extract writes the files Parse
// describes: the same bytes (by SHA-256) as each Facts.Attachments entry, so
// an analyst can match an extracted file to the manifest.
func TestExtractMatchesParse(t *testing.T) {
	msgs := corpus(t)
	for _, c := range bundleCases {
		msgs[c.name+".eml"] = []byte(mustRead(t, filepath.Join("testdata", "bundle", c.name+".eml")))
	}
	for name, raw := range msgs {
		t.Run(name, func(t *testing.T) {
			f, err := ParseBytes(raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := bundleOf(t, string(raw))
			dir := t.TempDir()
			names, err := Extract(bytes.NewReader(b), int64(len(b)), dir)
			if err != nil && !f.Malformed && !sameLimit(err, f) {
				t.Errorf("Extract() error = %v", err)
			}
			var got, want []string
			for _, n := range names {
				data, err := os.ReadFile(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, sha256Hex(data))
			}
			for _, a := range f.Attachments {
				want = append(want, a.SHA256)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("Extract() wrote %q with digests %q; Parse lists attachments %+v", names, got, f.Attachments)
			}
		})
	}
}

// sameLimit reports whether err is Extract stopping at a limit the parse
// also stopped at, with its warning: the two walk as far (issue 16).
func sameLimit(err error, f *Facts) bool {
	if !errors.Is(err, ErrExtractLimit) {
		return false
	}
	for _, w := range f.Warnings {
		if strings.Contains(w, "MIME parts: the rest were not read") && strings.Contains(err.Error(), "parts") ||
			strings.Contains(w, "nested deeper than") && strings.Contains(err.Error(), "nested") {
			return true
		}
	}
	return false
}
