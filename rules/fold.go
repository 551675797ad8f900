package rules

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// readTexts are texts already folded for matching (foldForMatch), so that
// the several searches of one message (incident IDs, loose IDs, tenant
// GUIDs) fold each text once.
type readTexts []string

// readAll folds each of texts for matching.
func readAll(texts []string) readTexts {
	out := make(readTexts, len(texts))
	for i, t := range texts {
		out[i] = foldForMatch(t)
	}
	return out
}

// foldForMatch returns s as a reader sees it, for incident IDs and tenant
// GUIDs to be found in: compatibility forms NFKC-normalised and invisible
// characters dropped. Text that is all ASCII, or whose non-ASCII characters
// need no change, is returned as it is, without a copy.
//
//   - Full-width and mathematical forms ("ＥＸ３１５２０７", "𝐄𝐗𝟑𝟏𝟓𝟐𝟎𝟕") look
//     like the ASCII letters and digits they are NFKC-equivalent to, so they
//     are mapped to them.
//   - Other numbers (Unicode category No: superscripts, subscripts,
//     fractions, circled and parenthesised digits), modifier letters (Lm)
//     and other symbols (So: circled letters) are left alone although NFKC
//     maps them to digits and letters: a superscript after an ID is a
//     footnote ("EX315207¹" names EX315207, not EX3152071) and nobody writes
//     an incident ID in circled digits ("EX①②③④⑤⑥" is no ID). Left alone
//     they are not digits (unicode.IsDigit), so they separate words.
//   - Soft hyphens, zero-width spaces and joiners, the word joiner and
//     U+FEFF are invisible in a browser: "EX\u200b315207" shows as EX315207,
//     and help-desk tools insert them in long tokens to let lines wrap.
//
// NFKC is applied to one character at a time, which differs from NFKC of
// the whole text only in how characters compose; composition never turns
// a character into an ASCII letter or digit, so IDs are found the same.
func foldForMatch(s string) string {
	i := asciiPrefix(s)
	if i == len(s) {
		return s // the common case: no copy, no table lookups
	}
	var b []byte // nil until a character changes
	for i < len(s) {
		_, n := utf8.DecodeRuneInString(s[i:])
		repl, changed := foldRune(s[i : i+n])
		if changed && b == nil {
			b = make([]byte, 0, len(s))
			b = append(b, s[:i]...)
		}
		if b != nil {
			if changed {
				b = append(b, repl...)
			} else {
				b = append(b, s[i:i+n]...)
			}
		}
		i += n
		j := i + asciiPrefix(s[i:])
		if b != nil {
			b = append(b, s[i:j]...)
		}
		i = j
	}
	if b == nil {
		return s
	}
	return string(b)
}

// asciiPrefix returns the length of the ASCII run that starts s, reading
// eight bytes at a time.
func asciiPrefix(s string) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&0x8080808080808080 != 0 {
			break
		}
	}
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	return i
}

// foldRune returns what the one non-ASCII character c (or invalid byte)
// reads as, and whether that differs from c.
func foldRune(c string) (string, bool) {
	r, n := utf8.DecodeRuneInString(c)
	if r == utf8.RuneError && n <= 1 {
		// An invalid byte reads as U+FFFD, a separator. Kept as it is,
		// it could join the invalid bytes around an ignored character
		// into a valid one ("\xc2" "\u00ad" "\xad" would fold to a soft
		// hyphen), and folding twice would not give the same.
		return "\ufffd", true
	}
	switch r {
	case '\u00ad', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return "", true
	}
	if foldStable(r) {
		return "", false
	}
	if 0xff01 <= r && r <= 0xff5e { // full-width ASCII, as NFKC maps it
		return asciiStrings[r-0xfee0], true
	}
	if unicode.In(r, unicode.No, unicode.Lm, unicode.So) {
		return "", false
	}
	// Only a compatibility mapping changes what c reads as: a canonical
	// decomposition ("Ü" = "U" + U+0308) leaves the same letter. Comparing
	// the two decompositions costs no allocation, unlike IsNormalString.
	k := norm.NFKC.PropertiesString(c).Decomposition()
	if k == nil || bytes.Equal(k, norm.NFC.PropertiesString(c).Decomposition()) {
		return "", false
	}
	return norm.NFKC.String(c), true
}

// asciiStrings holds each ASCII character as a string, so that folding a
// full-width character allocates nothing.
var asciiStrings = func() (t [utf8.RuneSelf]string) {
	for c := range t {
		t[c] = string(rune(c))
	}
	return t
}()

// foldStable reports whether r lies in a range of the common scripts
// (accented Latin, Cyrillic, CJK ideographs, kana, Hangul syllables) where
// NFKC maps nothing but the exceptions listed: most non-ASCII text in mail
// is there, and the general check costs several table look-ups a
// character (BenchmarkIncidentIDs1MB). TestFoldStable holds it to NFKC.
func foldStable(r rune) bool {
	switch {
	case 0xc0 <= r && r < 0x250: // Latin-1 letters, Latin Extended-A and -B
		switch {
		case r == 0x132, r == 0x133, r == 0x13f, r == 0x140, r == 0x149, r == 0x17f,
			0x1c4 <= r && r <= 0x1cc, 0x1f1 <= r && r <= 0x1f3:
			return false // ligatures and digraphs: Ĳ, ŀ, ŉ, ſ, Ǆ, Ǳ, ...
		}
		return true
	case 0x400 <= r && r < 0x530: // Cyrillic and its supplement
		return true
	case 0x3041 <= r && r < 0x309b, 0x30a0 <= r && r < 0x30ff: // kana
		return true
	case 0x4e00 <= r && r < 0xa000: // CJK Unified Ideographs
		return true
	case 0xac00 <= r && r < 0xd7a4: // Hangul syllables
		return true
	}
	return false
}

// unspacedScripts are the scripts written without spaces between words,
// so that an ID stands right against them ("障害EX315207が発生"). Their
// characters end a word as a space does.
var unspacedScripts = []*unicode.RangeTable{
	unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Bopomofo,
	unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar,
}

// isWordRune reports whether r, a non-ASCII character, belongs in a word
// with the ASCII letters and digits next to it: letters, digits and
// combining marks of the spaced scripts (Latin, Greek, Cyrillic, Arabic,
// ...) do, so "ЖEX315207" and "αEX315207" are no IDs; characters of the
// unspaced scripts do not.
func isWordRune(r rune) bool {
	if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)) {
		return false
	}
	// Ranges first: most text of these scripts is there, and the script
	// tables are long. The prolonged sound mark ー (U+30FC), its
	// half-width form and the half-width voiced marks are Common script
	// but only ever written in kana.
	switch {
	case 0x4e00 <= r && r < 0xa000, 0x3040 <= r && r < 0x3100, 0xac00 <= r && r < 0xd7a4,
		r == 0xff70, r == 0xff9e, r == 0xff9f:
		return false
	case r < 0x0e00: // below Thai: Latin, Greek, Cyrillic, Arabic, Indic, ...
		return true
	}
	return !unicode.In(r, unspacedScripts...)
}
