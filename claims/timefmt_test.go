package claims

import (
	"testing"
	"time"
)

func TestFormatTime(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name string
		in   time.Time
		want string
	}{
		{"utc", time.Date(2026, 11, 21, 5, 27, 59, 0, time.UTC), "2026-11-21 05:27 UTC"},
		{"another zone is shown in UTC", time.Date(2026, 11, 21, 6, 27, 0, 0, cet), "2026-11-21 05:27 UTC"},
		{"afternoon is 24-hour", time.Date(2026, 1, 2, 17, 5, 0, 0, time.UTC), "2026-01-02 17:05 UTC"},
		{"zero", time.Time{}, "–"},
	} {
		if got := FormatTime(tc.in); got != tc.want {
			t.Errorf("%s: FormatTime = %q, want %q", tc.name, got, tc.want)
		}
	}
}
