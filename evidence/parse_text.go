package evidence

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gogs/chardet"
	"github.com/jhillyerd/enmime/v2"
	"golang.org/x/net/html"
	"golang.org/x/text/encoding/charmap"
)

// textParser converts a text part's charset with enmime. Character
// detection is off: measured on short Czech and German mails
// (TestDecodeBodyTextCharsets), the detector was never confident enough to
// fix a mislabelled part, and where it was confident it replaced a correct
// ISO-8859-15 label with ISO-8859-1 and turned "€" into "¤". A declared
// charset is what the sender's client used; we believe it.
var textParser = enmime.NewParser(
	enmime.DisableCharacterDetection(true),
	enmime.MaxStoredPartErrors(8),
)

// maxHTMLRender bounds the HTML rendered to text per part: text facts need
// only the start of a mail. BenchmarkRenderHTML measures the cost.
const maxHTMLRender = 2 << 20

// maxDetectSample is how much of an undeclared text part the charset
// detector reads.
const maxDetectSample = 64 << 10

// maxURLs bounds the links recorded per message.
const maxURLs = 1000

// decodeBodyText turns the transfer-decoded bytes of a text part into
// valid UTF-8. charset is the declared one ("" when none); warn records
// what could not be decoded as declared.
func decodeBodyText(content []byte, mediaType, charset string, warn func(string)) string {
	label := strings.ToLower(strings.Trim(strings.TrimSpace(charset), `"'`))
	content, label = sniffBOM(content, label)
	if label == "" && mediaType == "text/html" {
		label = htmlMetaCharset(content)
	}
	if label == "" {
		return decodeUndeclared(content, mediaType, warn)
	}
	if isLatin1Label(label) {
		// As browsers do (WHATWG Encoding): senders that say Latin-1
		// mean Windows-1252, whose extra characters (€, „“, –) Latin-1
		// leaves as control codes.
		label = "windows-1252"
	}
	if !validCharsetLabel(label) {
		warn(fmt.Sprintf("unknown charset %q; text kept as is", clip(charset, 64)))
		return keepAsIs(content)
	}
	hdr := "Content-Type: " + mediaType + "; charset=\"" + label + "\"\r\n\r\n"
	root, err := textParser.ReadParts(withHeader(hdr, content))
	if err != nil || root == nil {
		warn(fmt.Sprintf("charset %q: %v; text kept as is", label, err))
		return keepAsIs(content)
	}
	for _, e := range root.Errors {
		if e.Name == enmime.ErrorCharsetConversion {
			warn(fmt.Sprintf("unknown charset %q; text kept as is", clip(charset, 64)))
			return keepAsIs(content)
		}
	}
	if !utf8.Valid(root.Content) {
		warn(fmt.Sprintf("text declared as %s is not valid in it; bad bytes replaced", label))
		return strings.ToValidUTF8(string(root.Content), "\uFFFD")
	}
	return string(root.Content)
}

// sniffBOM drops a byte-order mark from content and returns the charset it
// names, which wins over the declared one as in a browser (WHATWG Encoding,
// "decode"): a mail client that writes a BOM wrote that encoding, and the
// BOM is no part of the text. UTF-16 declared without a BOM, which RFC 2781
// reads as big-endian but Windows writes little-endian, is read in the
// byte order its zero bytes show.
func sniffBOM(content []byte, label string) ([]byte, string) {
	switch {
	case bytes.HasPrefix(content, []byte{0xef, 0xbb, 0xbf}):
		return content[3:], "utf-8"
	case bytes.HasPrefix(content, []byte{0xff, 0xfe}):
		return content[2:], "utf-16le"
	case bytes.HasPrefix(content, []byte{0xfe, 0xff}):
		return content[2:], "utf-16be"
	case label == "utf-16" || label == "utf16" || label == "ucs-2":
		return content, utf16Order(content)
	}
	return content, label
}

// utf16Order guesses the byte order of UTF-16 text from where its zero
// bytes fall: text in the Latin, Greek and Cyrillic blocks has a zero (or
// small) high byte in every unit.
func utf16Order(b []byte) string {
	if len(b) > 4096 {
		b = b[:4096]
	}
	even, odd := 0, 0
	for i := 0; i+1 < len(b); i += 2 {
		if b[i] == 0 {
			even++
		}
		if b[i+1] == 0 {
			odd++
		}
	}
	if odd > even {
		return "utf-16le"
	}
	return "utf-16be"
}

