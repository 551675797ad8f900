package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// claimJSON is "claims show --json": the claim as the ledger has it, with
// what the text output works out. Its fields are a contract for scripts:
// add, never rename.
type claimJSON struct {
	*claims.Claim
	Ready    bool     `json:"ready"`
	Missing  []string `json:"missing"` // never null
	DaysLeft *int     `json:"days_left"`
	Overdue  bool     `json:"overdue"`
	// Details is the text for Partner Center's Details box.
	Details string `json:"details"`
}

func (c *ledgerCommand) show(ctx context.Context, ledger *archive.Ledger, id int64, asJSON bool) int {
	cl, err := ledger.Claim(ctx, id)
	if err != nil {
		return c.fail("show", err)
	}
	row := newClaimRow(cl, len(cl.Evidence), cliNow())
	if asJSON {
		out := claimJSON{Claim: cl, Ready: cl.Ready(), Missing: row.Missing, DaysLeft: row.DaysLeft, Overdue: row.Overdue,
			Details: claims.Details(cl)}
		if out.Evidence == nil {
			out.Evidence = []claims.Evidence{}
		}
		enc := json.NewEncoder(c.e.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			c.e.errorf("claims show: write: %v", err)
			return exitFail
		}
		return exitOK
	}
	var b strings.Builder
	writeClaim(&b, cl, row)
	if _, err := io.WriteString(c.e.stdout, b.String()); err != nil {
		c.e.errorf("claims show: write: %v", err)
		return exitFail
	}
	return exitOK
}

// nextSteps says, for each status, what an analyst does next.
var nextSteps = map[claims.Status]string{
	claims.StatusOpen:      "complete the checklist; the claim turns ready by itself",
	claims.StatusReady:     "file it in Partner Center (the text below goes in the Details box, the package's evidence as attachments), then: claimtrail claims status %d submitted",
	claims.StatusSubmitted: "when Microsoft answers: claimtrail claims status %d approved (or denied); to correct it first: claimtrail claims status %[1]d open",
	claims.StatusExpired:   "nothing; if it expired by mistake, an admin reopens it: claimtrail claims status %d open --note WHY",
	claims.StatusDenied:    "nothing; to try again, an admin reopens it: claimtrail claims status %d open --note WHY",
}

// checklistHints say how to supply each item an analyst cannot set with a
// field of the same name.
var checklistHints = map[string]string{
	claims.ItemCustomerEmail: "needs accepted mail from the customer with its bundle stored; see the triage queue in the web app",
	claims.ItemCSP:           "claimtrail claims set %d csp yes|no",
}

// fieldExamples are example values for the set command hints.
var fieldExamples = map[string]string{
	claims.ItemDowntimeStart:    "2026-02-15T09:30:00Z",
	claims.ItemDowntimeDuration: "4h30m",
	claims.ItemAffectedUsers:    "120",
	claims.ItemLocations:        `"Prague, Brno"`,
	claims.ItemResolution:       `"what was done at the time"`,
	claims.ItemTicket:           "TICKET-NUMBER",
}

