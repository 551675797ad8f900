package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

// fakeIncidents is an IncidentStore and a Snapshotter in memory: it records
// every fact set it is given, as the ledger would when they differ.
type fakeIncidents struct {
	mu        sync.Mutex
	toSync    []archive.IncidentKey
	records   []archive.IncidentRecord
	snapshots map[string][]byte
	failFor   string // RecordIncidentFacts fails for this incident ID
}

func newFakeIncidents(keys ...archive.IncidentKey) *fakeIncidents {
	return &fakeIncidents{toSync: keys, snapshots: map[string][]byte{}}
}

func (f *fakeIncidents) RecordIncidentFacts(ctx context.Context, rec archive.IncidentRecord, actor string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if actor != ingest.SystemActor {
		return false, errors.New("actor " + actor)
	}
	if rec.Incident.ID == f.failFor {
		return false, errors.New("ledger down")
	}
	if rec.SnapshotKey == "" {
		return false, errors.New("record without a snapshot")
	}
	for _, r := range f.records {
		if r.TenantID == rec.TenantID && r.SnapshotKey == rec.SnapshotKey && r.ReportKey == rec.ReportKey &&
			(r.Listed == nil) == (rec.Listed == nil) && (r.Listed == nil || *r.Listed == *rec.Listed) {
			return false, nil
		}
	}
	f.records = append(f.records, rec)
	return true, nil
}

func (f *fakeIncidents) IncidentsToSync(ctx context.Context) ([]archive.IncidentKey, error) {
	return f.toSync, nil
}

func (f *fakeIncidents) put(data []byte) (key, sum string) {
	h := sha256.Sum256(data)
	sum = hex.EncodeToString(h[:])
	key = "incidents/" + sum
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots[key] = data
	return key, sum
}

func (f *fakeIncidents) StoreIncidentSnapshot(ctx context.Context, rec *archive.IncidentRecord) error {
	inc := rec.Incident
	inc.ReadAt = time.Time{} // the same facts read later are the same snapshot
	b, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	rec.SnapshotKey, rec.SnapshotSHA256 = f.put(b)
	return nil
}

func (f *fakeIncidents) StoreIncidentReport(ctx context.Context, rec *archive.IncidentRecord, data []byte, contentType string) error {
	rec.ReportKey, rec.ReportSHA256 = f.put(data)
	rec.ReportType = contentType
	return nil
}

func (f *fakeIncidents) recorded() []archive.IncidentRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.records)
}

func newSyncer(t *testing.T, store *fakeIncidents) (*ingesttest.FakeGraph, *ingest.Syncer) {
	fake, c := newGraph(t, func(cfg *ingest.GraphConfig) { cfg.MaxRetries = -1 })
	return fake, &ingest.Syncer{Graph: c, Ledger: store, Snapshots: store,
		Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }}
}

func TestSyncIncident(t *testing.T) {
	store := newFakeIncidents()
	fake, s := newSyncer(t, store)
	ctx := context.Background()
	fake.AddIssue(tenantA, issueJSON("EX1321282", "Incident", ""))
	pir := strings.Replace(string(issueJSON("TM1330001", "incident", "")), "serviceRestored", "postIncidentReviewPublished", 1)
	fake.AddIssue(tenantA, []byte(pir))
	fake.AddReport(tenantA, "TM1330001", []byte("%PDF-1.7 post-incident review"))

	changed, err := s.SyncIncident(ctx, tenantA, "EX1321282")
	if err != nil || !changed {
		t.Fatalf("SyncIncident(EX1321282) = %v, %v; want a change", changed, err)
	}
	changed, err = s.SyncIncident(ctx, strings.ToUpper(tenantA), "ex1321282")
	if err != nil || changed {
		t.Errorf("SyncIncident again = %v, %v; want no change", changed, err)
	}
	if _, err := s.SyncIncident(ctx, tenantA, "TM1330001"); err != nil {
		t.Fatalf("SyncIncident(TM1330001): %v", err)
	}
	if _, err := s.SyncIncident(ctx, tenantB, "EX1321282"); err != nil {
		t.Fatalf("SyncIncident for a tenant Graph does not list it for: %v", err)
	}
	recs := store.recorded()
	if len(recs) != 3 {
		t.Fatalf("recorded %d fact sets, want 3: %+v", len(recs), recs)
	}
	if r := recs[0]; r.TenantID != tenantA || r.Listed == nil || !*r.Listed || r.Incident.Source != claims.SourceGraph ||
		r.Incident.Classification != claims.ClassificationIncident || r.ReportKey != "" {
		t.Errorf("EX1321282 record = %+v, want listed graph facts of an incident without a report", r)
	}
	if r := recs[1]; r.ReportKey == "" || r.ReportType != "application/pdf" || string(store.snapshots[r.ReportKey]) != "%PDF-1.7 post-incident review" {
		t.Errorf("TM1330001 record = %+v, want its report stored", r)
	}
	if r := recs[2]; r.TenantID != tenantB || r.Listed == nil || *r.Listed || r.Incident.ID != "EX1321282" ||
		r.Incident.Source != claims.SourceGraph || r.Incident.Title != "" || r.Incident.ReadAt.IsZero() {
		t.Errorf("not-listed record = %+v, want Listed false with only the ID, source and time", r)
	}

	// Throttling is for the caller to retry later, not a fact.
	fake.Throttle(1, http.StatusTooManyRequests, "1")
	if _, err := s.SyncIncident(ctx, tenantA, "EX1321282"); !errors.Is(err, ingest.ErrThrottled) || ingest.IsPermanent(err) {
		t.Errorf("SyncIncident throttled = %v, want ErrThrottled, temporary", err)
	}
	// A refused permission is permanent and records nothing.
	fake.Forbid(tenantB)
	if _, err := s.SyncIncident(ctx, tenantB, "EX1321282"); !ingest.IsPermanent(err) || !strings.Contains(err.Error(), "ServiceHealth.Read.All") {
		t.Errorf("SyncIncident forbidden = %v, want a permanent error naming the permission", err)
	}
	if n := len(store.recorded()); n != 3 {
		t.Errorf("failures recorded facts: %d records, want 3", n)
	}
}

