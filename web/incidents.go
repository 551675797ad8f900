package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
)

// The incident pages: the incidents claims exist for, and one incident's
// claims across tenants, with the one request Partner Center takes when
// many customers are affected (claims.OneRequest).

// Incident list pages: 50 incidents by default, at most 200; an
// incident's claims 100 by default, at most 500.
const (
	incidentPageDefault = 50
	incidentPageMax     = archive.MaxIncidentPage
	incidentClaimsPage  = 100
)

// incidentRow is one incident of the incident list, and the head of its
// page.
type incidentRow struct {
	ID string `json:"id"`
	// Service names the service by the ID's prefix (rules), Title and
	// Classification are Microsoft's record's, when there is one.
	Service        string                `json:"service"`
	Title          string                `json:"title,omitempty"`
	Classification claims.Classification `json:"classification,omitempty"`
	// Claims counts its claims, one per tenant, ByStatus by status.
	Claims   int                   `json:"claims"`
	ByStatus map[claims.Status]int `json:"by_status"`
	// Fileable counts the claims that can still be filed, Filed the others
	// (submitted, decided or expired), Ready those of
	// them ready to file and NotReady the others; Ineligible those of them
	// Microsoft's record rules out; Overdue and Soon the eligible ones
	// whose deadline passed or is near.
	Fileable   int `json:"fileable"`
	Filed      int `json:"filed"`
	Ready      int `json:"ready"`
	NotReady   int `json:"not_ready"`
	Ineligible int `json:"ineligible"`
	Overdue    int `json:"overdue"`
	Soon       int `json:"soon"`
	// OpenDeadline is the soonest deadline of its eligible claims still to
	// be filed; DaysLeft and Urgency count to it as the claims list does.
	OpenDeadline time.Time `json:"open_deadline,omitzero"`
	DaysLeft     *int      `json:"days_left"`
	Urgency      string    `json:"urgency,omitempty"`
	OpenedAt     time.Time `json:"opened_at"`
	// OneRequest says its claims still to be filed go to Microsoft as one
	// request listing every tenant (claims.OneRequest).
	OneRequest bool `json:"one_request"`
}

func (s *Server) incidentRow(sum archive.IncidentSummary, now time.Time) incidentRow {
	row := incidentRow{ID: sum.ID, Service: s.serviceName(sum.ID), Claims: sum.Claims, ByStatus: sum.ByStatus,
		Fileable: sum.Fileable, Ready: sum.ByStatus[claims.StatusReady], Ineligible: sum.Fileable - sum.Eligible,
		Overdue: sum.Overdue, Soon: sum.Soon, OpenDeadline: sum.OpenDeadline, OpenedAt: sum.OpenedAt,
		OneRequest: claims.OneRequest(sum.Fileable)}
	row.NotReady, row.Filed = row.Fileable-row.Ready, row.Claims-row.Fileable
	if inc := sum.Incident; inc != nil {
		row.Title, row.Classification = inc.Title, inc.Classification
	}
	// The open deadline is an eligible claim's still to be filed: it
	// counts as that claim's does.
	d, ok, urgency := claims.Countdown(claims.StatusOpen, true, row.OpenDeadline, now)
	row.Urgency = urgency
	if ok {
		row.DaysLeft = &d
	}
	return row
}

// parseIncidentSort reads the incident list's ?sort=deadline|newest.
func parseIncidentSort(q url.Values) (archive.IncidentSort, error) {
	switch v := strings.TrimSpace(q.Get("sort")); v {
	case "", string(archive.IncidentSortDeadline):
		return archive.IncidentSortDeadline, nil
	case string(archive.IncidentSortNewest):
		return archive.IncidentSortNewest, nil
	default:
		return "", badRequest("sort=%q is not deadline or newest", v)
	}
}

// incidentRows returns the page p of the incident list in sort's order.
func (s *Server) incidentRows(ctx context.Context, sort archive.IncidentSort, p pageReq) ([]incidentRow, pageInfo, error) {
	now := s.now()
	page, err := s.ledger.IncidentList(ctx, archive.IncidentQuery{Sort: sort, Cursor: p.Cursor, Limit: p.Limit, Now: now})
	if errors.Is(err, archive.ErrBadCursor) {
		return nil, pageInfo{}, badRequest("%s", archive.ErrBadCursor.Error())
	}
	if err != nil {
		return nil, pageInfo{}, err
	}
	rows := make([]incidentRow, 0, len(page.Incidents))
	for _, sum := range page.Incidents {
		rows = append(rows, s.incidentRow(sum, now))
	}
	return rows, pageInfo{Next: page.Next, Total: page.Total}, nil
}

type incidentsView struct {
	Rows  []incidentRow
	Sort  archive.IncidentSort
	Total int
	Next  string
}

