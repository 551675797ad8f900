package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"strings"

	"github.com/claimtrail/claimtrail/archive"
)

// parseField checks a field name for "claims set", naming the valid ones
// when it is wrong.
func parseField(e *env, s string) (claims.Field, int) {
	f := claims.Field(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range claims.Fields() {
		if f == known {
			return f, -1
		}
	}
	if f == "status" {
		e.errorf("claims set: status is not a field; change it with: claimtrail claims status ID submitted|approved|denied|expired [--note TEXT]")
		return "", exitUsage
	}
	names := make([]string, len(claims.Fields()))
	for i, k := range claims.Fields() {
		names[i] = string(k)
	}
	e.errorf("claims set: %q is not a field; the fields are %s", s, strings.Join(names, ", "))
	return "", exitUsage
}

func (c *ledgerCommand) set(ctx context.Context, ledger *archive.Ledger, id int64, field claims.Field, value string) int {
	before, err := ledger.Claim(ctx, id)
	if err != nil {
		return c.fail("set", err)
	}
	if err := ledger.SetClaimField(ctx, id, field, value, cliActor()); err != nil {
		return c.fail("set", err)
	}
	after, err := ledger.Claim(ctx, id)
	if err != nil {
		return c.fail("set", err)
	}
	fmt.Fprintf(c.e.stdout, "claim %d: %s = %s\n", id, field, termSafe(oneLineText(after.Fields[field].Value)))
	c.reportChange(before, after)
	return exitOK
}

func (c *ledgerCommand) setStatus(ctx context.Context, ledger *archive.Ledger, id int64, to claims.Status, note string) int {
	before, err := ledger.Claim(ctx, id)
	if err != nil {
		return c.fail("status", err)
	}
	if before.Status == to {
		fmt.Fprintf(c.e.stdout, "claim %d is %s already; nothing changed\n", id, to)
		return exitOK
	}
	if err := ledger.SetClaimStatus(ctx, id, to, claims.Actor{Name: cliActor(), Admin: true}, note); err != nil {
		if errors.Is(err, claims.ErrTransition) || errors.Is(err, claims.ErrAdminOnly) {
			c.e.errorf("claims status: %v", err)
			return exitFail
		}
		return c.fail("status", err)
	}
	after, err := ledger.Claim(ctx, id)
	if err != nil {
		return c.fail("status", err)
	}
	if after.Status != to {
		// A reopened claim whose checklist is complete is ready at once.
		fmt.Fprintf(c.e.stdout, "claim %d: %s -> %s -> %s: the checklist is complete\n", id, before.Status, to, after.Status)
		return exitOK
	}
	fmt.Fprintf(c.e.stdout, "claim %d: %s -> %s\n", id, before.Status, to)
	return exitOK
}

// reportChange says what a field change did to the claim: its status and
// its deadline, which follow the checklist and incident_start.
func (c *ledgerCommand) reportChange(before, after *claims.Claim) {
	now := cliNow()
	row := newClaimRow(after, len(after.Evidence), now)
	if !after.Deadline.Equal(before.Deadline) || after.DeadlineProvisional != before.DeadlineProvisional {
		fmt.Fprintf(c.e.stdout, "deadline: %s\n", row.deadlineText())
	}
	switch {
	case after.Status != before.Status && after.Status == claims.StatusReady:
		fmt.Fprintf(c.e.stdout, "status: %s -> ready: the checklist is complete; file it in Partner Center, then: claimtrail claims status %d submitted\n",
			before.Status, after.ID)
	case after.Status != before.Status:
		fmt.Fprintf(c.e.stdout, "status: %s -> %s\n", before.Status, after.Status)
	case len(row.Missing) > 0:
		fmt.Fprintf(c.e.stdout, "status: %s, %d/%d present; missing: %s\n", after.Status, row.Present, row.Total, strings.Join(row.Missing, ", "))
	default:
		fmt.Fprintf(c.e.stdout, "status: %s\n", after.Status)
	}
}
