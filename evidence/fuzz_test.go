package evidence

import (
	"bufio"
	"bytes"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/net/html"
)

// seedCorpus adds every .eml of the shared corpus and of this package's
// testdata as a seed.
func seedCorpus(f *testing.F) {
	for _, pattern := range []string{"../testdata/mail/*.eml", "testdata/parse/*.eml"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
			// The same after an mbox "From " line, which the parse skips.
			f.Add(append([]byte("From sender@example.com Mon Mar  3 09:15:00 2025\r\n"), b...))
		}
	}
	f.Add(manyPartsMessage(3))
	f.Add(nestedOriginals(3))
	f.Add(nestedMultiparts(3))
}

// FuzzParse runs both parses, in full and streamed, on arbitrary input:
// neither may panic (not even into the last-resort recover), hang or
// return an error for bytes in memory, and the facts must hold together.
func FuzzParse(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		orig := bytes.Clone(raw)
		for _, opts := range []*ParseOptions{nil, {MaxBytes: 1 + int64(len(raw))/2, MaxDepth: 3, MaxOriginals: 4, MaxParts: 50}} {
			facts, err := ParseBytes(raw, opts)
			if err != nil {
				t.Fatalf("ParseBytes(%+v) error = %v; want nil for bytes in memory", opts, err)
			}
			if !bytes.Equal(raw, orig) {
				t.Fatalf("ParseBytes(%+v) changed the message it was given", opts)
			}
			checkFacts(t, facts, 0)
			_ = facts.RulesMessage()
			// ParseBytes reads the bytes in place, Parse a copy of them.
			copied, err := Parse(bytes.NewReader(raw), int64(len(raw)), opts)
			if err != nil {
				t.Fatalf("Parse(%+v) error = %v", opts, err)
			}
			if !reflect.DeepEqual(facts, copied) {
				t.Fatalf("ParseBytes(%+v) and Parse differ:\n%+v\n%+v", opts, facts, copied)
			}
		}
	})
}

// checkFacts checks what must hold of any Facts.
func checkFacts(t *testing.T, f *Facts, depth int) {
	t.Helper()
	if f == nil {
		t.Fatal("facts are nil")
	}
	for _, w := range f.Warnings {
		if strings.HasPrefix(w, panicWarning) {
			t.Fatalf("parse panicked: %s", w)
		}
	}
	if len(f.Warnings) > maxWarnings+1 {
		t.Errorf("%d warnings, want at most %d", len(f.Warnings), maxWarnings+1)
	}
	for name, s := range map[string]string{"Text": f.Text, "HTMLText": f.HTMLText, "Subject": f.Subject, "From": f.From} {
		if !utf8.ValidString(s) {
			t.Errorf("%s is not valid UTF-8: %q", name, s)
		}
	}
	if f.Sender != "" && !strings.Contains(f.Sender, "@") {
		t.Errorf("Sender = %q, want an addr-spec or empty", f.Sender)
	}
	for name, v := range f.Automation {
		if len(v) > maxAutomationValue+len("...") {
			t.Errorf("Automation[%s] is %d bytes, want at most %d", name, len(v), maxAutomationValue+3)
		}
	}
	if strings.HasPrefix(f.ReportType, " ") || len(f.ReportType) > 64+len("...") {
		t.Errorf("ReportType = %q, want a trimmed report-type of at most 64 bytes", f.ReportType)
	}
	for _, a := range f.Attachments {
		if a.Size < 0 || len(a.SHA256) != 64 {
			t.Errorf("attachment %+v: bad size or digest", a)
		}
	}
	for _, o := range f.Originals {
		if o.Facts == nil {
			t.Fatal("an original without facts")
		}
		checkFacts(t, o.Facts, depth+1)
	}
}

// FuzzBase64Decoder checks the lenient decoder against the standard
// encoder: whatever encoding/base64 writes, it must read back exactly.
func FuzzBase64Decoder(f *testing.F) {
	f.Add([]byte("Hello world"))
	f.Add([]byte{0, 0xff, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		var enc bytes.Buffer
		encodeBase64(&enc, data)
		got, err := io.ReadAll(newBase64Decoder(&enc))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("base64 round trip of %q = %q, %v", data, got, err)
		}
		// And on arbitrary input it must not fail.
		if _, err := io.ReadAll(newBase64Decoder(bytes.NewReader(data))); err != nil {
			t.Fatalf("base64 decode of %q: %v", data, err)
		}
	})
}

