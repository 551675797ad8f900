package claims

import (
	"testing"
	"time"
)

func TestReminderThreshold(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	days := []int{7, 2}
	for _, tc := range []struct {
		name     string
		status   Status
		eligible bool
		deadline time.Time
		want     int
		ok       bool
	}{
		{"far out", StatusOpen, true, now.Add(8 * day), 0, false},
		{"exactly a week", StatusOpen, true, now.Add(7 * day), 7, true},
		{"within a week", StatusReady, true, now.Add(5 * day), 7, true},
		{"within two days: one reminder, the nearer", StatusOpen, true, now.Add(36 * time.Hour), 2, true},
		{"passed", StatusOpen, true, now.Add(-time.Hour), 0, false},
		{"on the deadline", StatusOpen, true, now, 0, false},
		{"submitted", StatusSubmitted, true, now.Add(day), 0, false},
		{"expired", StatusExpired, true, now.Add(day), 0, false},
		{"advisory (not eligible)", StatusOpen, false, now.Add(day), 0, false},
		{"no deadline", StatusOpen, true, time.Time{}, 0, false},
	} {
		got, ok := ReminderThreshold(tc.status, tc.eligible, tc.deadline, now, days)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ReminderThreshold(%s) = %d, %v; want %d, %v", tc.name, got, ok, tc.want, tc.ok)
		}
		after, until := ReminderWindow(now, days)
		in := tc.deadline.After(after) && !tc.deadline.After(until)
		if tc.ok && !in {
			t.Errorf("ReminderWindow(%s) = (%v, %v] leaves out the deadline %v", tc.name, after, until, tc.deadline)
		}
	}
}

func TestReminderOwed(t *testing.T) {
	for _, tc := range []struct {
		threshold, reminded int
		want                bool
	}{{7, 0, true}, {7, 7, false}, {2, 7, true}, {2, 2, false}, {7, 2, false}} {
		if got := ReminderOwed(tc.threshold, tc.reminded); got != tc.want {
			t.Errorf("ReminderOwed(%d, %d) = %v, want %v", tc.threshold, tc.reminded, got, tc.want)
		}
	}
}

func TestCheckReminderDays(t *testing.T) {
	for _, tc := range []struct {
		days []int
		ok   bool
	}{{[]int{7, 2}, true}, {[]int{1}, true}, {nil, false}, {[]int{0}, false}, {[]int{91}, false}, {[]int{2, 2}, false}} {
		if err := CheckReminderDays(tc.days); (err == nil) != tc.ok {
			t.Errorf("CheckReminderDays(%v) = %v, want ok %v", tc.days, err, tc.ok)
		}
	}
}
