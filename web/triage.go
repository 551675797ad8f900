package web

import (
	"context"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"net/http"
	"slices"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/rules"
)

// reasonText says in plain words why a message is in triage.
func reasonText(r rules.Reason) string {
	switch r {
	case rules.ReasonPersonalAddress:
		return "Sent from a personal address (a free mail provider), not from the customer's company domain."
	case rules.ReasonUnknownDomain:
		return "The sender's domain belongs to no tenant in the registry."
	case rules.ReasonPartnerSender:
		return "Sent by partner staff without the customer's original attached."
	case rules.ReasonTenantMismatch:
		return "The mail names another customer's tenant ID than the sender's."
	case rules.ReasonSenderNotAuthenticated:
		return "The receiving mail server says the sender failed authentication (DMARC): the From address may be forged."
	case rules.ReasonNoSender:
		return "The mail has no usable From address."
	case rules.ReasonMalformed:
		return "The message could not be read as an email."
	case rules.ReasonNoIncidentID:
		return "From the right customer, but it names no incident ID."
	case rules.ReasonAutomatedMessage:
		return "An automatic reply (out-of-office, bounce or read receipt), not the customer's request."
	case rules.ReasonTooComplex:
		return "The message is too complex to read within the time allowed: its structure may be hostile or broken, so nothing was decided about the sender."
	}
	return string(r)
}

// reasonTodo says what an analyst can do about it.
func reasonTodo(r rules.Reason) string {
	switch r {
	case rules.ReasonPersonalAddress:
		return "Ask the customer to write from their company address; Microsoft does not accept mail from personal addresses."
	case rules.ReasonUnknownDomain:
		return "If it is a customer's domain, add it to the tenant (import the Partner Center customer list or edit the configuration), then re-judge."
	case rules.ReasonPartnerSender:
		return "Forward the customer's email as an attachment, not inline, so its original headers are kept; or ask the customer to write to the claims mailbox."
	case rules.ReasonTenantMismatch:
		return "Check which customer the mail is about and ask the sender to confirm before using it."
	case rules.ReasonSenderNotAuthenticated:
		return "Confirm with the customer by phone, and ask them to send it again from their own mail system."
	case rules.ReasonNoSender, rules.ReasonMalformed:
		return "Ask the customer to send it again from their usual mail program."
	case rules.ReasonNoIncidentID:
		return "Attach it to the incident it is about, or ask the customer for the incident ID from Service Health (e.g. EX315207)."
	case rules.ReasonAutomatedMessage:
		return "Ask the customer to write to the claims mailbox themselves. If a person did write it (the warnings say which header decided), attach it to its incident."
	case rules.ReasonTooComplex:
		return "Re-judge it later, when the server is less busy. If it is still too complex, read the bundle by hand (claimtrail bundle extract) and ask the customer to send the request again as a plain message."
	}
	return ""
}

// triageItem is one message of the triage queue.
type triageItem struct {
	SHA256         string               `json:"sha256"`
	Sender         string               `json:"sender"`
	Subject        string               `json:"subject"`
	Received       string               `json:"received"`
	Verdict        rules.Verdict        `json:"verdict"`
	Reason         rules.Reason         `json:"reason"`
	ReasonText     string               `json:"reason_text"`
	Todo           string               `json:"todo"`
	TenantID       string               `json:"tenant_id,omitempty"`
	TenantName     string               `json:"tenant_name,omitempty"`
	Authentication rules.Authentication `json:"authentication"`
	Warnings       []string             `json:"warnings"`
	// Attachable says an analyst may attach the message to an incident
	// (rules.Judgment.Attachable).
	Attachable bool `json:"attachable"`
	// Incidents are the tenant's claims' incident IDs, offered when
	// attaching the message.
	Incidents []string `json:"-"`
}

// triageVerdicts are the verdicts that put a message in triage.
var triageVerdicts = []rules.Verdict{rules.Rejected, rules.Unmatched}

