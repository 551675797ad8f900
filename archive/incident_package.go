package archive

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/claimtrail/claimtrail/claims"
)

// ErrNothingToFile: an incident has no claim that can still be filed, so
// there is no request to package.
var ErrNothingToFile = errors.New("no claim of the incident can still be filed")

// IncidentFolder names claim c's folder in an incident package: its ID and
// the start of its tenant ID, which are safe in any file name.
func IncidentFolder(c *claims.Claim) string {
	t := c.TenantID
	if len(t) > 8 {
		t = t[:8]
	}
	return fmt.Sprintf("claim-%d-%s", c.ID, t)
}

// WriteIncidentPackage writes to w, as a ZIP, one package for the claims
// of incident incidentID that can still be filed (claims.Fileable), for
// the one request that lists every affected tenant (claims.OneRequest):
//
//	request.txt         the request's Details text (claims.WriteIncidentRequest)
//	claim-<id>-<tenant>/  each claim's package (WriteClaimPackage lists it)
//	manifest.sha256     the SHA-256 of every other entry, as sha256sum -c reads it
//
// It streams: one claim is loaded at a time, bundles are copied through,
// and the manifest is spooled to a temporary file, so its memory does not
// grow with the claims. An incident no claim exists for is ErrNotFound, one
// without a claim to file ErrNothingToFile; evidence whose bundle is not
// stored yet makes it fail before anything is written. Any later error
// leaves a partial ZIP in w, which the caller must discard. A successful
// export is recorded in the audit trail under actor, with the incident as
// its subject; now is the time the incident's counts are taken at.
func (l *Ledger) WriteIncidentPackage(ctx context.Context, w io.Writer, incidentID string, bundles BundleSource, actor string, now time.Time) error {
	op := "write package of incident " + incidentID
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	sum, err := l.Incident(ctx, incidentID, now)
	if err != nil {
		return err
	}
	inc := sum.ID
	if sum.Fileable == 0 {
		return fmt.Errorf("archive: %s: %w", op, ErrNothingToFile)
	}
	in, sargs := statusIn(claims.FileableStatuses())
	var unstored string
	err = l.r.QueryRowContext(ctx, `SELECT m.sha256 FROM claims c JOIN claim_evidence e ON e.claim_id = c.id
		JOIN messages m ON m.id = e.message_id
		WHERE c.incident_id = ? AND c.status IN (`+in+`) AND m.bundle_key IS NULL LIMIT 1`, append([]any{inc}, sargs...)...).Scan(&unstored)
	switch {
	case err == nil:
		return fmt.Errorf("archive: %s: message %s has no stored bundle yet; let the poller finish it, then export again", op, unstored)
	case !errors.Is(err, sql.ErrNoRows):
		return dbErr(op, err)
	}

	spool, err := os.CreateTemp("", "claimtrail-manifest-*")
	if err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	mw := &manifestWriter{zw: zip.NewWriter(w), spool: bufio.NewWriter(spool)}
	filter := ClaimFilter{IncidentID: inc, Statuses: claims.FileableStatuses()}
	stamp := packageStamp(&claims.Claim{UpdatedAt: sum.OpenedAt})

	f, err := mw.create("request.txt", zip.Deflate, stamp)
	if err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	err = claims.WriteIncidentRequest(f, inc, sum.Incident, sum.Fileable, func(yield func(claims.RequestClaim, error) bool) {
		for s, err := range l.AllClaims(ctx, ClaimQuery{ClaimFilter: filter}) {
			if err != nil {
				yield(claims.RequestClaim{}, err)
				return
			}
			if !yield(claims.RequestClaim{Claim: s.Claim, Evidence: s.EvidenceCount, Folder: IncidentFolder(s.Claim)}, nil) {
				return
			}
		}
	})
	if err != nil {
		return fmt.Errorf("archive: %s: request.txt: %w", op, err)
	}

	var n, evidence, ready int
	for s, err := range l.AllClaims(ctx, ClaimQuery{ClaimFilter: filter}) {
		if err != nil {
			return fmt.Errorf("archive: %s: %w", op, err)
		}
		c, err := l.Claim(ctx, s.ID)
		if err != nil {
			return fmt.Errorf("archive: %s: %w", op, err)
		}
		if err := storedBundles(c); err != nil {
			return fmt.Errorf("archive: %s: claim %d: %w", op, c.ID, err)
		}
		folder, cstamp := IncidentFolder(c)+"/", packageStamp(c)
		add := func(name string, method uint16) (io.Writer, error) { return mw.create(folder+name, method, cstamp) }
		if err := l.writeClaimEntries(ctx, add, c, bundles); err != nil {
			return fmt.Errorf("archive: %s: claim %d: %w", op, c.ID, err)
		}
		n, evidence = n+1, evidence+len(c.Evidence)
		if c.Ready() {
			ready++
		}
	}
	if err := mw.finish(spool, stamp); err != nil {
		return fmt.Errorf("archive: %s: %w", op, err)
	}
	_, err = l.AppendAudit(ctx, actor, ActionPackageExported, incidentSubject(inc), map[string]any{
		"claims": n, "evidence": evidence, "ready": ready,
	})
	return err
}

// manifestWriter makes a ZIP's entries and notes each one's SHA-256 in a
// spool, a line at a time, in sha256sum's format.
type manifestWriter struct {
	zw    *zip.Writer
	spool *bufio.Writer
	// name and h are the entry being written.
	name string
	h    hash.Hash
}

// note writes the current entry's line to the spool.
func (m *manifestWriter) note() error {
	if m.h == nil {
		return nil
	}
	_, err := fmt.Fprintf(m.spool, "%s  %s\n", hex.EncodeToString(m.h.Sum(nil)), m.name)
	m.h = nil
	return err
}

// create ends the current entry and starts the entry name.
func (m *manifestWriter) create(name string, method uint16, stamp time.Time) (io.Writer, error) {
	if err := m.note(); err != nil {
		return nil, err
	}
	f, err := m.zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: stamp})
	if err != nil {
		return nil, err
	}
	m.name, m.h = name, sha256.New()
	return io.MultiWriter(f, m.h), nil
}

// finish writes manifest.sha256 from the spool file and closes the ZIP.
func (m *manifestWriter) finish(spool *os.File, stamp time.Time) error {
	if err := m.note(); err != nil {
		return err
	}
	if err := m.spool.Flush(); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	f, err := m.zw.CreateHeader(&zip.FileHeader{Name: "manifest.sha256", Method: zip.Deflate, Modified: stamp})
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if _, err := io.Copy(f, spool); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return m.zw.Close()
}
