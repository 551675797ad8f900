package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

// claimRow is one line of the claims list.
type claimRow struct {
	ID          int64         `json:"id"`
	TenantID    string        `json:"tenant_id"`
	TenantName  string        `json:"tenant_name"`
	IncidentID  string        `json:"incident_id"`
	Service     string        `json:"service"`
	Status      claims.Status `json:"status"`
	Deadline    time.Time     `json:"deadline,omitzero"`
	Provisional bool          `json:"deadline_provisional"`
	// DaysLeft counts whole days to the deadline, negative when it passed;
	// null when the claim can no longer be filed (its status says why) or
	// has no deadline yet (claims.DaysLeft).
	DaysLeft *int `json:"days_left"`
	// Urgency is "overdue" or "soon" for eligible claims still to be
	// submitted (claims.Countdown).
	Urgency string `json:"urgency,omitempty"`
	// Eligible is false when Microsoft's record rules a credit out;
	// IneligibleWhy then says why ("advisory", claims.Eligibility).
	Eligible      bool   `json:"eligible"`
	IneligibleWhy string `json:"ineligible_why,omitempty"`
	Present       int    `json:"checklist_present"`
	Total         int    `json:"checklist_total"`
	Evidence      int    `json:"evidence"`
	// Late counts evidence that arrived after the claim was submitted.
	Late int `json:"late_evidence"`
}

// schedule fills the row's deadline figures from the claims package:
// none for a claim that is not eligible (claims.Countdown).
func (row *claimRow) schedule(now time.Time) {
	d, ok, urgency := claims.Countdown(row.Status, row.Eligible, row.Deadline, now)
	row.Urgency = urgency
	if ok {
		row.DaysLeft = &d
	}
}

// serviceName names the service of an incident ID by its prefix, with the
// configured incident_prefixes (rules.Policy.Service).
func (s *Server) serviceName(incident string) string { return s.vocab.Service(incident) }

// claimFilter is the claims list's query: ?status=&tenant=&eligible=&q=&sort=.
type claimFilter struct {
	Status   string
	Tenant   string
	Eligible string // "yes", "no", or "" for both
	Q        string // a search (archive.ParseSearch)
	Sort     string // one of claimSorts; ledgerFilter refuses others
}

// claimSorts are the claims list's sorts (archive.ClaimSort), the default
// first.
var claimSorts = []string{string(archive.SortDeadline), string(archive.SortDeadlineDesc), string(archive.SortUpdated), string(archive.SortIncident)}

func parseClaimFilter(q url.Values) claimFilter {
	f := claimFilter{Status: q.Get("status"), Tenant: strings.ToLower(strings.TrimSpace(q.Get("tenant"))),
		Eligible: strings.ToLower(strings.TrimSpace(q.Get("eligible"))), Q: strings.TrimSpace(q.Get("q")),
		Sort: strings.TrimSpace(q.Get("sort"))}
	if f.Sort == "" {
		f.Sort = claimSorts[0]
	}
	return f
}

// Claims list pages: 50 claims by default, at most 500.
const (
	claimPageDefault = 50
	claimPageMax     = 500
)

// ledgerFilter is f as the ledger takes it, or an error for the user.
func (f claimFilter) ledgerFilter() (archive.ClaimFilter, error) {
	var lf archive.ClaimFilter
	if !slices.Contains(claimSorts, f.Sort) {
		return lf, badRequest("sort=%q is not one of %s", f.Sort, strings.Join(claimSorts, ", "))
	}
	if f.Q != "" {
		search, err := archive.ParseSearch(f.Q)
		if err != nil {
			return lf, badRequest("q=%q: %v", f.Q, err)
		}
		lf.Search = &search
	}
	if f.Status != "" {
		st, err := claims.ParseStatus(f.Status)
		if err != nil {
			return lf, badRequest("%v", err)
		}
		lf.Statuses = []claims.Status{st}
	}
	switch f.Eligible {
	case "":
	case "yes", "no":
		eligible := f.Eligible == "yes"
		lf.Eligible = &eligible
	default:
		return lf, badRequest("eligible %q is not yes or no", f.Eligible)
	}
	if f.Tenant != "" {
		t, ok := rules.ParseTenantID(f.Tenant)
		if !ok {
			return lf, badRequest("tenant %q is not a tenant ID (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47); see /api/v1/tenants", f.Tenant)
		}
		lf.TenantID = t
	}
	return lf, nil
}

