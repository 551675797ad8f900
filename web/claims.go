package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

// soonDays is how close a deadline must be to stand out.
const soonDays = 7

// claimRow is one line of the claims list.
type claimRow struct {
	ID          int64          `json:"id"`
	TenantID    string         `json:"tenant_id"`
	TenantName  string         `json:"tenant_name"`
	IncidentID  string         `json:"incident_id"`
	Service     string         `json:"service"`
	Status      archive.Status `json:"status"`
	Deadline    time.Time      `json:"deadline,omitzero"`
	Provisional bool           `json:"deadline_provisional"`
	// DaysLeft counts whole days to the deadline; negative when it passed.
	DaysLeft int `json:"days_left"`
	// Urgency is "overdue" or "soon" for claims still to be submitted.
	Urgency  string `json:"urgency,omitempty"`
	Present  int    `json:"checklist_present"`
	Total    int    `json:"checklist_total"`
	Evidence int    `json:"evidence"`
}

// pending reports whether a claim still has to go to Microsoft, so its
// deadline matters.
func pending(s archive.Status) bool { return s == archive.StatusOpen || s == archive.StatusReady }

func daysLeft(deadline, now time.Time) int {
	return int(math.Floor(deadline.Sub(now).Hours() / 24))
}

func urgency(status archive.Status, deadline, now time.Time) string {
	if !pending(status) || deadline.IsZero() {
		return ""
	}
	switch {
	case !now.Before(deadline):
		return "overdue"
	case deadline.Sub(now) <= soonDays*24*time.Hour:
		return "soon"
	}
	return ""
}

// serviceName names the service of an incident ID by its prefix.
func (s *Server) serviceName(incident string) string {
	i := strings.IndexFunc(incident, func(r rune) bool { return r >= '0' && r <= '9' })
	if i <= 0 {
		return ""
	}
	prefix := incident[:i]
	if n, ok := s.rules.IncidentPrefixes[prefix]; ok {
		return n
	}
	return rules.DefaultIncidentPrefixes()[prefix]
}

// claimFilter is the claims list's query: ?status=&tenant=&sort=.
type claimFilter struct {
	Status string
	Tenant string
	Sort   string // "deadline" (default), "-deadline", "updated", "incident"
}

func parseClaimFilter(q url.Values) claimFilter {
	f := claimFilter{Status: q.Get("status"), Tenant: strings.ToLower(strings.TrimSpace(q.Get("tenant"))), Sort: q.Get("sort")}
	switch f.Sort {
	case "-deadline", "updated", "incident":
	default:
		f.Sort = "deadline"
	}
	return f
}

// allStatuses in lifecycle order.
var allStatuses = []archive.Status{archive.StatusOpen, archive.StatusReady, archive.StatusSubmitted,
	archive.StatusApproved, archive.StatusDenied, archive.StatusExpired}

func validStatus(s string) bool { return slices.Contains(allStatuses, archive.Status(s)) }

