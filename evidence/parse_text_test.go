package evidence

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/jhillyerd/enmime/v2"
	"golang.org/x/text/encoding/charmap"
)

// Short Czech and German customer mails, as sent.
const (
	czechMail  = "Dobrý den, v pondělí nám nefungovala pošta v Exchange Online (incident EX315207). Žádáme o kredit za výpadek. Děkujeme, Jiří Šťastný, účetní oddělení."
	germanMail = "Guten Tag, leider konnten unsere Mitarbeiter gestern keine E-Mails empfangen. Die Störung dauerte über fünf Stunden. Der Schaden beträgt etwa 2000 €."
	czechShort = "Prosím o kredit, výpadek EX315207, děkuji. Jiří"
)

func mustEncode(t *testing.T, cm *charmap.Charmap, s string) []byte {
	t.Helper()
	b, err := cm.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encoding %q: %v", s, err)
	}
	return b
}

// TestDecodeBodyTextCharsets is the measurement behind textParser's
// setting: each mail declares the charset it is really in.
func TestDecodeBodyTextCharsets(t *testing.T) {
	tests := []struct {
		name, charset string
		cm            *charmap.Charmap
		text          string
		// detectionBreaks marks the mails enmime's own charset detection
		// gets wrong: it reads this ISO-8859-15 text as ISO-8859-1 with
		// 97 % confidence, turning "€" into "¤".
		detectionBreaks bool
	}{
		{"Czech ISO-8859-2", "iso-8859-2", charmap.ISO8859_2, czechMail, false},
		{"Czech Windows-1250", "windows-1250", charmap.Windows1250, czechMail, false},
		{"short Czech ISO-8859-2", "ISO-8859-2", charmap.ISO8859_2, czechShort, false},
		{"short Czech Windows-1250", "cp1250", charmap.Windows1250, czechShort, false},
		{"German Windows-1252", "windows-1252", charmap.Windows1252, germanMail, false},
		{"German ISO-8859-15", "iso-8859-15", charmap.ISO8859_15, germanMail, true},
		{"German Windows-1252 labelled Latin-1", "iso-8859-1", charmap.Windows1252, germanMail, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := mustEncode(t, tt.cm, tt.text)
			var warnings []string
			got := decodeBodyText(body, "text/plain", tt.charset, func(w string) { warnings = append(warnings, w) })
			if got != tt.text {
				t.Errorf("decodeBodyText(%s) = %q, want %q", tt.charset, got, tt.text)
			}
			if len(warnings) != 0 {
				t.Errorf("decodeBodyText(%s) warnings = %q, want none", tt.charset, warnings)
			}

			// The same mail through enmime with detection on, as the
			// measurement that made us turn it off.
			msg := append([]byte("Content-Type: text/plain; charset="+tt.charset+"\r\n\r\n"), body...)
			root, err := enmime.NewParser().ReadParts(bytes.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			if broke := string(root.Content) != tt.text && tt.charset != "iso-8859-1"; broke != tt.detectionBreaks {
				t.Errorf("enmime with detection on: wrong text = %v, want %v (got %q)", broke, tt.detectionBreaks, root.Content)
			}
		})
	}
}