// claimRows returns the page p of the claims f selects, with their
// checklist counts, and the page's cursor and total.
func (s *Server) claimRows(ctx context.Context, f claimFilter, p pageReq) ([]claimRow, pageInfo, error) {
	lf, err := f.ledgerFilter()
	if err != nil {
		return nil, pageInfo{}, err
	}
	page, err := s.ledger.ClaimList(ctx, archive.ClaimQuery{ClaimFilter: lf, Sort: archive.ClaimSort(f.Sort),
		Cursor: p.Cursor, Limit: p.Limit})
	if errors.Is(err, archive.ErrBadCursor) {
		return nil, pageInfo{}, badRequest("%s", archive.ErrBadCursor.Error())
	}
	if err != nil {
		return nil, pageInfo{}, err
	}
	now := s.now()
	rows := make([]claimRow, 0, len(page.Claims))
	for _, c := range page.Claims {
		row := claimRow{
			ID: c.ID, TenantID: c.TenantID, TenantName: c.TenantName, IncidentID: c.IncidentID,
			Service: s.serviceName(c.IncidentID), Status: c.Status, Deadline: c.Deadline,
			Provisional: c.DeadlineProvisional, Evidence: c.EvidenceCount, Late: c.LateEvidence,
			Total: len(c.Checklist), Present: c.Present(),
			Eligible: c.Eligible, IneligibleWhy: c.IneligibleWhy,
		}
		row.schedule(now)
		rows = append(rows, row)
	}
	return rows, pageInfo{Next: page.Next, Total: page.Total}, nil
}

type claimsView struct {
	Rows     []claimRow
	Filter   claimFilter
	Statuses []claims.Status
	Tenants  []rules.Tenant
	// Total counts the claims the filter selects, Overdue, Soon and
	// Ineligible those among them that are overdue, due soon or ruled
	// out by Microsoft's record.
	Total      int
	Overdue    int
	Soon       int
	Ineligible int
	// Next links to the following page; "" on the last.
	Next string
}

func (s *Server) claimsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := parseClaimFilter(q)
	p, err := parsePage(q, claimPageDefault, claimPageMax)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	rows, info, err := s.claimRows(r.Context(), f, p)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	lf, _ := f.ledgerFilter() // claimRows checked it
	tally, err := s.ledger.ClaimTally(r.Context(), lf, s.now())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	tenants, err := s.ledger.Tenants(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v := claimsView{Rows: rows, Filter: f, Statuses: claims.Statuses(), Tenants: tenants,
		Total: tally.Total, Overdue: tally.Overdue, Soon: tally.Soon, Ineligible: tally.Ineligible}
	if info.Next != "" {
		v.Next = nextURL("/claims", q, info.Next)
	}
	s.render(w, r, http.StatusOK, "claims", page0{Title: "Claims", Nav: "claims"}, v)
}

func (s *Server) apiClaims(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := parsePage(q, claimPageDefault, claimPageMax)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	rows, info, err := s.claimRows(r.Context(), parseClaimFilter(q), p)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info.put(map[string]any{"claims": rows}))
}

// itemLabel names a checklist item as the pages do (claims.ItemLabel).
func itemLabel(item string) string { return claims.ItemLabel(item) }

func fieldHint(item string) string {
	switch item {
	case claims.ItemCustomerEmail:
		return "accepted mail from the tenant's domain, stored as a bundle; comes from the mailbox"
	case claims.ItemDowntimeStart, string(claims.FieldIncidentStart):
		return "e.g. 2026-02-15 09:30, 24-hour UTC"
	case claims.ItemDowntimeDuration:
		return "e.g. 4h30m"
	case claims.ItemAffectedUsers:
		return "a whole number, e.g. 120"
	case claims.ItemLocations:
		return "e.g. Prague, Brno"
	case claims.ItemTicket:
		return "your support ticket, e.g. 2602150040001234"
	}
	return ""
}