// claimRows lists the claims f selects with their checklist counts.
func (s *Server) claimRows(ctx context.Context, f claimFilter) ([]claimRow, error) {
	var statuses []archive.Status
	if f.Status != "" {
		if !validStatus(f.Status) {
			return nil, badRequest("status %q is not one of open, ready, submitted, approved, denied, expired", f.Status)
		}
		statuses = append(statuses, archive.Status(f.Status))
	}
	list, err := s.ledger.Claims(ctx, statuses...)
	if err != nil {
		return nil, err
	}
	now := s.now()
	rows := make([]claimRow, 0, len(list))
	for _, c := range list {
		if f.Tenant != "" && c.TenantID != f.Tenant {
			continue
		}
		full, err := s.ledger.Claim(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		row := claimRow{
			ID: c.ID, TenantID: c.TenantID, TenantName: full.TenantName, IncidentID: c.IncidentID,
			Service: s.serviceName(c.IncidentID), Status: c.Status, Deadline: c.Deadline,
			Provisional: c.DeadlineProvisional, Evidence: c.EvidenceCount, Total: len(full.Checklist),
			Urgency: urgency(c.Status, c.Deadline, now),
		}
		if !c.Deadline.IsZero() {
			row.DaysLeft = daysLeft(c.Deadline, now)
		}
		for _, it := range full.Checklist {
			if it.Present {
				row.Present++
			}
		}
		rows = append(rows, row)
	}
	switch f.Sort {
	case "-deadline":
		slices.Reverse(rows) // the ledger lists soonest first
	case "updated":
		updated := map[int64]time.Time{}
		for _, c := range list {
			updated[c.ID] = c.UpdatedAt
		}
		slices.SortStableFunc(rows, func(a, b claimRow) int { return updated[b.ID].Compare(updated[a.ID]) })
	case "incident":
		slices.SortStableFunc(rows, func(a, b claimRow) int {
			return cmp.Or(cmp.Compare(a.IncidentID, b.IncidentID), cmp.Compare(a.TenantName, b.TenantName))
		})
	}
	return rows, nil
}

type claimsView struct {
	Rows     []claimRow
	Filter   claimFilter
	Statuses []archive.Status
	Tenants  []rules.Tenant
	Overdue  int
	Soon     int
}

func (s *Server) claimsPage(w http.ResponseWriter, r *http.Request) {
	f := parseClaimFilter(r.URL.Query())
	rows, err := s.claimRows(r.Context(), f)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	tenants, err := s.ledger.Tenants(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v := claimsView{Rows: rows, Filter: f, Statuses: allStatuses, Tenants: tenants}
	for _, row := range rows {
		switch row.Urgency {
		case "overdue":
			v.Overdue++
		case "soon":
			v.Soon++
		}
	}
	s.render(w, r, http.StatusOK, "claims", page0{Title: "Claims", Nav: "claims"}, v)
}

func (s *Server) apiClaims(w http.ResponseWriter, r *http.Request) {
	rows, err := s.claimRows(r.Context(), parseClaimFilter(r.URL.Query()))
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"claims": rows})
}

// editable maps the checklist items an analyst fills in to their fields.
var editable = map[string]archive.Field{
	archive.ItemCSP:              archive.FieldCSP,
	archive.ItemDowntimeStart:    archive.FieldDowntimeStart,
	archive.ItemDowntimeDuration: archive.FieldDowntimeDuration,
	archive.ItemAffectedUsers:    archive.FieldAffectedUsers,
	archive.ItemLocations:        archive.FieldLocations,
	archive.ItemResolution:       archive.FieldResolution,
	archive.ItemTicket:           archive.FieldTicket,
}

// knownFields are the fields the API and the forms accept.
var knownFields = []archive.Field{archive.FieldIncidentStart, archive.FieldAzure, archive.FieldCSP,
	archive.FieldDowntimeStart, archive.FieldDowntimeDuration, archive.FieldAffectedUsers,
	archive.FieldLocations, archive.FieldResolution, archive.FieldTicket}

func itemLabel(item string) string {
	switch item {
	case archive.ItemTenantID:
		return "Customer tenant ID"
	case archive.ItemIncidentID:
		return "Incident ID"
	case archive.ItemCustomerEmail:
		return "Email from the customer"
	case archive.ItemCSP:
		return "Bought through CSP"
	case archive.ItemDowntimeStart:
		return "Downtime start (UTC)"
	case archive.ItemDowntimeDuration:
		return "Downtime duration"
	case archive.ItemAffectedUsers:
		return "Affected users"
	case archive.ItemLocations:
		return "Affected locations"
	case archive.ItemResolution:
		return "What was done to resolve it"
	case archive.ItemTicket:
		return "Support ticket number"
	case string(archive.FieldIncidentStart):
		return "Incident start (UTC)"
	case string(archive.FieldAzure):
		return "Azure service"
	}
	return item
}

