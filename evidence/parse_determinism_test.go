package evidence

import (
	"os"
	"reflect"
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

// TestParseDeterministicFacts parses mail whose warnings enmime reports in
// map order many times: the facts, warnings included, must not vary.
func TestParseDeterministicFacts(t *testing.T) {
	for _, c := range []struct{ name, raw string }{
		// Found by FuzzParseElided: two malformed parameters.
		{"malformed Content-Type parameters", "content-TYpe:B701988000;9;00<0>0"},
		{"malformed parameters in a part", "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" +
			"Content-Type: text/plain; a; b; c; d\r\n\r\nhello\r\n--x--\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			first, err := ParseBytes([]byte(c.raw), nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 100 {
				f, err := ParseBytes([]byte(c.raw), nil)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(f, first) {
					t.Fatalf("parse %d differs from the first: warnings %q vs %q", i, f.Warnings, first.Warnings)
				}
			}
		})
	}
}
