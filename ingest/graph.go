package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/claimtrail/claimtrail/claims"
	"github.com/claimtrail/claimtrail/rules"
)

// Error kinds of the Graph client, besides ErrPermanent and
// ErrBadCredentials; test with errors.Is.
var (
	// ErrNotListed: Graph does not list the issue for the customer's tenant
	// (404): either it did not affect the tenant or it is older than the
	// history Graph keeps. Permanent for this tenant and issue.
	ErrNotListed = errors.New("issue not listed for this tenant")
	// ErrNoReport: the issue has no post-incident report (yet); Microsoft
	// publishes one only once the status is postIncidentReviewPublished.
	ErrNoReport = errors.New("no post-incident report")
	// ErrThrottled: Graph kept answering 429 or 503 beyond MaxRetries, or
	// asked for a longer wait than MaxWait. Temporary.
	ErrThrottled = errors.New("Microsoft Graph is throttling")
)

// GraphConfig configures a GraphClient. The zero values of the optional
// fields mean the defaults.
type GraphConfig struct {
	// LoginURL is the Entra ID authority, https://login.microsoftonline.com
	// by default; a national cloud or a test server has its own.
	LoginURL string
	// GraphURL is Microsoft Graph's root, https://graph.microsoft.com by
	// default.
	GraphURL string
	// ClientID and ClientSecret are the partner's multi-tenant app's; the
	// app needs ServiceHealth.Read.All in each customer tenant.
	ClientID     string
	ClientSecret Secret
	// HTTPClient makes the requests; nil means one with a 60-second timeout.
	HTTPClient *http.Client
	// MaxRetries bounds the retries of one request that Graph throttles
	// (429, 503); 0 means 4, negative means none.
	MaxRetries int
	// MaxWait bounds one wait Graph asks for (Retry-After); a longer one
	// ends the request with ErrThrottled at once. 0 means 2 minutes.
	MaxWait time.Duration
	// MaxPages bounds the pages Issues follows; 0 means 100.
	MaxPages int
}

// Graph's defaults, for the worldwide cloud.
const (
	DefaultLoginURL = "https://login.microsoftonline.com"
	DefaultGraphURL = "https://graph.microsoft.com"
)

// Bounds on what Graph sends back.
const (
	maxGraphPage   = 32 << 20
	maxGraphReport = 64 << 20
)

// GraphClient reads Service Health from Microsoft Graph in customer
// tenants, with the partner's multi-tenant app and the OAuth 2.0 client
// credentials flow: one token per tenant, cached until shortly before it
// expires. It is safe for concurrent use.
type GraphClient struct {
	cfg    GraphConfig
	login  *url.URL
	graph  *url.URL
	client *http.Client
	now    func() time.Time

	mu     sync.Mutex
	tokens map[string]*tenantToken // by tenant ID
}

// NewGraphClient checks cfg, fills in the defaults and returns a client.
// Errors name the offending field.
func NewGraphClient(cfg GraphConfig) (*GraphClient, error) {
	if cfg.LoginURL == "" {
		cfg.LoginURL = DefaultLoginURL
	}
	if cfg.GraphURL == "" {
		cfg.GraphURL = DefaultGraphURL
	}
	login, err := baseURL("LoginURL", cfg.LoginURL)
	if err != nil {
		return nil, err
	}
	graph, err := baseURL("GraphURL", cfg.GraphURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("graph: ClientID is empty; set the application (client) ID of the partner's multi-tenant app")
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("graph: ClientSecret is empty; set a client secret of the partner's multi-tenant app")
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = 4
	} else if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 2 * time.Minute
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 100
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	return &GraphClient{cfg: cfg, login: login, graph: graph, client: client, now: time.Now, tokens: map[string]*tenantToken{}}, nil
}

