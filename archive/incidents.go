package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"time"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
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

// ActionIncidentFactsRecorded's subject names the incident.
func incidentSubject(id string) string { return "incident:" + id }

// snapshotJSON is the snapshot of inc: its JSON without the read time,
// which the record keeps beside it, so that the same facts read twice are
// the same bytes. sum is their SHA-256 in lowercase hex.
func snapshotJSON(inc claims.Incident) (data []byte, sum string, err error) {
	inc.ReadAt = time.Time{}
	if data, err = json.Marshal(inc); err != nil {
		return nil, "", err
	}
	h := sha256.Sum256(data)
	return data, hex.EncodeToString(h[:]), nil
}

// incidentPrefix is where the objects of rec's incident go:
// incidents/<tenant, or "any" for catalog facts>/<incident>/.
func incidentPrefix(rec *IncidentRecord) (string, error) {
	id, err := rules.ParseIncidentID(rec.Incident.ID)
	if err != nil {
		return "", err
	}
	tenant := "any"
	if rec.TenantID != "" {
		if tenant, err = normTenantID(rec.TenantID); err != nil {
			return "", err
		}
	}
	return "incidents/" + tenant + "/" + id + "/", nil
}

// StoreIncidentSnapshot writes rec.Incident as JSON (without its read time,
// which the ledger keeps), write-once, under
// incidents/<tenant or "any">/<incident>/<sha256 of the JSON>.json, and
// sets rec.SnapshotKey and rec.SnapshotSHA256. Storing the same facts again
// is a no-op, so it is safe to retry and to call on every read.
func StoreIncidentSnapshot(ctx context.Context, store Store, rec *IncidentRecord) error {
	prefix, err := incidentPrefix(rec)
	if err != nil {
		return fmt.Errorf("archive: incident snapshot: %w", err)
	}
	data, sum, err := snapshotJSON(rec.Incident)
	if err != nil {
		return fmt.Errorf("archive: incident snapshot %s: %w", rec.Incident.ID, err)
	}
	key := prefix + sum + ".json"
	if _, err := store.Put(ctx, key, bytes.NewReader(data), int64(len(data)),
		PutOptions{SHA256: sum, Verified: true, ContentType: "application/json"}); err != nil {
		return fmt.Errorf("archive: incident snapshot: %w", err)
	}
	rec.SnapshotKey, rec.SnapshotSHA256 = key, sum
	return nil
}

// reportExts are the extensions of the report types Graph serves.
var reportExts = map[string]string{
	"application/pdf": ".pdf", "text/html": ".html", "application/json": ".json", "text/plain": ".txt",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
	"application/octet-stream": ".bin", "application/zip": ".zip",
}

// reportExt is the file extension for a report of content type ct.
func reportExt(ct string) string {
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		if ext, ok := reportExts[mt]; ok {
			return ext
		}
	}
	return ".bin"
}

// StoreIncidentReport writes the post-incident report data, write-once,
// under incidents/<tenant or "any">/<incident>/report-<sha256>.<ext> (the
// extension from contentType; ".bin" when unknown), and sets rec.ReportKey,
// rec.ReportSHA256 and rec.ReportType. Storing the same report again is a
// no-op.
func StoreIncidentReport(ctx context.Context, store Store, rec *IncidentRecord, data []byte, contentType string) error {
	prefix, err := incidentPrefix(rec)
	if err != nil {
		return fmt.Errorf("archive: incident report: %w", err)
	}
	if len(data) == 0 {
		return fmt.Errorf("archive: incident report %s: empty", rec.Incident.ID)
	}
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	key := prefix + "report-" + sum + reportExt(contentType)
	if _, err := store.Put(ctx, key, bytes.NewReader(data), int64(len(data)),
		PutOptions{SHA256: sum, Verified: true, ContentType: contentType}); err != nil {
		return fmt.Errorf("archive: incident report: %w", err)
	}
	rec.ReportKey, rec.ReportSHA256, rec.ReportType = key, sum, contentType
	return nil
}

