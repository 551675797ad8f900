package evidence

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/claimtrail/claimtrail/rules"
	"github.com/emersion/go-message/charset"
	"github.com/jhillyerd/enmime/v2"
	"golang.org/x/net/idna"
)

// header is a parsed header block: canonical or not, keys are matched
// case-insensitively and each key's values keep their order (topmost
// first).
type header map[string][]string

// values returns the values of the named field, topmost first.
func (h header) values(name string) []string {
	if v, ok := h[name]; ok {
		return v
	}
	var out []string
	for k, v := range h {
		if strings.EqualFold(k, name) {
			out = append(out, v...)
		}
	}
	return out
}

// get returns the first value of the named field, or "".
func (h header) get(name string) string {
	if v := h.values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// readHeaderFacts fills the header facts of f from the message's top-level
// header block, recording what it could not read as warnings.
func readHeaderFacts(h header, f *Facts, warn func(string)) {
	if ids := h.values("Message-Id"); len(ids) > 0 {
		f.MessageID = messageID(ids[0])
		if len(ids) > 1 {
			warn(fmt.Sprintf("%d Message-ID fields; used the first", len(ids)))
		}
	}

	froms := h.values("From")
	f.FromFields = len(froms)
	switch {
	case len(froms) == 0:
		warn("no From field: the sender is unknown")
	case len(froms) > 1:
		warn(fmt.Sprintf("%d From fields (RFC 5322 allows one); From and Sender are the first, Authors lists the addresses of all", len(froms)))
	}
	for i, v := range froms {
		authors, sender := fromAddresses(v, warn)
		if i == 0 {
			f.From = decodeHeaderText(v, "From", warn)
			f.Sender = sender
		}
		f.Authors = append(f.Authors, authors...)
	}
	if n := len(f.Authors); n > maxAuthors {
		f.AuthorsDropped = n - maxAuthors
		f.Authors = f.Authors[:maxAuthors:maxAuthors]
		warn(fmt.Sprintf("%d From addresses: the first %d recorded as authors (the message keeps them all; a customer's request has one)", n, maxAuthors))
	}

	for _, v := range h.values("Reply-To") {
		f.ReplyTo = append(f.ReplyTo, addrSpecs(v, "Reply-To", warn)...)
	}

	for _, v := range h.values("To") {
		f.To = append(f.To, addressesAsWritten(v, warn)...)
	}
	if len(f.To) > maxToAddresses {
		warn(fmt.Sprintf("%d To addresses: the first %d recorded (the message keeps them all)", len(f.To), maxToAddresses))
		f.To = f.To[:maxToAddresses:maxToAddresses]
	}

	if dates := h.values("Date"); len(dates) == 0 {
		warn("no Date field")
	} else if t, problem := parseDate(dates[0]); problem != "" {
		warn(problem)
		f.Date = t
	} else {
		f.Date = t
	}

	if subj := h.values("Subject"); len(subj) > 0 {
		f.Subject = decodeHeaderText(subj[0], "Subject", warn)
	}

	ars := h.values("Authentication-Results")
	if len(ars) > maxAuthenticationResults {
		warn(fmt.Sprintf("%d Authentication-Results fields: the topmost %d kept (the receiving server's own stamp is the topmost)", len(ars), maxAuthenticationResults))
		ars = ars[:maxAuthenticationResults]
	}
	f.AuthenticationResults = append([]string(nil), ars...)

	for _, name := range rules.AutomationFields() {
		if v := h.values(name); len(v) > 0 {
			if f.Automation == nil {
				f.Automation = map[string]string{}
			}
			f.Automation[name] = clip(strings.Join(strings.Fields(v[0]), " "), maxAutomationValue)
		}
	}
	f.ReportType = reportType(h.get("Content-Type"))
}

// maxAutomationValue bounds a recorded automation field: the markers are
// short words, and a hostile header must not bloat the manifest.
const maxAutomationValue = 200

// reportType returns the report-type of a multipart/report Content-Type
// (RFC 6522 section 3), lower-cased, or "unknown" when it names none; ""
// for any other Content-Type.
func reportType(ct string) string {
	// Bounded as every media type is, before a parser sees it.
	ct, _ = boundMediaType(strings.TrimSpace(ct))
	first, _, _ := strings.Cut(ct, ";")
	if !strings.EqualFold(strings.TrimSpace(first), "multipart/report") {
		return ""
	}
	t := ""
	if _, params, _, err := parseMediaType(ct); err == nil {
		t = params["report-type"]
	} else if _, after, ok := strings.Cut(strings.ToLower(ct), "report-type="); ok {
		// Parameters mediatype cannot read must not hide the report.
		t, _, _ = strings.Cut(after, ";")
	}
	t = strings.ToLower(strings.Trim(strings.TrimSpace(t), `"`))
	if t == "" {
		return "unknown"
	}
	return clip(t, 64)
}

// maxAuthors bounds the From addresses recorded as authors. The rules
// judge every author, so an unbounded list would make a hostile From of
// 50,000 addresses cost seconds; a message past it cannot be judged
// (Facts.AuthorsDropped).
const maxAuthors = 100

// maxToAddresses bounds the To addresses recorded in the facts and the
// manifest: they only tell an analyst who else was addressed, and a To of
// 50,000 addresses made a 2 MB manifest.
const maxToAddresses = 1000

// maxAuthenticationResults bounds the Authentication-Results fields kept.
// Each server on the way adds one at the top, so the receiving server's is
// among the first few; the rest only make a forged list long: 5,000 gave a
// 400 KB manifest.
const maxAuthenticationResults = 100

// messageID returns the msg-id of a Message-ID field without its angle
// brackets or the comments around it.
func messageID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
		return strings.TrimSpace(v[i+1:])
	}
	if i := strings.IndexByte(v, '('); i > 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// encodedWord matches an RFC 2047 encoded-word; an RFC 2231 language
