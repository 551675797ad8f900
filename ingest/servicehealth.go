package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
)

// IncidentStore is the part of archive.Ledger that keeps incident facts.
type IncidentStore interface {
	// RecordIncidentFacts records rec unless the newest record of its
	// tenant, incident and source says the same; changed says whether it
	// did. Idempotent; safe for concurrent use.
	RecordIncidentFacts(ctx context.Context, rec archive.IncidentRecord, actor string) (changed bool, err error)
	// IncidentsToSync lists the (tenant, incident) pairs of the claims
	// still worth reading again. Safe for concurrent use.
	IncidentsToSync(ctx context.Context) ([]archive.IncidentKey, error)
}

// Snapshotter writes the write-once copies of incident facts and reports
// that records point at; ObjectSnapshots is the real one.
type Snapshotter interface {
	// StoreIncidentSnapshot stores rec.Incident and sets rec.SnapshotKey
	// and rec.SnapshotSHA256; storing the same facts again is a no-op.
	StoreIncidentSnapshot(ctx context.Context, rec *archive.IncidentRecord) error
	// StoreIncidentReport stores a post-incident report and sets
	// rec.ReportKey, rec.ReportSHA256 and rec.ReportType; idempotent.
	StoreIncidentReport(ctx context.Context, rec *archive.IncidentRecord, data []byte, contentType string) error
}

// ObjectSnapshots stores snapshots and reports in an object store with
// archive.StoreIncidentSnapshot and archive.StoreIncidentReport.
type ObjectSnapshots struct{ Store archive.Store }

func (o ObjectSnapshots) StoreIncidentSnapshot(ctx context.Context, rec *archive.IncidentRecord) error {
	return archive.StoreIncidentSnapshot(ctx, o.Store, rec)
}

func (o ObjectSnapshots) StoreIncidentReport(ctx context.Context, rec *archive.IncidentRecord, data []byte, contentType string) error {
	return archive.StoreIncidentReport(ctx, o.Store, rec, data, contentType)
}

// SystemActor is the audit actor of the facts claimtrail reads by itself.
const SystemActor = "system"

// Syncer reads the claims' incidents from Microsoft Graph in the customer
// tenants and records what it read, with a snapshot of each reading, so
// that a claim keeps Microsoft's record after Service Health forgot it. It
// also records the facts of offline catalogs and notification mails. Its
// methods are safe for concurrent use once its fields are set.
type Syncer struct {
	Graph     *GraphClient // nil: only ImportCatalog and RecordIncident work
	Ledger    IncidentStore
	Snapshots Snapshotter
	// TenantOn says whether Graph may be asked about a tenant; nil means
	// every tenant.
	TenantOn func(tenantID string) bool
	// Now is the clock for facts read without a time; nil is time.Now.
	Now func() time.Time
	Log *slog.Logger // nil: discard
	// Concurrency bounds the incidents SyncAll reads at once; 0 means 2.
	Concurrency int
}

func (s *Syncer) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Syncer) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// SyncIncident reads incident incidentID from Graph in tenant tenantID and
// records it with its snapshot and, once Microsoft published one, its
// post-incident report. An issue Graph does not list for the tenant is
// recorded as not listed. changed says whether the ledger learnt
// something. A throttled, unreachable or failing Graph gives an error the
// caller retries later (not IsPermanent); bad credentials and refused
// permissions are permanent.
func (s *Syncer) SyncIncident(ctx context.Context, tenantID, incidentID string) (changed bool, err error) {
	if s.Graph == nil {
		return false, permanent(errors.New("service health: no Graph client; configure the service_health section"))
	}
	inc, err := s.Graph.Issue(ctx, tenantID, incidentID)
	listed := true
	switch {
	case errors.Is(err, ErrNotListed):
		listed = false
		inc = claims.Incident{ID: strings.ToUpper(strings.TrimSpace(incidentID)), Source: claims.SourceGraph, ReadAt: s.now()}
		if _, id, cerr := checkIDs(tenantID, incidentID); cerr == nil {
			inc.ID = id
		}
	case err != nil:
		return false, err
	}
	rec := archive.IncidentRecord{TenantID: canonicalTenant(tenantID), Incident: inc, Listed: &listed}
	if err := s.Snapshots.StoreIncidentSnapshot(ctx, &rec); err != nil {
		return false, fmt.Errorf("service health: snapshot %s for tenant %s: %w", inc.ID, rec.TenantID, err)
	}
	if listed && inc.HasReport() {
		report, ctype, err := s.Graph.IncidentReport(ctx, tenantID, inc.ID)
		switch {
		case errors.Is(err, ErrNoReport):
			// The status ran ahead of the report: the next sync fetches it.
			s.log().Info("service health: no incident report yet", "incident_id", inc.ID, "tenant_id", rec.TenantID)
		case err != nil:
			return false, err
		default:
			if err := s.Snapshots.StoreIncidentReport(ctx, &rec, report, ctype); err != nil {
				return false, fmt.Errorf("service health: store the report of %s for tenant %s: %w", inc.ID, rec.TenantID, err)
			}
		}
	}
	changed, err = s.Ledger.RecordIncidentFacts(ctx, rec, SystemActor)
	if err != nil {
		return false, fmt.Errorf("service health: record %s for tenant %s: %w", inc.ID, rec.TenantID, err)
	}
	return changed, nil
}

