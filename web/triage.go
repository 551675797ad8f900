package web

import (
	"context"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

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
	// IncidentIDs are the incident IDs the message names; the page links
	// each to its incident page.
	IncidentIDs []string `json:"incident_ids"`
}

// triageVerdicts are the verdicts that put a message in triage.
var triageVerdicts = []rules.Verdict{rules.Rejected, rules.Unmatched}

// A page of the triage queue holds defaultTriageItems messages unless
// ?limit= asks for up to maxTriageItems.
const (
	defaultTriageItems = 100
	maxTriageItems     = 500
)

// triagePageData is one page of the triage queue and what the page shows
// around it.
type triagePageData struct {
	Items []triageItem
	pageInfo
	// Rejected and Unmatched count the whole queue.
	Rejected, Unmatched int
	// Q and Sort are the page's search (?q=) and order (?sort=, one of
	// messageSorts).
	Q, Sort string
}

// triageItems returns the page p of the messages whose current judgment
// is rejected or unmatched, that ?q= selects, in the order ?sort= asks
// for (newest first by default), with the queue's counts.
func (s *Server) triageItems(ctx context.Context, q url.Values, p pageReq) (triagePageData, error) {
	out := triagePageData{Q: strings.TrimSpace(q.Get("q"))}
	var err error
	if out.Sort, err = parseSort(q, messageSorts...); err != nil {
		return out, err
	}
	search, err := parseSearchParam(q)
	if err != nil {
		return out, err
	}
	counts, err := s.ledger.MessageCounts(ctx)
	if err != nil {
		return out, err
	}
	out.Rejected, out.Unmatched = counts[rules.Rejected], counts[rules.Unmatched]
	page, err := s.ledger.MessageList(ctx, archive.MessageQuery{Verdicts: triageVerdicts, Search: search,
		Sort: archive.MessageSort(out.Sort), Cursor: p.Cursor, Limit: p.Limit})
	if err != nil {
		return out, listPageError(err)
	}
	out.pageInfo = pageInfo{Next: page.Next, Total: page.Total, Capped: page.TotalCapped}
	msgs := page.Messages
	tenants, err := s.ledger.Tenants(ctx)
	if err != nil {
		return out, err
	}
	names := map[string]string{}
	for _, t := range tenants {
		names[t.ID] = t.Name
	}
	// Only the tenants of the messages shown matter.
	var shown []string
	for _, m := range msgs {
		if j := m.Judgment; j.Attachable() && !slices.Contains(shown, j.TenantID) {
			shown = append(shown, j.TenantID)
		}
	}
	incidents, err := s.ledger.FileableIncidents(ctx, shown)
	if err != nil {
		return out, err
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
		if it.IncidentIDs = j.IncidentIDs; it.IncidentIDs == nil {
			it.IncidentIDs = []string{}
		}
		if j.Attachable() {
			it.Attachable, it.Incidents = true, incidents[j.TenantID]
		}
		items = append(items, it)
	}
	out.Items = items
	return out, nil
}

type triageView struct {
	triagePageData
	// NextURL links the following page; empty on the last.
	NextURL  string
	CanJudge bool
	Results  []rejudged
	MayMatch []mayMatch // offered for re-judging (rematch.go)
	// Prompt asks to confirm an attach or a re-judge refused without it.
	Prompt *triagePrompt
}

// triagePrompt is the form that posts a refused attach or re-judge again,
// confirmed: with Flag ("confirm" or "override") set.
type triagePrompt struct {
	Action   string // the form's path
	Incident string // the incident, for an attach
	Flag     string
	Button   string
}

func (s *Server) triagePage(w http.ResponseWriter, r *http.Request) {
	var rs []rejudged
	if !s.shown(r, &rs) {
		rs = nil
	}
	s.renderTriage(w, r, http.StatusOK, "", rs)
}

func (s *Server) renderTriage(w http.ResponseWriter, r *http.Request, status int, errMsg string, results []rejudged) {
	s.renderTriagePrompt(w, r, status, errMsg, results, nil)
}