// decodeUndeclared decodes text that names no charset. RFC 2045 says that
// means US-ASCII, but real senders mean UTF-8 or their local code page.
func decodeUndeclared(content []byte, mediaType string, warn func(string)) string {
	if utf8.Valid(content) {
		return string(content)
	}
	det := chardet.NewTextDetector()
	if mediaType == "text/html" {
		det = chardet.NewHtmlDetector()
	}
	sample := content
	if len(sample) > maxDetectSample {
		sample = sample[:maxDetectSample] // the detector's cost is linear and a sample says as much
	}
	if r, ok := bestCharset(det, sample); ok && !strings.HasPrefix(strings.ToLower(r.Charset), "utf") {
		label := strings.ToLower(r.Charset)
		if isLatin1Label(label) {
			label = "windows-1252"
		}
		hdr := "Content-Type: text/plain; charset=\"" + label + "\"\r\n\r\n"
		if root, err := textParser.ReadParts(withHeader(hdr, content)); err == nil && len(root.Errors) == 0 && utf8.Valid(root.Content) {
			warn(fmt.Sprintf("no charset declared for 8-bit text; guessed %s", label))
			return string(root.Content)
		}
	}
	warn("no charset declared for 8-bit text; decoded as windows-1252")
	return decode1252(content)
}

// bestCharset is chardet's best guess for sample, chosen the same way every
// time. Detector.DetectBest runs its recognisers concurrently and keeps the
// first of equally confident answers to arrive, so the same mail could be
// decoded two ways, and its bundle built with two sets of bytes. Ties go to
// the Latin-1 family, then to the alphabetically first name.
func bestCharset(det *chardet.Detector, sample []byte) (chardet.Result, bool) {
	all, err := det.DetectAll(sample)
	if err != nil || len(all) == 0 {
		return chardet.Result{}, false
	}
	best := all[0]
	for _, r := range all[1:] {
		switch {
		case r.Confidence > best.Confidence:
			best = r
		case r.Confidence < best.Confidence:
		case isLatin1Label(strings.ToLower(r.Charset)) != isLatin1Label(strings.ToLower(best.Charset)):
			if isLatin1Label(strings.ToLower(r.Charset)) {
				best = r
			}
		case r.Charset < best.Charset:
			best = r
		}
	}
	return best, best.Charset != ""
}

// keepAsIs returns content as text when it is UTF-8, else as Windows-1252,
// which maps every byte to some character.
func keepAsIs(content []byte) string {
	if utf8.Valid(content) {
		return string(content)
	}
	return decode1252(content)
}

func decode1252(b []byte) string {
	s, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(s)
}

func isLatin1Label(label string) bool {
	switch label {
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "iso88591", "iso_8859-1:1987", "latin1", "l1", "latin-1":
		return true
	}
	return false
}

// validCharsetLabel keeps odd bytes out of the synthetic header below.
func validCharsetLabel(label string) bool {
	if label == "" || len(label) > 64 {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.:+()", c) >= 0) {
			return false
		}
	}
	return true
}

var metaCharset = regexp.MustCompile(`(?i)<meta[^>]{0,200}?charset\s*=\s*["']?\s*([a-z0-9_.:+-]{1,40})`)

// htmlMetaCharset finds a charset named in an HTML part's <meta> tag, as
// HTML mail without a charset parameter usually carries one.
func htmlMetaCharset(b []byte) string {
	if len(b) > 4096 {
		b = b[:4096]
	}
	if m := metaCharset.FindSubmatch(b); m != nil {
		return strings.ToLower(string(m[1]))
	}
	return ""
}

