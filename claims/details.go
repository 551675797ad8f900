package claims

import (
	"fmt"
	"strings"
)

// Details returns the text for Partner Center's Details box: what
// Microsoft asks a claim to carry, one item a line, then the evidence
// emails. Microsoft's record of the incident gets a line when there is one.
// Items still missing are listed as such, and a claim that is not eligible
// says so, so that such a text is never pasted by mistake; late evidence
// is marked.
func Details(c *Claim) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SLA credit request for incident %s\n\n", c.IncidentID)
	fmt.Fprintf(&b, "Customer tenant ID: %s\n", c.TenantID)
	if c.TenantName != "" {
		fmt.Fprintf(&b, "Customer: %s\n", c.TenantName)
	}
	fmt.Fprintf(&b, "Incident ID: %s\n", c.IncidentID)
	if inc := c.Incident; inc != nil {
		fmt.Fprintf(&b, "Microsoft's record: %s\n", incidentLine(inc))
	}
	for _, line := range requestLines(c) {
		fmt.Fprintf(&b, "%s: %s\n", line[0], line[1])
	}
	fmt.Fprintf(&b, "\nCustomer emails (attached as evidence):\n")
	if len(c.Evidence) == 0 {
		b.WriteString("MISSING\n")
	}
	for i, e := range c.Evidence {
		late := ""
		if e.Late {
			late = " (arrived after submission)"
		}
		fmt.Fprintf(&b, "%d. %s from %s: %q%s\n", i+1, FormatTime(e.Date), e.Sender, oneLine(e.Subject), late)
	}
	if why := IneligibleText(c); why != "" {
		fmt.Fprintf(&b, "\nNOT ELIGIBLE: %s\n", why)
	}
	if m := c.Missing(); len(m) > 0 {
		fmt.Fprintf(&b, "\nNOT READY, missing: %s\n", strings.Join(m, ", "))
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// incidentLine sums up Microsoft's record in one line: classification,
// title, start and end, source.
func incidentLine(inc *Incident) string {
	var parts []string
	if inc.Classification != "" {
		parts = append(parts, string(inc.Classification))
	}
	if inc.Title != "" {
		parts = append(parts, fmt.Sprintf("%q", oneLine(inc.Title)))
	}
	switch {
	case !inc.Start.IsZero() && !inc.End.IsZero():
		parts = append(parts, fmt.Sprintf("from %s to %s", FormatTime(inc.Start), FormatTime(inc.End)))
	case !inc.Start.IsZero():
		parts = append(parts, fmt.Sprintf("from %s, not over", FormatTime(inc.Start)))
	}
	if len(parts) == 0 {
		parts = append(parts, "no details")
	}
	src := string(inc.Source)
	if !inc.ReadAt.IsZero() {
		src += ", read " + FormatTime(inc.ReadAt)
	}
	return strings.Join(parts, ", ") + " (" + src + ")"
}

// requestLines are the lines of a request that carry a claim's fields, as
// label and value, the value "MISSING" where the claim lacks it: Details
// writes them for one claim, IncidentRequest for each of many.
func requestLines(c *Claim) [][2]string {
	item := map[string]ChecklistItem{}
	for _, it := range c.Checklist {
		item[it.Item] = it
	}
	val := func(name string) string {
		if it, ok := item[name]; ok && it.Present {
			return it.Text()
		}
		return "MISSING"
	}
	downtime := "MISSING"
	if s, d := val(ItemDowntimeStart), val(ItemDowntimeDuration); s != "MISSING" || d != "MISSING" {
		downtime = fmt.Sprintf("from %s for %s", s, d)
	}
	return [][2]string{
		{"Downtime", downtime},
		{"Affected users", val(ItemAffectedUsers)},
		{"Affected locations", val(ItemLocations)},
		{"Resolution attempts", oneLine(val(ItemResolution))},
		{"Support ticket number", val(ItemTicket)},
		{"Subscriptions bought through CSP", val(ItemCSP)},
	}
}
