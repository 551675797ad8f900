package claims

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateCatalog = flag.Bool("update-catalog", false, "rewrite the golden files in testdata/catalog and testdata/notifications")

// checkGolden compares got with the golden file, or rewrites it under
// -update-catalog.
func checkGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *updateCatalog {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./claims -run %s -update-catalog)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the parser gives now:\n%s\n(run with -update-catalog after checking the difference)", golden, got)
	}
}

func marshalGolden(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestCatalogGolden reads every testdata/catalog/*.json (Graph list pages,
// bare arrays, broken files) and compares incidents, problems and error
// with the *.golden.json beside it.
func TestCatalogGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/catalog/*.json")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden.json") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			incs, problems, err := ParseCatalog(data)
			out := struct {
				Incidents []Incident `json:"incidents"`
				Problems  []string   `json:"problems,omitempty"`
				Error     string     `json:"error,omitempty"`
			}{Incidents: incs}
			for _, p := range problems {
				out.Problems = append(out.Problems, p.Error())
			}
			if err != nil {
				out.Error = err.Error()
			}
			checkGolden(t, strings.TrimSuffix(in, ".json")+".golden.json", marshalGolden(t, out))
			for _, inc := range incs {
				if inc.Source != SourceCatalog {
					t.Errorf("%s: Source = %q, want %q", inc.ID, inc.Source, SourceCatalog)
				}
				roundTrip(t, inc)
			}
		})
	}
	if n < 3 {
		t.Fatalf("found %d catalog inputs, want at least 3", n)
	}
}

// roundTrip checks that inc marshals to JSON and back unchanged.
func roundTrip(t *testing.T, inc Incident) {
	t.Helper()
	b, err := json.Marshal(inc)
	if err != nil {
		t.Fatalf("Marshal(%s): %v", inc.ID, err)
	}
	var back Incident
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal(%s): %v", inc.ID, err)
	}
	again, err := json.Marshal(back)
	if err != nil {
		t.Fatalf("Marshal again(%s): %v", inc.ID, err)
	}
	if !bytes.Equal(b, again) {
		t.Errorf("%s does not round-trip:\n%s\n%s", inc.ID, b, again)
	}
}

func TestParseGraphIssue(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantErr  string // substring; "" for success
		id       string
		class    Classification
		status   string
		start    string
		eligible bool
		why      string
	}{
		{name: "capitalised enums", in: `{"id":"EX1321282","classification":"Incident","status":"ServiceRestored","startDateTime":"2026-02-15T09:00:00Z"}`,
			id: "EX1321282", class: ClassificationIncident, status: "serviceRestored", start: "2026-02-15T09:00:00Z", eligible: true},
		{name: "lower-case advisory", in: `{"id":"tm1330001","classification":"advisory","status":"serviceDegradation","startDateTime":"2026-02-20T08:00:00"}`,
			id: "TM1330001", class: ClassificationAdvisory, status: "serviceDegradation", start: "2026-02-20T08:00:00Z", why: IneligibleAdvisory},
		{name: "unknown classification kept", in: `{"id":"SP1340002","classification":"unknownFutureValue","status":"somethingNew"}`,
			id: "SP1340002", class: "unknownfuturevalue", status: "somethingNew", eligible: true},
		{name: "seven fractional digits and offset", in: `{"id":"EX1321282","classification":"INCIDENT","startDateTime":"2026-02-15T10:00:00.0000000+01:00"}`,
			id: "EX1321282", class: ClassificationIncident, start: "2026-02-15T09:00:00Z", eligible: true},
		{name: "nulls and extra fields", in: `{"id":"EX1321282","title":null,"endDateTime":null,"posts":null,"x":{"y":[1]},"classification":"incident"}`,
			id: "EX1321282", class: ClassificationIncident, eligible: true},
		{name: "BOM", in: "\xef\xbb\xbf" + `{"id":"EX1321282"}`, id: "EX1321282", eligible: true},
		{name: "no id", in: `{"title":"x"}`, wantErr: "no id"},
		{name: "message center post", in: `{"id":"MC1234567"}`, wantErr: "Message Center"},
		{name: "id not an incident", in: `{"id":"VSG1-B90"}`, wantErr: "not an incident ID"},
		{name: "bad time", in: `{"id":"EX1321282","startDateTime":"15/02/2026"}`, wantErr: "startDateTime"},
		{name: "year out of range", in: `{"id":"EX1321282","startDateTime":"0000-01-01T00:00:00+01:00"}`, wantErr: "out of range"},
		{name: "wrong type", in: `{"id":"EX1321282","isResolved":"yes"}`, wantErr: "isResolved"},
		{name: "array", in: `[]`, wantErr: "service health issue"},
		{name: "too big", in: `{"id":"EX1321282","title":"` + strings.Repeat("a", MaxIssueSize) + `"}`, wantErr: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseGraphIssue([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseGraphIssue(%s) error = %v, want one containing %q", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseGraphIssue(%s): %v", tt.name, err)
			}
			if got.ID != tt.id || got.Classification != tt.class || got.Status != tt.status || got.Source != SourceGraph {
				t.Errorf("ParseGraphIssue(%s) = %s %q %q %q, want %s %q %q graph", tt.name, got.ID, got.Classification, got.Status, got.Source, tt.id, tt.class, tt.status)
			}
			if start := fmtTime(got.Start); start != tt.start {
				t.Errorf("ParseGraphIssue(%s).Start = %s, want %s", tt.name, start, tt.start)
			}
			if ok, why := got.Eligible(); ok != tt.eligible || why != tt.why {
				t.Errorf("Eligible(%s) = %v %q, want %v %q", tt.name, ok, why, tt.eligible, tt.why)
			}
			if !json.Valid(got.Raw) {
				t.Errorf("ParseGraphIssue(%s).Raw is not JSON: %s", tt.name, got.Raw)
			}
			roundTrip(t, got)
		})
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

func TestParseGraphIssueKeepsUnknownFields(t *testing.T) {
	got, err := ParseGraphIssue([]byte(`{"id": "EX1321282", "origin": "microsoft", "someFieldFromTheFuture": {"a": "<b>"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(got.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["origin"] != "microsoft" || raw["someFieldFromTheFuture"].(map[string]any)["a"] != "<b>" {
		t.Errorf("Raw = %s, want origin and someFieldFromTheFuture kept", got.Raw)
	}
}

func TestParseClassification(t *testing.T) {
	for in, want := range map[string]Classification{
		"Incident": ClassificationIncident, " ADVISORY ": ClassificationAdvisory, "incident": ClassificationIncident,
		"unknownFutureValue": "unknownfuturevalue", "Outage": "outage", "": "",
	} {
		if got := ParseClassification(in); got != want {
			t.Errorf("ParseClassification(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCanonicalIssueStatus(t *testing.T) {
	for in, want := range map[string]string{
		"ServiceRestored": "serviceRestored", "Service restored": "serviceRestored",
		"post-incident report published": StatusPIRPublished, "POSTINCIDENTREVIEWPUBLISHED": StatusPIRPublished,
		"Extended Recovery": "extendedRecovery", " brandNew ": "brandNew",
	} {
		if got := CanonicalIssueStatus(in); got != want {
			t.Errorf("CanonicalIssueStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIncidentDeadline(t *testing.T) {
	start := time.Date(2026, 2, 15, 9, 0, 0, 0, time.UTC)
	deadline := (&Incident{ID: "EX1321282", Start: start}).Deadline(false) // 31 March, DOMAIN.md
	if want := time.Date(2026, 3, 31, 23, 59, 59, 999999999, time.UTC); !deadline.Equal(want) {
		t.Errorf("Deadline(15 February) = %v, want %v", deadline, want)
	}
	if d := (&Incident{}).Deadline(true); !d.IsZero() {
		t.Errorf("Deadline of an incident without start = %v, want zero", d)
	}
}

func TestDowntime(t *testing.T) {
	start := time.Date(2026, 2, 15, 9, 0, 0, 0, time.UTC)
	if d, ok := (&Incident{Start: start, End: start.Add(270 * time.Minute)}).Downtime(); !ok || d != 270*time.Minute {
		t.Errorf("Downtime = %v %v, want 4h30m true", d, ok)
	}
	if _, ok := (&Incident{Start: start}).Downtime(); ok {
		t.Errorf("Downtime of an ongoing incident is ok, want not")
	}
	if _, ok := (&Incident{Start: start, End: start}).Downtime(); ok {
		t.Errorf("Downtime with End == Start is ok, want not")
	}
}

func TestBest(t *testing.T) {
	t0 := time.Date(2026, 2, 16, 0, 0, 0, 0, time.UTC)
	notif := Incident{ID: "EX1321282", Title: "notification", Source: SourceNotification, ReadAt: t0.Add(48 * time.Hour)}
	catOld := Incident{ID: "EX1321282", Title: "catalog old", Source: SourceCatalog, ReadAt: t0}
	catNew := Incident{ID: "EX1321282", Title: "catalog new", Source: SourceCatalog, ReadAt: t0.Add(time.Hour)}
	graph := Incident{ID: "EX1321282", Title: "graph", Source: SourceGraph, ReadAt: t0}
	tests := []struct {
		name  string
		facts []Incident
		want  string
	}{
		{"none", nil, ""},
		{"one", []Incident{notif}, "notification"},
		{"graph beats newer others", []Incident{notif, catNew, graph, catOld}, "graph"},
		{"catalog beats notification", []Incident{notif, catOld}, "catalog old"},
		{"newer read wins within a source", []Incident{catOld, catNew}, "catalog new"},
		{"order does not matter", []Incident{catNew, catOld}, "catalog new"},
	}
	for _, tt := range tests {
		if got := Best(tt.facts...); got.Title != tt.want {
			t.Errorf("Best(%s) = %q, want %q", tt.name, got.Title, tt.want)
		}
	}
	if SourceGraph.Rank() <= SourceCatalog.Rank() || SourceCatalog.Rank() <= SourceNotification.Rank() || Source("x").Rank() != 0 {
		t.Errorf("Rank does not order graph > catalog > notification > unknown")
	}
}

func TestParseGraphTime(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2026-02-15T09:00:00Z", "2026-02-15T09:00:00Z"},
		{"2026-02-15T09:00:00.123Z", "2026-02-15T09:00:00.123Z"},
		{"2026-02-15T09:00:00.0000000Z", "2026-02-15T09:00:00Z"},
		{"2026-02-15T09:00:00", "2026-02-15T09:00:00Z"},
		{"2026-02-15T09:00:00.5", "2026-02-15T09:00:00.5Z"},
		{"2026-02-15T10:00:00+01:00", "2026-02-15T09:00:00Z"},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := ParseGraphTime(tt.in)
		if err != nil || fmtTime(got) != tt.want {
			t.Errorf("ParseGraphTime(%q) = %s, %v, want %s", tt.in, fmtTime(got), err, tt.want)
		}
	}
	for _, bad := range []string{"yesterday", "2026-02-15", "15.02.2026 09:00"} {
		if _, err := ParseGraphTime(bad); err == nil {
			t.Errorf("ParseGraphTime(%q) succeeded, want an error", bad)
		}
	}
}