// itemView is one checklist line of the claim page.
type itemView struct {
	claims.ChecklistItem
	Field string // the field to post, when an analyst can set it
	Input string // "text", "textarea", "yesno", "datetime", "number"
}

func inputFor(f claims.Field) string {
	switch f {
	case claims.FieldCSP, claims.FieldAzure:
		return "yesno"
	case claims.FieldDowntimeStart, claims.FieldIncidentStart:
		return "datetime"
	case claims.FieldAffectedUsers:
		return "number"
	case claims.FieldResolution:
		return "textarea"
	}
	return "text"
}

// evidenceView is one evidence line of the claim page.
type evidenceView struct {
	claims.Evidence
	Verdict        rules.Verdict
	Reason         rules.Reason
	Authentication rules.Authentication
	Warnings       []string
	Stored         bool
}

type claimView struct {
	Claim *claims.Claim
	Row   claimRow
	// Schedule says what the deadline counts from; Ineligible why the
	// claim earns no credit (claims.IneligibleText), NotListed what to do
	// when Graph lists no such incident for the tenant (the
	// incident_listed item's value); both "" when they do not apply.
	Schedule   claims.Schedule
	Ineligible string
	NotListed  string
	Items      []itemView
	Deadline   []itemView // incident start and Azure: they set the deadline
	Evidence   []evidenceView
	Details    string
	Next       []claims.Status
	// Editable says the claim's fields and evidence may change
	// (claims.Editable); NoteNeeded that one of Next needs a note.
	Editable   bool
	NoteNeeded bool
	Audit      []auditRow
	// Form holds a rejected value to show again, with its field.
	FormField string
	FormValue string
	// Confirm asks to confirm a status change the user cannot take back.
	Confirm *statusConfirm
}

// statusConfirm is the question before a status change its user cannot
// take back (claims.Undoable).
type statusConfirm struct {
	To   claims.Status
	Note string
	Why  string
}

// undoText says why a change to status to cannot be taken back.
func undoText(to claims.Status, admin bool) string {
	switch {
	case admin:
		return fmt.Sprintf("A claim marked %s can only be reopened, and then filed again.", to)
	case to == claims.StatusExpired || to == claims.StatusDenied:
		return fmt.Sprintf("Only an admin can reopen a claim marked %s, with a note.", to)
	}
	return fmt.Sprintf("Nobody can change a claim marked %s afterwards.", to)
}

