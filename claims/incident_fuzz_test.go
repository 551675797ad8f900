package claims

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/claimtrail/claimtrail/rules"
)

// seedFiles adds every file matching glob to f, or what split makes of it.
func seedFiles(f *testing.F, glob string) [][]byte {
	files, err := filepath.Glob(glob)
	if err != nil {
		f.Fatal(err)
	}
	var out [][]byte
	for _, name := range files {
		if strings.HasSuffix(name, ".golden.json") {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// checkIncident checks what a parser accepted: a canonical ID, and JSON
// that reads back into an Incident which writes the same JSON.
func checkIncident(t *testing.T, inc Incident) {
	t.Helper()
	if id, err := rules.ParseIncidentID(inc.ID); err != nil || id != inc.ID {
		t.Errorf("accepted ID %q, which ParseIncidentID makes %q, %v", inc.ID, id, err)
	}
	b, err := json.Marshal(inc)
	if err != nil {
		t.Fatalf("Marshal(%s): %v", inc.ID, err)
	}
	var back Incident
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	again, err := json.Marshal(back)
	if err != nil || !bytes.Equal(b, again) {
		t.Errorf("re-marshals differently:\n%s\n%s (%v)", b, again, err)
	}
}

// FuzzParseGraphIssue: no panics; an accepted issue re-marshals the same,
// and its Raw parses again to the same facts.
func FuzzParseGraphIssue(f *testing.F) {
	for _, data := range seedFiles(f, "testdata/catalog/*.json") {
		var page struct{ Value []json.RawMessage }
		if json.Unmarshal(data, &page) == nil {
			for _, v := range page.Value {
				f.Add([]byte(v))
			}
		}
		f.Add(data)
	}
	f.Add([]byte(`{"id":"ex12345","startDateTime":"2026-02-15T09:00:00.1234567","classification":"Advisory"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inc, err := ParseGraphIssue(data)
		if err != nil {
			return
		}
		if inc.Source != SourceGraph {
			t.Errorf("Source = %q", inc.Source)
		}
		checkIncident(t, inc)
		again, err := ParseGraphIssue(inc.Raw)
		if err != nil {
			t.Fatalf("Raw %s no longer parses: %v", inc.Raw, err)
		}
		a, _ := json.Marshal(inc)
		b, _ := json.Marshal(again)
		if !bytes.Equal(a, b) {
			t.Errorf("parsing Raw gives different facts:\n%s\n%s", a, b)
		}
	})
}

// FuzzParseCatalog: no panics; every incident accepted is sound, IDs are
// unique and sorted.
func FuzzParseCatalog(f *testing.F) {
	for _, data := range seedFiles(f, "testdata/catalog/*.json") {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		incs, _, err := ParseCatalog(data)
		if err != nil {
			if len(incs) != 0 {
				t.Errorf("error %v with %d incidents", err, len(incs))
			}
			return
		}
		for k, inc := range incs {
			if inc.Source != SourceCatalog {
				t.Errorf("Source = %q", inc.Source)
			}
			if k > 0 && incs[k-1].ID >= inc.ID {
				t.Errorf("IDs not unique and sorted: %s then %s", incs[k-1].ID, inc.ID)
			}
			checkIncident(t, inc)
		}
	})
}
