package web

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/rules"
)

// maxBodyShown bounds the message text shown on a page; the bundle holds
// all of it.
const maxBodyShown = 256 << 10

func messageSHA(r *http.Request) (string, error) {
	sha := strings.ToLower(r.PathValue("sha"))
	if len(sha) != 64 || strings.Trim(sha, "0123456789abcdef") != "" {
		return "", badRequest("%q is not a message's SHA-256 (64 hex digits)", r.PathValue("sha"))
	}
	return sha, nil
}

// messageError answers for an error of a message request.
func (s *Server) messageError(w http.ResponseWriter, r *http.Request, err error) {
	s.requestFailed(w, r, "message or bundle", err)
}

// fetchBundle copies a bundle from the store to a temporary file, which
// the store's reader verifies against the object's SHA-256 on the way:
// nothing is served from a bundle that does not match. The caller closes
// the spool file, which removes it.
func (s *Server) fetchBundle(ctx context.Context, key string) (*evidence.SpoolFile, error) {
	rc, _, err := s.store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get bundle %s: %w", key, err)
	}
	defer rc.Close()
	sf, err := evidence.Spool(ctx, rc, "")
	if err != nil {
		return nil, fmt.Errorf("get bundle %s: %w", key, err)
	}
	return sf, nil
}

// messageBundle returns a message row and its bundle, or an error that is
// ErrNotFound when either is missing.
func (s *Server) messageBundle(ctx context.Context, sha string) (*archive.Message, *evidence.SpoolFile, error) {
	m, err := s.ledger.MessageBySHA256(ctx, sha)
	if err != nil {
		return nil, nil, err
	}
	if m.BundleKey == "" {
		return m, nil, fmt.Errorf("message %s: its bundle is not stored yet: %w", sha, archive.ErrNotFound)
	}
	sf, err := s.fetchBundle(ctx, m.BundleKey)
	if err != nil {
		return m, nil, err
	}
	if m.BundleSHA256 != "" && sf.SHA256() != m.BundleSHA256 {
		sf.Close()
		return m, nil, fmt.Errorf("bundle %s: %w: its SHA-256 is %s, the ledger recorded %s", m.BundleKey, archive.ErrCorrupt, sf.SHA256(), m.BundleSHA256)
	}
	return m, sf, nil
}

// attachmentHeaders make a response a download that no browser renders:
// a file name made safe, a type that means "bytes", no sniffing, and a
// sandbox should anything try.
func attachmentHeaders(w http.ResponseWriter, filename, contentType string, size int64) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", downloadPolicy)
	h.Set("Cache-Control", "no-store")
	if size >= 0 {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
}

// safeFilename runs a name through evidence.SafeName on its own.
func safeFilename(name string) string { return evidence.SafeName(name, map[string]int{}) }

func (s *Server) bundleDownload(w http.ResponseWriter, r *http.Request) {
	sha, err := messageSHA(r)
	if err != nil {
		s.messageError(w, r, err)
		return
	}
	m, sf, err := s.messageBundle(r.Context(), sha)
	if err != nil {
		s.messageError(w, r, err)
		return
	}
	defer sf.Close()
	// The download is recorded before a byte leaves: a download that
	// cannot be recorded does not happen.
	if _, err := s.ledger.AppendAudit(r.Context(), actor(r), archive.ActionBundleDownloaded, "message:"+m.SHA256,
		map[string]any{"key": m.BundleKey, "bundle_sha256": sf.SHA256(), "size": sf.Size()}); err != nil {
		s.internal(w, r, err)
		return
	}
	attachmentHeaders(w, safeFilename("claimtrail-bundle-"+shortHash(m.SHA256)+".zip"), "application/zip", sf.Size())
	if _, err := io.Copy(w, sf.Reader()); err != nil {
		s.log.Warn("web: bundle download interrupted", "key", m.BundleKey, "user", actor(r), "err", err)
	}
}

