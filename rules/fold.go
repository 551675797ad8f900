package rules

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

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
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) {
		return s // the common case: no copy, no table lookups
	}
	var b []byte // nil until a character changes
	for i < len(s) {
		if s[i] < utf8.RuneSelf {
			if b != nil {
				b = append(b, s[i])
			}
			i++
			continue
		}
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
	}
	if b == nil {
		return s
	}
	return string(b)
}

// foldRune returns what the one non-ASCII character c (or invalid byte)
// reads as, and whether that differs from c.
func foldRune(c string) (string, bool) {
	r, n := utf8.DecodeRuneInString(c)
	if r == utf8.RuneError && n <= 1 {
		return "", false // stays invalid, and so a separator
	}
	switch r {
	case '\u00ad', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return "", true
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
	// The prolonged sound mark ー is Common script but only ever written
	// in kana.
	if r == '\u30fc' || unicode.In(r, unspacedScripts...) {
		return false
	}
	return true
}