// FuzzQPDecoder does the same for quoted-printable.
func FuzzQPDecoder(f *testing.F) {
	f.Add([]byte("Grüße = 100 %\r\nline two  \r\n"))
	f.Add([]byte("a\rb\nc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var enc bytes.Buffer
		qw := quotedprintable.NewWriter(&enc)
		qw.Binary = true // line breaks encoded too, so any bytes survive
		_, _ = qw.Write(data)
		_ = qw.Close()
		got, err := io.ReadAll(newQPDecoder(&enc))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("QP round trip of %q (encoded %q) = %q, %v", data, enc.String(), got, err)
		}
		if _, err := io.ReadAll(newQPDecoder(bytes.NewReader(data))); err != nil {
			t.Fatalf("QP decode of %q: %v", data, err)
		}
	})
}

// FuzzParseDate checks the date parser on arbitrary field values: a date
// read without a problem is a real one, and an unreadable one is zero.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"Thu, 13 Feb 2025 10:00:00 +0100 (CET)", "2025-03-03T09:15:00Z", "Mon Mar  3 09:15:00 2025", "3 Mar 25 9.15 GMT+0100"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, problem := parseDate(v)
		if problem == "" && d.IsZero() {
			t.Fatalf("parseDate(%q) = zero time without a problem", v)
		}
		if !d.IsZero() && (d.Year() < 1899 || d.Year() > 10000) {
			t.Fatalf("parseDate(%q) = %v, out of range", v, d)
		}
	})
}

