package claims

import (
	"fmt"
	"slices"
	"time"
)

// DefaultReminderDays are the thresholds, in days before the deadline, at
// which a claim that can still be filed is reminded of: a week ahead, and
// two days ahead.
var DefaultReminderDays = []int{7, 2}

// MaxReminderDays bounds a threshold: Microsoft's claim windows are a few
// months long, and a reminder further out than that says nothing.
const MaxReminderDays = 90

// CheckReminderDays says what is wrong with a list of thresholds: none,
// one not from 1 to MaxReminderDays, or one given twice.
func CheckReminderDays(days []int) error {
	if len(days) == 0 {
		return fmt.Errorf("no thresholds; list the days before a deadline to remind at, e.g. [7, 2]")
	}
	seen := map[int]bool{}
	for _, d := range days {
		if d < 1 || d > MaxReminderDays {
			return fmt.Errorf("%d days: give a number of days from 1 to %d", d, MaxReminderDays)
		}
		if seen[d] {
			return fmt.Errorf("%d days is listed twice; list each threshold once", d)
		}
		seen[d] = true
	}
	return nil
}

// ReminderThreshold returns the threshold, of days (in days before the
// deadline), at which a claim is due a reminder at now: the smallest one
// its deadline is within. A claim due in 36 hours with thresholds 7 and 2
// is at threshold 2: it gets one reminder, not the week's and the two
// days' at once. ok is false when no reminder is due: the deadline is
// further out than every threshold or has passed, or the claim's countdown
// means nothing (Countdown: not eligible, not fileable, no deadline).
func ReminderThreshold(s Status, eligible bool, deadline, now time.Time, days []int) (threshold int, ok bool) {
	if _, counts, _ := Countdown(s, eligible, deadline, now); !counts || !deadline.After(now) {
		return 0, false
	}
	sorted := slices.Sorted(slices.Values(days))
	for _, d := range sorted {
		if !deadline.After(now.Add(time.Duration(d) * 24 * time.Hour)) {
			return d, true
		}
	}
	return 0, false
}

// ReminderWindow is ReminderThreshold's range as dates, for a store that
// looks for claims by deadline: a claim can be due a reminder at now only
// if its deadline is after after and not after until.
func ReminderWindow(now time.Time, days []int) (after, until time.Time) {
	return now, now.Add(time.Duration(slices.Max(days)) * 24 * time.Hour)
}

// ReminderOwed reports whether a claim at threshold (ReminderThreshold) is
// owed a reminder when the smallest threshold it was already reminded at
// for the same deadline is reminded (0: none). A reminder at a threshold
// covers the larger ones: they can no longer come due.
//
// Reminders are kept per deadline: when a claim's deadline moves (a
// provisional deadline becomes firm, an analyst sets the incident start),
// the reminders of the old deadline no longer count, and the claim is
// reminded again at the threshold its new deadline is within, saying the
// new date. The analysts planned on the old one.
func ReminderOwed(threshold, reminded int) bool {
	return reminded == 0 || reminded > threshold
}