// baseURL checks a configured root URL: absolute http(s), no query.
func baseURL(field, s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(s), "/"))
	if err != nil {
		return nil, fmt.Errorf("graph: %s: %w", field, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("graph: %s %q is not a root URL like https://graph.microsoft.com", field, s)
	}
	return u, nil
}

// Issue reads incident incidentID from Service Health in tenant tenantID
// (GET /v1.0/admin/serviceAnnouncement/issues/{id}), marked SourceGraph and
// read now. A tenant for which Graph does not list the issue gives an
// error wrapping ErrNotListed.
func (c *GraphClient) Issue(ctx context.Context, tenantID, incidentID string) (claims.Incident, error) {
	tenant, id, err := checkIDs(tenantID, incidentID)
	if err != nil {
		return claims.Incident{}, fmt.Errorf("graph: issue %s in tenant %s: %w", incidentID, tenantID, err)
	}
	op := fmt.Sprintf("graph: issue %s in tenant %s", id, tenant)
	body, _, err := c.get(ctx, tenant, c.issueURL(id, ""), claims.MaxIssueSize)
	if errors.Is(err, errNotFound) {
		return claims.Incident{}, fmt.Errorf("%s: %w (the issue did not affect the tenant, or is older than Service Health keeps; use the offline catalog or a notification mail)", op, permanent(ErrNotListed))
	}
	if err != nil {
		return claims.Incident{}, fmt.Errorf("%s: %w", op, err)
	}
	inc, err := claims.ParseGraphIssue(body)
	if err != nil {
		return claims.Incident{}, fmt.Errorf("%s: %w", op, permanent(err))
	}
	inc.Source, inc.ReadAt = claims.SourceGraph, c.now().UTC()
	return inc, nil
}

// IncidentReport downloads the post-incident report of incident incidentID
// in tenant tenantID (GET .../issues/{id}/incidentReport): the document's
// bytes and their content type as Graph gave it. An issue without a report
// gives an error wrapping ErrNoReport.
func (c *GraphClient) IncidentReport(ctx context.Context, tenantID, incidentID string) (report []byte, contentType string, err error) {
	tenant, id, err := checkIDs(tenantID, incidentID)
	if err != nil {
		return nil, "", fmt.Errorf("graph: incident report %s in tenant %s: %w", incidentID, tenantID, err)
	}
	op := fmt.Sprintf("graph: incident report %s in tenant %s", id, tenant)
	body, header, err := c.get(ctx, tenant, c.issueURL(id, "/incidentReport"), maxGraphReport)
	if errors.Is(err, errNotFound) {
		return nil, "", fmt.Errorf("%s: %w (Microsoft publishes it once the status is %s; try again later)", op, permanent(ErrNoReport), claims.StatusPIRPublished)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	return body, header.Get("Content-Type"), nil
}

// Issues lists the Service Health issues Graph shows for tenant tenantID,
// following @odata.nextLink up to MaxPages pages, each marked SourceGraph
// and read now. Items that do not read as incidents are skipped and
// reported in problems, like claims.ParseCatalog's; err is set when the
// list could not be read.
func (c *GraphClient) Issues(ctx context.Context, tenantID string) (incidents []claims.Incident, problems []error, err error) {
	tenant, _, err := checkIDs(tenantID, "")
	if err != nil {
		return nil, nil, fmt.Errorf("graph: issues in tenant %s: %w", tenantID, err)
	}
	op := fmt.Sprintf("graph: issues in tenant %s", tenant)
	next := c.issueURL("", "")
	for page := 0; next != ""; page++ {
		if page == c.cfg.MaxPages {
			return nil, nil, fmt.Errorf("%s: more than %d pages; raise MaxPages", op, c.cfg.MaxPages)
		}
		u, err := c.sameOrigin(next)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: page %d: %w", op, page+1, permanent(err))
		}
		body, _, err := c.get(ctx, tenant, u, maxGraphPage)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: page %d: %w", op, page+1, err)
		}
		var p struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, nil, fmt.Errorf("%s: page %d: %w", op, page+1, err)
		}
		for n, item := range p.Value {
			inc, err := claims.ParseGraphIssue(item)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: page %d item %d: %w", op, page+1, n, err))
				continue
			}
			inc.Source, inc.ReadAt = claims.SourceGraph, c.now().UTC()
			incidents = append(incidents, inc)
		}
		next = p.NextLink
	}
	return incidents, problems, nil
}