func TestDecodeBodyTextFallbacks(t *testing.T) {
	tests := []struct {
		name, mediaType, charset string
		in                       []byte
		want                     string
		warn                     string // substring of the one expected warning; "" for none
	}{
		{"UTF-8", "text/plain", "utf-8", []byte("Grüße"), "Grüße", ""},
		{"quoted label", "text/plain", `"UTF-8"`, []byte("Grüße"), "Grüße", ""},
		{"undeclared ASCII", "text/plain", "", []byte("hello"), "hello", ""},
		{"undeclared UTF-8", "text/plain", "", []byte("Grüße"), "Grüße", ""},
		{"undeclared 8-bit", "text/plain", "", []byte("Gr\xfc\xdfe aus M\xfcnchen, sch\xf6ne Gr\xfc\xdfe von J\xfcrgen"), "Grüße aus München, schöne Grüße von Jürgen", "no charset declared"},
		{"unknown charset, UTF-8 bytes kept", "text/plain", "x-klingon", []byte("Grüße"), "Grüße", `unknown charset "x-klingon"`},
		{"unknown charset, 8-bit bytes as Windows-1252", "text/plain", "x-klingon", []byte("Gr\xfc\xdfe"), "Grüße", `unknown charset "x-klingon"`},
		{"odd bytes in label", "text/plain", "utf-8\r\nX-Evil: 1", []byte("hi"), "hi", "unknown charset"},
		{"invalid UTF-8 declared UTF-8", "text/plain", "utf-8", []byte("ok \xff done"), "ok \uFFFD done", "not valid"},
		{"HTML meta charset", "text/html", "", append([]byte(`<html><head><meta charset="windows-1250"></head><body>`), append(mustEncode(t, charmap.Windows1250, "Šťastný"), "</body>"...)...), `<html><head><meta charset="windows-1250"></head><body>Šťastný</body>`, ""},
		{"US-ASCII with 8-bit bytes", "text/plain", "us-ascii", []byte("Gr\xfc\xdfe"), "Grüße", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warnings []string
			got := decodeBodyText(tt.in, tt.mediaType, tt.charset, func(w string) { warnings = append(warnings, w) })
			if got != tt.want {
				t.Errorf("decodeBodyText(%q, %q) = %q, want %q", tt.in, tt.charset, got, tt.want)
			}
			switch {
			case tt.warn == "" && len(warnings) > 0:
				t.Errorf("decodeBodyText(%q) warnings = %q, want none", tt.charset, warnings)
			case tt.warn != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tt.warn)):
				t.Errorf("decodeBodyText(%q) warnings = %q, want one saying %q", tt.charset, warnings, tt.warn)
			}
		})
	}
}

func TestTextURLs(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"sentence end", "See https://status.example.com/EX315207.", []string{"https://status.example.com/EX315207"}},
		{"in brackets", "(see https://example.com/a_(b)) and <http://example.com/x>", []string{"https://example.com/a_(b)", "http://example.com/x"}},
		{"query", "https://admin.microsoft.com/?ref=MessageCenter#/servicehealth/:/alerts/EX315207, thanks", []string{"https://admin.microsoft.com/?ref=MessageCenter#/servicehealth/:/alerts/EX315207"}},
		{"upper-case scheme", "HTTPS://EXAMPLE.COM/", []string{"HTTPS://EXAMPLE.COM/"}},
		{"not http", "ftp://example.com mailto:a@b.example", nil},
		{"bare scheme", "https:// nothing", nil},
		{"no scheme", "see ://example.com or example.com", nil},
		{"word before", "xhttp://example.com/a _http://example.com/b", nil},
		{"punctuation before", "x.http://example.com/a,http://example.com/b", []string{"http://example.com/a,http://example.com/b"}},
		{"two in one run", "http://a.example/?u=https://b.example/x", []string{"http://a.example/?u=https://b.example/x"}},
		{"second scheme starts the match", "ttp://a.example/x:http://b.example/y", []string{"http://b.example/y"}},
		{"at both ends", "http://a.example/x\thttps://b.example/y", []string{"http://a.example/x", "https://b.example/y"}},
		{"long s folds to s", "httpſ://example.com/x", []string{"httpſ://example.com/x"}},
		{"non-ASCII before", "éhttps://example.com/x\xffhttp://example.com/y", []string{"https://example.com/x\xffhttp://example.com/y"}},
		{"stop bytes", "<https://a.example/x>\"http://b.example/y\"`http://c.example/z`{http://d.example/}|http://e.example/^", []string{"https://a.example/x", "http://b.example/y", "http://c.example/z", "http://d.example/", "http://e.example/"}},
		{"control byte ends it", "http://a.example/x\x01y\x7fz", []string{"http://a.example/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := textURLs(tt.in)
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("textURLs(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if want := textURLsWhole(tt.in); !slices.Equal(got, want) {
				t.Errorf("textURLs(%q) = %q, but the regexp on the whole text finds %q", tt.in, got, want)
			}
		})
	}
}

