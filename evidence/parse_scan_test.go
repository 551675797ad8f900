package evidence

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode"
)

// countMIMEMarkersWhole is countMIMEMarkers by its plain definition,
// with bytes.Count and strings.EqualFold: what the fast scan must meet.
func countMIMEMarkersWhole(b []byte) (dashLines, multiparts int) {
	if bytes.HasPrefix(b, []byte("--")) {
		dashLines++
	}
	dashLines += bytes.Count(b, []byte("\n--"))
	const pat = "multipart/"
	for i := 0; i+len(pat) <= len(b); i++ {
		if strings.EqualFold(string(b[i:i+len(pat)]), pat) {
			multiparts++
		}
	}
	return dashLines, multiparts
}

func checkMIMEMarkers(t *testing.T, in []byte) {
	t.Helper()
	wd, wm := countMIMEMarkersWhole(in)
	if d, m := countMIMEMarkers(in); d != wd || m != wm {
		t.Fatalf("countMIMEMarkers(%d bytes, %.80q...) = %d dash lines, %d multiparts; want %d, %d", len(in), in, d, m, wd, wm)
	}
}

func TestCountMIMEMarkers(t *testing.T) {
	for _, s := range []string{
		"",
		"-",
		"--b\r\n",
		"\n--\n--\n---",
		"Content-Type: Multipart/Mixed; boundary=x\r\n\r\n--x\r\nContent-Type: MULTIPART/alternative\r\n--x--\r\n",
		"multipart/multipart/multipart",
		"multipart\\/ multipar/ ultipart/ multipart-/ xmultipart/",
		"MuLtIpArT/",
		"multipaRt/",
		"multip\u212aart/ multipart/ mu\u017ftipart/", // Kelvin sign, long s: no letter of the pattern folds to them
		"multi\xffpart/ \xe2\x84\xaaultipart/",
	} {
		checkMIMEMarkers(t, []byte(s))
	}
	// Markers at every offset about 64 KiB into a long input, and again
	// about 9 bytes further.
	const window = 64 << 10
	for _, marker := range []string{"\n--", "multipart/", "MULTIPART/", "\r\n--b--\r\n"} {
		for off := window - 12; off <= window+12; off++ {
			in := append(bytes.Repeat([]byte("AbC/t9+"), (window+100)/7), bytes.Repeat([]byte("x"), 64<<10)...)
			copy(in[off:], marker)
			copy(in[window+9+off:], marker)
			checkMIMEMarkers(t, in)
		}
	}
}

// countOf's fold matches ASCII letters only, which agrees with
// strings.EqualFold only for letters that fold to no other rune.
func TestCountOfFoldLetters(t *testing.T) {
	for _, c := range "multipart" {
		for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
			if f != unicode.ToUpper(c) {
				t.Errorf("%q folds to %q too: countOf would not see it", c, f)
			}
		}
	}
}

func FuzzCountMIMEMarkers(f *testing.F) {
	f.Add([]byte("--x\r\nContent-Type: multipart/mixed\r\n--x--"), uint16(0))
	f.Add([]byte("MULTIPART/\n--"), uint16(65530))
	f.Fuzz(func(t *testing.T, data []byte, at uint16) {
		// The data alone, and behind base64-like text.
		in := append(bytes.Repeat([]byte("t/"), 32<<10+int(at%64)), data...)
		checkMIMEMarkers(t, data)
		checkMIMEMarkers(t, in)
	})
}

func TestIsBase64Lines(t *testing.T) {
	ok := func(c byte) bool {
		return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("+/=\r\n", c) >= 0
	}
	base := []byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\nYWJj\n")
	for n := 0; n <= len(base); n++ {
		if !isBase64Lines(base[:n]) {
			t.Fatalf("isBase64Lines(%q) = false", base[:n])
		}
	}
	// Every byte value at every place in the 8-byte steps and the tail.
	for c := range 256 {
		for n := 1; n <= 19; n++ {
			for at := 0; at < n; at++ {
				b := bytes.Repeat([]byte("A"), n)
				b[at] = byte(c)
				if got := isBase64Lines(b); got != ok(byte(c)) {
					t.Fatalf("isBase64Lines(%q) = %v", b, got)
				}
			}
		}
	}
}