// checkIDs returns a tenant ID in canonical form (rules.TenantIDs) and an
// incident ID in canonical form (rules.ParseIncidentID; "" stays "").
func checkIDs(tenantID, incidentID string) (tenant, id string, err error) {
	t := strings.Trim(strings.TrimSpace(tenantID), "{}")
	ids := rules.TenantIDs(t)
	if len(ids) != 1 || !strings.EqualFold(ids[0], t) {
		return "", "", permanent(fmt.Errorf("%q is not a tenant ID; want the customer's Microsoft Entra tenant GUID", tenantID))
	}
	tenant = ids[0]
	if incidentID != "" {
		if id, err = rules.ParseIncidentID(incidentID); err != nil {
			return "", "", permanent(err)
		}
	}
	return tenant, id, nil
}

// issueURL is the URL of the issue list, of one issue, or of one of its
// parts (suffix "/incidentReport").
func (c *GraphClient) issueURL(id, suffix string) string {
	u := c.graph.JoinPath("v1.0/admin/serviceAnnouncement/issues")
	if id != "" {
		u = u.JoinPath(id)
	}
	return u.String() + suffix
}

// sameOrigin checks that a next link points at the configured Graph, so the
// tenant's token goes nowhere else.
func (c *GraphClient) sameOrigin(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("next link: %w", err)
	}
	if !strings.EqualFold(u.Scheme, c.graph.Scheme) || !strings.EqualFold(u.Host, c.graph.Host) {
		return "", fmt.Errorf("next link leads to %s://%s, not to the configured Graph %s; not following it", u.Scheme, u.Host, c.graph)
	}
	return u.String(), nil
}

// errNotFound is a 404, which each method names in its own terms.
var errNotFound = errors.New("not found")

// get fetches u with tenant's token and returns the body of a 200, read up
// to limit bytes. It retries a throttled request (429, 503) as Graph's
// Retry-After says, within MaxRetries and MaxWait, and a refused token once
// with a fresh one. Errors are sorted: ErrPermanent for what retrying
// cannot fix, errNotFound for a 404.
func (c *GraphClient) get(ctx context.Context, tenant, u string, limit int64) ([]byte, http.Header, error) {
	reauthed := false
	for attempt := 0; ; attempt++ {
		tok, err := c.token(ctx, tenant)
		if err != nil {
			return nil, nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, nil, permanent(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "application/json")
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("reach Microsoft Graph: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		resp.Body.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("read Graph's answer: %w", err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			if int64(len(body)) > limit {
				return nil, nil, permanent(fmt.Errorf("Graph's answer is larger than %d bytes; refusing it", limit))
			}
			return body, resp.Header, nil
		case resp.StatusCode == http.StatusNotFound:
			return nil, nil, errNotFound
		case resp.StatusCode == http.StatusUnauthorized && !reauthed:
			// The token expired early or was revoked: one fresh try.
			c.dropToken(tenant)
			reauthed = true
			continue
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			wait, stated := retryAfter(resp.Header.Get("Retry-After"), c.now())
			if !stated {
				wait = time.Duration(1<<min(attempt, 6)) * time.Second
			}
			if attempt >= c.cfg.MaxRetries || wait > c.cfg.MaxWait {
				return nil, nil, fmt.Errorf("%w (HTTP %d after %d retries, asked to wait %v): try again later, or ask less often", ErrThrottled, resp.StatusCode, attempt, wait)
			}
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, nil, err
			}
			continue
		}
		return nil, nil, statusError(resp.StatusCode, body, tenant)
	}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// statusError turns a Graph error answer into an error that says what to do.
