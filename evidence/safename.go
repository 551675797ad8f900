package evidence

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxSafeNameBytes caps a safe name below the 255 bytes most file systems
// allow, leaving room for a " (NNNN)" duplicate number.
const maxSafeNameBytes = 200

// maxExtBytes is the longest extension SafeName keeps when it shortens a
// name; a longer "extension" is just part of a long name.
const maxExtBytes = 16

// SafeName turns the name a sender gave an attachment into a file name that
// is safe to create in a directory on Linux, macOS and Windows, and unique
// among the names already handed out (recorded in used, which SafeName
// updates; it may start empty, never nil).
//
// It keeps only the last element of a path (either separator), drops control
// and bidirectional-override characters and leading dots, replaces the
// characters Windows forbids (<>:"|?*) with "_", trims trailing dots and
// spaces, prefixes Windows device names (CON, NUL, COM1, ...) with "_", caps
// the length at 200 bytes keeping the extension, and numbers duplicates as
// Windows does ("report.pdf", "report (2).pdf"), comparing case-insensitively.
// A name left empty becomes "attachment-N".
func SafeName(name string, used map[string]int) string {
	s := cleanName(name)
	if s == "" {
		for n := 1; ; n++ {
			s = "attachment-" + strconv.Itoa(n)
			if _, taken := used[strings.ToLower(s)]; !taken {
				break
			}
		}
	}
	key := strings.ToLower(s)
	if _, taken := used[key]; !taken {
		used[key] = 1
		return s
	}
	stem, ext := splitExt(s)
	for n := used[key] + 1; ; n++ {
		c := stem + " (" + strconv.Itoa(n) + ")" + ext
		ck := strings.ToLower(c)
		if _, taken := used[ck]; !taken {
			used[key] = n
			used[ck] = 1
			return c
		}
	}
}

// cleanName applies every rule of SafeName but uniqueness.
func cleanName(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || (0x80 <= r && r < 0xa0):
			// Control characters: a newline in a name breaks listings and
			// shell scripts; none has a printable meaning.
		case unicode.Is(unicode.Bidi_Control, r):
			// "fdp.exe" shown as "exe.pdf": an old phishing trick.
		case strings.ContainsRune(`<>:"|?*`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.TrimLeft(b.String(), ". ")
	s = strings.TrimRight(s, ". ")
	if s == "" {
		return ""
	}
	if isWindowsDevice(s) {
		s = "_" + s
	}
	return capLength(s)
}

// isWindowsDevice reports whether Windows would open a device instead of a
// file of this name: the part before the first dot, trailing spaces ignored,
// is a reserved device name in any case ("nul.txt", "COM1 .log").
func isWindowsDevice(s string) bool {
	base, _, _ := strings.Cut(s, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) >= 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		// COM1-COM9, LPT1-LPT9, and the superscript digits Windows also
		// treats as ports.
		switch base[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}

// capLength shortens s to maxSafeNameBytes at a rune boundary, keeping a
// short extension.
func capLength(s string) string {
	if len(s) <= maxSafeNameBytes {
		return s
	}
	stem, ext := splitExt(s)
	if len(ext) > maxExtBytes {
		stem, ext = s, ""
	}
	keep := maxSafeNameBytes - len(ext)
	for keep > 0 && !utf8.RuneStart(stem[keep]) {
		keep--
	}
	return strings.TrimRight(stem[:keep], ". ") + ext
}

// splitExt splits "report.final.pdf" into "report.final" and ".pdf".
func splitExt(s string) (stem, ext string) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 {
		return s, ""
	}
	return s[:i], s[i:]
}
