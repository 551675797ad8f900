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

// TestChecklistItemText: a checklist value shows its moment in TimeLayout
// to people, while Value, which the API gives, keeps RFC 3339.
func TestChecklistItemText(t *testing.T) {
	at := time.Date(2026, 2, 15, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		item ChecklistItem
		want string
	}{
		{"customer email", ChecklistItem{Value: "jane@contoso.com, 2026-02-15T09:30:00Z", At: at}, "jane@contoso.com, 2026-02-15 09:30 UTC"},
		{"downtime start", ChecklistItem{Value: "2026-02-15T09:30:00Z"}, "2026-02-15 09:30 UTC"},
		{"another zone", ChecklistItem{Value: "2026-02-15T10:30:00+01:00"}, "2026-02-15 09:30 UTC"},
		{"not a time", ChecklistItem{Value: "Prague, Brno"}, "Prague, Brno"},
		{"empty", ChecklistItem{}, ""},
	}
	for _, tt := range tests {
		if got := tt.item.Text(); got != tt.want {
			t.Errorf("%s: Text() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestParseTime: the time input of the claim page is 24-hour UTC text,
// the value of the older datetime-local input still works, and RFC 3339
// keeps its zone.
func TestParseTime(t *testing.T) {
	want := time.Date(2026, 2, 15, 17, 5, 0, 0, time.UTC)
	tests := []struct {
		in string
		ok bool
	}{
		{"2026-02-15 17:05", true},
		{" 2026-02-15   17:05 UTC ", true},
		{"2026-02-15T17:05", true},
		{"2026-02-15T17:05:00", true},
		{"2026-02-15T17:05:00Z", true},
		{"2026-02-15T18:05:00+01:00", true},
		{"2026-02-15 5:05 PM", false},
		{"2026-02-15 25:05", false},
		{"15.02.2026 17:05", false},
		{"2026-02-15", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := ParseTime(tt.in)
		if ok != tt.ok || (ok && !got.Equal(want)) || (ok && got.Location() != time.UTC) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, %v", tt.in, got, ok, want, tt.ok)
		}
	}
}