func TestSyncIncidentReportNotYet(t *testing.T) {
	store := newFakeIncidents()
	fake, s := newSyncer(t, store)
	pir := strings.Replace(string(issueJSON("TM1330001", "incident", "")), "serviceRestored", "postIncidentReviewPublished", 1)
	fake.AddIssue(tenantA, []byte(pir))
	if _, err := s.SyncIncident(context.Background(), tenantA, "TM1330001"); err != nil {
		t.Fatalf("SyncIncident without the report published: %v", err)
	}
	if recs := store.recorded(); len(recs) != 1 || recs[0].ReportKey != "" {
		t.Errorf("records = %+v, want the facts without a report", recs)
	}
}

func TestSyncAll(t *testing.T) {
	const tenantC = "c6e0b8f2-5d4a-4f37-9e1b-3a8c2d6f0e95"
	store := newFakeIncidents(
		archive.IncidentKey{TenantID: tenantA, IncidentID: "EX1321282"},
		archive.IncidentKey{TenantID: tenantB, IncidentID: "EX1321282"}, // forbidden
		archive.IncidentKey{TenantID: tenantA, IncidentID: "TM1330001"},
		archive.IncidentKey{TenantID: tenantC, IncidentID: "EX1321282"}, // turned off
		archive.IncidentKey{TenantID: tenantA, IncidentID: "SP1340002"}, // the ledger fails
	)
	store.failFor = "SP1340002"
	fake, s := newSyncer(t, store)
	s.TenantOn = func(id string) bool { return id != tenantC }
	for _, id := range []string{"EX1321282", "TM1330001", "SP1340002"} {
		fake.AddIssue(tenantA, issueJSON(id, "incident", ""))
	}
	fake.Forbid(tenantB)
	stats, err := s.SyncAll(context.Background())
	if want := (ingest.SyncStats{Synced: 2, Changed: 2, Skipped: 1, Failed: 2}); stats != want {
		t.Errorf("SyncAll = %+v, want %+v", stats, want)
	}
	if err == nil || !strings.Contains(err.Error(), tenantB) || !strings.Contains(err.Error(), "ledger down") {
		t.Errorf("SyncAll error = %v, want both failures named", err)
	}
	if fake.Requests("token") != 2 {
		t.Errorf("%d token requests, want 2 (tenant C is off)", fake.Requests("token"))
	}
}

func TestImportCatalog(t *testing.T) {
	store := newFakeIncidents()
	s := &ingest.Syncer{Ledger: store, Snapshots: store, Now: func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }}
	incs, problems, err := claims.ParseCatalog([]byte("[" + string(issueJSON("EX1321282", "incident", "")) + "," + string(issueJSON("TM1330001", "advisory", "")) + "]"))
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	n, err := s.ImportCatalog(context.Background(), incs)
	if err != nil || n != 2 {
		t.Fatalf("ImportCatalog = %d, %v; want 2", n, err)
	}
	if n, _ := s.ImportCatalog(context.Background(), incs); n != 0 {
		t.Errorf("ImportCatalog again = %d changed, want 0", n)
	}
	for _, r := range store.recorded() {
		if r.TenantID != "" || r.Listed != nil || r.Incident.Source != claims.SourceCatalog || r.Incident.ReadAt.IsZero() || r.SnapshotKey == "" {
			t.Errorf("catalog record = %+v, want every tenant's, no listing, source catalog, read now, a snapshot", r)
		}
	}
	if _, err := s.SyncIncident(context.Background(), tenantA, "EX1321282"); !ingest.IsPermanent(err) {
		t.Errorf("SyncIncident without Graph = %v, want a permanent error", err)
	}
}
