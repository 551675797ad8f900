package claims

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestLifecycle(t *testing.T) {
	analyst, admin := Actor{Name: "anna"}, Actor{Name: "root", Admin: true}
	// Every pair of statuses, for an analyst and an admin, with and
	// without a note: what the lifecycle allows is exactly this table.
	type want struct{ analyst, admin, needsNote bool }
	allowed := map[[2]Status]want{
		{StatusOpen, StatusExpired}:       {true, true, false},
		{StatusReady, StatusSubmitted}:    {true, true, false},
		{StatusReady, StatusExpired}:      {true, true, false},
		{StatusSubmitted, StatusApproved}: {true, true, false},
		{StatusSubmitted, StatusDenied}:   {true, true, false},
		{StatusSubmitted, StatusOpen}:     {true, true, false},
		{StatusExpired, StatusOpen}:       {false, true, true},
		{StatusDenied, StatusOpen}:        {false, true, true},
	}
	for _, from := range Statuses() {
		for _, to := range Statuses() {
			if from == to {
				continue
			}
			c := &Claim{Status: from}
			w, ok := allowed[[2]Status{from, to}]
			errAnalyst := CheckTransition(c, to, analyst, "why")
			errAdminNote := CheckTransition(c, to, admin, "why")
			errAdminNone := CheckTransition(c, to, admin, " ")
			switch {
			case !ok:
				for _, err := range []error{errAnalyst, errAdminNote, errAdminNone} {
					if !errors.Is(err, ErrTransition) || !strings.Contains(err.Error(), "from "+string(from)+" to "+string(to)) {
						t.Errorf("%s -> %s = %v, want ErrTransition naming both", from, to, err)
					}
				}
				continue
			case w.analyst != (errAnalyst == nil):
				t.Errorf("%s -> %s by an analyst = %v, want allowed %v", from, to, errAnalyst, w.analyst)
			case !w.analyst && !errors.Is(errAnalyst, ErrAdminOnly):
				t.Errorf("%s -> %s by an analyst = %v, want ErrAdminOnly", from, to, errAnalyst)
			case errAdminNote != nil:
				t.Errorf("%s -> %s by an admin with a note = %v, want allowed", from, to, errAdminNote)
			case w.needsNote != (errAdminNone != nil):
				t.Errorf("%s -> %s by an admin without a note = %v, want needs note %v", from, to, errAdminNone, w.needsNote)
			}
			if NeedsNote(from, to) != w.needsNote {
				t.Errorf("NeedsNote(%s, %s) = %v, want %v", from, to, !w.needsNote, w.needsNote)
			}
			if got := slices.Contains(Next(from, false), to); got != w.analyst {
				t.Errorf("Next(%s, analyst) offers %s: %v, want %v", from, to, got, w.analyst)
			}
			if !slices.Contains(Next(from, true), to) {
				t.Errorf("Next(%s, admin) does not offer %s", from, to)
			}
		}
	}
}

func TestTransitionErrorsSayWhatToDo(t *testing.T) {
	open := &Claim{Status: StatusOpen, Checklist: []ChecklistItem{{Item: ItemTicket}}}
	for _, tc := range []struct {
		c    *Claim
		to   Status
		want string
	}{
		{open, StatusSubmitted, "complete the checklist first (missing: ticket)"},
		{open, StatusReady, "open and ready follow the checklist (missing: ticket)"},
		{&Claim{Status: StatusSubmitted}, StatusReady, "allowed: approved, denied, open"},
		{&Claim{Status: StatusApproved}, StatusOpen, "approved is final"},
	} {
		err := CheckTransition(tc.c, tc.to, Actor{Name: "root", Admin: true}, "note")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s = %v, want it to say %q", tc.c.Status, tc.to, err, tc.want)
		}
	}
}

