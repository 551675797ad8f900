package evidence

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// elideMail builds a message from a header and parts (each a header block
// and a body, joined by a blank line) under boundary "b1", with CRLF line
// ends and a close delimiter unless open.
func elideMail(open bool, parts ...string) []byte {
	var b strings.Builder
	b.WriteString("From: Tom Baker <tom.baker@contoso.com>\r\nTo: claims@adatum-csp.com\r\n" +
		"Subject: EX1234567: please claim the credit\r\nDate: Mon, 2 Feb 2026 09:00:00 +0000\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n")
	for _, p := range parts {
		b.WriteString("--b1\r\n" + p + "\r\n")
	}
	if !open {
		b.WriteString("--b1--\r\nepilogue\r\n")
	}
	return []byte(b.String())
}

// b64 is n random bytes base64 encoded in 76-character CRLF lines.
func b64(seed uint64, n int) string {
	rng := rand.New(rand.NewPCG(seed, 1))
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	var buf bytes.Buffer
	encodeBase64(&buf, data)
	return strings.TrimRight(buf.String(), "\r\n")
}

const (
	textPart = "Content-Type: text/plain; charset=utf-8\r\n\r\nExchange was down all morning; incident EX1234567.\r\n"
	pdfHead  = "Content-Type: application/pdf; name=\"users.pdf\"\r\nContent-Disposition: attachment; filename=\"users.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
)

