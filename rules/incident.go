package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// defaultPrefixes are the Service Health incident prefixes: those named in
// Microsoft's SLA-credit documentation, then those seen on real incidents
// since (TM onwards).
var defaultPrefixes = map[string]string{
	"EX": "Exchange Online",
	"FO": "Exchange Online Protection",
	"SB": "Skype for Business Online",
	"OS": "Office Subscription",
	"PB": "Power BI",
	"SP": "SharePoint Online",
	"YA": "Yammer",
	"MO": "Microsoft 365 suite",
	"TM": "Microsoft Teams",
	"OD": "OneDrive for Business",
	"CR": "Dynamics 365 apps",
	"CP": "Microsoft Copilot",
	"DZ": "Microsoft Defender XDR",
	"IT": "Microsoft Intune",
}

// DefaultIncidentPrefixes returns the built-in table of incident-ID
// prefixes and the services they stand for ("EX": "Exchange Online"). The
// map is a fresh copy.
func DefaultIncidentPrefixes() map[string]string {
	return maps.Clone(defaultPrefixes)
}

// IncidentPrefixes returns the policy's prefix table: the defaults extended
// or renamed by Config.IncidentPrefixes. The map is a fresh copy.
func (p *Policy) IncidentPrefixes() map[string]string {
	return maps.Clone(p.prefixes)
}

// Service returns the name of the service an incident ID's prefix stands
// for ("EX1234567" -> "Exchange Online"), or "" for an unknown prefix.
func (p *Policy) Service(incidentID string) string {
	if len(incidentID) < 2 {
		return ""
	}
	return p.prefixes[strings.ToUpper(incidentID[:2])]
}

// prefixIndex maps a two-letter ASCII prefix, either case, to 0..675; -1
// for anything else.
func prefixIndex(s string) int {
	if len(s) != 2 {
		return -1
	}
	a, b := upperASCII(s[0]), upperASCII(s[1])
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return -1
	}
	return int(a-'A')*26 + int(b-'A')
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Incident IDs have 5 digits (2015) to 7 (2025); 8 leaves room for growth.
const (
	minIDDigits = 5
	maxIDDigits = 8
)