func fieldHint(item string) string {
	switch item {
	case archive.ItemCustomerEmail:
		return "accepted mail from the tenant's domain, stored as a bundle; comes from the mailbox"
	case archive.ItemDowntimeStart, string(archive.FieldIncidentStart):
		return "e.g. 2026-02-15T09:30"
	case archive.ItemDowntimeDuration:
		return "e.g. 4h30m"
	case archive.ItemAffectedUsers:
		return "a whole number, e.g. 120"
	case archive.ItemLocations:
		return "e.g. Prague, Brno"
	case archive.ItemTicket:
		return "your support ticket, e.g. 2602150040001234"
	}
	return ""
}

// itemView is one checklist line of the claim page.
type itemView struct {
	archive.ChecklistItem
	Field string // the field to post, when an analyst can set it
	Input string // "text", "textarea", "yesno", "datetime", "number"
}

func inputFor(f archive.Field) string {
	switch f {
	case archive.FieldCSP, archive.FieldAzure:
		return "yesno"
	case archive.FieldDowntimeStart, archive.FieldIncidentStart:
		return "datetime"
	case archive.FieldAffectedUsers:
		return "number"
	case archive.FieldResolution:
		return "textarea"
	}
	return "text"
}

// evidenceView is one evidence line of the claim page.
type evidenceView struct {
	archive.Evidence
	Verdict        rules.Verdict
	Reason         rules.Reason
	Authentication rules.Authentication
	Warnings       []string
	Stored         bool
}

type claimView struct {
	Claim    *archive.Claim
	Row      claimRow
	Items    []itemView
	Deadline []itemView // incident start and Azure: they set the deadline
	Evidence []evidenceView
	Details  string
	Next     []archive.Status
	Audit    []auditRow
	// Form holds a rejected value to show again, with its field.
	FormField string
	FormValue string
}

// nextStatuses are the changes an analyst may make from each status; the
// ledger enforces them, the page only offers them.
var nextStatuses = map[archive.Status][]archive.Status{
	archive.StatusOpen:      {archive.StatusExpired},
	archive.StatusReady:     {archive.StatusSubmitted, archive.StatusExpired},
	archive.StatusSubmitted: {archive.StatusApproved, archive.StatusDenied},
}

func claimID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("claim ID %q is not a positive number", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) loadClaimView(ctx context.Context, id int64) (*claimView, error) {
	c, err := s.ledger.Claim(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	v := &claimView{Claim: c, Details: archive.ClaimDetails(c), Next: nextStatuses[c.Status]}
	v.Row = claimRow{ID: c.ID, TenantID: c.TenantID, TenantName: c.TenantName, IncidentID: c.IncidentID,
		Service: s.serviceName(c.IncidentID), Status: c.Status, Deadline: c.Deadline, Provisional: c.DeadlineProvisional,
		Evidence: len(c.Evidence), Total: len(c.Checklist), Urgency: urgency(c.Status, c.Deadline, now)}
	if !c.Deadline.IsZero() {
		v.Row.DaysLeft = daysLeft(c.Deadline, now)
	}
	for _, it := range c.Checklist {
		if it.Present {
			v.Row.Present++
		}
		iv := itemView{ChecklistItem: it}
		if f, ok := editable[it.Item]; ok {
			iv.Field, iv.Input = string(f), inputFor(f)
		}
		v.Items = append(v.Items, iv)
	}
	for _, f := range []archive.Field{archive.FieldIncidentStart, archive.FieldAzure} {
		iv := itemView{ChecklistItem: archive.ChecklistItem{Item: string(f)}, Field: string(f), Input: inputFor(f)}
		if fv, ok := c.Fields[f]; ok {
			iv.Present, iv.Value, iv.Source = true, fv.Value, "analyst "+fv.Actor
		}
		v.Deadline = append(v.Deadline, iv)
	}
	for _, e := range c.Evidence {
		ev := evidenceView{Evidence: e, Stored: e.BundleKey != ""}
		m, err := s.ledger.MessageBySHA256(ctx, e.SHA256)
		if err != nil {
			return nil, err
		}
		if m.Judgment != nil {
			ev.Verdict, ev.Reason, ev.Authentication, ev.Warnings = m.Judgment.Verdict, m.Judgment.Reason, m.Judgment.Authentication, m.Judgment.Warnings
		}
		v.Evidence = append(v.Evidence, ev)
	}
	if v.Audit, err = s.claimAudit(ctx, id); err != nil {
		return nil, err
	}
	slices.Reverse(v.Audit) // newest first
	return v, nil
}

func (s *Server) claimPage(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	v, err := s.loadClaimView(r.Context(), id)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "claim", page0{Title: v.Claim.IncidentID + " · " + cmp.Or(v.Claim.TenantName, v.Claim.TenantID), Nav: "claims"}, v)
}