// writeClaim renders a claim for "claims show". Text that came in mail is
// made safe for the terminal; dates are in UTC.
func writeClaim(w io.Writer, c *claims.Claim, row claimRow) {
	tenant := c.TenantID
	if c.TenantName != "" {
		tenant = fmt.Sprintf("%s (%s)", termSafe(c.TenantName), c.TenantID)
	}
	fmt.Fprintf(w, "Claim %d: incident %s for %s\n\n", c.ID, c.IncidentID, tenant)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Status:\t%s\n", c.Status)
	deadline := "none yet: it counts from the first evidence"
	if !c.Deadline.IsZero() {
		deadline = claims.FormatTime(c.Deadline)
		if row.DaysLeft != nil {
			switch {
			case row.Overdue:
				deadline += fmt.Sprintf(", OVERDUE by %s", plural(-*row.DaysLeft, "day"))
			case *row.DaysLeft == 0:
				deadline += ", the last day"
			default:
				deadline += fmt.Sprintf(", %s left", plural(*row.DaysLeft, "day"))
			}
		}
		if c.DeadlineProvisional {
			deadline += fmt.Sprintf(" (provisional; claimtrail claims set %d incident_start TIME makes it final)", c.ID)
		}
	}
	fmt.Fprintf(tw, "Deadline:\t%s\n", deadline)
	if s, err := claims.ScheduleOf(c); err == nil && s.From != "" {
		fmt.Fprintf(tw, "Counts from:\t%s\n", s.From)
	}
	if why := claims.IneligibleText(c); why != "" {
		fmt.Fprintf(tw, "Eligible:\tnot eligible: %s\n", why)
	} else {
		fmt.Fprintf(tw, "Eligible:\tyes\n")
	}
	fmt.Fprintf(tw, "Azure:\t%s\n", yesNo(c.Azure))
	if next, ok := nextSteps[c.Status]; ok {
		if strings.Contains(next, "%d") {
			next = fmt.Sprintf(next, c.ID)
		}
		fmt.Fprintf(tw, "Next:\t%s\n", next)
	}
	tw.Flush()

	writeMicrosoftRecord(w, c)

	fmt.Fprintf(w, "\nChecklist (%d/%d present):\n", row.Present, row.Total)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, it := range c.Checklist {
		if it.Present {
			fmt.Fprintf(tw, "  [x]\t%s\t%s\t(%s)\n", it.Item, termSafe(oneLineText(it.Text())), termSafe(it.Source))
			continue
		}
		hint, ok := checklistHints[it.Item]
		if !ok && it.Value != "" {
			hint, ok = termSafe(oneLineText(it.Value)), true // the item says what to do (incident_listed)
		}
		if !ok {
			hint = fmt.Sprintf("claimtrail claims set %%d %s %s", it.Item, fieldExamples[it.Item])
		}
		if strings.Contains(hint, "%d") {
			hint = fmt.Sprintf(hint, c.ID)
		}
		fmt.Fprintf(tw, "  [ ]\t%s\tMISSING\t%s\n", it.Item, hint)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nEvidence (%d, oldest first):\n", len(c.Evidence))
	if len(c.Evidence) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for i, e := range c.Evidence {
		bundle := e.BundleKey
		if bundle == "" {
			bundle = "bundle not stored yet"
		}
		late := ""
		if e.Late {
			late = "  LATE: arrived after submission"
		}
		fmt.Fprintf(w, "  %d. %s  %s  %q%s\n     message %s, %s\n", i+1, claims.FormatTime(e.Date),
			termSafe(e.Sender), oneLineText(e.Subject), late, e.SHA256, bundle)
	}

	fmt.Fprintf(w, "\nDetails for Partner Center (copy into the Details box):\n\n%s", termSafeText(claims.Details(c)))
}

// writeMicrosoftRecord shows Microsoft's record of the claim's incident:
// what the deadline and eligibility were decided from.
func writeMicrosoftRecord(w io.Writer, c *claims.Claim) {
	fmt.Fprintf(w, "\nMicrosoft's record of %s:\n", c.IncidentID)
	inc := c.Incident
	if inc == nil {
		fmt.Fprintln(w, "  none yet: claimtrail incidents sync (Graph), incidents import (a catalog), or a forwarded Service Health notification")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if inc != nil {
		when := func(t time.Time, none string) string {
			if t.IsZero() {
				return none
			}
			return claims.FormatTime(t)
		}
		class := string(inc.Classification)
		if class == "" {
			class = "not given"
		}
		fmt.Fprintf(tw, "  Classification:\t%s\n", termSafe(class))
		if inc.Title != "" {
			fmt.Fprintf(tw, "  Title:\t%s\n", termSafe(oneLineText(inc.Title)))
		}
		if inc.Service != "" {
			fmt.Fprintf(tw, "  Service:\t%s\n", termSafe(inc.Service))
		}
		if inc.Status != "" {
			fmt.Fprintf(tw, "  Status:\t%s\n", termSafe(inc.Status))
		}
		fmt.Fprintf(tw, "  Start:\t%s\n", when(inc.Start, "not given"))
		fmt.Fprintf(tw, "  End:\t%s\n", when(inc.End, "not given (ongoing)"))
		if d, ok := inc.Downtime(); ok {
			fmt.Fprintf(tw, "  Downtime:\t%s\n", d)
		}
		fmt.Fprintf(tw, "  Source:\t%s\n", inc.Provenance())
	}
	if c.IncidentListed != nil {
		listed := "yes, Graph lists it for this tenant"
		if !*c.IncidentListed {
			listed = "NO: Graph does not list it for this tenant"
		}
		fmt.Fprintf(tw, "  Listed:\t%s\n", listed)
	}
	tw.Flush()
}

// oneLineText folds runs of white space, line ends included, to one space.
func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
