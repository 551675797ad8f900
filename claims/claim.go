package claims

import (
	"fmt"
	"strings"
	"time"
)

// Claim is one SLA-credit claim: a tenant and an incident, the evidence for
// it and the checklist Partner Center asks for.
type Claim struct {
	ID         int64  `json:"id"`
	TenantID   string `json:"tenant_id"`
	TenantName string `json:"tenant_name"`
	IncidentID string `json:"incident_id"`
	Status     Status `json:"status"`
	Azure      bool   `json:"azure"`
	// Deadline is when Microsoft must have received the claim;
	// DeadlineProvisional is set while it counts from the earliest evidence
	// rather than the incident start (see Schedule).
	Deadline            time.Time            `json:"deadline"`
	DeadlineProvisional bool                 `json:"deadline_provisional"`
	CreatedAt           time.Time            `json:"created_at"`
	UpdatedAt           time.Time            `json:"updated_at"`
	Fields              map[Field]FieldValue `json:"fields"`
	Evidence            []Evidence           `json:"evidence"` // oldest first
	Checklist           []ChecklistItem      `json:"checklist"`

	// Incident is Microsoft's record of the incident: the best facts the
	// sources gave (Best), nil when none did. IncidentListed is Graph's
	// answer for the claim's tenant: false when Graph said the tenant has
	// no such incident, nil when nobody asked.
	Incident       *Incident `json:"incident,omitempty"`
	IncidentListed *bool     `json:"incident_listed,omitempty"`
	// Eligible is false when Microsoft's record rules a credit out (an
	// advisory); IneligibleWhy then says why ("advisory").
	Eligible      bool   `json:"eligible"`
	IneligibleWhy string `json:"ineligible_why,omitempty"`

	// Earliest is the earliest evidence date and FirstStored the oldest
	// evidence whose bundle is stored: what the deadline and the checklist
	// need of the evidence, known even when Evidence was not loaded.
	Earliest    time.Time `json:"-"`
	FirstStored *Evidence `json:"-"`
}