func (s *Server) claimPackage(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	// The package goes to a temporary file first: a failure halfway
	// leaves a partial ZIP that must not reach the user.
	tmp, err := os.CreateTemp("", "claimtrail-package-*.zip")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := s.ledger.WriteClaimPackage(r.Context(), tmp, id, s.store, actor(r)); err != nil {
		if errors.Is(err, archive.ErrNotFound) {
			s.claimError(w, r, err)
			return
		}
		if strings.Contains(err.Error(), "no stored bundle yet") {
			s.fail(w, r, http.StatusConflict, userMessage(err))
			return
		}
		s.internal(w, r, err)
		return
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = tmp.Seek(0, io.SeekStart)
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	c, err := s.ledger.Claim(r.Context(), id)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	name := fmt.Sprintf("claim-%d-%s-%s.zip", c.ID, c.IncidentID, shortHash(c.TenantID))
	attachmentHeaders(w, safeFilename(name), "application/zip", size)
	if _, err := io.Copy(w, tmp); err != nil {
		s.log.Warn("web: package download interrupted", "claim", id, "user", actor(r), "err", err)
	}
}

// messageView is the message page.
type messageView struct {
	Message  *archive.Message
	Judgment *rules.Judgment
	Manifest *evidence.Manifest
	Body     string
	BodyCut  bool
	// Verified is the bundle check: "" when it passed, else what failed.
	Problem string
	// NoBundle says why there is no bundle to show.
	NoBundle string
	// Claims are the claims the message is evidence for now.
	Claims []messageClaim
}

// messageClaim is a claim a message is evidence for.
type messageClaim struct {
	ID         int64  `json:"claim_id"`
	TenantID   string `json:"tenant_id"`
	IncidentID string `json:"incident_id"`
}

func (s *Server) loadMessageView(ctx context.Context, sha string) (*messageView, error) {
	m, sf, err := s.messageBundle(ctx, sha)
	if m == nil {
		return nil, err
	}
	v := &messageView{Message: m, Judgment: m.Judgment, Claims: []messageClaim{}}
	atts, cerr := s.ledger.MessageClaims(ctx, m.ID)
	if cerr != nil {
		if sf != nil {
			sf.Close()
		}
		return nil, cerr
	}
	for _, a := range atts {
		v.Claims = append(v.Claims, messageClaim{ID: a.ClaimID, TenantID: a.TenantID, IncidentID: a.IncidentID})
	}
	switch {
	case errors.Is(err, archive.ErrCorrupt):
		v.Problem = err.Error()
		return v, nil
	case err != nil && m.BundleKey == "":
		v.NoBundle = "The bundle is not stored yet: the poller has not finished this message."
		return v, nil
	case err != nil:
		return nil, err
	}
	defer sf.Close()
	if err := evidence.VerifyBundle(sf, sf.Size(), m.BundleKey); err != nil {
		v.Problem = err.Error()
	}
	man, err := evidence.ReadManifest(sf, sf.Size())
	if err != nil {
		v.Problem = strings.TrimSpace(v.Problem + " " + err.Error())
		return v, nil
	}
	v.Manifest = man
	v.Body, v.BodyCut, err = readBundleFile(sf, sf.Size(), evidence.BodyName, maxBodyShown)
	if err != nil {
		v.Problem = strings.TrimSpace(v.Problem + " " + err.Error())
	}
	return v, nil
}

// readBundleFile reads up to limit bytes of one file of a bundle.
func readBundleFile(ra io.ReaderAt, size int64, name string, limit int64) (string, bool, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return "", false, fmt.Errorf("bundle is not a ZIP: %w", err)
	}
	f, err := zr.Open(name)
	if err != nil {
		return "", false, fmt.Errorf("bundle: %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return "", false, fmt.Errorf("bundle: %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return string(b[:limit]), true, nil
	}
	return string(b), false, nil
}

func (s *Server) messagePage(w http.ResponseWriter, r *http.Request) {
	sha, err := messageSHA(r)
	if err != nil {
		s.messageError(w, r, err)
		return
	}
	v, err := s.loadMessageView(r.Context(), sha)
	if err != nil {
		s.messageError(w, r, err)
		return
	}
	nav := "triage"
	if v.Judgment != nil && v.Judgment.Verdict == rules.Accepted {
		nav = "claims"
	}
	s.render(w, r, http.StatusOK, "message", page0{Title: "Message " + shortHash(sha), Nav: nav}, v)
}

func (s *Server) apiMessage(w http.ResponseWriter, r *http.Request) {
	sha, err := messageSHA(r)
	if err != nil {
		s.messageError(w, r, err)
		return
	}
	v, err := s.loadMessageView(r.Context(), sha)
	if err != nil {
		s.messageError(w, r, err)
		return
	}
	m := v.Message
	out := map[string]any{
		"sha256": m.SHA256, "size": m.Size, "mailbox": m.Mailbox, "folder": m.Folder,
		"message_id": m.MessageID, "sender": m.Sender, "subject": m.Subject,
		"received": m.EvidenceDate(), "judgment": m.Judgment, "rules_version": m.RulesVersion,
		"bundle_key": m.BundleKey, "bundle_sha256": m.BundleSHA256,
		"bundle_verified": v.Manifest != nil && v.Problem == "",
		"claims":          v.Claims,
	}
	if v.Problem != "" {
		out["bundle_problem"] = v.Problem
	}
	if v.Manifest != nil {
		out["manifest"] = v.Manifest
	}
	writeJSON(w, http.StatusOK, out)
}

// attachmentDownload serves one attachment of a message, named by the
// SHA-256 of its decoded bytes as the manifest lists it. It is extracted
// from the verified bundle into a private temporary directory, served as a
// download of type application/octet-stream whatever the sender claimed,
// and removed.
func (s *Server) attachmentDownload(w http.ResponseWriter, r *http.Request) {
	sha, err := messageSHA(r)
	if err != nil {
		s.messageError(w, r, err)
		return
	}
	want := strings.ToLower(r.PathValue("att"))
	if len(want) != 64 || strings.Trim(want, "0123456789abcdef") != "" {
		s.messageError(w, r, badRequest("%q is not an attachment's SHA-256", r.PathValue("att")))
		return
	}
	m, sf, err := s.messageBundle(r.Context(), sha)
	if err != nil {
		s.messageError(w, r, err)
		return
	}
	defer sf.Close()
	if err := evidence.VerifyBundle(sf, sf.Size(), m.BundleKey); err != nil {
		s.log.Error("web: bundle does not verify", "key", m.BundleKey, "err", err)
		s.fail(w, r, http.StatusConflict, "the bundle does not match its manifest, so nothing is served from it; see the message page")
		return
	}
	man, err := evidence.ReadManifest(sf, sf.Size())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	var att *evidence.Attachment
	for i := range man.Attachments {
		if man.Attachments[i].SHA256 == want {
			att = &man.Attachments[i]
			break
		}
	}
	if att == nil {
		s.fail(w, r, http.StatusNotFound, "the message has no such attachment")
		return
	}
	dir, err := os.MkdirTemp("", "claimtrail-extract-*")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer os.RemoveAll(dir)
	names, xerr := evidence.Extract(sf, sf.Size(), dir)
	path := ""
	for _, n := range names {
		if ok, err := fileHasSHA256(filepath.Join(dir, n), want); err == nil && ok {
			path = filepath.Join(dir, n)
			break
		}
	}
	if path == "" {
		if xerr != nil {
			s.internal(w, r, xerr)
			return
		}
		s.fail(w, r, http.StatusNotFound, "the attachment could not be extracted from the bundle")
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	name := safeFilename(att.Name)
	if _, err := s.ledger.AppendAudit(r.Context(), actor(r), archive.ActionBundleDownloaded, "message:"+m.SHA256,
		map[string]any{"key": m.BundleKey, "attachment": name, "attachment_sha256": want, "size": st.Size()}); err != nil {
		s.internal(w, r, err)
		return
	}
	attachmentHeaders(w, name, "application/octet-stream", st.Size())
	if _, err := io.Copy(w, f); err != nil {
		s.log.Warn("web: attachment download interrupted", "key", m.BundleKey, "user", actor(r), "err", err)
	}
}

func fileHasSHA256(path, want string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == want, nil
}