// suffix on the charset ("utf-8*cs") is allowed.
var encodedWord = regexp.MustCompile(`=\?([^?\s]{1,75})\?([bBqQ])\?([^?\s]*)\?=`)

// maxEncodedWords bounds the encoded-words decoded per field: real
// subjects have a few, and each costs a decoder call.
const maxEncodedWords = 10000

// wordDecoder decodes one encoded-word with every charset x/text knows.
var wordDecoder = &mime.WordDecoder{CharsetReader: headerCharsetReader}

func headerCharsetReader(label string, r io.Reader) (io.Reader, error) {
	label = strings.ToLower(label)
	if isLatin1Label(label) {
		label = "windows-1252"
	}
	return charset.Reader(label, r)
}

// decodeHeaderText decodes the RFC 2047 encoded-words of an unstructured
// header value. A word in an unknown charset is kept as it stands and
// named in a warning; the rest of the value is still decoded.
func decodeHeaderText(v, field string, warn func(string)) string {
	if !strings.Contains(v, "=?") {
		return validUTF8(v)
	}
	var (
		b         strings.Builder
		last      int
		prevWord  bool // the previous token was a decoded encoded-word
		unknown   []string
		malformed int
	)
	matches := encodedWord.FindAllStringSubmatchIndex(v, maxEncodedWords+1)
	if len(matches) > maxEncodedWords {
		warn(fmt.Sprintf("%s: more than %d encoded-words; the rest kept as written", field, maxEncodedWords))
		matches = matches[:maxEncodedWords]
	}
	for _, m := range matches {
		between := v[last:m[0]]
		word := v[m[0]:m[1]]
		cs := v[m[2]:m[3]]
		if i := strings.IndexByte(cs, '*'); i >= 0 {
			cs = cs[:i] // RFC 2231 section 5 language suffix
		}
		text, err := decodeWord(cs, v[m[4]:m[5]], v[m[6]:m[7]])
		if err != nil {
			if strings.Contains(err.Error(), "charset") {
				unknown = appendUnique(unknown, cs)
			} else {
				malformed++
			}
			b.WriteString(between)
			b.WriteString(word)
			prevWord = false
			last = m[1]
			continue
		}
		// RFC 2047 section 6.2: whitespace between adjacent encoded-words
		// is not displayed.
		if !(prevWord && strings.TrimSpace(between) == "") {
			b.WriteString(between)
		}
		b.WriteString(text)
		prevWord = true
		last = m[1]
	}
	b.WriteString(v[last:])
	for _, cs := range unknown {
		warn(fmt.Sprintf("%s: unknown charset %q in an encoded-word; kept as written", field, clip(cs, 40)))
	}
	if malformed > 0 {
		warn(fmt.Sprintf("%s: %d malformed encoded-word(s) kept as written", field, malformed))
	}
	return validUTF8(b.String())
}

