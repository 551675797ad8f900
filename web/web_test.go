package web

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claimtrail/claimtrail/archive"
	"github.com/claimtrail/claimtrail/evidence"
	"github.com/claimtrail/claimtrail/rules"
)

// fillPath gives a route's path pattern real values.
func (f *fixture) fillPath(pattern string) string {
	r := strings.NewReplacer(
		"{$}", "",
		"{id}", fmt.Sprint(f.claimFor(contosoID, "EX315207")),
		"{sha}", f.sha["xss"],
		"{att}", strings.Repeat("a", 64),
		"{file}", "style.css",
	)
	return r.Replace(pattern)
}

// publicRoutes are the only routes an anonymous client may use. Adding a
// public route means adding it here, deliberately.
var publicRoutes = []string{
	"GET /login", "POST /login", "GET /static/{file}", "GET /healthz", "GET /readyz",
}

func TestEveryRouteRefusesAnonymous(t *testing.T) {
	f := newFixture(t)
	var public []string
	for _, rt := range f.srv.routes {
		if rt.access == accessPublic {
			public = append(public, rt.pattern())
			continue
		}
		path := f.fillPath(rt.path)
		for _, cred := range []struct {
			name  string
			setup func(*http.Request)
		}{
			{"no credentials", func(*http.Request) {}},
			{"unknown session", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: sessionCookie, Value: "cts_forged"}) }},
			{"bad bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ctk_forged") }},
			{"basic auth", func(r *http.Request) { r.SetBasicAuth("adam", testPassword) }},
		} {
			req := httptest.NewRequest(rt.method, path, strings.NewReader("{}"))
			cred.setup(req)
			rec := f.do(req)
			switch {
			case rt.access == accessAPI || req.Header.Get("Authorization") != "":
				if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("Content-Type"), "application/json") {
					t.Errorf("%s %s (%s) = %d %q, want 401 with a JSON error", rt.method, path, cred.name, rec.Code, rec.Header().Get("Content-Type"))
				}
			default:
				if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
					t.Errorf("%s %s (%s) = %d to %q, want 303 to the login page", rt.method, path, cred.name, rec.Code, loc)
				}
			}
			if strings.Contains(rec.Body.String(), "Contoso") || strings.Contains(rec.Body.String(), f.sha["xss"][:12]+"\"") {
				t.Errorf("%s %s (%s) leaks data to an anonymous client: %.200s", rt.method, path, cred.name, rec.Body.String())
			}
		}
	}
	slices.Sort(public)
	want := slices.Clone(publicRoutes)
	slices.Sort(want)
	if !slices.Equal(public, want) {
		t.Errorf("public routes = %v, want exactly %v", public, want)
	}
	// Paths no route names, and methods no route takes, are refused too.
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "/no/such/page", nil),
		httptest.NewRequest("GET", "/api/v1/nothing", nil),
		httptest.NewRequest("DELETE", "/claims/1", nil),
		httptest.NewRequest("PUT", "/api/v1/claims/1", nil),
	} {
		if rec := f.do(req); rec.Code < 300 {
			t.Errorf("%s %s = %d for an anonymous client", req.Method, req.URL.Path, rec.Code)
		}
	}
}

func TestPublicRoutesServeNoData(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ path, want string }{
		{"/login", `name="password"`},
		{"/static/style.css", "--accent"},
		{"/static/app.js", "data-copy"},
		{"/healthz", "ok"},
		{"/readyz", `"ledger": "ok"`},
	} {
		rec := f.get(tc.path, nil)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("GET %s = %d, body %.100q, want 200 containing %q", tc.path, rec.Code, rec.Body.String(), tc.want)
		}
	}
	if rec := f.get("/static/../web.go", nil); rec.Code == http.StatusOK {
		t.Errorf("GET /static/../web.go = 200, want a refusal")
	}
}

func TestRolesAreEnforced(t *testing.T) {
	f := newFixture(t)
	id := f.claimFor(contosoID, "EX315207")
	fieldsPath := fmt.Sprintf("/claims/%d/fields", id)
	tests := []struct {
		name, user string
		req        func(cookie *http.Cookie, csrf string) *httptest.ResponseRecorder
		want       int
	}{
		{"viewer sets a field", "vera", func(c *http.Cookie, csrf string) *httptest.ResponseRecorder {
			return f.postForm(fieldsPath, c, url.Values{"csrf": {csrf}, "field": {"ticket"}, "value": {"123"}})
		}, http.StatusForbidden},
		{"viewer changes the status", "vera", func(c *http.Cookie, csrf string) *httptest.ResponseRecorder {
			return f.postForm(fmt.Sprintf("/claims/%d/status", id), c, url.Values{"csrf": {csrf}, "status": {"expired"}})
		}, http.StatusForbidden},
		{"viewer attaches triage mail", "vera", func(c *http.Cookie, csrf string) *httptest.ResponseRecorder {
			return f.postForm("/triage/"+f.sha["noid"]+"/attach", c, url.Values{"csrf": {csrf}, "incident": {"EX315207"}})
		}, http.StatusForbidden},
		{"analyst imports tenants", "anna", func(c *http.Cookie, csrf string) *httptest.ResponseRecorder {
			return f.postForm("/tenants/import", c, url.Values{"csrf": {csrf}})
		}, http.StatusForbidden},
		{"viewer reads a claim", "vera", func(c *http.Cookie, csrf string) *httptest.ResponseRecorder {
			return f.get(fmt.Sprintf("/claims/%d", id), c)
		}, http.StatusOK},
		{"viewer downloads a bundle", "vera", func(c *http.Cookie, csrf string) *httptest.ResponseRecorder {
			return f.get("/messages/"+f.sha["xss"]+"/bundle", c)
		}, http.StatusOK},
		{"analyst sets a field", "anna", func(c *http.Cookie, csrf string) *httptest.ResponseRecorder {
			return f.postForm(fieldsPath, c, url.Values{"csrf": {csrf}, "field": {"locations"}, "value": {"Prague"}})
		}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		c, csrf := f.session(tt.user)
		if rec := tt.req(c, csrf); rec.Code != tt.want {
			t.Errorf("%s: status %d, want %d (%.200s)", tt.name, rec.Code, tt.want, rec.Body.String())
		}
	}
	cl, err := f.ledger.Claim(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, set := cl.Fields[claims.FieldTicket]; set || cl.Status != claims.StatusOpen {
		t.Errorf("a viewer's request changed the claim: fields %v, status %s", cl.Fields, cl.Status)
	}

	// The API enforces the same roles for tokens.
	viewer := f.apiToken("vera")
	if rec := f.apiCall("PATCH", fmt.Sprintf("/api/v1/claims/%d", id), viewer, `{"fields": {"ticket": "1"}}`); rec.Code != http.StatusForbidden {
		t.Errorf("viewer token PATCH = %d, want 403", rec.Code)
	}
	if rec := f.apiCall("POST", "/api/v1/tenants/import", f.apiToken("anna"), "x"); rec.Code != http.StatusForbidden {
		t.Errorf("analyst token tenant import = %d, want 403", rec.Code)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	id := f.claimFor(contosoID, "EX315207")
	path := fmt.Sprintf("/claims/%d/fields", id)
	cookie, csrf := f.session("anna")
	_, otherCSRF := f.session("adam")
	form := func(token string) url.Values {
		v := url.Values{"field": {"ticket"}, "value": {"2602150040001234"}}
		if token != "" {
			v.Set("csrf", token)
		}
		return v
	}
	for _, tc := range []struct {
		name  string
		token string
	}{
		{"no token", ""},
		{"wrong token", strings.Repeat("0", 64)},
		{"another session's token", otherCSRF},
	} {
		if rec := f.postForm(path, cookie, form(tc.token)); rec.Code != http.StatusForbidden {
			t.Errorf("form with %s = %d, want 403", tc.name, rec.Code)
		}
	}
	// Multipart forms are checked too.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("field", "ticket")
	mw.WriteField("value", "1")
	mw.Close()
	req := httptest.NewRequest("POST", path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(cookie)
	if rec := f.do(req); rec.Code != http.StatusForbidden {
		t.Errorf("multipart form without a token = %d, want 403", rec.Code)
	}
	// A browser's cross-site request is refused even with a token.
	req = httptest.NewRequest("POST", path, strings.NewReader(form(csrf).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.AddCookie(cookie)
	if rec := f.do(req); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site form = %d, want 403", rec.Code)
	}
	c, _ := f.ledger.Claim(context.Background(), id)
	if _, set := c.Fields[claims.FieldTicket]; set {
		t.Fatalf("a refused form changed the claim")
	}
	if rec := f.postForm(path, cookie, form(csrf)); rec.Code != http.StatusSeeOther {
		t.Errorf("form with its token = %d, want 303 (%.200s)", rec.Code, rec.Body.String())
	}

	// The API: a cookie needs the header, a bearer token does not.
	apiPath := fmt.Sprintf("/api/v1/claims/%d", id)
	req = httptest.NewRequest("PATCH", apiPath, strings.NewReader(`{"fields": {"locations": "Brno"}}`))
	req.AddCookie(cookie)
	if rec := f.do(req); rec.Code != http.StatusForbidden {
		t.Errorf("cookie PATCH without X-CSRF-Token = %d, want 403", rec.Code)
	}
	req = httptest.NewRequest("PATCH", apiPath, strings.NewReader(`{"fields": {"locations": "Brno"}}`))
	req.AddCookie(cookie)
	req.Header.Set(csrfHeader, csrf)
	if rec := f.do(req); rec.Code != http.StatusOK {
		t.Errorf("cookie PATCH with X-CSRF-Token = %d, want 200 (%s)", rec.Code, rec.Body.String())
	}
	if rec := f.apiCall("PATCH", apiPath, f.apiToken("anna"), `{"fields": {"affected_users": "120"}}`); rec.Code != http.StatusOK {
		t.Errorf("bearer PATCH without a CSRF token = %d, want 200 (%s)", rec.Code, rec.Body.String())
	}

	// The login form carries its own token, confirmed by a cookie.
	rec := f.postForm("/login", nil, url.Values{"user": {"anna"}, "password": {testPassword}, "csrf": {"x"}})
	if rec.Code != http.StatusForbidden || rec.Result().Cookies() == nil || hasCookie(rec, sessionCookie) {
		t.Errorf("login without its cookie = %d, want 403 and no session", rec.Code)
	}
}

func hasCookie(rec *httptest.ResponseRecorder, name string) bool {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}

// login submits the login form as a browser would: fetch it, then post
// it with its token and cookie from addr.
func (f *fixture) login(user, password, addr string) *httptest.ResponseRecorder {
	f.t.Helper()
	form := f.get("/login", nil)
	var token string
	for _, c := range form.Result().Cookies() {
		if c.Name == loginCookie {
			token = c.Value
		}
	}
	if token == "" {
		f.t.Fatalf("GET /login set no %s cookie", loginCookie)
	}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{
		"user": {user}, "password": {password}, "csrf": {token}, "next": {"/claims/1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: loginCookie, Value: token})
	req.RemoteAddr = addr
	if f.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", f.forwardedFor)
	}
	return f.do(req)
}

func TestLoginAndLogout(t *testing.T) {
	f := newFixture(t)
	rec := f.login("Anna", testPassword, "198.51.100.7:5000")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/claims/1" {
		t.Fatalf("login = %d to %q, want 303 to /claims/1", rec.Code, rec.Header().Get("Location"))
	}
	var sess *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure || sess.Path != "/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Lax, not Secure over plain HTTP, Path=/", sess)
	}
	if page := f.get("/claims", sess); page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "anna · analyst") {
		t.Errorf("GET /claims with the new session = %d", page.Code)
	}
	csrf := csrfFor(sess.Value)
	if out := f.postForm("/logout", sess, url.Values{"csrf": {csrf}}); out.Code != http.StatusSeeOther {
		t.Errorf("logout = %d", out.Code)
	}
	if page := f.get("/claims", sess); page.Code != http.StatusSeeOther {
		t.Errorf("GET /claims after logout = %d, want a redirect to the login page", page.Code)
	}
	if rec := f.login("anna", "wrong password!", "198.51.100.7:5000"); rec.Code != http.StatusUnauthorized ||
		!strings.Contains(rec.Body.String(), "Wrong user name or password") || hasCookie(rec, sessionCookie) {
		t.Errorf("login with a wrong password = %d", rec.Code)
	}
	// Open redirects are refused.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		if got := safeNext(next); got != "/claims" {
			t.Errorf("safeNext(%q) = %q, want /claims", next, got)
		}
	}
}

