package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/claimtrail/claimtrail/ingest"
	"github.com/claimtrail/claimtrail/ingest/ingesttest"
)

// entraStub plays Microsoft Entra ID for one app registration: /token
// issues tokens by the client credentials grant, /introspect tells
// Dovecot whether a token is valid (RFC 7662).
type entraStub struct {
	mu       sync.Mutex
	secret   string
	user     string
	issued   map[string]bool // token -> still valid
	requests int
}

func (s *entraStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/tenant/oauth2/v2.0/token":
		s.requests++
		if r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != ingest.DefaultOAuthScope {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"invalid_request","error_description":"AADSTS900144: bad grant %q scope %q"}`, r.Form.Get("grant_type"), r.Form.Get("scope"))
			return
		}
		if r.Form.Get("client_id") != "app-id" || r.Form.Get("client_secret") != s.secret {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}`)
			return
		}
		tok := fmt.Sprintf("tok-%d", s.requests)
		s.issued[tok] = true
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": 3599, "access_token": tok})
	case "/introspect":
		active := s.issued[r.Form.Get("token")]
		json.NewEncoder(w).Encode(map[string]any{"active": active, "username": s.user})
	default:
		http.NotFound(w, r)
	}
}

func (s *entraStub) revokeAll() {
	s.mu.Lock()
	for t := range s.issued {
		s.issued[t] = false
	}
	s.mu.Unlock()
}

func (s *entraStub) tokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

func TestXOAuth2AgainstDovecot(t *testing.T) {
	t.Parallel()
	stub := &entraStub{secret: "s3cret", user: user, issued: map[string]bool{}}
	hs := httptest.NewServer(stub)
	t.Cleanup(hs.Close)
	d := ingesttest.StartDovecotWith(t, ingesttest.Options{OAuth2IntrospectionURL: hs.URL + "/introspect"})
	d.Append(t, user, "INBOX", ingesttest.NewMessage(1, "acc1", 900))

	cfg := d.MailboxConfig(user)
	cfg.Auth, cfg.Password = ingest.AuthXOAuth2, ""
	cfg.OAuth = ingest.OAuth{TokenURL: hs.URL + "/tenant/oauth2/v2.0/token", ClientID: "app-id", ClientSecret: "s3cret"}
	src, err := ingest.NewIMAPSource(cfg, newMemCheckpoints(), testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []fetched
	h := collect(t, &mu, &got, route)
	for pass := range 2 {
		if err := src.RunOnce(context.Background(), h); err != nil {
			t.Fatalf("RunOnce pass %d with XOAUTH2: %v", pass, err)
		}
	}
	if len(got) != 1 || got[0].subject != "acc1" {
		t.Errorf("handled %+v, want the one message acc1", got)
	}
	if n := stub.tokenRequests(); n != 1 {
		t.Errorf("two logins made %d token requests, want 1 (cached)", n)
	}

	// A revoked token is refused once, then replaced.
	stub.revokeAll()
	if err := src.RunOnce(context.Background(), h); err != nil {
		t.Fatalf("RunOnce after revocation: %v", err)
	}
	if n := stub.tokenRequests(); n != 2 {
		t.Errorf("after revocation: %d token requests in all, want 2", n)
	}

	// A wrong client secret is a configuration error: say so, stop.
	bad := cfg
	bad.OAuth.ClientSecret = "wrong"
	_, err = ingest.DialIMAP(context.Background(), bad, testOptions(t))
	if !errors.Is(err, ingest.ErrBadCredentials) || !strings.Contains(err.Error(), "client_secret") {
		t.Errorf("DialIMAP with a wrong client secret: err = %v, want ErrBadCredentials naming client_secret", err)
	}
	if strings.Contains(fmt.Sprint(err), "wrong") {
		t.Errorf("error %q shows the client secret", err)
	}
}