// FuzzFromAddresses checks From parsing: the sender is empty or an
// addr-spec whose domain is lower-case ASCII and the first author, and no
// non-empty field loses its authors.
func FuzzFromAddresses(f *testing.F) {
	for _, s := range []string{`"Novák, Jan" <jan@contoso.cz>`, "=?utf-8?q?a=2C_b?= <x@příklad.cz>", "a@b, c@d", "undisclosed-recipients:;",
		"Jane Doe <jane.doe@contoso.com>, Mark Ellis <mark.ellis@it.contoso.com>", "a@contoso.cz, b@",
		`"jane@contoso.com"@gmail.com`, `"a\"b"@contoso.com`, `<"x y"@contoso.com>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		authors, addr := fromAddresses(v, func(string) {})
		if strings.TrimSpace(v) != "" && len(authors) == 0 {
			t.Fatalf("fromAddresses(%q) = no authors for a non-empty field", v)
		}
		if addr == "" {
			return
		}
		if authors[0] != addr {
			t.Fatalf("fromAddresses(%q) = %q, sender %q is not the first author", v, authors, addr)
		}
		at := strings.LastIndexByte(addr, '@')
		if at <= 0 || at == len(addr)-1 {
			t.Fatalf("fromAddresses(%q) = %q, not an addr-spec", v, addr)
		}
		if d := addr[at+1:]; d != strings.ToLower(d) {
			t.Fatalf("fromAddresses(%q) = %q, domain not lower-case", v, addr)
		}
		// The address reads back as itself: its quotes are where they must be.
		if a, err := mail.ParseAddress(addr); err == nil && a.Address != "" {
			if again, _ := normalizeAddress(a.Address); again != addr {
				t.Fatalf("fromAddresses(%q) = %q, which reads back as %q", v, addr, again)
			}
		}
	})
}

// FuzzRenderHTML: rendering never panics, stays linear in size and valid
// UTF-8, and text without markup renders as itself with its white space
// collapsed.
func FuzzRenderHTML(f *testing.F) {
	for _, s := range []string{
		"<p class=MsoNormal><span>EX315</span><span>207<o:p></o:p></span></p>", "EX<b>315207</b>",
		"EX315<!-- -->207", "&#69;X315207", "<pre>a  b</pre>", "<head><title>t</title></head><body>x</body>",
		"<!--[if !mso]><!--><p>EX315207</p><!--<![endif]-->", "<script>x", "<template><p>", "<a href=",
		strings.Repeat("<div>", 600) + "EX315207", "  a \t\r\n b ", "",
	} {
		f.Add(s)
	}
	paths, _ := filepath.Glob("../testdata/mail/*.eml")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(bytes.ToLower(b), []byte("<html")) {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		// rawTagKind reads a tag's name as the tokenizer does.
		z := html.NewTokenizer(strings.NewReader(s))
		for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
			if tt == html.StartTagToken || tt == html.EndTagToken || tt == html.SelfClosingTagToken {
				raw := bytes.Clone(z.Raw())
				name, _ := z.TagName()
				if got, want := rawTagKind(raw), htmlKinds[string(name)]; got != want {
					t.Fatalf("rawTagKind(%q) = %d, want %d (TagName %q)", raw, got, want, name)
				}
			}
		}
		got := renderHTML(s, func(string) {})
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("renderHTML(%q) = %q, not valid UTF-8", s, got)
		}
		if len(got) > 2*len(s) {
			t.Fatalf("renderHTML(%q) = %d bytes from %d", s, len(got), len(s))
		}
		if !strings.ContainsAny(s, "<&\r\x00") && utf8.ValidString(s) {
			want := strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < utf8.RuneSelf && isHTMLSpace(byte(r)) }), " ")
			if got != want {
				t.Fatalf("renderHTML(%q) = %q, want %q: text without markup is itself", s, got, want)
			}
		}
	})
}

// FuzzBoundMediaType: what boundMediaType keeps of a media-type field is
// a prefix within both bounds, the whole field when it names no bound;
// overMediaTypeBound, scanning the field as a message line, agrees.
func FuzzBoundMediaType(f *testing.F) {
	for _, raw := range seedHeaders(f) {
		for line := range strings.SplitSeq(string(raw), "\n") {
			if name, v, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(strings.ToLower(name), "content-") {
				f.Add(strings.TrimSpace(v))
			}
		}
	}
	f.Add("attachment" + strings.Repeat("; filename*9*=%41", 70))
	f.Fuzz(func(t *testing.T, v string) {
		read, bound := boundMediaType(v)
		if !strings.HasPrefix(v, read) || len(read) > maxMediaTypeLen || strings.Count(read, ";") > maxMediaTypeParams {
			t.Fatalf("boundMediaType(%.80q) kept %.80q (bound %q): not a prefix within the bounds", v, read, bound)
		}
		if (bound == "") != (read == v) {
			t.Fatalf("boundMediaType(%.80q): bound %q but kept %d of %d bytes", v, bound, len(read), len(v))
		}
		if strings.ContainsAny(v, "\r\n") {
			return // folded: the message scan counts the field's lines differently
		}
		if field, _ := overMediaTypeBound([]byte("Content-Type: " + v + "\r\n")); field == "" && strings.Count(v, ";") > maxMediaTypeParams {
			t.Fatalf("overMediaTypeBound missed %d parameters", strings.Count(v, ";"))
		}
	})
}

// FuzzReadHeaderLenient: Extract's header reader never panics, and reads
// every field of a header block textproto.ReadHeader reads.
func FuzzReadHeaderLenient(f *testing.F) {
	for _, raw := range seedHeaders(f) {
		f.Add(raw)
	}
	f.Add([]byte("X Bad Name: a\r\n continued\r\nFrom: a@contoso.com\r\n\r\nbody"))
	f.Add([]byte("Subject: x\r\nof the mailbox\r\nMIME-Version: 1.0\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		h, err := readHeaderLenient(bufio.NewReader(bytes.NewReader(raw)))
		strict, serr := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
		if serr == nil && err == nil && h.Len() < strict.Len() {
			t.Fatalf("lenient read %d fields, textproto %d", h.Len(), strict.Len())
		}
	})
}

// seedHeaders are the header blocks of the corpus.
func seedHeaders(f *testing.F) [][]byte {
	paths, _ := filepath.Glob("../testdata/mail/*.eml")
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 && i < 64<<10 {
			b = b[:i+4]
		} else if len(b) > 64<<10 {
			continue
		}
		out = append(out, b)
	}
	return out
}
