package claims

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// item returns claim c's checklist item called name.
func item(c *Claim, name string) ChecklistItem {
	for _, it := range c.Checklist {
		if it.Item == name {
			return it
		}
	}
	return ChecklistItem{}
}

// completeClaim is a claim whose checklist is complete without any facts.
func completeClaim(status Status) *Claim {
	fv := func(v string) FieldValue { return FieldValue{Value: v, Actor: "anna"} }
	e := Evidence{SHA256: "ab", Sender: "jane@contoso.com", Date: at("2026-02-15T09:00:00Z")}
	c := &Claim{TenantID: "4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47", IncidentID: "EX1321282", Status: status,
		FirstStored: &e, Evidence: []Evidence{e}, Earliest: e.Date,
		Fields: map[Field]FieldValue{
			FieldCSP: fv("yes"), FieldDowntimeStart: fv("2026-02-15T09:00:00Z"), FieldDowntimeDuration: fv("4h"),
			FieldAffectedUsers: fv("12"), FieldLocations: fv("Prague"), FieldResolution: fv("waited"), FieldTicket: fv("T-1"),
		}}
	c.Checklist = Checklist(c, Tenant{})
	return c
}

func withFacts(c *Claim, inc *Incident, listed *bool) *Claim {
	c.Incident, c.IncidentListed = inc, listed
	c.Checklist = Checklist(c, Tenant{})
	return c
}

var graphRead = at("2026-02-16T10:00:00Z")

func graphFacts(class Classification) *Incident {
	return &Incident{ID: "EX1321282", Title: "Mail delayed", Classification: class, Source: SourceGraph, ReadAt: graphRead,
		Start: at("2026-02-15T09:00:00Z"), End: at("2026-02-15T13:30:00Z")}
}

func TestEligibility(t *testing.T) {
	no := false
	for _, tt := range []struct {
		name     string
		inc      *Incident
		listed   *bool
		eligible bool
		why      string
	}{
		{"no facts", nil, nil, true, ""},
		{"incident", graphFacts(ClassificationIncident), nil, true, ""},
		{"advisory", graphFacts(ClassificationAdvisory), nil, false, IneligibleAdvisory},
		{"advisory from a notification", &Incident{ID: "EX1321282", Classification: ClassificationAdvisory, Source: SourceNotification}, nil, false, IneligibleAdvisory},
		{"unknown classification stays eligible", graphFacts("unknownfuturevalue"), nil, true, ""},
		{"no classification stays eligible", graphFacts(""), nil, true, ""},
		{"not listed is the checklist's, not eligibility's", graphFacts(ClassificationIncident), &no, true, ""},
	} {
		c := withFacts(completeClaim(StatusOpen), tt.inc, tt.listed)
		if ok, why := Eligibility(c); ok != tt.eligible || why != tt.why {
			t.Errorf("Eligibility(%s) = %v %q, want %v %q", tt.name, ok, why, tt.eligible, tt.why)
		}
		if c.Eligible != tt.eligible || c.IneligibleWhy != tt.why {
			t.Errorf("Checklist(%s) set Eligible %v %q, want %v %q", tt.name, c.Eligible, c.IneligibleWhy, tt.eligible, tt.why)
		}
	}
}

func TestAdvisoryIsNeverReady(t *testing.T) {
	want := "Microsoft classifies EX1321282 as an advisory; advisories earn no credit"
	c := withFacts(completeClaim(StatusOpen), graphFacts(ClassificationAdvisory), nil)
	if len(c.Missing()) != 0 {
		t.Fatalf("advisory claim misses %v, want a complete checklist", c.Missing())
	}
	if c.Ready() {
		t.Error("an advisory claim with a complete checklist is ready")
	}
	if got := Follow(StatusOpen, c.Ready()); got != StatusOpen {
		t.Errorf("Follow(open) of an advisory = %s, want open", got)
	}
	if got := Follow(StatusReady, c.Ready()); got != StatusOpen {
		t.Errorf("Follow(ready) of an advisory = %s, want open", got)
	}
	if got := IneligibleText(c); got != want {
		t.Errorf("IneligibleText = %q, want %q", got, want)
	}
	ready := withFacts(completeClaim(StatusReady), graphFacts(ClassificationAdvisory), nil)
	for _, tc := range []struct {
		c  *Claim
		to Status
	}{{ready, StatusSubmitted}, {c, StatusReady}, {c, StatusSubmitted}} {
		err := CheckTransition(tc.c, tc.to, Actor{Name: "root", Admin: true}, "note")
		if !errors.Is(err, ErrTransition) || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckTransition(advisory %s -> %s) = %v, want ErrTransition saying %q", tc.c.Status, tc.to, err, want)
		}
	}
	// Giving up on it stays allowed.
	if err := CheckTransition(c, StatusExpired, Actor{Name: "anna"}, ""); err != nil {
		t.Errorf("CheckTransition(advisory open -> expired) = %v, want allowed", err)
	}
	if d := Details(c); !strings.Contains(d, "NOT ELIGIBLE: "+want) {
		t.Errorf("Details of an advisory lacks NOT ELIGIBLE:\n%s", d)
	}
	// The same claim as an incident is ready and may be submitted.
	ok := withFacts(completeClaim(StatusReady), graphFacts(ClassificationIncident), nil)
	if !ok.Ready() || CheckTransition(ok, StatusSubmitted, Actor{Name: "anna"}, "") != nil {
		t.Errorf("incident claim: ready %v, submit %v; want ready and allowed", ok.Ready(), CheckTransition(ok, StatusSubmitted, Actor{Name: "anna"}, ""))
	}
}

