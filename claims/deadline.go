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
	// Provisional is set while the deadline counts from something other
	// than the incident's start as an analyst entered it or Microsoft
	// records it (Graph, the catalog).
	Provisional bool
	Azure       bool
	// From says what the deadline counts from, for display: "incident
	// start (analyst alice)", "incident start (Microsoft Service Health,
	// graph)", "incident start (notification, provisional)", "earliest
	// evidence (provisional)"; "" without a deadline.
	From string
}

// ScheduleOf computes claim c's deadline (rules.Deadline) from the date it
// counts from, the first of: the incident start an analyst entered; the
// start in Microsoft's record (c.Incident) from Graph or the catalog; the
// start a forwarded notification gave, which is provisional; the earliest
// evidence (Claim.Earliest), also provisional. The Azure field picks the
// rule.
func ScheduleOf(c *Claim) (Schedule, error) {
	s := Schedule{Azure: c.Fields[FieldAzure].Value == "yes", Provisional: true}
	inc := c.Incident
	switch f, ok := c.Fields[FieldIncidentStart]; {
	case ok:
		start, err := time.Parse(time.RFC3339, f.Value)
		if err != nil {
			return Schedule{}, fmt.Errorf("stored %s: %w", FieldIncidentStart, err)
		}
		s.Deadline, s.Provisional = rules.Deadline(start, s.Azure), false
		s.From = fmt.Sprintf("incident start (analyst %s)", f.Actor)
	case inc != nil && !inc.Start.IsZero() && inc.Firm():
		s.Deadline, s.Provisional = inc.Deadline(s.Azure), false
		s.From = fmt.Sprintf("incident start (Microsoft Service Health, %s)", inc.Source)
	case inc != nil && !inc.Start.IsZero():
		s.Deadline = inc.Deadline(s.Azure)
		s.From = fmt.Sprintf("incident start (%s, provisional)", inc.Source)
	case !c.Earliest.IsZero():
		s.Deadline = rules.Deadline(c.Earliest, s.Azure)
		s.From = "earliest evidence (provisional)"
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
// for one due within SoonDays, else "". UrgencyBounds says the same as
// two dates, for a store that counts claims by their deadline.
func Urgency(s Status, deadline, now time.Time) string {
	if !Fileable(s) || deadline.IsZero() {
		return ""
	}
	overdue, soon := UrgencyBounds(now)
	switch {
	case !deadline.After(overdue):
		return "overdue"
	case !deadline.After(soon):
		return "soon"
	}
	return ""
}

// UrgencyBounds are Urgency's thresholds at now as dates: a fileable
// claim with a deadline is overdue when its deadline is not after
// overdue, and soon when it is after overdue but not after soon.
func UrgencyBounds(now time.Time) (overdue, soon time.Time) {
	return now, now.Add(SoonDays * 24 * time.Hour)
}

// Countdown is DaysLeft and Urgency for a claim that is eligible or not
// (Eligibility): one Microsoft's record rules out earns no credit, so no
// deadline presses on it; it has no days left and no urgency, ok false and
// urgency "", whatever its status and deadline.
func Countdown(s Status, eligible bool, deadline, now time.Time) (days int, ok bool, urgency string) {
	if !eligible {
		return 0, false, ""
	}
	days, ok = DaysLeft(s, deadline, now)
	return days, ok, Urgency(s, deadline, now)
}
