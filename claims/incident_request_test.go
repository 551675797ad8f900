package claims

import (
	"errors"
	"strings"
	"testing"
)

func TestOneRequest(t *testing.T) {
	// DOMAIN.md: "more than 10 of a partner's customers".
	for n, want := range map[int]bool{0: false, 1: false, 10: false, 11: true, 300: true} {
		if got := OneRequest(n); got != want {
			t.Errorf("OneRequest(%d) = %v, want %v", n, got, want)
		}
	}
}

// requestClaim is a claim on EX315207 with its checklist, complete when
// full is set.
func requestClaim(id int64, tenant, name string, full bool) RequestClaim {
	c := &Claim{ID: id, TenantID: tenant, TenantName: name, IncidentID: "EX315207", Status: StatusOpen,
		Fields: map[Field]FieldValue{}}
	if full {
		for f, v := range map[Field]string{FieldDowntimeStart: "2026-02-15T08:30:00Z", FieldDowntimeDuration: "4h30m",
			FieldAffectedUsers: "120", FieldLocations: "Prague, Brno", FieldResolution: "Restarted\nclients",
			FieldTicket: "SR-42"} {
			c.Fields[f] = FieldValue{Value: v, Actor: "anna"}
		}
		c.FirstStored = &Evidence{Sender: "ops@contoso.com", Subject: "Mail down\r\n EX315207", Date: at("2026-02-16T09:30:00Z")}
	}
	c.Checklist = Checklist(c, Tenant{Known: name != "", CSP: true})
	return RequestClaim{Claim: c, Evidence: 3, Folder: ""}
}

func TestIncidentRequest(t *testing.T) {
	inc := &Incident{ID: "EX315207", Title: "Mail delayed", Classification: ClassificationIncident,
		Start: at("2026-02-15T08:00:00Z"), End: at("2026-02-15T12:30:00Z"), Source: SourceCatalog}
	ready := requestClaim(1, "72f988bf-86f1-41af-91ab-2d7cd011db47", "Contoso Ltd", true)
	ready.Folder = "claim-1-72f988bf"
	bare := requestClaim(2, "0f3a2b1c-aaaa-4bbb-8ccc-123456789abc", "", false)
	bare.Evidence = 0
	want := `SLA credit request for incident EX315207 on behalf of 2 customer tenants

Incident ID: EX315207
Microsoft's record: incident, "Mail delayed", from 2026-02-15 08:00 UTC to 2026-02-15 12:30 UTC (catalog)
Affected customer tenants: 2 (one request for all of them, as Partner Center asks when more than 10 customers are affected by one event)

1. Contoso Ltd
   Customer tenant ID: 72f988bf-86f1-41af-91ab-2d7cd011db47
   Downtime: from 2026-02-15 08:30 UTC for 4h30m
   Affected users: 120
   Affected locations: Prague, Brno
   Resolution attempts: Restarted clients
   Support ticket number: SR-42
   Subscriptions bought through CSP: yes
   Customer email: ops@contoso.com, 2026-02-16 09:30 UTC
   Evidence emails: 3 (in claim-1-72f988bf/evidence)

2. (customer not in the tenant registry)
   Customer tenant ID: 0f3a2b1c-aaaa-4bbb-8ccc-123456789abc
   Downtime: from 2026-02-15 08:00 UTC for 4h30m
   Affected users: MISSING
   Affected locations: MISSING
   Resolution attempts: MISSING
   Support ticket number: MISSING
   Subscriptions bought through CSP: MISSING
   Customer email: MISSING
   Evidence emails: 0
   NOT READY, missing: Email from the customer, Bought through CSP, Affected users, Affected locations, What was done to resolve it, Support ticket number

NOT READY: 1 of 2 claims are ready; 1 claim lacks Email from the customer; 1 claim lacks Bought through CSP; 1 claim lacks Affected users; 1 claim lacks Affected locations; 1 claim lacks What was done to resolve it; 1 claim lacks Support ticket number.
`
	// The second claim's downtime comes from Microsoft's record, which
	// only its checklist (made without inc) lacks: fill it as the ledger
	// does, from the claim's own copy of the facts.
	bare.Claim.Incident = inc
	bare.Claim.Checklist = Checklist(bare.Claim, Tenant{})
	if got := IncidentRequest("EX315207", inc, []RequestClaim{ready, bare}); got != want {
		t.Errorf("IncidentRequest =\n%s\nwant\n%s", got, want)
	}
}