func TestSecureCookies(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		tls  bool
	}{
		{"configured", Config{SecureCookies: true}, false},
		{"https base URL", Config{BaseURL: "https://claims.adatum-csp.com"}, false},
		{"request over TLS", Config{}, true},
	} {
		f := newFixture(t, fixtureOptions{cfg: tc.cfg})
		form := httptest.NewRequest("GET", "/login", nil)
		if tc.tls {
			form.TLS = &tls.ConnectionState{}
		}
		rec := f.do(form)
		var login *http.Cookie
		for _, c := range rec.Result().Cookies() {
			if c.Name == loginCookie {
				login = c
			}
		}
		if login == nil || !login.Secure || !login.HttpOnly || rec.Header().Get("Strict-Transport-Security") == "" {
			t.Errorf("%s: login cookie %+v, HSTS %q: want Secure and HttpOnly, and HSTS", tc.name, login, rec.Header().Get("Strict-Transport-Security"))
		}
	}
}

// sleeps replaces the app's login delay with a record of it, and returns
// the record.
func (f *fixture) sleeps() *[]time.Duration {
	var got []time.Duration
	f.srv.sleep = func(ctx context.Context, d time.Duration) error {
		got = append(got, d)
		return nil
	}
	return &got
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t)
	slept := f.sleeps()
	addr := "203.0.113.9:4000"
	for i := range loginClientBurst {
		if rec := f.login("anna", "not the password", addr); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d, want 401", i+1, rec.Code)
		}
	}
	// The next attempt from that address is refused before the password
	// is checked, even the right one, and says how long to wait.
	rec := f.login("anna", testPassword, addr)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" || hasCookie(rec, sessionCookie) {
		t.Fatalf("attempt after the burst = %d (Retry-After %q), want 429 without a session", rec.Code, rec.Header().Get("Retry-After"))
	}
	// Another user from another address is not affected.
	if rec := f.login("vera", testPassword, "203.0.113.10:4000"); rec.Code != http.StatusSeeOther {
		t.Errorf("another user's login = %d, want 303", rec.Code)
	}
	f.now = f.now.Add(loginClientEvery)
	if rec := f.login("anna", testPassword, addr); rec.Code != http.StatusSeeOther {
		t.Errorf("anna after waiting %s = %d, want 303", loginClientEvery, rec.Code)
	}
	// The failures made anna's account slower, never refused.
	for _, d := range *slept {
		if d <= 0 || d > loginDelayMax {
			t.Errorf("login delay %v, want within (0, %v]", d, loginDelayMax)
		}
	}
	if len(*slept) == 0 {
		t.Errorf("no login on anna was delayed after %d failures", loginClientBurst)
	}

	// Per address: many users guessed from one address.
	addr = "203.0.113.50:4000"
	refused := 0
	for i := range loginIPBurst + 3 {
		if rec := f.login(fmt.Sprintf("guess%d", i), "x", addr); rec.Code == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d of %d guesses from one address refused, want 3", refused, loginIPBurst+3)
	}
}

// Issue 20: whoever knows a user name must not be able to keep its owner
// out. An attacker failing from one address, or from many, only delays
// the owner's right password from another address, by at most
// loginDelayMax.
func TestLoginNoLockout(t *testing.T) {
	f := newFixture(t)
	slept := f.sleeps()
	attacker := "198.51.100.66:4000"
	for range 3 * loginClientBurst {
		f.login("anna", "not the password", attacker)
	}
	if rec := f.login("anna", testPassword, attacker); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the attacker's address = %d, want 429", rec.Code)
	}
	// A botnet: every address fails as often as it may.
	for i := range 10 {
		for range loginClientBurst {
			if rec := f.login("anna", "not the password", fmt.Sprintf("192.0.2.%d:4000", i+1)); rec.Code != http.StatusUnauthorized {
				t.Fatalf("a botnet address's guess = %d, want 401", rec.Code)
			}
		}
	}
	*slept = nil
	rec := f.login("anna", testPassword, "203.0.113.7:5000")
	if rec.Code != http.StatusSeeOther || !hasCookie(rec, sessionCookie) {
		t.Fatalf("the owner from another address = %d, want 303 with a session", rec.Code)
	}
	if len(*slept) != 1 || (*slept)[0] != loginDelayMax {
		t.Errorf("the owner's login waited %v, want once the ceiling %v", *slept, loginDelayMax)
	}
	// The failures are forgotten in time: no more wait.
	f.now = f.now.Add(loginFailMax * loginFailEvery)
	*slept = nil
	if rec := f.login("anna", testPassword, "203.0.113.7:5000"); rec.Code != http.StatusSeeOther || len(*slept) != 0 {
		t.Errorf("anna later = %d after waiting %v, want 303 at once", rec.Code, *slept)
	}
}

