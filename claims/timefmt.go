package claims

import (
	"strings"
	"time"
)

// TimeLayout is how claimtrail shows a moment to people, everywhere: to the
// minute, in UTC, and labelled so ("2026-11-21 05:27 UTC"). Machine formats
// (the API's JSON, the ledger, Graph) keep RFC 3339.
const TimeLayout = "2006-01-02 15:04 UTC"

// FormatTime writes t in TimeLayout. The zero time is "–": nothing is known.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format(TimeLayout)
}

// timeInputs are the forms ParseTime reads besides RFC 3339, all UTC:
// TimeLayout itself, as people copy it, without its label as they type
// it, and an HTML datetime-local input's value.
var timeInputs = []string{TimeLayout, "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02T15:04:05"}

// ParseTime reads a moment as people write it: "2026-11-21 05:27" or
// "2026-11-21 05:27 UTC" (24-hour, UTC), the datetime-local form
// "2026-11-21T05:27", or RFC 3339 with its own zone. ok is false for
// anything else.
func ParseTime(s string) (t time.Time, ok bool) {
	s = strings.Join(strings.Fields(s), " ")
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	for _, layout := range timeInputs {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