func TestIncidentListedItem(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		name    string
		listed  *bool
		present bool
		value   string
	}{
		{"nobody asked", nil, true, "not checked: "},
		{"listed", &yes, true, "listed for the tenant"},
		{"not listed", &no, false, "Microsoft lists no EX1321282 for this tenant: check the tenant ID, or ask the customer for a screenshot of the incident in their admin center"},
	} {
		c := withFacts(completeClaim(StatusOpen), graphFacts(ClassificationIncident), tt.listed)
		it := item(c, ItemIncidentListed)
		if it.Present != tt.present || !strings.HasPrefix(it.Value, tt.value) {
			t.Errorf("%s: item %+v, want present %v, value %q", tt.name, it, tt.present, tt.value)
		}
		if c.Ready() != tt.present {
			t.Errorf("%s: ready %v, want %v", tt.name, c.Ready(), tt.present)
		}
		if !tt.present && !strings.Contains(strings.Join(c.Missing(), " "), ItemIncidentListed) {
			t.Errorf("%s: Missing %v lacks %s", tt.name, c.Missing(), ItemIncidentListed)
		}
	}
}

func TestDowntimeFromFacts(t *testing.T) {
	c := completeClaim(StatusOpen)
	delete(c.Fields, FieldDowntimeStart)
	delete(c.Fields, FieldDowntimeDuration)
	withFacts(c, graphFacts(ClassificationIncident), nil)
	source := "Microsoft Service Health (graph, read 2026-02-16 10:00 UTC)"
	for name, want := range map[string]string{ItemDowntimeStart: "2026-02-15T09:00:00Z", ItemDowntimeDuration: "4h30m"} {
		if it := item(c, name); !it.Present || it.Value != want || it.Source != source {
			t.Errorf("%s = %+v, want %s from %s", name, it, want, source)
		}
	}
	if !c.Ready() {
		t.Errorf("claim with downtime from the facts is not ready; missing %v", c.Missing())
	}
	// The analyst's value wins.
	c.Fields[FieldDowntimeDuration] = FieldValue{Value: "2h", Actor: "anna"}
	c.Checklist = Checklist(c, Tenant{})
	if it := item(c, ItemDowntimeDuration); it.Value != "2h" || it.Source != "analyst anna" {
		t.Errorf("downtime_duration = %+v, want the analyst's 2h", it)
	}
	// An ongoing incident gives the start only.
	ongoing := graphFacts(ClassificationIncident)
	ongoing.End = time.Time{}
	withFacts(c, ongoing, nil)
	delete(c.Fields, FieldDowntimeDuration)
	c.Checklist = Checklist(c, Tenant{})
	if it := item(c, ItemDowntimeDuration); it.Present {
		t.Errorf("downtime_duration of an ongoing incident = %+v, want missing", it)
	}
}

