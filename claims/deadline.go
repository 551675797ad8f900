package claims

import (
	"fmt"
	"math"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// Schedule is a claim's deadline and what it rests on.
type Schedule struct {
	Deadline time.Time // zero while there is neither incident start nor evidence
	// Provisional is set while the deadline counts from the earliest
	// evidence rather than the incident start an analyst entered.
	Provisional bool
	Azure       bool
}

// ScheduleOf computes claim c's deadline (rules.Deadline) from the date it
// counts from: the incident start an analyst entered, else the earliest
// evidence (Claim.Earliest), which makes it provisional; the Azure field
// picks the rule.
func ScheduleOf(c *Claim) (Schedule, error) {
	s := Schedule{Azure: c.Fields[FieldAzure].Value == "yes", Provisional: true}
	if f, ok := c.Fields[FieldIncidentStart]; ok {
		start, err := time.Parse(time.RFC3339, f.Value)
		if err != nil {
			return Schedule{}, fmt.Errorf("stored %s: %w", FieldIncidentStart, err)
		}
		s.Deadline, s.Provisional = rules.Deadline(start, s.Azure), false
	} else if !c.Earliest.IsZero() {
		s.Deadline = rules.Deadline(c.Earliest, s.Azure)
	}
	return s, nil
}

// SoonDays is how close a deadline must be to count as soon.
const SoonDays = 7

// DaysLeft counts the whole days from now to the deadline, negative once
// it passed. ok is false when days left mean nothing: the claim can no
// longer be filed (its status says why) or has no deadline yet.
func DaysLeft(s Status, deadline, now time.Time) (days int, ok bool) {
	if !Fileable(s) || deadline.IsZero() {
		return 0, false
	}
	return int(math.Floor(deadline.Sub(now).Hours() / 24)), true
}

// Urgency is "overdue" for a fileable claim whose deadline passed, "soon"
// for one due within SoonDays, else "".
func Urgency(s Status, deadline, now time.Time) string {
	if !Fileable(s) || deadline.IsZero() {
		return ""
	}
	switch {
	case !now.Before(deadline):
		return "overdue"
	case deadline.Sub(now) <= SoonDays*24*time.Hour:
		return "soon"
	}
	return ""
}
