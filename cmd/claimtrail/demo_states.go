package main

import (
	"context"
	"fmt"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
)

// demoClock is the demo's "now": now itself in the last week of a month,
// else three days before the month ends. A deadline is always the end of a
// month (rules.Deadline), so only then can a claim be due within
// claims.SoonDays; the demo runs that far ahead, says so, and a newcomer
// sees every urgency on first start whatever the date.
func demoClock(now time.Time) time.Time {
	now = now.UTC()
	y, m, _ := now.Date()
	monthEnd := time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	if monthEnd.Sub(now) <= (claims.SoonDays-1)*24*time.Hour {
		return now
	}
	return monthEnd.Add(-3 * 24 * time.Hour).Add(now.Sub(now.Truncate(24 * time.Hour))).Truncate(time.Minute)
}

// demoClockNote tells the newcomer that the pages run ahead, when they do.
func demoClockNote(shift time.Duration) string {
	if shift <= 0 {
		return ""
	}
	return fmt.Sprintf("  clock     the pages run %d days ahead, at %s, so that a deadline (the end of a month)\n"+
		"            falls within 7 days; the claims' deadlines and states follow the real rules\n",
		int(shift.Hours()+12)/24, claims.FormatTime(time.Now().Add(shift)))
}

// demoStates are the claims the demo moves, through the ledger's own write
// path as an analyst would, so that every state a claim can be in shows;
// the mail's other claims stay open.
var demoStates = []struct {
	tenant, id string
	state      string
}{
	{demoContoso, "OD1189902", "ready"},
	{demoNorthwind, "PB1190455", "submitted"},
	{demoBackerei, "EX1187453", "approved"},
	{demoBrno, "EX1187453", "denied"},
	{demoContoso, "SP1176630", "expired"},
	{demoContoso, "EX315207", "overdue"},
	{demoFabrikam, "CP1203317", "soon"},
}

// demoFields are what the demo's analyst enters for a checklist's missing
// items.
var demoFields = map[claims.Field]string{
	claims.FieldDowntimeDuration: "4h",
	claims.FieldAffectedUsers:    "40",
	claims.FieldLocations:        "Prague, Munich",
	claims.FieldResolution:       "Restarted Outlook, tried Outlook on the web and a phone; nothing worked until Microsoft restored the service.",
	claims.FieldTicket:           "2611180040001234",
	claims.FieldCSP:              "yes",
}

// seedDemoStates moves the demoStates claims into their states at the
// demo's clock now (demoClock), by user: it completes the checklists of
// those to be filed and files them; for the one due soon it enters an
// incident start last month, so the deadline is the end of this one; for
// the expired and overdue ones an incident start two months back, which
// puts the deadline behind now, lets the deadline expire them as the
// poller does (ExpireClaims), and reopens the overdue one as an admin
// does, after its deadline.
func seedDemoStates(ctx context.Context, l *archive.Ledger, now time.Time, user string) error {
	admin := claims.Actor{Name: user, Admin: true}
	y, m, _ := now.UTC().Date()
	longAgo := time.Date(y, m-2, 1, 9, 0, 0, 0, time.UTC).Format(time.RFC3339)
	lastMonth := time.Date(y, m-1, 1, 9, 0, 0, 0, time.UTC).Format(time.RFC3339)
	for _, s := range demoStates {
		c, err := l.ClaimFor(ctx, s.tenant, s.id)
		if err != nil {
			return fmt.Errorf("demo: the %s claim of %s: %w", s.id, s.tenant, err)
		}
		switch s.state {
		case "soon", "expired", "overdue":
			start := longAgo
			if s.state == "soon" {
				start = lastMonth
			}
			if err := l.SetClaimField(ctx, c.ID, claims.FieldIncidentStart, start, user); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			continue
		}
		if err := fillDemoChecklist(ctx, l, c, user); err != nil {
			return err
		}
		var steps []claims.Status
		switch s.state {
		case "submitted":
			steps = []claims.Status{claims.StatusSubmitted}
		case "approved":
			steps = []claims.Status{claims.StatusSubmitted, claims.StatusApproved}
		case "denied":
			steps = []claims.Status{claims.StatusSubmitted, claims.StatusDenied}
		}
		for _, to := range steps {
			if err := l.SetClaimStatus(ctx, c.ID, to, admin, ""); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
		}
	}
	if _, err := l.ExpireClaims(ctx, now); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, s := range demoStates {
		if s.state != "overdue" {
			continue
		}
		c, err := l.ClaimFor(ctx, s.tenant, s.id)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := l.SetClaimStatus(ctx, c.ID, claims.StatusOpen, admin, "the customer's mail came late; Microsoft agreed to take the claim"); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

// fillDemoChecklist enters demoFields for c's missing items; its claim is
// then ready.
func fillDemoChecklist(ctx context.Context, l *archive.Ledger, c *claims.Claim, user string) error {
	for _, item := range c.Missing() {
		f, ok := claims.ItemField(item)
		if !ok {
			return fmt.Errorf("demo: the %s claim lacks %s, which no analyst enters", c.IncidentID, item)
		}
		v, ok := demoFields[f]
		if f == claims.FieldDowntimeStart {
			v, ok = c.Earliest.UTC().Truncate(time.Hour).Format(time.RFC3339), !c.Earliest.IsZero()
		}
		if !ok {
			return fmt.Errorf("demo: no demo value for %s", f)
		}
		if err := l.SetClaimField(ctx, c.ID, f, v, user); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}