// decodeWord decodes one encoded-word given its parts, trying enmime's
// charset table when x/text does not know the charset.
func decodeWord(cs, enc, text string) (string, error) {
	if isLatin1Label(strings.ToLower(cs)) {
		// mime.WordDecoder reads ISO-8859-1 itself, without the
		// Windows-1252 reading every other text here gets.
		cs = "windows-1252"
	}
	word := "=?" + cs + "?" + enc + "?" + text + "?="
	s, err := wordDecoder.Decode(word)
	if err == nil {
		return s, nil
	}
	if alt := enmime.DecodeRFC2047(word); alt != word {
		return alt, nil
	}
	return "", err
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return list
		}
	}
	return append(list, s)
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return decode1252([]byte(s))
}

// addressParser decodes encoded-words in display names with the same
// charsets as decodeHeaderText.
var addressParser = &mail.AddressParser{WordDecoder: wordDecoder}

// angleAddr finds an angle-addr in a field net/mail cannot parse.
var angleAddr = regexp.MustCompile(`<\s*([^<>\s@]+@[^<>\s@]+)\s*>`)

// parseAddresses parses an address-list leniently: net/mail first, then
// enmime's repairs (missing commas), then the angle-addrs it can find.
// lenient reports that the last resort was used.
func parseAddresses(v string) (list []*mail.Address, lenient bool, err error) {
	if list, err = addressParser.ParseList(v); err == nil {
		return list, false, nil
	}
	if alt, err2 := enmime.ParseAddressList(v); err2 == nil && len(alt) > 0 {
		return alt, false, nil
	}
	// Element by element, so that one broken display name does not hide
	// the other addresses: every From address is an author.
	// An angle-addr written inside a display name's quotes or a comment is
	// text, not the address: `"<jane@contoso.com>" attacker@evil.example`
	// must not read as jane's. So the list is read with those blanked.
	for _, el := range splitAddressList(blankQuotedText(v)) {
		if ms := angleAddr.FindAllStringSubmatch(el, -1); len(ms) > 0 {
			for _, m := range ms {
				list = append(list, &mail.Address{Address: unquoteLocal(m[1])})
			}
			continue
		}
		if t := strings.TrimSpace(el); strings.Count(t, "@") == 1 && !strings.ContainsAny(t, " \t<>,;\"") {
			list = append(list, &mail.Address{Address: t}) // "jan@contoso.cz." and the like
		}
	}
	if len(list) > 0 {
		return list, true, nil
	}
	return nil, false, err
}