// renderTriagePrompt is renderTriage with a prompt to confirm.
func (s *Server) renderTriagePrompt(w http.ResponseWriter, r *http.Request, status int, errMsg string, results []rejudged, prompt *triagePrompt) {
	q := r.URL.Query()
	p, err := parsePage(q, defaultTriageItems, maxTriageItems)
	if err == nil {
		v := triageView{CanJudge: s.rejudgeFn != nil, Results: results, Prompt: prompt}
		if v.triagePageData, err = s.triageItems(r.Context(), q, p); err == nil {
			if v.Next != "" {
				v.NextURL = nextURL("/triage", q, v.Next)
			}
			if v.MayMatch, _, err = s.mayMatch(r.Context()); err == nil {
				s.render(w, r, status, "triage", page0{Title: "Triage", Nav: "triage", Error: errMsg, Query: v.Q}, v)
				return
			}
		}
	}
	// Not triageError: it shows this page again.
	s.requestFailed(w, r, "triage", err)
}

func (s *Server) apiTriage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := parsePage(q, defaultTriageItems, maxTriageItems)
	if err != nil {
		s.requestFailed(w, r, "triage", err)
		return
	}
	page, err := s.triageItems(r.Context(), q, p)
	if err != nil {
		s.requestFailed(w, r, "triage", err)
		return
	}
	offers, _, err := s.mayMatch(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page.put(map[string]any{"messages": page.Items, "may_match": offers}))
}

// errNoRejudge answers a re-judge or attach when the app has no path to
// write the bundle such a judgment needs.
var errNoRejudge = badRequest("re-judging and attaching are not available: this claimtrail was started without the re-judging path; use claimtrail reprocess")

