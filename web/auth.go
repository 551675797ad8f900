package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/claimtrail/claimtrail/claims"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/claimtrail/claimtrail/archive"
)

// Cookie names. The login cookie carries the login form's CSRF secret
// before there is a session.
const (
	sessionCookie = "claimtrail_session"
	loginCookie   = "claimtrail_login"
	csrfField     = "csrf"         // form field
	csrfHeader    = "X-CSRF-Token" // API header, for cookie-authenticated scripts
)

// Login limits. Nobody but the client making them can be refused for
// failed attempts, so that knowing a user name is not enough to lock its
// owner out:
//   - per address, a token bucket (loginIPBurst, then one per
//     loginIPEvery) stops one address guessing many accounts;
//   - per user and address, a token bucket (loginClientBurst, then one per
//     loginClientEvery) stops one address guessing one account, and
//     refuses nobody else;
//   - per user, failures from every address make each attempt on the
//     account wait before its password is checked: none for the first
//     loginFreeFailures, then loginDelayBase doubling per failure up to
//     loginDelayMax. Failures are forgotten one per loginFailEvery. The
//     wait slows guessing from many addresses; it never refuses, so the
//     owner gets in with at most loginDelayMax of delay.
//
// Refused attempts do no bcrypt work. The limits hold for all the replicas
// sharing the ledger together (sharedLimiter).
const (
	loginIPBurst      = 20
	loginIPEvery      = 10 * time.Second
	loginClientBurst  = 5
	loginClientEvery  = time.Minute
	loginFreeFailures = 3
	loginDelayBase    = 250 * time.Millisecond
	loginDelayMax     = 3 * time.Second
	loginFailEvery    = time.Minute
	loginFailMax      = 20 // failures counted per user at most
)

// loginDelay is how long an attempt on an account waits, given the
// account's recent failures.
func loginDelay(failures float64) time.Duration {
	n := int(failures) - loginFreeFailures
	if n < 0 {
		return 0
	}
	if n > 8 {
		return loginDelayMax
	}
	return min(loginDelayMax, loginDelayBase<<n)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// identity is who made a request.
type identity struct {
	user archive.User
	// session is the session cookie's secret; empty for an API token,
	// which needs no CSRF token because a browser never sends it by itself.
	session string
	// token is the API token used, when session is empty.
	token archive.APIToken
}

// csrf returns the CSRF token of the identity's session: an HMAC of a
// fixed label keyed with the session secret, so nothing more is stored
// and a token is worthless once the session ends.
func (id *identity) csrf() string {
	if id == nil || id.session == "" {
		return ""
	}
	return csrfFor(id.session)
}

func csrfFor(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("claimtrail-csrf-v1"))
	return hex.EncodeToString(m.Sum(nil))
}

type ctxKey int

const identityKey ctxKey = 1

func withIdentity(ctx context.Context, id *identity) context.Context {
	return context.WithValue(ctx, identityKey, id)
}

// who returns the request's identity; nil on public routes.
func who(r *http.Request) *identity {
	id, _ := r.Context().Value(identityKey).(*identity)
	return id
}

// actor is the name recorded in the audit trail for the request's user.
// claimActor is the request's user as the claim lifecycle knows them.
func claimActor(r *http.Request) claims.Actor {
	if id := who(r); id != nil {
		return claims.Actor{Name: id.user.Name, Admin: id.user.Role == archive.RoleAdmin}
	}
	return claims.Actor{}
}

func actor(r *http.Request) string {
	if id := who(r); id != nil {
		return id.user.Name
	}
	return ""
}