// TestParseLineBreaks: RFC 5322 section 2.1 lines end in CRLF; LF is the
// common local convention. Mail whose lines end in a bare CR or in LF CR
// must still be read as lines, never as one header field "From" holding
// the whole message.
func TestParseLineBreaks(t *testing.T) {
	lines := []string{
		"From: Jane Doe <jane.doe@contoso.com>",
		"To: claims@adatum-csp.com",
		"Date: Mon, 07 Dec 2026 09:14:03 +0100",
		"Subject: Outage EX315207",
		"Content-Type: text/plain; charset=utf-8",
		"",
		"Hello,",
		"incident TM1112332 hit us.",
	}
	tests := []struct {
		name     string
		msg      string
		warnings int
	}{
		{"CRLF (RFC 5322 2.1)", strings.Join(lines, "\r\n"), 0},
		{"LF", strings.Join(lines, "\n"), 0},
		{"bare CR (classic Mac OS)", strings.Join(lines, "\r"), 1},
		{"LF CR", strings.Join(lines, "\n\r"), 1},
		{"bare CR header, CRLF body", strings.Join(lines[:6], "\r") + "\r" + strings.Join(lines[6:], "\r\n"), 1},
		{"bare CR header, LF body", strings.Join(lines[:6], "\r") + "\r" + strings.Join(lines[6:], "\n"), 1},
		{"CRLF header, bare CR body", strings.Join(lines[:6], "\r\n") + "\r\n" + strings.Join(lines[6:], "\r"), 0},
		{"bare CR, trailing CR", strings.Join(lines, "\r") + "\r", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.msg)
			f, err := ParseBytes(raw, nil)
			if err != nil {
				t.Fatalf("ParseBytes: %v", err)
			}
			if f.Malformed || f.Sender != "jane.doe@contoso.com" || f.Subject != "Outage EX315207" {
				t.Errorf("ParseBytes(%q): Malformed %v, Sender %q, Subject %q; want the header read as lines", tt.msg, f.Malformed, f.Sender, f.Subject)
			}
			if !strings.Contains(f.Text, "TM1112332") {
				t.Errorf("ParseBytes(%q): Text = %q, want it to hold TM1112332", tt.msg, f.Text)
			}
			if len(f.Warnings) != tt.warnings {
				t.Errorf("ParseBytes(%q): warnings %q, want %d", tt.msg, f.Warnings, tt.warnings)
			}
			if string(raw) != tt.msg {
				t.Errorf("ParseBytes changed the message it was given")
			}
		})
	}
}

func TestBareCRToCRLF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\rb", "a\r\nb"},
		{"a\r\nb", "a\r\nb"},
		{"a\nb", "a\nb"},
		{"a\r\rb\r", "a\r\n\r\nb\r\n"},
		{"\r\n\r", "\r\n\r\n"},
	}
	for _, tt := range tests {
		if got := string(bareCRToCRLF([]byte(tt.in))); got != tt.want {
			t.Errorf("bareCRToCRLF(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// crOnlyReaderAt is a message of the given size whose lines end in bare
// CRs: a header, then the same body line over and over. It takes no memory.
type crOnlyReaderAt struct{ size int64 }

const crOnlyHeader = "From: jane.doe@contoso.com\rSubject: EX315207\r\r"

func (r crOnlyReaderAt) ReadAt(p []byte, off int64) (int, error) {
	const line = "body line\r"
	n := 0
	for ; n < len(p) && off+int64(n) < r.size; n++ {
		o := off + int64(n)
		if o < int64(len(crOnlyHeader)) {
			p[n] = crOnlyHeader[o]
		} else {
			p[n] = line[(o-int64(len(crOnlyHeader)))%int64(len(line))]
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestLineBreaksTooLargeIsMalformed: a bare-CR message larger than a parse
// holds in memory (ParseOptions.MaxBytes) is judged malformed, with a warning saying why,
// not read as one header field.
func TestLineBreaksTooLargeIsMalformed(t *testing.T) {
	const limit = 1 << 20
	for _, size := range []int64{limit + 1, 4 * limit, DefaultMaxBytes + 1} {
		opts := &ParseOptions{MaxBytes: limit}
		if size > DefaultMaxBytes {
			opts = nil
		}
		f, err := Parse(crOnlyReaderAt{size}, size, opts)
		if err != nil {
			t.Fatalf("Parse(%d bytes): %v", size, err)
		}
		if !f.Malformed || f.Sender != "" || len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0], "bare CR") {
			t.Errorf("Parse(%d bytes of bare-CR lines): Malformed %v, Sender %q, warnings %q; want malformed with one warning about bare CRs", size, f.Malformed, f.Sender, f.Warnings)
		}
	}
	// Within the limit it is read as lines.
	size := int64(limit)
	f, err := Parse(crOnlyReaderAt{size}, size, &ParseOptions{MaxBytes: limit})
	if err != nil || f.Malformed || f.Sender != "jane.doe@contoso.com" || f.Subject != "EX315207" {
		t.Errorf("Parse(%d bytes of bare-CR lines) = Malformed %v, Sender %q, Subject %q, err %v; want it read as lines", size, f.Malformed, f.Sender, f.Subject, err)
	}
}