func TestIncidentRequestIneligible(t *testing.T) {
	adv := &Incident{ID: "EX315207", Classification: ClassificationAdvisory, Source: SourceGraph}
	rc := requestClaim(1, "72f988bf-86f1-41af-91ab-2d7cd011db47", "Contoso Ltd", true)
	rc.Claim.Incident = adv
	rc.Claim.Checklist = Checklist(rc.Claim, Tenant{Known: true, CSP: true})
	got := IncidentRequest("EX315207", adv, []RequestClaim{rc})
	for _, want := range []string{
		"   NOT ELIGIBLE: Microsoft classifies EX315207 as an advisory; advisories earn no credit\n",
		"\nNOT ELIGIBLE: 1 of 1 claims are ruled out by Microsoft's record.\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("IncidentRequest of an advisory lacks %q:\n%s", want, got)
		}
	}
}

func TestWriteIncidentRequestErrors(t *testing.T) {
	boom := errors.New("ledger gone")
	var b strings.Builder
	err := WriteIncidentRequest(&b, "EX315207", nil, 2, func(yield func(RequestClaim, error) bool) {
		if yield(requestClaim(1, "72f988bf-86f1-41af-91ab-2d7cd011db47", "Contoso Ltd", true), nil) {
			yield(RequestClaim{}, boom)
		}
	})
	if !errors.Is(err, boom) {
		t.Errorf("WriteIncidentRequest with a failing sequence = %v, want %v", err, boom)
	}
	// Fewer claims than counted: the text says so rather than mislead.
	got := IncidentRequest("EX315207", nil, nil)
	if !strings.Contains(got, "on behalf of 0 customer tenants") {
		t.Errorf("IncidentRequest of none = %q", got)
	}
	b.Reset()
	if err := WriteIncidentRequest(&b, "EX315207", nil, 3, func(yield func(RequestClaim, error) bool) {}); err != nil ||
		!strings.Contains(b.String(), "NOTE: 3 tenants were counted, 0 are listed") {
		t.Errorf("WriteIncidentRequest counting 3, listing 0 = %v:\n%s", err, b.String())
	}
}

func TestShortfall(t *testing.T) {
	var s Shortfall
	for _, full := range []bool{false, true, false} {
		s.Add(requestClaim(1, "72f988bf-86f1-41af-91ab-2d7cd011db47", "Contoso Ltd", full).Claim)
	}
	s.Add(requestClaim(2, "0f3a2b1c-aaaa-4bbb-8ccc-123456789abc", "", false).Claim)
	lacks := s.Lacking()
	if s.Claims != 4 || s.Ready != 1 || len(lacks) == 0 {
		t.Fatalf("Shortfall = %+v, lacking %v", s, lacks)
	}
	// Three lack affected users, one lacks CSP (the unregistered tenant):
	// the most lacked come first.
	if first, last := lacks[0], lacks[len(lacks)-1]; first.Claims != 3 || last.Item != ItemCSP || last.String() != "1 claim lacks Bought through CSP" {
		t.Errorf("Lacking() = %v, want the three-claim items first and CSP last", lacks)
	}
	for _, l := range lacks {
		if l.Item == ItemAffectedUsers && l.String() != "3 claims lack Affected users" {
			t.Errorf("affected users: %q", l.String())
		}
	}
}