// Issue 21: behind a load balancer consecutive attempts reach different
// replicas; the limits hold for them together, not N times over.
func TestLoginLimitsAcrossReplicas(t *testing.T) {
	f := newFixture(t)
	other := f.replica()
	f.sleeps()
	slept := other.sleeps()
	addr := "203.0.113.9:4000"
	for i := range loginClientBurst {
		if rec := []*fixture{f, other}[i%2].login("anna", "not the password", addr); rec.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d, want 401", i+1, rec.Code)
		}
	}
	for name, x := range map[string]*fixture{"this": f, "the other": other} {
		if rec := x.login("anna", testPassword, addr); rec.Code != http.StatusTooManyRequests {
			t.Errorf("attempt after the burst, split over two replicas, on %s replica = %d, want 429", name, rec.Code)
		}
	}
	// The failures on both replicas slow the account on either.
	*slept = nil
	if rec := other.login("anna", testPassword, "203.0.113.7:5000"); rec.Code != http.StatusSeeOther {
		t.Fatalf("the owner from another address = %d, want 303", rec.Code)
	}
	if want := loginDelay(loginClientBurst); len(*slept) != 1 || (*slept)[0] != want {
		t.Errorf("the owner's login on the other replica waited %v, want once %v (after %d failures on both)", *slept, want, loginClientBurst)
	}
}

func TestLoginDelay(t *testing.T) {
	for _, tc := range []struct {
		failures float64
		want     time.Duration
	}{
		{0, 0}, {loginFreeFailures - 0.5, 0},
		{loginFreeFailures, loginDelayBase},
		{loginFreeFailures + 1, 2 * loginDelayBase},
		{loginFreeFailures + 2, 4 * loginDelayBase},
		{loginFreeFailures + 3, 8 * loginDelayBase},
		{loginFreeFailures + 4, loginDelayMax},
		{loginFailMax, loginDelayMax},
		{1e9, loginDelayMax},
	} {
		if got := loginDelay(tc.failures); got != tc.want {
			t.Errorf("loginDelay(%v) = %v, want %v", tc.failures, got, tc.want)
		}
	}
	// Growing, with a ceiling.
	prev := time.Duration(0)
	for n := range loginFailMax + 5 {
		d := loginDelay(float64(n))
		if d < prev || d > loginDelayMax {
			t.Errorf("loginDelay(%d) = %v after %v, want growing up to %v", n, d, prev, loginDelayMax)
		}
		prev = d
	}
}

// Behind a trusted proxy, the per-address limit counts each client by its
// X-Forwarded-For address, so one guesser does not lock everyone out.
func TestLoginRateLimitBehindProxy(t *testing.T) {
	f := newFixture(t, fixtureOptions{cfg: Config{TrustedProxies: []string{"10.0.0.0/8", "127.0.0.1"}}})
	proxy := "127.0.0.1:40000"
	for i := range loginIPBurst + 3 {
		f.forwardedFor = "198.51.100.66"
		f.login(fmt.Sprintf("guess%d", i), "x", proxy)
	}
	f.forwardedFor = "198.51.100.66, 10.1.2.3" // through a second, inner proxy
	if rec := f.login("vera", testPassword, proxy); rec.Code != http.StatusTooManyRequests {
		t.Errorf("the guesser's own login = %d, want 429", rec.Code)
	}
	f.forwardedFor = "192.0.2.7"
	if rec := f.login("vera", testPassword, proxy); rec.Code != http.StatusSeeOther {
		t.Errorf("another client's login through the same proxy = %d, want 303", rec.Code)
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := parseProxies([]string{"10.0.0.0/8", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "203.0.113.5:1000", nil, "203.0.113.5"},
		{"untrusted peer's header ignored", "203.0.113.5:1000", []string{"192.0.2.1"}, "203.0.113.5"},
		{"trusted proxy", "127.0.0.1:1000", []string{"192.0.2.1"}, "192.0.2.1"},
		{"client-written hops before the last untrusted one", "127.0.0.1:1000", []string{"6.6.6.6, 192.0.2.1"}, "192.0.2.1"},
		{"inner trusted proxies skipped", "127.0.0.1:1000", []string{"192.0.2.1, 10.0.0.9", "10.2.0.1"}, "192.0.2.1"},
		{"only proxies", "127.0.0.1:1000", []string{"10.0.0.9"}, "10.0.0.9"},
		{"garbled hop", "127.0.0.1:1000", []string{"192.0.2.1, not-an-ip"}, "127.0.0.1"},
		{"no header", "127.0.0.1:1000", nil, "127.0.0.1"},
		{"IPv6 proxy", "[::1]:1000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv4-mapped", "127.0.0.1:1000", []string{"::ffff:192.0.2.1"}, "192.0.2.1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, trusted); got != tc.want {
			t.Errorf("%s: clientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := parseProxies([]string{"10.0.0.0/33", "proxy.internal"}); err == nil ||
		!strings.Contains(err.Error(), `"10.0.0.0/33" is not an IP address or a CIDR range`) || !strings.Contains(err.Error(), `"proxy.internal"`) {
		t.Errorf("parseProxies of bad entries = %v, want both named", err)
	}
	if err := (Config{TrustedProxies: []string{"nope"}}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "trusted_proxies: ") {
		t.Errorf("Validate = %v, want a trusted_proxies error", err)
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(2, time.Minute, func() time.Time { return now })
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow("k"); ok != want {
			t.Errorf("allow #%d = %v, want %v", i+1, ok, want)
		}
	}
	_, wait := l.allow("k")
	if wait <= 0 || wait > time.Minute {
		t.Errorf("wait = %v, want up to a minute", wait)
	}
	now = now.Add(30 * time.Second)
	if ok, _ := l.allow("k"); ok {
		t.Errorf("allow after half the interval = true, want false")
	}
	now = now.Add(31 * time.Second)
	if ok, _ := l.allow("k"); !ok {
		t.Errorf("allow after the interval = false, want true")
	}
	// The map stays bounded under a flood of keys.
	for i := range maxLimiterKeys * 2 {
		l.allow(fmt.Sprint(i))
	}
	if n := len(l.buckets); n > maxLimiterKeys {
		t.Errorf("limiter holds %d keys, want at most %d", n, maxLimiterKeys)
	}
}

func TestMailIsEscaped(t *testing.T) {
	f := newFixture(t)
	c, _ := f.session("vera")
	id := f.claimFor(contosoID, "EX315207")
	for _, path := range []string{"/claims", fmt.Sprintf("/claims/%d", id), "/messages/" + f.sha["xss"], "/audit", "/triage"} {
		rec := f.get(path, c)
		body := rec.Body.String()
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d", path, rec.Code)
			continue
		}
		if strings.Contains(body, "<img") || strings.Contains(body, "<script>alert") || strings.Contains(body, "evil<script>") {
			t.Errorf("GET %s: mail markup reached the page unescaped", path)
		}
		if path != "/claims" && path != "/triage" && !strings.Contains(body, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("GET %s: the subject is not shown escaped", path)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	c, _ := f.session("vera")
	for _, path := range []string{"/login", "/claims", "/nothing", "/api/v1/claims", "/static/style.css", "/healthz"} {
		rec := f.get(path, c)
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: X-Frame-Options %q, X-Content-Type-Options %q, Referrer-Policy %q",
				path, h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
		}
	}
	// No template may hold inline script or style: the policy would block
	// it, so it would be a bug, and it would tempt someone to relax it.
	for name := range f.srv.tmpl {
		b, _ := templateFS.ReadFile("templates/" + name + ".html")
		for _, bad := range []string{"<script>", "onclick=", "onload=", "style=", "javascript:"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("template %s contains %q", name, bad)
			}
		}
	}
}

// checkDownload checks the headers every download must carry.
func checkDownload(t *testing.T, what string, rec *httptest.ResponseRecorder, wantType string) string {
	t.Helper()
	h := rec.Header()
	if rec.Code != http.StatusOK {
		t.Fatalf("%s = %d: %s", what, rec.Code, rec.Body.String())
	}
	disp, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if err != nil || disp != "attachment" || params["filename"] == "" {
		t.Errorf("%s: Content-Disposition %q, want attachment with a filename", what, h.Get("Content-Disposition"))
	}
	name := params["filename"]
	if strings.ContainsAny(name, `/\<>:"|?*`) || strings.HasPrefix(name, ".") {
		t.Errorf("%s: filename %q is not safe", what, name)
	}
	if h.Get("Content-Type") != wantType || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: Content-Type %q, X-Content-Type-Options %q, want %s and nosniff", what, h.Get("Content-Type"), h.Get("X-Content-Type-Options"), wantType)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
		t.Errorf("%s: Content-Security-Policy %q, want a sandbox", what, csp)
	}
	if h.Get("Content-Length") != fmt.Sprint(rec.Body.Len()) {
		t.Errorf("%s: Content-Length %q for %d bytes", what, h.Get("Content-Length"), rec.Body.Len())
	}
	return name
}

func TestDownloads(t *testing.T) {
	f := newFixture(t)
	c, _ := f.session("vera")

	rec := f.get("/messages/"+f.sha["xss"]+"/bundle", c)
	checkDownload(t, "bundle", rec, "application/zip")
	if !bytes.Equal(rec.Body.Bytes(), f.bundle["xss"]) {
		t.Errorf("bundle download: %d bytes differ from the stored %d", rec.Body.Len(), len(f.bundle["xss"]))
	}

	// The attachment with a hostile name and an HTML type comes as bytes
	// under a safe name.
	att := fixtureMails[0].facts().Attachments[0]
	rec = f.get("/messages/"+f.sha["xss"]+"/attachments/"+att.SHA256, c)
	name := checkDownload(t, "attachment", rec, "application/octet-stream")
	if name != "evil_script_.html" {
		t.Errorf("attachment filename = %q, want evil_script_.html", name)
	}
	if rec.Body.String() != "<script>alert(2)</script>" {
		t.Errorf("attachment bytes = %q", rec.Body.String())
	}
	if rec := f.get("/messages/"+f.sha["xss"]+"/attachments/"+strings.Repeat("b", 64), c); rec.Code != http.StatusNotFound {
		t.Errorf("unknown attachment = %d, want 404", rec.Code)
	}

	id := f.claimFor(contosoID, "EX315207")
	rec = f.get(fmt.Sprintf("/claims/%d/package", id), c)
	checkDownload(t, "claim package", rec, "application/zip")
	zr, err := zip.NewReader(bytes.NewReader(rec.Body.Bytes()), int64(rec.Body.Len()))
	if err != nil {
		t.Fatalf("claim package is not a ZIP: %v", err)
	}
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
	}
	if !slices.Contains(names, "details.txt") || !slices.Contains(names, "claim.json") || len(names) != 3 {
		t.Errorf("claim package holds %v, want claim.json, details.txt and one bundle", names)
	}

	// Each download is in the audit trail with the user as actor.
	audit := strings.Join(f.auditActions(), "\n")
	for _, want := range []string{
		"vera bundle_downloaded message:" + f.sha["xss"],
		fmt.Sprintf("vera package_exported claim:%d", id),
	} {
		if strings.Count(audit, want) < 1 {
			t.Errorf("audit trail lacks %q:\n%s", want, audit)
		}
	}
	if n := strings.Count(audit, "vera bundle_downloaded message:"+f.sha["xss"]); n != 2 {
		t.Errorf("%d bundle_downloaded entries by vera, want 2 (the bundle and the attachment)", n)
	}
}

func TestTamperedBundleIsNotServed(t *testing.T) {
	f := newFixture(t)
	c, _ := f.session("vera")
	// A store that returns other bytes than the ledger recorded.
	f.srv.store = tamperStore{f.store}
	if rec := f.get("/messages/"+f.sha["xss"]+"/bundle", c); rec.Code != http.StatusInternalServerError {
		t.Errorf("tampered bundle download = %d, want 500", rec.Code)
	}
	rec := f.get("/messages/"+f.sha["xss"], c)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "does not verify") {
		t.Errorf("message page of a tampered bundle = %d, want a warning", rec.Code)
	}
}

