package rules

import (
	"slices"
	"strings"
)

// TenantIDs returns the GUIDs that texts name, in canonical tenant-ID form
// (lower case, no braces), unique and sorted; nil when there are none. Any
// case is accepted, with or without braces, also percent-encoded in links.
// A GUID is its 8-4-4-4-12 hex pattern standing as a token of its own, by
// the boundaries of IncidentIDs (standsAlone): letters and digits of
// spaced scripts on either side make it part of a longer token
// ("a72f988bf-...", "ЖGUID"), while punctuation, spaces and the characters
// of unspaced scripts ("テナントID<GUID>です") end it. Texts are read as
// IncidentIDs reads them (foldForMatch): full-width forms count, invisible
// characters are ignored.
func TenantIDs(texts ...string) []string {
	return tenantIDsIn(readAll(texts))
}

// tenantIDsIn is TenantIDs over texts already folded.
func tenantIDsIn(texts readTexts) []string {
	var ids []string
	for _, t := range texts {
		ids = appendGUIDs(ids, t)
		for _, d := range percentDecodings(t) {
			ids = appendGUIDs(ids, foldForMatch(d))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// appendGUIDs appends the GUIDs in s. The first dash of a GUID sits 8 bytes
// in, so each dash is tried as that one.
func appendGUIDs(ids []string, s string) []string {
	for k := 0; ; {
		i := strings.IndexByte(s[k:], '-')
		if i < 0 {
			return ids
		}
		dash := k + i
		k = dash + 1
		start := dash - 8
		if start < 0 || start+36 > len(s) {
			continue
		}
		if id, ok := ParseTenantID(s[start : start+36]); ok && standsAlone(s, start, start+36) {
			ids = append(ids, id)
			k = start + 36
		}
	}
}
