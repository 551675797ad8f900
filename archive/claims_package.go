package archive

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"io"
	"path"
	"strings"
	"time"
)

// BundleSource is what a claim package needs of the object store: Dir and
// MinIO fit it. Get's reader must be closed; a missing key is ErrNotFound.
type BundleSource interface {
	Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
}

// packageFormat names the layout of claim.json.
const packageFormat = "claimtrail-claim-package-1"

// WriteClaimPackage writes the claim's package to w as a ZIP:
//
//	claim.json          the claim, its checklist and its evidence list
//	details.txt         the text for Partner Center's Details box
//	incident.json       Microsoft's record of the incident: every reading
//	                    of it (IncidentHistory), oldest first, each with its
//	                    source, read time, listing, facts and snapshot key;
//	                    only when there is one
//	incident-report.<ext>  the newest post-incident report, when one is stored
//	evidence/NN-<sha256-of-message>.<ext>   each evidence bundle, oldest first
//
// The package is deterministic: the same ledger state and bundles give the
// same bytes (every entry is dated with the claim's last update). Each
// bundle's SHA-256 is checked against the one SetBundle recorded, and the
// report's against the one RecordIncidentFacts recorded. Evidence
// whose bundle is not stored yet makes it fail; so does any read error, and
// then w holds a partial ZIP the caller must discard. A successful export
// is recorded in the audit trail under actor.
func (l *Ledger) WriteClaimPackage(ctx context.Context, w io.Writer, claimID int64, bundles BundleSource, actor string) error {
	op := fmt.Sprintf("write package of claim %d", claimID)
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	c, err := l.Claim(ctx, claimID)
	if err != nil {
		return err
	}
	if err := storedBundles(c); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	stamp := packageStamp(c)
	zw := zip.NewWriter(w)
	add := func(name string, method uint16) (io.Writer, error) {
		return zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: stamp})
	}
	if err := l.writeClaimEntries(ctx, add, c, bundles); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	_, err = l.AppendAudit(ctx, actor, ActionPackageExported, claimSubject(claimID), map[string]any{
		"status": c.Status, "evidence": len(c.Evidence), "ready": c.Ready(),
	})
	return err
}

// packageStamp is the date of every entry of c's package: its last update,
// or ZIP's epoch when that is earlier.
func packageStamp(c *claims.Claim) time.Time {
	stamp := c.UpdatedAt.UTC()
	if stamp.Year() < 1980 {
		stamp = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC) // ZIP's epoch
	}
	return stamp
}

// storedBundles checks that every evidence of c has its bundle stored.
func storedBundles(c *claims.Claim) error {
	for _, e := range c.Evidence {
		if e.BundleKey == "" {
			return fmt.Errorf("message %s has no stored bundle yet; let the poller finish it, then export again", e.SHA256)
		}
	}
	return nil
}

// writeClaimEntries writes the entries of c's package (WriteClaimPackage
// lists them) into the entries add makes.
func (l *Ledger) writeClaimEntries(ctx context.Context, add func(name string, method uint16) (io.Writer, error), c *claims.Claim, bundles BundleSource) error {
	cj, err := json.MarshalIndent(struct {
		Format string        `json:"format"`
		Claim  *claims.Claim `json:"claim"`
	}{packageFormat, c}, "", "  ")
	if err != nil {
		return err
	}
	f, err := add("claim.json", zip.Deflate)
	if err == nil {
		_, err = f.Write(append(cj, '\n'))
	}
	if err != nil {
		return fmt.Errorf("claim.json: %w", err)
	}
	if f, err = add("details.txt", zip.Deflate); err == nil {
		_, err = io.WriteString(f, claims.Details(c))
	}
	if err != nil {
		return fmt.Errorf("details.txt: %w", err)
	}
	history, err := incidentHistory(ctx, l.r, c.TenantID, c.IncidentID)
	if err != nil {
		return dbErr("incident history", err)
	}
	if len(history) > 0 {
		if err := writeIncidentEntries(ctx, history, bundles, add); err != nil {
			return err
		}
	}
	for i, e := range c.Evidence {
		name := fmt.Sprintf("evidence/%02d-%s%s", i+1, e.SHA256, bundleExt(e.BundleKey))
		if err := copyBundle(ctx, bundles, e, func() (io.Writer, error) { return add(name, zip.Store) }); err != nil {
			return err
		}
	}
	return nil
}

// copyBundle streams one bundle into the entry create makes, checking its
// SHA-256 when the ledger knows it.
func copyBundle(ctx context.Context, bundles BundleSource, e claims.Evidence, create func() (io.Writer, error)) error {
	rc, _, err := bundles.Get(ctx, e.BundleKey)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", e.BundleKey, err)
	}
	dst, err := create()
	if err != nil {
		rc.Close()
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(dst, h), rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bundle %s: %w", e.BundleKey, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); e.BundleSHA256 != "" && got != e.BundleSHA256 {
		return fmt.Errorf("bundle %s: %w: its SHA-256 is %s, the ledger recorded %s", e.BundleKey, ErrCorrupt, got, e.BundleSHA256)
	}
	return nil
}

// bundleExt keeps the bundle key's extension (".zip") in the package.
func bundleExt(key string) string {
	ext := path.Ext(key)
	if len(ext) > 8 || strings.ContainsAny(ext, "/\\") {
		return ""
	}
	return ext
}

// packageIncident is one record in incident.json.
type packageIncident struct {
	TenantID       string          `json:"tenant_id"` // "" for catalog facts
	Source         claims.Source   `json:"source"`
	ReadAt         time.Time       `json:"read_at"`
	Listed         *bool           `json:"listed"`
	Facts          claims.Incident `json:"facts"`
	SnapshotKey    string          `json:"snapshot_key,omitempty"`
	SnapshotSHA256 string          `json:"snapshot_sha256,omitempty"`
	ReportKey      string          `json:"report_key,omitempty"`
	ReportSHA256   string          `json:"report_sha256,omitempty"`
	RecordedAt     time.Time       `json:"recorded_at"`
}

// writeIncidentEntries writes incident.json and the newest stored report.
func writeIncidentEntries(ctx context.Context, history []IncidentRecord, bundles BundleSource, add func(string, uint16) (io.Writer, error)) error {
	out := make([]packageIncident, len(history))
	var report *IncidentRecord
	for i := range history {
		r := &history[i]
		out[i] = packageIncident{TenantID: r.TenantID, Source: r.Incident.Source, ReadAt: r.Incident.ReadAt.UTC(), Listed: r.Listed,
			Facts: r.Incident, SnapshotKey: r.SnapshotKey, SnapshotSHA256: r.SnapshotSHA256,
			ReportKey: r.ReportKey, ReportSHA256: r.ReportSHA256, RecordedAt: r.RecordedAt.UTC()}
		if r.ReportKey != "" {
			report = r
		}
	}
	data, err := json.MarshalIndent(struct {
		Records []packageIncident `json:"records"`
	}{out}, "", "  ")
	if err != nil {
		return fmt.Errorf("incident.json: %w", err)
	}
	f, err := add("incident.json", zip.Deflate)
	if err == nil {
		_, err = f.Write(append(data, '\n'))
	}
	if err != nil {
		return fmt.Errorf("incident.json: %w", err)
	}
	if report == nil {
		return nil
	}
	e := claims.Evidence{BundleKey: report.ReportKey, BundleSHA256: report.ReportSHA256}
	return copyBundle(ctx, bundles, e, func() (io.Writer, error) { return add("incident-report"+path.Ext(report.ReportKey), zip.Store) })
}