// blankQuotedText returns v with every quoted string outside angle
// brackets and every comment (RFC 5322 sections 3.2.2 and 3.2.4) turned
// into spaces, its length unchanged: what is left are the words and
// angle-addrs a reader can take an address from. A quoted local part
// inside an angle-addr (<"x y"@contoso.com>) is kept.
func blankQuotedText(v string) string {
	b := []byte(v)
	depth, quoted, angle := 0, false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\\' && (quoted || depth > 0):
			if !angle || depth > 0 {
				b[i] = ' '
				if i+1 < len(b) {
					b[i+1] = ' '
				}
			}
			i++
			continue
		case c == '"' && depth == 0:
			quoted = !quoted
			if !angle {
				b[i] = ' '
			}
			continue
		case quoted:
			if !angle {
				b[i] = ' '
			}
			continue
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
			b[i] = ' '
			continue
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		}
		if depth > 0 {
			b[i] = ' '
		}
	}
	return string(b)
}

// splitAddressList splits an address-list whose quoted strings and
// comments are blanked (blankQuotedText) at the commas outside angle
// brackets.
func splitAddressList(blanked string) []string {
	var out []string
	start, angle := 0, false
	for i := 0; i < len(blanked); i++ {
		switch blanked[i] {
		case '<':
			angle = true
		case '>':
			angle = false
		case ',':
			if !angle {
				out = append(out, blanked[start:i])
				start = i + 1
			}
		}
	}
	return append(out, blanked[start:])
}

// fromAddresses reads a From field, a mailbox-list (RFC 5322 section
// 3.6.2). authors are all its addresses, each domain lower-cased and in
// ASCII (IDNA A-labels), the form DKIM d= and DMARC header.from use; an
// address it cannot read is kept as written, and a field without any gives
// the field as written, so that the rules see an author they cannot use
// rather than none. sender is the first address, "" when unreadable.
func fromAddresses(v string, warn func(string)) (authors []string, sender string) {
	list, lenient, err := parseAddresses(v)
	if err != nil || len(list) == 0 {
		warn(fmt.Sprintf("From field %q holds no readable address", clip(v, 120)))
		if t := strings.TrimSpace(v); t != "" {
			authors = []string{clip(t, 320)}
		}
		return authors, ""
	}
	read := 0
	for k, a := range list {
		addr, problem := normalizeAddress(a.Address)
		switch {
		case addr == "" && k == 0:
			warn(fmt.Sprintf("From field %q holds no readable address", clip(v, 120)))
		case problem != "":
			warn("From: " + problem)
		}
		if addr == "" {
			authors = append(authors, clip(a.Address, 320))
			continue
		}
		if k == 0 {
			sender = addr
		}
		authors = append(authors, addr)
		read++
	}
	if lenient && read > 0 {
		warn(fmt.Sprintf("From field %q is not valid RFC 5322; read it as %s", clip(v, 120), clip(strings.Join(authors, ", "), 400)))
	}
	if len(list) > 1 {
		warn(fmt.Sprintf("From field names %d addresses, all authors: %s", len(list), strings.Join(authors, ", ")))
	}
	return authors, sender
}

// addrSpecs returns the normalised addr-specs of an address-list field.
func addrSpecs(v, field string, warn func(string)) []string {
	list, _, err := parseAddresses(v)
	if err != nil || len(list) == 0 {
		if strings.TrimSpace(v) != "" {
			warn(fmt.Sprintf("%s field %q holds no readable address", field, clip(v, 120)))
		}
		return nil
	}
	var out []string
	for _, a := range list {
		addr, problem := normalizeAddress(a.Address)
		if problem != "" {
			warn(field + ": " + problem)
		}
		if addr != "" {
			out = append(out, addr)
		}
	}
	return out
}