// tamperStore flips a byte of every bundle it returns.
type tamperStore struct{ *archive.Dir }

func (s tamperStore) Get(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error) {
	rc, info, err := s.Dir.Get(ctx, key)
	if err != nil {
		return nil, info, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, info, err
	}
	b[len(b)/2] ^= 1
	return io.NopCloser(bytes.NewReader(b)), info, nil
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body.String(), err)
	}
	return v
}

func TestClaimsAPI(t *testing.T) {
	f := newFixture(t)
	token := f.apiToken("anna")
	list := decode[struct{ Claims []claimRow }](t, f.apiCall("GET", "/api/v1/claims", token, ""))
	var incidents []string
	for _, c := range list.Claims {
		incidents = append(incidents, c.IncidentID+"/"+c.Urgency)
	}
	if want := []string{"TM1112332/overdue", "EX315207/soon", "SP1234567/"}; !slices.Equal(incidents, want) {
		t.Errorf("GET /api/v1/claims = %v, want %v (soonest deadline first, urgency marked)", incidents, want)
	}
	filtered := decode[struct{ Claims []claimRow }](t, f.apiCall("GET", "/api/v1/claims?tenant="+fabrikamID, token, ""))
	if len(filtered.Claims) != 1 || filtered.Claims[0].IncidentID != "TM1112332" {
		t.Errorf("claims of fabrikam = %+v", filtered.Claims)
	}
	if rec := f.apiCall("GET", "/api/v1/claims?status=bogus", token, ""); rec.Code != http.StatusBadRequest {
		t.Errorf("status=bogus = %d, want 400", rec.Code)
	}

	id := f.claimFor(contosoID, "EX315207")
	path := fmt.Sprintf("/api/v1/claims/%d", id)
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"bad value", `{"fields": {"affected_users": "many"}}`, http.StatusBadRequest},
		{"unknown field", `{"fields": {"colour": "blue"}}`, http.StatusBadRequest},
		{"not JSON", `fields=1`, http.StatusBadRequest},
		{"unknown key", `{"field": {"ticket": "1"}}`, http.StatusBadRequest},
		{"missing claim", `{"fields": {"ticket": "1"}}`, http.StatusNotFound},
	} {
		p := path
		if tc.name == "missing claim" {
			p = "/api/v1/claims/999"
		}
		if rec := f.apiCall("PATCH", p, token, tc.body); rec.Code != tc.want {
			t.Errorf("PATCH %s = %d, want %d: %s", tc.name, rec.Code, tc.want, rec.Body.String())
		}
	}
	// Complete the checklist: the claim becomes ready, then submitted.
	rec := f.apiCall("PATCH", path, token, `{"fields": {"downtime_start": "2026-02-16T08:00:00Z", "downtime_duration": "4h30m",
		"affected_users": "120", "locations": "Prague, Brno", "resolution": "Waited for Microsoft's fix", "ticket": "2602150040001234"}}`)
	claim := decode[struct {
		Status  claims.Status
		Ready   bool
		Missing []string
		Details string
	}](t, rec)
	if claim.Status != claims.StatusReady || !claim.Ready || len(claim.Missing) != 0 || !strings.Contains(claim.Details, "Support ticket number: 2602150040001234") {
		t.Errorf("after completing the checklist: %+v", claim)
	}
	if rec := f.apiCall("POST", path+"/status", token, `{"status": "approved"}`); rec.Code != http.StatusConflict {
		t.Errorf("ready -> approved = %d, want 409: %s", rec.Code, rec.Body.String())
	}
	rec = f.apiCall("POST", path+"/status", token, `{"status": "submitted", "note": "Partner Center request 123"}`)
	if got := decode[struct{ Status claims.Status }](t, rec); got.Status != claims.StatusSubmitted {
		t.Errorf("ready -> submitted: %s", rec.Body.String())
	}
	details := f.apiCall("GET", path+"/details", token, "")
	if details.Code != http.StatusOK || !strings.HasPrefix(details.Body.String(), "SLA credit request for incident EX315207") {
		t.Errorf("GET details = %d %q", details.Code, details.Body.String())
	}
	entries := decode[struct{ Entries []archive.AuditEntry }](t, f.apiCall("GET", path+"/audit", token, ""))
	byAnna := 0
	for _, e := range entries.Entries {
		if e.Actor == "anna" {
			byAnna++
		}
	}
	if byAnna < 7 { // six fields and a status change, at least
		t.Errorf("claim audit has %d entries by anna, want every change", byAnna)
	}
}