// checkIncidentRecord validates rec and returns it normalised (canonical
// incident ID, lower-case tenant GUID).
func checkIncidentRecord(rec IncidentRecord) (IncidentRecord, error) {
	id, err := rules.ParseIncidentID(rec.Incident.ID)
	if err != nil {
		return rec, err
	}
	rec.Incident.ID = id
	src := rec.Incident.Source
	if src.Rank() == 0 {
		return rec, fmt.Errorf("source %q is not one of %s, %s, %s", src, claims.SourceGraph, claims.SourceCatalog, claims.SourceNotification)
	}
	if rec.TenantID != "" {
		if rec.TenantID, err = normTenantID(rec.TenantID); err != nil {
			return rec, err
		}
	} else if src != claims.SourceCatalog {
		return rec, fmt.Errorf("%s facts need the tenant they were read for; only catalog facts hold for every tenant", src)
	}
	if rec.Listed != nil && src != claims.SourceGraph {
		return rec, fmt.Errorf("%s facts cannot say whether the tenant is listed; only Graph can", src)
	}
	if rec.ReportKey != "" && rec.ReportSHA256 == "" {
		return rec, errors.New("report key without its SHA-256; store it with StoreIncidentReport")
	}
	return rec, nil
}

// RecordIncidentFacts records rec when its facts (or listing, or report)
// differ from the newest record of the same tenant, incident and source,
// audits it (ActionIncidentFactsRecorded), and refreshes the claims it
// concerns in the same transaction (the tenant's claim for the incident;
// every tenant's for catalog facts, whose TenantID is ""): their deadline,
// downtime, eligibility and status follow. changed is false when nothing
// differed. The facts' read time does not count as a difference; a zero
// ReadAt is taken as now. Errors name what is wrong with rec: an ID that
// is no incident ID (rules.ParseIncidentID), a tenant that is not a GUID,
// an unknown source, a tenant-less Graph or notification record, a listing
// from a source other than Graph, or a snapshot whose SHA-256 is not the
// facts'.
func (l *Ledger) RecordIncidentFacts(ctx context.Context, rec IncidentRecord, actor string) (changed bool, err error) {
	op := fmt.Sprintf("record incident facts %s %s %s", rec.Incident.ID, rec.Incident.Source, rec.TenantID)
	if err := checkActor(actor); err != nil {
		return false, fmt.Errorf("archive: %s: %w", op, err)
	}
	if rec, err = checkIncidentRecord(rec); err != nil {
		return false, fmt.Errorf("archive: %s: %w", op, err)
	}
	facts, sum, err := snapshotJSON(rec.Incident)
	if err != nil {
		return false, fmt.Errorf("archive: %s: %w", op, err)
	}
	if rec.SnapshotSHA256 != "" && rec.SnapshotSHA256 != sum {
		return false, fmt.Errorf("archive: %s: snapshot %s has SHA-256 %s, the facts %s; store the snapshot of these facts (StoreIncidentSnapshot)", op, rec.SnapshotKey, rec.SnapshotSHA256, sum)
	}
	err = l.write(ctx, op, func(stx *sql.Tx) error {
		tx := l.cached(stx)
		var oldSum string
		var oldListed sql.NullBool
		var oldReport sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT facts_sha256, listed, report_sha256 FROM incident_facts
			WHERE incident_id = ? AND tenant_id = ? AND source = ? ORDER BY id DESC LIMIT 1`,
			rec.Incident.ID, rec.TenantID, string(rec.Incident.Source)).Scan(&oldSum, &oldListed, &oldReport)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case oldSum == sum && oldListed == nullBool(rec.Listed) && oldReport.String == rec.ReportSHA256:
			return nil
		}
		now := l.now()
		readAt := rec.Incident.ReadAt
		if readAt.IsZero() {
			readAt = now
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO incident_facts (tenant_id, incident_id, source, read_at, listed,
			facts, facts_sha256, snapshot_key, snapshot_sha256, report_key, report_sha256, report_type, recorded_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			rec.TenantID, rec.Incident.ID, string(rec.Incident.Source), fmtTime(readAt), nullBool(rec.Listed),
			string(facts), sum, nullString(rec.SnapshotKey), nullString(rec.SnapshotSHA256),
			nullString(rec.ReportKey), nullString(rec.ReportSHA256), nullString(rec.ReportType), fmtTime(now)); err != nil {
			return err
		}
		details := map[string]any{
			"tenant_id": rec.TenantID, "source": rec.Incident.Source, "read_at": fmtTime(readAt),
			"classification": rec.Incident.Classification, "start": nil, "end": nil, "listed": nil,
			"facts_sha256": sum, "snapshot_key": rec.SnapshotKey,
		}
		if !rec.Incident.Start.IsZero() {
			details["start"] = fmtTime(rec.Incident.Start)
		}
		if !rec.Incident.End.IsZero() {
			details["end"] = fmtTime(rec.Incident.End)
		}
		if rec.Listed != nil {
			details["listed"] = *rec.Listed
		}
		if rec.ReportKey != "" {
			details["report_key"] = rec.ReportKey
		}
		if _, err := l.appendAudit(ctx, tx, now, actor, ActionIncidentFactsRecorded, incidentSubject(rec.Incident.ID), details); err != nil {
			return err
		}
		changed = true
		rows, err := tx.QueryContext(ctx, `SELECT id, tenant_id FROM claims WHERE incident_id = ? AND (tenant_id = ? OR ? = '') ORDER BY id`,
			rec.Incident.ID, rec.TenantID, rec.TenantID)
		if err != nil {
			return err
		}
		var ids []int64
		var tenants []string
		for rows.Next() {
			var id int64
			var tenant string
			if err := rows.Scan(&id, &tenant); err != nil {
				rows.Close()
				return err
			}
			ids, tenants = append(ids, id), append(tenants, tenant)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for i, id := range ids {
			if err := noteIncident(ctx, tx, id, tenants[i], rec.Incident.ID); err != nil {
				return err
			}
		}
		return l.refreshClaims(ctx, tx, now, actor, ids)
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

func nullBool(b *bool) sql.NullBool {
	if b == nil {
		return sql.NullBool{}
	}
	return sql.NullBool{Bool: *b, Valid: true}
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// noteIncident brings claim id's copy of its incident's facts (the
// incident and incident_listed columns, which loadClaim reads) up to date
// with incidentFactsOf. The copy leaves out the raw object and the posts,
// which IncidentHistory keeps: loadClaim decodes it on every message.
func noteIncident(ctx context.Context, tx dbtx, id int64, tenant, incident string) error {
	inc, listed, err := incidentFactsOf(ctx, tx, tenant, incident)
	if err != nil {
		return fmt.Errorf("claim %d: %w", id, err)
	}
	var facts any
	if inc != nil {
		summary := *inc
		summary.Raw, summary.Posts = nil, nil
		b, err := json.Marshal(summary)
		if err != nil {
			return fmt.Errorf("claim %d: %w", id, err)
		}
		facts = string(b)
	}
	_, err = tx.ExecContext(ctx, `UPDATE claims SET incident = ?, incident_listed = ? WHERE id = ?`, facts, nullBool(listed), id)
	return err
}

// incidentFactsOf reads what a claim needs of its incident's records in one
// indexed query: the newest record of each (tenant, source) for the tenant
// and the catalog. inc is claims.Best of them, leaving out Graph's "not
// listed" answers, which carry no facts; nil when there are none. listed is
// the newest Graph record's answer, nil when Graph was never asked.
func incidentFactsOf(ctx context.Context, q querier, tenantID, incidentID string) (inc *claims.Incident, listed *bool, err error) {
	rows, err := q.QueryContext(ctx, `SELECT f.source, f.read_at, f.listed, f.facts FROM incident_facts f
		WHERE f.incident_id = ? AND f.tenant_id IN (?, '') AND f.id = (SELECT MAX(g.id) FROM incident_facts g
			WHERE g.incident_id = f.incident_id AND g.tenant_id = f.tenant_id AND g.source = f.source)
		ORDER BY f.id`, incidentID, tenantID)
	if err != nil {
		return nil, nil, err
	}
	var facts []claims.Incident
	for rows.Next() {
		var source, data string
		var readAt sql.NullString
		var l sql.NullBool
		if err := rows.Scan(&source, &readAt, &l, &data); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if claims.Source(source) == claims.SourceGraph && l.Valid {
			listed = &l.Bool
		}
		if l.Valid && !l.Bool {
			continue
		}
		f, err := decodeFacts(data, readAt)
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("incident %s: %w", incidentID, err)
		}
		facts = append(facts, f)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, err
	}
	if len(facts) > 0 {
		best := claims.Best(facts...)
		inc = &best
	}
	return inc, listed, nil
}

// decodeFacts reads a stored facts column and its read time.
func decodeFacts(data string, readAt sql.NullString) (claims.Incident, error) {
	var f claims.Incident
	if err := json.Unmarshal([]byte(data), &f); err != nil {
		return f, fmt.Errorf("stored facts: %w", err)
	}
	var err error
	if f.ReadAt, err = parseTime(readAt); err != nil {
		return f, err
	}
	return f, nil
}

// IncidentHistory returns every record of the incident for the tenant,
// the catalog's included, oldest first. tenantID "" gives the catalog's
// alone.
func (l *Ledger) IncidentHistory(ctx context.Context, tenantID, incidentID string) ([]IncidentRecord, error) {
	op := fmt.Sprintf("incident history %s %s", tenantID, incidentID)
	id, err := rules.ParseIncidentID(incidentID)
	if err != nil {
		return nil, fmt.Errorf("archive: %s: %w", op, err)
	}
	if tenantID != "" {
		if tenantID, err = normTenantID(tenantID); err != nil {
			return nil, fmt.Errorf("archive: %s: %w", op, err)
		}
	}
	recs, err := incidentHistory(ctx, l.r, tenantID, id)
	if err != nil {
		return nil, dbErr(op, err)
	}
	return recs, nil
}

func incidentHistory(ctx context.Context, q querier, tenantID, incidentID string) ([]IncidentRecord, error) {
	rows, err := q.QueryContext(ctx, `SELECT tenant_id, read_at, listed, facts, snapshot_key, snapshot_sha256,
		report_key, report_sha256, report_type, recorded_at FROM incident_facts
		WHERE incident_id = ? AND tenant_id IN (?, '') ORDER BY id`, incidentID, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []IncidentRecord
	for rows.Next() {
		var r IncidentRecord
		var data string
		var readAt, recorded, snapKey, snapSum, repKey, repSum, repType sql.NullString
		var listed sql.NullBool
		if err := rows.Scan(&r.TenantID, &readAt, &listed, &data, &snapKey, &snapSum, &repKey, &repSum, &repType, &recorded); err != nil {
			return nil, err
		}
		if r.Incident, err = decodeFacts(data, readAt); err != nil {
			return nil, err
		}
		if r.RecordedAt, err = parseTime(recorded); err != nil {
			return nil, err
		}
		if listed.Valid {
			r.Listed = &listed.Bool
		}
		r.SnapshotKey, r.SnapshotSHA256 = snapKey.String, snapSum.String
		r.ReportKey, r.ReportSHA256, r.ReportType = repKey.String, repSum.String, repType.String
		out = append(out, r)
	}
	return out, rows.Err()
}

// IncidentsToSync returns the (tenant, incident) pairs of the claims whose
// incident facts still matter: the fileable ones (claims.Fileable),
// eligible or not (Microsoft may reclassify), by tenant, then incident.
func (l *Ledger) IncidentsToSync(ctx context.Context) ([]IncidentKey, error) {
	in, args := statusIn(claims.FileableStatuses())
	rows, err := l.r.QueryContext(ctx, `SELECT DISTINCT tenant_id, incident_id FROM claims WHERE status IN (`+in+`)
		ORDER BY tenant_id, incident_id`, args...)
	if err != nil {
		return nil, dbErr("incidents to sync", err)
	}
	defer rows.Close()
	var out []IncidentKey
	for rows.Next() {
		var k IncidentKey
		if err := rows.Scan(&k.TenantID, &k.IncidentID); err != nil {
			return nil, dbErr("incidents to sync", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("incidents to sync", err)
	}
	return out, nil
}
