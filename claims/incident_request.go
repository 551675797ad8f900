package claims

import (
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
)

// OneRequestOver is how many affected customers one event may hit before a
// partner files one request listing them all instead of one per customer
// (DOMAIN.md: "more than 10").
const OneRequestOver = 10

// OneRequest reports whether claims of this many tenants on one incident
// go to Microsoft as one request (IncidentRequest).
func OneRequest(tenants int) bool { return tenants > OneRequestOver }

// ItemLabel names a checklist item as the pages show it: the field's label
// for the items an analyst fills in ("Affected users").
func ItemLabel(item string) string {
	switch item {
	case ItemTenantID:
		return "Customer tenant ID"
	case ItemIncidentID:
		return "Incident ID"
	case ItemIncidentListed:
		return "Listed for the tenant by Microsoft"
	case ItemCustomerEmail:
		return "Email from the customer"
	}
	if f, ok := ItemField(item); ok {
		return f.Label()
	}
	return item
}

// RequestClaim is one tenant's claim in a combined request: the claim with
// its checklist (its Evidence list may be absent) and how much evidence it
// has. Folder names where a package keeps the claim's files, "" when the
// text goes without a package.
type RequestClaim struct {
	Claim    *Claim
	Evidence int
	Folder   string
}

// Shortfall counts, over several claims, those that lack something and
// how many lack each checklist item.
type Shortfall struct {
	// Claims counts the claims added; Ready those ready (Claim.Ready) and
	// Ineligible those Microsoft's record rules out.
	Claims, Ready, Ineligible int
	lacking                   map[string]int
}

// Add counts c.
func (s *Shortfall) Add(c *Claim) {
	s.Claims++
	if c.Ready() {
		s.Ready++
	}
	if ok, _ := Eligibility(c); !ok {
		s.Ineligible++
	}
	for _, item := range c.Missing() {
		if s.lacking == nil {
			s.lacking = map[string]int{}
		}
		s.lacking[item]++
	}
}

// Lack is how many claims lack one checklist item.
type Lack struct {
	Item   string `json:"item"`
	Label  string `json:"label"`
	Claims int    `json:"claims"`
}

// Lacking lists the items some claims lack, most lacked first, then in
// checklist order.
func (s *Shortfall) Lacking() []Lack {
	order := []string{ItemTenantID, ItemIncidentID, ItemIncidentListed, ItemCustomerEmail, ItemCSP}
	for _, it := range analystItems {
		order = append(order, it.item)
	}
	out := []Lack{}
	for _, item := range order {
		if n := s.lacking[item]; n > 0 {
			out = append(out, Lack{Item: item, Label: ItemLabel(item), Claims: n})
		}
	}
	slices.SortStableFunc(out, func(a, b Lack) int { return b.Claims - a.Claims })
	return out
}

// String says it in words: "3 claims lack Affected users".
func (l Lack) String() string {
	if l.Claims == 1 {
		return fmt.Sprintf("1 claim lacks %s", l.Label)
	}
	return fmt.Sprintf("%d claims lack %s", l.Claims, l.Label)
}

// IncidentRequest returns the Details text of one request for several
// tenants' claims on incident incidentID (OneRequest), as
// WriteIncidentRequest writes it.
func IncidentRequest(incidentID string, inc *Incident, cs []RequestClaim) string {
	var b strings.Builder
	WriteIncidentRequest(&b, incidentID, inc, len(cs), func(yield func(RequestClaim, error) bool) {
		for _, c := range cs {
			if !yield(c, nil) {
				return
			}
		}
	})
	return b.String()
}

// WriteIncidentRequest writes to w the text for Partner Center's Details
// box of one request for the claims cs of tenants tenants on incident
// incidentID, whose record Microsoft keeps as inc (nil: none): the
// incident once, then each tenant's block with what Details says of its
// claim (tenant, downtime, affected users and locations, resolution,
// ticket, CSP), its first stored customer email (sender and date), its
// evidence count and what it lacks; last, what the claims lack together. As Details does, it marks
// every missing value MISSING and a claim that is not eligible NOT
// ELIGIBLE, so that an incomplete text is never pasted by mistake. It
// reads cs once, holding one claim at a time, and stops at cs's first
// error or w's, which it returns.
func WriteIncidentRequest(w io.Writer, incidentID string, inc *Incident, tenants int, cs iter.Seq2[RequestClaim, error]) error {
	var werr error
	p := func(format string, args ...any) {
		if werr == nil {
			_, werr = fmt.Fprintf(w, format, args...)
		}
	}
	p("SLA credit request for incident %s on behalf of %d customer tenants\n\n", incidentID, tenants)
	p("Incident ID: %s\n", incidentID)
	if inc != nil {
		p("Microsoft's record: %s\n", incidentLine(inc))
	}
	p("Affected customer tenants: %d (one request for all of them, as Partner Center asks when more than %d customers are affected by one event)\n", tenants, OneRequestOver)
	var short Shortfall
	n := 0
	for rc, err := range cs {
		if err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
		n++
		c := rc.Claim
		short.Add(c)
		name := c.TenantName
		if name == "" {
			name = "(customer not in the tenant registry)"
		}
		p("\n%d. %s\n", n, oneLine(name))
		p("   Customer tenant ID: %s\n", c.TenantID)
		for _, line := range requestLines(c) {
			p("   %s: %s\n", line[0], line[1])
		}
		if e := c.FirstStored; e != nil {
			p("   Customer email: %s, %s\n", e.Sender, FormatTime(e.Date))
		} else {
			p("   Customer email: MISSING\n")
		}
		where := ""
		if rc.Folder != "" {
			where = " (in " + rc.Folder + "/evidence)"
		}
		p("   Evidence emails: %d%s\n", rc.Evidence, where)
		if why := IneligibleText(c); why != "" {
			p("   NOT ELIGIBLE: %s\n", why)
		}
		if m := c.Missing(); len(m) > 0 {
			labels := make([]string, len(m))
			for i, it := range m {
				labels[i] = ItemLabel(it)
			}
			p("   NOT READY, missing: %s\n", strings.Join(labels, ", "))
		}
	}
	if n != tenants {
		p("\nNOTE: %d tenants were counted, %d are listed: the claims changed while this text was made; make it again.\n", tenants, n)
	}
	if short.Ineligible > 0 {
		p("\nNOT ELIGIBLE: %d of %d claims are ruled out by Microsoft's record.\n", short.Ineligible, n)
	}
	if lacks := short.Lacking(); len(lacks) > 0 {
		parts := make([]string, len(lacks))
		for i, l := range lacks {
			parts[i] = l.String()
		}
		p("\nNOT READY: %d of %d claims are ready; %s.\n", short.Ready, n, strings.Join(parts, "; "))
	}
	return werr
}
