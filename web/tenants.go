package web

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

type tenantsView struct {
	tenantList
	Import *importResult
	// NextURL links the following page, empty on the last.
	NextURL string
}

// A page of the registry holds defaultTenants tenants unless ?limit= asks
// for up to maxTenants.
const (
	defaultTenants = 100
	maxTenants     = 1000
)

// tenantKey orders the registry as the pages show it by default: by name
// regardless of case, then by ID.
func tenantKey(t rules.Tenant) string { return strings.ToLower(t.Name) + "\x00" + t.ID }

// tenantList is one page of the registry and its query.
type tenantList struct {
	Tenants []rules.Tenant
	pageInfo
	Q, Sort string
}

// tenantsPageOf returns the page p asks for of the registry, or of the
// tenants ?q= selects, in the order ?sort= asks for. The registry is read
// whole: it is the partner's customers, not the years of mail. A tenants
// cursor is the sort and the key of the last tenant of the previous page.
func (s *Server) tenantsPageOf(ctx context.Context, q url.Values, p pageReq) (tenantList, error) {
	out := tenantList{Q: strings.TrimSpace(q.Get("q"))}
	var err error
	if out.Sort, err = parseSort(q, tenantSorts...); err != nil {
		return out, err
	}
	search, err := parseSearchParam(q)
	if err != nil {
		return out, err
	}
	var tenants []rules.Tenant
	if search != nil {
		tenants, err = s.ledger.SearchTenants(ctx, *search)
	} else {
		tenants, err = s.ledger.Tenants(ctx)
	}
	if err != nil {
		return out, err
	}
	sortTenants(tenants, out.Sort)
	key := tenantSortKey(out.Sort)
	out.Total = len(tenants)
	from := 0
	if p.Cursor != "" {
		c, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		sort, after, ok := strings.Cut(string(c), "\x01")
		if err != nil || !ok || sort != out.Sort {
			return out, badRequest("cursor is not one this server gave for sort=%s: copy the \"next\" of the previous page", out.Sort)
		}
		from = len(tenants)
		for i, t := range tenants {
			if c := strings.Compare(key(t), after); (out.Sort == "-name" && c < 0) || (out.Sort != "-name" && c > 0) {
				from = i
				break
			}
		}
	}
	page := tenants[from:]
	if len(page) > p.Limit {
		page = page[:p.Limit]
		out.Next = base64.RawURLEncoding.EncodeToString([]byte(out.Sort + "\x01" + key(page[len(page)-1])))
	}
	out.Tenants = page
	return out, nil
}

// importResult is the outcome of a CSV import as the page and API show it.
type importResult struct {
	File    string   `json:"file"`
	Added   []string `json:"added"`
	Updated []string `json:"updated"`
	Errors  []string `json:"errors"`
}

func (s *Server) tenantsPage(w http.ResponseWriter, r *http.Request) {
	var res *importResult
	if !s.shown(r, &res) {
		res = nil
	}
	s.renderTenants(w, r, http.StatusOK, res, "")
}

func (s *Server) renderTenants(w http.ResponseWriter, r *http.Request, status int, res *importResult, errMsg string) {
	q := r.URL.Query()
	p, err := parsePage(q, defaultTenants, maxTenants)
	if err != nil {
		s.requestFailed(w, r, "tenant", err)
		return
	}
	list, err := s.tenantsPageOf(r.Context(), q, p)
	if err != nil {
		s.requestFailed(w, r, "tenant", err)
		return
	}
	v := tenantsView{tenantList: list, Import: res}
	if list.Next != "" {
		v.NextURL = nextURL("/tenants", q, list.Next)
	}
	s.render(w, r, status, "tenants", page0{Title: "Tenants", Nav: "tenants", Error: errMsg, Query: list.Q}, v)
}

func (s *Server) apiTenants(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := parsePage(q, defaultTenants, maxTenants)
	if err != nil {
		s.requestFailed(w, r, "tenant", err)
		return
	}
	list, err := s.tenantsPageOf(r.Context(), q, p)
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
	out := make([]tenant, len(list.Tenants))
	for i, t := range list.Tenants {
		out[i] = tenant{ID: t.ID, Name: t.Name, CSP: t.CSP, Domains: t.Domains}
		if admin {
			out[i].Source = t.Source
		}
		if out[i].Domains == nil {
			out[i].Domains = []string{}
		}
	}
	writeJSON(w, http.StatusOK, list.put(map[string]any{"tenants": out}))
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
