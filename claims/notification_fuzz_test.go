package claims

import (
	"strings"
	"testing"
)

// FuzzParseNotification: no panics; an accepted notification is sound and
// parses the same again.
func FuzzParseNotification(f *testing.F) {
	for _, data := range seedFiles(f, "testdata/notifications/*.txt") {
		head, body, _ := strings.Cut(string(data), "\n\n")
		f.Add(strings.TrimPrefix(head, "Subject: "), body)
	}
	f.Fuzz(func(t *testing.T, subject, body string) {
		inc, ok := ParseNotification(subject, body)
		if !ok {
			if inc.ID != "" {
				t.Errorf("not ok but ID %q", inc.ID)
			}
			return
		}
		if inc.Source != SourceNotification || inc.Raw != nil {
			t.Errorf("Source = %q, Raw = %q", inc.Source, inc.Raw)
		}
		checkIncident(t, inc)
		again, ok := ParseNotification(subject, body)
		if !ok || again.ID != inc.ID || !again.Start.Equal(inc.Start) {
			t.Errorf("second parse differs: %+v", again)
		}
	})
}