func TestTriage(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	token := f.apiToken("anna")
	items := decode[struct{ Messages []triageItem }](t, f.apiCall("GET", "/api/v1/triage", token, "")).Messages
	got := map[string]rules.Reason{}
	for _, it := range items {
		got[it.SHA256] = it.Reason
		if it.ReasonText == "" || it.Todo == "" {
			t.Errorf("triage item %s: no plain-words reason or advice", it.Sender)
		}
	}
	want := map[string]rules.Reason{f.sha["gmail"]: rules.ReasonPersonalAddress, f.sha["noid"]: rules.ReasonNoIncidentID, f.sha["northwind"]: rules.ReasonUnknownDomain}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("triage = %v, want %v", got, want)
	}

	// Rejected mail cannot be attached; unmatched mail can.
	if rec := f.apiCall("POST", "/api/v1/triage/"+f.sha["gmail"]+"/attach", token, `{"incident_id": "EX315207"}`); rec.Code != http.StatusBadRequest {
		t.Errorf("attach personal-address mail = %d, want 400", rec.Code)
	}
	if rec := f.apiCall("POST", "/api/v1/triage/"+f.sha["noid"]+"/attach", token, `{"incident_id": "not an id"}`); rec.Code != http.StatusBadRequest {
		t.Errorf("attach with a bad incident = %d, want 400", rec.Code)
	}
	cookie, csrf := f.session("anna")
	rec := f.postForm("/triage/"+f.sha["noid"]+"/attach", cookie, url.Values{"csrf": {csrf}, "incident": {"ex315207"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("attach form = %d: %s", rec.Code, rec.Body.String())
	}
	c, err := f.ledger.ClaimFor(context.Background(), contosoID, "EX315207")
	if err != nil || len(c.Evidence) != 2 {
		t.Fatalf("EX315207 evidence after attaching = %v (%v), want 2 messages", c, err)
	}
	// The analyst's judgment has its own bundle, 2, next to bundle 1.
	if man := f.checkBundles(f.sha["noid"], "noid", 2); man.Judgment.Verdict != rules.Accepted ||
		!slices.Equal(man.Judgment.IncidentIDs, []string{"EX315207"}) || !strings.Contains(strings.Join(man.Judgment.Warnings, "\n"), "by anna") {
		t.Errorf("bundle 2 of the attached mail judges %+v, want accepted for EX315207 by anna", man.Judgment)
	}

	// The northwind mail is rejected until its tenant is imported; then
	// re-judging accepts it and opens its claim.
	rec = f.apiCall("POST", "/api/v1/triage/"+f.sha["northwind"]+"/rejudge", token, "")
	if r := decode[rejudged](t, rec); r.After != rules.Rejected || r.Changed {
		t.Errorf("re-judge before the import = %+v, want still rejected, unchanged", r)
	}
	csv := "Microsoft ID,Company name,Primary domain name\n" + northwindID + ",Northwind Traders,northwind-traders.com\n"
	rec = f.apiCall("POST", "/api/v1/tenants/import?name=customers.csv", f.apiToken("adam"), csv)
	if imp := decode[importResult](t, rec); len(imp.Added) != 1 || len(imp.Errors) != 0 {
		t.Fatalf("import = %s", rec.Body.String())
	}
	rec = f.follow(f.postForm("/triage/rejudge", cookie, url.Values{"csrf": {csrf}}), cookie)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "changed") {
		t.Errorf("re-judge all = %d", rec.Code)
	}
	if _, err := f.ledger.ClaimFor(context.Background(), northwindID, "EX315207"); err != nil {
		t.Errorf("northwind's claim after re-judging: %v", err)
	}
	if man := f.checkBundles(f.sha["northwind"], "northwind", 2); man.Judgment.Verdict != rules.Accepted || man.Judgment.TenantID != northwindID {
		t.Errorf("bundle 2 of the re-judged mail judges %+v, want accepted for northwind", man.Judgment)
	}
	f.checkBundles(f.sha["gmail"], "gmail", 1) // re-judged, unchanged: nothing written
	audit := strings.Join(f.auditActions(), "\n")
	for _, want := range []string{"adam tenants_imported tenants", "anna reprocessed message:" + f.sha["northwind"], "anna reprocessed message:" + f.sha["noid"],
		"anna bundle_stored message:" + f.sha["northwind"], "anna bundle_stored message:" + f.sha["noid"]} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit trail lacks %q", want)
		}
	}
	left := decode[struct{ Messages []triageItem }](t, f.apiCall("GET", "/api/v1/triage", token, "")).Messages
	if len(left) != 1 || left[0].SHA256 != f.sha["gmail"] {
		t.Errorf("triage after attaching and re-judging = %+v, want only the personal-address mail", left)
	}
}

func TestRejudgeNeedsRejudgePath(t *testing.T) {
	f := newFixture(t)
	token := f.apiToken("anna")
	for _, tc := range []struct{ name, path, body string }{
		{"re-judge", "/api/v1/triage/" + f.sha["northwind"] + "/rejudge", ""},
		{"re-judge all", "/api/v1/triage/rejudge", ""},
		{"attach", "/api/v1/triage/" + f.sha["noid"] + "/attach", `{"incident_id": "EX315207"}`},
	} {
		rec := f.apiCall("POST", tc.path, token, tc.body)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "not available") {
			t.Errorf("%s without the re-judging path = %d %s, want 400 'not available'", tc.name, rec.Code, rec.Body.String())
		}
	}
	f.checkBundles(f.sha["noid"], "noid", 1)
	c, _ := f.session("anna")
	if page := f.get("/triage", c).Body.String(); strings.Contains(page, "Attach to incident") || !strings.Contains(page, "are off") {
		t.Errorf("triage page without the re-judging path offers attaching or does not say why not:\n%s", page)
	}
}

// checkBundles checks that the store holds bundles 1..n of the fixture
// mail name (sha), bundle 1 as the fixture stored it, each verifying
// against its key, and that the ledger names bundle n with its SHA-256.
// It returns bundle n's manifest.
func (f *fixture) checkBundles(sha, name string, n int) *evidence.Manifest {
	f.t.Helper()
	ctx := context.Background()
	var got []string
	for info, err := range f.store.List(ctx, "bundles/"+sha+"/") {
		if err != nil {
			f.t.Fatal(err)
		}
		got = append(got, info.Key)
	}
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, evidence.BundleKey(sha, i))
	}
	if !slices.Equal(got, want) {
		f.t.Errorf("bundles of %s = %v, want %v", name, got, want)
	}
	var man *evidence.Manifest
	for i, key := range want {
		rc, _, err := f.store.Get(ctx, key)
		if err != nil {
			f.t.Fatalf("Get(%s): %v", key, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			f.t.Fatalf("Get(%s): %v", key, err)
		}
		if i == 0 && !bytes.Equal(b, f.bundle[name]) {
			f.t.Errorf("bundle 1 of %s changed; evidence is write-once", name)
		}
		if err := evidence.VerifyBundle(bytes.NewReader(b), int64(len(b)), key); err != nil {
			f.t.Errorf("VerifyBundle(%s): %v", key, err)
		}
		if man, err = evidence.ReadManifest(bytes.NewReader(b), int64(len(b))); err != nil {
			f.t.Fatal(err)
		}
		if i == n-1 {
			m, err := f.ledger.MessageBySHA256(ctx, sha)
			if err != nil {
				f.t.Fatal(err)
			}
			if sum := sha256.Sum256(b); m.BundleKey != key || m.BundleSHA256 != hex.EncodeToString(sum[:]) {
				f.t.Errorf("ledger names %s (%s) for %s, want %s with its SHA-256", m.BundleKey, m.BundleSHA256, name, key)
			}
			if man.Judgment.Verdict != m.Judgment.Verdict {
				f.t.Errorf("bundle %s judges %s, the ledger %s", key, man.Judgment.Verdict, m.Judgment.Verdict)
			}
		}
	}
	return man
}