// normalizeAddress lower-cases the domain of an addr-spec and converts it
// to ASCII. The local part is left alone, only quoted again where it must
// be (quoteLocal): only the receiving server may interpret it. a is an
// address as net/mail returns it, its local part unquoted, so its last
// "@" is the one before the domain (a domain holds none).
func normalizeAddress(a string) (string, string) {
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 {
		return "", fmt.Sprintf("%q is not an addr-spec", clip(a, 120))
	}
	local, domain := quoteLocal(a[:at]), strings.ToLower(strings.TrimSuffix(a[at+1:], "."))
	if domain == "" {
		return "", fmt.Sprintf("%q is not an addr-spec", clip(a, 120))
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		if !utf8.ValidString(domain) {
			return "", fmt.Sprintf("domain of %q is not valid UTF-8", clip(a, 120))
		}
		return local + "@" + domain, fmt.Sprintf("domain %q is not a valid IDNA name: %v", clip(domain, 80), err)
	}
	if ascii == "" {
		// UTS 46 maps some characters to nothing (U+00AD, a soft
		// hyphen): a domain of only those is no domain.
		return "", fmt.Sprintf("%q is not an addr-spec: its domain is empty once IDNA maps it", clip(a, 120))
	}
	return local + "@" + ascii, ""
}

// quoteLocal writes a local part as RFC 5322 section 3.4.1 requires: as it
// is when it is a dot-atom, else as a quoted-string, so that
// "jane@contoso.com"@gmail.com is not shown as jane@contoso.com@gmail.com,
// an address at gmail.com that reads as one at contoso.com.
func quoteLocal(local string) string {
	if isDotAtom(local) {
		return local
	}
	var b strings.Builder
	b.Grow(len(local) + 2)
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\') // quoted-pair
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}

