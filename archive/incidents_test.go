package archive

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

var (
	incStart = time.Date(2026, 1, 20, 8, 0, 0, 0, time.UTC)
	incEnd   = time.Date(2026, 1, 20, 12, 30, 0, 0, time.UTC)
	readAt   = time.Date(2026, 2, 16, 10, 0, 0, 0, time.UTC)
)

func factsRec(tenant string, source claims.Source, class claims.Classification, listed *bool) IncidentRecord {
	return IncidentRecord{TenantID: tenant, Listed: listed, Incident: claims.Incident{
		ID: "EX315207", Title: "Mail delayed", Classification: class, Source: source, ReadAt: readAt,
		Start: incStart, End: incEnd, Status: "serviceRestored"}}
}

func record(t *testing.T, l *Ledger, rec IncidentRecord) bool {
	t.Helper()
	changed, err := l.RecordIncidentFacts(context.Background(), rec, ActorSystem)
	if err != nil {
		t.Fatalf("RecordIncidentFacts(%s %s): %v", rec.Incident.Source, rec.TenantID, err)
	}
	return changed
}

func mustClaim(t *testing.T, l *Ledger, id int64) *claims.Claim {
	t.Helper()
	c, err := l.Claim(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readyClaim is tenant A's ready claim on EX315207.
func readyClaim(t *testing.T, l *Ledger) int64 {
	t.Helper()
	upsertTenantA(t, l, true)
	id := openClaimWith(t, l, tenantA, "EX315207", 1, true)
	fillFields(t, l, id)
	if c := mustClaim(t, l, id); c.Status != claims.StatusReady {
		t.Fatalf("fixture claim is %s, missing %v; want ready", c.Status, c.Missing())
	}
	return id
}

func TestRecordIncidentFacts(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	id := readyClaim(t, l)
	before := mustClaim(t, l, id)
	if !before.DeadlineProvisional || before.Incident != nil || !before.Eligible {
		t.Fatalf("claim before facts: provisional %v, incident %v, eligible %v", before.DeadlineProvisional, before.Incident, before.Eligible)
	}
	yes := true
	if !record(t, l, factsRec(tenantA, claims.SourceGraph, claims.ClassificationIncident, &yes)) {
		t.Error("first graph facts: changed = false")
	}
	c := mustClaim(t, l, id)
	// 20 January -> end of February, firm (DOMAIN.md).
	if want := time.Date(2026, 2, 28, 23, 59, 59, 999999999, time.UTC); !c.Deadline.Equal(want) || c.DeadlineProvisional {
		t.Errorf("deadline after graph facts = %v provisional %v, want %v firm", c.Deadline, c.DeadlineProvisional, want)
	}
	if c.Incident == nil || c.Incident.Source != claims.SourceGraph || !c.Incident.ReadAt.Equal(readAt) || c.IncidentListed == nil || !*c.IncidentListed {
		t.Errorf("claim facts = %+v listed %v, want graph read %v, listed", c.Incident, c.IncidentListed, readAt)
	}
	// The same facts read again later: nothing new.
	again := factsRec(tenantA, claims.SourceGraph, claims.ClassificationIncident, &yes)
	again.Incident.ReadAt = readAt.Add(time.Hour)
	if record(t, l, again) {
		t.Error("identical facts read again: changed = true")
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM incident_facts`); n != 1 {
		t.Errorf("incident_facts rows = %d, want 1", n)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND subject = 'incident:EX315207'
		AND json_extract(details, '$.source') = 'graph' AND json_extract(details, '$.classification') = 'incident'
		AND json_extract(details, '$.start') IS NOT NULL AND CAST(json_extract(details, '$.listed') AS TEXT) IN ('1', 'true')`,
		string(ActionIncidentFactsRecorded)); n != 1 {
		t.Errorf("incident_facts_recorded audit entries = %d, want 1", n)
	}
	// Microsoft reclassifies it an advisory: the ready claim goes back to
	// open and is not eligible; submitting it is refused.
	if !record(t, l, factsRec(tenantA, claims.SourceGraph, claims.ClassificationAdvisory, &yes)) {
		t.Error("advisory facts: changed = false")
	}
	c = mustClaim(t, l, id)
	if c.Status != claims.StatusOpen || c.Eligible || c.IneligibleWhy != claims.IneligibleAdvisory {
		t.Errorf("advisory claim: %s eligible %v %q, want open, not eligible, advisory", c.Status, c.Eligible, c.IneligibleWhy)
	}
	want := "Microsoft classifies EX315207 as an advisory; advisories earn no credit"
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND subject = ?
		AND json_extract(details, '$.to') = 'open' AND json_extract(details, '$.note') = ?`,
		string(ActionClaimUpdated), claimSubject(id), want); n != 1 {
		t.Errorf("audit entries moving the advisory claim to open with the reason = %d, want 1", n)
	}
	err := l.SetClaimStatus(ctx, id, claims.StatusSubmitted, claims.Actor{Name: "alice"}, "")
	if !errors.Is(err, claims.ErrTransition) || !strings.Contains(err.Error(), want) {
		t.Errorf("submitting an advisory claim = %v, want ErrTransition saying %q", err, want)
	}
	sums, err := collectClaims(ctx, l, ClaimQuery{ClaimFilter: ClaimFilter{Statuses: claims.FileableStatuses()}})
	if err != nil || len(sums) != 1 || sums[0].Eligible || sums[0].IneligibleWhy != claims.IneligibleAdvisory {
		t.Errorf("Claims(fileable) = %+v, %v; want the claim, not eligible (advisory)", sums, err)
	}
	// Back to an incident: eligible and ready again.
	record(t, l, factsRec(tenantA, claims.SourceGraph, claims.ClassificationIncident, &yes))
	if c = mustClaim(t, l, id); c.Status != claims.StatusReady || !c.Eligible {
		t.Errorf("claim after reclassification as incident: %s eligible %v, want ready, eligible", c.Status, c.Eligible)
	}
	if sums, _ = collectClaims(ctx, l, ClaimQuery{}); !sums[0].Eligible {
		t.Errorf("Claims: %+v, want eligible", sums[0])
	}
}

func TestIncidentFactsPrecedence(t *testing.T) {
	l := newTestLedger(t)
	idA := readyClaim(t, l)
	idB := openClaimWith(t, l, tenantB, "EX315207", 1, true)
	// A notification says the incident started 10 February: provisional.
	note := factsRec(tenantA, claims.SourceNotification, claims.ClassificationIncident, nil)
	note.Incident.Start, note.Incident.End = time.Date(2026, 2, 10, 8, 0, 0, 0, time.UTC), time.Time{}
	record(t, l, note)
	c := mustClaim(t, l, idA)
	if c.Incident == nil || c.Incident.Source != claims.SourceNotification || !c.DeadlineProvisional ||
		!c.Deadline.Equal(time.Date(2026, 3, 31, 23, 59, 59, 999999999, time.UTC)) {
		t.Errorf("after a notification: facts %v, deadline %v provisional %v; want notification, 31 March provisional", c.Incident, c.Deadline, c.DeadlineProvisional)
	}
	if b := mustClaim(t, l, idB); b.Incident != nil {
		t.Errorf("tenant A's notification reached tenant B's claim: %+v", b.Incident)
	}
	// The catalog (tenant "") beats it, and reaches every tenant's claim.
	record(t, l, factsRec("", claims.SourceCatalog, claims.ClassificationIncident, nil))
	for _, id := range []int64{idA, idB} {
		c := mustClaim(t, l, id)
		if c.Incident == nil || c.Incident.Source != claims.SourceCatalog || c.DeadlineProvisional || c.IncidentListed != nil {
			t.Errorf("claim %d after the catalog: facts %v provisional %v listed %v; want catalog, firm, not checked", id, c.Incident, c.DeadlineProvisional, c.IncidentListed)
		}
		if it := checklistItem(c, claims.ItemDowntimeStart); c.TenantID == tenantB && (it.Value != "2026-01-20T08:00:00Z" || !strings.Contains(it.Source, "catalog")) {
			t.Errorf("tenant B's downtime_start = %+v, want the catalog's start", it)
		}
	}
	// Graph beats the catalog.
	yes := true
	g := factsRec(tenantA, claims.SourceGraph, claims.ClassificationIncident, &yes)
	g.Incident.Title = "Mail delayed (graph)"
	record(t, l, g)
	if c := mustClaim(t, l, idA); c.Incident.Source != claims.SourceGraph || c.Incident.Title != "Mail delayed (graph)" {
		t.Errorf("after graph: %+v, want graph's facts", c.Incident)
	}
	// Graph then says the tenant has no such incident: the checklist says
	// what to do; the catalog's facts remain the record.
	no := false
	notListed := IncidentRecord{TenantID: tenantA, Listed: &no, Incident: claims.Incident{ID: "EX315207", Source: claims.SourceGraph, ReadAt: readAt.Add(time.Hour)}}
	record(t, l, notListed)
	c = mustClaim(t, l, idA)
	it := checklistItem(c, claims.ItemIncidentListed)
	if it.Present || !strings.Contains(it.Value, "Microsoft lists no EX315207 for this tenant") || c.Status != claims.StatusOpen {
		t.Errorf("not listed: item %+v, status %s; want missing with the hint, open", it, c.Status)
	}
	if c.Incident == nil || c.Incident.Source != claims.SourceCatalog {
		t.Errorf("not listed: facts %+v, want the catalog's", c.Incident)
	}
	hist, err := l.IncidentHistory(context.Background(), tenantA, "ex315207")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range hist {
		got = append(got, string(r.Incident.Source))
	}
	if strings.Join(got, " ") != "notification catalog graph graph" {
		t.Errorf("IncidentHistory sources = %v, want notification catalog graph graph (oldest first)", got)
	}
	if hist[3].Listed == nil || *hist[3].Listed || !hist[3].Incident.ReadAt.Equal(readAt.Add(time.Hour)) {
		t.Errorf("newest record = %+v, want not listed, read an hour later", hist[3])
	}
}

func checklistItem(c *claims.Claim, name string) claims.ChecklistItem {
	for _, it := range c.Checklist {
		if it.Item == name {
			return it
		}
	}
	return claims.ChecklistItem{}
}

func TestRecordIncidentFactsRefuses(t *testing.T) {
	l := newTestLedger(t)
	yes := true
	for _, tt := range []struct {
		name string
		rec  IncidentRecord
		want string
	}{
		{"message center post", func() IncidentRecord {
			r := factsRec(tenantA, claims.SourceGraph, "", nil)
			r.Incident.ID = "MC123456"
			return r
		}(), "Message Center"},
		{"bad tenant", factsRec("contoso", claims.SourceGraph, "", nil), "not a GUID"},
		{"unknown source", factsRec(tenantA, "rumour", "", nil), `source "rumour"`},
		{"graph without tenant", factsRec("", claims.SourceGraph, "", nil), "need the tenant"},
		{"listed from the catalog", factsRec("", claims.SourceCatalog, "", &yes), "only Graph"},
		{"snapshot of other facts", func() IncidentRecord {
			r := factsRec(tenantA, claims.SourceGraph, "", nil)
			r.SnapshotKey, r.SnapshotSHA256 = "incidents/x.json", strings.Repeat("0", 64)
			return r
		}(), "StoreIncidentSnapshot"},
	} {
		if _, err := l.RecordIncidentFacts(context.Background(), tt.rec, ActorSystem); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("RecordIncidentFacts(%s) = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestIncidentSnapshotsWriteOnce(t *testing.T) {
	ctx := context.Background()
	store, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a := factsRec(tenantA, claims.SourceGraph, claims.ClassificationIncident, nil)
	b := a
	b.Incident.ReadAt = readAt.Add(24 * time.Hour) // same facts, read a day later
	for _, r := range []*IncidentRecord{&a, &b} {
		if err := StoreIncidentSnapshot(ctx, store, r); err != nil {
			t.Fatal(err)
		}
	}
	if a.SnapshotKey != b.SnapshotKey || !strings.HasPrefix(a.SnapshotKey, "incidents/"+tenantA+"/EX315207/"+a.SnapshotSHA256) {
		t.Errorf("snapshot keys %s, %s; want one content-addressed key", a.SnapshotKey, b.SnapshotKey)
	}
	var n int
	for _, err := range store.List(ctx, "incidents/") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("objects after storing the same facts twice = %d, want 1", n)
	}
	rc, info, err := store.Get(ctx, a.SnapshotKey)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	var back claims.Incident
	if err := json.Unmarshal(data, &back); err != nil || back.Title != "Mail delayed" || !back.ReadAt.IsZero() || info.SHA256 != a.SnapshotSHA256 {
		t.Errorf("snapshot = %s (%v), want the facts without read time, SHA-256 %s", data, err, a.SnapshotSHA256)
	}
	// A catalog snapshot goes under "any"; a report under report-<sha>.pdf.
	cat := factsRec("", claims.SourceCatalog, claims.ClassificationIncident, nil)
	if err := StoreIncidentSnapshot(ctx, store, &cat); err != nil || !strings.HasPrefix(cat.SnapshotKey, "incidents/any/EX315207/") {
		t.Errorf("catalog snapshot %s, %v", cat.SnapshotKey, err)
	}
	if err := StoreIncidentReport(ctx, store, &a, []byte("%PDF-1.7 review"), "application/pdf"); err != nil ||
		a.ReportKey != "incidents/"+tenantA+"/EX315207/report-"+a.ReportSHA256+".pdf" || a.ReportType != "application/pdf" {
		t.Errorf("StoreIncidentReport = %v, key %s", err, a.ReportKey)
	}
	// The same facts and report read twice make one record.
	b.ReportKey, b.ReportSHA256, b.ReportType = a.ReportKey, a.ReportSHA256, a.ReportType
	l := newTestLedger(t)
	if !record(t, l, a) || record(t, l, b) {
		t.Error("recording a then the same facts b: want changed, then not")
	}
}

func TestIncidentsToSync(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	openClaimWith(t, l, tenantA, "EX315207", 1, false)
	openClaimWith(t, l, tenantB, "EX315207", 1, false)
	gone := openClaimWith(t, l, tenantA, "EX315300", 1, false)
	if err := l.SetClaimStatus(ctx, gone, claims.StatusExpired, claims.Actor{Name: "alice"}, ""); err != nil {
		t.Fatal(err)
	}
	got, err := l.IncidentsToSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []IncidentKey{{tenantB, "EX315207"}, {tenantA, "EX315207"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("IncidentsToSync = %v, want %v", got, want)
	}
}

func TestClaimPackageIncident(t *testing.T) {
	ctx := context.Background()
	l, store, id := packageFixture(t)
	data := writePackage(t, l, store, id)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var inc struct {
		Records []struct {
			Source      claims.Source   `json:"source"`
			ReadAt      time.Time       `json:"read_at"`
			Listed      *bool           `json:"listed"`
			Facts       claims.Incident `json:"facts"`
			SnapshotKey string          `json:"snapshot_key"`
		} `json:"records"`
	}
	if err := json.Unmarshal(files["incident.json"], &inc); err != nil {
		t.Fatalf("incident.json: %v\n%s", err, files["incident.json"])
	}
	if len(inc.Records) != 2 || inc.Records[0].Source != claims.SourceCatalog || inc.Records[1].Source != claims.SourceGraph ||
		inc.Records[1].Listed == nil || !*inc.Records[1].Listed || inc.Records[1].SnapshotKey == "" || inc.Records[1].Facts.Title != "Mail delayed" {
		t.Errorf("incident.json = %s, want the catalog's then graph's record", files["incident.json"])
	}
	if got := files["incident-report.pdf"]; string(got) != "%PDF-1.7 post-incident review" {
		t.Errorf("incident-report.pdf = %q, want the stored report", got)
	}
	// A report altered in the store fails the export.
	hist, _ := l.IncidentHistory(ctx, tenantA, "EX315207")
	store.objects[hist[1].ReportKey] = []byte("forged")
	if err := l.WriteClaimPackage(ctx, io.Discard, id, store, "alice"); !errors.Is(err, ErrCorrupt) {
		t.Errorf("package with an altered report = %v, want ErrCorrupt", err)
	}
}

// The rest of Store, so that the package fixture can store incident
// snapshots and reports in its memStore.
func (s *memStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	rc, info, err := s.Get(ctx, key)
	if err == nil {
		rc.Close()
	}
	return info, err
}
func (s *memStore) SetLegalHold(context.Context, string, bool) error { return nil }
func (s *memStore) URL(context.Context, string, time.Duration) (string, error) {
	return "", ErrNotSupported
}
func (s *memStore) Close() error { return nil }

var _ Store = (*memStore)(nil)

// addPackageFacts gives the package fixture's claim Microsoft's record:
// the catalog's, then Graph's with a post-incident report.
func addPackageFacts(t *testing.T, l *Ledger, store *memStore) {
	t.Helper()
	ctx := context.Background()
	cat := factsRec("", claims.SourceCatalog, claims.ClassificationIncident, nil)
	yes := true
	g := factsRec(tenantA, claims.SourceGraph, claims.ClassificationIncident, &yes)
	g.Incident.Start, g.Incident.End = time.Date(2026, 2, 15, 7, 30, 0, 0, time.UTC), time.Date(2026, 2, 15, 12, 0, 0, 0, time.UTC)
	for _, r := range []*IncidentRecord{&cat, &g} {
		if err := StoreIncidentSnapshot(ctx, store, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := StoreIncidentReport(ctx, store, &g, []byte("%PDF-1.7 post-incident review"), "application/pdf"); err != nil {
		t.Fatal(err)
	}
	record(t, l, cat)
	record(t, l, g)
}

// TestGraphStartExpires: evidence from 15 February gave a provisional
// deadline at the end of March; Graph's January start moves it to the end
// of February,
// and the poller's ExpireClaims expires the claim on its own, audited.
func TestGraphStartExpires(t *testing.T) {
	ctx := context.Background()
	l := newTestLedger(t)
	id := readyClaim(t, l)
	march := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	if ids, err := l.ExpireClaims(ctx, march); err != nil || len(ids) != 0 {
		t.Fatalf("ExpireClaims before the facts = %v, %v; want none", ids, err)
	}
	yes := true
	record(t, l, factsRec(tenantA, claims.SourceGraph, claims.ClassificationIncident, &yes))
	ids, err := l.ExpireClaims(ctx, march)
	if err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("ExpireClaims after graph's start = %v, %v; want [%d]", ids, err, id)
	}
	if n := countRows(t, l, `SELECT COUNT(*) FROM audit WHERE action = ? AND subject = ? AND json_extract(details, '$.to') = 'expired'`,
		string(ActionClaimUpdated), claimSubject(id)); n != 1 {
		t.Errorf("expiry audit entries = %d, want 1", n)
	}
}

// TestCatalogFactsBeforeTheClaim: facts the catalog recorded before any
// tenant claimed the incident reach the claim the first mail opens, and
// the claim's copy leaves out the raw object and the posts.
func TestCatalogFactsBeforeTheClaim(t *testing.T) {
	l := newTestLedger(t)
	rec := factsRec("", claims.SourceCatalog, claims.ClassificationAdvisory, nil)
	rec.Incident.Raw = []byte(`{"id":"EX315207","extra":"kept in the history"}`)
	rec.Incident.Posts = []claims.Post{{Description: "long post"}}
	record(t, l, rec)
	c := mustClaim(t, l, openClaimWith(t, l, tenantA, "EX315207", 1, true))
	if c.Incident == nil || c.Incident.Source != claims.SourceCatalog || c.DeadlineProvisional || c.Eligible {
		t.Fatalf("new claim: incident %+v, provisional %v, eligible %v; want the catalog's advisory, a firm deadline, not eligible",
			c.Incident, c.DeadlineProvisional, c.Eligible)
	}
	if c.Incident.Raw != nil || c.Incident.Posts != nil {
		t.Errorf("the claim's copy of the facts keeps raw %s and %d posts", c.Incident.Raw, len(c.Incident.Posts))
	}
	hist, err := l.IncidentHistory(context.Background(), tenantA, "EX315207")
	if err != nil || len(hist) != 1 || len(hist[0].Incident.Raw) == 0 {
		t.Errorf("history = %+v, %v; want the catalog record with its raw object", hist, err)
	}
}
