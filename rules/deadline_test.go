package rules

import (
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	tokyo := time.FixedZone("JST", 9*3600)
	utc := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }
	last := func(y int, m time.Month, d int) time.Time {
		return time.Date(y, m, d, 23, 59, 59, 999999999, time.UTC)
	}
	tests := []struct {
		name     string
		incident time.Time
		azure    bool
		want     time.Time
	}{
		{"DOMAIN.md example, Microsoft 365", utc(2026, 2, 15, 10, 0), false, last(2026, 3, 31)},
		{"DOMAIN.md example, Azure", utc(2026, 2, 15, 10, 0), true, last(2026, 4, 30)},
		{"first instant of a month", utc(2026, 3, 1, 0, 0), false, last(2026, 4, 30)},
		{"last nanosecond of a month", last(2026, 3, 31), false, last(2026, 4, 30)},
		{"31-day month after a 30-day one", utc(2026, 4, 30, 12, 0), false, last(2026, 5, 31)},
		{"year end, Microsoft 365", utc(2025, 12, 15, 0, 0), false, last(2026, 1, 31)},
		{"year end, Azure", utc(2025, 12, 15, 0, 0), true, last(2026, 2, 28)},
		{"November, Azure crosses the year", utc(2025, 11, 30, 23, 0), true, last(2026, 1, 31)},
		{"leap year February, Microsoft 365", utc(2024, 1, 31, 8, 0), false, last(2024, 2, 29)},
		{"leap year February, Azure", utc(2023, 12, 1, 8, 0), true, last(2024, 2, 29)},
		{"incident on 29 February", utc(2024, 2, 29, 8, 0), false, last(2024, 3, 31)},
		{"century not a leap year (2100)", utc(2100, 1, 10, 0, 0), false, last(2100, 2, 28)},
		{"400-year leap year (2000)", utc(2000, 1, 10, 0, 0), false, last(2000, 2, 29)},
		{"New York evening is next month in UTC", time.Date(2026, 1, 31, 20, 0, 0, 0, ny), false, last(2026, 3, 31)},
		{"Tokyo morning is previous month in UTC", time.Date(2026, 3, 1, 8, 0, 0, 0, tokyo), false, last(2026, 3, 31)},
	}
	for _, tt := range tests {
		got := Deadline(tt.incident, tt.azure)
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("%s: Deadline(%v, azure=%v) = %v, want %v", tt.name, tt.incident, tt.azure, got, tt.want)
		}
		// The deadline itself is on time; a nanosecond later is not.
		if next := got.Add(time.Nanosecond); next.Day() != 1 {
			t.Errorf("%s: Deadline(%v) + 1ns = %v, want the first day of a month", tt.name, tt.incident, next)
		}
	}
}