// renderHTML renders an HTML part to plain text for the rules to read, as
// a browser shows it: inline elements ("EX315</span><span>207",
// "EX<b>315207</b>") and comments leave words whole; block elements, table
// cells and <br> separate them; <head>, <script>, <style> and the like show
// nothing; entities are decoded; runs of white space outside <pre> become
// one space. Links are left out: htmlLinks records them.
//
// It reads tokens, not a tree: html.Parse builds none deeper than 512 open
// elements and fails on deeper nesting, which long help-desk threads reach,
// and its cost grows with the nesting. The tokenizer is linear in the
// input (BenchmarkRenderHTML) and nests nothing, so a 5,000-deep thread
// keeps its first paragraph.
func renderHTML(s string, warn func(string)) string {
	if len(s) > maxHTMLRender {
		warn(fmt.Sprintf("HTML part of %d bytes: only the first %d rendered to text", len(s), maxHTMLRender))
		s = strings.ToValidUTF8(s[:maxHTMLRender], "")
	}
	var w htmlTextWriter
	w.b.Grow(len(s) / 2)
	z := html.NewTokenizer(strings.NewReader(s))
	hidden, pre := 0, 0 // open elements whose text is not shown, open <pre>s
	inHead := false
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if err := z.Err(); err != io.EOF {
				warn(fmt.Sprintf("rendering HTML to text: %v", err))
			}
			return w.String()
		case html.TextToken:
			if hidden > 0 {
				continue
			}
			t := z.Text()
			if inHead {
				if len(bytes.TrimSpace(t)) == 0 {
					continue
				}
				inHead = false // as in a browser, text ends the head
			}
			w.text(t, pre > 0)
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			kind := rawTagKind(z.Raw())
			if kind != tagHead && kind != tagHidden && !(inHead && kind == tagHeadOnly) &&
				(tt != html.EndTagToken || kind != tagOther) {
				inHead = false // as in a browser, a body element ends the head
			}
			switch kind {
			case tagHead:
				inHead = tt == html.StartTagToken
			case tagHidden:
				switch {
				case tt != html.EndTagToken:
					// "<script/>" opens a script too: HTML ignores the
					// slash on elements that are not void, and the
					// tokenizer reads what follows as its raw text.
					hidden++
				case tt == html.EndTagToken && hidden > 0:
					hidden--
				}
			case tagBreak:
				w.lineBreak()
			case tagPre:
				w.block()
				if tt == html.StartTagToken {
					pre++
				} else if tt == html.EndTagToken && pre > 0 {
					pre--
				}
			case tagBlock:
				w.block()
			case tagSeparate:
				w.separate()
			}
		}
	}
}

// rawTagKind returns the kind of the tag token raw ("<DIV class=x>",
// "</p>"). It reads the name from the raw bytes as the tokenizer does (up
// to white space, "/" or ">"), because Tokenizer.TagName allocates a copy
// for every tag, which doubled the cost of rendering.
func rawTagKind(raw []byte) tagKind {
	i := 1 // after "<"
	if i < len(raw) && raw[i] == '/' {
		i++
	}
	var name [10]byte // longer than any name in htmlKinds
	n := 0
	for ; i < len(raw); i++ {
		c := raw[i]
		if isHTMLSpace(c) || c == '/' || c == '>' {
			break
		}
		if n == len(name) {
			return tagOther
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		name[n] = c
		n++
	}
	return htmlKinds[string(name[:n])] // no allocation for a map index
}

// tagKind is how renderHTML treats an element.
type tagKind uint8

const (
	tagOther    tagKind = iota // inline: its text runs on with the text beside it
	tagHead                    // <head>: its text is not shown
	tagHeadOnly                // may stand in <head> without ending it
	tagHidden                  // its content is not shown
	tagBreak                   // <br>
	tagPre                     // keeps white space
	tagBlock                   // starts a new line
	tagSeparate                // inline, but not run together with the text beside it
)

// htmlKinds sorts the elements renderHTML does not treat as inline.
//   - Blocks are those a browser lays out as blocks (WHATWG HTML section
//     15.3), <body> included.
//   - Separate are table cells, which sit in boxes of their own, form
//     controls and images, and <sup>/<sub>, which hold footnote marks and
//     indices: "EX315207<sup>1</sup>" names EX315207, not EX3152071.
//   - Hidden are the elements whose content a browser does not show. Those
//     the tokenizer reads as raw text (script, style, ...) end at their end
//     tag whatever they hold.
var htmlKinds = func() map[string]tagKind {
	m := map[string]tagKind{"head": tagHead, "br": tagBreak, "pre": tagPre, "listing": tagPre, "xmp": tagPre}
	for k, names := range map[tagKind][]string{
		tagHeadOnly: {"meta", "link", "base", "basefont", "bgsound"},
		tagHidden:   {"script", "style", "title", "template", "noscript", "iframe", "noembed", "noframes"},
		tagSeparate: {"td", "th", "sup", "sub", "img", "input", "select", "textarea", "button"},
		tagBlock: {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
			"dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
			"h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li", "main",
			"menu", "nav", "ol", "option", "p", "section", "summary", "table", "tbody", "tfoot", "thead",
			"tr", "ul"},
	} {
		for _, n := range names {
			m[n] = k
		}
	}
	return m
}()

// htmlTextWriter collects rendered text, collapsing white space as a
// browser does: a separator is written only when text follows it.
type htmlTextWriter struct {
	b     strings.Builder
	space bool // a space is due before the next text
	line  bool // a line break is due before the next text
}

// text writes a text token; white space collapses unless pre.
func (w *htmlTextWriter) text(t []byte, pre bool) {
	if pre {
		if len(t) > 0 {
			w.flush()
			w.b.Write(t)
		}
		return
	}
	for len(t) > 0 {
		i := 0
		for i < len(t) && isHTMLSpace(t[i]) {
			i++
		}
		if i > 0 {
			w.space = true
			t = t[i:]
			continue
		}
		for i < len(t) && !isHTMLSpace(t[i]) {
			i++
		}
		w.flush()
		w.b.Write(t[:i])
		t = t[i:]
	}
}

func (w *htmlTextWriter) flush() {
	if w.b.Len() > 0 {
		switch {
		case w.line:
			w.b.WriteByte('\n')
		case w.space:
			w.b.WriteByte(' ')
		}
	}
	w.space, w.line = false, false
}

func (w *htmlTextWriter) block()    { w.line = true }
func (w *htmlTextWriter) separate() { w.space = true }

// lineBreak writes <br>'s line break at once: two <br>s make a blank line.
func (w *htmlTextWriter) lineBreak() {
	w.b.WriteByte('\n')
	w.space, w.line = false, false
}

func (w *htmlTextWriter) String() string { return w.b.String() }

// isHTMLSpace reports ASCII white space as HTML defines it; a
// non-breaking space is text.
func isHTMLSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// htmlLinks returns the href targets of the <a> and <area> elements of an
// HTML document, in order. The tokenizer is linear in the input, so it
// reads the whole part, not just the rendered prefix.
func htmlLinks(s string) []string {
	var links []string
	z := html.NewTokenizer(strings.NewReader(s))
	z.SetMaxBuf(1 << 20)
	for {
		switch z.Next() {
		case html.ErrorToken:
			return links
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if !hasAttr || !(bytes.Equal(name, []byte("a")) || bytes.Equal(name, []byte("area"))) {
				continue
			}
			for {
				k, v, more := z.TagAttr()
				if string(k) == "href" {
					if href := strings.TrimSpace(string(v)); href != "" && !strings.HasPrefix(href, "#") {
						links = append(links, href)
					}
				}
				if !more {
					break
				}
			}
			if len(links) > maxURLs {
				return links
			}
		}
	}
}

// textURL matches http(s) URLs in plain text; the trailing punctuation a
// sentence puts after a URL is trimmed by trimURL.
var textURL = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"'\x60{}|\\^\x00-\x1f]+`)

// urlStop marks the bytes textURL's class leaves out, where a match ends.
// All are ASCII and none is a word character (for \b).
var urlStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for _, c := range []byte(" <>\"'`{}|\\^") {
		t[c] = true
	}
	return t
}()