// textURLsWhole is textURLs as it was: the regexp on the whole text.
func textURLsWhole(s string) []string {
	found := textURL.FindAllString(s, maxURLs+1)
	out := found[:0]
	for _, u := range found {
		if u = trimURL(u); len(u) > len("https://") {
			out = append(out, u)
		}
	}
	return out
}

func TestTextURLsLimit(t *testing.T) {
	for _, n := range []int{maxURLs, maxURLs + 1, maxURLs + 2} {
		s := strings.Repeat("see http://example.com/x and ftp://y, ", n)
		got, want := textURLs(s), textURLsWhole(s)
		if len(got) != min(n, maxURLs+1) || !slices.Equal(got, want) {
			t.Errorf("textURLs of %d links: %d URLs, the whole-text regexp %d", n, len(got), len(want))
		}
	}
}

// FuzzTextURLs: looking only where "://" is finds what the regexp finds
// on the whole text.
func FuzzTextURLs(f *testing.F) {
	for _, s := range []string{
		"See https://status.example.com/EX315207.",
		"x.http://a/b,http://c/d xhttp://e/f",
		"HTTPS://X/ httpſ://y/ \xffhttp://z/ (see https://example.com/a_(b))",
		"http://a\x00http://b\thttp://c http://",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := textURLs(s), textURLsWhole(s); !slices.Equal(got, want) {
			t.Fatalf("textURLs(%q) = %q, the whole-text regexp finds %q", s, got, want)
		}
	})
}

func TestHTMLLinks(t *testing.T) {
	in := `<p>Status: <a href=" https://status.example/EX315207 ">here</a>, <a name="x">anchor</a>,
<a href="#top">top</a> <A HREF='mailto:help@partner.example'>mail</A>
<map><area href="https://example.com/area"></map><link href="https://cdn.example/style.css"><a href=`
	want := []string{"https://status.example/EX315207", "mailto:help@partner.example", "https://example.com/area"}
	if got := htmlLinks(in); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("htmlLinks() = %q, want %q", got, want)
	}
}

func TestRenderHTML(t *testing.T) {
	var warnings []string
	warn := func(w string) { warnings = append(warnings, w) }
	got := renderHTML("<html><body><p>Outage <b>EX315207</b></p><p>Second&nbsp;line &amp; more</p><script>var x=1</script></body></html>", warn)
	for _, want := range []string{"Outage EX315207", "Second\u00a0line & more"} {
		if !strings.Contains(got, want) {
			t.Errorf("renderHTML() = %q, want it to contain %q", got, want)
		}
	}
	if strings.Contains(got, "var x") || len(warnings) > 0 {
		t.Errorf("renderHTML() = %q with warnings %q; want no script text, no warnings", got, warnings)
	}

	big := strings.Repeat("<p>a</p>", maxHTMLRender/8+10)
	warnings = nil
	_ = renderHTML(big, warn)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "only the first") {
		t.Errorf("renderHTML(%d bytes) warnings = %q, want one about the cut", len(big), warnings)
	}
}

