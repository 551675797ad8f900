package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func oauthConfig(tokenURL string) MailboxConfig {
	return MailboxConfig{
		Name: "support", Host: "outlook.office365.com", Username: "claims@partner.example",
		Auth:  AuthXOAuth2,
		OAuth: OAuth{TokenURL: tokenURL, ClientID: "app-id", ClientSecret: "s3cret"},
	}.WithDefaults()
}

func TestClientCredentialsCachesUntilNearExpiry(t *testing.T) {
	var requests atomic.Int32
	var lastForm atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		lastForm.Store(r.PostForm.Encode())
		n := requests.Add(1)
		fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":"3600","access_token":"tok-%d"}`, n)
	}))
	defer srv.Close()
	cfg := oauthConfig(srv.URL)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cc := NewClientCredentials(cfg, srv.Client())
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	cc.now = func() time.Time { return now }
	ctx := context.Background()

	steps := []struct {
		name       string
		advance    time.Duration
		invalidate bool
		want       string
	}{
		{"first call fetches", 0, false, "tok-1"},
		{"cached", 30 * time.Minute, false, "tok-1"},
		{"still cached 6 minutes before expiry", 24 * time.Minute, false, "tok-1"},
		{"renewed 5 minutes before expiry", time.Minute, false, "tok-2"},
		{"invalidated", 0, true, "tok-3"},
		{"cached again", time.Minute, false, "tok-3"},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if s.invalidate {
			cc.Invalidate()
		}
		got, err := cc.Token(ctx)
		if err != nil || got != s.want {
			t.Errorf("%s: Token() = %q, %v; want %q", s.name, got, err, s.want)
		}
	}
	form := lastForm.Load().(string)
	for _, want := range []string{"grant_type=client_credentials", "client_id=app-id", "client_secret=s3cret", "scope=https%3A%2F%2Foutlook.office365.com%2F.default"} {
		if !strings.Contains(form, want) {
			t.Errorf("token request form %q lacks %q", form, want)
		}
	}
}

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		body         string
		wantToken    string
		wantLifetime time.Duration
		wantKind     error // nil: success; errTemporary: an error that is not permanent
	}{
		{"v2 answer", 200, `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0"}`, "eyJ0", 3599 * time.Second, nil},
		{"v1 answer, string lifetime", 200, `{"token_type":"Bearer","expires_in":"3599","access_token":"eyJ1"}`, "eyJ1", 3599 * time.Second, nil},
		{"no lifetime", 200, `{"access_token":"eyJ2"}`, "eyJ2", 0, nil},
		{"negative lifetime", 200, `{"access_token":"eyJ3","expires_in":-5}`, "eyJ3", 0, nil},
		{"no token", 200, `{"token_type":"Bearer"}`, "", 0, errTemporary},
		{"not JSON", 200, `<html>proxy login</html>`, "", 0, errTemporary},
		{"mac token", 200, `{"token_type":"mac","access_token":"x"}`, "", 0, ErrPermanent},
		{"bad lifetime", 200, `{"access_token":"x","expires_in":"soon"}`, "", 0, errTemporary},
		{"wrong secret", 401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 9"}`, "", 0, ErrBadCredentials},
		{"unknown app", 400, `{"error":"unauthorized_client","error_description":"AADSTS700016: Application not found"}`, "", 0, ErrBadCredentials},
		{"bad scope", 400, `{"error":"invalid_scope","error_description":"AADSTS70011"}`, "", 0, ErrPermanent},
		{"throttled", 429, `{"error":"temporarily_unavailable"}`, "", 0, errTemporary},
		{"server down", 503, `Service Unavailable`, "", 0, errTemporary},
	}
	for _, tt := range tests {
		tok, lifetime, err := parseTokenResponse(tt.status, []byte(tt.body))
		switch {
		case tt.wantKind == nil:
			if err != nil || tok != tt.wantToken || lifetime != tt.wantLifetime {
				t.Errorf("%s: parseTokenResponse = %q, %v, %v; want %q, %v", tt.name, tok, lifetime, err, tt.wantToken, tt.wantLifetime)
			}
		case tt.wantKind == errTemporary:
			if err == nil || IsPermanent(err) {
				t.Errorf("%s: parseTokenResponse err = %v, want a temporary error", tt.name, err)
			}
		default:
			if !errors.Is(err, tt.wantKind) {
				t.Errorf("%s: parseTokenResponse err = %v, want %v", tt.name, err, tt.wantKind)
			}
			if errors.Is(tt.wantKind, ErrBadCredentials) && errors.Is(err, ErrPermanent) == false {
				t.Errorf("%s: bad credentials %v are not permanent", tt.name, err)
			}
		}
		if err != nil && strings.Contains(err.Error(), "Trace ID") {
			t.Errorf("%s: error %q keeps more than the description's first line", tt.name, err)
		}
	}
}

// errTemporary marks test cases that want a non-permanent error.
var errTemporary = errors.New("temporary")

func TestXOAuth2InitialResponse(t *testing.T) {
	x := &xoauth2{user: "claims@partner.example", token: "eyJ0"}
	mech, ir, err := x.Start()
	if err != nil || mech != "XOAUTH2" || string(ir) != "user=claims@partner.example\x01auth=Bearer eyJ0\x01\x01" {
		t.Errorf("Start() = %q, %q, %v", mech, ir, err)
	}
	resp, err := x.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://outlook.office365.com/.default"}`))
	if err != nil || len(resp) != 0 {
		t.Errorf("Next(error challenge) = %q, %v; want an empty response", resp, err)
	}
	bad := &xoauth2{user: "a\x01b", token: "t"}
	if _, _, err := bad.Start(); !IsPermanent(err) {
		t.Errorf("Start with a control character in the user: err = %v, want permanent", err)
	}
}

func TestDescribeXOAuth2Failure(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"status":"401","schemes":"bearer","scope":"mail"}`, "server said status 401, scope mail"},
		{`{"status":"400"}`, "server said status 400"},
		{`not json`, `server said "not json"`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := describeXOAuth2Failure([]byte(tt.in)); got != tt.want {
			t.Errorf("describeXOAuth2Failure(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, `{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0"}`)
	f.Add(200, `{"expires_in":"99999999999999999999","access_token":"x"}`)
	f.Add(401, `{"error":"invalid_client","error_description":"AADSTS7000215"}`)
	f.Add(500, ``)
	f.Fuzz(func(t *testing.T, status int, body string) {
		tok, lifetime, err := parseTokenResponse(status, []byte(body))
		if err == nil && (tok == "" || lifetime < 0) {
			t.Errorf("parseTokenResponse(%d, %q) = %q, %v, nil", status, body, tok, lifetime)
		}
		if err == nil && status != 200 {
			t.Errorf("parseTokenResponse(%d, ...) succeeded", status)
		}
	})
}

func FuzzDescribeXOAuth2Failure(f *testing.F) {
	f.Add([]byte(`{"status":"401","schemes":"bearer","scope":"mail"}`))
	f.Add([]byte("\xff\x00{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s := describeXOAuth2Failure(b); len(s) > 1300 {
			t.Errorf("description of %d bytes is %d long", len(b), len(s))
		}
	})
}
