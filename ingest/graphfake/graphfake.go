// Package graphfake is a fake Microsoft Graph Service Health API and Entra
// ID token endpoint on 127.0.0.1: the tests' Graph (through ingesttest)
// and the demo's, so it must not import package testing.
package graphfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The credentials Server's token endpoint accepts unless told others.
const (
	ClientID     = "11111111-2222-3333-4444-555555555555"
	ClientSecret = "fake-graph-secret"
)

// Server is an in-process Microsoft Graph Service Health API and Entra ID
// token endpoint on 127.0.0.1, for tests and the demo. It serves
//
//	POST /{tenant}/oauth2/v2.0/token                       client credentials
//	GET  /v1.0/admin/serviceAnnouncement/issues            the tenant's list, paged
//	GET  /v1.0/admin/serviceAnnouncement/issues/{id}       one issue, 404 if not the tenant's
//	GET  /v1.0/admin/serviceAnnouncement/issues/{id}/incidentReport
//
// and misbehaves on request: paging (SetPageSize), throttling (Throttle),
// expired tokens (ExpireTokens), refused tenants (Forbid). URL is both the
// login and the Graph root. Its methods are safe for concurrent use.
type Server struct {
	URL string

	srv *http.Server
	ln  net.Listener

	mu           sync.Mutex
	clientID     string
	clientSecret string
	issues       map[string]map[string][]byte // tenant -> ID -> issue JSON
	reports      map[string]map[string][]byte // tenant -> ID -> report
	forbidden    map[string]bool
	tokens       map[string]fakeToken
	serial       int
	validFrom    int // tokens with a lower serial are expired
	pageSize     int
	throttleN    int
	throttleCode int
	retryAfter   string
	requests     map[string]int
}

type fakeToken struct {
	tenant string
	serial int
}

// Start serves a fake Graph on a free port of 127.0.0.1; Close stops it.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("graphfake: %w", err)
	}
	f := &Server{
		clientID: ClientID, clientSecret: ClientSecret,
		issues: map[string]map[string][]byte{}, reports: map[string]map[string][]byte{},
		forbidden: map[string]bool{}, tokens: map[string]fakeToken{}, requests: map[string]int{},
		URL: "http://" + ln.Addr().String(), ln: ln,
	}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 10 * time.Second}
	go f.srv.Serve(ln)
	return f, nil
}

// Close stops the server and closes its connections.
func (f *Server) Close() { f.srv.Close() }

// AddIssue lists a serviceHealthIssue object for tenantID; it panics when
// issueJSON has no "id", being a mistake in the test.
func (f *Server) AddIssue(tenantID string, issueJSON []byte) {
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(issueJSON, &v); err != nil || v.ID == "" {
		panic(fmt.Sprintf("graphfake: AddIssue: want an issue object with an id: %v", err))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	put(f.issues, tenantID, v.ID, slices.Clone(issueJSON))
}

// AddReport gives issue id in tenantID a post-incident report.
func (f *Server) AddReport(tenantID, id string, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	put(f.reports, tenantID, id, slices.Clone(body))
}

func put(m map[string]map[string][]byte, tenant, id string, v []byte) {
	tenant, id = strings.ToLower(tenant), strings.ToUpper(id)
	if m[tenant] == nil {
		m[tenant] = map[string][]byte{}
	}
	m[tenant][id] = v
}

// SetCredentials changes the client ID and secret the token endpoint
// accepts.
func (f *Server) SetCredentials(clientID, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clientID, f.clientSecret = clientID, secret
}

// SetPageSize makes the issue list pages of n issues, linked by
// @odata.nextLink; 0 means one page.
func (f *Server) SetPageSize(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pageSize = n
}

// Throttle answers the next n Graph requests (not token requests) with
// status (429 or 503) and, unless retryAfter is "", that Retry-After.
func (f *Server) Throttle(n, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttleN, f.throttleCode, f.retryAfter = n, status, retryAfter
}

// ExpireTokens makes every token issued so far fail with 401
// InvalidAuthenticationToken, as Graph answers a token that expired early
// or was revoked.
func (f *Server) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.validFrom = f.serial + 1
}