func TestTenantImportForm(t *testing.T) {
	f := newFixture(t)
	cookie, csrf := f.session("adam")
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	fw, _ := mw.CreateFormFile("csv", "../customers <export>.csv")
	fmt.Fprintf(fw, "\ufeffCustomer Name;Tenant ID;Primary Domain Name\nNorthwind;%s;northwind-traders.com\nBroken;not-a-guid;x.example\n", northwindID)
	mw.Close()
	req := httptest.NewRequest("POST", "/tenants/import", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(cookie)
	rec := f.follow(f.do(req), cookie)
	page := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(page, "1 added") || !strings.Contains(page, "1 rows skipped") || !strings.Contains(page, "northwind-traders.com") {
		t.Errorf("import form = %d:\n%s", rec.Code, page)
	}
	if strings.Contains(page, "<export>") {
		t.Errorf("the uploaded file name reached the page unescaped")
	}
}

func TestAuditPage(t *testing.T) {
	f := newFixture(t)
	c, _ := f.session("vera")
	rec := f.get("/audit?actor=system&action=claim_created", c)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "verified") || strings.Count(rec.Body.String(), "<td class=\"nowrap\">claim_created</td>") != 3 {
		t.Errorf("audit page filtered to claim_created = %d:\n%s", rec.Code, rec.Body.String())
	}
	token := f.apiToken("vera")
	v := decode[verification](t, f.apiCall("GET", "/api/v1/audit/verify", token, ""))
	if !v.OK || v.Entries == 0 || len(v.Problems) != 0 {
		t.Errorf("verify = %+v, want OK", v)
	}
	page := decode[struct {
		Entries    []archive.AuditEntry
		More       bool
		NextBefore int64 `json:"next_before"`
	}](t, f.apiCall("GET", "/api/v1/audit?limit=5", token, ""))
	if len(page.Entries) != 5 || !page.More || page.Entries[0].Seq <= page.Entries[4].Seq || page.NextBefore != page.Entries[4].Seq {
		t.Errorf("audit page of 5 = %+v", page)
	}
	older := decode[struct{ Entries []archive.AuditEntry }](t, f.apiCall("GET", fmt.Sprintf("/api/v1/audit?limit=5&before=%d", page.NextBefore), token, ""))
	if len(older.Entries) != 5 || older.Entries[0].Seq != page.NextBefore-1 {
		t.Errorf("next audit page starts at %v, want %d", older.Entries, page.NextBefore-1)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	f.srv.Metrics().ObserveFetch(2 * time.Millisecond)
	f.srv.Metrics().Judged(rules.Accepted)
	f.srv.Metrics().SetBacklog("claims@adatum-csp.com", "INBOX", 7)
	f.srv.Metrics().ReminderChannels("webhook", "smtp")
	f.srv.Metrics().ReminderFailed("smtp")
	f.srv.Metrics().ReminderSent("webhook")
	rec := f.apiCall("GET", "/metrics", f.apiToken("vera"), "")
	body := rec.Body.String()
	tally, err := f.ledger.ClaimTally(context.Background(), archive.ClaimFilter{}, f.srv.now())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`claimtrail_claims_urgent{urgency="overdue"} %d`, tally.Overdue),
		fmt.Sprintf(`claimtrail_claims_urgent{urgency="soon"} %d`, tally.Soon),
		`claimtrail_reminder_failures_total{channel="smtp"} 1`,
		`claimtrail_reminder_failures_total{channel="webhook"} 0`,
		`claimtrail_reminders_sent_total{channel="webhook"} 1`,
		`claimtrail_claims{status="open"} 3`,
		`claimtrail_messages{verdict="accepted"} 3`,
		`claimtrail_messages{verdict="rejected"} 2`,
		`claimtrail_messages{verdict="unmatched"} 1`,
		`claimtrail_judged_total{verdict="accepted"} 1`,
		`claimtrail_backlog_messages{folder="INBOX",mailbox="claims@adatum-csp.com"} 7`,
		`claimtrail_fetch_seconds_count 1`,
		`claimtrail_ledger_up 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var nilMetrics *Metrics
	nilMetrics.IMAPReconnect() // must not panic: the poller may run without metrics
}

func TestReadyz(t *testing.T) {
	f := newFixture(t)
	if rec := f.get("/readyz", nil); rec.Code != http.StatusOK {
		t.Errorf("readyz = %d %s", rec.Code, rec.Body.String())
	}
	f.ledger.Close()
	rec := f.get("/readyz", nil)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"ledger": "unavailable"`) {
		t.Errorf("readyz with the ledger closed = %d %s", rec.Code, rec.Body.String())
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{}, ""},
		{"full", Config{Listen: "0.0.0.0:8443", BaseURL: "https://claims.example.com", SessionTTL: "8h"}, ""},
		{"no port", Config{Listen: "localhost"}, "listen:"},
		{"bad URL", Config{BaseURL: "claims.example.com"}, "base_url:"},
		{"bad TTL", Config{SessionTTL: "a day"}, "session_ttl:"},
		{"TTL too long", Config{SessionTTL: "2000h"}, "session_ttl:"},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	if d := (Config{SessionTTL: "90m"}).sessionTTL(); d != 90*time.Minute {
		t.Errorf("sessionTTL(90m) = %v", d)
	}
}

func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/claims/1", "//evil.example", "/\\evil", "https://x", "", "/a\r\nSet-Cookie: x=1", "/%2F%2Fevil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		// Browsers drop tabs and newlines from URLs and read "\\" as "/",
		// so none may remain.
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") ||
			strings.IndexFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) >= 0 {
			t.Errorf("safeNext(%q) = %q: not a local path", next, got)
		}
	})
}

// FuzzAPIPatch sends arbitrary bodies to PATCH /api/v1/claims/{id}: the
// answer is a success or the client's error, never a server error.
func FuzzAPIPatch(f *testing.F) {
	for _, s := range []string{`{"fields": {"ticket": "1"}}`, `{"fields": {"affected_users": "-1"}}`, `{"fields": {}}`,
		`{"fields": {"downtime_start": "2026-02-30T25:00:00Z"}}`, `{"fields": {"locations": "` + strings.Repeat("x", 5000) + `"}}`,
		`[]`, `{"fields": null}`, `{"fields": {"azure": "maybe"}}`, "\x00"} {
		f.Add(s)
	}
	fx := newFixture(f)
	token := fx.apiToken("anna")
	path := fmt.Sprintf("/api/v1/claims/%d", fx.claimFor(contosoID, "SP1234567"))
	f.Fuzz(func(t *testing.T, body string) {
		rec := fx.apiCall("PATCH", path, token, body)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusConflict:
		default:
			t.Errorf("PATCH %q = %d %s", body, rec.Code, rec.Body.String())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Errorf("PATCH %q answered with invalid JSON: %s", body, rec.Body.String())
		}
	})
}

// The status form preselects nothing: an open claim's only change is to
// expired, and a careless click must not make it.
func TestStatusFormNeedsAChoice(t *testing.T) {
	f := newFixture(t)
	id := f.claimFor(contosoID, "EX315207")
	c, csrf := f.session("anna")
	page := f.get(fmt.Sprintf("/claims/%d", id), c).Body.String()
	if !strings.Contains(page, `<select id="status" name="status" required><option value="" selected disabled>`) {
		t.Errorf("the status form does not start on an empty, required choice")
	}
	rec := f.postForm(fmt.Sprintf("/claims/%d/status", id), c, url.Values{"csrf": {csrf}})
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "choose the claim") {
		t.Errorf("status form without a status = %d (%.200s), want 400 asking for a choice", rec.Code, rec.Body.String())
	}
	if cl, err := f.ledger.Claim(context.Background(), id); err != nil || cl.Status != claims.StatusOpen {
		t.Errorf("claim after an empty status form: %v, %v; want open", cl.Status, err)
	}
}

