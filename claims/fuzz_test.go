package claims

import "testing"

// FuzzNormField checks that an analyst's value is either refused or
// normalised to a value that normalises to itself: what the ledger stores
// reads back the same.
func FuzzNormField(f *testing.F) {
	for _, s := range []string{"2026-02-14T23:30:00+01:00", "270m", "0120", "Y", "no", "Prague, Brno", "", "1e9h", "-5m"} {
		for _, field := range allFields {
			f.Add(string(field), s)
		}
	}
	f.Fuzz(func(t *testing.T, field, value string) {
		v, err := NormField(Field(field), value)
		if err != nil {
			return
		}
		again, err := NormField(Field(field), v)
		if err != nil || again != v {
			t.Errorf("NormField(%s, %q) = %q, which normalises to %q, %v", field, value, v, again, err)
		}
	})
}