// wrap applies a route's access rules to its handler: who the client is
// (session cookie or API token), whether the role suffices, and the CSRF
// token on every state-changing request made with a cookie.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.access == accessPublic {
			rt.h(w, r)
			return
		}
		id, err := s.authenticate(r)
		if err != nil {
			s.log.Warn("web: authentication failed", "path", r.URL.Path, "remote", s.clientIP(r), "err", err)
		}
		if id == nil {
			if exp := (*expiredToken)(nil); errors.As(err, &exp) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="claimtrail", error="invalid_token", error_description="the token expired"`)
				s.apiError(w, http.StatusUnauthorized, exp.message())
				return
			}
			if rt.access == accessAPI || strings.HasPrefix(r.URL.Path, "/api/") || r.Header.Get("Authorization") != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="claimtrail"`)
				s.apiError(w, http.StatusUnauthorized, "log in, or send an API token as 'Authorization: Bearer ctk_...' (claimtrail users token NAME)")
				return
			}
			next := r.URL.Path
			if r.Method != http.MethodGet {
				next = "/"
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		if !id.user.Role.Allows(rt.role) {
			s.fail(w, r, http.StatusForbidden, fmt.Sprintf("this needs the %s role; you are %s %s. Ask an admin if you need it.",
				rt.role, article(id.user.Role), id.user.Role))
			return
		}
		if id.session == "" && id.token.ReadOnly && unsafeMethod(r.Method) {
			s.fail(w, r, http.StatusForbidden, fmt.Sprintf("API token %d is read-only: it may read (GET) but not change anything. "+
				"For changes, ask an admin for a token without --read-only (claimtrail users token %s).", id.token.ID, id.user.Name))
			return
		}
		if id.session != "" && unsafeMethod(r.Method) && !validCSRF(r, id) {
			s.log.Warn("web: CSRF token missing or wrong", "path", r.URL.Path, "user", id.user.Name, "remote", s.clientIP(r))
			s.fail(w, r, http.StatusForbidden, "the form was stale or came from another site; reload the page and try again")
			return
		}
		rt.h(w, r.WithContext(withIdentity(r.Context(), id)))
	})
}

// expiredToken is authenticate's error for an API token past its expiry.
type expiredToken struct {
	token archive.APIToken
	err   error // wraps archive.ErrTokenExpired
}

func (e *expiredToken) Error() string { return e.err.Error() }
func (e *expiredToken) Unwrap() error { return e.err }

// message tells the token's holder what happened and what to do.
func (e *expiredToken) message() string {
	return fmt.Sprintf("API token %d expired at %s. Ask an admin for a new one (claimtrail users token %s) and revoke this one (claimtrail users revoke %d).",
		e.token.ID, claims.FormatTime(e.token.ExpiresAt), e.token.User, e.token.ID)
}

func article(r archive.Role) string {
	if r == archive.RoleAdmin || r == archive.RoleAnalyst {
		return "an"
	}
	return "a"
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

func validCSRF(r *http.Request, id *identity) bool {
	got := r.Header.Get(csrfHeader)
	if got == "" {
		// FormValue would parse a multipart body into memory without our
		// limit; the handlers parse forms themselves, so parse here with it.
		if err := parseForm(r); err != nil {
			return false
		}
		got = r.PostFormValue(csrfField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(id.csrf())) == 1
}

// maxFormBytes bounds a form or API body; a CSV import may be larger.
const (
	maxFormBytes   = 1 << 20
	maxUploadBytes = 32 << 20
)

// parseForm parses a urlencoded or multipart form once, within limits.
func parseForm(r *http.Request) error {
	if r.PostForm != nil {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "multipart/form-data") {
		r.Body = http.MaxBytesReader(nil, r.Body, maxUploadBytes)
		return r.ParseMultipartForm(maxFormBytes)
	}
	r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
	return r.ParseForm()
}

// authenticate finds the request's user from an API token or the session
// cookie. No credentials give (nil, nil); bad ones (nil, err).
func (s *Server) authenticate(r *http.Request) (*identity, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			return nil, errors.New("Authorization is not 'Bearer <token>'")
		}
		u, t, err := s.ledger.APITokenUser(r.Context(), strings.TrimSpace(token), s.now())
		if errors.Is(err, archive.ErrTokenExpired) {
			return nil, &expiredToken{token: t, err: err}
		}
		if err != nil {
			return nil, err
		}
		return &identity{user: u, token: t}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := s.ledger.Session(r.Context(), c.Value, s.now())
	if errors.Is(err, archive.ErrNotFound) {
		return nil, nil // logged out or expired: just log in again
	}
	if err != nil {
		return nil, err
	}
	return &identity{user: sess.User, session: c.Value}, nil
}

// secureCookies says whether cookies set in reply to r must be Secure.
func (s *Server) secureCookies(r *http.Request) bool {
	return s.cfg.SecureCookies || r.TLS != nil
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int, same http.SameSite) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: same,
	})
}

type loginView struct {
	CSRF  string
	Next  string
	User  string
	Error string
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if id, _ := s.authenticate(r); id != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, loginView{Next: safeNext(r.URL.Query().Get("next"))})
}

