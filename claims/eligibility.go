package claims

import (
	"fmt"
	"time"
)

// Eligibility decides whether claim c can earn credit: the one place that
// decides it. Only Microsoft's record can rule a credit out, and only by
// classing the issue an advisory (Incident.Eligible): a claim without
// facts, with an unknown classification, not listed for its tenant or past
// its deadline stays eligible; the checklist and the deadline deal with
// those. why is a reason code (IneligibleAdvisory), "" when eligible;
// IneligibleText says it in words.
func Eligibility(c *Claim) (eligible bool, why string) {
	if c.Incident == nil {
		return true, ""
	}
	return c.Incident.Eligible()
}

// Assess sets c.Eligible and c.IneligibleWhy from Eligibility.
func Assess(c *Claim) {
	c.Eligible, c.IneligibleWhy = Eligibility(c)
}

// IneligibleText explains why claim c is not eligible, for people ("Microsoft
// classifies EX123456 as an advisory; advisories earn no credit"); "" when
// it is eligible. It asks Eligibility, not the stored c.Eligible.
func IneligibleText(c *Claim) string {
	ok, why := Eligibility(c)
	if ok {
		return ""
	}
	switch why {
	case IneligibleAdvisory:
		return fmt.Sprintf("Microsoft classifies %s as an advisory; advisories earn no credit", c.IncidentID)
	}
	return fmt.Sprintf("Microsoft's record of %s rules a credit out (%s)", c.IncidentID, why)
}

// Provenance says where i's facts came from, for a checklist item's
// Source: "Microsoft Service Health (graph, read 2026-02-16 10:00 UTC)".
func (i *Incident) Provenance() string {
	if i.ReadAt.IsZero() {
		return fmt.Sprintf("Microsoft Service Health (%s)", i.Source)
	}
	return fmt.Sprintf("Microsoft Service Health (%s, read %s)", i.Source, FormatTime(i.ReadAt))
}

// Firm reports whether i's facts come from Microsoft's own record (Graph or
// the catalog), so that dates taken from them are not provisional; a
// forwarded notification's are, as of when it was sent.
func (i *Incident) Firm() bool {
	return i.Source == SourceGraph || i.Source == SourceCatalog
}

// Why a claim previewed without a ledger (Preview) would not earn credit,
// besides IneligibleAdvisory.
const (
	// IneligibleNotListed: the facts at hand do not list the incident.
	IneligibleNotListed = "not_listed"
	// IneligibleWindowClosed: the deadline has passed.
	IneligibleWindowClosed = "window_closed"
)

// Preview says what a Microsoft 365 claim on incident inc would be at now,
// from the facts alone, as "claimtrail inspect --incidents" shows it: its
// deadline (ScheduleOf) and whether it could earn credit, with why not:
// IneligibleNotListed when inc is nil, IneligibleAdvisory (Eligibility),
// or IneligibleWindowClosed once now is after the deadline.
func Preview(inc *Incident, now time.Time) (deadline time.Time, eligible bool, why string) {
	if inc == nil {
		return time.Time{}, false, IneligibleNotListed
	}
	c := &Claim{IncidentID: inc.ID, Incident: inc}
	if s, err := ScheduleOf(c); err == nil {
		deadline = s.Deadline
	}
	if ok, why := Eligibility(c); !ok {
		return deadline, false, why
	}
	if !deadline.IsZero() && now.After(deadline) {
		return deadline, false, IneligibleWindowClosed
	}
	return deadline, true, ""
}
