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
)

// TokenSource supplies OAuth 2.0 access tokens for XOAUTH2 logins. It must
// be safe for concurrent use.
type TokenSource interface {
	// Token returns an access token that is valid now, from a cache when
	// possible. Errors are sorted like the IMAP source's (IsPermanent).
	Token(ctx context.Context) (string, error)
	// Invalidate drops the cached token, after the server refused it.
	Invalidate()
}

// ClientCredentials is a TokenSource for Exchange Online app-only access:
// it gets tokens from the token endpoint with the OAuth 2.0 client
// credentials grant and caches each until shortly before it expires.
type ClientCredentials struct {
	mailbox string
	cfg     OAuth
	client  *http.Client
	now     func() time.Time

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// NewClientCredentials returns a token source for mailbox cfg, which must
// have passed WithDefaults and Validate. A nil client means a client with a
// 30-second timeout.
func NewClientCredentials(cfg MailboxConfig, client *http.Client) *ClientCredentials {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return &ClientCredentials{mailbox: cfg.Name, cfg: cfg.OAuth, client: client, now: time.Now}
}

// Token returns the cached token, or fetches a new one when there is none
// or it is about to expire.
func (s *ClientCredentials) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.renewAt) {
		return s.token, nil
	}
	tok, lifetime, err := s.fetch(ctx)
	if err != nil {
		return "", fmt.Errorf("oauth: token for mailbox %q: %w", s.mailbox, err)
	}
	// Renew early so a token never expires between Token and the login.
	margin := min(5*time.Minute, lifetime/2)
	s.token, s.renewAt = tok, s.now().Add(lifetime-margin)
	return tok, nil
}

// Invalidate drops the cached token.
func (s *ClientCredentials) Invalidate() {
	s.mu.Lock()
	s.token = ""
	s.mu.Unlock()
}

func (s *ClientCredentials) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.cfg.ClientID},
		"client_secret": {s.cfg.ClientSecret.Reveal()},
		"scope":         {s.cfg.Scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, permanent(fmt.Errorf("token_url: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return "", 0, classify(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("read token response: %w", err)
	}
	tok, lifetime, err := parseTokenResponse(resp.StatusCode, body)
	if err != nil {
		return "", 0, err
	}
	return tok, lifetime, nil
}

// tokenResponse is RFC 6749 section 5.1 and 5.2, as Microsoft's identity
// platform sends it. Its v1 endpoint sends expires_in as a string.
type tokenResponse struct {
	AccessToken      string    `json:"access_token"`
	TokenType        string    `json:"token_type"`
	ExpiresIn        expiresIn `json:"expires_in"`
	Error            string    `json:"error"`
	ErrorDescription string    `json:"error_description"`
}

type expiresIn int64

func (e *expiresIn) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*e = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("expires_in: %q is not a number of seconds", s)
	}
	*e = expiresIn(n)
	return nil
}

// parseTokenResponse reads a token endpoint's answer; errors are sorted
// into bad credentials (the app registration is wrong), other permanent
// ones, and temporary ones (throttling, server trouble).
func parseTokenResponse(status int, body []byte) (string, time.Duration, error) {
	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr)
	if status != http.StatusOK {
		what := http.StatusText(status)
		if jsonErr == nil && tr.Error != "" {
			what = tr.Error + ": " + firstLine(tr.ErrorDescription)
		}
		err := fmt.Errorf("token endpoint answered %d: %s", status, what)
		switch {
		case status == http.StatusTooManyRequests || status >= 500:
			return "", 0, err
		case tr.Error == "invalid_client" || tr.Error == "unauthorized_client" || tr.Error == "invalid_grant" || status == http.StatusUnauthorized:
			return "", 0, badCredentials(fmt.Errorf("check oauth client_id, client_secret and tenant: %w", err))
		default:
			return "", 0, permanent(fmt.Errorf("check the oauth settings: %w", err))
		}
	}
	if jsonErr != nil {
		return "", 0, fmt.Errorf("token endpoint answered 200 with no JSON token: %w", jsonErr)
	}
	if tr.AccessToken == "" {
		return "", 0, errors.New("token endpoint answered 200 without an access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return "", 0, permanent(fmt.Errorf("token endpoint issued a %q token, not a bearer token", tr.TokenType))
	}
	lifetime := time.Duration(tr.ExpiresIn) * time.Second
	if tr.ExpiresIn <= 0 || tr.ExpiresIn > 1<<31 {
		// No usable lifetime: use the token once, then ask again.
		lifetime = 0
	}
	return tr.AccessToken, lifetime, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// xoauth2 is the client side of SASL XOAUTH2, as Google and Microsoft
// define it: one initial response, and on failure one JSON challenge that
// the client answers with an empty response.
type xoauth2 struct {
	user, token string
	failure     []byte // the server's error challenge, if any
}

func (x *xoauth2) Start() (string, []byte, error) {
	if strings.ContainsAny(x.user, "\x01") || strings.ContainsAny(x.token, "\x01") {
		return "", nil, permanent(errors.New("xoauth2: user name or token contains a control character"))
	}
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2) Next(challenge []byte) ([]byte, error) {
	x.failure = challenge
	return []byte{}, nil
}

// describeXOAuth2Failure summarises the JSON error challenge
// ({"status":"401","schemes":"bearer","scope":"..."}) for an error message.
func describeXOAuth2Failure(challenge []byte) string {
	if len(challenge) == 0 {
		return ""
	}
	var v struct {
		Status string `json:"status"`
		Scope  string `json:"scope"`
	}
	if err := json.Unmarshal(challenge, &v); err != nil || v.Status == "" {
		return "server said " + strconv.QuoteToASCII(firstLine(string(challenge)))
	}
	status, scope := strconv.QuoteToASCII(firstLine(v.Status)), strconv.QuoteToASCII(firstLine(v.Scope))
	status, scope = status[1:len(status)-1], scope[1:len(scope)-1]
	if scope != "" {
		return fmt.Sprintf("server said status %s, scope %s", status, scope)
	}
	return "server said status " + status
}