func statusError(status int, body []byte, tenant string) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e) // the status alone suffices when the body is not Graph's
	detail := fmt.Sprintf("HTTP %d", status)
	if e.Error.Code != "" {
		detail += " " + clipText(e.Error.Code, 80)
	}
	if e.Error.Message != "" {
		detail += ": " + clipText(e.Error.Message, 300)
	}
	switch {
	case status == http.StatusUnauthorized:
		return badCredentials(fmt.Errorf("Graph refused the app's token twice (%s); check that the app is consented in tenant %s", detail, tenant))
	case status == http.StatusForbidden:
		return permanent(fmt.Errorf("the app may not read Service Health (%s): grant the app ServiceHealth.Read.All in the customer's tenant %s through GDAP, with admin consent", detail, tenant))
	case status >= 500:
		return fmt.Errorf("Graph failed (%s); try again later", detail)
	}
	return permanent(fmt.Errorf("Graph refused the request (%s)", detail))
}

func clipText(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// tenantToken caches one tenant's access token.
type tenantToken struct {
	cfg clientcredentials.Config
	mu  sync.Mutex
	tok *oauth2.Token
}

// token returns a valid access token for tenant, fetching one when the
// cached one is missing or about to expire (oauth2.Token.Valid allows 10
// seconds of slack).
func (c *GraphClient) token(ctx context.Context, tenant string) (string, error) {
	c.mu.Lock()
	tt := c.tokens[tenant]
	if tt == nil {
		tt = &tenantToken{cfg: clientcredentials.Config{
			ClientID:     c.cfg.ClientID,
			ClientSecret: c.cfg.ClientSecret.Reveal(),
			TokenURL:     c.login.JoinPath(tenant, "oauth2/v2.0/token").String(),
			Scopes:       []string{c.graph.String() + "/.default"},
			AuthStyle:    oauth2.AuthStyleInParams,
		}}
		c.tokens[tenant] = tt
	}
	c.mu.Unlock()

	tt.mu.Lock()
	defer tt.mu.Unlock()
	if tt.tok.Valid() {
		return tt.tok.AccessToken, nil
	}
	tok, err := tt.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.client))
	if err != nil {
		return "", tokenError(err, tenant)
	}
	tt.tok = tok
	return tok.AccessToken, nil
}

// dropToken forgets tenant's token, which Graph refused.
func (c *GraphClient) dropToken(tenant string) {
	c.mu.Lock()
	tt := c.tokens[tenant]
	c.mu.Unlock()
	if tt != nil {
		tt.mu.Lock()
		tt.tok = nil
		tt.mu.Unlock()
	}
}

// tokenError sorts a token endpoint's refusal. The endpoint's own
// description (AADSTS codes) is kept; it holds no secret.
func tokenError(err error, tenant string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("get a token from the token endpoint: %w", err)
	}
	desc := clipText(re.ErrorDescription, 300)
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	switch {
	case re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client":
		return badCredentials(fmt.Errorf("the token endpoint refused the app's credentials (%s: %s): check ClientID and ClientSecret, and that the secret has not expired", re.ErrorCode, desc))
	case strings.Contains(desc, "AADSTS700016") || strings.Contains(desc, "AADSTS90002") || re.ErrorCode == "invalid_request" || re.ErrorCode == "invalid_grant":
		return permanent(fmt.Errorf("the token endpoint refused a token for tenant %s (%s: %s): check the tenant ID and that the customer consented to the app", tenant, re.ErrorCode, desc))
	case status == http.StatusTooManyRequests || status >= 500:
		return fmt.Errorf("the token endpoint failed (HTTP %d %s); try again later", status, re.ErrorCode)
	}
	return permanent(fmt.Errorf("the token endpoint refused a token for tenant %s (HTTP %d %s: %s)", tenant, status, re.ErrorCode, desc))
}
