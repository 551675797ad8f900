package evidence

import (
	"bufio"
	"bytes"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/emersion/go-message/textproto"
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

// FuzzSenderAddress checks From parsing: the result is empty or an
// addr-spec whose domain is lower-case ASCII.
func FuzzSenderAddress(f *testing.F) {
	for _, s := range []string{`"Novák, Jan" <jan@contoso.cz>`, "=?utf-8?q?a=2C_b?= <x@příklad.cz>", "a@b, c@d", "undisclosed-recipients:;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		addr := senderAddress(v, func(string) {})
		if addr == "" {
			return
		}
		at := strings.LastIndexByte(addr, '@')
		if at <= 0 || at == len(addr)-1 {
			t.Fatalf("senderAddress(%q) = %q, not an addr-spec", v, addr)
		}
		if d := addr[at+1:]; d != strings.ToLower(d) {
			t.Fatalf("senderAddress(%q) = %q, domain not lower-case", v, addr)
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
