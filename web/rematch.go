package web

import (
	"context"
	"errors"
	"net/http"
	"sort"

	"github.com/claimtrail/claimtrail/rules"
)

// mayMatch is a group of triage messages that a change of the tenant
// registry may have made acceptable: they are offered to an analyst for
// re-judging, never re-judged behind their back.
type mayMatch struct {
	TenantID   string   `json:"tenant_id"`
	TenantName string   `json:"tenant_name"`
	Count      int      `json:"count"`
	Messages   []string `json:"messages"` // raw SHA-256s, newest first
}

// mayMatchFor reports whether a message judged j may now match a tenant
// under p, the registry as it is now, and which: it was rejected as
// unknown_domain or tenant_mismatch by an older registry (version 0, not
// recorded, counts as older), and its sender's domain now belongs to a
// tenant; for tenant_mismatch, to another tenant than the one judged,
// since only a domain that moved can change that verdict (the registry
// only grows: a tenant ID the mail names stays registered).
func mayMatchFor(p *rules.Policy, j *rules.Judgment) (rules.Tenant, bool) {
	if j == nil || j.Verdict != rules.Rejected || j.RegistryVersion >= p.RegistryVersion() || j.SenderDomain == "" {
		return rules.Tenant{}, false
	}
	if j.Reason != rules.ReasonUnknownDomain && j.Reason != rules.ReasonTenantMismatch {
		return rules.Tenant{}, false
	}
	t, ok := p.TenantByDomain(j.SenderDomain)
	// unknown_domain with a tenant set was another author's unknown
	// domain: the sender's tenant was known already, so the registry
	// change that made it known is not what would change the verdict.
	if !ok || (j.Reason == rules.ReasonUnknownDomain && j.TenantID != "") ||
		(j.Reason == rules.ReasonTenantMismatch && t.ID == j.TenantID) {
		return rules.Tenant{}, false
	}
	return t, true
}

// mayMatch groups the triage messages mayMatchFor offers by tenant, the
// tenant with the most messages first, under the policy it returns. A
// registry that makes no valid policy offers nothing (re-judging says
// why); a ledger that cannot be read is an error.
func (s *Server) mayMatch(ctx context.Context) ([]mayMatch, *rules.Policy, error) {
	out := []mayMatch{}
	p, err := s.policy(ctx)
	var ue *userError
	if errors.As(err, &ue) {
		return out, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var domains []string
	for _, t := range p.Tenants() {
		domains = append(domains, t.Domains...)
	}
	// Only mail from the registry's domains can match now: the ledger
	// looks them up by domain, so the offer costs what it shows.
	msgs, err := s.ledger.RematchCandidates(ctx, domains, p.RegistryVersion())
	if err != nil {
		return nil, nil, err
	}
	byTenant := map[string]int{} // tenant ID -> index in out
	for _, m := range msgs {
		t, ok := mayMatchFor(p, m.Judgment)
		if !ok {
			continue
		}
		i, seen := byTenant[t.ID]
		if !seen {
			i = len(out)
			byTenant[t.ID] = i
			out = append(out, mayMatch{TenantID: t.ID, TenantName: t.Name})
		}
		out[i].Messages = append(out[i].Messages, m.SHA256)
		out[i].Count++
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Count > out[b].Count })
	return out, p, nil
}

// rematch re-judges, under the registry as it is now, the triage messages
// that may now match the tenant tenantID (mayMatch), through the same path
// as re-judging one message. No messages to offer is no error: another
// analyst may have re-judged them already.
func (s *Server) rematch(ctx context.Context, tenantID, user string) ([]rejudged, error) {
	if s.rejudgeFn == nil {
		return nil, errNoRejudge
	}
	id, ok := rules.ParseTenantID(tenantID)
	if !ok {
		return nil, badRequest("%q is not a tenant ID (a GUID such as 3e9d7c1b-4a2f-4b8e-9c6d-5f1a2b3c4d5e)", tenantID)
	}
	groups, p, err := s.mayMatch(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.TenantID == id {
			return s.rejudgeMany(ctx, p, g.Messages, user)
		}
	}
	return []rejudged{}, nil
}

func (s *Server) triageRematchForm(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.triageError(w, r, err)
		return
	}
	results, err := s.rematch(r.Context(), r.PostFormValue("tenant_id"), actor(r))
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	s.redirectWith(w, r, "/triage", results)
}

// rematchRequest is the body of POST /api/v1/triage/rematch.
type rematchRequest struct {
	TenantID string `json:"tenant_id"`
}

func (s *Server) apiTriageRematch(w http.ResponseWriter, r *http.Request) {
	var body rematchRequest
	if err := readJSON(r, &body); err != nil {
		s.apiError(w, http.StatusBadRequest, err.Error()+`; send {"tenant_id": "<the tenant's GUID>"}`)
		return
	}
	results, err := s.rematch(r.Context(), body.TenantID, actor(r))
	if err != nil {
		s.triageError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}