// elideCases are messages for the elision tests: how many attachment
// bodies the scan should replace (-1: the scan gives up on the message),
// and whether enmime sees the same structure, so that the elided parse is
// used (else the message is parsed again as it is).
var elideCases = []struct {
	name   string
	msg    []byte
	cuts   int
	agrees bool
}{
	{"one large attachment", elideMail(false, textPart, pdfHead+b64(1, 20000)), 1, true},
	{"two attachments in a nested multipart", elideMail(false,
		"Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\n"+textPart+"\r\n--b2\r\n"+
			"Content-Type: text/html\r\n\r\n<p>EX1234567</p>\r\n--b2--",
		pdfHead+b64(2, 9000),
		"Content-Type: image/png\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"+b64(3, 30000)), 2, true},
	{"small attachment (not worth it)", elideMail(false, textPart, pdfHead+b64(4, 1000)), 0, false},
	{"text attachment", elideMail(false, textPart,
		"Content-Type: text/csv\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64(5, 20000)), 0, false},
	{"forwarded original", elideMail(false, textPart,
		"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64(6, 20000)), 0, false},
	{"quoted-printable attachment", elideMail(false, textPart,
		"Content-Type: application/pdf\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"+strings.Repeat("abc=3D\r\n", 2000)), 0, false},
	{"body not pure base64", elideMail(false, textPart, pdfHead+b64(7, 20000)+"\r\n-- \r\nsignature"), 0, false},
	{"line like a delimiter", elideMail(false, textPart, pdfHead+b64(8, 20000), "Content-Type: text/plain\r\n\r\n--b1x looks like one\r\n"), -1, false},
	{"no close delimiter", elideMail(true, textPart, pdfHead+b64(9, 20000)), -1, false},
	{"two Content-Types", elideMail(false, textPart, "Content-Type: text/plain\r\n"+pdfHead+b64(10, 20000)), 0, false},
	{"folded Content-Type", elideMail(false, textPart,
		"Content-Type: application/pdf;\r\n\tname=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64(11, 20000)), 1, true},
	{"LF line ends", bytes.ReplaceAll(elideMail(false, textPart, pdfHead+b64(12, 20000)), []byte("\r\n"), []byte("\n")), 1, true},
	{"boundary in the attachment header only", elideMail(false, textPart,
		"Content-Type: application/octet-stream; boundary=\"b1\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64(13, 20000)), 1, false},
}

func TestElideAttachments(t *testing.T) {
	for _, c := range elideCases {
		t.Run(c.name, func(t *testing.T) {
			e := elideAttachments(c.msg)
			got := 0
			switch {
			case e == nil && c.cuts == -1, e == nil && c.cuts == 0:
				return
			case e == nil:
			default:
				got = len(e.bodies)
			}
			if got != c.cuts {
				t.Fatalf("elideAttachments(%s) replaced %d bodies, want %d", c.name, got, c.cuts)
			}
			for marker, body := range e.bodies {
				if !isBase64Lines(body) || len(body) < minElide || bytes.HasSuffix(body, []byte("\n")) {
					t.Errorf("body for %s: %d bytes, %q...%q; want base64 lines without the break before the delimiter",
						marker, len(body), body[:min(20, len(body))], body[max(0, len(body)-20):])
				}
				if n := bytes.Count(e.data, []byte(marker)); n != 1 {
					t.Errorf("marker %s appears %d times in the elided message, want 1", marker, n)
				}
			}
			if rest := len(c.msg) - len(e.data); rest <= 0 {
				t.Errorf("the elided message is not shorter: %d bytes, was %d", len(e.data), len(c.msg))
			}
		})
	}
}

// parseBoth parses raw with and without elision; it reports whether the
// elided parse was complete (no fallback).
func parseBoth(t testing.TB, raw []byte, opts *ParseOptions) (with, without *Facts, used bool) {
	var made []*elision
	elide = func(msg []byte) *elision {
		e := elideAttachments(msg)
		if e != nil {
			made = append(made, e)
		}
		return e
	}
	with, err := ParseBytes(raw, opts)
	elide = func([]byte) *elision { return nil }
	without, err2 := ParseBytes(raw, opts)
	elide = elideAttachments
	if err != nil || err2 != nil {
		t.Fatalf("ParseBytes: %v, %v", err, err2)
	}
	used = len(made) > 0
	for _, e := range made {
		used = used && e.complete()
	}
	return with, without, used
}

// Elision must not change a single fact, and must be used where the
// structure is plain.
func TestParseElidedSameFacts(t *testing.T) {
	for _, c := range elideCases {
		t.Run(c.name, func(t *testing.T) {
			with, without, used := parseBoth(t, c.msg, nil)
			if !reflect.DeepEqual(with, without) {
				t.Fatalf("facts differ with elision:\n with    %+v\n without %+v", with, without)
			}
			if used != c.agrees {
				t.Errorf("elided parse used = %v, want %v", used, c.agrees)
			}
			if c.cuts > 0 && len(with.Attachments) == 0 {
				t.Errorf("no attachments found")
			}
		})
	}
}

// Inside a forwarded original the original's attachments are elided when
// it is parsed.
func TestParseElidedOriginal(t *testing.T) {
	inner := bytes.ReplaceAll(elideMail(false, textPart, pdfHead+b64(20, 50000)), []byte("b1"), []byte("inner"))
	outer := elideMail(false, textPart, "Content-Type: message/rfc822\r\n\r\n"+string(inner))
	with, without, used := parseBoth(t, outer, nil)
	if !reflect.DeepEqual(with, without) {
		t.Fatalf("facts differ with elision:\n with    %+v\n without %+v", with, without)
	}
	if !used || len(with.Originals) != 1 || len(with.Originals[0].Facts.Attachments) != 1 {
		t.Errorf("used = %v, %d originals; want the original's attachment elided and found", used, len(with.Originals))
	}
}

// FuzzParseElided: for any input, the facts are the same with and without
// elision.
func FuzzParseElided(f *testing.F) {
	seedCorpus(f)
	for _, c := range elideCases {
		f.Add(c.msg)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		with, without, _ := parseBoth(t, raw, nil)
		if !reflect.DeepEqual(with, without) {
			t.Fatalf("facts differ with elision:\n with    %+v\n without %+v", with, without)
		}
	})
}

// BenchmarkParseElided measures the full parse of a 2 MB mail with one
// attachment, as the poller sees many, with and without elision.
func BenchmarkParseElided(b *testing.B) {
	msg := elideMail(false, textPart, pdfHead+b64(30, 1500<<10))
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("elide=%v", on), func(b *testing.B) {
			if !on {
				elide = func([]byte) *elision { return nil }
				defer func() { elide = elideAttachments }()
			}
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				f, err := ParseBytes(msg, nil)
				if err != nil || len(f.Attachments) != 1 {
					b.Fatalf("ParseBytes: %v, %d attachments", err, len(f.Attachments))
				}
			}
		})
	}
}
