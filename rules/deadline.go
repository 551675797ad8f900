package rules

import "time"

// Deadline returns the last instant at which Microsoft can receive an SLA
// credit claim for an incident that started at incidentStart: the final
// nanosecond (23:59:59.999999999 UTC) of the last day of
//
//   - the calendar month after the incident's month, for Microsoft 365 and
//     other non-Azure services (incident 15 February -> 31 March);
//   - the second calendar month after it, for Azure, whose claims are due
//     within two months of the end of the billing month, taken to be the
//     calendar month (incident 15 February -> 30 April).
//
// The incident's month is its month in UTC, so an incident that began on
// 31 January at 20:00 in New York (1 February UTC) counts as February's.
// A claim received at t is on time when !t.After(Deadline(...)).
func Deadline(incidentStart time.Time, azure bool) time.Time {
	months := 1
	if azure {
		months = 2
	}
	y, m, _ := incidentStart.UTC().Date()
	// Day 1 of the month after the deadline month, less one nanosecond;
	// time.Date normalises month overflow into the next year.
	return time.Date(y, m+time.Month(months)+1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Nanosecond)
}