func claimID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("claim ID %q is not a positive number", r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) loadClaimView(ctx context.Context, id int64, admin bool) (*claimView, error) {
	c, err := s.ledger.Claim(ctx, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	v := &claimView{Claim: c, Details: claims.Details(c), Next: claims.Next(c.Status, admin)}
	v.Row = claimRow{ID: c.ID, TenantID: c.TenantID, TenantName: c.TenantName, IncidentID: c.IncidentID,
		Service: s.serviceName(c.IncidentID), Status: c.Status, Deadline: c.Deadline, Provisional: c.DeadlineProvisional,
		Evidence: len(c.Evidence), Late: c.LateEvidence(), Total: len(c.Checklist), Present: c.Present(),
		Eligible: c.Eligible, IneligibleWhy: c.IneligibleWhy}
	v.Row.schedule(now)
	if v.Schedule, err = claims.ScheduleOf(c); err != nil {
		return nil, err
	}
	v.Ineligible = claims.IneligibleText(c)
	v.Editable = claims.Editable(c.Status)
	for _, to := range v.Next {
		if claims.NeedsNote(c.Status, to) {
			v.NoteNeeded = true
		}
	}
	for _, it := range c.Checklist {
		if it.Item == claims.ItemIncidentListed && !it.Present {
			v.NotListed = it.Value
		}
		iv := itemView{ChecklistItem: it}
		if f, ok := claims.ItemField(it.Item); ok {
			iv.Field, iv.Input = string(f), inputFor(f)
		}
		v.Items = append(v.Items, iv)
	}
	for _, f := range []claims.Field{claims.FieldIncidentStart, claims.FieldAzure} {
		iv := itemView{ChecklistItem: claims.ChecklistItem{Item: string(f)}, Field: string(f), Input: inputFor(f)}
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
	v, err := s.loadClaimView(r.Context(), id, claimActor(r).Admin)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "claim", page0{Title: v.Claim.IncidentID + " · " + cmp.Or(v.Claim.TenantName, v.Claim.TenantID), Nav: "claims"}, v)
}

// formValue reads a field's value from a form. A time comes as the page
// asks for it, "2026-02-15 09:30" in UTC and 24-hour (claims.ParseTime;
// the older datetime-local form "2026-02-15T09:30" too) and is stored in
// RFC 3339; anything else is refused naming the field as the page does.
func formValue(field claims.Field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if inputFor(field) == "datetime" && v != "" {
		t, ok := claims.ParseTime(v)
		if !ok {
			return "", badRequest("%s: %q is not a date and 24-hour time like 2026-02-15 17:05", field.Label(), v)
		}
		return t.Format(time.RFC3339), nil
	}
	return v, nil
}

func parseField(name string) (claims.Field, error) {
	f, err := claims.ParseField(name)
	if err != nil {
		return "", badRequest("%v", err)
	}
	return f, nil
}

func (s *Server) claimFieldsForm(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err == nil {
		err = parseForm(r)
	}
	var field claims.Field
	if err == nil {
		field, err = parseField(r.PostFormValue("field"))
	}
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	value, err := formValue(field, r.PostFormValue("value"))
	if err == nil {
		err = s.ledger.SetClaimField(r.Context(), id, field, value, actor(r))
	}
	if err != nil {
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
	if _, err := claims.ParseStatus(to); err != nil {
		s.claimError(w, r, badRequest("%v", err))
		return
	}
	note := strings.TrimSpace(r.PostFormValue("note"))
	if !formFlag(r, "confirm") {
		// A change the user cannot take back asks first.
		c, err := s.ledger.Claim(r.Context(), id)
		if err != nil {
			s.claimError(w, r, err)
			return
		}
		by := claimActor(r)
		if !claims.Undoable(c.Status, claims.Status(to), by.Admin) && claims.CheckTransition(c, claims.Status(to), by, note) == nil {
			v, err := s.loadClaimView(r.Context(), id, by.Admin)
			if err != nil {
				s.claimError(w, r, err)
				return
			}
			v.Confirm = &statusConfirm{To: claims.Status(to), Note: note, Why: undoText(claims.Status(to), by.Admin)}
			s.render(w, r, http.StatusOK, "claim", page0{Title: v.Claim.IncidentID, Nav: "claims"}, v)
			return
		}
	}
	if err := s.ledger.SetClaimStatus(r.Context(), id, claims.Status(to), claimActor(r), note); err != nil {
		s.claimFormError(w, r, id, err, "", "")
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/claims/%d?done=status", id), http.StatusSeeOther)
}

// claimFormError shows the claim page again with what was wrong, or
// answers like claimError for what is not the user's to fix.
func (s *Server) claimFormError(w http.ResponseWriter, r *http.Request, id int64, err error, field, value string) {
	s.claimFormFailed(w, r, id, err, userErrorStatus(err), userMessage(err), field, value)
}

// claimFormFailed shows the claim page again with status and msg, the
// rejected value of field kept in its form; a status of 0 (not the user's
// to fix) answers like claimError.
func (s *Server) claimFormFailed(w http.ResponseWriter, r *http.Request, id int64, err error, status int, msg, field, value string) {
	if status == 0 {
		s.claimError(w, r, err)
		return
	}
	v, lerr := s.loadClaimView(r.Context(), id, claimActor(r).Admin)
	if lerr != nil {
		s.claimError(w, r, lerr)
		return
	}
	v.FormField, v.FormValue = field, value
	s.render(w, r, status, "claim", page0{Title: v.Claim.IncidentID, Nav: "claims", Error: msg}, v)
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
	case errors.Is(err, claims.ErrAdminOnly):
		return http.StatusForbidden
	case errors.Is(err, claims.ErrTransition):
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
	sched, err := claims.ScheduleOf(c)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	history, err := s.ledger.IncidentHistory(r.Context(), c.TenantID, c.IncidentID)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	out := struct {
		*claims.Claim
		Service  string          `json:"service"`
		DaysLeft *int            `json:"days_left"`
		Urgency  string          `json:"urgency,omitempty"`
		Ready    bool            `json:"ready"`
		Missing  []string        `json:"missing"`
		Details  string          `json:"details"`
		Next     []claims.Status `json:"next_statuses"`
		// IneligibleText says in words why the claim earns no credit;
		// DeadlineFrom what its deadline counts from (claims.Schedule).
		IneligibleText string `json:"ineligible_text,omitempty"`
		DeadlineFrom   string `json:"deadline_from"`
		// Incident and IncidentListed are the Claim's, shown as null
		// when there is no record and Graph was not asked.
		Incident        *claims.Incident  `json:"incident"`
		IncidentListed  *bool             `json:"incident_listed"`
		IncidentHistory []incidentReading `json:"incident_history"`
	}{Claim: c, Service: s.serviceName(c.IncidentID),
		Ready: c.Ready(), Missing: c.Missing(), Details: claims.Details(c), Next: claims.Next(c.Status, claimActor(r).Admin),
		IneligibleText: claims.IneligibleText(c), DeadlineFrom: sched.From,
		Incident: c.Incident, IncidentListed: c.IncidentListed, IncidentHistory: incidentReadings(history)}
	d, ok, urgency := claims.Countdown(c.Status, c.Eligible, c.Deadline, s.now())
	out.Urgency = urgency
	if ok {
		out.DaysLeft = &d
	}
	if out.Missing == nil {
		out.Missing = []string{}
	}
	if c.Evidence == nil {
		c.Evidence = []claims.Evidence{} // none: [], not null
	}
	if out.Next == nil {
		out.Next = []claims.Status{}
	}
	writeJSON(w, status, out)
}

// incidentReading is one record of archive.Ledger.IncidentHistory in the
// claim API: the facts as read (with their source and read time), the
// tenant they were read for ("" for the catalog), Graph's listing answer
// and the stored snapshot and report.
type incidentReading struct {
	TenantID       string          `json:"tenant_id"`
	Incident       claims.Incident `json:"incident"`
	Listed         *bool           `json:"listed"`
	SnapshotKey    string          `json:"snapshot_key,omitempty"`
	SnapshotSHA256 string          `json:"snapshot_sha256,omitempty"`
	ReportKey      string          `json:"report_key,omitempty"`
	ReportType     string          `json:"report_type,omitempty"`
	RecordedAt     time.Time       `json:"recorded_at"`
}

func incidentReadings(recs []archive.IncidentRecord) []incidentReading {
	out := make([]incidentReading, 0, len(recs))
	for _, r := range recs {
		out = append(out, incidentReading{TenantID: r.TenantID, Incident: r.Incident, Listed: r.Listed,
			SnapshotKey: r.SnapshotKey, SnapshotSHA256: r.SnapshotSHA256, ReportKey: r.ReportKey,
			ReportType: r.ReportType, RecordedAt: r.RecordedAt})
	}
	return out
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
		if err := s.ledger.SetClaimField(r.Context(), id, claims.Field(name), body.Fields[name], actor(r)); err != nil {
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
	if _, err := claims.ParseStatus(body.Status); err != nil {
		s.apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.ledger.SetClaimStatus(r.Context(), id, claims.Status(body.Status), claimActor(r), strings.TrimSpace(body.Note)); err != nil {
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
	w.Write([]byte(claims.Details(c)))
}

func (s *Server) apiClaimAudit(w http.ResponseWriter, r *http.Request) {
	id, err := claimID(r)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	// Newest first, a page at a time, as /api/v1/audit?claim=.
	before, limit, err := parseAuditPage(r.URL.Query(), defaultAuditLimit)
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	rows, more, err := s.filterAudit(r.Context(), auditFilter{Claim: id, Before: before, Limit: limit})
	if err != nil {
		s.claimError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, auditPage(map[string]any{"entries": rows}, rows, more))
}