// formValue reads a field's value from a form. A datetime-local input
// gives "2026-02-15T09:30" without a zone; the label says UTC, so it is
// completed as UTC.
func formValue(field archive.Field, v string) string {
	v = strings.TrimSpace(v)
	if inputFor(field) == "datetime" {
		if _, err := time.Parse("2006-01-02T15:04", v); err == nil {
			return v + ":00Z"
		}
		if _, err := time.Parse("2006-01-02T15:04:05", v); err == nil {
			return v + "Z"
		}
	}
	return v
}

func parseField(name string) (archive.Field, error) {
	f := archive.Field(name)
	if !slices.Contains(knownFields, f) {
		names := make([]string, len(knownFields))
		for i, k := range knownFields {
			names[i] = string(k)
		}
		return "", badRequest("unknown field %q; known: %s", name, strings.Join(names, ", "))
	}
	return f, nil
}

func (s *Server) claimFieldsForm(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err == nil {
		err = parseForm(r)
	}
	var field archive.Field
	if err == nil {
		field, err = parseField(r.PostFormValue("field"))
	}
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	value := formValue(field, r.PostFormValue("value"))
	if err := s.ledger.SetClaimField(r.Context(), id, field, value, actor(r)); err != nil {
		s.claimFormError(w, r, id, err, string(field), r.PostFormValue("value"))
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/claims/%d?done=field#checklist", id), http.StatusSeeOther)
}

func (s *Server) claimStatusForm(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err == nil {
		err = parseForm(r)
	}
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	to := r.PostFormValue("status")
	if to == "" {
		s.claimError(w, r, badRequest("choose the claim's new status"))
		return
	}
	if !validStatus(to) {
		s.claimError(w, r, badRequest("status %q is not one of open, ready, submitted, approved, denied, expired", to))
		return
	}
	if err := s.ledger.SetClaimStatus(r.Context(), id, archive.Status(to), actor(r), strings.TrimSpace(r.PostFormValue("note"))); err != nil {
		s.claimFormError(w, r, id, err, "", "")
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/claims/%d?done=status", id), http.StatusSeeOther)
}

// claimFormError shows the claim page again with what was wrong, or
// answers like claimError for what is not the user's to fix.
func (s *Server) claimFormError(w http.ResponseWriter, r *http.Request, id int64, err error, field, value string) {
	status := userErrorStatus(err)
	if status == 0 {
		s.claimError(w, r, err)
		return
	}
	v, lerr := s.loadClaimView(r.Context(), id)
	if lerr != nil {
		s.claimError(w, r, lerr)
		return
	}
	v.FormField, v.FormValue = field, value
	s.render(w, r, status, "claim", page0{Title: v.Claim.IncidentID, Nav: "claims", Error: userMessage(err)}, v)
}

// userError is a request the user can fix; its text says how.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &userError{msg: fmt.Sprintf(format, args...)}
}

// userErrorStatus classifies an error of a change a user asked for: the
// ledger refuses bad values and transitions with plain errors, which are
// the user's to fix (400, 409); it marks what is not (not found,
// unavailable). 0 means not a user error.
func userErrorStatus(err error) int {
	var ue *userError
	switch {
	case errors.As(err, &ue):
		return http.StatusBadRequest
	case errors.Is(err, archive.ErrTransition):
		return http.StatusConflict
	case errors.Is(err, archive.ErrNotFound), errors.Is(err, archive.ErrUnavailable),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return 0
	}
	return http.StatusBadRequest
}

// userMessage drops the package prefix from an error meant for a user.
func userMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "archive: ")
	if i := strings.Index(msg, ": "); i > 0 && strings.HasPrefix(msg, "claim ") {
		if _, err := strconv.Atoi(strings.Fields(msg[:i])[1]); err == nil {
			msg = msg[i+2:]
		}
	}
	return msg
}