// maxTriageItems bounds one page of the queue.
const maxTriageItems = 500

// triageItems returns the newest messages whose current judgment is
// rejected or unmatched, and whether there are more.
func (s *Server) triageItems(ctx context.Context) ([]triageItem, bool, error) {
	msgs, err := s.ledger.Messages(ctx, archive.MessageFilter{Verdicts: triageVerdicts, Limit: maxTriageItems + 1})
	if err != nil {
		return nil, false, err
	}
	more := len(msgs) > maxTriageItems
	if more {
		msgs = msgs[:maxTriageItems]
	}
	tenants, err := s.ledger.Tenants(ctx)
	if err != nil {
		return nil, false, err
	}
	names := map[string]string{}
	for _, t := range tenants {
		names[t.ID] = t.Name
	}
	list, err := s.ledger.Claims(ctx)
	if err != nil {
		return nil, false, err
	}
	incidents := map[string][]string{}
	for _, c := range list {
		if claims.Fileable(c.Status) {
			incidents[c.TenantID] = append(incidents[c.TenantID], c.IncidentID)
		}
	}
	items := make([]triageItem, 0, len(msgs))
	for _, m := range msgs {
		j := m.Judgment
		it := triageItem{SHA256: m.SHA256, Sender: m.Sender, Subject: m.Subject, Received: fmtWhen(m.EvidenceDate()),
			Verdict: j.Verdict, Reason: j.Reason, ReasonText: reasonText(j.Reason), Todo: reasonTodo(j.Reason),
			TenantID: j.TenantID, TenantName: names[j.TenantID], Authentication: j.Authentication, Warnings: j.Warnings}
		if it.Warnings == nil {
			it.Warnings = []string{}
		}
		if j.Attachable() {
			it.Attachable, it.Incidents = true, incidents[j.TenantID]
		}
		items = append(items, it)
	}
	return items, more, nil
}

type triageView struct {
	Items     []triageItem
	More      bool
	CanJudge  bool
	Rejected  int
	Unmatched int
	Results   []rejudged
	MayMatch  []mayMatch // offered for re-judging (rematch.go)
}

func (s *Server) triagePage(w http.ResponseWriter, r *http.Request) {
	s.renderTriage(w, r, http.StatusOK, "", nil)
}