// incidentListPage reads the page of the incident list r asks for.
func (s *Server) incidentListPage(r *http.Request) (archive.IncidentSort, []incidentRow, pageInfo, error) {
	q := r.URL.Query()
	sort, err := parseIncidentSort(q)
	if err != nil {
		return sort, nil, pageInfo{}, err
	}
	p, err := parsePage(q, incidentPageDefault, incidentPageMax)
	if err != nil {
		return sort, nil, pageInfo{}, err
	}
	rows, info, err := s.incidentRows(r.Context(), sort, p)
	return sort, rows, info, err
}

func (s *Server) incidentsPage(w http.ResponseWriter, r *http.Request) {
	sort, rows, info, err := s.incidentListPage(r)
	if err != nil {
		s.incidentError(w, r, err)
		return
	}
	q := r.URL.Query()
	v := incidentsView{Rows: rows, Sort: sort, Total: info.Total}
	if info.Next != "" {
		v.Next = nextURL("/incidents", q, info.Next)
	}
	s.render(w, r, http.StatusOK, "incidents", page0{Title: "Incidents", Nav: "incidents"}, v)
}

func (s *Server) apiIncidents(w http.ResponseWriter, r *http.Request) {
	_, rows, info, err := s.incidentListPage(r)
	if err != nil {
		s.incidentError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info.put(map[string]any{"incidents": rows}))
}

// incidentID reads the path's incident ID by the one grammar (rules).
func incidentID(r *http.Request) (string, error) {
	id, err := rules.ParseIncidentID(r.PathValue("id"))
	if err != nil {
		return "", badRequest("%v", err)
	}
	return id, nil
}

// incidentError answers for an error of an incident request.
func (s *Server) incidentError(w http.ResponseWriter, r *http.Request, err error) {
	s.requestFailed(w, r, "incident: no claim exists for it", err)
}

// incidentClaimRow is one tenant's claim on the incident page: the claims
// list's row and the checklist items it lacks.
type incidentClaimRow struct {
	claimRow
	// Ready is claims.Claim.Ready; Missing names the checklist items not
	// present (claims.Claim.Missing).
	Ready   bool     `json:"ready"`
	Missing []string `json:"missing"`
}

// incidentView is the incident page and its API answer.
type incidentView struct {
	Incident incidentRow
	// Facts is Microsoft's record of the incident, nil when there is none.
	Facts *claims.Incident
	Rows  []incidentClaimRow
	Next  string // the next page of claims: a link on the page, a cursor in the API
	Total int
	// Lacking is what the claims still to be filed lack together.
	Lacking []claims.Lack
	// Request is the one request's Details text, when the claims go as one
	// (Incident.OneRequest).
	Request string
}

// loadIncidentView reads incident id's summary, the page p of its claims
// and, over every claim of it still to be filed, what they lack and, when
// they go as one request, its text.
func (s *Server) loadIncidentView(ctx context.Context, id string, p pageReq, withRequest bool) (*incidentView, error) {
	now := s.now()
	sum, err := s.ledger.Incident(ctx, id, now)
	if err != nil {
		return nil, err
	}
	v := &incidentView{Incident: s.incidentRow(sum, now), Facts: sum.Incident}
	page, err := s.ledger.ClaimList(ctx, archive.ClaimQuery{ClaimFilter: archive.ClaimFilter{IncidentID: id},
		Cursor: p.Cursor, Limit: p.Limit})
	if errors.Is(err, archive.ErrBadCursor) {
		return nil, badRequest("%s", archive.ErrBadCursor.Error())
	}
	if err != nil {
		return nil, err
	}
	v.Next, v.Total = page.Next, page.Total
	for _, c := range page.Claims {
		row := incidentClaimRow{claimRow: claimRow{
			ID: c.ID, TenantID: c.TenantID, TenantName: c.TenantName, IncidentID: c.IncidentID,
			Service: v.Incident.Service, Status: c.Status, Deadline: c.Deadline,
			Provisional: c.DeadlineProvisional, Evidence: c.EvidenceCount, Late: c.LateEvidence,
			Total: len(c.Checklist), Present: c.Present(), Eligible: c.Eligible, IneligibleWhy: c.IneligibleWhy,
		}, Ready: c.Ready(), Missing: c.Missing()}
		row.schedule(now)
		if row.Missing == nil {
			row.Missing = []string{}
		}
		v.Rows = append(v.Rows, row)
	}

	var short claims.Shortfall
	var req []claims.RequestClaim
	fileable := archive.ClaimFilter{IncidentID: id, Statuses: claims.FileableStatuses()}
	for c, err := range s.ledger.AllClaims(ctx, archive.ClaimQuery{ClaimFilter: fileable}) {
		if err != nil {
			return nil, err
		}
		short.Add(c.Claim)
		if withRequest && v.Incident.OneRequest {
			req = append(req, claims.RequestClaim{Claim: c.Claim, Evidence: c.EvidenceCount})
		}
	}
	v.Lacking = short.Lacking()
	if withRequest && v.Incident.OneRequest {
		v.Request = claims.IncidentRequest(id, sum.Incident, req)
	}
	return v, nil
}