// incidentShape reports whether s has an incident ID's shape: two ASCII
// letters, either case, then minIDDigits to maxIDDigits ASCII digits. It is
// the one grammar of an incident ID; the scanner adds that the prefix is
// known and that the ID stands alone.
func incidentShape(s string) bool {
	if len(s) < 2+minIDDigits || len(s) > 2+maxIDDigits || prefixIndex(s[:2]) < 0 {
		return false
	}
	for i := 2; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// ParseIncidentID returns s, trimmed, as an incident ID in canonical form
// (upper case: "ex1234567" -> "EX1234567") when it has an incident ID's
// shape: two ASCII letters and 5 to 8 ASCII digits, nothing else. The
// prefix need not be known (Policy.Service says whether it is), except
// that Message Center posts ("MC123456") are refused: they are not
// incidents. The error says what an ID looks like.
func ParseIncidentID(s string) (string, error) {
	t := strings.TrimSpace(s)
	if !incidentShape(t) {
		return "", fmt.Errorf("%q is not an incident ID: two letters and %d to %d digits, like EX1234567", s, minIDDigits, maxIDDigits)
	}
	t = strings.ToUpper(t)
	if t[:2] == "MC" {
		return "", fmt.Errorf("%q is a Message Center post, not an incident ID; use the incident's ID from Service Health, like EX1234567", s)
	}
	return t, nil
}

// IncidentIDs returns the Service Health incident IDs that texts name, upper
// case, unique and sorted; nil when there are none.
//
// Texts are read as a browser shows them (foldForMatch): full-width and
// other compatibility forms count as the ASCII they stand for
// ("ＥＸ３１５２０７"), invisible characters (soft hyphens, zero-width
// spaces) are ignored.
//
// An ID is a known prefix (IncidentPrefixes) and 5 to 8 digits, in any case,
// standing as a word of its own: letters and digits of spaced scripts
// (Latin, Greek, Cyrillic, ...) on either side make it part of a longer
// token ("XEX251945Z", "INV25194", "EX251945Z", "EX123456789", "ЖEX315207"),
// while punctuation, spaces, "_", "/", "=", "#", apostrophes and the
// characters of scripts written without spaces (Han, kana, Hangul, Thai)
// end it, so "(EX1234567)", "#EX1234567", "ID: ex1234567", "EX1234567's",
// "障害EX315207が発生" and ".../alerts/EX1234567" all count. Digits of an ID
// are ASCII digits (or their full-width forms); Arabic-Indic and other
// digits join the token like letters. A number fragment
// such as "EX12345.67" does not. Percent-encoded text (links rewritten by
// Safe Links) is also searched decoded. Spaced or hyphenated forms
// ("EX 1234567", "EX-1234567") do not count: written that way the prefixes
// collide with postcodes ("IT-00100") and product names; Judge warns about
// them instead. Message Center posts ("MC123456") are not incidents.
func (p *Policy) IncidentIDs(texts ...string) []string {
	return p.incidentIDsIn(readAll(texts))
}

// incidentIDsIn is IncidentIDs over texts already folded.
func (p *Policy) incidentIDsIn(texts readTexts) []string {
	var ids []string
	add := func(s string, start, end int) {
		if id, ok := p.incidentAt(s, start, end); ok {
			ids = append(ids, id)
		}
	}
	for _, t := range texts {
		forEachWord(t, func(start, end int) { add(t, start, end) })
		for _, d := range percentDecodings(t) {
			d = foldForMatch(d) // a link may encode full-width text
			forEachWord(d, func(start, end int) { add(d, start, end) })
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for i := range ids {
		ids[i] = strings.Clone(ids[i]) // not pin a large text for a short ID
	}
	return slices.Clip(ids)
}

// incidentAt checks the word s[start:end] and returns it as an incident ID.
func (p *Policy) incidentAt(s string, start, end int) (string, bool) {
	if !incidentShape(s[start:end]) || !p.known[prefixIndex(s[start:start+2])] {
		return "", false
	}
	// "EX12345.67" and "EX12345,6" are numbers, not IDs ending a sentence.
	if end+1 < len(s) && (s[end] == '.' || s[end] == ',') && isDigit(s[end+1]) {
		return "", false
	}
	if 'A' <= s[start] && s[start] <= 'Z' && 'A' <= s[start+1] && s[start+1] <= 'Z' {
		return s[start:end], true // IncidentIDs clones what it keeps
	}
	return string([]byte{upperASCII(s[start]), upperASCII(s[start+1])}) + s[start+2:end], true
}

// looseID is an incident ID written with a separator ("EX 1234567").
type looseID struct {
	Written string // as it stands in the text
	ID      string // as it should be written
}

// looseIncidentIDs finds IDs written with spaces or one hyphen between an
// upper-case prefix and the number, which IncidentIDs does not accept, so
// Judge can tell an analyst about them.
func (p *Policy) looseIncidentIDs(texts ...string) []looseID {
	return p.looseIncidentIDsIn(readAll(texts))
}

// looseIncidentIDsIn is looseIncidentIDs over texts already folded.
func (p *Policy) looseIncidentIDsIn(texts readTexts) []looseID {
	var out []looseID
	for _, t := range texts {
		prevStart, prevEnd := -1, -1
		forEachWord(t, func(start, end int) {
			if prevStart >= 0 && end-start >= minIDDigits && end-start <= maxIDDigits &&
				allDigits(t[start:end]) && looseGap(t[prevEnd:start]) {
				w := t[prevStart:end]
				out = append(out, looseID{Written: w, ID: t[prevStart:prevEnd] + t[start:end]})
			}
			prevStart, prevEnd = -1, -1
			if end-start == 2 {
				if pi := prefixIndex(t[start:end]); pi >= 0 && p.known[pi] &&
					t[start] == upperASCII(t[start]) && t[start+1] == upperASCII(t[start+1]) {
					prevStart, prevEnd = start, end
				}
			}
		})
	}
	return out
}

// looseGap reports whether g, the text between a prefix and a number, is
// only blanks and at most one hyphen or dash.
func looseGap(g string) bool {
	if g == "" || len(g) > 8 {
		return false
	}
	dashes := 0
	for _, r := range g {
		switch r {
		case ' ', '\t', '\u00a0':
		case '-', '\u2010', '\u2011', '\u2013':
			dashes++
		default:
			return false
		}
	}
	return dashes <= 1
}

// forEachWord calls fn with the bounds of each maximal run of letters,
// digits and combining marks in s (isWordRune). Everything else
// (punctuation, spaces, symbols, "_", invalid UTF-8, the characters of
// scripts written without spaces) separates words.
func forEachWord(s string, fn func(start, end int)) {
	i := 0
	for i < len(s) {
		ok, n := wordRuneAt(s, i)
		if !ok {
			i += n
			continue
		}
		start := i
		i += n
		for i < len(s) {
			if c := s[i]; c < utf8.RuneSelf { // the common case, kept inline
				if !asciiWord[c] {
					break
				}
				i++
				continue
			}
			if ok, n = wordRuneAt(s, i); !ok {
				break
			}
			i += n
		}
		fn(start, i)
	}
}

// standsAlone reports whether s[start:end] is a token of its own: no
// character that belongs in a word (wordRuneAt) touches it on either side.
// It is the boundary rule of forEachWord, for patterns such as GUIDs that
// hold separators themselves.
func standsAlone(s string, start, end int) bool {
	if start > 0 {
		if c := s[start-1]; c < utf8.RuneSelf {
			if asciiWord[c] {
				return false
			}
		} else if r, n := utf8.DecodeLastRuneInString(s[:start]); !(r == utf8.RuneError && n <= 1) && isWordRune(r) {
			return false
		}
	}
	if end < len(s) {
		if ok, _ := wordRuneAt(s, end); ok {
			return false
		}
	}
	return true
}

// asciiWord marks the ASCII letters and digits.
var asciiWord = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	return t
}()

// wordRuneAt reports whether the rune at s[i] belongs in a word, and its
// length in bytes.
func wordRuneAt(s string, i int) (bool, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return asciiWord[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError {
		return false, n
	}
	return isWordRune(r), n
}

// percentDecodings returns s percent-decoded once, twice and three times
// (Safe Links wraps a link in a query parameter; a forwarded one may be
// wrapped again), stopping when nothing changes; nil when s has nothing to
// decode. Invalid escapes stay as they are.
func percentDecodings(s string) []string {
	var out []string
	for range 3 {
		if !strings.Contains(s, "%") {
			break
		}
		d := percentDecode(s)
		if d == s {
			break
		}
		out = append(out, d)
		s = d
	}
	return out
}

func percentDecode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
