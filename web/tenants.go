package web

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

type tenantsView struct {
	Tenants []rules.Tenant
	Import  *importResult
	// Total is how many tenants the registry holds; NextURL links the
	// following page, empty on the last.
	Total   int
	NextURL string
}

// A page of the registry holds defaultTenants tenants unless ?limit= asks
// for up to maxTenants.
const (
	defaultTenants = 100
	maxTenants     = 1000
)

// tenantKey orders the registry as the pages show it: by name regardless
// of case, then by ID. A tenants cursor is the key of the last tenant of
// the previous page.
func tenantKey(t rules.Tenant) string { return strings.ToLower(t.Name) + "\x00" + t.ID }

// tenantsPageOf returns the page p asks for of the registry, ordered by
// tenantKey.
func (s *Server) tenantsPageOf(ctx context.Context, p pageReq) ([]rules.Tenant, pageInfo, error) {
	tenants, err := s.ledger.Tenants(ctx)
	if err != nil {
		return nil, pageInfo{}, err
	}
	slices.SortFunc(tenants, func(a, b rules.Tenant) int { return strings.Compare(tenantKey(a), tenantKey(b)) })
	info := pageInfo{Total: len(tenants)}
	from := 0
	if p.Cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		if err != nil || !strings.Contains(string(after), "\x00") {
			return nil, info, badRequest("cursor is not one this server gave: copy the \"next\" of the previous page")
		}
		from, _ = slices.BinarySearchFunc(tenants, string(after), func(t rules.Tenant, k string) int {
			return strings.Compare(tenantKey(t), k)
		})
		if from < len(tenants) && tenantKey(tenants[from]) == string(after) {
			from++
		}
	}
	page := tenants[from:]
	if len(page) > p.Limit {
		page = page[:p.Limit]
		info.Next = base64.RawURLEncoding.EncodeToString([]byte(tenantKey(page[len(page)-1])))
	}
	return page, info, nil
}

// importResult is the outcome of a CSV import as the page and API show it.
type importResult struct {
	File    string   `json:"file"`
	Added   []string `json:"added"`
	Updated []string `json:"updated"`
	Errors  []string `json:"errors"`
}

func (s *Server) tenantsPage(w http.ResponseWriter, r *http.Request) {
	shown, _ := s.shown(r)
	res, _ := shown.(*importResult)
	s.renderTenants(w, r, http.StatusOK, res, "")
}

func (s *Server) renderTenants(w http.ResponseWriter, r *http.Request, status int, res *importResult, errMsg string) {
	q := r.URL.Query()
	p, err := parsePage(q, defaultTenants, maxTenants)
	if err != nil {
		s.requestFailed(w, r, "tenant", err)
		return
	}
	tenants, info, err := s.tenantsPageOf(r.Context(), p)
	if err != nil {
		s.requestFailed(w, r, "tenant", err)
		return
	}
	v := tenantsView{Tenants: tenants, Import: res, Total: info.Total}
	if info.Next != "" {
		v.NextURL = nextURL("/tenants", q, info.Next)
	}
	s.render(w, r, status, "tenants", page0{Title: "Tenants", Nav: "tenants", Error: errMsg}, v)
}

func (s *Server) apiTenants(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r.URL.Query(), defaultTenants, maxTenants)
	if err != nil {
		s.requestFailed(w, r, "tenant", err)
		return
	}
	tenants, info, err := s.tenantsPageOf(r.Context(), p)
	if err != nil {
		s.requestFailed(w, r, "tenant", err)
		return
	}
	type tenant struct {
		ID      string   `json:"id"`
		Name    string   `json:"name"`
		CSP     bool     `json:"csp"`
		Domains []string `json:"domains"`
		// Source says where the tenant was declared: a file on the
		// server and its line, or an import. Only admins see it: the
		// others need not know the server's paths.
		Source string `json:"source,omitempty"`
	}
	id := who(r)
	admin := id != nil && id.user.Role == archive.RoleAdmin
	out := make([]tenant, len(tenants))
	for i, t := range tenants {
		out[i] = tenant{ID: t.ID, Name: t.Name, CSP: t.CSP, Domains: t.Domains}
		if admin {
			out[i].Source = t.Source
		}
		if out[i].Domains == nil {
			out[i].Domains = []string{}
		}
	}
	writeJSON(w, http.StatusOK, info.put(map[string]any{"tenants": out}))
}

// importTenants loads a Partner Center customer export into the registry
// and records the import, with the user, in the audit trail.
func (s *Server) importTenants(ctx context.Context, r io.Reader, name, user string) (*importResult, error) {
	res, err := s.ledger.ImportPartnerCenterCSV(ctx, r, name)
	if err != nil {
		return nil, err
	}
	out := &importResult{File: name, Added: res.Added, Updated: res.Updated, Errors: []string{}}
	for _, e := range res.Errors {
		out.Errors = append(out.Errors, e.Error())
	}
	if out.Added == nil {
		out.Added = []string{}
	}
	if out.Updated == nil {
		out.Updated = []string{}
	}
	_, err = s.ledger.AppendAudit(ctx, user, archive.ActionTenantsImported, "tenants", map[string]any{
		"file": name, "added": out.Added, "updated": out.Updated, "row_errors": len(out.Errors),
		"registry_version": res.RegistryVersion,
	})
	return out, err
}

func (s *Server) tenantsImportForm(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.renderTenants(w, r, http.StatusBadRequest, nil, "could not read the upload: "+err.Error())
		return
	}
	f, hdr, err := r.FormFile("csv")
	if err != nil {
		s.renderTenants(w, r, http.StatusBadRequest, nil, "choose the CSV file exported from Partner Center (Customers, Export customers)")
		return
	}
	defer f.Close()
	name := safeFilename(path.Base(hdr.Filename))
	res, err := s.importTenants(r.Context(), f, name, actor(r))
	if err != nil {
		s.importError(w, r, err)
		return
	}
	s.redirectWith(w, r, "/tenants", res)
}

func (s *Server) apiTenantsImport(w http.ResponseWriter, r *http.Request) {
	name := safeFilename(strings.TrimSpace(r.URL.Query().Get("name")))
	if r.URL.Query().Get("name") == "" {
		name = "upload.csv"
	}
	res, err := s.importTenants(r.Context(), http.MaxBytesReader(w, r.Body, maxUploadBytes), name, actor(r))
	if err != nil {
		s.importError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// importError answers for a failed import: an unreadable file is the
// user's to fix (the ledger's message says how), storage trouble is not.
func (s *Server) importError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, archive.ErrUnavailable) {
		s.internal(w, r, err)
		return
	}
	var tooBig *http.MaxBytesError
	msg := userMessage(err)
	if errors.As(err, &tooBig) {
		msg = "the file is larger than 32 MB; a customer list is far smaller, so check it is the right file"
	}
	if isAPI(r) {
		s.apiError(w, http.StatusBadRequest, msg)
		return
	}
	s.renderTenants(w, r, http.StatusBadRequest, nil, msg)
}