// unquoteLocal returns addr with its local part unquoted, as net/mail
// returns addresses, for the lenient parse that takes an address as
// written: `"a b"@x` -> `a b@x`.
func unquoteLocal(addr string) string {
	if !strings.HasPrefix(addr, `"`) {
		return addr
	}
	var b strings.Builder
	for i := 1; i < len(addr); i++ {
		switch c := addr[i]; c {
		case '\\':
			if i+1 < len(addr) {
				i++
				b.WriteByte(addr[i])
			}
		case '"':
			b.WriteString(addr[i+1:])
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return addr // never closed: keep it as written
}

// isDotAtom reports whether s is an RFC 5322 dot-atom: atext runs joined
// by single dots. UTF-8 counts as atext (RFC 6532 section 3.2).
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// addressesAsWritten returns each address of an address-list as a reader
// would see it ("Jana Nováková <jana@contoso.cz>"), display names decoded.
func addressesAsWritten(v string, warn func(string)) []string {
	list, _, err := parseAddresses(v)
	if err != nil || len(list) == 0 {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		warn(fmt.Sprintf("To field %q could not be parsed; kept as written", clip(v, 120)))
		return []string{decodeHeaderText(v, "To", warn)}
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		s := a.Address
		if a.Name != "" {
			s = validUTF8(a.Name) + " <" + a.Address + ">"
		}
		out = append(out, s)
	}
	return out
}

// Date parsing. net/mail.ParseDate rejects common real-world forms
// (ISO 8601, asctime, a missing zone) and reads obsolete zone names such
// as "EST" as UTC, so claimtrail parses dates itself: the tokens of a date
// may come in any of the orders seen in the wild.

var monthNames = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"may": time.May, "jun": time.June, "jul": time.July, "aug": time.August,
	"sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

// zoneOffsets are the named zones RFC 5322 section 4.3 defines, and the
// European and other names common in real mail, in seconds east of UTC.
var zoneOffsets = map[string]int{
	"ut": 0, "utc": 0, "gmt": 0, "z": 0,
	"est": -5 * 3600, "edt": -4 * 3600, "cst": -6 * 3600, "cdt": -5 * 3600,
	"mst": -7 * 3600, "mdt": -6 * 3600, "pst": -8 * 3600, "pdt": -7 * 3600,
	"wet": 0, "west": 3600, "bst": 3600, "cet": 3600, "cest": 2 * 3600,
	"met": 3600, "mest": 2 * 3600, "eet": 2 * 3600, "eest": 3 * 3600,
	"msk": 3 * 3600, "jst": 9 * 3600, "kst": 9 * 3600, "hkt": 8 * 3600,
	"aest": 10 * 3600, "aedt": 11 * 3600,
}

var isoDate = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?\s*(Z|z|[+-]\d{2}:?\d{2}|[A-Za-z]{1,5})?$`)

// parseDate parses a Date field. problem is empty when the date was read
// as written; otherwise it says what was assumed, or that the date could
// not be read (and t is zero).
func parseDate(v string) (t time.Time, problem string) {
	s := rules.StripComments(v)
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, ",", " ")), " ")
	if s == "" {
		return time.Time{}, "Date field is empty"
	}
	if m := isoDate.FindStringSubmatch(s); m != nil {
		return dateFromParts(v, atoi(m[1]), atoi(m[2]), atoi(m[3]), m[4], m[5], m[6], m[7])
	}
	var (
		day, year        = -1, -1
		month            time.Month
		hh, mm, ss, zone string
		named            string // a zone name, used when there is no numeric zone
		yearDigits       int
	)
	for _, tok := range strings.Fields(s) {
		lt := strings.ToLower(tok)
		if len(lt) > 3 && (strings.HasPrefix(lt, "gmt") || strings.HasPrefix(lt, "utc")) && (lt[3] == '+' || lt[3] == '-') {
			tok, lt = tok[3:], lt[3:] // "GMT+0100"
		}
		switch {
		case month == 0 && len(lt) >= 3 && isLetters(lt) && monthNames[lt[:3]] != 0:
			month = monthNames[lt[:3]]
		case isWeekday(lt):
		case hh == "" && isClock(tok):
			parts := strings.FieldsFunc(tok, func(r rune) bool { return r == ':' || r == '.' })
			hh, mm = parts[0], parts[1]
			if len(parts) > 2 {
				ss = parts[2]
			}
		case tok[0] == '+' || tok[0] == '-':
			if zone != "" {
				return time.Time{}, fmt.Sprintf("Date field %q could not be read", clip(v, 80))
			}
			zone = tok
		case isDigits(tok) && day < 0 && year < 0 && len(tok) <= 2:
			day = atoi(tok)
		case isDigits(tok) && year < 0 && len(tok) >= 2 && len(tok) <= 4:
			year, yearDigits = atoi(tok), len(tok)
		case isLetters(lt):
			// A zone name, a name after a numeric zone ("+0100 CET"), or
			// a word such as "at": only a numeric zone outranks it.
			if len(lt) <= 5 && (named == "" || isKnownZone(tok) && !isKnownZone(named)) {
				named = tok
			}
		default:
			return time.Time{}, fmt.Sprintf("Date field %q could not be read", clip(v, 80))
		}
	}
	if zone == "" {
		zone = named
	}
	if day < 0 || month == 0 || year < 0 || hh == "" {
		return time.Time{}, fmt.Sprintf("Date field %q could not be read", clip(v, 80))
	}
	// RFC 5322 section 4.3: a two-digit year below 50 is 20xx, otherwise
	// 19xx; three digits add 1900.
	switch yearDigits {
	case 2:
		if year < 50 {
			year += 2000
		} else {
			year += 1900
		}
	case 3:
		year += 1900
	}
	return dateFromParts(v, year, int(month), day, hh, mm, ss, zone)
}

func dateFromParts(v string, year, month, day int, hh, mm, ss, zone string) (time.Time, string) {
	bad := fmt.Sprintf("Date field %q could not be read", clip(v, 80))
	h, mi, se := atoi(hh), atoi(mm), 0
	if ss != "" {
		se = atoi(ss)
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || h > 23 || mi > 59 || se > 60 || h < 0 || mi < 0 || se < 0 || year < 1900 || year > 9999 {
		return time.Time{}, bad
	}
	if se == 60 { // a leap second
		se = 59
	}
	offset, problem := 0, ""
	switch {
	case zone == "":
		problem = fmt.Sprintf("Date field %q has no time zone; assumed UTC", clip(v, 80))
	case zone[0] == '+' || zone[0] == '-':
		z := strings.ReplaceAll(zone[1:], ":", "")
		if len(z) != 4 || !isDigits(z) || atoi(z[:2]) > 23 || atoi(z[2:]) > 59 {
			return time.Time{}, bad
		}
		offset = atoi(z[:2])*3600 + atoi(z[2:])*60
		if zone[0] == '-' {
			offset = -offset
		}
	default:
		o, ok := zoneOffsets[strings.ToLower(zone)]
		if !ok {
			problem = fmt.Sprintf("Date field %q has an unknown time zone %q; assumed UTC", clip(v, 80), clip(zone, 10))
		}
		offset = o
	}
	t := time.Date(year, time.Month(month), day, h, mi, se, 0, time.FixedZone("", offset))
	if t.Day() != day { // 31 April and the like
		return time.Time{}, bad
	}
	return t, problem
}

func isKnownZone(name string) bool {
	_, ok := zoneOffsets[strings.ToLower(name)]
	return ok
}

func isClock(tok string) bool {
	parts := strings.FieldsFunc(tok, func(r rune) bool { return r == ':' || r == '.' })
	if len(parts) < 2 || len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 2 || !isDigits(p) {
			return false
		}
	}
	return true
}

func isWeekday(lt string) bool {
	if len(lt) < 3 || !isLetters(lt) {
		return false
	}
	switch lt[:3] {
	case "mon", "tue", "wed", "thu", "fri", "sat", "sun":
		return true
	}
	return false
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLetters(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// atoi parses a short run of digits; the callers have checked them.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// rfc2231Segment matches one segment of an RFC 2231 parameter:
// name*, name*N or name*N*, then its value.
var rfc2231Segment = regexp.MustCompile(`(?i)(?:^|;)\s*([a-z0-9_-]+)\*(\d{1,3})?(\*)?\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)`)

// rfc2231Param returns the named parameter of a header value when it is
// written with RFC 2231 extended syntax (continuations, a charset), or ""
// when it is not. mediatype.Parse, like mime.ParseMediaType, drops values
// in charsets other than UTF-8 and US-ASCII, which Czech mail uses.
func rfc2231Param(v, name string) string {
	if !strings.Contains(strings.ToLower(v), strings.ToLower(name)+"*") {
		return ""
	}
	type segment struct {
		value   string
		encoded bool
	}
	segs := map[int]segment{}
	for _, m := range rfc2231Segment.FindAllStringSubmatch(v, -1) {
		if !strings.EqualFold(m[1], name) {
			continue
		}
		n := 0
		if m[2] != "" {
			n = atoi(m[2])
		}
		val := m[4]
		if len(val) >= 2 && val[0] == '"' {
			val = strings.NewReplacer(`\\`, `\`, `\"`, `"`).Replace(val[1 : len(val)-1])
		}
		segs[n] = segment{val, m[3] != "" || m[2] == ""}
	}
	first, ok := segs[0]
	if !ok {
		return ""
	}
	cs := ""
	if first.encoded {
		// charset'language'value (RFC 2231 section 4)
		parts := strings.SplitN(first.value, "'", 3)
		if len(parts) == 3 {
			cs, first.value = parts[0], parts[2]
		}
		segs[0] = first
	}
	var raw []byte
	for i := 0; i < len(segs); i++ {
		s, ok := segs[i]
		if !ok {
			break // RFC 2231 section 3: segments must be consecutive
		}
		if s.encoded {
			raw = append(raw, percentDecode(s.value)...)
		} else {
			raw = append(raw, s.value...)
		}
	}
	if cs == "" || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "us-ascii") {
		return validUTF8(string(raw))
	}
	r, err := headerCharsetReader(cs, strings.NewReader(string(raw)))
	if err != nil {
		return validUTF8(string(raw))
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return validUTF8(string(raw))
	}
	return validUTF8(string(out))
}

// percentDecode undoes RFC 2231 %XX escapes, leaving bad ones as written.
func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// Bounds on a media-type field (Content-Type, Content-Disposition) read
// as such. enmime's repair of a mangled media type costs the field's
// length times its parameters, for every part it reads: a 1 MB
// Content-Type of 100,000 parameters kept one message busy for minutes.
// Real fields stay far below: a long non-Latin file name split into
// RFC 2231 segments needs a few dozen parameters and a kilobyte or two.
const (
	maxMediaTypeLen    = 4 << 10 // bytes of an unfolded field value
	maxMediaTypeParams = 64      // parameters, each RFC 2231 segment counting as one
	// maxMediaTypeCost bounds, over all the media-type fields of a message
	// given to enmime, the sum of each one's length times its parameters:
	// what enmime's repair, run on every field, costs.
	maxMediaTypeCost = 16 << 20
	// maxRepairLen is how much of a malformed field our own parse repairs
	// (enmime's mediatype.Parse): it runs per part, and a message may
	// have 20,000 parts.
	maxRepairLen = 256
)

// boundMediaType returns the part of a media-type field value that is
// read: at most maxMediaTypeParams parameters in at most maxMediaTypeLen
// bytes. bound names the bound v exceeded, "" when none; the cost is
// linear in len(v).
func boundMediaType(v string) (read string, bound string) {
	if len(v) > maxMediaTypeLen {
		v, bound = v[:maxMediaTypeLen], fmt.Sprintf("longer than %d bytes", maxMediaTypeLen)
	}
	params := 0
	for i := 0; i < len(v); i++ {
		if v[i] != ';' {
			continue
		}
		if params++; params > maxMediaTypeParams {
			v = v[:i]
			if bound == "" {
				bound = fmt.Sprintf("with more than %d parameters (RFC 2231 segments count as one each)", maxMediaTypeParams)
			}
			break
		}
	}
	return v, bound
}

// overMediaTypeBound reports the first Content-Type or
// Content-Disposition field in any header block of msg (or what looks
// like one, in a body: the check must cost no more than a scan) that
// boundMediaType would cut, and the bound it exceeds; or that the fields
// together are past maxMediaTypeCost. enmime reads every part's media
// type itself, so such a message is not given to it. The scan is linear
// in len(msg).
func overMediaTypeBound(msg []byte) (field, bound string) {
	cost := 0
	for off := 0; off < len(msg); {
		line := msg[off:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		next := off + len(line)
		name := ""
		switch {
		case hasPrefixFold(line, "content-type:"):
			name = "Content-Type"
		case hasPrefixFold(line, "content-disposition:"):
			name = "Content-Disposition"
		}
		if name == "" {
			off = next
			continue
		}
		// The field with its continuation lines.
		length, params := len(line), bytes.Count(line, []byte{';'})
		for next < len(msg) && (msg[next] == ' ' || msg[next] == '\t') && length <= maxMediaTypeLen && params <= maxMediaTypeParams {
			cont := msg[next:]
			if i := bytes.IndexByte(cont, '\n'); i >= 0 {
				cont = cont[:i+1]
			}
			length += len(cont)
			params += bytes.Count(cont, []byte{';'})
			next += len(cont)
		}
		switch {
		case length > maxMediaTypeLen:
			return "a " + name + " field", fmt.Sprintf("longer than %d bytes", maxMediaTypeLen)
		case params > maxMediaTypeParams:
			return "a " + name + " field", fmt.Sprintf("with more than %d parameters (RFC 2231 segments count as one each)", maxMediaTypeParams)
		}
		if cost += length * max(params, 1); cost > maxMediaTypeCost {
			return "the Content-Type and Content-Disposition fields", "too many and too long together (their repair costs each one's length times its parameters)"
		}
		off = next
	}
	return "", ""
}

// hasPrefixFold reports whether b starts with the lower-case ASCII
// prefix, in any case.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
