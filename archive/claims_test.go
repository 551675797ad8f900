package archive

import (
	"context"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/rules"
)

// openClaimWith records n accepted messages for (tenant, incident), stores
// their bundles when stored is set, and returns the claim's ID.
func openClaimWith(t testing.TB, l *Ledger, tenant, incident string, n int, stored bool) int64 {
	t.Helper()
	ctx := context.Background()
	var id int64
	for i := range n {
		rec := testRecord(len(tenant)*1000 + i + int(incident[len(incident)-1]))
		rec.SHA256 = shaOf(fmt.Sprintf("%s %s %d", tenant, incident, i))
		m := mustRecord(t, l, rec)
		atts, _, err := l.RecordJudgment(ctx, m.ID, accepted(tenant, incident), rules.Version)
		if err != nil {
			t.Fatal(err)
		}
		id = atts[0].ClaimID
		if stored {
			if err := l.SetBundle(ctx, m.ID, "bundles/"+rec.SHA256+".zip", ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	return id
}

// analystFields are values for every field an analyst fills in.
var analystFields = []struct {
	field claims.Field
	value string
}{
	{claims.FieldDowntimeStart, "2026-02-15T08:30:00+01:00"},
	{claims.FieldDowntimeDuration, "4h30m"},
	{claims.FieldAffectedUsers, "120"},
	{claims.FieldLocations, "Prague, Brno"},
	{claims.FieldResolution, "Restarted Outlook clients; waited for Microsoft's fix."},
	{claims.FieldTicket, "SR-2026-0042"},
}

func fillFields(t testing.TB, l *Ledger, id int64) {
	t.Helper()
	for _, f := range analystFields {
		if err := l.SetClaimField(context.Background(), id, f.field, f.value, "alice"); err != nil {
			t.Fatalf("SetClaimField(%s): %v", f.field, err)
		}
	}
}

func upsertTenantA(t testing.TB, l *Ledger, csp bool) {
	t.Helper()
	if _, err := l.UpsertTenants(context.Background(), []rules.Tenant{{ID: tenantA, Name: "Contoso", Domains: []string{"contoso.com"}, CSP: csp}}); err != nil {
		t.Fatal(err)
	}
}

func TestReadiness(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	id := openClaimWith(t, l, tenantA, "EX315207", 1, false)
	missing := func() string {
		t.Helper()
		c, err := l.Claim(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Ready() != (c.Status == claims.StatusReady) {
			t.Errorf("claim status %s but Ready() = %v", c.Status, c.Ready())
		}
		// The checklist the work on messages computes without the
		// evidence list must be the one the full claim shows.
		light, err := loadClaim(ctx, l.r, id, false)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(light.Checklist) != fmt.Sprint(c.Checklist) || !light.Earliest.Equal(c.Earliest) {
			t.Errorf("checklist without evidence list =\n%v\nwith it\n%v", light.Checklist, c.Checklist)
		}
		return strings.Join(c.Missing(), ",")
	}
	all := "customer_email,csp,downtime_start,downtime_duration,affected_users,locations,resolution,ticket"
	if got := missing(); got != all {
		t.Errorf("new claim missing %q, want %q (tenant and incident come from the evidence)", got, all)
	}
	// The customer email counts once its bundle is stored.
	c, _ := l.Claim(ctx, id)
	if err := l.SetBundle(ctx, c.Evidence[0].MessageID, "bundles/x.zip", ""); err != nil {
		t.Fatal(err)
	}
	if got := missing(); strings.Contains(got, "customer_email") {
		t.Errorf("after SetBundle missing %q, want customer_email present", got)
	}
	// CSP comes from the tenant registry.
	upsertTenantA(t, l, false)
	if got := missing(); strings.Contains(got, "csp") {
		t.Errorf("after UpsertTenants missing %q, want csp present", got)
	}
	c, _ = l.Claim(ctx, id)
	if c.Checklist[4].Item != claims.ItemCSP || c.Checklist[4].Value != "no" || c.Checklist[4].Source != "tenant registry" || c.TenantName != "Contoso" {
		t.Errorf("csp item = %+v, tenant name %q; want no from the tenant registry, Contoso", c.Checklist[4], c.TenantName)
	}
	fillFields(t, l, id)
	if got := missing(); got != "" {
		t.Errorf("after filling every field missing %q, want nothing", got)
	}
	c, _ = l.Claim(ctx, id)
	if c.Status != claims.StatusReady {
		t.Errorf("complete claim status = %s, want ready", c.Status)
	}
	if f := c.Fields[claims.FieldDowntimeStart]; f.Value != "2026-02-15T07:30:00Z" || f.Actor != "alice" {
		t.Errorf("downtime_start = %+v, want normalised to UTC, set by alice", f)
	}
	// Reprocessing drops the only evidence: the claim is open again.
	if _, err := l.reprocessMessage(ctx, c.Evidence[0].MessageID, rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonTenantMismatch}, "new", "bob"); err != nil {
		t.Fatal(err)
	}
	if got := missing(); got != "customer_email" {
		t.Errorf("after losing its evidence missing %q, want customer_email", got)
	}
	if c, _ := l.Claim(ctx, id); c.Status != claims.StatusOpen {
		t.Errorf("claim without evidence status = %s, want open", c.Status)
	}
}

func TestSetClaimField(t *testing.T) {
	l := newTestLedger(t)
	id := openClaimWith(t, l, tenantA, "EX315207", 1, true)
	tests := []struct {
		field   claims.Field
		value   string
		want    string // stored value; "" for an error
		wantErr string
	}{
		{claims.FieldIncidentStart, "2026-02-14T23:00:00-05:00", "2026-02-15T04:00:00Z", ""},
		{claims.FieldIncidentStart, "15 Feb 2026", "", "RFC 3339"},
		{claims.FieldAzure, "Yes", "yes", ""},
		{claims.FieldAzure, "false", "no", ""},
		{claims.FieldAzure, "perhaps", "", "yes or no"},
		{claims.FieldCSP, "y", "yes", ""},
		{claims.FieldDowntimeDuration, "90m", "1h30m", ""},
		{claims.FieldDowntimeDuration, "120m", "2h", ""},
		{claims.FieldDowntimeDuration, "45s", "45s", ""},
		{claims.FieldDowntimeDuration, "3m0s", "3m", ""},
		{claims.FieldDowntimeDuration, "-1h", "", "positive duration"},
		{claims.FieldDowntimeDuration, "ninety", "", "positive duration"},
		{claims.FieldAffectedUsers, " 120 ", "120", ""},
		{claims.FieldAffectedUsers, "0", "", "positive whole number"},
		{claims.FieldAffectedUsers, "many", "", "positive whole number"},
		{claims.FieldLocations, "Prague", "Prague", ""},
		{claims.FieldLocations, strings.Repeat("x", claims.MaxFieldLen+1), "", "longer than"},
		{claims.FieldTicket, "   ", "", "empty value"},
		{"colour", "blue", "", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s=%.20s", tt.field, tt.value), func(t *testing.T) {
			err := l.SetClaimField(context.Background(), id, tt.field, tt.value, "alice")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("SetClaimField(%s, %q) = %v, want an error containing %q", tt.field, tt.value, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetClaimField(%s, %q) = %v", tt.field, tt.value, err)
			}
			c, _ := l.Claim(context.Background(), id)
			if got := c.Fields[tt.field].Value; got != tt.want {
				t.Errorf("SetClaimField(%s, %q) stored %q, want %q", tt.field, tt.value, got, tt.want)
			}
		})
	}
	if err := l.SetClaimField(context.Background(), id, claims.FieldTicket, "SR-1", ""); err == nil {
		t.Error("SetClaimField without an actor succeeded")
	}
	if err := l.SetClaimField(context.Background(), 999, claims.FieldTicket, "SR-1", "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetClaimField(missing claim) = %v, want ErrNotFound", err)
	}
	// Setting the same value again writes nothing.
	before := countRows(t, l, `SELECT COUNT(*) FROM audit`)
	if err := l.SetClaimField(context.Background(), id, claims.FieldLocations, "Prague", "bob"); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit`); n != before {
		t.Errorf("repeating a field value added %d audit entries, want 0", n-before)
	}
}

func TestDeadline(t *testing.T) {
	ctx := context.Background()
	endOfMarch := time.Date(2026, 3, 31, 23, 59, 59, 999999999, time.UTC)
	endOfApril := time.Date(2026, 4, 30, 23, 59, 59, 999999999, time.UTC)
	endOfFebruary := time.Date(2026, 2, 28, 23, 59, 59, 999999999, time.UTC)
	tests := []struct {
		name            string
		fields          [][2]string
		wantDeadline    time.Time
		wantProvisional bool
		wantAzure       bool
	}{
		// testRecord's mail arrived on 15 February 2026.
		{"provisional from the evidence", nil, endOfMarch, true, false},
		{"azure provisional", [][2]string{{"azure", "yes"}}, endOfApril, true, true},
		{"incident start makes it final", [][2]string{{"incident_start", "2026-01-31T22:00:00Z"}}, endOfFebruary, false, false},
		{"azure incident start", [][2]string{{"incident_start", "2026-01-31T22:00:00Z"}, {"azure", "yes"}}, endOfMarch, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLedger(t)
			id := openClaimWith(t, l, tenantA, "EX315207", 2, true)
			for _, f := range tt.fields {
				if err := l.SetClaimField(ctx, id, claims.Field(f[0]), f[1], "alice"); err != nil {
					t.Fatal(err)
				}
			}
			c, err := l.Claim(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Deadline.Equal(tt.wantDeadline) || c.DeadlineProvisional != tt.wantProvisional || c.Azure != tt.wantAzure {
				t.Errorf("deadline = %v provisional %v azure %v, want %v %v %v", c.Deadline, c.DeadlineProvisional, c.Azure,
					tt.wantDeadline, tt.wantProvisional, tt.wantAzure)
			}
		})
	}
}

func TestClaimTransitions(t *testing.T) {
	all := []claims.Status{claims.StatusOpen, claims.StatusReady, claims.StatusSubmitted, claims.StatusApproved, claims.StatusDenied, claims.StatusExpired}
	ok := map[[2]claims.Status]bool{
		{claims.StatusReady, claims.StatusSubmitted}:    true,
		{claims.StatusSubmitted, claims.StatusApproved}: true,
		{claims.StatusSubmitted, claims.StatusDenied}:   true,
		{claims.StatusOpen, claims.StatusExpired}:       true,
		{claims.StatusReady, claims.StatusExpired}:      true,
		{claims.StatusSubmitted, claims.StatusOpen}:     true, // reopened by an analyst
	}
	// Reopening what expired or was denied is an admin's, with a note.
	adminOnly := map[[2]claims.Status]bool{
		{claims.StatusExpired, claims.StatusOpen}: true,
		{claims.StatusDenied, claims.StatusOpen}:  true,
	}
	ctx := context.Background()
	l := newTestLedger(t)
	id := openClaimWith(t, l, tenantA, "EX315207", 1, true)
	for _, from := range all {
		for _, to := range all {
			if from == to {
				continue
			}
			t.Run(fmt.Sprintf("%s->%s", from, to), func(t *testing.T) {
				if _, err := l.w.Exec(`UPDATE claims SET status = ? WHERE id = ?`, string(from), id); err != nil {
					t.Fatal(err)
				}
				err := l.SetClaimStatus(ctx, id, to, claims.Actor{Name: "alice"}, "")
				if ok[[2]claims.Status{from, to}] {
					if err != nil {
						t.Errorf("SetClaimStatus(%s -> %s) = %v, want success", from, to, err)
					}
					return
				}
				if adminOnly[[2]claims.Status{from, to}] {
					if !errors.Is(err, claims.ErrAdminOnly) {
						t.Errorf("SetClaimStatus(%s -> %s) by an analyst = %v, want ErrAdminOnly", from, to, err)
					}
					err := l.SetClaimStatus(ctx, id, to, claims.Actor{Name: "root", Admin: true}, "")
					if !errors.Is(err, claims.ErrTransition) || !strings.Contains(err.Error(), "note") {
						t.Errorf("SetClaimStatus(%s -> %s) by an admin without a note = %v, want a refusal asking for a note", from, to, err)
					}
					if err := l.SetClaimStatus(ctx, id, to, claims.Actor{Name: "root", Admin: true}, "set by mistake"); err != nil {
						t.Errorf("SetClaimStatus(%s -> %s) by an admin with a note = %v, want success", from, to, err)
					}
					return
				}
				if !errors.Is(err, claims.ErrTransition) || !strings.Contains(err.Error(), fmt.Sprintf("from %s to %s", from, to)) {
					t.Errorf("SetClaimStatus(%s -> %s) = %v, want claims.ErrTransition naming both", from, to, err)
				}
			})
		}
	}
}

func TestClaimLifecycle(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	upsertTenantA(t, l, true)
	id := openClaimWith(t, l, tenantA, "EX315207", 2, true)
	err := l.SetClaimStatus(ctx, id, claims.StatusSubmitted, claims.Actor{Name: "alice"}, "")
	if !errors.Is(err, claims.ErrTransition) || !strings.Contains(err.Error(), "missing: downtime_start") {
		t.Errorf("submitting an open claim = %v, want claims.ErrTransition listing what is missing", err)
	}
	fillFields(t, l, id)
	for _, step := range []struct {
		to   claims.Status
		note string
	}{{claims.StatusSubmitted, "Partner Center request 2602150010001234"}, {claims.StatusSubmitted, ""}, {claims.StatusApproved, "25% credit"}} {
		if err := l.SetClaimStatus(ctx, id, step.to, claims.Actor{Name: "alice"}, step.note); err != nil {
			t.Fatalf("SetClaimStatus(%s): %v", step.to, err)
		}
	}
	c, _ := l.Claim(ctx, id)
	if c.Status != claims.StatusApproved {
		t.Errorf("status = %s, want approved", c.Status)
	}
	if err := l.SetClaimField(ctx, id, claims.FieldTicket, "other", "alice"); err == nil || !strings.Contains(err.Error(), "it is final") {
		t.Errorf("SetClaimField on an approved claim = %v, want a final-status error", err)
	}
	var statuses []string
	rows, err := l.r.Query(`SELECT json_extract(details, '$.to') FROM audit WHERE subject = ? AND action = ?
		AND json_extract(details, '$.to') IS NOT NULL ORDER BY seq`, claimSubject(id), string(ActionClaimUpdated))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		rows.Scan(&s)
		statuses = append(statuses, s)
	}
	rows.Close()
	if got, want := strings.Join(statuses, ","), "ready,submitted,approved"; got != want {
		t.Errorf("audited status changes = %s, want %s", got, want)
	}
}

func TestExpireClaims(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	upsertTenantA(t, l, true)
	open := openClaimWith(t, l, tenantA, "EX315207", 1, true)
	submitted := openClaimWith(t, l, tenantA, "SP123456", 1, true)
	fillFields(t, l, submitted)
	if err := l.SetClaimStatus(ctx, submitted, claims.StatusSubmitted, claims.Actor{Name: "alice"}, ""); err != nil {
		t.Fatal(err)
	}
	// Deadline is 31 March 2026, end of day UTC.
	for _, tt := range []struct {
		now  time.Time
		want []int64
	}{
		{time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC), nil},
		{time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), []int64{open}},
		{time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), nil},
	} {
		got, err := l.ExpireClaims(ctx, tt.now)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ExpireClaims(%v) = %v, want %v", tt.now, got, tt.want)
		}
	}
	list, err := collectClaims(ctx, l, ClaimQuery{ClaimFilter: ClaimFilter{Statuses: []claims.Status{claims.StatusExpired}}})
	if err != nil || len(list) != 1 || list[0].ID != open || list[0].EvidenceCount != 1 {
		t.Errorf("Claims(expired) = %+v, %v; want claim %d", list, err, open)
	}
	all, _ := collectClaims(ctx, l, ClaimQuery{})
	if len(all) != 2 {
		t.Errorf("Claims() = %d, want 2", len(all))
	}
}

func TestClaimFor(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	id := openClaimWith(t, l, tenantA, "EX315207", 1, true)
	c, err := l.ClaimFor(ctx, strings.ToUpper(tenantA), "ex315207")
	if err != nil || c.ID != id {
		t.Errorf("ClaimFor(upper tenant, lower incident) = %v, %v; want claim %d", c, err, id)
	}
	if _, err := l.ClaimFor(ctx, tenantB, "EX315207"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ClaimFor(other tenant) = %v, want ErrNotFound", err)
	}
	if _, err := l.ClaimFor(ctx, "nope", "EX315207"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("ClaimFor(bad tenant) = %v, want a validation error", err)
	}
}

// Mail forwarded as an attachment by partner staff is the customer's email:
// the checklist and the evidence name the original's author, not the staff
// member in From.
func TestClaimEvidenceNamesTheCustomerOfAForward(t *testing.T) {
	l := newTestLedger(t)
	ctx := context.Background()
	rec := testRecord(1)
	rec.Sender = "olivia.chen@adatum-csp.com"
	m := mustRecord(t, l, rec)
	j := accepted(tenantA, "EX315207")
	j.Sender, j.Original = "jana.novak@contoso.com", 1
	atts, _, err := l.RecordJudgment(ctx, m.ID, j, rules.Version)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetBundle(ctx, m.ID, "bundles/"+rec.SHA256+"/1.zip", ""); err != nil {
		t.Fatal(err)
	}
	c, err := l.Claim(ctx, atts[0].ClaimID)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range c.Checklist {
		if it.Item == claims.ItemCustomerEmail && !strings.HasPrefix(it.Value, "jana.novak@contoso.com") {
			t.Errorf("checklist customer email = %q, want the original's author", it.Value)
		}
	}
	if len(c.Evidence) != 1 || c.Evidence[0].Sender != "jana.novak@contoso.com" {
		t.Errorf("evidence = %+v, want one message by the original's author", c.Evidence)
	}
}

// TestRegistryChangeRefreshesClaims: a claim waiting only for the CSP item
// becomes ready when its tenant enters the registry, by the configuration
// or by a Partner Center import, without waiting for its next email.
func TestRegistryChangeRefreshesClaims(t *testing.T) {
	ctx := context.Background()
	for _, via := range []string{"configuration", "import"} {
		t.Run(via, func(t *testing.T) {
			l := newTestLedger(t)
			id := openClaimWith(t, l, tenantA, "EX315207", 1, true)
			fillFields(t, l, id)
			if c, _ := l.Claim(ctx, id); c.Status != claims.StatusOpen || strings.Join(c.Missing(), ",") != "csp" {
				t.Fatalf("claim of an unknown tenant: status %s, missing %v; want open, missing csp", c.Status, c.Missing())
			}
			switch via {
			case "configuration":
				upsertTenantA(t, l, true)
			case "import":
				csv := "Customer ID,Company name,Primary domain name\n" + tenantA + ",Contoso,contoso.com\n"
				if _, err := l.ImportPartnerCenterCSV(ctx, strings.NewReader(csv), "customers.csv"); err != nil {
					t.Fatal(err)
				}
			}
			if c, _ := l.Claim(ctx, id); c.Status != claims.StatusReady {
				t.Errorf("after the tenant entered the registry (%s): status %s, missing %v; want ready", via, c.Status, c.Missing())
			}
			if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND subject = ? AND actor = ?
				AND json_extract(details, '$.to') = 'ready'`, string(ActionClaimUpdated), claimSubject(id), ActorSystem); n != 1 {
				t.Errorf("audit entries of the claim becoming ready = %d, want 1", n)
			}
		})
	}
}