func TestEditableAndLate(t *testing.T) {
	for _, s := range Statuses() {
		editable := s == StatusOpen || s == StatusReady
		late := s == StatusSubmitted || s == StatusApproved || s == StatusDenied
		if Editable(s) != editable || Fileable(s) != editable || LateFor(s) != late {
			t.Errorf("%s: editable %v fileable %v late %v", s, Editable(s), Fileable(s), LateFor(s))
		}
		err := EditError(s)
		if (err == nil) != editable {
			t.Errorf("EditError(%s) = %v", s, err)
		}
	}
	for s, want := range map[Status]string{StatusSubmitted: "reopen it first", StatusExpired: "an admin can reopen it", StatusApproved: "it is final"} {
		if err := EditError(s); !errors.Is(err, ErrTransition) || !strings.Contains(err.Error(), want) {
			t.Errorf("EditError(%s) = %v, want %q", s, err, want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for _, s := range Statuses() {
		if got, err := ParseStatus(string(s)); err != nil || got != s {
			t.Errorf("ParseStatus(%s) = %s, %v", s, got, err)
		}
	}
	if _, err := ParseStatus("filed"); err == nil || !strings.Contains(err.Error(), "open, ready, submitted, approved, denied, expired") {
		t.Errorf("ParseStatus(filed) = %v, want the list", err)
	}
}

func TestSchedule(t *testing.T) {
	fv := func(v string) FieldValue { return FieldValue{Value: v, Actor: "anna"} }
	for _, tc := range []struct {
		name     string
		c        Claim
		deadline string // "" for none
		prov     bool
		azure    bool
	}{
		{"nothing yet", Claim{}, "", true, false},
		{"from the earliest evidence", Claim{Earliest: at("2026-02-15T09:00:00Z")}, "2026-03-31T23:59:59.999999999Z", true, false},
		{"the incident start wins", Claim{Earliest: at("2026-02-15T09:00:00Z"),
			Fields: map[Field]FieldValue{FieldIncidentStart: fv("2026-01-31T23:30:00Z")}}, "2026-02-28T23:59:59.999999999Z", false, false},
		{"azure gets two months", Claim{Earliest: at("2026-02-15T09:00:00Z"),
			Fields: map[Field]FieldValue{FieldAzure: fv("yes")}}, "2026-04-30T23:59:59.999999999Z", true, true},
		{"across the year", Claim{Fields: map[Field]FieldValue{FieldIncidentStart: fv("2026-12-20T10:00:00Z")}}, "2027-01-31T23:59:59.999999999Z", false, false},
	} {
		s, err := ScheduleOf(&tc.c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var want time.Time
		if tc.deadline != "" {
			want, _ = time.Parse(time.RFC3339Nano, tc.deadline)
		}
		if !s.Deadline.Equal(want) || s.Provisional != tc.prov || s.Azure != tc.azure {
			t.Errorf("%s: %+v, want deadline %s provisional %v azure %v", tc.name, s, tc.deadline, tc.prov, tc.azure)
		}
	}
	bad := Claim{Fields: map[Field]FieldValue{FieldIncidentStart: fv("yesterday")}}
	if _, err := ScheduleOf(&bad); err == nil {
		t.Error("ScheduleOf with a stored incident start that is no time = nil error")
	}
}

func TestDaysLeftOnlyWhileFileable(t *testing.T) {
	deadline := at("2026-03-31T23:59:59Z")
	now := at("2026-03-06T12:00:00Z")
	for _, s := range Statuses() {
		days, ok := DaysLeft(s, deadline, now)
		if ok != Fileable(s) {
			t.Errorf("DaysLeft(%s) ok = %v", s, ok)
		}
		if ok && days != 25 {
			t.Errorf("DaysLeft(%s) = %d, want 25", s, days)
		}
		if !Fileable(s) && Urgency(s, deadline, deadline.Add(time.Hour)) != "" {
			t.Errorf("Urgency(%s) after the deadline is not empty", s)
		}
	}
	if _, ok := DaysLeft(StatusOpen, time.Time{}, now); ok {
		t.Error("DaysLeft without a deadline is ok")
	}
	if d, _ := DaysLeft(StatusOpen, deadline, deadline.Add(36*time.Hour)); d != -2 {
		t.Errorf("DaysLeft 36 h after the deadline = %d, want -2", d)
	}
	for _, tc := range []struct {
		now  time.Time
		want string
	}{{deadline.Add(-8 * 24 * time.Hour), ""}, {deadline.Add(-7 * 24 * time.Hour), "soon"}, {deadline, "overdue"}} {
		if got := Urgency(StatusReady, deadline, tc.now); got != tc.want {
			t.Errorf("Urgency at %s = %q, want %q", tc.now, got, tc.want)
		}
	}
}

func TestEvidenceDate(t *testing.T) {
	a, b, c := at("2026-02-15T09:00:00Z"), at("2026-02-15T08:00:00Z"), at("2026-02-16T00:00:00Z")
	var zero time.Time
	for _, tc := range []struct{ received, sent, recorded, want time.Time }{
		{a, b, c, a}, {zero, b, c, b}, {zero, zero, c, c},
	} {
		if got := EvidenceDate(tc.received, tc.sent, tc.recorded); !got.Equal(tc.want) {
			t.Errorf("EvidenceDate(%v, %v, %v) = %v, want %v", tc.received, tc.sent, tc.recorded, got, tc.want)
		}
	}
}

func TestChecklistAndDetails(t *testing.T) {
	c := &Claim{TenantID: "4f1c2a9e-7b3d-4c8e-9a21-6d5e8f0b3c47", TenantName: "Contoso", IncidentID: "EX315207", Status: StatusSubmitted,
		Fields: map[Field]FieldValue{FieldTicket: {Value: "T-1", Actor: "anna"}}}
	c.Checklist = Checklist(c, Tenant{Known: true, CSP: true})
	// 11 items; tenant, incident, incident listed (not checked), CSP and
	// ticket are present.
	if c.Ready() || c.Present() != 5 || len(c.Checklist) != 11 {
		t.Errorf("checklist %+v: ready %v present %d, want not ready, 5 of 11 present", c.Checklist, c.Ready(), c.Present())
	}
	want := []string{ItemCustomerEmail, ItemDowntimeStart, ItemDowntimeDuration, ItemAffectedUsers, ItemLocations, ItemResolution}
	if got := c.Missing(); !slices.Equal(got, want) {
		t.Errorf("Missing = %v, want %v", got, want)
	}
	e := Evidence{SHA256: "ab", Sender: "jane@contoso.com", Subject: "EX315207\n down", Date: at("2026-02-15T09:00:00Z")}
	late := e
	late.Late, late.Date = true, at("2026-03-01T10:00:00Z")
	c.Evidence, c.FirstStored = []Evidence{e, late}, &e
	c.Checklist = Checklist(c, Tenant{})
	if it := item(c, ItemCustomerEmail); !it.Present || it.Value != "jane@contoso.com, 2026-02-15T09:00:00Z" || it.Text() != "jane@contoso.com, 2026-02-15 09:00 UTC" {
		t.Errorf("customer email item = %+v", it)
	}
	if it := item(c, ItemCSP); it.Present {
		t.Errorf("CSP of an unregistered tenant = %+v, want missing", it)
	}
	d := Details(c)
	for _, s := range []string{"Support ticket number: T-1", "Affected users: MISSING", `1. 2026-02-15 09:00 UTC from jane@contoso.com: "EX315207 down"` + "\n",
		"(arrived after submission)", "NOT READY, missing: customer_email"[:10]} {
		if !strings.Contains(d, s) {
			t.Errorf("Details lacks %q:\n%s", s, d)
		}
	}
	if c.LateEvidence() != 1 {
		t.Errorf("LateEvidence = %d, want 1", c.LateEvidence())
	}
	for _, it := range []string{ItemTenantID, ItemIncidentID, ItemIncidentListed, ItemCustomerEmail} {
		if _, ok := ItemField(it); ok {
			t.Errorf("ItemField(%s) is an analyst's field", it)
		}
	}
	if f, ok := ItemField(ItemCSP); !ok || f != FieldCSP {
		t.Errorf("ItemField(csp) = %s, %v", f, ok)
	}
}

func TestNormField(t *testing.T) {
	for _, tc := range []struct {
		f         Field
		in, want  string
		wantError string
	}{
		{FieldIncidentStart, "2026-02-14T23:30:00+01:00", "2026-02-14T22:30:00Z", ""},
		{FieldDowntimeDuration, "270m", "4h30m", ""},
		{FieldDowntimeDuration, "2h0m0s", "2h", ""},
		{FieldAffectedUsers, "0120", "120", ""},
		{FieldCSP, "Y", "yes", ""},
		{FieldAffectedUsers, "0", "", "not a positive whole number"},
		{FieldDowntimeStart, "15.2.2026", "", "RFC 3339"},
		{FieldTicket, strings.Repeat("x", MaxFieldLen+1), "", "longer than"},
		{FieldLocations, "  ", "", "empty value"},
		{"color", "red", "", "unknown field"},
	} {
		got, err := NormField(tc.f, tc.in)
		if tc.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("NormField(%s, %.20q) = %q, %v; want error %q", tc.f, tc.in, got, err, tc.wantError)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormField(%s, %q) = %q, %v; want %q", tc.f, tc.in, got, err, tc.want)
		}
	}
	for _, f := range Fields() {
		if got, err := ParseField(string(f)); err != nil || got != f {
			t.Errorf("ParseField(%s) = %s, %v", f, got, err)
		}
	}
	if _, err := ParseField("status"); err == nil || !strings.Contains(err.Error(), "incident_start, azure") {
		t.Errorf("ParseField(status) = %v", err)
	}
}

func TestFollowAndFileableStatuses(t *testing.T) {
	if got := FileableStatuses(); !slices.Equal(got, []Status{StatusOpen, StatusReady}) {
		t.Errorf("FileableStatuses = %v", got)
	}
	for _, s := range Statuses() {
		for _, ready := range []bool{false, true} {
			want := s
			if Fileable(s) {
				want = StatusOpen
				if ready {
					want = StatusReady
				}
			}
			if got := Follow(s, ready); got != want {
				t.Errorf("Follow(%s, ready %v) = %s, want %s", s, ready, got, want)
			}
		}
	}
}

func TestExpires(t *testing.T) {
	deadline := at("2026-03-31T23:59:59Z")
	after := deadline.Add(time.Hour)
	for _, tc := range []struct {
		name     string
		s        Status
		deadline time.Time
		reopened time.Time
		now      time.Time
		want     bool
	}{
		{"open, deadline passed", StatusOpen, deadline, time.Time{}, after, true},
		{"ready, deadline ahead", StatusReady, deadline, time.Time{}, deadline.Add(-time.Hour), false},
		{"submitted never expires", StatusSubmitted, deadline, time.Time{}, after, false},
		{"no deadline yet", StatusOpen, time.Time{}, time.Time{}, after, false},
		{"reopened by an admin after the deadline", StatusOpen, deadline, deadline.Add(time.Minute), after.Add(time.Hour), false},
		{"reopened before the deadline", StatusOpen, deadline, deadline.Add(-time.Hour), after, true},
	} {
		if got := Expires(tc.s, tc.deadline, tc.reopened, tc.now); got != tc.want {
			t.Errorf("%s: Expires = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCountdown(t *testing.T) {
	deadline := at("2026-03-31T23:59:59Z")
	for _, tc := range []struct {
		name     string
		status   Status
		eligible bool
		now      time.Time
		days     int
		ok       bool
		urgency  string
	}{
		{"eligible, soon", StatusOpen, true, at("2026-03-25T12:00:00Z"), 6, true, "soon"},
		{"eligible, overdue", StatusReady, true, deadline.Add(36 * time.Hour), -2, true, "overdue"},
		{"eligible, submitted", StatusSubmitted, true, deadline.Add(time.Hour), 0, false, ""},
		{"advisory, soon", StatusOpen, false, at("2026-03-25T12:00:00Z"), 0, false, ""},
		{"advisory, overdue", StatusOpen, false, deadline.Add(36 * time.Hour), 0, false, ""},
	} {
		days, ok, urgency := Countdown(tc.status, tc.eligible, deadline, tc.now)
		if days != tc.days || ok != tc.ok || urgency != tc.urgency {
			t.Errorf("Countdown(%s) = %d, %v, %q, want %d, %v, %q", tc.name, days, ok, urgency, tc.days, tc.ok, tc.urgency)
		}
	}
}

// TestFieldErrorsNameTheLabel: an error about a field names it as the
// pages do, and by the key the API and the command take.
func TestFieldErrorsNameTheLabel(t *testing.T) {
	for _, f := range Fields() {
		if f.Label() == string(f) || f.Label() == "" {
			t.Errorf("field %s has no label", f)
		}
	}
	_, err := NormField(FieldAffectedUsers, "many")
	if err == nil || !strings.Contains(err.Error(), "Affected users (affected_users)") {
		t.Errorf("NormField(affected_users, many) = %v, want an error naming Affected users (affected_users)", err)
	}
}

// TestUndoable: which status changes the same actor can take back.
func TestUndoable(t *testing.T) {
	for _, c := range []struct {
		from, to Status
		admin    bool
		want     bool
	}{
		{StatusReady, StatusSubmitted, false, true}, // reopened to open, then ready by itself
		{StatusOpen, StatusExpired, false, false},   // only an admin reopens
		{StatusOpen, StatusExpired, true, true},
		{StatusSubmitted, StatusDenied, false, false},
		{StatusSubmitted, StatusDenied, true, true}, // reopened, then submitted again
		{StatusSubmitted, StatusApproved, false, false},
		{StatusSubmitted, StatusOpen, false, true},
	} {
		if got := Undoable(c.from, c.to, c.admin); got != c.want {
			t.Errorf("Undoable(%s, %s, admin %v) = %v, want %v", c.from, c.to, c.admin, got, c.want)
		}
	}
}