func (s *Server) renderTriage(w http.ResponseWriter, r *http.Request, status int, errMsg string, results []rejudged) {
	items, more, err := s.triageItems(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	v := triageView{Items: items, More: more, CanJudge: s.rejudgeFn != nil, Results: results}
	if v.MayMatch, _, err = s.mayMatch(r.Context()); err != nil {
		s.internal(w, r, err)
		return
	}
	for _, it := range items {
		if it.Verdict == rules.Rejected {
			v.Rejected++
		} else {
			v.Unmatched++
		}
	}
	s.render(w, r, status, "triage", page0{Title: "Triage", Nav: "triage", Error: errMsg}, v)
}

func (s *Server) apiTriage(w http.ResponseWriter, r *http.Request) {
	items, more, err := s.triageItems(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	offers, _, err := s.mayMatch(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": items, "more": more, "may_match": offers})
}

// errNoRejudge answers a re-judge or attach when the app has no path to
// write the bundle such a judgment needs.
var errNoRejudge = badRequest("re-judging and attaching are not available: this claimtrail was started without the re-judging path; use claimtrail reprocess")

// attach attaches an unmatched or automated message (rules' Attachable) to
// the tenant's claim for incident, opening the claim if needed: it records
// an analyst's judgment that accepts the message for that incident, with
// the bundle that shows it and a warning saying who decided. Other
// rejected mail cannot be attached: it fails what Microsoft requires of
// the customer's email.
func (s *Server) attach(ctx context.Context, sha, incident, user string) (*archive.Message, error) {
	if s.rejudgeFn == nil {
		return nil, errNoRejudge
	}
	incident, err := rules.ParseIncidentID(incident)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	m, err := s.ledger.MessageBySHA256(ctx, sha)
	if err != nil {
		return nil, err
	}
	j := m.Judgment
	switch {
	case j == nil || m.BundleKey == "":
		return nil, badRequest("the message is not judged and stored yet; wait for the poller")
	case j.Verdict == rules.Accepted:
		return nil, badRequest("the message is already accepted as evidence")
	case !j.Attachable():
		return nil, badRequest("only unmatched or automatic mail from a tenant's domain can be attached; this one was rejected: %s", reasonText(j.Reason))
	}
	why := "the message names no incident ID itself"
	if j.Reason == rules.ReasonAutomatedMessage {
		why = "the analyst judged that a person wrote it, though it looked automatic"
	}
	nj := *j
	nj.Verdict, nj.Reason = rules.Accepted, ""
	nj.IncidentIDs = []string{incident}
	// The analyst's note goes last and is never the one dropped.
	nj.Warnings = append(rules.CapWarnings(slices.Clone(j.Warnings), rules.MaxWarnings-1), fmt.Sprintf("attached to incident %s by %s on the triage page: %s", incident, user, why))
	if _, err := s.rejudgeFn(ctx, nil, m.SHA256, user, &nj); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Server) triageError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ue     *userError
		status int
		msg    string
	)
	switch {
	case errors.As(err, &ue):
		status, msg = http.StatusBadRequest, ue.msg
	case errors.Is(err, archive.ErrCorrupt):
		// Not the analyst's mistake, nor a fault of this request: the
		// stored evidence fails its check, and says so.
		s.log.Error("re-judge refused", "err", err)
		status, msg = http.StatusConflict, "the message's stored evidence bundle does not match its record, so it was not re-judged: "+
			"run claimtrail bundle verify on it and restore it from a copy kept elsewhere"
	default:
		s.requestFailed(w, r, "message", err)
		return
	}
	if isAPI(r) {
		s.apiError(w, status, msg)
		return
	}
	s.renderTriage(w, r, status, msg, nil)
}

func (s *Server) triageAttachForm(w http.ResponseWriter, r *http.Request) {
	sha, err := messageSHA(r)
	if err == nil {
		err = parseForm(r)
	}
	if err == nil {
		_, err = s.attach(r.Context(), sha, r.PostFormValue("incident"), actor(r))
	}
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/triage?done=attached", http.StatusSeeOther)
}

// attachRequest is the body of POST /api/v1/triage/{sha}/attach: the
// incident, or a claim of the message's tenant.
type attachRequest struct {
	IncidentID string `json:"incident_id"`
	ClaimID    int64  `json:"claim_id"`
}

func (s *Server) apiTriageAttach(w http.ResponseWriter, r *http.Request) {
	sha, err := messageSHA(r)
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	var body attachRequest
	if err := readJSON(r, &body); err != nil {
		s.apiError(w, http.StatusBadRequest, err.Error()+`; send {"incident_id": "EX315207"} or {"claim_id": 3}`)
		return
	}
	incident := body.IncidentID
	if body.ClaimID > 0 {
		c, err := s.ledger.Claim(r.Context(), body.ClaimID)
		if err != nil {
			s.claimError(w, r, err)
			return
		}
		m, err := s.ledger.MessageBySHA256(r.Context(), sha)
		if err != nil {
			s.triageError(w, r, err)
			return
		}
		if m.Judgment == nil || m.Judgment.TenantID != c.TenantID {
			s.apiError(w, http.StatusBadRequest, fmt.Sprintf("claim %d is for tenant %s, not the message's sender", c.ID, c.TenantID))
			return
		}
		incident = c.IncidentID
	}
	if _, err := s.attach(r.Context(), sha, incident, actor(r)); err != nil {
		s.triageError(w, r, err)
		return
	}
	m, err := s.ledger.MessageBySHA256(r.Context(), sha)
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sha256": m.SHA256, "judgment": m.Judgment})
}

// rejudged is the outcome of judging one message again.
type rejudged struct {
	SHA256  string        `json:"sha256"`
	Sender  string        `json:"sender"`
	Before  rules.Verdict `json:"before"`
	After   rules.Verdict `json:"after"`
	Reason  rules.Reason  `json:"reason"`
	Changed bool          `json:"changed"`
	Error   string        `json:"error,omitempty"`
}

// policy builds the rules policy from the configuration and the ledger's
// tenant registry as it is now; its judgments record the registry's
// version.
func (s *Server) policy(ctx context.Context) (*rules.Policy, error) {
	version, tenants, err := s.ledger.Registry(ctx)
	if err != nil {
		return nil, err
	}
	p, err := rules.New(s.rules, tenants)
	if err != nil {
		return nil, badRequest("the tenant registry or the rules configuration has problems, so nothing can be judged; fix them first: %v", err)
	}
	return p.WithRegistryVersion(version), nil
}

// rejudge judges one stored message again under p; the shared path
// records the new judgment, with its bundle, when it differs.
func (s *Server) rejudge(ctx context.Context, p *rules.Policy, sha, user string) (rejudged, error) {
	if s.rejudgeFn == nil {
		return rejudged{}, errNoRejudge
	}
	m, err := s.ledger.MessageBySHA256(ctx, sha)
	if err != nil {
		return rejudged{}, err
	}
	res := rejudged{SHA256: m.SHA256, Sender: m.Sender}
	if m.Judgment == nil || m.BundleKey == "" {
		return res, badRequest("the message is not judged and stored yet; wait for the poller")
	}
	res.Before = m.Judgment.Verdict
	r, err := s.rejudgeFn(ctx, p, m.SHA256, user, nil)
	if err != nil {
		return res, err
	}
	res.Before, res.After, res.Reason, res.Changed = r.Before.Verdict, r.After.Verdict, r.After.Reason, r.Changed
	return res, nil
}

// rejudgeAll judges every message in triage again.
func (s *Server) rejudgeAll(ctx context.Context, user string) ([]rejudged, error) {
	if s.rejudgeFn == nil {
		return nil, errNoRejudge
	}
	p, err := s.policy(ctx)
	if err != nil {
		return nil, err
	}
	msgs, err := s.ledger.Messages(ctx, archive.MessageFilter{Verdicts: triageVerdicts})
	if err != nil {
		return nil, err
	}
	out := make([]rejudged, 0, len(msgs))
	for _, m := range msgs {
		sha := m.SHA256
		res, err := s.rejudge(ctx, p, sha, user)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			res.SHA256, res.Error = sha, err.Error()
		}
		out = append(out, res)
	}
	return out, nil
}

// rejudgeOne re-judges the message the request names, under the rules as
// they are now.
func (s *Server) rejudgeOne(r *http.Request) (rejudged, error) {
	sha, err := messageSHA(r)
	if err != nil {
		return rejudged{}, err
	}
	p, err := s.policy(r.Context())
	if err != nil {
		return rejudged{}, err
	}
	return s.rejudge(r.Context(), p, sha, actor(r))
}

func (s *Server) triageRejudgeForm(w http.ResponseWriter, r *http.Request) {
	res, err := s.rejudgeOne(r)
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	s.renderTriage(w, r, http.StatusOK, "", []rejudged{res})
}

func (s *Server) triageRejudgeAllForm(w http.ResponseWriter, r *http.Request) {
	results, err := s.rejudgeAll(r.Context(), actor(r))
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	s.renderTriage(w, r, http.StatusOK, "", results)
}

func (s *Server) apiTriageRejudge(w http.ResponseWriter, r *http.Request) {
	res, err := s.rejudgeOne(r)
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiTriageRejudgeAll(w http.ResponseWriter, r *http.Request) {
	results, err := s.rejudgeAll(r.Context(), actor(r))
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}