// FieldValue is a field's value and who set it.
type FieldValue struct {
	Value     string    `json:"value"`
	Actor     string    `json:"actor"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Evidence is one message attached to a claim.
type Evidence struct {
	MessageID    int64     `json:"-"`
	SHA256       string    `json:"sha256"`
	RFC822ID     string    `json:"message_id"`
	Sender       string    `json:"sender"`
	Subject      string    `json:"subject"`
	Date         time.Time `json:"date"` // EvidenceDate
	BundleKey    string    `json:"bundle_key"`
	BundleSHA256 string    `json:"bundle_sha256,omitempty"`
	AttachedAt   time.Time `json:"attached_at"`
	// Late is set when the evidence arrived after the claim had gone to
	// Microsoft (LateFor): it is not part of what was submitted.
	Late bool `json:"late,omitempty"`
	// AttachedBy names the analyst who attached it by hand; empty when
	// the rules did.
	AttachedBy string `json:"attached_by,omitempty"`
}

// EvidenceDate is the date a message counts from for deadlines: when the
// mail server received it, else its Date header, else when claimtrail
// recorded it.
func EvidenceDate(received, sent, recorded time.Time) time.Time {
	switch {
	case !received.IsZero():
		return received
	case !sent.IsZero():
		return sent
	}
	return recorded
}

// ChecklistItem is one thing a claim must carry and whether it does.
type ChecklistItem struct {
	Item    string `json:"item"` // see the Item* constants
	Present bool   `json:"present"`
	Value   string `json:"value,omitempty"`
	// Source says where the value came from: "evidence", "tenant registry"
	// or "analyst <name>".
	Source string `json:"source,omitempty"`
	// At is the moment Value names in RFC 3339, when it names one with
	// more (the customer email: its sender and date): Text shows it in
	// TimeLayout.
	At time.Time `json:"-"`
}

// Text is Value as people read it: a moment in it is in TimeLayout
// ("2026-11-21 05:27 UTC"), where the API's Value keeps RFC 3339.
func (it ChecklistItem) Text() string {
	if !it.At.IsZero() {
		return strings.Replace(it.Value, it.At.UTC().Format(time.RFC3339), FormatTime(it.At), 1)
	}
	if t, err := time.Parse(time.RFC3339, it.Value); err == nil {
		return FormatTime(t)
	}
	return it.Value
}

// The checklist items, from Partner Center's requirements (DOMAIN.md).
const (
	ItemTenantID   = "tenant_id"
	ItemIncidentID = "incident_id"
	// ItemIncidentListed is Graph's word that the incident concerns the
	// claim's tenant: missing only when Graph said it does not.
	ItemIncidentListed   = "incident_listed"
	ItemCustomerEmail    = "customer_email"
	ItemCSP              = "csp"
	ItemDowntimeStart    = "downtime_start"
	ItemDowntimeDuration = "downtime_duration"
	ItemAffectedUsers    = "affected_users"
	ItemLocations        = "locations"
	ItemResolution       = "resolution"
	ItemTicket           = "ticket"
)

// analystItems are the checklist items an analyst fills in, in checklist
// order, with the field that holds each.
var analystItems = []struct {
	item  string
	field Field
}{
	{ItemDowntimeStart, FieldDowntimeStart}, {ItemDowntimeDuration, FieldDowntimeDuration},
	{ItemAffectedUsers, FieldAffectedUsers}, {ItemLocations, FieldLocations},
	{ItemResolution, FieldResolution}, {ItemTicket, FieldTicket},
}

// ItemField returns the field an analyst sets to fill in checklist item
// item, and false for the items that come from evidence.
func ItemField(item string) (Field, bool) {
	if item == ItemCSP {
		return FieldCSP, true
	}
	for _, it := range analystItems {
		if it.item == item {
			return it.field, true
		}
	}
	return "", false
}

// Tenant is what the checklist needs of the tenant registry: whether the
// claim's tenant is registered and, if so, whether it buys through CSP.
type Tenant struct {
	Known bool
	CSP   bool
}

// Checklist fills Partner Center's list from what is known: tenant and
// incident from the claim, whether Microsoft lists the incident for the
// tenant from Graph (IncidentListed), the customer email from its first
// stored evidence (FirstStored), CSP from the analyst or else the tenant
// registry, the rest from the analyst, except that the downtime's start and
// duration come from Microsoft's record (Incident) until an analyst sets
// them. It also sets c.Eligible and c.IneligibleWhy (Assess), so that a
// loaded claim says both.
func Checklist(c *Claim, t Tenant) []ChecklistItem {
	Assess(c)
	items := []ChecklistItem{
		{Item: ItemTenantID, Present: true, Value: c.TenantID, Source: "evidence"},
		{Item: ItemIncidentID, Present: true, Value: c.IncidentID, Source: "evidence"},
		listedItem(c),
	}
	email := ChecklistItem{Item: ItemCustomerEmail}
	if e := c.FirstStored; e != nil {
		email.Present, email.Source = true, "evidence"
		email.Value, email.At = fmt.Sprintf("%s, %s", e.Sender, e.Date.UTC().Format(time.RFC3339)), e.Date
	}
	items = append(items, email)
	csp := ChecklistItem{Item: ItemCSP}
	if f, ok := c.Fields[FieldCSP]; ok {
		csp = ChecklistItem{Item: ItemCSP, Present: true, Value: f.Value, Source: "analyst " + f.Actor}
	} else if t.Known {
		csp = ChecklistItem{Item: ItemCSP, Present: true, Value: yesNo(t.CSP), Source: "tenant registry"}
	}
	items = append(items, csp)
	for _, it := range analystItems {
		ci := ChecklistItem{Item: it.item}
		if f, ok := c.Fields[it.field]; ok {
			ci.Present, ci.Value, ci.Source = true, f.Value, "analyst "+f.Actor
		} else if v := factValue(c.Incident, it.item); v != "" {
			ci.Present, ci.Value, ci.Source = true, v, c.Incident.Provenance()
		}
		items = append(items, ci)
	}
	return items
}

// listedItem is ItemIncidentListed: present when Graph lists the incident
// for the tenant or nobody could ask, missing with what to do when Graph
// said the tenant has no such incident.
func listedItem(c *Claim) ChecklistItem {
	it := ChecklistItem{Item: ItemIncidentListed}
	switch {
	case c.IncidentListed == nil:
		it.Present, it.Value, it.Source = true, "not checked: Microsoft Graph was not asked for this tenant", "Microsoft Service Health (not asked)"
	case *c.IncidentListed:
		it.Present, it.Value, it.Source = true, "listed for the tenant", graphSource(c.Incident)
	default:
		it.Value = fmt.Sprintf("Microsoft lists no %s for this tenant: check the tenant ID, or ask the customer for a screenshot of the incident in their admin center", c.IncidentID)
		it.Source = graphSource(c.Incident)
	}
	return it
}

// graphSource names Graph as a source, with its read time when the claim's
// facts are Graph's.
func graphSource(inc *Incident) string {
	if inc != nil && inc.Source == SourceGraph {
		return inc.Provenance()
	}
	return "Microsoft Service Health (graph)"
}

// factValue is what Microsoft's record says of an analyst's item: the
// downtime's start and duration; "" when it says nothing.
func factValue(inc *Incident, item string) string {
	if inc == nil {
		return ""
	}
	switch item {
	case ItemDowntimeStart:
		if !inc.Start.IsZero() {
			return inc.Start.UTC().Format(time.RFC3339)
		}
	case ItemDowntimeDuration:
		if d, ok := inc.Downtime(); ok {
			return fmtDuration(d.Round(time.Second))
		}
	}
	return ""
}

// Ready reports whether every checklist item is present and the claim is
// eligible (Eligibility): an advisory is never ready.
func (c *Claim) Ready() bool {
	if ok, _ := Eligibility(c); !ok {
		return false
	}
	for _, it := range c.Checklist {
		if !it.Present {
			return false
		}
	}
	return len(c.Checklist) > 0
}

// Missing returns the checklist items not present.
func (c *Claim) Missing() []string {
	var out []string
	for _, it := range c.Checklist {
		if !it.Present {
			out = append(out, it.Item)
		}
	}
	return out
}

// Present counts the checklist items present.
func (c *Claim) Present() int {
	n := 0
	for _, it := range c.Checklist {
		if it.Present {
			n++
		}
	}
	return n
}

// LateEvidence counts the evidence marked late.
func (c *Claim) LateEvidence() int {
	n := 0
	for _, e := range c.Evidence {
		if e.Late {
			n++
		}
	}
	return n
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