// SyncStats counts what SyncAll did.
type SyncStats struct {
	Synced  int // incidents read
	Changed int // of which the ledger learnt something
	Skipped int // incidents of tenants the configuration turns off
	Failed  int
}

// SyncAll reads again the incidents of every claim that still matters
// (IncidentsToSync), up to Concurrency at once, skipping the tenants
// TenantOn turns off. One incident's failure does not stop the others:
// the errors are joined, each naming its tenant and incident.
func (s *Syncer) SyncAll(ctx context.Context) (SyncStats, error) {
	keys, err := s.Ledger.IncidentsToSync(ctx)
	if err != nil {
		return SyncStats{}, fmt.Errorf("service health: the incidents to read: %w", err)
	}
	return s.syncKeys(ctx, keys)
}

// SyncKeys is SyncAll over the given pairs only.
func (s *Syncer) SyncKeys(ctx context.Context, keys []archive.IncidentKey) (SyncStats, error) {
	return s.syncKeys(ctx, keys)
}

func (s *Syncer) syncKeys(ctx context.Context, keys []archive.IncidentKey) (SyncStats, error) {
	n := s.Concurrency
	if n <= 0 {
		n = 2
	}
	var (
		mu    sync.Mutex
		stats SyncStats
		errs  []error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, n)
	)
	for _, k := range keys {
		if s.TenantOn != nil && !s.TenantOn(k.TenantID) {
			stats.Skipped++
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return stats, errors.Join(append(errs, ctx.Err())...)
		}
		wg.Go(func() {
			defer func() { <-sem }()
			changed, err := s.SyncIncident(ctx, k.TenantID, k.IncidentID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				stats.Failed++
				errs = append(errs, err)
				return
			}
			stats.Synced++
			if changed {
				stats.Changed++
			}
		})
	}
	wg.Wait()
	return stats, errors.Join(errs...)
}

// ImportCatalog records the facts of an offline catalog (claims.ParseCatalog)
// for every tenant (TenantID ""), each with its snapshot; a fact without a
// ReadAt is read now. It returns how many incidents the ledger learnt
// something about, and stops at the first failure.
func (s *Syncer) ImportCatalog(ctx context.Context, incidents []claims.Incident) (changed int, err error) {
	for _, inc := range incidents {
		inc.Source = claims.SourceCatalog
		ok, err := s.RecordIncident(ctx, "", inc)
		if err != nil {
			return changed, err
		}
		if ok {
			changed++
		}
	}
	return changed, nil
}

// RecordIncident records facts from a source that cannot say whether the
// tenant was hit (a catalog, a notification mail) for tenantID ("" for
// every tenant), with a snapshot; a fact without a ReadAt is read now.
func (s *Syncer) RecordIncident(ctx context.Context, tenantID string, inc claims.Incident) (changed bool, err error) {
	if inc.ReadAt.IsZero() {
		inc.ReadAt = s.now()
	}
	rec := archive.IncidentRecord{TenantID: canonicalTenant(tenantID), Incident: inc}
	if err := s.Snapshots.StoreIncidentSnapshot(ctx, &rec); err != nil {
		return false, fmt.Errorf("incident %s (%s): snapshot: %w", inc.ID, inc.Source, err)
	}
	changed, err = s.Ledger.RecordIncidentFacts(ctx, rec, SystemActor)
	if err != nil {
		return false, fmt.Errorf("incident %s (%s): record: %w", inc.ID, inc.Source, err)
	}
	return changed, nil
}

// canonicalTenant returns a tenant ID in canonical form, or as given when
// it is not one ("" stays "").
func canonicalTenant(tenantID string) string {
	if tenantID == "" {
		return ""
	}
	if t, _, err := checkIDs(tenantID, ""); err == nil {
		return t
	}
	return tenantID
}