// incidentPageView reads the incident r names and the page of its claims
// r asks for; withRequest adds the one request's text.
func (s *Server) incidentPageView(r *http.Request, withRequest bool) (string, *incidentView, error) {
	id, err := incidentID(r)
	if err != nil {
		return id, nil, err
	}
	p, err := parsePage(r.URL.Query(), incidentClaimsPage, archive.MaxClaimPage)
	if err != nil {
		return id, nil, err
	}
	v, err := s.loadIncidentView(r.Context(), id, p, withRequest)
	return id, v, err
}

func (s *Server) incidentPage(w http.ResponseWriter, r *http.Request) {
	id, v, err := s.incidentPageView(r, true)
	if err != nil {
		s.incidentError(w, r, err)
		return
	}
	if v.Next != "" {
		v.Next = nextURL("/incidents/"+id, r.URL.Query(), v.Next)
	}
	s.render(w, r, http.StatusOK, "incident", page0{Title: id, Nav: "incidents"}, v)
}

func (s *Server) apiIncident(w http.ResponseWriter, r *http.Request) {
	id, v, err := s.incidentPageView(r, false)
	if err != nil {
		s.incidentError(w, r, err)
		return
	}
	out := map[string]any{"incident": v.Incident, "facts": v.Facts, "claims": v.Rows, "lacking": v.Lacking}
	if v.Rows == nil {
		out["claims"] = []incidentClaimRow{}
	}
	if v.Incident.OneRequest {
		out["request_details"] = "/api/v1/incidents/" + id + "/details"
		out["request_package"] = "/api/v1/incidents/" + id + "/package"
	}
	writeJSON(w, http.StatusOK, pageInfo{Next: v.Next, Total: v.Total}.put(out))
}

// apiIncidentDetails writes the one request's Details text for the
// incident's claims still to be filed, streamed from the ledger.
func (s *Server) apiIncidentDetails(w http.ResponseWriter, r *http.Request) {
	id, err := incidentID(r)
	if err != nil {
		s.incidentError(w, r, err)
		return
	}
	sum, err := s.ledger.Incident(r.Context(), id, s.now())
	if err != nil {
		s.incidentError(w, r, err)
		return
	}
	if sum.Fileable == 0 {
		s.fail(w, r, http.StatusConflict, fmt.Sprintf("no claim of %s can still be filed: there is nothing to request", id))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fileable := archive.ClaimFilter{IncidentID: id, Statuses: claims.FileableStatuses()}
	err = claims.WriteIncidentRequest(w, id, sum.Incident, sum.Fileable, func(yield func(claims.RequestClaim, error) bool) {
		for c, err := range s.ledger.AllClaims(r.Context(), archive.ClaimQuery{ClaimFilter: fileable}) {
			if !yield(claims.RequestClaim{Claim: c.Claim, Evidence: c.EvidenceCount}, err) || err != nil {
				return
			}
		}
	})
	if err != nil {
		s.log.Warn("web: incident details interrupted", "incident", id, "user", actor(r), "err", err)
		panic(http.ErrAbortHandler) // the client must not take a cut text for the whole
	}
}

// headerWriter sets a download's headers on its first write, so that an
// error before any byte can still be answered with a status.
type headerWriter struct {
	w       http.ResponseWriter
	headers func()
	wrote   bool
}

func (h *headerWriter) Write(p []byte) (int, error) {
	if !h.wrote {
		h.headers()
		h.wrote = true
	}
	return h.w.Write(p)
}

// incidentPackage streams the one request's package for the incident's
// claims still to be filed (archive.Ledger.WriteIncidentPackage). It is
// not spooled: it may hold hundreds of claims' evidence. A failure before
// the first byte is answered as an error; a later one aborts the
// response, so that the client sees a broken download, not a short ZIP.
func (s *Server) incidentPackage(w http.ResponseWriter, r *http.Request) {
	id, err := incidentID(r)
	if err != nil {
		s.incidentError(w, r, err)
		return
	}
	hw := &headerWriter{w: w, headers: func() {
		attachmentHeaders(w, safeFilename(fmt.Sprintf("incident-%s-request.zip", id)), "application/zip", -1)
	}}
	err = s.ledger.WriteIncidentPackage(r.Context(), hw, id, s.store, actor(r), s.now())
	switch {
	case err == nil:
	case hw.wrote:
		s.log.Warn("web: incident package interrupted", "incident", id, "user", actor(r), "err", err)
		panic(http.ErrAbortHandler)
	case errors.Is(err, archive.ErrNothingToFile):
		s.fail(w, r, http.StatusConflict, fmt.Sprintf("no claim of %s can still be filed: there is nothing to request", id))
	case strings.Contains(err.Error(), "no stored bundle yet"):
		s.fail(w, r, http.StatusConflict, userMessage(err))
	default:
		s.incidentError(w, r, err)
	}
}
