package archive

import (
	"context"
	"errors"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

// IncidentRecord is one reading of an incident's facts from one source,
// as the ledger keeps it: the facts, the snapshot of them in the object
// store, and the post-incident report when there is one.
type IncidentRecord struct {
	// TenantID is the tenant the facts were read for; "" for facts that
	// hold for every tenant (the offline catalog).
	TenantID string
	// Incident holds the facts with their Source and ReadAt. For a Graph
	// answer that the tenant has no such incident, only its ID.
	Incident claims.Incident
	// Listed is Graph's answer for the tenant: true found, false not
	// listed (404); nil when the source cannot say (catalog, notification).
	Listed *bool
	// SnapshotKey and SnapshotSHA256 name the write-once snapshot of
	// Incident in the object store (StoreIncidentSnapshot).
	SnapshotKey    string
	SnapshotSHA256 string
	// ReportKey, ReportSHA256 and ReportType name the post-incident report
	// stored with it (StoreIncidentReport); empty when there is none.
	ReportKey    string
	ReportSHA256 string
	ReportType   string
	// RecordedAt is when the ledger recorded it.
	RecordedAt time.Time
}

// IncidentKey names a claim's incident: the tenant and the incident ID.
type IncidentKey struct {
	TenantID   string
	IncidentID string
}

// errIncidentsNotYet marks the parts of the incident store still being
// built; nothing calls them in a released build.
var errIncidentsNotYet = errors.New("archive: incident facts are not stored yet")

// StoreIncidentSnapshot writes rec.Incident as JSON, write-once, under a
// key derived from its content, and sets rec.SnapshotKey and
// rec.SnapshotSHA256. Storing the same facts again is a no-op.
func StoreIncidentSnapshot(ctx context.Context, store Store, rec *IncidentRecord) error {
	return errIncidentsNotYet
}

// StoreIncidentReport writes the post-incident report data, write-once,
// under a key derived from its content, and sets rec.ReportKey,
// rec.ReportSHA256 and rec.ReportType.
func StoreIncidentReport(ctx context.Context, store Store, rec *IncidentRecord, data []byte, contentType string) error {
	return errIncidentsNotYet
}

// RecordIncidentFacts records rec when its facts (or listing, or report)
// differ from the newest record of the same tenant, incident and source,
// audits it, and refreshes the claims it concerns (the tenant's claim for
// the incident; every tenant's for catalog facts). changed is false when
// nothing differed.
func (l *Ledger) RecordIncidentFacts(ctx context.Context, rec IncidentRecord, actor string) (changed bool, err error) {
	return false, errIncidentsNotYet
}

// IncidentHistory returns every record of the incident for the tenant,
// the catalog's included, oldest first.
func (l *Ledger) IncidentHistory(ctx context.Context, tenantID, incidentID string) ([]IncidentRecord, error) {
	return nil, errIncidentsNotYet
}

// IncidentsToSync returns the (tenant, incident) pairs of the claims whose
// incident facts still matter: the fileable ones (claims.Fileable).
func (l *Ledger) IncidentsToSync(ctx context.Context) ([]IncidentKey, error) {
	return nil, errIncidentsNotYet
}