func TestScheduleOrder(t *testing.T) {
	fv := func(v string) FieldValue { return FieldValue{Value: v, Actor: "anna"} }
	earliest := at("2026-03-02T09:00:00Z") // evidence arrived in March
	graph := &Incident{ID: "EX1321282", Source: SourceGraph, Start: at("2026-01-20T08:00:00Z")}
	catalog := &Incident{ID: "EX1321282", Source: SourceCatalog, Start: at("2026-01-20T08:00:00Z")}
	note := &Incident{ID: "EX1321282", Source: SourceNotification, Start: at("2026-02-10T08:00:00Z")}
	noStart := &Incident{ID: "EX1321282", Source: SourceGraph}
	for _, tt := range []struct {
		name     string
		field    string // incident_start an analyst entered, "" for none
		inc      *Incident
		azure    bool
		deadline string
		prov     bool
		from     string
	}{
		{"analyst over graph", "2025-12-31T23:00:00Z", graph, false, "2026-01-31T23:59:59.999999999Z", false, "incident start (analyst anna)"},
		{"graph start, firm", "", graph, false, "2026-02-28T23:59:59.999999999Z", false, "incident start (Microsoft Service Health, graph)"},
		{"graph start, azure two months", "", graph, true, "2026-03-31T23:59:59.999999999Z", false, "incident start (Microsoft Service Health, graph)"},
		{"catalog start, firm", "", catalog, false, "2026-02-28T23:59:59.999999999Z", false, "incident start (Microsoft Service Health, catalog)"},
		{"notification start, provisional", "", note, false, "2026-03-31T23:59:59.999999999Z", true, "incident start (notification, provisional)"},
		{"facts without start: earliest evidence", "", noStart, false, "2026-04-30T23:59:59.999999999Z", true, "earliest evidence (provisional)"},
		{"no facts: earliest evidence", "", nil, false, "2026-04-30T23:59:59.999999999Z", true, "earliest evidence (provisional)"},
	} {
		c := &Claim{Earliest: earliest, Incident: tt.inc, Fields: map[Field]FieldValue{}}
		if tt.field != "" {
			c.Fields[FieldIncidentStart] = fv(tt.field)
		}
		if tt.azure {
			c.Fields[FieldAzure] = fv("yes")
		}
		s, err := ScheduleOf(c)
		if err != nil {
			t.Fatalf("ScheduleOf(%s): %v", tt.name, err)
		}
		want, _ := time.Parse(time.RFC3339Nano, tt.deadline)
		if !s.Deadline.Equal(want) || s.Provisional != tt.prov || s.From != tt.from {
			t.Errorf("ScheduleOf(%s) = %v provisional %v from %q, want %s %v %q", tt.name, s.Deadline, s.Provisional, s.From, tt.deadline, tt.prov, tt.from)
		}
	}
}

func TestDetailsIncidentLine(t *testing.T) {
	c := withFacts(completeClaim(StatusOpen), graphFacts(ClassificationIncident), nil)
	want := `Microsoft's record: incident, "Mail delayed", from 2026-02-15 09:00 UTC to 2026-02-15 13:30 UTC (graph, read 2026-02-16 10:00 UTC)` + "\n"
	if d := Details(c); !strings.Contains(d, want) || strings.Contains(d, "NOT ELIGIBLE") {
		t.Errorf("Details lacks %q or says not eligible:\n%s", want, d)
	}
	if d := Details(completeClaim(StatusOpen)); strings.Contains(d, "Microsoft's record") {
		t.Errorf("Details without facts has a record line:\n%s", d)
	}
}

func TestPreview(t *testing.T) {
	now := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	inc := func(class Classification, start string) *Incident {
		s, _ := time.Parse(time.RFC3339, start)
		return &Incident{ID: "EX1234567", Classification: class, Start: s, Source: SourceCatalog}
	}
	for _, tc := range []struct {
		name     string
		inc      *Incident
		deadline string
		eligible bool
		why      string
	}{
		{"not in the catalog", nil, "", false, IneligibleNotListed},
		{"incident in October", inc(ClassificationIncident, "2026-10-20T08:00:00Z"), "2026-11-30T23:59:59.999999999Z", true, ""},
		{"advisory", inc(ClassificationAdvisory, "2026-10-20T08:00:00Z"), "2026-11-30T23:59:59.999999999Z", false, IneligibleAdvisory},
		{"window closed", inc(ClassificationIncident, "2026-08-20T08:00:00Z"), "2026-09-30T23:59:59.999999999Z", false, IneligibleWindowClosed},
	} {
		d, ok, why := Preview(tc.inc, now)
		var want time.Time
		if tc.deadline != "" {
			want, _ = time.Parse(time.RFC3339Nano, tc.deadline)
		}
		if !d.Equal(want) || ok != tc.eligible || why != tc.why {
			t.Errorf("%s: Preview = %v %v %q, want %s %v %q", tc.name, d, ok, why, tc.deadline, tc.eligible, tc.why)
		}
	}
}