// TestRenderHTMLAsSeen pins renderHTML to what a browser shows (WHATWG HTML
// section 15, Rendering): inline elements join, blocks separate.
func TestRenderHTMLAsSeen(t *testing.T) {
	tests := []struct {
		name, html, want string
	}{
		// Inline elements and comments leave a word whole.
		{"span split (Outlook)", `<p class=MsoNormal><span style='font-size:11.0pt'>EX315</span><span style='font-size:11.0pt'>207<o:p></o:p></span></p>`, "EX315207"},
		{"bold digits", "EX<b>315207</b>", "EX315207"},
		{"italic prefix", "<i>EX</i>315207", "EX315207"},
		{"link around part", `EX<a href="https://status.example/x">315207</a>`, "EX315207"},
		{"font, strong, em, u", `<font color=red>E</font><strong>X</strong><em>31</em><u>52</u><span>07</span>`, "EX315207"},
		{"nested inline", "<span><b><i>EX</i></b>315</span><code>207</code>", "EX315207"},
		{"comment inside", "EX315<!-- split -->207", "EX315207"},
		{"wbr inside", "EX315<wbr>207", "EX315207"},
		{"Word list bullet (downlevel-revealed)", "<p><![if !supportLists]>1.<![endif]>EX315207</p>", "1.EX315207"},
		{"MSO conditional hidden from browsers", "<!--[if mso]><p>MSO only EX999999</p><![endif]--><p>EX315207</p>", "EX315207"},
		{"MSO conditional shown to browsers", "<!--[if !mso]><!--><p>EX315207</p><!--<![endif]-->", "EX315207"},
		// Entities decode.
		{"decimal entity", "&#69;X315207", "EX315207"},
		{"hex entity", "E&#x58;315207", "EX315207"},
		{"named entities", "&lt;EX315207&gt; &amp;", "<EX315207> &"},
		{"nbsp stays", "a&nbsp;b", "a\u00a0b"},
		// Blocks, cells and line breaks separate.
		{"paragraphs", "<p>EX315</p><p>207</p>", "EX315\n207"},
		{"divs", "<div>EX315</div><div>207</div>", "EX315\n207"},
		{"table cells", "<table><tr><td>EX315</td><td>207</td></tr></table>", "EX315 207"},
		{"table header cells", "<tr><th>ID</th><th>EX315207</th></tr>", "ID EX315207"},
		{"table rows", "<table><tr><td>a</td></tr><tr><td>b</td></tr></table>", "a\nb"},
		{"list items", "<ul><li>EX315</li><li>207</li></ul>", "EX315\n207"},
		{"headings", "<h1>Outage</h1><h2>EX315207</h2>", "Outage\nEX315207"},
		{"br", "EX315<br>207", "EX315\n207"},
		{"br self-closing, twice", "a<br/><br />b", "a\n\nb"},
		{"blockquote", "<blockquote>EX315</blockquote>207", "EX315\n207"},
		{"superscript footnote", "EX315207<sup>1</sup>", "EX315207 1"},
		{"subscript", "EX315<sub>207</sub>", "EX315 207"},
		// White space collapses as in a browser, except in <pre>.
		{"newline between spans is a space", "<span>EX315</span>\n<span>207</span>", "EX315 207"},
		{"runs of white space", "  a \t\r\n  b  ", "a b"},
		{"pre keeps spaces", "<pre>a  b\nc</pre>", "a  b\nc"},
		// Hidden content.
		{"head and title", "<html><head><title>EX111111</title><meta charset=utf-8><style>p{color:red}</style></head><body>EX315207</body></html>", "EX315207"},
		{"script and style", "<script>var id='EX111111';</script><style>.EX222222{}</style>EX315207", "EX315207"},
		{"script holding tags", "<script>document.write('<p>EX111111</p>')</script>EX315207", "EX315207"},
		{"self-closing script", "<script/>var id='EX111111';</script>EX315207", "EX315207"},
		{"template", "<template><p>EX111111</p></template><p>EX315207</p>", "EX315207"},
		{"text in head ends it", "<head><meta x>EX315207", "EX315207"},
		// Broken HTML still yields its text.
		{"unclosed tags", "<div><p><b>EX315207", "EX315207"},
		{"stray end tags", "</p></div>EX315207</b>", "EX315207"},
		{"unterminated tag", "EX315207 <a href=", "EX315207"},
		{"unterminated comment", "EX315207 <!-- never closed", "EX315207"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		var warnings []string
		got := renderHTML(tt.html, func(w string) { warnings = append(warnings, w) })
		if got != tt.want {
			t.Errorf("%s: renderHTML(%q) = %q, want %q", tt.name, tt.html, got, tt.want)
		}
		if len(warnings) > 0 {
			t.Errorf("%s: renderHTML(%q) warnings = %q, want none", tt.name, tt.html, warnings)
		}
	}
}

// TestRenderHTMLDeepNesting: help-desk threads quote each reply inside the
// last, nesting deeper than html.Parse's 512 open elements; the text of
// the first and the last paragraph must both survive.
func TestRenderHTMLDeepNesting(t *testing.T) {
	for _, depth := range []int{511, 513, 600, 5000} {
		for _, open := range []string{"<div>", "<blockquote><div>", "<table><tr><td>", "<span>"} {
			var b strings.Builder
			b.WriteString("<html><body><p>Outage EX315207 today</p>")
			for range depth {
				b.WriteString(open + "reply ")
			}
			b.WriteString("<p>last TM1112332</p>")
			got := renderHTML(b.String(), func(w string) { t.Errorf("depth %d of %s: warning %q", depth, open, w) })
			for _, want := range []string{"Outage EX315207 today", "last TM1112332"} {
				if !strings.Contains(got, want) {
					t.Errorf("renderHTML(%d deep %s) lost %q; text starts %q", depth, open, want, clip(got, 80))
				}
			}
			if n := strings.Count(got, "reply"); n != depth {
				t.Errorf("renderHTML(%d deep %s) has %d replies, want %d", depth, open, n, depth)
			}
		}
	}
}

// TestDecodeBodyTextUnicodeForms: UTF-7 (RFC 2152), UTF-16 (RFC 2781) with
// and without a byte-order mark, and a UTF-8 BOM. A BOM is dropped and
// names the encoding whatever the label says (WHATWG Encoding, "decode").
func TestDecodeBodyTextUnicodeForms(t *testing.T) {
	const want = "障害EX315207が発生 – Grüße"
	le := func(s string) []byte {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	be := func(s string) []byte {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u>>8), byte(u))
		}
		return b
	}
	ascii := "Outage EX315207 today"
	tests := []struct {
		name, charset string
		body          []byte
		want          string
	}{
		{"UTF-7 (RFC 2152)", "utf-7", []byte("+lpxbsw-EX315207+MEx2enUf +IBM Gr+APwA3w-e"), want},
		{"UTF-7 label upper case", "UTF-7", []byte("Hi Mom -+Jjo--!"), "Hi Mom -☺-!"},
		{"UTF-16LE with BOM", "utf-16le", append([]byte{0xff, 0xfe}, le(want)...), want},
		{"UTF-16 with LE BOM", "utf-16", append([]byte{0xff, 0xfe}, le(want)...), want},
		{"UTF-16 with BE BOM", "utf-16", append([]byte{0xfe, 0xff}, be(want)...), want},
		{"UTF-16BE without BOM", "utf-16be", be(want), want},
		{"UTF-16 without BOM, little-endian (Windows)", "utf-16", le(ascii), ascii},
		{"UTF-16 without BOM, big-endian (RFC 2781)", "UTF-16", be(ascii), ascii},
		{"undeclared UTF-16LE with BOM", "", append([]byte{0xff, 0xfe}, le(want)...), want},
		{"BOM wins over a wrong label", "windows-1252", append([]byte{0xff, 0xfe}, le(want)...), want},
		{"UTF-8 with BOM", "utf-8", append([]byte{0xef, 0xbb, 0xbf}, want...), want},
		{"undeclared UTF-8 with BOM", "", append([]byte{0xef, 0xbb, 0xbf}, want...), want},
	}
	for _, tt := range tests {
		var warnings []string
		got := decodeBodyText(tt.body, "text/plain", tt.charset, func(w string) { warnings = append(warnings, w) })
		if got != tt.want || len(warnings) > 0 {
			t.Errorf("%s: decodeBodyText(%q) = %q, warnings %q; want %q, none", tt.name, tt.charset, got, warnings, tt.want)
		}
	}
}