// Re-judging mail whose stored bundle fails its check is refused with 409
// and advice, on the page and in the API, and changes nothing.
func TestRejudgeTamperedBundle(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	f.srv.rejudgeFn = pipelineRejudge(t, f.ledger, tamperStore{f.store})
	rec := f.apiCall("POST", "/api/v1/triage/"+f.sha["northwind"]+"/rejudge", f.apiToken("anna"), "")
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "bundle verify") {
		t.Errorf("API re-judge of a tampered bundle = %d %.300s, want 409 with advice", rec.Code, rec.Body.String())
	}
	cookie, csrf := f.session("anna")
	rec = f.postForm("/triage/"+f.sha["northwind"]+"/rejudge", cookie, url.Values{"csrf": {csrf}})
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "does not match its record") {
		t.Errorf("re-judge form on a tampered bundle = %d, want 409 saying why", rec.Code)
	}
	m, err := f.ledger.MessageBySHA256(context.Background(), f.sha["northwind"])
	if err != nil || m.BundleKey != evidence.BundleKey(m.SHA256, 1) {
		t.Errorf("after a refused re-judge the message has bundle %q (%v), want bundle 1", m.BundleKey, err)
	}
}

// FuzzClientIP: any X-Forwarded-For from a trusted proxy yields an address,
// never a panic, and never one of the header's hops that a client could
// slip before the last untrusted one.
func FuzzClientIP(f *testing.F) {
	trusted, _ := parseProxies([]string{"10.0.0.0/8", "127.0.0.1"})
	for _, seed := range []string{"192.0.2.1", "6.6.6.6, 192.0.2.1", "192.0.2.1, 10.0.0.9", ",,", "::ffff:10.0.0.1", "zz, 192.0.2.1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:1000"
		r.Header.Set("X-Forwarded-For", xff)
		got := clientIP(r, trusted)
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("clientIP = %q, not an address", got)
		}
		hops := strings.Split(xff, ",")
		last, _ := netip.ParseAddr(strings.TrimSpace(hops[len(hops)-1]))
		if last.IsValid() && !isTrusted(last, trusted) && got != last.Unmap().String() {
			t.Fatalf("clientIP = %q, want the last hop %q", got, last)
		}
	})
}

// TestTriageAutomated: an automatic reply from a tenant's domain is in
// triage in plain words, stays rejected when re-judged, and an analyst
// who decides a person wrote it can attach it; other rejections cannot
// be attached (issue 16).
func TestTriageAutomated(t *testing.T) {
	f := newFixture(t, fixtureOptions{rejudge: true})
	ctx := context.Background()
	oofJudgment := rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonAutomatedMessage, Sender: "petr@contoso.com", SenderDomain: "contoso.com",
		TenantID: contosoID, IncidentIDs: []string{"TM1112332"}, Authentication: rules.AuthPass,
		Warnings: []string{"an automatic message, not the customer's own request: Auto-Submitted: auto-replied (RFC 3834)"}}
	mails := []fixtureMail{
		// RFC 3834 section 5: a vacation reply quoting the partner's subject.
		{name: "oof", from: "petr@contoso.com", subject: "Automatic reply: TM1112332 credit request",
			body: "I am out of the office until Monday.", received: time.Date(2026, 2, 19, 8, 0, 0, 0, time.UTC),
			headers: []string{"Auto-Submitted: auto-replied"}, judgment: oofJudgment},
		// Judged automatic without a tenant: nothing to attach it to.
		{name: "oof-no-tenant", from: "petr@contoso.com", subject: "Automatic reply",
			body: "Out of office.", received: time.Date(2026, 2, 19, 9, 0, 0, 0, time.UTC),
			headers:  []string{"Auto-Submitted: auto-replied"},
			judgment: rules.Judgment{Verdict: rules.Rejected, Reason: rules.ReasonAutomatedMessage, Authentication: rules.AuthPass, IncidentIDs: []string{}}},
	}
	for i, m := range mails {
		f.record(ctx, m, uint32(len(fixtureMails)+i+1))
	}
	token := f.apiToken("anna")

	items := decode[struct{ Messages []triageItem }](t, f.apiCall("GET", "/api/v1/triage", token, "")).Messages
	var oof *triageItem
	for i := range items {
		if items[i].SHA256 == f.sha["oof"] {
			oof = &items[i]
		}
	}
	switch {
	case oof == nil:
		t.Fatalf("triage = %+v, want the automatic reply in it", items)
	case oof.Reason != rules.ReasonAutomatedMessage || !strings.Contains(oof.ReasonText, "not the customer's request") ||
		!strings.Contains(oof.Todo, "attach") || !oof.Attachable || oof.TenantID != contosoID:
		t.Errorf("triage item of the automatic reply = %+v, want automated_message in plain words, attachable, for Contoso", *oof)
	}

	// Re-judging the stored message decides the same: the rules read its
	// Auto-Submitted field again.
	rec := f.apiCall("POST", "/api/v1/triage/"+f.sha["oof"]+"/rejudge", token, "")
	if r := decode[rejudged](t, rec); r.After != rules.Rejected || r.Changed {
		t.Errorf("re-judge of the automatic reply = %+v (%s), want still rejected, unchanged", r, rec.Body.String())
	}

	for _, tc := range []struct{ name, mail string }{
		{"personal address", "gmail"},
		{"unknown domain", "northwind"},
		{"automatic without a tenant", "oof-no-tenant"},
	} {
		if rec := f.apiCall("POST", "/api/v1/triage/"+f.sha[tc.mail]+"/attach", token, `{"incident_id": "TM1112332"}`); rec.Code != http.StatusBadRequest {
			t.Errorf("attach %s = %d, want 400: %s", tc.name, rec.Code, rec.Body.String())
		}
	}
	page := f.get("/triage", func() *http.Cookie { c, _ := f.session("anna"); return c }()).Body.String()
	if n := strings.Count(page, `action="/triage/`+f.sha["oof"]+`/attach"`); n != 1 {
		t.Errorf("triage page offers attaching the automatic reply %d times, want once", n)
	}
	if strings.Contains(page, `action="/triage/`+f.sha["gmail"]+`/attach"`) {
		t.Error("triage page offers attaching personal-address mail")
	}

	// The analyst decides a person wrote it. Contoso has no TM1112332
	// claim yet, so the analyst confirms opening one.
	rec = f.apiCall("POST", "/api/v1/triage/"+f.sha["oof"]+"/attach", token, `{"incident_id": "TM1112332"}`)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "no claim for Contoso Ltd and TM1112332 yet; attaching opens one") {
		t.Errorf("attach the automatic reply to a new claim unconfirmed = %d %s, want 409 saying it opens a claim", rec.Code, rec.Body.String())
	}
	rec = f.apiCall("POST", "/api/v1/triage/"+f.sha["oof"]+"/attach", token, `{"incident_id": "TM1112332", "confirm": true}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("attach the automatic reply = %d: %s", rec.Code, rec.Body.String())
	}
	c, err := f.ledger.ClaimFor(ctx, contosoID, "TM1112332")
	if err != nil || len(c.Evidence) != 1 {
		t.Fatalf("Contoso's TM1112332 claim after attaching = %+v (%v), want it opened with the message", c, err)
	}
	man := f.checkBundles(f.sha["oof"], "oof", 2)
	warnings := strings.Join(man.Judgment.Warnings, "\n")
	if man.Judgment.Verdict != rules.Accepted || !slices.Equal(man.Judgment.IncidentIDs, []string{"TM1112332"}) ||
		!strings.Contains(warnings, "by anna") || !strings.Contains(warnings, "a person wrote it") || !strings.Contains(warnings, "Auto-Submitted: auto-replied") {
		t.Errorf("bundle 2 of the attached automatic reply judges %+v, want accepted for TM1112332 by anna, keeping why it looked automatic", man.Judgment)
	}
	if audit := strings.Join(f.auditActions(), "\n"); !strings.Contains(audit, "anna reprocessed message:"+f.sha["oof"]) {
		t.Errorf("audit trail lacks anna's attach of the automatic reply:\n%s", audit)
	}
}

// claimsAnswer is the claims list's JSON answer.
type claimsAnswer struct {
	Claims []claimRow
	More   bool
	Next   string
	Total  *int
}

// TestClaimsAPIPages walks the claims list a claim at a time in every sort
// and compares with the whole list in one page; a cursor it did not give
// and a bad limit are the client's to fix (400).
func TestClaimsAPIPages(t *testing.T) {
	f := newFixture(t)
	token := f.apiToken("anna")
	for _, sort := range []string{"deadline", "-deadline", "updated", "incident"} {
		whole := decode[claimsAnswer](t, f.apiCall("GET", "/api/v1/claims?limit=500&sort="+sort, token, ""))
		if whole.More || whole.Next != "" || whole.Total == nil || *whole.Total != 3 || len(whole.Claims) != 3 {
			t.Fatalf("sort %s: one page of 500 = more %v, next %q, total %v, %d claims; want 3 claims, no more", sort, whole.More, whole.Next, whole.Total, len(whole.Claims))
		}
		var got []int64
		path := "/api/v1/claims?limit=1&sort=" + sort
		for range 4 {
			page := decode[claimsAnswer](t, f.apiCall("GET", path, token, ""))
			if page.Total == nil || *page.Total != 3 || len(page.Claims) != 1 || page.More != (page.Next != "") {
				t.Fatalf("GET %s = %+v; want one claim of 3, more when there is a next", path, page)
			}
			got = append(got, page.Claims[0].ID)
			if !page.More {
				break
			}
			path = "/api/v1/claims?limit=1&sort=" + sort + "&cursor=" + url.QueryEscape(page.Next)
		}
		var want []int64
		for _, c := range whole.Claims {
			want = append(want, c.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("sort %s: pages of one = %v, want %v", sort, got, want)
		}
	}
	for _, q := range []string{"cursor=nonsense", "limit=0", "limit=501", "limit=x", "tenant=contoso"} {
		rec := f.apiCall("GET", "/api/v1/claims?"+q, token, "")
		var e struct{ Error string }
		json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != http.StatusBadRequest || e.Error == "" {
			t.Errorf("GET /api/v1/claims?%s = %d %s, want 400 saying what to do", q, rec.Code, rec.Body.String())
		}
	}
	rec := f.apiCall("GET", "/api/v1/claims?cursor=nonsense", token, "")
	if !strings.Contains(rec.Body.String(), "copy the next cursor of the previous page") {
		t.Errorf("bad cursor answer %s does not say what to do", rec.Body.String())
	}
}

// TestClaimsPagePages follows the claims page's Next link, which keeps the
// filters.
func TestClaimsPagePages(t *testing.T) {
	f := newFixture(t)
	whole := decode[claimsAnswer](t, f.apiCall("GET", "/api/v1/claims?eligible=yes&sort=-deadline", f.apiToken("anna"), ""))
	var want []string
	for _, c := range whole.Claims {
		want = append(want, c.IncidentID)
	}
	if len(want) < 2 {
		t.Fatalf("the fixture has %d eligible claims, want at least 2", len(want))
	}
	header := fmt.Sprintf("%d claims, 1 shown", len(want))
	cookie, _ := f.session("anna")
	path := "/claims?eligible=yes&limit=1&sort=-deadline"
	var seen []string
	for range len(want) + 1 {
		rec := f.get(path, cookie)
		body := rec.Body.String()
		if rec.Code != http.StatusOK || !strings.Contains(body, header) {
			t.Fatalf("GET %s = %d, want 200 with %q:\n%s", path, rec.Code, header, body)
		}
		for _, inc := range []string{"TM1112332", "EX315207", "SP1234567"} {
			if strings.Contains(body, ">"+inc+"</a>") {
				seen = append(seen, inc)
			}
		}
		m := regexp.MustCompile(`<a href="([^"]+)" rel="next">Next page</a>`).FindStringSubmatch(body)
		if m == nil {
			break
		}
		path = html.UnescapeString(m[1])
		if !strings.Contains(path, "eligible=yes") || !strings.Contains(path, "sort=-deadline") || !strings.Contains(path, "limit=1") {
			t.Errorf("next page link %s lost the filters", path)
		}
	}
	if !slices.Equal(seen, want) {
		t.Errorf("eligible claims over the pages = %v, want %v (latest deadline first)", seen, want)
	}
}