// Forbid answers tenantID's Graph requests with 403, as when the app lacks
// ServiceHealth.Read.All there.
func (f *Server) Forbid(tenantID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forbidden[strings.ToLower(tenantID)] = true
}

// Requests counts the requests of one kind so far: "token", "list",
// "issue", "report", or "" for all.
func (f *Server) Requests(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if kind == "" {
		n := 0
		for _, c := range f.requests {
			n += c
		}
		return n
	}
	return f.requests[kind]
}

const issuesPath = "/v1.0/admin/serviceAnnouncement/issues"

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	if tenant, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/oauth2/v2.0/token"); ok && !strings.Contains(tenant, "/") {
		f.token(w, r, strings.ToLower(tenant))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, issuesPath)
	if !ok || r.Method != http.MethodGet {
		graphError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment.")
		return
	}
	var kind, id string
	switch parts := strings.Split(strings.Trim(rest, "/"), "/"); {
	case rest == "" || rest == "/":
		kind = "list"
	case len(parts) == 1:
		kind, id = "issue", strings.ToUpper(parts[0])
	case len(parts) == 2 && parts[1] == "incidentReport":
		kind, id = "report", strings.ToUpper(parts[0])
	default:
		graphError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment.")
		return
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[kind]++
	if f.throttleN > 0 {
		f.throttleN--
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		graphError(w, f.throttleCode, "TooManyRequests", "Too many requests.")
		return
	}
	tok, found := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	if !found || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return
	}
	if tok.serial < f.validFrom {
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
		return
	}
	if f.forbidden[tok.tenant] {
		graphError(w, http.StatusForbidden, "Forbidden", "Caller does not have access. Either the scope or the role is missing.")
		return
	}
	switch kind {
	case "list":
		f.list(w, r, tok.tenant)
	case "issue":
		issue, ok := f.issues[tok.tenant][id]
		if !ok {
			graphError(w, http.StatusNotFound, "NotFound", "The requested issue was not found.")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(issue)
	case "report":
		report, ok := f.reports[tok.tenant][id]
		if !ok {
			graphError(w, http.StatusNotFound, "NotFound", "No incident report for this issue.")
			return
		}
		w.Header().Set("Content-Type", http.DetectContentType(report))
		w.Write(report)
	}
}

// list writes one page of tenant's issues, sorted by ID; $skiptoken is the
// index of the page's first issue.
func (f *Server) list(w http.ResponseWriter, r *http.Request, tenant string) {
	ids := make([]string, 0, len(f.issues[tenant]))
	for id := range f.issues[tenant] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	from, _ := strconv.Atoi(r.URL.Query().Get("$skiptoken"))
	from = min(max(from, 0), len(ids))
	to := len(ids)
	if f.pageSize > 0 {
		to = min(from+f.pageSize, len(ids))
	}
	page := struct {
		Context  string            `json:"@odata.context"`
		NextLink string            `json:"@odata.nextLink,omitempty"`
		Value    []json.RawMessage `json:"value"`
	}{Context: f.URL + "/v1.0/$metadata#admin/serviceAnnouncement/issues", Value: []json.RawMessage{}}
	for _, id := range ids[from:to] {
		page.Value = append(page.Value, f.issues[tenant][id])
	}
	if to < len(ids) {
		page.NextLink = fmt.Sprintf("%s%s?$skiptoken=%d", f.URL, issuesPath, to)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(page)
}

// token checks a client-credentials request as Entra ID does and issues a
// token for tenant.
func (f *Server) token(w http.ResponseWriter, r *http.Request, tenant string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests["token"]++
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "AADSTS900561: The endpoint only accepts POST requests.")
		return
	}
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
	case r.PostForm.Get("client_id") != f.clientID:
		tokenError(w, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier was not found in the directory.")
	case r.PostForm.Get("client_secret") != f.clientSecret:
		tokenError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
	case r.PostForm.Get("scope") != f.URL+"/.default":
		tokenError(w, http.StatusBadRequest, "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.")
	default:
		b := make([]byte, 16)
		rand.Read(b)
		tok := hex.EncodeToString(b)
		f.serial++
		f.tokens[tok] = fakeToken{tenant: tenant, serial: f.serial}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": tok})
	}
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func graphError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