// renderLogin shows the login form with a fresh CSRF secret, which the
// form carries and a cookie confirms (double submit): a form posted from
// another site cannot know it.
//
// An existing secret is kept: the browser may load the login page more
// than once (another tab, a redirected favicon request), and a new secret
// would invalidate the form already shown.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) {
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) == 43 {
		v.CSRF = c.Value
	} else {
		v.CSRF = randomToken()
	}
	s.setCookie(w, r, loginCookie, v.CSRF, "/login", 3600, http.SameSiteStrictMode)
	s.render(w, r, status, "login", page0{Title: "Log in"}, v)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(r); err != nil {
		s.fail(w, r, http.StatusBadRequest, "could not read the form: "+err.Error())
		return
	}
	v := loginView{Next: safeNext(r.PostFormValue("next")), User: strings.TrimSpace(r.PostFormValue("user"))}
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue(csrfField))) != 1 {
		v.Error = "The login form expired or came from another site. Try again."
		s.renderLogin(w, r, http.StatusForbidden, v)
		return
	}
	ip := s.clientIP(r)
	userKey := strings.ToLower(v.User)
	okIP, waitIP := s.loginIP.allow(r.Context(), ip)
	okClient, waitClient := s.loginClient.allow(r.Context(), userKey+" "+ip)
	if !okIP || !okClient {
		wait := max(waitIP, waitClient)
		s.log.Warn("web: login rate limited", "user", userKey, "remote", ip)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+1)))
		v.Error = fmt.Sprintf("Too many login attempts from your address. Wait %s and try again.", wait.Round(time.Second)+time.Second)
		s.renderLogin(w, r, http.StatusTooManyRequests, v)
		return
	}
	if d := loginDelay(s.loginFails.used(r.Context(), userKey)); d > 0 {
		s.log.Info("web: login delayed after failures on the account", "user", userKey, "remote", ip, "delay", d)
		if err := s.sleep(r.Context(), d); err != nil {
			return // the client left
		}
	}
	u, err := s.ledger.Authenticate(r.Context(), v.User, r.PostFormValue("password"))
	if err != nil {
		if !errors.Is(err, archive.ErrBadCredentials) {
			s.internal(w, r, err)
			return
		}
		s.loginFails.allow(r.Context(), userKey) // counts the failure; a full count stays full
		s.log.Info("web: login failed", "user", userKey, "remote", ip)
		v.Error = "Wrong user name or password."
		s.renderLogin(w, r, http.StatusUnauthorized, v)
		return
	}
	token, sess, err := s.ledger.CreateSession(r.Context(), u.Name, s.now(), s.cfg.sessionTTL())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("web: login", "user", u.Name, "remote", ip)
	s.setCookie(w, r, loginCookie, "", "/login", -1, http.SameSiteStrictMode)
	s.setCookie(w, r, sessionCookie, token, "/", int(sess.ExpiresAt.Sub(s.now()).Seconds()), http.SameSiteLaxMode)
	http.Redirect(w, r, v.Next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if id := who(r); id != nil && id.session != "" {
		if err := s.ledger.EndSession(r.Context(), id.session); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	s.setCookie(w, r, sessionCookie, "", "/", -1, http.SameSiteLaxMode)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a post-login redirect on this site: a path, never
// "//host" or a scheme.
// Browsers drop tabs and newlines from a URL and read a backslash as a
// slash, so "/\t/evil.example" would leave: such characters are refused
// anywhere.
func safeNext(next string) string {
	bad := strings.IndexFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) >= 0
	if bad || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/claims"
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/claims"
	}
	return next
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// clientIP is the address the request came from: the peer's, or when the
// peer is a trusted proxy, the last address in X-Forwarded-For that is not
// one (the ones before it are the client's to write). Without trusted
// proxies, every client behind a proxy shares its address, so the
// per-address login limits then act on all of them together.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !isTrusted(peer, trusted) {
		return host
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled hop: trust nothing before it
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client.Unmap().String()
}

// clientIP is clientIP with the configured proxies.
func (s *Server) clientIP(r *http.Request) string { return clientIP(r, s.proxies) }

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// apiMe tells a script who its token acts as.
func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	id := who(r)
	out := map[string]any{"user": id.user.Name, "role": id.user.Role, "via": "api_token"}
	if id.session == "" {
		tok := map[string]any{"id": id.token.ID, "read_only": id.token.ReadOnly}
		if !id.token.ExpiresAt.IsZero() {
			tok["expires_at"] = id.token.ExpiresAt
		}
		out["token"] = tok
	}
	if id.session != "" {
		out["via"] = "session"
		out["csrf_token"] = id.csrf()
	}
	writeJSON(w, http.StatusOK, out)
}