// claimError answers for an error of a claim request.
func (s *Server) claimError(w http.ResponseWriter, r *http.Request, err error) {
	s.requestFailed(w, r, "claim", err)
}

func (s *Server) apiClaim(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	s.writeClaim(w, r, id, http.StatusOK)
}

func (s *Server) writeClaim(w http.ResponseWriter, r *http.Request, id int64, status int) {
	c, err := s.ledger.Claim(r.Context(), id)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	out := struct {
		*archive.Claim
		Service  string           `json:"service"`
		DaysLeft *int             `json:"days_left"`
		Urgency  string           `json:"urgency,omitempty"`
		Ready    bool             `json:"ready"`
		Missing  []string         `json:"missing"`
		Details  string           `json:"details"`
		Next     []archive.Status `json:"next_statuses"`
	}{Claim: c, Service: s.serviceName(c.IncidentID), Urgency: urgency(c.Status, c.Deadline, s.now()),
		Ready: c.Ready(), Missing: c.Missing(), Details: archive.ClaimDetails(c), Next: nextStatuses[c.Status]}
	if !c.Deadline.IsZero() {
		d := daysLeft(c.Deadline, s.now())
		out.DaysLeft = &d
	}
	if out.Missing == nil {
		out.Missing = []string{}
	}
	if out.Next == nil {
		out.Next = []archive.Status{}
	}
	writeJSON(w, status, out)
}

// patchClaim is the body of PATCH /api/v1/claims/{id}.
type patchClaim struct {
	Fields map[string]string `json:"fields"`
}

func (s *Server) apiPatchClaim(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	var body patchClaim
	if err := readJSON(r, &body); err != nil {
		s.apiError(w, http.StatusBadRequest, err.Error()+`; send {"fields": {"ticket": "2602150040001234"}}`)
		return
	}
	if len(body.Fields) == 0 {
		s.apiError(w, http.StatusBadRequest, `no fields; send {"fields": {"ticket": "2602150040001234"}}`)
		return
	}
	// Check every name before changing anything; values are checked by
	// the ledger, field by field, in a fixed order.
	names := make([]string, 0, len(body.Fields))
	for name := range body.Fields {
		if _, err := parseField(name); err != nil {
			s.claimError(w, r, err)
			return
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := s.ledger.SetClaimField(r.Context(), id, archive.Field(name), body.Fields[name], actor(r)); err != nil {
			if st := userErrorStatus(err); st != 0 {
				s.apiError(w, st, userMessage(err))
				return
			}
			s.claimError(w, r, err)
			return
		}
	}
	s.writeClaim(w, r, id, http.StatusOK)
}

// statusChange is the body of POST /api/v1/claims/{id}/status.
type statusChange struct {
	Status string `json:"status"`
	Note   string `json:"note"`
}

func (s *Server) apiClaimStatus(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	var body statusChange
	if err := readJSON(r, &body); err != nil {
		s.apiError(w, http.StatusBadRequest, err.Error()+`; send {"status": "submitted", "note": "..."}`)
		return
	}
	if !validStatus(body.Status) {
		s.apiError(w, http.StatusBadRequest, fmt.Sprintf("status %q is not one of open, ready, submitted, approved, denied, expired", body.Status))
		return
	}
	if err := s.ledger.SetClaimStatus(r.Context(), id, archive.Status(body.Status), actor(r), strings.TrimSpace(body.Note)); err != nil {
		if st := userErrorStatus(err); st != 0 {
			s.apiError(w, st, userMessage(err))
			return
		}
		s.claimError(w, r, err)
		return
	}
	s.writeClaim(w, r, id, http.StatusOK)
}

func (s *Server) apiClaimDetails(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	c, err := s.ledger.Claim(r.Context(), id)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(archive.ClaimDetails(c)))
}

func (s *Server) apiClaimAudit(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	rows, err := s.claimAudit(r.Context(), id)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": rows})
}