// Issue 20: API tokens expire, by the server's clock, with a 401 that
// says what to do.
func TestAPITokenExpiry(t *testing.T) {
	f := newFixture(t)
	token, info := f.apiTokenWith("anna", archive.APITokenOptions{})
	f.now = info.ExpiresAt.Add(-time.Minute)
	if rec := f.apiCall("GET", "/api/v1/me", token, ""); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), `"read_only": false`) || !strings.Contains(rec.Body.String(), `"expires_at"`) {
		t.Errorf("GET /api/v1/me before the expiry = %d %s, want 200 naming the token's expiry", rec.Code, rec.Body.String())
	}
	f.now = info.ExpiresAt
	rec := f.apiCall("GET", "/api/v1/me", token, "")
	body := rec.Body.String()
	if rec.Code != http.StatusUnauthorized || !strings.Contains(body, "expired at "+info.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC")) ||
		!strings.Contains(body, "claimtrail users token anna") || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("GET /api/v1/me at the expiry = %d %s (WWW-Authenticate %q), want 401 saying it expired and how to get a new one",
			rec.Code, body, rec.Header().Get("WWW-Authenticate"))
	}
	// Every route refuses it, pages too.
	if rec := f.apiCall("GET", "/claims", token, ""); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "expired") {
		t.Errorf("GET /claims with an expired token = %d, want 401", rec.Code)
	}
}

// Issue 20: a read-only token reads, and every change it asks for is
// refused with 403 before the handler runs.
func TestAPITokenReadOnly(t *testing.T) {
	f := newFixture(t)
	token, info := f.apiTokenWith("adam", archive.APITokenOptions{ReadOnly: true})
	id := f.claimFor(contosoID, "EX315207")
	claimPath := fmt.Sprintf("/api/v1/claims/%d", id)
	before := f.apiCall("GET", claimPath, token, "")
	if before.Code != http.StatusOK {
		t.Fatalf("GET %s with a read-only token = %d, want 200", claimPath, before.Code)
	}
	for _, rq := range []struct{ method, path, body string }{
		{"PATCH", claimPath, `{"fields": {"affected_users": "120"}}`},
		{"POST", claimPath + "/status", `{"status": "submitted"}`},
		{"POST", "/api/v1/triage/rematch", `{}`},
		{"POST", "/api/v1/tenants/import", "x"},
	} {
		rec := f.apiCall(rq.method, rq.path, token, rq.body)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), fmt.Sprintf("API token %d is read-only", info.ID)) {
			t.Errorf("%s %s with a read-only token = %d %s, want 403 saying it is read-only", rq.method, rq.path, rec.Code, rec.Body.String())
		}
	}
	if after := f.apiCall("GET", claimPath, token, ""); after.Body.String() != before.Body.String() {
		t.Errorf("the claim changed through a read-only token:\n%s\nthen\n%s", before.Body.String(), after.Body.String())
	}
	// The same user's full token may change it.
	if rec := f.apiCall("PATCH", claimPath, f.apiToken("adam"), `{"fields": {"affected_users": "120"}}`); rec.Code != http.StatusOK {
		t.Errorf("PATCH with a full token = %d %s, want 200", rec.Code, rec.Body.String())
	}
}

func TestParseTokenTTL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration // 0: an error
	}{
		{"90d", 90 * 24 * time.Hour},
		{" 7d ", 7 * 24 * time.Hour},
		{"36h", 36 * time.Hour},
		{"1h", time.Hour},
		{"730d", 730 * 24 * time.Hour},
		{"731d", 0},
		{"30m", 0},
		{"0d", 0},
		{"-5d", 0},
		{"ninety days", 0},
		{"d", 0},
	} {
		got, err := ParseTokenTTL(tc.in)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("ParseTokenTTL(%q) = %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
	if got := (Config{}).APITokenTTL(); got != 90*24*time.Hour {
		t.Errorf("default APITokenTTL = %v, want 90 days", got)
	}
	if err := (Config{TokenTTL: "forever"}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "token_ttl: ") {
		t.Errorf("Validate(token_ttl: forever) = %v, want a token_ttl error", err)
	}
}

// A login's wait ends when the client leaves: no bcrypt work for nobody.
func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := sleepCtx(ctx, time.Minute); err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("sleepCtx(cancelled, 1m) = %v after %v, want an error at once", err, time.Since(start))
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleepCtx(1ms) = %v", err)
	}
}
