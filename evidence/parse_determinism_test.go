package evidence

import (
	"os"
	"testing"
)

// TestParseDeterministic parses a mail whose charset must be guessed many
// times: every parse must give the same text, or the same mail would make
// two different evidence bundles under one write-once key.
func TestParseDeterministic(t *testing.T) {
	raw, err := os.ReadFile("testdata/parse/hostile-headers.eml")
	if err != nil {
		t.Fatal(err)
	}
	first, err := ParseBytes(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		f, err := ParseBytes(raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		if f.Text != first.Text || len(f.Warnings) != len(first.Warnings) {
			t.Fatalf("parse %d differs from the first: text %q vs %q, warnings %q vs %q", i, f.Text, first.Text, f.Warnings, first.Warnings)
		}
	}
}