// textURLs returns the http(s) URLs in s, in order: what
// textURL.FindAllString(s, maxURLs+1) finds, trimmed.
//
// The regexp has no literal prefix to look for, so on a whole text its
// backtracker starts a match at every byte. Instead it runs only on the
// stretches of s between two stop bytes (urlStop) that hold "://", which
// every match does. That gives the same matches: a match lies within one
// stretch (the stop bytes are outside its class), and where a stretch
// starts \b sees the same as in s (what precedes is a stop byte, or
// nothing, and neither is a word character). A stretch holds at most one
// match, since the class takes every byte of it.
func textURLs(s string) []string {
	var found []string
	for len(found) <= maxURLs {
		i := strings.Index(s, "://")
		if i < 0 {
			break
		}
		start, end := i, i+len("://")
		for start > 0 && !urlStop[s[start-1]] {
			start--
		}
		for end < len(s) && !urlStop[s[end]] {
			end++
		}
		if m := textURL.FindString(s[start:end]); m != "" {
			found = append(found, m)
		}
		s = s[end:]
	}
	out := found[:0]
	for _, u := range found {
		if u = trimURL(u); len(u) > len("https://") {
			out = append(out, u)
		}
	}
	return out
}

// trimURL drops sentence punctuation after a URL, and a closing bracket
// that has no opening one inside it ("(see https://x/y)").
func trimURL(u string) string {
	for len(u) > 0 {
		last := u[len(u)-1]
		switch {
		case strings.IndexByte(".,;:!?*'\"", last) >= 0:
			u = u[:len(u)-1]
		case last == ')' && strings.Count(u, "(") < strings.Count(u, ")"),
			last == ']' && strings.Count(u, "[") < strings.Count(u, "]"):
			u = u[:len(u)-1]
		default:
			return u
		}
	}
	return u
}

// clip shortens s for a warning.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// withHeader prefixes a body with a synthetic header block.
func withHeader(hdr string, body []byte) io.Reader {
	return io.MultiReader(strings.NewReader(hdr), bytes.NewReader(body))
}
