package claims

import "time"

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
