package claims

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readSample splits a testdata/notifications/*.txt sample: a "Subject:"
// line, a blank line, then the body.
func readSample(t testing.TB, path string) (subject, body string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(data), "\n\n")
	subject, found := strings.CutPrefix(head, "Subject: ")
	if !found {
		t.Fatalf("%s: want a Subject: line, a blank line and the body", path)
	}
	return subject, body
}

// TestNotificationGolden reads the sample notifications in
// testdata/notifications (restored incident, advisory, inline and Outlook
// forwards, missing end time, Message Center post, garbage) and compares
// what ParseNotification makes of them with the *.golden.json beside each.
func TestNotificationGolden(t *testing.T) {
	samples, err := filepath.Glob("testdata/notifications/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) < 6 {
		t.Fatalf("found %d samples, want at least 6", len(samples))
	}
	for _, in := range samples {
		t.Run(filepath.Base(in), func(t *testing.T) {
			subject, body := readSample(t, in)
			inc, ok := ParseNotification(subject, body)
			out := struct {
				OK       bool      `json:"ok"`
				Incident *Incident `json:"incident,omitempty"`
			}{OK: ok}
			if ok {
				out.Incident = &inc
				if inc.Source != SourceNotification {
					t.Errorf("Source = %q, want %q", inc.Source, SourceNotification)
				}
				roundTrip(t, inc)
			}
			checkGolden(t, strings.TrimSuffix(in, ".txt")+".golden.json", marshalGolden(t, out))
		})
	}
}

func TestParseNotificationTime(t *testing.T) {
	tests := []struct{ in, want string }{
		{"2026-02-15T09:00:00Z", "2026-02-15T09:00:00Z"},
		{"2026-02-15 09:00 UTC", "2026-02-15T09:00:00Z"},
		{"2026-02-15 09:00:30 UTC", "2026-02-15T09:00:30Z"},
		{"2026-02-15 09:00", "2026-02-15T09:00:00Z"},
		{"February 15, 2026 9:00 AM UTC", "2026-02-15T09:00:00Z"},
		{"February 15, 2026 1:30 pm UTC", "2026-02-15T13:30:00Z"},
		{"Sunday, February 15, 2026, at 9:00 AM UTC", "2026-02-15T09:00:00Z"},
		{"Feb 15, 2026 09:00 (UTC)", "2026-02-15T09:00:00Z"},
		{"15 February 2026 09:00 GMT", "2026-02-15T09:00:00Z"},
		{"15 February 2026 10:00 +01:00", "2026-02-15T09:00:00Z"},
		{"February 15, 2026 4:00 AM UTC-5", "2026-02-15T09:00:00Z"},
		{"February 15, 2026 2:30 PM GMT+05:30", "2026-02-15T09:00:00Z"},
	}
	for _, tt := range tests {
		got, ok := ParseNotificationTime(tt.in)
		if !ok || fmtTime(got) != tt.want {
			t.Errorf("ParseNotificationTime(%q) = %s, %v, want %s", tt.in, fmtTime(got), ok, tt.want)
		}
	}
	for _, bad := range []string{"", "02/15/2026 11:00", "soon", "February 30, 2026 9:00 AM", "2026-02-15 09:00 +15:00", "2026-02-15 09:00 CET"} {
		if got, ok := ParseNotificationTime(bad); ok {
			t.Errorf("ParseNotificationTime(%q) = %s, want not ok", bad, fmtTime(got))
		}
	}
}