// attach attaches an unmatched or automated message (rules' Attachable) to
// the tenant's claim for incident, opening the claim if needed: it records
// an analyst's judgment that accepts the message for that incident, with
// the bundle that shows it and a warning saying who decided; the link is
// the analyst's decision, which no automatic or bulk re-judgment undoes.
// Other rejected mail cannot be attached: it fails what Microsoft requires
// of the customer's email.
//
// An incident that is not an incident ID is refused. Unless confirm is
// set, so is one whose prefix names no known service, or for which the
// tenant has no claim yet (a typo would open one), with a *confirmError
// saying why.
func (s *Server) attach(ctx context.Context, sha, incident, user string, confirm bool) (*archive.Message, error) {
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
	existing, err := s.ledger.ClaimFor(ctx, j.TenantID, incident)
	switch {
	case err == nil:
		// Only a claim that may still change takes an analyst's attach;
		// a submitted one is reopened first.
		if err := claims.EditError(existing.Status); err != nil {
			return nil, fmt.Errorf("claim %d (%s): %w", existing.ID, incident, err)
		}
	case !errors.Is(err, archive.ErrNotFound):
		return nil, err
	}
	if !confirm {
		if err := s.checkAttachTarget(ctx, j.TenantID, incident, existing != nil); err != nil {
			return nil, err
		}
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
	if _, err := s.rejudgeFn(ctx, nil, m.SHA256, user, RejudgeOptions{Judgment: &nj, ByAnalyst: true}); err != nil {
		return nil, err
	}
	return m, nil
}

// confirmError refuses an attach or a re-judge the analyst must confirm;
// its text says why. The API answers 409, the page a confirm form.
type confirmError struct {
	msg string
	// decided is the refused re-judgment, for one that would replace an
	// analyst's decision.
	decided *Rejudgment
}

func (e *confirmError) Error() string { return e.msg }

// checkAttachTarget says why attaching tenant's mail to incident needs a
// confirmation, if it does: the prefix names no known service, or the
// tenant has no claim for the incident yet, so attaching would open one.
func (s *Server) checkAttachTarget(ctx context.Context, tenantID, incident string, claimExists bool) error {
	var why []string
	if s.vocab.Service(incident) == "" {
		prefixes := s.vocab.IncidentPrefixes()
		known := make([]string, 0, len(prefixes))
		for _, p := range slices.Sorted(maps.Keys(prefixes)) {
			known = append(known, p+" "+prefixes[p])
		}
		why = append(why, fmt.Sprintf("%s is not a known incident prefix (known: %s)", incident[:2], strings.Join(known, ", ")))
	}
	if !claimExists {
		name := tenantID
		if tenants, err := s.ledger.Tenants(ctx); err == nil {
			for _, t := range tenants {
				if t.ID == tenantID && t.Name != "" {
					name = t.Name
				}
			}
		}
		why = append(why, fmt.Sprintf("no claim for %s and %s yet; attaching opens one", name, incident))
	}
	if len(why) == 0 {
		return nil
	}
	return &confirmError{msg: strings.Join(why, "; ") + ": check the incident ID, or confirm to attach anyway"}
}

func (s *Server) triageError(w http.ResponseWriter, r *http.Request, err error) {
	s.triageErrorPrompt(w, r, err, nil)
}

// triageErrorPrompt answers for err; a *confirmError shows the page with
// prompt, the form that confirms.
func (s *Server) triageErrorPrompt(w http.ResponseWriter, r *http.Request, err error, prompt *triagePrompt) {
	var (
		ue     *userError
		ce     *confirmError
		status int
		msg    string
	)
	switch {
	case errors.As(err, &ue):
		status, msg = http.StatusBadRequest, ue.msg
	case errors.Is(err, claims.ErrTransition):
		status, msg = http.StatusConflict, userMessage(err)
	case errors.As(err, &ce):
		if isAPI(r) && ce.decided != nil {
			d := ce.decided
			decisions := d.Decisions
			if decisions == nil {
				decisions = []archive.Decision{}
			}
			writeJSON(w, http.StatusConflict, map[string]any{"error": ce.msg, "before": d.Before, "after": d.After,
				"changed": d.Changed, "decisions": decisions})
			return
		}
		status, msg = http.StatusConflict, ce.msg
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
	if ce == nil {
		prompt = nil
	}
	s.renderTriagePrompt(w, r, status, msg, nil, prompt)
}

// formFlag reads a confirming flag ("confirm", "override") of a form.
func formFlag(r *http.Request, name string) bool {
	v := r.PostFormValue(name)
	return v == "1" || v == "true" || v == "on"
}

func (s *Server) triageAttachForm(w http.ResponseWriter, r *http.Request) {
	sha, err := messageSHA(r)
	if err == nil {
		err = parseForm(r)
	}
	incident := strings.TrimSpace(r.PostFormValue("incident"))
	if err == nil {
		_, err = s.attach(r.Context(), sha, incident, actor(r), formFlag(r, "confirm"))
	}
	if err != nil {
		s.triageErrorPrompt(w, r, err, &triagePrompt{Action: "/triage/" + sha + "/attach", Incident: incident, Flag: "confirm",
			Button: "Attach anyway"})
		return
	}
	http.Redirect(w, r, "/triage?done=attached", http.StatusSeeOther)
}

// attachRequest is the body of POST /api/v1/triage/{sha}/attach: the
// incident, or a claim of the message's tenant.
type attachRequest struct {
	IncidentID string `json:"incident_id"`
	ClaimID    int64  `json:"claim_id"`
	// Confirm attaches to an incident of an unknown prefix, or one the
	// tenant has no claim for yet; without it those answer 409.
	Confirm bool `json:"confirm"`
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
	incident, confirm := body.IncidentID, body.Confirm
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
		// A claim the analyst names exists: nothing to confirm.
		incident, confirm = c.IncidentID, true
	}
	if _, err := s.attach(r.Context(), sha, incident, actor(r), confirm); err != nil {
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
	// Kept says why a bulk re-judgment left the message alone: an
	// analyst decided about it by hand.
	Kept string `json:"kept,omitempty"`
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
// records the new judgment, with its bundle, when it differs. A change
// that would replace an analyst's decision is recorded only with
// override; without it the error is a *confirmError saying what would
// change.
func (s *Server) rejudge(ctx context.Context, p *rules.Policy, sha, user string, override bool) (rejudged, error) {
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
	r, err := s.rejudgeFn(ctx, p, m.SHA256, user, RejudgeOptions{Override: override})
	if err != nil && !errors.Is(err, archive.ErrDecided) {
		return res, err
	}
	res.Before, res.After, res.Reason, res.Changed = r.Before.Verdict, r.After.Verdict, r.After.Reason, r.Changed
	if err != nil {
		if len(r.Decisions) == 0 {
			// The decision was made while this re-judgment ran.
			if r.Decisions, err = s.ledger.Decisions(ctx, m.ID); err != nil {
				return res, err
			}
		}
		var who []string
		for _, d := range r.Decisions {
			who = append(who, d.String())
		}
		return res, &confirmError{decided: &r, msg: fmt.Sprintf("an analyst decided about this message by hand (%s); re-judging it would make it %s%s: "+
			"override the earlier decision to do so", strings.Join(who, "; "), r.After.Verdict, reasonSuffix(r.After.Reason))}
	}
	return res, nil
}

// reasonSuffix is " (reason)", or "" for none.
func reasonSuffix(r rules.Reason) string {
	if r == "" {
		return ""
	}
	return " (" + string(r) + ")"
}

// rejudgeAll judges every message in triage again. It never overrides an
// analyst: a message they decided about is kept as it is, and says so.
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
	shas := make([]string, len(msgs))
	for i, m := range msgs {
		shas[i] = m.SHA256
	}
	return s.rejudgeMany(ctx, p, shas, user)
}

// rejudgeMany judges the messages shas again under p, one by one, as a
// bulk re-judgment: it never overrides an analyst (a message they decided
// about is kept as it is, and says so), and one message's failure is
// reported with it rather than stopping the others.
func (s *Server) rejudgeMany(ctx context.Context, p *rules.Policy, shas []string, user string) ([]rejudged, error) {
	out := make([]rejudged, 0, len(shas))
	for _, sha := range shas {
		res, err := s.rejudge(ctx, p, sha, user, false)
		var ce *confirmError
		switch {
		case errors.As(err, &ce) && ce.decided != nil:
			res.Changed, res.After = false, res.Before
			res.Kept = keptText(ce.decided.Decisions)
		case err != nil:
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			res.SHA256, res.Error = sha, err.Error()
		}
		out = append(out, res)
	}
	return out, nil
}

// keptText says why a bulk re-judgment kept a message: "kept: an analyst
// attached it (anna attached it to claim 3 (EX315207) on 2026-03-25)".
func keptText(ds []archive.Decision) string {
	what := "decided about it"
	if len(ds) > 0 {
		what = ds[0].Decision + " it"
	}
	var who []string
	for _, d := range ds {
		who = append(who, d.String())
	}
	return fmt.Sprintf("kept: an analyst %s (%s)", what, strings.Join(who, "; "))
}

// rejudgeBody is the optional body of POST /api/v1/triage/{sha}/rejudge.
type rejudgeBody struct {
	// Override replaces the analyst's earlier decision about the message.
	Override bool `json:"override"`
}

// rejudgeOne re-judges the message the request names, under the rules as
// they are now.
func (s *Server) rejudgeOne(r *http.Request, override bool) (rejudged, error) {
	sha, err := messageSHA(r)
	if err != nil {
		return rejudged{}, err
	}
	p, err := s.policy(r.Context())
	if err != nil {
		return rejudged{}, err
	}
	return s.rejudge(r.Context(), p, sha, actor(r), override)
}

func (s *Server) triageRejudgeForm(w http.ResponseWriter, r *http.Request) {
	err := parseForm(r)
	var res rejudged
	if err == nil {
		res, err = s.rejudgeOne(r, formFlag(r, "override"))
	}
	if err != nil {
		sha, _ := messageSHA(r)
		s.triageErrorPrompt(w, r, err, &triagePrompt{Action: "/triage/" + sha + "/rejudge", Flag: "override",
			Button: "Override my earlier decision"})
		return
	}
	s.redirectWith(w, r, "/triage", []rejudged{res})
}

func (s *Server) triageRejudgeAllForm(w http.ResponseWriter, r *http.Request) {
	results, err := s.rejudgeAll(r.Context(), actor(r))
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	s.redirectWith(w, r, "/triage", results)
}

func (s *Server) apiTriageRejudge(w http.ResponseWriter, r *http.Request) {
	var body rejudgeBody
	if err := readOptionalJSON(r, &body); err != nil {
		s.apiError(w, http.StatusBadRequest, err.Error()+`; send nothing, or {"override": true} to replace an analyst's earlier decision`)
		return
	}
	res, err := s.rejudgeOne(r, body.Override)
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
